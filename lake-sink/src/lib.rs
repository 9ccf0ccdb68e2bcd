//! # lake-sink
//!
//! Sinks over union-read streams: what AI data loaders and exporters consume.
//!
//! - [`Sink`] / [`drain`]: write a [`lake_api::RecordBatchStream`] somewhere;
//!   [`IpcFileSink`] and [`ParquetFileSink`] write files through an [`OutputFile`] (temp
//!   name, renamed on finish; pipes and devices written directly).
//! - [`resolve_blobs`] / [`ObjectStoreBlobResolver`]: turn BLOB reference columns into
//!   BLOB payload columns, with per-row errors.
//! - [`tensor`]: decode image BLOBs into batches of fixed-shape tensors (Arrow
//!   `arrow.fixed_shape_tensor`, exportable through DLPack), on the CPU with rayon.
//! - [`RowError`]: a row a sink could not process, with its row id; never a silent drop.

#[cfg(test)]
mod alloc_probe;
pub mod error;
pub mod ipc;
pub mod output;
pub mod parquet;
pub mod resolve;
pub mod sink;
pub mod tensor;

pub use crate::error::{Error, ErrorKind, Result, RowError};
pub use crate::ipc::IpcFileSink;
pub use crate::output::{OutputFile, OutputWriter};
pub use crate::parquet::ParquetFileSink;
pub use crate::resolve::{ObjectStoreBlobResolver, ResolveOptions, RowErrors, resolve_blobs};
pub use crate::sink::{Sink, SinkSummary, drain};
