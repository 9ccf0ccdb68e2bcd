//! Applying log changes to lake rows in one go: what a lake writer of a primary-key table
//! does when it tiers, built from the same sort and fold as the union read.

use futures::TryStreamExt;

use arrow_array::RecordBatch;

use super::fold::{FoldOutput, FoldRule, GroupFold};
use super::keys::{KeyEncoder, conform};
use super::kway::keyed_stream;
use super::sort::ExternalSorter;
use super::spill::SpillDir;
use crate::error::Result;
use crate::log::LogBatch;
use crate::table::{MergeEngine, TableInfo};
use crate::union::{change_batch, change_sorter};

/// The rows of `lake` (any order, full table schema, one row per key) after applying the
/// changes of `log` (offset order) by the table's merge engine, in key order.
///
/// Lake writers of primary-key tables use it to turn a bucket's tiered changes into the
/// rows its new snapshot holds; it sorts with the engine's spilling sorter.
pub async fn apply_changes(info: &TableInfo, lake: Vec<RecordBatch>, log: Vec<LogBatch>) -> Result<Vec<RecordBatch>> {
    let schema = info.schema.clone();
    let keys = KeyEncoder::new(&schema, &info.primary_key)?;
    let (versions, version_column) = match &info.merge_engine {
        MergeEngine::Versioned { column } => (
            Some(KeyEncoder::new(&schema, std::slice::from_ref(column))?),
            Some(info.column_index(column)?),
        ),
        _ => (None, None),
    };
    let spill = SpillDir::new(None);
    let batch_size = 8192;

    let mut lake_sorter = ExternalSorter::new(schema.clone(), keys.clone(), usize::MAX, batch_size, spill.clone());
    for (i, b) in lake.into_iter().enumerate() {
        // rows read back from a snapshot's files: a column missing there must be an error
        // here, before the sorter indexes the key columns by position
        lake_sorter.push(conform(b, &schema, &|| format!("lake batch {i} of {}", info.path))?)?;
    }
    let (mut log_sorter, changes) = change_sorter(&schema, &info.primary_key, usize::MAX, batch_size, spill)?;
    let all: Vec<usize> = (0..schema.fields().len()).collect();
    // the change sorter keeps arrival order per key: arrive in offset order
    let mut log = log;
    log.sort_by_key(|b| b.base_offset);
    for b in &log {
        b.validate()?;
        log_sorter.push(change_batch(b, &all, &changes)?)?;
    }
    let inputs = vec![
        keyed_stream(
            lake_sorter.finish()?,
            schema.clone(),
            keys.clone(),
            versions.clone(),
            None,
        ),
        keyed_stream(
            log_sorter.finish()?,
            schema.clone(),
            keys,
            versions,
            Some(schema.fields().len() + 1),
        ),
    ];
    let fold = GroupFold::new(
        inputs,
        schema.clone(),
        FoldRule::new(&info.merge_engine, version_column),
        FoldOutput::Rows,
        batch_size,
    );
    fold.try_collect().await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::error::ErrorKind;
    use crate::table::TablePath;

    #[tokio::test]
    async fn a_lake_batch_missing_a_column_is_a_schema_error() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("id", DataType::Int64, false),
        ]));
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema, vec!["id".into()], 1);
        // only the first column: the key, at position 1, is not there
        let short = RecordBatch::try_from_iter([("name", Arc::new(StringArray::from(vec!["a"])) as _)])?;
        let e = apply_changes(&info, vec![short], vec![])
            .await
            .err()
            .ok_or_else(|| crate::Error::invalid("applied"))?;
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
        assert!(
            e.message().contains("lake batch 0 of db.t: column 'id' is missing"),
            "{e}"
        );
        // columns in another order are read by name
        let swapped = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(vec![2, 1])) as _),
            ("name", Arc::new(StringArray::from(vec!["b", "a"])) as _),
        ])?;
        let rows = apply_changes(&info, vec![swapped], vec![]).await?;
        let ids = rows[0]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.values().to_vec());
        assert_eq!(ids, Some(vec![1, 2]));
        Ok(())
    }
}
