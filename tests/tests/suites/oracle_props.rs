//! Property tests: random workloads, random tiering, random queries, against the oracle,
//! for both merge strategies (and the planner's choice) and every merge engine.
//!
//! `LAKEUNION_PROPTEST_CASES` sets the number of cases per strategy (default 2000); the backend
//! and remote-log suites (the Fluss ones over the memory lake and over Paimon) have their own counts (`LAKEUNION_{ICEBERG,LANCE,PAIMON,PAIMON_REST,PAIMON_COMPACTED,FLUSS}_CASES`).

use lake_api::MergeStrategy;
use lakeunion_tests::check::{case_count, run_case, run_local_case};
use lakeunion_tests::follow::run_follow_case;
use lakeunion_tests::iceberg::run_iceberg_case;
use lakeunion_tests::lance::run_lance_case;
use lakeunion_tests::paimon::{run_paimon_case, run_paimon_compacted_case, run_paimon_rest_case};
use lakeunion_tests::remote::{run_remote_case, run_remote_paimon_case};
use proptest::prelude::*;

/// The runtime a case runs on: its own, so that cases share nothing.
#[derive(Clone, Copy)]
enum Runtime {
    /// The in-memory and LocalLog cases.
    CurrentThread,
    /// The backends and the remote log, whose readers decode ahead on a second thread.
    MultiThread,
}

/// Runs one case on a new runtime of the given kind, as a proptest result naming the case.
fn on_runtime(
    runtime: Runtime,
    seed: u64,
    ops: usize,
    strategy: MergeStrategy,
    case: impl AsyncFnOnce(u64, usize, MergeStrategy) -> Result<(), String>,
) -> Result<(), TestCaseError> {
    let rt = match runtime {
        Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
    }
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(case(seed, ops, strategy))
        .map_err(|e| TestCaseError::fail(format!("seed {seed}, ops {ops}, {strategy}: {e}")))
}

fn cases() -> u32 {
    case_count("LAKEUNION_PROPTEST_CASES", 2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::CurrentThread, seed, ops, MergeStrategy::SortMerge, run_case)?;
    }

    #[test]
    fn key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::CurrentThread, seed, ops, MergeStrategy::KeyFilter, run_case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn planner_choice_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::CurrentThread, seed, ops, MergeStrategy::Auto, run_case)?;
    }
}

proptest! {
    // a followed scan: its changelog, replayed, against the oracle (deduplicate and log tables)
    #![proptest_config(ProptestConfig { cases: cases() / 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn followed_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_follow_case)?;
    }

    #[test]
    fn followed_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_follow_case)?;
    }
}

proptest! {
    // each case writes segment files and tiers them: a fifth of the in-memory count
    #![proptest_config(ProptestConfig { cases: cases() / 5, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn local_log_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::CurrentThread, seed, ops, MergeStrategy::SortMerge, run_local_case)?;
    }

    #[test]
    fn local_log_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::CurrentThread, seed, ops, MergeStrategy::KeyFilter, run_local_case)?;
    }
}

fn iceberg_cases() -> u32 {
    case_count("LAKEUNION_ICEBERG_CASES", 400)
}

proptest! {
    // each case tiers into a SQLite-cataloged Iceberg warehouse of Parquet files
    #![proptest_config(ProptestConfig { cases: iceberg_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn iceberg_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_iceberg_case)?;
    }

    #[test]
    fn iceberg_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_iceberg_case)?;
    }
}

fn lance_cases() -> u32 {
    case_count("LAKEUNION_LANCE_CASES", 400)
}

proptest! {
    // each case tiers into Lance datasets: appends, deletes and merge-inserts
    #![proptest_config(ProptestConfig { cases: lance_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lance_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_lance_case)?;
    }

    #[test]
    fn lance_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_lance_case)?;
    }
}

fn paimon_cases() -> u32 {
    case_count("LAKEUNION_PAIMON_CASES", 400)
}

proptest! {
    // each case tiers into a Paimon warehouse: fixed buckets, +U/-D rows merged on read
    #![proptest_config(ProptestConfig { cases: paimon_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn paimon_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_paimon_case)?;
    }

    #[test]
    fn paimon_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_paimon_case)?;
    }
}

fn paimon_rest_cases() -> u32 {
    case_count("LAKEUNION_PAIMON_REST_CASES", 100)
}

proptest! {
    // each case tiers through a Paimon REST catalog (lakeunion_tests::paimon_rest), which
    // commits the writer's snapshots; the writer adds the offsets to the committed file
    #![proptest_config(ProptestConfig { cases: paimon_rest_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn paimon_rest_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_paimon_rest_case)?;
    }

    #[test]
    fn paimon_rest_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_paimon_rest_case)?;
    }
}

fn paimon_compacted_cases() -> u32 {
    case_count("LAKEUNION_PAIMON_COMPACTED_CASES", 100)
}

proptest! {
    // each case compacts a Paimon deletion-vector or first-row table between tiering
    // rounds (lakeunion_tests::paimon_compact) and reads both of its views
    #![proptest_config(ProptestConfig { cases: paimon_compacted_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn paimon_compacted_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_paimon_compacted_case)?;
    }

    #[test]
    fn paimon_compacted_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_paimon_compacted_case)?;
    }
}

fn remote_cases() -> u32 {
    case_count("LAKEUNION_FLUSS_CASES", 60)
}

proptest! {
    // each case serves its log over loopback TCP and reads it with the fluss-rs client
    #![proptest_config(ProptestConfig { cases: remote_cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fluss_log_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_remote_case)?;
    }

    #[test]
    fn fluss_log_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_remote_case)?;
    }

    #[test]
    fn fluss_log_over_paimon_sort_merge_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::SortMerge, run_remote_paimon_case)?;
    }

    #[test]
    fn fluss_log_over_paimon_key_filter_equals_oracle(seed in any::<u64>(), ops in 0usize..120) {
        on_runtime(Runtime::MultiThread, seed, ops, MergeStrategy::KeyFilter, run_remote_paimon_case)?;
    }
}
