//! [`LocalLog`]: the embedded default log. Each bucket's records are Fluss log record
//! batches in append-only segment files, the same bytes Fluss keeps in its remote log
//! tier, beside a small table descriptor.
//!
//! Layout under a root directory:
//!
//! ```text
//! {root}/{database}/{table}/table.json                      descriptor (schema, key, buckets, id)
//! {root}/{database}/{table}/log/bucket-{b}/{offset:020}.log  segments of a non-partitioned table
//! {root}/{database}/{table}/log/bucket-{b}/recovery-point    the offset synced up to (LocalLog::sync, clean close)
//! {root}/{database}/{table}/log/{name}-p{id}/bucket-{b}/...  segments of partition `name` (id `id`)
//! {root}/{database}/{table}/offsets/{nanos:032}.offsets       tiered offsets files written by tiering
//!                                                           (named by when they were written: before the
//!                                                           commit, whose snapshot id is not known yet)
//! ```
//!
//! One process appends to a table at a time; any number may read and tail it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use fluss_client::local::{LocalLog, LocalLogOptions};
//! use lake_api::{ChangeType, LogSource, TableBucket, TableInfo, TablePath};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let batch = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap();
//! let info = TableInfo::primary_key_table(TablePath::new("db", "t"), batch.schema(), vec!["k".into()], 1);
//! let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).unwrap();
//! log.append(&TableBucket::new(0), batch, vec![ChangeType::Insert; 2]).unwrap();
//!
//! // one appender at a time; readers (in this process or others) open read-only
//! let reopened = LocalLog::open_read_only(dir.path(), &info.path, LocalLogOptions::default()).unwrap();
//! let ranges = reopened.offset_ranges().await.unwrap();
//! assert_eq!(ranges[&TableBucket::new(0)].end, 2);
//! # });
//! ```

mod descriptor;
mod segment;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use lake_api::{
    ChangeType, LakeSnapshot, LogBatch, LogBatchStream, LogSource, OffsetRange, TableBucket, TableInfo, TablePath,
};
use tokio::sync::Notify;

use crate::bucketing::{BucketAssigner, LakeFormat};
use crate::error::{Error, ErrorKind, Result};
use crate::offsets::resolve_snapshot_offsets;
use crate::record::{Compression, EncodeOptions, decode_batch_buffer, encode_batch};

pub(crate) use descriptor::write_durably;
use descriptor::{TableDescriptor, bucket_dir, check_partition_values, discover, table_dir};
pub(crate) use segment::sync_dir;
use segment::{BucketLog, IndexEntry, SyncPlan, read_entries};

/// The table property naming the lake format, whose bucketing [`LocalLog::append_rows`]
/// uses so that log buckets and lake buckets agree (as Fluss picks it).
pub const DATALAKE_FORMAT_PROPERTY: &str = "table.datalake.format";

/// How a [`LocalLog`] writes.
#[derive(Debug, Clone)]
pub struct LocalLogOptions {
    /// A segment is closed, and the next one started, past this many bytes.
    pub segment_bytes: u64,
    /// Arrow IPC body compression of new batches.
    pub compression: Compression,
    /// `fsync` every append before it returns. Without it, appends reach the disk when the
    /// system writes them back, or at [`LocalLog::sync`] (which tiering calls) or the
    /// appender's close (its last clone dropped). Only those record a recovery point,
    /// though: until one runs, a batch synced this way is, after a crash, as any other past
    /// the recovery point.
    pub sync: bool,
    /// How often a tailing reader looks for batches appended by another process.
    pub poll_interval: Duration,
}

impl Default for LocalLogOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 64 << 20,
            compression: Compression::None,
            sync: false,
            poll_interval: Duration::from_millis(100),
        }
    }
}

struct Inner {
    dir: PathBuf,
    /// Held by the one appender of the table (an exclusive lock on `LOCK`); `None` when
    /// opened read-only.
    writer_lock: Option<File>,
    descriptor: TableDescriptor,
    info: TableInfo,
    options: LocalLogOptions,
    /// Partition values → id, and every bucket's log.
    state: Mutex<State>,
    /// The bucket the next batch of a log table without a bucket key goes to.
    next_bucket: std::sync::atomic::AtomicU32,
    appended: Notify,
}

