//! Union-read benchmark (issue 2; results in BENCHMARKS.md).
//!
//! `cargo bench -p lake-api --bench union_read`
//!
//! On generated data (8M rows: 4 buckets x 4 interleaving sorted runs, `i64` key and four
//! value columns including a string, a 1% log tail), one process on one core measures:
//!
//! - **baseline**: the same lake and log batches copied into 8192-row output batches with
//!   `concat_batches` (every output is a fresh copy: what touching every byte once costs);
//! - **sort-merge** and **key filter**: a full union read with that strategy;
//! - **kernel**: the k-way merge kernel alone over the runs of one bucket.
//!
//! Then, in a child process (so that its peak RSS is its own), a sort-merge read whose log
//! tail is 10x the memory budget, generated on the fly, which must spill.
//!
//! Every figure is the median of `BENCH_ITERS` (default 5) runs. Environment knobs:
//! `BENCH_ITERS`, `BENCH_ROWS` (default 8,000,000), `BENCH_RUNS` (sorted runs per bucket, default 4), `BENCH_SPILL_BUDGET_MB` (default 64),
//! `BENCH_SPILL_FACTOR` (tail bytes / budget, default 10), `BENCH_SKIP_SPILL=1`,
//! `BENCH_STRICT=1` (exit non-zero when a target is missed). The scans run on a
//! current-thread runtime, where they read no batches ahead. The JSON report goes to
//! `$CARGO_TARGET_DIR/bench/union_read.json` (default: the workspace's `target/`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringBuilder};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
use lake_api::memory::{MemoryFile, MemoryLake, MemoryLog};
use lake_api::{
    ChangeType, ErrorKind, LakeSnapshot, LogBatch, LogBatchStream, LogSource, MergeStrategy, OffsetRange, TableBucket,
    TableInfo, TablePath, UnionTable,
};
use serde_json::{Value, json};

type BoxResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Rows per batch, lake and log, and per output batch of the baseline.
const BATCH: usize = 8192;
const BUCKETS: u32 = 4;
/// Sorted runs per bucket: `BENCH_RUNS`, 4 by default. With 1, each bucket is one sorted
/// file (what the tiering writers leave) and the sort-merge takes its sparse path.
fn runs_per_bucket() -> usize {
    env_usize("BENCH_RUNS", 4).max(1)
}

const SORT_MERGE_TARGET: f64 = 0.75;
const KEY_FILTER_TARGET: f64 = 0.85;
const KERNEL_TARGET_ROWS_S: f64 = 40e6;
const SPILL_SLACK: u64 = 64 << 20;

// ---------------------------------------------------------------------------------------
// data

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

fn table_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v1", DataType::Int64, true),
        Field::new("v2", DataType::Float64, true),
        Field::new("v3", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]))
}

