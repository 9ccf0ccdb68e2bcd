//! Batches the record tests share.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, MapBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, FixedSizeListArray,
    Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    StructArray, Time32MillisecondArray, TimestampMicrosecondArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Fields, Schema};
use lake_api::ChangeType;

/// Three rows: `id` Int64 (not null), `name` Utf8, `score` Float64, with nulls.
pub(crate) fn sample_batch() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])),
            Arc::new(Float64Array::from(vec![Some(1.5), Some(-2.0), None])),
        ],
    )
    .unwrap()
}

/// `n` change types cycling through every kind.
pub(crate) fn changes(n: usize) -> Vec<ChangeType> {
    const ALL: [ChangeType; 5] = [
        ChangeType::Insert,
        ChangeType::UpdateBefore,
        ChangeType::UpdateAfter,
        ChangeType::Delete,
        ChangeType::AppendOnly,
    ];
    (0..n).map(|i| ALL[i % ALL.len()]).collect()
}

/// Four rows of every Arrow type the Fluss type mapping produces, each column with a null.
pub(crate) fn all_types_batch() -> RecordBatch {
    let nulls = || Some(NullBuffer::from(vec![true, false, true, true]));

    let st_fields = Fields::from(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Utf8, true),
    ]);
    let st = StructArray::try_new(
        st_fields,
        vec![
            Arc::new(Int32Array::from(vec![Some(1), Some(0), None, Some(4)])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("s1"), Some(""), Some("s3"), None])),
        ],
        nulls(),
    )
    .unwrap();

    let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    map.keys().append_value("k1");
    map.values().append_value(10);
    map.keys().append_value("k2");
    map.values().append_null();
    map.append(true).unwrap();
    map.append(false).unwrap();
    map.append(true).unwrap(); // empty map
    map.keys().append_value("k3");
    map.values().append_value(-3);
    map.append(true).unwrap();
    let map = map.finish();

    let fsl = FixedSizeListArray::try_new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        3,
        Arc::new(Float32Array::from(vec![
            1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 7.0, 8.0, 9.0, -1.0, -2.0, -3.5,
        ])),
        nulls(),
    )
    .unwrap();

    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from(vec![Some(-8), None, Some(0), Some(127)])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![Some(-16), None, Some(1), Some(i16::MAX)])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![Some(-32), None, Some(2), Some(i32::MIN)])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![Some(-64), None, Some(3), Some(i64::MAX)])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(0.5),
                None,
                Some(f32::INFINITY),
                Some(-0.0),
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![Some(0.25), None, Some(f64::MIN), Some(1e300)])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(12345), None, Some(-99_999_999), Some(0)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "str",
            Arc::new(StringArray::from(vec![Some("héllo"), None, Some(""), Some("x")])),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01"[..]),
                None,
                Some(&b""[..]),
                Some(&b"zz"[..]),
            ])),
        ),
        (
            "fixed",
            Arc::new(
                FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    vec![Some(*b"abcd"), None, Some(*b"\0\0\0\0"), Some(*b"wxyz")].into_iter(),
                    4,
                )
                .unwrap(),
            ),
        ),
        (
            "bool",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false), Some(true)])),
        ),
        (
            "date",
            Arc::new(Date32Array::from(vec![Some(19_000), None, Some(-1), Some(0)])),
        ),
        (
            "time",
            Arc::new(Time32MillisecondArray::from(vec![
                Some(3_600_000),
                None,
                Some(0),
                Some(86_399_999),
            ])),
        ),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1_700_000_000_000_000),
                None,
                Some(-1),
                Some(0),
            ])),
        ),
        (
            "list",
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(3)]),
                None,
                Some(vec![]),
                Some(vec![Some(4)]),
            ])),
        ),
        ("st", Arc::new(st)),
        ("map", Arc::new(map)),
        ("fsl", Arc::new(fsl)),
    ];
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true))).unwrap()
}
