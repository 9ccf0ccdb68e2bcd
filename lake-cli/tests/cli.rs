//! Drives the built `lakescan` binary against LocalLog tables built in temp directories.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, AsArray, FixedSizeListArray, Float32Array, Float64Array, Int64Array, LargeBinaryArray, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use fluss_client::local::{LocalLog, LocalLogOptions};
use lake_api::memory::{demo_info, demo_rounds};
use lake_api::types::{LogicalType, blob_field, vector_field};
use lake_api::{ChangeType, TableBucket, TableInfo, TablePath};
use serde_json::Value;

fn lakescan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakescan"))
        .args(args)
        .output()
        .expect("run lakescan")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = lakescan(args);
    assert!(o.status.success(), "lakescan {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

/// The demo table (both rounds of changes, updates and deletes included) in a LocalLog
/// under `root`, with no lake.
fn demo_log(root: &Path) {
    let log = LocalLog::create(root, &demo_info(), LocalLogOptions::default()).unwrap();
    let (first, tail) = demo_rounds().unwrap();
    for (bucket, batch, changes) in first.into_iter().chain(tail) {
        log.append(&bucket, batch, changes).unwrap();
    }
}

/// The demo table's rows by id, by applying its changes in order: (region, customer, amount).
fn demo_expected() -> BTreeMap<i64, (String, String, f64)> {
    let (first, tail) = demo_rounds().unwrap();
    apply(first.into_iter().chain(tail))
}

/// The rows by id after applying changes in order.
fn apply(
    rounds: impl Iterator<Item = (TableBucket, RecordBatch, Vec<ChangeType>)>,
) -> BTreeMap<i64, (String, String, f64)> {
    let mut rows = BTreeMap::new();
    for (_, batch, changes) in rounds {
        let id = batch.column(0).as_primitive::<Int64Type>();
        let region = batch.column(1).as_string::<i32>();
        let customer = batch.column(2).as_string::<i32>();
        let amount = batch.column(3).as_primitive::<Float64Type>();
        for (i, change) in changes.iter().enumerate() {
            match change {
                ChangeType::Insert | ChangeType::UpdateAfter | ChangeType::AppendOnly => {
                    rows.insert(
                        id.value(i),
                        (
                            region.value(i).to_string(),
                            customer.value(i).to_string(),
                            amount.value(i),
                        ),
                    );
                }
                ChangeType::UpdateBefore | ChangeType::Delete => {
                    rows.remove(&id.value(i));
                }
            }
        }
    }
    rows
}

fn json_rows(v: &[Value]) -> BTreeMap<i64, (String, String, f64)> {
    v.iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                (
                    r["region"].as_str().unwrap().to_string(),
                    r["customer"].as_str().unwrap().to_string(),
                    r["amount"].as_f64().unwrap(),
                ),
            )
        })
        .collect()
}

fn dir_arg(dir: &tempfile::TempDir) -> String {
    dir.path().to_string_lossy().into_owned()
}

/// A directory holding what `write` writes into it (a log), and its path as an argument.
fn log_dir(write: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path());
    let root = dir_arg(&dir);
    (dir, root)
}

/// A directory holding the demo log, and its path as an argument.
fn demo_dir() -> (tempfile::TempDir, String) {
    log_dir(demo_log)
}

#[test]
fn json_scan_equals_applying_the_log() {
    let (dir, root) = demo_dir();
    for strategy in ["auto", "sort-merge", "key-filter"] {
        let out = ok(&[
            "scan",
            "--log",
            &root,
            "--table",
            "demo.orders",
            "--format",
            "json",
            "--strategy",
            strategy,
        ]);
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(rows.len(), 9, "{out}");
        assert_eq!(json_rows(&rows), demo_expected(), "{strategy}");
    }
    // the table directory itself, and a root with one table, address it too
    let table_dir = dir.path().join("demo/orders");
    let out = ok(&["scan", "--log", table_dir.to_str().unwrap(), "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(json_rows(&rows), demo_expected());
    let out = ok(&["scan", "--log", &root, "--format", "json", "-q"]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 9);
}

#[test]
fn filter_columns_and_limit() {
    let (_dir, root) = demo_dir();
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "json",
        "--columns",
        "id,customer",
        "--filter",
        "amount > 10 AND region = 'us'",
    ]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let mut got: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.as_object().unwrap().len(), 2, "only the projected columns: {r}");
            (r["id"].as_i64().unwrap(), r["customer"].as_str().unwrap().to_string())
        })
        .collect();
    got.sort();
    let mut want: Vec<(i64, String)> = demo_expected()
        .into_iter()
        .filter(|(_, (region, _, amount))| *amount > 10.0 && region == "us")
        .map(|(id, (_, customer, _))| (id, customer))
        .collect();
    want.sort();
    assert_eq!(got, want);

    let out = ok(&["scan", "--log", &root, "--format", "jsonl", "--limit", "4"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let expected = demo_expected();
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_i64().unwrap();
        assert_eq!(expected[&id].1, v["customer"].as_str().unwrap());
    }
}

/// A log table of floats that JSON has no number for, and of a map keyed by integers.
fn special_values_log(root: &Path) {
    use arrow::array::{Int32Builder, MapBuilder, StringBuilder};
    let mut map = MapBuilder::new(None, Int32Builder::new(), StringBuilder::new());
    for entries in [&[(1, Some("a")), (-2, None)][..], &[], &[(3, Some("c\"q"))], &[], &[]] {
        for (k, v) in entries {
            map.keys().append_value(*k);
            map.values().append_option(*v);
        }
        map.append(true).unwrap();
    }
    let map = map.finish();
    let embedding = FixedSizeListArray::try_new(
        Arc::new(arrow::datatypes::Field::new("item", DataType::Float32, false)),
        2,
        Arc::new(Float32Array::from(vec![
            f32::NAN,
            1.0,
            0.5,
            f32::INFINITY,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ])),
        None,
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        arrow::datatypes::Field::new("id", DataType::Int64, false),
        arrow::datatypes::Field::new("x", DataType::Float64, true),
        arrow::datatypes::Field::new("m", arrow::array::Array::data_type(&map).clone(), true),
        vector_field("e", DataType::Float32, 2, true),
    ]));
    let info = TableInfo::log_table(TablePath::new("odd", "values"), schema.clone(), 1);
    let log = LocalLog::create(root, &info, LocalLogOptions::default()).unwrap();
    let x = Float64Array::from(vec![
        Some(f64::NAN),
        Some(f64::INFINITY),
        Some(f64::NEG_INFINITY),
        Some(1.5),
        None,
    ]);
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])) as ArrayRef,
            Arc::new(x),
            Arc::new(map),
            Arc::new(embedding),
        ],
    )
    .unwrap();
    log.append(&TableBucket::new(0), batch, vec![ChangeType::AppendOnly; 5])
        .unwrap();
}

#[test]
fn json_keeps_nan_infinities_and_maps_keyed_by_integers() {
    // regression: NaN and the infinities were written as null, which no reader can tell
    // from a NULL, and a map keyed by integers failed the whole scan
    let (_dir, root) = log_dir(special_values_log);
    let want = serde_json::json!([
        {"id": 1, "x": "NaN", "m": {"1": "a", "-2": null}, "e": ["NaN", 1.0]},
        {"id": 2, "x": "Infinity", "m": {}, "e": [0.5, "Infinity"]},
        {"id": 3, "x": "-Infinity", "m": {"3": "c\"q"}, "e": [0.0, 0.0]},
        {"id": 4, "x": 1.5, "m": {}, "e": [0.0, 0.0]},
        {"id": 5, "x": null, "m": {}, "e": [0.0, 0.0]},
    ]);
    let lines = ok(&["scan", "--log", &root, "--format", "jsonl"]);
    let rows: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(Value::Array(rows), want, "{lines}");
    let array: Value = serde_json::from_str(&ok(&["scan", "--log", &root, "--format", "json"])).unwrap();
    assert_eq!(array, want);
}

