//! [`MemoryLog`]: a [`LogSource`] over batches held in memory, with tailing reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use async_trait::async_trait;
use tokio::sync::Notify;

use crate::error::{Error, ErrorKind, Result};
use crate::lake::LakeSnapshot;
use crate::log::{ChangeType, LogBatch, LogBatchStream, LogSource, OffsetRange};
use crate::table::{TableBucket, TableInfo};

#[derive(Debug, Default)]
struct BucketLog {
    batches: Vec<LogBatch>,
    earliest: i64,
    end: i64,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<TableBucket, BucketLog>,
    tiered: HashMap<i64, BTreeMap<TableBucket, i64>>,
}

impl State {
    /// Adds the buckets of a partition it does not have yet (all the table's buckets
    /// together, as Fluss creates a partition's).
    fn add_partition(&mut self, info: &TableInfo, partition: &[String]) {
        for b in 0..info.bucket_count {
            self.buckets
                .entry(TableBucket::partitioned(partition.to_vec(), b))
                .or_default();
        }
    }

    /// The log of `bucket`, made with the rest of its partition's if it is new.
    fn bucket(&mut self, info: &TableInfo, bucket: &TableBucket) -> &mut BucketLog {
        if !self.buckets.contains_key(bucket) && bucket.partition.len() == info.partition_keys.len() {
            self.add_partition(info, &bucket.partition);
        }
        self.buckets.entry(bucket.clone()).or_default()
    }
}

#[derive(Debug)]
struct Inner {
    info: TableInfo,
    state: Mutex<State>,
    appended: Notify,
}

/// A table's log in memory: per bucket, batches with consecutive offsets.
///
/// Cloning shares the log. Tiered offsets are recorded per lake snapshot id by whoever
/// tiers (see [`tier`](super::tier)).
#[derive(Debug, Clone)]
pub struct MemoryLog {
    inner: Arc<Inner>,
}

impl MemoryLog {
    /// An empty log of a table. As in Fluss, every bucket of a table (of a partition, once
    /// the partition has any) is there from the start, with offsets `[0, 0)`.
    pub fn new(info: TableInfo) -> Result<Self> {
        info.validate()?;
        let mut state = State::default();
        if info.partition_keys.is_empty() {
            state.add_partition(&info, &[]);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                info,
                state: Mutex::new(state),
                appended: Notify::new(),
            }),
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, State>> {
        self.inner
            .state
            .lock()
            .map_err(|_| Error::new(ErrorKind::External, "memory log poisoned by a panic"))
    }

    /// Appends rows with their change types; returns the offsets `[base, next)` they got.
    pub fn append(&self, bucket: &TableBucket, batch: RecordBatch, changes: Vec<ChangeType>) -> Result<(i64, i64)> {
        let info = &self.inner.info;
        if bucket.bucket >= info.bucket_count || bucket.partition.len() != info.partition_keys.len() {
            return Err(Error::invalid(format!("table {} has no {bucket}", info.path)));
        }
        if batch.schema().fields() != info.schema.fields() {
            return Err(Error::schema(format!(
                "batch appended to {bucket} of {} does not have the table schema",
                info.path
            )));
        }
        let mut state = self.state()?;
        let log = state.bucket(info, bucket);
        let lb = LogBatch::new(batch, changes, log.end);
        lb.validate()?;
        let range = (lb.base_offset, lb.next_offset);
        log.end = lb.next_offset;
        log.batches.push(lb);
        drop(state);
        self.inner.appended.notify_waiters();
        Ok(range)
    }

    /// Appends a batch exactly as given, offsets included, without any check: for tests
    /// that feed the engine broken logs.
    pub fn append_raw(&self, bucket: &TableBucket, batch: LogBatch) -> Result<()> {
        let mut state = self.state()?;
        let log = state.bucket(&self.inner.info, bucket);
        log.end = log.end.max(batch.next_offset);
        log.batches.push(batch);
        drop(state);
        self.inner.appended.notify_waiters();
        Ok(())
    }

    /// Makes a bucket known with no records (so that it has offsets `[0, 0)`), with the
    /// rest of its partition's: for a partition nothing was appended to yet.
    pub fn ensure_bucket(&self, bucket: &TableBucket) -> Result<()> {
        self.state()?.bucket(&self.inner.info, bucket);
        Ok(())
    }

    /// Drops records below `offset` (retention).
    pub fn truncate_before(&self, bucket: &TableBucket, offset: i64) -> Result<()> {
        let mut state = self.state()?;
        let log = state
            .buckets
            .get_mut(bucket)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no {bucket}")))?;
        log.batches.retain(|b| b.next_offset > offset);
        log.earliest = log.earliest.max(offset.min(log.end));
        Ok(())
    }

    /// Records the tiered offsets of a lake snapshot.
    pub fn record_tiered_offsets(&self, snapshot_id: i64, offsets: BTreeMap<TableBucket, i64>) -> Result<()> {
        self.state()?.tiered.insert(snapshot_id, offsets);
        Ok(())
    }
}

#[async_trait]
impl LogSource for MemoryLog {
    async fn table_info(&self) -> Result<TableInfo> {
        Ok(self.inner.info.clone())
    }

    async fn offset_ranges(&self) -> Result<BTreeMap<TableBucket, OffsetRange>> {
        Ok(self
            .state()?
            .buckets
            .iter()
            .map(|(b, l)| {
                (
                    b.clone(),
                    OffsetRange {
                        earliest: l.earliest,
                        end: l.end,
                    },
                )
            })
            .collect())
    }

    async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> Result<BTreeMap<TableBucket, i64>> {
        self.state()?.tiered.get(&snapshot.id).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no tiered offsets recorded for lake snapshot {} of {}",
                    snapshot.id, self.inner.info.path
                ),
            )
        })
    }

    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> Result<LogBatchStream> {
        {
            let state = self.state()?;
            let log = state.buckets.get(bucket).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("table {} has no {bucket} in its log", self.inner.info.path),
                )
            })?;
            if start > log.end {
                return Err(Error::offsets(format!(
                    "start offset {start} is beyond the end offset {} of {bucket}",
                    log.end
                )));
            }
            if start < log.earliest {
                return Err(Error::offsets(format!(
                    "start offset {start} of {bucket} is below the earliest offset {}",
                    log.earliest
                )));
            }
        }
        let this = self.clone();
        let bucket = bucket.clone();
        // position: index of the next batch to look at
        let stream = futures::stream::unfold((this, 0usize, false), move |(this, mut next, done)| {
            let bucket = bucket.clone();
            async move {
                if done {
                    return None;
                }
                loop {
                    // register interest before looking, so an append in between wakes us
                    let inner = this.inner.clone();
                    let notified = inner.appended.notified();
                    let found = {
                        let state = match this.state() {
                            Ok(s) => s,
                            Err(e) => return Some((Err(e), (this.clone(), next, true))),
                        };
                        let log = state.buckets.get(&bucket)?;
                        let mut found = None;
                        while next < log.batches.len() {
                            let b = &log.batches[next];
                            next += 1;
                            if b.next_offset > start && stop.is_none_or(|s| b.base_offset < s) {
                                found = Some(b.clone());
                                break;
                            }
                            if stop.is_some_and(|s| b.base_offset >= s) {
                                return None;
                            }
                        }
                        if found.is_none() && stop.is_some() {
                            return None;
                        }
                        found
                    };
                    match found {
                        Some(b) => return Some((Ok(b), (this, next, false))),
                        None => notified.await,
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }
}
