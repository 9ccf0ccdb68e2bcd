//! Bucket assignment: which bucket of a table a row belongs to, computed exactly as Fluss
//! computes it, so that rows written here land where Fluss (and the lake it tiers into)
//! expects them.
//!
//! A row's bucket is a bucketing function applied to the bytes of its bucket key, and both
//! depend on the table's lake format (`table.datalake.format`; Fluss's
//! `BucketingFunction.of` and `KeyEncoder.of`):
//!
//! | [`LakeFormat`] | key bytes ([`KeyEncoding`]) | bucket of key bytes `k`, `n` buckets |
//! |---|---|---|
//! | `None` (Fluss default) | `Compacted` | `mix_int(fluss_murmur(k)) % n` |
//! | `Paimon` | `Paimon` (BinaryRow) | `abs(fluss_murmur(k) % n)` (Paimon's own bucket) |
//! | `Iceberg` | `Iceberg` (one column) | `(murmur3_x86_32(k, 0) & i32::MAX) % n` (Iceberg's `bucket[n]`) |
//! | `Lance` | `Compacted` | as `None` |
//!
//! The hashes live in [`murmur`], the key encoders in [`encode`]. The format facts, with
//! their sources in apache/fluss, are in `docs/fluss-formats.md` §5.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use fluss_client::bucketing::{BucketAssigner, LakeFormat};
//!
//! let batch = RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)]).unwrap();
//! let assigner = BucketAssigner::new(LakeFormat::Paimon, batch.schema_ref(), &["id".into()], 4).unwrap();
//! let buckets = assigner.assign(&batch).unwrap();
//! assert_eq!(buckets.len(), 3);
//! assert!(buckets.iter().all(|b| *b < 4));
//! ```

pub mod encode;
pub mod murmur;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;

use arrow_array::RecordBatch;
use arrow_schema::Schema;

use crate::error::{Error, ErrorKind, Result};

pub use encode::{KeyEncoder, KeyEncoding};

/// The lake format of a table (`table.datalake.format`), which picks its bucketing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LakeFormat {
    /// No lake format: Fluss's own bucketing.
    #[default]
    None,
    /// Apache Paimon.
    Paimon,
    /// Apache Iceberg.
    Iceberg,
    /// Lance (buckets as Fluss does).
    Lance,
}

impl LakeFormat {
    /// The format named by a `table.datalake.format` value (`None` when unset).
    pub fn from_property(value: Option<&str>) -> Result<Self> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") => Ok(Self::None),
            Some("paimon") => Ok(Self::Paimon),
            Some("iceberg") => Ok(Self::Iceberg),
            Some("lance") => Ok(Self::Lance),
            // Fluss's HUDI format: its own key encoding and bucketing, not written here
            Some("hudi") => Err(Error::new(
                ErrorKind::Unsupported,
                "lake format 'hudi' is not supported (paimon, iceberg and lance are)",
            )),
            Some(other) => Err(Error::invalid(format!(
                "unknown lake format '{other}' (expected paimon, iceberg or lance)"
            ))),
        }
    }

    /// The encoding of the bucket-key bytes this format hashes.
    pub fn key_encoding(self) -> KeyEncoding {
        match self {
            Self::None | Self::Lance => KeyEncoding::Compacted,
            Self::Paimon => KeyEncoding::Paimon,
            Self::Iceberg => KeyEncoding::Iceberg,
        }
    }
}

impl fmt::Display for LakeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Paimon => "paimon",
            Self::Iceberg => "iceberg",
            Self::Lance => "lance",
        })
    }
}

/// The bucket, in `0..buckets`, of bucket-key bytes already encoded for `format`.
///
/// This is Fluss's `BucketingFunction.of(format).bucketing(key_bytes, buckets)`, except that
/// Fluss rejects an empty key for the Fluss/Lance and Iceberg functions where this hashes it
/// (an Iceberg key of an empty string or binary then lands in bucket 0, as Iceberg's own
/// bucket transform puts it). `buckets` above `i32::MAX`, which Fluss cannot have, extend the
/// same arithmetic.
///
/// # Panics
///
/// If `buckets` is 0.
pub fn bucket_of_bytes(format: LakeFormat, key_bytes: &[u8], buckets: u32) -> u32 {
    assert!(buckets > 0, "the number of buckets must be positive");
    match format {
        // `mix_int` is never negative.
        LakeFormat::None | LakeFormat::Lance => murmur::mix_int(murmur::fluss_murmur(key_bytes)) as u32 % buckets,
        // Java's `Math.abs(hash % n)`: the remainder takes the sign of the hash.
        LakeFormat::Paimon => (i64::from(murmur::fluss_murmur(key_bytes)) % i64::from(buckets)).unsigned_abs() as u32,
        LakeFormat::Iceberg => (murmur::murmur3_x86_32(key_bytes, 0) & i32::MAX as u32) % buckets,
    }
}

/// Assigns the rows of batches of one table to its buckets.
#[derive(Debug, Clone)]
pub struct BucketAssigner {
    format: LakeFormat,
    encoder: KeyEncoder,
    buckets: u32,
}

impl BucketAssigner {
    /// An assigner for a table of `schema` with lake format `format`, bucket key `bucket_key`
    /// (column names, in key order) and `buckets` buckets.
    ///
    /// Fails with [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when
    /// `buckets` is not in `1..=i32::MAX`, the key is empty or names a column `schema` lacks,
    /// or an Iceberg table's key has more than one column; with
    /// [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported) when a key column's type
    /// cannot be encoded for `format`.
    pub fn new(format: LakeFormat, schema: &Schema, bucket_key: &[String], buckets: u32) -> Result<Self> {
        if buckets == 0 || buckets > i32::MAX as u32 {
            return Err(Error::invalid(format!(
                "the number of buckets must be between 1 and {}, got {buckets}",
                i32::MAX
            )));
        }
        let encoder = KeyEncoder::new(format.key_encoding(), schema, bucket_key)
            .map_err(|e| e.context(format_args!("bucketing for lake format {format}")))?;
        Ok(Self {
            format,
            encoder,
            buckets,
        })
    }

    /// The lake format.
    pub fn format(&self) -> LakeFormat {
        self.format
    }

    /// The number of buckets.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// The key encoder.
    pub fn encoder(&self) -> &KeyEncoder {
        &self.encoder
    }

    /// The bucket of every row of `batch`, in row order.
    ///
    /// `batch` must have the key columns where the schema given to [`new`](Self::new) has
    /// them, with the same names and types (else
    /// [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch)). A null key value
    /// is [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) except for
    /// Paimon, whose BinaryRow records nulls.
    pub fn assign(&self, batch: &RecordBatch) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(batch.num_rows());
        self.encoder.for_each_key(batch, |_, key| {
            out.push(bucket_of_bytes(self.format, key, self.buckets))
        })?;
        Ok(out)
    }
}
