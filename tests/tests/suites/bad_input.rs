//! Bad input gets a typed error naming what is wrong (bucket, offset, column), never a
//! panic, and leaves nothing behind in the spill directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use lake_api::memory::{MemoryFile, MemoryLake, MemoryLog};
use lake_api::{
    ChangeType, ErrorKind, LogBatch, LogSource, MergeStrategy, OffsetRange, SerializedLakeSplit, TableBucket,
    TableInfo, TablePath, UnionScan, UnionSplit, UnionSplitKind, UnionTable,
};

fn info() -> TableInfo {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    TableInfo::primary_key_table(TablePath::new("bad", "t"), schema, vec!["k".into()], 2)
}

fn batch(keys: std::ops::Range<i64>) -> RecordBatch {
    let n = keys.end - keys.start;
    RecordBatch::try_new(
        info().schema,
        vec![
            Arc::new(Int64Array::from_iter_values(keys.clone())),
            Arc::new(StringArray::from_iter_values(keys.map(|k| format!("v{k}")))),
        ],
    )
    .unwrap_or_else(|e| panic!("batch of {n}: {e}"))
}

fn inserts(n: usize) -> Vec<ChangeType> {
    vec![ChangeType::Insert; n]
}

/// A log with ten inserts in bucket 0 and a lake snapshot that tiered the first four.
async fn table() -> (MemoryLog, MemoryLake, UnionTable) {
    let info = info();
    let log = MemoryLog::new(info.clone()).unwrap();
    let b0 = TableBucket::new(0);
    log.append(&b0, batch(0..4), inserts(4)).unwrap();
    log.append(&b0, batch(4..10), inserts(6)).unwrap();
    log.ensure_bucket(&TableBucket::new(1)).unwrap();
    let lake = MemoryLake::new();
    lake_api::memory::tier(&log, &lake, Some(&BTreeMap::from([(b0.clone(), 4)])))
        .await
        .unwrap();
    let table = UnionTable::new(info, Arc::new(log.clone()), Some(Arc::new(lake.clone()))).unwrap();
    (log, lake, table)
}

async fn read_all(scan: &UnionScan) -> lake_api::Result<Vec<RecordBatch>> {
    scan.to_stream().await?.try_collect().await
}

/// Why planning a default scan of `table` fails (`None`: it planned).
async fn plan_error(table: &UnionTable) -> lake_api::Result<Option<lake_api::Error>> {
    Ok(table.scan().build().await?.plan().await.err())
}

async fn scan(table: &UnionTable, strategy: MergeStrategy) -> UnionScan {
    table.scan().strategy(strategy).build().await.unwrap()
}

#[tokio::test]
async fn log_batch_with_the_wrong_schema_names_bucket_and_offset() {
    let (log, _, table) = table().await;
    let other = RecordBatch::try_from_iter([("k", Arc::new(StringArray::from(vec!["x"])) as _)]).unwrap();
    log.append_raw(&TableBucket::new(0), LogBatch::new(other, inserts(1), 10))
        .unwrap();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let e = read_all(&scan(&table, strategy).await).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
        let msg = e.to_string();
        assert!(msg.contains("offset 10") && msg.contains("bucket 0"), "{msg}");
    }
}

