//! Helpers for the cross-implementation fixtures and the backend suites: copying a
//! fixture, reading a snapshot split by split through serialized splits, and rows as the
//! JSON the fixture scripts record.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};
use base64::Engine as _;
use futures::TryStreamExt;
use lake_api::lake::LakeSplit;
use lake_api::{LakeStorage, TablePath};
use serde_json::Value;

/// The fixture directory of a format (`tests/fixtures/<format>`).
///
/// The checkout that runs the tests names it: cargo keeps this crate built when the same
/// sources move to another path under a shared target directory, so the path compiled in
/// may be another checkout's (one that is gone, or one with other fixtures).
pub fn fixture_dir(format: &str) -> std::path::PathBuf {
    let running_here = std::env::var("CARGO_PKG_NAME").is_ok_and(|name| name == env!("CARGO_PKG_NAME"));
    let root = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) if running_here => std::path::PathBuf::from(dir),
        _ => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    root.join("fixtures").join(format)
}

/// The values a fixture's script recorded (`expected.json`).
pub fn expected(format: &str) -> Value {
    let path = fixture_dir(format).join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every row of a snapshot, read split by split through the LakeStorage traits: the
/// splits go through their serializer and are read on `reader` (a worker's storage).
pub async fn read_snapshot(
    planner_side: &dyn LakeStorage,
    reader: &dyn LakeStorage,
    path: &TablePath,
    snapshot: i64,
) -> lake_api::Result<(Vec<RecordBatch>, Vec<Arc<dyn LakeSplit>>)> {
    let source = planner_side.create_lake_source(path).await?;
    let splits = plan(source.as_ref(), snapshot).await?;
    let worker = reader.create_lake_source(path).await?;
    let serializer = source.split_serializer();
    let mut batches = Vec::new();
    for split in &splits {
        let bytes = serializer.serialize(split.as_ref())?;
        let copy = worker.split_serializer().deserialize(serializer.version(), &bytes)?;
        assert_eq!(copy.bucket(), split.bucket());
        assert_eq!(copy.partition(), split.partition());
        batches.extend(read_split(worker.as_ref(), copy).await?);
    }
    Ok((batches, splits))
}

/// The splits `source` plans for `snapshot`.
pub async fn plan(source: &dyn lake_api::LakeSource, snapshot: i64) -> lake_api::Result<Vec<Arc<dyn LakeSplit>>> {
    source.create_planner(snapshot).await?.plan().await
}

/// A source of `path` in `lake`, the first split it plans for the latest snapshot, and that
/// split as its serializer writes it (the JSON the hostile-split tests edit).
pub async fn first_split_text(
    lake: &dyn LakeStorage,
    path: &TablePath,
) -> (Box<dyn lake_api::LakeSource>, Arc<dyn LakeSplit>, String) {
    let source = lake.create_lake_source(path).await.expect("source");
    let snapshot = lake.latest_snapshot(path).await.expect("latest").expect("snapshot").id;
    let split = plan(source.as_ref(), snapshot).await.expect("plan")[0].clone();
    let bytes = source.split_serializer().serialize(split.as_ref()).expect("bytes");
    (source, split, String::from_utf8(bytes).expect("json"))
}

/// Every row's payload in the BLOB column `column` (read as payloads), by the row's `id`.
pub fn payloads_by_id(batches: &[RecordBatch], column: &str) -> std::collections::BTreeMap<i64, Option<Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    for b in batches {
        let payloads = b
            .column_by_name(column)
            .and_then(|c| c.as_binary_opt::<i64>())
            .unwrap_or_else(|| panic!("no LargeBinary column {column}"));
        for (i, id) in int_column(std::slice::from_ref(b), "id").into_iter().enumerate() {
            out.insert(id, (!payloads.is_null(i)).then(|| payloads.value(i).to_vec()));
        }
    }
    out
}

