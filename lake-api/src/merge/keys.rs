//! Primary-key (and version) encoding into comparable bytes with `arrow-row`.
//!
//! Row-format keys compare with `memcmp` whatever the column types, which is what lets one
//! merge kernel serve every key shape. The merges compare keys as [`key_prefix`] integers
//! first, and a key of one integer column without nulls gets its prefixes straight from its
//! values, without the row format (see [`BatchKeys`]).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_buffer::ScalarBuffer;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{DataType, Schema, SchemaRef};

use crate::error::{Error, Result};

/// Encodes chosen columns of batches of one schema into row-format keys.
#[derive(Debug, Clone)]
pub(crate) struct KeyEncoder {
    converter: Arc<RowConverter>,
    columns: Arc<[usize]>,
}

impl KeyEncoder {
    /// An encoder for the named columns of `schema`.
    pub(crate) fn new(schema: &Schema, names: &[String]) -> Result<Self> {
        let mut columns = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for name in names {
            let idx = schema
                .index_of(name)
                .map_err(|_| Error::schema(format!("key column '{name}' is not in the read schema")))?;
            columns.push(idx);
            fields.push(SortField::new(schema.field(idx).data_type().clone()));
        }
        let converter = RowConverter::new(fields)?;
        Ok(Self {
            converter: Arc::new(converter),
            columns: columns.into(),
        })
    }

    /// The encoded keys of every row of `batch`.
    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<Rows> {
        let arrays: Vec<_> = self.columns.iter().map(|&i| batch.column(i).clone()).collect();
        Ok(self.converter.convert_columns(&arrays)?)
    }

    /// The keys of every row of `batch` as the merges compare them: the values of a single
    /// integer key column without nulls, else the row-format keys.
    pub(crate) fn batch_keys(&self, batch: &RecordBatch) -> Result<BatchKeys> {
        match self.integer_keys(batch) {
            Some(keys) => Ok(keys),
            None => Ok(BatchKeys::Rows(self.encode(batch)?)),
        }
    }

    /// The keys of `batch` when they need no row format: one `Int64` or `Int32` column
    /// without nulls (its values, shared, not copied).
    fn integer_keys(&self, batch: &RecordBatch) -> Option<BatchKeys> {
        let [c] = *self.columns else {
            return None;
        };
        let array = batch.columns().get(c).filter(|a| a.null_count() == 0)?;
        match array.data_type() {
            DataType::Int64 => Some(BatchKeys::Int64(array.as_primitive::<Int64Type>().values().clone())),
            DataType::Int32 => Some(BatchKeys::Int32(array.as_primitive::<Int32Type>().values().clone())),
            _ => None,
        }
    }

    /// About how many bytes the row-format keys of `batch` take (0 when
    /// [`batch_keys`](Self::batch_keys) needs none): the key values, a byte per column and
    /// an offset per row.
    pub(crate) fn row_key_bytes(&self, batch: &RecordBatch) -> usize {
        if self.integer_keys(batch).is_some() {
            return 0;
        }
        let values: usize = self
            .columns
            .iter()
            .filter_map(|&c| batch.columns().get(c))
            .map(|a| a.get_array_memory_size())
            .sum();
        values + batch.num_rows() * (self.columns.len() + std::mem::size_of::<usize>())
    }

    /// The column indices encoded.
    pub(crate) fn columns(&self) -> &[usize] {
        &self.columns
    }
}

/// The keys of one batch, as the merges compare them.
#[derive(Debug)]
pub(crate) enum BatchKeys {
    /// Row-format keys: any key shape.
    Rows(Rows),
    /// One `Int64` key column without nulls. Its prefixes are computed from the values
    /// (the row format of a non-null integer is a fixed function of it), which skips
    /// encoding every key into bytes only to read them back.
    Int64(ScalarBuffer<i64>),
    /// One `Int32` key column without nulls.
    Int32(ScalarBuffer<i32>),
}

impl BatchKeys {
    /// The [`key_prefix`] of every row.
    pub(crate) fn prefixes(&self) -> Vec<u128> {
        match self {
            BatchKeys::Rows(rows) => rows.iter().map(|k| key_prefix(k.data())).collect(),
            BatchKeys::Int64(values) => values.iter().map(|&v| int64_prefix(v)).collect(),
            BatchKeys::Int32(values) => values.iter().map(|&v| int32_prefix(v)).collect(),
        }
    }

    /// The row-format key of `row`, which only a prefix that [`needs_full_key`] asks for.
    /// An integer key's prefix never does (it holds the whole key), and its full key reads
    /// as empty.
    #[inline]
    pub(crate) fn full_key(&self, row: usize) -> &[u8] {
        match self {
            BatchKeys::Rows(rows) => rows.row(row).data(),
            BatchKeys::Int64(_) | BatchKeys::Int32(_) => &[],
        }
    }
}

/// The [`key_prefix`] of a non-null `Int64` key's row format: a valid byte (1), the value
/// big-endian with its sign bit flipped (so that it orders as unsigned bytes), length 9.
#[inline]
fn int64_prefix(v: i64) -> u128 {
    (1u128 << 120) | (u128::from((v as u64) ^ (1 << 63)) << 56) | 9
}