/// A log table's log only appends: a retraction or update in it is no row to show, and
/// was once shown as one (a `-D` read as a row like any other).
#[tokio::test]
async fn a_change_a_log_table_cannot_have_is_corrupt() -> Result<(), Box<dyn std::error::Error>> {
    let events = TableInfo::log_table(TablePath::new("bad", "events"), info().schema, 1);
    for change in [ChangeType::Delete, ChangeType::UpdateBefore, ChangeType::UpdateAfter] {
        let log = MemoryLog::new(events.clone())?;
        let bucket = TableBucket::new(0);
        log.append(&bucket, batch(0..3), vec![ChangeType::AppendOnly; 3])?;
        log.append_raw(
            &bucket,
            LogBatch::new(batch(3..5), vec![ChangeType::AppendOnly, change], 3),
        )?;
        let table = UnionTable::new(events.clone(), Arc::new(log), None)?;
        let e = read_all(&table.scan().build().await?)
            .await
            .err()
            .ok_or_else(|| lake_api::Error::invalid(format!("{change:?} read")))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        let msg = e.to_string();
        assert!(msg.contains("offset 3") && msg.contains(change.short_string()), "{msg}");
    }
    // and a followed table's tail, as its bounded read
    let log = MemoryLog::new(events.clone())?;
    let bucket = TableBucket::new(0);
    log.append(&bucket, batch(0..3), vec![ChangeType::AppendOnly; 3])?;
    let table = UnionTable::new(events, Arc::new(log.clone()), None)?;
    let mut changes = table.scan().build().await?.follow().await?;
    let first = changes.try_next().await?.ok_or("no snapshot rows")?;
    assert_eq!(first.num_rows(), 3);
    log.append_raw(&bucket, LogBatch::new(batch(3..4), vec![ChangeType::Delete], 3))?;
    let e = changes.try_next().await.err().ok_or("a -D followed as a change")?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    Ok(())
}

#[tokio::test]
async fn offsets_that_go_backwards_are_refused() {
    let (log, _, table) = table().await;
    // offsets [8, 12) after a batch that ended at 10
    log.append_raw(&TableBucket::new(0), LogBatch::new(batch(20..24), inserts(4), 8))
        .unwrap();
    let e = read_all(&scan(&table, MergeStrategy::SortMerge).await)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("go backwards"), "{e}");
}

#[tokio::test]
async fn a_gap_inside_the_log_is_refused() {
    let (log, _, table) = table().await;
    log.append_raw(&TableBucket::new(0), LogBatch::new(batch(20..22), inserts(2), 15))
        .unwrap();
    let e = read_all(&scan(&table, MergeStrategy::KeyFilter).await)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("[10, 15) are missing"), "{e}");
}

#[tokio::test]
async fn a_stop_beyond_the_log_end_is_refused_at_planning() {
    let (_, _, table) = table().await;
    let scan = table
        .scan()
        .as_of_offsets(BTreeMap::from([(TableBucket::new(0), 99)]))
        .build()
        .await
        .unwrap();
    let e = scan.plan().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("beyond the log's end offset 10"), "{e}");
}

