//! Key-sorted lake inputs whose key ranges do not overlap, read one after the other as one
//! sorted input instead of k-way merged.
//!
//! A table whose keys grow with time (order ids, event ids) leaves such inputs: each
//! tiering round's file holds keys above the last one's. Paimon finds them from its files'
//! key statistics (its interval partition); lake splits carry no such statistics here, so
//! the ranges are found while reading. The inputs are ordered by their first key, and each
//! batch is passed on untouched (zero-copy) while its last key is below the next input's
//! first. The first batch that reaches into the next input's range ends the chaining: the
//! rows of that batch below the boundary still go out as a slice, and what is left of every
//! input goes to the k-way merge the caller supplies. No row is misplaced whatever the
//! inputs hold. Inputs that overlap from their first batches are left to the caller's
//! one merge of everything ([`DisjointRuns::overlap_at_start`]); inputs that meet midway
//! are merged from there on their own, and the log applied after.
//!
//! A key repeated *inside* one input is not folded by the chaining (a primary-key file
//! holds each key once; the sparse merge that may follow checks the order where batches
//! meet). A key shared by two inputs always is: it makes their ranges meet.
//!
//! Every row handed on is below every row left unread (each input is sorted, and the
//! boundary is the smallest first key not yet reached), so the chained rows followed by
//! the merge's are in key order.

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use arrow_row::OwnedRow;
use arrow_schema::SchemaRef;
use futures::TryStreamExt;

use super::keys::KeyEncoder;
use crate::error::Result;
use crate::lake::RecordBatchStream;

/// Builds the k-way merge of what is left of the inputs, given in their original order
/// (which decides ties between equal keys).
pub(crate) type MergeRest = Box<dyn FnOnce(Vec<RecordBatchStream>) -> RecordBatchStream + Send>;

/// Sorted inputs with their first batch read.
pub(crate) struct DisjointRuns {
    schema: SchemaRef,
    keys: KeyEncoder,
    /// The inputs that have rows, in first-key order.
    inputs: Vec<Input>,
}

struct Input {
    /// The input's place among those given: ties between equal keys go by it.
    place: usize,
    /// The key of its first row.
    first: OwnedRow,
    /// A batch read but not yet handed on (its first batch, after [`DisjointRuns::peek`]).
    pending: Option<RecordBatch>,
    stream: RecordBatchStream,
}

impl Input {
    /// What is left of the input: the pending batch, then the rest of its stream.
    fn into_stream(self) -> RecordBatchStream {
        let schema = self.stream.schema();
        let pending = futures::stream::iter(self.pending.map(Ok));
        RecordBatchStream::new(schema, futures::StreamExt::chain(pending, self.stream))
    }
}

impl DisjointRuns {
    /// Reads the first batch with rows of each of `inputs` (key-sorted streams of
    /// `schema`); inputs without rows are left out.
    pub(crate) async fn peek(schema: SchemaRef, keys: &KeyEncoder, inputs: Vec<RecordBatchStream>) -> Result<Self> {
        let mut peeked = Vec::with_capacity(inputs.len());
        for (place, mut stream) in inputs.into_iter().enumerate() {
            while let Some(batch) = stream.try_next().await? {
                if batch.num_rows() > 0 {
                    let first = keys.encode(&batch.slice(0, 1))?.row(0).owned();
                    peeked.push(Input {
                        place,
                        first,
                        pending: Some(batch),
                        stream,
                    });
                    break;
                }
            }
        }
        peeked.sort_by(|a, b| a.first.row().cmp(&b.first.row()));
        Ok(Self {
            schema,
            keys: keys.clone(),
            inputs: peeked,
        })
    }

