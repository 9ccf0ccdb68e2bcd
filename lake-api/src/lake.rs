//! The lake side: storages, sources, planners, splits, readers and writers.
//!
//! The shape follows the Fluss lake-source proposal, made async and Arrow-native: a
//! [`LakeStorage`] opens a [`LakeSource`] per table; the source takes projection, filters
//! and a limit, plans a snapshot into [`LakeSplit`]s and creates a [`RecordReader`] per split.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::{Stream, StreamExt};

use crate::blob::{BlobMode, BlobResolver};
use crate::error::{Error, ErrorKind, Result};
use crate::log::LogBatch;
use crate::predicate::{FilterPushDown, Predicate};
use crate::table::{TableBucket, TableInfo, TablePath};
use crate::task::{forward, task_stream};

/// The snapshot property Fluss writes the tiered offsets into.
pub const FLUSS_OFFSETS_PROPERTY: &str = "fluss-offsets";

/// A snapshot property saying why the tiered offsets the snapshot's rows go with are
/// unknown (a lake version restoring one whose offsets are gone). Readers that need
/// offsets refuse such a snapshot rather than take an older one's, which would describe
/// other rows; see [`latest_tiered_offsets`](crate::latest_tiered_offsets).
pub const OFFSETS_UNKNOWN_PROPERTY: &str = "lakeunion.offsets-unknown";

/// A stream of record batches that knows its schema.
pub struct RecordBatchStream {
    schema: SchemaRef,
    inner: Pin<Box<dyn Stream<Item = Result<RecordBatch>> + Send>>,
}

impl RecordBatchStream {
    /// Wraps a stream whose batches all have `schema`.
    pub fn new(schema: SchemaRef, inner: impl Stream<Item = Result<RecordBatch>> + Send + 'static) -> Self {
        Self {
            schema,
            inner: Box::pin(inner),
        }
    }

    /// A stream over batches already in memory.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self::new(schema, futures::stream::iter(batches.into_iter().map(Ok)))
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Stops once `limit` rows have come out (the batch that reaches it is kept whole: a
    /// lake reader's limit is a bound on the work, and the engine cuts the exact limit).
    /// `None` leaves the stream as it is.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use arrow_array::{Int32Array, RecordBatch};
    /// use futures::TryStreamExt;
    /// use lake_api::lake::RecordBatchStream;
    ///
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from(vec![1, 2, 3])) as _)]).unwrap();
    /// let stream = RecordBatchStream::from_batches(batch.schema(), vec![batch.clone(), batch.clone(), batch]);
    /// let got: Vec<RecordBatch> = stream.with_row_limit(Some(4)).try_collect().await.unwrap();
    /// assert_eq!(got.len(), 2);
    /// # });
    /// ```
    pub fn with_row_limit(self, limit: Option<usize>) -> Self {
        let Some(limit) = limit else {
            return self;
        };
        let schema = self.schema.clone();
        let mut left = limit;
        let limited = futures::TryStreamExt::try_take_while(self, move |batch| {
            let keep = left > 0;
            left = left.saturating_sub(batch.num_rows());
            futures::future::ready(Ok(keep))
        });
        Self::new(schema, limited)
    }

    /// Reads up to `batches` batches ahead on a task of its own, so that producing them
    /// (decoding a file) overlaps consuming them (merging) on another core. Outside a
    /// multi-threaded Tokio runtime the stream stays as it is. The task starts on the first
    /// poll and stops when the stream ends or fails, or is aborted when the returned stream
    /// is dropped. A reader that panics ends the stream with an `External` error.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use arrow_array::{Int32Array, RecordBatch};
    /// use futures::TryStreamExt;
    /// use lake_api::lake::RecordBatchStream;
    ///
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from(vec![1, 2])) as _)]).unwrap();
    /// let stream = RecordBatchStream::from_batches(batch.schema(), vec![batch.clone(), batch]);
    /// let got: Vec<RecordBatch> = stream.read_ahead(1).try_collect().await.unwrap();
    /// assert_eq!(got.len(), 2);
    /// # });
    /// ```
    pub fn read_ahead(self, batches: usize) -> Self {
        // on a single-threaded runtime there is no other core to overlap with
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => runtime,
            _ => return self,
        };
        let schema = self.schema.clone();
        // the task starts on the first poll: a consumer that reads its inputs one after
        // another (a chained run, the key filter) runs one reader ahead, not all of them
        let input = self;
        let lazy = futures::stream::once(async move {
            task_stream(runtime, batches, "a lake reader task", move |tx| async move {
                forward(input, tx).await;
            })
        })
        .flatten();
        Self::new(schema, lazy)
    }
}