#[test]
fn csv_and_jsonl_content() {
    let (_dir, root) = demo_dir();
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "csv",
        "--columns",
        "id,customer,amount",
        "--filter",
        "id <= 3",
    ]);
    let mut lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.remove(0), "id,customer,amount");
    lines.sort();
    // 3 (alan) was deleted, 2 (grace) updated to 95
    assert_eq!(lines, vec!["1,ada,12.5", "2,grace,95.0"]);

    let out = ok(&["scan", "--log", &root, "--format", "jsonl"]);
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(json_rows(&rows), demo_expected());

    // an empty result still has a CSV header
    let out = ok(&["scan", "--log", &root, "--format", "csv", "--filter", "id > 1000"]);
    assert_eq!(out, "id,region,customer,amount,photo,embedding\n");
}

#[test]
fn parquet_and_arrow_files_read_back() {
    let (_dir, root) = demo_dir();
    let out_dir = tempfile::tempdir().unwrap();
    let pq = out_dir.path().join("f.parquet");
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--format",
        "parquet",
        "--output",
        pq.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 9 rows"), "{}", stderr(&o));
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
            .unwrap()
            .build()
            .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let mut got = BTreeMap::new();
    for b in &batches {
        let id = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let customer = b.column_by_name("customer").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            got.insert(id.value(i), customer.value(i).to_string());
        }
    }
    let want: BTreeMap<i64, String> = demo_expected().into_iter().map(|(k, v)| (k, v.1)).collect();
    assert_eq!(got, want);

    let ipc = out_dir.path().join("f.arrow");
    ok(&["scan", "--log", &root, "--format", "arrow", "-o", ipc.to_str().unwrap()]);
    let reader = arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&ipc).unwrap(), None).unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 9);

    // binary to a pipe (not a terminal) is allowed
    let o = lakescan(&["scan", "--log", &root, "--format", "parquet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.starts_with(b"PAR1"));
}

/// The BLOBs of `media.items`' rows 1 and 2 (row 3's is NULL).
fn media_images() -> (Vec<u8>, Vec<u8>) {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.resize(53 * 1024, 7);
    jpeg[100] = 42;
    let png = b"\x89PNG\r\n\x1a\n0123456789".to_vec();
    (jpeg, png)
}

/// `media.items`: id, a BLOB and a VECTOR<FLOAT, 768>, one bucket.
fn media_log(root: &Path) -> TableInfo {
    let schema = Arc::new(Schema::new(vec![
        arrow::datatypes::Field::new("id", DataType::Int64, false),
        blob_field("image", true),
        vector_field("embedding", DataType::Float32, 768, true),
    ]));
    let info = TableInfo::primary_key_table(TablePath::new("media", "items"), schema.clone(), vec!["id".into()], 1);
    let log = LocalLog::create(root, &info, LocalLogOptions::default()).unwrap();
    let (jpeg, png) = media_images();
    let images = LargeBinaryArray::from_opt_vec(vec![Some(jpeg.as_slice()), Some(png.as_slice()), None]);
    let values = Float32Array::from_iter_values((0..3 * 768).map(|i| (i % 768) as f32 * 0.5));
    let vectors = FixedSizeListArray::try_new(
        Arc::new(arrow::datatypes::Field::new("item", DataType::Float32, false)),
        768,
        Arc::new(values),
        None,
    )
    .unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
            Arc::new(images),
            Arc::new(vectors),
        ],
    )
    .unwrap();
    log.append(&TableBucket::new(0), batch, vec![ChangeType::Insert; 3])
        .unwrap();
    info
}

#[test]
fn schema_and_table_show_blob_and_vector() {
    let dir = tempfile::tempdir().unwrap();
    media_log(dir.path());
    let root = dir_arg(&dir);
    let out = ok(&["schema", "--log", &root, "--table", "media.items"]);
    assert!(out.contains("image      BLOB"), "{out}");
    assert!(out.contains("embedding  VECTOR<FLOAT, 768>"), "{out}");
    assert!(out.contains("primary key: id"), "{out}");
    assert!(out.contains("buckets: 1"), "{out}");
    assert!(out.contains("merge engine: deduplicate"), "{out}");

    let out = ok(&["scan", "--log", &root]);
    assert!(out.contains("<blob 53 KB image/jpeg>"), "{out}");
    assert!(out.contains("<blob 18 B image/png>"), "{out}");
    assert!(out.contains("[0.0, 0.5, 1.0, … 768 dims]"), "{out}");
    assert!(out.contains("NULL"), "{out}");
    assert!(out.lines().all(|l| l.chars().count() < 120), "{out}");

    // parquet keeps the BLOB and VECTOR types
    let pq = dir.path().join("media.parquet");
    ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "parquet",
        "-o",
        pq.to_str().unwrap(),
    ]);
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
            .unwrap();
    let schema = builder.schema().clone();
    assert_eq!(
        LogicalType::of(schema.field_with_name("image").unwrap()),
        LogicalType::Blob
    );
    assert!(matches!(
        LogicalType::of(schema.field_with_name("embedding").unwrap()),
        LogicalType::Vector { dimension: 768, .. }
    ));
    let rows: usize = builder.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 3);

    // CSV holds vectors as text
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "csv",
        "--columns",
        "id,embedding",
        "--filter",
        "id = 1",
    ]);
    assert!(out.starts_with("id,embedding\n1,\"[0.0, 0.5, 1.0"), "{out}");

    // regression: CSV held BLOB payloads as hex; a cell is its description
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "csv",
        "--columns",
        "id,image",
        "--filter",
        "id = 1",
    ]);
    let line = out.lines().nth(1).unwrap_or_default();
    assert!(line.starts_with("1,<blob ") && line.contains("B"), "{out}");

    // --blob-bytes: the bytes themselves, in hex
    let (jpeg, png) = media_images();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "csv",
        "--columns",
        "id,image",
        "--blob-bytes",
    ]);
    assert!(
        out.contains(&format!("1,{}", hex(&jpeg))),
        "{}",
        &out[..200.min(out.len())]
    );
    assert!(
        out.contains(&format!("2,{}", hex(&png))),
        "{}",
        &out[..200.min(out.len())]
    );
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--columns",
        "id,image",
        "--filter",
        "id = 2",
        "--blob-bytes",
        "--max-width",
        "0",
    ]);
    assert!(out.contains(&hex(&png)), "{out}");
}

#[test]
fn the_table_format_holds_at_most_max_rows() {
    let (_dir, root) = demo_dir();
    let out = ok(&["scan", "--log", &root, "--max-rows", "3"]);
    assert!(out.contains("(3 of 9 rows shown"), "{out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("| ") && !l.contains(" id "))
            .count(),
        3,
        "{out}"
    );
    let all = ok(&["scan", "--log", &root, "--max-rows", "0"]);
    assert!(!all.contains("rows shown"), "{all}");
}