#[tokio::test]
async fn a_stop_for_a_bucket_the_table_does_not_have_is_refused_at_planning() {
    // regression: as-of offsets were looked up only for the buckets the log, the lake or
    // its offsets named, and the others were dropped without a word
    let (_, _, table) = table().await;
    let stops = [
        (TableBucket::new(7), 3, "has 2 buckets"),
        (TableBucket::partitioned(vec!["x".into()], 0), 3, "not partitioned"),
    ];
    for (bucket, stop, says) in stops {
        let scan = table
            .scan()
            .as_of_offsets(BTreeMap::from([(bucket.clone(), stop)]))
            .build()
            .await
            .unwrap();
        let e = scan.plan().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bucket}: {e}");
        assert!(e.to_string().contains(says), "{bucket}: {e}");
    }
    // a partition no one has: past offset 0, a stop there stops nothing
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("p", DataType::Utf8, false),
    ]));
    let info = TableInfo::primary_key_table(
        TablePath::new("bad", "p"),
        schema.clone(),
        vec!["k".into(), "p".into()],
        1,
    )
    .with_partition_keys(vec!["p".into()]);
    let log = MemoryLog::new(info.clone()).unwrap();
    let rows = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["a"])),
        ],
    )
    .unwrap();
    log.append(&TableBucket::partitioned(vec!["a".into()], 0), rows, inserts(1))
        .unwrap();
    let table = UnionTable::new(info, Arc::new(log), None).unwrap();
    for (stop, refused) in [(5, true), (0, false)] {
        let scan = table
            .scan()
            .as_of_offsets(BTreeMap::from([(TableBucket::partitioned(vec!["b".into()], 0), stop)]))
            .build()
            .await
            .unwrap();
        match scan.plan().await {
            Err(e) if refused => {
                assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
                assert!(e.to_string().contains("knows nothing of"), "{e}");
            }
            Ok(_) if !refused => {}
            other => panic!("stop {stop}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_snapshot_ahead_of_the_log_is_refused() {
    let (log, lake, _) = table().await;
    // the lake claims offsets the log never had
    let s = lake.commit_files(&info().path, Vec::new(), BTreeMap::new()).unwrap();
    log.record_tiered_offsets(s.id, BTreeMap::from([(TableBucket::new(0), 50)]))
        .unwrap();
    let table = UnionTable::new(info(), Arc::new(log), Some(Arc::new(lake))).unwrap();
    let e = scan(&table, MergeStrategy::Auto).await.plan().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("is before the offset 50 the lake covers"), "{e}");
}

#[tokio::test]
async fn a_log_ending_early_is_refused() {
    let (_, _, table) = table().await;
    let scan = scan(&table, MergeStrategy::SortMerge).await;
    let mut split = scan
        .plan()
        .await
        .unwrap()
        .into_iter()
        .find(|s| !s.log_ranges.is_empty())
        .unwrap();
    // a hand-made split asking for offsets the log never wrote
    split.log_ranges[0].stop = 30;
    // the log tail is read before the stream is returned, so the error may come from either
    let e = match scan.read(&split).await {
        Err(e) => e,
        Ok(stream) => stream.try_collect::<Vec<_>>().await.unwrap_err(),
    };
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(
        e.to_string()
            .contains("ended at offset 10 before the requested stop 30"),
        "{e}"
    );
}

#[tokio::test]
async fn retention_past_the_tiered_offset_is_data_loss() {
    let (log, _, table) = table().await;
    log.truncate_before(&TableBucket::new(0), 6).unwrap();
    let e = scan(&table, MergeStrategy::Auto).await.plan().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("[4, 6) are lost"), "{e}");
}

/// A log that misreports bucket 0's offset range, and is otherwise `inner`.
struct MisreportedRange {
    inner: MemoryLog,
    range: OffsetRange,
}

#[async_trait::async_trait]
impl LogSource for MisreportedRange {
    async fn table_info(&self) -> lake_api::Result<TableInfo> {
        self.inner.table_info().await
    }

    async fn offset_ranges(&self) -> lake_api::Result<BTreeMap<TableBucket, OffsetRange>> {
        let mut ranges = self.inner.offset_ranges().await?;
        ranges.insert(TableBucket::new(0), self.range);
        Ok(ranges)
    }

    async fn tiered_offsets(&self, snapshot: &lake_api::LakeSnapshot) -> lake_api::Result<BTreeMap<TableBucket, i64>> {
        self.inner.tiered_offsets(snapshot).await
    }

    async fn read(
        &self,
        bucket: &TableBucket,
        start: i64,
        stop: Option<i64>,
    ) -> lake_api::Result<lake_api::LogBatchStream> {
        self.inner.read(bucket, start, stop).await
    }
}