impl Stream for RecordBatchStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Debug for RecordBatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatchStream")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// One lake snapshot and its properties (where Fluss keeps `fluss-offsets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeSnapshot {
    /// The format's snapshot id (Paimon snapshot id, Iceberg snapshot id, Lance version).
    pub id: i64,
    /// Commit time, ms since the epoch.
    pub timestamp_ms: i64,
    /// Snapshot properties / summary / transaction properties.
    pub properties: BTreeMap<String, String>,
}

impl LakeSnapshot {
    /// Why the tiered offsets this snapshot's rows go with are unknown, when it is marked
    /// [`OFFSETS_UNKNOWN_PROPERTY`] and records no [`FLUSS_OFFSETS_PROPERTY`] of its own:
    /// the offsets of the snapshots before it describe other rows.
    pub fn offsets_unknown(&self) -> Option<&str> {
        if self.properties.contains_key(FLUSS_OFFSETS_PROPERTY) {
            return None;
        }
        self.properties.get(OFFSETS_UNKNOWN_PROPERTY).map(String::as_str)
    }
}

/// A unit of lake work: part of one bucket (or, for bucket-unaware lakes, of a partition).
pub trait LakeSplit: Send + Sync + Debug {
    /// The bucket the split's rows belong to; `None` when the lake is not bucket-aware.
    fn bucket(&self) -> Option<u32>;
    /// The partition values, rendered as Fluss renders partition names; empty when the
    /// table is not partitioned.
    fn partition(&self) -> &[String];
    /// For downcasting in the backend's reader.
    fn as_any(&self) -> &dyn Any;
    /// What the split reads, as the lake's metadata tells it without reading the files;
    /// `None` (the default) when the backend cannot tell.
    fn stats(&self) -> Option<SplitStats> {
        None
    }
    /// Where the split sits in a key-sorted run of splits; `None` (the default) when it is
    /// no part of one. See [`RunPosition`].
    fn run_position(&self) -> Option<RunPosition> {
        None
    }
}

/// A split's place in a key-sorted *run*: splits whose readers emit rows in primary-key
/// order and whose key ranges follow one another, so that read one after the other, by
/// `index`, they are one sorted stream.
///
/// A lake that writes one sorted sequence into several files (Lance's fragments of one
/// append) says so here: it keeps one split per file, for parallel plain scans, while a
/// merge reads the run as one sorted input, not as several to k-way merge. The merge checks
/// the order where the splits meet and fails rather than misplace rows.
///
/// ```
/// use lake_api::lake::RunPosition;
///
/// let parts = [RunPosition { run: 7, index: 1 }, RunPosition { run: 7, index: 0 }];
/// let mut ordered = parts.to_vec();
/// ordered.sort();
/// assert_eq!(ordered[0].index, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RunPosition {
    /// Identifies the run among the lake splits one merge reads together (a bucket, or a
    /// partition of a bucket-unaware lake): parts of one run that land in different
    /// merges are chained within each.
    pub run: u64,
    /// The split's place in the run: parts are read in ascending `index` (gaps allowed).
    pub index: u32,
}

/// The files a split reads, from the lake's metadata.
///
/// ```
/// use lake_api::SplitStats;
///
/// // a data file of its own, and a delete file another split applies too
/// let stats = SplitStats {
///     files: 1,
///     bytes: Some(100),
///     rows: Some(10),
///     shared: vec![("deletes-1.parquet".into(), SplitStats::of(1, Some(20), Some(0)))],
/// };
/// assert_eq!(stats.whole(), SplitStats::of(2, Some(120), Some(10)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitStats {
    /// Files read by this split alone: data files, and the delete files or deletion
    /// vectors applied to them.
    pub files: usize,
    /// Their size on storage, when every size is known.
    pub bytes: Option<u64>,
    /// Rows stored in the data files (before deletes, merges and filters), when known.
    pub rows: Option<u64>,
    /// Files other splits may read too (a Lance fragment read once per partition, an
    /// Iceberg delete file applied to several data files), in groups, each under a key
    /// naming its files: totals count each key once. The groups share nothing further.
    pub shared: Vec<(String, SplitStats)>,
}

impl SplitStats {
    /// Figures of files no other split reads.
    pub fn of(files: usize, bytes: Option<u64>, rows: Option<u64>) -> Self {
        Self {
            files,
            bytes,
            rows,
            shared: Vec::new(),
        }
    }

