//! The lakeunion integration harness, usable by other projects' tests:
//!
//! - [`workload`]: random tables and changelogs;
//! - [`oracle`]: the plain model every union read is compared with;
//! - [`build`]: turning a workload into a log and a lake tiered at random points;
//! - [`check`]: random queries and their comparison with the oracle;
//! - [`local`]: the same over the embedded `LocalLog` and the tiering service;
//! - [`iceberg`]: the same tiered into the Iceberg backend.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lake_api::MergeStrategy;
//! lakeunion_tests::check::run_case(7, 60, MergeStrategy::SortMerge).await.unwrap();
//! # });
//! ```

pub mod build;
pub mod check;
pub mod iceberg;
pub mod local;
pub mod oracle;
pub mod rng;
pub mod workload;
