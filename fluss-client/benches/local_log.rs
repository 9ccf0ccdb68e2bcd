//! LocalLog append and read throughput against plain Arrow IPC files (issue 3).
//!
//! `cargo bench -p fluss-client --bench local_log`
//!
//! 10M rows of the lake-api benchmark schema (`k: Int64`, `v1: Int64`, `v2: Float64`,
//! `v3: Int32`, `s: Utf8`) in 8192-row batches, appended to one bucket of a LocalLog (a log
//! table: append-only batches) and read back through `LogSource::read`; the baseline writes
//! the same batches with arrow's IPC `FileWriter` and reads them with its `FileReader`.
//! Both write to the same directory without fsync and read back from the page cache. The
//! LocalLog's clean close syncs what was appended; it is timed apart (`close`), outside the
//! append figure, as the baseline has no fsync to compare it with.
//! Target: LocalLog at least 0.8x of plain IPC for append and for read.
//!
//! Settings: `BENCH_ROWS` (default 10,000,000), `BENCH_ITERS` (default 3).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use fluss_client::local::{LocalLog, LocalLogOptions};
use futures::TryStreamExt;
use lake_api::{ChangeType, LogSource, TableBucket, TableInfo, TablePath};

type BoxResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const BATCH: usize = 8192;
const TARGET: f64 = 0.8;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v1", DataType::Int64, true),
        Field::new("v2", DataType::Float64, true),
        Field::new("v3", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

fn batches(rows: usize) -> BoxResult<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < rows {
        let n = BATCH.min(rows - start);
        let k: Vec<i64> = (start..start + n).map(|i| i as i64).collect();
        let s: Vec<String> = k
            .iter()
            .map(|k| format!("customer-{:08}", k.wrapping_mul(2654435761) % 100_000_000))
            .collect();
        out.push(RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(k.clone())),
                Arc::new(Int64Array::from_iter_values(k.iter().map(|k| k * 3))),
                Arc::new(Float64Array::from_iter_values(k.iter().map(|k| *k as f64 / 7.0))),
                Arc::new(Int32Array::from_iter_values(k.iter().map(|k| (*k % 1000) as i32))),
                Arc::new(StringArray::from(s)),
            ],
        )?);
        start += n;
    }
    Ok(out)
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        dir_bytes(&e.path())
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Sample {
    append: f64,
    read: f64,
    bytes: u64,
    /// LocalLog only: its clean close, which syncs what was appended (fsync); plain IPC's
    /// round has none.
    close: f64,
}

fn ipc_round(batches: &[RecordBatch], dir: &Path) -> BoxResult<Sample> {
    let path = dir.join("plain.arrow");
    let t = Instant::now();
    let mut w = arrow_ipc::writer::FileWriter::try_new(BufWriter::new(File::create(&path)?), &schema())?;
    for b in batches {
        w.write(b)?;
    }
    w.finish()?;
    drop(w);
    let append = t.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path)?.len();
    let t = Instant::now();
    let reader = arrow_ipc::reader::FileReader::try_new(BufReader::new(File::open(&path)?), None)?;
    let mut rows = 0;
    for b in reader {
        rows += b?.num_rows();
    }
    let read = t.elapsed().as_secs_f64();
    assert_eq!(rows, batches.iter().map(|b| b.num_rows()).sum::<usize>());
    std::fs::remove_file(&path)?;
    Ok(Sample {
        append,
        read,
        bytes,
        close: 0.0,
    })
}

