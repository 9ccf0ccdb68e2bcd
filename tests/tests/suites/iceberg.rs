//! The Iceberg backend against tables pyiceberg wrote (`tests/fixtures/iceberg`), and
//! against bad input: missing and corrupt data files, unknown snapshots, hostile splits,
//! malformed offsets, a table that no longer matches its log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use futures::TryStreamExt;
use lake_api::types::LogicalType;
use lake_api::{ErrorKind, LakeStorage, TablePath};
use lake_iceberg::{IcebergConfig, IcebergSplit, IcebergStorage};
use lakeunion_tests::fixtures::{
    assert_fixture_rows, assert_unknown_table_not_found, copy_dir, expected, fixture_dir, ids, plan, read_snapshot,
    read_split, rows_as_json, union_read,
};
use serde_json::Value;
use tokio::sync::OnceCell;

/// Where pyiceberg wrote the fixture: its metadata names absolute paths under it.
const WRITE_ROOT: &str = "/tmp/lakeunion-fixtures/iceberg";

/// The fixture warehouse at the path its metadata names (copied once per process).
async fn fixture_config() -> IcebergConfig {
    static COPIED: OnceCell<()> = OnceCell::const_new();
    COPIED
        .get_or_init(|| async {
            let root = Path::new(WRITE_ROOT);
            let _ = std::fs::remove_dir_all(root);
            copy_dir(&fixture_dir("iceberg").join("warehouse"), &root.join("warehouse"));
        })
        .await;
    IcebergConfig::sqlite(format!("{WRITE_ROOT}/warehouse")).with_catalog_name("fixtures")
}

