//! Folding the rows of one key into its final state, per merge engine.
//!
//! One rule serves every merge. A union read first folds the log changes of a key (offset
//! order) alone into its summary row ([`log_summary`](super::log_summary)), which applies
//! to the key's lake rows exactly like the changes it stands for (deduplicate: the last change
//! decides; first-row: the first insert, if the key has no lake row; versioned: the largest
//! version is an associative choice). The sort-merge then folds a key's lake rows and its
//! summary row in one pass; the key filter and the sparse merge decide each lake row
//! against the summary. A lake writer that applies changes ([`apply`](super::apply)) folds
//! the unsummarized changes with the lake rows, to the same rows.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use arrow_array::{Array, RecordBatch};
use arrow_row::Rows;
use futures::Stream;

use arrow_schema::SchemaRef;

use super::keys::needs_full_key;
use super::kway::{Cursor, KWayMerge, KeyedStream};
use crate::error::Result;
use crate::log::ChangeType;
use crate::table::MergeEngine;

/// The change byte of an upsert (lake rows, `+I`, `+U`, `+A`) in summaries.
pub(crate) const UPSERT: i8 = ChangeType::Insert as i8;
/// The change byte of a deletion in summaries.
pub(crate) const DELETE: i8 = ChangeType::Delete as i8;

#[inline]
pub(crate) fn is_retraction(byte: i8) -> bool {
    byte == ChangeType::UpdateBefore as i8 || byte == ChangeType::Delete as i8
}

/// A merge engine resolved against the read schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FoldRule {
    Deduplicate,
    FirstRow,
    /// Versioned on the read-schema column at this index.
    Versioned(usize),
}

impl FoldRule {
    pub(crate) fn new(engine: &MergeEngine, version_column: Option<usize>) -> Self {
        match (engine, version_column) {
            (MergeEngine::FirstRow, _) => FoldRule::FirstRow,
            (MergeEngine::Versioned { .. }, Some(c)) => FoldRule::Versioned(c),
            _ => FoldRule::Deduplicate,
        }
    }
}

/// One row as a fold sees it: where it is, its change byte (lake rows are upserts), and
/// what the versioned engine reads of it.
#[derive(Clone, Copy)]
pub(crate) struct FoldRow<'a> {
    /// The row's batch: a merge's builder slot, or an index into buffered batches.
    pub slot: usize,
    pub row: usize,
    pub change: i8,
    pub batch: &'a RecordBatch,
    /// The batch's encoded version column (versioned engine only).
    pub versions: Option<&'a Rows>,
}

impl<'a> FoldRow<'a> {
    /// The row under cursor `c`.
    pub(crate) fn at(c: &'a Cursor) -> Self {
        Self {
            slot: c.slot,
            row: c.row,
            change: c.keyed.changes.as_ref().map_or(UPSERT, |ch| ch.value(c.row)),
            batch: &c.keyed.batch,
            versions: c.keyed.versions.as_ref(),
        }
    }

    fn state(&self, kind: i8, version_null: bool, version: &[u8]) -> KeyState {
        KeyState {
            slot: self.slot,
            row: self.row,
            kind,
            version_null,
            version: version.to_vec(),
        }
    }
}

/// The state a key has reached: the row that stands for it and whether it is deleted.
#[derive(Debug, Clone)]
pub(crate) struct KeyState {
    pub slot: usize,
    pub row: usize,
    pub kind: i8,
    version_null: bool,
    version: Vec<u8>,
}

impl FoldRule {
    /// Applies one row to the state its key has reached.
    #[inline]
    pub(crate) fn apply(&self, state: &mut Option<KeyState>, row: FoldRow<'_>) {
        match self {
            FoldRule::Deduplicate => {
                let kind = if is_retraction(row.change) { DELETE } else { UPSERT };
                match state {
                    Some(s) => {
                        s.slot = row.slot;
                        s.row = row.row;
                        s.kind = kind;
                    }
                    None => *state = Some(row.state(kind, false, &[])),
                }
            }
            FoldRule::FirstRow => {
                if !is_retraction(row.change) && state.is_none() {
                    *state = Some(row.state(UPSERT, false, &[]));
                }
            }
            FoldRule::Versioned(column) => {
                if is_retraction(row.change) {
                    return;
                }
                let null = row.batch.column(*column).is_null(row.row);
                let version = row.versions.map_or(&[][..], |v| v.row(row.row).data());
                let replace = match state {
                    None => true,
                    Some(s) => !null && (s.version_null || version >= s.version.as_slice()),
                };
                if replace {
                    *state = Some(row.state(UPSERT, null, version));
                }
            }
        }
    }