/// Plans `path`'s latest snapshot several times, plainly and with a limit, and asserts
/// each plan has the same splits, in the same order, reading the same rows: a reader that
/// shows or limits rows shows the same ones on every run.
pub async fn plans_repeat(lake: &dyn LakeStorage, path: &TablePath) -> lake_api::Result<()> {
    let snapshot = lake
        .latest_snapshot(path)
        .await?
        .ok_or_else(|| lake_api::Error::invalid("no snapshot"))?
        .id;
    for limit in [None, Some(3)] {
        let mut source = lake.create_lake_source(path).await?;
        if let Some(limit) = limit {
            source.with_limit(limit);
        }
        let mut first = None;
        for _ in 0..6 {
            let mut planned = Vec::new();
            for split in plan(source.as_ref(), snapshot).await? {
                let (partition, bucket) = (split.partition().to_vec(), split.bucket());
                let rows = rows_as_json(&read_split(source.as_ref(), split).await?);
                planned.push((partition, bucket, rows));
            }
            match &first {
                None => first = Some(planned),
                Some(first) if *first != planned => {
                    return Err(lake_api::Error::invalid(format!(
                        "{path} planned in another order (limit {limit:?})"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// All rows of one split, read through `source`.
pub async fn read_split(
    source: &dyn lake_api::LakeSource,
    split: Arc<dyn LakeSplit>,
) -> lake_api::Result<Vec<RecordBatch>> {
    source.create_reader(split).await?.read().await?.try_collect().await
}

/// The sorted values of the `id` column.
pub fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    sorted_column(batches, "id")
}

/// The values of the `BIGINT` column `column` of every batch, in read order.
pub fn int_column(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(column)
                .unwrap_or_else(|| panic!("no column {column}"))
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// The sorted values of the `BIGINT` column `column` of every batch.
pub fn sorted_column(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    let mut values = int_column(batches, column);
    values.sort_unstable();
    values
}

/// A union read of `table` with `strategy`, at `snapshot` (the latest when `None`), drained,
/// with its BLOB columns as payloads: read as references (the default) where the table's
/// lake can give them and resolved through the scan's resolver, so that every caller also
/// checks that references lead to the right bytes. A reference that fails to resolve is an
/// error.
pub async fn union_read(
    table: &lake_api::UnionTable,
    strategy: lake_api::MergeStrategy,
    snapshot: Option<i64>,
) -> lake_api::Result<Vec<RecordBatch>> {
    let mut scan = table.scan().strategy(strategy);
    if let Some(id) = snapshot {
        scan = scan.snapshot(id);
    }
    let scan = scan.build().await?;
    let batches = scan.collect().await?;
    match scan.blob_resolver() {
        Some(resolver) => crate::check::payloads(batches, scan.schema(), resolver)
            .await
            .map_err(|e| lake_api::Error::new(lake_api::ErrorKind::Corrupt, e)),
        None => Ok(batches),
    }
}

/// The rows as JSON values shaped like a fixture's expected.json (BLOB as base64, VECTOR
/// as lists), sorted by `id`.
pub fn rows_as_json(batches: &[RecordBatch]) -> Vec<Value> {
    let mut rows = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let mut row = serde_json::Map::new();
            for (field, column) in b.schema().fields().iter().zip(b.columns()) {
                let v = if column.is_null(i) {
                    Value::Null
                } else {
                    match column.data_type() {
                        DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(i)),
                        DataType::Float64 => Value::from(column.as_primitive::<Float64Type>().value(i)),
                        DataType::Utf8 => Value::from(column.as_string::<i32>().value(i)),
                        DataType::Binary => Value::from(
                            base64::engine::general_purpose::STANDARD.encode(column.as_binary::<i32>().value(i)),
                        ),
                        DataType::LargeBinary => Value::from(
                            base64::engine::general_purpose::STANDARD.encode(column.as_binary::<i64>().value(i)),
                        ),
                        DataType::FixedSizeList(_, _) => {
                            let values = column.as_fixed_size_list().value(i);
                            Value::from(
                                values
                                    .as_primitive::<Float32Type>()
                                    .values()
                                    .iter()
                                    .map(|f| f64::from(*f))
                                    .collect::<Vec<_>>(),
                            )
                        }
                        other => panic!("unexpected column type {other}"),
                    }
                };
                row.insert(field.name().clone(), v);
            }
            rows.push(Value::Object(row));
        }
    }
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

/// Asserts that `batches` hold the rows a fixture's `expected.json` records for `table`
/// (its entry under `"tables"`), named `name` in the failure message.
pub fn assert_fixture_rows(batches: &[RecordBatch], table: &Value, name: &str) {
    let want = table["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no rows in expected.json"));
    assert_eq!(&rows_as_json(batches), want, "{name}");
}

/// Asserts that the table `fixtures.nope` does not exist in `lake`: `NotFound`, not another
/// error.
pub async fn assert_unknown_table_not_found(lake: &dyn lake_api::LakeStorage) {
    match lake.table_info(&TablePath::new("fixtures", "nope")).await {
        Ok(info) => panic!("found a table that does not exist: {info:?}"),
        Err(e) => assert_eq!(e.kind(), lake_api::ErrorKind::NotFound, "{e}"),
    }
}

/// A small primary-key table `bad.t(k BIGINT, v STRING)` in one bucket, for bad-input tests.
pub fn small_table() -> lake_api::TableInfo {
    use arrow::datatypes::{Field, Schema};
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    lake_api::TableInfo::primary_key_table(TablePath::new("bad", "t"), schema, vec!["k".into()], 1)
}

/// Rows of [`small_table`] for `keys`, `v` = `v<key>`.
pub fn small_rows(keys: std::ops::Range<i64>) -> RecordBatch {
    use arrow::array::{Int64Array, StringArray};
    RecordBatch::try_new(
        small_table().schema,
        vec![
            Arc::new(Int64Array::from_iter_values(keys.clone())),
            Arc::new(StringArray::from_iter_values(keys.map(|k| format!("v{k}")))),
        ],
    )
    .expect("batch")
}

/// Reads `snapshot` of [`small_table`] in `lake`, serialized split by split.
pub async fn read_small_table(lake: &dyn LakeStorage, snapshot: i64) -> lake_api::Result<Vec<RecordBatch>> {
    read_snapshot(lake, lake, &small_table().path, snapshot)
        .await
        .map(|(b, _)| b)
}

/// Tiers keys 0..10 of [`small_table`] into `lake` as one snapshot committed with
/// `offsets` as its `fluss-offsets`; returns the snapshot id.
pub async fn tier_small_table(lake: &dyn LakeStorage, offsets: &str) -> i64 {
    use lake_api::{ChangeType, LogBatch, TableBucket};
    let mut writer = lake.create_lake_writer(&small_table()).await.expect("writer");
    let batch = LogBatch::new(small_rows(0..10), vec![ChangeType::Insert; 10], 0);
    writer.write(&TableBucket::new(0), &batch).await.expect("write");
    writer
        .commit(std::collections::BTreeMap::from([(
            "fluss-offsets".to_string(),
            offsets.to_string(),
        )]))
        .await
        .expect("commit")
        .id
}

/// The files under `dir` (recursively) whose name ends with `.<extension>`.
pub fn files_with_extension(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_with_extension(&p, extension));
        } else if p.extension().is_some_and(|e| e == extension) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// One row of every Fluss type a lake holds and one of nulls: `id BIGINT NOT NULL`, then
/// TINYINT, SMALLINT, INT, FLOAT, DOUBLE, BOOLEAN, DATE, TIME(3), TIMESTAMP(6),
/// TIMESTAMP_LTZ(3), DECIMAL(10, 2), BYTES and STRING columns, all nullable.
pub fn every_type_batch() -> RecordBatch {
    use arrow::array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array, Int16Array,
        Int32Array, Int64Array, StringArray, Time32MillisecondArray, TimestampMicrosecondArray,
        TimestampMillisecondArray,
    };
    use arrow::datatypes::{Field, Schema, TimeUnit};
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tiny", DataType::Int8, true),
        Field::new("small", DataType::Int16, true),
        Field::new("int", DataType::Int32, true),
        Field::new("float", DataType::Float32, true),
        Field::new("double", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("day", DataType::Date32, true),
        Field::new("time", DataType::Time32(TimeUnit::Millisecond), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "ltz",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("price", DataType::Decimal128(10, 2), true),
        Field::new("bytes", DataType::Binary, true),
        Field::new("text", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int8Array::from(vec![Some(-8), None])),
            Arc::new(Int16Array::from(vec![Some(300), None])),
            Arc::new(Int32Array::from(vec![Some(-70_000), None])),
            Arc::new(Float32Array::from(vec![Some(1.5), None])),
            Arc::new(Float64Array::from(vec![Some(-2.25), None])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(Date32Array::from(vec![Some(19_723), None])),
            Arc::new(Time32MillisecondArray::from(vec![Some(3_600_123), None])),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None])),
            Arc::new(TimestampMillisecondArray::from(vec![Some(1_700_000_000_123), None]).with_timezone("UTC")),
            Arc::new(
                Decimal128Array::from(vec![Some(12_345), None])
                    .with_precision_and_scale(10, 2)
                    .expect("decimal"),
            ),
            Arc::new(BinaryArray::from(vec![Some(&b"\x00\x01"[..]), None])),
            Arc::new(StringArray::from(vec![Some("héllo"), None])),
        ],
    )
    .expect("batch")
}

/// Tiers [`every_type_batch`] into `lake` as table `types.all` (a primary-key table on `id`
/// when `primary_key`, else a log table; one bucket) and reads the snapshot back, conformed
/// to the batch's schema; returns the lake's view of the table too.
pub async fn every_type_round_trip(
    lake: &dyn LakeStorage,
    primary_key: bool,
) -> (lake_api::TableInfo, RecordBatch, Vec<RecordBatch>) {
    use lake_api::{ChangeType, LogBatch, TableBucket, TableInfo};
    let batch = every_type_batch();
    let path = TablePath::new("types", "all");
    let (info, change) = if primary_key {
        (
            TableInfo::primary_key_table(path, batch.schema(), vec!["id".into()], 1),
            ChangeType::Insert,
        )
    } else {
        (TableInfo::log_table(path, batch.schema(), 1), ChangeType::AppendOnly)
    };
    let mut writer = lake.create_lake_writer(&info).await.expect("writer");
    let log = LogBatch::new(batch.clone(), vec![change; batch.num_rows()], 0);
    writer.write(&TableBucket::new(0), &log).await.expect("write");
    let snapshot = writer.commit(std::collections::BTreeMap::new()).await.expect("commit");
    let lake_info = lake.table_info(&info.path).await.expect("info");
    info.ensure_compatible(&lake_info)
        .expect("the lake table matches the log's");
    let (batches, _) = read_snapshot(lake, lake, &info.path, snapshot.id).await.expect("read");
    let back = batches
        .iter()
        .map(|b| lake_api::conform::conform_batch(b, &batch.schema()).expect("conform to the log's schema"))
        .collect();
    (lake_info, batch, back)
}

/// Tiers [`every_type_batch`] from a memory log into `lake` (table `types.union`, a
/// primary-key table on `id` when `primary_key`, else a log table), appends a tail row and
/// union-reads the table: the rows must come back as the log holds them, with the log's
/// types however the lake stores them. Returns what was written and what was read, sorted
/// by `id`.
pub async fn every_type_union_read(
    lake: Arc<dyn LakeStorage>,
    primary_key: bool,
) -> Result<(RecordBatch, RecordBatch), String> {
    use lake_api::memory::{MemoryLog, tier};
    use lake_api::{ChangeType, TableBucket, TableInfo, UnionTable};
    let fail = |e: lake_api::Error| e.to_string();
    let batch = every_type_batch();
    let path = TablePath::new("types", "union");
    let (info, change) = if primary_key {
        (
            TableInfo::primary_key_table(path, batch.schema(), vec!["id".into()], 1),
            ChangeType::Insert,
        )
    } else {
        (TableInfo::log_table(path, batch.schema(), 1), ChangeType::AppendOnly)
    };
    let log = MemoryLog::new(info.clone()).map_err(fail)?;
    let bucket = TableBucket::new(0);
    log.append(&bucket, batch.clone(), vec![change; batch.num_rows()])
        .map_err(fail)?;
    tier(&log, lake.as_ref(), None).await.map_err(fail)?;
    // the tail: row 1 again as id 3
    let mut tail = batch.slice(0, 1).columns().to_vec();
    tail[0] = Arc::new(arrow::array::Int64Array::from(vec![3]));
    let tail = RecordBatch::try_new(batch.schema(), tail).map_err(|e| e.to_string())?;
    log.append(&bucket, tail.clone(), vec![change]).map_err(fail)?;
    let written = arrow::compute::concat_batches(&batch.schema(), [&batch, &tail]).map_err(|e| e.to_string())?;

    let table = UnionTable::new(info, Arc::new(log), Some(lake)).map_err(fail)?;
    let mut read = Vec::new();
    for strategy in [lake_api::MergeStrategy::SortMerge, lake_api::MergeStrategy::KeyFilter] {
        let batches = table
            .scan()
            .strategy(strategy)
            .build()
            .await
            .map_err(fail)?
            .collect()
            .await
            .map_err(|e| format!("{strategy}: {e}"))?;
        let got = arrow::compute::concat_batches(&batch.schema(), &batches).map_err(|e| e.to_string())?;
        let order = arrow::compute::sort_to_indices(got.column(0), None, None).map_err(|e| e.to_string())?;
        let got = arrow::compute::take_record_batch(&got, &order).map_err(|e| e.to_string())?;
        read.push(got);
    }
    if read[0] != read[1] {
        return Err(format!("the strategies differ:\n{:?}\n{:?}", read[0], read[1]));
    }
    Ok((written, read.swap_remove(0)))
}

/// Checks that the filters a lake accepts select the rows the engine's own evaluation
/// does, on the values where float and integer comparisons part ways: NaN (greatest, as
/// Arrow orders it), -0.0 and 0.0 (apart), a Float32 value its Float64 literal does not
/// equal, and a literal past an Int32 column's range. A lake that cannot match a filter
/// must leave it remaining; the engine applies the rest, as a union read does. Then the
/// same for null checks on list and struct columns.
pub async fn accepted_filters_match_the_engine(lake: &dyn LakeStorage) -> Result<(), String> {
    use arrow::array::{Float32Array, Float64Array, Int32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};
    use lake_api::predicate::{Predicate, col};
    use lake_api::{ChangeType, LogBatch, TableBucket, TableInfo};

    let fail = |e: lake_api::Error| e.to_string();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("i32", DataType::Int32, true),
    ]));
    let info = TableInfo::primary_key_table(TablePath::new("floats", "t"), schema.clone(), vec!["id".into()], 1);
    let rows = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..7)),
            Arc::new(Float32Array::from(vec![
                Some(0.1f32),
                Some(f32::NAN),
                Some(-0.0),
                Some(0.0),
                Some(0.5),
                Some(2.0),
                None,
            ])),
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                Some(f64::NAN),
                Some(-0.0),
                Some(0.0),
                Some(0.1),
                Some(2.0),
                None,
            ])),
            Arc::new(Int32Array::from(vec![
                Some(1),
                Some(-5),
                None,
                Some(i32::MAX),
                Some(0),
                Some(7),
                Some(3),
            ])),
        ],
    )
    .map_err(|e| e.to_string())?;
    let mut writer = lake.create_lake_writer(&info).await.map_err(fail)?;
    let batch = LogBatch::new(rows.clone(), vec![ChangeType::Insert; rows.num_rows()], 0);
    writer.write(&TableBucket::new(0), &batch).await.map_err(fail)?;
    let snapshot = writer.commit(Default::default()).await.map_err(fail)?.id;

    let filters: Vec<Predicate> = vec![
        col("f64").gt(1.0),
        // past every number's bound: only NaN is greater
        col("f64").gt(3.0),
        col("f32").gt_eq(3.0),
        col("f64").gt_eq(0.1),
        col("f64").lt(1.0),
        col("f64").eq(0.0),
        col("f64").not_eq(0.0),
        col("f64").in_list([0.0, 0.5]),
        col("f64").gt(1i64),
        col("f32").gt(0.1),
        col("f32").eq(0.1),
        col("f32").lt_eq(0.1),
        col("f32").eq(0.5),
        col("f32").gt(0.5f32),
        col("i32").lt(10_000_000_000i64),
        col("i32").gt(-10_000_000_000i64),
        col("id").gt(i64::MIN),
        col("f64").gt(1.0).or(col("i32").eq(3i64)),
    ];
    filters_read_as_the_engine_selects(lake, &info.path, snapshot, &rows, filters).await?;
    nested_null_filters_match_the_engine(lake).await
}

