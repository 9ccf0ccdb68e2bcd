//! What `fluss-rs` reports, in lakeunion's terms: its table info as a
//! [`lake_api::TableInfo`] (Arrow 58 schema), its errors as ours.

use std::collections::BTreeMap;

use arrow_array_59 as a59;
use fluss::error::{Error as ClientError, FlussError as Code};
use fluss::metadata::TableInfo as FlussTableInfo;
use lake_api::{MergeEngine, TableInfo, TablePath};

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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use fluss::metadata::{DataTypes, Schema, TablePath as FlussPath};

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
}
