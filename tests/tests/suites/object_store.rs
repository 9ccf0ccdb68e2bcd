//! Lakes in an object store: the Paimon and Iceberg backends over an S3 server (s3s-fs on a
//! temporary directory, SigV4-authenticated, see `lakeunion_tests::s3`). Random workloads
//! are tiered into a warehouse in a bucket, read back by a second storage built from the
//! configuration alone (serialized splits), and compared with the oracle for both merge
//! strategies. `LAKEUNION_S3_CASES` sets the case count per backend (default 20; each case
//! runs both strategies).

use std::sync::Arc;

use lake_api::{ErrorKind, LakeStorage, MergeStrategy};
use lake_iceberg::{IcebergConfig, IcebergStorage};
use lake_paimon::{PaimonConfig, PaimonStorage};
use lakeunion_tests::check::case_count;
use lakeunion_tests::fixtures::{read_snapshot, small_table, tier_small_table};
use lakeunion_tests::iceberg::run_iceberg_s3_case;
use lakeunion_tests::paimon::run_paimon_s3_case;
use lakeunion_tests::s3::S3Server;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Runs `case` for random seeds and both strategies against one server, then checks that
/// the lake's files are in the bucket.
fn in_s3<F>(prefix: &str, case: F)
where
    F: AsyncFn(u64, usize, MergeStrategy, &S3Server, &str) -> Result<(), String>,
{
    let server = S3Server::start().expect("S3 server");
    server.create_bucket("lake").expect("bucket");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = Config {
        cases: case_count("LAKEUNION_S3_CASES", 20),
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config)
        .run(&(any::<u64>(), 1usize..100), |(seed, ops)| {
            for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
                rt.block_on(case(seed, ops, strategy, &server, "lake"))
                    .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let objects = server.objects("lake", "");
    assert!(
        objects.iter().any(|k| k.starts_with(prefix) && k.ends_with(".parquet")),
        "no data files under s3://lake/{prefix}*: {objects:?}"
    );
}

#[test]
fn paimon_warehouse_in_s3_equals_oracle() {
    in_s3("paimon-", run_paimon_s3_case);
}

#[test]
fn iceberg_warehouse_in_s3_equals_oracle() {
    in_s3("iceberg-", run_iceberg_s3_case);
}

/// A Paimon and an Iceberg lake in bucket `lake` of `server`, each in its own warehouse.
async fn lakes(server: &S3Server, root: &std::path::Path, keys: Keys) -> Vec<Arc<dyn LakeStorage>> {
    server.create_bucket("lake").expect("bucket");
    let mut paimon = PaimonConfig::filesystem("s3://lake/paimon");
    paimon.options = server.paimon_options();
    let mut iceberg = IcebergConfig::sql(
        format!("sqlite:{}/catalog.db?mode=rwc", root.display()),
        "s3://lake/iceberg",
    );
    iceberg.properties = server.iceberg_properties();
    if keys == Keys::Wrong {
        paimon.options.insert("s3.secret-key".into(), "not-the-secret".into());
        iceberg
            .properties
            .insert("s3.secret-access-key".into(), "not-the-secret".into());
    }
    vec![
        Arc::new(PaimonStorage::connect(paimon).await.expect("paimon")),
        Arc::new(IcebergStorage::connect(iceberg).await.expect("iceberg")),
    ]
}

#[derive(PartialEq)]
enum Keys {
    Right,
    Wrong,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_not_found_naming_table_snapshot_and_file() {
    let server = S3Server::start().expect("S3 server");
    let dir = tempfile::tempdir().expect("tempdir");
    for lake in lakes(&server, dir.path(), Keys::Right).await {
        let snapshot = tier_small_table(lake.as_ref(), "{}").await;
        let (got, _) = read_snapshot(lake.as_ref(), lake.as_ref(), &small_table().path, snapshot)
            .await
            .expect("read");
        assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
        let data = server
            .objects("lake", "")
            .into_iter()
            .filter(|k| k.ends_with(".parquet"))
            .collect::<Vec<_>>();
        let victim = data.first().expect("a data file in the bucket").clone();
        std::fs::remove_file(server.object_path("lake", &victim)).expect("remove");
        let e = read_snapshot(lake.as_ref(), lake.as_ref(), &small_table().path, snapshot)
            .await
            .expect_err("a missing object");
        let text = e.to_string();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{text}");
        let name = victim.rsplit('/').next().expect("a name");
        assert!(text.contains("bad.t") && text.contains(name), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_not_taken_for_a_missing_table() {
    let server = S3Server::start().expect("S3 server");
    let dir = tempfile::tempdir().expect("tempdir");
    let tiered = lakes(&server, dir.path(), Keys::Right).await;
    for lake in &tiered {
        tier_small_table(lake.as_ref(), "{}").await;
    }
    for lake in lakes(&server, dir.path(), Keys::Wrong).await {
        let e = lake
            .list_snapshots(&small_table().path)
            .await
            .expect_err("a wrong secret");
        let text = e.to_string();
        assert_ne!(e.kind(), ErrorKind::NotFound, "{text}");
        assert!(text.contains("bad.t"), "{text}");
    }
}

/// A REST catalog whose warehouse is a name (`prod`), not a URI, with its tables in S3: the
/// table's files are read from S3, where its metadata says they are. (Before, the file IO
/// was picked from the warehouse alone, and a name meant the local disk.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_catalog_with_a_named_warehouse_reads_tables_kept_in_s3() {
    let server = S3Server::start().expect("S3 server");
    server.create_bucket("lake").expect("bucket");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sql = IcebergConfig::sql(
        format!("sqlite:{}/catalog.db?mode=rwc", dir.path().display()),
        "s3://lake/iceberg",
    );
    sql.properties = server.iceberg_properties();
    let tiered = IcebergStorage::connect(sql).await.expect("iceberg");
    let path = small_table().path;
    let snapshot = tier_small_table(&tiered, "{}").await;
    let (want, _) = read_snapshot(&tiered, &tiered, &path, snapshot).await.expect("read");

    // the table as a REST catalog serves it: its newest metadata file, in the bucket
    let key = server
        .objects("lake", "")
        .into_iter()
        .filter(|k| k.ends_with(".metadata.json"))
        .max()
        .expect("a metadata file");
    let text = std::fs::read_to_string(server.object_path("lake", &key)).expect("metadata");
    let metadata: serde_json::Value = serde_json::from_str(&text).expect("json");
    let tables = [(path.table.clone(), (format!("s3://lake/{key}"), metadata))].into();
    let uri = lakeunion_tests::iceberg::serve_rest_catalog(&path.database, tables)
        .await
        .expect("serve");
    let mut rest = IcebergConfig::rest(uri, "prod");
    rest.properties = server.iceberg_properties();
    let lake = IcebergStorage::connect(rest).await.expect("rest catalog");
    let (got, _) = read_snapshot(&lake, &lake, &path, snapshot)
        .await
        .expect("read through the REST catalog");
    let rows = |batches: &[arrow::array::RecordBatch]| {
        arrow::util::pretty::pretty_format_batches(batches)
            .expect("format")
            .to_string()
    };
    assert_eq!(rows(&got), rows(&want));
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
}
