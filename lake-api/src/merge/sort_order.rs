//! The key order of buffered rows, and gathering rows in an order into batches: the
//! in-memory half of the external sort, and what the log summary folds over.

use std::cmp::Ordering;
use std::ops::Range;

use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder};
use arrow_schema::SchemaRef;
use std::sync::Arc;

use super::copy_ranges::interleave_rows;
use super::keys::{BatchKeys, KeyEncoder, needs_full_key};
use crate::error::{Error, Result};

/// Where every row of some batches goes in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortOrder {
    /// `(batch, row)` of every row, in key order; equal keys keep their input order
    /// (batch, then row).
    pub rows: Vec<(usize, usize)>,
    /// Whether each entry of `rows` holds another key than the entry before it.
    pub key_starts: BooleanBuffer,
}

impl SortOrder {
    /// The stable key order of the rows of `batches`.
    pub(crate) fn new(batches: &[RecordBatch], keys: &KeyEncoder) -> Result<Self> {
        let keys = batches.iter().map(|b| keys.batch_keys(b)).collect::<Result<Vec<_>>>()?;
        let prefixes: Vec<Vec<u128>> = keys.iter().map(BatchKeys::prefixes).collect();
        // each order takes the prefixes and lets go of them once copied into its sort
        // entries, so the sort holds about two integers per row at a time, not three
        Ok(match packed_order(prefixes) {
            Ok(order) => order,
            Err(prefixes) => prefix_order(&keys, prefixes),
        })
    }

    /// The ranges of [`rows`](Self::rows) that hold one key each, in key order.
    pub(crate) fn key_groups(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let len = self.rows.len();
        let mut starts = self.key_starts.set_indices().peekable();
        std::iter::from_fn(move || {
            let start = starts.next()?;
            Some(start..starts.peek().copied().unwrap_or(len))
        })
    }
}

/// The most bytes per row that [`SortOrder::new`] holds at once beside the rows and their
/// row-format keys: the key prefixes (16) and the sort entries (16 packed, 32 otherwise),
/// then the sort entries and the order they become (16).
pub(crate) const SORT_BYTES_PER_ROW: usize = 48;

/// The longest row-format key [`packed_order`] takes: an 8-byte integer's (a valid byte and
/// eight value bytes). A [`key_prefix`](super::keys::key_prefix) of a key this short has
/// zeros in its bytes 9 to 14.
const PACKED_KEY_BYTES: u128 = 9;
/// Bits of a packed sort integer that hold the row's position.
const POSITION_BITS: u32 = 48;

/// The stable sort order of short keys (`prefixes` per batch), sorting one 16-byte integer
/// per row: the key's bytes, its length, then its position (batch and row) in the bits that
/// the key leaves zero. The position breaks ties between equal keys, which makes the
/// unstable sort stable. Half the bytes of [`prefix_order`]'s tuples, and plain integer
/// comparisons: the log tail of a table with an integer key sorts this way. The prefixes
/// come back unused when a key is longer or the positions need more than
/// [`POSITION_BITS`].
fn packed_order(prefixes: Vec<Vec<u128>>) -> std::result::Result<SortOrder, Vec<Vec<u128>>> {
    let bits = |n: usize| usize::BITS - n.leading_zeros();
    let row_bits = bits(prefixes.iter().map(Vec::len).max().unwrap_or(0));
    if row_bits + bits(prefixes.len()) > POSITION_BITS {
        return Err(prefixes);
    }
    let mut packed: Vec<u128> = Vec::with_capacity(prefixes.iter().map(Vec::len).sum());
    for (b, batch) in prefixes.iter().enumerate() {
        for (r, &prefix) in batch.iter().enumerate() {
            // a prefix's last byte is its key's length
            let len = prefix & 0xff;
            if len > PACKED_KEY_BYTES {
                return Err(prefixes);
            }
            // the key's bytes stay in the top 9 bytes; its length moves up to byte 9
            let key_bytes = prefix & !((1u128 << 56) - 1);
            packed.push(key_bytes | (len << POSITION_BITS) | ((b as u128) << row_bits) | r as u128);
        }
    }
    drop(prefixes);
    packed.sort_unstable();
    let rows_mask = (1u128 << row_bits) - 1;
    let positions = (1u128 << POSITION_BITS) - 1;
    let mut key_starts = BooleanBufferBuilder::new(packed.len());
    let mut previous = None;
    let rows = packed
        .into_iter()
        .map(|p| {
            // the bits above the position are the whole key
            let key = p >> POSITION_BITS;
            key_starts.append(previous != Some(key));
            previous = Some(key);
            (((p & positions) >> row_bits) as usize, (p & rows_mask) as usize)
        })
        .collect();
    Ok(SortOrder {
        rows,
        key_starts: key_starts.finish(),
    })
}