impl Inner {
    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "local log state poisoned by a panic"))
    }

    /// See [`LocalLog::sync`].
    fn sync(&self) -> Result<()> {
        // planned under the lock, run outside it: appends and reads go on meanwhile
        let read_only = self.writer_lock.is_none();
        let plans: Vec<(TableBucket, SyncPlan)> = {
            let state = self.state()?;
            state
                .buckets
                .iter()
                .filter_map(|(bucket, log)| log.plan_sync(read_only).map(|plan| (bucket.clone(), plan)))
                .collect()
        };
        for (bucket, plan) in &plans {
            plan.run()
                .map_err(|e| e.context(format!("{bucket} of {}", self.info.path)))?;
        }
        let mut state = self.state()?;
        for (bucket, plan) in &plans {
            if let Some(log) = state.buckets.get_mut(bucket) {
                log.synced(plan);
            }
        }
        Ok(())
    }
}

/// The appender's clean close: everything appended is synced and recorded as the recovery
/// point, so that the next open checks nothing in full and treats any damage it later
/// finds as corruption, not as a crash's torn writes to cut (see the `segment` module).
impl Drop for Inner {
    fn drop(&mut self) {
        if self.writer_lock.is_some() {
            // a close cannot report errors; one that fails leaves the recovery point where
            // it was, which only makes the next open check more
            let _ = self.sync();
        }
    }
}

#[derive(Default)]
struct State {
    partitions: BTreeMap<Vec<String>, i64>,
    buckets: BTreeMap<TableBucket, BucketLog>,
}

/// A table's log on the local file system. Cloning shares it.
///
/// When the last clone of a log opened for appending is dropped, it closes cleanly: it
/// syncs what was appended (as [`LocalLog::sync`] does). After a crash instead, the next
/// [`LocalLog::open`] checks every batch past the last sync in full and cuts the log at the
/// first one the crash left bad.
#[derive(Clone)]
pub struct LocalLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LocalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLog")
            .field("dir", &self.inner.dir)
            .field("table", &self.inner.info.path)
            .finish_non_exhaustive()
    }
}

fn new_table_id() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos % (i64::MAX as u128)) as i64
}

impl LocalLog {
    /// Creates a table's log under `root`; an existing table is an error.
    pub fn create(root: &Path, info: &TableInfo, options: LocalLogOptions) -> Result<Self> {
        info.validate()?;
        info.ensure_key_holds_partitions()?;
        check_key_bucketing(info)?;
        let dir = table_dir(root, &info.path)?;
        if dir.join(descriptor::DESCRIPTOR_FILE).exists() {
            return Err(Error::invalid(format!(
                "table {} already exists at {}",
                info.path,
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir.join("log"))?;
        // the lock before the descriptor: of two processes creating the table at once, the
        // one without it must not replace the other's descriptor (and table id)
        let lock = Self::lock_writer(&dir)?;
        if dir.join(descriptor::DESCRIPTOR_FILE).exists() {
            return Err(Error::invalid(format!(
                "table {} already exists at {}",
                info.path,
                dir.display()
            )));
        }
        let descriptor = TableDescriptor::new(info, new_table_id());
        descriptor.write(&dir)?;
        // the descriptor's write synced the table directory's entries; the table's name
        // in its database's directory, and that one's in the root, are made durable here,
        // or a crash could lose the table under batches later synced into it
        dir.ancestors()
            .skip(1)
            .take(2)
            .filter(|d| !d.as_os_str().is_empty())
            .try_for_each(sync_dir)?;
        Self::open_dir(dir, descriptor, options, true, Some(lock))
    }

    /// Opens a table's log under `root` for appending. After a crash, every batch past the
    /// last sync is checked in full, and the log is cut at the first one the crash left torn,
    /// zeroed or missing (with the rest of its segment and any later segments); damage to
    /// synced batches is a `Corrupt` error instead, and nothing is cut.
    pub fn open(root: &Path, path: &TablePath, options: LocalLogOptions) -> Result<Self> {
        let dir = table_dir(root, path)?;
        let descriptor = TableDescriptor::read(&dir)?;
        Self::open_dir(dir, descriptor, options, true, None)
    }

    /// Opens a table's log for reading only: a tail still being written is left alone.
    pub fn open_read_only(root: &Path, path: &TablePath, options: LocalLogOptions) -> Result<Self> {
        let dir = table_dir(root, path)?;
        let descriptor = TableDescriptor::read(&dir)?;
        Self::open_dir(dir, descriptor, options, false, None)
    }

    /// Opens the table if it exists, else creates it.
    pub fn open_or_create(root: &Path, info: &TableInfo, options: LocalLogOptions) -> Result<Self> {
        if table_dir(root, &info.path)?.join(descriptor::DESCRIPTOR_FILE).exists() {
            Self::open(root, &info.path, options)
        } else {
            Self::create(root, info, options)
        }
    }

    /// Opens the log in `dir`: to append (`recover`: locked, its tail recovered), under
    /// `lock` when the caller took the writer lock already, or to read.
    fn open_dir(
        dir: PathBuf,
        descriptor: TableDescriptor,
        options: LocalLogOptions,
        recover: bool,
        lock: Option<File>,
    ) -> Result<Self> {
        // the log outlives the working directory it was opened from, and names its files
        // to others (offsets files in lake snapshots)
        let dir = std::path::absolute(&dir)?;
        // the appender takes the lock before it touches (recovers) any segment
        let writer_lock = match lock {
            Some(lock) => Some(lock),
            None if recover => Some(Self::lock_writer(&dir)?),
            None => None,
        };
        let info = descriptor.info();
        let found = discover(&dir, &info.partition_keys, info.bucket_count)?;
        let mut state = State {
            partitions: found.partitions,
            buckets: BTreeMap::new(),
        };
        for bucket in found.buckets {
            let path = Self::bucket_path(&dir, &state.partitions, &bucket)?;
            state.buckets.insert(bucket, BucketLog::open(path, recover)?);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                writer_lock,
                descriptor,
                info,
                options,
                state: Mutex::new(state),
                next_bucket: std::sync::atomic::AtomicU32::new(0),
                appended: Notify::new(),
            }),
        })
    }

