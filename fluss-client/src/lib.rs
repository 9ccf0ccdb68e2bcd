//! # fluss-client
//!
//! The log side of lakeunion:
//!
//! - [`record`]: Fluss's log record-batch format (header V0/V1/V2, CRC32C, change-type
//!   vector, Arrow IPC body with optional LZ4/ZSTD), encoded and decoded.
//! - [`offsets`]: the tiered-offsets JSON Fluss commits with each lake snapshot
//!   (`fluss-offsets`), inline or as a path to an offsets file.
//! - [`local`]: [`LocalLog`](local::LocalLog), the embedded default log: those batches in
//!   segment files per bucket, with tailing reads; a `lake_api::LogSource`.
//! - [`arrow_bridge`]: Arrow 59 (fluss-rs) ⇄ Arrow 58, zero-copy through the C Data Interface.
//! - [`remote`]: [`FlussLog`](remote::FlussLog), the log of a table on a Fluss cluster over
//!   the `fluss-rs` 1.0 client; a `lake_api::LogSource`.
//! - [`tiering`]: the [`Tierer`](tiering::Tierer), moving log records into any
//!   `lake_api::LakeWriter` and committing the tiered offsets.
//! - [`bucketing`]: which bucket a row belongs to, as Fluss assigns it for each lake format
//!   (Fluss compacted, Paimon BinaryRow and Iceberg key bytes; Fluss/Flink murmur and
//!   MurmurHash3 bucketing functions).
//!
//! Formats are documented, with their sources in apache/fluss, in `docs/fluss-formats.md`.

pub mod arrow_bridge;
pub mod bucketing;
pub mod error;
pub mod local;
pub mod offsets;
pub mod record;
pub mod remote;
pub mod tiering;

pub use error::{Error, ErrorKind, Result};
