//! External sort within a memory budget: buffer batches, sort and spill a run when the
//! budget is reached, and merge the runs back with the k-way merge.

use std::cmp::Ordering;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;
use arrow_select::interleave::interleave;
use futures::Stream;

use super::keys::{BatchKeys, KeyEncoder, needs_full_key};
use super::kway::{KWayMerge, keyed_stream};
use super::spill::{SpillDir, SpillRun};
use crate::error::Result;
use crate::lake::RecordBatchStream;

/// Runs merged at once; past this many, runs are first merged into fewer, longer ones.
const MAX_FAN_IN: usize = 16;

/// Sorts batches of one schema by some of their columns (stable), spilling sorted runs to
/// IPC files whenever the buffered batches exceed the budget.
pub(crate) struct ExternalSorter {
    schema: SchemaRef,
    keys: KeyEncoder,
    budget: usize,
    batch_size: usize,
    spill: Arc<SpillDir>,
    buffered: Vec<RecordBatch>,
    buffered_bytes: usize,
    runs: Vec<SpillRun>,
}

impl ExternalSorter {
    /// A sorter of `schema` batches by the `keys` columns.
    pub(crate) fn new(
        schema: SchemaRef,
        keys: KeyEncoder,
        budget: usize,
        batch_size: usize,
        spill: Arc<SpillDir>,
    ) -> Self {
        Self {
            schema,
            keys,
            budget,
            batch_size: batch_size.max(1),
            spill,
            buffered: Vec::new(),
            buffered_bytes: 0,
            runs: Vec::new(),
        }
    }

    /// Adds a batch, spilling first if it would overflow the budget.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let bytes = batch.get_array_memory_size();
        // sorting needs the keys and an index per row on top of the rows themselves
        let overhead = batch.num_rows() * 24;
        if !self.buffered.is_empty() && self.buffered_bytes + bytes + overhead > self.budget {
            self.spill_buffered()?;
        }
        self.buffered_bytes += bytes + overhead;
        self.buffered.push(batch);
        Ok(())
    }

    /// The number of runs spilled so far.
    #[cfg(test)]
    pub(crate) fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    fn spill_buffered(&mut self) -> Result<()> {
        let batches = std::mem::take(&mut self.buffered);
        self.buffered_bytes = 0;
        let sorted = SortedChunks::new(batches, &self.keys, self.batch_size)?;
        let run = self.spill.write_run(&self.schema, sorted)?;
        self.runs.push(run);
        Ok(())
    }

    /// All pushed rows in sorted order.
    pub(crate) fn finish(mut self) -> Result<RecordBatchStream> {
        if self.runs.is_empty() {
            let batches = std::mem::take(&mut self.buffered);
            let sorted: Vec<RecordBatch> =
                SortedChunks::new(batches, &self.keys, self.batch_size)?.collect::<Result<_>>()?;
            return Ok(RecordBatchStream::from_batches(self.schema, sorted));
        }
        if !self.buffered.is_empty() {
            self.spill_buffered()?;
        }
        self.cascade()?;
        let stream = self.merge_runs(&self.runs)?;
        Ok(RecordBatchStream::new(self.schema, stream))
    }

    /// A merge of some runs (ties go to the earlier run).
    fn merge_runs(&self, runs: &[SpillRun]) -> Result<MergeStream> {
        let mut inputs = Vec::with_capacity(runs.len());
        for run in runs {
            inputs.push(keyed_stream(
                run.read()?,
                self.schema.clone(),
                self.keys.clone(),
                None,
                false,
            ));
        }
        let mut stream = MergeStream::new(KWayMerge::new(inputs, self.schema.clone(), false), self.batch_size);
        stream._spill = Some(self.spill.clone());
        Ok(stream)
    }

    /// Merges consecutive groups of runs into longer runs until at most [`MAX_FAN_IN`]
    /// are left, so the final merge holds a bounded number of batches whatever the
    /// budget. Groups keep their place, so earlier data stays in earlier runs.
    fn cascade(&mut self) -> Result<()> {
        while self.runs.len() > MAX_FAN_IN {
            let runs = std::mem::take(&mut self.runs);
            for group in runs.chunks(MAX_FAN_IN) {
                if let [single] = group {
                    self.runs.push(single.clone());
                    continue;
                }
                // run readers are local files: the merge never waits, so it runs here
                let merged = futures::executor::block_on_stream(self.merge_runs(group)?);
                let run = self.spill.write_run(&self.schema, merged)?;
                for old in group {
                    let _ = std::fs::remove_file(&old.path);
                }
                self.runs.push(run);
            }
        }
        Ok(())
    }
}