/// Planning the same snapshot twice gives the same splits in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_the_same_each_time() -> lake_api::Result<()> {
    let lake = IcebergStorage::connect(fixture_config().await).await?;
    for name in ["events", "orders"] {
        lakeunion_tests::fixtures::plans_repeat(&lake, &TablePath::new("fixtures", name)).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_pyiceberg_fixture() {
    let expected = expected("iceberg");
    let config = fixture_config().await;
    let lake = IcebergStorage::connect(config.clone()).await.expect("catalog");
    let worker = IcebergStorage::connect(config).await.expect("worker catalog");
    for name in ["events", "orders"] {
        let table = &expected["tables"][name];
        let path = TablePath::new("fixtures", name);

        let info = lake.table_info(&path).await.expect("table info");
        assert_eq!(info.partition_keys, vec!["dt".to_string()], "{name}");
        assert_eq!(info.bucket_count, 2, "{name}");
        assert_eq!(info.bucket_key, vec!["id".to_string()], "{name}");

        let snapshots = lake.list_snapshots(&path).await.expect("snapshots");
        let commits: Vec<i64> = table["commits"]
            .as_array()
            .expect("commits")
            .iter()
            .map(|c| c["snapshot_id"].as_i64().expect("id"))
            .collect();
        assert_eq!(snapshots.iter().map(|s| s.id).collect::<Vec<_>>(), commits, "{name}");
        let current = table["current_snapshot_id"].as_i64().expect("current");
        let latest = lake.latest_snapshot(&path).await.expect("latest").expect("a snapshot");
        assert_eq!(latest.id, current);
        assert_eq!(
            latest.properties.get("fluss-offsets").map(String::as_str),
            expected["fluss_offsets_property"]["value"].as_str(),
            "{name}"
        );

        let (batches, splits) = read_snapshot(&lake, &worker, &path, current).await.expect("read");
        assert_fixture_rows(&batches, table, name);

        // splits carry the partition and bucket pyiceberg wrote each row to
        if name == "orders" {
            let mut by_partition: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            let source = lake.create_lake_source(&path).await.expect("source");
            for split in &splits {
                let key = format!(
                    "dt={}/id_bucket={}",
                    split.partition().join(","),
                    split.bucket().expect("bucket-aware")
                );
                let got = read_split(source.as_ref(), split.clone()).await.expect("batches");
                by_partition.entry(key).or_default().extend(ids(&got));
            }
            for v in by_partition.values_mut() {
                v.sort_unstable();
            }
            let want: BTreeMap<String, Vec<i64>> = serde_json::from_value(table["partition_ids"].clone()).expect("ids");
            assert_eq!(by_partition, want);

            let embedding = info.schema.field_with_name("embedding").expect("embedding");
            assert_eq!(
                LogicalType::of(embedding),
                LogicalType::Vector {
                    element: DataType::Float32,
                    dimension: 4
                }
            );
            assert_eq!(info.primary_key, vec!["id".to_string()]);

            // the snapshot before the update round still holds the original rows
            let before = table["snapshot_before_update_round"].as_i64().expect("before");
            let (batches, _) = read_snapshot(&lake, &worker, &path, before).await.expect("read before");
            assert_eq!(
                rows_as_json(&batches),
                table["initial_rows"].as_array().expect("initial rows").clone()
            );
        }

        // the same table straight from its metadata file, without a catalog
        let location = table["metadata_location"].as_str().expect("metadata location");
        let static_lake = IcebergStorage::connect(IcebergConfig::metadata_file(location))
            .await
            .expect("metadata file");
        let (batches, _) = read_snapshot(&static_lake, &static_lake, &path, current)
            .await
            .expect("read from the metadata file");
        assert_fixture_rows(&batches, table, name);
        let err = static_lake
            .create_lake_writer(&info)
            .await
            .err()
            .expect("a metadata-file table is read-only");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_projection_and_limit_push_down_to_the_fixture() {
    let config = fixture_config().await;
    let lake = IcebergStorage::connect(config).await.expect("catalog");
    let path = TablePath::new("fixtures", "orders");
    let snapshot = lake.latest_snapshot(&path).await.expect("latest").expect("snapshot").id;
    let mut source = lake.create_lake_source(&path).await.expect("source");
    let pushed = source.with_filters(vec![
        lake_api::predicate::col("id").gt(6),
        lake_api::predicate::col("embedding").is_null(),
    ]);
    assert_eq!(pushed.accepted, vec![lake_api::predicate::col("id").gt(6)]);
    assert_eq!(pushed.remaining, vec![lake_api::predicate::col("embedding").is_null()]);
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

    // a limit without filters prunes whole files from the plan
    let mut limited = lake.create_lake_source(&path).await.expect("source");
    limited.with_limit(1);
    let few = limited
        .create_planner(snapshot)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan");
    let all = lake
        .create_lake_source(&path)
        .await
        .expect("source")
        .create_planner(snapshot)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan");
    assert!(few.len() < all.len(), "{} of {}", few.len(), all.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_and_unknown_input_is_refused() {
    let config = fixture_config().await;
    let lake = IcebergStorage::connect(config).await.expect("catalog");
    let path = TablePath::new("fixtures", "orders");
    let source = lake.create_lake_source(&path).await.expect("source");

    let err = source.create_planner(42).await.err().expect("unknown snapshot");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains("fixtures.orders") && err.to_string().contains("42"),
        "{err}"
    );

    assert_unknown_table_not_found(&lake).await;

    // a split naming a file outside the table
    let snapshot = lake.latest_snapshot(&path).await.expect("latest").expect("snapshot").id;
    let split = source
        .create_planner(snapshot)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan")[0]
        .clone();
    let serializer = source.split_serializer();
    let bytes = serializer.serialize(split.as_ref()).expect("bytes");
    let text = String::from_utf8(bytes).expect("json");
    let file = split
        .as_any()
        .downcast_ref::<IcebergSplit>()
        .expect("iceberg split")
        .data_file()
        .to_string();
    let hostile = text.replace(&file, "file:///etc/passwd");
    let hostile = serializer
        .deserialize(serializer.version(), hostile.as_bytes())
        .expect("parses");
    let err = source.create_reader(hostile).await.err().expect("outside the table");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("/etc/passwd"), "{err}");

    // a v3 deletion vector: the crate cannot apply it, so it must not be skipped silently
    let with_dv = text.replace(
        "\"deletes\":[]",
        &format!(
            "\"deletes\":[{{\"file_path\":\"{}\",\"file_size_in_bytes\":10,\"file_type\":\"PositionDeletes\",\"partition_spec_id\":0,\"equality_ids\":null}}]",
            file.replace("data/", "data/dv-").replace(".parquet", ".puffin")
        ),
    );
    assert_ne!(with_dv, text, "the split record has a deletes list");
    let with_dv = serializer
        .deserialize(serializer.version(), with_dv.as_bytes())
        .expect("parses");
    let err = source.create_reader(with_dv).await.err().expect("deletion vector");
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("deletion vector"), "{err}");

    // equality deletes that name no columns, or columns the table never had: iceberg
    // panicked on the first (it unwraps the ids), and the read must be refused, not crash
    for ids in ["null", "[]", "[9999]"] {
        let equality = text.replace(
            "\"deletes\":[]",
            &format!(
                "\"deletes\":[{{\"file_path\":\"{}\",\"file_size_in_bytes\":10,\"file_type\":\"EqualityDeletes\",\"partition_spec_id\":0,\"equality_ids\":{ids}}}]",
                file.replace("data/", "data/eq-")
            ),
        );
        let equality = serializer
            .deserialize(serializer.version(), equality.as_bytes())
            .expect("parses");
        let err = source.create_reader(equality).await.err().expect("equality ids");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{ids}: {err}");
        assert!(err.to_string().contains("equality"), "{err}");
    }

    let err = serializer.deserialize(99, text.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    let err = serializer
        .deserialize(serializer.version(), &text.as_bytes()[..20])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

/// A split carries iceberg's whole scan task, but only the file and its deletes are the
/// split's to say: the columns, the filter and the schema are the reading source's, and a
/// byte range that is not the whole file would drop row groups without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_is_read_as_its_reader_is_configured() -> lake_api::Result<()> {
    let lake = IcebergStorage::connect(fixture_config().await).await?;
    let path = TablePath::new("fixtures", "orders");
    let snapshot = lake
        .latest_snapshot(&path)
        .await?
        .ok_or_else(|| lake_api::Error::invalid("no snapshot"))?
        .id;
    let plain = lake.create_lake_source(&path).await?;
    let splits = plan(plain.as_ref(), snapshot).await?;
    // a file of two rows or more, so that the filtered read still has rows to show its
    // columns: the filter drops one row, and a file of one row would read as nothing
    let mut chosen = None;
    for split in &splits {
        let rows = ids(&read_split(plain.as_ref(), split.clone()).await?);
        if rows.len() >= 2 {
            chosen = Some((split, rows));
            break;
        }
    }
    let (split, whole) = chosen.ok_or_else(|| lake_api::Error::invalid("no file of two rows"))?;
    let dropped = *whole.first().ok_or_else(|| lake_api::Error::invalid("empty file"))?;

    // planned by a source that filters and projects, read by one that does neither
    let mut narrow = lake.create_lake_source(&path).await?;
    narrow.with_project(&[vec![0]])?;
    let report = narrow.with_filters(vec![lake_api::predicate::parse(&format!("id != {dropped}"))?]);
    assert_eq!(report.accepted.len(), 1);
    let narrow_splits = plan(narrow.as_ref(), snapshot).await?;
    let serializer = plain.split_serializer();
    let same_file = narrow_splits
        .iter()
        .find(|s| {
            s.as_any().downcast_ref::<IcebergSplit>().map(IcebergSplit::data_file)
                == split
                    .as_any()
                    .downcast_ref::<IcebergSplit>()
                    .map(IcebergSplit::data_file)
        })
        .ok_or_else(|| lake_api::Error::invalid("the narrow scan planned another file"))?;
    let bytes = serializer.serialize(same_file.as_ref())?;
    let copy = serializer.deserialize(serializer.version(), &bytes)?;
    let batches = read_split(plain.as_ref(), copy).await?;
    assert_eq!(ids(&batches), whole);
    let info = lake.table_info(&path).await?;
    assert_eq!(batches.first().map(|b| b.schema()), Some(info.schema), "every column");
    // and the other way: planned plainly, read by the source that filters and projects
    let copy = serializer.deserialize(serializer.version(), &serializer.serialize(split.as_ref())?)?;
    let batches = read_split(narrow.as_ref(), copy).await?;
    let rest: Vec<i64> = whole.iter().copied().filter(|&id| id != dropped).collect();
    assert_eq!(ids(&batches), rest);
    let columns: Vec<String> = batches
        .iter()
        .flat_map(|b| b.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>())
        .collect();
    assert!(columns.iter().all(|c| c == "id") && !columns.is_empty(), "{columns:?}");

    // a byte range other than the whole file, or one that overflows
    let record: Value = serde_json::from_slice(&serializer.serialize(split.as_ref())?)
        .map_err(|e| lake_api::Error::invalid(e.to_string()))?;
    let size = record["task"]["file_size_in_bytes"].as_u64();
    assert_eq!(record["task"]["length"].as_u64(), size, "{record}");
    for (start, length) in [(0, 10), (4, size.unwrap_or(0)), (8, u64::MAX)] {
        let mut forged = record.clone();
        forged["task"]["start"] = start.into();
        forged["task"]["length"] = length.into();
        let forged = serializer.deserialize(serializer.version(), forged.to_string().as_bytes())?;
        let e = read_split(plain.as_ref(), forged)
            .await
            .err()
            .ok_or_else(|| lake_api::Error::invalid(format!("bytes {start}+{length} read")))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.to_string().contains("whole file"), "{e}");
    }
    Ok(())
}

mod bad_input {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use fluss_client::local::{LocalLog, LocalLogOptions};
    use lake_api::{ChangeType, LogBatch, MergeStrategy, TableBucket, UnionTable};
    use lakeunion_tests::bad_lake;
    use lakeunion_tests::fixtures::{files_with_extension, small_rows as rows, small_table as info, tier_small_table};

    /// An Iceberg table with one snapshot of keys 0..10 committed with `offsets`.
    async fn table(root: &Path, offsets: &str) -> (IcebergStorage, i64) {
        let lake = IcebergStorage::connect(IcebergConfig::sqlite(root.join("lake")))
            .await
            .expect("lake");
        let snapshot = tier_small_table(&lake, offsets).await;
        (lake, snapshot)
    }

    fn data_files(dir: &Path) -> Vec<PathBuf> {
        files_with_extension(dir, "parquet")
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
        let name = bad_lake::file_name(&file).expect("name").to_string();
        let huge_footer_length = |bytes: &mut [u8]| {
            let n = bytes.len();
            bytes[n - 6..n - 4].copy_from_slice(&[0xff, 0x7f]);
        };
        bad_lake::check_corrupt_data_file(
            &lake,
            snapshot,
            &file,
            huge_footer_length,
            &[&format!("snapshot {snapshot}"), &name],
        )
        .await
        .expect("a corrupt footer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_that_no_longer_matches_the_lake_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut retyped = info();
        retyped.schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
        ]));
        let log = LocalLog::create(&dir.path().join("log"), &retyped, LocalLogOptions::default()).expect("log");
        // the ten changes the lake says it holds (a log behind its lake is refused first)
        let keys = arrow::array::Int64Array::from_iter_values(0..10);
        let batch =
            RecordBatch::try_new(retyped.schema.clone(), vec![Arc::new(keys.clone()), Arc::new(keys)]).expect("batch");
        log.append(&TableBucket::new(0), batch, vec![ChangeType::Insert; 10])
            .expect("append");
        let offsets = format!(r#"{{"version":1,"table_id":{},"bucket_offsets":[10]}}"#, log.table_id());
        let (lake, _) = table(dir.path(), &offsets).await;
        bad_lake::check_changed_schema_is_refused(&lake)
            .await
            .expect("a changed schema");

        // the lake's `v` is a string; a log that says it is a number cannot union-read it
        let table = UnionTable::new(retyped, Arc::new(log), Some(Arc::new(lake))).expect("table");
        let result = union_read(&table, MergeStrategy::Auto, None).await;
        let err = result.expect_err("a type mismatch");
        assert_eq!(err.kind(), ErrorKind::SchemaMismatch, "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_offsets_name_the_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (lake, snapshot) = table(dir.path(), bad_lake::MALFORMED_OFFSETS).await;
        bad_lake::check_malformed_offsets(Arc::new(lake), &dir.path().join("log"), snapshot)
            .await
            .expect("malformed offsets");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn updating_rows_already_in_the_lake_is_unsupported_and_commits_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (lake, snapshot) = table(dir.path(), "{}").await;
        // the folded rows were written in key order, and the file says so
        let source = lake.create_lake_source(&info().path).await.expect("source");
        let splits = source
            .create_planner(snapshot)
            .await
            .expect("planner")
            .plan()
            .await
            .expect("plan");
        assert!(!splits.is_empty());
        for split in &splits {
            assert!(
                split
                    .as_any()
                    .downcast_ref::<IcebergSplit>()
                    .expect("split")
                    .key_sorted()
            );
        }
        let mut writer = lake.create_lake_writer(&info()).await.expect("writer");
        let batch = LogBatch::new(rows(3..4), vec![ChangeType::UpdateAfter], 10);
        writer.write(&TableBucket::new(0), &batch).await.expect("write");
        let err = writer.commit(BTreeMap::new()).await.expect_err("needs delete files");
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("delete files"), "{err}");
        let latest = lake
            .latest_snapshot(&info().path)
            .await
            .expect("latest")
            .expect("snapshot");
        assert_eq!(latest.id, snapshot);
    }

    /// A round whose second bucket fails after its first bucket's data files were written
    /// removes those files: nothing will commit them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_round_that_fails_before_committing_leaves_no_data_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path().join("lake")))
            .await
            .expect("lake");
        let info = lake_api::TableInfo::log_table(info().path, info().schema, 2);
        lake.create_table(&info).await.expect("table");
        let mut writer = lake.create_lake_writer(&info).await.expect("writer");
        let good = LogBatch::append_only(rows(0..10), 0);
        writer.write(&TableBucket::new(0), &good).await.expect("write");
        // a batch without the table's `v`: it fails when the round writes its files
        let keys_only = rows(0..3).project(&[0]).expect("project");
        let bad = LogBatch::append_only(keys_only, 0);
        writer.write(&TableBucket::new(1), &bad).await.expect("write");
        let err = writer.commit(BTreeMap::new()).await.expect_err("a missing column");
        assert_eq!(err.kind(), ErrorKind::SchemaMismatch, "{err}");
        assert!(lake.latest_snapshot(&info.path).await.expect("latest").is_none());
        assert_eq!(data_files(dir.path()), Vec::<PathBuf>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_vector_and_blob_ref_columns_round_trip() {
    use arrow::array::{FixedSizeListArray, LargeBinaryArray, StructArray, UInt64Array};
    use arrow::datatypes::{Field, Float32Type, Schema};
    use lake_api::types::{blob_field, blob_ref_field, vector_field};
    use lake_api::{ChangeType, LogBatch, TableBucket, TableInfo};

    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        blob_field("image", true),
        vector_field("embedding", DataType::Float32, 3, true),
        blob_ref_field("source", true),
    ]));
    let info = TableInfo::log_table(TablePath::new("mm", "media"), schema.clone(), 2);
    let refs = StructArray::from(vec![
        (
            Arc::new(Field::new("uri", DataType::Utf8, false)),
            Arc::new(arrow::array::StringArray::from(vec!["file:///a", "file:///b"])) as _,
        ),
        (
            Arc::new(Field::new("offset", DataType::UInt64, false)),
            Arc::new(UInt64Array::from(vec![0, 7])) as _,
        ),
        (
            Arc::new(Field::new("length", DataType::UInt64, false)),
            Arc::new(UInt64Array::from(vec![7, 9])) as _,
        ),
    ]);
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
            Arc::new(LargeBinaryArray::from(vec![Some(&b"\x89PNG"[..]), None])),
            Arc::new(
                FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
                    vec![Some(vec![Some(1.0), Some(2.0), Some(3.0)]), None],
                    3,
                )
                .with_field_nullability(schema.field(2)),
            ),
            Arc::new(refs),
        ],
    )
    .expect("batch");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
        .await
        .expect("lake");
    let mut writer = lake.create_lake_writer(&info).await.expect("writer");
    let log = LogBatch::new(batch.clone(), vec![ChangeType::AppendOnly; 2], 0);
    writer.write(&TableBucket::new(1), &log).await.expect("write");
    let snapshot = writer.commit(BTreeMap::new()).await.expect("commit");

    let read_info = lake.table_info(&info.path).await.expect("info");
    assert_eq!(read_info.schema, schema, "the logical types come back");
    let (batches, splits) = read_snapshot(&lake, &lake, &info.path, snapshot.id)
        .await
        .expect("read");
    assert_eq!(splits.len(), 1);
    assert_eq!(splits[0].bucket(), Some(1));
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0], batch);
}