/// Checks that `IS [NOT] NULL` on list and struct columns, which a lake either applies
/// itself or leaves to the engine, selects the rows the engine does. Regressions: Iceberg
/// accepted them and then failed the scan ("Accessor for Field tags not found"); paimon's
/// read of a pushed one panicked in parquet's predicate cache.
async fn nested_null_filters_match_the_engine(lake: &dyn LakeStorage) -> Result<(), String> {
    use arrow::array::{Int64Array, Int64Builder, ListBuilder, StringArray, StructArray};
    use arrow::buffer::NullBuffer;
    use arrow::datatypes::{Field, Fields, Schema};
    use lake_api::predicate::col;
    use lake_api::{ChangeType, LogBatch, TableBucket, TableInfo};

    let fail = |e: lake_api::Error| e.to_string();
    let mut tags = ListBuilder::new(Int64Builder::new());
    for row in [Some(vec![1, 2]), None, Some(vec![]), None] {
        match row {
            Some(values) => {
                tags.values().append_slice(&values);
                tags.append(true);
            }
            None => tags.append(false),
        }
    }
    let tags = tags.finish();
    let city = Field::new("city", DataType::Utf8, true);
    let addr = StructArray::try_new(
        Fields::from(vec![city.clone()]),
        vec![Arc::new(StringArray::from(vec![Some("a"), None, None, Some("b")]))],
        Some(NullBuffer::from(vec![true, true, false, false])),
    )
    .map_err(|e| e.to_string())?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new("addr", addr.data_type().clone(), true),
    ]));
    let info = TableInfo::log_table(TablePath::new("nested", "t"), schema.clone(), 1);
    let rows = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..4)),
            Arc::new(tags),
            Arc::new(addr),
        ],
    )
    .map_err(|e| e.to_string())?;
    let mut writer = lake.create_lake_writer(&info).await.map_err(fail)?;
    let batch = LogBatch::new(rows.clone(), vec![ChangeType::AppendOnly; rows.num_rows()], 0);
    writer.write(&TableBucket::new(0), &batch).await.map_err(fail)?;
    let snapshot = writer.commit(Default::default()).await.map_err(fail)?.id;
    let filters = vec![
        col("id").gt(-1),
        col("tags").is_null(),
        col("tags").is_not_null(),
        col("addr").is_null(),
        col("addr").is_not_null(),
        col("tags").is_null().or(col("id").eq(0)),
    ];
    filters_read_as_the_engine_selects(lake, &info.path, snapshot, &rows, filters).await
}

