//! The union-read engine: planning a table's lake snapshot and log tail into splits and
//! reading them back as exact, Arrow-native streams.

mod blobs;
mod follow;
mod in_order;
mod log_reader;
mod options;
mod planner;
mod readers;
mod scan;
mod split;

pub use follow::CHANGE_TYPE_COLUMN;
pub(crate) use log_reader::{CHANGE_COLUMN, read_range};
pub(crate) use log_reader::{change_sorter, to_change_batch as change_batch};
pub use options::{MergeStrategy, ReadMode, ScanOptions};
pub use scan::{UnionScan, UnionScanBuilder, UnionTable};
pub use split::{LogRange, SerializedLakeSplit, UNION_SPLIT_VERSION, UnionSplit, UnionSplitKind};