trait WithFieldNullability {
    fn with_field_nullability(self, field: &arrow::datatypes::Field) -> arrow::array::FixedSizeListArray;
}

impl WithFieldNullability for arrow::array::FixedSizeListArray {
    /// The same values under the element field a VECTOR column declares (non-null items).
    fn with_field_nullability(self, field: &arrow::datatypes::Field) -> arrow::array::FixedSizeListArray {
        let DataType::FixedSizeList(item, n) = field.data_type() else {
            panic!("not a vector field: {field}")
        };
        let (_, _, values, nulls) = self.into_parts();
        arrow::array::FixedSizeListArray::new(item.clone(), *n, values, nulls)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_fixture_through_a_rest_catalog() {
    let expected = expected("iceberg");
    fixture_config().await;
    let mut tables = BTreeMap::new();
    for name in ["events", "orders"] {
        let location = expected["tables"][name]["metadata_location"]
            .as_str()
            .expect("location")
            .to_string();
        let file = location.trim_start_matches("file://");
        let metadata: Value = serde_json::from_str(&std::fs::read_to_string(file).expect("metadata")).expect("json");
        tables.insert(name.to_string(), (location, metadata));
    }
    let uri = lakeunion_tests::iceberg::serve_rest_catalog("fixtures", tables)
        .await
        .expect("serve");
    let lake = IcebergStorage::connect(IcebergConfig::rest(uri, ""))
        .await
        .expect("rest catalog");
    for name in ["events", "orders"] {
        let path = TablePath::new("fixtures", name);
        let current = expected["tables"][name]["current_snapshot_id"]
            .as_i64()
            .expect("current");
        let (batches, _) = read_snapshot(&lake, &lake, &path, current)
            .await
            .expect("read over REST");
        assert_fixture_rows(&batches, &expected["tables"][name], name);
    }
    assert_unknown_table_not_found(&lake).await;
}

/// Position and equality delete files listed in a split are applied by the reader. (The
/// iceberg crate cannot commit delete files, so the test lists them in the split itself,
/// as a planner of a merge-on-read table would.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_and_equality_deletes_are_applied() {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use lake_api::{ChangeType, LogBatch, TableBucket, TableInfo};

    fn with_id(field: Field, id: i32) -> Field {
        field.with_metadata(std::collections::HashMap::from([(
            "PARQUET:field_id".to_string(),
            id.to_string(),
        )]))
    }
    fn write_parquet(path: &Path, batch: &RecordBatch) {
        let file = std::fs::File::create(path).expect("create");
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        writer.write(batch).expect("write");
        writer.close().expect("close");
    }

    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    let info = TableInfo::log_table(TablePath::new("del", "t"), schema.clone(), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
        .await
        .expect("lake");
    let mut writer = lake.create_lake_writer(&info).await.expect("writer");
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..6)),
            Arc::new(StringArray::from_iter_values((0..6).map(|k| format!("v{k}")))),
        ],
    )
    .expect("batch");
    writer
        .write(
            &TableBucket::new(0),
            &LogBatch::new(batch, vec![ChangeType::AppendOnly; 6], 0),
        )
        .await
        .expect("write");
    let snapshot = writer.commit(BTreeMap::new()).await.expect("commit");
    let source = lake.create_lake_source(&info.path).await.expect("source");
    let split = source
        .create_planner(snapshot.id)
        .await
        .expect("planner")
        .plan()
        .await
        .expect("plan")[0]
        .clone();
    let data_file = split
        .as_any()
        .downcast_ref::<IcebergSplit>()
        .expect("split")
        .data_file()
        .to_string();
    let table_dir = dir.path().join("del/t");

    // rows 1 and 4 by position
    let positions = table_dir.join("data/pos-deletes.parquet");
    let deletes = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            with_id(Field::new("file_path", DataType::Utf8, false), i32::MAX - 101),
            with_id(Field::new("pos", DataType::Int64, false), i32::MAX - 102),
        ])),
        vec![
            Arc::new(StringArray::from(vec![data_file.clone(), data_file.clone()])),
            Arc::new(Int64Array::from(vec![1, 4])),
        ],
    )
    .expect("position deletes");
    write_parquet(&positions, &deletes);
    // k = 2 by equality (field id 1: the table's first column)
    let equality = table_dir.join("data/eq-deletes.parquet");
    let deletes = RecordBatch::try_new(
        Arc::new(Schema::new(vec![with_id(Field::new("k", DataType::Int64, false), 1)])),
        vec![Arc::new(Int64Array::from(vec![2]))],
    )
    .expect("equality deletes");
    write_parquet(&equality, &deletes);

    let serializer = source.split_serializer();
    let text = String::from_utf8(serializer.serialize(split.as_ref()).expect("bytes")).expect("json");
    let delete_entry = |path: &Path, kind: &str, ids: &str| {
        format!(
            "{{\"file_path\":\"{}\",\"file_size_in_bytes\":{},\"file_type\":\"{kind}\",\"partition_spec_id\":0,\"equality_ids\":{ids}}}",
            path.display(),
            std::fs::metadata(path).expect("size").len()
        )
    };
    let with_deletes = text.replace(
        "\"deletes\":[]",
        &format!(
            "\"deletes\":[{},{}]",
            delete_entry(&positions, "PositionDeletes", "null"),
            delete_entry(&equality, "EqualityDeletes", "[1]")
        ),
    );
    assert_ne!(with_deletes, text);
    let split = serializer
        .deserialize(serializer.version(), with_deletes.as_bytes())
        .expect("split with deletes");
    let got = read_split(source.as_ref(), split).await.expect("rows");
    let mut keys: Vec<i64> = got
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, vec![0, 3, 5]);
}

