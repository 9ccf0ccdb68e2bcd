//! External sort within a memory budget: buffer batches, sort and spill a run when the
//! budget is reached, and merge the runs back with the k-way merge.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::Stream;

use super::keys::KeyEncoder;
use super::kway::{KWayMerge, keyed_stream};
use super::sort_order::{Gather, SORT_BYTES_PER_ROW, SortOrder};
use super::spill::{SpillDir, SpillRun};
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// Runs merged at once; past this many, runs are first merged into fewer, longer ones.
const MAX_FAN_IN: usize = 16;

/// What an [`ExternalSorter`] holds once every row is in.
pub(crate) enum Sorted {
    /// Every row fit the budget: the rows as pushed, and their key order.
    InMemory {
        batches: Vec<RecordBatch>,
        order: SortOrder,
    },
    /// Rows were spilled: the merge of the sorted runs, in key order.
    Spilled(RecordBatchStream),
}

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
        // sorting needs the keys and the sort entries on top of the rows themselves
        let overhead = batch.num_rows() * SORT_BYTES_PER_ROW + self.keys.row_key_bytes(&batch);
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
        let sorted = self.gather(batches)?;
        let run = self.spill.write_run(&self.schema, sorted)?;
        self.runs.push(run);
        Ok(())
    }

    /// The buffered `batches` gathered in key order.
    fn gather(&self, batches: Vec<RecordBatch>) -> Result<Gather> {
        let order = SortOrder::new(&batches, &self.keys)?;
        Ok(Gather::new(self.schema.clone(), batches, order.rows, self.batch_size))
    }

    /// All pushed rows in sorted order.
    pub(crate) fn finish(self) -> Result<RecordBatchStream> {
        let (schema, batch_size) = (self.schema.clone(), self.batch_size);
        match self.finish_sorted()? {
            Sorted::InMemory { batches, order } => {
                // gathered as the reader asks: gathered all at once, the sorted copy and
                // the buffered rows would be held together, twice the budget
                let gather = Gather::new(schema.clone(), batches, order.rows, batch_size);
                Ok(RecordBatchStream::new(schema, futures::stream::iter(gather)))
            }
            Sorted::Spilled(stream) => Ok(stream),
        }
    }

    /// All pushed rows: the buffered batches with their key order when nothing was
    /// spilled (so that a caller may fold them without gathering them first), else the
    /// merge of the spilled runs.
    pub(crate) fn finish_sorted(mut self) -> Result<Sorted> {
        if self.runs.is_empty() {
            let batches = std::mem::take(&mut self.buffered);
            let order = SortOrder::new(&batches, &self.keys)?;
            return Ok(Sorted::InMemory { batches, order });
        }
        if !self.buffered.is_empty() {
            self.spill_buffered()?;
        }
        self.cascade()?;
        let stream = self.merge_runs(&self.runs)?;
        Ok(Sorted::Spilled(RecordBatchStream::new(self.schema, stream)))
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
                None,
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
                let run = self
                    .spill
                    .write_run(&self.schema, ReadyItems(self.merge_runs(group)?))?;
                for old in group {
                    let _ = std::fs::remove_file(&old.path);
                }
                self.runs.push(run);
            }
        }
        Ok(())
    }
}

/// The items of a stream that never waits (a merge of runs in local files), taken without
/// an executor: a nested `block_on` panics where a futures executor drives the caller, and
/// would hold a Tokio worker all the same. A stream that does wait is an error.
struct ReadyItems(MergeStream);

impl Iterator for ReadyItems {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut self.0).poll_next(&mut cx) {
            Poll::Ready(item) => item,
            Poll::Pending => Some(Err(Error::new(
                crate::error::ErrorKind::Io,
                "a merge of spilled runs waited for its input",
            ))),
        }
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
    use arrow_array::cast::AsArray;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

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
    async fn an_in_memory_sort_gathers_as_it_is_read() -> Result<()> {
        // regression: `finish` gathered every sorted batch at once while the buffered
        // rows were still held, twice the memory the budget allowed for
        let spill = SpillDir::new(None);
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let mut sorter = ExternalSorter::new(schema(), keys, usize::MAX, 2, spill);
        let input = batch(&[3, 1, 2, 0]);
        let held = Arc::downgrade(input.column(1));
        sorter.push(input)?;
        let mut stream = sorter.finish()?;
        let first = stream.try_next().await?.map(|b| b.num_rows());
        assert_eq!(first, Some(2));
        assert!(
            held.strong_count() > 0,
            "the buffered rows are read from, not copied whole"
        );
        let rest: Vec<RecordBatch> = stream.try_collect().await?;
        assert_eq!(rest.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(held.strong_count(), 0, "and released once read");
        Ok(())
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

    #[test]
    fn the_budget_counts_what_the_sort_holds_beside_the_rows() -> Result<()> {
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let rows: Vec<i64> = (0..100).collect();
        let one = batch(&rows);
        let bytes = one.get_array_memory_size();
        // two batches fit the budget, but not with the sort's 48 bytes per row
        let budget = 2 * bytes + 100 * SORT_BYTES_PER_ROW;
        let mut sorter = ExternalSorter::new(schema(), keys.clone(), budget, 64, spill.clone());
        sorter.push(one.clone())?;
        sorter.push(one.clone())?;
        assert_eq!(sorter.spilled_runs(), 1);
        // a string key is encoded into the row format too, which the budget counts
        let by_string = KeyEncoder::new(&schema(), &["s".to_string()])?;
        assert!(by_string.row_key_bytes(&one) > 100 * 8);
        assert_eq!(keys.row_key_bytes(&one), 0, "an integer key needs no row format");
        Ok(())
    }

    /// Regression: the cascade drained its merges with `futures::executor::block_on_stream`,
    /// which panics inside another futures executor: a caller reading a split with
    /// `futures::executor::block_on` hit it once a sort spilled past 16 runs.
    #[test]
    fn a_cascade_runs_under_any_executor() -> Result<()> {
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let keys = KeyEncoder::new(&schema(), &["k".to_string()])?;
        let mut sorter = ExternalSorter::new(schema(), keys, 1, 7, spill);
        for b in 0..40 {
            sorter.push(batch(&[(b * 7) % 40, b]))?;
        }
        let out: Vec<RecordBatch> = futures::executor::block_on(async move { sorter.finish()?.try_collect().await })?;
        let got: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow_array::types::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        let mut want: Vec<i64> = (0..40).flat_map(|b| [(b * 7) % 40, b]).collect();
        want.sort();
        assert_eq!(got, want);
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
