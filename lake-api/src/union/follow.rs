//! Following a table: the exact bounded union read, then every bucket's log tailed from
//! where that read stopped, as a changelog.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::filter::filter_record_batch;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;
use crate::log::ChangeType;
use crate::predicate::selection_mask;

use super::log_reader::read_log;
use super::options::ReadMode;
use super::scan::ScanContext;

/// The column [`UnionScan::follow`](super::UnionScan::follow) adds: `+I`, `-U`, `+U`,
/// `-D` or `+A` per row.
pub const CHANGE_TYPE_COLUMN: &str = "_change_type";

/// The output schema plus the change-type column.
pub(crate) fn changelog_schema(output: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = output.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(CHANGE_TYPE_COLUMN, DataType::Utf8, false)));
    Arc::new(Schema::new_with_metadata(fields, output.metadata().clone()))
}

fn with_changes(
    schema: &SchemaRef,
    batch: RecordBatch,
    changes: impl Iterator<Item = ChangeType>,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter_values(
        changes.map(ChangeType::short_string),
    )));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Refuses a scan that cannot be followed: checked before its bounded read starts.
pub(crate) fn check_followable(ctx: &ScanContext, mode: ReadMode) -> Result<()> {
    if ctx.limit.is_some() {
        return Err(Error::invalid("a followed scan has no end, so it cannot take a limit"));
    }
    if mode == ReadMode::LakeOnly {
        return Err(Error::invalid("a lake-only scan cannot follow the log"));
    }
    // the log of a first-row or versioned table may hold changes its engine ignores;
    // passing them on would make the changelog drift from the table
    if ctx.info.has_primary_key() && ctx.info.merge_engine != crate::table::MergeEngine::Deduplicate {
        return Err(Error::new(
            crate::error::ErrorKind::Unsupported,
            format!(
                "following table {} with merge engine {} is not supported yet (only deduplicate tables and log tables)",
                ctx.info.path, ctx.info.merge_engine
            ),
        ));
    }
    Ok(())
}

/// `bounded` (the union read up to `ends`) as inserts, then the log from `ends` on.
pub(crate) fn follow(
    ctx: &Arc<ScanContext>,
    bounded: RecordBatchStream,
    ends: Vec<(crate::table::TableBucket, i64)>,
) -> Result<RecordBatchStream> {
    let schema = changelog_schema(&ctx.output_schema);
    let snapshot_change = if ctx.info.has_primary_key() {
        ChangeType::Insert
    } else {
        ChangeType::AppendOnly
    };
    let snapshot = {
        let schema = schema.clone();
        bounded.map(move |b| {
            let b = b?;
            let n = b.num_rows();
            with_changes(&schema, b, std::iter::repeat_n(snapshot_change, n))
        })
    };
    let tails = ends.into_iter().map(|(bucket, end)| {
        let ctx = ctx.clone();
        let schema = schema.clone();
        read_log(ctx.log.clone(), bucket, end, None, ctx.info.schema.clone())
            .map(move |lb| {
                let lb = lb?;
                // a log table's tail appends, as its bounded read does
                if !ctx.info.has_primary_key() {
                    super::readers::refuse_changes(&ctx.info.path, &lb)?;
                }
                let data = ctx.log_rows(&lb.batch)?;
                // filters apply to each change on its own, as on any changelog stream
                let (data, changes) = match selection_mask(&data, &ctx.filters)? {
                    None => (data, lb.change_types),
                    Some(mask) => {
                        let changes = lb
                            .change_types
                            .iter()
                            .zip(mask.values().iter())
                            .filter_map(|(c, keep)| keep.then_some(*c))
                            .collect();
                        (filter_record_batch(&data, &mask)?, changes)
                    }
                };
                let out = data.project(&ctx.output_projection)?;
                with_changes(&schema, out, changes.into_iter())
            })
            .boxed()
    });
    let tail = futures::stream::select_all(tails);
    let out = snapshot
        .chain(tail)
        .try_filter(|b| futures::future::ready(b.num_rows() > 0));
    Ok(RecordBatchStream::new(schema, out))
}
