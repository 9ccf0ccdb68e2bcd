//! The log side: change types, log batches and the [`LogSource`] trait.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use futures::Stream;

use crate::error::{Error, Result};
use crate::lake::LakeSnapshot;
use crate::table::{TableBucket, TableInfo};

/// The change a log row records, with Fluss's byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ChangeType {
    /// `+A`: a row of a log table.
    AppendOnly = 0,
    /// `+I`: a new key.
    Insert = 1,
    /// `-U`: the old row of an update.
    UpdateBefore = 2,
    /// `+U`: the new row of an update.
    UpdateAfter = 3,
    /// `-D`: the key was deleted.
    Delete = 4,
}

impl ChangeType {
    /// The short form Fluss prints (`+I`, `-U`, ...).
    pub fn short_string(self) -> &'static str {
        match self {
            ChangeType::AppendOnly => "+A",
            ChangeType::Insert => "+I",
            ChangeType::UpdateBefore => "-U",
            ChangeType::UpdateAfter => "+U",
            ChangeType::Delete => "-D",
        }
    }

    /// Whether the change retracts a row (`-U`, `-D`).
    pub fn is_retraction(self) -> bool {
        matches!(self, ChangeType::UpdateBefore | ChangeType::Delete)
    }

    /// The change type of a byte value.
    pub fn from_byte(b: u8) -> Result<Self> {
        Ok(match b {
            0 => ChangeType::AppendOnly,
            1 => ChangeType::Insert,
            2 => ChangeType::UpdateBefore,
            3 => ChangeType::UpdateAfter,
            4 => ChangeType::Delete,
            other => return Err(Error::corrupt(format!("unknown change type byte {other}"))),
        })
    }
}

impl fmt::Display for ChangeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_string())
    }
}

/// One batch of log records: rows of the table schema, a change type per row, and
/// consecutive offsets starting at `base_offset`.
///
/// `next_offset` may exceed `base_offset + num_rows` (Fluss batches whose records were
/// compacted away still advance the offset); it never falls below it.
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// The rows, in the table's full schema.
    pub batch: RecordBatch,
    /// One change type per row.
    pub change_types: Vec<ChangeType>,
    /// The offset of the first row.
    pub base_offset: i64,
    /// The offset after this batch (the next batch's `base_offset`).
    pub next_offset: i64,
    /// The commit timestamp (ms since the epoch) of the batch.
    pub commit_timestamp: i64,
}

impl LogBatch {
    /// A batch with consecutive offsets from `base_offset` and `next_offset` right after
    /// its last row. Offsets past `i64::MAX` stop there, which [`LogBatch::validate`]
    /// refuses.
    pub fn new(batch: RecordBatch, change_types: Vec<ChangeType>, base_offset: i64) -> Self {
        let next_offset = base_offset.saturating_add(batch.num_rows() as i64);
        Self {
            batch,
            change_types,
            base_offset,
            next_offset,
            commit_timestamp: 0,
        }
    }

    /// An append-only (`+A`) batch of a log table.
    pub fn append_only(batch: RecordBatch, base_offset: i64) -> Self {
        let n = batch.num_rows();
        Self::new(batch, vec![ChangeType::AppendOnly; n], base_offset)
    }

    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Checks the batch's own invariants: one change type per row, offsets that cover the
    /// rows.
    pub fn validate(&self) -> Result<()> {
        if self.change_types.len() != self.batch.num_rows() {
            return Err(Error::corrupt(format!(
                "log batch at offset {} has {} rows but {} change types",
                self.base_offset,
                self.batch.num_rows(),
                self.change_types.len()
            )));
        }
        let covered = self.base_offset.checked_add(self.num_rows() as i64);
        if self.base_offset < 0 || covered.is_none_or(|end| self.next_offset < end) {
            return Err(Error::offsets(format!(
                "log batch at offset {} with {} rows claims next offset {}",
                self.base_offset,
                self.num_rows(),
                self.next_offset
            )));
        }
        Ok(())
    }

