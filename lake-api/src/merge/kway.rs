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
use super::keys::KeyEncoder;
use super::loser_tree::LoserTree;
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// A batch with its encoded keys, ready to merge.
#[derive(Debug)]
pub(crate) struct KeyedBatch {
    /// The rows, in the merge's schema.
    pub batch: RecordBatch,
    /// Row-format primary keys, one per row.
    pub keys: Rows,
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
            keys: keys.encode(&batch)?,
            versions: versions.map(|v| v.encode(&batch)).transpose()?,
            changes,
            batch,
        })
    }
}

/// Keys the batches of a sorted stream. Batches of `data_schema` are lake rows (upserts);
/// with `with_changes`, batches carry the offset and change columns after the data
/// columns (see `union::change_schema`), which are split off into the change bytes.
pub(crate) fn keyed_stream(
    stream: RecordBatchStream,
    data_schema: SchemaRef,
    keys: KeyEncoder,
    versions: Option<KeyEncoder>,
    with_changes: bool,
) -> KeyedStream {
    let n = data_schema.fields().len();
    Box::pin(stream.map(move |b| {
        let b = b?;
        if !with_changes {
            return KeyedBatch::new(b, &keys, versions.as_ref(), None);
        }
        let changes = b
            .columns()
            .get(n + 1)
            .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
            .cloned()
            .ok_or_else(|| Error::schema("sorted log changes lack their change column"))?;
        let data = RecordBatch::try_new(data_schema.clone(), b.columns()[..n].to_vec())?;
        KeyedBatch::new(data, &keys, versions.as_ref(), Some(changes))
    }))
}

/// A position in one keyed batch.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub keyed: KeyedBatch,
    pub row: usize,
    /// The batch's slot in the merge's [`BatchBuilder`].
    pub slot: usize,
}

impl Cursor {
    #[inline]
    pub(crate) fn key(&self) -> &[u8] {
        self.keyed.keys.row(self.row).data()
    }
}

/// Merges key-sorted keyed streams into one sequence of `(input, row)` picks.
pub(crate) struct KWayMerge {
    inputs: Vec<KeyedStream>,
    cursors: Vec<Option<Cursor>>,
    /// Inputs whose cursor is spent and that must be polled for their next batch.
    needs_batch: Vec<bool>,
    waiting: usize,
    tree: LoserTree,
    started: bool,
    /// The winner handed out last, advanced on the next call.
    advance: Option<usize>,
    builder: BatchBuilder,
}

impl KWayMerge {
    /// A merge of `inputs`; output batches have `schema` (plus the change column when
    /// `with_kinds`).
    pub(crate) fn new(inputs: Vec<KeyedStream>, schema: SchemaRef, with_kinds: bool) -> Self {
        let k = inputs.len();
        Self {
            cursors: (0..k).map(|_| None).collect(),
            needs_batch: vec![true; k],
            waiting: k,
            tree: LoserTree::new(k),
            started: false,
            advance: None,
            builder: BatchBuilder::new(schema, with_kinds),
            inputs,
        }
    }

    fn greater(cursors: &[Option<Cursor>], a: usize, b: usize) -> bool {
        match (&cursors[a], &cursors[b]) {
            (None, _) => true,
            (_, None) => false,
            (Some(x), Some(y)) => match x.key().cmp(y.key()) {
                Ordering::Equal => a > b,
                o => o == Ordering::Greater,
            },
        }
    }

    /// The input holding the next row in key order, or `None` when every input is spent.
    /// The row stays current (see [`cursor`](Self::cursor)) until the next call.
    pub(crate) fn poll_next_winner(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<usize>>> {
        let mut replay = false;
        if let Some(w) = self.advance.take() {
            if let Some(c) = &mut self.cursors[w] {
                c.row += 1;
                if c.row == c.keyed.batch.num_rows() {
                    self.cursors[w] = None;
                    self.needs_batch[w] = true;
                    self.waiting += 1;
                }
            }
            replay = true;
        }
        if self.waiting > 0 {
            for i in 0..self.inputs.len() {
                while self.needs_batch[i] {
                    match ready!(self.inputs[i].poll_next_unpin(cx)) {
                        Some(Ok(keyed)) if keyed.batch.num_rows() == 0 => continue,
                        Some(Ok(keyed)) => {
                            let slot = self.builder.add_batch(keyed.batch.clone());
                            self.cursors[i] = Some(Cursor { keyed, row: 0, slot });
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
        let cursors = &self.cursors;
        if !self.started {
            self.tree.init(|a, b| Self::greater(cursors, a, b));
            self.started = true;
        } else if replay {
            self.tree.replay(|a, b| Self::greater(cursors, a, b));
        }
        let w = self.tree.winner();
        if self.cursors.get(w).is_none_or(|c| c.is_none()) {
            return Poll::Ready(Ok(None));
        }
        self.advance = Some(w);
        Poll::Ready(Ok(Some(w)))
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
        let out = self.builder.build()?;
        self.builder
            .compact(self.cursors.iter_mut().flatten().map(|c| &mut c.slot));
        Ok(out)
    }

    /// The number of inputs.
    pub(crate) fn num_inputs(&self) -> usize {
        self.inputs.len()
    }
}