/// Checks, filter by filter, that what `lake` reads of `snapshot` with the filter pushed
/// down (and the filters it leaves remaining applied after) holds the rows the engine
/// selects from `rows`, the snapshot's whole content, by their `id` column.
pub async fn filters_read_as_the_engine_selects(
    lake: &dyn LakeStorage,
    path: &TablePath,
    snapshot: i64,
    rows: &RecordBatch,
    filters: Vec<lake_api::predicate::Predicate>,
) -> Result<(), String> {
    use lake_api::predicate::filter_batch;
    let fail = |e: lake_api::Error| e.to_string();
    for filter in filters {
        let want = ids(&[filter_batch(rows, std::slice::from_ref(&filter)).map_err(fail)?]);
        let mut source = lake.create_lake_source(path).await.map_err(fail)?;
        let pushed = source.with_filters(vec![filter.clone()]);
        let mut got = Vec::new();
        for split in plan(source.as_ref(), snapshot).await.map_err(fail)? {
            for batch in read_split(source.as_ref(), split)
                .await
                .map_err(|e| format!("{filter}: {e}"))?
            {
                got.push(filter_batch(&batch, &pushed.remaining).map_err(fail)?);
            }
        }
        let accepted = if pushed.accepted.is_empty() {
            "remaining"
        } else {
            "accepted"
        };
        if ids(&got) != want {
            return Err(format!(
                "{filter} ({accepted}): the lake read {:?}, the engine selects {want:?}",
                ids(&got)
            ));
        }
    }
    Ok(())
}