/// The stable sort order of any keys, by their `prefixes`, the full key where the prefixes
/// tie and do not decide, then the input position.
fn prefix_order(keys: &[BatchKeys], prefixes: Vec<Vec<u128>>) -> SortOrder {
    let mut order: Vec<(u128, usize, usize)> = Vec::with_capacity(prefixes.iter().map(Vec::len).sum());
    let mut full_keys = false;
    for (b, batch) in prefixes.into_iter().enumerate() {
        for (r, prefix) in batch.into_iter().enumerate() {
            full_keys |= needs_full_key(prefix);
            order.push((prefix, b, r));
        }
    }
    // the input position breaks ties, which makes the unstable sort stable
    if full_keys {
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| {
                    if needs_full_key(a.0) {
                        keys[a.1].full_key(a.2).cmp(keys[b.1].full_key(b.2))
                    } else {
                        Ordering::Equal
                    }
                })
                .then_with(|| (a.1, a.2).cmp(&(b.1, b.2)))
        });
    } else {
        // every prefix holds its whole key: the tuple order is the order wanted
        order.sort_unstable();
    }
    let mut key_starts = BooleanBufferBuilder::new(order.len());
    for (i, &(prefix, b, r)) in order.iter().enumerate() {
        let start = match i.checked_sub(1).map(|p| order[p]) {
            None => true,
            Some((previous, pb, pr)) => {
                previous != prefix || (needs_full_key(prefix) && keys[pb].full_key(pr) != keys[b].full_key(r))
            }
        };
        key_starts.append(start);
    }
    SortOrder {
        rows: order.into_iter().map(|(_, b, r)| (b, r)).collect(),
        key_starts: key_starts.finish(),
    }
}

/// Rows of some batches gathered in a given order into batches of at most `batch_size`
/// rows, built lazily so that a spilled run is written while it is built.
pub(crate) struct Gather {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    /// `(batch, row)` of every output row, in output order.
    picks: Vec<(usize, usize)>,
    /// When set, the output's last column: one change byte per pick, after the first
    /// `schema.fields().len() - 1` columns of the batches.
    kinds: Option<Vec<i8>>,
    next: usize,
    batch_size: usize,
}

impl Gather {
    /// Every column of `batches` (of `schema`) at `picks`.
    pub(crate) fn new(
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        picks: Vec<(usize, usize)>,
        batch_size: usize,
    ) -> Self {
        Self {
            schema,
            batches,
            picks,
            kinds: None,
            next: 0,
            batch_size: batch_size.max(1),
        }
    }

    /// The leading columns of `batches` at `picks`, then `kinds` (one per pick) as an
    /// `Int8` column: `schema` names them all.
    pub(crate) fn with_kinds(
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        picks: Vec<(usize, usize)>,
        kinds: Vec<i8>,
        batch_size: usize,
    ) -> Self {
        Self {
            kinds: Some(kinds),
            ..Self::new(schema, batches, picks, batch_size)
        }
    }

