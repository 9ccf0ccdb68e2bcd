//! lakeunion's Lance backend: [`LanceStorage`] implements lake-api's
//! [`LakeStorage`](lake_api::LakeStorage) over the `lance` crate (14).
//!
//! Table `db.t` is the dataset `<root>/db/t.lance`; its schema metadata carries the Fluss
//! table (primary key, buckets, partition keys, merge engine). Snapshots are dataset
//! versions and their properties the versions' transaction properties, where the tiering
//! writer records `fluss-offsets`.
//!
//! Lance has neither buckets nor partitions: splits are fragments, bucket-unaware, and for
//! a partitioned table one per (fragment, partition) with the partition as a filter. A
//! dataset with a `__bucket` column ([`LanceConfig::with_bucket_column`] for the datasets
//! it creates) has one split per (fragment, partition, bucket) instead, read bucket-aware. Rows
//! come in no key order, so primary-key union reads sort (spilling past the memory
//! budget) or use the key filter, except where the tiering writer recorded a key-sorted run
//! of fragments ([`SORTED_RUNS_KEY`]): each of its splits carries its place in the run
//! ([`RunPosition`](lake_api::lake::RunPosition)), and a union read chains them into one
//! sorted input. BLOB columns are blob v2 columns, read as payloads or as references to
//! the ranges of the dataset's files that hold them ([`LanceBlobResolver`] fetches those);
//! VECTOR columns are `FixedSizeList`.
//!
//! ```no_run
//! # async fn example() -> lake_api::Result<()> {
//! use lake_api::{LakeStorage, TablePath};
//! use lake_lance::{LanceConfig, LanceStorage};
//!
//! let lake = LanceStorage::new(LanceConfig::new("/data/lance"));
//! let snapshots = lake.list_snapshots(&TablePath::new("fluss", "logs")).await?;
//! # let _ = snapshots; Ok(())
//! # }
//! ```

mod blobs;
mod error;
mod predicate;
mod schema;
mod sorted_runs;
mod source;
mod split;
mod storage;
#[cfg(test)]
mod test_rows;
mod writer;

pub use blobs::LanceBlobResolver;
pub use schema::{
    BUCKET_COLUMN, BUCKET_COUNT_KEY, BUCKET_KEY_KEY, MERGE_ENGINE_KEY, PARTITION_KEYS_KEY, PRIMARY_KEY_KEY,
    VERSION_COLUMN_KEY,
};
pub use sorted_runs::{SORTED_BUCKET_RUNS_KEY, SORTED_RUNS_KEY};
pub use source::{DEFAULT_BATCH_SIZE, LanceSource};
pub use split::{LanceSplit, LanceSplitSerializer};
pub use storage::{LanceConfig, LanceStorage};
