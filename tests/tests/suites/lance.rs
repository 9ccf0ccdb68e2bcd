//! The Lance backend against datasets pylance wrote (`tests/fixtures/lance`), and against
//! bad input: missing and corrupt data files, unknown versions, hostile splits, malformed
//! offsets, a log that no longer matches its lake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{FixedSizeListArray, Int64Array, LargeBinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use futures::TryStreamExt;
use lake_api::memory::MemoryLog;
use lake_api::types::{LogicalType, blob_field, vector_field};
use lake_api::{
    ChangeType, ErrorKind, LakeStorage, LogBatch, MergeStrategy, TableBucket, TableInfo, TablePath, UnionTable,
};
use lake_lance::{LanceConfig, LanceSplit, LanceStorage};
use lakeunion_tests::bad_lake;
use lakeunion_tests::fixtures::{
    assert_fixture_rows, assert_unknown_table_not_found, expected, files_with_extension, fixture_dir, ids, int_column,
    payloads_by_id, plan, read_small_table, read_snapshot, rows_as_json, small_rows as rows, small_table as info,
    sorted_column, tier_small_table, union_read,
};

/// A dataset with keys 0..10 committed with `offsets`.
async fn table(root: &Path, offsets: &str) -> (LanceStorage, i64) {
    let lake = LanceStorage::new(LanceConfig::new(root.join("lake").to_string_lossy()));
    let version = tier_small_table(&lake, offsets).await;
    (lake, version)
}

/// The dataset's data files (not its manifests or transactions).
fn data_files(dir: &Path) -> Vec<PathBuf> {
    files_with_extension(dir, "lance")
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("data")))
        .collect()
}
use serde_json::Value;

fn fixture_lake() -> LanceStorage {
    LanceStorage::new(LanceConfig::new(fixture_dir("lance").to_string_lossy()))
}

