//! Tiering into Paimon. Log tables append each bucket's rows into that bucket (the Fluss
//! bucket, as Fluss's own Paimon writer does). Primary-key tables fold each bucket's round
//! with lake-api's `apply_changes` (so every merge engine agrees with the union read) and
//! write the result as `+U` rows for the keys that end present and `-D` rows for those that
//! end absent: Paimon's deduplicate merge then yields exactly the folded rows. Only
//! first-row and versioned tables need the bucket's lake rows for the fold; a deduplicate
//! fold depends on the changes alone.
//!
//! Tables that carry Fluss's system columns get them filled as Fluss's own tiering fills
//! them: a log row's bucket, offset and commit timestamp; a primary-key row's bucket and its
//! key's last change in the round (deduplicate tables only: the other engines can keep a
//! lake row whose offset this writer does not know, so they are refused).
//!
//! The round's properties (`fluss-offsets`) reach its snapshot through
//! [`commit_properties`](crate::commit_properties), as durably as the commit itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Int8Array, RecordBatch};
use arrow_row::{OwnedRow, RowConverter, SortField};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::TryStreamExt;
use lake_api::lake::{LakeSnapshot, LakeSource, LakeSplit, LakeWriter, RoundBatches, keep_round_batch};
use lake_api::{Error, ErrorKind, LogBatch, MergeEngine, Result, TableBucket, TableInfo, apply_changes};
use paimon::spec::VALUE_KIND_FIELD_NAME;
use paimon::table::{Table, TableWrite};

use crate::bucketing::PaimonBucketing;
use crate::commit_properties::{self, new_commit_user};
use crate::error::paimon_err;
use crate::schema::{BUCKET_OPTION, PAIMON_MERGE_ENGINE_OPTION, native_merge_engine, table_info, to_paimon};
use crate::source::PaimonSource;
use crate::system_columns::{RowOrigins, SystemColumns};

/// Paimon's `RowKind` byte of an upsert (`+U`).
const UPDATE_AFTER: i8 = 2;
/// Paimon's `RowKind` byte of a deletion (`-D`).
const DELETE: i8 = 3;

/// Writes one tiering round into a Paimon table.
pub(crate) struct PaimonLakeWriter {
    table: Table,
    info: TableInfo,
    /// Paimon's buckets are the Fluss buckets, checked row by row against Paimon's own
    /// hash (else the table is bucket-unaware).
    fixed: Option<PaimonBucketing>,
    /// Fluss's system columns, where the table has them: filled per row.
    system: Option<SystemColumns>,
    written: RoundBatches,
}

impl PaimonLakeWriter {
    /// A writer, or a clear refusal for tables whose layout this writer cannot keep exact.
    pub(crate) fn new(table: Table, info: TableInfo) -> Result<Self> {
        let options = table.schema().options();
        let refuse = |why: String| {
            Err(Error::new(
                ErrorKind::Unsupported,
                format!("tiering into Paimon table {}: {why}", info.path),
            ))
        };
        if info.has_primary_key()
            && let Some(engine) = options
                .get(PAIMON_MERGE_ENGINE_OPTION)
                .map(|e| e.trim().to_ascii_lowercase())
                .filter(|e| e == "partial-update" || e == "aggregation")
        {
            // the folded rows would be merged into the lake's again: a NULL never overwrites
            // under partial-update, and an aggregation would count a change twice
            return refuse(format!(
                "Paimon's {engine} engine would merge the round's folded rows into the lake's again"
            ));
        }
        // the round's rows are the log engine's winners, written to be kept as they are: a
        // Paimon merge of its own (first-row, a sequence field) would keep the lake's row
        // over an update, or another version than the log's engine chose
        if info.has_primary_key() {
            let native = native_merge_engine(&info.path, options)?;
            if native != MergeEngine::Deduplicate && native != info.merge_engine {
                return refuse(format!(
                    "Paimon merges the table's rows as {native}, but the log's merge engine is {}",
                    info.merge_engine
                ));
            }
        }
        if options.contains_key("rowkind.field") {
            return refuse("the table takes row kinds from a `rowkind.field` column".into());
        }
        // `ignore-delete`, or `<engine>.ignore-delete`: the round's `-D` rows would be
        // dropped, and deleted rows come back (only a deduplicate round writes any: a
        // first-row table, which Paimon often keeps with the option, takes none)
        if info.has_primary_key()
            && info.merge_engine == MergeEngine::Deduplicate
            && let Some((key, _)) = options
                .iter()
                .find(|(k, v)| k.ends_with("ignore-delete") && v.trim().eq_ignore_ascii_case("true"))
        {
            return refuse(format!("the table's `{key}` option would drop the round's deletes"));
        }
        let context = format!("table {} ({})", info.path, table.location());
        let target = paimon::arrow::build_target_arrow_schema(table.schema().fields()).map_err(paimon_err(&context))?;
        let system = SystemColumns::of(&target, &context)?;
        if system.is_some() && info.has_primary_key() && info.merge_engine != MergeEngine::Deduplicate {
            // a key whose lake row wins is written again, and its offset is not known here
            return refuse(format!(
                "Fluss's system columns with the {:?} merge engine: a lake row that wins would lose its log offset",
                info.merge_engine
            ));
        }
        let buckets: i64 = options
            .get(BUCKET_OPTION)
            .and_then(|b| b.trim().parse().ok())
            .unwrap_or(-1);
        if info.has_primary_key() && buckets <= 0 {
            return refuse(format!(
                "a primary-key table needs fixed buckets, not bucket = {buckets}"
            ));
        }
        let fixed = match i32::try_from(buckets) {
            Ok(n) if n > 0 => Some(PaimonBucketing::of(table.schema(), n, &context)?),
            Ok(_) => None,
            Err(_) => return refuse(format!("bucket = {buckets} is not a bucket count")),
        };
        Ok(Self {
            fixed,
            system,
            table,
            info,
            written: BTreeMap::new(),
        })
    }

