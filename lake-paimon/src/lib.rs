//! lakeunion's Apache Paimon backend: [`PaimonStorage`] implements lake-api's
//! [`LakeStorage`](lake_api::LakeStorage) over the `paimon` crate (0.4), with the
//! filesystem catalog (a warehouse on local disk, the default, or in S3 with the `s3`
//! feature) or a REST catalog; workers open tables straight from their location.
//!
//! Tables follow Fluss's Paimon layout: the Paimon primary key and fixed buckets
//! (`bucket`, `bucket-key`) are the Fluss ones, and Fluss's system columns (`__bucket`,
//! `__offset`, `__timestamp`), where a table has them, are hidden from readers and filled
//! per row by the tiering writer.
//! Paimon merges a primary-key split on read and yields it in key order, so sort-merge
//! union reads need no sort for such splits; each split is read on its own. Splits are
//! `DataSplit`s in our versioned envelope ([`PaimonSplitSerializer`]). VECTOR columns are
//! Paimon `VECTOR<T, N>`; BLOB columns this backend creates are `BYTES` marked by a table
//! option, and Paimon `BLOB` columns of existing tables read as BLOBs too.
//!
//! ```no_run
//! # async fn example() -> lake_api::Result<()> {
//! use lake_api::{LakeStorage, TablePath};
//! use lake_paimon::{PaimonConfig, PaimonStorage};
//!
//! let lake = PaimonStorage::connect(PaimonConfig::filesystem("/data/lake")).await?;
//! let path = TablePath::new("fluss", "orders");
//! let info = lake.table_info(&path).await?;
//! let source = lake.create_lake_source(&path).await?;
//! # let _ = (info, source);
//! # Ok(())
//! # }
//! ```

mod blobs;
mod bucketing;
mod commit_properties;
mod config;
mod error;
mod predicate;
mod schema;
mod source;
mod split;
mod storage;
mod system_columns;
mod view;
mod writer;

pub use blobs::PaimonBlobResolver;
pub use config::{PaimonCatalog, PaimonConfig};
pub use schema::{
    BUCKET_COUNT_OPTION, MERGE_ENGINE_OPTION, PAIMON_PROPERTY_PREFIX, SYSTEM_COLUMNS, TAKEN_PAIMON_OPTIONS,
    VERSION_COLUMN_OPTION, blob_option, is_system_column,
};
pub use source::{DEFAULT_BATCH_SIZE, PaimonSource};
pub use split::{PaimonSplit, PaimonSplitSerializer};
pub use storage::{PaimonStorage, open_location};