/// Every Fluss type comes back with its values; Iceberg widens what it has no type for
/// (TINYINT and SMALLINT to `int`, millisecond times and timestamps to microseconds), and
/// the union read conforms them back to the log's schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fluss_type_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
        .await
        .expect("lake");
    let (lake_info, batch, back) = lakeunion_tests::fixtures::every_type_round_trip(&lake, false).await;
    for exact in [
        "id", "int", "float", "double", "flag", "day", "ts", "price", "bytes", "text",
    ] {
        assert_eq!(
            lake_info.schema.field_with_name(exact).expect("column").data_type(),
            batch.schema().field_with_name(exact).expect("column").data_type(),
            "{exact}"
        );
    }
    assert_eq!(back, vec![batch]);
}

/// Regression: a union read checked the lake's batches against the log's types without
/// casting, so a table with a TINYINT, SMALLINT, TIME or TIMESTAMP_LTZ column failed once
/// tiered into Iceberg, which stores them as int, microseconds and `+00:00`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fluss_type_union_reads_with_the_logs_types() -> Result<(), String> {
    for primary_key in [false, true] {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
            .await
            .map_err(|e| e.to_string())?;
        let (written, read) = lakeunion_tests::fixtures::every_type_union_read(Arc::new(lake), primary_key).await?;
        assert_eq!(read, written, "primary key: {primary_key}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_filters_match_the_engine() -> Result<(), String> {
    // regression: float comparisons were accepted, but Iceberg prunes files by bounds that
    // leave NaN out and compared a Float32 column with its literal rounded to Float32
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
        .await
        .map_err(|e| e.to_string())?;
    lakeunion_tests::fixtures::accepted_filters_match_the_engine(&lake).await
}

/// The newest metadata file of the one table under `dir`, and its JSON (to edit by hand,
/// as another engine would change the table).
fn latest_metadata(dir: &Path) -> Result<(PathBuf, Value), String> {
    let mut metadata_files: Vec<PathBuf> = lakeunion_tests::fixtures::files_with_extension(dir, "json")
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".metadata.json"))
        .collect();
    metadata_files.sort();
    let latest = metadata_files.pop().ok_or("no metadata file")?;
    let json =
        serde_json::from_slice(&std::fs::read(&latest).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    Ok((latest, json))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_the_main_branch_history() -> Result<(), String> {
    // regression: every snapshot in the metadata was listed, so after a rollback the newest
    // listed one (which union reads and tiering take as the lake's latest) was one the
    // table no longer holds
    let e = |e: lake_api::Error| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
        .await
        .map_err(e)?;
    // a log table: each round appends
    let small = lakeunion_tests::fixtures::small_table();
    let info = lake_api::TableInfo::log_table(lake_api::TablePath::new("bad", "log"), small.schema, 1);
    let mut ids_written = Vec::new();
    for (round, keys) in [0..10, 10..15].into_iter().enumerate() {
        let mut writer = lake.create_lake_writer(&info).await.map_err(e)?;
        let n = keys.end - keys.start;
        let rows = lake_api::LogBatch::new(
            lakeunion_tests::fixtures::small_rows(keys),
            vec![lake_api::ChangeType::AppendOnly; n as usize],
            round as i64 * 10,
        );
        writer.write(&lake_api::TableBucket::new(0), &rows).await.map_err(e)?;
        ids_written.push(writer.commit(BTreeMap::new()).await.map_err(e)?.id);
    }
    let (first, second) = (ids_written[0], ids_written[1]);
    let path = info.path;
    let ids = |snapshots: Vec<lake_api::LakeSnapshot>| snapshots.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(lake.list_snapshots(&path).await.map_err(e)?), vec![first, second]);

    // main rolled back to the first snapshot: the second stays in the metadata, off the branch
    let (latest, mut metadata) = latest_metadata(dir.path())?;
    metadata["current-snapshot-id"] = first.into();
    metadata["refs"]["main"]["snapshot-id"] = first.into();
    let rolled_back = latest.with_file_name("99999-rolled-back.metadata.json");
    std::fs::write(&rolled_back, metadata.to_string()).map_err(|e| e.to_string())?;
    let lake = IcebergStorage::connect(IcebergConfig::metadata_file(rolled_back.to_string_lossy()))
        .await
        .map_err(e)?;
    assert_eq!(ids(lake.list_snapshots(&path).await.map_err(e)?), vec![first]);
    assert_eq!(lake.latest_snapshot(&path).await.map_err(e)?.map(|s| s.id), Some(first));
    Ok(())
}