/// The [`key_prefix`] of a non-null `Int32` key's row format (valid byte, 4 value bytes).
#[inline]
fn int32_prefix(v: i32) -> u128 {
    (1u128 << 120) | (u128::from((v as u32) ^ (1 << 31)) << 88) | 5
}

/// The length byte of a [`key_prefix`] whose key is longer than the prefix holds.
const LONG_KEY: u128 = 16;

/// A row-format key as one integer: its first 15 bytes, zero-padded, then its length
/// capped at 16. Prefixes order like the keys' bytes do (a zero-padded key that equals
/// another up to the padding is the shorter, and its length byte is smaller), and equal
/// prefixes mean equal keys unless both keys are longer than 15 bytes (see
/// [`needs_full_key`]). Comparing two integers instead of two byte slices is most of
/// the merge's speed.
#[inline]
pub(crate) fn key_prefix(key: &[u8]) -> u128 {
    let len = key.len();
    // whole-word loads; the last word overlaps the first and is shifted into place
    let bytes = if len >= 16 {
        let mut w = [0u8; 16];
        w.copy_from_slice(&key[..16]);
        u128::from_be_bytes(w) & !0xff
    } else if len >= 8 {
        let (mut hi, mut lo) = ([0u8; 8], [0u8; 8]);
        hi.copy_from_slice(&key[..8]);
        lo.copy_from_slice(&key[len - 8..]);
        let lo = if len > 8 {
            u64::from_be_bytes(lo) << (8 * (16 - len))
        } else {
            0
        };
        (u128::from(u64::from_be_bytes(hi)) << 64) | u128::from(lo)
    } else if len >= 4 {
        let (mut hi, mut lo) = ([0u8; 4], [0u8; 4]);
        hi.copy_from_slice(&key[..4]);
        lo.copy_from_slice(&key[len - 4..]);
        let lo = if len > 4 {
            u32::from_be_bytes(lo) << (8 * (8 - len))
        } else {
            0
        };
        ((u128::from(u32::from_be_bytes(hi)) << 32) | u128::from(lo)) << 64
    } else {
        key.iter()
            .enumerate()
            .fold(0u128, |p, (i, &b)| p | (u128::from(b) << (8 * (15 - i))))
    };
    bytes | len.min(16) as u128
}

/// Whether keys with this prefix must be compared in full when prefixes tie.
#[inline]
pub(crate) fn needs_full_key(prefix: u128) -> bool {
    prefix & 0xff == LONG_KEY
}

/// The order of two keys given by their prefixes, and by the full keys (fetched only
/// then) where the prefixes tie and do not decide.
#[inline(always)]
pub(crate) fn cmp_keys<'a, 'b>(
    a: u128,
    full_a: impl FnOnce() -> &'a [u8],
    b: u128,
    full_b: impl FnOnce() -> &'b [u8],
) -> std::cmp::Ordering {
    match a.cmp(&b) {
        std::cmp::Ordering::Equal if needs_full_key(a) => full_a().cmp(full_b()),
        o => o,
    }
}

