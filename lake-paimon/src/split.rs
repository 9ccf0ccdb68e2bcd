//! Paimon splits: one `DataSplit` of one snapshot (one bucket of one partition, or a part
//! of it), with its Fluss bucket and partition, in our versioned envelope.

use std::any::Any;
use std::sync::Arc;

use lake_api::lake::{LakeSplit, SplitSerializer, SplitStats};
use lake_api::location::check_inside;
use lake_api::{Error, ErrorKind, Result};
use paimon::DataSplit;
use serde::{Deserialize, Serialize};

/// One Paimon data split of one snapshot.
#[derive(Debug, Clone)]
pub struct PaimonSplit {
    pub(crate) snapshot_id: i64,
    pub(crate) bucket: Option<u32>,
    pub(crate) partition: Vec<String>,
    /// The split's rows come in primary-key order.
    pub(crate) sorted: bool,
    pub(crate) split: DataSplit,
}

impl PaimonSplit {
    /// The snapshot the split belongs to.
    pub fn snapshot_id(&self) -> i64 {
        self.snapshot_id
    }

    /// The paimon split itself.
    pub fn data_split(&self) -> &DataSplit {
        &self.split
    }

    /// Whether the split's rows come in primary-key order (paimon merges it on read, or it
    /// is one sorted file), so that a sort-merge read need not sort it.
    pub fn key_sorted(&self) -> bool {
        self.sorted
    }

    /// The data files the split reads.
    pub fn data_files(&self) -> Vec<String> {
        self.split
            .data_files()
            .iter()
            .map(|f| self.split.data_file_path(f))
            .collect()
    }

    /// Fails unless every file the split names (data files, the extra files beside them,
    /// deletion files) lies inside the table's `location`, and its row ranges (if any) are
    /// ranges over files whose row ids are ranges too: a split may come from an untrusted
    /// planner, and paimon's reader asserts on an inverted range, including one it derives
    /// from a file's first row id and row count.
    ///
    /// `held_partition` is the partition the split's own partition row names (rendered as
    /// the planner renders it): the claim must be it.
    pub(crate) fn check(&self, location: &str, fixed_buckets: bool, held_partition: &[String]) -> Result<()> {
        let bucket_path = self.split.bucket_path();
        if self.partition != held_partition {
            return Err(Error::corrupt(format!(
                "the split claims partition [{}] but holds partition [{}] of {bucket_path}",
                self.partition.join("$"),
                held_partition.join("$")
            )));
        }
        for file in self.split.data_files() {
            check_inside(location, &self.split.data_file_path(file), "data file")?;
            for extra in &file.extra_files {
                check_inside(location, &file.aligned_file_path(bucket_path, extra), "extra file")?;
            }
        }
        for d in self.split.data_deletion_files().unwrap_or_default().iter().flatten() {
            check_inside(location, d.path(), "deletion file")?;
        }
        // the claim is what the union read merges the split with: it must be the bucket
        // whose files the split names (a fixed bucket `b` lives in `.../bucket-b`); a
        // table of fixed buckets has one on every split (without, the union read would
        // merge it with whichever bucket's log its union split names)
        if fixed_buckets && self.bucket.is_none() {
            return Err(Error::corrupt(format!(
                "the split of {bucket_path} claims no bucket, but the table's buckets are fixed"
            )));
        }
        if let Some(b) = self.bucket {
            let in_dir = bucket_path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .is_some_and(|dir| dir == format!("bucket-{b}"));
            if i64::from(b) != i64::from(self.split.bucket()) || !in_dir {
                return Err(Error::corrupt(format!(
                    "the split claims bucket {b} but holds bucket {} of {bucket_path}",
                    self.split.bucket()
                )));
            }
        }
        if !row_counts_fit(&self.split) {
            return Err(Error::corrupt(format!(
                "the split of {bucket_path} counts more rows (in its files, deletion files or \
                 row ranges) than fit in 64 bits"
            )));
        }
        let ranges = self.split.row_ranges().unwrap_or_default();
        if !ranges.is_empty() {
            for file in self.split.data_files() {
                let ids_fit = file.row_count >= 0
                    && file
                        .first_row_id
                        .is_none_or(|first| first >= 0 && first.checked_add(file.row_count).is_some());
                if !ids_fit {
                    return Err(Error::corrupt(format!(
                        "the split of {bucket_path} reads rows by id from data file {} of {} rows from row id {:?}",
                        file.file_name, file.row_count, file.first_row_id
                    )));
                }
            }
        }
        for r in ranges {
            // inclusive; the row count `to - from + 1` must fit too
            if r.from() < 0 || r.from() > r.to() || r.to() == i64::MAX {
                return Err(Error::corrupt(format!(
                    "the split of {bucket_path} names rows {} to {}, which is no range of rows",
                    r.from(),
                    r.to()
                )));
            }
        }
        Ok(())
    }
}

impl LakeSplit for PaimonSplit {
    fn bucket(&self) -> Option<u32> {
        self.bucket
    }

