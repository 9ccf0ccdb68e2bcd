//! The query a user writes without a union reader: lake rows and log changes in one
//! relation, ranked per key by offset, keeping each key's last change unless it removes
//! the row.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use lake_api::ChangeType;

/// The deduplication query over tables `lake` and `log`.
pub const DEDUP_SQL: &str = "SELECT k, v1, v2, v3, s FROM ( \
     SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY off DESC) AS rn FROM ( \
       SELECT k, v1, v2, v3, s, CAST(-1 AS BIGINT) AS off, '+I' AS op FROM lake \
       UNION ALL SELECT k, v1, v2, v3, s, off, op FROM log)) \
   WHERE rn = 1 AND op <> '-D' AND op <> '-U'";

/// A session with `threads` partitions holding the lake batches and the log batches
/// (with their offsets and change types).
pub fn session(
    threads: usize,
    lake: Vec<RecordBatch>,
    log: &[(RecordBatch, Vec<ChangeType>)],
) -> Result<SessionContext, Box<dyn std::error::Error>> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(threads));
    let lake_schema = lake.first().map(|b| b.schema()).ok_or("the lake has no batches")?;
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); threads.max(1)];
    for (i, b) in lake.into_iter().enumerate() {
        partitions[i % threads.max(1)].push(b);
    }
    ctx.register_table("lake", Arc::new(MemTable::try_new(lake_schema.clone(), partitions)?))?;
    let mut fields = lake_schema.fields().to_vec();
    fields.push(Arc::new(Field::new("off", DataType::Int64, false)));
    fields.push(Arc::new(Field::new("op", DataType::Utf8, false)));
    let log_schema = Arc::new(Schema::new(fields));
    let mut offset = 0i64;
    let mut log_batches = Vec::new();
    for (batch, kinds) in log {
        let n = batch.num_rows() as i64;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(Int64Array::from_iter_values(offset..offset + n)));
        columns.push(Arc::new(StringArray::from_iter_values(
            kinds.iter().map(|k| k.short_string()),
        )));
        offset += n;
        log_batches.push(RecordBatch::try_new(log_schema.clone(), columns)?);
    }
    ctx.register_table("log", Arc::new(MemTable::try_new(log_schema, vec![log_batches])?))?;
    Ok(ctx)
}

/// Runs the deduplication and counts its rows.
pub async fn run(ctx: &SessionContext) -> Result<usize, Box<dyn std::error::Error>> {
    let mut stream = ctx.sql(DEDUP_SQL).await?.execute_stream().await?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        rows += batch?.num_rows();
    }
    Ok(rows)
}
