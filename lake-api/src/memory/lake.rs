//! [`MemoryLake`]: a [`LakeStorage`] over batches held in memory, the reference backend
//! for tests and the demo.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::blob::{BlobMode, BlobResolver, MemoryBlobStore};
use crate::error::{Error, ErrorKind, Result};
use crate::lake::{
    LakeSnapshot, LakeSource, LakeSplit, LakeStorage, LakeWriter, Planner, RecordBatchStream, RecordReader,
    RoundBatches, SortedRecordReader, SplitSerializer, keep_round_batch,
};
use crate::log::LogBatch;
use crate::merge::apply::apply_changes;
use crate::predicate::{FilterPushDown, Predicate, filter_batch};
use crate::project::{project_batch, project_schema};
use crate::table::{TableBucket, TableInfo, TablePath};

/// One data file of a memory snapshot.
#[derive(Debug, Clone)]
pub struct MemoryFile {
    /// Partition values; empty when not partitioned.
    pub partition: Vec<String>,
    /// The bucket, or `None` in a bucket-unaware layout.
    pub bucket: Option<u32>,
    /// The rows, in the table schema.
    pub batches: Vec<RecordBatch>,
    /// Whether the rows are in primary-key order (the reader then says so).
    pub sorted: bool,
}

/// How a [`MemoryLake`] behaves, to exercise the engine's different paths.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLakeOptions {
    /// Accept every filter (apply it exactly in the reader) instead of leaving them all
    /// to the engine.
    pub accept_filters: bool,
    /// Whether files written by the writer carry their bucket.
    pub bucket_aware: bool,
}

impl Default for MemoryLakeOptions {
    fn default() -> Self {
        Self {
            accept_filters: true,
            bucket_aware: true,
        }
    }
}

#[derive(Debug)]
struct MemoryTable {
    info: TableInfo,
    snapshots: Vec<(LakeSnapshot, Arc<Vec<MemoryFile>>)>,
}

type Tables = Arc<Mutex<HashMap<TablePath, MemoryTable>>>;

/// A lake in memory. Cloning shares it.
///
/// It reads BLOB columns as references too: each source (one scan) keeps the payloads it
/// read in a [`MemoryBlobStore`] of its own, which its resolver serves.
#[derive(Debug, Clone, Default)]
pub struct MemoryLake {
    tables: Tables,
    options: MemoryLakeOptions,
}

fn lock(tables: &Tables) -> Result<MutexGuard<'_, HashMap<TablePath, MemoryTable>>> {
    tables
        .lock()
        .map_err(|_| Error::new(ErrorKind::External, "memory lake poisoned by a panic"))
}

fn not_found(path: &TablePath) -> Error {
    Error::new(ErrorKind::NotFound, format!("the lake has no table {path}"))
}

impl MemoryLake {
    /// An empty lake with default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty lake with options.
    pub fn with_options(options: MemoryLakeOptions) -> Self {
        Self {
            tables: Tables::default(),
            options,
        }
    }

    /// Creates a table (no snapshot yet); an existing table is left as it is.
    pub fn create_table(&self, info: &TableInfo) -> Result<()> {
        info.validate()?;
        lock(&self.tables)?
            .entry(info.path.clone())
            .or_insert_with(|| MemoryTable {
                info: info.clone(),
                snapshots: Vec::new(),
            });
        Ok(())
    }

    /// Commits a snapshot holding exactly `files`.
    pub fn commit_files(
        &self,
        path: &TablePath,
        files: Vec<MemoryFile>,
        properties: BTreeMap<String, String>,
    ) -> Result<LakeSnapshot> {
        let mut tables = lock(&self.tables)?;
        let table = tables.get_mut(path).ok_or_else(|| not_found(path))?;
        for f in &files {
            for b in &f.batches {
                if b.schema().fields() != table.info.schema.fields() {
                    return Err(Error::schema(format!(
                        "a file committed to {path} does not have the table schema"
                    )));
                }
            }
        }
        let id = table.snapshots.last().map_or(1, |(s, _)| s.id + 1);
        let snapshot = LakeSnapshot {
            id,
            timestamp_ms: id,
            properties,
        };
        table.snapshots.push((snapshot.clone(), Arc::new(files)));
        Ok(snapshot)
    }

    /// The files of a snapshot.
    pub fn files(&self, path: &TablePath, snapshot_id: i64) -> Result<Arc<Vec<MemoryFile>>> {
        let tables = lock(&self.tables)?;
        let table = tables.get(path).ok_or_else(|| not_found(path))?;
        table
            .snapshots
            .iter()
            .find(|(s, _)| s.id == snapshot_id)
            .map(|(_, f)| f.clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("table {path} has no lake snapshot {snapshot_id}"),
                )
            })
    }
}

