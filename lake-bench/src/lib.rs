//! Shared pieces of the backend benchmarks: the generated table (i64 key and four value
//! columns including a string, in buckets, with a 1% log tail of updates, deletes and
//! inserts), timing and peak-memory probes, and the DataFusion query a user would write
//! instead of a union read (`--features datafusion`).

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use fluss_client::bucketing::{LakeFormat, bucket_of_bytes};
use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use lake_api::memory::MemoryLog;
use lake_api::{ChangeType, LakeStorage, LogBatch, MergeStrategy, TableBucket, TableInfo, TablePath, UnionTable};
use serde_json::json;

#[cfg(feature = "datafusion")]
pub mod dedup_sql;

/// Rows per generated batch.
pub const BATCH: usize = 8192;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The benchmark table's schema: `k` (key), `v1`, `v2`, `v3`, `s`.
pub fn table_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v1", DataType::Int64, true),
        Field::new("v2", DataType::Float64, true),
        Field::new("v3", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

/// The benchmark table: primary key `k`, `buckets` buckets.
pub fn table_info(buckets: u32) -> TableInfo {
    TableInfo::primary_key_table(TablePath::new("bench", "t"), table_schema(), vec!["k".into()], buckets)
}

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";

/// A batch of rows `(key, version)`: values are a pure function of both; strings have
/// 12 to 20 characters.
pub fn make_batch(rows: &[(i64, u32)]) -> RecordBatch {
    let n = rows.len();
    let (mut k, mut v1, mut v2, mut v3) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut s = StringBuilder::with_capacity(n, n * 16);
    let mut buf = [0u8; 20];
    for &(key, version) in rows {
        let h = mix(key as u64 ^ u64::from(version).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        k.push(key);
        v1.push((h >> 1) as i64);
        v2.push((h >> 11) as f64 / (1u64 << 53) as f64 * 1000.0);
        v3.push((h >> 20) as i32);
        let len = 12 + (h % 9) as usize;
        let mut x = mix(h);
        for c in buf[..len].iter_mut() {
            *c = ALPHABET[(x & 31) as usize];
            x = x.rotate_right(5) ^ h;
        }
        s.append_value(std::str::from_utf8(&buf[..len]).unwrap_or(""));
    }
    RecordBatch::try_new(
        table_schema(),
        vec![
            Arc::new(Int64Array::from(k)),
            Arc::new(Int64Array::from(v1)),
            Arc::new(Float64Array::from(v2)),
            Arc::new(Int32Array::from(v3)),
            Arc::new(s.finish()),
        ],
    )
    .expect("generated batch matches the schema")
}

/// One bucket of the generated table.
pub struct BucketData {
    /// The lake's rows, in batches (keys ascending).
    pub lake: Vec<RecordBatch>,
    /// The log tail: batches with their change types.
    pub log: Vec<(RecordBatch, Vec<ChangeType>)>,
    /// Rows a union read returns for this bucket.
    pub expected_rows: usize,
}

/// The bytes Fluss hashes for an `i64` key under a lake format's bucketing: the value
/// (little-endian) for Iceberg, a one-field `BinaryRow` (8-byte header, then the value) for
/// Paimon.
fn key_bytes(format: LakeFormat, k: i64) -> Vec<u8> {
    match format {
        LakeFormat::Paimon => [[0u8; 8], k.to_le_bytes()].concat(),
        _ => k.to_le_bytes().to_vec(),
    }
}

/// The first `per_bucket` keys (ascending) of each of `buckets` buckets under a lake
/// format's bucketing, as Fluss routes rows for that format.
pub fn bucket_keys(format: LakeFormat, buckets: u32, per_bucket: usize) -> Vec<Vec<i64>> {
    let mut out: Vec<Vec<i64>> = (0..buckets).map(|_| Vec::with_capacity(per_bucket)).collect();
    let mut k = 0i64;
    while out.iter().any(|b| b.len() < per_bucket) {
        let b = bucket_of_bytes(format, &key_bytes(format, k), buckets) as usize;
        if out[b].len() < per_bucket {
            out[b].push(k);
        }
        k += 1;
    }
    out
}

/// Generates a bucket of `rows` lake rows and `rows / 100` log changes (~80% updates as
/// -U/+U pairs, ~10% deletes, ~10% inserts of new keys) over `keys` (at least `2 * rows`,
/// ascending: even slots start in the lake, odd ones may be inserted by the log).
pub fn generate_bucket(seed: u64, b: u32, rows: usize, keys: &[i64]) -> BucketData {
    assert!(keys.len() >= 2 * rows, "{} keys for {rows} rows", keys.len());
    let mut rng = Rng(seed ^ u64::from(b).wrapping_mul(0x9E37_79B9));
    let key = |slot: usize| keys[slot];
    // slot 2i is lake key i, slot 2i+1 a key the log may insert; version 0 = absent
    let mut state = vec![0u32; 2 * rows];
    let lake_rows: Vec<(i64, u32)> = (0..rows)
        .map(|i| {
            state[2 * i] = 1;
            (key(2 * i), 1)
        })
        .collect();
    let lake = lake_rows.chunks(BATCH).map(make_batch).collect();
    drop(lake_rows);
    let mut changes: Vec<(i64, u32, ChangeType)> = Vec::new();
    let mut expected = rows;
    for _ in 0..rows / 100 {
        let r = rng.below(10);
        let find = |rng: &mut Rng, state: &[u32], odd: bool, present: bool| -> Option<usize> {
            for _ in 0..64 {
                let slot = 2 * rng.below(rows as u64) as usize + usize::from(odd);
                if (state[slot] > 0) == present {
                    return Some(slot);
                }
            }
            None
        };
        if r < 8 {
            let odd = rng.below(2) == 1;
            if let Some(slot) = find(&mut rng, &state, odd, true) {
                let v = state[slot];
                changes.push((key(slot), v, ChangeType::UpdateBefore));
                changes.push((key(slot), v + 1, ChangeType::UpdateAfter));
                state[slot] = v + 1;
            }
        } else if r == 8 {
            if let Some(slot) = find(&mut rng, &state, false, true) {
                changes.push((key(slot), state[slot], ChangeType::Delete));
                state[slot] = 0;
                expected -= 1;
            }
        } else if let Some(slot) = find(&mut rng, &state, true, false) {
            changes.push((key(slot), 1, ChangeType::Insert));
            state[slot] = 1;
            expected += 1;
        }
    }
    let log = changes
        .chunks(BATCH)
        .map(|c| {
            let rows: Vec<(i64, u32)> = c.iter().map(|&(k, v, _)| (k, v)).collect();
            (make_batch(&rows), c.iter().map(|&(_, _, t)| t).collect())
        })
        .collect();
    BucketData {
        lake,
        log,
        expected_rows: expected,
    }
}

/// The median of some samples.
pub fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// An environment knob with a default (`_` separators allowed).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// The process's CPU time so far (user and system, all threads), in seconds; `/proc`
/// counts it in clock ticks (1/100 s on Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the fields after the command name, which may hold spaces, start with the state (3rd)
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Wall-clock seconds.
    pub secs: f64,
    /// CPU seconds of the whole process over the run (0 where `/proc` is missing).
    pub cpu_secs: f64,
    /// Growth of the peak RSS over the RSS at the start, in bytes.
    pub peak_growth: u64,
}

/// Measures one run: seconds, CPU seconds, and the growth of the peak RSS over the RSS at
/// the start (the kernel's high-water mark is reset first, where Linux allows it).
pub async fn measure<F, Fut, T>(f: F) -> Result<(T, Sample), Box<dyn std::error::Error>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, Box<dyn std::error::Error>>>,
{
    // "5" resets VmHWM to the current RSS (Linux 4.0+); elsewhere the peak is the process's
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = proc_status_bytes("VmRSS:").unwrap_or(0);
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let out = f().await?;
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = match (cpu_before, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let peak = proc_status_bytes("VmHWM:").unwrap_or(0);
    Ok((
        out,
        Sample {
            secs,
            cpu_secs,
            peak_growth: peak.saturating_sub(before),
        },
    ))
}

/// `iters` measured runs of `run`, each returning its row count (checked against
/// `expected` where given): the samples and the last run's rows.
async fn repeat<F, Fut>(
    iters: usize,
    expected: Option<usize>,
    what: &str,
    mut run: F,
) -> BoxResult<(Vec<Sample>, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = BoxResult<usize>>,
{
    let (mut samples, mut out) = (Vec::with_capacity(iters), 0);
    for _ in 0..iters {
        let (n, sample) = measure(&mut run).await?;
        if let Some(expected) = expected
            && n != expected
        {
            return Err(format!("{what}: {n} rows, expected {expected}").into());
        }
        samples.push(sample);
        out = n;
    }
    Ok((samples, out))
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const BUCKETS: u32 = 4;
const THREADS: usize = 2;
const UNION_VS_SCAN_TARGET: f64 = 0.7;
const UNION_VS_SQL_TARGET: f64 = 3.0;

/// Runs one backend's benchmark in this process and prints (and writes as JSON under
/// `target/bench/<report>.json`) the figures: (a) the format's plain scan, (b) a union read
/// with each strategy, (c) the DataFusion query (`--features datafusion`). `lake` must be
/// empty; `format` picks the bucketing the generated keys follow.
///
/// Knobs: `BENCH_ROWS`, `BENCH_ITERS`, and `BENCH_READ_AHEAD_MB` (the union reads' split
/// read-ahead, [`lake_api::ScanOptions::read_ahead`]; the scan's default when unset).
pub async fn run_backend(lake: Arc<dyn LakeStorage>, format: LakeFormat, report: &str) -> BoxResult<()> {
    let rows = env_usize("BENCH_ROWS", 5_000_000);
    let iters = env_usize("BENCH_ITERS", 3).max(1);
    // the scan's own default unless BENCH_READ_AHEAD_MB says otherwise
    let read_ahead = std::env::var("BENCH_READ_AHEAD_MB")
        .is_ok()
        .then(|| env_usize("BENCH_READ_AHEAD_MB", 0) << 20);
    let info = table_info(BUCKETS);
    let log = MemoryLog::new(info.clone())?;

    eprintln!("generating and tiering {rows} rows into the lake ...");
    let mut writer = lake.create_lake_writer(&info).await?;
    let mut lake_batches_in_memory = Vec::new();
    let mut log_in_memory = Vec::new();
    let (mut log_rows, mut expected_rows) = (0usize, 0usize);
    // keys routed as Fluss routes them for the format, so that the lake's own bucketing agrees
    let keys = bucket_keys(format, BUCKETS, 2 * (rows / BUCKETS as usize + 1));
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

    let name = report;
    let mut json_report = serde_json::Map::new();
    let mut record = |name: &str, samples: &[Sample], rows_out: usize| -> f64 {
        let secs: Vec<f64> = samples.iter().map(|x| x.secs).collect();
        let cpu: Vec<f64> = samples.iter().map(|x| x.cpu_secs).collect();
        let (s, cpu_s) = (median(&secs), median(&cpu));
        let peak = samples.iter().map(|x| x.peak_growth).max().unwrap_or(0);
        let rate = rows_in / s;
        println!(
            "{name:<28} {:>8.1} M rows/s  median {:>7.3} s  cpu {:>6.2} s ({:.1} cores)  peak +{:>7.1} MiB  rows out {rows_out}",
            rate / 1e6,
            s,
            cpu_s,
            cpu_s / s,
            mib(peak)
        );
        json_report.insert(
            name.into(),
            json!({"rows_per_s": rate, "median_s": s, "samples_s": secs, "median_cpu_s": cpu_s, "samples_cpu_s": cpu, "peak_rss_growth_bytes": peak, "rows_out": rows_out}),
        );
        rate
    };

    // (a) the format's plain scan
    let (samples, out) = repeat(iters, None, "plain scan", || plain_scan(lake.clone(), snapshot.id)).await?;
    let scan = record("(a) plain scan", &samples, out);

    // (b) union reads
    let mut union = BTreeMap::new();
    // built once, outside the timed reads (a clone shares everything)
    let table = UnionTable::new(info.clone(), log.clone(), Some(lake.clone()))?;
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let what = strategy.to_string();
        let (samples, out) = repeat(iters, Some(expected_rows), &what, || {
            union_read(table.clone(), strategy, read_ahead)
        })
        .await?;
        union.insert(
            strategy.to_string(),
            record(&format!("(b) union read, {strategy}"), &samples, out),
        );
    }

    // (c) DataFusion
    #[cfg(feature = "datafusion")]
    let sql = {
        let ctx = dedup_sql::session(THREADS, lake_batches_in_memory, &log_in_memory)?;
        let (samples, out) = repeat(iters, Some(expected_rows), "DataFusion", || dedup_sql::run(&ctx)).await?;
        Some(record("(c) DataFusion ROW_NUMBER", &samples, out))
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
    json_report.insert("verdicts".into(), json!(verdicts));
    json_report.insert(
        "config".into(),
        json!({"rows": rows, "log_rows": log_rows, "buckets": BUCKETS, "iters": iters, "threads": THREADS, "read_ahead_bytes": read_ahead}),
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let out_dir = target.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    std::fs::write(
        out_dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&json_report)?,
    )?;
    Ok(())
}

async fn plain_scan(lake: Arc<dyn LakeStorage>, snapshot: i64) -> BoxResult<usize> {
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

async fn union_read(table: UnionTable, strategy: MergeStrategy, read_ahead: Option<usize>) -> BoxResult<usize> {
    let mut scan = table.scan().strategy(strategy).concurrency(THREADS);
    if let Some(bytes) = read_ahead {
        scan = scan.read_ahead(bytes);
    }
    let mut stream = scan.build().await?.to_stream().await?;
    let mut n = 0;
    while let Some(b) = stream.try_next().await? {
        n += b.num_rows();
    }
    Ok(n)
}
