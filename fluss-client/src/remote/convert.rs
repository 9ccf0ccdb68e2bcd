//! What `fluss-rs` reports, in lakeunion's terms: its table info as a
//! [`lake_api::TableInfo`] (Arrow 58 schema), its errors as ours.

use std::collections::{BTreeMap, HashMap};

use arrow_array_59 as a59;
use fluss::error::{Error as ClientError, FlussError as Code};
use fluss::metadata::{LakeSnapshotInfo, TableInfo as FlussTableInfo};
use lake_api::{MergeEngine, TableBucket, TableInfo, TablePath};

use crate::arrow_bridge::batch_from_arrow59;
use crate::error::{Error, ErrorKind, Result};

/// Fluss's table option naming the merge engine of a primary-key table.
pub const MERGE_ENGINE_OPTION: &str = "table.merge-engine";
/// Fluss's table option naming the version column of a `versioned` table.
pub const VERSION_COLUMN_OPTION: &str = "table.merge-engine.versioned.ver-column";

/// The table as lakeunion describes it: the row schema crosses into Arrow 58 (through an
/// empty batch, so it takes the one audited path of [`crate::arrow_bridge`]).
pub(crate) fn table_info(info: &FlussTableInfo) -> Result<TableInfo> {
    let path = TablePath::new(info.table_path.database(), info.table_path.table());
    let schema59 = fluss::record::to_arrow_schema(&info.row_type).map_err(|e| remote(e, format!("table {path}")))?;
    let schema = batch_from_arrow59(&a59::RecordBatch::new_empty(schema59))?.schema();
    let bucket_count = u32::try_from(info.num_buckets)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::corrupt(format!("table {path} reports {} buckets", info.num_buckets)))?;
    let property = |key: &str| info.properties.get(key).map(String::as_str);
    let merge_engine = if info.primary_keys.is_empty() {
        MergeEngine::Deduplicate
    } else {
        MergeEngine::from_option(property(MERGE_ENGINE_OPTION), property(VERSION_COLUMN_OPTION), &path)?
    };
    let bucket_key = if info.bucket_keys.is_empty() {
        info.physical_primary_keys.clone()
    } else {
        info.bucket_keys.clone()
    };
    let table = TableInfo {
        path,
        schema,
        primary_key: info.primary_keys.clone(),
        bucket_count,
        bucket_key,
        partition_keys: info.partition_keys.to_vec(),
        merge_engine,
        properties: info
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    };
    // what the cluster reports sizes per-bucket lists here (the offsets of every bucket)
    table
        .validate()
        .map_err(|e| Error::corrupt(format!("the cluster describes table {}: {}", table.path, e.message())))?;
    Ok(table)
}

/// A `fluss-rs` error as ours, with what we were doing. A missing table or partition is
/// [`ErrorKind::NotFound`]; everything else the cluster or the connection reports is
/// [`ErrorKind::Remote`].
pub(crate) fn remote(e: ClientError, doing: impl Into<String>) -> Error {
    let kind = match e.api_error() {
        Some(Code::TableNotExist | Code::PartitionNotExists | Code::DatabaseNotExist) => ErrorKind::NotFound,
        Some(Code::LogOffsetOutOfRangeException) => ErrorKind::Offsets,
        _ => ErrorKind::Remote,
    };
    Error::new(kind, doing).with_source(e)
}

/// Whether a poll failed because the offset asked for is not in the log (aged out of
/// retention, or past the end). `fluss-rs` reports this as an unexpected error whose
/// message says "is out of range", not as the API error code.
pub(crate) fn is_out_of_range(e: &ClientError) -> bool {
    match e {
        ClientError::UnexpectedError { message, .. } => message.contains("is out of range"),
        other => matches!(other.api_error(), Some(Code::LogOffsetOutOfRangeException)),
    }
}

/// A bucket id off the wire.
pub(crate) fn bucket_id(b: i32) -> Result<u32> {
    u32::try_from(b).map_err(|_| Error::corrupt(format!("the cluster reports bucket {b}")))
}