    /// Takes the table's appender lock (advisory, released when the log is dropped).
    fn lock_writer(dir: &Path) -> Result<File> {
        let path = dir.join("LOCK");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot open {}", path.display())).with_source(e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::invalid(format!(
                "table at {} is open for appending by another LocalLog (lock {}); open it read-only to read",
                dir.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::new(ErrorKind::Io, format!("cannot lock {}", path.display())).with_source(e))
            }
        }
    }

    fn bucket_path(dir: &Path, partitions: &BTreeMap<Vec<String>, i64>, bucket: &TableBucket) -> Result<PathBuf> {
        if bucket.partition.is_empty() {
            return Ok(bucket_dir(dir, None, bucket.bucket));
        }
        let id = partitions
            .get(&bucket.partition)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no partition for {bucket}")))?;
        Ok(bucket_dir(dir, Some((&bucket.partition, *id)), bucket.bucket))
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.inner.state()
    }

    /// The table.
    pub fn info(&self) -> &TableInfo {
        &self.inner.info
    }

    /// The table's id (used in tiered-offsets files).
    pub fn table_id(&self) -> i64 {
        self.inner.descriptor.table_id
    }

    /// The table's directory, absolute.
    pub fn table_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Partition id → partition values.
    pub fn partition_ids(&self) -> Result<HashMap<i64, Vec<String>>> {
        Ok(self
            .state()?
            .partitions
            .iter()
            .map(|(v, id)| (*id, v.clone()))
            .collect())
    }

    /// Appends rows to a bucket as one batch; returns the offsets `[base, next)` they got.
    /// Rows must have the table schema and one change type each, and, in a partitioned
    /// table, the bucket's partition values ([`LocalLog::append_rows`] routes rows itself).
    pub fn append(&self, bucket: &TableBucket, batch: RecordBatch, changes: Vec<ChangeType>) -> Result<(i64, i64)> {
        let info = &self.inner.info;
        let what = format!("a batch appended to {bucket} of {}", info.path);
        check_partition_values(&bucket.partition, &info.partition_keys)?;
        check_rows(info, &batch, &changes, &what)?;
        // a partition column of a type this log names no partition by (a timestamp, say):
        // the bucket's partition is the caller's word, as it was before rows were checked
        let values = if info.ensure_named_partitions().is_ok() {
            partition_values(info, &batch)?
        } else {
            Vec::new()
        };
        if let Some((row, values)) = values
            .into_iter()
            .enumerate()
            .find(|(_, values)| *values != bucket.partition)
        {
            return Err(Error::invalid(format!(
                "{what}: row {row} is in partition {}, not {}",
                values.join("$"),
                bucket.partition.join("$")
            )));
        }
        self.write(bucket, batch, changes)
    }

    /// Writes rows [`LocalLog::append`] or [`LocalLog::append_rows`] checked (schema,
    /// change types, partition) to a bucket.
    fn write(&self, bucket: &TableBucket, batch: RecordBatch, changes: Vec<ChangeType>) -> Result<(i64, i64)> {
        let info = &self.inner.info;
        if self.inner.writer_lock.is_none() {
            return Err(Error::invalid(format!(
                "table {} was opened read-only: it cannot be appended to",
                info.path
            )));
        }
        if bucket.bucket >= info.bucket_count {
            return Err(Error::invalid(format!(
                "table {} has {} buckets, not {bucket}",
                info.path, info.bucket_count
            )));
        }
        let append_only = changes.iter().all(|c| *c == ChangeType::AppendOnly);
        let options = EncodeOptions {
            compression: self.inner.options.compression,
            commit_timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            ..EncodeOptions::default()
        };
        let mut state = self.state()?;
        if !state.buckets.contains_key(bucket) {
            if !bucket.partition.is_empty() && !state.partitions.contains_key(&bucket.partition) {
                let id = match state.partitions.values().max() {
                    None => 0,
                    Some(m) => m
                        .checked_add(1)
                        .ok_or_else(|| Error::corrupt(format!("no partition id is left after {m} for {bucket}")))?,
                };
                state.partitions.insert(bucket.partition.clone(), id);
            }
            let path = Self::bucket_path(&self.inner.dir, &state.partitions, bucket)?;
            state.buckets.insert(bucket.clone(), BucketLog::create(path)?);
        }
        let log = state
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no {bucket}")))?;
        let base = log.end;
        let bytes = encode_batch(&batch, (!append_only).then_some(changes.as_slice()), base, &options)?;
        let next = base + (batch.num_rows() as i64).max(1);
        log.append(&bytes, next, self.inner.options.segment_bytes, self.inner.options.sync)
            .map_err(|e| e.context(format!("{bucket} of {}", info.path)))?;
        drop(state);
        self.inner.appended.notify_waiters();
        Ok((base, next))
    }

    /// Appends rows to the partitions and buckets they belong to, as Fluss's writer routes
    /// them: partition values rendered from the partition columns, buckets by hashing the
    /// bucket key with the bucketing of the table's lake format
    /// ([`DATALAKE_FORMAT_PROPERTY`]). A log table without a bucket key sends the whole
    /// batch to one bucket, rotating per call. Rows keep their order within a bucket.
    /// Returns where each part went and the offsets it got.
    pub fn append_rows(&self, batch: RecordBatch, changes: Vec<ChangeType>) -> Result<Vec<(TableBucket, i64, i64)>> {
        let info = &self.inner.info;
        // everything is checked before anything is written: a call fails whole or
        // appends whole (up to I/O errors)
        check_rows(info, &batch, &changes, &format!("rows appended to {}", info.path))?;
        let partitions = partition_values(info, &batch)?;
        let buckets = match bucket_key(info) {
            Some(key) => {
                let format =
                    LakeFormat::from_property(info.properties.get(DATALAKE_FORMAT_PROPERTY).map(String::as_str))?;
                BucketAssigner::new(format, &info.schema, &key, info.bucket_count)?.assign(&batch)?
            }
            None => {
                let b = self
                    .inner
                    .next_bucket
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    % info.bucket_count;
                vec![b; batch.num_rows()]
            }
        };
        let mut groups: BTreeMap<TableBucket, Vec<u32>> = BTreeMap::new();
        for (row, bucket) in buckets.into_iter().enumerate() {
            let partition = partitions.get(row).cloned().unwrap_or_default();
            let bucket = TableBucket::partitioned(partition, bucket);
            if !groups.contains_key(&bucket) {
                check_partition_values(&bucket.partition, &info.partition_keys).map_err(|e| {
                    e.context(format!(
                        "row {row} of the rows appended to {} (partition columns {})",
                        info.path,
                        info.partition_keys.join(", ")
                    ))
                })?;
            }
            groups.entry(bucket).or_default().push(row as u32);
        }
        let mut written = Vec::with_capacity(groups.len());
        for (bucket, rows) in groups {
            let part = arrow_select::take::take_record_batch(&batch, &arrow_array::UInt32Array::from(rows.clone()))?;
            let part_changes = rows.iter().map(|&r| changes[r as usize]).collect();
            let (base, next) = self.write(&bucket, part, part_changes)?;
            written.push((bucket, base, next));
        }
        Ok(written)
    }

    /// Looks for buckets, partitions and batches other processes added.
    fn refresh(&self) -> Result<()> {
        let found = self.refresh_partitions()?;
        let mut state = self.state()?;
        for bucket in &found.buckets {
            self.adopt(&mut state, bucket)?;
        }
        for (bucket, log) in state.buckets.iter_mut() {
            log.refresh().map_err(|e| e.context(format!("{bucket}")))?;
        }
        Ok(())
    }

    /// Looks for partitions other processes added, and returns what it found.
    fn refresh_partitions(&self) -> Result<descriptor::Discovered> {
        let info = &self.inner.info;
        let mut found = discover(&self.inner.dir, &info.partition_keys, info.bucket_count)?;
        let mut state = self.state()?;
        for (values, id) in std::mem::take(&mut found.partitions) {
            state.partitions.entry(values).or_insert(id);
        }
        Ok(found)
    }

    /// Makes every batch appended so far (or, for a read-only log, seen so far) durable
    /// (fsync), whatever [`LocalLogOptions::sync`] says, and records it as each bucket's
    /// recovery point: an open after a crash then refuses to cut those batches. [`Tierer::tier`](crate::tiering::Tierer::tier) calls it before it commits, so that a
    /// lake snapshot never covers offsets a crash could take from the log. Each call syncs
    /// only what came since the last; appends and reads do not wait for the disk.
    ///
    /// A read-only log first checks in full (CRC included) the batches it is to record,
    /// which it indexed from their headers only: a batch a crash of the appender left
    /// damaged is a `Corrupt` error, and nothing is recorded, so that the appender's next
    /// open still cuts the log there.
    pub fn sync(&self) -> Result<()> {
        self.inner.sync()
    }

    /// The offsets below which each bucket's batches are known to be on disk.
    #[cfg(test)]
    pub(crate) fn durable_offsets(&self) -> Result<BTreeMap<TableBucket, (i64, i64)>> {
        Ok(self
            .state()?
            .buckets
            .iter()
            .map(|(b, log)| (b.clone(), (log.durable, log.end)))
            .collect())
    }

    /// Looks for batches other processes appended to one bucket.
    fn refresh_bucket(&self, bucket: &TableBucket) -> Result<()> {
        let mut state = self.state()?;
        match state.buckets.get_mut(bucket) {
            Some(log) => log.refresh().map_err(|e| e.context(format!("{bucket}"))),
            // not written to when last looked: another process's first append made its
            // directory since, or not. A tail of an empty bucket looks every poll interval,
            // so it looks at that directory alone where it knows the partition's (a
            // `refresh` reads the whole tree, other buckets and their checks included)
            None => match Self::bucket_path(&self.inner.dir, &state.partitions, bucket) {
                Ok(dir) => {
                    if dir.is_dir() {
                        state.buckets.insert(bucket.clone(), BucketLog::open(dir, false)?);
                    }
                    Ok(())
                }
                Err(_) => {
                    drop(state);
                    let found = self.refresh_partitions()?;
                    if found.buckets.contains(bucket) {
                        let mut state = self.state()?;
                        self.adopt(&mut state, bucket)?;
                    }
                    Ok(())
                }
            },
        }
    }

    /// Opens the files of a bucket found on disk, unless it has them open already.
    fn adopt(&self, state: &mut State, bucket: &TableBucket) -> Result<()> {
        if !state.buckets.contains_key(bucket) {
            let path = Self::bucket_path(&self.inner.dir, &state.partitions, bucket)?;
            state.buckets.insert(bucket.clone(), BucketLog::open(path, false)?);
        }
        Ok(())
    }

    /// Whether `bucket` is one of [`LocalLog::buckets`].
    fn has_bucket(&self, state: &State, bucket: &TableBucket) -> bool {
        let info = &self.inner.info;
        bucket.bucket < info.bucket_count
            && match info.partition_keys.is_empty() {
                true => bucket.partition.is_empty(),
                false => state.partitions.contains_key(&bucket.partition),
            }
    }

    /// Every bucket of the table: all of an unpartitioned table's, and all of each
    /// partition's it has.
    fn buckets<'s>(&self, state: &'s State) -> impl Iterator<Item = TableBucket> + 's {
        let count = self.inner.info.bucket_count;
        let unpartitioned = self.inner.info.partition_keys.is_empty().then(Vec::new);
        unpartitioned
            .into_iter()
            .chain(state.partitions.keys().cloned())
            .flat_map(move |partition| (0..count).map(move |b| TableBucket::partitioned(partition.clone(), b)))
    }

    /// The offsets a lake snapshot covers, from its `fluss-offsets` property.
    pub async fn snapshot_offsets(&self, snapshot: &LakeSnapshot) -> Result<BTreeMap<TableBucket, i64>> {
        // a snapshot may name partitions other processes created since this log opened
        if !self.inner.info.partition_keys.is_empty() {
            self.refresh_partitions()?;
        }
        let partitions = self.partition_ids()?;
        resolve_snapshot_offsets(snapshot, self.table_id(), &self.inner.info, &partitions).await
    }

    /// The next batches of `bucket` from the one holding `offset`, as one read fetches
    /// them (see [`BucketLog::entries_after`]), with their segment; empty at the end.
    fn next_entries(&self, bucket: &TableBucket, offset: i64, stop: Option<i64>) -> Result<(Vec<IndexEntry>, PathBuf)> {
        let state = self.state()?;
        let Some(log) = state.buckets.get(bucket) else {
            return Ok((Vec::new(), PathBuf::new()));
        };
        let entries = log.entries_after(offset, stop, READ_CHUNK_BYTES);
        let path = entries
            .first()
            .and_then(|e| log.segment_path(e.segment))
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok((entries, path))
    }
}

