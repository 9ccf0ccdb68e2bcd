//! Paimon tables whose readers skip level-0 files until a compaction (deletion vectors,
//! Paimon's `first-row` engine). A union read pairs a snapshot's tiered offsets with every
//! row it committed, level 0 included, and a coordinator's readable offsets with the rows
//! Paimon's readers see.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use fluss_client::local::{LocalLog, LocalLogOptions};
use fluss_client::tiering::{TierOptions, Tierer};
use futures::TryStreamExt;
use lake_api::{
    ChangeType, LakeSnapshot, LakeStorage, LogSource, MergeEngine, MergeStrategy, SnapshotView, TableBucket, TableInfo,
    TablePath, UnionTable,
};
use lake_paimon::{PaimonConfig, PaimonStorage};
use lakeunion_tests::fixtures::{small_table, sorted_column};
use lakeunion_tests::paimon::compacted_case;
use lakeunion_tests::paimon_compact::{
    Compacted, Compaction, MAX_LEVEL, PaimonCompactor, ReadableLog, every_level, plan_every_level,
};
use lakeunion_tests::remote::{ServedLog, serve};

use ChangeType::*;

/// [`small_table`] as `levels.<name>`, with `properties`.
fn table(name: &str, engine: MergeEngine, properties: &[(&str, &str)]) -> TableInfo {
    let mut info = small_table().with_merge_engine(engine);
    info.path = TablePath::new("levels", name);
    info.properties = properties.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    info
}

