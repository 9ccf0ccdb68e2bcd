//! The k-way merge of key-sorted streams: cursors over keyed batches, a loser tree to pick
//! the smallest key, and a batch builder that retains the inputs the output refers to.
//!
//! Ties between equal keys go to the input with the smaller index, so callers order their
//! inputs by precedence (lake splits first, the log last).

use std::cmp::Ordering;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use arrow_array::{Int8Array, RecordBatch};
use arrow_row::Rows;
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt};

use super::builder::BatchBuilder;
use super::keys::{BatchKeys, KeyEncoder, cmp_keys, needs_full_key};
use super::log_index::ascending;
use super::loser_tree::LoserTree;
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// A batch with its encoded keys, ready to merge.
#[derive(Debug)]
pub(crate) struct KeyedBatch {
    /// The rows, in the merge's schema.
    pub batch: RecordBatch,
    /// The primary keys, one per row.
    pub keys: BatchKeys,
    /// Fluss change-type bytes per row; `None` for lake rows (upserts).
    pub changes: Option<Int8Array>,
    /// Row-format versions (versioned merge engine only).
    pub versions: Option<Rows>,
}

/// A stream of keyed batches in ascending key order.
pub(crate) type KeyedStream = Pin<Box<dyn Stream<Item = Result<KeyedBatch>> + Send>>;

impl KeyedBatch {
    /// Encodes the keys (and versions) of a batch.
    pub(crate) fn new(
        batch: RecordBatch,
        keys: &KeyEncoder,
        versions: Option<&KeyEncoder>,
        changes: Option<Int8Array>,
    ) -> Result<Self> {
        Ok(Self {
            keys: keys.batch_keys(&batch)?,
            versions: versions.map(|v| v.encode(&batch)).transpose()?,
            changes,
            batch,
        })
    }
}

/// Keys the batches of a sorted stream. Batches of `data_schema` are lake rows (upserts);
/// with a `change_column`, batches carry more columns after the data columns (a sorted
/// log's offsets and change bytes, or a log summary's change bytes), of which that one is
/// split off into the change bytes and the rest dropped.
pub(crate) fn keyed_stream(
    stream: RecordBatchStream,
    data_schema: SchemaRef,
    keys: KeyEncoder,
    versions: Option<KeyEncoder>,
    change_column: Option<usize>,
) -> KeyedStream {
    let n = data_schema.fields().len();
    Box::pin(stream.map(move |b| {
        let b = b?;
        let Some(change_column) = change_column else {
            return KeyedBatch::new(b, &keys, versions.as_ref(), None);
        };
        let changes = b
            .columns()
            .get(change_column)
            .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
            .cloned()
            .ok_or_else(|| Error::schema("sorted log changes or a log summary lack their change column"))?;
        let data = RecordBatch::try_new(data_schema.clone(), b.columns()[..n].to_vec())?;
        KeyedBatch::new(data, &keys, versions.as_ref(), Some(changes))
    }))
}

/// The head of an input with no current row: above every [`key_prefix`](super::keys::key_prefix) (whose last
/// byte is at most 16).
const EXHAUSTED: u128 = u128::MAX;

/// A position in one keyed batch.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub keyed: KeyedBatch,
    pub row: usize,
    /// The batch's slot in the merge's [`BatchBuilder`].
    pub slot: usize,
    /// [`key_prefix`](super::keys::key_prefix) of every row's key.
    prefixes: Vec<u128>,
}

