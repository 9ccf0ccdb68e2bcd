//! Paimon's own bucket of a row, checked against the Fluss bucket the row is tiered into.
//!
//! The writer hands Paimon each row's bucket (the Fluss bucket) and Paimon files it there
//! unchecked, but a Paimon reader with a filter on the bucket key prunes buckets by hashing
//! the key itself: a row filed in another bucket than its hash names is silently lost to
//! such reads (Paimon's, Fluss's and this crate's alike). Fluss buckets a table that tiers
//! into Paimon with Paimon's hash (`table.datalake.format = paimon`), so the check costs a
//! well-made log nothing but the hashing; a log bucketed another way is refused before
//! anything is committed.

use arrow_array::RecordBatch;
use lake_api::{Error, ErrorKind, Result, TableBucket};
use paimon::spec::{BucketFunctionType, CoreOptions, DataField, TableSchema, batch_hash_codes};

use crate::error::paimon_err;

/// Where a fixed-bucket table's bucket key sits in its rows, and how many buckets it has.
pub(crate) struct PaimonBucketing {
    /// The bucket-key columns' positions in the table's fields (and in the rows written,
    /// which carry the table's fields in order).
    key: Vec<usize>,
    fields: Vec<DataField>,
    /// Paimon's `bucket`, which need not be the Fluss bucket count it was told.
    buckets: i32,
    key_names: String,
}

impl PaimonBucketing {
    /// The bucketing of a table with `buckets` fixed buckets; refused where Paimon would
    /// not hash the key as Fluss does (a `bucket-function.type` other than the default).
    pub(crate) fn of(schema: &TableSchema, buckets: i32, context: &str) -> Result<Self> {
        let function = CoreOptions::new(schema.options())
            .bucket_function_type()
            .map_err(paimon_err(context))?;
        if function != BucketFunctionType::Default {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{context}: Paimon's {function:?} bucket function: Fluss buckets the rows it tiers by Paimon's default hash"
                ),
            ));
        }
        let names = schema.bucket_keys();
        let fields = schema.fields().to_vec();
        let key = names
            .iter()
            .map(|name| {
                fields
                    .iter()
                    .position(|f| f.name() == name)
                    .ok_or_else(|| Error::corrupt(format!("{context}: bucket key {name} is not a column")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            key,
            fields,
            buckets,
            key_names: names.join(", "),
        })
    }

    /// Fails unless every row of `rows` (in the table's fields, in order) hashes to
    /// `bucket` under Paimon's bucketing.
    pub(crate) fn check(&self, rows: &RecordBatch, bucket: &TableBucket, context: &str) -> Result<()> {
        let hashes = batch_hash_codes(rows, &self.key, &self.fields).map_err(paimon_err(context))?;
        let Some((row, hashed)) = hashes
            .iter()
            .map(|h| (h % self.buckets).wrapping_abs())
            .enumerate()
            .find(|(_, b)| i64::from(*b) != i64::from(bucket.bucket))
        else {
            return Ok(());
        };
        Err(Error::invalid(format!(
            "{context}: row {row} of the rows for {bucket} belongs to bucket {hashed} under Paimon's hash of \
             ({}) over {} buckets; tier a log bucketed for Paimon (Fluss: table.datalake.format = paimon)",
            self.key_names, self.buckets
        )))
    }
}