    fn context(&self) -> String {
        format!("table {} ({})", self.info.path, self.table.location())
    }

    /// Folds and writes each bucket's rows of the round (nothing is committed yet).
    async fn write_round(&self, write: &mut TableWrite, target: &SchemaRef, context: &str) -> Result<()> {
        // first-row and versioned folds start from the lake rows: plan the snapshot once
        let lake = match self.info.merge_engine {
            MergeEngine::FirstRow | MergeEngine::Versioned { .. } if self.info.has_primary_key() => {
                Some(LakeBuckets::plan(&self.table, &self.info).await?)
            }
            _ => None,
        };
        for (bucket, batches) in &self.written {
            let rows = if self.info.has_primary_key() {
                let lake_rows = match &lake {
                    Some(lake) => lake.rows(bucket).await?,
                    None => Vec::new(),
                };
                let system = self.system.as_ref().map(|s| (s, bucket.bucket as i32));
                folded_rows(&self.info, lake_rows, batches, target, system).await?
            } else {
                batches
                    .iter()
                    .filter(|b| b.batch.num_rows() > 0)
                    .map(|b| match &self.system {
                        Some(system) => to_paimon(&logged(system, bucket.bucket as i32, b)?, target),
                        None => to_paimon(&b.batch, target),
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            if rows.is_empty() {
                continue;
            }
            if let Some(bucketing) = &self.fixed {
                rows.iter().try_for_each(|r| bucketing.check(r, bucket, context))?;
            }
            let precomputed = self.fixed.is_some().then_some(bucket.bucket as i32);
            write
                .write_arrow(&rows, precomputed)
                .await
                .map_err(|e| crate::error::from_paimon(e, format!("{context} {bucket}")))?;
        }
        Ok(())
    }
}

#[async_trait]
impl LakeWriter for PaimonLakeWriter {
    async fn write(&mut self, bucket: &TableBucket, batch: &LogBatch) -> Result<()> {
        keep_round_batch(&self.info, &mut self.written, bucket, batch)
    }

    async fn commit(self: Box<Self>, properties: BTreeMap<String, String>) -> Result<LakeSnapshot> {
        let context = self.context();
        let target =
            paimon::arrow::build_target_arrow_schema(self.table.schema().fields()).map_err(paimon_err(&context))?;
        let user = new_commit_user();
        let builder = self
            .table
            .new_write_builder()
            .with_commit_user(user.clone())
            .map_err(paimon_err(&context))?;
        let mut write = builder.new_write().map_err(paimon_err(&context))?;
        if let Err(e) = self.write_round(&mut write, &target, &context).await {
            // files the writer rolled already would never be committed
            write.close().await;
            return Err(e);
        }
        let messages = write.prepare_commit().await.map_err(paimon_err(&context))?;
        let commit = builder.new_commit().with_ignore_empty_commit(false);
        let prepared = async {
            let before = self
                .table
                .snapshot_manager()
                .get_latest_snapshot_id()
                .await
                .map_err(paimon_err(&context))?;
            if !properties.is_empty() {
                commit_properties::record(&self.table, &user, &properties, &context).await?;
            }
            Ok(before)
        }
        .await;
        let before = match prepared {
            Ok(before) => before,
            Err(e) => {
                // the messages were never submitted: their files belong to no snapshot.
                // Removing them is best-effort (so is Paimon's abort): the first error is
                // the one to report
                let _ = commit.abort(&messages).await;
                return Err(e);
            }
        };
        // past this call the outcome may be unknown (the snapshot may be written though
        // the call failed): its files are never removed here
        commit
            .commit_with_identifier(messages, 0)
            .await
            .map_err(paimon_err(format!("{context}: committing")))?;
        commit_properties::write_into_snapshot(&self.table, &user, before, properties, &context).await
    }
}

/// A log table's batch with the system columns: every row's own offset, and the batch's
/// commit timestamp.
fn logged(system: &SystemColumns, bucket: i32, batch: &LogBatch) -> Result<RecordBatch> {
    let n = batch.batch.num_rows();
    let offsets: Vec<i64> = (0..n as i64).map(|i| batch.base_offset + i).collect();
    system.append(
        &batch.batch,
        &RowOrigins {
            bucket,
            offsets: &offsets,
            timestamps_ms: &vec![batch.commit_timestamp; n],
        },
    )
}

/// The rows a bucket's round leaves in the lake, as Paimon rows with their row kind: the
/// fold of the bucket's `lake` rows (first-row and versioned only; a deduplicate fold
/// needs none) and its changes. With `system` (the table's system columns and the
/// bucket), each row carries the offset and timestamp of its key's last change, the row
/// Fluss's own tiering would have left last.
async fn folded_rows(
    info: &TableInfo,
    lake: Vec<RecordBatch>,
    batches: &[LogBatch],
    target: &SchemaRef,
    system: Option<(&SystemColumns, i32)>,
) -> Result<Vec<RecordBatch>> {
    let keys = KeyRows::new(info)?;
    let mut touched: HashSet<OwnedRow> = HashSet::new();
    // each touched key's last change: (offset, timestamp)
    let mut last: HashMap<OwnedRow, (i64, i64)> = HashMap::new();
    for b in batches {
        for (i, r) in keys.rows(&b.batch)?.iter().enumerate() {
            if system.is_some() {
                last.insert(r.owned(), (b.base_offset + i as i64, b.commit_timestamp));
            }
            touched.insert(r.owned());
        }
    }
    let with_system = |batch: RecordBatch| -> Result<RecordBatch> {
        let Some((columns, bucket)) = system else {
            return Ok(batch);
        };
        let mut offsets = Vec::with_capacity(batch.num_rows());
        let mut timestamps_ms = Vec::with_capacity(batch.num_rows());
        for r in keys.rows(&batch)?.iter() {
            let (offset, ts) = last
                .get(&r.owned())
                .copied()
                .ok_or_else(|| Error::invalid("a folded row's key has no change in the round"))?;
            offsets.push(offset);
            timestamps_ms.push(ts);
        }
        columns.append(
            &batch,
            &RowOrigins {
                bucket,
                offsets: &offsets,
                timestamps_ms: &timestamps_ms,
            },
        )
    };
    if touched.is_empty() {
        return Ok(Vec::new());
    }
    let folded = apply_changes(info, lake, batches.to_vec()).await?;
    let mut out = Vec::with_capacity(folded.len() + 1);
    let mut present: HashSet<OwnedRow> = HashSet::new();
    for batch in folded {
        let rows = keys.rows(&batch)?;
        // the fold returns the bucket's untouched lake rows too: they need no rewrite
        let keep: BooleanArray = rows.iter().map(|r| Some(touched.contains(&r.owned()))).collect();
        for r in rows.iter() {
            present.insert(r.owned());
        }
        let batch = arrow_select::filter::filter_record_batch(&batch, &keep)
            .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))?;
        if batch.num_rows() > 0 {
            out.push(with_kind(&to_paimon(&with_system(batch)?, target)?, UPDATE_AFTER)?);
        }
    }
    // first-row keys never leave once present: a key that ends absent never was, and
    // Paimon's own first-row engine takes no deletions
    if info.merge_engine == MergeEngine::FirstRow {
        return Ok(out);
    }
    // one change row per key that ends absent stands for its deletion
    let mut deleted: HashSet<OwnedRow> = HashSet::new();
    for b in batches {
        let rows = keys.rows(&b.batch)?;
        let take: BooleanArray = rows
            .iter()
            .map(|r| {
                let r = r.owned();
                Some(!present.contains(&r) && deleted.insert(r))
            })
            .collect();
        let batch = arrow_select::filter::filter_record_batch(&b.batch, &take)
            .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))?;
        if batch.num_rows() > 0 {
            out.push(with_kind(&to_paimon(&with_system(batch)?, target)?, DELETE)?);
        }
    }
    Ok(out)
}

