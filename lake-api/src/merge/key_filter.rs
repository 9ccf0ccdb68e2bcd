//! The key-filter merge strategy: index the keys the log tail changed, stream the lake
//! unsorted past that index, then emit the surviving log states.
//!
//! Cost grows with the log tail, not with the snapshot: a lake batch whose key range misses
//! the index, or none of whose keys are in it, passes through untouched (zero-copy).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_buffer::BooleanBufferBuilder;
use arrow_schema::{DataType, SchemaRef};
use arrow_select::filter::filter_record_batch;
use futures::{StreamExt, TryStreamExt};
use hashbrown::HashMap;

use super::fold::{FoldRule, UPSERT};
use super::keys::KeyEncoder;
use super::spill::{BatchBuffer, SpillDir};
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// The final log state of one key.
#[derive(Debug)]
struct Entry {
    kind: i8,
    version_null: bool,
    version: Box<[u8]>,
    /// A lake row won over this state (first-row, or a larger lake version).
    suppressed: bool,
}

/// Where a key's entry lives.
#[derive(Debug)]
enum KeyIndex {
    /// A single non-null integer key, probed without encoding (the common case). `bits`
    /// is a one-hash Bloom filter of the keys (see [`KeyIndex::seal`]) that turns most
    /// misses away before the map is probed.
    Int {
        map: HashMap<i64, u32>,
        min: i64,
        max: i64,
        bits: Vec<u64>,
        shift: u32,
    },
    /// Any other key, probed by its row-format bytes.
    Rows(HashMap<Box<[u8]>, u32>),
}