/// Writes a log table partitioned by an INT, a DATE and a BOOLEAN column into `lake`, a
/// bucket per partition, and checks that its splits name the partitions as Fluss does
/// (`2024-01-01` for a date) and read every row back.
pub async fn partitions_of_every_key_type_read_back(lake: &dyn LakeStorage) -> lake_api::Result<()> {
    use arrow::array::{BooleanArray, Date32Array, Int32Array, Int64Array};
    use arrow::datatypes::{Field, Schema};
    use lake_api::{ChangeType, LogBatch, TableBucket, TableInfo};
    let schema = Arc::new(Schema::new(vec![
        Field::new("p", DataType::Int32, false),
        Field::new("d", DataType::Date32, false),
        Field::new("b", DataType::Boolean, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let info = TableInfo::log_table(TablePath::new("typed", "parts"), schema.clone(), 1).with_partition_keys(vec![
        "p".into(),
        "d".into(),
        "b".into(),
    ]);
    let name = |p: &str, d: &str, b: &str| vec![p.to_string(), d.to_string(), b.to_string()];
    let partitions = [
        (name("1", "2024-01-01", "true"), (1, 19_723, true), vec![10, 11]),
        (name("-7", "1970-01-01", "false"), (-7, 0, false), vec![12]),
        (name("1", "2024-01-02", "true"), (1, 19_724, true), vec![13]),
        // years Fluss writes with five digits, or a sign (`%04d`)
        (name("2", "10000-01-01", "true"), (2, 2_932_897, true), vec![14]),
        (name("3", "-001-12-31", "false"), (3, -719_529, false), vec![15]),
    ];
    let mut writer = lake.create_lake_writer(&info).await?;
    for (offset, (partition, (p, d, b), values)) in partitions.iter().enumerate() {
        let n = values.len();
        let rows = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![*p; n])),
                Arc::new(Date32Array::from(vec![*d; n])),
                Arc::new(BooleanArray::from(vec![*b; n])),
                Arc::new(Int64Array::from(values.clone())),
            ],
        )?;
        let bucket = TableBucket::partitioned(partition.clone(), 0);
        let batch = LogBatch::new(rows, vec![ChangeType::AppendOnly; n], offset as i64 * 10);
        writer.write(&bucket, &batch).await?;
    }
    let snapshot = writer.commit(std::collections::BTreeMap::new()).await?.id;
    let (batches, splits) = read_snapshot(lake, lake, &info.path, snapshot).await?;
    let read: std::collections::BTreeSet<Vec<String>> = splits.iter().map(|s| s.partition().to_vec()).collect();
    let want: std::collections::BTreeSet<Vec<String>> = partitions.iter().map(|(p, _, _)| p.clone()).collect();
    assert_eq!(read, want);
    assert_eq!(sorted_column(&batches, "v"), vec![10, 11, 12, 13, 14, 15]);
    Ok(())
}
