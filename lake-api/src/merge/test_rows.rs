//! Rows for the merge strategies' unit tests: a table `(k BIGINT, v STRING)` whose values
//! say where each row came from (`lake10`, `log10`), log summaries, and the merge inputs.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Int8Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::fold::{DELETE, FoldRule, UPSERT};
use super::keys::KeyEncoder;
use super::log_index::LogMerge;
use super::log_summary::summary_schema;
use super::spill::SpillDir;
use crate::error::Result;

/// `(k BIGINT NOT NULL, v STRING)`, keyed by `k`.
pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]))
}

/// Rows of `keys` in that order, `v` = `<tag><key>`.
pub(crate) fn rows(keys: &[i64], tag: &str) -> Result<RecordBatch> {
    let values: Vec<String> = keys.iter().map(|k| format!("{tag}{k}")).collect();
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(keys.to_vec())),
            Arc::new(StringArray::from(values)),
        ],
    )?)
}

/// A log summary batch: `(key, upsert?)` rows tagged `log`, with the change column.
pub(crate) fn summary(rows_: &[(i64, bool)]) -> Result<RecordBatch> {
    let keys: Vec<i64> = rows_.iter().map(|r| r.0).collect();
    let data = rows(&keys, "log")?;
    let mut columns = data.columns().to_vec();
    columns.push(Arc::new(Int8Array::from_iter_values(
        rows_.iter().map(|r| if r.1 { UPSERT } else { DELETE }),
    )));
    Ok(RecordBatch::try_new(summary_schema(&schema()), columns)?)
}

/// The merge of [`schema`]'s rows by `rule`, spilling under `spill_root`.
pub(crate) fn log_merge(rule: FoldRule, budget: usize, spill_root: &Path) -> Result<LogMerge> {
    Ok(LogMerge {
        schema: schema(),
        keys: KeyEncoder::new(&schema(), &["k".to_string()])?,
        versions: None,
        rule,
        budget,
        spill: SpillDir::new(Some(spill_root.to_path_buf())),
        batch_size: 8192,
    })
}

/// The `v` of every row, in order.
pub(crate) fn values(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let v = b.column(1).as_string::<i32>();
        out.extend((0..b.num_rows()).map(|i| v.value(i).to_string()));
    }
    out
}