    /// The figures of several splits together, each shared group counted once (by its
    /// key), as a table's total.
    ///
    /// ```
    /// use lake_api::SplitStats;
    ///
    /// let split = |bytes| SplitStats {
    ///     shared: vec![("deletes".into(), SplitStats::of(1, Some(5), Some(0)))],
    ///     ..SplitStats::of(1, Some(bytes), Some(3))
    /// };
    /// let total = SplitStats::total(&[split(10), split(20)]);
    /// assert_eq!(total, SplitStats::of(3, Some(35), Some(6)));
    /// ```
    pub fn total<'a>(splits: impl IntoIterator<Item = &'a SplitStats>) -> SplitStats {
        let mut seen = std::collections::BTreeSet::new();
        let mut total = Self::of(0, Some(0), Some(0));
        for split in splits {
            total = total + Self::of(split.files, split.bytes, split.rows);
            for (key, part) in &split.shared {
                if seen.insert(key.as_str()) {
                    total = total + part.whole();
                }
            }
        }
        total
    }

    /// Every file the split reads, its own and the shared ones, as one figure (shared
    /// groups are not told apart here: [`total`](Self::total) counts each once).
    pub fn whole(&self) -> SplitStats {
        self.shared
            .iter()
            .fold(Self::of(self.files, self.bytes, self.rows), |a, (_, part)| {
                a + part.whole()
            })
    }

    /// The sum of some figures (file sizes, row counts): unknown when any is, and
    /// stopping at `u64::MAX` rather than overflowing, since they come from file metadata.
    ///
    /// ```
    /// use lake_api::SplitStats;
    ///
    /// assert_eq!(SplitStats::sum([Some(1), Some(2)]), Some(3));
    /// assert_eq!(SplitStats::sum([Some(1), None]), None);
    /// assert_eq!(SplitStats::sum([Some(u64::MAX), Some(2)]), Some(u64::MAX));
    /// ```
    pub fn sum(figures: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
        figures
            .into_iter()
            .try_fold(0u64, |sum, figure| Some(sum.saturating_add(figure?)))
    }
}

/// The sum of two splits' figures, their shared groups listed together as they are (a key
/// both list stays twice: [`SplitStats::total`] counts it once); an unknown figure stays
/// unknown. The figures come from file metadata, so a sum that would overflow stops
/// at the type's maximum.
impl std::ops::Add for SplitStats {
    type Output = SplitStats;

    fn add(mut self, other: SplitStats) -> SplitStats {
        self.shared.extend(other.shared);
        SplitStats {
            files: self.files.saturating_add(other.files),
            bytes: Self::sum([self.bytes, other.bytes]),
            rows: Self::sum([self.rows, other.rows]),
            shared: self.shared,
        }
    }
}

/// Turns splits into versioned bytes and back, so that planners and readers may run on
/// different machines.
pub trait SplitSerializer: Send + Sync {
    /// The version [`serialize`](Self::serialize) writes.
    fn version(&self) -> u32;
    /// The bytes of a split.
    fn serialize(&self, split: &dyn LakeSplit) -> Result<Vec<u8>>;
    /// A split from bytes written by `version` (older versions should still be read).
    fn deserialize(&self, version: u32, bytes: &[u8]) -> Result<Arc<dyn LakeSplit>>;
}

/// Plans one snapshot of a table into splits.
#[async_trait]
pub trait Planner: Send {
    /// The splits of the snapshot, after the source's filters and projection.
    async fn plan(&mut self) -> Result<Vec<Arc<dyn LakeSplit>>>;
}

/// Reads one split.
#[async_trait]
pub trait RecordReader: Send {
    /// The schema of the batches `read` yields (the source's projection).
    fn schema(&self) -> SchemaRef;
    /// The reader as a [`SortedRecordReader`], when it emits rows in primary-key order.
    fn as_sorted(&self) -> Option<&dyn SortedRecordReader> {
        None
    }
    /// The rows of the split.
    async fn read(self: Box<Self>) -> Result<RecordBatchStream>;
}

/// A reader whose rows come in ascending primary-key order (Paimon's merge-on-read).
pub trait SortedRecordReader: RecordReader {
    /// The columns the rows are ordered by, ascending, nulls first.
    fn key_order(&self) -> &[String];
}

