//! The sparse sort-merge: one key-sorted lake run and the log tail folded per key, merged in
//! key order without a per-row decision.
//!
//! Each lake batch looks up where the log's keys fall in it ([`sorted_positions`]); the rows
//! between them are kept as they are, and one copy of row ranges ([`copy_ranges`]) builds
//! the batch with the log's final states in their places. A batch no log key falls in
//! passes through untouched (zero-copy). This is the output of the k-way merge for the
//! shape tiering writers leave, one sorted file per bucket and a small log tail, at about
//! the cost of the key filter.
//!
//! Like the key filter, it takes the lake run to hold each primary key once, as a
//! primary-key table's snapshot does: duplicate keys inside the run are not folded together
//! (the k-way merge would keep one of them).

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_schema::DataType;
use futures::{StreamExt, TryStreamExt};

use super::copy_ranges::{Ranges, copy_ranges};
use super::fold::UPSERT;
use super::log_index::{KeyIndex, LazyVersions, LogIndex, LogMerge, Position, sorted_positions};
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// The sparse sort-merge over one bucket (or partition); the key is one integer column.
pub(crate) struct SparseMerge(pub LogMerge);

/// The merge in progress.
struct State {
    merge: LogMerge,
    int_col: usize,
    index: LogIndex,
    lake: RecordBatchStream,
    lake_done: bool,
    /// The last key of the last lake batch: the run's order is checked where batches meet
    /// (a run may chain several files, and a wrong order must fail, not lose rows).
    lake_last: Option<i64>,
    /// The summary's rows, in entry order.
    rows: RecordBatchStream,
    /// Summary batches (data columns only) with the entry of their first row, covering
    /// entries from `next_entry` on.
    loaded: VecDeque<(usize, RecordBatch)>,
    /// The entry after the last loaded row.
    loaded_until: usize,
    /// The first entry not yet emitted or decided.
    next_entry: usize,
    /// A lake batch going out in pieces.
    pending: Option<Pending>,
}

/// A lake batch with more log entries below its first key and among its rows than an
/// output batch holds (`batch_size`). It goes out in pieces of at most that many entries:
/// first the entries below it, then slices of its rows with theirs. So neither an output
/// batch nor the summary loaded for one grows with the log (a tail of new keys below the
/// lake's first one would otherwise load a spilled summary whole, into one batch).
struct Pending {
    batch: RecordBatch,
    positions: Vec<Position>,
    /// The entry after the last one below the batch's first key.
    before_end: usize,
    /// The positions and the rows already out.
    positions_done: usize,
    rows_done: usize,
}

impl SparseMerge {
    /// Merges `lake` (key-sorted read-schema batches) with `summary` (the log tail folded
    /// per key, in key order: read schema plus the change column, one row per key).
    pub(crate) async fn run(self, summary: RecordBatchStream, lake: RecordBatchStream) -> Result<RecordBatchStream> {
        let merge = self.0;
        let int_col = merge
            .int_key()
            .ok_or_else(|| Error::invalid("the sparse merge needs an integer key"))?;
        let (index, buffer) = merge.index(summary).await?;
        // entries are numbered in summary order, which is key order: the merge walks both
        let in_key_order = match &index.keys {
            KeyIndex::Int { sorted, .. } => sorted.iter().enumerate().all(|(i, &(_, e))| e as usize == i),
            KeyIndex::Rows(_) => false,
        };
        if !in_key_order {
            return Err(Error::invalid("the log summary is not in key order"));
        }
        let schema = merge.schema.clone();
        let state = State {
            merge,
            int_col,
            index,
            lake,
            lake_done: false,
            lake_last: None,
            rows: buffer.finish()?,
            loaded: VecDeque::new(),
            loaded_until: 0,
            next_entry: 0,
            pending: None,
        };
        let out = futures::stream::try_unfold(state, |mut st| async move {
            let next = st.next_batch().await?;
            Ok(next.map(|batch| (batch, st)))
        })
        .try_filter(|b| futures::future::ready(b.num_rows() > 0));
        Ok(RecordBatchStream::new(schema, out))
    }
}

impl State {
    fn sorted_keys(&self) -> Result<&[(i64, u32)]> {
        match &self.index.keys {
            KeyIndex::Int { sorted, .. } => Ok(sorted),
            KeyIndex::Rows(_) => Err(Error::invalid("the sparse merge needs an integer key index")),
        }
    }

