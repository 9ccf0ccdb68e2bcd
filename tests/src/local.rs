//! Builders over the embedded [`LocalLog`]: a workload appended to segment files (small
//! segments, random compression), tiered into a lake by the [`Tierer`] in one or two
//! rounds, with the offsets inline or in files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fluss_client::local::{LocalLog, LocalLogOptions};
use fluss_client::record::Compression;
use fluss_client::tiering::{OffsetsStorage, TierOptions, Tierer};
use lake_api::memory::{MemoryLake, MemoryLakeOptions};
use lake_api::{LakeStorage, TableBucket};

use crate::build::{BuiltTable, Layout};
use crate::rng::Rng;
use crate::workload::{Row, Workload, rows_to_batch};

/// Appends a workload to a new [`LocalLog`] under `root` in random batch sizes.
pub fn build_local_log(rng: &mut Rng, workload: &Workload, root: &Path) -> fluss_client::Result<LocalLog> {
    let options = LocalLogOptions {
        segment_bytes: rng.range(200, 20_000) as u64,
        compression: *rng.pick(&[Compression::None, Compression::Lz4Frame, Compression::Zstd]),
        ..LocalLogOptions::default()
    };
    let log = LocalLog::create(root, &workload.shape.info(), options)?;
    for (bucket, changes) in &workload.changes {
        let mut i = 0;
        while i < changes.len() {
            let n = (rng.range(1, 9) as usize).min(changes.len() - i);
            let chunk = &changes[i..i + n];
            let rows: Vec<Row> = chunk.iter().map(|(_, r)| r.clone()).collect();
            log.append(
                bucket,
                rows_to_batch(&workload.shape, &rows),
                chunk.iter().map(|(c, _)| *c).collect(),
            )?;
            i += n;
        }
    }
    Ok(log)
}

/// A workload in a [`LocalLog`], tiered at random offsets (in up to two rounds) into a
/// memory lake by the [`Tierer`]. The lake's rows come from the lake writer here, not
/// from the oracle: this checks the whole tiering path as well as the union read.
pub async fn build_local(rng: &mut Rng, workload: &Workload, root: &Path) -> fluss_client::Result<BuiltTable> {
    let lake_options = MemoryLakeOptions {
        accept_filters: rng.chance(0.5),
        bucket_aware: rng.chance(0.7),
    };
    let lake = MemoryLake::with_options(lake_options);
    let lake = Arc::new(lake);
    let mut built = build_tiered(rng, workload, root, lake.clone(), lake, 0..=2).await?;
    built.layout.lake_options = Some(lake_options);
    Ok(built)
}

/// One tiering round: each bucket of `ends` (its end offsets) up to a random offset at or
/// past where the last round (`tiered`) stopped, the offsets inline or in a file. Returns
/// where it stopped.
pub async fn tier_random_round(
    rng: &mut Rng,
    tierer: &Tierer,
    ends: &BTreeMap<TableBucket, i64>,
    tiered: Option<&BTreeMap<TableBucket, i64>>,
) -> fluss_client::Result<BTreeMap<TableBucket, i64>> {
    let up_to: BTreeMap<TableBucket, i64> = ends
        .iter()
        .map(|(b, &end)| {
            let at = tiered.and_then(|t| t.get(b).copied()).unwrap_or(0);
            (b.clone(), rng.range(at, end + 1))
        })
        .collect();
    let options = TierOptions {
        up_to: Some(up_to.clone()),
        offsets: *rng.pick(&[OffsetsStorage::File, OffsetsStorage::Inline]),
    };
    tierer.tier(&options).await?;
    Ok(up_to)
}

/// A workload in a [`LocalLog`] under `root`, tiered by the [`Tierer`] into `lake` (any
/// format) at random offsets, in a random number of `rounds`.
pub async fn build_tiered(
    rng: &mut Rng,
    workload: &Workload,
    root: &Path,
    lake: Arc<dyn LakeStorage>,
    worker_lake: Arc<dyn LakeStorage>,
    rounds: std::ops::RangeInclusive<usize>,
) -> fluss_client::Result<BuiltTable> {
    let log = build_local_log(rng, workload, root)?;
    let tierer = Tierer::new(log.clone(), lake.clone());
    let ends = workload.end_offsets();
    let path = workload.shape.info().path;
    let mut tiered: Option<BTreeMap<TableBucket, i64>> = None;
    // every round's snapshot, with the offsets it tiered to; the last one is the latest
    let mut snapshot = None;
    let mut older: Vec<(i64, BTreeMap<TableBucket, i64>)> = Vec::new();
    let rounds = *rounds.start() + rng.index(rounds.end() - rounds.start() + 1);
    for _ in 0..rounds {
        let up_to = tier_random_round(rng, &tierer, &ends, tiered.as_ref()).await?;
        snapshot = lake.latest_snapshot(&path).await?;
        if let Some(s) = &snapshot {
            older.push((s.id, up_to.clone()));
        }
        tiered = Some(up_to);
    }
    // the snapshots before the latest (a round that committed nothing new left the
    // latest's id)
    older.retain(|(id, _)| snapshot.as_ref().is_some_and(|s| s.id != *id));
    Ok(BuiltTable {
        info: workload.shape.info(),
        log: Arc::new(log),
        lake,
        worker_lake,
        snapshot,
        layout: Layout {
            tiered,
            older,
            earliest: BTreeMap::new(),
            lake_options: None,
        },
    })
}
