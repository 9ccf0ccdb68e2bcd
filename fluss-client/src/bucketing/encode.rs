//! Bucket-key encoders: the bytes of a row's bucket key that a bucketing function hashes.
//!
//! - [`KeyEncoding::Compacted`]: Fluss's `CompactedKeyEncoder` (default tables and Lance).
//!   Each key column in order, no null bitset; nulls are not allowed. BOOLEAN and TINYINT
//!   are one byte, SMALLINT two bytes LE, INT/DATE/TIME an unsigned LEB128 varint of the 32
//!   bits, BIGINT a varint of the 64 bits (no zigzag: negatives take 5 or 10 bytes),
//!   FLOAT/DOUBLE their IEEE bits LE, STRING/BYTES a varint length and the bytes, DECIMAL
//!   the unscaled value as a BIGINT (precision ≤ 18) or as BYTES (minimal big-endian two's
//!   complement), TIMESTAMP(_LTZ) the epoch milliseconds as a BIGINT followed, for micro-
//!   and nanosecond precision, by the nanoseconds of the millisecond as an INT.
//! - [`KeyEncoding::Paimon`]: Paimon's `BinaryRow` of the key columns, as Fluss's
//!   `PaimonBinaryRowWriter` writes it. A null bitset of `((n + 63 + 8) / 64) * 8` bytes whose
//!   first byte is the RowKind (INSERT, 0) and whose bit `8 + i` marks column `i` null, then one
//!   8-byte LE slot per column, then the variable part. Strings/bytes of up to 7 bytes live in
//!   the slot, with `0x80 | len` in its last byte; longer ones go to the variable part,
//!   zero-padded to 8 bytes, the slot holding `offset << 32 | len`. Non-compact decimals take
//!   16 bytes of the variable part (the minimal big-endian bytes, then zeros) and non-compact
//!   timestamps 8 (the milliseconds), the slot holding `offset << 32 | len` or
//!   `offset << 32 | nanos`. The length is always a multiple of 8. Nulls are allowed.
//! - [`KeyEncoding::Iceberg`]: the single-value serialisation Iceberg's bucket transform hashes
//!   (Fluss's `IcebergKeyEncoder`); exactly one key column, not null. INT and DATE widened to
//!   an `i64` LE, BIGINT `i64` LE, TIME as microseconds (`millis * 1000`) `i64` LE, TIMESTAMP
//!   as microseconds `i64` LE, FLOAT/DOUBLE their bits LE (4/8 bytes, as Fluss writes them),
//!   STRING the UTF-8 bytes, BYTES the bytes, DECIMAL the minimal big-endian two's-complement
//!   unscaled value. BOOLEAN, TINYINT, SMALLINT and TIMESTAMP_LTZ are not supported.
//!
//! Arrow types map to Fluss types as described in the `value` module: Int8/16/32/64, Boolean,
//! Date32, Time32/Time64, Timestamp (with a time zone: TIMESTAMP_LTZ), Float32/64,
//! Utf8/LargeUtf8/Utf8View, Binary/LargeBinary/BinaryView/FixedSizeBinary and
//! Decimal32/64/128. Any other type is [`ErrorKind::Unsupported`].

use std::fmt;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};

use crate::error::{Error, ErrorKind, Result};

use super::value::{ColumnReader, KeyType, Value, push_unscaled_be};

/// Which bytes a [`KeyEncoder`] writes for a row's bucket key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEncoding {
    /// Fluss's compacted key (`CompactedKeyEncoder`).
    Compacted,
    /// Paimon's `BinaryRow` of the key columns (`PaimonKeyEncoder`).
    Paimon,
    /// Iceberg's single-value hash serialisation (`IcebergKeyEncoder`).
    Iceberg,
}

