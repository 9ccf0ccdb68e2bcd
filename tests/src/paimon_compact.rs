//! Compactions of Paimon deletion-vector and `first-row` tables, made through the paimon
//! crate's own write and commit as Paimon's compaction leaves them: neither the paimon crate
//! nor pypaimon compacts, and a union read must be checked against tables whose deletion
//! vectors are real (files above level 0, rows in them deleted by bitmaps in the table's
//! index files).
//!
//! - [`Compaction::Full`] rewrites a bucket that has level-0 files as one run at the top
//!   level, holding the bucket's merged rows; its deletion vectors go with the old files.
//! - [`Compaction::LevelZero`] merges only the level-0 files, into a new run just below the
//!   lowest run above level 0. In a deletion-vector table it marks the rows of the older runs
//!   whose keys that run (or a deletion) replaces in a deletion vector, leaving those runs in
//!   place: Paimon's compaction with `dropDelete`, which every level above 0 has there. In a
//!   `first-row` table the older runs keep their rows and the new run holds only new keys.
//!
//! Either way each key has at most one visible row above level 0, so Paimon's readers read
//! the compacted files raw (no merge), and the level-0 files left by later tiering rounds
//! (or in buckets a compaction did not take) are what they skip. Deletion vectors are read
//! back from the snapshot's index manifest and written as Paimon's `BitmapDeletionVector`
//! (v1) index files.
//!
//! Departures from Paimon's own compaction, none of which a reader sees: the crate refuses
//! Java's separate COMPACT increment, so a compaction commits its files as deleted and added
//! ones (Paimon records the snapshot as an `OVERWRITE`, not a `COMPACT`); the new run's rows
//! take new sequence numbers above every existing one (Paimon keeps theirs), which is
//! exact because a compaction here replaces every level-0 file of its buckets at once.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Int8Array, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::row::{OwnedRow, RowConverter, SortField};
use async_trait::async_trait;
use futures::TryStreamExt;
use indexmap::IndexMap;
use lake_api::conform::conform_batch;
use lake_api::{
    LakeSnapshot, LogBatchStream, LogSource, OffsetRange, ReadableSnapshot, Result as LakeResult, TableBucket,
    TableInfo, TablePath,
};
use lake_paimon::PaimonStorage;
use paimon::spec::{
    BinaryRow, DataFileMeta, Datum, DeletionVectorMeta, FileKind, IndexFileMeta, IndexManifest, VALUE_KIND_FIELD_NAME,
};
use paimon::table::{CommitMessage, DataSplit, Table};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use roaring::RoaringBitmap;

/// The highest level of Paimon's default LSM tree (`num-levels` = 6).
pub const MAX_LEVEL: i32 = 5;
/// Paimon's index type of deletion-vector index files.
const DELETION_VECTORS: &str = "DELETION_VECTORS";
/// The magic number of a v1 (`BitmapDeletionVector`) deletion vector.
const BITMAP_MAGIC: u32 = 1_581_511_376;
/// The version byte every deletion-vector index file starts with.
const INDEX_FILE_VERSION: u8 = 1;
/// The table option under which Paimon's readers merge level 0 into a deletion-vector read.
const MERGE_ON_READ: &str = "deletion-vectors.merge-on-read";
/// `_VALUE_KIND` of an insert (`+I`).
const INSERT: i8 = 0;

/// How a compaction treats a bucket's level-0 files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compaction {
    /// Rewrite the whole bucket as one run at [`MAX_LEVEL`].
    Full,
    /// Merge the level-0 files into a new run below the others (a full compaction when the
    /// lowest is at level 1, or there is none): a deletion-vector table deletes the older
    /// rows it replaces by deletion vectors, a `first-row` table keeps them and drops the new
    /// run's rows of their keys.
    LevelZero,
}

/// What a compaction did, for tests that want to see it happen.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// Buckets compacted.
    pub buckets: usize,
    /// Rows newly marked deleted in a deletion vector.
    pub deleted_rows: u64,
}

/// One bucket's place in the table: its partition (Paimon's serialized row) and number.
type BucketKey = (Vec<u8>, i32);

