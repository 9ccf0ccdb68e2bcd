//! The log tail folded per key: each changed key's final state, one row per key in key
//! order, with its change byte. Every merge of lake rows with a log tail reads the tail this
//! way (see [`fold`](super::fold) for why folding the log first gives the same rows).
//!
//! A tail that fit its sort's budget is folded straight over its sort order: a group of
//! equal keys becomes its one surviving row before any row is copied, so only the summary
//! is gathered. A spilled tail goes through the k-way merge of its runs and a
//! [`GroupFold`].

use std::sync::Arc;

use arrow_array::{Array, Int8Array, RecordBatch};
use arrow_row::Rows;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::fold::{FoldOutput, FoldRow, FoldRule, GroupFold};
use super::kway::keyed_stream;
use super::log_index::LogMerge;
use super::sort::{ExternalSorter, Sorted};
use super::sort_order::{Gather, SortOrder};
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;
use crate::union::CHANGE_COLUMN;

/// What a log summary holds: the data columns, then the change byte of each key's final
/// state (an upsert, or for the deduplicate engine a deletion).
pub(crate) fn summary_schema(data: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<_> = data.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(CHANGE_COLUMN, DataType::Int8, false)));
    Arc::new(Schema::new(fields))
}

impl LogMerge {
    /// The summary of every change pushed into `sorter` (batches of the read schema's
    /// columns, then the offset and change columns).
    pub(crate) fn summarize(&self, sorter: ExternalSorter) -> Result<RecordBatchStream> {
        let schema = summary_schema(&self.schema);
        let change_column = self.schema.fields().len() + 1;
        match sorter.finish_sorted()? {
            Sorted::InMemory { batches, order } => {
                let Survivors { picks, kinds } = self.fold_order(&batches, &order, change_column)?;
                drop(order);
                let gather = Gather::with_kinds(schema.clone(), batches, picks, kinds, self.batch_size);
                Ok(RecordBatchStream::new(schema, futures::stream::iter(gather)))
            }
            Sorted::Spilled(sorted) => {
                let log = keyed_stream(
                    sorted,
                    self.schema.clone(),
                    self.keys.clone(),
                    self.versions.clone(),
                    Some(change_column),
                );
                let fold = GroupFold::new(
                    vec![log],
                    schema.clone(),
                    self.rule.clone(),
                    FoldOutput::Summary,
                    self.batch_size,
                );
                Ok(RecordBatchStream::new(schema, fold))
            }
        }
    }

    /// Each key's surviving row in `batches`, in key order.
    fn fold_order(&self, batches: &[RecordBatch], order: &SortOrder, change_column: usize) -> Result<Survivors> {
        let changes: Vec<&Int8Array> = batches
            .iter()
            .map(|b| {
                b.columns()
                    .get(change_column)
                    .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
                    .ok_or_else(|| Error::schema("sorted log changes lack their change column"))
            })
            .collect::<Result<_>>()?;
        let versions: Vec<Option<Rows>> = match (&self.rule, &self.versions) {
            (FoldRule::Versioned(_), Some(enc)) => {
                batches.iter().map(|b| enc.encode(b).map(Some)).collect::<Result<_>>()?
            }
            _ => batches.iter().map(|_| None).collect(),
        };
        let mut picks = Vec::new();
        let mut kinds = Vec::new();
        for group in order.key_groups() {
            let mut state = None;
            for &(b, r) in &order.rows[group] {
                let row = FoldRow {
                    slot: b,
                    row: r,
                    change: changes[b].value(r),
                    batch: &batches[b],
                    versions: versions[b].as_ref(),
                };
                self.rule.apply(&mut state, row);
            }
            if let Some(s) = state {
                picks.push((s.slot, s.row));
                kinds.push(s.kind);
            }
        }
        Ok(Survivors { picks, kinds })
    }
}

/// The row that stands for each key of a folded log, and its change byte.
struct Survivors {
    /// `(batch, row)` per key, in key order.
    picks: Vec<(usize, usize)>,
    kinds: Vec<i8>,
}

