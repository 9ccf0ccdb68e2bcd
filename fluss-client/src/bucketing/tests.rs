//! Tests of bucket assignment: Fluss's published vectors for the bucketing functions, and
//! the assigner end to end.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{BucketAssigner, KeyEncoding, LakeFormat, bucket_of_bytes};
use crate::error::ErrorKind;

const FORMATS: [LakeFormat; 4] = [
    LakeFormat::None,
    LakeFormat::Paimon,
    LakeFormat::Iceberg,
    LakeFormat::Lance,
];

/// Fluss's `BucketingFunctionTest` (raw key bytes; Lance buckets as Fluss).
#[test]
fn bucketing_function_vectors() {
    let cases: [(&[u8], u32, u32, u32, u32); 4] = [
        (&[0, 10], 7, 1, 1, 3),
        (&[0, 10, 10, 10], 12, 0, 11, 4),
        (b"2bb87d68-baf9-4e64-90f9-f80910419fa6", 16, 6, 12, 12),
        (b"The quick brown fox jumps over the lazy dog", 8, 6, 0, 3),
    ];
    for (key, n, fluss, paimon, iceberg) in cases {
        assert_eq!(bucket_of_bytes(LakeFormat::None, key, n), fluss, "fluss {key:?}");
        assert_eq!(bucket_of_bytes(LakeFormat::Lance, key, n), fluss, "lance {key:?}");
        assert_eq!(bucket_of_bytes(LakeFormat::Paimon, key, n), paimon, "paimon {key:?}");
        assert_eq!(bucket_of_bytes(LakeFormat::Iceberg, key, n), iceberg, "iceberg {key:?}");
    }
}

#[test]
fn buckets_are_in_range_and_one_bucket_takes_all() {
    for format in FORMATS {
        for i in 0..200u32 {
            let key = i.to_le_bytes();
            assert!(bucket_of_bytes(format, &key[..1 + (i as usize % 4)], 7) < 7);
            assert_eq!(bucket_of_bytes(format, &key, 1), 0);
        }
        assert!(bucket_of_bytes(format, b"k", u32::MAX) < u32::MAX);
    }
}

#[test]
fn iceberg_bucket_is_the_iceberg_transform() {
    // bucket[16](34): hash 2017239379 (Iceberg spec appendix B), 2017239379 % 16 = 3.
    let schema = Schema::new(vec![Field::new("id", DataType::Int32, false)]);
    let assigner = BucketAssigner::new(LakeFormat::Iceberg, &schema, &["id".into()], 16).unwrap();
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int32Array::from(vec![34]))]).unwrap();
    assert_eq!(assigner.assign(&batch).unwrap(), [3]);
    // An empty string hashes to 0, Iceberg's bucket 0.
    assert_eq!(bucket_of_bytes(LakeFormat::Iceberg, b"", 16), 0);
}

#[test]
fn format_dispatch() {
    assert_eq!(LakeFormat::default(), LakeFormat::None);
    assert_eq!(LakeFormat::None.key_encoding(), KeyEncoding::Compacted);
    assert_eq!(LakeFormat::Lance.key_encoding(), KeyEncoding::Compacted);
    assert_eq!(LakeFormat::Paimon.key_encoding(), KeyEncoding::Paimon);
    assert_eq!(LakeFormat::Iceberg.key_encoding(), KeyEncoding::Iceberg);
}

fn table() -> RecordBatch {
    let ids: ArrayRef = Arc::new(Int64Array::from((0..100).collect::<Vec<i64>>()));
    let names: ArrayRef = Arc::new(StringArray::from(
        (0..100).map(|i| format!("name-{i}")).collect::<Vec<_>>(),
    ));
    RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap()
}

#[test]
fn assign_hashes_the_encoded_key_of_each_row() {
    let batch = table();
    for format in FORMATS {
        let key = if format == LakeFormat::Iceberg {
            vec!["name".to_string()]
        } else {
            vec!["name".to_string(), "id".to_string()]
        };
        let assigner = BucketAssigner::new(format, batch.schema_ref(), &key, 8).unwrap();
        assert_eq!(assigner.format(), format);
        assert_eq!(assigner.buckets(), 8);
        let buckets = assigner.assign(&batch).unwrap();
        let keys = assigner.encoder().encode(&batch).unwrap();
        let expected: Vec<u32> = keys.iter().map(|k| bucket_of_bytes(format, k, 8)).collect();
        assert_eq!(buckets, expected, "{format}");
        // 100 distinct keys spread over the 8 buckets.
        for b in 0..8 {
            assert!(buckets.contains(&b), "{format}: bucket {b} is empty");
        }
    }
}