    /// The next output batch, or `None` at the end.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(pending) = self.pending.take() {
            return self.next_piece(pending).await.map(Some);
        }
        if !self.lake_done {
            match self.lake.next().await {
                Some(batch) => return self.merge_lake_batch(batch?).await.map(Some),
                None => self.lake_done = true,
            }
        }
        // past the lake's last key: the log's remaining upserts, a summary batch at a time
        let total = self.index.entries.len();
        if self.next_entry >= total {
            return Ok(None);
        }
        // (loading drops the batches before `next_entry`: the front one holds it)
        self.load_until(self.next_entry + 1).await?;
        let (start, batch) = self
            .loaded
            .pop_front()
            .ok_or_else(|| Error::invalid("log summary ended before its index"))?;
        let end = start + batch.num_rows();
        let mut ranges = Ranges::default();
        for e in (self.next_entry..end).filter(|&e| self.emits(e)) {
            ranges.push(0, e - start, e - start + 1);
        }
        self.next_entry = end;
        copy_ranges(&self.merge.schema, &[&batch], &ranges).map(Some)
    }

    /// Whether entry `e`'s state becomes an output row (an upsert no lake row won over).
    fn emits(&self, e: usize) -> bool {
        self.index
            .entries
            .get(e)
            .is_some_and(|entry| entry.kind == UPSERT && !entry.suppressed)
    }

    /// Reads summary batches until entry `until - 1` is loaded; drops those wholly before
    /// `next_entry`.
    async fn load_until(&mut self, until: usize) -> Result<()> {
        while let Some((start, batch)) = self.loaded.front() {
            if start + batch.num_rows() <= self.next_entry {
                self.loaded.pop_front();
            } else {
                break;
            }
        }
        let data: Vec<usize> = (0..self.merge.schema.fields().len()).collect();
        while self.loaded_until < until {
            let batch = self
                .rows
                .try_next()
                .await?
                .ok_or_else(|| Error::invalid("log summary ended before its index"))?;
            let start = self.loaded_until;
            self.loaded_until += batch.num_rows();
            self.loaded.push_back((start, batch.project(&data)?));
        }
        Ok(())
    }

    /// The lake batch with the log's states merged in, in key order.
    async fn merge_lake_batch(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(batch);
        }
        let column = batch.column(self.int_col).clone();
        // `before`: the entries below the batch's first key, which have no lake row and
        // come first
        let (before, positions) = {
            let keys = &self.sorted_keys()?[self.next_entry..];
            let mut positions = Vec::new();
            let (before, first, last): (usize, i64, i64) = match column.data_type() {
                DataType::Int64 => locate(column.as_primitive::<Int64Type>().values(), keys, &mut positions)?,
                _ => locate(column.as_primitive::<Int32Type>().values(), keys, &mut positions)?,
            };
            // a primary-key run holds each key once: a key repeated where batches meet would
            // find its log entry already spent, so it fails like a key out of order
            if let Some(previous) = self.lake_last
                && first <= previous
            {
                return Err(Error::corrupt(format!(
                    "the lake run is not in strict key order: a batch starts at key {first} after key {previous}"
                )));
            }
            self.lake_last = Some(last);
            (before, positions)
        };
        if before == 0 && positions.is_empty() {
            return Ok(batch);
        }
        if before + positions.len() > self.merge.batch_size.max(1) {
            let before_end = self.next_entry + before;
            let pending = Pending {
                batch,
                positions,
                before_end,
                positions_done: 0,
                rows_done: 0,
            };
            return self.next_piece(pending).await;
        }
        let end = self.next_entry + before + positions.len();
        self.load_until(end).await?;
        let out = self.merge_rows(&batch, self.next_entry..self.next_entry + before, &positions, 0..n)?;
        self.next_entry = end;
        Ok(out)
    }

    /// The next piece of a [`Pending`] lake batch; keeps it pending while pieces are left.
    async fn next_piece(&mut self, mut p: Pending) -> Result<RecordBatch> {
        let most = self.merge.batch_size.max(1);
        if self.next_entry < p.before_end {
            let end = p.before_end.min(self.next_entry + most);
            self.load_until(end).await?;
            let out = self.merge_rows(&p.batch, self.next_entry..end, &[], 0..0)?;
            self.next_entry = end;
            self.pending = Some(p);
            return Ok(out);
        }
        // a slice ends where the next slice's first entry falls: a key's equal rows stay
        // in one slice
        let (from, to) = (p.positions_done, (p.positions_done + most).min(p.positions.len()));
        let rows_end = p.positions.get(to).map_or(p.batch.num_rows(), |next| next.row);
        let end = p.before_end + to;
        self.load_until(end).await?;
        let out = self.merge_rows(&p.batch, 0..0, &p.positions[from..to], p.rows_done..rows_end)?;
        self.next_entry = end;
        (p.positions_done, p.rows_done) = (to, rows_end);
        if rows_end < p.batch.num_rows() {
            self.pending = Some(p);
        }
        Ok(out)
    }

    /// Lake rows `rows` of `batch` with the log's states merged in: first the emitted
    /// entries of `before` (below the rows' keys), then the rows, each log key among them
    /// (`positions`) decided against its lake rows. The entries must be loaded.
    fn merge_rows(
        &mut self,
        batch: &RecordBatch,
        before: std::ops::Range<usize>,
        positions: &[Position],
        rows: std::ops::Range<usize>,
    ) -> Result<RecordBatch> {
        let mut ranges = Ranges::default();
        for e in before {
            self.pick_entry(e, &mut ranges)?;
        }
        let mut versions = LazyVersions::default();
        let mut next_row = rows.start;
        for &Position { row, entry, equal } in positions {
            ranges.push(0, next_row, row);
            let e = entry as usize;
            let mut lake_kept = false;
            for r in row..row + equal {
                let state = self
                    .index
                    .entries
                    .get_mut(e)
                    .ok_or_else(|| Error::invalid("log index entry out of range"))?;
                if self.merge.decide(state, batch, r, &mut versions)? {
                    ranges.push(0, r, r + 1);
                    lake_kept = true;
                }
            }
            if !lake_kept {
                self.pick_entry(e, &mut ranges)?;
            }
            next_row = row + equal;
        }
        ranges.push(0, next_row, rows.end);

        let mut sources: Vec<&RecordBatch> = Vec::with_capacity(1 + self.loaded.len());
        sources.push(batch);
        sources.extend(self.loaded.iter().map(|(_, b)| b));
        copy_ranges(&self.merge.schema, &sources, &ranges)
    }

    /// Adds entry `e`'s row to `ranges` when it is emitted; sources are the lake batch
    /// (0) then the loaded summary batches.
    fn pick_entry(&self, e: usize, ranges: &mut Ranges) -> Result<()> {
        if !self.emits(e) {
            return Ok(());
        }
        for (i, (start, b)) in self.loaded.iter().enumerate() {
            if e >= *start && e < start + b.num_rows() {
                ranges.push(1 + i, e - start, e - start + 1);
                return Ok(());
            }
        }
        Err(Error::invalid(format!("log summary row {e} is not loaded")))
    }
}

