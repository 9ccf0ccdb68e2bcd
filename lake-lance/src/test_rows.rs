//! Rows of the small `(k BIGINT NOT NULL, v STRING)` table the crate's tests tier.

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use lake_api::{Error, ErrorKind, Result};

/// The table's schema.
pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]))
}

/// The rows of `keys`, each valued `v<key>`.
pub(crate) fn rows(keys: std::ops::Range<i64>) -> Result<RecordBatch> {
    let values: Vec<String> = keys.clone().map(|k| format!("v{k}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(keys)),
            Arc::new(StringArray::from(values)),
        ],
    )
    .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
}