/// The latest snapshot's splits by Fluss bucket, to read one bucket's rows from.
struct LakeBuckets {
    source: PaimonSource,
    info: TableInfo,
    splits: Vec<Arc<dyn LakeSplit>>,
}

impl LakeBuckets {
    async fn plan(table: &Table, info: &TableInfo) -> Result<Self> {
        let lake_info = table_info(&info.path, table.schema())?;
        let source = PaimonSource::new(table.clone(), lake_info);
        let latest = table
            .snapshot_manager()
            .get_latest_snapshot_id()
            .await
            .map_err(paimon_err(format!("table {}", info.path)))?;
        let splits = match latest {
            Some(id) => source.create_planner(id).await?.plan().await?,
            None => Vec::new(),
        };
        Ok(Self {
            source,
            info: info.clone(),
            splits,
        })
    }

    /// The rows of `bucket`, in the table's schema.
    async fn rows(&self, bucket: &TableBucket) -> Result<Vec<RecordBatch>> {
        let mut rows = Vec::new();
        for split in &self.splits {
            if split.bucket() != Some(bucket.bucket) || split.partition() != bucket.partition.as_slice() {
                continue;
            }
            let stream = self.source.create_reader(split.clone()).await?.read().await?;
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            for b in batches {
                rows.push(lake_api::conform::conform_batch(&b, &self.info.schema)?);
            }
        }
        Ok(rows)
    }
}

/// `batch` with Paimon's trailing `_VALUE_KIND` column set to `kind` on every row.
fn with_kind(batch: &RecordBatch, kind: i8) -> Result<RecordBatch> {
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(VALUE_KIND_FIELD_NAME, DataType::Int8, false)));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(Int8Array::from(vec![kind; batch.num_rows()])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
}

/// Primary keys as comparable byte rows.
struct KeyRows {
    columns: Vec<String>,
    converter: RowConverter,
}

