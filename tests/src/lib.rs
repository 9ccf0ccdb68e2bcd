//! The lakeunion integration harness, usable by other projects' tests:
//!
//! - [`workload`]: random tables and changelogs;
//! - [`oracle`]: the plain model every union read is compared with, and [`oracle_filter`]
//!   its filter;
//! - [`build`]: turning a workload into a log and a lake tiered at random points;
//! - [`check`]: random queries and their comparison with the oracle;
//! - [`follow`]: followed scans, their changelog replayed against the oracle;
//! - [`local`]: the same over the embedded `LocalLog` and the tiering service;
//! - [`iceberg`], [`lance`], [`paimon`]: the same tiered into the lake backends;
//! - [`fixtures`]: reading the cross-implementation fixtures back;
//! - [`bad_lake`]: the bad-input checks every lake backend passes (missing and corrupt data
//!   files, malformed offsets, a changed schema);
//! - [`s3`]: an S3 server on a local directory, for lakes in an object store;
//! - [`http`], [`paimon_rest`]: catalog servers (a Paimon REST catalog that commits);
//! - [`paimon_compact`]: compactions of Paimon deletion-vector and `first-row` tables, as
//!   Paimon's own leave them.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lake_api::MergeStrategy;
//! lakeunion_tests::check::run_case(7, 60, MergeStrategy::SortMerge).await.unwrap();
//! # });
//! ```

pub mod bad_lake;
pub mod build;
pub mod check;
pub mod fixtures;
pub mod fluss_server;
pub mod follow;
pub mod http;
pub mod iceberg;
pub mod lance;
pub mod local;
pub mod oracle;
pub mod oracle_filter;
pub mod paimon;
pub mod paimon_compact;
pub mod paimon_rest;
pub mod remote;
pub mod rng;
pub mod s3;
pub mod workload;

/// The README's examples compile as doc tests here, the crate that sees the core and every
/// backend, so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