#[async_trait]
impl LakeStorage for MemoryLake {
    async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
        lock(&self.tables)?
            .get(path)
            .map(|t| t.info.clone())
            .ok_or_else(|| not_found(path))
    }

    async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
        let tables = lock(&self.tables)?;
        let table = tables.get(path).ok_or_else(|| not_found(path))?;
        Ok(table.snapshots.iter().map(|(s, _)| s.clone()).collect())
    }

    async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>> {
        let info = self.table_info(path).await?;
        Ok(Box::new(MemorySource {
            lake: self.clone(),
            projection: None,
            filters: Vec::new(),
            limit: None,
            info,
            blob_mode: BlobMode::Payloads,
            blobs: Arc::default(),
        }))
    }

    async fn blob_references(&self, _path: &TablePath) -> Result<bool> {
        Ok(true)
    }

    async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn LakeWriter>> {
        self.create_table(info)?;
        Ok(Box::new(MemoryWriter {
            lake: self.clone(),
            info: info.clone(),
            written: BTreeMap::new(),
        }))
    }
}

/// A split of a memory snapshot: one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySplit {
    /// The table.
    pub table: TablePath,
    /// The snapshot.
    pub snapshot_id: i64,
    /// The file's index in the snapshot.
    pub file: usize,
    /// The partition values.
    pub partition: Vec<String>,
    /// The bucket.
    pub bucket: Option<u32>,
}

impl LakeSplit for MemorySplit {
    fn bucket(&self) -> Option<u32> {
        self.bucket
    }
    fn partition(&self) -> &[String] {
        &self.partition
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Serializes [`MemorySplit`]s as JSON (version 1).
#[derive(Debug, Clone, Copy)]
pub struct MemorySplitSerializer;

impl SplitSerializer for MemorySplitSerializer {
    fn version(&self) -> u32 {
        1
    }

    fn serialize(&self, split: &dyn LakeSplit) -> Result<Vec<u8>> {
        let split = split
            .as_any()
            .downcast_ref::<MemorySplit>()
            .ok_or_else(|| Error::invalid(format!("{split:?} is not a memory split")))?;
        serde_json::to_vec(split).map_err(|e| Error::invalid("cannot serialize a memory split").with_source(e))
    }

    fn deserialize(&self, version: u32, bytes: &[u8]) -> Result<Arc<dyn LakeSplit>> {
        if version != 1 {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!("memory split version {version} (this build reads 1)"),
            ));
        }
        let split: MemorySplit =
            serde_json::from_slice(bytes).map_err(|e| Error::corrupt("malformed memory split").with_source(e))?;
        Ok(Arc::new(split))
    }
}

struct MemorySource {
    lake: MemoryLake,
    info: TableInfo,
    projection: Option<Vec<Vec<usize>>>,
    filters: Vec<Predicate>,
    limit: Option<usize>,
    blob_mode: BlobMode,
    /// The payloads this source's readers handed out references to.
    blobs: Arc<MemoryBlobStore>,
}

#[async_trait]
impl LakeSource for MemorySource {
    fn with_blob_mode(&mut self, mode: BlobMode) -> Result<()> {
        self.blob_mode = mode;
        Ok(())
    }

    fn blob_resolver(&self) -> Option<Arc<dyn BlobResolver>> {
        (self.blob_mode == BlobMode::References).then(|| self.blobs.clone() as Arc<dyn BlobResolver>)
    }

    fn with_project(&mut self, paths: &[Vec<usize>]) -> Result<()> {
        project_schema(&self.info.schema, paths)?;
        self.projection = Some(paths.to_vec());
        Ok(())
    }

    fn with_filters(&mut self, filters: Vec<Predicate>) -> FilterPushDown {
        if !self.lake.options.accept_filters {
            return FilterPushDown {
                accepted: Vec::new(),
                remaining: filters,
            };
        }
        let (accepted, remaining): (Vec<_>, Vec<_>) =
            filters.into_iter().partition(|f| f.validate(&self.info.schema).is_ok());
        self.filters = accepted.clone();
        FilterPushDown { accepted, remaining }
    }

    fn with_limit(&mut self, limit: usize) {
        self.limit = Some(limit);
    }

    async fn create_planner(&self, snapshot_id: i64) -> Result<Box<dyn Planner>> {
        let files = self.lake.files(&self.info.path, snapshot_id)?;
        let splits = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Arc::new(MemorySplit {
                    table: self.info.path.clone(),
                    snapshot_id,
                    file: i,
                    partition: f.partition.clone(),
                    bucket: f.bucket,
                }) as Arc<dyn LakeSplit>
            })
            .collect();
        Ok(Box::new(MemoryPlanner { splits: Some(splits) }))
    }

    async fn create_reader(&self, split: Arc<dyn LakeSplit>) -> Result<Box<dyn RecordReader>> {
        let split = split
            .as_any()
            .downcast_ref::<MemorySplit>()
            .ok_or_else(|| Error::invalid(format!("{split:?} is not a memory split")))?;
        if split.table != self.info.path {
            return Err(Error::invalid(format!(
                "split names table {} but this source reads {}",
                split.table, self.info.path
            )));
        }
        let files = self.lake.files(&split.table, split.snapshot_id)?;
        let file = files.get(split.file).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "snapshot {} of {} has no file {}",
                    split.snapshot_id, split.table, split.file
                ),
            )
        })?;
        let schema = match &self.projection {
            Some(p) => Arc::new(project_schema(&self.info.schema, p)?),
            None => self.info.schema.clone(),
        };
        let schema = self.blob_mode.schema_of(&schema);
        let blobs = (self.blob_mode == BlobMode::References).then(|| self.blobs.clone());
        let key_order = (file.sorted && self.info.has_primary_key()).then(|| self.info.primary_key.clone());
        Ok(Box::new(MemoryReader {
            batches: file.batches.clone(),
            schema,
            projection: self.projection.clone(),
            filters: self.filters.clone(),
            limit: self.limit,
            key_order,
            blobs,
        }))
    }

    fn split_serializer(&self) -> Arc<dyn SplitSerializer> {
        Arc::new(MemorySplitSerializer)
    }
}

