//! Lake splits that are parts of one key-sorted run ([`RunPosition`]) chained into one
//! sorted stream, so that a merge takes the run as one input: the sparse merge when it is
//! the only one, one k-way input otherwise.
//!
//! The order across parts is the lake's promise, not something the read can afford to
//! verify row by row; it is checked where the parts meet (the first key of a part must be
//! above the last key before it: a primary-key run holds each key once), so a run whose
//! parts overlap or come in the wrong order fails with
//! [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) instead of yielding misplaced rows.
//! Only the sort-merge chains runs: the key filter takes its inputs in any order.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use arrow_row::OwnedRow;
use arrow_schema::SchemaRef;
use futures::StreamExt;

use super::keys::KeyEncoder;
use crate::error::{Error, Result};
use crate::lake::{RecordBatchStream, RunPosition};

/// An opened lake split of a merge: its stream, whether it is key-sorted, and its place in
/// a sorted run.
pub(crate) struct OpenedSplit {
    pub stream: RecordBatchStream,
    pub sorted: bool,
    pub run: Option<RunPosition>,
}

/// The merge's lake inputs as `(stream, key-sorted)`: each run's sorted parts chained in
/// `index` order into one sorted stream, every other split as it is. Two parts that claim
/// the same place in a run are [`Corrupt`](crate::ErrorKind::Corrupt).
pub(crate) fn chain_runs(
    schema: &SchemaRef,
    keys: &KeyEncoder,
    opened: Vec<OpenedSplit>,
) -> Result<Vec<(RecordBatchStream, bool)>> {
    let mut inputs = Vec::with_capacity(opened.len());
    let mut runs: BTreeMap<u64, BTreeMap<u32, RecordBatchStream>> = BTreeMap::new();
    for split in opened {
        match split.run.filter(|_| split.sorted) {
            Some(RunPosition { run, index }) => {
                if runs.entry(run).or_default().insert(index, split.stream).is_some() {
                    return Err(Error::corrupt(format!(
                        "two lake splits claim place {index} of sorted run {run}"
                    )));
                }
            }
            None => inputs.push((split.stream, split.sorted)),
        }
    }
    for (run, parts) in runs {
        let mut parts: Vec<(u32, RecordBatchStream)> = parts.into_iter().collect();
        let stream = if parts.len() == 1 {
            parts.remove(0).1
        } else {
            chained(schema.clone(), keys.clone(), run, parts)
        };
        inputs.push((stream, true));
    }
    Ok(inputs)
}

/// Run `run`'s parts (by place) read one after the other, the key order checked where they
/// meet.
fn chained(schema: SchemaRef, keys: KeyEncoder, run: u64, parts: Vec<(u32, RecordBatchStream)>) -> RecordBatchStream {
    let tagged =
        futures::stream::iter(parts).flat_map(|(part, stream)| stream.map(move |batch| batch.map(|b| (part, b))));
    // the last key read, and the place of the part it came from
    let checked = tagged.scan(None::<(u32, OwnedRow)>, move |last, item| {
        let checked = item.and_then(|(part, batch)| check_boundary(&keys, run, last, part, batch));
        futures::future::ready(Some(checked))
    });
    RecordBatchStream::new(schema, checked)
}

fn check_boundary(
    keys: &KeyEncoder,
    run: u64,
    last: &mut Option<(u32, OwnedRow)>,
    part: u32,
    batch: RecordBatch,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    if n == 0 {
        return Ok(batch);
    }
    if let Some((previous_part, previous_key)) = last.as_ref()
        && *previous_part != part
    {
        let first = keys.encode(&batch.slice(0, 1))?;
        if first.row(0) <= previous_key.row() {
            return Err(Error::corrupt(format!(
                "sorted run {run} of the lake is not in strict key order: its part {part} starts at or below the last key of part {previous_part}"
            )));
        }
    }
    let tail = keys.encode(&batch.slice(n - 1, 1))?;
    *last = Some((part, tail.row(0).owned()));
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::Int64Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_schema::{DataType, Field, Schema};
    use futures::TryStreamExt;

    use super::*;
    use crate::ErrorKind;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]))
    }

    fn part(batches: &[&[i64]], run: Option<RunPosition>, sorted: bool) -> Result<OpenedSplit> {
        let batches = batches
            .iter()
            .map(|keys| RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(keys.to_vec()))]))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(OpenedSplit {
            stream: RecordBatchStream::from_batches(schema(), batches),
            sorted,
            run,
        })
    }

    fn at(run: u64, index: u32) -> Option<RunPosition> {
        Some(RunPosition { run, index })
    }

    async fn keys_of(stream: RecordBatchStream) -> Result<Vec<i64>> {
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        Ok(batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect())
    }

    #[tokio::test]
    async fn parts_of_a_run_are_read_in_index_order_as_one_sorted_input() -> Result<()> {
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let opened = vec![
            part(&[&[7, 8]], at(1, 5), true)?,
            part(&[&[100]], None, false)?,
            part(&[&[1, 2], &[], &[3]], at(1, 0), true)?,
            part(&[&[4, 6]], at(1, 2), true)?,
            part(&[&[50]], at(9, 0), true)?,
            // a part that is not sorted is no part of the run
            part(&[&[0]], at(1, 3), false)?,
        ];
        let inputs = chain_runs(&schema(), &keys, opened)?;
        let mut got = Vec::new();
        for (stream, sorted) in inputs {
            got.push((keys_of(stream).await?, sorted));
        }
        assert_eq!(
            got,
            vec![
                (vec![100], false),
                (vec![0], false),
                (vec![1, 2, 3, 4, 6, 7, 8], true),
                (vec![50], true),
            ]
        );
        Ok(())
    }

    #[tokio::test]
    async fn parts_out_of_key_order_or_in_one_place_fail() -> Result<()> {
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let opened = vec![part(&[&[5, 6]], at(1, 0), true)?, part(&[&[3, 4]], at(1, 1), true)?];
        let mut inputs = chain_runs(&schema(), &keys, opened)?;
        let (stream, _) = inputs.pop().ok_or_else(|| Error::invalid("no input"))?;
        let err = match keys_of(stream).await {
            Ok(got) => panic!("read a run out of key order: {got:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");

        // a key repeated where parts meet
        let opened = vec![part(&[&[1, 2]], at(1, 0), true)?, part(&[&[2, 3]], at(1, 1), true)?];
        let mut inputs = chain_runs(&schema(), &keys, opened)?;
        let (stream, _) = inputs.pop().ok_or_else(|| Error::invalid("no input"))?;
        assert!(keys_of(stream).await.is_err(), "a repeated key");

        let opened = vec![part(&[&[1]], at(1, 0), true)?, part(&[&[2]], at(1, 0), true)?];
        let err = match chain_runs(&schema(), &keys, opened) {
            Ok(_) => panic!("two parts in one place"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        Ok(())
    }
}