/// Planning the same snapshot twice gives the same splits in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_the_same_each_time() -> lake_api::Result<()> {
    let lake = fixture_lake();
    for name in ["events", "orders"] {
        lakeunion_tests::fixtures::plans_repeat(&lake, &TablePath::new("warehouse", name)).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_pylance_fixture() {
    let expected = expected("lance");
    let lake = fixture_lake();
    let worker = fixture_lake();
    for name in ["events", "orders"] {
        let table = &expected["tables"][name];
        let path = TablePath::new("warehouse", name);
        let snapshots = lake.list_snapshots(&path).await.expect("versions");
        let versions: Vec<i64> = table["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .map(|c| c["version"].as_i64().expect("version"))
            .collect();
        assert_eq!(snapshots.iter().map(|s| s.id).collect::<Vec<_>>(), versions, "{name}");
        let latest = lake.latest_snapshot(&path).await.expect("latest").expect("a version");
        assert_eq!(latest.id, table["latest_version"].as_i64().expect("latest"));
        assert_eq!(
            latest.properties.get("fluss-offsets").map(String::as_str),
            expected["fluss_offsets_property"]["value"].as_str(),
            "{name}"
        );
        let (batches, splits) = read_snapshot(&lake, &worker, &path, latest.id).await.expect("read");
        assert!(splits.iter().all(|s| s.bucket().is_none() && s.partition().is_empty()));
        assert_fixture_rows(&batches, table, name);
    }
    assert_unknown_table_not_found(&lake).await;
    let orders = &expected["tables"]["orders"];
    let path = TablePath::new("warehouse", "orders");
    let info = lake.table_info(&path).await.expect("info");
    assert_eq!(
        LogicalType::of(info.schema.field_with_name("image").expect("image")),
        LogicalType::Blob
    );
    assert_eq!(
        LogicalType::of(info.schema.field_with_name("embedding").expect("embedding")),
        LogicalType::Vector {
            element: DataType::Float32,
            dimension: 4
        }
    );
    let before = orders["version_before_update_round"].as_i64().expect("before");
    let (batches, _) = read_snapshot(&lake, &worker, &path, before).await.expect("read before");
    assert_eq!(
        rows_as_json(&batches),
        orders["initial_rows"].as_array().expect("initial").clone()
    );
    let after_delete = orders["version_after_delete"].as_i64().expect("after delete");
    let (batches, _) = read_snapshot(&lake, &worker, &path, after_delete)
        .await
        .expect("read after delete");
    let mut want: Vec<i64> = orders["initial_rows"]
        .as_array()
        .expect("initial")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .filter(|&id| id != 5)
        .collect();
    want.sort_unstable();
    assert_eq!(ids(&batches), want);
}

/// The fixture's `orders` rows (table schema) whose id is `id`, with `amount` and `id` replaced
/// when given.
fn order_row(rows: &RecordBatch, id: i64, new_id: Option<i64>, amount: Option<f64>) -> RecordBatch {
    use arrow::array::{ArrayRef, BooleanArray, Float64Array};
    let ids = rows
        .column_by_name("id")
        .expect("id")
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("ids");
    let mask = BooleanArray::from_iter(ids.iter().map(|v| Some(v == Some(id))));
    let row = arrow::compute::filter_record_batch(rows, &mask).expect("filter");
    assert_eq!(row.num_rows(), 1, "id {id}");
    let columns: Vec<ArrayRef> = row
        .schema()
        .fields()
        .iter()
        .zip(row.columns())
        .map(|(f, c)| match (f.name().as_str(), new_id, amount) {
            ("id", Some(n), _) => Arc::new(Int64Array::from(vec![n])) as ArrayRef,
            ("amount", _, Some(a)) => Arc::new(Float64Array::from(vec![a])) as ArrayRef,
            _ => c.clone(),
        })
        .collect();
    RecordBatch::try_new(row.schema(), columns).expect("row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_tail_merges_into_the_pylance_primary_key_table() {
    let expected = expected("lance");
    let lake = fixture_lake();
    let path = TablePath::new("warehouse", "orders");
    let info = lake.table_info(&path).await.expect("info");
    assert_eq!(info.primary_key, vec!["id".to_string()]);
    assert_eq!(info.bucket_count, 2);
    let latest = lake.latest_snapshot(&path).await.expect("latest").expect("a version");
    let (batches, _) = read_snapshot(&lake, &lake, &path, latest.id).await.expect("read");
    let lake_rows = arrow::compute::concat_batches(&info.schema, &batches).expect("concat");

    // the log: the records the snapshot's fluss-offsets ([10, 12], parsed as Fluss writes
    // it) say the lake holds (never read), then a tail that updates 3, deletes 4 and
    // inserts 20 (a copy of 14)
    let offsets = fluss_client::offsets::read_snapshot_offsets(&latest, 1)
        .await
        .expect("fluss-offsets");
    let log = MemoryLog::new(info.clone()).expect("log");
    let (b0, b1) = (TableBucket::new(0), TableBucket::new(1));
    let tiered: BTreeMap<TableBucket, i64> = [&b0, &b1]
        .into_iter()
        .map(|b| (b.clone(), offsets.get(None, b.bucket).expect("bucket offset")))
        .collect();
    assert_eq!(tiered.values().copied().collect::<Vec<_>>(), vec![10, 12]);
    log.append(&b0, lake_rows.slice(0, 10), vec![ChangeType::Insert; 10])
        .expect("append");
    log.append(&b1, lake_rows.slice(0, 12), vec![ChangeType::Insert; 12])
        .expect("append");
    log.record_tiered_offsets(latest.id, tiered).expect("offsets");
    log.append(
        &b0,
        order_row(&lake_rows, 3, None, None),
        vec![ChangeType::UpdateBefore],
    )
    .expect("append");
    log.append(
        &b0,
        order_row(&lake_rows, 3, None, Some(1.5)),
        vec![ChangeType::UpdateAfter],
    )
    .expect("append");
    log.append(&b1, order_row(&lake_rows, 4, None, None), vec![ChangeType::Delete])
        .expect("append");
    log.append(&b1, order_row(&lake_rows, 14, Some(20), None), vec![ChangeType::Insert])
        .expect("append");

    let mut want: Vec<Value> = expected["tables"]["orders"]["rows"].as_array().expect("rows").clone();
    want.retain(|r| r["id"] != 4);
    let mut inserted = want.iter().find(|r| r["id"] == 14).expect("row 14").clone();
    inserted["id"] = Value::from(20);
    want.push(inserted);
    for r in &mut want {
        if r["id"] == 3 {
            r["amount"] = Value::from(1.5);
        }
    }

    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake))).expect("table");
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let got = union_read(&table, strategy, None).await.expect("union read");
        assert_eq!(rows_as_json(&got), want, "{strategy:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_projection_and_limit_push_down_to_the_fixture() {
    let lake = fixture_lake();
    let path = TablePath::new("warehouse", "orders");
    let version = lake.latest_snapshot(&path).await.expect("latest").expect("version").id;
    let mut source = lake.create_lake_source(&path).await.expect("source");
    let pushed = source.with_filters(vec![
        lake_api::predicate::col("id").gt(6),
        lake_api::predicate::col("embedding").is_null(),
    ]);
    assert_eq!(pushed.accepted, vec![lake_api::predicate::col("id").gt(6)]);
    source.with_project(&[vec![2], vec![0]]).expect("projection");
    let splits = source
        .create_planner(version)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan");
    let mut batches = Vec::new();
    for split in splits {
        let reader = source.create_reader(split).await.expect("reader");
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

    let err = source.create_planner(99).await.err().expect("unknown version");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("warehouse.orders"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_filters_are_read_exactly_whether_pushed_or_not() -> lake_api::Result<()> {
    // regression: Lance's SQL parser stops at a nesting depth of 50, and each OR the filter
    // converter wrote nested one level: a filter of some 25 terms was reported applied at
    // planning, then failed the read
    let lake = fixture_lake();
    let path = TablePath::new("warehouse", "orders");
    let version = lake
        .latest_snapshot(&path)
        .await?
        .ok_or_else(|| lake_api::Error::invalid("no version"))?
        .id;
    let all = read_ids(lake.create_lake_source(&path).await?.as_ref(), version).await?;
    for terms in [3, 60, 400] {
        let filter = (2..terms)
            .map(|i| lake_api::predicate::col("id").eq(i as i64))
            .fold(lake_api::predicate::col("id").eq(1i64), |f, term| f.or(term));
        let mut source = lake.create_lake_source(&path).await?;
        let pushed = source.with_filters(vec![filter]);
        let got = read_ids(source.as_ref(), version).await?;
        if pushed.accepted.is_empty() {
            // left to the engine: every row comes
            assert!(terms > 3, "a short filter is pushed down");
            assert_eq!(got, all, "{terms} terms");
        } else {
            let want: Vec<i64> = all.iter().copied().filter(|&i| i < terms as i64).collect();
            assert_eq!(got, want, "{terms} terms");
        }
    }
    // many conditions, each shallow: all pushed, and joined flat (nesting each pair cost a
    // parser level per condition)
    let mut source = lake.create_lake_source(&path).await?;
    let conditions: Vec<_> = (0..200)
        .map(|i| lake_api::predicate::col("id").not_eq(1000 + i as i64))
        .collect();
    let pushed = source.with_filters(conditions);
    assert_eq!(pushed.accepted.len(), 200);
    assert_eq!(read_ids(source.as_ref(), version).await?, all, "200 conditions");
    Ok(())
}

/// The sorted ids of every split a source plans for `version`.
async fn read_ids(source: &dyn lake_api::LakeSource, version: i64) -> lake_api::Result<Vec<i64>> {
    let mut batches = Vec::new();
    for split in plan(source, version).await? {
        batches.extend(lakeunion_tests::fixtures::read_split(source, split).await?);
    }
    Ok(ids(&batches))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_splits_are_refused() {
    let lake = fixture_lake();
    let path = TablePath::new("warehouse", "events");
    let (source, split, text) = lakeunion_tests::fixtures::first_split_text(&lake, &path).await;
    let serializer = source.split_serializer();
    let file = split
        .as_any()
        .downcast_ref::<LanceSplit>()
        .expect("lance split")
        .fragments()[0]
        .files[0]
        .path
        .clone();
    let hostile = text.replace(&file, "../../orders.lance/data/x.lance");
    assert_ne!(hostile, text);
    let hostile = serializer
        .deserialize(serializer.version(), hostile.as_bytes())
        .expect("parses");
    let err = source.create_reader(hostile).await.err().expect("outside the dataset");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    // a fragment's metadata (here its row count) is the dataset's, whatever the split says
    let lance_split = split.as_any().downcast_ref::<LanceSplit>().expect("lance split");
    let fragment = &lance_split.fragments()[0];
    let rows = fragment.physical_rows.expect("rows");
    let counted = format!("\"physical_rows\":{rows}");
    assert!(text.contains(&counted), "{text}");
    let read = |split| rows_read(source.as_ref(), split);
    let honest = read(split.clone()).await.expect("honest read");
    let forged = text.replacen(&counted, &format!("\"physical_rows\":{}", rows + 1000), 1);
    let forged = serializer
        .deserialize(serializer.version(), forged.as_bytes())
        .expect("parses");
    assert_eq!(read(forged).await.expect("forged read"), honest);
    // and a fragment id the version lacks is corrupt
    let id = format!("\"id\":{},", fragment.id);
    assert!(text.contains(&id), "{text}");
    let unknown = text.replacen(&id, "\"id\":987654,", 1);
    let unknown = serializer
        .deserialize(serializer.version(), unknown.as_bytes())
        .expect("parses");
    let err = source.create_reader(unknown).await.err().expect("unknown fragment");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(
        err.message().contains("fragment 987654, which that version lacks"),
        "{err}"
    );
    // regression: the split's partition filter (SQL) was run as it came, so a forged one
    // could undo the read's other filters; it must be its partition's
    let mut record: serde_json::Value = serde_json::from_str(&text).expect("json");
    record["partition_filter"] = serde_json::Value::from("true) OR (true");
    let forged = serializer
        .deserialize(serializer.version(), record.to_string().as_bytes())
        .expect("parses");
    let err = source
        .create_reader(forged)
        .await
        .err()
        .expect("a forged partition filter");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("not that partition's"), "{err}");
    // regression: a fragment named twice was read twice
    let mut record: serde_json::Value = serde_json::from_str(&text).expect("json");
    let fragments = record["fragments"].as_array_mut().expect("fragments");
    fragments.push(fragments[0].clone());
    let twice = serializer
        .deserialize(serializer.version(), record.to_string().as_bytes())
        .expect("parses");
    let err = source.create_reader(twice).await.err().expect("a fragment named twice");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("twice"), "{err}");
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

/// The rows a lake source's reader returns for one split.
async fn rows_read(source: &dyn lake_api::LakeSource, split: Arc<dyn lake_api::LakeSplit>) -> lake_api::Result<usize> {
    let batches = lakeunion_tests::fixtures::read_split(source, split).await?;
    Ok(batches.iter().map(RecordBatch::num_rows).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_data_file_names_table_and_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, version) = table(dir.path(), "{}").await;
    let file = data_files(dir.path()).pop().expect("a data file");
    bad_lake::check_missing_data_file(&lake, version, &file, &[&format!("version {version}")])
        .await
        .expect("a missing data file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_lance_file_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, version) = table(dir.path(), "{}").await;
    let file = data_files(dir.path()).pop().expect("a data file");
    let flip_magic = |bytes: &mut [u8]| {
        let n = bytes.len();
        bytes[n - 4..].iter_mut().for_each(|b| *b ^= 0xff);
    };
    bad_lake::check_corrupt_data_file(&lake, version, &file, flip_magic, &[&format!("version {version}")])
        .await
        .expect("a corrupt file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_offsets_and_a_changed_log_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, version) = table(dir.path(), bad_lake::MALFORMED_OFFSETS).await;
    bad_lake::check_malformed_offsets(Arc::new(lake.clone()), &dir.path().join("log"), version)
        .await
        .expect("malformed offsets");
    bad_lake::check_changed_schema_is_refused(&lake)
        .await
        .expect("a changed schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_deletes_are_tiered_with_their_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, first) = table(dir.path(), "{}").await;
    let mut writer = lake.create_lake_writer(&info()).await.expect("writer");
    let mut update = rows(3..4);
    update = RecordBatch::try_new(
        update.schema(),
        vec![update.column(0).clone(), Arc::new(StringArray::from(vec!["new"]))],
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
    // the first round's append is in key order; the merge-insert's new fragment is not
    // known to be, while the first fragment stays sorted after its deletions
    let sorted = |version: i64| {
        let lake = lake.clone();
        async move {
            let (_, splits) = read_snapshot(&lake, &lake, &info().path, version).await.expect("read");
            splits
                .iter()
                .map(|s| {
                    s.as_any()
                        .downcast_ref::<LanceSplit>()
                        .expect("lance split")
                        .key_sorted()
                })
                .collect::<Vec<bool>>()
        }
    };
    assert_eq!(sorted(first).await, vec![true]);
    assert_eq!(sorted(snapshot.id).await, vec![true, false]);
    let got = read_small_table(&lake, snapshot.id).await.expect("read");
    let keys: Vec<i64> = sorted_column(&got, "k");
    assert_eq!(keys, vec![0, 1, 2, 3, 4, 6, 7, 8, 9, 20]);
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_of_several_fragments_is_one_sorted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LanceConfig::new(dir.path().join("lake").to_string_lossy()).with_max_rows_per_file(3);
    let lake = LanceStorage::new(config.clone());
    let version = tier_small_table(&lake, "{}").await;
    // ten keys in fragments of three: four fragments, a split each, one sorted run in key
    // order
    let (got, splits) = read_snapshot(&lake, &LanceStorage::new(config), &info().path, version)
        .await
        .expect("read");
    let places: Vec<Option<u32>> = splits.iter().map(|s| s.run_position().map(|p| p.index)).collect();
    assert_eq!(places, vec![Some(0), Some(1), Some(2), Some(3)]);
    let runs: BTreeSet<Option<u64>> = splits.iter().map(|s| s.run_position().map(|p| p.run)).collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(int_column(&got, "k"), (0..10).collect::<Vec<_>>());

    // a round of updates and deletes: the run keeps its fragments that still hold rows,
    // the merge-insert's fragments come alone and unsorted
    let mut writer = lake.create_lake_writer(&info()).await.expect("writer");
    let changes = [
        LogBatch::new(rows(0..3), vec![ChangeType::Delete; 3], 10),
        LogBatch::new(rows(4..5), vec![ChangeType::UpdateAfter], 13),
        LogBatch::new(rows(20..22), vec![ChangeType::Insert; 2], 14),
    ];
    for c in &changes {
        writer.write(&TableBucket::new(0), c).await.expect("write");
    }
    let snapshot = writer.commit(BTreeMap::new()).await.expect("commit");
    let (got, splits) = read_snapshot(&lake, &lake, &info().path, snapshot.id)
        .await
        .expect("read");
    let places: Vec<Option<u32>> = splits.iter().map(|s| s.run_position().map(|p| p.index)).collect();
    assert_eq!(places[..3], [Some(0), Some(1), Some(2)], "{places:?}");
    assert!(places[3..].iter().all(Option::is_none), "{places:?}");
    assert_eq!(sorted_column(&got, "k"), vec![3, 4, 5, 6, 7, 8, 9, 20, 21]);

    // union reads with a log tail that holds both rounds, then an insert of 30 and a delete
    // of 5: at the first version the run is the only lake input (the sort-merge reads it
    // with the sparse merge), at the second the run and the merge-insert's fragments meet
    // in the k-way merge; the same rows either way, in key order for the sort-merge
    let log = MemoryLog::new(info()).expect("log");
    let bucket = TableBucket::new(0);
    log.append(&bucket, rows(0..10), vec![ChangeType::Insert; 10])
        .expect("append");
    for c in &changes {
        log.append(&bucket, c.batch.clone(), c.change_types.clone())
            .expect("append");
    }
    log.append(&bucket, rows(30..31), vec![ChangeType::Insert])
        .expect("append");
    log.append(&bucket, rows(5..6), vec![ChangeType::Delete])
        .expect("append");
    log.record_tiered_offsets(version, BTreeMap::from([(bucket.clone(), 10)]))
        .expect("offsets");
    log.record_tiered_offsets(snapshot.id, BTreeMap::from([(bucket, 16)]))
        .expect("offsets");
    let table = UnionTable::new(info(), Arc::new(log), Some(Arc::new(lake.clone()))).expect("table");
    for (at, strategy) in [version, snapshot.id]
        .into_iter()
        .flat_map(|v| [(v, MergeStrategy::SortMerge), (v, MergeStrategy::KeyFilter)])
    {
        let batches = union_read(&table, strategy, Some(at)).await.expect("union read");
        let keys = int_column(&batches, "k");
        let mut want = vec![3, 4, 6, 7, 8, 9, 20, 21, 30];
        if strategy == MergeStrategy::KeyFilter {
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, want, "{strategy:?} at {at}");
        } else {
            want.sort_unstable();
            assert_eq!(keys, want, "{strategy:?} at {at}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_live_in_an_object_store_uri() {
    // Lance's in-process object store (`shared-memory://`, one store per authority) stands
    // for a remote one: the same URI handling, listing and ranged reads, no local paths
    let config = LanceConfig::new("shared-memory://lakeunion-object-store-test/root").with_max_rows_per_file(4);
    let lake = LanceStorage::new(config.clone());
    let version = tier_small_table(&lake, "{}").await;
    let worker = LanceStorage::new(config);
    let (got, splits) = read_snapshot(&lake, &worker, &info().path, version)
        .await
        .expect("read");
    assert_eq!(splits.len(), 3);
    assert_eq!(int_column(&got, "k"), (0..10).collect::<Vec<_>>());

    let log = MemoryLog::new(info()).expect("log");
    let bucket = TableBucket::new(0);
    log.append(&bucket, rows(0..10), vec![ChangeType::Insert; 10])
        .expect("append");
    log.append(&bucket, rows(4..5), vec![ChangeType::Delete])
        .expect("append");
    log.record_tiered_offsets(version, BTreeMap::from([(bucket, 10)]))
        .expect("offsets");
    let table = UnionTable::new(info(), Arc::new(log), Some(Arc::new(worker))).expect("table");
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let got = union_read(&table, strategy, None).await.expect("union read");
        assert_eq!(
            sorted_column(&got, "k"),
            vec![0, 1, 2, 3, 5, 6, 7, 8, 9],
            "{strategy:?}"
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
    let info = TableInfo::log_table(TablePath::new("mm", "media"), schema.clone(), 1);
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
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    let mut writer = lake.create_lake_writer(&info).await.expect("writer");
    let log = LogBatch::new(batch.clone(), vec![ChangeType::AppendOnly; 2], 0);
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
    let _: Value = Value::Null;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_vector_and_reference_columns_keep_their_logical_types() -> lake_api::Result<()> {
    // regression: Lance reads every FixedSizeList's items back nullable, and the dataset's
    // types were guessed from the Arrow type alone: a plain FixedSizeList of a numeric type
    // came back a VECTOR, a VECTOR of booleans a plain list, and a BLOB reference a plain
    // struct; the first two failed every union read against the log's schema
    use arrow::array::{BooleanArray, StructArray, UInt64Array};
    use arrow::buffer::NullBuffer;
    use arrow::datatypes::Int32Type;
    let plain = Field::new("pair", DataType::new_fixed_size_list(DataType::Int32, 2, true), true);
    let flags = vector_field("flags", DataType::Boolean, 3, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        plain,
        flags.clone(),
        lake_api::types::blob_ref_field("ref", true),
    ]));
    let info = TableInfo::log_table(TablePath::new("mm", "lists"), schema.clone(), 1);
    let pairs = FixedSizeListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), None]), None], 2);
    let DataType::FixedSizeList(item, _) = flags.data_type() else {
        panic!("a vector field")
    };
    let bits = BooleanArray::from(vec![true, false, true, false, false, false]);
    let flags = FixedSizeListArray::new(
        item.clone(),
        3,
        Arc::new(bits),
        Some(NullBuffer::from(vec![true, false])),
    );
    let DataType::Struct(ref_fields) = lake_api::types::blob_ref_type() else {
        panic!("a struct")
    };
    let refs = StructArray::try_new(
        ref_fields,
        vec![
            Arc::new(StringArray::from(vec!["file:///a", ""])),
            Arc::new(UInt64Array::from(vec![0, 0])),
            Arc::new(UInt64Array::from(vec![5, 0])),
        ],
        Some(NullBuffer::from(vec![true, false])),
    )?;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(pairs),
            Arc::new(flags),
            Arc::new(refs),
        ],
    )?;
    let dir = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    let mut writer = lake.create_lake_writer(&info).await?;
    let log = LogBatch::new(batch.clone(), vec![ChangeType::AppendOnly; 2], 0);
    writer.write(&TableBucket::new(0), &log).await?;
    let snapshot = writer.commit(BTreeMap::new()).await?;
    let read_info = lake.table_info(&info.path).await?;
    let types = |s: &Schema| s.fields().iter().map(|f| LogicalType::of(f)).collect::<Vec<_>>();
    assert_eq!(types(&read_info.schema), types(&schema));
    info.ensure_compatible(&read_info)?;
    let (batches, _) = read_snapshot(&lake, &lake, &info.path, snapshot.id).await?;
    let back = lake_api::conform::conform_batch(
        &arrow::compute::concat_batches(&batches[0].schema(), &batches)?,
        &schema,
    )?;
    assert_eq!(back, batch);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fluss_type_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    for primary_key in [false, true] {
        let (lake_info, batch, back) = lakeunion_tests::fixtures::every_type_round_trip(&lake, primary_key).await;
        assert_eq!(
            lake_info.schema.fields(),
            batch.schema().fields(),
            "Lance holds every type as it is"
        );
        assert_eq!(back, vec![batch]);
        let _ = std::fs::remove_dir_all(dir.path().join("types"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fluss_type_union_reads_with_the_logs_types() -> Result<(), String> {
    for primary_key in [false, true] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
        let (written, read) =
            lakeunion_tests::fixtures::every_type_union_read(std::sync::Arc::new(lake), primary_key).await?;
        assert_eq!(read, written, "primary key: {primary_key}");
    }
    Ok(())
}

/// The splits of `version`, serialized.
async fn planned(lake: &LanceStorage, version: i64) -> Vec<(u32, Vec<u8>)> {
    let source = lake.create_lake_source(&info().path).await.expect("source");
    let serializer = source.split_serializer();
    let splits = source
        .create_planner(version)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan");
    splits
        .iter()
        .map(|s| (serializer.version(), serializer.serialize(s.as_ref()).expect("bytes")))
        .collect()
}

/// Reads serialized splits the way a worker does: a new storage from the configuration.
async fn read_on_worker(config: &LanceConfig, splits: &[(u32, Vec<u8>)]) -> lake_api::Result<Vec<RecordBatch>> {
    let worker = LanceStorage::new(config.clone());
    let source = worker.create_lake_source(&info().path).await?;
    let serializer = source.split_serializer();
    let mut out = Vec::new();
    for (version, bytes) in splits {
        let split = serializer.deserialize(*version, bytes)?;
        let batches: Vec<RecordBatch> = source.create_reader(split).await?.read().await?.try_collect().await?;
        out.extend(batches);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_open_a_version_from_the_manifest_its_splits_carry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lake, first) = table(dir.path(), "{}").await;
    let mut writer = lake.create_lake_writer(&info()).await.expect("writer");
    let batch = LogBatch::new(rows(10..15), vec![ChangeType::Insert; 5], 10);
    writer.write(&TableBucket::new(0), &batch).await.expect("write");
    let second = writer.commit(BTreeMap::new()).await.expect("commit").id;
    let old = planned(&lake, first).await;
    let new = planned(&lake, second).await;

    // the older version's manifest file goes away (cleanup racing a distributed read):
    // workers still open the version from the manifest in the split
    let versions = dir.path().join("lake/bad/t.lance/_versions");
    let manifests = files_with_extension(&versions, "manifest");
    let v = first as u64;
    let gone: Vec<_> = manifests
        .iter()
        .filter(|p| {
            let name = p.file_stem().and_then(|n| n.to_str()).unwrap_or_default();
            name.parse::<u64>().is_ok_and(|n| n == v || n == u64::MAX - v)
        })
        .collect();
    assert_eq!(gone.len(), 1, "the manifest of version {first} among {manifests:?}");
    std::fs::remove_file(gone[0]).expect("remove");
    let got = read_on_worker(lake.config(), &old)
        .await
        .expect("read from the split's manifest");
    assert_eq!(sorted_column(&got, "k"), (0..10).collect::<Vec<_>>());

    // a split without its manifest (as written before it travelled) checks the version out,
    // which now fails: the file is gone
    let bare: Vec<(u32, Vec<u8>)> = old
        .iter()
        .map(|(version, bytes)| {
            let mut record: Value = serde_json::from_slice(bytes).expect("json");
            record.as_object_mut().expect("object").remove("manifest");
            (*version, serde_json::to_vec(&record).expect("bytes"))
        })
        .collect();
    let err = read_on_worker(lake.config(), &bare)
        .await
        .expect_err("the version is gone");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains(&format!("version {first}")), "{err}");

    // a manifest swapped in from another version is refused, not read
    let manifest_of = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).expect("json")["manifest"].clone();
    let mut forged: Value = serde_json::from_slice(&old[0].1).expect("json");
    forged["manifest"] = manifest_of(&new.last().expect("a split").1);
    let forged = vec![(old[0].0, serde_json::to_vec(&forged).expect("bytes"))];
    let err = read_on_worker(lake.config(), &forged).await.expect_err("forged");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");

    // regression: a manifest lance's decoder panics on (a timestamp of -1 s overflows its
    // nanoseconds) crashed the reader; it is corrupt. Appending the field again replaces
    // it: Manifest.timestamp (7) = Timestamp { seconds (1): -1 }
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut hostile: Value = serde_json::from_slice(&old[0].1).expect("json");
    let mut manifest = b64
        .decode(hostile["manifest"].as_str().expect("manifest"))
        .expect("base64");
    manifest.extend([0x3a, 11, 0x08]);
    manifest.extend([0xff; 9]);
    manifest.push(0x01);
    hostile["manifest"] = Value::from(b64.encode(&manifest));
    let hostile = vec![(old[0].0, serde_json::to_vec(&hostile).expect("bytes"))];
    let err = read_on_worker(lake.config(), &hostile).await.expect_err("hostile");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
}

/// `(id, image)` rows: payloads of every size class Lance stores differently (empty, small
/// inline ones, a large one) and nulls.
fn photo_rows(schema: &Arc<Schema>, ids: std::ops::Range<i64>, seed: u8) -> RecordBatch {
    let payload = |id: i64| -> Option<Vec<u8>> {
        match id % 5 {
            0 => None,
            1 => Some(Vec::new()),
            // past Lance's 4 MiB threshold: a dedicated blob file
            2 if id % 10 == 2 => Some(vec![seed ^ id as u8; 5 << 20]),
            2 => Some(vec![seed ^ id as u8; 200 << 10]),
            _ => Some((0..(id as usize * 37 + 11)).map(|i| (i as u8) ^ seed).collect()),
        }
    };
    let images: Vec<Option<Vec<u8>>> = ids.clone().map(payload).collect();
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(LargeBinaryArray::from_iter(images)),
        ],
    )
    .expect("photo rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_references_resolve_from_an_object_store_uri() {
    // Lance's in-process store stands for a remote one: its ranged reads refuse an empty
    // range, which an empty image's reference is
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        blob_field("image", true),
    ]));
    let info = TableInfo::primary_key_table(
        TablePath::new("mm", "remote_photos"),
        schema.clone(),
        vec!["id".into()],
        1,
    );
    let log = MemoryLog::new(info.clone()).expect("log");
    log.append(
        &TableBucket::new(0),
        photo_rows(&schema, 0..10, 3),
        vec![ChangeType::Insert; 10],
    )
    .expect("append");
    let config = LanceConfig::new("shared-memory://lakeunion-blob-test/root");
    lake_api::memory::tier(&log, &LanceStorage::new(config.clone()), None)
        .await
        .expect("tier");
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(LanceStorage::new(config)))).expect("table");
    let payloads = table
        .scan()
        .blobs(lake_api::blob::BlobMode::Payloads)
        .build()
        .await
        .expect("scan");
    let expected = payloads_by_id(&payloads.collect().await.expect("payloads"), "image");
    assert_eq!(
        expected
            .values()
            .filter(|p| p.as_ref().is_some_and(Vec::is_empty))
            .count(),
        2
    );
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let got = union_read(&table, strategy, None).await.expect("resolved");
        assert_eq!(payloads_by_id(&got, "image"), expected, "{strategy}");
    }
    // an empty range past the end of its file is still corrupt
    let scan = table.scan().build().await.expect("scan");
    let batches = scan.collect().await.expect("references");
    let file = lake_api::blob::blob_refs(&batches[0], "image")
        .expect("refs")
        .into_iter()
        .flatten()
        .next()
        .expect("a reference")
        .uri;
    let beyond = lake_api::blob::BlobRef::new(file, 1 << 40, 0);
    let e = scan
        .blob_resolver()
        .expect("resolver")
        .fetch(&beyond)
        .await
        .expect_err("past the end");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_columns_read_as_references_to_ranges_of_the_dataset_files() {
    use lake_api::blob::{BlobMode, BlobRef, blob_refs};
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        blob_field("image", true),
    ]));
    let info = TableInfo::primary_key_table(TablePath::new("mm", "photos"), schema.clone(), vec!["id".into()], 1);
    let bucket = TableBucket::new(0);
    let log = MemoryLog::new(info.clone()).expect("log");
    log.append(&bucket, photo_rows(&schema, 0..20, 1), vec![ChangeType::Insert; 20])
        .expect("append");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LanceConfig::new(dir.path().to_string_lossy()).with_max_rows_per_file(7);
    let lake = LanceStorage::new(config.clone());
    lake_api::memory::tier(&log, &lake, None).await.expect("tier");
    // a tail: new images for some keys, a delete, new keys
    let mut changes = vec![ChangeType::UpdateAfter; 6];
    changes[2] = ChangeType::Delete;
    log.append(&bucket, photo_rows(&schema, 3..9, 9), changes)
        .expect("tail");
    log.append(&bucket, photo_rows(&schema, 20..24, 5), vec![ChangeType::Insert; 4])
        .expect("new keys");
    let table = UnionTable::new(info.clone(), Arc::new(log), Some(Arc::new(lake))).expect("table");

    let payload_scan = table.scan().blobs(BlobMode::Payloads).build().await.expect("scan");
    let expected = payloads_by_id(&payload_scan.collect().await.expect("payloads"), "image");
    assert_eq!(expected.len(), 23);
    let dataset_uri = config.table_uri(&info.path);
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = table.scan().strategy(strategy).build().await.expect("scan");
        assert_eq!(scan.blob_mode(), BlobMode::References);
        let batches = scan.collect().await.expect("references");
        let lake_refs: Vec<BlobRef> = batches
            .iter()
            .flat_map(|b| blob_refs(b, "image").expect("refs"))
            .flatten()
            .filter(|r| r.uri.starts_with(&dataset_uri))
            .collect();
        assert!(lake_refs.len() >= 8, "{strategy}: {lake_refs:?}");
        // resolved through the scan, every row has its bytes
        let got = payloads_by_id(&union_read(&table, strategy, None).await.expect("resolved"), "image");
        assert_eq!(got, expected, "{strategy}");
        // a lake reference is a plain range of a file below the dataset: any reader of
        // local files serves it
        let files = lake_sink::ObjectStoreBlobResolver::local()
            .allow_root(&dir.path().to_string_lossy())
            .expect("resolver");
        let by_scan = scan.blob_resolver().expect("resolver");
        for r in &lake_refs {
            let plain = lake_api::BlobResolver::fetch(&files, r).await.expect("plain read");
            assert_eq!(plain, by_scan.fetch(r).await.expect("scan read"), "{r}");
            assert_eq!(plain.len() as u64, r.length);
        }
        // a forged reference out of the dataset is refused, not read
        let forged = BlobRef::new(format!("{dataset_uri}/../../etc/passwd"), 0, 4);
        let e = by_scan.fetch(&forged).await.expect_err("forged");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        // one inside the dataset but past the end of its file is corrupt, and is not
        // sized in memory first (Lance's local reader allocates the whole range)
        let past_end = BlobRef::new(lake_refs[0].uri.clone(), 0, 1 << 40);
        let e = by_scan.fetch(&past_end).await.expect_err("past the end");
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.message().contains("past the end"), "{e}");
    }

    // a worker that only has the configuration reads the planner's splits and resolves
    // the references of what it read
    let worker_lake = LanceStorage::new(config.clone());
    let worker_log = table.log().clone();
    let worker = UnionTable::new(info.clone(), worker_log, Some(Arc::new(worker_lake)))
        .expect("worker table")
        .scan()
        .build()
        .await
        .expect("worker scan");
    let planner = table.scan().build().await.expect("planner");
    let mut batches = Vec::new();
    for split in planner.plan().await.expect("plan") {
        let split = lake_api::UnionSplit::from_bytes(&split.to_bytes()).expect("split");
        let stream = worker.read(&split).await.expect("read");
        batches.extend(stream.try_collect::<Vec<_>>().await.expect("batches"));
    }
    let resolver = worker.blob_resolver().expect("resolver");
    let (stream, errors) = lake_sink::resolve_blobs(
        lake_api::RecordBatchStream::from_batches(worker.schema(), batches),
        resolver,
        &["image"],
        lake_sink::ResolveOptions::default(),
    )
    .expect("resolve");
    let resolved: Vec<RecordBatch> = stream.try_collect().await.expect("resolved");
    assert!(errors.take().is_empty());
    assert_eq!(payloads_by_id(&resolved, "image"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_that_keeps_buckets_is_read_bucket_aware() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LanceConfig::new(dir.path().to_string_lossy())
        .with_bucket_column(true)
        .with_max_rows_per_file(5);
    let lake = LanceStorage::new(config.clone());
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let info = TableInfo::primary_key_table(TablePath::new("mm", "bucketed"), schema, vec!["id".into()], 3);
    let log = MemoryLog::new(info.clone()).expect("log");
    let schema = info.schema.clone();
    // keys spread over the table's buckets, tiered, then a tail of updates and deletes
    let keyed = |keys: std::ops::Range<i64>, tag: &str| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(keys.clone())),
                Arc::new(StringArray::from_iter_values(keys.map(|k| format!("{tag}{k}")))),
            ],
        )
        .expect("rows")
    };
    for bucket in 0..info.bucket_count {
        let keys = (bucket as i64 * 100)..(bucket as i64 * 100 + 12);
        log.append(
            &TableBucket::new(bucket),
            keyed(keys, "a"),
            vec![ChangeType::Insert; 12],
        )
        .expect("append");
    }
    lake_api::memory::tier(&log, &lake, None).await.expect("tier");
    let b1 = TableBucket::new(1);
    log.append(&b1, keyed(100..103, "b"), vec![ChangeType::UpdateAfter; 3])
        .expect("tail");
    log.append(&b1, keyed(110..112, "b"), vec![ChangeType::Delete; 2])
        .expect("deletes");

    // the column is the dataset's, not the table's
    let read_info = lake.table_info(&info.path).await.expect("info");
    assert_eq!(read_info.schema.fields(), info.schema.fields());
    // every split reads one bucket; fragments of several buckets are read once per bucket
    let source = lake.create_lake_source(&info.path).await.expect("source");
    let latest = lake
        .latest_snapshot(&info.path)
        .await
        .expect("latest")
        .expect("a version");
    let splits = plan(source.as_ref(), latest.id).await.expect("plan");
    let buckets: BTreeSet<Option<u32>> = splits.iter().map(|s| s.bucket()).collect();
    let all: BTreeSet<Option<u32>> = (0..info.bucket_count).map(Some).collect();
    assert_eq!(buckets, all);
    // a split that names no bucket (an older planner's, or a forged one) would read every
    // bucket's rows: refused
    let serializer = source.split_serializer();
    let mut record: Value =
        serde_json::from_slice(&serializer.serialize(splits[0].as_ref()).expect("bytes")).expect("json");
    assert!(record.as_object_mut().expect("a record").remove("bucket").is_some());
    let unbucketed = serializer
        .deserialize(1, &serde_json::to_vec(&record).expect("json"))
        .expect("a version-1 record reads");
    let e = source.create_reader(unbucketed).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    // and one naming a bucket the table lacks read no rows, as if that bucket were empty
    record["bucket"] = Value::from(info.bucket_count);
    let beyond = serializer
        .deserialize(1, &serde_json::to_vec(&record).expect("json"))
        .expect("the record reads");
    let e = source.create_reader(beyond).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains(&format!("bucket {}", info.bucket_count)), "{e}");
    let mut per_bucket: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for split in splits {
        let bucket = split.bucket().expect("a bucket");
        let rows = lakeunion_tests::fixtures::read_split(source.as_ref(), split)
            .await
            .expect("read");
        per_bucket.entry(bucket).or_default().extend(int_column(&rows, "id"));
    }
    for (bucket, keys) in &per_bucket {
        assert!(
            keys.iter().all(|k| k / 100 == i64::from(*bucket)),
            "bucket {bucket} read {keys:?}"
        );
    }

    let table = UnionTable::new(info.clone(), Arc::new(log), Some(Arc::new(lake))).expect("table");
    // the union read merges per bucket, not one partition-wide merge
    let union_splits = table.scan().build().await.expect("scan").plan().await.expect("plan");
    let union_buckets: BTreeSet<Option<u32>> = union_splits.iter().map(|s| s.bucket).collect();
    assert_eq!(union_buckets, all);
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let got = union_read(&table, strategy, None).await.expect("union read");
        let mut keys = int_column(&got, "id");
        keys.sort_unstable();
        let mut expected: Vec<i64> = (0..info.bucket_count as i64)
            .flat_map(|b| (b * 100)..(b * 100 + 12))
            .filter(|k| !(110..112).contains(k))
            .collect();
        expected.sort_unstable();
        assert_eq!(keys, expected, "{strategy}");
        let names = got
            .iter()
            .flat_map(|b| {
                let ids = int_column(std::slice::from_ref(b), "id");
                let names = b.column_by_name("name").expect("name");
                let names = arrow::array::AsArray::as_string::<i32>(names.as_ref());
                ids.into_iter()
                    .zip(names.iter().map(|n| n.unwrap_or_default().to_string()))
                    .collect::<Vec<_>>()
            })
            .filter(|(k, _)| (100..103).contains(k))
            .collect::<BTreeMap<_, _>>();
        assert!(names.values().all(|n| n.starts_with('b')), "{strategy}: {names:?}");
    }
}

