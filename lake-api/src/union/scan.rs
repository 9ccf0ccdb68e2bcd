//! [`UnionTable`], its scan builder and [`UnionScan`]: builder → plan → splits → streams.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;

use crate::blob::{BlobMode, BlobResolver, MemoryBlobStore};
use crate::error::{Error, ErrorKind, Result};
use crate::lake::{LakeScanStart, LakeSnapshot, LakeSource, LakeStorage, RecordBatchStream, SnapshotView};
use crate::log::{LogSource, ReadableSnapshot};
use crate::predicate::{Predicate, parse};
use crate::table::{MergeEngine, TableBucket, TableInfo};
use crate::task::{ReadAheadBudget, forward_ahead, task_stream};

use super::blobs;
use super::in_order::InOrder;
use super::options::{MergeStrategy, ReadMode, ScanOptions};
use super::planner::{self, StopOffsets};
use super::readers;
use super::split::{UnionSplit, UnionSplitKind};

/// A table read as the union of its lake snapshot and its log.
///
/// ```
/// # use std::sync::Arc;
/// # use lake_api::memory::demo_table;
/// # use lake_api::UnionTable;
/// # use futures::TryStreamExt;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (log, lake) = demo_table().await.unwrap();
/// let table = UnionTable::open(log, Some(lake)).await.unwrap();
/// let scan = table
///     .scan()
///     .project(["id", "customer"])
///     .filter_str("id >= 2")
///     .unwrap()
///     .build()
///     .await
///     .unwrap();
/// let batches: Vec<_> = scan.to_stream().await.unwrap().try_collect().await.unwrap();
/// assert!(batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0);
/// # });
/// ```
#[derive(Clone)]
pub struct UnionTable {
    info: TableInfo,
    log: Arc<dyn LogSource>,
    lake: Option<Arc<dyn LakeStorage>>,
}

impl std::fmt::Debug for UnionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnionTable")
            .field("info", &self.info)
            .field("has_lake", &self.lake.is_some())
            .finish()
    }
}

impl UnionTable {
    /// Opens a table; the log is the authority on its metadata.
    pub async fn open(log: Arc<dyn LogSource>, lake: Option<Arc<dyn LakeStorage>>) -> Result<Self> {
        let info = log.table_info().await?;
        Self::new(info, log, lake)
    }

    /// A table from known metadata.
    pub fn new(info: TableInfo, log: Arc<dyn LogSource>, lake: Option<Arc<dyn LakeStorage>>) -> Result<Self> {
        info.validate()?;
        Ok(Self { info, log, lake })
    }

    /// The table's metadata.
    pub fn info(&self) -> &TableInfo {
        &self.info
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn LogSource> {
        &self.log
    }

    /// The lake storage, if any.
    pub fn lake(&self) -> Option<&Arc<dyn LakeStorage>> {
        self.lake.as_ref()
    }

    /// Starts a scan.
    pub fn scan(&self) -> UnionScanBuilder {
        UnionScanBuilder {
            table: self.clone(),
            columns: None,
            filters: Vec::new(),
            limit: None,
            options: ScanOptions::default(),
            snapshot_id: None,
            as_of: None,
            mode: ReadMode::Union,
        }
    }
}

/// Configures a [`UnionScan`].
#[derive(Debug, Clone)]
pub struct UnionScanBuilder {
    table: UnionTable,
    columns: Option<Vec<String>>,
    filters: Vec<Predicate>,
    limit: Option<usize>,
    options: ScanOptions,
    snapshot_id: Option<i64>,
    as_of: Option<BTreeMap<TableBucket, i64>>,
    mode: ReadMode,
}

impl UnionScanBuilder {
    /// Reads only these columns, in this order.
    pub fn project<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Keeps only rows for which `predicate` is true (ANDed with earlier filters).
    pub fn filter(mut self, predicate: Predicate) -> Self {
        self.filters.push(predicate);
        self
    }

    /// Parses a SQL-like filter (`"id > 5 AND name = 'x'"`) and adds it.
    pub fn filter_str(self, text: &str) -> Result<Self> {
        Ok(self.filter(parse(text)?))
    }

    /// Returns at most `n` rows. Each split stops at `n` rows, and
    /// [`UnionScan::to_stream`] starts one split at a time at first, doubling the splits
    /// it reads at once (up to the concurrency) each time a split ends short of the limit.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Forces a merge strategy for primary-key splits.
    pub fn strategy(mut self, strategy: MergeStrategy) -> Self {
        self.options.strategy = strategy;
        self
    }

    /// Bytes each split's reader may buffer before spilling (see
    /// [`ScanOptions::memory_budget`]).
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.options.memory_budget = bytes.max(1);
        self
    }

