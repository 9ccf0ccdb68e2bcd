//! Hand-written scenarios: the demo table, partitions only in the lake, spills,
//! concurrency, key order and limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use futures::TryStreamExt;
use lake_api::memory::{MemoryFile, MemoryLake, demo_table, tier};
use lake_api::{ChangeType, MergeStrategy, ReadMode, TableBucket, UnionScan, UnionTable};
use lakeunion_tests::build::build_log;
use lakeunion_tests::check::format_rows;
use lakeunion_tests::rng::Rng;
use lakeunion_tests::workload::{Row, TableShape, Workload, rows_to_batch};

async fn rows(scan: &UnionScan) -> Vec<Vec<String>> {
    let batches: Vec<RecordBatch> = scan.to_stream().await.unwrap().try_collect().await.unwrap();
    let mut rows = format_rows(&batches);
    rows.sort();
    rows
}

#[tokio::test]
async fn demo_table_reads_the_same_with_both_strategies() {
    let (log, lake) = demo_table().await.unwrap();
    let table = UnionTable::open(log, Some(lake)).await.unwrap();
    let expected: Vec<Vec<String>> = [
        ("1", "us", "ada", "12.5"),
        ("10", "us", "linus", "8.5"),
        ("2", "us", "grace", "95.0"),
        ("4", "us", "edsger", "19.0"),
        ("5", "us", "barbara", "50.0"),
        ("6", "eu", "donald", "3.0"),
        ("7", "us", "ken", "64.0"),
        ("8", "us", "dennis", "27.75"),
        ("9", "eu", "margaret", "120.0"),
    ]
    .iter()
    .map(|(a, b, c, d)| vec![a.to_string(), b.to_string(), c.to_string(), d.to_string()])
    .collect();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter, MergeStrategy::Auto] {
        let scan = table
            .scan()
            .project(["id", "region", "customer", "amount"])
            .strategy(strategy)
            .build()
            .await
            .unwrap();
        assert_eq!(rows(&scan).await, expected, "{strategy}");
    }
    // the lake alone is one tiering behind: alan is still there, the new orders are not
    let lake_only = table.scan().mode(ReadMode::LakeOnly).build().await.unwrap();
    let names: Vec<String> = rows(&lake_only).await.into_iter().map(|r| r[2].clone()).collect();
    assert!(names.contains(&"alan".to_string()) && !names.contains(&"linus".to_string()));
}

fn shape(primary_key: bool) -> TableShape {
    TableShape {
        primary_key,
        composite_key: false,
        partitioned: true,
        buckets: 2,
        engine: lake_api::MergeEngine::Deduplicate,
        bucketing: Default::default(),
        blob: false,
        properties: Default::default(),
    }
}

fn row(k: i64, p: &str, v: i64) -> Row {
    Row {
        k,
        k2: String::new(),
        p: p.into(),
        v: Some(v),
        s: None,
        ver: None,
    }
}

#[tokio::test]
async fn a_partition_only_in_the_lake_is_still_read() {
    for primary_key in [true, false] {
        let shape = shape(primary_key);
        let info = shape.info();
        // the log knows partition "a" only; partition "old" exists in the lake alone
        let change = if primary_key {
            ChangeType::Insert
        } else {
            ChangeType::AppendOnly
        };
        let workload = Workload {
            changes: BTreeMap::from([(
                TableBucket::partitioned(vec!["a".into()], 1),
                vec![(change, row(1, "a", 10)), (change, row(3, "a", 30))],
            )]),
            shape: shape.clone(),
        };
        let log = build_log(&mut Rng::new(1), &workload).unwrap();
        let lake = MemoryLake::new();
        lake.create_table(&info).unwrap();
        let old = MemoryFile {
            partition: vec!["old".into()],
            bucket: Some(0),
            batches: vec![rows_to_batch(&shape, &[row(2, "old", 20), row(4, "old", 40)])],
            sorted: true,
        };
        let s = lake.commit_files(&info.path, vec![old], BTreeMap::new()).unwrap();
        log.record_tiered_offsets(
            s.id,
            BTreeMap::from([(TableBucket::partitioned(vec!["old".into()], 0), 7)]),
        )
        .unwrap();
        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake))).unwrap();
        let scan = table.scan().project(["k"]).build().await.unwrap();
        let keys: Vec<String> = rows(&scan).await.into_iter().map(|r| r[0].clone()).collect();
        assert_eq!(keys, vec!["1", "2", "3", "4"], "primary key: {primary_key}");
    }
}

/// A primary-key table with a large log tail over a tiered lake.
async fn big_table(seed: u64) -> UnionTable {
    let mut rng = Rng::new(seed);
    let shape = TableShape {
        primary_key: true,
        composite_key: false,
        partitioned: false,
        buckets: 3,
        engine: lake_api::MergeEngine::Deduplicate,
        bucketing: Default::default(),
        blob: false,
        properties: Default::default(),
    };
    let workload = Workload::random_for(&mut rng, shape, 6000);
    let log = build_log(&mut rng, &workload).unwrap();
    let lake = MemoryLake::new();
    let half: BTreeMap<TableBucket, i64> = workload.end_offsets().into_iter().map(|(b, e)| (b, e / 3)).collect();
    tier(&log, &lake, Some(&half)).await.unwrap();
    UnionTable::new(workload.shape.info(), Arc::new(log), Some(Arc::new(lake))).unwrap()
}

