//! The Paimon backend against tables pypaimon wrote (`tests/fixtures/paimon`), and against
//! bad input: missing and corrupt data files, unknown snapshots, hostile splits, malformed
//! offsets, a log that no longer matches its lake.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{FixedSizeListArray, Int64Array, LargeBinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use fluss_client::bucketing::{BucketAssigner, LakeFormat};
use futures::TryStreamExt;
use lake_api::types::{LogicalType, blob_field, vector_field};
use lake_api::{ChangeType, ErrorKind, LakeStorage, LogBatch, MergeEngine, TableBucket, TableInfo, TablePath};
use lake_paimon::{PaimonConfig, PaimonSplit, PaimonStorage};
use lakeunion_tests::bad_lake;
use lakeunion_tests::fixtures::{
    assert_fixture_rows, assert_unknown_table_not_found, expected, files_with_extension, fixture_dir, ids, plan,
    read_small_table, read_snapshot, read_split, rows_as_json, small_rows as rows, small_table as info,
    tier_small_table,
};
use lakeunion_tests::workload::paimon_key;

async fn fixture_lake() -> PaimonStorage {
    PaimonStorage::connect(PaimonConfig::filesystem(fixture_dir("paimon").join("warehouse")))
        .await
        .expect("fixture warehouse")
}

/// A table with keys 0..10 committed with `offsets`.
async fn table(root: &Path, offsets: &str) -> (PaimonStorage, i64) {
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(root.join("lake")))
        .await
        .expect("warehouse");
    let snapshot = tier_small_table(&lake, offsets).await;
    (lake, snapshot)
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "parquet")
}