#[tokio::test]
async fn a_negative_or_inverted_offset_range_from_the_log_is_refused() -> lake_api::Result<()> {
    let (log, lake, _) = table().await;
    // a negative end used to plan an empty read (the bucket's rows silently missing from a
    // log-only read), an inverted range an empty one too, and a negative start a read from
    // an offset no log has
    for (earliest, end) in [(-1, 10), (0, -1), (11, 10)] {
        let misreported = Arc::new(MisreportedRange {
            inner: log.clone(),
            range: OffsetRange { earliest, end },
        });
        for lake in [None, Some(Arc::new(lake.clone()) as Arc<dyn lake_api::LakeStorage>)] {
            let table = UnionTable::new(info(), misreported.clone(), lake)?;
            let e = plan_error(&table)
                .await?
                .ok_or_else(|| lake_api::Error::invalid(format!("planned over offsets [{earliest}, {end})")))?;
            assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
            assert!(
                e.to_string().contains("bucket 0") && e.to_string().contains(&format!("[{earliest}, {end})")),
                "{e}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_key_column_missing_from_lake_batches_is_named() {
    let (log, _, _) = table().await;
    // the lake's copy of the table calls the key column "id"
    let renamed = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    let mut lake_info = info();
    lake_info.schema = renamed.clone();
    lake_info.primary_key = vec!["id".into()];
    lake_info.bucket_key = vec!["id".into()];
    let lake = MemoryLake::new();
    lake.create_table(&lake_info).unwrap();
    let rows = RecordBatch::try_new(renamed, batch(0..4).columns().to_vec()).unwrap();
    let s = lake
        .commit_files(
            &lake_info.path,
            vec![MemoryFile {
                partition: vec![],
                bucket: Some(0),
                batches: vec![rows],
                sorted: true,
            }],
            BTreeMap::new(),
        )
        .unwrap();
    log.record_tiered_offsets(s.id, BTreeMap::from([(TableBucket::new(0), 4)]))
        .unwrap();
    let table = UnionTable::new(info(), Arc::new(log), Some(Arc::new(lake))).unwrap();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let e = read_all(&scan(&table, strategy).await).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
        assert!(e.to_string().contains("column 'k' is missing"), "{e}");
    }
}

#[tokio::test]
async fn hostile_splits_are_refused() -> Result<(), Box<dyn std::error::Error>> {
    let (_, _, table) = table().await;
    let scan = scan(&table, MergeStrategy::SortMerge).await;
    let good = scan.plan().await.unwrap().remove(0);

    // bucket 7 does not exist; bucket 1 does, but the split is bucket 0's: its changes
    // would pass through bucket 0's merge unmatched
    assert_eq!(good.bucket, Some(0));
    for (bucket, stop) in [(7, 1), (1, 0)] {
        let mut wrong_bucket = good.clone();
        wrong_bucket.log_ranges = vec![lake_api::LogRange {
            bucket: TableBucket::new(bucket),
            start: 0,
            stop,
        }];
        let e = scan.read(&wrong_bucket).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains(&format!("bucket {bucket}")), "{e}");
    }

    let mut wrong_partition = good.clone();
    wrong_partition.partition = vec!["nope".into()];
    assert_eq!(
        scan.read(&wrong_partition).await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );

    let mut garbage = good.clone();
    garbage.lake_splits = vec![SerializedLakeSplit {
        version: 1,
        bytes: b"{not json".to_vec(),
    }];
    assert_eq!(scan.read(&garbage).await.unwrap_err().kind(), ErrorKind::Corrupt);

    let mut future = good.clone();
    future.lake_splits[0].version = 99;
    assert_eq!(
        scan.read(&future).await.unwrap_err().kind(),
        ErrorKind::UnsupportedVersion
    );

    // a split of another table, or a file the snapshot does not have
    let other = br#"{"table":{"database":"x","table":"y"},"snapshot_id":1,"file":0,"partition":[],"bucket":0}"#;
    let mut foreign = good.clone();
    foreign.lake_splits = vec![SerializedLakeSplit {
        version: 1,
        bytes: other.to_vec(),
    }];
    let e = scan.read(&foreign).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("x.y"), "{e}");
    let missing = br#"{"table":{"database":"bad","table":"t"},"snapshot_id":1,"file":9,"partition":[],"bucket":0}"#;
    let mut gone = good.clone();
    gone.lake_splits = vec![SerializedLakeSplit {
        version: 1,
        bytes: missing.to_vec(),
    }];
    let e = scan.read(&gone).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("no file 9"), "{e}");

    // a lake split of another bucket than its union split's would merge with the wrong log
    let mut record: serde_json::Value = serde_json::from_slice(&good.lake_splits[0].bytes).unwrap();
    let other_bucket = good.bucket.map_or(1, |b| b + 1);
    record["bucket"] = serde_json::Value::from(other_bucket);
    let mut crossed = good.clone();
    crossed.lake_splits[0].bytes = serde_json::to_vec(&record).unwrap();
    let e = scan.read(&crossed).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    // regression: so would a lake split of no bucket (all of its partition's rows) in a
    // bucket's union split: the other buckets' keys came back unchanged by their logs
    record["bucket"] = serde_json::Value::Null;
    let mut bucketless = good.clone();
    bucketless.lake_splits[0].bytes = serde_json::to_vec(&record).unwrap();
    let e = scan
        .read(&bucketless)
        .await
        .err()
        .ok_or("read a bucketless lake split")?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("bucket None"), "{e}");

    // regression: a split of one kind carrying the other side's work was read as its kind
    // alone, and that work silently lost
    assert!(!good.log_ranges.is_empty() && !good.lake_splits.is_empty());
    let mut lake_only = good.clone();
    lake_only.kind = UnionSplitKind::LakeOnly;
    let mut log_only = good.clone();
    log_only.kind = UnionSplitKind::LogOnly;
    // and a one-sided split of a table with a key, whose readers would neither fold the
    // log's changes nor merge the lake's runs
    let mut changes_only = log_only.clone();
    changes_only.lake_splits.clear();
    let cases = [
        (lake_only, "log ranges"),
        (log_only, "lake splits"),
        (changes_only, "the table has a primary key"),
    ];
    for (split, what) in cases {
        let e = scan.read(&split).await.err().ok_or_else(|| format!("read {split}"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    // and a merge over a table without a primary key (its rows have no key to merge on)
    let log_table = TableInfo::log_table(TablePath::new("bad", "events"), info().schema, 2);
    let log = MemoryLog::new(log_table.clone())?;
    log.append(&TableBucket::new(0), batch(0..3), vec![ChangeType::AppendOnly; 3])?;
    let events = UnionTable::new(log_table, Arc::new(log), None)?;
    let events = events.scan().build().await?;
    let mut merge = events.plan().await?.remove(0);
    assert_eq!(merge.kind, UnionSplitKind::LogOnly);
    merge.kind = UnionSplitKind::LakeAndLog;
    let e = events.read(&merge).await.err().ok_or("read a merge of a log table")?;
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("no primary key"), "{e}");

    // and every truncation of the envelope
    let bytes = good.to_bytes();
    for n in 0..bytes.len() {
        assert_eq!(
            UnionSplit::from_bytes(&bytes[..n]).unwrap_err().kind(),
            ErrorKind::Corrupt
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_lake_only_split_holds_one_lake_split() -> Result<(), Box<dyn std::error::Error>> {
    // a log table: its lake-only splits are read as they are, one lake split each (a table
    // with a key has none, and the split kind's check refuses them first)
    let info = TableInfo::log_table(TablePath::new("bad", "events"), info().schema, 1);
    let log = MemoryLog::new(info.clone())?;
    let b0 = TableBucket::new(0);
    log.append(&b0, batch(0..4), vec![ChangeType::AppendOnly; 4])?;
    let lake = MemoryLake::new();
    lake_api::memory::tier(&log, &lake, None).await?;
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
    let scan = table.scan().build().await?;
    let splits = scan.plan().await?;
    let one = splits
        .iter()
        .find(|s| s.kind == UnionSplitKind::LakeOnly)
        .ok_or("no lake-only split")?;
    assert_eq!(scan.read(one).await?.try_collect::<Vec<_>>().await?.len(), 1);
    // none, the one twice, and two that differ (the second names another file)
    let mut other = one.lake_splits[0].clone();
    let mut record: serde_json::Value = serde_json::from_slice(&other.bytes)?;
    record["file"] = serde_json::Value::from(99);
    other.bytes = serde_json::to_vec(&record)?;
    for (lake_splits, why) in [
        (vec![], "holds 0 lake splits, not one"),
        (vec![one.lake_splits[0].clone(); 2], "lists a lake split twice"),
        (vec![one.lake_splits[0].clone(), other], "holds 2 lake splits, not one"),
    ] {
        let mut split = one.clone();
        split.lake_splits = lake_splits;
        let e = scan.read(&split).await.err().ok_or_else(|| format!("read {split}"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains(why), "{e}");
    }
    // a split of a bucket the table does not have, its lake split saying the same: its
    // rows were read as they came, whatever bucket they are
    let mut record: serde_json::Value = serde_json::from_slice(&one.lake_splits[0].bytes)?;
    record["bucket"] = serde_json::Value::from(7);
    let mut no_such_bucket = one.clone();
    no_such_bucket.lake_splits[0].bytes = serde_json::to_vec(&record)?;
    // and the lake split alone naming it, under a split that names no bucket
    for (bucket, named) in [(Some(7), "bucket 7"), (None, "bucket Some(7)")] {
        no_such_bucket.bucket = bucket;
        let e = scan
            .read(&no_such_bucket)
            .await
            .err()
            .ok_or("read a split of bucket 7")?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains(named), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn a_lake_split_listed_twice_in_other_bytes_is_corrupt() -> Result<(), Box<dyn std::error::Error>> {
    // regression: the check compared the bytes, so the same lake split re-encoded (the
    // same JSON, other whitespace) passed, and the key filter read its rows twice
    let (_, _, table) = table().await;
    for strategy in [MergeStrategy::KeyFilter, MergeStrategy::SortMerge] {
        let scan = scan(&table, strategy).await;
        let merge = scan
            .plan()
            .await?
            .into_iter()
            .find(|s| s.kind == UnionSplitKind::LakeAndLog)
            .ok_or("no merge split")?;
        let mut again = merge.lake_splits[0].clone();
        let record: serde_json::Value = serde_json::from_slice(&again.bytes)?;
        again.bytes = serde_json::to_vec_pretty(&record)?;
        assert_ne!(again.bytes, merge.lake_splits[0].bytes);
        let mut twice = merge.clone();
        twice.lake_splits.push(again);
        let twice = UnionSplit::from_bytes(&twice.to_bytes())?;
        let e = match scan.read(&twice).await {
            Ok(rows) => rows.try_collect::<Vec<_>>().await.err(),
            Err(e) => Some(e),
        }
        .ok_or_else(|| format!("{strategy:?}: read a lake split twice"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains("lists a lake split twice"), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_are_invalid_arguments() {
    let (_, _, table) = table().await;
    let e = table.scan().project(["nope"]).build().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
    assert!(e.to_string().contains("'nope'"), "{e}");
    let e = table.scan().filter_str("k >").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = table.scan().filter_str("zz = 1").unwrap().build().await.unwrap_err();
    assert!(e.to_string().contains("zz"), "{e}");
    let e = table.scan().snapshot(77).build().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("snapshot 77"), "{e}");
}

/// Counts the files left under a directory, recursively.
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path()) + 1
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn spill_directory_is_left_empty_after_success_and_failure() {
    let (log, _, table) = table().await;
    let b0 = TableBucket::new(0);
    for i in 0..50 {
        log.append(&b0, batch(100 + i * 20..120 + i * 20), inserts(20)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = table
            .scan()
            .strategy(strategy)
            .memory_budget(1024)
            .spill_dir(dir.path())
            .build()
            .await
            .unwrap();
        let rows: usize = read_all(&scan).await.unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, 1010);
        assert_eq!(files_under(dir.path()), 0, "{strategy} left spill files behind");
    }
    // now break the log after the spilled part: the read fails and still cleans up
    log.append_raw(&b0, LogBatch::new(batch(5000..5001), inserts(1), 5000))
        .unwrap();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = table
            .scan()
            .strategy(strategy)
            .memory_budget(1024)
            .spill_dir(dir.path())
            .build()
            .await
            .unwrap();
        let e = read_all(&scan).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
        assert_eq!(
            files_under(dir.path()),
            0,
            "{strategy} left spill files behind after an error"
        );
    }
}

#[tokio::test]
async fn a_bucket_the_lake_holds_but_its_offsets_leave_out_is_refused() -> lake_api::Result<()> {
    // regression: the bucket's log was read again from its start, on top of the lake's
    // rows of it, and a log table read them twice
    let info = TableInfo::log_table(TablePath::new("bad", "log"), info().schema, 2);
    let log = MemoryLog::new(info.clone())?;
    let (b0, b1) = (TableBucket::new(0), TableBucket::new(1));
    log.append(&b0, batch(0..4), vec![ChangeType::AppendOnly; 4])?;
    log.append(&b1, batch(4..6), vec![ChangeType::AppendOnly; 2])?;
    let lake = MemoryLake::new();
    let snapshot = lake_api::memory::tier(&log, &lake, None).await?;
    log.record_tiered_offsets(snapshot.id, BTreeMap::from([(b0, 4)]))?;
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake.clone())))?;
    let e = plan_error(&table)
        .await?
        .ok_or_else(|| lake_api::Error::new(ErrorKind::Offsets, "planned a bucket the offsets do not name"))?;
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("bucket 1"), "{e}");
    // the lake alone needs no offsets
    let rows = read_all(&table.scan().mode(lake_api::ReadMode::LakeOnly).build().await?).await?;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 6);

    // a bucket the log no longer has (an expired partition's) is the lake's alone, and
    // a coordinator leaves it out of the offsets it gives
    let info = TableInfo::log_table(TablePath::new("bad", "log"), self::info().schema, 2);
    let log = MemoryLog::new(info.clone())?;
    log.append(&TableBucket::new(0), batch(0..4), vec![ChangeType::AppendOnly; 4])?;
    log.record_tiered_offsets(snapshot.id, BTreeMap::from([(TableBucket::new(0), 4)]))?;
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
    let rows = read_all(&table.scan().build().await?).await?;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 6);
    Ok(())
}

#[tokio::test]
async fn a_partition_a_bucket_unaware_lake_holds_but_its_offsets_leave_out_is_refused() -> lake_api::Result<()> {
    // regression: the partition's log was read from its start on top of the lake's rows
    // of it. Here the partition expired in the log (the offsets leave it out) and a new
    // one of the same name began at offset 0: the old lake rows merged with its changes.
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("p", DataType::Utf8, false),
    ]));
    let info = TableInfo::primary_key_table(
        TablePath::new("bad", "parts"),
        schema.clone(),
        vec!["k".into(), "p".into()],
        2,
    )
    .with_partition_keys(vec!["p".into()]);
    let rows = |keys: &[i64]| -> lake_api::Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(StringArray::from(vec!["a"; keys.len()])),
            ],
        )?)
    };
    let (a0, a1) = (
        TableBucket::partitioned(vec!["a".into()], 0),
        TableBucket::partitioned(vec!["a".into()], 1),
    );
    let old = MemoryLog::new(info.clone())?;
    old.append(&a0, rows(&[1, 2])?, inserts(2))?;
    let lake = MemoryLake::with_options(lake_api::memory::MemoryLakeOptions {
        bucket_aware: false,
        ..Default::default()
    });
    let snapshot = lake_api::memory::tier(&old, &lake, None).await?;

    let recreated = MemoryLog::new(info.clone())?;
    recreated.append(&a0, rows(&[3])?, inserts(1))?;
    recreated.record_tiered_offsets(snapshot.id, BTreeMap::new())?;
    let table = UnionTable::new(info.clone(), Arc::new(recreated), Some(Arc::new(lake.clone())))?;
    let e = plan_error(&table)
        .await?
        .ok_or_else(|| lake_api::Error::new(ErrorKind::Offsets, "planned a partition the offsets leave out"))?;
    assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
    assert!(e.to_string().contains("partition a bucket 0"), "{e}");

    // offsets naming one of its buckets say the lake saw the partition: a bucket they
    // leave out was empty when tiered, and its log is read from its start
    old.record_tiered_offsets(snapshot.id, BTreeMap::from([(a0, 2)]))?;
    old.append(&a1, rows(&[5])?, inserts(1))?;
    let table = UnionTable::new(info, Arc::new(old), Some(Arc::new(lake)))?;
    let read = read_all(&table.scan().build().await?).await?;
    assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    Ok(())
}

