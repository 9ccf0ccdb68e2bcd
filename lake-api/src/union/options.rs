//! Knobs of a union scan: merge strategy, memory budget, spill location, batch size.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::blob::BlobMode;
use crate::error::{Error, ErrorKind, Result};

/// How a primary-key split merges lake rows with the log tail (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MergeStrategy {
    /// Let the planner choose per split: key filter while the log tail is small
    /// (see [`ScanOptions::key_filter_max_log_rows`]), sort-merge otherwise.
    #[default]
    Auto,
    /// K-way merge of key-sorted lake splits with the sorted log tail; output in key order.
    /// Sorted lake splits whose key ranges follow one another are read one after the other
    /// instead (found while reading). One sorted run with an integer key, and a log tail
    /// whose key index fits the budget, takes the sparse merge, which copies the lake rows
    /// between the log's keys as ranges (taking the run to hold each key once, as the key
    /// filter does).
    SortMerge,
    /// Index the log tail's keys, stream the lake past it, then emit the log states.
    KeyFilter,
}

impl MergeStrategy {
    pub(crate) fn byte(self) -> u8 {
        match self {
            MergeStrategy::Auto => 0,
            MergeStrategy::SortMerge => 1,
            MergeStrategy::KeyFilter => 2,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Result<Self> {
        Ok(match b {
            0 => MergeStrategy::Auto,
            1 => MergeStrategy::SortMerge,
            2 => MergeStrategy::KeyFilter,
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedVersion,
                    format!("unknown merge strategy {other}"),
                ));
            }
        })
    }

    /// Parses `auto`, `sort-merge` or `key-filter`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(MergeStrategy::Auto),
            "sort-merge" | "sort_merge" => Ok(MergeStrategy::SortMerge),
            "key-filter" | "key_filter" => Ok(MergeStrategy::KeyFilter),
            other => Err(Error::invalid(format!(
                "unknown merge strategy '{other}' (expected auto, sort-merge or key-filter)"
            ))),
        }
    }
}

impl fmt::Display for MergeStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MergeStrategy::Auto => "auto",
            MergeStrategy::SortMerge => "sort-merge",
            MergeStrategy::KeyFilter => "key-filter",
        })
    }
}

/// Which side(s) of the table a scan reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Lake snapshot plus the log after it: the exact table.
    #[default]
    Union,
    /// The lake snapshot alone (stale by the log tail).
    LakeOnly,
    /// The log alone, from each bucket's earliest offset.
    LogOnly,
}

/// Execution options of a union scan. Start from the default and set what differs (new
/// options may come, so the struct cannot be written out whole outside this crate):
///
/// ```
/// use lake_api::ScanOptions;
///
/// let mut options = ScanOptions::default();
/// options.memory_budget = 64 << 20;
/// assert_eq!(options.memory_budget, 64 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanOptions {
    /// The merge strategy (default [`MergeStrategy::Auto`]).
    pub strategy: MergeStrategy,
    /// Bytes each split's reader may buffer (log tail, per-split sorts) before spilling, so
    /// a scan may hold this much for each of the [`concurrency`](Self::concurrency) splits
    /// it reads at once; under
    /// [`BlobMode::References`], also the bytes of log rows' BLOB payloads the scan keeps in
    /// memory (for its whole life) before it writes further ones to a spill file.
    pub memory_budget: usize,
    /// Where spill files go (the system temp directory by default).
    pub spill_dir: Option<PathBuf>,
    /// Rows per output batch.
    pub batch_size: usize,
    /// Splits read at once (at most) by [`UnionScan::to_stream`](super::UnionScan::to_stream)
    /// (default: the number of cores).
    pub concurrency: usize,
    /// Bytes of output batches that the split tasks may hold beyond their channels (two
    /// batches each, plus one batch read when the budget ran out), all together (default
    /// 128 MiB). A stream returns its splits in order; the ones behind the split being
    /// returned run ahead into this budget, so that up to
    /// [`concurrency`](Self::concurrency) splits decode and merge at once. With 0 each
    /// split runs at most three batches ahead of its consumer, as every split does on a
    /// current-thread runtime, which has no other thread to read ahead on.
    pub read_ahead: usize,
    /// Under `Auto`, splits whose log tail has at most this many offsets use the key filter.
    pub key_filter_max_log_rows: i64,
    /// How BLOB columns are returned (default [`BlobMode::References`], where the lake can
    /// point at its payloads).
    pub blobs: BlobMode,
    /// How often a followed scan ([`UnionScan::follow`](super::UnionScan::follow)) of a
    /// partitioned table lists the log's buckets to find the partitions created since, and
    /// tail them (default 10 s: one
    /// [`LogSource::offset_ranges`](crate::LogSource::offset_ranges) call each time, which
    /// for a Fluss cluster asks each partition's offsets; the tails wait while it runs). A
    /// listing that fails is tried again at the next tick, and reported after three
    /// failures in a row. `None` follows only the buckets there when the scan started; an
    /// unpartitioned table has all its buckets from the start and is never listed again.
    pub follow_discovery: Option<Duration>,
}

/// What the key filter's index costs per changed key, at most (key bytes, hash-map slot,
/// per-key state): `Auto` uses the key filter only while the index fits the budget.
const KEY_INDEX_BYTES_PER_KEY: i64 = 128;

impl ScanOptions {
    /// The strategy a split with `log_len` log offsets is read with: `requested`, or under
    /// [`MergeStrategy::Auto`] the key filter while the log tail is small and its key index
    /// fits the memory budget, the sort-merge otherwise.
    pub fn resolve(&self, requested: MergeStrategy, log_len: i64) -> MergeStrategy {
        match requested {
            MergeStrategy::Auto => {
                if self.key_index_fits(log_len) {
                    MergeStrategy::KeyFilter
                } else {
                    MergeStrategy::SortMerge
                }
            }
            forced => forced,
        }
    }

    /// Whether a key index of a log tail of `log_len` offsets is small enough to hold: at
    /// most [`ScanOptions::key_filter_max_log_rows`] offsets, and within the memory budget.
    pub(crate) fn key_index_fits(&self, log_len: i64) -> bool {
        let index_fits =
            log_len.saturating_mul(KEY_INDEX_BYTES_PER_KEY) <= i64::try_from(self.memory_budget).unwrap_or(i64::MAX);
        log_len <= self.key_filter_max_log_rows && index_fits
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            strategy: MergeStrategy::Auto,
            memory_budget: 256 * 1024 * 1024,
            spill_dir: None,
            batch_size: 8192,
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            read_ahead: 128 * 1024 * 1024,
            key_filter_max_log_rows: 4_000_000,
            blobs: BlobMode::References,
            follow_discovery: Some(Duration::from_secs(10)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_the_key_filter_only_while_its_index_fits() {
        let options = ScanOptions {
            memory_budget: 128 * 1000,
            ..ScanOptions::default()
        };
        assert_eq!(options.resolve(MergeStrategy::Auto, 1000), MergeStrategy::KeyFilter);
        assert_eq!(options.resolve(MergeStrategy::Auto, 1001), MergeStrategy::SortMerge);
        assert_eq!(options.resolve(MergeStrategy::Auto, i64::MAX), MergeStrategy::SortMerge);
        assert_eq!(
            options.resolve(MergeStrategy::KeyFilter, i64::MAX),
            MergeStrategy::KeyFilter
        );
        let few_rows = ScanOptions {
            key_filter_max_log_rows: 10,
            ..ScanOptions::default()
        };
        assert_eq!(few_rows.resolve(MergeStrategy::Auto, 11), MergeStrategy::SortMerge);
    }
}