#[cfg(test)]
mod tests {
    use arrow_array::{ArrayRef, Int64Array};
    use futures::TryStreamExt;

    use super::*;
    use crate::log::ChangeType;
    use crate::merge::fold::{DELETE, UPSERT};
    use crate::merge::keys::KeyEncoder;
    use crate::merge::spill::SpillDir;

    fn data_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
        ]))
    }

    /// A sorted-log batch: data columns, offsets, change bytes.
    fn changes(rows: &[(i64, Option<i64>, ChangeType)], first_offset: i64) -> Result<RecordBatch> {
        let n = rows.len() as i64;
        Ok(RecordBatch::try_from_iter_with_nullable([
            (
                "k",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
                false,
            ),
            (
                "v",
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
                true,
            ),
            (
                "offset",
                Arc::new(Int64Array::from_iter_values(first_offset..first_offset + n)) as ArrayRef,
                false,
            ),
            (
                "change",
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2 as i8))) as ArrayRef,
                false,
            ),
        ])?)
    }

    /// `(key, v, change byte)` of every summary row, for a sorter with `budget`.
    async fn summary(rule: FoldRule, budget: usize, batches: &[RecordBatch]) -> Result<Vec<(i64, Option<i64>, i8)>> {
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let schema = batches[0].schema();
        let keys = KeyEncoder::new(&schema, &["k".to_string()])?;
        let versions = match rule {
            FoldRule::Versioned(_) => Some(KeyEncoder::new(&schema, &["v".to_string()])?),
            _ => None,
        };
        let mut sorter = ExternalSorter::new(schema, keys.clone(), budget, 2, spill.clone());
        for b in batches {
            sorter.push(b.clone())?;
        }
        let merge = LogMerge {
            schema: data_schema(),
            keys,
            versions,
            rule,
            budget,
            spill,
            batch_size: 2,
        };
        let out: Vec<RecordBatch> = merge.summarize(sorter)?.try_collect().await?;
        let mut rows = Vec::new();
        for b in &out {
            let k = b.column(0).as_any().downcast_ref::<Int64Array>();
            let v = b.column(1).as_any().downcast_ref::<Int64Array>();
            let c = b.column(2).as_any().downcast_ref::<Int8Array>();
            let (Some(k), Some(v), Some(c)) = (k, v, c) else {
                return Err(Error::schema("summary columns"));
            };
            rows.extend((0..b.num_rows()).map(|i| (k.value(i), v.is_valid(i).then(|| v.value(i)), c.value(i))));
        }
        Ok(rows)
    }

    #[tokio::test]
    async fn in_memory_and_spilled_tails_fold_alike_for_every_engine() -> Result<()> {
        use ChangeType::*;
        let batches = [
            changes(&[(2, Some(5), Insert), (1, Some(1), Insert), (3, Some(9), Insert)], 0)?,
            changes(
                &[(2, Some(5), UpdateBefore), (2, Some(4), UpdateAfter), (1, None, Delete)],
                3,
            )?,
            changes(&[(3, None, Insert), (4, Some(0), Delete), (2, Some(7), AppendOnly)], 6)?,
        ];
        let cases = [
            (
                FoldRule::Deduplicate,
                vec![
                    (1, None, DELETE),
                    (2, Some(7), UPSERT),
                    (3, None, UPSERT),
                    (4, Some(0), DELETE),
                ],
            ),
            (
                FoldRule::FirstRow,
                vec![(1, Some(1), UPSERT), (2, Some(5), UPSERT), (3, Some(9), UPSERT)],
            ),
            // a null version never replaces a state; retractions are ignored
            (
                FoldRule::Versioned(1),
                vec![(1, Some(1), UPSERT), (2, Some(7), UPSERT), (3, Some(9), UPSERT)],
            ),
        ];
        for (rule, expected) in cases {
            assert_eq!(
                summary(rule.clone(), usize::MAX, &batches).await?,
                expected,
                "{rule:?} in memory"
            );
            assert_eq!(summary(rule.clone(), 1, &batches).await?, expected, "{rule:?} spilled");
        }
        Ok(())
    }
}