    /// Where spill files go.
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.spill_dir = Some(dir.into());
        self
    }

    /// Rows per output batch.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.options.batch_size = rows.max(1);
        self
    }

    /// Splits read at once by [`UnionScan::to_stream`], at most.
    pub fn concurrency(mut self, splits: usize) -> Self {
        self.options.concurrency = splits.max(1);
        self
    }

    /// Bytes of output the splits behind the one being returned may read ahead, all
    /// together (see [`ScanOptions::read_ahead`]).
    pub fn read_ahead(mut self, bytes: usize) -> Self {
        self.options.read_ahead = bytes;
        self
    }

    /// How often a followed scan lists the log's buckets for new partitions (see
    /// [`ScanOptions::follow_discovery`]); `None` follows only those there at the start.
    pub fn follow_discovery(mut self, every: Option<Duration>) -> Self {
        self.options.follow_discovery = every;
        self
    }

    /// All execution options at once.
    pub fn options(mut self, options: ScanOptions) -> Self {
        self.options = options;
        self
    }

    /// Reads this lake snapshot instead of the latest.
    pub fn snapshot(mut self, id: i64) -> Self {
        self.snapshot_id = Some(id);
        self
    }

    /// Stops each bucket's log at these offsets instead of its current end (not with
    /// [`ReadMode::LakeOnly`], which reads no log: [`build`](Self::build) refuses that).
    pub fn as_of_offsets(mut self, offsets: BTreeMap<TableBucket, i64>) -> Self {
        self.as_of = Some(offsets);
        self
    }

    /// How BLOB columns come back: references (the default, where the table's lake can
    /// point at its payloads; see [`UnionScan::blob_mode`]) or payloads.
    pub fn blobs(mut self, mode: BlobMode) -> Self {
        self.options.blobs = mode;
        self
    }

    /// Reads the lake only, the log only, or both (the default).
    pub fn mode(mut self, mode: ReadMode) -> Self {
        self.mode = mode;
        self
    }

    /// Checks the request, picks the lake snapshot and configures the lake source.
    pub async fn build(self) -> Result<UnionScan> {
        if self.as_of.is_some() && self.mode == ReadMode::LakeOnly {
            // a lake-only read reads no log, so it could stop nowhere
            return Err(Error::invalid(
                "as-of offsets stop the log, but a lake-only read reads none of it",
            ));
        }
        let info = self.table.info.clone();
        let schema = info.schema.clone();
        let output_names: Vec<String> = match &self.columns {
            Some(c) => c.clone(),
            None => schema.fields().iter().map(|f| f.name().clone()).collect(),
        };
        for name in &output_names {
            info.column_index(name)?;
        }
        for f in &self.filters {
            f.validate(&schema)?;
        }
        // the columns read: output, then what merging and re-checking filters need
        let mut read_names = output_names.clone();
        let mut need = |name: &String| {
            if !read_names.contains(name) {
                read_names.push(name.clone());
            }
        };
        info.primary_key.iter().for_each(&mut need);
        if let MergeEngine::Versioned { column } = &info.merge_engine {
            need(column);
        }
        for f in &self.filters {
            for c in f.columns() {
                need(&c.to_string());
            }
        }
        let read_columns = read_names
            .iter()
            .map(|n| info.column_index(n))
            .collect::<Result<Vec<_>>>()?;
        let table_read_schema = schema.project(&read_columns)?;
        let blob_mode = blobs::effective_mode(
            self.options.blobs,
            self.table.lake.as_ref(),
            &info.path,
            &table_read_schema,
            self.mode,
        )
        .await?;
        let read_schema = blob_mode.schema_of(&Arc::new(table_read_schema));
        // a filter must make sense of the column as the scan reads it (a reference is no
        // longer comparable with a binary literal)
        for f in &self.filters {
            f.validate(&read_schema)
                .map_err(|e| e.context("BLOB columns are read as references"))?;
        }
        let output_projection: Vec<usize> = (0..output_names.len()).collect();
        let output_schema = Arc::new(read_schema.project(&output_projection)?);

        let OpenedLake {
            history,
            source: lake_source,
            remaining,
            readable_offsets,
        } = self.open_lake(&info, &read_columns, blob_mode).await?;
        // log rows' payloads are part of the log tail: memory up to the budget, then a file
        let log_blobs = (blob_mode == BlobMode::References).then(|| {
            Arc::new(MemoryBlobStore::with_memory_limit(
                self.options.memory_budget,
                self.options.spill_dir.clone(),
            ))
        });
        let ctx = ScanContext {
            info,
            log: self.table.log.clone(),
            lake: lake_source,
            read_columns,
            read_schema,
            output_projection,
            output_schema,
            filters: self.filters,
            lake_remaining: remaining,
            limit: self.limit,
            options: self.options,
            blob_mode,
            log_blobs,
        };
        Ok(UnionScan {
            ctx: Arc::new(ctx),
            history,
            readable_offsets,
            as_of: self.as_of.map(|offsets| StopOffsets {
                offsets,
                exhaustive: false,
            }),
            mode: self.mode,
        })
    }

    async fn open_lake(&self, info: &TableInfo, read_columns: &[usize], blob_mode: BlobMode) -> Result<OpenedLake> {
        let all = self.filters.clone();
        let Some(lake) = &self.table.lake else {
            return Ok(OpenedLake::log_only(all));
        };
        if self.mode == ReadMode::LogOnly {
            return Ok(OpenedLake::log_only(all));
        }
        // the chosen snapshot (the caller's, else the log's readable one, else the latest),
        // asked of the log before the lake is listed, so that the listing holds it
        let (chosen, from_log) = match self.snapshot_id {
            Some(id) => (Some(id), false),
            None => match self.table.log.readable_snapshot().await? {
                ReadableSnapshot::Lake => (None, false),
                ReadableSnapshot::Snapshot(id) => (Some(id), true),
                // nothing in the lake is readable yet: the log alone
                ReadableSnapshot::None => return Ok(OpenedLake::log_only(all)),
            },
        };
        let LakeScanStart { snapshots, source } = match lake.open_scan(&info.path).await {
            Ok(start) => start,
            // a table that was never tiered has no lake side yet (unless a snapshot of it was
            // asked for, by the caller or the log)
            Err(e) if e.kind() == ErrorKind::NotFound && chosen.is_none() => {
                return Ok(OpenedLake::log_only(all));
            }
            Err(e) => {
                return Err(match chosen {
                    Some(id) if from_log => e.context(format!("lake snapshot {id}, named by the log")),
                    Some(id) => e.context(format!("lake snapshot {id}")),
                    None => e,
                });
            }
        };
        // the chosen snapshot and every older one (offsets may come from an older one)
        let history: Vec<LakeSnapshot> = match chosen {
            Some(id) => {
                let pos = snapshots.iter().position(|s| s.id == id).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("table {} has no lake snapshot {id}", info.path),
                    )
                })?;
                snapshots[..=pos].to_vec()
            }
            None => snapshots,
        };
        let Some(snapshot) = history.last() else {
            return Ok(OpenedLake::log_only(all));
        };
        let mut source = source.ok_or_else(|| {
            Error::new(
                ErrorKind::External,
                format!("the lake listed snapshots of table {} but opened no source", info.path),
            )
        })?;
        source.with_project(&read_columns.iter().map(|&c| vec![c]).collect::<Vec<_>>())?;
        source.with_blob_mode(blob_mode)?;
        // the log's readable snapshot may come with readable offsets, which cover only the
        // rows the lake's readers see: they pair with that view where the lake has one
        // apart; otherwise the snapshot's tiered offsets cover every committed row
        let mut readable_offsets = match from_log {
            true => self.table.log.readable_offsets(snapshot).await?,
            false => None,
        };
        if readable_offsets.is_some() && source.with_view(SnapshotView::Readable)? != SnapshotView::Readable {
            readable_offsets = None;
        }
        // a lake row filtered out early must not let a first-row or versioned log row win
        // in its place, so those engines push only key filters down
        let (offered, kept): (Vec<Predicate>, Vec<Predicate>) = all.into_iter().partition(|p| {
            !info.has_primary_key()
                || info.merge_engine == MergeEngine::Deduplicate
                || p.references_only(&info.primary_key)
        });
        let pushed = if offered.is_empty() {
            Default::default()
        } else {
            source.with_filters(offered)
        };
        let mut remaining = pushed.remaining;
        remaining.extend(kept);
        if let Some(limit) = self.limit
            && !info.has_primary_key()
            && remaining.is_empty()
        {
            source.with_limit(limit);
        }
        Ok(OpenedLake {
            history,
            source: Some(Arc::from(source)),
            remaining,
            readable_offsets,
        })
    }
}

