//! Applying log changes to lake rows in one go: what a lake writer of a primary-key table
//! does when it tiers, built from the same sort and fold as the union read.

use futures::{StreamExt, TryStreamExt};

use arrow_array::RecordBatch;

use super::fold::{FoldOutput, FoldRule, GroupFold};
use super::keys::KeyEncoder;
use super::kway::{KWayMerge, KeyedBatch, KeyedStream};
use super::sort::ExternalSorter;
use super::spill::SpillDir;
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;
use crate::log::LogBatch;
use crate::table::{MergeEngine, TableInfo};
use crate::union::{change_batch, change_schema};

/// The rows of `lake` (any order, full table schema, one row per key) after applying the
/// changes of `log` (offset order) by the table's merge engine, in key order.
pub(crate) async fn apply_changes(
    info: &TableInfo,
    lake: Vec<RecordBatch>,
    log: Vec<LogBatch>,
) -> Result<Vec<RecordBatch>> {
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
    for b in lake {
        lake_sorter.push(b)?;
    }
    let changes = change_schema(&schema);
    let mut sort_names = info.primary_key.clone();
    sort_names.push(changes.field(schema.fields().len()).name().clone());
    let mut log_sorter = ExternalSorter::new(
        changes.clone(),
        KeyEncoder::new(&changes, &sort_names)?,
        usize::MAX,
        batch_size,
        spill,
    );
    let all: Vec<usize> = (0..schema.fields().len()).collect();
    for b in &log {
        b.validate()?;
        log_sorter.push(change_batch(b, &all, &changes)?)?;
    }

    let keyed = |stream: RecordBatchStream, with_changes: bool| -> KeyedStream {
        let (keys, versions, schema) = (keys.clone(), versions.clone(), schema.clone());
        let n = schema.fields().len();
        Box::pin(stream.map(move |b| {
            let b = b?;
            let changes = if with_changes {
                Some(
                    b.column(n + 1)
                        .as_any()
                        .downcast_ref::<arrow_array::Int8Array>()
                        .cloned()
                        .ok_or_else(|| Error::schema("change column missing"))?,
                )
            } else {
                None
            };
            let batch = RecordBatch::try_new(schema.clone(), b.columns()[..n].to_vec())?;
            Ok(KeyedBatch {
                keys: keys.encode(&batch)?,
                versions: versions.as_ref().map(|v| v.encode(&batch)).transpose()?,
                changes,
                batch,
            })
        }))
    };
    let inputs = vec![keyed(lake_sorter.finish()?, false), keyed(log_sorter.finish()?, true)];
    let fold = GroupFold::new(
        KWayMerge::new(inputs, schema.clone(), false),
        FoldRule::new(&info.merge_engine, version_column),
        FoldOutput::Rows,
        batch_size,
    );
    fold.try_collect().await
}