struct MemoryPlanner {
    splits: Option<Vec<Arc<dyn LakeSplit>>>,
}

#[async_trait]
impl Planner for MemoryPlanner {
    async fn plan(&mut self) -> Result<Vec<Arc<dyn LakeSplit>>> {
        Ok(self.splits.take().unwrap_or_default())
    }
}

struct MemoryReader {
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
    projection: Option<Vec<Vec<usize>>>,
    filters: Vec<Predicate>,
    limit: Option<usize>,
    key_order: Option<Vec<String>>,
    /// Where BLOB payloads go when the reader returns references.
    blobs: Option<Arc<MemoryBlobStore>>,
}

impl MemoryReader {
    /// `batch` with its BLOB payload columns replaced by references into the lake's store.
    fn with_references(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some(store) = &self.blobs else {
            return Ok(batch);
        };
        let columns = store.references_in(&self.schema, batch.columns().to_vec())?;
        Ok(crate::conform::batch_of(&self.schema, columns, batch.num_rows())?)
    }
}

#[async_trait]
impl RecordReader for MemoryReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn as_sorted(&self) -> Option<&dyn SortedRecordReader> {
        self.key_order.as_ref().map(|_| self as &dyn SortedRecordReader)
    }

    async fn read(self: Box<Self>) -> Result<RecordBatchStream> {
        let mut out = Vec::with_capacity(self.batches.len());
        let mut left = self.limit.unwrap_or(usize::MAX);
        for b in &self.batches {
            if left == 0 {
                break;
            }
            // filters read the full row, so they run before the projection
            let b = filter_batch(b, &self.filters)?;
            let b = match &self.projection {
                Some(p) => project_batch(&b, p)?,
                None => b,
            };
            let b = if b.num_rows() > left { b.slice(0, left) } else { b };
            left -= b.num_rows();
            out.push(self.with_references(b)?);
        }
        Ok(RecordBatchStream::from_batches(self.schema.clone(), out))
    }
}

impl SortedRecordReader for MemoryReader {
    fn key_order(&self) -> &[String] {
        self.key_order.as_deref().unwrap_or(&[])
    }
}

struct MemoryWriter {
    lake: MemoryLake,
    info: TableInfo,
    written: RoundBatches,
}

#[async_trait]
impl LakeWriter for MemoryWriter {
    async fn write(&mut self, bucket: &TableBucket, batch: &LogBatch) -> Result<()> {
        keep_round_batch(&self.info, &mut self.written, bucket, batch)
    }

    async fn commit(self: Box<Self>, properties: BTreeMap<String, String>) -> Result<LakeSnapshot> {
        let path = &self.info.path;
        let latest = self.lake.list_snapshots(path).await?.pop();
        let previous: Vec<MemoryFile> = match latest {
            Some(s) => self.lake.files(path, s.id)?.as_ref().clone(),
            None => Vec::new(),
        };
        let aware = self.lake.options.bucket_aware;
        let files = if !self.info.has_primary_key() {
            let mut files = previous;
            for (bucket, batches) in self.written {
                files.push(MemoryFile {
                    partition: bucket.partition.clone(),
                    bucket: aware.then_some(bucket.bucket),
                    batches: batches.into_iter().map(|b| b.batch).collect(),
                    sorted: false,
                });
            }
            files
        } else {
            // regroup the changes by file group: a bucket, or a partition when unaware
            let mut changes: BTreeMap<(Vec<String>, Option<u32>), Vec<LogBatch>> = BTreeMap::new();
            for (bucket, batches) in self.written {
                changes
                    .entry((bucket.partition.clone(), aware.then_some(bucket.bucket)))
                    .or_default()
                    .extend(batches);
            }
            let mut kept = Vec::new();
            let mut old: BTreeMap<(Vec<String>, Option<u32>), Vec<RecordBatch>> = BTreeMap::new();
            for f in previous {
                let group = (f.partition.clone(), f.bucket);
                if changes.contains_key(&group) {
                    old.entry(group).or_default().extend(f.batches);
                } else {
                    kept.push(f);
                }
            }
            let mut files = kept;
            for (group, log) in changes {
                let lake = old.remove(&group).unwrap_or_default();
                let merged = apply_changes(&self.info, lake, log).await?;
                files.push(MemoryFile {
                    partition: group.0,
                    bucket: group.1,
                    batches: merged,
                    sorted: true,
                });
            }
            files
        };
        self.lake.commit_files(path, files, properties)
    }
}