#[test]
fn lance_buckets_as_fluss() {
    let batch = table();
    let key = ["id".to_string()];
    let fluss = BucketAssigner::new(LakeFormat::None, batch.schema_ref(), &key, 5).unwrap();
    let lance = BucketAssigner::new(LakeFormat::Lance, batch.schema_ref(), &key, 5).unwrap();
    assert_eq!(fluss.assign(&batch).unwrap(), lance.assign(&batch).unwrap());
    // A BIGINT key of 1 is the one varint byte [1].
    assert_eq!(
        fluss.assign(&batch).unwrap()[1],
        bucket_of_bytes(LakeFormat::None, &[1], 5)
    );
}

#[test]
fn paimon_accepts_null_keys_the_others_do_not() {
    let ids: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None]));
    let batch = RecordBatch::try_from_iter([("id", ids)]).unwrap();
    let key = ["id".to_string()];
    let paimon = BucketAssigner::new(LakeFormat::Paimon, batch.schema_ref(), &key, 4).unwrap();
    let buckets = paimon.assign(&batch).unwrap();
    let mut null_row = vec![0u8; 16];
    null_row[1] = 1; // null bit of column 0
    assert_eq!(buckets[1], bucket_of_bytes(LakeFormat::Paimon, &null_row, 4));
    for format in [LakeFormat::None, LakeFormat::Iceberg, LakeFormat::Lance] {
        let assigner = BucketAssigner::new(format, batch.schema_ref(), &key, 4).unwrap();
        let e = assigner.assign(&batch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{format}");
        assert!(e.message().contains("`id`"), "{e}");
    }
}

#[test]
fn assigner_argument_errors() {
    let batch = table();
    let schema = batch.schema_ref();
    let id = ["id".to_string()];
    for buckets in [0, i32::MAX as u32 + 1] {
        let e = BucketAssigner::new(LakeFormat::None, schema, &id, buckets).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
    assert!(BucketAssigner::new(LakeFormat::None, schema, &id, i32::MAX as u32).is_ok());
    let e = BucketAssigner::new(LakeFormat::Paimon, schema, &[], 4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let two = ["id".to_string(), "name".to_string()];
    let e = BucketAssigner::new(LakeFormat::Iceberg, schema, &two, 4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("iceberg"), "{e}");
    let e = BucketAssigner::new(LakeFormat::Lance, schema, &["missing".to_string()], 4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("`missing`"), "{e}");

    // A batch of another schema.
    let assigner = BucketAssigner::new(LakeFormat::None, schema, &id, 4).unwrap();
    let other = RecordBatch::try_from_iter([("id", Arc::new(Int32Array::from(vec![1])) as ArrayRef)]).unwrap();
    assert_eq!(assigner.assign(&other).unwrap_err().kind(), ErrorKind::SchemaMismatch);
}

#[test]
#[should_panic(expected = "buckets must be positive")]
fn zero_buckets_panic_for_raw_bytes() {
    bucket_of_bytes(LakeFormat::None, b"k", 0);
}

#[test]
fn lake_formats_are_named_as_fluss_names_them() {
    assert_eq!(LakeFormat::from_property(None).ok(), Some(LakeFormat::None));
    assert_eq!(
        LakeFormat::from_property(Some(" Paimon ")).ok(),
        Some(LakeFormat::Paimon)
    );
    // a format Fluss knows (HEAD's DataLakeFormat.HUDI) that this crate does not bucket
    // for is unsupported, not an invalid table
    let hudi = LakeFormat::from_property(Some("hudi")).err().map(|e| e.kind());
    assert_eq!(hudi, Some(ErrorKind::Unsupported));
    let unknown = LakeFormat::from_property(Some("delta-ish")).err().map(|e| e.kind());
    assert_eq!(unknown, Some(ErrorKind::InvalidArgument));
}