    fn build(&self, range: Range<usize>) -> Result<RecordBatch> {
        let picks = &self.picks[range.clone()];
        let data_columns = self.schema.fields().len() - usize::from(self.kinds.is_some());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        let mut arrays: Vec<&dyn Array> = Vec::with_capacity(self.batches.len());
        for c in 0..data_columns {
            arrays.clear();
            for b in &self.batches {
                let column = b
                    .columns()
                    .get(c)
                    .ok_or_else(|| Error::schema(format!("a gathered batch lacks column {c}")))?;
                arrays.push(column.as_ref());
            }
            columns.push(interleave_rows(&arrays, picks)?);
        }
        if let Some(kinds) = &self.kinds {
            let kinds = kinds
                .get(range)
                .ok_or_else(|| Error::invalid("fewer change bytes than gathered rows"))?;
            columns.push(Arc::new(Int8Array::from(kinds.to_vec())));
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl Iterator for Gather {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.picks.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.picks.len());
        let range = self.next..end;
        self.next = end;
        Some(self.build(range))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int16Array, Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    /// The keys of some columns (row format: integer keys are the packed path's main
    /// customers, tested against their prefixes in `keys`), in batches of `rows_per_batch`.
    fn encoded(columns: Vec<ArrayRef>, rows_per_batch: usize) -> Result<Vec<BatchKeys>> {
        let fields: Vec<Field> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let keys = KeyEncoder::new(&batch.schema(), &names)?;
        let mut out = Vec::new();
        for start in (0..batch.num_rows()).step_by(rows_per_batch) {
            let slice = batch.slice(start, rows_per_batch.min(batch.num_rows() - start));
            out.push(BatchKeys::Rows(keys.encode(&slice)?));
        }
        Ok(out)
    }

    #[test]
    fn packed_short_keys_sort_like_prefixes_and_stay_stable() -> Result<()> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // few distinct values (many ties), both signs, nulls
        let wide: Vec<Option<i64>> = (0..5000)
            .map(|_| (next() % 10 != 0).then(|| (next() % 300) as i64 - 150))
            .collect();
        let narrow: Vec<i32> = (0..5000).map(|_| (next() % 50) as i32 - 25).collect();
        let (small, tiny): (Vec<i16>, Vec<i8>) = (0..5000).map(|_| ((next() % 7) as i16, (next() % 3) as i8)).unzip();
        let shapes: Vec<Vec<ArrayRef>> = vec![
            vec![Arc::new(Int64Array::from(wide))],
            vec![Arc::new(Int32Array::from(narrow))],
            vec![
                Arc::new(Int16Array::from(small)),
                Arc::new(arrow_array::Int8Array::from(tiny)),
            ],
        ];
        for columns in shapes {
            for rows_per_batch in [1, 7, 4096] {
                let keys = encoded(columns.clone(), rows_per_batch)?;
                let prefixes: Vec<Vec<u128>> = keys.iter().map(BatchKeys::prefixes).collect();
                let packed = packed_order(prefixes.clone()).map_err(|_| Error::invalid("short keys not packed"))?;
                assert_eq!(packed, prefix_order(&keys, prefixes), "{rows_per_batch} rows per batch");
            }
        }
        // a key longer than an integer's takes the general path
        let long = encoded(vec![Arc::new(StringArray::from(vec!["a longer key", "b"]))], 2)?;
        let prefixes: Vec<Vec<u128>> = long.iter().map(BatchKeys::prefixes).collect();
        assert!(packed_order(prefixes.clone()).is_err());
        assert_eq!(prefix_order(&long, prefixes).rows, vec![(0, 0), (0, 1)]);
        Ok(())
    }

    #[test]
    fn key_groups_hold_equal_keys_and_nothing_else() -> Result<()> {
        // long keys that share their first 15 bytes: only the full key tells them apart
        let shared = "the same long prefix, then ";
        let values: Vec<String> = [2, 1, 2, 3, 1, 2].iter().map(|k| format!("{shared}{k}")).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, false)]));
        let batches: Vec<RecordBatch> = values
            .chunks(4)
            .map(|c| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(StringArray::from(c.to_vec())) as ArrayRef],
                )
            })
            .collect::<std::result::Result<_, _>>()?;
        let keys = KeyEncoder::new(&schema, &["k".to_string()])?;
        let order = SortOrder::new(&batches, &keys)?;
        assert_eq!(order.rows, vec![(0, 1), (1, 0), (0, 0), (0, 2), (1, 1), (0, 3)]);
        assert_eq!(order.key_groups().collect::<Vec<_>>(), vec![0..2, 2..5, 5..6]);
        // integer keys group the same way through the packed sort
        let ints = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![5, -1, 5, 5])) as ArrayRef)])?;
        let keys = KeyEncoder::new(&ints.schema(), &["k".to_string()])?;
        let order = SortOrder::new(&[ints], &keys)?;
        assert_eq!(order.rows, vec![(0, 1), (0, 0), (0, 2), (0, 3)]);
        assert_eq!(order.key_groups().collect::<Vec<_>>(), vec![0..1, 1..4]);
        Ok(())
    }

    #[test]
    fn a_gather_appends_change_bytes_and_refuses_too_few() -> Result<()> {
        let batch = RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            ("offset", Arc::new(Int64Array::from(vec![10, 11, 12])) as ArrayRef),
        ])?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("change", DataType::Int8, false),
        ]));
        let out: Vec<RecordBatch> =
            Gather::with_kinds(schema.clone(), vec![batch.clone()], vec![(0, 2), (0, 0)], vec![3, 0], 1)
                .collect::<Result<_>>()?;
        assert_eq!(out.len(), 2);
        let merged = arrow_select::concat::concat_batches(&schema, &out)?;
        assert_eq!(merged.column(0).as_ref(), &Int64Array::from(vec![3, 1]) as &dyn Array);
        assert_eq!(merged.column(1).as_ref(), &Int8Array::from(vec![3, 0]) as &dyn Array);
        let short = Gather::with_kinds(schema, vec![batch], vec![(0, 2), (0, 0)], vec![3], 8).next();
        assert!(short.is_some_and(|r| r.is_err()));
        Ok(())
    }
}