    /// The rows with offsets in `[start, stop)`, zero-copy.
    pub fn slice_offsets(&self, start: i64, stop: i64) -> LogBatch {
        let n = self.num_rows() as i64;
        let from = (start - self.base_offset).clamp(0, n) as usize;
        let to = (stop - self.base_offset).clamp(from as i64, n) as usize;
        LogBatch {
            batch: self.batch.slice(from, to - from),
            change_types: self.change_types[from..to].to_vec(),
            base_offset: self.base_offset + from as i64,
            next_offset: if to as i64 == n {
                self.next_offset.min(stop.max(self.base_offset + to as i64))
            } else {
                self.base_offset + to as i64
            },
            commit_timestamp: self.commit_timestamp,
        }
    }
}

/// A stream of log batches.
pub type LogBatchStream = Pin<Box<dyn Stream<Item = Result<LogBatch>> + Send>>;

/// The earliest and end offsets of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    /// The first offset still in the log (older ones aged out or were tiered away).
    pub earliest: i64,
    /// The offset the next record will get.
    pub end: i64,
}

impl OffsetRange {
    /// A bucket's range, checked as [`check`](Self::check) does.
    ///
    /// ```
    /// use lake_api::{ErrorKind, OffsetRange};
    ///
    /// assert_eq!(OffsetRange::new(3, 10).unwrap(), OffsetRange { earliest: 3, end: 10 });
    /// assert_eq!(OffsetRange::new(-1, 10).unwrap_err().kind(), ErrorKind::Offsets);
    /// assert_eq!(OffsetRange::new(11, 10).unwrap_err().kind(), ErrorKind::Offsets);
    /// ```
    pub fn new(earliest: i64, end: i64) -> Result<Self> {
        let range = Self { earliest, end };
        range.check()?;
        Ok(range)
    }

    /// Fails with [`ErrorKind::Offsets`](crate::ErrorKind::Offsets) unless
    /// `0 <= earliest <= end`. A union read checks every range a [`LogSource`] reports:
    /// a negative or inverted one would otherwise plan an empty read of the bucket, or a
    /// read from an offset no log has.
    pub fn check(&self) -> Result<()> {
        if self.earliest < 0 || self.end < self.earliest {
            return Err(crate::error::Error::offsets(format!(
                "the log reports offsets [{}, {}): a bucket's earliest offset must be at least 0 and at most its end",
                self.earliest, self.end
            )));
        }
        Ok(())
    }
}

/// The log of one table: where its buckets start and end, what a lake snapshot covers,
/// and the changes themselves.
#[async_trait]
pub trait LogSource: Send + Sync {
    /// The table as the log knows it (the authority on schema, key and buckets).
    async fn table_info(&self) -> Result<TableInfo>;

    /// The earliest and end offset of every bucket (of every partition) the log has. As in
    /// Fluss, a table's buckets are all there from its creation (a partition's, from the
    /// partition's): one nobody has written to yet is listed with `[0, 0)`, and a tailing
    /// [`read`](Self::read) of it waits for its first records. A followed scan tails the
    /// buckets listed here.
    async fn offset_ranges(&self) -> Result<BTreeMap<TableBucket, OffsetRange>>;

    /// The tiered offset of each bucket covered by a lake snapshot: the lake holds every
    /// change with an offset below it.
    async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> Result<BTreeMap<TableBucket, i64>>;

    /// The batches of a bucket from `start`, up to `stop` (exclusive), or forever when
    /// `stop` is `None`. Batches may begin before `start` or run past `stop`: the reader
    /// trims them. A `start` beyond the bucket's end offset is an error.
    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> Result<LogBatchStream>;

    /// Which lake snapshot readers may use, where the log decides it: a Fluss coordinator
    /// names a *readable* snapshot, which can be older than the lake's latest (a lake
    /// commit whose data is not yet complete for readers), or none at all. The default,
    /// [`ReadableSnapshot::Lake`], leaves the choice to the lake: its latest snapshot.
    async fn readable_snapshot(&self) -> Result<ReadableSnapshot> {
        Ok(ReadableSnapshot::Lake)
    }

