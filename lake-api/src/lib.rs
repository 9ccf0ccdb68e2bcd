//! # lake-api
//!
//! The traits, types and union-read engine of lakeunion: read a table that lives half in
//! a lake snapshot (Paimon, Iceberg, Lance) and half in a live log (Fluss), exactly, as
//! Arrow.
//!
//! - [`LakeStorage`] / [`LakeSource`] / [`Planner`] / [`RecordReader`]: what a lake
//!   backend implements; [`LakeWriter`]: how the tiering service writes into it.
//! - [`LogSource`] / [`LogBatch`]: what the log side implements.
//! - [`UnionTable`] → [`UnionScanBuilder`] → [`UnionScan`] → [`UnionSplit`]s → Arrow
//!   streams: what users call.
//! - [`predicate`]: filters, their evaluation on Arrow and a SQL-like parser.
//! - [`memory`]: an in-memory lake and log, the reference for tests and the demo.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::TryStreamExt;
//! use lake_api::{memory::demo_table, MergeStrategy, UnionTable};
//!
//! let (log, lake) = demo_table().await.unwrap();
//! let table = UnionTable::open(log, Some(lake)).await.unwrap();
//! let scan = table.scan().strategy(MergeStrategy::SortMerge).build().await.unwrap();
//! for split in scan.plan().await.unwrap() {
//!     let rows: Vec<_> = scan.read(&split).await.unwrap().try_collect().await.unwrap();
//!     println!("{split}: {} batch(es)", rows.len());
//! }
//! # });
//! ```

#[doc(hidden)]
pub mod bench;
pub mod blob;
pub mod conform;
pub mod error;
pub mod lake;
pub mod location;
pub mod log;
pub mod memory;
pub(crate) mod merge;
pub mod predicate;
pub mod project;
pub mod table;
pub(crate) mod task;
pub mod types;
pub mod union;

pub use blob::{BlobMode, BlobRef, BlobResolver};
pub use error::{Error, ErrorKind, Result};
pub use lake::{
    FLUSS_OFFSETS_PROPERTY, LakeScanStart, LakeSnapshot, LakeSource, LakeSplit, LakeStorage, LakeWriter,
    OFFSETS_UNKNOWN_PROPERTY, Planner, RecordBatchStream, RecordReader, RunPosition, SnapshotView, SortedRecordReader,
    SplitSerializer, SplitStats,
};
pub use log::{ChangeType, LogBatch, LogBatchStream, LogSource, OffsetRange, ReadableSnapshot, latest_tiered_offsets};
pub use merge::apply::apply_changes;
pub use predicate::{FilterPushDown, Predicate};
pub use table::{MergeEngine, TableBucket, TableInfo, TablePath};
pub use union::{
    LogRange, MergeStrategy, ReadMode, ScanOptions, SerializedLakeSplit, UnionScan, UnionScanBuilder, UnionSplit,
    UnionSplitKind, UnionTable,
};