    /// Whether some input's first batch already reaches into the next input's range: the
    /// inputs interleave from the start, and one merge of them all serves them better.
    pub(crate) fn overlap_at_start(&self) -> Result<bool> {
        for pair in self.inputs.windows(2) {
            let Some(batch) = &pair[0].pending else { continue };
            let Some(last_row) = batch.num_rows().checked_sub(1) else {
                continue;
            };
            let last = self.keys.encode(&batch.slice(last_row, 1))?;
            if last.row(0) >= pair[1].first.row() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The inputs as given (less those without rows), each with its first batch back in
    /// front.
    pub(crate) fn into_inputs(mut self) -> Vec<RecordBatchStream> {
        self.inputs.sort_by_key(|i| i.place);
        self.inputs.into_iter().map(Input::into_stream).collect()
    }

    /// One key-sorted stream of the inputs: chained while their ranges are disjoint, then
    /// what is left of them merged by `merge`.
    pub(crate) fn into_stream(self, merge: MergeRest) -> RecordBatchStream {
        let schema = self.schema.clone();
        let chain = Chain {
            keys: self.keys,
            inputs: self.inputs.into(),
            merge: Some(merge),
            merged: None,
        };
        let stream = futures::stream::try_unfold(chain, Chain::next);
        RecordBatchStream::new(schema, stream)
    }
}

/// The chaining in progress.
struct Chain {
    keys: KeyEncoder,
    /// The inputs not yet read whole, in first-key order: the front one is being read.
    inputs: VecDeque<Input>,
    merge: Option<MergeRest>,
    /// The merge of what was left, once the ranges met.
    merged: Option<RecordBatchStream>,
}

impl Chain {
    async fn next(mut self) -> Result<Option<(RecordBatch, Self)>> {
        loop {
            if let Some(merged) = &mut self.merged {
                let batch = merged.try_next().await?;
                return Ok(batch.map(|b| (b, self)));
            }
            let Some(current) = self.inputs.front_mut() else {
                return Ok(None);
            };
            let batch = match current.pending.take() {
                Some(batch) => batch,
                None => match current.stream.try_next().await? {
                    Some(batch) => batch,
                    None => {
                        self.inputs.pop_front();
                        continue;
                    }
                },
            };
            let n = batch.num_rows();
            if n == 0 {
                continue;
            }
            let Some(next) = self.inputs.get(1) else {
                // the last input: nothing left to reach into
                return Ok(Some((batch, self)));
            };
            let last = self.keys.encode(&batch.slice(n - 1, 1))?;
            if last.row(0) < next.first.row() {
                return Ok(Some((batch, self)));
            }
            // the ranges meet: hand on the rows below the boundary, merge the rest
            let keys = self.keys.encode(&batch)?;
            let boundary = next.first.row();
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if keys.row(mid) < boundary {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if let Some(current) = self.inputs.front_mut() {
                current.pending = Some(batch.slice(lo, n - lo));
            }
            let mut rest: Vec<Input> = self.inputs.drain(..).collect();
            rest.sort_by_key(|i| i.place);
            let merge = self.merge.take();
            self.merged = merge.map(|m| m(rest.into_iter().map(Input::into_stream).collect()));
            if lo > 0 {
                return Ok(Some((batch.slice(0, lo), self)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow_array::Int64Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::error::Error;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]))
    }

    /// An input of batches of keys; each row's value is its input's place.
    fn input(place: i64, batches: &[&[i64]]) -> Result<RecordBatchStream> {
        let batches = batches
            .iter()
            .map(|keys| {
                RecordBatch::try_new(
                    schema(),
                    vec![
                        Arc::new(Int64Array::from(keys.to_vec())),
                        Arc::new(Int64Array::from(vec![place; keys.len()])),
                    ],
                )
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatchStream::from_batches(schema(), batches))
    }

    /// The `(key, place)` rows of `batches`.
    fn pairs(batches: &[RecordBatch]) -> Vec<(i64, i64)> {
        batches
            .iter()
            .flat_map(|b| {
                let k = b.column(0).as_primitive::<Int64Type>().values().to_vec();
                let v = b.column(1).as_primitive::<Int64Type>().values().to_vec();
                k.into_iter().zip(v)
            })
            .collect()
    }

    /// A stand-in for the k-way merge: it sorts the rows left (stable, so ties stay in
    /// input order), and counts its calls and the rows it got.
    fn sorting_merge(calls: Arc<AtomicUsize>, rows: Arc<AtomicUsize>) -> MergeRest {
        Box::new(move |inputs: Vec<RecordBatchStream>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let sorted = futures::stream::once(async move {
                let mut all: Vec<(i64, i64)> = Vec::new();
                for stream in inputs {
                    all.extend(pairs(&stream.try_collect::<Vec<_>>().await?));
                }
                rows.fetch_add(all.len(), Ordering::SeqCst);
                all.sort_by_key(|&(k, _)| k);
                let (k, v): (Vec<i64>, Vec<i64>) = all.into_iter().unzip();
                Ok::<_, Error>(RecordBatch::try_new(
                    schema(),
                    vec![Arc::new(Int64Array::from(k)), Arc::new(Int64Array::from(v))],
                )?)
            });
            RecordBatchStream::new(schema(), sorted)
        })
    }

    /// The chained read of `inputs`: its `(key, place)` rows, the merge's calls and the
    /// rows the merge got.
    async fn chained(inputs: Vec<RecordBatchStream>) -> Result<(Vec<(i64, i64)>, usize, usize)> {
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let runs = DisjointRuns::peek(schema(), &keys, inputs).await?;
        let (calls, rows) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let stream = runs.into_stream(sorting_merge(calls.clone(), rows.clone()));
        let got = pairs(&stream.try_collect::<Vec<_>>().await?);
        Ok((got, calls.load(Ordering::SeqCst), rows.load(Ordering::SeqCst)))
    }

    #[tokio::test]
    async fn disjoint_inputs_are_read_one_after_the_other_without_a_merge() -> Result<()> {
        // given out of key order, with an empty input and an empty batch
        let inputs = vec![
            input(0, &[&[20, 21], &[25]])?,
            input(1, &[])?,
            input(2, &[&[1, 2], &[], &[5, 9]])?,
            input(3, &[&[10, 19]])?,
        ];
        let (got, calls, _) = chained(inputs).await?;
        let want = vec![
            (1, 2),
            (2, 2),
            (5, 2),
            (9, 2),
            (10, 3),
            (19, 3),
            (20, 0),
            (21, 0),
            (25, 0),
        ];
        assert_eq!((got, calls), (want, 0));
        Ok(())
    }

    #[tokio::test]
    async fn inputs_that_meet_midway_are_merged_from_there_on() -> Result<()> {
        // input 1 (first key 10) is reached by input 0's second batch, at its row 8..
        let inputs = vec![input(0, &[&[1, 3], &[5, 8, 10, 12]])?, input(1, &[&[10, 11], &[30]])?];
        let (got, calls, merged) = chained(inputs).await?;
        let want = vec![
            (1, 0),
            (3, 0),
            (5, 0),
            (8, 0),
            (10, 0),
            (10, 1),
            (11, 1),
            (12, 0),
            (30, 1),
        ];
        // rows below 10 were handed on as they were; the merge got 2 + 3 rows, and the
        // equal keys in input order
        assert_eq!((got, calls, merged), (want, 1, 5));
        Ok(())
    }

    #[tokio::test]
    async fn interleaved_inputs_show_at_the_start() -> Result<()> {
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let interleaved = vec![input(0, &[&[1, 4, 7]])?, input(1, &[&[2, 5]])?];
        assert!(
            DisjointRuns::peek(schema(), &keys, interleaved)
                .await?
                .overlap_at_start()?
        );
        let apart = vec![input(0, &[&[5, 6]])?, input(1, &[&[1, 4]])?];
        let runs = DisjointRuns::peek(schema(), &keys, apart).await?;
        assert!(!runs.overlap_at_start()?);
        // handed back in the given order, first batches included
        let mut firsts = Vec::new();
        for stream in runs.into_inputs() {
            let batches: Vec<RecordBatch> = stream.try_collect().await?;
            firsts.push(batches[0].column(0).as_primitive::<Int64Type>().value(0));
        }
        assert_eq!(firsts, vec![5, 1]);
        Ok(())
    }

    #[tokio::test]
    async fn equal_first_keys_overlap() -> Result<()> {
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let inputs = vec![input(0, &[&[3]])?, input(1, &[&[3, 4]])?];
        assert!(DisjointRuns::peek(schema(), &keys, inputs).await?.overlap_at_start()?);
        let (got, calls, _) = chained(vec![input(0, &[&[3]])?, input(1, &[&[3, 4]])?]).await?;
        assert_eq!((got, calls), (vec![(3, 0), (3, 1), (4, 1)], 1));
        Ok(())
    }
}