/// Sorted chunks of some batches, built lazily so that a run is written while it is built.
struct SortedChunks {
    batches: Vec<RecordBatch>,
    /// `(batch, row)` of every row, in sorted order.
    order: Vec<(usize, usize)>,
    next: usize,
    batch_size: usize,
}

impl SortedChunks {
    fn new(batches: Vec<RecordBatch>, keys: &KeyEncoder, batch_size: usize) -> Result<Self> {
        let keys = batches.iter().map(|b| keys.batch_keys(b)).collect::<Result<Vec<_>>>()?;
        let prefixes: Vec<Vec<u128>> = keys.iter().map(BatchKeys::prefixes).collect();
        // each order takes the prefixes and lets go of them once copied into its sort
        // entries, so the sort holds about two integers per row at a time, not three
        let order = match packed_order(prefixes) {
            Ok(order) => order,
            Err(prefixes) => prefix_order(&keys, prefixes),
        };
        Ok(Self {
            batches,
            order,
            next: 0,
            batch_size,
        })
    }
}

/// The longest row-format key [`packed_order`] takes: an 8-byte integer's (a valid byte and
/// eight value bytes). A [`key_prefix`](super::keys::key_prefix) of a key this short has zeros in its bytes 9 to 14.
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
fn packed_order(prefixes: Vec<Vec<u128>>) -> std::result::Result<Vec<(usize, usize)>, Vec<Vec<u128>>> {
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
    Ok(packed
        .into_iter()
        .map(|p| (((p & positions) >> row_bits) as usize, (p & rows_mask) as usize))
        .collect())
}

/// The stable sort order of any keys, by their `prefixes`, the full key where the prefixes
/// tie and do not decide, then the input position.
fn prefix_order(keys: &[BatchKeys], prefixes: Vec<Vec<u128>>) -> Vec<(usize, usize)> {
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
    order.into_iter().map(|(_, b, r)| (b, r)).collect()
}

impl Iterator for SortedChunks {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.order.len());
        let picks = &self.order[self.next..end];
        self.next = end;
        let schema = self.batches[0].schema();
        let build = || -> Result<RecordBatch> {
            let mut columns = Vec::with_capacity(schema.fields().len());
            let mut arrays: Vec<&dyn Array> = Vec::with_capacity(self.batches.len());
            for c in 0..schema.fields().len() {
                arrays.clear();
                arrays.extend(self.batches.iter().map(|b| b.column(c).as_ref()));
                columns.push(interleave(&arrays, picks)?);
            }
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        };
        Some(build())
    }
}

/// A plain k-way merge of sorted inputs (no folding), used to merge spilled runs.
pub(crate) struct MergeStream {
    merge: KWayMerge,
    batch_size: usize,
    done: bool,
    /// Keeps the runs' directory alive while they are read.
    _spill: Option<Arc<SpillDir>>,
}

impl MergeStream {
    /// A merge of in-memory or otherwise owned inputs.
    pub(crate) fn new(merge: KWayMerge, batch_size: usize) -> Self {
        Self {
            merge,
            batch_size: batch_size.max(1),
            done: false,
            _spill: None,
        }
    }
}