/// Checks rows before they are appended: the table schema, one change type per row, and
/// change types that fit the table (`+A` for a log table, `+I/-U/+U/-D` for a primary-key
/// table). `what` names the rows in errors.
fn check_rows(info: &TableInfo, batch: &RecordBatch, changes: &[ChangeType], what: &str) -> Result<()> {
    if batch.schema().fields() != info.schema.fields() {
        return Err(Error::new(
            ErrorKind::SchemaMismatch,
            format!("{what}: the columns are not the table schema"),
        ));
    }
    if changes.len() != batch.num_rows() {
        return Err(Error::invalid(format!(
            "{what}: {} rows but {} change types",
            batch.num_rows(),
            changes.len()
        )));
    }
    let mismatched = match info.has_primary_key() {
        true => changes.contains(&ChangeType::AppendOnly),
        false => changes.iter().any(|c| *c != ChangeType::AppendOnly),
    };
    if mismatched {
        let (kind, takes) = if info.has_primary_key() {
            ("primary-key", "+I/-U/+U/-D")
        } else {
            ("log", "only +A")
        };
        return Err(Error::invalid(format!(
            "{what}: {kind} table {} takes {takes} changes",
            info.path
        )));
    }
    Ok(())
}

/// Refuses a primary-key table Fluss would not create: one bucketed by columns other than
/// its key's, less the partition columns (which hold one value in all of a partition's
/// rows), or whose key is all partition columns. Its rows would go where no Fluss writer
/// or lake bucketing puts them.
fn check_key_bucketing(info: &TableInfo) -> Result<()> {
    if !info.has_primary_key() {
        return Ok(());
    }
    let physical: Vec<&String> = info
        .primary_key
        .iter()
        .filter(|k| !info.partition_keys.contains(k))
        .collect();
    if physical.is_empty() {
        return Err(Error::invalid(format!(
            "table {}: its primary key {:?} is all partition columns, and Fluss buckets a key \
             table by its key without them",
            info.path, info.primary_key
        )));
    }
    if let Some(c) = info.bucket_key.iter().find(|c| !physical.contains(c)) {
        return Err(Error::invalid(format!(
            "table {}: its bucket key {:?} names {c}, which is not in its primary key less the \
             partition columns {physical:?}, as Fluss buckets key tables",
            info.path, info.bucket_key
        )));
    }
    Ok(())
}

