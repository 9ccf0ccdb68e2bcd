//! Reading bucket-key values out of Arrow arrays, as the Fluss logical values the key
//! encoders write.
//!
//! Arrow types map to Fluss types as Fluss's own `ArrowUtils` maps them the other way:
//! Int8/16/32/64 are TINYINT/SMALLINT/INT/BIGINT, Date32 is DATE (days), Time32/Time64 are TIME
//! (held by Fluss as milliseconds of the day), Timestamp is TIMESTAMP (no time zone) or
//! TIMESTAMP_LTZ (with one), its unit deciding the "compact" (millisecond) form: seconds and
//! milliseconds are compact, micro- and nanoseconds are not. Decimals of precision up to 18
//! are compact (stored as an `i64` unscaled value).

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal32Type, Decimal64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, BinaryViewArray, BooleanArray, FixedSizeBinaryArray, GenericBinaryArray, GenericStringArray, PrimitiveArray,
    StringViewArray,
};
use arrow_schema::{DataType, TimeUnit};

/// Fluss's `Decimal.MAX_COMPACT_PRECISION`: decimals up to this precision are held as `i64`.
pub(crate) const MAX_COMPACT_DECIMAL_PRECISION: u8 = 18;

/// The Fluss logical type of a bucket-key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Date,
    Time,
    Float,
    Double,
    String,
    Bytes,
    Decimal,
    /// TIMESTAMP (`local == false`) or TIMESTAMP_LTZ (`local == true`).
    Timestamp {
        local: bool,
    },
}

impl KeyType {
    /// The Fluss type of an Arrow type, or `None` when no key encoder handles it.
    pub(crate) fn of(data_type: &DataType) -> Option<Self> {
        Some(match data_type {
            DataType::Boolean => Self::Boolean,
            DataType::Int8 => Self::TinyInt,
            DataType::Int16 => Self::SmallInt,
            DataType::Int32 => Self::Int,
            DataType::Int64 => Self::BigInt,
            DataType::Date32 => Self::Date,
            DataType::Time32(TimeUnit::Second | TimeUnit::Millisecond)
            | DataType::Time64(TimeUnit::Microsecond | TimeUnit::Nanosecond) => Self::Time,
            DataType::Float32 => Self::Float,
            DataType::Float64 => Self::Double,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Self::String,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
                Self::Bytes
            }
            DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) => Self::Decimal,
            DataType::Timestamp(_, tz) => Self::Timestamp { local: tz.is_some() },
            _ => return None,
        })
    }

    /// The Fluss name of the type, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Boolean => "BOOLEAN",
            Self::TinyInt => "TINYINT",
            Self::SmallInt => "SMALLINT",
            Self::Int => "INT",
            Self::BigInt => "BIGINT",
            Self::Date => "DATE",
            Self::Time => "TIME",
            Self::Float => "FLOAT",
            Self::Double => "DOUBLE",
            Self::String => "STRING",
            Self::Bytes => "BYTES",
            Self::Decimal => "DECIMAL",
            Self::Timestamp { local: false } => "TIMESTAMP",
            Self::Timestamp { local: true } => "TIMESTAMP_LTZ",
        }
    }
}