/// The deletion vectors of one bucket and the index file that holds them.
#[derive(Debug, Clone)]
struct BucketVectors {
    index: IndexFileMeta,
    deleted: BTreeMap<String, RoaringBitmap>,
}

/// The files of one bucket in a plan that reads every level.
struct BucketFiles {
    bucket: TableBucket,
    partition: BinaryRow,
    bucket_path: String,
    files: Vec<DataFileMeta>,
    splits: Vec<DataSplit>,
}

/// What compacting one bucket comes to.
struct BucketCompaction {
    /// The new run's rows.
    rows: RecordBatch,
    /// The files the new run replaces.
    replaced: Vec<DataFileMeta>,
    /// The new run's level.
    level: i32,
    /// Every deletion vector of the bucket afterwards (data file name to positions).
    vectors: BTreeMap<String, RoaringBitmap>,
    /// Rows newly marked deleted.
    deleted_rows: u64,
}

/// Compacts one Paimon deletion-vector or `first-row` table. It keeps no state of its
/// own: each compaction starts from the latest snapshot, its files and index files.
pub struct PaimonCompactor {
    lake: Arc<PaimonStorage>,
    path: TablePath,
}

/// An error's text after `context`.
fn ctx<E: std::fmt::Display>(context: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{context}: {e}")
}

/// The bytes of the table's file at `path`; errors name `context`.
async fn read_file(table: &Table, path: &str, context: &str) -> Result<bytes::Bytes, String> {
    let input = table.file_io().new_input(path).map_err(ctx(context))?;
    input.read().await.map_err(ctx(context))
}

impl PaimonCompactor {
    /// A compactor of the table at `path` in `lake`.
    pub fn new(lake: Arc<PaimonStorage>, path: TablePath) -> Self {
        Self { lake, path }
    }

    /// Compacts every bucket of the latest snapshot that `select` takes and that has level-0
    /// files, in one commit (none when no bucket is compacted).
    pub async fn compact(&self, how: Compaction, select: impl Fn(&TableBucket) -> bool) -> Result<Compacted, String> {
        let table = self
            .lake
            .load_table(&self.path)
            .await
            .map_err(|e| format!("loading {}: {e}", self.path))?;
        let every_level = every_level(&table);
        let buckets = bucket_files(&every_level).await?;
        let mut vectors = current_vectors(&table).await?;
        let builder = table
            .new_write_builder()
            .with_commit_user(format!("compactor-{}", self.path))
            .map_err(ctx("write builder"))?;
        let mut write = builder.new_write().map_err(ctx("write"))?;
        let mut done = Compacted::default();
        let mut compacted: BTreeMap<BucketKey, (BucketCompaction, Option<IndexFileMeta>)> = BTreeMap::new();
        for (key, bucket) in &buckets {
            if !select(&bucket.bucket) || !bucket.files.iter().any(|f| f.level == 0) {
                continue;
            }
            // the bucket's index file goes whatever the compaction leaves
            let (old_index, old) = match vectors.remove(key) {
                Some(v) => (Some(v.index), v.deleted),
                None => (None, BTreeMap::new()),
            };
            let written = async {
                let compaction = compact_bucket(&table, &every_level, bucket, old, how).await?;
                if compaction.rows.num_rows() > 0 {
                    let rows = with_inserts(&table, &compaction.rows)?;
                    write
                        .write_arrow(&[rows], Some(key.1))
                        .await
                        .map_err(ctx("writing the compacted run"))?;
                }
                Ok::<_, String>(compaction)
            }
            .await;
            match written {
                Ok(compaction) => {
                    done.buckets += 1;
                    done.deleted_rows += compaction.deleted_rows;
                    compacted.insert(key.clone(), (compaction, old_index));
                }
                Err(e) => {
                    write.close().await;
                    return Err(e);
                }
            }
        }
        if compacted.is_empty() {
            write.close().await;
            return Ok(done);
        }
        let mut messages: BTreeMap<BucketKey, CommitMessage> = write
            .prepare_commit()
            .await
            .map_err(ctx("preparing the compaction"))?
            .into_iter()
            .map(|m| ((m.partition.clone(), m.bucket), m))
            .collect();
        for (key, (compaction, old_index)) in compacted {
            let bucket = buckets.get(&key).ok_or("a compacted bucket left the plan")?;
            let message = messages
                .entry(key.clone())
                .or_insert_with(|| CommitMessage::new(bucket.partition.to_serialized_bytes(), key.1, Vec::new()));
            for file in &mut message.new_files {
                file.level = compaction.level;
            }
            message.deleted_files = compaction.replaced;
            message.deleted_index_files.extend(old_index);
            if !compaction.vectors.is_empty() {
                let index = write_vectors(&table, &compaction.vectors).await?;
                message.new_index_files.push(index);
            }
        }
        builder
            .new_commit()
            .commit(messages.into_values().collect())
            .await
            .map_err(ctx("committing the compaction"))?;
        Ok(done)
    }
}