#[tokio::test]
async fn spilling_changes_nothing_but_memory() {
    let table = big_table(11).await;
    let dir = tempfile::tempdir().unwrap();
    let in_memory = rows(&table.scan().strategy(MergeStrategy::SortMerge).build().await.unwrap()).await;
    assert!(in_memory.len() > 500, "{} rows", in_memory.len());
    spilled_reads_match(&table, dir.path(), &in_memory).await;
}

/// Asserts both strategies read `table` as `in_memory` under a budget that spills.
async fn spilled_reads_match(table: &UnionTable, dir: &std::path::Path, in_memory: &[Vec<String>]) {
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let spilled = table
            .scan()
            .strategy(strategy)
            .memory_budget(4096)
            .batch_size(100)
            .spill_dir(dir)
            .build()
            .await
            .unwrap();
        assert_eq!(rows(&spilled).await, in_memory, "{strategy}");
    }
}

/// Each log batch brings its own dictionary, and each batch a merge builds from them gets
/// another: spilling such a column once failed ("dictionary replacement") where the same
/// read in memory succeeded.
#[tokio::test]
async fn dictionary_columns_spill_like_any_other() -> lake_api::Result<()> {
    use arrow::array::DictionaryArray;
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new(
            "tag",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]));
    let info =
        lake_api::TableInfo::primary_key_table(lake_api::TablePath::new("d", "t"), schema.clone(), vec!["k".into()], 1);
    let log = lake_api::memory::MemoryLog::new(info.clone())?;
    let bucket = TableBucket::new(0);
    let mut ends = Vec::new();
    for b in 0..40i64 {
        let keys: Vec<i64> = (b * 30..b * 30 + 50).collect();
        let tags: Vec<String> = keys.iter().map(|k| format!("t{}-{b}", k % 7)).collect();
        let tags: DictionaryArray<Int32Type> = tags.iter().map(|t| Some(t.as_str())).collect();
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(keys)), Arc::new(tags)])?;
        let (_, end) = log.append(&bucket, batch, vec![ChangeType::Insert; 50])?;
        ends.push(end);
    }
    let lake = MemoryLake::new();
    tier(&log, &lake, Some(&BTreeMap::from([(bucket.clone(), ends[12])]))).await?;
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
    let dir = tempfile::tempdir()?;
    let in_memory = rows(&table.scan().strategy(MergeStrategy::SortMerge).build().await?).await;
    assert_eq!(in_memory.len(), 39 * 30 + 50);
    spilled_reads_match(&table, dir.path(), &in_memory).await;
    Ok(())
}

#[tokio::test]
async fn concurrency_does_not_change_the_result() {
    let table = big_table(12).await;
    let one = rows(&table.scan().concurrency(1).build().await.unwrap()).await;
    let many = rows(&table.scan().concurrency(8).build().await.unwrap()).await;
    assert_eq!(one, many);
}

#[tokio::test]
async fn sort_merge_emits_each_split_in_key_order() {
    let table = big_table(13).await;
    let dir = tempfile::tempdir().unwrap();
    // the default budget takes the sparse merge (one sorted lake file per bucket, an
    // integer key); a small one the k-way merge, over spilled runs
    for budget in [None, Some(4096)] {
        let mut builder = table.scan().strategy(MergeStrategy::SortMerge).batch_size(97);
        if let Some(bytes) = budget {
            builder = builder.memory_budget(bytes).spill_dir(dir.path());
        }
        let scan = builder.build().await.unwrap();
        splits_come_in_key_order(&scan).await;
    }
}

async fn splits_come_in_key_order(scan: &UnionScan) {
    for split in scan.plan().await.unwrap() {
        let batches: Vec<RecordBatch> = scan.read(&split).await.unwrap().try_collect().await.unwrap();
        let keys: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..k.len()).map(|i| k.value(i)).collect::<Vec<_>>()
            })
            .collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "{split}: keys out of order or repeated"
        );
    }
}

#[tokio::test]
async fn limits_are_exact_and_stop_log_tables_early() {
    let shape = TableShape {
        primary_key: false,
        composite_key: false,
        partitioned: false,
        buckets: 2,
        engine: lake_api::MergeEngine::Deduplicate,
        bucketing: Default::default(),
        blob: false,
        properties: Default::default(),
    };
    let mut rng = Rng::new(5);
    let workload = Workload::random_for(&mut rng, shape, 3000);
    let log = build_log(&mut rng, &workload).unwrap();
    let table = UnionTable::new(workload.shape.info(), Arc::new(log), None).unwrap();
    for limit in [0, 1, 7, 2999, 3000, 5000] {
        let scan = table.scan().limit(limit).batch_size(64).build().await.unwrap();
        assert_eq!(rows(&scan).await.len(), limit.min(3000), "limit {limit}");
    }
    let pk = big_table(14).await;
    let all = rows(&pk.scan().build().await.unwrap()).await.len();
    let scan = pk.scan().limit(10).filter_str("v > 0").unwrap().build().await.unwrap();
    assert_eq!(rows(&scan).await.len(), 10.min(all));
}