/// Where `keys` fall in a lake batch (see [`sorted_positions`]), with the batch's first and
/// last key. The batch's reader promised key order, and a search over keys out of order
/// would miss some: a batch whose keys do not ascend fails rather than lose rows (checked
/// in the search's own pass).
fn locate<T: Copy + Into<i64> + PartialOrd>(
    values: &[T],
    keys: &[(i64, u32)],
    positions: &mut Vec<Position>,
) -> Result<(usize, i64, i64)> {
    let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
        return Ok((0, i64::MIN, i64::MIN));
    };
    let below = sorted_positions(values, keys, positions).ok_or_else(|| {
        Error::corrupt(format!(
            "the lake run is not in key order: a batch of keys {} to {} does not ascend",
            first.into(),
            last.into()
        ))
    })?;
    Ok((below, first.into(), last.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::fold::FoldRule;
    use crate::merge::test_rows::{log_merge, rows, schema, summary, values};

    async fn merged(
        rule: FoldRule,
        lake: Vec<RecordBatch>,
        log: Vec<RecordBatch>,
        budget: usize,
    ) -> Result<Vec<String>> {
        let root = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let summary_schema = log[0].schema();
        let out = SparseMerge(log_merge(rule, budget, root.path())?)
            .run(
                RecordBatchStream::from_batches(summary_schema, log),
                RecordBatchStream::from_batches(schema(), lake),
            )
            .await?;
        let batches: Vec<RecordBatch> = out.try_collect().await?;
        Ok(values(&batches))
    }

    #[tokio::test]
    async fn log_states_land_in_key_order_around_and_between_lake_batches() -> Result<()> {
        let lake = vec![
            rows(&[10, 20, 30], "lake")?,
            rows(&[40, 50], "lake")?,
            rows(&[60], "lake")?,
        ];
        // before the lake, a replace, a new key inside a batch, a delete, a key between
        // batches, a delete of a key the lake lacks, after the lake; over two summary batches
        let log = vec![
            summary(&[(5, true), (20, true), (25, true)])?,
            summary(&[(30, false), (35, true), (45, false), (50, true), (70, true)])?,
        ];
        let want = [
            "log5", "lake10", "log20", "log25", "log35", "lake40", "log50", "lake60", "log70",
        ];
        for budget in [usize::MAX, 1] {
            // a budget of one byte spills the summary: it is read back in order
            let got = merged(FoldRule::Deduplicate, lake.clone(), log.clone(), budget).await?;
            assert_eq!(got, want, "budget {budget}");
        }
        // first-row: a lake row wins over the log's state of its key
        let got = merged(
            FoldRule::FirstRow,
            lake.clone(),
            vec![summary(&[(20, true), (25, true)])?],
            usize::MAX,
        )
        .await?;
        assert_eq!(
            got,
            ["lake10", "lake20", "log25", "lake30", "lake40", "lake50", "lake60"]
        );
        // an untouched batch passes through, an empty log leaves the lake as it is
        let got = merged(FoldRule::Deduplicate, lake, vec![summary(&[])?], usize::MAX).await?;
        assert_eq!(got, ["lake10", "lake20", "lake30", "lake40", "lake50", "lake60"]);
        Ok(())
    }

    #[tokio::test]
    async fn a_lake_batch_with_more_log_keys_than_a_batch_goes_out_in_pieces() -> Result<()> {
        // regression: every log key below a lake batch's first key and among its keys was
        // loaded at once (a spilled summary read back whole) and went out in one batch
        let lake = vec![rows(&[100, 200, 300], "lake")?, rows(&[400], "lake")?];
        let mut changes: Vec<(i64, bool)> = (0..40).map(|k| (k, true)).collect();
        changes.extend((101..140).map(|k| (k, true)));
        changes.extend([(200, false), (250, true), (300, true)]);
        let log: Vec<RecordBatch> = changes.chunks(16).map(summary).collect::<Result<_>>()?;
        let mut want: Vec<String> = (0..40).map(|k| format!("log{k}")).collect();
        want.push("lake100".into());
        want.extend((101..140).map(|k| format!("log{k}")));
        want.extend(["log250", "log300", "lake400"].map(String::from));
        for budget in [usize::MAX, 1] {
            let root = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
            let mut merge = log_merge(FoldRule::Deduplicate, budget, root.path())?;
            merge.batch_size = 8;
            let out = SparseMerge(merge)
                .run(
                    RecordBatchStream::from_batches(log[0].schema(), log.clone()),
                    RecordBatchStream::from_batches(schema(), lake.clone()),
                )
                .await?;
            let batches: Vec<RecordBatch> = out.try_collect().await?;
            assert_eq!(values(&batches), want, "budget {budget}");
            // at most a batch of log rows, and the lake rows among them
            let largest = batches.iter().map(RecordBatch::num_rows).max().unwrap_or_default();
            assert!(largest <= 8 + 3, "a batch of {largest} rows (budget {budget})");
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_run_whose_batches_go_back_in_key_order_fails() -> Result<()> {
        // two files chained as one run in the wrong order: an error, not rows lost or misplaced
        let lake = vec![rows(&[40, 50], "lake")?, rows(&[10, 20], "lake")?];
        let log = vec![summary(&[(20, true)])?];
        let err = match merged(FoldRule::Deduplicate, lake, log, usize::MAX).await {
            Ok(got) => panic!("merged a run out of key order: {got:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), crate::error::ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("not in strict key order"), "{err}");
        // a key repeated where batches meet fails the same way (its log entry is spent)
        let lake = vec![rows(&[10, 20], "lake")?, rows(&[20, 30], "lake")?];
        let log = vec![summary(&[(20, false)])?];
        let err = match merged(FoldRule::Deduplicate, lake, log, usize::MAX).await {
            Ok(got) => panic!("merged a run with a repeated key: {got:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), crate::error::ErrorKind::Corrupt, "{err}");
        // and keys out of order inside a batch, which a search for the log's keys would
        // miss (here key 2's deletion)
        let lake = vec![rows(&[1, 3, 2], "lake")?];
        let log = vec![summary(&[(2, false)])?];
        let err = match merged(FoldRule::Deduplicate, lake, log, usize::MAX).await {
            Ok(got) => panic!("merged a batch out of key order: {got:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), crate::error::ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("keys 1 to 2 does not ascend"), "{err}");
        Ok(())
    }
}