/// The lake side of a scan being built.
struct OpenedLake {
    /// The snapshot read (last) and the older ones, oldest first; empty when the scan reads
    /// no lake snapshot.
    history: Vec<LakeSnapshot>,
    source: Option<Arc<dyn LakeSource>>,
    /// The filters the lake did not apply exactly.
    remaining: Vec<Predicate>,
    /// The log's readable offsets of the snapshot, which the lake is read to match.
    readable_offsets: Option<BTreeMap<TableBucket, i64>>,
}

impl OpenedLake {
    /// No lake snapshot: every filter stays with the engine.
    fn log_only(filters: Vec<Predicate>) -> Self {
        Self {
            history: Vec::new(),
            source: None,
            remaining: filters,
            readable_offsets: None,
        }
    }
}

/// What every reader of one scan shares.
pub(crate) struct ScanContext {
    pub info: TableInfo,
    pub log: Arc<dyn LogSource>,
    pub lake: Option<Arc<dyn LakeSource>>,
    /// Indices of the read columns in the table schema.
    pub read_columns: Vec<usize>,
    pub read_schema: SchemaRef,
    /// Indices of the output columns in the read schema.
    pub output_projection: Vec<usize>,
    pub output_schema: SchemaRef,
    /// Every filter of the scan.
    pub filters: Vec<Predicate>,
    /// The filters the lake did not apply exactly.
    pub lake_remaining: Vec<Predicate>,
    pub limit: Option<usize>,
    pub options: ScanOptions,
    /// How BLOB columns are read (the read schema says so too).
    pub blob_mode: BlobMode,
    /// Where log rows' BLOB payloads are kept while they travel as references.
    pub log_blobs: Option<Arc<MemoryBlobStore>>,
}

impl ScanContext {
    /// A log batch's rows as the scan reads them: the read columns, BLOB payloads turned
    /// into references where the scan reads references.
    pub fn log_rows(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = batch.project(&self.read_columns)?.columns().to_vec();
        let columns = match &self.log_blobs {
            Some(store) => store.references_in(&self.read_schema, columns)?,
            None => columns,
        };
        Ok(crate::conform::batch_of(&self.read_schema, columns, batch.num_rows())?)
    }
}

/// A configured union read: plan it into splits, read splits, or read everything.
#[derive(Clone)]
pub struct UnionScan {
    ctx: Arc<ScanContext>,
    /// The snapshot read (last) and the older ones, oldest first.
    history: Vec<LakeSnapshot>,
    /// Where the log starts when its readable offsets, not the snapshot's tiered ones, pair
    /// with the snapshot ([`LogSource::readable_offsets`]).
    readable_offsets: Option<BTreeMap<TableBucket, i64>>,
    as_of: Option<StopOffsets>,
    mode: ReadMode,
}