    /// Whether a summarized log state (`summary_null`, `summary_version`) replaces a lake
    /// row with `lake_null` / `lake_version` (versioned engine).
    pub(crate) fn versioned_replaces(
        summary_null: bool,
        summary_version: &[u8],
        lake_null: bool,
        lake_version: &[u8],
    ) -> bool {
        !summary_null && (lake_null || summary_version >= lake_version)
    }
}

/// Runs shorter than this go through the tree row by row (finding them costs more than
/// they save).
const MIN_RUN: usize = 4;
/// After `n` misses in a row the next `2^n - 1` groups skip the run search (up to 2^6).
const MAX_RUN_BACKOFF_SHIFT: u32 = 6;

/// What a fold emits for each key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoldOutput {
    /// The surviving row of every key that has one (the merged table).
    Rows,
    /// Every key's final state with a change column: upserts and, for deduplicate,
    /// deletions (the log summary the key filter uses).
    Summary,
}

/// Groups a k-way merge's rows by key and emits each key's final state, in key order.
pub(crate) struct GroupFold {
    merge: KWayMerge,
    rule: FoldRule,
    output: FoldOutput,
    batch_size: usize,
    /// Retained input batches past which pending picks are flushed early, so that inputs
    /// whose rows are all dropped are not held forever.
    max_retained: usize,
    /// The current group's key prefix, and its full key only when the prefix does not
    /// decide equality.
    group_prefix: u128,
    group_key: Vec<u8>,
    state: Option<KeyState>,
    in_group: bool,
    done: bool,
    /// Consecutive run searches that found none, and groups left to skip searching.
    run_misses: u32,
    run_backoff: u32,
}

impl GroupFold {
    /// The fold of the k-way merge of `inputs` (key-sorted, in precedence order) into
    /// batches of `schema`, plus the change column for a [`FoldOutput::Summary`].
    pub(crate) fn new(
        inputs: Vec<KeyedStream>,
        schema: SchemaRef,
        rule: FoldRule,
        output: FoldOutput,
        batch_size: usize,
    ) -> Self {
        let merge = KWayMerge::new(inputs, schema, output == FoldOutput::Summary);
        let max_retained = 2 * merge.num_inputs() + 32;
        Self {
            merge,
            rule,
            output,
            batch_size: batch_size.max(1),
            max_retained,
            group_prefix: 0,
            group_key: Vec::new(),
            state: None,
            in_group: false,
            done: false,
            run_misses: 0,
            run_backoff: 0,
        }
    }

    fn finish_group(&mut self) {
        if let Some(s) = self.state.take()
            && (s.kind == UPSERT || self.output == FoldOutput::Summary)
        {
            self.merge.push(s.slot, s.row, s.kind);
        }
        self.in_group = false;
    }
}