async fn local_round(batches: &[RecordBatch], dir: &Path) -> BoxResult<Sample> {
    let root = dir.join("local");
    let info = TableInfo::log_table(TablePath::new("bench", "log"), schema(), 1);
    let bucket = TableBucket::new(0);
    // creating the table is set-up, not append throughput: its descriptor is written
    // durably, and that fsync makes ext4 flush whatever the previous round left dirty
    let log = LocalLog::create(&root, &info, LocalLogOptions::default())?;
    let t = Instant::now();
    for b in batches {
        log.append(&bucket, b.clone(), vec![ChangeType::AppendOnly; b.num_rows()])?;
    }
    let append = t.elapsed().as_secs_f64();
    // the close syncs: timed apart, as the baseline writes without fsync
    let t = Instant::now();
    drop(log);
    let close = t.elapsed().as_secs_f64();
    let bytes = dir_bytes(&root);
    let t = Instant::now();
    let log = LocalLog::open_read_only(&root, &info.path, LocalLogOptions::default())?;
    let end = log.offset_ranges().await?[&bucket].end;
    let mut stream = log.read(&bucket, 0, Some(end)).await?;
    let mut rows = 0;
    while let Some(b) = stream.try_next().await? {
        rows += b.num_rows();
    }
    let read = t.elapsed().as_secs_f64();
    assert_eq!(rows, batches.iter().map(|b| b.num_rows()).sum::<usize>());
    std::fs::remove_dir_all(&root)?;
    Ok(Sample {
        append,
        read,
        bytes,
        close,
    })
}

fn main() -> BoxResult<()> {
    let rows: usize = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    eprintln!("generating {rows} rows ...");
    let data = batches(rows)?;
    let dir = tempfile::tempdir()?;
    let (mut ipc, mut local) = (Vec::new(), Vec::new());
    for round in 0..iters {
        // alternate, so that the page cache and noise treat both alike
        ipc.push(ipc_round(&data, dir.path())?);
        local.push(runtime.block_on(local_round(&data, dir.path()))?);
        eprintln!(
            "round {}/{iters}: ipc append {:.3}s read {:.3}s, local append {:.3}s close {:.3}s read {:.3}s",
            round + 1,
            ipc[round].append,
            ipc[round].read,
            local[round].append,
            local[round].close,
            local[round].read
        );
    }
    let summarize = |s: &[Sample]| {
        (
            median(s.iter().map(|x| x.append).collect()),
            median(s.iter().map(|x| x.read).collect()),
            s[0].bytes,
        )
    };
    let (ipc_append, ipc_read, ipc_bytes) = summarize(&ipc);
    let (local_append, local_read, local_bytes) = summarize(&local);
    let local_close = median(local.iter().map(|x| x.close).collect());
    let mb = |bytes: u64, secs: f64| bytes as f64 / secs / (1 << 20) as f64;
    let mrows = |secs: f64| rows as f64 / secs / 1e6;
    println!();
    println!("LocalLog vs plain Arrow IPC, {rows} rows, median of {iters}, one core");
    println!();
    println!("| operation | plain IPC | LocalLog | LocalLog / IPC (rows/s) | target | result |");
    println!("|---|---:|---:|---:|---|---|");
    let mut pass_all = true;
    for (name, ipc_s, local_s) in [("append", ipc_append, local_append), ("read", ipc_read, local_read)] {
        let ratio = ipc_s / local_s;
        let pass = ratio >= TARGET;
        pass_all &= pass;
        println!(
            "| {name} | {:.1}M rows/s, {:.0} MB/s | {:.1}M rows/s, {:.0} MB/s | {ratio:.2}x | >= {TARGET:.1}x | {} |",
            mrows(ipc_s),
            mb(ipc_bytes, ipc_s),
            mrows(local_s),
            mb(local_bytes, local_s),
            if pass { "PASS" } else { "FAIL" }
        );
    }
    println!();
    println!("LocalLog close (syncs the appended bytes, not in the append figure): {local_close:.3}s");
    println!(
        "bytes on disk: plain IPC {:.1} MiB, LocalLog {:.1} MiB",
        ipc_bytes as f64 / (1 << 20) as f64,
        local_bytes as f64 / (1 << 20) as f64
    );
    if !pass_all && std::env::var("BENCH_STRICT").is_ok_and(|v| v == "1") {
        return Err("a target was missed".into());
    }
    Ok(())
}
