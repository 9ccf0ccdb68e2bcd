//! The log tail folded per key and indexed by key: what both strategies that merge lake rows
//! against a log summary (the key filter and the sorted sparse merge) look keys up in, and
//! the rule that decides a lake row against its key's final log state.

use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use futures::TryStreamExt;
use hashbrown::HashMap;

use super::fold::FoldRule;
use super::keys::KeyEncoder;
use super::spill::{BatchBuffer, SpillDir};
use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;

/// The final log state of one key.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The change byte of the key's final state ([`UPSERT`] or a deletion).
    pub kind: i8,
    version_null: bool,
    version: Box<[u8]>,
    /// A lake row won over this state (first-row, or a larger lake version).
    pub suppressed: bool,
}

/// Where a key's entry lives.
#[derive(Debug)]
pub(crate) enum KeyIndex {
    /// A single non-null integer key, probed without encoding (the common case).
    Int {
        /// Every key with its entry, in key order: key-sorted lake batches find their
        /// hits by binary search, which is all most reads need.
        sorted: Vec<(i64, u32)>,
        /// The hash map and Bloom filter that unsorted lake batches probe row by row,
        /// built by the first such batch (see [`IntProbe`]).
        probe: OnceLock<IntProbe>,
    },
    /// Any other key, probed by its row-format bytes.
    Rows(HashMap<Box<[u8]>, u32>),
}

/// What an unsorted lake batch probes an integer index with: the key range, a one-hash
/// Bloom filter of the keys (about 8 bits per key, so that about one miss in eight reaches
/// the map), and the map.
#[derive(Debug)]
pub(crate) struct IntProbe {
    map: HashMap<i64, u32>,
    min: i64,
    max: i64,
    bits: Vec<u64>,
    shift: u32,
}

impl IntProbe {
    fn new(sorted: &[(i64, u32)]) -> Self {
        let n = (sorted.len() * 8).next_power_of_two().max(64);
        let shift = 64 - n.trailing_zeros();
        let mut bits = vec![0u64; n / 64];
        for &(k, _) in sorted {
            let b = bloom_bit(k, shift);
            bits[b / 64] |= 1 << (b % 64);
        }
        Self {
            map: sorted.iter().copied().collect(),
            min: sorted.first().map_or(i64::MAX, |&(k, _)| k),
            max: sorted.last().map_or(i64::MIN, |&(k, _)| k),
            bits,
            shift,
        }
    }
}

/// The Bloom filter bit of integer key `v` (a multiplicative hash: the top bits).
#[inline(always)]
fn bloom_bit(v: i64, shift: u32) -> usize {
    ((v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl KeyIndex {
    /// Finishes an integer index once every key is in: sorts the key list (the summary
    /// arrives in key order, which the sort detects in one pass) and refuses a key held
    /// twice, which a summary never has.
    fn seal(&mut self) -> Result<()> {
        if let KeyIndex::Int { sorted, .. } = self {
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(Error::invalid(format!("log summary holds key {} twice", w[0].0)));
            }
        }
        Ok(())
    }

    /// Whether the index holds no key.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            KeyIndex::Int { sorted, .. } => sorted.is_empty(),
            KeyIndex::Rows(map) => map.is_empty(),
        }
    }

    /// The rows of an integer key column whose key the index holds, appended to `hits` as
    /// `(row, entry)` in row order: found by search where the values ascend (checked here,
    /// not taken from the batch's reader: a search over keys out of order misses some),
    /// else by probing each row. `positions` is scratch room.
    pub(crate) fn int_hits<T: Copy + Into<i64> + PartialOrd>(
        &self,
        values: &[T],
        positions: &mut Vec<Position>,
        hits: &mut Vec<(usize, u32)>,
    ) {
        let KeyIndex::Int { sorted, .. } = self else {
            return;
        };
        if !sorted_hits(values, sorted, positions, hits) {
            self.probe_all(values, hits);
        }
    }

    /// Probes every key of an unsorted batch (integer index), collecting `(row, entry)`.
    fn probe_all<T: Copy + Into<i64>>(&self, values: &[T], hits: &mut Vec<(usize, u32)>) {
        let KeyIndex::Int { sorted, probe } = self else {
            return;
        };
        let IntProbe {
            map,
            min,
            max,
            bits,
            shift,
        } = probe.get_or_init(|| IntProbe::new(sorted));
        for (i, &v) in values.iter().enumerate() {
            let v: i64 = v.into();
            let b = bloom_bit(v, *shift);
            // a clear bit is a sure miss
            if v < *min || v > *max || bits.get(b / 64).is_some_and(|w| w & (1 << (b % 64)) == 0) {
                continue;
            }
            if let Some(&e) = map.get(&v) {
                hits.push((i, e));
            }
        }
    }
}