/// The offsets a coordinator's record of a lake snapshot names, as lake-api buckets of
/// `table`, whose partitions (by id) are `partitions`. A record of a partition dropped
/// since (expired: its log is gone too) is left out. One that names no partition of a
/// partitioned table (or a partition of one that is not), names a bucket twice at two
/// offsets, or names a bucket past the count disagrees with the table
/// ([`ErrorKind::Offsets`]): taken as it came, a bucket would read its log from the start,
/// over rows the lake holds. A negative offset or bucket id is damage
/// ([`ErrorKind::Corrupt`]).
pub(crate) fn snapshot_offsets(
    info: &LakeSnapshotInfo,
    partitions: &HashMap<i64, Vec<String>>,
    table: &TableInfo,
) -> Result<BTreeMap<TableBucket, i64>> {
    let refuse = |kind: ErrorKind, what: String| {
        Error::new(
            kind,
            format!(
                "the coordinator's lake snapshot {} of table {} {what}",
                info.snapshot_id, table.path
            ),
        )
    };
    let partitioned = !table.partition_keys.is_empty();
    let mut offsets = BTreeMap::new();
    for b in &info.bucket_snapshots {
        if b.partition_id.is_some() != partitioned {
            return Err(refuse(
                ErrorKind::Offsets,
                format!(
                    "records bucket {} {}, but the table is {}partitioned",
                    b.bucket_id,
                    b.partition_id
                        .map_or("of no partition".to_string(), |p| format!("of partition id {p}")),
                    if partitioned { "" } else { "not " }
                ),
            ));
        }
        // -1: none recorded, as in the offsets JSON
        let Some(offset) = b.log_offset.filter(|&o| o != -1) else {
            continue;
        };
        if offset < 0 {
            return Err(refuse(
                ErrorKind::Corrupt,
                format!("records offset {offset} for bucket {}", b.bucket_id),
            ));
        }
        let partition = match b.partition_id {
            None => Vec::new(),
            Some(id) => match partitions.get(&id) {
                Some(values) => values.clone(),
                None => continue,
            },
        };
        let bucket = bucket_id(b.bucket_id)?;
        if bucket >= table.bucket_count {
            return Err(refuse(
                ErrorKind::Offsets,
                format!("names bucket {bucket} but the table has {} buckets", table.bucket_count),
            ));
        }
        let at = TableBucket { partition, bucket };
        if let Some(earlier) = offsets.insert(at.clone(), offset)
            && earlier != offset
        {
            return Err(refuse(
                ErrorKind::Offsets,
                format!("records bucket {at} twice, at {earlier} and {offset}"),
            ));
        }
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{DataType, Field, Schema as ArrowSchema};
    use fluss::metadata::{DataTypes, LakeBucketSnapshot, Schema, TablePath as FlussPath};

    use super::*;

    fn described(num_buckets: i32) -> Result<FlussTableInfo> {
        let schema = Schema::builder()
            .column("id", DataTypes::int())
            .column("name", DataTypes::string())
            .build()
            .map_err(|e| remote(e, "schema"))?;
        Ok(FlussTableInfo::new(
            FlussPath::new("db", "t"),
            7,
            1,
            schema,
            Vec::new(),
            Arc::from(Vec::<String>::new()),
            num_buckets,
            HashMap::new(),
            HashMap::new(),
            None,
            0,
            0,
        ))
    }

    #[test]
    fn a_cluster_reporting_an_absurd_bucket_count_is_refused() -> Result<()> {
        assert_eq!(table_info(&described(3)?)?.bucket_count, 3);
        for buckets in [0, -1, i32::MAX] {
            let e = table_info(&described(buckets)?)
                .err()
                .ok_or_else(|| Error::corrupt("accepted"))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{buckets}: {e}");
        }
        Ok(())
    }

    /// A coordinator's record of snapshot 5 of table 7: `(partition id, bucket, offset)`.
    fn record(buckets: &[(Option<i64>, i32, i64)]) -> LakeSnapshotInfo {
        LakeSnapshotInfo {
            table_id: 7,
            snapshot_id: 5,
            bucket_snapshots: buckets
                .iter()
                .map(|&(partition_id, bucket_id, offset)| LakeBucketSnapshot {
                    partition_id,
                    bucket_id,
                    log_offset: Some(offset),
                    partition_name: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_coordinator_record_unlike_its_table_is_refused() -> Result<()> {
        // regression: a record naming a partition of an unpartitioned table was left out
        // (its bucket then read the log from the start, over rows the lake holds), one
        // naming no partition of a partitioned table became a bucket the table lacks, and
        // a bucket recorded twice took the last offset
        let schema = Arc::new(ArrowSchema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("p", DataType::Utf8, false),
        ]));
        let plain = TableInfo::log_table(TablePath::new("db", "t"), schema, 2);
        let parted = plain.clone().with_partition_keys(vec!["p".into()]);
        let partitions: HashMap<i64, Vec<String>> = [(3, vec!["eu".to_string()])].into_iter().collect();

        let ok = snapshot_offsets(&record(&[(None, 0, 4), (None, 1, -1)]), &partitions, &plain)?;
        assert_eq!(ok, [(TableBucket::new(0), 4)].into_iter().collect());
        // a partition dropped since (id 9) is left out
        let ok = snapshot_offsets(&record(&[(Some(3), 1, 6), (Some(9), 0, 2)]), &partitions, &parted)?;
        assert_eq!(
            ok,
            [(TableBucket::partitioned(vec!["eu".into()], 1), 6)]
                .into_iter()
                .collect()
        );
        // the same offset twice is harmless
        snapshot_offsets(&record(&[(None, 0, 4), (None, 0, 4)]), &partitions, &plain)?;

        for (buckets, table, says) in [
            (
                &[(Some(3), 0, 4)][..],
                &plain,
                "of partition id 3, but the table is not partitioned",
            ),
            (
                &[(None, 0, 4)][..],
                &parted,
                "of no partition, but the table is partitioned",
            ),
            (&[(None, 0, 4), (None, 0, 6)][..], &plain, "twice, at 4 and 6"),
            (
                &[(None, 2, 4)][..],
                &plain,
                "names bucket 2 but the table has 2 buckets",
            ),
        ] {
            let e = snapshot_offsets(&record(buckets), &partitions, table)
                .err()
                .ok_or_else(|| Error::corrupt(format!("{buckets:?} accepted")))?;
            assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
            assert!(e.to_string().contains(says), "{e}");
            assert!(e.to_string().contains("lake snapshot 5 of table db.t"), "{e}");
        }
        Ok(())
    }
}
