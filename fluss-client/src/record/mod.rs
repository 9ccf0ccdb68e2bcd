//! The Fluss log record-batch format (`docs/fluss-formats.md` §1–2).
//!
//! One batch is, little-endian throughout:
//!
//! ```text
//! BaseOffset i64 | Length i32 | Magic i8 | CommitTimestamp i64 | [LeaderEpoch i32, V2]
//! | CRC u32 | SchemaId i16 | Attributes i8 | LastOffsetDelta i32 | WriterId i64
//! | BatchSequence i32 | RecordCount i32 | [StatisticsLength i32, V1/V2]
//! | [statistics] | [change-type vector, RecordCount bytes, unless append-only]
//! | Arrow IPC RecordBatch message (no schema message; optional LZ4/ZSTD body compression)
//! ```
//!
//! `Length` counts the bytes after itself; the CRC-32C covers the schema id to the end.
//! Modules: `format` (constants and offsets per magic), `header` ([`BatchHeader`],
//! [`read_header`]), `codec` ([`encode_batch`], [`decode_batch`]), `ipc` (the Arrow part)
//! and `iter` ([`BatchIter`]).

mod codec;
mod format;
mod header;
mod ipc;
mod iter;
#[cfg(test)]
pub(crate) mod testdata;

pub use codec::{Compression, EncodeOptions, decode_batch, decode_batch_buffer, encode_batch, encode_log_batch};
pub use format::{MAGIC_V0, MAGIC_V1, MAGIC_V2, NO_BATCH_SEQUENCE, NO_LEADER_EPOCH, NO_WRITER_ID};
pub use header::{BatchHeader, peek_header, read_header};
pub(crate) use ipc::arrow_part_prefix;
pub use iter::BatchIter;