#[test]
fn an_output_file_without_a_format_takes_its_extension() {
    // regression: `-o rows.csv` wrote a bordered text table of the first 1000 rows
    let (dir, root) = log_dir(|root| big_log(root, 1500));
    let csv = dir.path().join("rows.csv");
    ok(&["scan", "--log", &root, "-o", csv.to_str().unwrap()]);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().next(), Some("id,text"), "{}", &text[..200.min(text.len())]);
    assert_eq!(text.lines().count(), 1501);
    let jsonl = dir.path().join("rows.JSONL");
    ok(&["scan", "--log", &root, "-o", jsonl.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap().lines().count(), 1500);
    let pq = dir.path().join("rows.parquet");
    ok(&["scan", "--log", &root, "-o", pq.to_str().unwrap()]);
    let rows: usize =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
    assert_eq!(rows, 1500);
    // an extension it does not know, and --format, keep the table
    let txt = dir.path().join("rows.txt");
    ok(&["scan", "--log", &root, "-o", txt.to_str().unwrap(), "--max-rows", "2"]);
    assert!(std::fs::read_to_string(&txt).unwrap().contains("(2 of 1500 rows shown"));
    // --follow writes a stream: an extension naming a whole-file format is refused, saying so
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--follow",
        "-o",
        dir.path().join("f.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not json, which"), "{}", stderr(&o));
    let forced = dir.path().join("forced.csv");
    ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "jsonl",
        "-o",
        forced.to_str().unwrap(),
    ]);
    assert!(std::fs::read_to_string(&forced).unwrap().starts_with('{'));
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_names_the_output() {
    // regression: a full disk said "Csv error: No space left on device (os error 28)",
    // naming no file
    let (_dir, root) = log_dir(|root| big_log(root, 3000));
    for format in ["csv", "jsonl", "json", "table"] {
        let o = lakescan(&["scan", "--log", &root, "--format", format, "-o", "/dev/full"]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        assert!(stderr(&o).contains("writing /dev/full"), "{format}: {}", stderr(&o));
    }
}

#[test]
fn a_failed_scan_leaves_no_output_file() {
    // regression: text --output was written in place, so a scan failing midway left a
    // truncated file
    let dir = tempfile::tempdir().unwrap();
    demo_log(dir.path());
    // corrupt the first of a bucket's two batches: reading it fails after output began
    let log_dir = dir.path().join("demo").join("orders").join("log");
    let partition = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("us-p"))
        .unwrap();
    let segment = std::fs::read_dir(partition.join("bucket-0"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[60] ^= 0xff;
    std::fs::write(&segment, bytes).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("rows.csv");
    let root = dir_arg(&dir);
    let out = lakescan(&[
        "scan",
        "--log",
        &root,
        "--format",
        "csv",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("CRC"), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(out_dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}

#[test]
fn log_dot_from_inside_the_table_directory() {
    // regression: `--log .` has no file name, so the table directory was not recognised
    let dir = tempfile::tempdir().unwrap();
    demo_log(dir.path());
    let table_dir = dir.path().join("demo").join("orders");
    let out = lakescan_in(&table_dir, &["scan", "--log", ".", "--format", "jsonl"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 9);
}

#[test]
fn explain_and_stats() {
    let (_dir, root) = demo_dir();
    for cmd in ["explain", "splits"] {
        let out = ok(&[cmd, "--log", &root, "--strategy", "key-filter"]);
        assert!(out.contains("4 split(s)"), "{out}");
        assert!(out.contains("partition us bucket 0"), "{out}");
        assert!(out.contains("log [0, 6) of bucket 0"), "{out}");
        assert!(out.contains("key-filter"), "{out}");
        assert!(out.contains("lake: none"), "{out}");
    }
    let out = ok(&["stats", "--log", &root]);
    assert!(out.contains("rows: 9"), "{out}");
    assert!(out.contains("15 offset(s)"), "{out}");
    assert!(out.contains("lake snapshot: none"), "{out}");
    let us0 = out.lines().find(|l| l.contains("partition us bucket 0")).unwrap();
    let figures: Vec<&str> = us0.split_whitespace().rev().take(3).collect();
    assert_eq!(figures, vec!["6", "6", "0"], "tail, end, earliest: {us0}");
}

#[test]
fn a_named_lake_without_the_table_is_said_to_be_read_as_the_log_alone() {
    // regression: a warehouse that holds no snapshot of the table (a mistyped path, a table
    // not tiered yet) read the log alone without a word
    let (dir, root) = demo_dir();
    let warehouse = dir.path().join("elsewhere");
    std::fs::create_dir(&warehouse).unwrap();
    let scan = |extra: &[&str]| {
        let warehouse = warehouse.to_str().unwrap();
        let mut args = vec!["scan", "--log", &root, "--lake", "paimon", "--warehouse", warehouse];
        args.extend_from_slice(extra);
        lakescan(&args)
    };
    // regression (lake-only): no rows, and no word either
    let cases = [
        (None, 10, "read the log alone"),
        (Some("--lake-only"), 1, "a lake-only read has no rows"),
    ];
    for (mode, lines, says) in cases {
        let mut extra = vec!["--format", "csv"];
        extra.extend(mode);
        let o = scan(&extra);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o).lines().count(), lines, "{mode:?}: {}", stdout(&o));
        let note = format!("holds no snapshot of demo.orders: {says}");
        assert!(stderr(&o).contains(&note), "{mode:?}: {}", stderr(&o));
    }
    // asked for the log alone, or quiet: no note
    for extra in [&["--log-only"][..], &["-q"]] {
        let o = scan(extra);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stderr(&o).contains("holds no snapshot"), "{extra:?}: {}", stderr(&o));
    }
}

#[test]
fn stats_counts_a_table_without_a_key_reading_no_column() {
    // rows are counted with no column read (a first column could be a BLOB)
    let (_dir, root) = log_dir(|root| big_log(root, 1234));
    let out = ok(&["stats", "--log", &root]);
    assert!(out.contains("rows: 1234"), "{out}");
}

#[test]
fn the_demo_tiers_into_iceberg_and_every_command_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir_arg(&dir);
    let out = ok(&["demo", "--dir", &root]);
    assert!(out.contains("lake: an Iceberg warehouse at"), "{out}");
    let warehouse = dir.path().join("lake");
    let warehouse = warehouse.to_str().unwrap();
    for strategy in ["sort-merge", "key-filter"] {
        let out = ok(&[
            "scan",
            "--log",
            &root,
            "--warehouse",
            warehouse,
            "--format",
            "json",
            "--strategy",
            strategy,
        ]);
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(json_rows(&rows), demo_expected(), "{strategy}");
    }
    // the lake alone holds the first round: eight orders
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--lake",
        "iceberg",
        "--warehouse",
        warehouse,
        "--lake-only",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.lines().count(), 8, "{out}");
    // a key filter prunes Iceberg files by bucket[2](id): the log is bucketed to match
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--warehouse",
        warehouse,
        "--filter",
        "id = 2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("95"), "the update from the log wins: {out}");
    let out = ok(&["snapshots", "--log", &root, "--warehouse", warehouse]);
    assert!(out.contains("fluss-offsets") || out.contains("offsets"), "{out}");
    let out = ok(&["stats", "--log", &root, "--warehouse", warehouse]);
    assert!(out.contains("rows: 9"), "{out}");
    assert!(out.contains("Iceberg warehouse"), "{out}");
    let out = ok(&["explain", "--log", &root, "--warehouse", warehouse]);
    assert!(out.contains("lake snapshot:"), "{out}");
    // regression: a log-only read said the lake had no snapshot
    let out = ok(&["explain", "--log", &root, "--warehouse", warehouse, "--log-only"]);
    assert!(
        out.contains("not read (log-only)") && !out.contains("no snapshot"),
        "{out}"
    );
    let out = ok(&["schema", "--log", &root, "--warehouse", warehouse]);
    assert!(out.contains("lake: Iceberg warehouse"), "{out}");

    let o = lakescan(&["scan", "--log", &root, "--lake", "iceberg"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let missing = dir.path().join("nowhere");
    let o = lakescan(&["scan", "--log", &root, "--warehouse", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn the_demo_tiers_into_paimon_and_scans_read_it_back() {
    demo_reads_back("paimon", "lake: a Paimon warehouse at", "Paimon warehouse");
}

/// Built with `--features lance` (scripts/test.sh runs the CLI tests so too).
#[cfg(feature = "lance")]
#[test]
fn the_demo_tiers_into_lance_and_scans_read_it_back() {
    demo_reads_back("lance", "lake: Lance datasets under", "Lance datasets under");
}

#[test]
fn a_demo_whose_lake_fails_leaves_no_table_behind() {
    // regression: the table was created, the lake failed to open, and the table stayed:
    // the rerun, once the lake was put right, said the table already existed
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shop");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("lake"), b"not a directory").unwrap();
    let o = lakescan(&["demo", "--dir", root.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    std::fs::remove_file(root.join("lake")).unwrap();
    let out = ok(&["demo", "--dir", root.to_str().unwrap()]);
    assert!(out.contains("demo.orders"), "{out}");
}

#[test]
fn a_demo_directory_may_hold_the_characters_a_catalog_uri_uses() {
    // regression: the directory went into the Iceberg catalog's sqlx URI as it was, so a
    // `?` ended its path and `%41` became "A": the catalog landed in another directory
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("q?1%41");
    let root = root.to_str().unwrap();
    let out = ok(&["demo", "--dir", root]);
    assert!(out.contains("lake: an Iceberg warehouse at"), "{out}");
    assert!(dir.path().join("q?1%41/lake/catalog.db").is_file());
    let warehouse = format!("{root}/lake");
    let out = ok(&["scan", "--log", root, "--warehouse", &warehouse, "--format", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(json_rows(&rows), demo_expected());
}

/// `demo --lake FORMAT`, then scans of the lake and log with both strategies, a key filter
/// and the lake alone, and `stats`.
fn demo_reads_back(format: &str, demo_says: &str, stats_say: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir_arg(&dir);
    let out = ok(&["demo", "--lake", format, "--dir", &root]);
    assert!(out.contains(demo_says), "{out}");
    let warehouse = dir.path().join("lake");
    let warehouse = warehouse.to_str().unwrap();
    for strategy in ["sort-merge", "key-filter"] {
        let out = ok(&[
            "scan",
            "--log",
            &root,
            "--lake",
            format,
            "--warehouse",
            warehouse,
            "--format",
            "json",
            "--strategy",
            strategy,
        ]);
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(json_rows(&rows), demo_expected(), "{strategy}");
    }
    // a key filter may prune lake buckets: the log is bucketed as the lake buckets
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--lake",
        format,
        "--warehouse",
        warehouse,
        "--filter",
        "id = 2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("95"), "the update from the log wins: {out}");
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--lake",
        format,
        "--warehouse",
        warehouse,
        "--lake-only",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.lines().count(), 8, "{out}");
    let out = ok(&["stats", "--log", &root, "--lake", format, "--warehouse", warehouse]);
    assert!(out.contains(stats_say), "{out}");
    // files, bytes and stored rows from the lake's metadata; per bucket what was tiered
    let files = out
        .lines()
        .find(|l| l.starts_with("lake files: "))
        .expect("a lake files line");
    assert!(
        files.contains("8 rows stored") && (files.contains(" B,") || files.contains("KB,")),
        "{out}"
    );
    let tiered: i64 = out
        .lines()
        .filter(|l| l.trim_start().starts_with("partition "))
        .map(|l| {
            l.split_whitespace()
                .rev()
                .nth(3)
                .and_then(|t| t.parse::<i64>().ok())
                .expect("tiered")
        })
        .sum();
    let tails: i64 = out
        .lines()
        .filter(|l| l.trim_start().starts_with("partition "))
        .map(|l| {
            l.split_whitespace()
                .last()
                .and_then(|t| t.parse::<i64>().ok())
                .expect("tail")
        })
        .sum();
    assert_eq!(tiered + tails, 15, "tiered + tail = every offset: {out}");
    let o = lakescan(&["scan", "--log", &root, "--lake", format]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    if format != "iceberg" {
        // regression: a second demo (Iceberg, the default) in the same directory made its
        // SQLite catalog in this lake before the log refused the existing table
        let o = lakescan(&["demo", "--dir", &root]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
        assert!(!dir.path().join("lake/catalog.db").exists());
        // regression: a warehouse alone implies Iceberg, and opening its SQLite catalog
        // created `catalog.db` in this lake; a reader creates nothing, and says what to add
        let o = lakescan(&["scan", "--log", &root, "--warehouse", warehouse]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("no Iceberg SQLite catalog at"), "{}", stderr(&o));
        assert!(stderr(&o).contains("--lake paimon"), "{}", stderr(&o));
        assert!(!dir.path().join("lake/catalog.db").exists());
        // named, it is an Iceberg lake with nothing tiered (or a wrong path)
        let o = lakescan(&["scan", "--log", &root, "--lake", "iceberg", "--warehouse", warehouse]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("nothing was tiered"), "{}", stderr(&o));
        assert!(!dir.path().join("lake/catalog.db").exists());
    }
}

#[test]
fn bad_input_exits_with_a_clear_message() {
    let (dir, root) = demo_dir();
    for args in [
        vec!["scan", "--log", root.as_str(), "--bogus"],
        vec!["scan", "--log", root.as_str(), "--strategy", "fastest"],
        vec!["scan", "--log", root.as_str(), "--format", "xml"],
        vec!["scan", "--log", root.as_str(), "--follow", "--limit", "3"],
        vec!["scan", "--log", root.as_str(), "--lake-only", "--log-only"],
        vec!["scan", "--log", root.as_str(), "--filter", "amount >"],
        vec!["scan", "--log", root.as_str(), "--table", "nodot"],
        vec!["scan", "--log", root.as_str(), "--follow", "--format", "json"],
        vec!["nonsense"],
    ] {
        let o = lakescan(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // flags the lake given does not use (regression: silently ignored)
    for lake in [
        ["/x/v1.metadata.json", "--warehouse", "/w"].as_slice(),
        &["/x/v1.metadata.json", "--catalog-uri", "sqlite:/c.db"],
        &["lance", "--warehouse", "/w", "--catalog-uri", "http://c"],
        &["lance", "--warehouse", "/w", "--lake-option", "k=v"],
    ] {
        let args: Vec<&str> = ["scan", "--log", root.as_str(), "--lake"]
            .iter()
            .chain(lake)
            .copied()
            .collect();
        let o = lakescan(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("does not apply"), "{}", stderr(&o));
    }
    // and lake options with no lake to take them
    let o = lakescan(&["scan", "--log", root.as_str(), "--lake-option", "s3.region=r"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--lake-option applies to a lake"), "{}", stderr(&o));

    let missing = dir.path().join("no-such-dir");
    let o = lakescan(&["scan", "--log", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(missing.to_str().unwrap()), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1, "one line: {}", stderr(&o));

    let o = lakescan(&["schema", "--log", &root, "--table", "demo.missing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("demo/missing"), "{}", stderr(&o));
    let o = lakescan(&["-v", "schema", "--log", &root, "--table", "demo.missing"]);
    assert!(stderr(&o).contains("caused by"), "{}", stderr(&o));

    for args in [
        vec![
            "scan",
            "--log",
            root.as_str(),
            "--lake",
            "lance",
            "--warehouse",
            "/nonexistent-lakeunion",
        ],
        vec!["scan", "--log", root.as_str(), "--lake-only"],
        vec!["scan", "--log", root.as_str(), "--columns", "nope"],
        vec!["scan", "--log", root.as_str(), "--filter", "nope = 1"],
    ] {
        let o = lakescan(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("lakescan: "), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--lake",
        "lance",
        "--warehouse",
        "/nonexistent-lakeunion",
    ]);
    let lance_refusal = if cfg!(feature = "lance") {
        "does not exist"
    } else {
        "without the Lance backend"
    };
    assert!(stderr(&o).contains(lance_refusal), "{}", stderr(&o));

    // two tables under one root: --table picks one
    media_log(dir.path());
    let o = lakescan(&["scan", "--log", &root]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("demo.orders, media.items"), "{}", stderr(&o));
    ok(&["scan", "--log", &root, "--table", "media.items"]);
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn recv_until(rx: &mpsc::Receiver<String>, deadline: Instant, mut done: impl FnMut(&str) -> bool) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let stop = done(&line);
                got.push(line);
                if stop {
                    return got;
                }
            }
            Err(_) => panic!("timed out; got {got:?}"),
        }
    }
}

/// A `scan --follow --format jsonl` of the demo log under `root`, its stdout's lines, and
/// the nine rows it printed first.
fn follow_demo(root: &str, deadline: Instant) -> (Child, mpsc::Receiver<String>, Vec<String>) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_lakescan"))
            .args(["scan", "--follow", "--format", "jsonl", "--log", root])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut count = 0;
    let initial = recv_until(&rx, deadline, |_| {
        count += 1;
        count == 9
    });
    (child, rx, initial)
}

/// Sends `signal` (a `kill` option: `-INT`) to the child and waits for its exit status.
fn signalled(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no exit after {signal}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[cfg(unix)]
#[test]
fn termination_and_hangup_end_a_scan_as_an_interrupt_does() {
    // regression: only SIGINT was handled; SIGTERM or SIGHUP killed the process outright,
    // leaving an output's temporary file behind
    let (_dir, root) = demo_dir();
    for (signal, code) in [("-TERM", 143), ("-HUP", 129)] {
        let (mut child, _rx, _) = follow_demo(&root, Instant::now() + Duration::from_secs(60));
        let status = signalled(&mut child, signal);
        assert_eq!(status.code(), Some(code), "{signal}: the handler ran");
    }
}

#[test]
fn follow_prints_changes_as_they_arrive() {
    let (dir, root) = demo_dir();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut child, rx, initial) = follow_demo(&root, deadline);
    let rows: Vec<Value> = initial.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.iter().all(|r| r["_change_type"] == "+I"), "{initial:?}");
    assert_eq!(json_rows(&rows), demo_expected());

    // the scanner reads read-only, so the test can be the appender
    let log = open_demo_log(dir.path());
    log.append(
        &TableBucket::partitioned(vec!["us".into()], 1),
        demo_row(11, "us", "barbara l", 42.0),
        vec![ChangeType::Insert],
    )
    .unwrap();
    let got = recv_until(&rx, deadline, |l| l.contains("\"id\":11"));
    let v: Value = serde_json::from_str(got.last().unwrap()).unwrap();
    assert_eq!(v["_change_type"], "+I");
    assert_eq!(v["customer"], "barbara l");

    log.append(
        &TableBucket::partitioned(vec!["us".into()], 0),
        demo_row(2, "us", "grace", 95.0),
        vec![ChangeType::Delete],
    )
    .unwrap();
    let got = recv_until(&rx, deadline, |l| l.contains("-D"));
    let v: Value = serde_json::from_str(got.last().unwrap()).unwrap();
    assert_eq!(v["id"], 2);
    assert_eq!(v["_change_type"], "-D");
    // still running: it follows until interrupted, and Ctrl-C (SIGINT) ends it cleanly
    assert!(child.0.try_wait().unwrap().is_none());
    let status = signalled(&mut child, "-INT");
    assert_eq!(status.code(), Some(130), "the interrupt handler ran");
}

#[cfg(target_os = "linux")]
#[test]
fn output_to_dev_stdout_writes_through_the_shells_descriptor() {
    // regression: `-o /dev/stdout` reached the shell's file through /proc and renamed the
    // output over it: lines written before and after were lost
    let (_dir, root) = demo_dir();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("all.csv");
    let script = r#"{ echo before; "$0" scan --log "$1" --format csv -q -o /dev/stdout; echo after; } > "$2""#;
    let status = Command::new("sh")
        .args([
            "-c",
            script,
            env!("CARGO_BIN_EXE_lakescan"),
            &root,
            file.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12, "{text}");
    assert_eq!((lines[0], lines[11]), ("before", "after"), "{text}");
    assert!(lines[1].starts_with("id,"), "{text}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "nothing beside it");
}

#[cfg(target_os = "linux")]
#[test]
fn a_followed_scan_to_dev_stdout_keeps_what_the_file_held() {
    // regression: `--follow -o` created its file in place (`File::create`), so `-o
    // /dev/stdout` reopened the shell's file through /proc and truncated it: "before" was
    // lost, and the rows overwrote the file from its start
    let (_dir, root) = demo_dir();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("follow.jsonl");
    std::fs::write(&path, "before\n").unwrap();
    let stdout = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_lakescan"))
            .args([
                "scan",
                "--follow",
                "--format",
                "jsonl",
                "--log",
                &root,
                "-o",
                "/dev/stdout",
            ])
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&path).unwrap().lines().count() < 10 {
        assert!(Instant::now() < deadline, "{}", std::fs::read_to_string(&path).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(signalled(&mut child, "-INT").code(), Some(130));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!((lines.len(), lines[0]), (10, "before"), "{text}");
    assert!(lines[1..].iter().all(|l| l.starts_with("{\"id\":")), "{text}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1, "nothing beside it");
}

#[test]
fn follow_tails_the_buckets_nobody_had_written_to() {
    // regression: the scan tailed the buckets the log had files for when it started, and
    // the demo writes none to eu/0 (its rows hash elsewhere): a change there never came
    let dir = tempfile::tempdir().unwrap();
    let root = dir_arg(&dir);
    ok(&["demo", "--dir", &root]);
    let eu0 = TableBucket::partitioned(vec!["eu".into()], 0);
    assert!(
        !dir.path().join("demo/orders/log/eu-p0/bucket-0").exists(),
        "the demo wrote to eu/0: pick a bucket it leaves empty"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut child, rx, _) = follow_demo(&root, deadline);
    let log = open_demo_log(dir.path());
    log.append(&eu0, demo_row(12, "eu", "ines", 7.0), vec![ChangeType::Insert])
        .unwrap();
    let got = recv_until(&rx, deadline, |l| l.contains("\"id\":12"));
    let v: Value = serde_json::from_str(got.last().unwrap()).unwrap();
    assert_eq!(
        (v["customer"].as_str(), v["_change_type"].as_str()),
        (Some("ines"), Some("+I"))
    );
    assert_eq!(signalled(&mut child, "-INT").code(), Some(130));
}

/// A pseudo-terminal: its near end (read what is written to the far end), and the far
/// end's path.
#[cfg(target_os = "linux")]
fn pseudo_terminal() -> (std::fs::File, String) {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: plain libc calls on a descriptor this function owns; the name buffer
    // outlives the call that fills it and is NUL-terminated by it
    unsafe {
        let near = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(near >= 0, "posix_openpt");
        let near_file = std::fs::File::from(OwnedFd::from_raw_fd(near));
        assert_eq!(libc::grantpt(near), 0);
        assert_eq!(libc::unlockpt(near), 0);
        let mut name = [0 as libc::c_char; 256];
        assert_eq!(libc::ptsname_r(near, name.as_mut_ptr(), name.len()), 0);
        let far = std::ffi::CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        (near_file, far)
    }
}

#[cfg(target_os = "linux")]
#[test]
fn csv_written_to_a_terminal_named_by_o_runs_no_escape_sequence() {
    // regression: only stdout was taken for a terminal; `-o /dev/tty` (or /dev/stdout on
    // a terminal) got the data's escape sequences as they were
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let (dir, root) = demo_dir();
    let log = open_demo_log(dir.path());
    // a customer that would retitle the window and clear the screen
    let hostile = "\x1b]0;pwned\x07\x1b[2J";
    log.append(
        &TableBucket::partitioned(vec!["us".into()], 0),
        demo_row(15, "us", hostile, 1.0),
        vec![ChangeType::Insert],
    )
    .unwrap();
    drop(log);
    let (mut near, far) = pseudo_terminal();
    for format in ["csv", "jsonl", "table"] {
        ok(&["scan", "--log", &root, "--format", format, "-o", &far]);
        // SAFETY: a flag change on a descriptor `near` owns
        assert_eq!(
            unsafe { libc::fcntl(near.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) },
            0
        );
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = near.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("pwned"), "{format}: the row reached the terminal: {text}");
        assert!(!got.contains(&0x1b) && !got.contains(&0x07), "{format}: {text:?}");
    }
}

/// The demo log under `root`, to append to (the scanner reads read-only).
fn open_demo_log(root: &Path) -> LocalLog {
    LocalLog::open(root, &TablePath::new("demo", "orders"), LocalLogOptions::default()).unwrap()
}

/// One row of the demo table, with no photo and no embedding.
fn demo_row(id: i64, region: &str, customer: &str, amount: f64) -> RecordBatch {
    let info = demo_info();
    RecordBatch::try_new(
        info.schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![id])) as ArrayRef,
            Arc::new(StringArray::from(vec![region])),
            Arc::new(StringArray::from(vec![customer])),
            Arc::new(Float64Array::from(vec![amount])),
            Arc::new(LargeBinaryArray::from(vec![None::<&[u8]>])),
            arrow::array::new_null_array(info.schema.field(5).data_type(), 1),
        ],
    )
    .unwrap()
}

#[test]
fn follow_tails_a_partition_created_after_it_started() {
    // regression: only the partitions there when the scan started were followed, so a
    // table partitioned by day lost every change from the next day on
    let (dir, root) = demo_dir();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut child, rx, _) = follow_demo(&root, deadline);
    let log = open_demo_log(dir.path());
    // found by the next listing (every 10 s by default), and read from its first offset
    let apac = TableBucket::partitioned(vec!["apac".into()], 0);
    log.append(&apac, demo_row(13, "apac", "kenji", 3.0), vec![ChangeType::Insert])
        .unwrap();
    log.append(&apac, demo_row(14, "apac", "mei", 4.0), vec![ChangeType::Insert])
        .unwrap();
    let got = recv_until(&rx, deadline, |l| l.contains("\"id\":14"));
    let ids: Vec<i64> = got
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["region"] == "apac")
        .filter_map(|v| v["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![13, 14], "{got:?}");
    assert_eq!(signalled(&mut child, "-INT").code(), Some(130));
}

fn lakescan_in(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakescan"))
        .current_dir(cwd)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run lakescan")
}

#[test]
fn as_of_offsets_read_the_older_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir_arg(&dir);
    let log = LocalLog::create(dir.path(), &demo_info(), LocalLogOptions::default()).unwrap();
    let (first, tail) = demo_rounds().unwrap();
    // each bucket's end offset after the first round
    let mut ends: BTreeMap<TableBucket, i64> = BTreeMap::new();
    for (bucket, batch, changes) in first.clone() {
        let (_, next) = log.append(&bucket, batch, changes).unwrap();
        ends.insert(bucket, next);
    }
    for (bucket, batch, changes) in tail.clone() {
        log.append(&bucket, batch, changes).unwrap();
    }
    drop(log);
    let as_of: Vec<String> = ends
        .iter()
        .map(|(b, o)| format!("{}/{}={o}", b.partition.join("$"), b.bucket))
        .collect();
    let as_of = as_of.join(",");
    let older = apply(first.clone().into_iter());
    assert_ne!(older, demo_expected(), "the tail changes something");
    for strategy in ["sort-merge", "key-filter"] {
        let out = ok(&[
            "scan",
            "--log",
            &root,
            "--format",
            "json",
            "--strategy",
            strategy,
            "--as-of-offsets",
            &as_of,
        ]);
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(json_rows(&rows), older, "{strategy} as of {as_of}");
    }
    // offsets at the end read today's state; an offset of 0 reads nothing of that bucket
    let today: Vec<String> = ends
        .keys()
        .map(|b| format!("{}/{}=0", b.partition.join("$"), b.bucket))
        .collect();
    let out = ok(&[
        "scan",
        "--log",
        &root,
        "--format",
        "json",
        "--as-of-offsets",
        &today.join(","),
    ]);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&out).unwrap(), Vec::<Value>::new());
    // partial: only the listed bucket stops early
    let (first_bucket, first_end) = ends.iter().next().unwrap();
    let one = format!(
        "{}/{}={first_end}",
        first_bucket.partition.join("$"),
        first_bucket.bucket
    );
    let expected = apply(
        first
            .clone()
            .into_iter()
            .chain(tail.into_iter().filter(|(b, _, _)| b != first_bucket)),
    );
    let out = ok(&["scan", "--log", &root, "--format", "json", "--as-of-offsets", &one]);
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(json_rows(&rows), expected, "as of {one}");

    let out = ok(&["explain", "--log", &root, "--as-of-offsets", &one]);
    assert!(
        out.contains(&format!("as of offsets: {first_bucket} before offset {first_end}")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{first_bucket}: 0 lake split(s), log [0, {first_end}) of bucket {}",
            first_bucket.bucket
        )),
        "{out}"
    );

    for bad in ["0", "us/x=1", "us/0=-1", "us/0=1,us/0=2", "", "0=1", "us/7=1"] {
        let o = lakescan(&["scan", "--log", &root, "--as-of-offsets", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("as-of-offsets") || stderr(&o).contains(bad),
            "{}",
            stderr(&o)
        );
    }
    let o = lakescan(&["scan", "--log", &root, "--follow", "--as-of-offsets", &one]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // past the log's end: a runtime error naming the bucket
    let o = lakescan(&["scan", "--log", &root, "--as-of-offsets", "us/0=999"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("999"), "{}", stderr(&o));
    let o = lakescan(&["scan", "--log", &root, "--as-of-offsets", "nope/0=1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no partition nope (it has eu, us)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_profile_file_addresses_the_table() {
    let dir = tempfile::tempdir().unwrap();
    demo_log(dir.path());
    media_log(dir.path());
    let root = dir_arg(&dir);
    let work = tempfile::tempdir().unwrap();
    let json_ids = |o: &Output| -> Vec<i64> {
        assert!(o.status.success(), "{}", stderr(o));
        let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
        rows.iter().map(|r| r["id"].as_i64().unwrap()).collect()
    };

    // ./lakescan.toml, with a log relative to it
    std::fs::write(
        work.path().join("lakescan.toml"),
        format!("# where the shop lives\nlog = {:?}\ntable = \"demo.orders\"\n", root),
    )
    .unwrap();
    let o = lakescan_in(work.path(), &["scan", "--format", "json"], &[]);
    assert_eq!(json_ids(&o).len(), 9);
    // a flag overrides the file
    let o = lakescan_in(
        work.path(),
        &["scan", "--format", "json", "--table", "media.items"],
        &[],
    );
    assert_eq!(json_ids(&o), vec![1, 2, 3]);
    let out = String::from_utf8(lakescan_in(work.path(), &["schema"], &[]).stdout).unwrap();
    assert!(out.starts_with("table demo.orders"), "{out}");

    // --profile FILE elsewhere, relative log
    let sub = work.path().join("conf");
    std::fs::create_dir(&sub).unwrap();
    std::fs::create_dir(sub.join("logs")).unwrap();
    let media = tempfile::tempdir_in(sub.join("logs")).unwrap();
    media_log(media.path());
    let name = media.path().file_name().unwrap().to_str().unwrap();
    std::fs::write(sub.join("media.toml"), format!("log = \"logs/{name}\"\n")).unwrap();
    let o = lakescan(&[
        "scan",
        "--format",
        "json",
        "--profile",
        sub.join("media.toml").to_str().unwrap(),
    ]);
    assert_eq!(json_ids(&o), vec![1, 2, 3]);
    // the explicit profile wins over ./lakescan.toml, and --log over both
    let o = lakescan_in(
        work.path(),
        &["scan", "--format", "json", "--profile", "conf/media.toml"],
        &[],
    );
    assert_eq!(json_ids(&o), vec![1, 2, 3]);
    let demo_only = tempfile::tempdir().unwrap();
    demo_log(demo_only.path());
    let o = lakescan_in(
        work.path(),
        &["scan", "--format", "json", "--log", &dir_arg(&demo_only)],
        &[],
    );
    assert_eq!(json_ids(&o).len(), 9);
    // a lake in the profile is refused like --lake
    std::fs::write(
        sub.join("lake.toml"),
        "lake = \"lance\"\nwarehouse = \"/nonexistent-lakeunion\"\n",
    )
    .unwrap();
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--table",
        "demo.orders",
        "--profile",
        sub.join("lake.toml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lance_refusal = if cfg!(feature = "lance") {
        "does not exist"
    } else {
        "without the Lance backend"
    };
    assert!(stderr(&o).contains(lance_refusal), "{}", stderr(&o));

    // regression: the profile merged field by field, so a log or lake given on the command
    // line met the profile's other one ("give the log once", a paimon lake with the
    // profile's Iceberg catalog)
    std::fs::write(
        sub.join("elsewhere.toml"),
        "fluss = \"127.0.0.1:1\"\ntable = \"demo.orders\"\nlake = \"iceberg\"\ncatalog_uri = \"http://127.0.0.1:1\"\n\
         lake_options = { \"s3.region\" = \"r\" }\n",
    )
    .unwrap();
    let profile = sub.join("elsewhere.toml");
    let o = lakescan(&[
        "scan",
        "--format",
        "json",
        "--log",
        &root,
        "--lake",
        "paimon",
        "--warehouse",
        work.path().to_str().unwrap(),
        "--profile",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(json_ids(&o).len(), 9);
    // and the profile's lake options stay with its lake (regression: Lance, which takes
    // none, refused them as if given)
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--lake",
        "lance",
        "--warehouse",
        "/nonexistent-lakeunion",
        "--profile",
        profile.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(lance_refusal), "{}", stderr(&o));
    std::fs::write(
        sub.join("local.toml"),
        format!("log = {root:?}\ntable = \"demo.orders\"\n"),
    )
    .unwrap();
    let o = lakescan(&[
        "scan",
        "--fluss",
        "127.0.0.1:1",
        "--profile",
        sub.join("local.toml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "the cluster is unreachable: {}", stderr(&o));
    assert!(!stderr(&o).contains("give the log once"), "{}", stderr(&o));
    // the same lake, named or implied, keeps the profile's warehouse: a profile with only a
    // warehouse is an Iceberg lake, as `--lake Iceberg` is
    std::fs::write(sub.join("wh.toml"), "warehouse = \"/nonexistent-lakeunion\"\n").unwrap();
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--table",
        "demo.orders",
        "--lake",
        "Iceberg",
        "--profile",
        sub.join("wh.toml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent-lakeunion does not exist"),
        "{}",
        stderr(&o)
    );

    // broken files: exit 2, naming the file and the problem, one line
    for (text, problem) in [
        ("log = ", "line 1"),
        ("log = \"x\"\nwarehous = \"y\"\n", "warehous"),
        ("table = 3\n", "table = 3"),
        ("table = \"nodot\"\n", "table"),
    ] {
        std::fs::write(work.path().join("lakescan.toml"), text).unwrap();
        let o = lakescan_in(work.path(), &["scan"], &[]);
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("lakescan.toml"), "{err}");
        assert!(err.contains(problem), "{text}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let o = lakescan(&["scan", "--profile", work.path().join("missing.toml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
}

#[test]
fn blob_get_writes_the_bytes_of_a_cell() {
    let dir = tempfile::tempdir().unwrap();
    media_log(dir.path());
    let root = dir_arg(&dir);
    let (jpeg, png) = media_images();
    let o = lakescan(&["blob", "get", "0", "image", "--log", &root]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, jpeg);
    let file = dir.path().join("out.png");
    let o = lakescan(&[
        "blob",
        "get",
        "1",
        "image",
        "--log",
        &root,
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), png);
    assert!(stderr(&o).contains("image/png"), "{}", stderr(&o));
    // rows in scan order after the filter
    let o = lakescan(&["blob", "get", "0", "image", "--log", &root, "--filter", "id >= 2"]);
    assert_eq!(o.stdout, png, "{}", stderr(&o));

    for (args, message) in [
        (vec!["blob", "get", "0", "id"], "not BLOB"),
        (vec!["blob", "get", "0", "embedding"], "VECTOR<FLOAT, 768>"),
        (vec!["blob", "get", "2", "image"], "NULL"),
        (vec!["blob", "get", "3", "image"], "3 row(s)"),
        (vec!["blob", "get", "1", "image", "--limit", "1"], "--limit 1"),
        (vec!["blob", "get", "0", "nope"], "nope"),
    ] {
        let mut args = args;
        args.extend(["--log", root.as_str()]);
        let o = lakescan(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    for args in [
        vec!["blob", "get", "-1", "image"],
        vec!["blob", "get", "0"],
        vec!["blob", "get", "0", "image", "--columns", "id"],
    ] {
        let mut args = args;
        args.extend(["--log", root.as_str()]);
        let o = lakescan(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn progress_never_reaches_a_piped_stderr() {
    let dir = tempfile::tempdir().unwrap();
    demo_log(dir.path());
    media_log(dir.path());
    let root = dir_arg(&dir);
    // the bar would show at once, were stderr a terminal
    let now = [("LAKESCAN_PROGRESS_AFTER_MS", "0")];
    let o = lakescan_in(dir.path(), &["scan", "--log", &root, "--table", "demo.orders"], &now);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "9 rows\n");
    let plain = lakescan(&["scan", "--log", &root, "--table", "demo.orders"]);
    assert_eq!(o.stdout, plain.stdout, "stdout is the same with or without the bar");
    for args in [
        vec!["scan", "--format", "jsonl", "-q"],
        vec!["stats"],
        vec!["blob", "get", "0", "image", "--table", "media.items"],
    ] {
        let mut args = args;
        args.extend(["--log", root.as_str()]);
        if !args.contains(&"--table") {
            args.extend(["--table", "demo.orders"]);
        }
        let o = lakescan_in(dir.path(), &args, &now);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
        assert!(!String::from_utf8_lossy(&o.stdout).contains("splits done"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluss_reads_the_log_from_a_fluss_cluster() {
    use lakeunion_tests::fixtures::{small_rows, small_table};
    use lakeunion_tests::fluss_server::FlussTestServer;
    let dir = tempfile::tempdir().unwrap();
    let mut info = small_table();
    info.path = TablePath::new("shop", "stock");
    info.bucket_count = 2;
    let log = LocalLog::create(dir.path(), &info, LocalLogOptions::default()).unwrap();
    use ChangeType::*;
    log.append(&TableBucket::new(0), small_rows(0..4), vec![Insert; 4])
        .unwrap();
    log.append(&TableBucket::new(1), small_rows(4..6), vec![Insert; 2])
        .unwrap();
    log.append(&TableBucket::new(0), small_rows(1..3), vec![UpdateBefore, Delete])
        .unwrap();
    let server = FlussTestServer::start(vec![log]).await.unwrap();
    let address = server.bootstrap();
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lakescan(&args)
        })
    };
    let args = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        a.extend(["--fluss".to_string(), address.clone()]);
        a
    };

    let o = run(args(&["scan", "--table", "shop.stock", "--format", "json", "-q"]))
        .await
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let mut keys: Vec<i64> = rows.iter().map(|r| r["k"].as_i64().unwrap()).collect();
    keys.sort();
    assert_eq!(keys, vec![0, 3, 4, 5], "{rows:?}");

    let o = run(args(&["schema", "--table", "shop.stock"])).await.unwrap();
    assert!(
        stdout(&o).contains(&format!("log: Fluss cluster {address}")),
        "{}",
        stdout(&o)
    );
    let o = run(args(&["stats", "--table", "shop.stock"])).await.unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("rows: 4"), "{}", stdout(&o));

    // usage: no table, or two logs; runtime: nothing listening, a table the cluster lacks
    let o = run(args(&["scan"])).await.unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(args(&["scan", "--table", "shop.stock", "--log", "/tmp"]))
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(args(&["scan", "--table", "shop.none"])).await.unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("shop.none"), "{}", stderr(&o));
    let closed = vec![
        "scan".to_string(),
        "--table".into(),
        "shop.stock".into(),
        "--fluss".into(),
        "127.0.0.1:1".into(),
    ];
    let o = run(closed).await.unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("lakescan: ") && stderr(&o).contains("127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A Paimon warehouse in an S3 bucket (the demo's, uploaded), read with `--lake-option`s
/// naming the store; an Iceberg warehouse in S3 without its catalog is a usage error.
#[test]
fn a_warehouse_in_s3_is_read_with_lake_options() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir_arg(&dir);
    ok(&["demo", "--lake", "paimon", "--dir", &root]);
    let server = lakeunion_tests::s3::S3Server::start().unwrap();
    server.create_bucket("lake").unwrap();
    // the S3 server keeps objects as files: uploading is copying into its bucket
    copy_dir(&dir.path().join("lake"), &server.object_path("lake", "wh"));
    let options: Vec<String> = server
        .paimon_options()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for strategy in ["sort-merge", "key-filter"] {
        let mut args = vec![
            "scan",
            "--log",
            &root,
            "--lake",
            "paimon",
            "--warehouse",
            "s3://lake/wh",
            "--format",
            "json",
            "--strategy",
            strategy,
        ];
        for option in &options {
            args.extend(["--lake-option", option.as_str()]);
        }
        let rows: Vec<Value> = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(json_rows(&rows), demo_expected(), "{strategy}");
    }
    // without the endpoint, S3 is not reached: an error, not an empty table
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--lake",
        "paimon",
        "--warehouse",
        "s3://lake/wh",
        "--lake-option",
        "s3.endpoint=http://127.0.0.1:1",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--lake",
        "iceberg",
        "--warehouse",
        "s3://lake/wh",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--catalog-uri sqlite:"), "{}", stderr(&o));
    let o = lakescan(&[
        "scan",
        "--log",
        &root,
        "--lake",
        "iceberg",
        "--catalog-uri",
        "sqlite:/tmp/c.db",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs --warehouse"), "{}", stderr(&o));
    let o = lakescan(&["scan", "--log", &root, "--lake-option", "novalue"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A log table `big.rows` of `rows` rows (an id and a 40-character string) under `root`:
/// enough output to fill any writer's buffer.
fn big_log(root: &Path, rows: i64) {
    let schema = Arc::new(Schema::new(vec![
        arrow::datatypes::Field::new("id", DataType::Int64, false),
        arrow::datatypes::Field::new("text", DataType::Utf8, false),
    ]));
    let info = TableInfo::log_table(TablePath::new("big", "rows"), schema.clone(), 1);
    let log = LocalLog::create(root, &info, LocalLogOptions::default()).unwrap();
    let text: Vec<String> = (0..rows).map(|i| format!("{i:0>40}")).collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
            Arc::new(StringArray::from_iter_values(&text)),
        ],
    )
    .unwrap();
    log.append(&TableBucket::new(0), batch, vec![ChangeType::AppendOnly; rows as usize])
        .unwrap();
}

/// Runs lakescan with its stdout a pipe whose reader is already gone.
fn lakescan_into_a_closed_pipe(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lakescan"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lakescan");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for lakescan")
}

#[test]
fn a_closed_stdout_ends_every_format_quietly() {
    // regression: arrow's CSV writer reports the broken pipe as text (exit 1, "Csv error:
    // Broken pipe"), and demo's print! panicked (exit 101)
    let (_dir, root) = log_dir(|root| big_log(root, 50_000));
    for format in ["csv", "jsonl", "json", "table", "parquet", "arrow"] {
        let o = lakescan_into_a_closed_pipe(&["scan", "--log", &root, "--format", format, "-q"]);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{format}");
    }
    let o = lakescan_into_a_closed_pipe(&["demo"]);
    assert_eq!(o.status.code(), Some(0), "demo: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn a_closed_stderr_does_not_fail_a_scan() {
    // regression: the closing "N rows" went through eprintln!, which panics (exit 101)
    // when stderr's reader is gone
    let (dir, root) = log_dir(|root| big_log(root, 100));
    let out = dir.path().join("rows.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lakescan"))
        .args(["scan", "--log", &root, "--format", "csv", "-o", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lakescan");
    drop(child.stderr.take());
    let status = child.wait().expect("wait for lakescan");
    assert_eq!(status.code(), Some(0));
    assert!(std::fs::read_to_string(&out).unwrap().lines().count() > 100);
}

#[cfg(unix)]
#[test]
fn output_to_a_device_or_through_a_link_keeps_them() {
    // regression: the output was renamed over its destination: `-o /dev/null` failed (or,
    // as root, replaced the device with a plain file) and a symbolic link became a file
    let (_dir, root) = demo_dir();
    for format in ["csv", "parquet"] {
        let o = lakescan(&["scan", "--log", &root, "--format", format, "-o", "/dev/null"]);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("rows.csv");
    let link = out.path().join("link.csv");
    std::fs::write(&target, "old").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = lakescan(&["scan", "--log", &root, "--format", "csv", "-o", link.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    let written = std::fs::read_to_string(&target).unwrap();
    assert_eq!(written.lines().count(), 1 + demo_expected().len(), "{written}");
}
