//! The harness over the Lance backend: a workload in a `LocalLog`, tiered by the `Tierer`
//! into a Lance dataset (appends, deletes and merge-inserts), read back by a second
//! `LanceStorage` built from the same configuration for serialized splits.

use std::path::Path;
use std::sync::Arc;

use lake_api::MergeStrategy;
use lake_lance::{LanceConfig, LanceStorage};

use crate::build::BuiltTable;
use crate::check::run_tiered_case;
use crate::local::build_tiered;
use crate::rng::Rng;
use crate::workload::Workload;

/// Tiers a workload into new Lance datasets under `root`, in up to two rounds. Half the
/// cases write small fragments, so that a round's append is a run of several sorted
/// fragments (read as one split) and merge-inserts leave several unsorted ones; half keep
/// each row's bucket, so that the dataset is bucket-aware.
pub async fn build_lance(rng: &mut Rng, workload: &Workload, root: &Path) -> Result<BuiltTable, String> {
    let mut config = LanceConfig::new(root.join("lake").to_string_lossy());
    if rng.chance(0.5) {
        config = config.with_max_rows_per_file(rng.range(1, 16) as usize);
    }
    config = config.with_bucket_column(rng.chance(0.5));
    let lake = LanceStorage::new(config.clone());
    let worker = LanceStorage::new(config);
    build_tiered(
        rng,
        workload,
        &root.join("log"),
        Arc::new(lake),
        Arc::new(worker),
        0..=2,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Generates, tiers into Lance, queries and checks one case from a seed.
pub async fn run_lance_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    run_tiered_case(seed, ops, strategy, Workload::random, async |rng, workload, root| {
        build_lance(rng, workload, root).await
    })
    .await
}
