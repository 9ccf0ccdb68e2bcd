//! The in-memory reference lake and log: what tests, examples and the demo run on, and
//! what other crates' tests compare their backends with.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use lake_api::memory::demo_table;
//! use lake_api::UnionTable;
//!
//! let (log, lake) = demo_table().await.unwrap();
//! let table = UnionTable::open(log, Some(lake)).await.unwrap();
//! let rows: usize = table.scan().build().await.unwrap().collect().await.unwrap()
//!     .iter().map(|b| b.num_rows()).sum();
//! assert_eq!(rows, 9); // 8 tiered orders, one deleted, two new in the log
//! # });
//! ```

mod demo;
mod lake;
mod log;

use std::collections::BTreeMap;

use futures::TryStreamExt;

pub use demo::{DEMO_TABLE, DemoRound, demo_info, demo_memory_table, demo_rounds, demo_table};
pub use lake::{MemoryFile, MemoryLake, MemoryLakeOptions, MemorySplit, MemorySplitSerializer};
pub use log::MemoryLog;

use crate::error::{ErrorKind, Result};
use crate::lake::{LakeSnapshot, LakeStorage};
use crate::log::{LogSource, latest_tiered_offsets};
use crate::table::TableBucket;
use crate::union::{LogRange, read_range};

/// Moves a memory log's records into a lake as one snapshot, as the Fluss tiering service
/// does: per bucket from the last tiered offset up to `up_to` (or the log's end), and
/// records the new tiered offsets for the snapshot in the log.
pub async fn tier(
    log: &MemoryLog,
    lake: &dyn LakeStorage,
    up_to: Option<&BTreeMap<TableBucket, i64>>,
) -> Result<LakeSnapshot> {
    let info = log.table_info().await?;
    let snapshots = match lake.list_snapshots(&info.path).await {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let from = match latest_tiered_offsets(log, &snapshots).await? {
        Some((_, offsets)) => offsets,
        None if snapshots.is_empty() => BTreeMap::new(),
        None => {
            return Err(crate::error::Error::new(
                ErrorKind::NotFound,
                format!(
                    "the lake has snapshots of {} but none records tiered offsets",
                    info.path
                ),
            ));
        }
    };
    let mut writer = lake.create_lake_writer(&info).await?;
    let mut tiered = from.clone();
    for (bucket, range) in log.offset_ranges().await? {
        let start = from.get(&bucket).copied().unwrap_or(range.earliest);
        let stop = up_to
            .and_then(|m| m.get(&bucket).copied())
            .unwrap_or(range.end)
            .clamp(start, range.end.max(start));
        let mut batches = std::pin::pin!(read_range(
            std::sync::Arc::new(log.clone()),
            LogRange {
                bucket: bucket.clone(),
                start,
                stop
            },
            info.schema.clone(),
        ));
        while let Some(b) = batches.try_next().await? {
            writer.write(&bucket, &b).await?;
        }
        tiered.insert(bucket, stop);
    }
    let snapshot = writer.commit(BTreeMap::new()).await?;
    log.record_tiered_offsets(snapshot.id, tiered)?;
    Ok(snapshot)
}