impl Cursor {
    /// A cursor at the first row of `keyed`, which must be in key order: its reader
    /// promised so, and a merge that believed a wrong promise would emit rows out of order
    /// and fold the rows of one key apart. Checking costs one pass over the keys: the values
    /// of an integer key (vectorized), the prefixes of others, comparing full keys only
    /// where long keys share a prefix.
    fn new(keyed: KeyedBatch, slot: usize) -> Result<Self> {
        let prefixes = keyed.keys.prefixes();
        let keys = &keyed.keys;
        let in_order = match keys {
            BatchKeys::Rows(_) => prefixes.windows(2).enumerate().all(|(i, w)| {
                let full = |row| move || keys.full_key(row);
                cmp_keys(w[0], full(i), w[1], full(i + 1)) != Ordering::Greater
            }),
            // an integer's prefix keeps its order: the values are checked, which vectorizes
            BatchKeys::Int64(v) => ascending(v),
            BatchKeys::Int32(v) => ascending(v),
        };
        if !in_order {
            return Err(Error::corrupt(format!(
                "a batch of {} rows that should be in key order is not",
                prefixes.len()
            )));
        }
        Ok(Self {
            keyed,
            row: 0,
            slot,
            prefixes,
        })
    }

    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.keyed.keys.full_key(self.row)
    }

    /// The [`key_prefix`](super::keys::key_prefix) of the current row.
    #[inline]
    pub(crate) fn prefix(&self) -> u128 {
        self.prefixes[self.row]
    }

    /// The batch's last key: its prefix, and the full key where the prefix does not
    /// decide.
    fn last_key(&self) -> Option<(u128, Vec<u8>)> {
        let last = self.prefixes.len().checked_sub(1)?;
        let prefix = self.prefixes[last];
        let key = match needs_full_key(prefix) {
            true => self.keyed.keys.full_key(last).to_vec(),
            false => Vec::new(),
        };
        Some((prefix, key))
    }

    /// Whether the batch's first key sorts below the key with `prefix` (and full `key`,
    /// where the prefix does not decide).
    fn starts_below(&self, prefix: u128, key: &[u8]) -> bool {
        let first = self.prefixes.first().copied().unwrap_or(EXHAUSTED);
        cmp_keys(first, || self.keyed.keys.full_key(0), prefix, || key) == Ordering::Less
    }

    /// Whether the current key equals `key`, whose [`key_prefix`](super::keys::key_prefix) is `prefix` (`key` may
    /// be left empty when `needs_full_key(prefix)` is false).
    #[inline]
    pub(crate) fn key_equals(&self, prefix: u128, key: &[u8]) -> bool {
        self.prefix() == prefix && (!needs_full_key(prefix) || self.key() == key)
    }
}

/// Merges key-sorted keyed streams into one sequence of `(input, row)` picks.
pub(crate) struct KWayMerge {
    inputs: Vec<KeyedStream>,
    cursors: Vec<Option<Cursor>>,
    /// The current row's [`key_prefix`](super::keys::key_prefix) of every input, [`EXHAUSTED`] when it has none:
    /// what the loser tree compares, kept in one small array.
    heads: Vec<u128>,
    /// Inputs whose cursor is spent and that must be polled for their next batch.
    needs_batch: Vec<bool>,
    waiting: usize,
    tree: LoserTree,
    started: bool,
    /// The winner handed out last, advanced on the next call.
    advance: Option<usize>,
    /// The winner was advanced and the tree has not been replayed since.
    replay: bool,
    builder: BatchBuilder,
    /// Every input's last key so far (its prefix, and the full key where the prefix does
    /// not decide): a batch must not start below its predecessor's end.
    last_keys: Vec<Option<(u128, Vec<u8>)>>,
}

impl KWayMerge {
    /// A merge of `inputs`; output batches have `schema` (plus the change column when
    /// `with_kinds`).
    pub(crate) fn new(inputs: Vec<KeyedStream>, schema: SchemaRef, with_kinds: bool) -> Self {
        let k = inputs.len();
        Self {
            cursors: (0..k).map(|_| None).collect(),
            heads: vec![EXHAUSTED; k],
            needs_batch: vec![true; k],
            waiting: k,
            tree: LoserTree::new(k),
            started: false,
            advance: None,
            replay: false,
            builder: BatchBuilder::new(schema, with_kinds),
            last_keys: vec![None; k],
            inputs,
        }
    }