    fn partition(&self) -> &[String] {
        &self.partition
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn stats(&self) -> Option<SplitStats> {
        let files = self.split.data_files();
        let bytes = SplitStats::sum(files.iter().map(|f| u64::try_from(f.file_size).ok()));
        let rows = (self.split.row_counts_known() && row_counts_fit(&self.split))
            .then(|| u64::try_from(self.split.row_count()).ok())
            .flatten();
        Some(SplitStats {
            shared: deletion_vector_stats(self.split.data_deletion_files().unwrap_or_default()),
            ..SplitStats::of(files.len(), bytes, rows)
        })
    }
}

/// The deletion vectors applied to a split's data files, as shared groups: Paimon keeps a
/// bucket's vectors in one index file, each at its own offset, so the file counts once
/// (under its path) and each vector's bytes once (under its path and offset), however many
/// data files and splits name it.
fn deletion_vector_stats(vectors: &[Option<paimon::DeletionFile>]) -> Vec<(String, SplitStats)> {
    // one entry per key within the split too, so that its own `whole` counts each once
    let groups: std::collections::BTreeMap<String, SplitStats> = vectors
        .iter()
        .flatten()
        .flat_map(|v| {
            let length = u64::try_from(v.length()).ok();
            [
                (v.path().to_string(), SplitStats::of(1, Some(0), Some(0))),
                (
                    format!("{}@{}", v.path(), v.offset()),
                    SplitStats::of(0, length, Some(0)),
                ),
            ]
        })
        .collect();
    groups.into_iter().collect()
}

/// Whether paimon's row counts of `split` (`row_count`, `merged_row_count`) can be taken:
/// they add and subtract the manifest's numbers unchecked, which a corrupt manifest or a
/// forged split makes overflow (a panic in debug builds). Every sum they form is bounded
/// by the sum of the magnitudes checked here.
pub(crate) fn row_counts_fit(split: &DataSplit) -> bool {
    let files = split.data_files().iter().map(|f| Some(f.row_count));
    let deleted = split
        .data_deletion_files()
        .unwrap_or_default()
        .iter()
        .flatten()
        .map(|d| Some(d.cardinality().unwrap_or(0)));
    let ranges = split
        .row_ranges()
        .unwrap_or_default()
        .iter()
        .map(|r| r.to().checked_sub(r.from()).and_then(|n| n.checked_add(1)));
    files
        .chain(deleted)
        .chain(ranges)
        .try_fold(0i64, |total, n| {
            total.checked_add(i64::try_from(n?.unsigned_abs()).ok()?)
        })
        .is_some()
}

#[derive(Serialize, Deserialize)]
struct SplitRecord {
    snapshot_id: i64,
    bucket: Option<u32>,
    partition: Vec<String>,
    sorted: bool,
    split: DataSplit,
}

/// The serializer of [`PaimonSplit`]s (version 1: a JSON record around paimon's own serde
/// form of the `DataSplit`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PaimonSplitSerializer;

impl PaimonSplitSerializer {
    /// The version this build writes.
    pub const VERSION: u32 = 1;
}

impl SplitSerializer for PaimonSplitSerializer {
    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn serialize(&self, split: &dyn LakeSplit) -> Result<Vec<u8>> {
        let split = split
            .as_any()
            .downcast_ref::<PaimonSplit>()
            .ok_or_else(|| Error::invalid(format!("not a Paimon split: {split:?}")))?;
        let record = SplitRecord {
            snapshot_id: split.snapshot_id,
            bucket: split.bucket,
            partition: split.partition.clone(),
            sorted: split.sorted,
            split: split.split.clone(),
        };
        serde_json::to_vec(&record).map_err(|e| {
            Error::new(
                ErrorKind::External,
                format!("serializing the split of {}: {e}", split.split.bucket_path()),
            )
        })
    }

    fn deserialize(&self, version: u32, bytes: &[u8]) -> Result<Arc<dyn LakeSplit>> {
        if version != Self::VERSION {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "Paimon split version {version} is not known (this build reads {})",
                    Self::VERSION
                ),
            ));
        }
        let record: SplitRecord = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(format!("Paimon split bytes are not a split: {e}")))?;
        Ok(Arc::new(PaimonSplit {
            snapshot_id: record.snapshot_id,
            bucket: record.bucket,
            partition: record.partition,
            sorted: record.sorted,
            split: record.split,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_vector_index_file_counts_once() -> Result<()> {
        // regression: each data file's deletion vector counted as a file of its own, so an
        // index file holding a bucket's vectors counted once per data file (and per split),
        // and none of their bytes counted
        let dv = |offset| Some(paimon::DeletionFile::new("index/dv-0".into(), offset, 40, Some(2)));
        let split = |vectors: &[Option<paimon::DeletionFile>]| SplitStats {
            shared: deletion_vector_stats(vectors),
            ..SplitStats::of(1, Some(100), Some(10))
        };
        let splits = [split(&[dv(0), None, dv(40)]), split(&[dv(40), dv(80)])];
        assert_eq!(SplitStats::total(&splits), SplitStats::of(3, Some(320), Some(20)));
        // within one split, too
        assert_eq!(splits[0].whole(), SplitStats::of(2, Some(180), Some(10)));
        Ok(())
    }

    #[test]
    fn unknown_versions_and_garbage_are_typed_errors() {
        let s = PaimonSplitSerializer;
        assert_eq!(
            s.deserialize(9, b"{}").unwrap_err().kind(),
            ErrorKind::UnsupportedVersion
        );
        assert_eq!(s.deserialize(1, b"{\"snap").unwrap_err().kind(), ErrorKind::Corrupt);
    }
}
