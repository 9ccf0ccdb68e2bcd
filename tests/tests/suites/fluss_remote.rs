//! `FlussLog` end to end: the real `fluss-rs` 1.0 client against the in-process Fluss
//! server (loopback TCP), backed by a `LocalLog`. Bounded, tailing and changelog reads;
//! both codecs crossed (our encoder → the crate's scanner, the crate's writer → our
//! decoder) for every mapped type; the readable lake snapshot; typed errors.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, FixedSizeBinaryArray, Int32Array, Int32Builder, Int64Array, ListBuilder, MapBuilder,
    MapFieldNames, StringArray, StringBuilder, StructArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use arrow::record_batch::RecordBatch;
use fluss_client::ErrorKind;
use fluss_client::arrow_bridge::batch_to_arrow59;
use fluss_client::local::{LocalLog, LocalLogOptions};
use fluss_client::remote::FlussLog;
use fluss_client::tiering::{TierOptions, Tierer};
use futures::{StreamExt, TryStreamExt};
use lake_api::memory::MemoryLake;
use lake_api::{
    ChangeType, LakeSnapshot, LakeStorage, LogBatch, LogSource, TableBucket, TableInfo, TablePath, UnionTable,
};
use lakeunion_tests::fixtures::{every_type_batch, small_rows, small_table, sorted_column};
use lakeunion_tests::remote::{ServedLog, serve};

async fn collect(log: &dyn LogSource, bucket: &TableBucket, start: i64, stop: Option<i64>) -> Vec<LogBatch> {
    log.read(bucket, start, stop)
        .await
        .expect("open read")
        .try_collect()
        .await
        .expect("read")
}

/// Rows, change types and offsets of batches in `[start, stop)`, for comparing two reads
/// (a log may return whole batches that begin before `start`).
fn trimmed(batches: &[LogBatch], start: i64, stop: i64) -> (Vec<RecordBatch>, Vec<ChangeType>, Vec<i64>) {
    let batches: Vec<LogBatch> = batches.iter().map(|b| b.slice_offsets(start, stop)).collect();
    flatten(&batches)
}

/// Rows, change types and offsets of batches, for comparing two reads.
fn flatten(batches: &[LogBatch]) -> (Vec<RecordBatch>, Vec<ChangeType>, Vec<i64>) {
    let rows = batches.iter().map(|b| b.batch.clone()).collect();
    let changes = batches.iter().flat_map(|b| b.change_types.clone()).collect();
    let offsets = batches
        .iter()
        .flat_map(|b| b.base_offset..b.base_offset + b.num_rows() as i64)
        .collect();
    (rows, changes, offsets)
}

/// All rows in one batch; `None` for no batches.
fn concat(batches: &[RecordBatch]) -> Option<RecordBatch> {
    let first = batches.first()?;
    Some(arrow::compute::concat_batches(&first.schema(), batches).expect("concat"))
}

/// A fluss-rs connection to the served cluster.
async fn connect(served: &ServedLog) -> fluss::client::FlussConnection {
    fluss::client::FlussConnection::new(fluss::config::Config {
        bootstrap_servers: served.server.bootstrap(),
        ..fluss::config::Config::default()
    })
    .await
    .expect("connect")
}

/// A row of the key-value `small_table()`: key `k`, value `v` (`None`: a delete's row).
fn kv_row(k: i64, v: Option<&str>) -> fluss::row::GenericRow<'_> {
    let mut row = fluss::row::GenericRow::new(2);
    row.set_field(0, k);
    if let Some(v) = v {
        row.set_field(1, v);
    }
    row
}

