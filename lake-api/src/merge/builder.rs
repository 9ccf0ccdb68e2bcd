//! Builds output batches from `(batch, row)` picks of a merge.
//!
//! Picks are gathered with `interleave`; a run of picks that is one contiguous slice of
//! one input batch (what a merge of key-disjoint inputs produces) is returned as a
//! zero-copy slice instead, and picks that form long runs are copied a run at a time
//! ([`copy_ranges`]).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow_schema::SchemaRef;

use super::copy_ranges::{Ranges, copy_ranges, interleave_rows};
use crate::error::Result;

/// Output rows picked from retained input batches.
#[derive(Debug)]
pub(crate) struct BatchBuilder {
    /// The output schema: the data columns, plus the change column when `kinds` is kept.
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    picks: Vec<(usize, usize)>,
    /// One change byte per pick, when the output carries a `__change_type` column.
    kinds: Option<Vec<i8>>,
}

impl BatchBuilder {
    /// A builder for `schema`; with `with_kinds`, the last field of `schema` is the change
    /// column filled from [`push`](Self::push)'s `kind`.
    pub(crate) fn new(schema: SchemaRef, with_kinds: bool) -> Self {
        Self {
            schema,
            batches: Vec::new(),
            picks: Vec::new(),
            kinds: with_kinds.then(Vec::new),
        }
    }

    /// Retains an input batch; returns its slot.
    pub(crate) fn add_batch(&mut self, batch: RecordBatch) -> usize {
        self.batches.push(batch);
        self.batches.len() - 1
    }

    /// Picks row `row` of slot `slot`.
    #[inline]
    pub(crate) fn push(&mut self, slot: usize, row: usize, kind: i8) {
        self.picks.push((slot, row));
        if let Some(kinds) = &mut self.kinds {
            kinds.push(kind);
        }
    }

    /// The number of picks not yet built.
    pub(crate) fn len(&self) -> usize {
        self.picks.len()
    }

    /// The number of retained input batches.
    pub(crate) fn retained(&self) -> usize {
        self.batches.len()
    }

    /// Builds the picked rows into one batch (`None` when nothing was picked).
    pub(crate) fn build(&mut self) -> Result<Option<RecordBatch>> {
        if self.picks.is_empty() {
            return Ok(None);
        }
        let runs = self.runs();
        // one run is a slice of its batch, and long runs copy faster as whole ranges than
        // row by row
        let mut columns: Vec<ArrayRef> = if runs.len() == 1 || self.picks.len() >= runs.len() * 16 {
            let sources: Vec<&RecordBatch> = self.batches.iter().collect();
            let schema = self.batches[0].schema();
            copy_ranges(&schema, &sources, &runs)?.columns().to_vec()
        } else {
            let n = self.batches.first().map_or(0, |b| b.num_columns());
            let mut out = Vec::with_capacity(n + 1);
            let mut arrays: Vec<&dyn Array> = Vec::with_capacity(self.batches.len());
            for c in 0..n {
                arrays.clear();
                arrays.extend(self.batches.iter().map(|b| b.column(c).as_ref()));
                out.push(interleave_rows(&arrays, &self.picks)?);
            }
            out
        };
        if let Some(kinds) = &mut self.kinds {
            columns.push(Arc::new(Int8Array::from(std::mem::take(kinds))));
        }
        self.picks.clear();
        Ok(Some(RecordBatch::try_new(self.schema.clone(), columns)?))
    }

    /// The picks as maximal ranges of consecutive rows of one batch.
    fn runs(&self) -> Ranges {
        let mut runs = Ranges::default();
        for &(slot, row) in &self.picks {
            runs.push(slot, row, row + 1);
        }
        runs
    }