/// The columns rows are bucketed by: the bucket key, or for a primary-key table its key
/// without the partition columns (Fluss's default); `None` for a log table without one.
fn bucket_key(info: &TableInfo) -> Option<Vec<String>> {
    if !info.bucket_key.is_empty() {
        return Some(info.bucket_key.clone());
    }
    let key: Vec<String> = info
        .primary_key
        .iter()
        .filter(|k| !info.partition_keys.contains(k))
        .cloned()
        .collect();
    (!key.is_empty()).then_some(key)
}

/// Each row's partition values, named as Fluss names partitions
/// ([`lake_api::table::partition_names`]); empty when the table is not partitioned. Null or
/// other-typed partition values are errors naming the column.
fn partition_values(info: &TableInfo, batch: &RecordBatch) -> Result<Vec<Vec<String>>> {
    use arrow_array::Array;
    if info.partition_keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = vec![Vec::with_capacity(info.partition_keys.len()); batch.num_rows()];
    for key in &info.partition_keys {
        let column = batch.column_by_name(key).ok_or_else(|| {
            Error::new(
                ErrorKind::SchemaMismatch,
                format!("partition column '{key}' is missing from the batch"),
            )
        })?;
        let names = lake_api::table::partition_names(key, column)?;
        for (row, values) in rows.iter_mut().enumerate() {
            if names.is_null(row) {
                return Err(Error::invalid(format!(
                    "row {row} has a null partition value in '{key}'"
                )));
            }
            values.push(names.value(row).to_string());
        }
    }
    Ok(rows)
}

