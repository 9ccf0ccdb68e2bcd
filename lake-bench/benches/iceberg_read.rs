//! Iceberg backend benchmark (issue 5; results in BENCHMARKS.md).
//!
//! `cargo bench -p lake-bench --features datafusion --bench iceberg_read`
//!
//! A generated primary-key table (`BENCH_ROWS` rows, default 5,000,000: `i64` key and four
//! value columns including a string, 4 buckets) tiered into an Iceberg table (SQLite
//! catalog, zstd Parquet, one file per bucket), plus a 1% log tail in memory. In one
//! process it measures, as medians of `BENCH_ITERS` (default 3) runs:
//!
//! - **(a) plain scan**: every split of the snapshot through `IcebergSource` readers;
//! - **(b) union read** with each merge strategy (the lake read included);
//! - **(c) the DataFusion query** a user would write instead (`--features datafusion`):
//!   the same lake batches (already in memory) and log batches registered as tables and
//!   deduplicated with `ROW_NUMBER() OVER (PARTITION BY k ORDER BY offset DESC) = 1`.
//!
//! Rows/s count rows in (lake rows + log changes). Peak memory is the growth of the peak
//! RSS during the run. Targets: union read at least 0.7x (a) and at least 3x (c). The JSON
//! report goes to `$CARGO_TARGET_DIR/bench/iceberg_read.json` (default `target/`).

use std::collections::BTreeMap;
use std::sync::Arc;

use fluss_client::bucketing::LakeFormat;
use futures::TryStreamExt;
use lake_api::memory::MemoryLog;
use lake_api::{ChangeType, LakeStorage, LogBatch, MergeStrategy, TableBucket, UnionTable};
use lake_bench::{bucket_keys, env_usize, generate_bucket, measure, median, mib, table_info};
use lake_iceberg::{IcebergConfig, IcebergStorage};
use serde_json::json;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const BUCKETS: u32 = 4;
const THREADS: usize = 2;
const UNION_VS_SCAN_TARGET: f64 = 0.7;
const UNION_VS_SQL_TARGET: f64 = 3.0;