/// Whether `values` ascend (equal neighbours allowed). Compares in fixed-size chunks
/// without an early exit inside a chunk, so that the compiler vectorizes it: a fraction of
/// a nanosecond per row, against several for probing each row.
pub(crate) fn ascending<T: Copy + PartialOrd>(values: &[T]) -> bool {
    const CHUNK: usize = 256;
    if values.len() < 2 {
        return true;
    }
    let (a, b) = (&values[..values.len() - 1], &values[1..]);
    a.chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .all(|(x, y)| x.iter().zip(y).fold(true, |ok, (p, q)| ok & (p <= q)))
}

/// Where one index key falls in an ascending batch: the first row not below it, and how
/// many rows from there hold it (0: the key is not in the batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub row: usize,
    pub entry: u32,
    pub equal: usize,
}

/// The index keys from `keys` (in key order) between a batch's first and last key, with
/// where each falls in the batch, if the batch's keys ascend; `None` (with `out` holding
/// whatever was placed) if they do not. Returns how many of `keys` lie below the batch's
/// first key (0 for an empty batch).
///
/// One pass over the batch does both: the order check and the search need every row's
/// key loaded once, and the first load of a lake batch's keys is what this costs (a search
/// run after a separate order check paid its branches on top). Each block of rows is
/// checked against its successor, vectorized; each key inside the block is placed by a
/// branch-free count, so a lookup costs a few steps however far apart the keys are.
pub(crate) fn sorted_positions<T: Copy + Into<i64> + PartialOrd>(
    values: &[T],
    keys: &[(i64, u32)],
    out: &mut Vec<Position>,
) -> Option<usize> {
    const BLOCK: usize = 16;
    let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
        return Some(0);
    };
    let (first, last): (i64, i64) = (first.into(), last.into());
    let lo = keys.partition_point(|&(k, _)| k < first);
    let hi = lo + keys[lo..].partition_point(|&(k, _)| k <= last);
    let mut next = lo;
    let mut start = 0;
    while start < values.len() {
        let end = (start + BLOCK).min(values.len());
        // the block and the first row after it
        let (a, b) = (&values[start..end], &values[start + 1..(end + 1).min(values.len())]);
        let ordered = a.iter().zip(b).fold(true, |ok, (p, q)| ok & (p <= q));
        if !ordered {
            // the caller probes or refuses the batch: placing the rest of the keys is waste
            return None;
        }
        let block_last: i64 = values[end - 1].into();
        while next < hi && keys[next].0 <= block_last {
            let (k, entry) = keys[next];
            // in ascending rows, every row before the block is below k
            let row = start + a.iter().map(|&v| usize::from(v.into() < k)).sum::<usize>();
            // equal keys sit side by side (and may cross a block)
            let mut equal_end = row;
            while equal_end < values.len() && values[equal_end].into() == k {
                equal_end += 1;
            }
            out.push(Position {
                row,
                entry,
                equal: equal_end - row,
            });
            next += 1;
        }
        start = end;
    }
    Some(lo)
}