fn log_table(name: &str, buckets: u32) -> TableInfo {
    let mut info = small_table();
    info.path = TablePath::new("remote", name);
    info.primary_key.clear();
    info.bucket_key.clear();
    info.bucket_count = buckets;
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_table_reads_equal_the_local_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("events", 2);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    for (bucket, keys) in [(0, 0..5), (1, 5..7), (0, 7..20), (1, 20..21)] {
        let rows = small_rows(keys);
        let n = rows.num_rows();
        log.append(&TableBucket::new(bucket), rows, vec![ChangeType::AppendOnly; n])
            .expect("append");
    }
    let served = serve(vec![log.clone()]).await.expect("serve");

    let remote_info = served.log.info();
    assert_eq!(remote_info.schema.fields(), info.schema.fields());
    assert_eq!((remote_info.bucket_count, remote_info.primary_key.len()), (2, 0));
    assert_eq!(
        served.offset_ranges().await.expect("ranges"),
        log.offset_ranges().await.expect("ranges")
    );

    for bucket in [TableBucket::new(0), TableBucket::new(1)] {
        for start in [0, 1, 3] {
            let local = trimmed(&collect(&log, &bucket, start, Some(18)).await, start, 18);
            let remote = flatten(&collect(&served, &bucket, start, Some(18)).await);
            assert_eq!(concat(&remote.0), concat(&local.0), "{bucket} from {start}");
            assert_eq!((remote.1, remote.2), (local.1, local.2), "{bucket} from {start}");
        }
    }
    // a bounded read sees what is there: a stop past the end ends at the end
    let all = flatten(&collect(&served, &TableBucket::new(1), 0, Some(1_000)).await);
    assert_eq!(all.2, vec![0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changelog_reads_keep_change_types_offsets_and_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut info = small_table();
    info.path = TablePath::new("remote", "orders");
    info.bucket_count = 2;
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    use ChangeType::*;
    let changes = [
        vec![Insert, Insert, Insert],
        vec![UpdateBefore, UpdateAfter],
        vec![Delete],
        vec![Insert, UpdateBefore, UpdateAfter, Delete],
    ];
    let mut key = 0;
    for c in &changes {
        let n = c.len() as i64;
        log.append(&TableBucket::new(1), small_rows(key..key + n), c.clone())
            .expect("append");
        key += n;
    }
    let served = serve(vec![log.clone()]).await.expect("serve");
    assert_eq!(served.log.info().primary_key, vec!["k".to_string()]);

    let bucket = TableBucket::new(1);
    for (start, stop) in [(0, 10), (2, 7), (4, 5)] {
        let local = collect(&log, &bucket, start, Some(stop)).await;
        let remote = collect(&served, &bucket, start, Some(stop)).await;
        let (l, r) = (trimmed(&local, start, stop), flatten(&remote));
        assert_eq!(concat(&r.0), concat(&l.0), "[{start}, {stop})");
        assert_eq!((&r.1, &r.2), (&l.1, &l.2), "[{start}, {stop})");
        assert!(remote.iter().all(|b| b.commit_timestamp > 0), "commit timestamps cross");
    }
    // an empty bucket ends at once
    assert!(collect(&served, &TableBucket::new(0), 0, Some(5)).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailing_reads_see_batches_appended_after_they_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("tail", 1);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    log.append(&TableBucket::new(0), small_rows(0..3), vec![ChangeType::AppendOnly; 3])
        .expect("append");
    let served = serve(vec![log.clone()]).await.expect("serve");
    let mut tail = served.read(&TableBucket::new(0), 2, None).await.expect("tail");
    let first = tail.next().await.expect("a batch").expect("read");
    assert_eq!((first.base_offset, first.num_rows()), (2, 1));

    let writer = log.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        writer
            .append(&TableBucket::new(0), small_rows(3..7), vec![ChangeType::AppendOnly; 4])
            .expect("append");
    });
    let next = tokio::time::timeout(Duration::from_secs(20), tail.next())
        .await
        .expect("the tail wakes up")
        .expect("a batch")
        .expect("read");
    assert_eq!((next.base_offset, next.num_rows()), (3, 4));
}

/// [`every_type_batch`] plus the nested types and fixed-size binary.
fn every_mapped_type() -> RecordBatch {
    let scalars = every_type_batch();
    let mut fields: Vec<Field> = scalars.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = scalars.columns().to_vec();

    let mut list = ListBuilder::new(Int32Builder::new());
    list.append_value([Some(1), None, Some(3)]);
    list.append_null();
    let list = list.finish();
    fields.push(Field::new("list", list.data_type().clone(), true));
    columns.push(Arc::new(list));

    let inner = Fields::from(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Utf8, true),
    ]);
    let row = StructArray::new(
        inner.clone(),
        vec![
            Arc::new(Int32Array::from(vec![Some(7), None])),
            Arc::new(StringArray::from(vec![Some("x"), Some("y")])),
        ],
        None,
    );
    fields.push(Field::new("row", DataType::Struct(inner), true));
    columns.push(Arc::new(row));

    let names = MapFieldNames {
        entry: "entries".into(),
        key: "key".into(),
        value: "value".into(),
    };
    let mut map = MapBuilder::new(Some(names), StringBuilder::new(), Int64Array::builder(2));
    map.keys().append_value("a");
    map.values().append_value(1);
    map.keys().append_value("b");
    map.values().append_null();
    map.append(true).expect("map row");
    map.append(false).expect("null map");
    let map = map.finish();
    fields.push(Field::new("map", map.data_type().clone(), true));
    columns.push(Arc::new(map));

    let fixed = FixedSizeBinaryArray::try_from_sparse_iter_with_size([Some(b"abcd".to_vec()), None].into_iter(), 4)
        .expect("fixed");
    fields.push(Field::new("fixed", DataType::FixedSizeBinary(4), true));
    columns.push(Arc::new(fixed));

    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mapped_type_crosses_both_codecs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rows = every_mapped_type();
    let info = TableInfo::log_table(TablePath::new("remote", "types"), rows.schema(), 1);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    // our encoder, read by the crate's scanner
    log.append(&TableBucket::new(0), rows.clone(), vec![ChangeType::AppendOnly; 2])
        .expect("append");
    let served = serve(vec![log.clone()]).await.expect("serve");
    assert_eq!(served.log.info().schema.fields(), rows.schema().fields());
    let read = collect(&served, &TableBucket::new(0), 0, Some(2)).await;
    assert_eq!(concat(&flatten(&read).0), Some(rows.clone()));

    // the crate's writer (ZSTD-compressed Arrow, its own CRC), decoded by ours
    let connection = connect(&served).await;
    let table = connection
        .get_table(&fluss::metadata::TablePath::new("remote", "types"))
        .await
        .expect("table");
    let writer = table.new_append().expect("append").create_writer().expect("writer");
    writer
        .append_arrow_batch(batch_to_arrow59(&rows).expect("to arrow 59"))
        .expect("queue");
    writer.flush().await.expect("flush");
    let written = trimmed(&collect(&log, &TableBucket::new(0), 2, Some(4)).await, 2, 4);
    assert_eq!(
        concat(&written.0),
        Some(rows),
        "what fluss-rs wrote decodes to the batch"
    );
    assert_eq!(written.2, vec![2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_out_of_the_log_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("retention", 1);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    log.append(
        &TableBucket::new(0),
        small_rows(0..10),
        vec![ChangeType::AppendOnly; 10],
    )
    .expect("append");
    let served = serve(vec![log]).await.expect("serve");
    let bucket = TableBucket::new(0);
    let kind = |e: lake_api::Error| e.kind();

    // beyond the end (bounded), a bucket the table lacks
    let err = served.read(&bucket, 11, Some(12)).await.err().expect("beyond the end");
    assert_eq!(kind(err), lake_api::ErrorKind::Offsets);
    let err = served
        .read(&TableBucket::new(3), 0, None)
        .await
        .err()
        .expect("no bucket 3");
    assert_eq!(kind(err), lake_api::ErrorKind::NotFound);
    // a partition of a table without partitions (LocalLog says NotFound too)
    let err = served
        .read(&TableBucket::partitioned(vec!["2024".into()], 0), 0, Some(10))
        .await
        .err()
        .expect("no partitions");
    assert_eq!(err.kind(), lake_api::ErrorKind::NotFound);
    assert!(err.to_string().contains("no partitions"), "{err}");

    // a read that opened fine, then saw its offsets age out: an error, not a hang
    let mut stream = served.read(&bucket, 0, Some(10)).await.expect("open");
    served
        .server
        .set_log_start(&served.log.info().path, bucket.clone(), 5)
        .expect("retention");
    let err = tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("no hang")
        .expect("an item")
        .expect_err("aged out");
    assert_eq!(err.kind(), lake_api::ErrorKind::Offsets);
    assert!(err.to_string().contains("retention"), "{err}");
    // and one that starts below the log start fails at once
    let err = served.read(&bucket, 2, Some(10)).await.err().expect("below the start");
    assert_eq!(kind(err), lake_api::ErrorKind::Offsets);

    // a table the cluster does not have
    let missing = FlussLog::connect(&served.server.bootstrap(), &TablePath::new("remote", "nope")).await;
    assert_eq!(missing.expect_err("no such table").kind(), ErrorKind::NotFound);
}

/// A union read of `table`: the lake snapshot it chose and its sorted keys.
async fn snapshot_and_keys(table: UnionTable) -> (Option<i64>, Vec<i64>) {
    let scan = table.scan().build().await.expect("scan");
    let snapshot = scan.snapshot().map(|s| s.id);
    let rows = scan.collect().await.expect("read");
    (snapshot, lakeunion_tests::fixtures::sorted_column(&rows, "k"))
}

/// A key-value table `remote.<name>` in a [`LocalLog`] under `dir`: keys 0..6 tiered into
/// a memory lake as a first snapshot, keys 6..9 as a second.
async fn tiered_twice(dir: &Path, name: &str) -> (TableInfo, LocalLog, Arc<MemoryLake>, [LakeSnapshot; 2]) {
    let mut info = small_table();
    info.path = TablePath::new("remote", name);
    let log = LocalLog::create(dir, &info, LocalLogOptions::default()).expect("log");
    let bucket = TableBucket::new(0);
    let lake = Arc::new(MemoryLake::new());
    let tierer = Tierer::new(log.clone(), lake.clone());
    let mut snapshots = Vec::new();
    for keys in [0..6, 6..9] {
        let n = (keys.end - keys.start) as usize;
        log.append(&bucket, small_rows(keys), vec![ChangeType::Insert; n])
            .expect("append");
        snapshots.push(tierer.tier(&TierOptions::default()).await.expect("tier"));
    }
    let snapshots = snapshots.try_into().expect("two snapshots");
    (info, log, lake, snapshots)
}

/// Has the coordinator record `snapshots`, in that order.
async fn publish(served: &ServedLog, path: &TablePath, snapshots: [&LakeSnapshot; 2]) {
    for s in snapshots {
        served.server.publish_lake_snapshot(path, s).await.expect("publish");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn union_reads_use_the_coordinators_readable_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (info, log, lake, [first, second]) = tiered_twice(dir.path(), "readable").await;
    let bucket = TableBucket::new(0);
    log.append(&bucket, small_rows(9..10), vec![ChangeType::Insert; 1])
        .expect("append");

    let served = Arc::new(serve(vec![log]).await.expect("serve"));
    let table = |log: Arc<ServedLog>| UnionTable::new(info.clone(), log, Some(lake.clone() as Arc<dyn LakeStorage>));

    let all: Vec<i64> = (0..10).collect();

    // before the coordinator records any: nothing in the lake is readable, the log alone
    let read = snapshot_and_keys(table(served.clone()).expect("table")).await;
    assert_eq!(read, (None, all.clone()), "no readable snapshot yet");

    publish(&served, &info.path, [&first, &second]).await;
    let read = snapshot_and_keys(table(served.clone()).expect("table")).await;
    assert_eq!(read, (Some(second.id), all.clone()), "newest published is readable");

    served
        .server
        .set_readable_snapshot(&info.path, Some(first.id))
        .expect("readable");
    let read = snapshot_and_keys(table(served.clone()).expect("table")).await;
    assert_eq!(read, (Some(first.id), all), "the coordinator's choice");
    assert_eq!(
        served.tiered_offsets(&first).await.expect("offsets"),
        [(bucket.clone(), 6)].into_iter().collect()
    );

    // regression: a negative offset from the coordinator was taken as it came, and the
    // read failed later with "offsets [-5, 0) are lost"; it is the coordinator's record
    // that is corrupt
    served
        .server
        .set_readable_offsets(&info.path, first.id, [(bucket, -5)].into_iter().collect())
        .expect("readable offsets");
    let err = table(served.clone())
        .expect("table")
        .scan()
        .build()
        .await
        .expect_err("a negative tiered offset");
    assert_eq!(err.kind(), lake_api::ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("-5"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_fetch_errors_are_retried() {
    use lakeunion_tests::fluss_server::code;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pk = small_table();
    pk.path = TablePath::new("remote", "flaky_pk");
    for info in [log_table("flaky_log", 1), pk] {
        let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
        let kind = if info.primary_key.is_empty() {
            ChangeType::AppendOnly
        } else {
            ChangeType::Insert
        };
        log.append(&TableBucket::new(0), small_rows(0..8), vec![kind; 8])
            .expect("append");
        let served = serve(vec![log]).await.expect("serve");
        // a moving leader, then a log that briefly says the offset is out of range
        let faults = [
            code::NOT_LEADER_OR_FOLLOWER,
            code::LOG_OFFSET_OUT_OF_RANGE,
            code::NOT_LEADER_OR_FOLLOWER,
        ];
        served.server.inject_fetch_faults(&info.path, &faults).expect("faults");
        let read = tokio::time::timeout(
            Duration::from_secs(30),
            collect(&served, &TableBucket::new(0), 3, Some(8)),
        )
        .await
        .expect("no hang");
        assert_eq!(flatten(&read).2, vec![3, 4, 5, 6, 7], "{}", info.path);
        assert_eq!(served.server.fetch_faults_left(&info.path).expect("faults"), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upserts_through_fluss_rs_become_a_changelog_flusslog_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut info = small_table();
    info.path = TablePath::new("remote", "upserts");
    info.bucket_count = 2;
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    let served = serve(vec![log.clone()]).await.expect("serve");

    let connection = connect(&served).await;
    let table = connection
        .get_table(&fluss::metadata::TablePath::new("remote", "upserts"))
        .await
        .expect("table");
    let writer = table.new_upsert().expect("upsert").create_writer().expect("writer");
    let row = kv_row;
    for k in 0..6 {
        writer.upsert(&row(k, Some(&format!("v{k}")))).expect("upsert");
    }
    writer.flush().await.expect("flush");
    writer.upsert(&row(1, Some("new"))).expect("update");
    writer.delete(&row(2, None)).expect("delete");
    writer.delete(&row(99, None)).expect("delete of an absent key");
    writer.flush().await.expect("flush");

    // the changelog the server made, read back through FlussLog: every key once as +I,
    // then -U/+U for key 1 and -D for key 2, with the old rows
    let mut inserts = 0;
    let mut later = Vec::new();
    for b in 0..2 {
        let read = collect(&served, &TableBucket::new(b), 0, Some(100)).await;
        for batch in &read {
            let keys = batch.batch.column(0).as_any().downcast_ref::<Int64Array>().expect("k");
            let values = batch.batch.column(1).as_any().downcast_ref::<StringArray>().expect("v");
            for (i, change) in batch.change_types.iter().enumerate() {
                match change {
                    ChangeType::Insert => inserts += 1,
                    other => later.push((*other, keys.value(i), values.value(i).to_string())),
                }
            }
        }
    }
    later.sort_by_key(|(c, k, _)| (*k, *c as u8));
    assert_eq!(inserts, 6);
    assert_eq!(
        later,
        vec![
            (ChangeType::UpdateBefore, 1, "v1".to_string()),
            (ChangeType::UpdateAfter, 1, "new".to_string()),
            (ChangeType::Delete, 2, "v2".to_string()),
        ]
    );
    // and the union read of the log alone is the table's state
    let union = UnionTable::new(info.clone(), Arc::new(served), None).expect("table");
    let mut rows: Vec<(i64, String)> = union
        .scan()
        .build()
        .await
        .expect("scan")
        .collect()
        .await
        .expect("read")
        .iter()
        .flat_map(|b| {
            let k = b.column(0).as_any().downcast_ref::<Int64Array>().expect("k").clone();
            let v = b.column(1).as_any().downcast_ref::<StringArray>().expect("v").clone();
            (0..b.num_rows()).map(move |i| (k.value(i), v.value(i).to_string()))
        })
        .collect();
    rows.sort();
    let want: Vec<(i64, String)> = [(0, "v0"), (1, "new"), (3, "v3"), (4, "v4"), (5, "v5")]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
    assert_eq!(rows, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changelog_batch_without_changes_is_read_past() {
    // regression: Fluss spends an offset on an empty changelog batch when a write changes
    // nothing (a delete of an absent key); the row scanner returns no row for it, and
    // FlussLog handed on the next batch past a hole, which the union read refused as a gap
    let dir = tempfile::tempdir().expect("tempdir");
    let mut info = small_table();
    info.path = TablePath::new("remote", "no_change");
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    let served = serve(vec![log.clone()]).await.expect("serve");
    let connection = connect(&served).await;
    let table = connection
        .get_table(&fluss::metadata::TablePath::new("remote", "no_change"))
        .await
        .expect("table");
    let writer = table.new_upsert().expect("upsert").create_writer().expect("writer");
    let row = kv_row;
    writer.upsert(&row(1, Some("one"))).expect("upsert");
    writer.flush().await.expect("flush");
    writer.delete(&row(99, None)).expect("delete of an absent key");
    writer.flush().await.expect("flush");
    writer.upsert(&row(2, Some("two"))).expect("upsert");
    writer.flush().await.expect("flush");
    let bucket = TableBucket::new(0);
    let ranges = log.offset_ranges().await.expect("ranges");
    assert_eq!(ranges[&bucket].end, 3, "offset 1 is the empty batch");

    // from the hole, and across it
    for (start, want) in [(0, vec![0, 2]), (1, vec![2])] {
        let read = collect(&served, &bucket, start, Some(3)).await;
        assert_eq!(flatten(&read).2, want, "from {start}");
        // every offset of the range is accounted for, the hole by a batch without rows
        let mut reached = start;
        for batch in &read {
            assert!(
                batch.base_offset <= reached,
                "from {start}: a hole before offset {}",
                batch.base_offset
            );
            reached = reached.max(batch.next_offset);
        }
        assert_eq!(reached, 3, "from {start}");
    }
    let keys = |batches: Vec<RecordBatch>| sorted_column(&batches, "k");
    let union = UnionTable::new(info.clone(), Arc::new(served), None).expect("table");
    let all = union.scan().build().await.expect("scan").collect().await.expect("read");
    assert_eq!(keys(all), vec![1, 2]);
    // a read that stops right after the hole
    let until_hole = union
        .scan()
        .as_of_offsets([(bucket, 2)].into())
        .build()
        .await
        .expect("scan")
        .collect()
        .await
        .expect("read up to the hole");
    assert_eq!(keys(until_hole), vec![1]);
}

/// A coordinator older than GetLakeSnapshot's `snapshot_id` field answers with its newest
/// snapshot whatever is asked: its offsets are another snapshot's, and the asked one's own
/// record says what it covers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_answering_for_another_snapshot_is_not_taken_at_its_word() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (info, log, _, [first, second]) = tiered_twice(dir.path(), "old_coordinator").await;
    let bucket = TableBucket::new(0);

    let served = serve(vec![log]).await.expect("serve");
    publish(&served, &info.path, [&first, &second]).await;
    served.server.ignore_snapshot_ids(&info.path).expect("old coordinator");
    // regression: the answer for the second snapshot was taken for the first's, and a
    // read of the first snapshot skipped the log rows 6..9 the second had tiered
    let offsets = served.tiered_offsets(&first).await.expect("offsets");
    assert_eq!(offsets, [(bucket.clone(), 6)].into_iter().collect());
    let offsets = served.tiered_offsets(&second).await.expect("offsets");
    assert_eq!(offsets, [(bucket, 9)].into_iter().collect());
}

/// A ListOffsets answer that leaves a bucket out says nothing of it: the bucket's range is
/// unknown, not empty, and planning with it empty would drop its untiered rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_the_cluster_leaves_out_of_its_offsets_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("unlisted", 2);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    for b in 0..2 {
        log.append(&TableBucket::new(b), small_rows(0..3), vec![ChangeType::AppendOnly; 3])
            .expect("append");
    }
    let served = serve(vec![log]).await.expect("serve");
    assert_eq!(served.offset_ranges().await.expect("ranges").len(), 2);
    served
        .server
        .leave_out_of_offsets(&info.path, TableBucket::new(1))
        .expect("leave out");
    let err = served.offset_ranges().await.expect_err("bucket 1 unanswered");
    assert_eq!(err.kind(), lake_api::ErrorKind::External, "{err}");
    assert!(err.to_string().contains("bucket 1"), "{err}");
}

/// A bounded read whose bucket's end falls back below its stop (a new leader lacked the
/// last records) cannot reach its stop: it fails once it stalls, where it waited forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_log_end_falls_below_its_stop_fails_rather_than_wait() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("truncated", 1);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    let bucket = TableBucket::new(0);
    for rows in [0..5, 5..10] {
        log.append(&bucket, small_rows(rows), vec![ChangeType::AppendOnly; 5])
            .expect("append");
    }
    let served = serve(vec![log]).await.expect("serve");
    let options = fluss_client::remote::FlussLogOptions {
        stall_timeout: Duration::from_secs(1),
        ..lakeunion_tests::remote::test_options()
    };
    let config = fluss::config::Config {
        bootstrap_servers: served.server.bootstrap(),
        scanner_log_fetch_wait_max_time_ms: 100,
        ..fluss::config::Config::default()
    };
    let remote = FlussLog::connect_with(config, &info.path, options)
        .await
        .expect("connect");
    let mut stream = remote.read(&bucket, 0, Some(10)).await.expect("open");
    served
        .server
        .set_log_end(&info.path, bucket.clone(), 5)
        .expect("truncate");
    let mut rows = 0;
    let err = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.next().await {
                Some(Ok(b)) => rows += b.num_rows(),
                Some(Err(e)) => return e,
                None => panic!("the read ended at {rows} rows without offsets 5..10"),
            }
        }
    })
    .await
    .expect("no hang");
    assert_eq!(err.kind(), lake_api::ErrorKind::Offsets, "{err}");
    assert!(err.to_string().contains("below"), "{err}");
    assert_eq!(rows, 5);
}

/// A partition Fluss dropped (partition retention) after it was tiered stays named in the
/// lake snapshot's offsets: its lake rows need no log range, whichever record the offsets
/// come from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_partition_in_a_snapshots_offsets_is_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("expired", 1).with_partition_keys(vec!["v".into()]);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    log.append_rows(small_rows(0..1), vec![ChangeType::AppendOnly])
        .expect("append");
    let ids = log.partition_ids().expect("ids");
    let (&id, values) = ids.iter().next().expect("one partition");
    let dropped = id + 100;
    let offsets = format!(
        r#"{{"version":1,"table_id":{},"partition_offsets":[{{"partition_id":{id},"bucket_offsets":[1]}},{{"partition_id":{dropped},"bucket_offsets":[5]}}]}}"#,
        log.table_id()
    );
    let snapshot = LakeSnapshot {
        id: 4,
        timestamp_ms: 0,
        properties: [("fluss-offsets".to_string(), offsets)].into_iter().collect(),
    };
    let want: std::collections::BTreeMap<TableBucket, i64> =
        [(TableBucket::partitioned(values.clone(), 0), 1)].into_iter().collect();
    let served = serve(vec![log]).await.expect("serve");
    // regression: the snapshot's own record (a coordinator that never heard of it) failed
    // the read with "tiered offsets name partition id ..., which the table does not have",
    // where the coordinator's record of the same snapshot left the partition out
    assert_eq!(served.tiered_offsets(&snapshot).await.expect("from the property"), want);
    served
        .server
        .publish_lake_snapshot(&info.path, &snapshot)
        .await
        .expect("publish");
    assert_eq!(
        served.tiered_offsets(&snapshot).await.expect("from the coordinator"),
        want
    );
}

/// A table dropped and created again under its name since the log was opened is another
/// table: its rows must not be read as the opened table's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_table_created_again_since_the_log_opened_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = log_table("recreated", 1);
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).expect("log");
    log.append(&TableBucket::new(0), small_rows(0..3), vec![ChangeType::AppendOnly; 3])
        .expect("append");
    let served = serve(vec![log]).await.expect("serve");
    assert_eq!(collect(&served, &TableBucket::new(0), 0, Some(3)).await.len(), 1);
    served.server.recreate(&info.path).expect("recreate");
    // regression: the read subscribed to whatever table had the name now
    let err = match served.read(&TableBucket::new(0), 0, Some(3)).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.expect_err("another table's rows"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), lake_api::ErrorKind::Offsets, "{err}");
    assert!(err.to_string().contains("created again"), "{err}");
}