impl Stream for MergeStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(this.merge.poll_next_winner(cx)) {
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(None) => {
                    this.done = true;
                    return Poll::Ready(this.merge.flush().transpose());
                }
                Ok(Some(w)) => {
                    if let Some(c) = this.merge.cursor(w) {
                        let (slot, row) = (c.slot, c.row);
                        this.merge.push(slot, row, 0);
                    }
                    if this.merge.pending() >= this.batch_size {
                        return Poll::Ready(this.merge.flush().transpose());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{ArrayRef, Int8Array, Int16Array, Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use crate::error::Error;
    use futures::TryStreamExt;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
        ]))
    }

    fn batch(keys: &[i64]) -> RecordBatch {
        let s: Vec<String> = keys.iter().map(|k| format!("v{k}")).collect();
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    }

    async fn sort_all(budget: usize, input: Vec<Vec<i64>>) -> (Vec<i64>, usize) {
        let root = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let keys = KeyEncoder::new(&schema(), &["k".to_string()]).unwrap();
        let mut sorter = ExternalSorter::new(schema(), keys, budget, 7, spill);
        for keys in input {
            sorter.push(batch(&keys)).unwrap();
        }
        let runs = sorter.spilled_runs();
        let out: Vec<RecordBatch> = sorter.finish().unwrap().try_collect().await.unwrap();
        let mut got = Vec::new();
        for b in &out {
            let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                assert_eq!(s.value(i), format!("v{}", k.value(i)), "rows stay whole");
                got.push(k.value(i));
            }
        }
        (got, runs)
    }

    #[tokio::test]
    async fn sorts_in_memory_and_with_spills() {
        let input: Vec<Vec<i64>> = (0..20)
            .map(|b| (0..13).map(|i| (i * 7919 + b * 104_729) % 1000).collect())
            .collect();
        let mut expected: Vec<i64> = input.iter().flatten().copied().collect();
        expected.sort();
        let (in_memory, runs) = sort_all(usize::MAX, input.clone()).await;
        assert_eq!((in_memory.as_slice(), runs), (expected.as_slice(), 0));
        let (spilled, runs) = sort_all(1, input).await;
        assert_eq!(spilled, expected);
        assert_eq!(runs, 19, "a run per batch past the first when the budget is tiny");
    }

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
            vec![Arc::new(Int16Array::from(small)), Arc::new(Int8Array::from(tiny))],
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
        assert_eq!(prefix_order(&long, prefixes), vec![(0, 0), (0, 1)]);
        Ok(())
    }

    #[tokio::test]
    async fn cascaded_merges_keep_equal_keys_in_arrival_order() {
        // 50 single-batch runs (more than three fan-ins), keys 0..5 repeating; the string
        // column records arrival order, which equal keys must keep
        let root = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let keys = KeyEncoder::new(&schema(), &["k".to_string()]).unwrap();
        let mut sorter = ExternalSorter::new(schema(), keys, 1, 7, spill);
        let mut seq = 0;
        for _ in 0..50 {
            let k: Vec<i64> = (0..4).map(|i| (seq + i) % 5).collect();
            let s: Vec<String> = (0..4).map(|i| format!("{:04}", seq + i)).collect();
            seq += 4;
            let b = RecordBatch::try_new(
                schema(),
                vec![Arc::new(Int64Array::from(k)), Arc::new(StringArray::from(s))],
            )
            .unwrap();
            sorter.push(b).unwrap();
        }
        let out: Vec<RecordBatch> = sorter.finish().unwrap().try_collect().await.unwrap();
        let mut rows = Vec::new();
        for b in &out {
            let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            rows.extend((0..b.num_rows()).map(|i| (k.value(i), s.value(i).to_string())));
        }
        assert_eq!(rows.len(), 200);
        let mut expected = rows.clone();
        expected.sort(); // by key, then arrival (the zero-padded sequence)
        assert_eq!(rows, expected);
    }
}
