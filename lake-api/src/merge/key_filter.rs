//! The key-filter merge strategy: index the keys the log tail changed, stream the lake
//! unsorted past that index, then emit the surviving log states.
//!
//! Cost grows with the log tail, not with the snapshot: a lake batch whose key range misses
//! the index, or none of whose keys are in it, passes through untouched (zero-copy).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{BooleanArray, RecordBatch};
use arrow_buffer::BooleanBufferBuilder;
use arrow_schema::DataType;
use arrow_select::filter::filter_record_batch;
use futures::{StreamExt, TryStreamExt};

use super::copy_ranges::{Ranges, copy_ranges};
use super::fold::UPSERT;
use super::log_index::{KeyIndex, LazyVersions, LogIndex, LogMerge, Position};
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// A lake batch whose replaced rows are more than one in this many is filtered by arrow's
/// `filter` rather than copied as the ranges between those rows.
const SHORT_RANGES: usize = 8;

/// The key-filter strategy over one bucket (or partition).
pub(crate) struct KeyFilterMerge(pub LogMerge);

/// What filtering one lake batch fills and then empties, kept from batch to batch: grown
/// afresh for each batch, they put malloc and realloc at about 5% of the key filter's
/// profile (keeping them measured about 2% faster).
#[derive(Debug, Default)]
struct Scratch {
    /// `(row, entry)` of the rows whose key the log holds.
    hits: Vec<(usize, u32)>,
    /// Where the index keys fall in a key-sorted batch.
    positions: Vec<Position>,
    /// The rows the log replaced, ascending.
    dropped: Vec<usize>,
    /// The rows kept.
    ranges: Ranges,
}

impl KeyFilterMerge {
    /// Merges `lake` (streams of read-schema batches) with `summary` (the log tail folded
    /// per key: read schema plus the change column, one row per key).
    pub(crate) async fn run(
        self,
        summary: RecordBatchStream,
        lake: Vec<RecordBatchStream>,
    ) -> Result<RecordBatchStream> {
        let int_col = self.0.int_key();
        let (index, buffer) = self.0.index(summary).await?;
        let this = Arc::new(self);
        let index = Arc::new(std::sync::Mutex::new(index));
        let schema = this.0.schema.clone();

        // lake rows first (filtered against the index), then the surviving log states
        let lake_part = {
            let this = this.clone();
            let index = index.clone();
            let mut scratch = Scratch::default();
            futures::stream::iter(lake).flatten().map(move |batch| {
                let batch = batch?;
                let mut index = index
                    .lock()
                    .map_err(|_| Error::invalid("key index poisoned by an earlier panic"))?;
                this.filter_lake(batch, int_col, &mut index, &mut scratch)
            })
        };
        let log_part = {
            let schema = schema.clone();
            let rows = buffer.finish()?;
            let mut first_row = 0usize;
            rows.map(move |batch| {
                let batch = batch?;
                let index = index
                    .lock()
                    .map_err(|_| Error::invalid("key index poisoned by an earlier panic"))?;
                let entries = index
                    .entries
                    .get(first_row..first_row + batch.num_rows())
                    .ok_or_else(|| {
                        Error::corrupt(format!(
                            "the buffered log summary holds more than the {} rows indexed",
                            index.entries.len()
                        ))
                    })?;
                let keep: BooleanArray = entries
                    .iter()
                    .map(|e| Some(e.kind == UPSERT && !e.suppressed))
                    .collect();
                first_row += batch.num_rows();
                let data = batch.project(&(0..schema.fields().len()).collect::<Vec<_>>())?;
                Ok(filter_record_batch(&data, &keep)?)
            })
        };
        let out = lake_part
            .chain(log_part)
            .try_filter(|b| futures::future::ready(b.num_rows() > 0));
        Ok(RecordBatchStream::new(schema, out))
    }

