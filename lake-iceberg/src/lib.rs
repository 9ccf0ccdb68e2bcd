//! lakeunion's Apache Iceberg backend: [`IcebergStorage`] implements lake-api's
//! [`LakeStorage`](lake_api::LakeStorage) over the `iceberg` crate (0.10) and its SQL
//! catalog on SQLite (the embedded default), a REST catalog, or one table loaded straight
//! from its metadata JSON file (read-only).
//!
//! Tables follow Fluss's Iceberg layout: partition keys are `identity` partition fields and
//! the last field is the bucket, `bucket[N](key)` or `identity(__bucket)`; primary keys are
//! identifier fields; BLOB columns are `binary` and VECTOR columns `list<T>` with their
//! dimension in a table property, cast back to `FixedSizeList` on read. Fluss's system
//! columns (`__bucket`, `__offset`, `__timestamp`), which Fluss adds to every table it
//! creates and this backend to `identity(__bucket)` tables, are read past and written for
//! log tables; a primary-key table that has them is read, not tiered into.
//!
//! Iceberg promises no key order of its own: a file whose `sort_order_id` names the key's
//! ascending order (as this backend's writer marks tiered files) is read as a sorted run;
//! primary-key union reads sort any other file (spilling past the memory budget) or use the
//! key filter. Splits are file scan tasks in our own versioned record
//! ([`IcebergSplitSerializer`]).
//!
//! ```no_run
//! # async fn example() -> lake_api::Result<()> {
//! use std::sync::Arc;
//! use lake_api::{LakeStorage, TablePath};
//! use lake_iceberg::{IcebergConfig, IcebergStorage};
//!
//! let lake = IcebergStorage::connect(IcebergConfig::sqlite("/data/lake")).await?;
//! let path = TablePath::new("fluss", "orders");
//! let info = lake.table_info(&path).await?;
//! let source = lake.create_lake_source(&path).await?;
//! # let _ = (info, source);
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod predicate;
mod schema;
mod scheme_storage;
mod source;
mod split;
mod storage;
mod writer;

pub use config::{CatalogConfig, IcebergConfig};
pub use schema::{
    BUCKET_COLUMN, BUCKET_COUNT_PROPERTY, BUCKET_KEY_PROPERTY, MERGE_ENGINE_PROPERTY, OFFSET_COLUMN, TIMESTAMP_COLUMN,
    VERSION_COLUMN_PROPERTY, blob_property, blob_ref_property, is_system_column, vector_dimension_property,
};
pub use source::{DEFAULT_BATCH_SIZE, IcebergSource};
pub use split::{IcebergSplit, IcebergSplitSerializer};
pub use storage::IcebergStorage;