/// `batch` with the columns of `schema` (by name), each of its type, so that batches from
/// different sources can be interleaved: a lake stores some types as others (Iceberg a
/// TINYINT as an int, a TIME(3) in microseconds), and its rows are read as the log's. A
/// column is cast where its type is one the table's is [stored as](crate::conform::stores_as)
/// ([`conform_array`](crate::conform::conform_array): a value the log's type cannot hold is
/// an error, never a NULL); another type is a schema mismatch. `what` names the source in
/// errors.
pub(crate) fn conform(batch: RecordBatch, schema: &SchemaRef, what: &dyn Fn() -> String) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some((idx, have)) = batch.schema_ref().column_with_name(field.name()) else {
            return Err(Error::schema(format!(
                "{}: column '{}' is missing",
                what(),
                field.name()
            )));
        };
        if !crate::conform::stores_as(have.data_type(), field.data_type()) {
            return Err(Error::schema(format!(
                "{}: column '{}' has type {} but the table says {}",
                what(),
                field.name(),
                have.data_type(),
                field.data_type()
            )));
        }
        let column = crate::conform::conform_array(batch.column(idx), field.data_type()).map_err(|e| {
            Error::schema(format!(
                "{}: column '{}' has type {}, which does not cast to the table's {}: {e}",
                what(),
                field.name(),
                have.data_type(),
                field.data_type()
            ))
        })?;
        columns.push(column);
    }
    crate::conform::batch_of(schema, columns, batch.num_rows()).map_err(|e| Error::schema(format!("{}: {e}", what())))
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    use super::*;

    #[test]
    fn composite_keys_order_like_tuples() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![2, 1, 1, -5])),
                Arc::new(StringArray::from(vec![Some("a"), Some("z"), None, Some("q")])),
            ],
        )
        .unwrap();
        let enc = KeyEncoder::new(&schema, &["a".into(), "b".into()]).unwrap();
        let rows = enc.encode(&batch).unwrap();
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by(|&x, &y| rows.row(x).cmp(&rows.row(y)));
        assert_eq!(order, vec![3, 2, 1, 0]); // -5 < (1,null) < (1,z) < (2,a)
    }

    #[test]
    fn key_prefixes_order_like_bytes() {
        // every length around the word sizes, bytes from a small alphabet so that ties
        // and zero bytes are common
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let keys: Vec<Vec<u8>> = (0..3000)
            .map(|_| {
                let len = (next() % 21) as usize;
                (0..len).map(|_| [0u8, 1, 0x7f, 0xff][(next() % 4) as usize]).collect()
            })
            .collect();
        for a in &keys {
            let pa = key_prefix(a);
            assert_eq!(pa & 0xff, a.len().min(16) as u128);
            for b in keys.iter().take(300) {
                let pb = key_prefix(b);
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), a.cmp(b), "{a:?} vs {b:?}");
                } else if !needs_full_key(pa) {
                    assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn integer_keys_have_the_prefixes_of_their_row_format() -> Result<()> {
        let wide = vec![i64::MIN, i64::MIN + 1, -256, -1, 0, 1, 255, 256, i64::MAX - 1, i64::MAX];
        let narrow = vec![i32::MIN, -65_536, -1, 0, 1, 65_536, i32::MAX];
        let cases: Vec<(DataType, Arc<dyn Array>)> = vec![
            (DataType::Int64, Arc::new(Int64Array::from(wide))),
            (DataType::Int32, Arc::new(Int32Array::from(narrow))),
        ];
        for (data_type, array) in cases {
            let schema = Arc::new(Schema::new(vec![Field::new("k", data_type.clone(), false)]));
            let batch = RecordBatch::try_new(schema.clone(), vec![array])?;
            let enc = KeyEncoder::new(&schema, &["k".into()])?;
            let keys = enc.batch_keys(&batch)?;
            assert!(
                !matches!(keys, BatchKeys::Rows(_)),
                "{data_type} keys skip the row format"
            );
            let from_rows: Vec<u128> = enc.encode(&batch)?.iter().map(|k| key_prefix(k.data())).collect();
            assert_eq!(keys.prefixes(), from_rows, "{data_type}");
            assert!(from_rows.is_sorted(), "{data_type} values were given in order");
        }
        // a key column with a null, or a composite key, takes the row format
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("j", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(Int32Array::from(vec![1, 2])),
            ],
        )?;
        for names in [vec!["k".to_string()], vec!["j".into(), "k".into()]] {
            let keys = KeyEncoder::new(&schema, &names)?.batch_keys(&batch)?;
            assert!(matches!(keys, BatchKeys::Rows(_)), "{names:?}");
        }
        Ok(())
    }

    #[test]
    fn conform_names_missing_and_mistyped_columns() -> Result<()> {
        let want = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let refused = |b: RecordBatch, what: &'static str| {
            conform(b, &want, &move || what.into())
                .err()
                .ok_or_else(|| Error::invalid("conformed"))
        };
        let e = refused(
            RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as _)])?,
            "bucket 1",
        )?;
        assert!(e.to_string().contains("bucket 1: column 'k' is missing"), "{e}");
        let e = refused(
            RecordBatch::try_from_iter([("k", Arc::new(StringArray::from(vec!["x"])) as _)])?,
            "split 0",
        )?;
        assert!(e.to_string().contains("has type Utf8"), "{e}");
        Ok(())
    }

    #[test]
    fn conform_casts_a_lake_type_to_the_tables_and_refuses_values_it_cannot_hold() -> Result<()> {
        let want = Arc::new(Schema::new(vec![Field::new("k", DataType::Int16, true)]));
        let b = RecordBatch::try_from_iter([("k", Arc::new(Int32Array::from(vec![Some(300), None])) as _)])?;
        let got = conform(b, &want, &|| "split 0".into())?;
        assert_eq!(
            got.column(0).as_ref(),
            &arrow_array::Int16Array::from(vec![Some(300), None]) as &dyn Array
        );
        // an int past SMALLINT is no row to read as NULL
        let b = RecordBatch::try_from_iter([("k", Arc::new(Int32Array::from(vec![70_000])) as _)])?;
        let e = conform(b, &want, &|| "split 0".into())
            .err()
            .ok_or_else(|| Error::invalid("70000 cast"))?;
        assert_eq!(e.kind(), crate::error::ErrorKind::SchemaMismatch, "{e}");
        assert!(e.to_string().contains("split 0: column 'k'"), "{e}");
        // a float is no integer in another form: its values would be cut
        let b = RecordBatch::try_from_iter([("k", Arc::new(arrow_array::Float64Array::from(vec![1.5])) as _)])?;
        let e = conform(b, &want, &|| "split 0".into())
            .err()
            .ok_or_else(|| Error::invalid("1.5 cast"))?;
        assert!(
            e.to_string().contains("has type Float64 but the table says Int16"),
            "{e}"
        );
        Ok(())
    }
}
