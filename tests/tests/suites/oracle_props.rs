//! Property tests: random workloads, random tiering, random queries, against the oracle,
//! for both merge strategies (and the planner's choice) and every merge engine.
//!
//! `LAKEUNION_PROPTEST_CASES` sets the number of cases per strategy (default 2000); the backend
//! and remote-log suites have their own counts (`LAKEUNION_{ICEBERG,LANCE,PAIMON,PAIMON_REST,FLUSS}_CASES`).

use lake_api::MergeStrategy;
use lakeunion_tests::check::run_case;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("LAKEUNION_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn run(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(run_case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run(seed, ops, MergeStrategy::SortMerge)?;
    }

    #[test]
    fn key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run(seed, ops, MergeStrategy::KeyFilter)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn planner_choice_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run(seed, ops, MergeStrategy::Auto)?;
    }
}

fn run_local(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(lakeunion_tests::check::run_local_case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

proptest! {
    // each case writes segment files and tiers them: a tenth of the in-memory count
    #![proptest_config(ProptestConfig { cases: cases() / 10, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn local_log_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_local(seed, ops, MergeStrategy::SortMerge)?;
    }

    #[test]
    fn local_log_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_local(seed, ops, MergeStrategy::KeyFilter)?;
    }
}

fn iceberg_cases() -> u32 {
    std::env::var("LAKEUNION_ICEBERG_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn run_iceberg(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(lakeunion_tests::iceberg::run_iceberg_case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

proptest! {
    // each case tiers into a SQLite-cataloged Iceberg warehouse of Parquet files
    #![proptest_config(ProptestConfig { cases: iceberg_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn iceberg_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_iceberg(seed, ops, MergeStrategy::SortMerge)?;
    }

    #[test]
    fn iceberg_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_iceberg(seed, ops, MergeStrategy::KeyFilter)?;
    }
}

fn run_lance(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(lakeunion_tests::lance::run_lance_case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

fn lance_cases() -> u32 {
    std::env::var("LAKEUNION_LANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

proptest! {
    // each case tiers into Lance datasets: appends, deletes and merge-inserts
    #![proptest_config(ProptestConfig { cases: lance_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lance_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_lance(seed, ops, MergeStrategy::SortMerge)?;
    }

    #[test]
    fn lance_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_lance(seed, ops, MergeStrategy::KeyFilter)?;
    }
}

fn run_paimon(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), TestCaseError> {
    run_paimon_with(seed, ops, strategy, lakeunion_tests::paimon::run_paimon_case)
}

fn run_paimon_with(
    seed: u64,
    ops: usize,
    strategy: MergeStrategy,
    case: impl AsyncFnOnce(u64, usize, MergeStrategy) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

fn paimon_cases() -> u32 {
    std::env::var("LAKEUNION_PAIMON_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

proptest! {
    // each case tiers into a Paimon warehouse: fixed buckets, +U/-D rows merged on read
    #![proptest_config(ProptestConfig { cases: paimon_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn paimon_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_paimon(seed, ops, MergeStrategy::SortMerge)?;
    }

    #[test]
    fn paimon_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_paimon(seed, ops, MergeStrategy::KeyFilter)?;
    }
}

fn paimon_rest_cases() -> u32 {
    std::env::var("LAKEUNION_PAIMON_REST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

proptest! {
    // each case tiers through a Paimon REST catalog (lakeunion_tests::paimon_rest), which
    // commits the writer's snapshots; the writer adds the offsets to the committed file
    #![proptest_config(ProptestConfig { cases: paimon_rest_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn paimon_rest_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_paimon_with(seed, ops, MergeStrategy::SortMerge, lakeunion_tests::paimon::run_paimon_rest_case)?;
    }

    #[test]
    fn paimon_rest_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_paimon_with(seed, ops, MergeStrategy::KeyFilter, lakeunion_tests::paimon::run_paimon_rest_case)?;
    }
}

fn run_remote(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(lakeunion_tests::remote::run_remote_case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

fn remote_cases() -> u32 {
    std::env::var("LAKEUNION_FLUSS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

proptest! {
    // each case serves its log over loopback TCP and reads it with the fluss-rs client
    #![proptest_config(ProptestConfig { cases: remote_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fluss_log_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_remote(seed, ops, MergeStrategy::SortMerge)?;
    }

    #[test]
    fn fluss_log_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        run_remote(seed, ops, MergeStrategy::KeyFilter)?;
    }
}
