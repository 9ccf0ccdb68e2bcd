//! Hooks for the benchmark harness: the k-way merge kernel on its own, without the
//! scan around it. Not a stable API.

use std::task::{Context, Poll, Waker};

use arrow_array::RecordBatch;

use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;
use crate::merge::keys::KeyEncoder;
use crate::merge::kway::{KWayMerge, KeyedBatch, KeyedStream, keyed_stream};

/// Sorted runs with their keys encoded, ready for [`run_kway_kernel`].
pub struct KernelInput {
    inputs: Vec<KeyedStream>,
    schema: arrow_schema::SchemaRef,
}

/// Encodes the `keys` columns of every batch of every sorted run (outside the timing).
pub fn prepare_kway_kernel(runs: Vec<Vec<RecordBatch>>, keys: &[String]) -> Result<KernelInput> {
    let schema = runs
        .iter()
        .flatten()
        .next()
        .map(|b| b.schema())
        .ok_or_else(|| Error::invalid("no batches to merge"))?;
    let encoder = KeyEncoder::new(&schema, keys)?;
    let mut inputs = Vec::with_capacity(runs.len());
    for run in runs {
        // encode now, so that the kernel run measures merging alone
        let encoded: Vec<_> = run
            .into_iter()
            .map(|b| KeyedBatch::new(b, &encoder, None, None))
            .collect::<Result<_>>()?;
        inputs.push(Box::pin(futures::stream::iter(encoded.into_iter().map(Ok))) as KeyedStream);
    }
    Ok(KernelInput { inputs, schema })
}

/// Runs the loser-tree merge over the prepared runs and returns the number of rows it
/// ordered (picks are made, no output batch is built). Every input is in memory, so the
/// merge never waits.
pub fn run_kway_kernel(input: KernelInput) -> Result<usize> {
    let mut merge = KWayMerge::new(input.inputs, input.schema, false);
    let mut cx = Context::from_waker(Waker::noop());
    let mut rows = 0usize;
    loop {
        match merge.poll_next_winner(&mut cx) {
            Poll::Ready(Ok(Some(_))) => rows += 1,
            Poll::Ready(Ok(None)) => return Ok(rows),
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Err(Error::invalid("an in-memory merge input was not ready")),
        }
    }
}

/// Merges key-sorted streams into one key-sorted stream (what spilled runs go through).
pub fn merge_sorted(
    schema: arrow_schema::SchemaRef,
    keys: &[String],
    inputs: Vec<RecordBatchStream>,
    batch_size: usize,
) -> Result<RecordBatchStream> {
    let encoder = KeyEncoder::new(&schema, keys)?;
    let inputs = inputs
        .into_iter()
        .map(|s| keyed_stream(s, schema.clone(), encoder.clone(), None, None))
        .collect();
    let stream = crate::merge::sort::MergeStream::new(KWayMerge::new(inputs, schema.clone(), false), batch_size);
    Ok(RecordBatchStream::new(schema, stream))
}