/// Compacts one bucket: the whole bucket into one run at [`MAX_LEVEL`], or its level-0
/// files into a run just below the lowest run above level 0. `vectors` are the bucket's
/// deletion vectors before.
async fn compact_bucket(
    table: &Table,
    every_level: &Table,
    bucket: &BucketFiles,
    mut vectors: BTreeMap<String, RoaringBitmap>,
    how: Compaction,
) -> Result<BucketCompaction, String> {
    let state = read_rows(every_level, &bucket.splits).await?;
    let (level_zero, upper): (Vec<&DataFileMeta>, Vec<&DataFileMeta>) = bucket.files.iter().partition(|f| f.level == 0);
    // Paimon puts a run of level-0 files just below the runs it does not rewrite
    let below_upper = upper.iter().map(|f| f.level).min().map(|l| l - 1).filter(|l| *l >= 1);
    let (Compaction::LevelZero, Some(level)) = (how, below_upper) else {
        return Ok(BucketCompaction {
            rows: state,
            replaced: bucket.files.clone(),
            level: MAX_LEVEL,
            vectors: BTreeMap::new(),
            deleted_rows: 0,
        });
    };
    let key_columns = key_columns(table);
    let mut converter = KeyConverter::new(&state, &key_columns)?;
    let mut changed: HashSet<OwnedRow> = HashSet::new();
    for file in &level_zero {
        let keys = read_keys(table, &bucket.bucket_path, file, &key_columns, &state).await?;
        changed.extend(converter.rows(&keys)?.iter().map(|r| r.owned()));
    }
    let first_row = is_first_row(table);
    let mut deleted_rows = 0;
    for file in &upper {
        let keys = read_keys(table, &bucket.bucket_path, file, &key_columns, &state).await?;
        if first_row {
            // a key's first row stays where it is; its later rows are dropped
            for row in converter.rows(&keys)?.iter() {
                changed.remove(&row.owned());
            }
            continue;
        }
        let bitmap = vectors.entry(file.file_name.clone()).or_default();
        for (position, row) in converter.rows(&keys)?.iter().enumerate() {
            let position = u32::try_from(position).map_err(|e| e.to_string())?;
            if changed.contains(&row.owned()) && bitmap.insert(position) {
                deleted_rows += 1;
            }
        }
    }
    vectors.retain(|_, b| !b.is_empty());
    let keep: Vec<bool> = converter
        .rows(&state)?
        .iter()
        .map(|r| changed.contains(&r.owned()))
        .collect();
    Ok(BucketCompaction {
        rows: filter_record_batch(&state, &keep.into()).map_err(|e| e.to_string())?,
        replaced: level_zero.into_iter().cloned().collect(),
        level,
        vectors,
        deleted_rows,
    })
}

