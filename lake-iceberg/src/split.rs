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
#[derive(Clone)]
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

/// The split's file and place, not its task's whole schema: splits are named in errors.
impl std::fmt::Debug for IcebergSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergSplit")
            .field("snapshot_id", &self.snapshot_id)
            .field("bucket", &self.bucket)
            .field("partition", &self.partition)
            .field("data_file", &self.task.data_file_path)
            .field("delete_files", &self.task.deletes.len())
            .field("sorted", &self.sorted)
            .finish()
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
        // a delete file applies to every data file of its partition (position deletes
        // may, equality deletes do) older than it: each data file's split lists it
        let deletes = self.task.deletes.iter().map(|d| {
            let stats = SplitStats::of(1, Some(d.file_size_in_bytes), Some(0));
            (d.file_path.clone(), stats)
        });
        Some(SplitStats {
            shared: deletes.collect(),
            ..SplitStats::of(1, Some(self.task.file_size_in_bytes), self.task.record_count)
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
        let failed = |e: serde_json::Error| {
            Error::new(
                ErrorKind::External,
                format!("serializing the split of {}: {e}", split.task.data_file_path),
            )
        };
        let mut value = serde_json::to_value(&record).map_err(failed)?;
        sort_identifier_fields(&mut value);
        serde_json::to_vec(&value).map_err(failed)
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

/// Puts the task schema's identifier field ids in ascending order. The schema holds them in
/// a hash set, which lists them in another order in each set: a split is known by its
/// bytes (a union split listing one lake split twice is found by them), so one split must
/// always serialize alike.
fn sort_identifier_fields(record: &mut serde_json::Value) {
    let ids = record
        .get_mut("task")
        .and_then(|task| task.get_mut("schema"))
        .and_then(|schema| schema.get_mut("identifier-field-ids"))
        .and_then(serde_json::Value::as_array_mut);
    if let Some(ids) = ids {
        ids.sort_by_key(serde_json::Value::as_i64);
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

    /// A split keyed by several columns: the schema keeps its identifier fields in a hash
    /// set, whose order differs from one set to the next.
    fn composite_key_split() -> Result<IcebergSplit> {
        use iceberg::spec::{DataFileFormat, NestedField, PrimitiveType, Schema, Type};
        let fields = (1..=8)
            .map(|id| NestedField::required(id, format!("k{id}"), Type::Primitive(PrimitiveType::Long)).into())
            .collect::<Vec<_>>();
        let schema = Schema::builder()
            .with_fields(fields)
            .with_identifier_field_ids(1..=8)
            .build()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let task = FileScanTask::builder()
            .with_file_size_in_bytes(100)
            .with_start(0)
            .with_length(100)
            .with_data_file_path("file:///t/data/a.parquet".to_string())
            .with_data_file_format(DataFileFormat::Parquet)
            .with_schema(Arc::new(schema))
            .with_project_field_ids((1..=8).collect())
            .with_case_sensitive(true)
            .build();
        Ok(IcebergSplit {
            snapshot_id: 7,
            bucket: Some(0),
            partition: Vec::new(),
            task,
            sorted: true,
        })
    }

    #[test]
    fn a_delete_file_of_several_data_files_is_one_shared_file() -> Result<()> {
        // regression: each data file's split counted the equality-delete file applied to
        // it as its own, so `lakescan stats` counted it (and its bytes) once per data file
        use iceberg::scan::FileScanTaskDeleteFile;
        use iceberg::spec::DataContentType;
        let deletes = FileScanTaskDeleteFile {
            file_path: "file:///t/data/deletes-1.parquet".into(),
            file_size_in_bytes: 30,
            file_type: DataContentType::EqualityDeletes,
            partition_spec_id: 0,
            equality_ids: Some(vec![1]),
        };
        let mut splits = Vec::new();
        for file in ["a", "b"] {
            let mut split = composite_key_split()?;
            split.task.data_file_path = format!("file:///t/data/{file}.parquet");
            split.task.record_count = Some(5);
            split.task.deletes = vec![deletes.clone()];
            splits.push(split);
        }
        let stats: Vec<SplitStats> = splits.iter().filter_map(|s| s.stats()).collect();
        assert_eq!(stats[0].whole(), SplitStats::of(2, Some(130), Some(5)));
        // the two data files, then the delete file once
        assert_eq!(SplitStats::total(&stats), SplitStats::of(3, Some(230), Some(10)));
        Ok(())
    }

    #[test]
    fn a_split_is_named_by_its_file_not_its_schema() -> Result<()> {
        let named = format!("{:?}", composite_key_split()?);
        assert!(named.contains("file:///t/data/a.parquet"), "{named}");
        assert!(!named.contains("NestedField"), "{named}");
        Ok(())
    }

    #[test]
    fn a_composite_key_split_serializes_to_the_same_bytes_every_time() -> Result<()> {
        // the union reader finds a lake split listed twice by its re-encoding: two decodings
        // of one split must encode alike
        let s = IcebergSplitSerializer;
        let bytes = s.serialize(&composite_key_split()?)?;
        for _ in 0..16 {
            let again = s.serialize(s.deserialize(IcebergSplitSerializer::VERSION, &bytes)?.as_ref())?;
            assert_eq!(String::from_utf8_lossy(&again), String::from_utf8_lossy(&bytes));
        }
        Ok(())
    }
}