impl KeyRows {
    fn new(info: &TableInfo) -> Result<Self> {
        let mut fields = Vec::with_capacity(info.primary_key.len());
        for k in &info.primary_key {
            let i = info.column_index(k)?;
            fields.push(SortField::new(info.schema.field(i).data_type().clone()));
        }
        let converter = RowConverter::new(fields).map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))?;
        Ok(Self {
            columns: info.primary_key.clone(),
            converter,
        })
    }

    fn rows(&self, batch: &RecordBatch) -> Result<arrow_row::Rows> {
        let columns: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|c| {
                batch
                    .column_by_name(c)
                    .cloned()
                    .ok_or_else(|| Error::schema(format!("key column {c} is missing")))
            })
            .collect::<Result<_>>()?;
        self.converter
            .convert_columns(&columns)
            .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::TimeUnit;
    use lake_api::lake::LakeStorage;
    use lake_api::{ChangeType, TablePath};

    use super::*;
    use crate::schema::{BUCKET_COUNT_OPTION, BUCKET_KEY_OPTION};
    use crate::{PaimonConfig, PaimonStorage};

    fn data_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]))
    }

    /// A Paimon table laid out as Fluss's tiering makes it: the columns, then `__bucket`,
    /// `__offset` and `__timestamp`.
    async fn fluss_made_table(lake: &PaimonStorage, info: &TableInfo) -> Result<Table> {
        let ty = |t: &DataType, nullable: bool| {
            paimon::arrow::arrow_to_paimon_type(t, nullable).map_err(paimon_err("system column type"))
        };
        let mut builder = paimon::spec::Schema::builder()
            .column("k", ty(&DataType::Int64, false)?)
            .column("v", ty(&DataType::Utf8, true)?)
            .column("__bucket", ty(&DataType::Int32, false)?)
            .column("__offset", ty(&DataType::Int64, false)?)
            .column(
                "__timestamp",
                ty(&DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false)?,
            )
            .option("file.format", "parquet")
            .option(BUCKET_COUNT_OPTION, info.bucket_count.to_string());
        builder = if info.has_primary_key() {
            builder
                .primary_key(vec!["k".to_string()])
                .option(BUCKET_OPTION, info.bucket_count.to_string())
                .option(BUCKET_KEY_OPTION, "k")
        } else {
            builder.option(BUCKET_OPTION, "-1")
        };
        let schema = builder.build().map_err(paimon_err("schema"))?;
        lake.create_paimon_table(&info.path, schema).await
    }

    fn rows(keys: &[i64], value: &str) -> Result<RecordBatch> {
        RecordBatch::try_new(
            data_schema(),
            vec![
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(StringArray::from_iter_values(
                    keys.iter().map(|k| format!("{value}{k}")),
                )),
            ],
        )
        .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
    }

    fn batch(keys: &[i64], value: &str, kind: ChangeType, offset: i64, ts: i64) -> Result<LogBatch> {
        let mut b = LogBatch::new(rows(keys, value)?, vec![kind; keys.len()], offset);
        b.commit_timestamp = ts;
        Ok(b)
    }

    /// Every row of the latest snapshot with every column, system columns included, as
    /// `(k, v, __bucket, __offset, __timestamp)` sorted by key.
    async fn raw_rows(table: &Table) -> Result<Vec<(i64, String, i32, i64, i64)>> {
        let builder = table.new_read_builder();
        let plan = builder.new_scan().plan().await.map_err(paimon_err("plan"))?;
        let read = builder.new_read().map_err(paimon_err("read"))?;
        let batches: Vec<RecordBatch> = read
            .to_arrow(plan.splits())
            .map_err(paimon_err("read"))?
            .try_collect()
            .await
            .map_err(paimon_err("read"))?;
        let mut out = Vec::new();
        for b in &batches {
            let col = |name: &str| {
                b.column_by_name(name)
                    .cloned()
                    .ok_or_else(|| Error::schema(format!("no column {name}")))
            };
            let (k, v, bucket, offset, ts) = (
                col("k")?,
                col("v")?,
                col("__bucket")?,
                col("__offset")?,
                col("__timestamp")?,
            );
            let v = v.as_string::<i32>();
            for i in 0..b.num_rows() {
                out.push((
                    k.as_primitive::<Int64Type>().value(i),
                    v.value(i).to_string(),
                    bucket.as_primitive::<Int32Type>().value(i),
                    offset.as_primitive::<Int64Type>().value(i),
                    ts.as_primitive::<TimestampMillisecondType>().value(i),
                ));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The rows a reader sees: the data columns only.
    async fn visible(lake: &PaimonStorage, path: &TablePath) -> Result<(Vec<String>, usize)> {
        let source = lake.create_lake_source(path).await?;
        let snapshot = lake
            .latest_snapshot(path)
            .await?
            .ok_or_else(|| Error::invalid("no snapshot"))?;
        let mut names = Vec::new();
        let mut count = 0;
        for split in source.create_planner(snapshot.id).await?.plan().await? {
            let batches: Vec<RecordBatch> = source.create_reader(split).await?.read().await?.try_collect().await?;
            for b in batches {
                names = b.schema().fields().iter().map(|f| f.name().clone()).collect();
                count += b.num_rows();
            }
        }
        Ok((names, count))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_tables_get_each_rows_bucket_offset_and_timestamp() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let info = TableInfo::log_table(TablePath::new("fluss", "events"), data_schema(), 2);
        fluss_made_table(&lake, &info).await?;
        let mut writer = lake.create_lake_writer(&info).await?;
        writer
            .write(
                &TableBucket::new(0),
                &batch(&[1, 2], "a", ChangeType::AppendOnly, 0, 1_000)?,
            )
            .await?;
        writer
            .write(
                &TableBucket::new(1),
                &batch(&[3], "b", ChangeType::AppendOnly, 7, 2_000)?,
            )
            .await?;
        writer
            .write(
                &TableBucket::new(0),
                &batch(&[4], "c", ChangeType::AppendOnly, 2, 3_000)?,
            )
            .await?;
        writer.commit(BTreeMap::new()).await?;
        let table = lake.load_table(&info.path).await?;
        assert_eq!(
            raw_rows(&table).await?,
            vec![
                (1, "a1".into(), 0, 0, 1_000),
                (2, "a2".into(), 0, 1, 1_000),
                (3, "b3".into(), 1, 7, 2_000),
                (4, "c4".into(), 0, 2, 3_000),
            ]
        );
        assert_eq!(visible(&lake, &info.path).await?, (vec!["k".into(), "v".into()], 4));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn primary_key_rows_carry_their_last_change() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "users");
        let info = TableInfo::primary_key_table(path.clone(), data_schema(), vec!["k".into()], 1);
        fluss_made_table(&lake, &info).await?;
        let b0 = TableBucket::new(0);
        let mut writer = lake.create_lake_writer(&info).await?;
        writer
            .write(&b0, &batch(&[1, 2, 3], "a", ChangeType::Insert, 0, 100)?)
            .await?;
        writer
            .write(&b0, &batch(&[1], "a", ChangeType::UpdateBefore, 3, 200)?)
            .await?;
        writer
            .write(&b0, &batch(&[1], "b", ChangeType::UpdateAfter, 4, 200)?)
            .await?;
        writer.commit(BTreeMap::new()).await?;
        // a second round deletes a key and leaves the others as they were
        let mut writer = lake.create_lake_writer(&info).await?;
        writer
            .write(&b0, &batch(&[2], "a", ChangeType::Delete, 5, 300)?)
            .await?;
        writer
            .write(&b0, &batch(&[4], "c", ChangeType::Insert, 6, 400)?)
            .await?;
        writer.commit(BTreeMap::new()).await?;
        let table = lake.load_table(&path).await?;
        assert_eq!(
            raw_rows(&table).await?,
            vec![
                (1, "b1".into(), 0, 4, 200),
                (3, "a3".into(), 0, 2, 100),
                (4, "c4".into(), 0, 6, 400),
            ]
        );
        assert_eq!(visible(&lake, &path).await?, (vec!["k".into(), "v".into()], 3));

        // a versioned table could rewrite a lake row whose offset it does not know
        let versioned =
            TableInfo::primary_key_table(TablePath::new("fluss", "versioned"), data_schema(), vec!["k".into()], 1)
                .with_merge_engine(MergeEngine::Versioned { column: "k".into() });
        fluss_made_table(&lake, &versioned).await?;
        let err = lake
            .create_lake_writer(&versioned)
            .await
            .err()
            .ok_or_else(|| Error::invalid("a versioned table with system columns was accepted"))?;
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("system columns"), "{err}");
        Ok(())
    }

    /// Commits `rows` (k, a, b) as `+I` rows straight through the paimon crate, as another
    /// Paimon writer would: into `bucket`, or where the table's own assigner puts them.
    async fn commit_rows(table: &Table, rows: RecordBatch, bucket: Option<i32>) -> Result<()> {
        commit_rows_as(table, "another-writer", rows, bucket).await
    }

    /// [`commit_rows`] as commit user `user`.
    async fn commit_rows_as(table: &Table, user: &str, rows: RecordBatch, bucket: Option<i32>) -> Result<()> {
        let target = paimon::arrow::build_target_arrow_schema(table.schema().fields()).map_err(paimon_err("target"))?;
        let builder = table
            .new_write_builder()
            .with_commit_user(user.to_string())
            .map_err(paimon_err("write builder"))?;
        let mut write = builder.new_write().map_err(paimon_err("write"))?;
        let rows = with_kind(&to_paimon(&rows, &target)?, 0)?;
        write.write_arrow(&[rows], bucket).await.map_err(paimon_err("write"))?;
        let messages = write.prepare_commit().await.map_err(paimon_err("prepare"))?;
        builder
            .new_commit()
            .commit_with_identifier(messages, 0)
            .await
            .map_err(paimon_err("commit"))
    }

    /// A `(k BIGINT key, a STRING, b STRING)` primary-key table with `options`, created
    /// straight through the paimon crate.
    async fn kab_table(lake: &PaimonStorage, path: &TablePath, options: &[(&str, &str)]) -> Result<Table> {
        let ty =
            |t: &DataType, nullable: bool| paimon::arrow::arrow_to_paimon_type(t, nullable).map_err(paimon_err("type"));
        let mut schema = paimon::spec::Schema::builder()
            .column("k", ty(&DataType::Int64, false)?)
            .column("a", ty(&DataType::Utf8, true)?)
            .column("b", ty(&DataType::Utf8, true)?)
            .primary_key(vec!["k".to_string()])
            .option("file.format", "parquet");
        for (key, value) in options {
            schema = schema.option(*key, *value);
        }
        lake.create_paimon_table(path, schema.build().map_err(paimon_err("schema"))?)
            .await
    }

    /// `(k, a, b)` rows of [`kab_table`].
    fn kab_rows(k: Vec<i64>, a: Vec<Option<&str>>, b: Vec<Option<&str>>) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(k)),
                Arc::new(StringArray::from(a)),
                Arc::new(StringArray::from(b)),
            ],
        )
        .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
    }

    type KabRow = (i64, Option<String>, Option<String>);

    /// The rows of a union read of a [`kab_table`], sorted.
    async fn union_kab_rows(union: &lake_api::UnionTable, strategy: lake_api::MergeStrategy) -> Result<Vec<KabRow>> {
        use arrow_array::Array;
        let batches = union.scan().strategy(strategy).build().await?.collect().await?;
        let mut got = Vec::new();
        for b in &batches {
            let (k, a, bb) = (
                b.column(0).as_primitive::<Int64Type>(),
                b.column(1).as_string::<i32>(),
                b.column(2).as_string::<i32>(),
            );
            for i in 0..b.num_rows() {
                let text = |s: &arrow_array::StringArray| (!s.is_null(i)).then(|| s.value(i).to_string());
                got.push((k.value(i), text(a), text(bb)));
            }
        }
        got.sort();
        Ok(got)
    }

    fn kab(k: i64, a: Option<&str>, b: Option<&str>) -> KabRow {
        (k, a.map(str::to_string), b.map(str::to_string))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dynamic_bucket_primary_key_tables_union_read_bucket_unaware() -> Result<()> {
        use lake_api::memory::MemoryLog;
        use lake_api::{MergeStrategy, UnionTable};

        // Paimon's dynamic buckets (bucket = -1) hold keys wherever its own index put them,
        // not by the Fluss bucket: the lake is bucket-unaware, and every log bucket is
        // merged with the whole lake
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "dynamic");
        let options = [
            (BUCKET_OPTION, "-1"),
            ("dynamic-bucket.target-row-num", "2"),
            (BUCKET_COUNT_OPTION, "2"),
        ];
        let table = kab_table(&lake, &path, &options).await?;
        let a = |k: i64| format!("a{k}");
        let names: Vec<String> = (1..=6).map(a).collect();
        let name = |k: i64| Some(names[k as usize - 1].as_str());
        commit_rows(
            &table,
            kab_rows(vec![1, 2, 3, 4, 5], (1..=5).map(name).collect(), vec![None; 5])?,
            None,
        )
        .await?;
        // a second commit updates 2 (in whichever bucket the index keeps it) and adds 6
        commit_rows(
            &table,
            kab_rows(vec![2, 6], vec![name(2), name(6)], vec![Some("b2"), None])?,
            None,
        )
        .await?;

        let info = lake.table_info(&path).await?;
        assert_eq!(info.bucket_count, 2);
        let snapshot = lake
            .latest_snapshot(&path)
            .await?
            .ok_or_else(|| Error::invalid("no snapshot"))?;
        let splits = lake
            .create_lake_source(&path)
            .await?
            .create_planner(snapshot.id)
            .await?
            .plan()
            .await?;
        assert!(splits.len() > 1, "{splits:?}");
        assert!(splits.iter().all(|s| s.bucket().is_none()), "{splits:?}");

        // the log's two buckets change keys wherever Paimon's own buckets keep them
        let log = MemoryLog::new(info.clone())?;
        let (b0, b1) = (TableBucket::new(0), TableBucket::new(1));
        log.record_tiered_offsets(snapshot.id, BTreeMap::from([(b0.clone(), 0), (b1.clone(), 0)]))?;
        log.append(
            &b0,
            kab_rows(
                vec![1, 3, 3],
                vec![name(1), name(3), name(3)],
                vec![None, None, Some("b3")],
            )?,
            vec![ChangeType::Delete, ChangeType::UpdateBefore, ChangeType::UpdateAfter],
        )?;
        log.append(
            &b1,
            kab_rows(vec![6, 7], vec![name(6), Some("a7")], vec![Some("b6"), None])?,
            vec![ChangeType::UpdateAfter, ChangeType::Insert],
        )?;
        let union = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake.clone())))?;
        for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
            assert_eq!(
                union_kab_rows(&union, strategy).await?,
                vec![
                    kab(2, Some("a2"), Some("b2")),
                    kab(3, Some("a3"), Some("b3")),
                    kab(4, Some("a4"), None),
                    kab(5, Some("a5"), None),
                    kab(6, Some("a6"), Some("b6")),
                    kab(7, Some("a7"), None),
                ],
                "{strategy:?}"
            );
        }
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn partial_update_tables_union_read_through_paimons_merge() -> Result<()> {
        use lake_api::memory::MemoryLog;
        use lake_api::{MergeStrategy, UnionTable};

        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "profiles");
        let options = [
            (BUCKET_OPTION, "1"),
            (BUCKET_KEY_OPTION, "k"),
            (PAIMON_MERGE_ENGINE_OPTION, "partial-update"),
        ];
        let table = kab_table(&lake, &path, &options).await?;
        let rows = kab_rows;
        // two partial writes of key 1: Paimon's merge joins them into one row
        commit_rows(
            &table,
            rows(vec![1, 2], vec![Some("a1"), Some("a2")], vec![None, None])?,
            Some(0),
        )
        .await?;
        commit_rows(&table, rows(vec![1], vec![None], vec![Some("b1")])?, Some(0)).await?;

        // the log carries full row images (Fluss's KV store applies partial updates before
        // it logs), so the latest change replaces the merged lake row
        let info = lake.table_info(&path).await?;
        assert_eq!(info.merge_engine, MergeEngine::Deduplicate);
        let snapshot = lake
            .latest_snapshot(&path)
            .await?
            .ok_or_else(|| Error::invalid("no snapshot"))?;
        let log = MemoryLog::new(info.clone())?;
        let bucket = TableBucket::new(0);
        log.record_tiered_offsets(snapshot.id, BTreeMap::from([(bucket.clone(), 0)]))?;
        log.append(
            &bucket,
            rows(
                vec![2, 2, 3],
                vec![Some("a2"), Some("a2"), Some("a3")],
                vec![None, Some("b2"), None],
            )?,
            vec![ChangeType::UpdateBefore, ChangeType::UpdateAfter, ChangeType::Insert],
        )?;
        let union = UnionTable::new(info.clone(), Arc::new(log), Some(Arc::new(lake.clone())))?;
        for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
            assert_eq!(
                union_kab_rows(&union, strategy).await?,
                vec![
                    kab(1, Some("a1"), Some("b1")),
                    kab(2, Some("a2"), Some("b2")),
                    kab(3, Some("a3"), None),
                ],
                "{strategy:?}"
            );
        }
        // tiering into it would merge the folded rows again (a NULL never overwrites): refused
        let err = lake
            .create_lake_writer(&info)
            .await
            .err()
            .ok_or_else(|| Error::invalid("writer accepted"))?;
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("partial-update"), "{err}");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paimon_merge_other_than_the_logs_is_refused_for_tiering() -> Result<()> {
        // regression: a round's folded rows went into a table whose own merge (first-row,
        // a sequence field) kept the lake's row over the round's update, while the
        // snapshot's offsets said the update was tiered
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let bucketed = [(BUCKET_OPTION, "1"), (BUCKET_KEY_OPTION, "k")];
        let cases = [
            (
                "first_row",
                (PAIMON_MERGE_ENGINE_OPTION, "first-row"),
                MergeEngine::FirstRow,
            ),
            (
                "sequenced",
                ("sequence.field", "b"),
                MergeEngine::Versioned { column: "b".into() },
            ),
        ];
        for (name, native, own) in cases {
            let path = TablePath::new("fluss", name);
            let mut options = bucketed.to_vec();
            options.push(native);
            kab_table(&lake, &path, &options).await?;
            let lake_info = lake.table_info(&path).await?;
            assert_eq!(lake_info.merge_engine, own, "{name}");
            let deduplicate = lake_info.clone().with_merge_engine(MergeEngine::Deduplicate);
            let err = lake
                .create_lake_writer(&deduplicate)
                .await
                .err()
                .ok_or_else(|| Error::invalid(format!("{name}: writer accepted")))?;
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
            assert!(err.to_string().contains("merges the table's rows as"), "{err}");
        }
        // the log's own engine is Paimon's: taken
        let path = TablePath::new("fluss", "first_row");
        lake.create_lake_writer(&lake.table_info(&path).await?).await?;
        Ok(())
    }

    /// Paimon prunes a key filter's buckets by its own hash of the key, so a row filed in
    /// another bucket would be lost to such reads: the round is refused, nothing committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_whose_paimon_hash_names_another_bucket_are_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "hashed");
        let info = TableInfo::primary_key_table(path.clone(), data_schema(), vec!["k".into()], 4);
        let table = lake.create_table(&info).await?;
        let fields = table.schema().fields();
        let target = paimon::arrow::build_target_arrow_schema(fields).map_err(paimon_err("target"))?;
        let key = fields
            .iter()
            .position(|f| f.name() == "k")
            .ok_or_else(|| Error::schema("no k"))?;
        let hashes = paimon::spec::batch_hash_codes(&to_paimon(&rows(&[7], "a")?, &target)?, &[key], fields)
            .map_err(paimon_err("hash"))?;
        let home = (hashes[0] % 4).unsigned_abs();

        let mut writer = lake.create_lake_writer(&info).await?;
        let elsewhere = TableBucket::new((home + 1) % 4);
        writer
            .write(&elsewhere, &batch(&[7], "a", ChangeType::Insert, 0, 1)?)
            .await?;
        let err = writer
            .commit(BTreeMap::new())
            .await
            .err()
            .ok_or_else(|| Error::invalid("a row in another bucket than its hash was committed"))?;
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains(&format!("belongs to bucket {home}")), "{err}");
        assert!(lake.latest_snapshot(&path).await?.is_none());

        let mut writer = lake.create_lake_writer(&info).await?;
        writer
            .write(&TableBucket::new(home), &batch(&[7], "a", ChangeType::Insert, 0, 1)?)
            .await?;
        writer.commit(BTreeMap::new()).await?;
        assert_eq!(visible(&lake, &path).await?.1, 1);

        // a bucket function Fluss does not hash by cannot be tiered into
        let modded = TablePath::new("fluss", "modded");
        let table = kab_table(&lake, &modded, &[("bucket", "4"), ("bucket-function.type", "mod")]).await?;
        let modded = table_info(&modded, table.schema())?;
        let err = lake
            .create_lake_writer(&modded)
            .await
            .err()
            .ok_or_else(|| Error::invalid("a mod-bucketed table was accepted"))?;
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        Ok(())
    }

    fn offsets_property(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(lake_api::FLUSS_OFFSETS_PROPERTY.to_string(), value.to_string())])
    }

    fn offsets_of(snapshot: &LakeSnapshot) -> Option<&str> {
        snapshot
            .properties
            .get(lake_api::FLUSS_OFFSETS_PROPERTY)
            .map(String::as_str)
    }

    /// A round that stopped between its commit and writing its properties into the
    /// snapshot (a crash, a failed write) reads with the properties it recorded before it
    /// committed: a reader never pairs the round's rows with an older snapshot's offsets.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_stopped_before_its_snapshot_got_its_properties_reads_with_them() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "stopped");
        let table = kab_table(&lake, &path, &[(BUCKET_OPTION, "1")]).await?;
        let one = || kab_rows(vec![1], vec![Some("a1")], vec![None]);

        let user = new_commit_user();
        commit_properties::record(&table, &user, &offsets_property("{\"round\":1}"), "test").await?;
        commit_rows_as(&table, &user, one()?, Some(0)).await?;
        let listed = lake.list_snapshots(&path).await?;
        assert_eq!(listed.len(), 1);
        assert_eq!(offsets_of(&listed[0]), Some("{\"round\":1}"));
        let latest = lake
            .latest_snapshot(&path)
            .await?
            .ok_or_else(|| Error::invalid("no snapshot"))?;
        assert_eq!(offsets_of(&latest), Some("{\"round\":1}"));

        // another writer's snapshot, and a round that recorded nothing, read as they are
        commit_rows(&table, one()?, Some(0)).await?;
        commit_rows_as(&table, &new_commit_user(), one()?, Some(0)).await?;
        let listed = lake.list_snapshots(&path).await?;
        let offsets: Vec<Option<&str>> = listed.iter().map(offsets_of).collect();
        assert_eq!(offsets, vec![Some("{\"round\":1}"), None, None]);
        Ok(())
    }

    /// A round that fails after its data files are written but before it commits (here:
    /// its properties cannot be recorded) removes those files: nothing will ever commit
    /// them, and a retried round writes its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_that_fails_before_committing_leaves_no_data_files() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "aborted");
        let info = TableInfo::primary_key_table(path.clone(), data_schema(), vec!["k".into()], 1);
        lake.create_table(&info).await?;
        let table_dir = dir.path().join("fluss.db").join("aborted");
        // a file where the round's properties record goes: recording them fails
        let records = table_dir.join("lakeunion-commits");
        std::fs::write(&records, b"in the way")?;
        let bucket = table_dir.join("bucket-0");
        let data_files = || std::fs::read_dir(&bucket).map(|d| d.count()).unwrap_or(0);

        let round = || async {
            let mut writer = lake.create_lake_writer(&info).await?;
            writer
                .write(&TableBucket::new(0), &batch(&[1, 2], "a", ChangeType::Insert, 0, 1)?)
                .await?;
            writer.commit(offsets_property("{\"round\":1}")).await
        };
        let err = round()
            .await
            .err()
            .ok_or_else(|| Error::invalid("the round committed"))?;
        assert!(err.to_string().contains("lakeunion-commits"), "{err}");
        assert!(lake.latest_snapshot(&path).await?.is_none());
        assert_eq!(data_files(), 0, "{}", bucket.display());

        std::fs::remove_file(&records)?;
        let snapshot = round().await?;
        assert_eq!(offsets_of(&snapshot), Some("{\"round\":1}"));
        assert_eq!(visible(&lake, &path).await?.1, 2);
        assert_eq!(data_files(), 1, "{}", bucket.display());
        Ok(())
    }

    /// Another writer (a compaction, say) may commit between a round's commit and its
    /// properties: the round still finds its own snapshot and gives it them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_gives_its_properties_to_its_snapshot_behind_another_writers() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        let path = TablePath::new("fluss", "raced");
        let table = kab_table(&lake, &path, &[(BUCKET_OPTION, "1")]).await?;
        let one = || kab_rows(vec![1], vec![Some("a1")], vec![None]);
        commit_rows(&table, one()?, Some(0)).await?;

        let user = new_commit_user();
        let properties = offsets_property("{\"round\":2}");
        commit_properties::record(&table, &user, &properties, "test").await?;
        commit_rows_as(&table, &user, one()?, Some(0)).await?;
        commit_rows(&table, one()?, Some(0)).await?;
        let records = dir.path().join("fluss.db").join("raced").join("lakeunion-commits");
        let recorded = || std::fs::read_dir(&records).map(|d| d.count()).unwrap_or(0);
        assert_eq!(recorded(), 1, "{}", records.display());
        let snapshot = commit_properties::write_into_snapshot(&table, &user, Some(1), properties, "test").await?;
        assert_eq!((snapshot.id, offsets_of(&snapshot)), (2, Some("{\"round\":2}")));
        let listed = lake.list_snapshots(&path).await?;
        let offsets: Vec<Option<&str>> = listed.iter().map(offsets_of).collect();
        assert_eq!(offsets, vec![None, Some("{\"round\":2}"), None]);
        // the snapshot says it all now: the record is gone
        assert_eq!(recorded(), 0, "{}", records.display());
        Ok(())
    }
}
