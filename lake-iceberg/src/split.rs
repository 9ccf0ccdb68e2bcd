//! Iceberg splits: one file scan task of one snapshot, with its Fluss bucket and
//! partition, serialized as our own versioned record.
//!
//! `FileScanTask` cannot serialize the partition data `plan_files` always sets (iceberg
//! 0.10), so the record keeps the task without it: the reader never needs it, because
//! identity-partition columns are read from the data files themselves, as every Iceberg
//! writer stores them. The name mapping is rebuilt from the table on the reading side.

use std::any::Any;
use std::sync::Arc;

use iceberg::scan::FileScanTask;
use lake_api::lake::{LakeSplit, SplitSerializer, SplitStats};
use lake_api::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// One data file of one snapshot, with the deletes that apply to it.
#[derive(Debug, Clone)]
pub struct IcebergSplit {
    pub(crate) snapshot_id: i64,
    pub(crate) bucket: Option<u32>,
    pub(crate) partition: Vec<String>,
    pub(crate) task: FileScanTask,
    /// The file's rows are in primary-key order (its sort order is the key's).
    pub(crate) sorted: bool,
}

impl IcebergSplit {
    /// The snapshot the split belongs to.
    pub fn snapshot_id(&self) -> i64 {
        self.snapshot_id
    }

    /// The data file the split reads.
    pub fn data_file(&self) -> &str {
        &self.task.data_file_path
    }

    /// The number of rows in the data file (before deletes and filters), when known.
    pub fn record_count(&self) -> Option<u64> {
        self.task.record_count
    }

    /// Whether the file's rows come in primary-key order (its sort order is the key's), so
    /// that a sort-merge read need not sort it.
    pub fn key_sorted(&self) -> bool {
        self.sorted
    }

    /// The delete files applied to the data file.
    pub fn delete_files(&self) -> impl Iterator<Item = &str> {
        self.task.deletes.iter().map(|d| d.file_path.as_str())
    }
}

impl LakeSplit for IcebergSplit {
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
        let sizes = self.task.deletes.iter().map(|d| Some(d.file_size_in_bytes));
        Some(SplitStats {
            files: 1 + self.task.deletes.len(),
            bytes: SplitStats::sum(sizes.chain([Some(self.task.file_size_in_bytes)])),
            rows: self.task.record_count,
            shared: None,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct SplitRecord {
    snapshot_id: i64,
    bucket: Option<u32>,
    partition: Vec<String>,
    task: FileScanTask,
    #[serde(default)]
    sorted: bool,
}

/// The serializer of [`IcebergSplit`]s (version 1: a JSON record).
#[derive(Debug, Clone, Copy, Default)]
pub struct IcebergSplitSerializer;

impl IcebergSplitSerializer {
    /// The version this build writes.
    pub const VERSION: u32 = 1;
}

impl SplitSerializer for IcebergSplitSerializer {
    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn serialize(&self, split: &dyn LakeSplit) -> Result<Vec<u8>> {
        let split = split
            .as_any()
            .downcast_ref::<IcebergSplit>()
            .ok_or_else(|| Error::invalid(format!("not an Iceberg split: {split:?}")))?;
        let mut task = split.task.clone();
        task.partition = None;
        task.partition_spec = None;
        task.name_mapping = None;
        let record = SplitRecord {
            snapshot_id: split.snapshot_id,
            bucket: split.bucket,
            partition: split.partition.clone(),
            task,
            sorted: split.sorted,
        };
        serde_json::to_vec(&record).map_err(|e| {
            Error::new(
                ErrorKind::External,
                format!("serializing the split of {}: {e}", split.task.data_file_path),
            )
        })
    }

    fn deserialize(&self, version: u32, bytes: &[u8]) -> Result<Arc<dyn LakeSplit>> {
        if version != Self::VERSION {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "Iceberg split version {version} is not known (this build reads {})",
                    Self::VERSION
                ),
            ));
        }
        let record: SplitRecord = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(format!("Iceberg split bytes are not a split: {e}")))?;
        Ok(Arc::new(IcebergSplit {
            snapshot_id: record.snapshot_id,
            bucket: record.bucket,
            partition: record.partition,
            task: record.task,
            sorted: record.sorted,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_versions_and_garbage_are_typed_errors() {
        let s = IcebergSplitSerializer;
        assert_eq!(
            s.deserialize(9, b"{}").unwrap_err().kind(),
            ErrorKind::UnsupportedVersion
        );
        assert_eq!(s.deserialize(1, b"{\"snap").unwrap_err().kind(), ErrorKind::Corrupt);
    }
}