/// A reader's position in one bucket.
/// How many bytes of consecutive batches a read fetches at once. Batches of one read share
/// its buffer (they are zero-copy slices of it), so a batch kept alive keeps up to this much.
const READ_CHUNK_BYTES: u64 = 4 << 20;

struct ReadState {
    log: LocalLog,
    bucket: TableBucket,
    next: i64,
    stop: Option<i64>,
    /// Batches fetched by the last read and not yet decoded, with their bytes.
    fetched: std::collections::VecDeque<(IndexEntry, arrow_buffer::Buffer, PathBuf)>,
    /// The open segment, and where it is positioned when known.
    file: Option<(PathBuf, File, Option<u64>)>,
    /// Whether a bounded read that ran out of indexed batches short of its stop has looked
    /// for batches another process appended since.
    looked_again: bool,
}

impl ReadState {
    async fn next_batch(&mut self) -> Result<Option<LogBatch>> {
        loop {
            if self.stop.is_some_and(|s| self.next >= s) {
                return Ok(None);
            }
            if let Some((entry, bytes, path)) = self.fetched.pop_front() {
                let at = || format!("segment {} at byte {} ({})", path.display(), entry.pos, self.bucket);
                let (batch, used) =
                    decode_batch_buffer(&bytes, &self.log.inner.info.schema).map_err(|e| e.context(at()))?;
                // the index is this reader's; the bytes are the appender's, who may have cut
                // the log and written other batches there since
                if !entry.describes(batch.base_offset, batch.next_offset, used) {
                    return Err(entry.rewritten(&format!("the batch at offset {} of {}", entry.base, at())));
                }
                self.next = entry.next;
                // the reads above never wait: without this a long read would hold its
                // runtime thread to the end, and a task reading it could not be aborted
                tokio::task::coop::consume_budget().await;
                return Ok(Some(batch));
            }
            let notified = self.log.inner.appended.notified();
            let (entries, path) = self.log.next_entries(&self.bucket, self.next, self.stop)?;
            if let Some(first) = entries.first() {
                let (file, position) = match &mut self.file {
                    Some((p, f, at)) if *p == path => (f, at),
                    _ => {
                        let f =
                            File::open(&path).map_err(|e| segment_open_error(&path, first.base, &self.bucket, e))?;
                        let (_, f, at) = self.file.insert((path.clone(), f, Some(0)));
                        (f, at)
                    }
                };
                let chunk = arrow_buffer::Buffer::from_vec(read_entries(file, &path, &entries, position)?);
                for e in &entries {
                    let bytes = chunk.slice_with_length((e.pos - first.pos) as usize, e.len as usize);
                    self.fetched.push_back((*e, bytes, path.clone()));
                }
                continue;
            }
            if self.stop.is_some() {
                // bounded reads see what is there (the engine reports a short log), once
                // batches appended by another process since the index was loaded are in it
                if !self.looked_again {
                    self.looked_again = true;
                    self.log.refresh_bucket(&self.bucket)?;
                    continue;
                }
                return Ok(None);
            }
            // tailing: an append here updates the index and wakes us; without one, look
            // for appends by other processes, in this bucket only
            if tokio::time::timeout(self.log.inner.options.poll_interval, notified)
                .await
                .is_err()
            {
                self.log.refresh_bucket(&self.bucket)?;
            }
        }
    }
}