/// The values of key `key` at version `version`: a pure function, so that the generators
/// and the expected results agree without storing rows.
fn row_hash(key: i64, version: u32) -> u64 {
    mix(key as u64 ^ u64::from(version).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

fn v1_of(key: i64, version: u32) -> i64 {
    (row_hash(key, version) >> 1) as i64
}

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";

/// A batch of rows `(key, version)` in the table schema; strings are 12 to 20 chars.
fn make_batch(schema: &SchemaRef, rows: &[(i64, u32)]) -> RecordBatch {
    let n = rows.len();
    let mut k = Vec::with_capacity(n);
    let mut v1 = Vec::with_capacity(n);
    let mut v2 = Vec::with_capacity(n);
    let mut v3 = Vec::with_capacity(n);
    let mut s = StringBuilder::with_capacity(n, n * 16);
    let mut buf = [0u8; 20];
    for &(key, version) in rows {
        let h = row_hash(key, version);
        k.push(key);
        v1.push((h >> 1) as i64);
        v2.push((h >> 11) as f64 / (1u64 << 53) as f64 * 1000.0);
        v3.push((h >> 20) as i32);
        let len = 12 + (h % 9) as usize;
        let mut x = mix(h);
        for (i, c) in buf[..len].iter_mut().enumerate() {
            if i == 12 {
                x = mix(x ^ h);
            }
            *c = ALPHABET[(x & 31) as usize];
            x >>= 5;
        }
        // the alphabet is ASCII
        s.append_value(std::str::from_utf8(&buf[..len]).unwrap_or(""));
    }
    RecordBatch::try_new(
        schema.clone(),
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

/// The generated table: lake runs per bucket, log batches per bucket, and what a union
/// read must return.
struct Dataset {
    schema: SchemaRef,
    info: TableInfo,
    /// `runs[bucket][run]`: the sorted batches of one lake file.
    runs: Vec<Vec<Vec<RecordBatch>>>,
    /// `log[bucket]`: the log tail's batches with their change types.
    log: Vec<Vec<(RecordBatch, Vec<ChangeType>)>>,
    lake_rows: usize,
    log_rows: usize,
    changes: usize,
    expected_rows: usize,
    expected_v1_sum: i64,
}

impl Dataset {
    /// `ranges`: each run holds one contiguous key range of its bucket (how compacted
    /// LSM levels and time-ordered files look); otherwise keys go to random runs.
    fn generate(total_rows: usize, seed: u64, ranges: bool) -> Self {
        let schema = table_schema();
        let info =
            TableInfo::primary_key_table(TablePath::new("bench", "t"), schema.clone(), vec!["k".into()], BUCKETS);
        let mut rng = Rng(seed);
        let changes_total = total_rows / 100;
        let mut runs = Vec::new();
        let mut log = Vec::new();
        let (mut lake_rows, mut log_rows, mut changes) = (0, 0, 0);
        let (mut expected_rows, mut expected_v1_sum) = (0usize, 0i64);
        for b in 0..BUCKETS as usize {
            let n = total_rows / BUCKETS as usize + usize::from(b < total_rows % BUCKETS as usize);
            // slot 2i is lake key i of the bucket, slot 2i+1 a key the log may insert;
            // key = slot * BUCKETS + bucket, so buckets own disjoint, interleaved keys
            let key = |slot: usize| (slot * BUCKETS as usize + b) as i64;
            // version of each slot, 0 when the key is absent
            let mut state = vec![0u32; 2 * n];
            let run_count = runs_per_bucket();
            let mut per_run: Vec<Vec<(i64, u32)>> =
                (0..run_count).map(|_| Vec::with_capacity(n / run_count + 1)).collect();
            for i in 0..n {
                state[2 * i] = 1;
                let run = if ranges {
                    i * run_count / n
                } else {
                    rng.below(run_count as u64) as usize
                };
                per_run[run].push((key(2 * i), 1));
            }
            lake_rows += n;
            runs.push(
                per_run
                    .iter()
                    .map(|rows| rows.chunks(BATCH).map(|c| make_batch(&schema, c)).collect())
                    .collect(),
            );
            drop(per_run);

            // the log tail: ~80% updates (-U, +U), ~10% deletes, ~10% inserts
            let bucket_changes = changes_total / BUCKETS as usize + usize::from(b < changes_total % BUCKETS as usize);
            let mut rows: Vec<(i64, u32, ChangeType)> = Vec::new();
            let pick = |rng: &mut Rng, state: &[u32], odd: bool, present: bool| loop {
                let slot = 2 * rng.below(n as u64) as usize + usize::from(odd);
                if (state[slot] > 0) == present {
                    return slot;
                }
            };
            for _ in 0..bucket_changes {
                let p = rng.below(100);
                if p < 80 {
                    let slot = pick(&mut rng, &state, false, true);
                    let old = state[slot];
                    state[slot] = old + 1;
                    rows.push((key(slot), old, ChangeType::UpdateBefore));
                    rows.push((key(slot), old + 1, ChangeType::UpdateAfter));
                } else if p < 90 {
                    let slot = pick(&mut rng, &state, false, true);
                    rows.push((key(slot), state[slot], ChangeType::Delete));
                    state[slot] = 0;
                } else {
                    let slot = pick(&mut rng, &state, true, false);
                    state[slot] = 1;
                    rows.push((key(slot), 1, ChangeType::Insert));
                }
            }
            changes += bucket_changes;
            log_rows += rows.len();
            log.push(
                rows.chunks(BATCH)
                    .map(|c| {
                        let kv: Vec<(i64, u32)> = c.iter().map(|&(k, v, _)| (k, v)).collect();
                        (make_batch(&schema, &kv), c.iter().map(|&(_, _, t)| t).collect())
                    })
                    .collect(),
            );
            for (slot, &v) in state.iter().enumerate() {
                if v > 0 {
                    expected_rows += 1;
                    expected_v1_sum = expected_v1_sum.wrapping_add(v1_of(key(slot), v));
                }
            }
        }
        Self {
            schema,
            info,
            runs,
            log,
            lake_rows,
            log_rows,
            changes,
            expected_rows,
            expected_v1_sum,
        }
    }

    /// The memory lake (one file per run) and log (tail from offset 0) of the dataset.
    fn build(&self) -> BoxResult<(MemoryLake, MemoryLog)> {
        let lake = MemoryLake::new();
        lake.create_table(&self.info)?;
        let mut files = Vec::new();
        for (b, runs) in self.runs.iter().enumerate() {
            for run in runs {
                files.push(MemoryFile {
                    partition: vec![],
                    bucket: Some(b as u32),
                    batches: run.clone(),
                    sorted: true,
                });
            }
        }
        let snapshot = lake.commit_files(&self.info.path, files, BTreeMap::new())?;
        let log = MemoryLog::new(self.info.clone())?;
        let mut tiered = BTreeMap::new();
        for (b, batches) in self.log.iter().enumerate() {
            let bucket = TableBucket::new(b as u32);
            log.ensure_bucket(&bucket)?;
            for (batch, changes) in batches {
                log.append(&bucket, batch.clone(), changes.clone())?;
            }
            tiered.insert(bucket, 0);
        }
        log.record_tiered_offsets(snapshot.id, tiered)?;
        Ok((lake, log))
    }

    fn rows_in(&self) -> usize {
        self.lake_rows + self.log_rows
    }
}

// ---------------------------------------------------------------------------------------
// measurements

/// Copies the lake batches, then the log batches, into 8192-row batches.
fn baseline(data: &Dataset) -> BoxResult<usize> {
    let schema = &data.schema;
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let mut out_rows = 0;
    let emit = |pending: &mut Vec<RecordBatch>| -> BoxResult<usize> {
        if let [only] = pending.as_slice() {
            // concat_batches returns a lone input as a zero-copy slice: split it so that
            // every output is a copy
            let half = only.num_rows() / 2;
            let (a, b) = (only.slice(0, half), only.slice(half, only.num_rows() - half));
            *pending = vec![a, b];
        }
        let out = concat_batches(schema, pending.iter())?;
        pending.clear();
        Ok(black_box(out).num_rows())
    };
    let lake = data.runs.iter().flatten().flatten();
    let log = data.log.iter().flatten().map(|(b, _)| b);
    for batch in lake.chain(log) {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (BATCH - pending_rows).min(batch.num_rows() - offset);
            pending.push(batch.slice(offset, take));
            pending_rows += take;
            offset += take;
            if pending_rows == BATCH {
                out_rows += emit(&mut pending)?;
                pending_rows = 0;
            }
        }
    }
    if pending_rows > 0 {
        out_rows += emit(&mut pending)?;
    }
    Ok(out_rows)
}

/// Rows returned by a full union read, and (with `checksum`) the wrapping sum of `v1` and
/// whether every key came once.
async fn union_read(
    data: &Dataset,
    lake: &MemoryLake,
    log: &MemoryLog,
    strategy: MergeStrategy,
    checksum: bool,
) -> BoxResult<(usize, i64, bool)> {
    let table = UnionTable::new(data.info.clone(), Arc::new(log.clone()), Some(Arc::new(lake.clone())))?;
    let mut stream = table
        .scan()
        .strategy(strategy)
        .concurrency(1)
        .build()
        .await?
        .to_stream()
        .await?;
    let (mut rows, mut sum) = (0usize, 0i64);
    let mut keys: Vec<i64> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        if checksum {
            let v1 = batch.column(1).as_primitive::<Int64Type>();
            sum = v1.iter().flatten().fold(sum, |a, v| a.wrapping_add(v));
            keys.extend(batch.column(0).as_primitive::<Int64Type>().values().iter());
        }
        black_box(&batch);
    }
    let unique = if checksum {
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        keys.len() == n
    } else {
        true
    };
    Ok((rows, sum, unique))
}

/// The k-way kernel over the runs of bucket 0; returns (rows merged, seconds).
fn kernel(data: &Dataset) -> BoxResult<(usize, f64)> {
    let runs: Vec<Vec<RecordBatch>> = data.runs[0].clone();
    let rows: usize = runs.iter().flatten().map(|b| b.num_rows()).sum();
    let input = lake_api::bench::prepare_kway_kernel(runs, &["k".into()])?;
    let start = Instant::now();
    let merged = lake_api::bench::run_kway_kernel(input)?;
    let secs = start.elapsed().as_secs_f64();
    if merged != rows {
        return Err(format!("the kernel merged {merged} rows of {rows}").into());
    }
    Ok((black_box(merged), secs))
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Bytes this process has passed to `write()` so far (`wchar` of `/proc/self/io`): how
/// much the spill wrote.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // <target>/release/deps/union_read-<hash>
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(target) = deps.parent().and_then(|p| p.parent())
    {
        return target.to_path_buf();
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target")
}

// ---------------------------------------------------------------------------------------
// the spill child: a log tail generated on the fly

/// A one-bucket log whose tail is generated batch by batch in `read()`: the first half of
/// the rows inserts `half` distinct odd keys (in a scrambled order), the second half
/// updates them in another order and deletes every tenth.
#[derive(Clone)]
struct GeneratedTail {
    info: TableInfo,
    batches: u64,
}

impl GeneratedTail {
    fn rows(&self) -> u64 {
        self.batches * BATCH as u64
    }

    fn half(&self) -> u64 {
        self.rows() / 2
    }

    /// Row `i` of the tail: key, version, change.
    fn row(&self, i: u64) -> (i64, u32, ChangeType) {
        let m = u128::from(self.half());
        // multipliers are primes above any `m` used, so both maps are permutations of [0, m)
        let scramble = |x: u64, mul: u128, add: u128| ((u128::from(x) * mul + add) % m) as i64;
        if i < self.half() {
            let j = scramble(i, 2_654_435_761, 12_345);
            (2 * j + 1, 1, ChangeType::Insert)
        } else {
            let t = i - self.half();
            let j = scramble(t, 1_000_000_007, 777);
            if t % 10 == 9 {
                (2 * j + 1, 1, ChangeType::Delete)
            } else {
                (2 * j + 1, 2, ChangeType::UpdateAfter)
            }
        }
    }

    fn batch(&self, index: u64) -> LogBatch {
        let first = index * BATCH as u64;
        let rows: Vec<(i64, u32, ChangeType)> = (first..first + BATCH as u64).map(|i| self.row(i)).collect();
        let kv: Vec<(i64, u32)> = rows.iter().map(|&(k, v, _)| (k, v)).collect();
        LogBatch::new(
            make_batch(&self.info.schema, &kv),
            rows.iter().map(|&(_, _, c)| c).collect(),
            first as i64,
        )
    }

    fn expected_log_survivors(&self) -> u64 {
        self.half() - self.half() / 10
    }
}

#[async_trait]
impl LogSource for GeneratedTail {
    async fn table_info(&self) -> lake_api::Result<TableInfo> {
        Ok(self.info.clone())
    }

    async fn offset_ranges(&self) -> lake_api::Result<BTreeMap<TableBucket, OffsetRange>> {
        Ok(BTreeMap::from([(
            TableBucket::new(0),
            OffsetRange {
                earliest: 0,
                end: self.rows() as i64,
            },
        )]))
    }

    async fn tiered_offsets(&self, _snapshot: &LakeSnapshot) -> lake_api::Result<BTreeMap<TableBucket, i64>> {
        Ok(BTreeMap::from([(TableBucket::new(0), 0)]))
    }

    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> lake_api::Result<LogBatchStream> {
        if *bucket != TableBucket::new(0) {
            return Err(lake_api::Error::new(
                ErrorKind::NotFound,
                format!("the generated log has no {bucket}"),
            ));
        }
        let end = self.rows() as i64;
        if start < 0 || start > end {
            return Err(lake_api::Error::new(
                ErrorKind::Offsets,
                format!("start offset {start} is outside [0, {end}]"),
            ));
        }
        let first = start as u64 / BATCH as u64;
        let last = (stop.unwrap_or(end).clamp(start, end) as u64).div_ceil(BATCH as u64);
        let this = self.clone();
        let batches = futures::stream::iter(first..last).map(move |i| Ok(this.batch(i)));
        Ok(match stop {
            Some(_) => Box::pin(batches),
            // a tailing read waits for records that never come
            None => Box::pin(batches.chain(futures::stream::pending())),
        })
    }
}

/// Runs in the child process: prints one `SPILL_RESULT {json}` line.
async fn spill_child() -> BoxResult<()> {
    let budget = env_usize("BENCH_SPILL_BUDGET_MB", 64) << 20;
    let factor = env_usize("BENCH_SPILL_FACTOR", 10);
    let schema = table_schema();
    let info = TableInfo::primary_key_table(TablePath::new("bench", "spill"), schema.clone(), vec!["k".into()], 1);

    // a small lake: even keys, one sorted file
    let lake_rows = 200_000usize;
    let lake_batches: Vec<RecordBatch> = (0..lake_rows)
        .map(|i| (2 * i as i64, 1u32))
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|c| make_batch(&schema, c))
        .collect();
    let lake = MemoryLake::new();
    lake.create_table(&info)?;
    lake.commit_files(
        &info.path,
        vec![MemoryFile {
            partition: vec![],
            bucket: Some(0),
            batches: lake_batches,
            sorted: true,
        }],
        BTreeMap::new(),
    )?;

    // size the tail from one generated batch
    let probe = GeneratedTail {
        info: info.clone(),
        batches: 2,
    };
    let batch_bytes = probe.batch(0).batch.get_array_memory_size() as u64;
    let tail_bytes_wanted = (factor * budget) as u64;
    let tail = GeneratedTail {
        info: info.clone(),
        batches: tail_bytes_wanted.div_ceil(batch_bytes).max(2),
    };
    let tail_bytes = tail.batches * batch_bytes;
    let expected = lake_rows as u64 + tail.expected_log_survivors();
    let rows_in = lake_rows as u64 + tail.rows();

    let table = UnionTable::new(info, Arc::new(tail.clone()), Some(Arc::new(lake)))?;
    let rss_before = proc_status_kib("VmRSS:").unwrap_or(0) * 1024;
    let written_before = bytes_written().unwrap_or(0);
    let start = Instant::now();
    let mut stream = table
        .scan()
        .strategy(MergeStrategy::SortMerge)
        .memory_budget(budget)
        .concurrency(1)
        .build()
        .await?
        .to_stream()
        .await?;
    let (mut rows, mut last, mut ordered) = (0u64, i64::MIN, true);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        for &k in batch.column(0).as_primitive::<Int64Type>().values() {
            ordered &= k > last;
            last = k;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let peak = proc_status_kib("VmHWM:").unwrap_or(0) * 1024;
    let growth = peak.saturating_sub(rss_before);
    let spilled = bytes_written().unwrap_or(0).saturating_sub(written_before);
    let result = json!({
        "budget_bytes": budget,
        "tail_bytes": tail_bytes,
        "tail_rows": tail.rows(),
        "lake_rows": lake_rows,
        "rows_in": rows_in,
        "rows_out": rows,
        "expected_rows_out": expected,
        "key_order_ok": ordered,
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak,
        "peak_growth_bytes": growth,
        "spill_bytes_written": spilled,
        "limit_bytes": budget as u64 + SPILL_SLACK,
        "seconds": secs,
        "rows_per_s": rows_in as f64 / secs,
        "pass": growth <= budget as u64 + SPILL_SLACK,
        "correct": rows == expected && ordered,
    });
    println!("SPILL_RESULT {result}");
    Ok(())
}

fn run_spill_child() -> BoxResult<Value> {
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new(exe)
        .arg("--spill-child")
        .stderr(std::process::Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("the spill child failed ({}): {stdout}", out.status).into());
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SPILL_RESULT "))
        .ok_or_else(|| format!("the spill child printed no result: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}

// ---------------------------------------------------------------------------------------
// main

struct Figure {
    name: String,
    rows: usize,
    samples: Vec<f64>,
}

impl Figure {
    fn rows_per_s(&self) -> f64 {
        self.rows as f64 / median(&self.samples)
    }
}

fn main() -> BoxResult<()> {
    // cargo bench passes `--bench` (and maybe a filter): anything unknown is ignored
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if args.iter().any(|a| a == "--spill-child") {
        return runtime.block_on(spill_child());
    }

    let iters = env_usize("BENCH_ITERS", 5).max(1);
    let total_rows = env_usize("BENCH_ROWS", 8_000_000);
    eprintln!("generating {total_rows} rows ...");
    let t = Instant::now();
    // BENCH_LAYOUT=ranges puts one key range in each run instead of interleaving them
    let ranges = std::env::var("BENCH_LAYOUT").is_ok_and(|v| v == "ranges");
    let data = Dataset::generate(total_rows, 0x5EED_2024, ranges);
    let (lake, log) = data.build()?;
    eprintln!(
        "generated in {:.1}s: {} lake rows in {} runs, {} log rows ({} changes); a union read must return {} rows",
        t.elapsed().as_secs_f64(),
        data.lake_rows,
        BUCKETS as usize * runs_per_bucket(),
        data.log_rows,
        data.changes,
        data.expected_rows
    );

    // one untimed round that checks the results (and warms up)
    let base_rows = baseline(&data)?;
    if base_rows != data.rows_in() {
        return Err(format!("baseline copied {base_rows} rows of {}", data.rows_in()).into());
    }
    for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
        let (rows, sum, unique) = runtime.block_on(union_read(&data, &lake, &log, strategy, true))?;
        if rows != data.expected_rows || sum != data.expected_v1_sum || !unique {
            return Err(format!(
                "{strategy} returned {rows} rows (expected {}), v1 sum {sum} (expected {}), unique keys: {unique}",
                data.expected_rows, data.expected_v1_sum
            )
            .into());
        }
    }
    eprintln!("results checked: both strategies return the expected rows");

    let kernel_rows: usize = data.runs[0].iter().flatten().map(|b| b.num_rows()).sum();
    let mut figures = [
        Figure {
            name: "baseline (concat)".into(),
            rows: data.rows_in(),
            samples: vec![],
        },
        Figure {
            name: "sort-merge".into(),
            rows: data.rows_in(),
            samples: vec![],
        },
        Figure {
            name: "key filter".into(),
            rows: data.rows_in(),
            samples: vec![],
        },
        Figure {
            name: format!("k-way kernel (1 bucket, {} runs)", runs_per_bucket()),
            rows: kernel_rows,
            samples: vec![],
        },
    ];
    // rounds interleave the measurements, so that noise hits them alike
    // BENCH_ONLY=baseline,sort-merge,key-filter,kernel runs a subset (for profiling)
    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == name));
    for round in 0..iters {
        if wanted("baseline") {
            let t = Instant::now();
            black_box(baseline(&data)?);
            figures[0].samples.push(t.elapsed().as_secs_f64());
        }
        for (i, strategy) in [(1, MergeStrategy::SortMerge), (2, MergeStrategy::KeyFilter)] {
            if !wanted(&strategy.to_string()) {
                continue;
            }
            let t = Instant::now();
            let (rows, _, _) = runtime.block_on(union_read(&data, &lake, &log, strategy, false))?;
            figures[i].samples.push(t.elapsed().as_secs_f64());
            if rows != data.expected_rows {
                return Err(format!("{strategy} returned {rows} rows").into());
            }
        }
        if wanted("kernel") {
            let (_, secs) = kernel(&data)?;
            figures[3].samples.push(secs);
        }
        eprintln!(
            "round {}/{iters}: {}",
            round + 1,
            figures
                .iter()
                .filter_map(|f| f.samples.get(round).map(|s| format!("{} {s:.3}s", f.name)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    drop((lake, log));

    let spill = if std::env::var("BENCH_SKIP_SPILL").is_ok_and(|v| v == "1") {
        None
    } else {
        eprintln!("spill run (child process) ...");
        Some(run_spill_child()?)
    };

    // report
    let base = figures[0].rows_per_s();
    let mut all_pass = true;
    let mut rows_json = Vec::new();
    println!();
    println!(
        "union read, {} lake rows ({} buckets x {} sorted runs, {}) + {} log rows ({} changes), one core, median of {iters}",
        data.lake_rows,
        BUCKETS,
        runs_per_bucket(),
        if ranges {
            "one key range per run"
        } else {
            "interleaved keys"
        },
        data.log_rows,
        data.changes
    );
    println!();
    println!("| measurement | rows | median time | rows/s | vs baseline | target | result |");
    println!("|---|---:|---:|---:|---:|---|---|");
    // a measurement BENCH_ONLY left out has no samples, and no row
    for (i, f) in figures.iter().enumerate().filter(|(_, f)| !f.samples.is_empty()) {
        let rate = f.rows_per_s();
        let ratio = rate / base;
        let (target, pass) = match i {
            0 => ("-".to_string(), None),
            1 => (
                format!(">= {SORT_MERGE_TARGET:.2}x baseline"),
                Some(ratio >= SORT_MERGE_TARGET),
            ),
            2 => (
                format!(">= {KEY_FILTER_TARGET:.2}x baseline"),
                Some(ratio >= KEY_FILTER_TARGET),
            ),
            _ => (
                format!(">= {:.0}M rows/s", KERNEL_TARGET_ROWS_S / 1e6),
                Some(rate >= KERNEL_TARGET_ROWS_S),
            ),
        };
        all_pass &= pass.unwrap_or(true);
        let result = match pass {
            None => "-",
            Some(true) => "PASS",
            Some(false) => "FAIL",
        };
        println!(
            "| {} | {} | {:.3} s | {:.1}M | {:.2}x | {target} | {result} |",
            f.name,
            f.rows,
            median(&f.samples),
            rate / 1e6,
            ratio
        );
        rows_json.push(json!({
            "name": f.name,
            "rows": f.rows,
            "samples_s": f.samples,
            "median_s": median(&f.samples),
            "rows_per_s": rate,
            "ratio_vs_baseline": ratio,
            "target": target,
            "pass": pass,
        }));
    }
    if let Some(s) = &spill {
        let b = |k: &str| s[k].as_u64().unwrap_or(0);
        let pass = s["pass"].as_bool().unwrap_or(false);
        let correct = s["correct"].as_bool().unwrap_or(false);
        all_pass &= pass;
        println!();
        println!(
            "| spill (sort-merge, 1 bucket) | budget | log tail | rows out | time | rows/s | spilled | RSS before | peak RSS | peak - before | limit | result |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        println!(
            "| {} lake + {} log rows | {:.0} MiB | {:.0} MiB | {} | {:.2} s | {:.1}M | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} MiB | {} |",
            b("lake_rows"),
            b("tail_rows"),
            mib(b("budget_bytes")),
            mib(b("tail_bytes")),
            b("rows_out"),
            s["seconds"].as_f64().unwrap_or(f64::NAN),
            s["rows_per_s"].as_f64().unwrap_or(f64::NAN) / 1e6,
            mib(b("spill_bytes_written")),
            mib(b("rss_before_bytes")),
            mib(b("peak_rss_bytes")),
            mib(b("peak_growth_bytes")),
            mib(b("limit_bytes")),
            if pass { "PASS" } else { "FAIL" }
        );
        if !correct {
            return Err(format!(
                "the spill read returned {} rows (expected {}), key order ok: {}",
                b("rows_out"),
                b("expected_rows_out"),
                s["key_order_ok"]
            )
            .into());
        }
    }

    let report = json!({
        "bench": "union_read",
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs(),
        "iters": iters,
        "cores_available": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "lake_rows": data.lake_rows,
        "log_rows": data.log_rows,
        "log_changes": data.changes,
        "buckets": BUCKETS,
        "runs_per_bucket": runs_per_bucket(),
        "rows_out": data.expected_rows,
        "figures": rows_json,
        "spill": spill,
        "all_targets_met": all_pass,
    });
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("union_read.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!();
    println!("JSON: {}", path.display());
    if !all_pass && std::env::var("BENCH_STRICT").is_ok_and(|v| v == "1") {
        return Err("a target was missed".into());
    }
    Ok(())
}