    /// Drops the rows of a lake batch that the log replaced, found by
    /// [`KeyIndex::int_hits`] for an integer key and by row-format lookup for any other.
    fn filter_lake(
        &self,
        batch: RecordBatch,
        int_col: Option<usize>,
        index: &mut LogIndex,
        scratch: &mut Scratch,
    ) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let Scratch {
            hits,
            positions,
            dropped,
            ranges,
        } = scratch;
        dropped.clear();
        let mut versions = LazyVersions::default();
        let LogIndex { keys, entries } = index;
        if keys.is_empty() {
            return Ok(batch);
        }
        match &*keys {
            KeyIndex::Int { .. } => {
                let col = int_col.ok_or_else(|| Error::schema("integer key column vanished"))?;
                let values = batch.column(col);
                hits.clear();
                match values.data_type() {
                    DataType::Int64 => keys.int_hits(values.as_primitive::<Int64Type>().values(), positions, hits),
                    _ => keys.int_hits(values.as_primitive::<Int32Type>().values(), positions, hits),
                }
                for &(i, e) in hits.iter() {
                    if !self.0.decide(&mut entries[e as usize], &batch, i, &mut versions)? {
                        dropped.push(i);
                    }
                }
            }
            KeyIndex::Rows(map) => {
                let rows = self.0.keys.encode(&batch)?;
                for i in 0..n {
                    if let Some(&e) = map.get(rows.row(i).data())
                        && !self.0.decide(&mut entries[e as usize], &batch, i, &mut versions)?
                    {
                        dropped.push(i);
                    }
                }
            }
        }
        if dropped.is_empty() {
            return Ok(batch);
        }
        // the rows between the dropped ones are copied as ranges; where the log replaced so
        // many rows that the ranges are short, arrow's filter (which then gathers by index)
        // does better
        if dropped.len() * SHORT_RANGES > n {
            let mut keep = BooleanBufferBuilder::new(n);
            keep.append_n(n, true);
            for &i in dropped.iter() {
                keep.set_bit(i, false);
            }
            return Ok(filter_record_batch(&batch, &BooleanArray::new(keep.finish(), None))?);
        }
        ranges.clear();
        let mut from = 0;
        for &i in dropped.iter() {
            ranges.push(0, from, i);
            from = i + 1;
        }
        ranges.push(0, from, n);
        copy_ranges(&batch.schema(), &[&batch], ranges)
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;
    use crate::merge::fold::FoldRule;
    use crate::merge::test_rows::{log_merge, rows, schema, summary, values};

    async fn filtered(lake: Vec<RecordBatch>, log: Vec<RecordBatch>) -> Result<Vec<String>> {
        let root = tempfile::tempdir()?;
        let summary_schema = log[0].schema();
        let out = KeyFilterMerge(log_merge(FoldRule::Deduplicate, usize::MAX, root.path())?)
            .run(
                RecordBatchStream::from_batches(summary_schema, log),
                vec![RecordBatchStream::from_batches(schema(), lake)],
            )
            .await?;
        let batches: Vec<RecordBatch> = out.try_collect().await?;
        Ok(values(&batches))
    }

    #[tokio::test]
    async fn batches_in_key_order_or_not_lose_the_rows_the_log_replaced() -> Result<()> {
        // a batch in key order is searched; one out of order (whatever its reader said) is
        // probed row by row: key 2 is replaced, key 3 deleted, key 9 new, in both
        let log = vec![summary(&[(2, true), (3, false), (9, true)])?];
        for keys in [[1, 2, 3, 4], [4, 3, 1, 2]] {
            let got = filtered(vec![rows(&keys, "lake")?], log.clone()).await?;
            let mut want: Vec<String> = keys
                .iter()
                .filter(|&&k| k != 2 && k != 3)
                .map(|k| format!("lake{k}"))
                .collect();
            want.extend(["log2".to_string(), "log9".to_string()]);
            assert_eq!(got, want, "lake keys {keys:?}");
        }
        Ok(())
    }
}
