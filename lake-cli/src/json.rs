//! JSON output: arrow-json's writer, with the two kinds of value it cannot write as they
//! are handed to it.
//!
//! - A NaN or infinite float becomes the string `"NaN"`, `"Infinity"` or `"-Infinity"` (as
//!   Jackson and Spark write them): arrow-json writes `null`, which a reader cannot tell
//!   from a NULL. Finite floats are written by arrow-json itself.
//! - A map whose keys are not strings becomes an object keyed by each key's JSON text
//!   (`{"1": "a"}`): arrow-json refuses such maps, failing the whole scan.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, AsArray, Float16Array, Float32Array, Float64Array, MapArray};
use arrow::datatypes::{DataType, FieldRef};
use arrow::error::ArrowError;
use arrow::json::WriterBuilder;
use arrow::json::writer::{Encoder, EncoderFactory, EncoderOptions, NullableEncoder, make_encoder};

/// The JSON writer lakescan writes with: explicit nulls, and the encoders of this module.
pub fn writer_builder() -> WriterBuilder {
    WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(LakescanEncoders))
}

/// arrow-json's own options, for the finite floats handed back to its encoder.
static ARROW_JSON: LazyLock<EncoderOptions> = LazyLock::new(EncoderOptions::default);

#[derive(Debug)]
struct LakescanEncoders;

impl EncoderFactory for LakescanEncoders {
    fn make_default_encoder<'a>(
        &self,
        field: &'a FieldRef,
        array: &'a dyn Array,
        options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let floats = match array.data_type() {
            DataType::Float16 => array.as_any().downcast_ref().map(Floats::F16),
            DataType::Float32 => array.as_any().downcast_ref().map(Floats::F32),
            DataType::Float64 => array.as_any().downcast_ref().map(Floats::F64),
            _ => None,
        };
        let encoder: Box<dyn Encoder + 'a> = if let Some(values) = floats {
            Box::new(FloatEncoder {
                values,
                finite: make_encoder(field, array, &ARROW_JSON)?,
            })
        } else if let Some(map) = array.as_map_opt()
            && !matches!(
                map.key_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        {
            Box::new(MapEncoder::new(map, options)?)
        } else {
            return Ok(None);
        };
        Ok(Some(NullableEncoder::new(encoder, array.nulls().cloned())))
    }
}

/// A float column, of any width.
enum Floats<'a> {
    F16(&'a Float16Array),
    F32(&'a Float32Array),
    F64(&'a Float64Array),
}

impl Floats<'_> {
    fn value(&self, idx: usize) -> f64 {
        match self {
            Floats::F16(a) => a.value(idx).to_f64(),
            Floats::F32(a) => f64::from(a.value(idx)),
            Floats::F64(a) => a.value(idx),
        }
    }
}

struct FloatEncoder<'a> {
    values: Floats<'a>,
    /// arrow-json's encoder of the same column, for the finite values.
    finite: NullableEncoder<'a>,
}

impl Encoder for FloatEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.values.value(idx);
        if v.is_nan() {
            out.extend_from_slice(b"\"NaN\"");
        } else if v == f64::INFINITY {
            out.extend_from_slice(b"\"Infinity\"");
        } else if v == f64::NEG_INFINITY {
            out.extend_from_slice(b"\"-Infinity\"");
        } else {
            self.finite.encode(idx, out);
        }
    }
}

struct MapEncoder<'a> {
    offsets: &'a [i32],
    keys: NullableEncoder<'a>,
    values: NullableEncoder<'a>,
    /// One key's JSON text, before it is written as a string.
    key: Vec<u8>,
}

impl<'a> MapEncoder<'a> {
    fn new(map: &'a MapArray, options: &'a EncoderOptions) -> Result<Self, ArrowError> {
        let [key_field, value_field] = map.entries().fields().as_ref() else {
            return Err(ArrowError::JsonError(format!(
                "a map's entries have {} fields, not a key and a value",
                map.entries().fields().len()
            )));
        };
        Ok(Self {
            offsets: map.value_offsets(),
            keys: make_encoder(key_field, map.keys(), options)?,
            values: make_encoder(value_field, map.values(), options)?,
            key: Vec::new(),
        })
    }
}

impl Encoder for MapEncoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        // offsets of a valid map array: one more than its rows, and ascending
        let (start, end) = match (self.offsets.get(idx), self.offsets.get(idx + 1)) {
            (Some(&start), Some(&end)) => (start.max(0) as usize, end.max(0) as usize),
            _ => (0, 0),
        };
        out.push(b'{');
        for (n, entry) in (start..end).enumerate() {
            if n > 0 {
                out.push(b',');
            }
            self.key.clear();
            if self.keys.is_null(entry) {
                self.key.extend_from_slice(b"null");
            } else {
                self.keys.encode(entry, &mut self.key);
            }
            if self.key.first() == Some(&b'"') {
                // a key written as a string already (a date, say)
                out.extend_from_slice(&self.key);
            } else {
                // JSON text is UTF-8, and a string holds any: this cannot fail
                let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(&self.key));
            }
            out.push(b':');
            // a map entry keeps its key whatever the value: its null is written, as
            // `writer_builder`'s explicit nulls write every other null
            if self.values.is_null(entry) {
                out.extend_from_slice(b"null");
            } else {
                self.values.encode(entry, out);
            }
        }
        out.push(b'}');
    }
}