/// Planning the same snapshot twice gives the same splits in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_the_same_each_time() -> lake_api::Result<()> {
    let lake = fixture_lake().await;
    for name in ["events", "orders", "media"] {
        lakeunion_tests::fixtures::plans_repeat(&lake, &TablePath::new("fixtures", name)).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_pypaimon_fixture() {
    let expected = expected("paimon");
    let lake = fixture_lake().await;
    let worker = fixture_lake().await;
    for name in ["events", "orders", "media"] {
        let table = &expected["tables"][name];
        let path = TablePath::new("fixtures", name);
        let info = lake.table_info(&path).await.expect("table info");
        assert_eq!(info.partition_keys, vec!["dt".to_string()], "{name}");

        let snapshots = lake.list_snapshots(&path).await.expect("snapshots");
        let commits: Vec<i64> = table["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .map(|c| c["snapshot_id"].as_i64().expect("id"))
            .collect();
        assert_eq!(snapshots.iter().map(|s| s.id).collect::<Vec<_>>(), commits, "{name}");
        let latest = lake.latest_snapshot(&path).await.expect("latest").expect("a snapshot");
        assert_eq!(
            latest.properties.get("fluss-offsets").map(String::as_str),
            expected["fluss_offsets_property"]["value"].as_str(),
            "{name}"
        );

        let (batches, splits) = read_snapshot(&lake, &worker, &path, latest.id).await.expect("read");
        assert_fixture_rows(&batches, table, name);

        if name == "media" {
            // bucket-unaware: no Fluss bucket, one bucket per partition
            assert!(splits.iter().all(|s| s.bucket().is_none()), "{name}");
            assert_eq!(info.bucket_count, 1);
            assert_eq!(
                LogicalType::of(info.schema.field_with_name("image").expect("image")),
                LogicalType::Blob
            );
        } else {
            assert_eq!(info.bucket_count, 2, "{name}");
            assert_eq!(info.bucket_key, vec!["id".to_string()], "{name}");
            // splits carry the bucket pypaimon wrote each row to
            let source = lake.create_lake_source(&path).await.expect("source");
            let mut by_bucket: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for split in &splits {
                let got = read_split(source.as_ref(), split.clone()).await.expect("batches");
                by_bucket
                    .entry(split.bucket().expect("fixed buckets").to_string())
                    .or_default()
                    .extend(ids(&got));
            }
            for v in by_bucket.values_mut() {
                v.sort_unstable();
            }
            let want: BTreeMap<String, Vec<i64>> =
                serde_json::from_value(table["bucket_ids"].clone()).expect("bucket ids");
            assert_eq!(by_bucket, want, "{name}");
            // and Fluss's Paimon bucketing agrees with pypaimon's
            let rows = RecordBatch::try_from_iter([(
                "id",
                Arc::new(Int64Array::from(ids(&batches))) as arrow::array::ArrayRef,
            )])
            .expect("ids");
            let assigner =
                BucketAssigner::new(LakeFormat::Paimon, rows.schema_ref(), &["id".into()], 2).expect("assigner");
            let buckets = assigner.assign(&rows).expect("buckets");
            for (id, b) in ids(&batches).into_iter().zip(buckets) {
                assert!(want[&b.to_string()].contains(&id), "{name}: id {id} in bucket {b}");
            }
        }
        if name == "orders" {
            assert_eq!(info.primary_key, vec!["dt".to_string(), "id".to_string()]);
            assert_eq!(info.merge_engine, MergeEngine::Deduplicate);
            assert_eq!(
                LogicalType::of(info.schema.field_with_name("embedding").expect("embedding")),
                LogicalType::Vector {
                    element: DataType::Float32,
                    dimension: 4
                }
            );
            // every merged split is in key order
            assert!(splits.iter().all(|s| {
                s.as_any()
                    .downcast_ref::<PaimonSplit>()
                    .expect("paimon split")
                    .key_sorted()
            }));
            // the snapshot before the update round still holds the original rows
            let (before, _) = read_snapshot(&lake, &worker, &path, commits[0])
                .await
                .expect("read before");
            assert_eq!(
                rows_as_json(&before),
                table["initial_rows"].as_array().expect("initial rows").clone()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_projection_and_limit_push_down_to_the_fixture() {
    let lake = fixture_lake().await;
    let path = TablePath::new("fixtures", "orders");
    let snapshot = lake.latest_snapshot(&path).await.expect("latest").expect("snapshot").id;
    let mut source = lake.create_lake_source(&path).await.expect("source");
    let pushed = source.with_filters(vec![
        lake_api::predicate::col("id").gt(6),
        lake_api::predicate::col("embedding").is_null(),
        lake_api::predicate::col("id").eq(3).negate(),
    ]);
    assert_eq!(pushed.accepted, vec![lake_api::predicate::col("id").gt(6)]);
    assert_eq!(pushed.remaining.len(), 2);
    source.with_project(&[vec![2], vec![0]]).expect("projection");
    let splits = source
        .create_planner(snapshot)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan");
    let mut batches = Vec::new();
    for split in splits {
        let reader = source.create_reader(split).await.expect("reader");
        assert_eq!(reader.schema().fields().len(), 2);
        batches.extend(
            reader
                .read()
                .await
                .expect("read")
                .try_collect::<Vec<_>>()
                .await
                .expect("rows"),
        );
    }
    assert!(batches.iter().all(|b| b.schema().field(0).name() == "amount"));
    assert_eq!(ids(&batches), vec![7, 8, 9, 10, 11, 12, 13, 14]);

    // a limit on a log table stops every reader early
    let path = TablePath::new("fixtures", "events");
    let snapshot = lake.latest_snapshot(&path).await.expect("latest").expect("snapshot").id;
    let mut limited = lake.create_lake_source(&path).await.expect("source");
    limited.with_limit(1);
    for split in limited
        .create_planner(snapshot)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan")
    {
        let got = read_split(limited.as_ref(), split).await.expect("rows");
        // a reader stops at the batch that reaches the limit (the union read trims it)
        assert!(got.len() <= 1, "{got:?}");
    }

    // regression: a limit past i64::MAX was cast to a negative row count, so planning
    // stopped before the first split and the lake read no rows
    let mut unlimited = lake.create_lake_source(&path).await.expect("source");
    unlimited.with_limit(usize::MAX);
    let all = lake.create_lake_source(&path).await.expect("source");
    let mut counts = Vec::new();
    for (source, what) in [(&unlimited, "limit usize::MAX"), (&all, "no limit")] {
        let splits = plan(source.as_ref(), snapshot).await.expect("plan");
        assert!(!splits.is_empty(), "{what}");
        let mut rows = 0;
        for split in splits {
            let batches = read_split(source.as_ref(), split).await.expect("rows");
            rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        counts.push(rows);
    }
    assert!(counts[1] > 0);
    assert_eq!(counts[0], counts[1]);

    let err = source.create_planner(99).await.err().expect("unknown snapshot");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("fixtures.orders"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_whose_partition_row_is_malformed_is_corrupt() {
    // regression: the reader renders a deserialized split's partition row to check its
    // claim; paimon indexes that row by its own header, so a forged header made it add
    // past usize (a panic where overflow checks are on)
    let lake = fixture_lake().await;
    let path = TablePath::new("fixtures", "orders");
    let (source, _, text) = lakeunion_tests::fixtures::first_split_text(&lake, &path).await;
    let serializer = source.split_serializer();
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let edits = [
        ("/split/partition/nullBitsSizeInBytes", serde_json::json!(-1)),
        ("/split/partition/nullBitsSizeInBytes", serde_json::json!(1i64 << 40)),
        ("/split/partition/data", serde_json::json!([1, 2, 3])),
    ];
    for (field, value) in edits {
        let mut hostile = json.clone();
        *hostile.pointer_mut(field).expect("the split has the field") = value.clone();
        let Ok(hostile) = serializer.deserialize(serializer.version(), hostile.to_string().as_bytes()) else {
            continue; // refused as it is read: as good
        };
        let err = match source.create_reader(hostile).await {
            Ok(_) => panic!("{field} = {value}: a reader"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{field} = {value}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_splits_are_refused() {
    let lake = fixture_lake().await;
    let path = TablePath::new("fixtures", "events");
    let (source, split, text) = lakeunion_tests::fixtures::first_split_text(&lake, &path).await;
    let serializer = source.split_serializer();
    let bucket_path = split
        .as_any()
        .downcast_ref::<PaimonSplit>()
        .expect("paimon split")
        .data_split()
        .bucket_path()
        .to_string();
    for outside in ["/etc", &format!("{bucket_path}/../../../orders/dt=2024-01-01/bucket-0")] {
        let hostile = text.replace(&format!("\"{bucket_path}\""), &format!("\"{outside}\""));
        assert_ne!(hostile, text);
        let hostile = serializer
            .deserialize(serializer.version(), hostile.as_bytes())
            .expect("parses");
        let err = source.create_reader(hostile).await.err().expect("outside the table");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    // regression: paimon's reader asserted (a panic) on an inverted row range; an index
    // file named beside a data file was opened wherever it pointed
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let ranges = |from: i64, to: i64| ("/split/row_ranges", serde_json::json!([{ "from": from, "to": to }]));
    let rows = |count: i64| ("/split/data_files/0/_ROW_COUNT", serde_json::json!(count));
    let outside_index = (
        "/split/data_files/0/_EXTRA_FILES",
        serde_json::json!(["../../../../../../etc/x.index"]),
    );
    let edits = [
        (vec![ranges(3, 1)], Some(ErrorKind::Corrupt)),
        (vec![ranges(-5, 1)], Some(ErrorKind::Corrupt)),
        (vec![outside_index], Some(ErrorKind::InvalidArgument)),
        // rows read by id from a file whose row count is no count
        (vec![ranges(0, 0), rows(-5)], Some(ErrorKind::Corrupt)),
        // a range of one row is a range; a file of unknown row count read whole is fine
        (vec![ranges(0, 0)], None),
        (vec![rows(-1)], None),
    ];
    for (fields, kind) in edits {
        let what = format!("{fields:?}");
        let mut hostile = json.clone();
        for (field, value) in fields {
            *hostile.pointer_mut(field).expect("the split has the field") = value;
        }
        let hostile = serializer
            .deserialize(serializer.version(), hostile.to_string().as_bytes())
            .expect("parses");
        match (source.create_reader(hostile).await, kind) {
            (Ok(_), None) => {}
            (Err(err), Some(kind)) => assert_eq!(err.kind(), kind, "{what}: {err}"),
            (got, _) => panic!("{what}: {:?}", got.map(|_| "a reader")),
        }
    }
    // regression: a split's bucket claim (what the union read merges it with) was taken as
    // is, whichever bucket's files it named
    let split_bucket = json
        .pointer("/split/bucket")
        .and_then(|b| b.as_i64())
        .expect("a bucket");
    let cases = [
        ("/bucket", serde_json::json!(split_bucket + 1), "claims bucket"),
        ("/split/bucket", serde_json::json!(split_bucket + 1), "claims bucket"),
        ("/bucket", serde_json::Value::Null, "claims no bucket"),
        // regression: the partition claim (also what the union read merges the split
        // with) was never compared with the partition the split's files are in
        ("/partition", serde_json::json!(["2024"]), "claims partition"),
    ];
    for (field, value, says) in cases {
        let mut hostile = json.clone();
        *hostile.pointer_mut(field).expect("the split has the field") = value;
        let hostile = serializer
            .deserialize(serializer.version(), hostile.to_string().as_bytes())
            .expect("parses");
        let err = source
            .create_reader(hostile)
            .await
            .err()
            .expect("another bucket or partition");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{field}: {err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    // regression: paimon adds row counts unchecked, so a split whose ranges (or files)
    // count past i64 made its stats overflow (a panic in debug builds)
    let mut hostile = json.clone();
    let huge = serde_json::json!([{ "from": 0, "to": i64::MAX - 1 }, { "from": 0, "to": i64::MAX - 1 }]);
    *hostile
        .pointer_mut("/split/row_ranges")
        .expect("the split has row ranges") = huge;
    let hostile = serializer
        .deserialize(serializer.version(), hostile.to_string().as_bytes())
        .expect("parses");
    assert_eq!(hostile.stats().expect("stats").rows, None);
    let err = source.create_reader(hostile).await.err().expect("rows past i64");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("fit in 64 bits"), "{err}");
    assert_eq!(
        serializer.deserialize(7, text.as_bytes()).unwrap_err().kind(),
        ErrorKind::UnsupportedVersion
    );
    assert_eq!(
        serializer
            .deserialize(serializer.version(), &text.as_bytes()[..10])
            .unwrap_err()
            .kind(),
        ErrorKind::Corrupt
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_data_file_names_table_snapshot_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, snapshot) = table(dir.path(), "{}").await;
    let file = data_files(dir.path()).pop().expect("a data file");
    bad_lake::check_missing_data_file(&lake, snapshot, &file, &[&format!("snapshot {snapshot}")])
        .await
        .expect("a missing data file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_parquet_footer_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, snapshot) = table(dir.path(), "{}").await;
    let file = data_files(dir.path()).pop().expect("a data file");
    let flip_footer_length = |bytes: &mut [u8]| {
        let n = bytes.len();
        bytes[n - 8..n - 4].iter_mut().for_each(|b| *b ^= 0xff);
    };
    bad_lake::check_corrupt_data_file(
        &lake,
        snapshot,
        &file,
        flip_footer_length,
        &[&format!("snapshot {snapshot}")],
    )
    .await
    .expect("a corrupt footer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_offsets_and_a_changed_log_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, snapshot) = table(dir.path(), bad_lake::MALFORMED_OFFSETS).await;
    bad_lake::check_malformed_offsets(Arc::new(lake.clone()), &dir.path().join("log"), snapshot)
        .await
        .expect("malformed offsets");
    bad_lake::check_changed_schema_is_refused(&lake)
        .await
        .expect("a changed schema");

    // a schema file that is not a schema names the table and the file
    let schema_file = dir.path().join("lake/bad.db/t/schema/schema-0");
    std::fs::write(&schema_file, b"{\"id\": 0, \"fields\": 7}").expect("overwrite");
    let err = lake.table_info(&info().path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("schema-0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_deletes_are_tiered_with_their_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, first) = table(dir.path(), "{}").await;
    let mut writer = lake.create_lake_writer(&info()).await.expect("writer");
    let update = RecordBatch::try_new(
        info().schema,
        vec![
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(StringArray::from(vec!["new"])),
        ],
    )
    .expect("batch");
    let changes = [
        LogBatch::new(rows(3..4), vec![ChangeType::UpdateBefore], 10),
        LogBatch::new(update, vec![ChangeType::UpdateAfter], 11),
        LogBatch::new(rows(5..6), vec![ChangeType::Delete], 12),
        LogBatch::new(rows(20..21), vec![ChangeType::Insert], 13),
    ];
    for c in &changes {
        writer.write(&TableBucket::new(0), c).await.expect("write");
    }
    let snapshot = writer
        .commit(BTreeMap::from([("fluss-offsets".to_string(), "round 2".to_string())]))
        .await
        .expect("commit");
    assert!(snapshot.id > first);
    assert_eq!(
        snapshot.properties.get("fluss-offsets").map(String::as_str),
        Some("round 2")
    );
    // a round with no rows still commits its offsets
    let writer = lake.create_lake_writer(&info()).await.expect("writer");
    let empty = writer
        .commit(BTreeMap::from([("fluss-offsets".to_string(), "round 3".to_string())]))
        .await
        .expect("empty commit");
    assert_eq!(empty.id, snapshot.id + 1);
    let listed = lake.list_snapshots(&info().path).await.expect("snapshots");
    assert_eq!(
        listed
            .last()
            .and_then(|s| s.properties.get("fluss-offsets"))
            .map(String::as_str),
        Some("round 3")
    );

    let got = read_small_table(&lake, snapshot.id).await.expect("read");
    assert_eq!(ids_k(&got), vec![0, 1, 2, 3, 4, 6, 7, 8, 9, 20]);
    let values: Vec<String> = got
        .iter()
        .flat_map(|b| {
            let k = b.column(0).as_any().downcast_ref::<Int64Array>().expect("k").clone();
            let v = b.column(1).as_any().downcast_ref::<StringArray>().expect("v").clone();
            (0..b.num_rows())
                .filter(move |&i| k.value(i) == 3)
                .map(move |i| v.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(values, vec!["new".to_string()]);
    // the first snapshot is untouched
    assert_eq!(
        ids_k(&read_small_table(&lake, first).await.expect("read")),
        (0..10).collect::<Vec<_>>()
    );
}

fn ids_k(batches: &[RecordBatch]) -> Vec<i64> {
    lakeunion_tests::fixtures::sorted_column(batches, "k")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_paimon_cannot_keep_exact_are_refused() {
    let lake = fixture_lake().await;
    // pypaimon's orders take their row kinds from a `rowkind` column
    let info = lake
        .table_info(&TablePath::new("fixtures", "orders"))
        .await
        .expect("info");
    let err = lake.create_lake_writer(&info).await.err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("rowkind"), "{err}");
}

#[test]
fn fluss_paimon_bucketing_matches_the_harness_key_bytes() {
    let keys: Vec<i64> = (-50..50).collect();
    let batch = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(keys.clone())) as arrow::array::ArrayRef)])
        .expect("batch");
    let assigner = BucketAssigner::new(LakeFormat::Paimon, batch.schema_ref(), &["k".into()], 5).expect("assigner");
    let buckets = assigner.assign(&batch).expect("assign");
    for (k, b) in keys.into_iter().zip(buckets) {
        assert_eq!(
            fluss_client::bucketing::bucket_of_bytes(LakeFormat::Paimon, &paimon_key(k), 5),
            b,
            "key {k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_and_vector_columns_round_trip() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        blob_field("image", true),
        vector_field("embedding", DataType::Float32, 3, true),
    ]));
    let info = TableInfo::primary_key_table(TablePath::new("mm", "media"), schema.clone(), vec!["id".into()], 2);
    let DataType::FixedSizeList(item, _) = schema.field(2).data_type() else {
        panic!("a vector field")
    };
    let (_, _, values, nulls) = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
        vec![Some(vec![Some(1.0), Some(2.0), Some(3.0)]), None],
        3,
    )
    .into_parts();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(LargeBinaryArray::from(vec![Some(&b"\x89PNG"[..]), None])),
            Arc::new(FixedSizeListArray::new(item.clone(), 3, values, nulls)),
        ],
    )
    .expect("batch");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path()))
        .await
        .expect("warehouse");
    let mut writer = lake.create_lake_writer(&info).await.expect("writer");
    let log = LogBatch::new(batch.clone(), vec![ChangeType::Insert; 2], 0);
    writer.write(&TableBucket::new(0), &log).await.expect("write");
    let snapshot = writer.commit(BTreeMap::new()).await.expect("commit");
    let read_info = lake.table_info(&info.path).await.expect("info");
    assert_eq!(
        read_info.schema.fields(),
        schema.fields(),
        "the logical types come back"
    );
    let (batches, _) = read_snapshot(&lake, &lake, &info.path, snapshot.id)
        .await
        .expect("read");
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].columns(), batch.columns());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fluss_type_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path()))
        .await
        .expect("warehouse");
    let (lake_info, batch, back) = lakeunion_tests::fixtures::every_type_round_trip(&lake, true).await;
    assert_eq!(lake_info.schema, batch.schema(), "Paimon holds every type as it is");
    assert_eq!(back, vec![batch]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fluss_type_union_reads_with_the_logs_types() -> Result<(), String> {
    for primary_key in [false, true] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path()))
            .await
            .map_err(|e| e.to_string())?;
        let (written, read) =
            lakeunion_tests::fixtures::every_type_union_read(std::sync::Arc::new(lake), primary_key).await?;
        assert_eq!(read, written, "primary key: {primary_key}");
    }
    Ok(())
}

/// A schema file as a REST server sends it: the pypaimon-only `nullable` key inside VECTOR
/// types dropped (nullability is in the type string), as a server's own serializer writes it.
fn canonical_schema(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("type").and_then(|t| t.as_str()) == Some("VECTOR") {
                    map.remove("nullable");
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// A Paimon REST catalog over the fixture warehouse: enough of the protocol (config, get
/// table) for reads; the table's files stay where pypaimon wrote them.
async fn serve_fixture_paimon_catalog() -> (String, lakeunion_tests::http::Requests) {
    let warehouse = fixture_dir("paimon").join("warehouse").join("fixtures.db");
    let mut tables = BTreeMap::new();
    for name in ["events", "orders", "media"] {
        let location = std::path::absolute(warehouse.join(name)).expect("absolute");
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(location.join("schema/schema-0")).expect("schema"))
                .expect("schema json");
        let body = serde_json::json!({
            "id": format!("uuid-{name}"),
            "database": "fixtures",
            "name": name,
            "path": location.to_string_lossy(),
            "isExternal": false,
            "schemaId": 0,
            "schema": canonical_schema(schema),
        });
        tables.insert(format!("/v1/databases/fixtures/tables/{name}"), body);
        // the catalog tracks each table's latest snapshot (a server answers it from its
        // own records; here, from the files, less the properties a writer added to the
        // file after its commit, which a server's record of the commit lacks)
        let latest = std::fs::read_to_string(location.join("snapshot/LATEST")).expect("LATEST");
        let mut snapshot: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(location.join(format!("snapshot/snapshot-{}", latest.trim()))).expect("snapshot"),
        )
        .expect("snapshot json");
        if let Some(record) = snapshot.as_object_mut() {
            record.remove("properties");
        }
        tables.insert(
            format!("/v1/databases/fixtures/tables/{name}/snapshot"),
            serde_json::json!({"snapshot": {"snapshot": snapshot}}),
        );
    }
    let handler: lakeunion_tests::http::Handler = Arc::new(move |method, target, _| {
        let path = target.split('?').next().unwrap_or(target);
        match (method, path) {
            ("GET", "/v1/config") => (200, serde_json::json!({"defaults": {}, "overrides": {}})),
            ("GET", p) if tables.contains_key(p) => (200, tables[p].clone()),
            _ => (
                404,
                serde_json::json!({"message": format!("no {target}"), "resourceType": "TABLE", "resourceName": target, "code": 404}),
            ),
        }
    });
    lakeunion_tests::http::serve_json(handler).await.expect("serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_fixture_through_a_rest_catalog() {
    let expected = expected("paimon");
    let (uri, requests) = serve_fixture_paimon_catalog().await;
    let mut config = PaimonConfig::rest(uri, "fixture-warehouse");
    if let lake_paimon::PaimonCatalog::Rest { options, .. } = &mut config.catalog {
        // a bearer token, as a REST catalog behind authentication asks for
        options.insert("token.provider".into(), "bear".into());
        options.insert("token".into(), "test-token".into());
    }
    let lake = PaimonStorage::connect(config.clone()).await.expect("rest catalog");
    // a worker rebuilds the storage from the configuration alone
    let worker = PaimonStorage::connect(config).await.expect("worker");
    // `orders` takes its row kinds from a column named `rowkind`, which the paimon crate's
    // REST table loader refuses as reserved (its filesystem loader, which the filesystem
    // catalog uses, reads it); the error says so
    let orders = lake
        .table_info(&TablePath::new("fixtures", "orders"))
        .await
        .unwrap_err();
    assert!(orders.to_string().contains("rowkind"), "{orders}");
    for name in ["events", "media"] {
        let path = TablePath::new("fixtures", name);
        let latest = lake
            .latest_snapshot(&path)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}; requests: {:?}", requests.lock().map(|r| r.clone())))
            .expect("a snapshot");
        assert_eq!(
            latest.properties.get("fluss-offsets").map(String::as_str),
            expected["fluss_offsets_property"]["value"].as_str(),
            "{name}"
        );
        let (batches, _) = read_snapshot(&lake, &worker, &path, latest.id)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}; requests: {:?}", requests.lock().map(|r| r.clone())));
        assert_fixture_rows(&batches, &expected["tables"][name], name);
    }
    assert_unknown_table_not_found(&lake).await;
    let seen = requests.lock().expect("requests").clone();
    assert!(
        seen.iter()
            .any(|r| r == "GET /v1/databases/fixtures/tables/media/snapshot"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paimon_blob_columns_read_as_references_to_their_blob_files() {
    use lake_api::blob::{BlobMode, BlobRef, blob_refs};
    let lake = fixture_lake().await;
    let media = TablePath::new("fixtures", "media");
    let orders = TablePath::new("fixtures", "orders");
    assert!(lake.blob_references(&media).await.expect("media"));
    // orders keeps its BLOB column inline (BYTES), and a table not created yet would too
    assert!(!lake.blob_references(&orders).await.expect("orders"));
    assert!(
        !lake
            .blob_references(&TablePath::new("fixtures", "nope"))
            .await
            .expect("absent")
    );
    let mut inline = lake.create_lake_source(&orders).await.expect("source");
    let e = inline.with_blob_mode(BlobMode::References).expect_err("inline BLOBs");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");

    let latest = lake.latest_snapshot(&media).await.expect("latest").expect("a snapshot");
    let (payload_batches, _) = read_snapshot(&lake, &lake, &media, latest.id).await.expect("payloads");
    let expected = lakeunion_tests::fixtures::payloads_by_id(&payload_batches, "image");
    assert!(expected.values().filter(|v| v.is_some()).count() >= 2, "{expected:?}");

    let mut source = lake.create_lake_source(&media).await.expect("source");
    source.with_blob_mode(BlobMode::References).expect("references");
    let resolver = source.blob_resolver().expect("a resolver");
    let splits = lakeunion_tests::fixtures::plan(source.as_ref(), latest.id)
        .await
        .expect("plan");
    let mut batches = Vec::new();
    for split in splits {
        batches.extend(read_split(source.as_ref(), split).await.expect("read"));
    }
    let location = fixture_dir("paimon")
        .join("warehouse")
        .join("fixtures.db")
        .join("media");
    let location = std::path::absolute(location).expect("absolute");
    let mut got = BTreeMap::new();
    for b in &batches {
        let refs = blob_refs(b, "image").expect("refs");
        let ids = lakeunion_tests::fixtures::int_column(std::slice::from_ref(b), "id");
        for (id, r) in ids.into_iter().zip(refs) {
            let bytes = match &r {
                None => None,
                Some(r) => {
                    assert!(r.uri.ends_with(".blob"), "{r}");
                    assert!(
                        r.uri.contains(&*location.to_string_lossy()),
                        "{r} in {}",
                        location.display()
                    );
                    Some(resolver.fetch(r).await.expect("fetch"))
                }
            };
            got.insert(id, bytes);
        }
    }
    assert_eq!(got, expected);
    // a forged reference out of the table is refused, not read
    let forged = BlobRef::new(format!("{}/../orders/schema/schema-0", location.display()), 0, 4);
    assert_eq!(
        resolver.fetch(&forged).await.expect_err("forged").kind(),
        ErrorKind::InvalidArgument
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiering_commits_through_a_rest_catalog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (uri, requests) = lakeunion_tests::paimon_rest::serve_paimon_rest(dir.path().join("wh"))
        .await
        .expect("serve");
    let mut config = PaimonConfig::rest(uri, "warehouse");
    if let lake_paimon::PaimonCatalog::Rest { options, .. } = &mut config.catalog {
        options.insert("token.provider".into(), "bear".into());
        options.insert("token".into(), "test-token".into());
    }
    let lake = PaimonStorage::connect(config.clone()).await.expect("rest catalog");
    let offsets = r#"{"version":1,"table_id":7,"bucket_offsets":[{"bucket":0,"log_end_offset":10}]}"#;
    let snapshot = tier_small_table(&lake, offsets).await;
    let seen = requests.lock().expect("requests").clone();
    for call in [
        "POST /v1/databases",
        "POST /v1/databases/bad/tables",
        "POST /v1/databases/bad/tables/t/commit",
    ] {
        assert!(seen.iter().any(|r| r == call), "{call}: {seen:?}");
    }
    // the catalog's record of the commit has no offsets; the snapshot file does
    let worker = PaimonStorage::connect(config).await.expect("worker");
    let latest = worker
        .latest_snapshot(&info().path)
        .await
        .expect("latest")
        .expect("a snapshot");
    assert_eq!(latest.id, snapshot);
    assert_eq!(
        latest.properties.get("fluss-offsets").map(String::as_str),
        Some(offsets)
    );
    let (batches, _) = read_snapshot(&lake, &worker, &info().path, snapshot)
        .await
        .expect("read");
    assert_eq!(ids_k(&batches), (0..10).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_filters_match_the_engine() -> Result<(), String> {
    // regression: float comparisons were accepted, but Paimon's have no order for NaN
    // (where Arrow's put it above every number) and take -0.0 for 0.0
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path()))
        .await
        .map_err(|e| e.to_string())?;
    lakeunion_tests::fixtures::accepted_filters_match_the_engine(&lake).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_of_every_partition_key_type_are_read() -> lake_api::Result<()> {
    // regression: a DATE partition value had "no Fluss partition name", so every plan of a
    // date-partitioned table failed as Unsupported
    let dir = tempfile::tempdir()?;
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
    lakeunion_tests::fixtures::partitions_of_every_key_type_read_back(&lake).await
}

/// Rewrites every manifest (not manifest list) of the Paimon table at `table_dir` with
/// each data file's `_ROW_COUNT` set to `rows`.
fn forge_manifest_row_counts(table_dir: &Path, rows: i64) -> Result<usize, String> {
    use apache_avro::types::Value;
    fn set(value: &mut Value, rows: i64) {
        match value {
            Value::Record(fields) => {
                for (name, field) in fields.iter_mut() {
                    if name == "_ROW_COUNT" {
                        *field = Value::Long(rows);
                    } else {
                        set(field, rows);
                    }
                }
            }
            Value::Union(_, inner) => set(inner, rows),
            Value::Array(items) => items.iter_mut().for_each(|v| set(v, rows)),
            _ => {}
        }
    }
    let mut forged = 0;
    let dir = table_dir.join("manifest");
    for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.starts_with("manifest-") || name.starts_with("manifest-list-") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let reader = apache_avro::Reader::new(&bytes[..]).map_err(|e| e.to_string())?;
        let schema = reader.writer_schema().clone();
        let mut values = Vec::new();
        for value in reader {
            let mut value = value.map_err(|e| e.to_string())?;
            set(&mut value, rows);
            values.push(value);
        }
        let mut writer = apache_avro::Writer::new(&schema, Vec::new());
        writer.extend(values).map_err(|e| e.to_string())?;
        std::fs::write(&path, writer.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        forged += 1;
    }
    Ok(forged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_counts_past_i64_in_a_manifest_are_corrupt_under_a_limit() -> Result<(), String> {
    // regression: a log table's limit went to paimon's planner, which sums the files' row
    // counts unchecked while it plans (an overflow panic in debug builds) before the
    // planner's own check of them could say Corrupt
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
    let mut info = TableInfo::log_table(TablePath::new("db", "logs"), schema.clone(), 2);
    info.bucket_key = vec!["k".into()];
    let assigner = BucketAssigner::new(LakeFormat::Paimon, &schema, &info.bucket_key, 2).map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path()))
        .await
        .map_err(|e| e.to_string())?;
    let mut snapshot = None;
    let mut offsets = [0_i64; 2];
    for round in 0..2_i64 {
        // each round writes a file to each bucket: keys 10 * round.. routed as Fluss does
        let keys = Int64Array::from_iter_values(round * 10..round * 10 + 10);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(keys)]).map_err(|e| e.to_string())?;
        let buckets = assigner.assign(&batch).map_err(|e| e.to_string())?;
        let mut writer = lake.create_lake_writer(&info).await.map_err(|e| e.to_string())?;
        for bucket in 0..2_u32 {
            let mask = arrow::array::BooleanArray::from_iter(buckets.iter().map(|b| Some(*b == bucket)));
            let rows = arrow::compute::filter_record_batch(&batch, &mask).map_err(|e| e.to_string())?;
            assert!(rows.num_rows() > 0, "round {round} writes to bucket {bucket}");
            let n = rows.num_rows();
            let log = LogBatch::new(rows, vec![ChangeType::AppendOnly; n], offsets[bucket as usize]);
            offsets[bucket as usize] += n as i64;
            writer
                .write(&TableBucket::new(bucket), &log)
                .await
                .map_err(|e| e.to_string())?;
        }
        snapshot = Some(writer.commit(BTreeMap::new()).await.map_err(|e| e.to_string())?);
    }
    let snapshot = snapshot.ok_or("no snapshot")?;
    // the limit still plans only the splits it needs
    for (limit, splits) in [(None, 2), (Some(1), 1), (Some(100), 2)] {
        let mut source = lake.create_lake_source(&info.path).await.map_err(|e| e.to_string())?;
        if let Some(limit) = limit {
            source.with_limit(limit);
        }
        let planned = plan(source.as_ref(), snapshot.id).await.map_err(|e| e.to_string())?;
        assert_eq!(planned.len(), splits, "limit {limit:?}");
    }
    let forged = forge_manifest_row_counts(&dir.path().join("db.db/logs"), i64::MAX)?;
    assert!(forged >= 2, "{forged} manifests");
    for limit in [None, Some(1)] {
        let mut source = lake.create_lake_source(&info.path).await.map_err(|e| e.to_string())?;
        if let Some(limit) = limit {
            source.with_limit(limit);
        }
        let err = plan(source.as_ref(), snapshot.id)
            .await
            .err()
            .ok_or(format!("limit {limit:?}: planned"))?;
        assert_eq!(err.kind(), ErrorKind::Corrupt, "limit {limit:?}: {err}");
        assert!(err.to_string().contains("fit in 64 bits"), "limit {limit:?}: {err}");
    }
    Ok(())
}
