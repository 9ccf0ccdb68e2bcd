//! What a PutKv request carries, and the changelog a tablet server makes of it.
//!
//! - A KV record batch (apache/fluss `KvRecordBatch`, little-endian): `i32 length, u8
//!   magic, u32 crc, i16 schema id, u8 attributes, i64 writer id, i32 batch sequence, i32
//!   record count`, then the records: `i32 length, varint key length, key, value`, where
//!   no value bytes means a delete of the key.
//! - A value is a compacted row (`CompactedRowWriter`): a null bit set of `ceil(n / 8)`
//!   bytes, then the non-null fields in order: INT/DATE as an unsigned LEB128 varint of
//!   the `u32` bits, BIGINT likewise of the `u64` bits, STRING/BYTES as a varint length and
//!   the bytes, BOOLEAN/TINYINT one byte, SMALLINT/FLOAT/DOUBLE their little-endian bytes.
//! - The key is opaque here (the encoded primary key): it names the row in the KV state.
//!
//! Applying a record to the state gives Fluss's changelog: a new key `+I`, an existing one
//! `-U` (old row) and `+U` (new row), a delete of an existing key `-D` (old row), a delete
//! of an absent key nothing.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, StringArray, new_null_array,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use lake_api::ChangeType;

const HEADER_LEN: usize = 28;
const RECORD_COUNT_AT: usize = 24;

/// One record of a KV batch.
pub struct KvRecord {
    pub key: Vec<u8>,
    /// `None`: delete the key.
    pub value: Option<Vec<u8>>,
}

/// The records of one KV record batch.
pub fn parse_kv_batch(bytes: &[u8]) -> Result<Vec<KvRecord>, String> {
    let header = bytes.get(..HEADER_LEN).ok_or("a KV batch shorter than its header")?;
    let length = i32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if usize::try_from(length).ok() != Some(bytes.len() - 4) {
        return Err(format!("KV batch length {length} but {} bytes", bytes.len()));
    }
    let count = i32::from_le_bytes([
        header[RECORD_COUNT_AT],
        header[RECORD_COUNT_AT + 1],
        header[RECORD_COUNT_AT + 2],
        header[RECORD_COUNT_AT + 3],
    ]);
    let mut at = HEADER_LEN;
    let mut records = Vec::new();
    for _ in 0..count {
        let len_bytes = bytes.get(at..at + 4).ok_or("a truncated KV record")?;
        let len = i32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let len = usize::try_from(len).map_err(|_| format!("KV record length {len}"))?;
        let record = bytes.get(at + 4..at + 4 + len).ok_or("a truncated KV record")?;
        let mut cursor = Cursor { bytes: record, at: 0 };
        let key_len = cursor.varint()? as usize;
        let key = cursor.take(key_len)?.to_vec();
        let rest = &record[cursor.at..];
        records.push(KvRecord {
            key,
            value: (!rest.is_empty()).then(|| rest.to_vec()),
        });
        at += 4 + len;
    }
    if at != bytes.len() {
        return Err(format!(
            "{} bytes after the KV batch's {count} records",
            bytes.len() - at
        ));
    }
    Ok(records)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let out = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or("a truncated compacted row")?;
        self.at += n;
        Ok(out)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 64 bits".into())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// A compacted row as a one-row batch of `schema`.
pub fn decode_row(value: &[u8], schema: &SchemaRef) -> Result<RecordBatch, String> {
    let fields = schema.fields();
    let nulls_len = fields.len().div_ceil(8);
    let nulls = value
        .get(..nulls_len)
        .ok_or("a compacted row shorter than its null bits")?;
    let mut cursor = Cursor {
        bytes: value,
        at: nulls_len,
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        if nulls[i / 8] & (1 << (i % 8)) != 0 {
            columns.push(new_null_array(field.data_type(), 1));
            continue;
        }
        let column: ArrayRef = match field.data_type() {
            DataType::Boolean => Arc::new(BooleanArray::from(vec![cursor.take(1)?[0] != 0])),
            DataType::Int8 => Arc::new(Int8Array::from(vec![cursor.take(1)?[0] as i8])),
            DataType::Int16 => Arc::new(Int16Array::from(vec![i16::from_le_bytes(cursor.fixed()?)])),
            DataType::Int32 => Arc::new(Int32Array::from(vec![cursor.varint()? as u32 as i32])),
            DataType::Date32 => Arc::new(Date32Array::from(vec![cursor.varint()? as u32 as i32])),
            DataType::Int64 => Arc::new(Int64Array::from(vec![cursor.varint()? as i64])),
            DataType::Float32 => Arc::new(Float32Array::from(vec![f32::from_le_bytes(cursor.fixed()?)])),
            DataType::Float64 => Arc::new(Float64Array::from(vec![f64::from_le_bytes(cursor.fixed()?)])),
            DataType::Utf8 => {
                let len = cursor.varint()? as usize;
                let text = std::str::from_utf8(cursor.take(len)?).map_err(|e| e.to_string())?;
                Arc::new(StringArray::from(vec![text]))
            }
            DataType::Binary => {
                let len = cursor.varint()? as usize;
                Arc::new(BinaryArray::from(vec![cursor.take(len)?]))
            }
            other => {
                return Err(format!(
                    "the test server does not decode {other} values (column {})",
                    field.name()
                ));
            }
        };
        columns.push(column);
    }
    if cursor.at != value.len() {
        return Err(format!("{} bytes after a compacted row", value.len() - cursor.at));
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// Applies records to one bucket's KV state; the changelog they make, as rows and change
/// types.
pub fn apply(
    state: &mut HashMap<Vec<u8>, RecordBatch>,
    records: Vec<KvRecord>,
    schema: &SchemaRef,
) -> Result<Option<(RecordBatch, Vec<ChangeType>)>, String> {
    let mut rows = Vec::new();
    let mut changes = Vec::new();
    for record in records {
        match record.value {
            Some(value) => {
                let row = decode_row(&value, schema)?;
                if let Some(old) = state.insert(record.key, row.clone()) {
                    rows.push(old);
                    changes.push(ChangeType::UpdateBefore);
                    changes.push(ChangeType::UpdateAfter);
                } else {
                    changes.push(ChangeType::Insert);
                }
                rows.push(row);
            }
            None => {
                if let Some(old) = state.remove(&record.key) {
                    rows.push(old);
                    changes.push(ChangeType::Delete);
                }
            }
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let batch = arrow::compute::concat_batches(schema, &rows).map_err(|e| e.to_string())?;
    Ok(Some((batch, changes)))
}