/// The files of each bucket of the latest snapshot of an [`every_level`] table.
async fn bucket_files(every_level: &Table) -> Result<BTreeMap<BucketKey, BucketFiles>, String> {
    let plan = plan_every_level(every_level).await?;
    let schema = every_level.schema();
    let partition_fields = schema.partition_fields();
    let mut buckets: BTreeMap<BucketKey, BucketFiles> = BTreeMap::new();
    for split in plan.splits() {
        let key = (split.partition().to_serialized_bytes(), split.bucket());
        let bucket = match buckets.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let partition = partition_fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match split.partition().get_datum(i, f.data_type()) {
                        Ok(Some(Datum::String(s))) => Ok(s),
                        Ok(Some(Datum::Int(v))) => Ok(v.to_string()),
                        Ok(Some(Datum::Long(v))) => Ok(v.to_string()),
                        other => Err(format!("partition value {i}: {other:?}")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let number = u32::try_from(split.bucket()).map_err(|e| format!("bucket {}: {e}", split.bucket()))?;
                entry.insert(BucketFiles {
                    bucket: TableBucket {
                        partition,
                        bucket: number,
                    },
                    partition: split.partition().clone(),
                    bucket_path: split.bucket_path().to_string(),
                    files: Vec::new(),
                    splits: Vec::new(),
                })
            }
        };
        bucket.files.extend(split.data_files().iter().cloned());
        bucket.splits.push(split.clone());
    }
    Ok(buckets)
}

/// The deletion vectors of each bucket of the latest snapshot, read back from the
/// table's index manifest and index files.
async fn current_vectors(table: &Table) -> Result<HashMap<BucketKey, BucketVectors>, String> {
    let snapshots = table.snapshot_manager();
    let latest = snapshots
        .get_latest_snapshot()
        .await
        .map_err(ctx("the latest snapshot"))?;
    let Some(manifest) = latest.as_ref().and_then(|s| s.index_manifest()) else {
        return Ok(HashMap::new());
    };
    let path = snapshots.manifest_path(manifest);
    let entries = IndexManifest::read(table.file_io(), &path).await.map_err(ctx(&path))?;
    let mut vectors = HashMap::new();
    for entry in entries {
        let key = (entry.partition.clone(), entry.bucket);
        if entry.index_file.index_type != DELETION_VECTORS {
            continue;
        }
        if entry.kind == FileKind::Delete {
            vectors.remove(&key);
            continue;
        }
        let path = index_file_path(table, &entry.index_file.file_name);
        let bytes = read_file(table, &path, &path).await?;
        let mut deleted = BTreeMap::new();
        for (file, range) in entry.index_file.deletion_vectors_ranges.iter().flatten() {
            deleted.insert(file.clone(), read_vector(&bytes, range).map_err(ctx(&path))?);
        }
        vectors.insert(
            key,
            BucketVectors {
                index: entry.index_file,
                deleted,
            },
        );
    }
    Ok(vectors)
}

/// One v1 deletion vector of an index file (see [`write_vectors`]).
fn read_vector(bytes: &[u8], range: &DeletionVectorMeta) -> Result<RoaringBitmap, String> {
    let start = usize::try_from(range.offset).map_err(|e| e.to_string())?;
    let length = usize::try_from(range.length).map_err(|e| e.to_string())?;
    let entry = bytes
        .get(start..start + 4 + length)
        .ok_or_else(|| format!("vector at {start} ({length} bytes) runs past the file"))?;
    let (declared, rest) = entry.split_at(4);
    let (magic, bitmap) = rest.split_at(4);
    if declared != range.length.to_be_bytes() || magic != BITMAP_MAGIC.to_be_bytes() {
        return Err(format!("vector at {start} is not a v1 bitmap of {length} bytes"));
    }
    RoaringBitmap::deserialize_from(bitmap).map_err(|e| e.to_string())
}

/// Where the table keeps an index file (its `index/` directory, Paimon's default).
fn index_file_path(table: &Table, name: &str) -> String {
    format!("{}/index/{name}", table.location().trim_end_matches('/'))
}

/// Whether `table` is a Paimon `first-row` table.
fn is_first_row(table: &Table) -> bool {
    matches!(
        table.schema().core_options().merge_engine(),
        Ok(paimon::spec::MergeEngine::FirstRow)
    )
}