/// Lance parses a pushed filter again, beside the partition and bucket filters the reader
/// adds, and its SQL parser stops at a nesting depth of 50: a filter at the converter's
/// depth limit (16) is pushed and must read, one past it is left to the engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_at_the_depth_limit_reads_beside_partition_and_bucket_filters() -> Result<(), String> {
    use lake_api::ReadMode;
    use lake_api::predicate::col;
    use lakeunion_tests::check::{Query, check};
    use lakeunion_tests::local::build_tiered;
    use lakeunion_tests::rng::Rng;
    use lakeunion_tests::workload::{Bucketing, TableShape, Workload};

    let shape = TableShape {
        primary_key: true,
        composite_key: false,
        partitioned: true,
        buckets: 3,
        engine: lake_api::MergeEngine::Deduplicate,
        bucketing: Bucketing::Modulo,
        blob: false,
        properties: BTreeMap::new(),
    };
    let mut rng = Rng::new(20);
    let workload = Workload::random_for(&mut rng, shape.clone(), 150);
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = LanceConfig::new(root.path().join("lake").to_string_lossy()).with_bucket_column(true);
    let built = build_tiered(
        &mut rng,
        &workload,
        &root.path().join("log"),
        Arc::new(LanceStorage::new(config.clone())),
        Arc::new(LanceStorage::new(config)),
        1..=1,
    )
    .await
    .map_err(|e| e.to_string())?;
    let snapshot = built.snapshot.as_ref().ok_or("nothing tiered")?.id;
    for depth in [15usize, 16, 17] {
        // an OR chain of n terms is n deep
        let filter = (1..depth as i64).fold(col("k").eq(0i64), |f, i| f.or(col("k").eq(i - 8)));
        assert_eq!(filter.depth(), depth);
        let mut source = built
            .lake
            .create_lake_source(&built.info.path)
            .await
            .map_err(|e| e.to_string())?;
        let pushed = source.with_filters(vec![filter.clone()]);
        assert_eq!(pushed.accepted.len(), usize::from(depth <= 16), "depth {depth}");
        let splits = plan(source.as_ref(), snapshot).await.map_err(|e| e.to_string())?;
        assert!(
            splits.iter().any(|s| s.bucket().is_some() && !s.partition().is_empty()),
            "splits of one partition's bucket"
        );
        for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
            let query = Query {
                columns: shape.column_names(),
                filters: vec![filter.clone()],
                limit: None,
                strategy,
                memory_budget: 64 << 20,
                batch_size: 16,
                as_of: None,
                snapshot: None,
                mode: ReadMode::Union,
                via_serialized_splits: true,
            };
            check(&workload, &built, &query)
                .await
                .map_err(|e| format!("depth {depth}, {strategy:?}: {e}"))?;
        }
    }
    Ok(())
}