    /// The readable offsets of `snapshot`, the log's [readable snapshot](Self::readable_snapshot),
    /// where the log keeps them apart from its tiered offsets: each bucket's changes below
    /// its offset are in the rows the lake's own readers see
    /// ([`SnapshotView::Readable`](crate::SnapshotView::Readable)). A Fluss coordinator keeps
    /// them for Paimon deletion-vector tables, whose uncompacted files readers skip. A union
    /// read that gets them reads the snapshot's readable rows and the log from these
    /// offsets; with `None` (the default) it reads every committed row and the log from the
    /// [tiered offsets](Self::tiered_offsets).
    async fn readable_offsets(&self, snapshot: &LakeSnapshot) -> Result<Option<BTreeMap<TableBucket, i64>>> {
        let _ = snapshot;
        Ok(None)
    }
}

/// The log's say on which lake snapshot a union read uses ([`LogSource::readable_snapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadableSnapshot {
    /// The log has no say: read the lake's latest snapshot.
    Lake,
    /// Read this snapshot (and take offsets from it or an older one).
    Snapshot(i64),
    /// No lake snapshot is readable yet: read the log alone.
    None,
}

/// The tiered offsets of the newest of `snapshots` (oldest first, as
/// [`LakeStorage::list_snapshots`](crate::LakeStorage::list_snapshots) lists them) that
/// records any, with that snapshot. Lake maintenance (compaction, expiry) commits
/// snapshots that record none, and the data of such a snapshot is what the one before it
/// tiered. `None` when no snapshot records offsets; errors other than
/// [`NotFound`](crate::ErrorKind::NotFound) (a malformed `fluss-offsets`) stop the search,
/// and so does a snapshot marked [`OFFSETS_UNKNOWN_PROPERTY`]
/// ([`Offsets`](crate::ErrorKind::Offsets)): the offsets of the snapshots before it
/// describe other rows.
pub async fn latest_tiered_offsets<'a>(
    log: &dyn LogSource,
    snapshots: &'a [LakeSnapshot],
) -> Result<Option<(&'a LakeSnapshot, BTreeMap<TableBucket, i64>)>> {
    for snapshot in snapshots.iter().rev() {
        if let Some(why) = snapshot.offsets_unknown() {
            return Err(crate::error::Error::offsets(format!(
                "lake snapshot {}: the tiered offsets its rows go with are unknown ({why})",
                snapshot.id
            )));
        }
        match log.tiered_offsets(snapshot).await {
            Ok(offsets) => return Ok(Some((snapshot, offsets))),
            Err(e) if e.kind() == crate::error::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::Int64Array;

    use super::*;

    fn batch(n: i64) -> RecordBatch {
        RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from_iter_values(0..n)) as _)]).unwrap()
    }

    #[test]
    fn change_type_bytes_round_trip() {
        for b in 0..5u8 {
            assert_eq!(ChangeType::from_byte(b).unwrap() as u8, b);
        }
        assert!(ChangeType::from_byte(9).is_err());
    }

    #[test]
    fn slice_offsets_trims_both_ends() {
        let lb = LogBatch::append_only(batch(10), 100);
        let s = lb.slice_offsets(103, 107);
        assert_eq!((s.base_offset, s.next_offset, s.num_rows()), (103, 107, 4));
        let all = lb.slice_offsets(0, 1000);
        assert_eq!((all.base_offset, all.next_offset, all.num_rows()), (100, 110, 10));
        let none = lb.slice_offsets(200, 300);
        assert_eq!(none.num_rows(), 0);
    }

    #[test]
    fn validate_rejects_short_offsets() {
        let mut lb = LogBatch::append_only(batch(3), 5);
        lb.next_offset = 6;
        assert!(lb.validate().is_err());
        lb.next_offset = 20; // gaps after compaction are fine
        assert!(lb.validate().is_ok());
    }
}