/// A segment that would not open: gone (retention, or a hand), else an I/O failure (too
/// many open files, permissions) that says so rather than calling the segment gone.
fn segment_open_error(path: &Path, offset: i64, bucket: &TableBucket, e: std::io::Error) -> Error {
    let (kind, what) = match e.kind() {
        std::io::ErrorKind::NotFound => (ErrorKind::NotFound, "is gone"),
        _ => (ErrorKind::Io, "cannot be opened"),
    };
    Error::new(
        kind,
        format!("segment {} holding offset {offset} of {bucket} {what}", path.display()),
    )
    .with_source(e)
}

#[async_trait]
impl LogSource for LocalLog {
    async fn table_info(&self) -> lake_api::Result<TableInfo> {
        Ok(self.inner.info.clone())
    }

    async fn offset_ranges(&self) -> lake_api::Result<BTreeMap<TableBucket, OffsetRange>> {
        self.refresh()?;
        let state = self.state()?;
        // the log deletes no segments (and opens none that start past 0)
        let mut ranges: BTreeMap<TableBucket, OffsetRange> = state
            .buckets
            .iter()
            .map(|(b, log)| {
                (
                    b.clone(),
                    OffsetRange {
                        earliest: 0,
                        end: log.end,
                    },
                )
            })
            .collect();
        // a bucket's files are made by its first append, but, as in Fluss, every bucket of
        // the table (of a partition it has) is there from the start
        for bucket in self.buckets(&state) {
            ranges.entry(bucket).or_insert(OffsetRange { earliest: 0, end: 0 });
        }
        Ok(ranges)
    }