/// Fluss partitions by integers, booleans and dates as well as strings, and names each
/// partition by the values' text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_of_every_partition_key_type_are_read() -> lake_api::Result<()> {
    // regression: a split's partition filter compared the column with a string literal,
    // which Lance cannot coerce to an integer, boolean or date: every read failed
    let root = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(root.path().join("lake").to_string_lossy()));
    lakeunion_tests::fixtures::partitions_of_every_key_type_read_back(&lake).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_key_without_a_fluss_name_here_is_unsupported() -> lake_api::Result<()> {
    // regression: a float (or timestamp) partition was named by Arrow's text, which is not
    // Fluss's name for it, so its lake rows never met the partition's log: such a table
    // is refused before anything is written
    let schema = Arc::new(Schema::new(vec![
        Field::new("f", DataType::Float64, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let info = TableInfo::log_table(TablePath::new("typed", "floats"), schema, 1).with_partition_keys(vec!["f".into()]);
    let root = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(root.path().join("lake").to_string_lossy()));
    let err = lake
        .create_lake_writer(&info)
        .await
        .err()
        .ok_or_else(|| lake_api::Error::invalid("a writer for a float partition"))?;
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("partition key f"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_filters_match_the_engine() -> Result<(), String> {
    // regression: Lance narrows a Float64 literal to a Float32 column's type (0.1 became
    // 0.1f32) and fails on an integer literal past an Int32 column's range
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    lakeunion_tests::fixtures::accepted_filters_match_the_engine(&lake).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_past_i64_reads_every_row() -> lake_api::Result<()> {
    // regression: the limit went to Lance as `limit as i64`, negative past i64::MAX, and
    // every read failed
    let dir = tempfile::tempdir()?;
    let (lake, version) = table(dir.path(), "{}").await;
    for limit in [usize::MAX, 3] {
        let mut source = lake.create_lake_source(&info().path).await?;
        source.with_limit(limit);
        let mut read = 0;
        for split in plan(source.as_ref(), version).await? {
            read += rows_read(source.as_ref(), split).await?;
        }
        assert_eq!(read, limit.min(10), "limit {limit}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lance_sql_cannot_name_is_refused_before_writing() -> lake_api::Result<()> {
    // regressions: the writer's key filters dropped a key column whose name has a
    // backtick and zipped the rest against the key's values (a delete of (1, 2) became
    // `b` = 1); key columns are kept comma-separated and trimmed on read, so a key column
    // "a,b" came back as columns "a" and "b" and the table could not be read again
    for key in ["a`", "a,b", " k"] {
        let schema = Arc::new(Schema::new(vec![
            Field::new(key, DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
        ]));
        let info = TableInfo::primary_key_table(TablePath::new("odd", "t"), schema, vec![key.into(), "b".into()], 1);
        let dir = tempfile::tempdir()?;
        let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
        let err = lake
            .create_lake_writer(&info)
            .await
            .err()
            .ok_or_else(|| lake_api::Error::invalid(format!("a writer for the key column '{key}'")))?;
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{key}: {err}");
        assert!(err.message().contains(&format!("'{key}'")), "{err}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smallest_key_is_updated_and_deleted() -> lake_api::Result<()> {
    // regression: the writer named i64::MIN in its key filters as a literal Lance's SQL
    // parses as a float, so every round that touched that key failed, and kept failing
    let dir = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    let min = i64::MIN;
    let rounds = [
        LogBatch::new(rows(min..min + 2), vec![ChangeType::Insert; 2], 0),
        LogBatch::new(rows(min..min + 1), vec![ChangeType::UpdateAfter], 2),
        LogBatch::new(rows(min..min + 1), vec![ChangeType::Delete], 3),
    ];
    let mut kept = Vec::new();
    for (round, changes) in rounds.iter().enumerate() {
        let mut writer = lake.create_lake_writer(&info()).await?;
        writer.write(&TableBucket::new(0), changes).await?;
        let snapshot = writer
            .commit(BTreeMap::from([(
                "fluss-offsets".to_string(),
                format!("round {round}"),
            )]))
            .await?;
        kept.push(sorted_column(&read_small_table(&lake, snapshot.id).await?, "k"));
    }
    assert_eq!(kept, vec![vec![min, min + 1], vec![min, min + 1], vec![min + 1]]);
    Ok(())
}

/// A key a round inserts and deletes was never in the lake: deleting it committed a
/// version of its own, without offsets, and a first round stopped after it (before its
/// rows' commit) left a lake no later round would tier into ("none records
/// 'fluss-offsets'").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_deletes_only_keys_the_lake_holds() -> lake_api::Result<()> {
    let dir = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    let mut writer = lake.create_lake_writer(&info()).await?;
    let bucket = TableBucket::new(0);
    writer
        .write(&bucket, &LogBatch::new(rows(0..3), vec![ChangeType::Insert; 3], 0))
        .await?;
    writer
        .write(&bucket, &LogBatch::new(rows(1..2), vec![ChangeType::Delete], 3))
        .await?;
    let snapshot = writer
        .commit(BTreeMap::from([("fluss-offsets".to_string(), "r1".to_string())]))
        .await?;
    let listed = lake.list_snapshots(&info().path).await?;
    assert!(
        listed
            .iter()
            .all(|s| s.properties.get("fluss-offsets").map(String::as_str) == Some("r1")),
        "{listed:?}"
    );
    assert_eq!(
        sorted_column(&read_small_table(&lake, snapshot.id).await?, "k"),
        vec![0, 2]
    );
    // a later round deletes what the lake holds
    let mut writer = lake.create_lake_writer(&info()).await?;
    writer
        .write(&bucket, &LogBatch::new(rows(0..1), vec![ChangeType::Delete], 4))
        .await?;
    let snapshot = writer
        .commit(BTreeMap::from([("fluss-offsets".to_string(), "r2".to_string())]))
        .await?;
    assert_eq!(
        sorted_column(&read_small_table(&lake, snapshot.id).await?, "k"),
        vec![2]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_round_that_fails_after_creating_the_dataset_leaves_no_snapshot() -> lake_api::Result<()> {
    // regression: the empty version the dataset is created with was listed as a snapshot
    // without tiered offsets, so after a first round failed past creating it, every later
    // round was refused ("none records 'fluss-offsets'")
    let dir = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    let keys_only = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1, 2])) as _)])?;
    let mut writer = lake.create_lake_writer(&info()).await?;
    writer
        .write(
            &TableBucket::new(0),
            &LogBatch::new(keys_only, vec![ChangeType::Insert; 2], 0),
        )
        .await?;
    let failed = writer
        .commit(BTreeMap::from([("fluss-offsets".to_string(), "r1".to_string())]))
        .await;
    assert!(failed.is_err(), "a round without the value column");
    assert!(
        !files_with_extension(dir.path(), "manifest").is_empty(),
        "the dataset was created"
    );
    assert_eq!(lake.list_snapshots(&info().path).await?, Vec::new());
    assert_eq!(lake.latest_snapshot(&info().path).await?, None);

    let mut writer = lake.create_lake_writer(&info()).await?;
    writer
        .write(
            &TableBucket::new(0),
            &LogBatch::new(rows(0..3), vec![ChangeType::Insert; 3], 0),
        )
        .await?;
    let snapshot = writer
        .commit(BTreeMap::from([("fluss-offsets".to_string(), "r2".to_string())]))
        .await?;
    // the round's own commits (its rows, then its sorted fragments) follow the empty
    // version, each with the round's offsets: a round stopped between them leaves its rows
    // with its offsets
    let listed = lake.list_snapshots(&info().path).await?;
    assert!(listed.iter().all(|s| s.id > 1), "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|s| s.properties.get("fluss-offsets").map(String::as_str) == Some("r2")),
        "{listed:?}"
    );
    assert_eq!(listed.last(), Some(&snapshot));
    assert_eq!(
        sorted_column(&read_small_table(&lake, snapshot.id).await?, "k"),
        vec![0, 1, 2]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_touching_many_keys_of_a_composite_key_commits() -> lake_api::Result<()> {
    // the rows of the touched keys are read, and the gone ones deleted, through one
    // `(k = .. AND p = ..) OR ...` filter per 2048 keys; Lance refuses a filter expression
    // 500 levels deep, so a round of many keys of a composite key must still commit (the
    // random workloads touch a few dozen)
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("p", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let info = TableInfo::primary_key_table(
        TablePath::new("db", "wide"),
        schema.clone(),
        vec!["k".into(), "p".into()],
        1,
    )
    .with_partition_keys(vec!["p".into()]);
    let batch = |p: &str, keys: std::ops::Range<i64>, v: i64| -> lake_api::Result<RecordBatch> {
        let n = (keys.end - keys.start) as usize;
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(keys)),
                Arc::new(StringArray::from(vec![p; n])),
                Arc::new(Int64Array::from(vec![v; n])),
            ],
        )?)
    };
    let dir = tempfile::tempdir()?;
    let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
    let keys = 0..700;
    let n = keys.end as usize;
    let rounds: [(i64, ChangeType); 3] = [
        (1, ChangeType::Insert),
        (2, ChangeType::UpdateAfter),
        (2, ChangeType::Delete),
    ];
    let mut offset = 0;
    for (round, (v, change)) in rounds.into_iter().enumerate() {
        let mut writer = lake.create_lake_writer(&info).await?;
        for p in ["a", "b"] {
            let bucket = TableBucket::partitioned(vec![p.to_string()], 0);
            let changes = LogBatch::new(batch(p, keys.clone(), v)?, vec![change; n], offset);
            writer.write(&bucket, &changes).await?;
            offset += n as i64;
        }
        let properties = BTreeMap::from([("fluss-offsets".to_string(), format!("round {round}"))]);
        let s = writer.commit(properties).await?;
        let (rows, _) = read_snapshot(&lake, &lake, &info.path, s.id).await?;
        let (count, values) = (
            rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
            sorted_column(&rows, "v"),
        );
        match change {
            ChangeType::Delete => assert_eq!(count, 0, "round {round}"),
            _ => assert_eq!(
                (count, values.first(), values.last()),
                (2 * n, Some(&v), Some(&v)),
                "round {round}"
            ),
        }
    }
    Ok(())
}