impl std::fmt::Debug for UnionScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnionScan")
            .field("table", &self.ctx.info.path)
            .field("snapshot", &self.snapshot().map(|s| s.id))
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl UnionScan {
    /// The schema of the rows the scan returns.
    pub fn schema(&self) -> SchemaRef {
        self.ctx.output_schema.clone()
    }

    /// The lake snapshot the scan reads, if any.
    pub fn snapshot(&self) -> Option<&LakeSnapshot> {
        self.history.last()
    }

    /// How the scan returns BLOB columns: references where it was asked for them (the
    /// default) and the table's lake can point at its payloads
    /// ([`LakeStorage::blob_references`]), payloads otherwise. Scans that read no BLOB
    /// column say `Payloads`.
    pub fn blob_mode(&self) -> BlobMode {
        self.ctx.blob_mode
    }

    /// What fetches the payloads of the BLOB references this scan returns (log rows' from
    /// the scan's own store, lake rows' through the lake); `None` when it returns payloads. Resolve
    /// references before the scan is dropped: log rows' payloads live as long as the scan
    /// or a clone of it (or this resolver).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use lake_api::blob::{blob_refs, resolve_column, ResolveOptions};
    /// use lake_api::{memory::demo_table, UnionTable};
    ///
    /// let (log, lake) = demo_table().await.unwrap();
    /// let scan = UnionTable::open(log, Some(lake)).await.unwrap().scan().build().await.unwrap();
    /// let resolver = scan.blob_resolver().unwrap();
    /// let mut photos = 0;
    /// for batch in scan.collect().await.unwrap() {
    ///     let refs = blob_refs(&batch, "photo").unwrap();
    ///     for payload in resolve_column(resolver.as_ref(), &refs, ResolveOptions::default()).await.into_iter().flatten() {
    ///         assert!(payload.unwrap().starts_with(b"\x89PNG"));
    ///         photos += 1;
    ///     }
    /// }
    /// assert!(photos > 0);
    /// # });
    /// ```
    pub fn blob_resolver(&self) -> Option<Arc<dyn BlobResolver>> {
        let log = self.ctx.log_blobs.clone()?;
        Some(Arc::new(blobs::UnionBlobResolver {
            log,
            lake: self.ctx.lake.as_ref().and_then(|l| l.blob_resolver()),
        }))
    }

    /// The filters the lake did not take over (re-checked by the engine).
    pub fn remaining_lake_filters(&self) -> &[Predicate] {
        &self.ctx.lake_remaining
    }

    /// Splits the scan into independent units of work.
    pub async fn plan(&self) -> Result<Vec<UnionSplit>> {
        Ok(self.plan_with_stops().await?.splits)
    }

    /// [`plan`](Self::plan), with where the splits leave each bucket's log.
    async fn plan_with_stops(&self) -> Result<planner::Plan> {
        planner::plan(
            &self.ctx,
            &self.history,
            self.readable_offsets.as_ref(),
            self.as_of.as_ref(),
            self.mode,
        )
        .await
    }

    /// Reads one split (planned by this scan or by an identically configured one elsewhere).
    pub async fn read(&self, split: &UnionSplit) -> Result<RecordBatchStream> {
        let stream = match split.kind {
            UnionSplitKind::LakeOnly => readers::read_lake_only(&self.ctx, split).await?,
            UnionSplitKind::LogOnly => readers::read_log_only(&self.ctx, split)?,
            UnionSplitKind::LakeAndLog => readers::read_lake_and_log(&self.ctx, split).await?,
        };
        Ok(readers::limit(stream, self.ctx.limit))
    }

    /// Plans and reads every split, `options.concurrency` at a time, in split order.
    /// Needs a Tokio runtime: each split is read on its own task.
    pub async fn to_stream(&self) -> Result<RecordBatchStream> {
        let splits = self.plan().await?;
        Ok(self.stream_splits(splits, Arc::new(|| {})))
    }

    /// Reads `splits` like [`to_stream`](Self::to_stream) does (concurrently, in split
    /// order, at most the scan's limit), calling `on_split_done` each time a split has been
    /// read whole: what a progress display needs. Needs a Tokio runtime.
    pub fn stream_splits(
        &self,
        splits: Vec<UnionSplit>,
        on_split_done: Arc<dyn Fn() + Send + Sync>,
    ) -> RecordBatchStream {
        let scan = self.clone();
        let concurrency = self.ctx.options.concurrency.max(1);
        let budget = ReadAheadBudget::for_current_runtime(self.ctx.options.read_ahead);
        let schema = self.schema();
        let out_schema = schema.clone();
        // a limit usually needs few splits: start with one, and widen as splits end short
        let window = if self.ctx.limit.is_some() { 1 } else { concurrency };
        let merged = InOrder::new(splits, window, concurrency, move |split: UnionSplit| {
            let scan = scan.clone();
            let on_split_done = on_split_done.clone();
            let budget = budget.clone();
            // A split task that panics ends its stream with an error, never short.
            let task = task_stream(
                tokio::runtime::Handle::current(),
                2,
                "a split task",
                move |tx| async move {
                    let stream = match scan.read(&split).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e.context(format!("split {split}")))).await;
                            return;
                        }
                    };
                    if forward_ahead(stream, tx, budget).await {
                        on_split_done();
                    }
                },
            );
            RecordBatchStream::new(schema.clone(), task)
        });
        readers::limit(RecordBatchStream::new(out_schema, merged), self.ctx.limit)
    }

    /// Reads the table exactly as of now, then keeps tailing every bucket's log from
    /// there, forever: a changelog whose batches carry the output columns plus
    /// [`CHANGE_TYPE_COLUMN`](super::CHANGE_TYPE_COLUMN) (`+I` for the rows of the bounded
    /// read of a primary-key table, `+A` for a log table's, then each log change as
    /// recorded). Filters apply to each change on its own. Every bucket the log lists is
    /// followed, written to yet or not ([`LogSource::offset_ranges`]), and so are the
    /// buckets of the partitions created later, from their first offset, once a listing
    /// every [`ScanOptions::follow_discovery`] finds them. Needs a Tokio runtime.
    pub async fn follow(&self) -> Result<RecordBatchStream> {
        super::follow::check_followable(&self.ctx, self.mode)?;
        if self.ctx.blob_mode == BlobMode::References {
            return Err(Error::invalid(
                "a followed scan never ends, so it cannot keep its log rows' BLOB payloads for references: \
                 build it with .blobs(BlobMode::Payloads)",
            ));
        }
        if self.as_of.is_some() {
            return Err(Error::invalid(
                "a followed scan reads to the log's end: it cannot take as-of offsets",
            ));
        }
        // pin the end offsets once, so that the bounded read and the tails meet exactly
        let ends: BTreeMap<TableBucket, i64> = self
            .ctx
            .log
            .offset_ranges()
            .await?
            .into_iter()
            .map(|(b, r)| (b, r.end))
            .collect();
        for bucket in ends.keys() {
            super::follow::check_bucket(&self.ctx, bucket)?;
        }
        // the ends name every bucket the bounded read may read the log of: one created in
        // between is left to the tails, as those created later are
        let followed = ends.keys().cloned().collect();
        let mut bounded = self.clone();
        bounded.as_of = Some(StopOffsets {
            offsets: ends,
            exhaustive: true,
        });
        let plan = bounded.plan_with_stops().await?;
        let stream = bounded.stream_splits(plan.splits, Arc::new(|| {}));
        super::follow::follow(&self.ctx, stream, followed, plan.log_stops)
    }

    /// Reads everything into memory.
    pub async fn collect(&self) -> Result<Vec<arrow_array::RecordBatch>> {
        self.to_stream().await?.try_collect().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};

    use futures::StreamExt;

    use super::*;
    use crate::log::ChangeType;
    use crate::memory::MemoryLog;
    use crate::predicate::{MAX_PREDICATE_DEPTH, col};
    use crate::table::TablePath;

    /// The error a scan build fails with.
    async fn refused(builder: UnionScanBuilder) -> Result<Error> {
        builder.build().await.err().ok_or_else(|| Error::invalid("built"))
    }

    /// The rows a scan reads.
    async fn row_count(scan: &UnionScan) -> Result<usize> {
        Ok(scan.collect().await?.iter().map(RecordBatch::num_rows).sum())
    }

    /// A log table of `buckets` buckets with `batches` one-row batches in each.
    fn log_table(buckets: u32, batches: i64) -> Result<UnionTable> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let info = TableInfo::log_table(TablePath::new("db", "t"), schema.clone(), buckets);
        let log = MemoryLog::new(info.clone())?;
        for b in 0..buckets {
            for i in 0..batches {
                let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![i]))])?;
                log.append(&TableBucket::new(b), batch, vec![ChangeType::AppendOnly])?;
            }
        }
        UnionTable::new(info, Arc::new(log), None)
    }

    #[tokio::test]
    async fn an_empty_projection_counts_the_rows_of_a_log_table() -> Result<()> {
        // regression: a batch of no columns needs its row count given (COUNT(*) reads no
        // columns), and the log's rows failed to build one
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let info = TableInfo::log_table(TablePath::new("db", "t"), schema.clone(), 2);
        let log = MemoryLog::new(info.clone())?;
        let lake = crate::memory::MemoryLake::new();
        for round in 0..2 {
            for b in 0..2 {
                let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])?;
                log.append(&TableBucket::new(b), batch, vec![ChangeType::AppendOnly; 3])?;
            }
            if round == 0 {
                crate::memory::tier(&log, &lake, None).await?;
            }
        }
        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
        for filter in [None, Some(col("x").gt(1))] {
            let mut builder = table.scan().project(Vec::<String>::new());
            if let Some(filter) = filter.clone() {
                builder = builder.filter(filter);
            }
            let scan = builder.build().await?;
            assert_eq!(scan.schema().fields().len(), 0);
            let want = if filter.is_some() { 8 } else { 12 };
            assert_eq!(row_count(&scan).await?, want, "{filter:?}");
        }
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filters_as_deep_as_the_cap_evaluate_on_the_workers_and_deeper_ones_are_refused() -> Result<()> {
        let chain = |levels: usize| (1..levels).fold(col("x").eq(-1), |p, i| p.or(col("x").eq(i as i64)));
        let deepest = chain(MAX_PREDICATE_DEPTH);
        assert_eq!(deepest.depth(), MAX_PREDICATE_DEPTH);
        // the split tasks evaluate it on Tokio's worker threads, whose stacks are 2 MiB
        let rows = row_count(&log_table(2, 3)?.scan().filter(deepest).build().await?).await?;
        assert_eq!(rows, 4, "x in 1..=2 in each of 2 buckets");
        let e = refused(log_table(1, 1)?.scan().filter(chain(MAX_PREDICATE_DEPTH + 1))).await?;
        assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains("1025 levels deep"), "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn scans_that_cannot_be_followed_are_refused() -> Result<()> {
        let followed =
            |scan: UnionScan| async move { scan.follow().await.err().ok_or_else(|| Error::invalid("followed")) };
        let e = followed(log_table(1, 2)?.scan().limit(1).build().await?).await?;
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema.clone(), vec!["k".into()], 1);
        let log = MemoryLog::new(info.clone())?;
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))])?;
        log.append(&TableBucket::new(0), batch, vec![ChangeType::Insert; 2])?;
        let lake = Arc::new(crate::memory::MemoryLake::new());
        crate::memory::tier(&log, lake.as_ref(), None).await?;
        let table = UnionTable::new(info.clone(), Arc::new(log.clone()), Some(lake.clone()))?;
        let e = followed(table.scan().mode(ReadMode::LakeOnly).build().await?).await?;
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

        let first_row = info.with_merge_engine(crate::table::MergeEngine::FirstRow);
        let log = Arc::new(TestLog::over(log));
        let table = UnionTable::new(first_row, log.clone(), Some(lake))?;
        let scan = table.scan().build().await?;
        let before = log.offset_ranges.load(Ordering::SeqCst);
        let e = followed(scan).await?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        // refused before the bounded read pinned its ends, let alone planned (regression:
        // it was planned and started first)
        assert_eq!(log.offset_ranges.load(Ordering::SeqCst), before);
        Ok(())
    }

    /// The next batch of a followed scan (which sends no empty ones), or an error after
    /// 10 s.
    async fn next_change(stream: &mut RecordBatchStream) -> Result<RecordBatch> {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next()).await;
        match next {
            Ok(Some(batch)) => batch,
            Ok(None) => Err(Error::invalid("the followed scan ended")),
            Err(_) => Err(Error::invalid("no change came in 10 s")),
        }
    }

    #[tokio::test]
    async fn a_followed_scan_tails_the_buckets_nobody_had_written_to() -> Result<()> {
        // regression: the tails were the buckets the log listed when the scan started, and
        // a memory or local log lists a bucket once written: a later change to a key of
        // another bucket never came, and a table with no rows yet ended the scan at once
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema.clone(), vec!["k".into()], 2);
        for written in [true, false] {
            let log = MemoryLog::new(info.clone())?;
            let insert = |bucket: u32, k: i64| -> Result<()> {
                let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![k]))])?;
                log.append(&TableBucket::new(bucket), batch, vec![ChangeType::Insert])?;
                Ok(())
            };
            if written {
                insert(0, 1)?;
            }
            let table = UnionTable::new(info.clone(), Arc::new(log.clone()), None)?;
            let mut changes = table.scan().build().await?.follow().await?;
            if written {
                assert_eq!(next_change(&mut changes).await?.num_rows(), 1, "the bounded read");
            }
            insert(1, 2)?;
            let change = next_change(&mut changes).await?;
            let keys = change.column(0).as_any().downcast_ref::<Int64Array>();
            assert_eq!(keys.map(|k| k.values().to_vec()), Some(vec![2]), "written: {written}");
        }
        Ok(())
    }

    /// A primary-key table of `(k, p)` partitioned by `p`, its log, and an insert of `k`
    /// into partition `p`.
    #[allow(clippy::type_complexity)]
    fn partitioned_table() -> Result<(TableInfo, MemoryLog, Arc<dyn Fn(&str, i64) -> Result<()> + Send + Sync>)> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("p", DataType::Utf8, false),
        ]));
        let info = TableInfo::primary_key_table(
            TablePath::new("db", "t"),
            schema.clone(),
            vec!["k".into(), "p".into()],
            1,
        )
        .with_partition_keys(vec!["p".into()]);
        let log = MemoryLog::new(info.clone())?;
        let writer = log.clone();
        let insert = move |p: &str, k: i64| -> Result<()> {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![k])),
                    Arc::new(arrow_array::StringArray::from(vec![p])),
                ],
            )?;
            writer.append(
                &TableBucket::partitioned(vec![p.into()], 0),
                batch,
                vec![ChangeType::Insert],
            )?;
            Ok(())
        };
        Ok((info, log, Arc::new(insert)))
    }

    /// The key and change type of each row of the next batch of a followed scan.
    async fn next_keys(changes: &mut RecordBatchStream) -> Result<Vec<(i64, String)>> {
        Ok(keys_and_changes(&next_change(changes).await?))
    }

    /// The key and change type of each row of a changelog batch.
    fn keys_and_changes(batch: &RecordBatch) -> Vec<(i64, String)> {
        let keys = batch.column(0).as_any().downcast_ref::<Int64Array>();
        let changes = batch
            .column(batch.num_columns() - 1)
            .as_any()
            .downcast_ref::<arrow_array::StringArray>();
        match (keys, changes) {
            (Some(k), Some(c)) => k
                .values()
                .iter()
                .zip(c.iter())
                .map(|(k, c)| (*k, c.unwrap_or("").to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_followed_scan_tails_the_partitions_created_after_it_started() -> Result<()> {
        let (info, log, insert) = partitioned_table()?;
        insert("a", 1)?;
        let table = UnionTable::new(info, Arc::new(log), None)?;
        let scan = table
            .scan()
            .follow_discovery(Some(std::time::Duration::from_millis(10)))
            .build()
            .await?;
        let mut changes = scan.follow().await?;
        assert_eq!(next_keys(&mut changes).await?, vec![(1, "+I".into())]);
        insert("b", 2)?;
        assert_eq!(next_keys(&mut changes).await?, vec![(2, "+I".into())]);
        insert("b", 3)?;
        insert("a", 4)?;
        let mut later = next_keys(&mut changes).await?;
        later.extend(next_keys(&mut changes).await?);
        later.sort();
        assert_eq!(later, vec![(3, "+I".into()), (4, "+I".into())]);
        Ok(())
    }

    #[tokio::test]
    async fn a_partition_created_while_a_follow_pins_its_ends_is_tailed_not_read() -> Result<()> {
        // regression: the bounded read took the buckets its ends did not name to their
        // current end, and nothing tailed them: a partition created between the pin and
        // the plan came as a snapshot whose later changes never came
        for discovery in [None, Some(std::time::Duration::from_millis(10))] {
            let (info, log, insert) = partitioned_table()?;
            insert("a", 1)?;
            let pinned = Arc::new(AtomicUsize::new(usize::MAX));
            let log = Arc::new(TestLog {
                after_ranges: Some({
                    let pinned = pinned.clone();
                    let insert = insert.clone();
                    Box::new(move |n, _| {
                        if n == pinned.load(Ordering::SeqCst) {
                            insert("b", 2)
                        } else {
                            Ok(())
                        }
                    })
                }),
                ..TestLog::over(log)
            });
            let table = UnionTable::new(info, log.clone(), None)?;
            let scan = table.scan().follow_discovery(discovery).build().await?;
            // the next call is the follow's pin of its ends
            pinned.store(log.offset_ranges.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
            let mut changes = scan.follow().await?;
            assert_eq!(next_keys(&mut changes).await?, vec![(1, "+I".into())]);
            if discovery.is_none() {
                // not followed: the bounded read leaves the partition out too
                insert("a", 3)?;
                assert_eq!(next_keys(&mut changes).await?, vec![(3, "+I".into())]);
            } else {
                // followed from its first offset: the insert made in between comes once,
                // as a change of the tail, and so do the later ones
                assert_eq!(next_keys(&mut changes).await?, vec![(2, "+I".into())]);
                insert("b", 5)?;
                assert_eq!(next_keys(&mut changes).await?, vec![(5, "+I".into())]);
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_bucket_the_log_lists_late_is_tailed_from_where_the_lake_leaves_it() -> Result<()> {
        // a log that lists partition b only once the scan has started, though the lake
        // holds b's first row: the tail goes on from the lake's tiered offset, not from 0
        let (info, log, insert) = partitioned_table()?;
        insert("a", 1)?;
        insert("b", 2)?;
        let lake = Arc::new(crate::memory::MemoryLake::new());
        crate::memory::tier(&log, lake.as_ref(), None).await?;
        insert("b", 3)?;
        let hidden_until = Arc::new(AtomicUsize::new(usize::MAX));
        let log = Arc::new(TestLog {
            after_ranges: Some({
                let hidden_until = hidden_until.clone();
                Box::new(move |n, ranges| {
                    if n < hidden_until.load(Ordering::SeqCst) {
                        ranges.retain(|b, _| b.partition != ["b"]);
                    }
                    Ok(())
                })
            }),
            ..TestLog::over(log)
        });
        let table = UnionTable::new(info, log.clone(), Some(lake))?;
        let scan = table
            .scan()
            .follow_discovery(Some(std::time::Duration::from_millis(10)))
            .build()
            .await?;
        // the pin and the plan do not see b; the first listing of the tails does
        hidden_until.store(log.offset_ranges.load(Ordering::SeqCst) + 3, Ordering::SeqCst);
        let mut changes = scan.follow().await?;
        let mut bounded = next_keys(&mut changes).await?;
        bounded.extend(next_keys(&mut changes).await?);
        bounded.sort();
        assert_eq!(
            bounded,
            vec![(1, "+I".into()), (2, "+I".into())],
            "a, and b's lake rows"
        );
        assert_eq!(next_keys(&mut changes).await?, vec![(3, "+I".into())]);
        Ok(())
    }

    #[tokio::test]
    async fn a_bucket_the_table_cannot_have_listed_while_following_is_an_error() -> Result<()> {
        let (info, log, insert) = partitioned_table()?;
        insert("a", 1)?;
        let forged_from = Arc::new(AtomicUsize::new(usize::MAX));
        let log = Arc::new(TestLog {
            after_ranges: Some({
                let forged_from = forged_from.clone();
                Box::new(move |n, ranges| {
                    if n >= forged_from.load(Ordering::SeqCst) {
                        let forged = TableBucket::partitioned(vec!["a".into()], 7);
                        ranges.insert(forged, crate::log::OffsetRange { earliest: 0, end: 0 });
                    }
                    Ok(())
                })
            }),
            ..TestLog::over(log)
        });
        let table = UnionTable::new(info, log.clone(), None)?;
        let corrupt = |e: Error| {
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            assert!(e.message().contains("partition a bucket 7"), "{e}");
        };
        let scan = table
            .scan()
            .follow_discovery(Some(std::time::Duration::from_millis(10)))
            .build()
            .await?;
        // listed as the follow pins its ends
        forged_from.store(log.offset_ranges.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
        corrupt(scan.follow().await.err().ok_or_else(|| Error::invalid("followed"))?);
        // listed once the tails run (after the pin and the plan)
        forged_from.store(usize::MAX, Ordering::SeqCst);
        let scan = table
            .scan()
            .follow_discovery(Some(std::time::Duration::from_millis(10)))
            .build()
            .await?;
        forged_from.store(log.offset_ranges.load(Ordering::SeqCst) + 3, Ordering::SeqCst);
        let mut changes = scan.follow().await?;
        assert_eq!(next_keys(&mut changes).await?, vec![(1, "+I".into())]);
        corrupt(
            next_change(&mut changes)
                .await
                .err()
                .ok_or_else(|| Error::invalid("no error"))?,
        );
        // reported once; the buckets it can have are still found
        insert("c", 9)?;
        assert_eq!(next_keys(&mut changes).await?, vec![(9, "+I".into())]);
        Ok(())
    }

    #[tokio::test]
    async fn a_listing_that_fails_is_tried_again_and_reported_when_it_keeps_failing() -> Result<()> {
        for (fails, reported) in [(2, false), (usize::MAX, true)] {
            let (info, log, insert) = partitioned_table()?;
            insert("a", 1)?;
            // calls from `failing.0` on, `failing.1` of them, fail
            let failing = Arc::new((AtomicUsize::new(usize::MAX), AtomicUsize::new(fails)));
            let log = Arc::new(TestLog {
                after_ranges: Some({
                    let failing = failing.clone();
                    Box::new(move |n, _| {
                        let from = failing.0.load(Ordering::SeqCst);
                        if n >= from && n - from < failing.1.load(Ordering::SeqCst) {
                            return Err(Error::new(ErrorKind::NotFound, "a partition went away"));
                        }
                        Ok(())
                    })
                }),
                ..TestLog::over(log)
            });
            let table = UnionTable::new(info, log.clone(), None)?;
            let scan = table
                .scan()
                .follow_discovery(Some(std::time::Duration::from_millis(10)))
                .build()
                .await?;
            // the listings of the tails (after the pin and the plan) fail
            failing
                .0
                .store(log.offset_ranges.load(Ordering::SeqCst) + 3, Ordering::SeqCst);
            let mut changes = scan.follow().await?;
            assert_eq!(
                next_keys(&mut changes).await?,
                vec![(1, "+I".into())],
                "the bounded read"
            );
            insert("b", 2)?;
            if reported {
                let e = next_change(&mut changes)
                    .await
                    .err()
                    .ok_or_else(|| Error::invalid("no error"))?;
                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
                assert!(e.message().contains("3 times in a row"), "{e}");
            } else {
                assert_eq!(next_keys(&mut changes).await?, vec![(2, "+I".into())]);
            }
        }
        Ok(())
    }

    /// A lake that counts the calls a scan makes of it, over a memory lake.
    #[derive(Default)]
    struct CountingLake {
        inner: crate::memory::MemoryLake,
        /// `list_snapshots`, `create_lake_source`, `open_scan`.
        calls: [AtomicUsize; 3],
    }

    #[async_trait::async_trait]
    impl LakeStorage for CountingLake {
        async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
            self.inner.table_info(path).await
        }
        async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
            self.calls[0].fetch_add(1, Ordering::SeqCst);
            self.inner.list_snapshots(path).await
        }
        async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>> {
            self.calls[1].fetch_add(1, Ordering::SeqCst);
            self.inner.create_lake_source(path).await
        }
        async fn open_scan(&self, path: &TablePath) -> Result<LakeScanStart> {
            self.calls[2].fetch_add(1, Ordering::SeqCst);
            self.inner.open_scan(path).await
        }
        async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn crate::lake::LakeWriter>> {
            self.inner.create_lake_writer(info).await
        }
    }

    #[tokio::test]
    async fn a_scan_build_opens_the_lake_once_for_its_snapshots_and_source() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema.clone(), vec!["k".into()], 1);
        let log = MemoryLog::new(info.clone())?;
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])?;
        log.append(&TableBucket::new(0), batch, vec![ChangeType::Insert; 3])?;
        let lake = Arc::new(CountingLake::default());
        let calls = |lake: &CountingLake| lake.calls.each_ref().map(|c| c.load(Ordering::SeqCst));

        // never tiered: the table is not in the lake, and the scan reads the log alone
        let table = UnionTable::new(info.clone(), Arc::new(log.clone()), Some(lake.clone()))?;
        assert_eq!(table.scan().build().await?.collect().await?.len(), 1);
        assert_eq!(calls(&lake), [0, 0, 1]);

        crate::memory::tier(&log, &lake.inner, None).await?;
        assert_eq!(row_count(&table.scan().build().await?).await?, 3);
        assert_eq!(calls(&lake), [0, 0, 2], "one open_scan per build, nothing else");
        Ok(())
    }

    /// A lake whose sources find nothing (with the default `open_scan`).
    struct VanishingSource(crate::memory::MemoryLake);

    #[async_trait::async_trait]
    impl LakeStorage for VanishingSource {
        async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
            self.0.table_info(path).await
        }
        async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
            self.0.list_snapshots(path).await
        }
        async fn create_lake_source(&self, _path: &TablePath) -> Result<Box<dyn LakeSource>> {
            Err(Error::new(ErrorKind::NotFound, "a data file vanished"))
        }
        async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn crate::lake::LakeWriter>> {
            self.0.create_lake_writer(info).await
        }
    }

    /// What a [`TestLog`] does with its `n`th answer (from 1) to `offset_ranges`, read from
    /// the log, before giving it: it may change the answer, or the log.
    type AfterRanges =
        Box<dyn Fn(usize, &mut BTreeMap<TableBucket, crate::log::OffsetRange>) -> Result<()> + Send + Sync>;

    /// A memory log that counts the calls of `offset_ranges` (and may act after reading
    /// one's answer) and may name a readable lake snapshot.
    struct TestLog {
        inner: MemoryLog,
        snapshot: Option<i64>,
        offset_ranges: AtomicUsize,
        after_ranges: Option<AfterRanges>,
    }

    impl TestLog {
        fn over(inner: MemoryLog) -> Self {
            Self {
                inner,
                snapshot: None,
                offset_ranges: AtomicUsize::new(0),
                after_ranges: None,
            }
        }
    }

    #[async_trait::async_trait]
    impl LogSource for TestLog {
        async fn table_info(&self) -> Result<TableInfo> {
            self.inner.table_info().await
        }
        async fn offset_ranges(&self) -> Result<BTreeMap<TableBucket, crate::log::OffsetRange>> {
            let n = self.offset_ranges.fetch_add(1, Ordering::SeqCst) + 1;
            let mut ranges = self.inner.offset_ranges().await?;
            if let Some(after) = &self.after_ranges {
                after(n, &mut ranges)?;
            }
            Ok(ranges)
        }
        async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> Result<BTreeMap<TableBucket, i64>> {
            self.inner.tiered_offsets(snapshot).await
        }
        async fn read(
            &self,
            bucket: &TableBucket,
            start: i64,
            stop: Option<i64>,
        ) -> Result<crate::log::LogBatchStream> {
            self.inner.read(bucket, start, stop).await
        }
        async fn readable_snapshot(&self) -> Result<ReadableSnapshot> {
            match self.snapshot {
                Some(id) => Ok(ReadableSnapshot::Snapshot(id)),
                None => self.inner.readable_snapshot().await,
            }
        }
    }

    #[tokio::test]
    async fn a_missing_lake_table_is_an_error_where_a_snapshot_of_it_was_asked_for() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema, vec!["k".into()], 1);
        let log = MemoryLog::new(info.clone())?;
        let lake = Arc::new(crate::memory::MemoryLake::new());
        let not_found = |e: Error, what: &str| {
            assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            assert!(e.message().contains(what), "{e}");
        };
        // named by the caller
        let table = UnionTable::new(info.clone(), Arc::new(log.clone()), Some(lake.clone()))?;
        let e = refused(table.scan().snapshot(5)).await?;
        not_found(e, "lake snapshot 5");
        // named by the log
        let naming = TestLog {
            snapshot: Some(7),
            ..TestLog::over(log.clone())
        };
        let table = UnionTable::new(info.clone(), Arc::new(naming), Some(lake.clone()))?;
        let e = refused(table.scan()).await?;
        not_found(e, "lake snapshot 7, named by the log");

        // a source that finds nothing right after the table was listed is no missing
        // table, and no log-only read
        crate::memory::tier(&log, lake.as_ref(), None).await?;
        let vanishing = Arc::new(VanishingSource(lake.as_ref().clone()));
        let table = UnionTable::new(info, Arc::new(log), Some(vanishing))?;
        let e = refused(table.scan()).await?;
        assert_eq!(e.kind(), ErrorKind::External, "{e}");
        assert!(e.message().contains("listed just before"), "{e}");
        Ok(())
    }

    /// Reads a log table of `buckets` two-batch buckets with `concurrency`: how many splits
    /// had been read whole once the first batch was out and the split tasks had run, the
    /// rows after the first batch, and the splits read whole at the end.
    async fn splits_done_behind_the_first(buckets: u32, concurrency: usize) -> Result<(usize, usize, usize)> {
        let scan = log_table(buckets, 2)?.scan().concurrency(concurrency).build().await?;
        let splits = scan.plan().await?;
        assert_eq!(splits.len(), buckets as usize);
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let mut stream = scan.stream_splits(splits, Arc::new(move || _ = counter.fetch_add(1, Ordering::SeqCst)));
        assert!(stream.next().await.transpose()?.is_some());
        // a current-thread runtime runs the split tasks only while this one waits
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        let behind = done.load(Ordering::SeqCst);
        let rest: Vec<RecordBatch> = stream.try_collect().await?;
        let rows = rest.iter().map(RecordBatch::num_rows).sum();
        Ok((behind, rows, done.load(Ordering::SeqCst)))
    }

    #[tokio::test]
    async fn splits_behind_the_one_being_returned_are_read_at_the_same_time() -> Result<()> {
        // each split (two batches) fits its channel: all three were read whole while the
        // first was still being returned (before the fix, only the first had started)
        assert_eq!(splits_done_behind_the_first(3, 3).await?, (3, 5, 3));
        Ok(())
    }

    #[tokio::test]
    async fn concurrency_bounds_the_splits_read_at_once() -> Result<()> {
        assert_eq!(splits_done_behind_the_first(4, 2).await?, (2, 7, 4));
        Ok(())
    }

    /// Reads `limit` rows of a four-bucket log table (two one-row batches a bucket) with a
    /// concurrency of 4: the rows, and how many splits were read whole.
    async fn splits_done_for_a_limit(limit: usize) -> Result<(Vec<i64>, usize)> {
        let scan = log_table(4, 2)?.scan().concurrency(4).limit(limit).build().await?;
        let splits = scan.plan().await?;
        let done = Arc::new(AtomicUsize::new(0));
        let counter = done.clone();
        let stream = scan.stream_splits(splits, Arc::new(move || _ = counter.fetch_add(1, Ordering::SeqCst)));
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
        let rows = batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|a| a.values().to_vec())
                    .unwrap_or_default()
            })
            .collect();
        Ok((rows, done.load(Ordering::SeqCst)))
    }

    #[tokio::test]
    async fn a_limit_starts_one_split_and_widens_as_splits_end_short() -> Result<()> {
        // one row: the first split holds it, and no other split is read (before, all four
        // were read whole behind it)
        let (rows, done) = splits_done_for_a_limit(1).await?;
        assert_eq!(rows, vec![0]);
        assert!(done <= 1, "{done} splits read for one row");
        // five rows: the first split ends short, then two run, then the rest
        let (rows, done) = splits_done_for_a_limit(5).await?;
        assert_eq!(rows, vec![0, 1, 0, 1, 0]);
        assert!((3..=4).contains(&done), "{done}");
        Ok(())
    }
}