impl Stream for GroupFold {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let winner = match ready!(this.merge.poll_next_winner(cx)) {
                Ok(w) => w,
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            };
            let Some(w) = winner else {
                this.finish_group();
                this.done = true;
                return Poll::Ready(this.merge.flush().transpose());
            };
            let same = this.in_group
                && this
                    .merge
                    .cursor(w)
                    .is_some_and(|c| c.key_equals(this.group_prefix, &this.group_key));
            if !same && this.in_group {
                this.finish_group();
            }
            let mut ready_batch = None;
            // between groups a full batch goes out; past the retention bound the batches go
            // out even inside a group (one row changed a million times), but for the one
            // that holds the group's state
            if this.merge.retained() > this.max_retained || (!same && this.merge.pending() >= this.batch_size) {
                match this.merge.flush_keeping(this.state.as_mut().map(|s| &mut s.slot)) {
                    Ok(b) => ready_batch = b,
                    Err(e) => {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            if !same {
                // a lake run that sorts before every other input is keys of their own: it
                // goes out as it is, without a fold or a tree replay per row
                if this.output == FoldOutput::Rows && this.merge.cursor(w).is_some_and(|c| c.keyed.changes.is_none()) {
                    if this.run_backoff > 0 {
                        this.run_backoff -= 1;
                    } else {
                        let room = this.batch_size.saturating_sub(this.merge.pending());
                        let run = this.merge.run_len(w, MIN_RUN, room);
                        if run >= MIN_RUN {
                            this.run_misses = 0;
                            this.merge.take_run(w, run, UPSERT);
                            if let Some(b) = ready_batch {
                                return Poll::Ready(Some(Ok(b)));
                            }
                            continue;
                        }
                        // inputs that interleave row by row stop paying for the search
                        this.run_misses = (this.run_misses + 1).min(MAX_RUN_BACKOFF_SHIFT);
                        this.run_backoff = (1 << this.run_misses) - 1;
                    }
                }
                // the group starts after any flush: the flush renumbers cursor slots
                if let Some(c) = this.merge.cursor(w) {
                    this.group_prefix = c.prefix();
                    this.group_key.clear();
                    if needs_full_key(this.group_prefix) {
                        this.group_key.extend_from_slice(c.key());
                    }
                    this.in_group = true;
                }
            }
            if let Some(c) = this.merge.cursor(w) {
                this.rule.apply(&mut this.state, FoldRow::at(c));
            }
            if let Some(b) = ready_batch {
                return Poll::Ready(Some(Ok(b)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, Weak};

    use arrow_array::{Array, Int64Array};
    use arrow_schema::{DataType, Field, Schema};
    use futures::StreamExt;

    use super::*;
    use crate::merge::keys::KeyEncoder;
    use crate::merge::kway::{KeyedBatch, KeyedStream};
    use crate::table::MergeEngine;

    #[test]
    fn a_long_group_keeps_only_the_batch_its_state_is_in() -> Result<()> {
        // regression: every batch holding rows of the group being folded stayed in memory
        // until the group ended, so one key changed a million times kept the whole
        // (spilled) log tail in memory
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let keys = KeyEncoder::new(&schema, &["k".to_string()])?;
        let (batches, rows) = (200, 10);
        // the batches yielded so far, to count how many are still held when the next is
        let seen: Mutex<Vec<Weak<dyn Array>>> = Mutex::default();
        let most_alive = Arc::new(AtomicUsize::new(0));
        let most = most_alive.clone();
        let input_schema = schema.clone();
        let input: KeyedStream = Box::pin(futures::stream::iter(0..batches).map(move |i| {
            let batch = RecordBatch::try_new(
                input_schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![1; rows])),
                    Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|r| i * 10 + r))),
                ],
            )?;
            let mut seen = seen.lock().map_err(|_| crate::Error::invalid("poisoned"))?;
            let alive = seen.iter().filter(|w| w.strong_count() > 0).count();
            most.fetch_max(alive, Ordering::SeqCst);
            seen.push(Arc::downgrade(batch.column(1)));
            KeyedBatch::new(batch, &keys, None, None)
        }));
        let fold = GroupFold::new(
            vec![input],
            schema,
            FoldRule::new(&MergeEngine::Deduplicate, None),
            FoldOutput::Rows,
            8192,
        );
        let out: Vec<RecordBatch> = futures::executor::block_on_stream(fold).collect::<Result<_>>()?;
        let last = out
            .iter()
            .flat_map(|b| {
                b.column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|a| a.values().to_vec())
            })
            .flatten()
            .collect::<Vec<_>>();
        assert_eq!(last, vec![(batches - 1) * 10 + rows as i64 - 1], "the key's last row");
        let most = most_alive.load(Ordering::SeqCst);
        assert!(most <= 40, "{most} of the group's batches were held at once");
        Ok(())
    }
}