/// `table` as its readers read it with level 0 merged in, where an option says so
/// (deletion-vector tables).
pub fn every_level(table: &Table) -> Table {
    table.copy_with_options(HashMap::from([(MERGE_ON_READ.to_string(), "true".to_string())]))
}

/// A plan of every file of the latest snapshot of an [`every_level`] table, level 0
/// included (a `first-row` table has no option for it, but its scan has).
pub async fn plan_every_level(table: &Table) -> Result<paimon::table::Plan, String> {
    let builder = table.new_read_builder();
    let mut scan = builder.new_scan();
    if is_first_row(table) {
        scan = scan.with_scan_all_files();
    }
    scan.plan().await.map_err(ctx("planning every level"))
}

/// The table's primary-key columns that its data files hold (the partition columns are
/// the bucket's, and equal within it).
fn key_columns(table: &Table) -> Vec<String> {
    let schema = table.schema();
    schema
        .primary_keys()
        .iter()
        .filter(|k| !schema.partition_keys().contains(k))
        .cloned()
        .collect()
}

/// Every row `splits` hold as Paimon's readers merge them, in one batch.
async fn read_rows(table: &Table, splits: &[DataSplit]) -> Result<RecordBatch, String> {
    let read = table.new_read_builder().new_read().map_err(ctx("reader"))?;
    let batches: Vec<RecordBatch> = read
        .to_arrow(splits)
        .map_err(ctx("reading a bucket"))?
        .try_collect()
        .await
        .map_err(ctx("reading a bucket"))?;
    let schema = paimon::arrow::build_target_arrow_schema(table.schema().fields()).map_err(|e| e.to_string())?;
    let batches = batches
        .iter()
        .map(|b| conform_batch(b, &schema).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

/// `rows` as Paimon's writer takes them: every row an insert.
fn with_inserts(table: &Table, rows: &RecordBatch) -> Result<RecordBatch, String> {
    let target = paimon::arrow::build_target_arrow_schema(table.schema().fields()).map_err(|e| e.to_string())?;
    let rows = conform_batch(rows, &target).map_err(|e| e.to_string())?;
    let mut fields: Vec<Arc<Field>> = target.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(VALUE_KIND_FIELD_NAME, DataType::Int8, false)));
    let mut columns = rows.columns().to_vec();
    columns.push(Arc::new(Int8Array::from(vec![INSERT; rows.num_rows()])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// The key columns of a data file's rows, in file order (a row's position is its place in
/// the file, as deletion vectors count it), typed as `like`'s.
async fn read_keys(
    table: &Table,
    bucket_path: &str,
    file: &DataFileMeta,
    key_columns: &[String],
    like: &RecordBatch,
) -> Result<RecordBatch, String> {
    let path = file.data_file_path(bucket_path);
    let context = format!("data file {path}");
    let bytes = read_file(table, &path, &context).await?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(ctx(&context))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), key_columns.iter().map(String::as_str));
    let batches = builder
        .with_projection(mask)
        .build()
        .map_err(ctx(&context))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(ctx(&context))?;
    let fields: Vec<Field> = key_columns
        .iter()
        .map(|k| like.schema().field_with_name(k).cloned().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let schema = Arc::new(Schema::new(fields));
    let batches = batches
        .iter()
        .map(|b| conform_batch(b, &schema).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = concat_batches(&schema, &batches).map_err(|e| e.to_string())?;
    if keys.num_rows() as i64 != file.row_count {
        return Err(format!(
            "{context}: {} rows read, the manifest says {}",
            keys.num_rows(),
            file.row_count
        ));
    }
    Ok(keys)
}

/// Comparable rows of a table's key columns.
struct KeyConverter {
    columns: Vec<String>,
    converter: RowConverter,
}

impl KeyConverter {
    fn new(like: &RecordBatch, columns: &[String]) -> Result<Self, String> {
        let fields = columns
            .iter()
            .map(|c| {
                let field = like.schema().field_with_name(c).map_err(|e| e.to_string())?.clone();
                Ok(SortField::new(field.data_type().clone()))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            columns: columns.to_vec(),
            converter: RowConverter::new(fields).map_err(|e| e.to_string())?,
        })
    }

    fn rows(&mut self, batch: &RecordBatch) -> Result<arrow::row::Rows, String> {
        let columns = self
            .columns
            .iter()
            .map(|c| {
                batch
                    .column_by_name(c)
                    .cloned()
                    .ok_or_else(|| format!("no key column {c}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        self.converter.convert_columns(&columns).map_err(|e| e.to_string())
    }
}

/// Writes `deleted` (data file name to deleted positions) as one new index file of the
/// table, as Paimon's v1 deletion-vector index files are laid out: a version byte, then per
/// data file `i32 length | i32 magic | portable roaring bitmap | i32 CRC-32` (big-endian;
/// the length and the CRC cover the magic and the bitmap).
async fn write_vectors(table: &Table, deleted: &BTreeMap<String, RoaringBitmap>) -> Result<IndexFileMeta, String> {
    let mut bytes = vec![INDEX_FILE_VERSION];
    let mut ranges = IndexMap::new();
    for (file, bitmap) in deleted {
        let mut payload = BITMAP_MAGIC.to_be_bytes().to_vec();
        bitmap.serialize_into(&mut payload).map_err(|e| e.to_string())?;
        let length = i32::try_from(payload.len()).map_err(|e| e.to_string())?;
        let offset = i32::try_from(bytes.len()).map_err(|e| e.to_string())?;
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&payload);
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        ranges.insert(
            file.clone(),
            DeletionVectorMeta {
                offset,
                length,
                cardinality: Some(bitmap.len() as i64),
            },
        );
    }
    let name = index_file_name();
    let path = index_file_path(table, &name);
    let size = bytes.len() as i64;
    table
        .file_io()
        .new_output(&path)
        .map_err(ctx(&path))?
        .write(bytes.into())
        .await
        .map_err(ctx(&path))?;
    Ok(IndexFileMeta {
        index_type: DELETION_VECTORS.to_string(),
        file_name: name,
        file_size: size,
        row_count: deleted.len() as i64,
        deletion_vectors_ranges: Some(ranges),
        external_path: None,
        global_index_meta: None,
    })
}

/// A name no other index file of the process has, shaped as Paimon names them.
fn index_file_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "index-{:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A log as a Fluss coordinator serves a Paimon deletion-vector table (Fluss's
/// `DvTableReadableSnapshotRetriever`): the readable snapshot is a compaction's, and each
/// bucket's readable offset is where the rows that compaction left above level 0 end, not
/// the snapshot's tiered offset. (Fluss keeps none for `first-row` tables, whose union read
/// then skips level 0 under tiered offsets that cover it; this log serves them as it
/// serves deletion-vector tables, so that a read of their readable rows is exact too.)
pub struct ReadableLog {
    pub inner: Arc<dyn LogSource>,
    /// The readable snapshot (`None`: nothing compacted yet, nothing readable).
    pub snapshot: Option<i64>,
    pub readable: BTreeMap<TableBucket, i64>,
}

#[async_trait]
impl LogSource for ReadableLog {
    async fn table_info(&self) -> LakeResult<TableInfo> {
        self.inner.table_info().await
    }

    async fn offset_ranges(&self) -> LakeResult<BTreeMap<TableBucket, OffsetRange>> {
        self.inner.offset_ranges().await
    }

    async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> LakeResult<BTreeMap<TableBucket, i64>> {
        self.inner.tiered_offsets(snapshot).await
    }

    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> LakeResult<LogBatchStream> {
        self.inner.read(bucket, start, stop).await
    }

    async fn readable_snapshot(&self) -> LakeResult<ReadableSnapshot> {
        Ok(self.snapshot.map_or(ReadableSnapshot::None, ReadableSnapshot::Snapshot))
    }

    async fn readable_offsets(&self, snapshot: &LakeSnapshot) -> LakeResult<Option<BTreeMap<TableBucket, i64>>> {
        Ok((Some(snapshot.id) == self.snapshot).then(|| self.readable.clone()))
    }
}