impl KeyEncoding {
    /// Whether the encoding accepts a column of this Fluss type.
    fn supports(self, key_type: KeyType) -> bool {
        match self {
            Self::Compacted | Self::Paimon => true,
            Self::Iceberg => !matches!(
                key_type,
                KeyType::Boolean | KeyType::TinyInt | KeyType::SmallInt | KeyType::Timestamp { local: true }
            ),
        }
    }
}

impl fmt::Display for KeyEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Compacted => "Fluss compacted",
            Self::Paimon => "Paimon BinaryRow",
            Self::Iceberg => "Iceberg",
        })
    }
}

/// One bucket-key column: its name, position in the schema and Arrow type.
#[derive(Debug, Clone)]
struct KeyColumn {
    name: String,
    index: usize,
    data_type: DataType,
}

/// Encodes the bucket key of each row of a batch (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct KeyEncoder {
    encoding: KeyEncoding,
    columns: Vec<KeyColumn>,
}

impl KeyEncoder {
    /// An encoder of the `key` columns of `schema`, in that order.
    ///
    /// Fails with [`ErrorKind::InvalidArgument`] when the key is empty, names a column the
    /// schema lacks, or (Iceberg) has other than exactly one column; with
    /// [`ErrorKind::Unsupported`] when a key column's type is one the encoding cannot write.
    pub fn new(encoding: KeyEncoding, schema: &Schema, key: &[String]) -> Result<Self> {
        if key.is_empty() {
            return Err(Error::invalid("the bucket key has no columns"));
        }
        if encoding == KeyEncoding::Iceberg && key.len() != 1 {
            return Err(Error::invalid(format!(
                "the Iceberg key encoding needs exactly one bucket key column, got {key:?}"
            )));
        }
        let columns = key
            .iter()
            .map(|name| {
                let (index, field) = schema
                    .column_with_name(name)
                    .ok_or_else(|| Error::invalid(format!("bucket key column `{name}` is not in the schema")))?;
                let supported = KeyType::of(field.data_type()).filter(|t| encoding.supports(*t));
                if supported.is_none() {
                    let fluss = KeyType::of(field.data_type()).map_or(String::new(), |t| format!(" ({})", t.name()));
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "bucket key column `{name}` has type {}{fluss}, which the {encoding} key encoding does not support",
                            field.data_type()
                        ),
                    ));
                }
                Ok(KeyColumn {
                    name: name.clone(),
                    index,
                    data_type: field.data_type().clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { encoding, columns })
    }

    /// The encoding.
    pub fn encoding(&self) -> KeyEncoding {
        self.encoding
    }

    /// The key column names, in key order.
    pub fn key_columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// The key bytes of every row of `batch`.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::with_capacity(batch.num_rows());
        self.for_each_key(batch, |_, key| keys.push(key.to_vec()))?;
        Ok(keys)
    }

    /// Calls `f(row, key_bytes)` for every row of `batch`, in order, reusing one buffer.
    ///
    /// Fails with [`ErrorKind::SchemaMismatch`] when a key column of the batch differs in
    /// name or type from the schema the encoder was built for, and with
    /// [`ErrorKind::InvalidArgument`] on a null key value (Compacted, Iceberg) or a decimal
    /// out of range for its precision; rows before the failing one have been passed to `f`.
    pub fn for_each_key(&self, batch: &RecordBatch, mut f: impl FnMut(usize, &[u8])) -> Result<()> {
        let readers = self.readers(batch)?;
        let mut buf = Vec::with_capacity(64);
        for row in 0..batch.num_rows() {
            buf.clear();
            match self.encoding {
                KeyEncoding::Compacted => encode_compacted(&readers, row, &mut buf)?,
                KeyEncoding::Paimon => encode_paimon(&readers, row, &mut buf)?,
                KeyEncoding::Iceberg => encode_iceberg(&readers, row, &mut buf)?,
            }
            f(row, &buf);
        }
        Ok(())
    }

    fn readers<'a>(&'a self, batch: &'a RecordBatch) -> Result<Vec<(&'a str, ColumnReader<'a>)>> {
        let schema = batch.schema_ref();
        self.columns
            .iter()
            .map(|c| {
                let mismatch = |found: String| {
                    Error::new(
                        ErrorKind::SchemaMismatch,
                        format!(
                            "bucket key column `{}` ({}) at position {}: the batch has {found}",
                            c.name, c.data_type, c.index
                        ),
                    )
                };
                let field = schema
                    .fields()
                    .get(c.index)
                    .ok_or_else(|| mismatch(format!("only {} columns", schema.fields().len())))?;
                if field.name() != &c.name || field.data_type() != &c.data_type {
                    return Err(mismatch(format!("`{}` ({})", field.name(), field.data_type())));
                }
                let reader = ColumnReader::new(batch.column(c.index).as_ref())
                    .ok_or_else(|| mismatch(format!("an array of type {}", batch.column(c.index).data_type())))?;
                Ok((c.name.as_str(), reader))
            })
            .collect()
    }
}

