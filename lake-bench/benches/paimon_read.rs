//! Paimon backend benchmark (issue 4; results in BENCHMARKS.md).
//!
//! `cargo bench -p lake-bench --features datafusion --bench paimon_read`
//!
//! A generated primary-key table (`BENCH_ROWS` rows, default 5,000,000: `i64` key and four
//! value columns including a string, 4 fixed buckets routed by Fluss's Paimon bucketing)
//! tiered into a Paimon table (filesystem catalog, Parquet, key-sorted level-0 files), plus a
//! 1% log tail in memory. See [`lake_bench::run_backend`] for what is measured: medians of
//! `BENCH_ITERS` (default 3) runs, JSON in `$CARGO_TARGET_DIR/bench/paimon_read.json`.

use std::sync::Arc;

use fluss_client::bucketing::LakeFormat;
use lake_paimon::{PaimonConfig, PaimonStorage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dir = tempfile::tempdir()?;
        let lake = PaimonStorage::connect(PaimonConfig::filesystem(dir.path())).await?;
        lake_bench::run_backend(Arc::new(lake), LakeFormat::Paimon, "paimon_read").await
    })
}