    /// Whether input `a`'s current row sorts after input `b`'s (spent inputs sort last;
    /// ties go to the smaller input index).
    #[inline(always)]
    fn greater(heads: &[u128], cursors: &[Option<Cursor>], a: usize, b: usize) -> bool {
        // `cmp_keys` written out: through its closures the tree's comparison cost the
        // kernel about a fifth of its speed (BENCHMARKS.md, session 25)
        let (x, y) = (heads[a], heads[b]);
        if x != y {
            return x > y;
        }
        // EXHAUSTED never needs the full key
        if needs_full_key(x)
            && let (Some(ca), Some(cb)) = (&cursors[a], &cursors[b])
        {
            match ca.key().cmp(cb.key()) {
                Ordering::Equal => {}
                o => return o == Ordering::Greater,
            }
        }
        a > b
    }

    /// The input holding the next row in key order, or `None` when every input is spent.
    /// The row stays current (see [`cursor`](Self::cursor)) until the next call.
    pub(crate) fn poll_next_winner(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<usize>>> {
        if let Some(w) = self.advance.take() {
            if let Some(c) = &mut self.cursors[w] {
                c.row += 1;
                if let Some(&head) = c.prefixes.get(c.row) {
                    self.heads[w] = head;
                } else {
                    self.last_keys[w] = c.last_key();
                    self.cursors[w] = None;
                    self.heads[w] = EXHAUSTED;
                    self.needs_batch[w] = true;
                    self.waiting += 1;
                }
            }
            // owed until it happens: the refill below may return Pending first
            self.replay = true;
        }
        if self.waiting > 0 {
            for i in 0..self.inputs.len() {
                while self.needs_batch[i] {
                    match ready!(self.inputs[i].poll_next_unpin(cx)) {
                        Some(Ok(keyed)) if keyed.batch.num_rows() == 0 => continue,
                        Some(Ok(keyed)) => {
                            let slot = self.builder.add_batch(keyed.batch.clone());
                            let cursor = Cursor::new(keyed, slot)?;
                            if let Some((prefix, key)) = &self.last_keys[i]
                                && cursor.starts_below(*prefix, key)
                            {
                                return Poll::Ready(Err(Error::corrupt(
                                    "a batch that should continue its input's key order starts below the batch before it",
                                )));
                            }
                            self.heads[i] = cursor.prefix();
                            self.cursors[i] = Some(cursor);
                            self.needs_batch[i] = false;
                            self.waiting -= 1;
                        }
                        Some(Err(e)) => {
                            // this input is broken: stop merging rather than skip its rows
                            return Poll::Ready(Err(e));
                        }
                        None => {
                            self.needs_batch[i] = false;
                            self.waiting -= 1;
                        }
                    }
                }
            }
        }
        let (heads, cursors) = (&self.heads, &self.cursors);
        if !self.started {
            self.tree.init(|a, b| Self::greater(heads, cursors, a, b));
            self.started = true;
        } else if self.replay {
            self.tree.replay(|a, b| Self::greater(heads, cursors, a, b));
        }
        self.replay = false;
        let w = self.tree.winner();
        if self.heads.get(w).is_none_or(|&h| h == EXHAUSTED) {
            return Poll::Ready(Ok(None));
        }
        self.advance = Some(w);
        Poll::Ready(Ok(Some(w)))
    }

    /// How many rows of the winner `w`, from its current row on, form a run that can be
    /// emitted without the tree: each sorts before every other input's current row and
    /// strictly before the next row of its own batch (so each is a key of its own). At
    /// most `max`; the batch's last row is never included (its successor is unknown).
    pub(crate) fn run_len(&self, w: usize, min: usize, max: usize) -> usize {
        let Some(c) = &self.cursors[w] else { return 0 };
        let (heads, cursors) = (&self.heads, &self.cursors);
        let bound = self.tree.runner_up(|a, b| Self::greater(heads, cursors, a, b));
        let bound_prefix = bound.map_or(EXHAUSTED, |b| heads[b]);
        // the rows are sorted: if the min-th one does not sort before the bound, no run
        // of `min` rows does (a cheap test for inputs that interleave)
        match c.prefixes.get(c.row + min) {
            Some(&p) if min > 0 && max >= min && p < bound_prefix => {}
            _ => return 0,
        }
        let bound_key = bound.and_then(|b| cursors[b].as_ref()).map(Cursor::key);
        let keys = &c.keyed.keys;
        let n = c.keyed.batch.num_rows();
        let mut i = c.row;
        while i - c.row < max && i + 1 < n {
            let p = c.prefixes[i];
            let before_bound = if p != bound_prefix {
                p < bound_prefix
            } else {
                needs_full_key(p) && bound_key.is_some_and(|k| keys.full_key(i) < k)
            };
            let q = c.prefixes[i + 1];
            let before_next = if p != q {
                p < q
            } else {
                needs_full_key(p) && keys.full_key(i) < keys.full_key(i + 1)
            };
            if !(before_bound && before_next) {
                break;
            }
            i += 1;
        }
        i - c.row
    }

    /// Picks the winner's next `len` rows (see [`run_len`](Self::run_len)) as they are;
    /// the merge then continues after them.
    pub(crate) fn take_run(&mut self, w: usize, len: usize, kind: i8) {
        if len == 0 {
            return;
        }
        if let Some(c) = &mut self.cursors[w] {
            for row in c.row..c.row + len {
                self.builder.push(c.slot, row, kind);
            }
            // the advance already due moves past the run's last row
            c.row += len - 1;
            self.heads[w] = c.prefixes[c.row];
        }
    }

    /// The current cursor of an input (valid for the winner just handed out).
    #[inline]
    pub(crate) fn cursor(&self, input: usize) -> Option<&Cursor> {
        self.cursors[input].as_ref()
    }

    /// Picks a row for the output.
    #[inline]
    pub(crate) fn push(&mut self, slot: usize, row: usize, kind: i8) {
        self.builder.push(slot, row, kind);
    }

    /// Picks not yet built.
    pub(crate) fn pending(&self) -> usize {
        self.builder.len()
    }

    /// Input batches retained by the builder.
    pub(crate) fn retained(&self) -> usize {
        self.builder.retained()
    }

    /// Builds the pending picks and releases the input batches no cursor still needs.
    pub(crate) fn flush(&mut self) -> Result<Option<RecordBatch>> {
        self.flush_keeping(None)
    }

    /// [`flush`](Self::flush), keeping also the batch in `slot` (renumbered in place): a
    /// row picked later, such as the state of the key being folded.
    pub(crate) fn flush_keeping(&mut self, slot: Option<&mut usize>) -> Result<Option<RecordBatch>> {
        let out = self.builder.build()?;
        self.builder
            .compact(self.cursors.iter_mut().flatten().map(|c| &mut c.slot).chain(slot));
        Ok(out)
    }

    /// The number of inputs.
    pub(crate) fn num_inputs(&self) -> usize {
        self.inputs.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::merge::sort::MergeStream;

    /// Yields its batches, but is not ready once before the batch at `pend_at`.
    struct PendingOnce {
        batches: VecDeque<KeyedBatch>,
        pend_at: usize,
        yielded: usize,
        pended: bool,
    }

    impl Stream for PendingOnce {
        type Item = Result<KeyedBatch>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            if self.yielded == self.pend_at && !self.pended {
                self.pended = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.yielded += 1;
            Poll::Ready(self.batches.pop_front().map(Ok))
        }
    }

    fn keyed_input(batches: &[&[i64]], pend_at: usize) -> KeyedStream {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let enc = KeyEncoder::new(&schema, &["k".to_string()]).unwrap();
        let batches = batches
            .iter()
            .map(|keys| {
                let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(keys.to_vec()))]).unwrap();
                KeyedBatch::new(b, &enc, None, None).unwrap()
            })
            .collect();
        Box::pin(PendingOnce {
            batches,
            pend_at,
            yielded: 0,
            pended: false,
        })
    }

    #[test]
    fn an_input_that_is_not_ready_after_advancing_still_gets_replayed() {
        // regression: the replay owed for an advanced winner was lost when its next batch
        // was not ready yet, so the stale winner came out before smaller keys
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let inputs = vec![keyed_input(&[&[1, 2], &[10, 11]], 1), keyed_input(&[&[3, 4, 5]], 9)];
        let merged = MergeStream::new(KWayMerge::new(inputs, schema, false), 100);
        let keys: Vec<i64> = futures::executor::block_on_stream(merged)
            .flat_map(|b| {
                let b = b.unwrap();
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(keys, vec![1, 2, 3, 4, 5, 10, 11]);
    }

    /// The k-way merge of one input: one batch of `column`, keyed by it.
    fn merge_one(column: arrow_array::ArrayRef) -> Result<Vec<RecordBatch>> {
        merge_batches(vec![column])
    }

    /// The k-way merge of one input: a batch of each of `columns`, keyed by it.
    fn merge_batches(columns: Vec<arrow_array::ArrayRef>) -> Result<Vec<RecordBatch>> {
        let ty = columns.first().map_or(DataType::Int64, |c| c.data_type().clone());
        let schema = Arc::new(Schema::new(vec![Field::new("k", ty, false)]));
        let enc = KeyEncoder::new(&schema, &["k".to_string()])?;
        let batches = columns
            .into_iter()
            .map(|c| KeyedBatch::new(RecordBatch::try_new(schema.clone(), vec![c])?, &enc, None, None))
            .collect::<Vec<_>>();
        let input: KeyedStream = Box::pin(futures::stream::iter(batches));
        let merged = MergeStream::new(KWayMerge::new(vec![input], schema, false), 100);
        futures::executor::block_on_stream(merged).collect()
    }

    #[test]
    fn a_batch_that_starts_below_its_predecessor_fails_rather_than_merge_wrong() -> Result<()> {
        // regression: the order was checked within each batch only
        let ints = |v: Vec<i64>| Arc::new(Int64Array::from(v)) as arrow_array::ArrayRef;
        let merged = merge_batches(vec![ints(vec![1, 5]), ints(vec![5, 6])])?;
        assert_eq!(
            merged.iter().map(|b| b.num_rows()).sum::<usize>(),
            4,
            "a key may span batches"
        );
        let long = "k".repeat(20);
        let strings =
            |v: &str| Arc::new(arrow_array::StringArray::from(vec![format!("{long}{v}")])) as arrow_array::ArrayRef;
        for batches in [
            vec![ints(vec![1, 5]), ints(vec![3, 4])],
            vec![strings("b"), strings("a")],
        ] {
            let err = merge_batches(batches)
                .err()
                .ok_or_else(|| Error::invalid("merged keys out of order"))?;
            assert_eq!(err.kind(), crate::error::ErrorKind::Corrupt, "{err}");
            assert!(err.to_string().contains("key order"), "{err}");
        }
        Ok(())
    }

    #[test]
    fn a_batch_out_of_key_order_fails_rather_than_merge_wrong() -> Result<()> {
        let in_order: arrow_array::ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 2, 3]));
        assert_eq!(merge_one(in_order)?.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
        let integers: arrow_array::ArrayRef = Arc::new(Int64Array::from(vec![1, 3, 2]));
        // long keys that share their first 15 bytes: only the full keys tell the order
        let long = "k".repeat(20);
        let strings: arrow_array::ArrayRef = Arc::new(arrow_array::StringArray::from(vec![
            format!("{long}b"),
            format!("{long}a"),
        ]));
        for column in [integers, strings] {
            let err = merge_one(column)
                .err()
                .ok_or_else(|| Error::invalid("merged keys out of order"))?;
            assert_eq!(err.kind(), crate::error::ErrorKind::Corrupt, "{err}");
            assert!(err.to_string().contains("should be in key order"), "{err}");
        }
        Ok(())
    }
}