fn null_key(column: &str, row: usize, encoding: KeyEncoding) -> Error {
    Error::invalid(format!(
        "bucket key column `{column}` is null in row {row}; the {encoding} key encoding needs non-null keys"
    ))
}

fn compact_decimal(column: &str, row: usize, unscaled: i128) -> Result<i64> {
    i64::try_from(unscaled).map_err(|_| {
        Error::invalid(format!(
            "bucket key column `{column}` row {row}: unscaled decimal {unscaled} exceeds its precision (at most 18 digits)"
        ))
    })
}

// ------------------------------------------------------------------------------------------
// Fluss compacted key

/// Unsigned LEB128 of 32 bits (`CompactedRowWriter.writeInt`), at most 5 bytes.
fn push_varint_u32(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Unsigned LEB128 of 64 bits (`CompactedRowWriter.writeLong`), at most 10 bytes.
fn push_varint_u64(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn push_length_prefixed(bytes: &[u8], out: &mut Vec<u8>) {
    push_varint_u32(bytes.len() as u32, out);
    out.extend_from_slice(bytes);
}

fn encode_compacted(readers: &[(&str, ColumnReader<'_>)], row: usize, out: &mut Vec<u8>) -> Result<()> {
    for (name, reader) in readers {
        let value = reader
            .value(row)
            .ok_or_else(|| null_key(name, row, KeyEncoding::Compacted))?;
        match value {
            Value::Boolean(b) => out.push(u8::from(b)),
            Value::TinyInt(v) => out.push(v as u8),
            Value::SmallInt(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Int(v) | Value::Date(v) | Value::Time(v) => push_varint_u32(v as u32, out),
            Value::BigInt(v) => push_varint_u64(v as u64, out),
            Value::Float(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
            Value::String(b) | Value::Bytes(b) => push_length_prefixed(b, out),
            Value::Decimal {
                unscaled,
                compact: true,
            } => push_varint_u64(compact_decimal(name, row, unscaled)? as u64, out),
            Value::Decimal {
                unscaled,
                compact: false,
            } => {
                let mut be = Vec::with_capacity(16);
                push_unscaled_be(unscaled, &mut be);
                push_length_prefixed(&be, out);
            }
            Value::Timestamp {
                millis,
                nano_of_milli,
                compact,
            } => {
                push_varint_u64(millis as u64, out);
                if !compact {
                    push_varint_u32(nano_of_milli as u32, out);
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Paimon BinaryRow

/// The RowKind byte of an INSERT row, the first byte of every Paimon bucket key.
const PAIMON_ROW_KIND_INSERT: u8 = 0;
/// Bits before the null bits of the columns (the RowKind header byte).
const PAIMON_HEADER_BITS: usize = 8;
/// Strings/bytes up to this long are stored in their slot.
const PAIMON_MAX_INLINE: usize = 7;

/// The width of Paimon's null bitset (header byte included) for `arity` columns.
fn paimon_null_bits_bytes(arity: usize) -> usize {
    (arity + 63 + PAIMON_HEADER_BITS) / 64 * 8
}

fn put_slot(out: &mut [u8], slot: usize, bytes: &[u8]) {
    out[slot..slot + bytes.len()].copy_from_slice(bytes);
}

/// Appends `bytes` to the variable part, zero-padded to a multiple of 8; returns its offset.
fn push_var_part(bytes: &[u8], padded_len: usize, out: &mut Vec<u8>) -> u64 {
    let offset = out.len();
    out.extend_from_slice(bytes);
    out.resize(offset + padded_len, 0);
    offset as u64
}

fn encode_paimon(readers: &[(&str, ColumnReader<'_>)], row: usize, out: &mut Vec<u8>) -> Result<()> {
    let null_bits = paimon_null_bits_bytes(readers.len());
    out.resize(null_bits + 8 * readers.len(), 0);
    out[0] = PAIMON_ROW_KIND_INSERT;
    for (pos, (name, reader)) in readers.iter().enumerate() {
        let slot = null_bits + 8 * pos;
        let Some(value) = reader.value(row) else {
            // The slot stays zero.
            let bit = PAIMON_HEADER_BITS + pos;
            out[bit / 8] |= 1 << (bit % 8);
            continue;
        };
        match value {
            Value::Boolean(b) => out[slot] = u8::from(b),
            Value::TinyInt(v) => out[slot] = v as u8,
            Value::SmallInt(v) => put_slot(out, slot, &v.to_le_bytes()),
            Value::Int(v) | Value::Date(v) | Value::Time(v) => put_slot(out, slot, &v.to_le_bytes()),
            Value::BigInt(v) => put_slot(out, slot, &v.to_le_bytes()),
            Value::Float(v) => put_slot(out, slot, &v.to_le_bytes()),
            Value::Double(v) => put_slot(out, slot, &v.to_le_bytes()),
            Value::String(b) | Value::Bytes(b) if b.len() <= PAIMON_MAX_INLINE => {
                put_slot(out, slot, b);
                out[slot + 7] = 0x80 | b.len() as u8;
            }
            Value::String(b) | Value::Bytes(b) => {
                let offset = push_var_part(b, b.len().next_multiple_of(8), out);
                put_slot(out, slot, &((offset << 32) | b.len() as u64).to_le_bytes());
            }
            Value::Decimal {
                unscaled,
                compact: true,
            } => put_slot(out, slot, &compact_decimal(name, row, unscaled)?.to_le_bytes()),
            Value::Decimal {
                unscaled,
                compact: false,
            } => {
                let mut be = Vec::with_capacity(16);
                let len = push_unscaled_be(unscaled, &mut be);
                let offset = push_var_part(&be, 16, out);
                put_slot(out, slot, &((offset << 32) | len as u64).to_le_bytes());
            }
            Value::Timestamp {
                millis, compact: true, ..
            } => put_slot(out, slot, &millis.to_le_bytes()),
            Value::Timestamp {
                millis,
                nano_of_milli,
                compact: false,
            } => {
                let offset = push_var_part(&millis.to_le_bytes(), 8, out);
                put_slot(out, slot, &((offset << 32) | nano_of_milli as u64).to_le_bytes());
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Iceberg single value

fn encode_iceberg(readers: &[(&str, ColumnReader<'_>)], row: usize, out: &mut Vec<u8>) -> Result<()> {
    let [(name, reader)] = readers else {
        return Err(Error::invalid(format!(
            "the Iceberg key encoding needs exactly one bucket key column, got {}",
            readers.len()
        )));
    };
    let value = reader
        .value(row)
        .ok_or_else(|| null_key(name, row, KeyEncoding::Iceberg))?;
    match value {
        Value::Int(v) | Value::Date(v) => out.extend_from_slice(&i64::from(v).to_le_bytes()),
        Value::Time(millis) => out.extend_from_slice(&(i64::from(millis) * 1_000).to_le_bytes()),
        Value::BigInt(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Float(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Double(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::String(b) | Value::Bytes(b) => out.extend_from_slice(b),
        Value::Decimal { unscaled, .. } => {
            push_unscaled_be(unscaled, out);
        }
        Value::Timestamp {
            millis, nano_of_milli, ..
        } => {
            let micros = millis
                .wrapping_mul(1_000)
                .wrapping_add(i64::from(nano_of_milli / 1_000));
            out.extend_from_slice(&micros.to_le_bytes());
        }
        Value::Boolean(_) | Value::TinyInt(_) | Value::SmallInt(_) => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("bucket key column `{name}`: the Iceberg key encoding does not support its type"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int8Array, Int16Array,
        Int32Array, Int64Array, LargeStringArray, StringArray, Time32SecondArray, TimestampMicrosecondArray,
        TimestampMillisecondArray, UInt32Array,
    };
    use arrow_schema::{Field, TimeUnit};

    use super::*;
    use crate::bucketing::murmur::murmur3_x86_32;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true))).unwrap()
    }

    fn keys(encoding: KeyEncoding, batch: &RecordBatch, key: &[&str]) -> Result<Vec<Vec<u8>>> {
        let key: Vec<String> = key.iter().map(|s| s.to_string()).collect();
        KeyEncoder::new(encoding, batch.schema_ref(), &key)?.encode(batch)
    }

    fn one_key(encoding: KeyEncoding, array: ArrayRef) -> Vec<u8> {
        let b = batch(vec![("k", array)]);
        let mut out = keys(encoding, &b, &["k"]).unwrap();
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    // -------------------------------------------------------------------- compacted

    #[test]
    fn compacted_ints_are_unsigned_varints_in_key_order() {
        // Fluss's CompactedKeyEncoderTest: (INT 1, BIGINT 3, INT 2) -> [1, 3, 2].
        let b = batch(vec![
            ("a", Arc::new(Int32Array::from(vec![1, 2, 300, -1])) as ArrayRef),
            ("b", Arc::new(Int64Array::from(vec![3, 5, 1 << 40, -1]))),
            ("c", Arc::new(Int32Array::from(vec![2, 6, 0, 0]))),
        ]);
        let k = keys(KeyEncoding::Compacted, &b, &["a", "b", "c"]).unwrap();
        assert_eq!(k[0], [1, 3, 2]);
        assert_eq!(k[1], [2, 5, 6]);
        assert_eq!(k[2], [0xac, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0]);
        let mut minus_one = vec![0xff, 0xff, 0xff, 0xff, 0x0f];
        minus_one.extend([0xff; 9]);
        minus_one.extend([0x01, 0]);
        assert_eq!(k[3], minus_one);
        // Key order, not schema order.
        let k = keys(KeyEncoding::Compacted, &b, &["c", "a"]).unwrap();
        assert_eq!(k[0], [2, 1]);
    }

    #[test]
    fn compacted_fixed_width_and_length_prefixed_values() {
        let b = batch(vec![
            ("bool", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
            ("i8", Arc::new(Int8Array::from(vec![-2]))),
            ("i16", Arc::new(Int16Array::from(vec![0x0102]))),
            ("f64", Arc::new(Float64Array::from(vec![1.5]))),
            ("s", Arc::new(LargeStringArray::from(vec!["a2"]))),
            ("bin", Arc::new(BinaryArray::from(vec![&[9u8, 8][..]]))),
            ("date", Arc::new(Date32Array::from(vec![17486]))),
        ]);
        let k = keys(
            KeyEncoding::Compacted,
            &b,
            &["bool", "i8", "i16", "f64", "s", "bin", "date"],
        )
        .unwrap();
        let mut expected = vec![1, 0xfe, 0x02, 0x01];
        expected.extend(1.5f64.to_le_bytes());
        expected.extend([2, b'a', b'2', 2, 9, 8]);
        expected.extend([0xce, 0x88, 0x01]); // 17486
        assert_eq!(k[0], expected);
    }

    #[test]
    fn compacted_decimals_and_timestamps() {
        let compact = Arc::new(
            Decimal128Array::from(vec![1420])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        assert_eq!(one_key(KeyEncoding::Compacted, compact), [0x8c, 0x0b]);
        let wide = Arc::new(
            Decimal128Array::from(vec![-129])
                .with_precision_and_scale(20, 0)
                .unwrap(),
        );
        assert_eq!(one_key(KeyEncoding::Compacted, wide), [2, 0xff, 0x7f]);

        let millis = Arc::new(TimestampMillisecondArray::from(vec![1]));
        assert_eq!(one_key(KeyEncoding::Compacted, millis), [1]);
        // Micro precision: millis, then the nanos of the millisecond (2_000 = 0xd0 0x0f).
        let micros = Arc::new(TimestampMicrosecondArray::from(vec![1_002]));
        assert_eq!(one_key(KeyEncoding::Compacted, micros), [1, 0xd0, 0x0f]);
    }

    #[test]
    fn compacted_rejects_nulls_naming_the_column() {
        let b = batch(vec![
            ("id", Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef),
            ("name", Arc::new(StringArray::from(vec![Some("x"), Some("y")]))),
        ]);
        let e = keys(KeyEncoding::Compacted, &b, &["name", "id"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("`id`") && e.message().contains("row 1"), "{e}");
    }

    // -------------------------------------------------------------------- paimon

    #[test]
    fn paimon_int_key_is_header_then_one_slot() {
        let k = one_key(KeyEncoding::Paimon, Arc::new(Int32Array::from(vec![100])));
        assert_eq!(k, [0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0]);
        let k = one_key(KeyEncoding::Paimon, Arc::new(Int64Array::from(vec![-2])));
        assert_eq!(k[8..], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn paimon_short_string_is_inline() {
        let k = one_key(KeyEncoding::Paimon, Arc::new(StringArray::from(vec!["hello"])));
        assert_eq!(k, [0, 0, 0, 0, 0, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 0, 0, 0x85]);
        let k = one_key(KeyEncoding::Paimon, Arc::new(StringArray::from(vec![""])));
        assert_eq!(k[8..], [0, 0, 0, 0, 0, 0, 0, 0x80]);
        let k = one_key(KeyEncoding::Paimon, Arc::new(StringArray::from(vec!["1234567"])));
        assert_eq!(k[8..], [b'1', b'2', b'3', b'4', b'5', b'6', b'7', 0x87]);
    }

    #[test]
    fn paimon_long_string_goes_to_the_padded_variable_part() {
        let k = one_key(KeyEncoding::Paimon, Arc::new(StringArray::from(vec!["1234567890"])));
        let mut expected = vec![0u8; 8];
        expected.extend([10, 0, 0, 0, 16, 0, 0, 0]); // offset 16 << 32 | length 10
        expected.extend(b"1234567890");
        expected.extend([0; 6]);
        assert_eq!(k, expected);
        assert_eq!(k.len() % 8, 0);

        let k = one_key(KeyEncoding::Paimon, Arc::new(BinaryArray::from(vec![&[7u8; 8][..]])));
        assert_eq!(k.len(), 24);
        assert_eq!(k[8..16], [8, 0, 0, 0, 16, 0, 0, 0]);
    }

    #[test]
    fn paimon_multi_column_row_with_null() {
        let b = batch(vec![
            ("a", Arc::new(BooleanArray::from(vec![true])) as ArrayRef),
            ("b", Arc::new(Int32Array::from(vec![None::<i32>]))),
            ("c", Arc::new(StringArray::from(vec!["a string longer than 7"]))),
            ("d", Arc::new(Float64Array::from(vec![2.0]))),
        ]);
        let k = keys(KeyEncoding::Paimon, &b, &["a", "b", "c", "d"]).unwrap().remove(0);
        // Null bitset: the RowKind byte, then bit 8 + 1 for column b.
        assert_eq!(k[..8], [0, 0b10, 0, 0, 0, 0, 0, 0]);
        assert_eq!(k[8..16], [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(k[16..24], [0; 8]);
        assert_eq!(k[24..32], [22, 0, 0, 0, 40, 0, 0, 0]);
        assert_eq!(k[32..40], 2.0f64.to_le_bytes());
        assert_eq!(&k[40..62], b"a string longer than 7");
        assert_eq!(k[62..], [0, 0]);
        assert_eq!(k.len(), 64);
    }

    #[test]
    fn paimon_null_bitset_grows_past_56_columns() {
        let fields: Vec<(String, ArrayRef)> = (0..57)
            .map(|i| (format!("c{i}"), Arc::new(Int8Array::from(vec![i as i8])) as ArrayRef))
            .collect();
        let b = RecordBatch::try_from_iter(fields.iter().map(|(n, a)| (n.as_str(), a.clone()))).unwrap();
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        let k = keys(KeyEncoding::Paimon, &b, &names).unwrap().remove(0);
        assert_eq!(k.len(), 16 + 57 * 8);
        assert_eq!(k[16 + 56 * 8], 56);
    }

    #[test]
    fn paimon_decimals_and_timestamps() {
        let compact = Arc::new(Decimal128Array::from(vec![-9]).with_precision_and_scale(5, 2).unwrap());
        assert_eq!(one_key(KeyEncoding::Paimon, compact)[8..], (-9i64).to_le_bytes());

        let wide = Arc::new(Decimal128Array::from(vec![10]).with_precision_and_scale(20, 0).unwrap());
        let k = one_key(KeyEncoding::Paimon, wide);
        assert_eq!(k.len(), 32);
        assert_eq!(k[8..16], [1, 0, 0, 0, 16, 0, 0, 0]);
        assert_eq!(k[16], 10);
        assert_eq!(k[17..], [0; 15]);

        let millis = 1_698_235_273_182i64;
        let ts = Arc::new(TimestampMillisecondArray::from(vec![millis]));
        assert_eq!(one_key(KeyEncoding::Paimon, ts)[8..], millis.to_le_bytes());
        let ts = Arc::new(TimestampMicrosecondArray::from(vec![millis * 1000 + 123]));
        let k = one_key(KeyEncoding::Paimon, ts);
        assert_eq!(k[8..16], ((16u64 << 32) | 123_000).to_le_bytes());
        assert_eq!(k[16..], millis.to_le_bytes());
    }

    // -------------------------------------------------------------------- iceberg

    /// The "32-bit hash" examples of the Iceberg spec's appendix B.
    #[test]
    fn iceberg_spec_hash_examples() {
        let hash = |a: ArrayRef| murmur3_x86_32(&one_key(KeyEncoding::Iceberg, a), 0) as i32;
        assert_eq!(hash(Arc::new(Int32Array::from(vec![34]))), 2017239379);
        assert_eq!(hash(Arc::new(Int64Array::from(vec![34]))), 2017239379);
        let dec = Decimal128Array::from(vec![1420])
            .with_precision_and_scale(4, 2)
            .unwrap();
        assert_eq!(hash(Arc::new(dec)), -500754589);
        assert_eq!(hash(Arc::new(Date32Array::from(vec![17486]))), -653330422); // 2017-11-16
        assert_eq!(hash(Arc::new(Time32SecondArray::from(vec![81068]))), -662762989); // 22:31:08
        let ts = TimestampMicrosecondArray::from(vec![1_510_871_468_000_000]); // 2017-11-16T22:31:08
        assert_eq!(hash(Arc::new(ts)), -2047944441);
        assert_eq!(hash(Arc::new(StringArray::from(vec!["iceberg"]))), 1210000089);
        assert_eq!(hash(Arc::new(BinaryArray::from(vec![&[0u8, 1, 2, 3][..]]))), -188683207);
    }

    #[test]
    fn iceberg_values_are_raw_single_values() {
        assert_eq!(
            one_key(KeyEncoding::Iceberg, Arc::new(Int32Array::from(vec![-1]))),
            [0xff; 8]
        );
        assert_eq!(
            one_key(KeyEncoding::Iceberg, Arc::new(StringArray::from(vec!["ab"]))),
            *b"ab"
        );
        let dec = Decimal128Array::from(vec![12345])
            .with_precision_and_scale(10, 2)
            .unwrap();
        assert_eq!(one_key(KeyEncoding::Iceberg, Arc::new(dec)), [0x30, 0x39]);
    }

    #[test]
    fn iceberg_needs_exactly_one_supported_non_null_column() {
        let b = batch(vec![
            ("a", Arc::new(Int32Array::from(vec![Some(1), None])) as ArrayRef),
            ("b", Arc::new(Int32Array::from(vec![1, 2]))),
            ("flag", Arc::new(BooleanArray::from(vec![true, false]))),
            ("small", Arc::new(Int16Array::from(vec![1, 2]))),
        ]);
        let e = keys(KeyEncoding::Iceberg, &b, &["a", "b"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        for col in ["flag", "small"] {
            let e = keys(KeyEncoding::Iceberg, &b, &[col]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.message().contains(&format!("`{col}`")), "{e}");
        }
        let e = keys(KeyEncoding::Iceberg, &b, &["a"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("`a`") && e.message().contains("row 1"), "{e}");

        let ltz = Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        );
        let e = KeyEncoder::new(KeyEncoding::Iceberg, &Schema::new(vec![ltz]), &["t".into()]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.message().contains("TIMESTAMP_LTZ"), "{e}");
    }

    // -------------------------------------------------------------------- shared

    #[test]
    fn construction_errors() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("u", DataType::UInt32, false),
            Field::new("l", DataType::new_list(DataType::Int32, true), false),
        ]);
        for encoding in [KeyEncoding::Compacted, KeyEncoding::Paimon, KeyEncoding::Iceberg] {
            let e = KeyEncoder::new(encoding, &schema, &[]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            let e = KeyEncoder::new(encoding, &schema, &["nope".into()]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains("`nope`"), "{e}");
            for col in ["u", "l"] {
                let e = KeyEncoder::new(encoding, &schema, &[col.into()]).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Unsupported);
                assert!(e.message().contains(&format!("`{col}`")), "{e}");
            }
        }
    }

    #[test]
    fn batches_must_match_the_schema() {
        let schema = Schema::new(vec![Field::new("id", DataType::Int32, false)]);
        let enc = KeyEncoder::new(KeyEncoding::Compacted, &schema, &["id".into()]).unwrap();
        let wrong_type = batch(vec![("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
        assert_eq!(enc.encode(&wrong_type).unwrap_err().kind(), ErrorKind::SchemaMismatch);
        let wrong_name = batch(vec![("other", Arc::new(Int32Array::from(vec![1])) as ArrayRef)]);
        assert_eq!(enc.encode(&wrong_name).unwrap_err().kind(), ErrorKind::SchemaMismatch);
        let unsigned = batch(vec![("id", Arc::new(UInt32Array::from(vec![1])) as ArrayRef)]);
        assert_eq!(enc.encode(&unsigned).unwrap_err().kind(), ErrorKind::SchemaMismatch);
        let empty = batch(vec![("id", Arc::new(Int32Array::from(Vec::<i32>::new())) as ArrayRef)]);
        assert_eq!(enc.encode(&empty).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(enc.key_columns().collect::<Vec<_>>(), ["id"]);
    }
}