/// Which rows of a lake snapshot a source's planners see.
///
/// Most lakes show their readers every row a snapshot commits, and both views are the
/// same there. Paimon tables with deletion vectors, and Paimon `first-row` tables, hide
/// their uncompacted (level-0) files from readers until a compaction: their readable rows
/// lag behind the committed ones. A union read pairs the view with the offsets it takes
/// from the log: a snapshot's tiered offsets cover its committed rows, while a Fluss
/// coordinator's readable offsets cover only its readable rows.
///
/// ```
/// use lake_api::SnapshotView;
///
/// assert_eq!(SnapshotView::default(), SnapshotView::Committed);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SnapshotView {
    /// Every row the snapshot committed, merged on read where the lake's own readers would
    /// skip it: what the snapshot's tiered offsets (`fluss-offsets`) stand for.
    #[default]
    Committed,
    /// The rows the lake's own readers see: what a Fluss coordinator's readable offsets
    /// stand for.
    Readable,
}

/// A table in a lake format, configured for one scan.
#[async_trait]
pub trait LakeSource: Send + Sync {
    /// Projects to nested index paths: `[2]` is top-level column 2, `[3, 0]` is the first
    /// child of struct column 3 (kept inside its struct). The output keeps path order by
    /// first top-level appearance.
    fn with_project(&mut self, paths: &[Vec<usize>]) -> Result<()>;
    /// Offers conjunctive filters; the source says which it applies exactly (`accepted`)
    /// and which the caller must still apply (`remaining`).
    fn with_filters(&mut self, filters: Vec<Predicate>) -> FilterPushDown;
    /// At most `limit` rows are needed (only passed when no filters remain).
    fn with_limit(&mut self, limit: usize);
    /// A planner for one snapshot.
    async fn create_planner(&self, snapshot_id: i64) -> Result<Box<dyn Planner>>;
    /// A reader for one split.
    async fn create_reader(&self, split: Arc<dyn LakeSplit>) -> Result<Box<dyn RecordReader>>;
    /// The serializer of this source's splits.
    fn split_serializer(&self) -> Arc<dyn SplitSerializer>;
    /// How readers return BLOB columns: payloads (what a new source reads) or references
    /// (`lakeunion.blob_ref` structs that [`blob_resolver`](Self::blob_resolver) fetches).
    /// A source whose lake cannot point at its payloads fails `References` with
    /// `Unsupported`, as the default does; [`LakeStorage::blob_references`] tells in advance.
    fn with_blob_mode(&mut self, mode: BlobMode) -> Result<()> {
        match mode {
            BlobMode::Payloads => Ok(()),
            BlobMode::References => Err(Error::new(
                ErrorKind::Unsupported,
                "this lake reads BLOB columns as payloads only",
            )),
        }
    }
    /// What fetches the payloads of the references this source's readers return; `None`
    /// (the default) while they return payloads.
    fn blob_resolver(&self) -> Option<Arc<dyn BlobResolver>> {
        None
    }
    /// Asks the planners to plan `view` of a snapshot ([`SnapshotView`]; a new source plans
    /// `Committed`) and returns the view they will plan. Where the table's readers see
    /// every committed row, the two views are one, and the answer is `Committed` whatever
    /// was asked (the default): a union read then pairs the snapshot with its tiered
    /// offsets.
    fn with_view(&mut self, view: SnapshotView) -> Result<SnapshotView> {
        let _ = view;
        Ok(SnapshotView::Committed)
    }
}

/// Writes log changes into the lake and commits them as one snapshot (driven by the
/// tiering service).
#[async_trait]
pub trait LakeWriter: Send {
    /// Writes one log batch of a bucket; primary-key tables apply its changes where the
    /// format can.
    async fn write(&mut self, bucket: &TableBucket, batch: &LogBatch) -> Result<()>;
    /// Commits everything written as one snapshot carrying `properties`.
    async fn commit(self: Box<Self>, properties: BTreeMap<String, String>) -> Result<LakeSnapshot>;
}

/// A tiering round's batches, by bucket, as a [`LakeWriter`] that writes at commit keeps
/// them until then.
pub type RoundBatches = BTreeMap<TableBucket, Vec<LogBatch>>;

/// Keeps `batch` of `bucket` in `round`, once the table is known to have the bucket and the
/// batch's offsets hold together: the `write` of a [`LakeWriter`] that writes at commit.
pub fn keep_round_batch(
    info: &TableInfo,
    round: &mut RoundBatches,
    bucket: &TableBucket,
    batch: &LogBatch,
) -> Result<()> {
    if bucket.bucket >= info.bucket_count {
        return Err(Error::invalid(format!("table {} has no {bucket}", info.path)));
    }
    batch.validate()?;
    round.entry(bucket.clone()).or_default().push(batch.clone());
    Ok(())
}

/// What [`LakeStorage::open_scan`] returns.
pub struct LakeScanStart {
    /// Every snapshot of the table, oldest first.
    pub snapshots: Vec<LakeSnapshot>,
    /// A source for one scan; `None` when the table has no snapshot yet (a lake may
    /// give one anyway).
    pub source: Option<Box<dyn LakeSource>>,
}

