//! Reading one bucket's log range `[start, stop)`: every batch is checked (schema, change
//! types, offsets that only move forward without gaps) and trimmed to the range.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int8Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::log::{LogBatch, LogBatchStream, LogSource};
use crate::merge::keys::KeyEncoder;
use crate::merge::sort::ExternalSorter;
use crate::merge::spill::SpillDir;
use crate::table::TableBucket;

use super::split::LogRange;

/// The offset column the engine adds to log rows it sorts.
pub(crate) const OFFSET_COLUMN: &str = "__lakeunion_offset";
/// The change-type column the engine adds to log rows it sorts.
pub(crate) const CHANGE_COLUMN: &str = "__lakeunion_change";

struct RangeState {
    log: Arc<dyn LogSource>,
    bucket: TableBucket,
    start: i64,
    /// `None` tails the log forever.
    stop: Option<i64>,
    table_schema: SchemaRef,
    stream: Option<LogBatchStream>,
    /// The next offset a batch must start at (`None` before the first batch).
    expected: Option<i64>,
    /// The offset the rows returned so far reach.
    reached: i64,
    done: bool,
}

/// The batches of `range`, validated against `table_schema` and trimmed to the range.
pub(crate) fn read_range(
    log: Arc<dyn LogSource>,
    range: LogRange,
    table_schema: SchemaRef,
) -> impl Stream<Item = Result<LogBatch>> + Send {
    read_log(log, range.bucket, range.start, Some(range.stop), table_schema)
}

/// The batches of a bucket from `start`, up to `stop` or forever, validated against
/// `table_schema` (schema, change types, offsets that only move forward without gaps) and
/// trimmed to the range. A bounded read that ends before `stop` is an error.
pub(crate) fn read_log(
    log: Arc<dyn LogSource>,
    bucket: TableBucket,
    start: i64,
    stop: Option<i64>,
    table_schema: SchemaRef,
) -> impl Stream<Item = Result<LogBatch>> + Send {
    let state = RangeState {
        reached: start,
        log,
        bucket,
        start,
        stop,
        table_schema,
        stream: None,
        expected: None,
        done: false,
    };
    futures::stream::try_unfold(state, |mut st| async move {
        // an empty bounded range reads nothing, not even the bucket's existence
        if st.done || st.stop.is_some_and(|stop| stop <= st.start) {
            return Ok(None);
        }
        let bucket = st.bucket.clone();
        if st.stream.is_none() {
            let s = st
                .log
                .read(&bucket, st.start, st.stop)
                .await
                .map_err(|e| e.context(format!("reading the log of {bucket} from offset {}", st.start)))?;
            st.stream = Some(s);
        }
        let stop = st.stop.unwrap_or(i64::MAX);
        loop {
            let next = match st.stream.as_mut() {
                Some(s) => s.next().await,
                None => None,
            };
            let batch = match next {
                None if st.stop.is_none() => return Ok(None),
                None => {
                    return Err(Error::offsets(format!(
                        "the log of {bucket} ended at offset {} before the requested stop {stop}",
                        st.reached
                    )));
                }
                Some(Err(e)) => return Err(e.context(format!("log of {bucket} near offset {}", st.reached))),
                Some(Ok(b)) => b,
            };
            check_batch(&batch, &st.table_schema, &bucket)?;
            match st.expected {
                Some(expected) if batch.base_offset < expected => {
                    return Err(Error::offsets(format!(
                        "log offsets of {bucket} go backwards: a batch at offset {} follows one ending at {expected}",
                        batch.base_offset
                    )));
                }
                Some(expected) if batch.base_offset > expected => {
                    return Err(Error::offsets(format!(
                        "log of {bucket} has a gap: offsets [{expected}, {}) are missing",
                        batch.base_offset
                    )));
                }
                None if batch.base_offset > st.start => {
                    return Err(Error::offsets(format!(
                        "log of {bucket} starts at offset {}, after the requested start {}",
                        batch.base_offset, st.start
                    )));
                }
                _ => {}
            }
            st.expected = Some(batch.next_offset);
            if batch.next_offset <= st.start {
                continue;
            }
            let trimmed = batch.slice_offsets(st.start, stop);
            st.reached = trimmed.next_offset.max(st.reached);
            if batch.next_offset >= stop {
                st.done = true;
            }
            if trimmed.num_rows() == 0 {
                if st.done {
                    return Ok(None);
                }
                continue;
            }
            return Ok(Some((trimmed, st)));
        }
    })
}

fn check_batch(batch: &LogBatch, schema: &SchemaRef, bucket: &TableBucket) -> Result<()> {
    batch.validate().map_err(|e| e.context(format!("log of {bucket}")))?;
    let have = batch.batch.schema_ref();
    let same = have.fields().len() == schema.fields().len()
        && have
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.data_type() == b.data_type());
    if !same {
        let show = |s: &Schema| {
            s.fields()
                .iter()
                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Error::schema(format!(
            "log batch at offset {} of {bucket} has columns ({}) but the table has ({})",
            batch.base_offset,
            show(have),
            show(schema)
        )));
    }
    Ok(())
}

/// The schema of log rows prepared for sorting: the read columns, then offset and change.
pub(crate) fn with_change_columns(read: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = read.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(OFFSET_COLUMN, DataType::Int64, false)));
    fields.push(Arc::new(Field::new(CHANGE_COLUMN, DataType::Int8, false)));
    Arc::new(Schema::new(fields))
}

/// A sorter that orders log changes (batches of [`with_change_columns`]) by primary key.
/// The sort is stable, so per key the changes come out in the order they were pushed:
/// callers push in offset order (a bucket's log is read forward), which keeps the offset
/// out of the sort key and every comparison on the key's prefix alone.
pub(crate) fn change_sorter(
    read_schema: &SchemaRef,
    primary_key: &[String],
    budget: usize,
    batch_size: usize,
    spill: Arc<SpillDir>,
) -> Result<(ExternalSorter, SchemaRef)> {
    let schema = with_change_columns(read_schema);
    let keys = KeyEncoder::new(&schema, primary_key)?;
    Ok((
        ExternalSorter::new(schema.clone(), keys, budget, batch_size, spill),
        schema,
    ))
}

/// Projects a log batch to the read columns and appends its offsets and change types.
pub(crate) fn to_change_batch(batch: &LogBatch, read_columns: &[usize], schema: &SchemaRef) -> Result<RecordBatch> {
    change_batch_of(batch.batch.project(read_columns)?, batch, schema)
}

/// `data` (the rows of `batch`, already projected and converted) with `batch`'s offsets
/// and change types appended.
pub(crate) fn change_batch_of(data: RecordBatch, batch: &LogBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let n = data.num_rows() as i64;
    let mut columns: Vec<ArrayRef> = data.columns().to_vec();
    columns.push(Arc::new(Int64Array::from_iter_values(
        batch.base_offset..batch.base_offset + n,
    )));
    columns.push(Arc::new(Int8Array::from_iter_values(
        batch.change_types.iter().map(|c| *c as i8),
    )));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}
