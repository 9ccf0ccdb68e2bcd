//! Lance backend benchmark (issue 6; results in BENCHMARKS.md).
//!
//! `cargo bench -p lake-bench --features datafusion --bench lance_read`
//!
//! A generated primary-key table (`BENCH_ROWS` rows, default 5,000,000: `i64` key and four
//! value columns including a string, 4 buckets) tiered into a Lance dataset, plus a 1% log
//! tail in memory. See [`lake_bench::run_backend`] for what is measured: medians of
//! `BENCH_ITERS` (default 3) runs, JSON in `$CARGO_TARGET_DIR/bench/lance_read.json`.

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
        let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
        lake_bench::run_backend(Arc::new(lake), LakeFormat::Lance, "lance_read").await
    })
}