/// The Bloom filter bit of integer key `v` (a multiplicative hash: the top bits).
#[inline(always)]
fn bloom_bit(v: i64, shift: u32) -> usize {
    ((v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl KeyIndex {
    /// Builds the Bloom filter of an integer index once every key is in: about 8 bits
    /// per key, so that about one miss in eight reaches the map.
    fn seal(&mut self) {
        if let KeyIndex::Int { map, bits, shift, .. } = self {
            let n = (map.len() * 8).next_power_of_two().max(64);
            *shift = 64 - n.trailing_zeros();
            *bits = vec![0; n / 64];
            for &k in map.keys() {
                let b = bloom_bit(k, *shift);
                bits[b / 64] |= 1 << (b % 64);
            }
        }
    }
}

/// The inputs of a key-filter merge of one bucket (or partition).
pub(crate) struct KeyFilterMerge {
    /// The read schema (no change column).
    pub schema: SchemaRef,
    pub keys: KeyEncoder,
    pub versions: Option<KeyEncoder>,
    pub rule: FoldRule,
    pub budget: usize,
    pub spill: Arc<SpillDir>,
}

fn int_key(schema: &SchemaRef, keys: &KeyEncoder) -> Option<usize> {
    match keys.columns() {
        [c] => {
            let f = schema.field(*c);
            (!f.is_nullable() && matches!(f.data_type(), DataType::Int64 | DataType::Int32)).then_some(*c)
        }
        _ => None,
    }
}

fn int_values(array: &dyn Array) -> Option<Vec<i64>> {
    match array.data_type() {
        DataType::Int64 => Some(array.as_primitive::<Int64Type>().values().to_vec()),
        DataType::Int32 => Some(
            array
                .as_primitive::<Int32Type>()
                .values()
                .iter()
                .map(|&v| v as i64)
                .collect(),
        ),
        _ => None,
    }
}

struct Index {
    keys: KeyIndex,
    entries: Vec<Entry>,
}

impl KeyFilterMerge {
    /// Merges `lake` (unsorted streams of read-schema batches) with `summary` (the log tail
    /// folded per key: read schema plus the change column, one row per key).
    pub(crate) async fn run(
        self,
        summary: RecordBatchStream,
        lake: Vec<RecordBatchStream>,
    ) -> Result<RecordBatchStream> {
        let int_col = int_key(&self.schema, &self.keys);
        let mut index = Index {
            keys: match int_col {
                Some(_) => KeyIndex::Int {
                    map: HashMap::new(),
                    min: i64::MAX,
                    max: i64::MIN,
                    bits: Vec::new(),
                    shift: 63,
                },
                None => KeyIndex::Rows(HashMap::new()),
            },
            entries: Vec::new(),
        };
        let mut buffer = BatchBuffer::new(self.spill.clone(), self.budget);
        let mut summary = summary;
        while let Some(batch) = summary.try_next().await? {
            self.index_batch(&batch, int_col, &mut index)?;
            buffer.push(batch)?;
        }
        index.keys.seal();
        let this = Arc::new(self);
        let index = Arc::new(std::sync::Mutex::new(index));
        let schema = this.schema.clone();

        // lake rows first (filtered against the index), then the surviving log states
        let lake_part = {
            let this = this.clone();
            let index = index.clone();
            futures::stream::iter(lake).flatten().map(move |batch| {
                let batch = batch?;
                let mut index = index
                    .lock()
                    .map_err(|_| Error::invalid("key index poisoned by an earlier panic"))?;
                this.filter_lake(batch, int_col, &mut index)
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
                let keep: BooleanArray = (0..batch.num_rows())
                    .map(|i| {
                        let e = &index.entries[first_row + i];
                        Some(e.kind == UPSERT && !e.suppressed)
                    })
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

    fn index_batch(&self, batch: &RecordBatch, int_col: Option<usize>, index: &mut Index) -> Result<()> {
        let change_col = self.schema.fields().len();
        let kinds = batch
            .column(change_col)
            .as_primitive_opt::<arrow_array::types::Int8Type>()
            .ok_or_else(|| Error::schema("log summary lacks its change column"))?;
        let versions = match (&self.rule, &self.versions) {
            (FoldRule::Versioned(_), Some(enc)) => Some(enc.encode(batch)?),
            _ => None,
        };
        let version_nulls = match self.rule {
            FoldRule::Versioned(c) => Some(batch.column(c).clone()),
            _ => None,
        };
        let base = index.entries.len() as u32;
        for i in 0..batch.num_rows() {
            index.entries.push(Entry {
                kind: kinds.value(i),
                version_null: version_nulls.as_ref().is_some_and(|v| v.is_null(i)),
                version: versions.as_ref().map_or(Box::default(), |v| v.row(i).data().into()),
                suppressed: false,
            });
        }
        match &mut index.keys {
            KeyIndex::Int { map, min, max, .. } => {
                let col = int_col.ok_or_else(|| Error::schema("integer key column vanished"))?;
                let values = int_values(batch.column(col).as_ref())
                    .ok_or_else(|| Error::schema("key column is not an integer column"))?;
                for (i, v) in values.into_iter().enumerate() {
                    map.insert(v, base + i as u32);
                    *min = (*min).min(v);
                    *max = (*max).max(v);
                }
            }
            KeyIndex::Rows(map) => {
                let rows = self.keys.encode(batch)?;
                for i in 0..batch.num_rows() {
                    map.insert(rows.row(i).data().into(), base + i as u32);
                }
            }
        }
        Ok(())
    }

    /// Decides one lake row whose key has log entry `e`: `true` keeps the lake row.
    fn decide(&self, e: &mut Entry, lake: &RecordBatch, row: usize, lake_versions: &mut LazyVersions) -> Result<bool> {
        match self.rule {
            FoldRule::Deduplicate => Ok(false),
            FoldRule::FirstRow => {
                e.suppressed = true;
                Ok(true)
            }
            FoldRule::Versioned(c) => {
                let lake_null = lake.column(c).is_null(row);
                let lake_version = lake_versions.get(self, lake)?.row(row);
                if FoldRule::versioned_replaces(e.version_null, &e.version, lake_null, lake_version.data()) {
                    Ok(false)
                } else {
                    e.suppressed = true;
                    Ok(true)
                }
            }
        }
    }

    fn filter_lake(&self, batch: RecordBatch, int_col: Option<usize>, index: &mut Index) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut keep: Option<BooleanBufferBuilder> = None;
        let mut versions = LazyVersions(None);
        let drop_row = |i: usize, keep: &mut Option<BooleanBufferBuilder>| {
            let k = keep.get_or_insert_with(|| {
                let mut b = BooleanBufferBuilder::new(n);
                b.append_n(n, true);
                b
            });
            k.set_bit(i, false);
        };
        let Index { keys, entries } = index;
        match keys {
            KeyIndex::Int {
                map,
                min,
                max,
                bits,
                shift,
            } => {
                if map.is_empty() {
                    return Ok(batch);
                }
                let col = int_col.ok_or_else(|| Error::schema("integer key column vanished"))?;
                let values = batch.column(col);
                let probe = |v: i64| {
                    let b = bloom_bit(v, *shift);
                    // a clear bit is a sure miss (no bits yet: ask the map)
                    if v < *min || v > *max || bits.get(b / 64).is_some_and(|w| w & (1 << (b % 64)) == 0) {
                        None
                    } else {
                        map.get(&v).copied()
                    }
                };
                let mut hits = Vec::new();
                match values.data_type() {
                    DataType::Int64 => {
                        for (i, &v) in values.as_primitive::<Int64Type>().values().iter().enumerate() {
                            if let Some(e) = probe(v) {
                                hits.push((i, e));
                            }
                        }
                    }
                    _ => {
                        for (i, &v) in values.as_primitive::<Int32Type>().values().iter().enumerate() {
                            if let Some(e) = probe(v as i64) {
                                hits.push((i, e));
                            }
                        }
                    }
                }
                for (i, e) in hits {
                    if !self.decide(&mut entries[e as usize], &batch, i, &mut versions)? {
                        drop_row(i, &mut keep);
                    }
                }
            }
            KeyIndex::Rows(map) => {
                if map.is_empty() {
                    return Ok(batch);
                }
                let rows = self.keys.encode(&batch)?;
                for i in 0..n {
                    if let Some(&e) = map.get(rows.row(i).data())
                        && !self.decide(&mut entries[e as usize], &batch, i, &mut versions)?
                    {
                        drop_row(i, &mut keep);
                    }
                }
            }
        }
        match keep {
            None => Ok(batch),
            Some(mut k) => Ok(filter_record_batch(&batch, &BooleanArray::new(k.finish(), None))?),
        }
    }
}

/// The version rows of a lake batch, encoded on the first hit only.
struct LazyVersions(Option<arrow_row::Rows>);

impl LazyVersions {
    fn get(&mut self, merge: &KeyFilterMerge, batch: &RecordBatch) -> Result<&arrow_row::Rows> {
        if self.0.is_none() {
            let enc = merge
                .versions
                .as_ref()
                .ok_or_else(|| Error::schema("versioned merge without a version encoder"))?;
            self.0 = Some(enc.encode(batch)?);
        }
        self.0.as_ref().ok_or_else(|| Error::schema("version rows missing"))
    }
}