fn main() -> BoxResult<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> BoxResult<()> {
    let rows = env_usize("BENCH_ROWS", 5_000_000);
    let iters = env_usize("BENCH_ITERS", 3).max(1);
    let info = table_info(BUCKETS);
    let dir = tempfile::tempdir()?;
    let lake = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
    let log = MemoryLog::new(info.clone())?;

    eprintln!("generating and tiering {rows} rows into Iceberg ...");
    let mut writer = lake.create_lake_writer(&info).await?;
    let mut lake_batches_in_memory = Vec::new();
    let mut log_in_memory = Vec::new();
    let (mut log_rows, mut expected_rows) = (0usize, 0usize);
    // keys routed as Fluss routes them for Iceberg, so that bucket[4](k) agrees
    let keys = bucket_keys(LakeFormat::Iceberg, BUCKETS, 2 * (rows / BUCKETS as usize + 1));
    for b in 0..BUCKETS {
        let n = rows / BUCKETS as usize + usize::from((b as usize) < rows % BUCKETS as usize);
        let data = generate_bucket(42, b, n, &keys[b as usize]);
        let bucket = TableBucket::new(b);
        let mut offset = 0;
        for batch in &data.lake {
            let inserts = LogBatch::new(batch.clone(), vec![ChangeType::Insert; batch.num_rows()], offset);
            offset += batch.num_rows() as i64;
            writer.write(&bucket, &inserts).await?;
        }
        log.ensure_bucket(&bucket)?;
        for (batch, kinds) in &data.log {
            log_rows += batch.num_rows();
            log.append(&bucket, batch.clone(), kinds.clone())?;
        }
        expected_rows += data.expected_rows;
        lake_batches_in_memory.extend(data.lake);
        log_in_memory.extend(data.log);
    }
    let snapshot = writer.commit(BTreeMap::new()).await?;
    // the lake covers none of this log: all of it is the tail
    log.record_tiered_offsets(snapshot.id, (0..BUCKETS).map(|b| (TableBucket::new(b), 0)).collect())?;
    let rows_in = (rows + log_rows) as f64;
    let log: Arc<MemoryLog> = Arc::new(log);
    let lake: Arc<IcebergStorage> = Arc::new(lake);

    let mut report = serde_json::Map::new();
    let mut record = |name: &str, secs: &[f64], peaks: &[u64], rows_out: usize| -> f64 {
        let s = median(secs);
        let peak = *peaks.iter().max().unwrap_or(&0);
        let rate = rows_in / s;
        println!(
            "{name:<28} {:>8.1} M rows/s  median {:>7.3} s  peak +{:>7.1} MiB  rows out {rows_out}",
            rate / 1e6,
            s,
            mib(peak)
        );
        report.insert(
            name.into(),
            json!({"rows_per_s": rate, "median_s": s, "samples_s": secs, "peak_rss_growth_bytes": peak, "rows_out": rows_out}),
        );
        rate
    };

    // (a) the format's plain scan
    let (mut secs, mut peaks, mut out) = (Vec::new(), Vec::new(), 0);
    for _ in 0..iters {
        let (n, s, p) = measure(|| plain_scan(lake.clone(), snapshot.id)).await?;
        secs.push(s);
        peaks.push(p);
        out = n;
    }
    let scan = record("(a) iceberg plain scan", &secs, &peaks, out);

    // (b) union reads
    let mut union = BTreeMap::new();
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let (mut secs, mut peaks, mut out) = (Vec::new(), Vec::new(), 0);
        for _ in 0..iters {
            let table = UnionTable::new(info.clone(), log.clone(), Some(lake.clone()))?;
            let (n, s, p) = measure(|| union_read(table, strategy)).await?;
            if n != expected_rows {
                return Err(format!("{strategy}: {n} rows, expected {expected_rows}").into());
            }
            secs.push(s);
            peaks.push(p);
            out = n;
        }
        union.insert(
            strategy.to_string(),
            record(&format!("(b) union read, {strategy}"), &secs, &peaks, out),
        );
    }

    // (c) DataFusion
    #[cfg(feature = "datafusion")]
    let sql = {
        let ctx = lake_bench::dedup_sql::session(THREADS, lake_batches_in_memory, &log_in_memory)?;
        let (mut secs, mut peaks, mut out) = (Vec::new(), Vec::new(), 0);
        for _ in 0..iters {
            let (n, s, p) = measure(|| lake_bench::dedup_sql::run(&ctx)).await?;
            if n != expected_rows {
                return Err(format!("DataFusion: {n} rows, expected {expected_rows}").into());
            }
            secs.push(s);
            peaks.push(p);
            out = n;
        }
        Some(record("(c) DataFusion ROW_NUMBER", &secs, &peaks, out))
    };
    #[cfg(not(feature = "datafusion"))]
    let sql: Option<f64> = {
        drop((lake_batches_in_memory, log_in_memory));
        println!("(c) DataFusion ROW_NUMBER      skipped: build with --features datafusion");
        None
    };

    let mut verdicts = Vec::new();
    for (strategy, rate) in &union {
        let vs_scan = rate / scan;
        verdicts.push(json!({"strategy": strategy, "vs_plain_scan": vs_scan, "target": UNION_VS_SCAN_TARGET, "pass": vs_scan >= UNION_VS_SCAN_TARGET}));
        print!("{strategy}: {vs_scan:.2}x the plain scan (target {UNION_VS_SCAN_TARGET}x)");
        if let Some(sql) = sql {
            let vs_sql = rate / sql;
            verdicts.push(json!({"strategy": strategy, "vs_datafusion": vs_sql, "target": UNION_VS_SQL_TARGET, "pass": vs_sql >= UNION_VS_SQL_TARGET}));
            print!(", {vs_sql:.2}x DataFusion (target {UNION_VS_SQL_TARGET}x)");
        }
        println!();
    }
    report.insert("verdicts".into(), json!(verdicts));
    report.insert(
        "config".into(),
        json!({"rows": rows, "log_rows": log_rows, "buckets": BUCKETS, "iters": iters, "threads": THREADS}),
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(
        out_dir.join("iceberg_read.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(())
}

async fn plain_scan(lake: Arc<IcebergStorage>, snapshot: i64) -> BoxResult<usize> {
    let source = lake.create_lake_source(&table_info(BUCKETS).path).await?;
    let splits = source.create_planner(snapshot).await?.plan().await?;
    let mut readers = Vec::new();
    for split in splits {
        readers.push(source.create_reader(split).await?);
    }
    // as many readers at once as the union read runs
    let counts: Vec<usize> = futures::stream::iter(readers)
        .map(|r| async move {
            let mut n = 0;
            let mut stream = r.read().await?;
            while let Some(b) = stream.try_next().await? {
                n += b.num_rows();
            }
            Ok::<usize, lake_api::Error>(n)
        })
        .buffer_unordered(THREADS)
        .try_collect()
        .await?;
    Ok(counts.iter().sum())
}

async fn union_read(table: UnionTable, strategy: MergeStrategy) -> BoxResult<usize> {
    let mut stream = table
        .scan()
        .strategy(strategy)
        .concurrency(THREADS)
        .build()
        .await?
        .to_stream()
        .await?;
    let mut n = 0;
    while let Some(b) = stream.try_next().await? {
        n += b.num_rows();
    }
    Ok(n)
}

use futures::StreamExt as _;
