//! Lance backend benchmark (issue 6; results in BENCHMARKS.md).
//!
//! `cargo bench -p lake-bench --features datafusion --bench lance_read`
//!
//! A generated primary-key table (`BENCH_ROWS` rows, default 5,000,000: `i64` key and four
//! value columns including a string, 4 buckets) tiered into a Lance dataset, plus a 1% log
//! tail in memory. See [`lake_bench::run_backend`] for what is measured: medians of
//! `BENCH_ITERS` (default 3) runs, JSON in `$CARGO_TARGET_DIR/bench/lance_read.json`.
//! `BENCH_LANCE_BUCKET_COLUMN=1` makes the dataset keep each row's bucket (bucket-aware
//! splits and union reads; JSON in `lance_read_bucketed.json`).

use std::sync::Arc;

use fluss_client::bucketing::LakeFormat;
use lake_lance::{LanceConfig, LanceStorage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let bucketed = std::env::var("BENCH_LANCE_BUCKET_COLUMN").is_ok_and(|v| v == "1");
        let config = LanceConfig::new(dir.path().to_string_lossy()).with_bucket_column(bucketed);
        let lake = LanceStorage::new(config);
        let name = if bucketed { "lance_read_bucketed" } else { "lance_read" };
        lake_bench::run_backend(Arc::new(lake), LakeFormat::Lance, name).await
    })
}