/// The rows of a batch whose key is in `keys` (an index's keys in order), as `(row, entry)`
/// in row order, appended to `hits`; `false` (and nothing appended) if the batch's keys do
/// not ascend. `positions` is scratch room.
fn sorted_hits<T: Copy + Into<i64> + PartialOrd>(
    values: &[T],
    keys: &[(i64, u32)],
    positions: &mut Vec<Position>,
    hits: &mut Vec<(usize, u32)>,
) -> bool {
    positions.clear();
    if sorted_positions(values, keys, positions).is_none() {
        return false;
    }
    for p in positions.iter() {
        hits.extend((p.row..p.row + p.equal).map(|row| (row, p.entry)));
    }
    true
}

/// The inputs of a merge of one bucket's (or partition's) lake rows with its folded log
/// tail.
pub(crate) struct LogMerge {
    /// The read schema (no change column).
    pub schema: SchemaRef,
    pub keys: KeyEncoder,
    pub versions: Option<KeyEncoder>,
    pub rule: FoldRule,
    /// The memory the log tail's sort, and then its summary, may hold.
    pub budget: usize,
    pub spill: Arc<SpillDir>,
    /// Rows per batch of the summary.
    pub batch_size: usize,
}

/// The key column when the key is one non-null `Int64` or `Int32` column (the integer
/// index's case).
pub(crate) fn int_key(schema: &SchemaRef, keys: &KeyEncoder) -> Option<usize> {
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

/// Every key of a log summary with its final state.
pub(crate) struct LogIndex {
    pub keys: KeyIndex,
    pub entries: Vec<Entry>,
}

impl LogMerge {
    /// The integer key column, where the key is one.
    pub(crate) fn int_key(&self) -> Option<usize> {
        int_key(&self.schema, &self.keys)
    }

    /// Indexes `summary` (the log tail folded per key: read schema plus the change column,
    /// one row per key, in key order) and keeps its rows within the budget: entry `i` of
    /// the index is row `i` of the kept rows.
    pub(crate) async fn index(&self, summary: RecordBatchStream) -> Result<(LogIndex, BatchBuffer)> {
        let int_col = self.int_key();
        let mut index = LogIndex {
            keys: match int_col {
                Some(_) => KeyIndex::Int {
                    sorted: Vec::new(),
                    probe: OnceLock::new(),
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
        index.keys.seal()?;
        Ok((index, buffer))
    }

    /// Adds a summary batch's keys and states to `index`.
    fn index_batch(&self, batch: &RecordBatch, int_col: Option<usize>, index: &mut LogIndex) -> Result<()> {
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
        // entries are numbered in 32 bits (about 4 billion keys, far past any memory budget)
        let base = u32::try_from(index.entries.len() + batch.num_rows())
            .map(|end| end - batch.num_rows() as u32)
            .map_err(|_| Error::invalid("a log tail of more than 4 billion keys cannot be indexed"))?;
        for i in 0..batch.num_rows() {
            index.entries.push(Entry {
                kind: kinds.value(i),
                version_null: version_nulls.as_ref().is_some_and(|v| v.is_null(i)),
                version: versions.as_ref().map_or(Box::default(), |v| v.row(i).data().into()),
                suppressed: false,
            });
        }
        match &mut index.keys {
            KeyIndex::Int { sorted, .. } => {
                let col = int_col.ok_or_else(|| Error::schema("integer key column vanished"))?;
                let values = int_values(batch.column(col).as_ref())
                    .ok_or_else(|| Error::schema("key column is not an integer column"))?;
                sorted.extend(values.into_iter().zip(base..));
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
    pub(crate) fn decide(
        &self,
        e: &mut Entry,
        lake: &RecordBatch,
        row: usize,
        lake_versions: &mut LazyVersions,
    ) -> Result<bool> {
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
}

/// The version rows of a lake batch, encoded on the first hit only.
#[derive(Default)]
pub(crate) struct LazyVersions(Option<arrow_row::Rows>);

impl LazyVersions {
    fn get(&mut self, merge: &LogMerge, batch: &RecordBatch) -> Result<&arrow_row::Rows> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An integer index over `keys` (entry = position), sealed.
    fn int_index(keys: &[i64]) -> Result<KeyIndex> {
        let mut index = KeyIndex::Int {
            sorted: keys.iter().copied().zip(0..).collect(),
            probe: OnceLock::new(),
        };
        index.seal()?;
        Ok(index)
    }

    /// A splitmix64 step: deterministic pseudo-random values without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn an_integer_index_refuses_a_key_held_twice() {
        let e = int_index(&[3, 1, 3]).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("holds key 3 twice")));
    }

    #[test]
    fn sorted_hits_match_probing_every_row() -> Result<()> {
        let mut rng = 7u64;
        // sparse and dense indexes (both search paths), batches with duplicate keys
        for (index_keys, batch_len, span) in [(40usize, 2000usize, 4000u64), (900, 1000, 1500), (0, 50, 100)] {
            let mut keys: Vec<i64> = (0..index_keys).map(|_| (next(&mut rng) % span) as i64).collect();
            keys.sort_unstable();
            keys.dedup();
            let index = int_index(&keys)?;
            let KeyIndex::Int { sorted, .. } = &index else {
                panic!("an integer index")
            };
            let mut batch: Vec<i64> = (0..batch_len).map(|_| (next(&mut rng) % span) as i64).collect();
            batch.sort_unstable();
            assert!(ascending(&batch));
            let (mut by_search, mut by_probe) = (Vec::new(), Vec::new());
            assert!(sorted_hits(&batch, sorted, &mut Vec::new(), &mut by_search));
            index.probe_all(&batch, &mut by_probe);
            assert_eq!(by_search, by_probe, "{index_keys} keys, {batch_len} rows");
            let narrow: Vec<i32> = batch.iter().map(|&v| v as i32).collect();
            let mut narrow_hits = Vec::new();
            assert!(sorted_hits(&narrow, sorted, &mut Vec::new(), &mut narrow_hits));
            assert_eq!(narrow_hits, by_probe);
        }
        Ok(())
    }

    #[test]
    fn ascending_sees_one_step_down_anywhere() {
        let mut v: Vec<i64> = (0..1000).collect();
        assert!(ascending(&v) && ascending(&v[..1]) && ascending::<i64>(&[]));
        for at in [1, 255, 256, 257, 999] {
            v.swap(at - 1, at);
            assert!(!ascending(&v), "swap at {at}");
            v.swap(at - 1, at);
        }
        assert!(ascending(&[3, 3, 3, 4]));
    }

    #[test]
    fn the_search_sees_one_step_down_anywhere_too() {
        // inside a block of the search and across block boundaries, with index keys around
        // the step and none at all
        let mut v: Vec<i64> = (0..100).map(|i| i * 2).collect();
        let keys: Vec<(i64, u32)> = (0..50).map(|i| (i * 4, i as u32)).collect();
        let mut out = Vec::new();
        assert_eq!(sorted_positions(&v, &keys, &mut out), Some(0));
        assert_eq!(out.len(), 50);
        for at in [1, 15, 16, 17, 31, 32, 99] {
            v.swap(at - 1, at);
            for keys in [&keys[..], &[]] {
                out.clear();
                assert_eq!(sorted_positions(&v, keys, &mut out), None, "swap at {at}");
            }
            v.swap(at - 1, at);
        }
        assert_eq!(sorted_positions::<i64>(&[], &keys, &mut out), Some(0));
    }

    #[test]
    fn positions_say_where_each_key_falls_and_how_often() {
        let batch = [10i64, 20, 20, 30, 50];
        let keys = [(5i64, 0u32), (20, 1), (25, 2), (50, 3), (60, 4)];
        let mut out = Vec::new();
        assert_eq!(sorted_positions(&batch, &keys, &mut out), Some(1));
        // keys outside [10, 50] are left out; 25 falls before row 3 without a match
        assert_eq!(
            out,
            vec![
                Position {
                    row: 1,
                    entry: 1,
                    equal: 2
                },
                Position {
                    row: 3,
                    entry: 2,
                    equal: 0
                },
                Position {
                    row: 4,
                    entry: 3,
                    equal: 1
                },
            ]
        );
    }
}