impl std::fmt::Debug for LakeScanStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeScanStart")
            .field("snapshots", &self.snapshots)
            .field("source", &self.source.is_some())
            .finish()
    }
}

/// A lake format's catalog: tables, their snapshots, sources and writers.
#[async_trait]
pub trait LakeStorage: Send + Sync {
    /// The table's metadata as the lake stores it.
    async fn table_info(&self, path: &TablePath) -> Result<TableInfo>;
    /// The table's snapshots, oldest first: its history (for a lake with branches, the
    /// main branch's, so that the last is the table's current snapshot).
    async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>>;
    /// The newest snapshot, if the table has one.
    async fn latest_snapshot(&self, path: &TablePath) -> Result<Option<LakeSnapshot>> {
        Ok(self.list_snapshots(path).await?.pop())
    }
    /// A source for one scan of the table.
    async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>>;
    /// Every snapshot of the table (oldest first) and, when it has any, a source for one
    /// scan of it: what a union scan starts from, asked for at once so that a lake loads
    /// the table's metadata once per scan (a catalog round trip, or a schema file and a
    /// listing) and the snapshots and the source come from the same load. A
    /// [`NotFound`](crate::ErrorKind::NotFound) error means the table is not in the lake
    /// (a union scan then reads the log alone), so it must not stand for anything else.
    /// The default calls [`list_snapshots`](Self::list_snapshots), then
    /// [`create_lake_source`](Self::create_lake_source).
    async fn open_scan(&self, path: &TablePath) -> Result<LakeScanStart> {
        let snapshots = self.list_snapshots(path).await?;
        let source = match snapshots.is_empty() {
            true => None,
            // the table was just listed: a source that finds nothing is no missing table
            false => Some(self.create_lake_source(path).await.map_err(|e| {
                e.not_found_as(
                    crate::ErrorKind::External,
                    format_args!("opening a source of table {path}, listed just before"),
                )
            })?),
        };
        Ok(LakeScanStart { snapshots, source })
    }
    /// A writer that tiers log changes into the table, creating it from `info` when absent.
    async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn LakeWriter>>;
    /// Whether this lake's sources for table `path` can read its BLOB columns as references
    /// ([`LakeSource::with_blob_mode`]); `false` by default. A union scan asks for
    /// references only where the lake can give them. The answer must not depend on whether
    /// the table has a snapshot yet, so that one table's scans return BLOB columns the same
    /// way before and after its first tiering.
    async fn blob_references(&self, path: &TablePath) -> Result<bool> {
        let _ = path;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Int32Array;
    use futures::StreamExt;

    use super::*;

    fn batch(v: i32) -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int32Array::from(vec![v])) as _,
        )])?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn read_ahead_keeps_order_and_reports_a_reader_that_panicked() -> Result<()> {
        let batches = (0..20).map(batch).collect::<Result<Vec<_>>>()?;
        let schema = batches[0].schema();
        let got: Vec<RecordBatch> = futures::TryStreamExt::try_collect(
            RecordBatchStream::from_batches(schema.clone(), batches.clone()).read_ahead(2),
        )
        .await?;
        assert_eq!(got, batches);

        let first = batches[0].clone();
        let panicking = futures::stream::iter(0..3).map(move |i| {
            if i == 2 {
                panic!("a reader bug");
            }
            Ok(first.clone())
        });
        let items: Vec<Result<RecordBatch>> = RecordBatchStream::new(schema.clone(), panicking)
            .read_ahead(1)
            .collect()
            .await;
        assert_eq!(items.len(), 3);
        assert!(items[..2].iter().all(Result::is_ok));
        assert!(matches!(&items[2], Err(e) if e.kind() == ErrorKind::External));

        // a consumer that stops early aborts the reader: an endless reader is no leak
        let endless = futures::stream::repeat_with(move || batch(1));
        let mut ahead = RecordBatchStream::new(schema, endless).read_ahead(1);
        assert!(ahead.next().await.is_some());
        drop(ahead);
        Ok(())
    }

    #[tokio::test]
    async fn read_ahead_on_a_current_thread_runtime_reads_in_place() -> Result<()> {
        let batches = (0..5).map(batch).collect::<Result<Vec<_>>>()?;
        let stream = RecordBatchStream::from_batches(batches[0].schema(), batches.clone()).read_ahead(2);
        let got: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream).await?;
        assert_eq!(got, batches);
        Ok(())
    }
}