/// One non-null key value, as Fluss holds it in an `InternalRow`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Boolean(bool),
    TinyInt(i8),
    SmallInt(i16),
    Int(i32),
    BigInt(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds of the day.
    Time(i32),
    Float(f32),
    Double(f64),
    /// The UTF-8 bytes of a STRING/CHAR.
    String(&'a [u8]),
    /// The bytes of a BYTES/BINARY.
    Bytes(&'a [u8]),
    /// An unscaled decimal; `compact` when the precision is at most 18.
    Decimal {
        unscaled: i128,
        compact: bool,
    },
    /// Milliseconds since the epoch plus the nanoseconds within that millisecond (0..1e6);
    /// `compact` for second and millisecond precision.
    Timestamp {
        millis: i64,
        nano_of_milli: i32,
        compact: bool,
    },
}

/// A key column of one batch, downcast once.
pub(crate) enum ColumnReader<'a> {
    Boolean(&'a BooleanArray),
    Int8(&'a PrimitiveArray<Int8Type>),
    Int16(&'a PrimitiveArray<Int16Type>),
    Int32(&'a PrimitiveArray<Int32Type>),
    Int64(&'a PrimitiveArray<Int64Type>),
    Date32(&'a PrimitiveArray<Date32Type>),
    Time32Second(&'a PrimitiveArray<Time32SecondType>),
    Time32Milli(&'a PrimitiveArray<Time32MillisecondType>),
    Time64Micro(&'a PrimitiveArray<Time64MicrosecondType>),
    Time64Nano(&'a PrimitiveArray<Time64NanosecondType>),
    TimestampSecond(&'a PrimitiveArray<TimestampSecondType>),
    TimestampMilli(&'a PrimitiveArray<TimestampMillisecondType>),
    TimestampMicro(&'a PrimitiveArray<TimestampMicrosecondType>),
    TimestampNano(&'a PrimitiveArray<TimestampNanosecondType>),
    Float32(&'a PrimitiveArray<Float32Type>),
    Float64(&'a PrimitiveArray<Float64Type>),
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    Utf8View(&'a StringViewArray),
    Binary(&'a GenericBinaryArray<i32>),
    LargeBinary(&'a GenericBinaryArray<i64>),
    BinaryView(&'a BinaryViewArray),
    FixedSizeBinary(&'a FixedSizeBinaryArray),
    Decimal32(&'a PrimitiveArray<Decimal32Type>, bool),
    Decimal64(&'a PrimitiveArray<Decimal64Type>, bool),
    Decimal128(&'a PrimitiveArray<Decimal128Type>, bool),
}

impl<'a> ColumnReader<'a> {
    /// A reader over `array`, or `None` when its type is not one [`KeyType::of`] accepts.
    pub(crate) fn new(array: &'a dyn Array) -> Option<Self> {
        let compact_decimal = |precision: u8| precision <= MAX_COMPACT_DECIMAL_PRECISION;
        Some(match array.data_type() {
            DataType::Boolean => Self::Boolean(array.as_boolean_opt()?),
            DataType::Int8 => Self::Int8(array.as_primitive_opt()?),
            DataType::Int16 => Self::Int16(array.as_primitive_opt()?),
            DataType::Int32 => Self::Int32(array.as_primitive_opt()?),
            DataType::Int64 => Self::Int64(array.as_primitive_opt()?),
            DataType::Date32 => Self::Date32(array.as_primitive_opt()?),
            DataType::Time32(TimeUnit::Second) => Self::Time32Second(array.as_primitive_opt()?),
            DataType::Time32(TimeUnit::Millisecond) => Self::Time32Milli(array.as_primitive_opt()?),
            DataType::Time64(TimeUnit::Microsecond) => Self::Time64Micro(array.as_primitive_opt()?),
            DataType::Time64(TimeUnit::Nanosecond) => Self::Time64Nano(array.as_primitive_opt()?),
            DataType::Timestamp(TimeUnit::Second, _) => Self::TimestampSecond(array.as_primitive_opt()?),
            DataType::Timestamp(TimeUnit::Millisecond, _) => Self::TimestampMilli(array.as_primitive_opt()?),
            DataType::Timestamp(TimeUnit::Microsecond, _) => Self::TimestampMicro(array.as_primitive_opt()?),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Self::TimestampNano(array.as_primitive_opt()?),
            DataType::Float32 => Self::Float32(array.as_primitive_opt()?),
            DataType::Float64 => Self::Float64(array.as_primitive_opt()?),
            DataType::Utf8 => Self::Utf8(array.as_string_opt()?),
            DataType::LargeUtf8 => Self::LargeUtf8(array.as_string_opt()?),
            DataType::Utf8View => Self::Utf8View(array.as_string_view_opt()?),
            DataType::Binary => Self::Binary(array.as_binary_opt()?),
            DataType::LargeBinary => Self::LargeBinary(array.as_binary_opt()?),
            DataType::BinaryView => Self::BinaryView(array.as_binary_view_opt()?),
            DataType::FixedSizeBinary(_) => Self::FixedSizeBinary(array.as_fixed_size_binary_opt()?),
            DataType::Decimal32(p, _) => Self::Decimal32(array.as_primitive_opt()?, compact_decimal(*p)),
            DataType::Decimal64(p, _) => Self::Decimal64(array.as_primitive_opt()?, compact_decimal(*p)),
            DataType::Decimal128(p, _) => Self::Decimal128(array.as_primitive_opt()?, compact_decimal(*p)),
            _ => return None,
        })
    }

    fn array(&self) -> &dyn Array {
        match self {
            Self::Boolean(a) => *a,
            Self::Int8(a) => *a,
            Self::Int16(a) => *a,
            Self::Int32(a) => *a,
            Self::Int64(a) => *a,
            Self::Date32(a) => *a,
            Self::Time32Second(a) => *a,
            Self::Time32Milli(a) => *a,
            Self::Time64Micro(a) => *a,
            Self::Time64Nano(a) => *a,
            Self::TimestampSecond(a) => *a,
            Self::TimestampMilli(a) => *a,
            Self::TimestampMicro(a) => *a,
            Self::TimestampNano(a) => *a,
            Self::Float32(a) => *a,
            Self::Float64(a) => *a,
            Self::Utf8(a) => *a,
            Self::LargeUtf8(a) => *a,
            Self::Utf8View(a) => *a,
            Self::Binary(a) => *a,
            Self::LargeBinary(a) => *a,
            Self::BinaryView(a) => *a,
            Self::FixedSizeBinary(a) => *a,
            Self::Decimal32(a, _) => *a,
            Self::Decimal64(a, _) => *a,
            Self::Decimal128(a, _) => *a,
        }
    }

    /// The value of `row`, `None` when it is null. `row` must be in bounds.
    pub(crate) fn value(&self, row: usize) -> Option<Value<'a>> {
        if self.array().is_null(row) {
            return None;
        }
        Some(match *self {
            Self::Boolean(a) => Value::Boolean(a.value(row)),
            Self::Int8(a) => Value::TinyInt(a.value(row)),
            Self::Int16(a) => Value::SmallInt(a.value(row)),
            Self::Int32(a) => Value::Int(a.value(row)),
            Self::Int64(a) => Value::BigInt(a.value(row)),
            Self::Date32(a) => Value::Date(a.value(row)),
            // Fluss's ArrowTimeColumnVector: whole milliseconds of the day.
            Self::Time32Second(a) => Value::Time(a.value(row).wrapping_mul(1000)),
            Self::Time32Milli(a) => Value::Time(a.value(row)),
            Self::Time64Micro(a) => Value::Time((a.value(row) / 1_000) as i32),
            Self::Time64Nano(a) => Value::Time((a.value(row) / 1_000_000) as i32),
            Self::TimestampSecond(a) => timestamp(a.value(row).wrapping_mul(1000), 0, true),
            Self::TimestampMilli(a) => timestamp(a.value(row), 0, true),
            Self::TimestampMicro(a) => {
                let v = a.value(row);
                timestamp(v.div_euclid(1_000), (v.rem_euclid(1_000) * 1_000) as i32, false)
            }
            Self::TimestampNano(a) => {
                let v = a.value(row);
                timestamp(v.div_euclid(1_000_000), v.rem_euclid(1_000_000) as i32, false)
            }
            Self::Float32(a) => Value::Float(a.value(row)),
            Self::Float64(a) => Value::Double(a.value(row)),
            Self::Utf8(a) => Value::String(a.value(row).as_bytes()),
            Self::LargeUtf8(a) => Value::String(a.value(row).as_bytes()),
            Self::Utf8View(a) => Value::String(a.value(row).as_bytes()),
            Self::Binary(a) => Value::Bytes(a.value(row)),
            Self::LargeBinary(a) => Value::Bytes(a.value(row)),
            Self::BinaryView(a) => Value::Bytes(a.value(row)),
            Self::FixedSizeBinary(a) => Value::Bytes(a.value(row)),
            Self::Decimal32(a, compact) => decimal(i128::from(a.value(row)), compact),
            Self::Decimal64(a, compact) => decimal(i128::from(a.value(row)), compact),
            Self::Decimal128(a, compact) => decimal(a.value(row), compact),
        })
    }
}

fn timestamp<'a>(millis: i64, nano_of_milli: i32, compact: bool) -> Value<'a> {
    Value::Timestamp {
        millis,
        nano_of_milli,
        compact,
    }
}

fn decimal<'a>(unscaled: i128, compact: bool) -> Value<'a> {
    Value::Decimal { unscaled, compact }
}

/// Appends the unscaled value as Java's `BigInteger.toByteArray()` writes it: big-endian
/// two's complement in the fewest bytes that keep the sign (at least one). Returns the
/// number of bytes written.
pub(crate) fn push_unscaled_be(unscaled: i128, out: &mut Vec<u8>) -> usize {
    let bytes = unscaled.to_be_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() {
        let redundant = match bytes[start] {
            0x00 => bytes[start + 1] & 0x80 == 0,
            0xff => bytes[start + 1] & 0x80 != 0,
            _ => false,
        };
        if !redundant {
            break;
        }
        start += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    bytes.len() - start
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, Decimal128Array, Time64MicrosecondArray, TimestampMicrosecondArray, TimestampNanosecondArray,
        TimestampSecondArray,
    };

    use super::*;

    fn be(v: i128) -> Vec<u8> {
        let mut out = Vec::new();
        let n = push_unscaled_be(v, &mut out);
        assert_eq!(n, out.len());
        out
    }

    #[test]
    fn unscaled_bytes_are_minimal_twos_complement() {
        assert_eq!(be(0), [0x00]);
        assert_eq!(be(1), [0x01]);
        assert_eq!(be(-1), [0xff]);
        assert_eq!(be(127), [0x7f]);
        assert_eq!(be(128), [0x00, 0x80]);
        assert_eq!(be(-128), [0x80]);
        assert_eq!(be(-129), [0xff, 0x7f]);
        assert_eq!(be(1420), [0x05, 0x8c]);
        assert_eq!(be(12345), [0x30, 0x39]);
        assert_eq!(be(i128::MAX).len(), 16);
        assert_eq!(be(i128::MIN), i128::MIN.to_be_bytes());
    }

    #[test]
    fn timestamps_split_into_millis_and_nanos_with_floor_semantics() {
        let micros: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![1_698_235_273_182_123, -1]));
        let r = ColumnReader::new(micros.as_ref()).unwrap();
        assert_eq!(r.value(0), Some(timestamp(1_698_235_273_182, 123_000, false)));
        assert_eq!(r.value(1), Some(timestamp(-1, 999_000, false)));

        let nanos: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![1_698_235_273_182_123_456]));
        let r = ColumnReader::new(nanos.as_ref()).unwrap();
        assert_eq!(r.value(0), Some(timestamp(1_698_235_273_182, 123_456, false)));

        let secs: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(5), None]).with_timezone("UTC"));
        assert_eq!(KeyType::of(secs.data_type()), Some(KeyType::Timestamp { local: true }));
        let r = ColumnReader::new(secs.as_ref()).unwrap();
        assert_eq!(r.value(0), Some(timestamp(5_000, 0, true)));
        assert_eq!(r.value(1), None);
    }

    #[test]
    fn times_are_millis_of_day_and_decimals_know_compactness() {
        let t: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![34_200_000_999]));
        assert_eq!(
            ColumnReader::new(t.as_ref()).unwrap().value(0),
            Some(Value::Time(34_200_000))
        );

        let small: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1420])
                .with_precision_and_scale(18, 2)
                .unwrap(),
        );
        let big: ArrayRef = Arc::new(
            Decimal128Array::from(vec![1420])
                .with_precision_and_scale(19, 2)
                .unwrap(),
        );
        assert_eq!(
            ColumnReader::new(small.as_ref()).unwrap().value(0),
            Some(decimal(1420, true))
        );
        assert_eq!(
            ColumnReader::new(big.as_ref()).unwrap().value(0),
            Some(decimal(1420, false))
        );
    }

    #[test]
    fn unsupported_types_have_no_key_type() {
        for dt in [DataType::UInt32, DataType::Float16, DataType::Date64, DataType::Null] {
            assert_eq!(KeyType::of(&dt), None, "{dt}");
        }
    }
}