/// `written` tiered into a fresh SQLite lake in `dir` as one snapshot of log table `path`,
/// then the table's schema evolved as another engine would: `evolve` edits a copy of the
/// newest schema (and the metadata, say its last column id), which becomes the current
/// one. The lake reopened from that metadata file, and the snapshot.
async fn evolved_table(
    dir: &Path,
    path: &TablePath,
    written: &RecordBatch,
    evolve: impl FnOnce(&mut Value, &mut Value) -> Result<(), String>,
) -> Result<(IcebergStorage, i64), String> {
    let e = |e: lake_api::Error| e.to_string();
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir)).await.map_err(e)?;
    let info = lake_api::TableInfo::log_table(path.clone(), written.schema(), 1);
    let mut writer = lake.create_lake_writer(&info).await.map_err(e)?;
    let n = written.num_rows();
    let batch = lake_api::LogBatch::new(written.clone(), vec![lake_api::ChangeType::AppendOnly; n], 0);
    writer.write(&lake_api::TableBucket::new(0), &batch).await.map_err(e)?;
    let snapshot = writer.commit(BTreeMap::new()).await.map_err(e)?.id;

    let (latest, mut metadata) = latest_metadata(dir)?;
    let mut evolved = metadata["schemas"]
        .as_array()
        .and_then(|s| s.last())
        .ok_or("no schema")?
        .clone();
    let old_id = evolved["schema-id"].as_i64().ok_or("no schema id")?;
    evolved["schema-id"] = (old_id + 1).into();
    evolve(&mut evolved, &mut metadata)?;
    metadata["schemas"].as_array_mut().ok_or("no schemas")?.push(evolved);
    metadata["current-schema-id"] = (old_id + 1).into();
    let evolved_file = latest.with_file_name("99999-evolved.metadata.json");
    std::fs::write(&evolved_file, metadata.to_string()).map_err(|e| e.to_string())?;
    let lake = IcebergStorage::connect(IcebergConfig::metadata_file(evolved_file.to_string_lossy()))
        .await
        .map_err(e)?;
    Ok((lake, snapshot))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_older_than_the_schema_reads_in_the_current_schema() -> Result<(), String> {
    // regression: a snapshot written before a column was renamed or added failed to plan
    // (its columns were looked up by the current names in the snapshot's schema); and a
    // filter on a column a data file lacks was applied by Iceberg as if `NULL < 5` held
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use lake_api::predicate::col;
    let e = |e: lake_api::Error| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let old = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    let path = TablePath::new("evolved", "log");
    let written = RecordBatch::try_new(
        old,
        vec![
            Arc::new(Int64Array::from_iter_values(0..6)),
            Arc::new(StringArray::from_iter_values((0..6).map(|k| format!("v{k}")))),
        ],
    )
    .map_err(|e| e.to_string())?;
    // then `v` renamed to `w` and a new `v BIGINT` added: the snapshot keeps the schema it
    // was written with
    let (lake, snapshot) = evolved_table(dir.path(), &path, &written, |schema, metadata| {
        let new_field = metadata["last-column-id"].as_i64().ok_or("no last column id")? + 1;
        let fields = schema["fields"].as_array_mut().ok_or("no fields")?;
        assert_eq!(fields[1]["name"], "v");
        fields[1]["name"] = "w".into();
        fields.insert(
            2,
            serde_json::json!({"id": new_field, "name": "v", "required": false, "type": "long"}),
        );
        metadata["last-column-id"] = new_field.into();
        Ok(())
    })
    .await?;

    let current = lake.table_info(&path).await.map_err(e)?.schema;
    let names: Vec<&str> = current.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["id", "w", "v"]);
    let rows = RecordBatch::try_new(
        current,
        vec![
            written.column(0).clone(),
            written.column(1).clone(),
            Arc::new(Int64Array::from(vec![None::<i64>; 6])),
        ],
    )
    .map_err(|e| e.to_string())?;
    let (read, _) = read_snapshot(&lake, &lake, &path, snapshot).await.map_err(e)?;
    let read = arrow::compute::concat_batches(&rows.schema(), &read).map_err(|e| e.to_string())?;
    assert_eq!(rows_as_json(&[read]), rows_as_json(std::slice::from_ref(&rows)));

    let filters = vec![
        col("v").lt(5),
        col("v").lt_eq(5),
        col("v").gt(5),
        col("v").not_eq(5),
        col("v").gt_eq(5).negate(),
        col("v").in_list([1i64, 2]).negate(),
        col("v").is_null(),
        col("v").is_not_null(),
        col("w").eq("v3"),
        col("w").starts_with("v1").negate(),
        col("w").lt("v2").or(col("v").lt(1)),
    ];
    lakeunion_tests::fixtures::filters_read_as_the_engine_selects(&lake, &path, snapshot, &rows, filters).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_a_column_added_with_a_default_read_every_row() -> Result<(), String> {
    // regression: `region` was added with an initial default after the file was written;
    // iceberg's row filter takes the file's missing column for null while its reader fills
    // in the default, so `region = 'eu'` dropped every row of the old file, and was
    // reported exact
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use lake_api::predicate::col;
    let e = |e: lake_api::Error| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let old = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let path = TablePath::new("defaulted", "log");
    let written =
        RecordBatch::try_new(old, vec![Arc::new(Int64Array::from_iter_values(0..4))]).map_err(|e| e.to_string())?;
    let (lake, snapshot) = evolved_table(dir.path(), &path, &written, |schema, metadata| {
        let new_field = metadata["last-column-id"].as_i64().ok_or("no last column id")? + 1;
        let fields = schema["fields"].as_array_mut().ok_or("no fields")?;
        fields.push(serde_json::json!({
            "id": new_field, "name": "region", "required": false, "type": "string", "initial-default": "eu"
        }));
        metadata["last-column-id"] = new_field.into();
        Ok(())
    })
    .await?;

    let current = lake.table_info(&path).await.map_err(e)?.schema;
    let rows = RecordBatch::try_new(
        current,
        vec![written.column(0).clone(), Arc::new(StringArray::from(vec!["eu"; 4]))],
    )
    .map_err(|e| e.to_string())?;
    let (read, _) = read_snapshot(&lake, &lake, &path, snapshot).await.map_err(e)?;
    let read = arrow::compute::concat_batches(&rows.schema(), &read).map_err(|e| e.to_string())?;
    assert_eq!(
        rows_as_json(&[read]),
        rows_as_json(std::slice::from_ref(&rows)),
        "the reader fills in the default"
    );
    let filters = vec![
        col("region").eq("eu"),
        col("region").not_eq("eu"),
        col("region").gt_eq("a"),
        col("region").in_list(["eu", "us"]),
        col("region").starts_with("e"),
        col("region").is_null(),
        col("region").is_not_null(),
        col("region").lt("b"),
    ];
    lakeunion_tests::fixtures::filters_read_as_the_engine_selects(&lake, &path, snapshot, &rows, filters).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_metadata_file_is_missing_is_corrupt_not_absent() -> Result<(), String> {
    // regression: the catalog named the table, its metadata file was gone, and the missing
    // file's NotFound passed through as the table's: a union read took the table for one
    // not tiered yet and read the log alone, without the rows only the lake held
    let e = |e: lake_api::Error| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path()))
        .await
        .map_err(e)?;
    let version = lakeunion_tests::fixtures::tier_small_table(&lake, "{}").await;
    let path = lakeunion_tests::fixtures::small_table().path;
    assert!(version > 0);
    let (latest, _) = latest_metadata(dir.path())?;
    std::fs::remove_file(&latest).map_err(|e| e.to_string())?;
    let err = lake.open_scan(&path).await.err().ok_or("a scan without metadata")?;
    assert_eq!(err.kind(), lake_api::ErrorKind::Corrupt, "{err}");
    let err = lake.list_snapshots(&path).await.err().ok_or("listed")?;
    assert_eq!(err.kind(), lake_api::ErrorKind::Corrupt, "{err}");
    // a metadata file named by the configuration that is not there is a bad argument
    let missing = dir.path().join("nowhere.metadata.json");
    let static_lake = IcebergStorage::connect(IcebergConfig::metadata_file(missing.to_string_lossy()))
        .await
        .map_err(e)?;
    let err = static_lake
        .open_scan(&path)
        .await
        .err()
        .ok_or("a scan of a missing file")?;
    assert_eq!(err.kind(), lake_api::ErrorKind::InvalidArgument, "{err}");
    // a table the catalog does not know is still absent
    let err = lake
        .open_scan(&lake_api::TablePath::new("bad", "never"))
        .await
        .err()
        .ok_or("a scan of an unknown table")?;
    assert_eq!(err.kind(), lake_api::ErrorKind::NotFound, "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_a_column_widened_since_a_file_was_written_read_every_row() -> Result<(), String> {
    // regression: `n` was an int when the file was written and a long since; iceberg 0.10
    // casts a filter's long literal to the file's int type, out of range as null, so
    // `n < 3000000000` dropped every row of the old file, and was reported exact
    use arrow::array::{Int32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};
    use lake_api::predicate::col;
    let e = |e: lake_api::Error| e.to_string();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let old = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("n", DataType::Int32, true),
    ]));
    let path = TablePath::new("widened", "log");
    let ns = vec![Some(0), Some(1), Some(-5), Some(7), Some(i32::MAX), None];
    let written = RecordBatch::try_new(
        old,
        vec![
            Arc::new(Int64Array::from_iter_values(0..6)),
            Arc::new(Int32Array::from(ns.clone())),
        ],
    )
    .map_err(|e| e.to_string())?;
    // then `n` promoted to long, as Iceberg's schema evolution allows
    let (lake, snapshot) = evolved_table(dir.path(), &path, &written, |schema, _| {
        let fields = schema["fields"].as_array_mut().ok_or("no fields")?;
        assert_eq!(fields[1]["name"], "n");
        fields[1]["type"] = "long".into();
        Ok(())
    })
    .await?;

    let current = lake.table_info(&path).await.map_err(e)?.schema;
    assert_eq!(current.field(1).data_type(), &DataType::Int64);
    let rows = RecordBatch::try_new(
        current,
        vec![
            written.column(0).clone(),
            Arc::new(Int64Array::from(
                ns.iter().map(|n| n.map(i64::from)).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(|e| e.to_string())?;
    let far = 3_000_000_000i64;
    let filters = vec![
        col("n").lt(far),
        col("n").gt(-far),
        col("n").not_eq(far),
        col("n").in_list([far, 7]).negate(),
        col("n").gt_eq(far),
        col("n").eq(7),
        col("n").lt(5),
        col("n").in_list([far, 1]),
    ];
    lakeunion_tests::fixtures::filters_read_as_the_engine_selects(&lake, &path, snapshot, &rows, filters).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_keys_other_than_strings_are_refused_for_tiering() -> lake_api::Result<()> {
    // Fluss requires string partition keys of tables tiered into Iceberg; tables other
    // tools wrote with DATE keys are read (see `schema::tests`)
    let dir = tempfile::tempdir()?;
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
    let err = lakeunion_tests::fixtures::partitions_of_every_key_type_read_back(&lake)
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), lake_api::ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("must be a string"), "{err}");
    Ok(())
}