#[tokio::test]
async fn a_lake_only_read_needs_no_tiered_offsets() -> lake_api::Result<()> {
    // regression: a lake snapshot no log tiered (no offsets recorded) could not be read
    // even alone
    let info = info();
    let log = MemoryLog::new(info.clone())?;
    let lake = MemoryLake::new();
    lake.create_table(&info)?;
    let file = MemoryFile {
        partition: Vec::new(),
        bucket: Some(0),
        batches: vec![batch(0..3)],
        sorted: true,
    };
    lake.commit_files(&info.path, vec![file], BTreeMap::new())?;
    let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
    let e = plan_error(&table).await?;
    assert_eq!(
        e.map(|e| e.kind()),
        Some(ErrorKind::NotFound),
        "a union read needs them"
    );
    let rows = read_all(&table.scan().mode(lake_api::ReadMode::LakeOnly).build().await?).await?;
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    Ok(())
}

#[tokio::test]
async fn a_split_listing_a_log_range_or_lake_split_twice_is_refused() -> Result<(), Box<dyn std::error::Error>> {
    // regression: each copy was read, so its rows came back twice
    let (_, _, table) = table().await;
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = scan(&table, strategy).await;
        let good = scan
            .plan()
            .await?
            .into_iter()
            .find(|s| s.kind == UnionSplitKind::LakeAndLog && !s.lake_splits.is_empty() && !s.log_ranges.is_empty())
            .ok_or("no merge split")?;
        let range = good.log_ranges[0].clone();
        let mut overlapping = range.clone();
        overlapping.start = range.stop - 1;
        overlapping.stop = range.stop;
        let mut twice_read = Vec::new();
        for ranges in [vec![range.clone(), range.clone()], vec![range.clone(), overlapping]] {
            let mut split = good.clone();
            split.log_ranges = ranges;
            twice_read.push(split);
        }
        let mut split = good.clone();
        split.lake_splits.push(good.lake_splits[0].clone());
        twice_read.push(split);
        for split in twice_read {
            let e = scan.read(&split).await.err().ok_or(format!("read {split}"))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            assert!(e.to_string().contains("twice"), "{e}");
        }
        // and one bucket's ranges listed later offsets first: the later changes were
        // applied first, and the earlier ones won
        assert!(range.stop - range.start >= 2, "{range:?}");
        let mid = range.start + 1;
        let (mut first, mut last) = (range.clone(), range.clone());
        first.stop = mid;
        last.start = mid;
        let mut reversed = good.clone();
        reversed.log_ranges = vec![last, first];
        let e = scan.read(&reversed).await.err().ok_or(format!("read {reversed}"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains("out of order"), "{e}");
    }
    Ok(())
}

#[tokio::test]
async fn as_of_offsets_on_a_lake_only_read_are_refused() -> lake_api::Result<()> {
    // regression: the offsets were taken and silently ignored
    let (_, _, table) = table().await;
    let e = table
        .scan()
        .mode(lake_api::ReadMode::LakeOnly)
        .as_of_offsets(BTreeMap::from([(TableBucket::new(0), 5)]))
        .build()
        .await
        .err()
        .ok_or_else(|| lake_api::Error::invalid("built"))?;
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    Ok(())
}