/// Rows of [`small_table`]: `(k, v)`.
fn rows(rows: &[(i64, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        small_table().schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .expect("batch")
}

/// Appends `changes` to bucket 0, one row each.
fn append(log: &LocalLog, changes: &[Change<'_>]) {
    for (change, k, v) in changes {
        log.append(&TableBucket::new(0), rows(&[(*k, v)]), vec![*change])
            .expect("append");
    }
}

/// A Paimon warehouse and a LocalLog of `info` under `root`.
async fn lake_and_log(root: &Path, info: &TableInfo) -> (Arc<PaimonStorage>, LocalLog) {
    let lake = PaimonStorage::connect(PaimonConfig::filesystem(root.join("lake")))
        .await
        .expect("lake");
    let log = LocalLog::create(&root.join("log"), info, LocalLogOptions::default()).expect("log");
    (Arc::new(lake), log)
}

/// The `(k, v)` rows of `batches`, sorted.
fn pairs(batches: &[RecordBatch]) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in batches {
        let k = b.column_by_name("k").expect("k");
        let v = b.column_by_name("v").expect("v");
        let k = k.as_any().downcast_ref::<Int64Array>().expect("BIGINT k");
        let v = v.as_any().downcast_ref::<StringArray>().expect("STRING v");
        out.extend((0..b.num_rows()).map(|i| (k.value(i), v.value(i).to_string())));
    }
    out.sort();
    out
}

fn expect(rows: &[(i64, &str)]) -> Vec<(i64, String)> {
    rows.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The keys a source of the table planned under `view` reads from its latest snapshot.
async fn lake_keys(lake: &PaimonStorage, path: &TablePath, view: SnapshotView) -> Vec<i64> {
    let mut source = lake.create_lake_source(path).await.expect("source");
    source.with_view(view).expect("view");
    let snapshot = lake
        .latest_snapshot(path)
        .await
        .expect("snapshots")
        .expect("a snapshot");
    let mut batches = Vec::new();
    for split in source
        .create_planner(snapshot.id)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan")
    {
        let read: Vec<RecordBatch> = source
            .create_reader(split)
            .await
            .expect("reader")
            .read()
            .await
            .expect("read")
            .try_collect()
            .await
            .expect("rows");
        batches.extend(read);
    }
    sorted_column(&batches, "k")
}

/// The rows of a union read with each strategy, which must agree.
async fn union_rows(table: &UnionTable) -> Vec<(i64, String)> {
    let mut seen = Vec::new();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let scan = table.scan().strategy(strategy).build().await.expect("scan");
        seen.push(pairs(&scan.collect().await.expect("read")));
    }
    assert_eq!(seen[0], seen[1], "the strategies disagree");
    seen.swap_remove(0)
}

/// One change of one row: `(change, k, v)`.
type Change<'a> = (ChangeType, i64, &'a str);

/// `info`'s log with two tiered rounds of changes into a Paimon lake, then a log tail.
async fn tiered_twice(
    root: &Path,
    info: &TableInfo,
    rounds: [&[Change<'_>]; 2],
    tail: &[Change<'_>],
) -> (Arc<PaimonStorage>, LocalLog) {
    let (lake, log) = lake_and_log(root, info).await;
    let tierer = Tierer::new(log.clone(), lake.clone());
    for round in rounds {
        append(&log, round);
        tierer.tier(&TierOptions::default()).await.expect("tier");
    }
    append(&log, tail);
    (lake, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_vector_tables_union_read_their_level_zero_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let option = ("deletion-vectors.enabled", "true");
    let info = table(
        "dv",
        MergeEngine::Deduplicate,
        &[("paimon.deletion-vectors.enabled", option.1)],
    );
    let (lake, log) = tiered_twice(
        dir.path(),
        &info,
        [
            &[(Insert, 0, "a"), (Insert, 1, "a"), (Insert, 2, "a"), (Insert, 3, "a")],
            &[
                (UpdateBefore, 1, "a"),
                (UpdateAfter, 1, "b"),
                (Delete, 2, "a"),
                (Insert, 4, "b"),
            ],
        ],
        &[
            (Delete, 0, "a"),
            (UpdateBefore, 3, "a"),
            (UpdateAfter, 3, "c"),
            (Insert, 5, "c"),
        ],
    )
    .await;
    let expected = expect(&[(1, "b"), (3, "c"), (4, "b"), (5, "c")]);
    check_level_zero(&lake, log, &info, option, &[0, 1, 3, 4], expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paimon_first_row_tables_union_read_their_level_zero_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let option = ("merge-engine", "first-row");
    let info = table("first_row", MergeEngine::FirstRow, &[("paimon.merge-engine", option.1)]);
    // a key's first row stays, retractions change nothing
    let (lake, log) = tiered_twice(
        dir.path(),
        &info,
        [
            &[(Insert, 0, "a"), (Insert, 1, "a")],
            &[(Insert, 1, "b"), (Delete, 0, "a"), (Delete, 7, "b"), (Insert, 2, "b")],
        ],
        &[(Insert, 2, "c"), (Insert, 3, "c")],
    )
    .await;
    let expected = expect(&[(0, "a"), (1, "a"), (2, "b"), (3, "c")]);
    check_level_zero(&lake, log, &info, option, &[0, 1, 2], expected).await;
}

/// Checks a table whose tiered rounds all sit in level 0: it has the Paimon `option`,
/// Paimon's readers see none of its rows while the committed view sees `committed_keys`,
/// and the union read with each strategy returns `expected`.
async fn check_level_zero(
    lake: &Arc<PaimonStorage>,
    log: LocalLog,
    info: &TableInfo,
    option: (&str, &str),
    committed_keys: &[i64],
    expected: Vec<(i64, String)>,
) {
    let options = lake.table_info(&info.path).await.expect("info").properties;
    assert_eq!(options.get(option.0).map(String::as_str), Some(option.1));
    assert_eq!(
        lake_keys(lake, &info.path, SnapshotView::Readable).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        lake_keys(lake, &info.path, SnapshotView::Committed).await,
        committed_keys
    );
    let union =
        UnionTable::new(info.clone(), Arc::new(log), Some(lake.clone() as Arc<dyn LakeStorage>)).expect("table");
    assert_eq!(union_rows(&union).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paimon_options_that_change_the_merge_or_the_buckets_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let versioned = MergeEngine::Versioned { column: "k".into() };
    let refused = [
        (
            "dedup_first_row",
            MergeEngine::Deduplicate,
            "paimon.merge-engine",
            "first-row",
        ),
        (
            "versioned_first_row",
            versioned.clone(),
            "paimon.merge-engine",
            "first-row",
        ),
        (
            "first_row_partial",
            MergeEngine::FirstRow,
            "paimon.merge-engine",
            "partial-update",
        ),
        ("dedup_sequence", MergeEngine::Deduplicate, "paimon.sequence.field", "v"),
        ("versioned_sequence", versioned, "paimon.sequence.field", "v"),
        (
            "ignore_delete",
            MergeEngine::Deduplicate,
            "paimon.ignore-delete",
            "true",
        ),
        (
            "dedup_ignore_delete",
            MergeEngine::Deduplicate,
            "paimon.deduplicate.ignore-delete",
            "true",
        ),
        (
            "merge_on_read",
            MergeEngine::Deduplicate,
            "paimon.deletion-vectors.merge-on-read",
            "true",
        ),
        (
            "bucket_function",
            MergeEngine::Deduplicate,
            "paimon.bucket-function.type",
            "mod",
        ),
        ("buckets", MergeEngine::Deduplicate, "paimon.bucket", "4"),
    ];
    for (name, engine, key, value) in refused {
        let info = table(name, engine, &[(key, value)]);
        let (lake, _log) = lake_and_log(&dir.path().join(name), &info).await;
        let err = lake.create_lake_writer(&info).await.err().expect("refused");
        assert_eq!(err.kind(), lake_api::ErrorKind::InvalidArgument, "{name}: {err}");
        assert!(err.to_string().contains(&info.path.to_string()), "{name}: {err}");
        assert!(err.to_string().contains(key), "{name}: {err}");
    }
    // storage options are taken
    let info = table(
        "taken",
        MergeEngine::Deduplicate,
        &[("paimon.file.compression", "zstd")],
    );
    let (lake, _log) = lake_and_log(&dir.path().join("taken"), &info).await;
    lake.create_lake_writer(&info).await.expect("taken");
    let options = lake.table_info(&info.path).await.expect("info").properties;
    assert_eq!(options.get("file.compression").map(String::as_str), Some("zstd"));
}

/// Keys 0..3 of `info` tiered into a Paimon lake as one snapshot (bucket 0's offsets
/// 0..3), a log tail deleting key 1 and inserting key 3, and the log served by a test
/// coordinator that knows the snapshot.
async fn served_after_one_round(root: &Path, info: &TableInfo) -> (UnionTable, Arc<ServedLog>, LakeSnapshot) {
    let (lake, log) = lake_and_log(root, info).await;
    let tierer = Tierer::new(log.clone(), lake.clone());
    append(&log, &[(Insert, 0, "a"), (Insert, 1, "a"), (Insert, 2, "a")]);
    let snapshot = tierer.tier(&TierOptions::default()).await.expect("tier");
    append(&log, &[(Delete, 1, "a"), (Insert, 3, "b")]);
    let served = Arc::new(serve(vec![log]).await.expect("serve"));
    served
        .server
        .publish_lake_snapshot(&info.path, &snapshot)
        .await
        .expect("publish");
    let union = UnionTable::new(info.clone(), served.clone(), Some(lake as Arc<dyn LakeStorage>)).expect("table");
    (union, served, snapshot)
}

/// A coordinator that keeps readable offsets for a deletion-vector table (nothing compacted
/// yet: nothing readable) makes the union read skip level 0 and take the log from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinators_readable_offsets_pair_with_the_readable_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = table(
        "dv_remote",
        MergeEngine::Deduplicate,
        &[("paimon.deletion-vectors.enabled", "true")],
    );
    let (union, served, snapshot) = served_after_one_round(dir.path(), &info).await;
    let bucket = TableBucket::new(0);
    let expected = expect(&[(0, "a"), (2, "a"), (3, "b")]);

    // readable offsets equal to the tiered ones: the committed rows, the log from offset 3
    assert_eq!(served.readable_offsets(&snapshot).await.expect("offsets"), None);
    assert_eq!(log_starts(&union, None).await, vec![(1, 3)]);
    assert_eq!(union_rows(&union).await, expected);

    // readable offsets of 0 (nothing compacted): no lake rows, every change from the log
    let none_readable = BTreeMap::from([(bucket.clone(), 0)]);
    served
        .server
        .set_readable_offsets(&info.path, snapshot.id, none_readable.clone())
        .expect("readable");
    assert_eq!(
        served.readable_offsets(&snapshot).await.expect("offsets"),
        Some(none_readable)
    );
    assert_eq!(log_starts(&union, None).await, vec![(0, 0)]);
    assert_eq!(union_rows(&union).await, expected);
    // a snapshot the caller names pairs with its tiered offsets, whatever is readable
    assert_eq!(log_starts(&union, Some(snapshot.id)).await, vec![(1, 3)]);
}

/// Readable offsets of a table whose readers see every committed row pair with nothing:
/// the read takes the snapshot's tiered offsets (the rows below them are all in the lake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_offsets_of_a_table_with_one_view_are_not_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = table("plain_remote", MergeEngine::Deduplicate, &[]);
    let (union, served, snapshot) = served_after_one_round(dir.path(), &info).await;
    served
        .server
        .set_readable_offsets(&info.path, snapshot.id, BTreeMap::from([(TableBucket::new(0), 1)]))
        .expect("readable");
    assert!(served.readable_offsets(&snapshot).await.expect("offsets").is_some());
    assert_eq!(log_starts(&union, None).await, vec![(1, 3)]);
    assert_eq!(union_rows(&union).await, expect(&[(0, "a"), (2, "a"), (3, "b")]));
}

/// Each planned split's number of lake splits and where its log range starts.
async fn log_starts(table: &UnionTable, snapshot: Option<i64>) -> Vec<(usize, i64)> {
    let mut scan = table.scan();
    if let Some(id) = snapshot {
        scan = scan.snapshot(id);
    }
    let scan = scan.build().await.expect("scan");
    scan.plan()
        .await
        .expect("plan")
        .iter()
        .map(|s| {
            (
                s.lake_splits.len(),
                s.log_ranges.iter().map(|r| r.start).min().expect("a log range"),
            )
        })
        .collect()
}

/// A deletion-vector table compacted as Paimon compacts it: a full compaction, then two
/// by deletion vectors (each leaving a new run and marking the rows it replaces in the
/// older runs), then a round left in level 0. Paimon's readers see the compacted rows
/// only, with the deleted ones gone; a union read returns the same rows from either view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_deletion_vector_tables_union_read_in_both_views() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = table(
        "dv_compacted",
        MergeEngine::Deduplicate,
        &[("paimon.deletion-vectors.enabled", "true")],
    );
    let (lake, log) = lake_and_log(dir.path(), &info).await;
    let tierer = Tierer::new(log.clone(), lake.clone());
    let compactor = PaimonCompactor::new(lake.clone(), info.path.clone());
    let tier = async |changes: &[Change<'_>]| tier_changes(&log, &tierer, changes).await;

    tier(&[
        (Insert, 0, "a"),
        (Insert, 1, "a"),
        (Insert, 2, "a"),
        (Insert, 3, "a"),
        (Insert, 4, "a"),
        (Insert, 5, "a"),
    ])
    .await;
    let full = compactor.compact(Compaction::Full, |_| true).await.expect("full");
    assert_eq!(
        full,
        Compacted {
            buckets: 1,
            deleted_rows: 0
        }
    );
    assert_eq!(levels(&lake, &info.path).await, vec![MAX_LEVEL]);

    tier(&[
        (UpdateBefore, 1, "a"),
        (UpdateAfter, 1, "b"),
        (Delete, 2, "a"),
        (Insert, 7, "b"),
    ])
    .await;
    let by_vectors = compactor.compact(Compaction::LevelZero, |_| true).await.expect("dv");
    // keys 1 and 2 of the top run
    assert_eq!(
        by_vectors,
        Compacted {
            buckets: 1,
            deleted_rows: 2
        }
    );
    assert_eq!(levels(&lake, &info.path).await, vec![MAX_LEVEL - 1, MAX_LEVEL]);

    let readable = tier(&[
        (UpdateBefore, 1, "b"),
        (UpdateAfter, 1, "c"),
        (Delete, 7, "b"),
        (UpdateBefore, 3, "a"),
        (UpdateAfter, 3, "c"),
    ])
    .await;
    let again = compactor
        .compact(Compaction::LevelZero, |_| true)
        .await
        .expect("dv again");
    let compacted = latest_id(&lake, &info.path).await;
    // key 3 of the top run (key 1 was deleted there already), keys 1 and 7 of the next
    assert_eq!(
        again,
        Compacted {
            buckets: 1,
            deleted_rows: 3
        }
    );
    assert_eq!(
        levels(&lake, &info.path).await,
        vec![MAX_LEVEL - 2, MAX_LEVEL - 1, MAX_LEVEL]
    );
    assert_eq!(
        readable_rows(&lake, &info.path).await,
        expect(&[(0, "a"), (1, "c"), (3, "c"), (4, "a"), (5, "a")])
    );

    tier(&[(Delete, 4, "a"), (UpdateBefore, 5, "a"), (UpdateAfter, 5, "d")]).await;
    append(&log, &[(UpdateBefore, 0, "a"), (UpdateAfter, 0, "e"), (Insert, 8, "e")]);
    let expected = expect(&[(0, "e"), (1, "c"), (3, "c"), (5, "d"), (8, "e")]);
    let keys = ([0, 1, 3, 4, 5].as_slice(), [0, 1, 3, 5].as_slice());
    check_compacted(&lake, log, &info, (compacted, readable), keys, expected).await;
}

/// The levels of the data files the latest snapshot of a table holds, sorted.
async fn levels(lake: &PaimonStorage, path: &TablePath) -> Vec<i32> {
    let table = lake.load_table(path).await.expect("table");
    let plan = plan_every_level(&every_level(&table)).await.expect("plan");
    let mut levels: Vec<i32> = plan
        .splits()
        .iter()
        .flat_map(|s| s.data_files().iter().map(|f| f.level))
        .collect();
    levels.sort();
    levels
}

/// The `(k, v)` rows Paimon's own reader returns for the latest snapshot (level 0 skipped,
/// deletion vectors applied).
async fn readable_rows(lake: &PaimonStorage, path: &TablePath) -> Vec<(i64, String)> {
    let table = lake.load_table(path).await.expect("table");
    let read = table.new_read_builder();
    let plan = read.new_scan().plan().await.expect("plan");
    let batches: Vec<RecordBatch> = read
        .new_read()
        .expect("read")
        .to_arrow(plan.splits())
        .expect("stream")
        .try_collect()
        .await
        .expect("rows");
    pairs(&batches)
}

/// A Paimon `first-row` table compacted as Paimon compacts it: the new run of a level-0
/// compaction holds only keys the older run lacks, and Paimon's readers read the runs raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_first_row_tables_union_read_in_both_views() {
    let dir = tempfile::tempdir().expect("tempdir");
    let info = table(
        "first_row_compacted",
        MergeEngine::FirstRow,
        &[("paimon.merge-engine", "first-row")],
    );
    let (lake, log) = lake_and_log(dir.path(), &info).await;
    let tierer = Tierer::new(log.clone(), lake.clone());
    let compactor = PaimonCompactor::new(lake.clone(), info.path.clone());
    let tier = async |changes: &[Change<'_>]| tier_changes(&log, &tierer, changes).await;

    tier(&[(Insert, 0, "a"), (Insert, 1, "a")]).await;
    compactor.compact(Compaction::Full, |_| true).await.expect("full");
    let readable = tier(&[(Insert, 1, "b"), (Insert, 2, "b")]).await;
    let level_zero = compactor
        .compact(Compaction::LevelZero, |_| true)
        .await
        .expect("level 0");
    let compacted = latest_id(&lake, &info.path).await;
    assert_eq!(
        level_zero,
        Compacted {
            buckets: 1,
            deleted_rows: 0
        }
    );
    assert_eq!(levels(&lake, &info.path).await, vec![MAX_LEVEL - 1, MAX_LEVEL]);
    assert_eq!(
        readable_rows(&lake, &info.path).await,
        expect(&[(0, "a"), (1, "a"), (2, "b")])
    );

    tier(&[(Insert, 3, "c"), (Insert, 0, "c")]).await;
    append(&log, &[(Insert, 2, "d"), (Insert, 4, "d")]);
    let expected = expect(&[(0, "a"), (1, "a"), (2, "b"), (3, "c"), (4, "d")]);
    let keys = ([0, 1, 2].as_slice(), [0, 1, 2, 3].as_slice());
    check_compacted(&lake, log, &info, (compacted, readable), keys, expected).await;
}

/// Checks a compacted table whose last compaction committed snapshot `readable.0`, with
/// readable offsets `readable.1` (bucket 0's): Paimon's readers see `keys.0`, the committed
/// rows are `keys.1`, and the union read returns `expected` through the snapshot's tiered
/// offsets and through the coordinator's readable snapshot (the log from its offset).
async fn check_compacted(
    lake: &Arc<PaimonStorage>,
    log: LocalLog,
    info: &TableInfo,
    readable: (i64, BTreeMap<TableBucket, i64>),
    keys: (&[i64], &[i64]),
    expected: Vec<(i64, String)>,
) {
    assert_eq!(lake_keys(lake, &info.path, SnapshotView::Readable).await, keys.0);
    assert_eq!(lake_keys(lake, &info.path, SnapshotView::Committed).await, keys.1);
    let lake = lake.clone() as Arc<dyn LakeStorage>;
    let committed = UnionTable::new(info.clone(), Arc::new(log.clone()), Some(lake.clone())).expect("table");
    assert_eq!(union_rows(&committed).await, expected);
    let start = readable.1[&TableBucket::new(0)];
    let coordinator = ReadableLog {
        inner: Arc::new(log),
        snapshot: Some(readable.0),
        readable: readable.1,
    };
    let union = UnionTable::new(info.clone(), Arc::new(coordinator), Some(lake)).expect("table");
    assert_eq!(log_starts(&union, None).await, vec![(1, start)]);
    assert_eq!(union_rows(&union).await, expected);
}

/// The id of the latest snapshot of a table.
async fn latest_id(lake: &PaimonStorage, path: &TablePath) -> i64 {
    lake.latest_snapshot(path)
        .await
        .expect("snapshots")
        .expect("a snapshot")
        .id
}

/// The compacted property suites reach what they are for: deletion vectors, and readable
/// rows that lag the committed ones (level 0 over compacted runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_cases_reach_deletion_vectors_and_level_zero() {
    let cases = 40;
    let mut reached = Vec::new();
    for seed in 0..cases {
        let case = compacted_case(seed, 30 + 2 * seed as usize, MergeStrategy::SortMerge)
            .await
            .expect("case");
        reached.push(case);
    }
    let vectors = reached.iter().filter(|c| c.deletion_vectors).count();
    let behind = reached.iter().filter(|c| c.readable_behind).count();
    eprintln!("of {cases} cases: {vectors} deleted rows by deletion vectors, {behind} read readable rows behind");
    assert!(
        vectors * 4 >= cases as usize,
        "{vectors} of {cases} cases reached deletion vectors"
    );
    assert!(
        behind * 3 >= cases as usize,
        "{behind} of {cases} cases read readable rows behind"
    );
}

/// Appends `changes` and tiers them: the snapshot's tiered offsets.
async fn tier_changes(log: &LocalLog, tierer: &Tierer, changes: &[Change<'_>]) -> BTreeMap<TableBucket, i64> {
    append(log, changes);
    let snapshot = tierer.tier(&TierOptions::default()).await.expect("tier");
    log.tiered_offsets(&snapshot).await.expect("offsets")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_table_that_ignores_deletes_is_not_tiered_into() -> Result<(), Box<dyn std::error::Error>> {
    // regression: only tables created here were checked; one another engine created with
    // `ignore-delete` took the round's `-D` rows and dropped them, so deleted rows came back
    let dir = tempfile::tempdir()?;
    for (key, engine) in [
        ("ignore-delete", MergeEngine::Deduplicate),
        ("deduplicate.ignore-delete", MergeEngine::Deduplicate),
        // a first-row round writes no deletes: Paimon's first-row tables often carry it
        ("ignore-delete", MergeEngine::FirstRow),
    ] {
        let first_row = engine == MergeEngine::FirstRow;
        let properties: &[(&str, &str)] = match first_row {
            true => &[("paimon.merge-engine", "first-row")],
            false => &[],
        };
        let name = format!("{}_{first_row}", key.replace(['.', '-'], "_"));
        let info = table(&name, engine, properties);
        let root = dir.path().join(&name);
        let (lake, _log) = lake_and_log(&root, &info).await;
        drop(lake.create_lake_writer(&info).await?);
        let mut schemas = walk(&root)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("schema-"))
            })
            .collect::<Vec<_>>();
        schemas.sort();
        let schema_file = schemas.last().ok_or("no schema file")?;
        let mut schema: serde_json::Value = serde_json::from_slice(&std::fs::read(schema_file)?)?;
        schema["options"][key] = "TRUE".into();
        std::fs::write(schema_file, schema.to_string())?;
        if first_row {
            drop(lake.create_lake_writer(&info).await?);
            continue;
        }
        let e = lake.create_lake_writer(&info).await.err().ok_or("a writer")?;
        assert_eq!(e.kind(), lake_api::ErrorKind::Unsupported, "{key}: {e}");
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
    Ok(())
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