    /// Drops every retained batch whose slot is not in `live`, renumbering `live` in
    /// place. Call only when no picks are pending.
    pub(crate) fn compact<'a>(&mut self, live: impl Iterator<Item = &'a mut usize>) {
        debug_assert!(self.picks.is_empty());
        let old = std::mem::take(&mut self.batches);
        let mut renumbered: Vec<Option<usize>> = vec![None; old.len()];
        let mut live: Vec<&mut usize> = live.collect();
        live.sort_by_key(|s| **s);
        for slot in live {
            let new = match renumbered.get(*slot).copied().flatten() {
                Some(n) => n,
                None => {
                    self.batches.push(old[*slot].clone());
                    let n = self.batches.len() - 1;
                    renumbered[*slot] = Some(n);
                    n
                }
            };
            *slot = new;
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn batch(values: Vec<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(values)) as ArrayRef)]).unwrap()
    }

    fn values(b: &RecordBatch) -> Vec<i64> {
        b.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec()
    }

    #[test]
    fn interleaves_and_slices() {
        let schema = batch(vec![]).schema();
        let mut b = BatchBuilder::new(schema, false);
        let s0 = b.add_batch(batch(vec![1, 2, 3]));
        let s1 = b.add_batch(batch(vec![10, 20]));
        b.push(s0, 0, 1);
        b.push(s1, 1, 1);
        b.push(s0, 2, 1);
        assert_eq!(values(&b.build().unwrap().unwrap()), vec![1, 20, 3]);
        // a contiguous run is a zero-copy slice of the input
        b.push(s0, 1, 1);
        b.push(s0, 2, 1);
        let out = b.build().unwrap().unwrap();
        assert_eq!(values(&out), vec![2, 3]);
        let input = b.batches[s0].column(0).to_data();
        // the same allocation, one i64 in: a slice, not a copy
        let start = input.buffers()[0].as_ptr().wrapping_add(std::mem::size_of::<i64>());
        assert_eq!(out.column(0).to_data().buffers()[0].as_ptr(), start);
        assert!(b.build().unwrap().is_none());
    }

    /// A column of 100 distinct 16-byte values under `i8` dictionary keys, one
    /// dictionary per batch.
    fn uuid_batch(seed: u8) -> crate::Result<RecordBatch> {
        use arrow_array::types::Int8Type;
        use arrow_array::{DictionaryArray, FixedSizeBinaryArray, Int8Array};
        let values = FixedSizeBinaryArray::try_from_iter(
            (0..100u8).map(|i| [seed, i, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        )?;
        let keys = Int8Array::from((0..100i8).collect::<Vec<_>>());
        let column = DictionaryArray::<Int8Type>::try_new(keys, Arc::new(values))?;
        Ok(RecordBatch::try_from_iter([("u", Arc::new(column) as ArrayRef)])?)
    }

    /// Regression: arrow's `interleave` panics on dictionaries of values other than
    /// strings, binaries and primitives whose dictionaries together overflow the key type.
    #[test]
    fn dictionaries_that_cannot_be_combined_are_an_error_not_a_panic() -> crate::Result<()> {
        let first = uuid_batch(1)?;
        let mut b = BatchBuilder::new(first.schema(), false);
        let s0 = b.add_batch(first);
        let s1 = b.add_batch(uuid_batch(2)?);
        for r in 0..100 {
            b.push(s0, r, 1);
            b.push(s1, r, 1);
        }
        let e = b
            .build()
            .err()
            .ok_or_else(|| crate::Error::invalid("200 values under i8 keys"))?;
        assert_eq!(e.kind(), crate::error::ErrorKind::Arrow, "{e}");
        Ok(())
    }

    #[test]
    fn long_runs_are_copied_a_range_at_a_time() {
        let schema = batch(vec![]).schema();
        let mut b = BatchBuilder::new(schema, false);
        let s0 = b.add_batch(batch((0..40).collect()));
        let s1 = b.add_batch(batch((100..140).collect()));
        for r in 5..25 {
            b.push(s1, r, 1);
        }
        for r in 0..20 {
            b.push(s0, r, 1);
        }
        let expected: Vec<i64> = (105..125).chain(0..20).collect();
        assert_eq!(values(&b.build().unwrap().unwrap()), expected);
    }

    #[test]
    fn kinds_column_and_compaction() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Int64, true),
            Field::new("__change_type", DataType::Int8, false),
        ]));
        let mut b = BatchBuilder::new(schema, true);
        let s0 = b.add_batch(batch(vec![1]));
        let s1 = b.add_batch(batch(vec![2]));
        let s2 = b.add_batch(batch(vec![3]));
        b.push(s1, 0, 4);
        let out = b.build().unwrap().unwrap();
        assert_eq!(out.num_columns(), 2);
        let mut live = [s2, s0];
        b.compact(live.iter_mut());
        assert_eq!(b.retained(), 2);
        b.push(live[0], 0, 1);
        b.push(live[1], 0, 1);
        assert_eq!(values(&b.build().unwrap().unwrap()), vec![3, 1]);
    }
}