    async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> lake_api::Result<BTreeMap<TableBucket, i64>> {
        Ok(self.snapshot_offsets(snapshot).await?)
    }

    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> lake_api::Result<LogBatchStream> {
        // a read planned elsewhere may start past what this log has seen of the files, or
        // name a bucket (of a partition) created since it looked
        // (the state's lock released first: a refresh takes it)
        let seen_end = self.state()?.buckets.get(bucket).map(|log| log.end);
        match seen_end {
            Some(end) if start > end => self.refresh_bucket(bucket)?,
            Some(_) => {}
            None => self.refresh()?,
        }
        {
            let state = self.state()?;
            // a bucket nobody wrote to yet holds `[0, 0)`: a tailing read waits for its files
            let end = match state.buckets.get(bucket) {
                Some(log) => log.end,
                None if self.has_bucket(&state, bucket) => 0,
                None => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("table {} has no {bucket} in its log", self.inner.info.path),
                    )
                    .into());
                }
            };
            if start > end && stop.is_some() {
                return Err(Error::new(
                    ErrorKind::Offsets,
                    format!("start offset {start} is beyond the end offset {end} of {bucket}"),
                )
                .into());
            }
            if start < 0 {
                return Err(Error::new(
                    ErrorKind::Offsets,
                    format!("start offset {start} of {bucket} is below the earliest offset 0"),
                )
                .into());
            }
        }
        let state = ReadState {
            log: self.clone(),
            bucket: bucket.clone(),
            next: start,
            stop,
            fetched: Default::default(),
            file: None,
            looked_again: false,
        };
        let stream = futures::stream::try_unfold(state, |mut st| async move {
            Ok::<_, lake_api::Error>(st.next_batch().await?.map(|b| (b, st)))
        });
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests;