#[tokio::test]
async fn follow_reads_the_table_then_tails_the_log() {
    let shape = TableShape {
        primary_key: true,
        composite_key: false,
        partitioned: false,
        buckets: 2,
        engine: lake_api::MergeEngine::Deduplicate,
        bucketing: Default::default(),
        blob: false,
        properties: Default::default(),
    };
    let mut rng = Rng::new(21);
    let workload = Workload::random_for(&mut rng, shape.clone(), 80);
    let log = build_log(&mut rng, &workload).unwrap();
    let lake = MemoryLake::new();
    let half: BTreeMap<TableBucket, i64> = workload.end_offsets().into_iter().map(|(b, e)| (b, e / 2)).collect();
    tier(&log, &lake, Some(&half)).await.unwrap();
    let table = UnionTable::new(shape.info(), Arc::new(log.clone()), Some(Arc::new(lake))).unwrap();

    let scan = table
        .scan()
        .project(["k", "v"])
        .filter_str("v > -1000")
        .unwrap()
        .build()
        .await
        .unwrap();
    let snapshot = rows(&scan).await;
    let mut stream = scan.follow().await.unwrap();
    assert_eq!(stream.schema().field(2).name(), lake_api::union::CHANGE_TYPE_COLUMN);
    let mut seen = Vec::new();
    while seen.len() < snapshot.len() {
        seen.extend(format_rows(&[next_batch(&mut stream).await]));
    }
    seen.sort();
    let expected: Vec<Vec<String>> = snapshot
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.push("+I".into());
            r
        })
        .collect();
    assert_eq!(seen, expected, "the bounded part is the exact table, as inserts");

    // changes land while the scanner waits: an update, and a delete the filter drops
    let bucket = shape.bucket_of(&row(4, "", 0));
    let mut up = row(4, "", 444);
    up.p = String::new();
    let mut gone = row(4, "", -5000);
    gone.p = String::new();
    log.append(
        &bucket,
        rows_to_batch(&shape, &[up, gone]),
        vec![ChangeType::UpdateAfter, ChangeType::Delete],
    )
    .unwrap();
    let changes = format_rows(&[next_batch(&mut stream).await]);
    assert_eq!(
        changes,
        vec![vec!["4".to_string(), "444".to_string(), "+U".to_string()]]
    );

    let e = table.scan().limit(3).build().await.unwrap().follow().await.unwrap_err();
    assert_eq!(e.kind(), lake_api::ErrorKind::InvalidArgument);
}

async fn next_batch(stream: &mut lake_api::RecordBatchStream) -> RecordBatch {
    use futures::StreamExt;
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("no batch within 10 s")
        .expect("stream ended")
        .unwrap()
}

#[tokio::test]
async fn a_newer_snapshot_without_offsets_falls_back_to_the_last_tiered_one() {
    // regression: a maintenance commit (compaction, expiry) makes a newer lake snapshot
    // without tiered offsets; reads took offsets from it and failed
    let mut rng = Rng::new(15);
    let shape = TableShape {
        primary_key: true,
        composite_key: false,
        partitioned: false,
        buckets: 3,
        engine: lake_api::MergeEngine::Deduplicate,
        bucketing: Default::default(),
        blob: false,
        properties: Default::default(),
    };
    let workload = Workload::random_for(&mut rng, shape.clone(), 600);
    let log = build_log(&mut rng, &workload).unwrap();
    let lake = MemoryLake::new();
    let half: BTreeMap<TableBucket, i64> = workload.end_offsets().into_iter().map(|(b, e)| (b, e / 2)).collect();
    let tiered = tier(&log, &lake, Some(&half)).await.unwrap();
    let table = UnionTable::new(shape.info(), Arc::new(log.clone()), Some(Arc::new(lake.clone()))).unwrap();
    let expected = rows(&table.scan().build().await.unwrap()).await;

    // the same files again, as compaction would leave them, with no properties
    let files = lake.files(&shape.info().path, tiered.id).unwrap().as_ref().clone();
    let maintenance = lake.commit_files(&shape.info().path, files, BTreeMap::new()).unwrap();
    assert!(maintenance.id > tiered.id);
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = table.scan().strategy(strategy).build().await.unwrap();
        assert_eq!(
            scan.snapshot().unwrap().id,
            maintenance.id,
            "the data comes from the newest snapshot"
        );
        assert_eq!(rows(&scan).await, expected, "{strategy}");
    }
    // and tiering again picks up from the last tiered offsets
    let next = tier(&log, &lake, None).await.unwrap();
    let after = UnionTable::new(shape.info(), Arc::new(log), Some(Arc::new(lake))).unwrap();
    assert_eq!(after.scan().build().await.unwrap().snapshot().unwrap().id, next.id);
    assert_eq!(rows(&after.scan().build().await.unwrap()).await, expected);
}
