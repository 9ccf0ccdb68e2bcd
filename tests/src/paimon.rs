//! The harness over the Paimon backend: a workload in a `LocalLog`, tiered by the `Tierer`
//! into a Paimon warehouse (filesystem catalog, Parquet files, several rounds), read back
//! by a second `PaimonStorage` built from the same configuration for serialized splits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use fluss_client::tiering::Tierer;
use lake_api::{LakeStorage, MergeEngine, MergeStrategy, TableBucket};
use lake_paimon::{PaimonCatalog, PaimonConfig, PaimonStorage};

use crate::build::{BuiltTable, Layout};
use crate::check::{Query, check, run_tiered_case};
use crate::local::{build_local_log, build_tiered, tier_random_round};
use crate::paimon_compact::{Compaction, PaimonCompactor, ReadableLog};
use crate::paimon_rest::serve_paimon_rest;
use crate::rng::Rng;
use crate::s3::S3Server;
use crate::workload::{Bucketing, TableShape, Workload};

/// A random workload bucketed as Fluss buckets Paimon tables. A third of the primary-key
/// tables keep deletion vectors and half the first-row ones are Paimon `first-row` tables:
/// both hide their level-0 files from Paimon's readers.
pub fn paimon_workload(rng: &mut Rng, ops: usize) -> Workload {
    let shape = paimon_shape(rng);
    Workload::random_for(rng, shape, ops)
}

/// A random table as Fluss tiers it into Paimon: bucketed as Paimon buckets, with Paimon
/// options a Fluss table may carry.
pub fn paimon_shape(rng: &mut Rng) -> TableShape {
    let mut shape = TableShape {
        bucketing: Bucketing::Paimon,
        ..TableShape::random(rng)
    };
    if shape.primary_key {
        // Paimon refuses deletion vectors on its own first-row tables
        let option = match shape.engine {
            MergeEngine::FirstRow if rng.chance(0.5) => Some(("paimon.merge-engine", "first-row")),
            MergeEngine::FirstRow => None,
            _ => rng.chance(0.33).then_some(("paimon.deletion-vectors.enabled", "true")),
        };
        shape
            .properties
            .extend(option.map(|(k, v)| (k.to_string(), v.to_string())));
    }
    shape
}

/// Tiers a workload into a new Paimon warehouse under `root`, in up to two rounds.
pub async fn build_paimon(rng: &mut Rng, workload: &Workload, root: &Path) -> Result<BuiltTable, String> {
    build_paimon_in(rng, workload, root, PaimonConfig::filesystem(root.join("lake"))).await
}

/// Tiers a workload into the (new) Paimon warehouse of `config`, the log under `root`.
pub async fn build_paimon_in(
    rng: &mut Rng,
    workload: &Workload,
    root: &Path,
    config: PaimonConfig,
) -> Result<BuiltTable, String> {
    let lake = PaimonStorage::connect(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let worker = PaimonStorage::connect(config).await.map_err(|e| e.to_string())?;
    build_tiered(
        rng,
        workload,
        &root.join("log"),
        Arc::new(lake),
        Arc::new(worker),
        0..=2,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Generates, tiers into Paimon, queries and checks one case from a seed.
pub async fn run_paimon_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    run_tiered_case(seed, ops, strategy, paimon_workload, async |rng, workload, root| {
        build_paimon(rng, workload, root).await
    })
    .await
}

/// [`run_paimon_case`] with the warehouse in bucket `bucket` of an S3 server.
pub async fn run_paimon_s3_case(
    seed: u64,
    ops: usize,
    strategy: MergeStrategy,
    server: &S3Server,
    bucket: &str,
) -> Result<(), String> {
    let mut config = PaimonConfig::filesystem(format!("s3://{bucket}/paimon-{}", crate::s3::fresh_prefix()));
    config.options = server.paimon_options();
    run_tiered_case(seed, ops, strategy, paimon_workload, async |rng, workload, root| {
        build_paimon_in(rng, workload, root, config).await
    })
    .await
}

/// [`run_paimon_case`] through a Paimon REST catalog served over a local warehouse
/// ([`serve_paimon_rest`]): the tiering writer creates the table and commits through the
/// catalog; readers find the latest snapshot through it.
pub async fn run_paimon_rest_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    run_tiered_case(seed, ops, strategy, paimon_workload, async |rng, workload, root| {
        let (uri, _) = serve_paimon_rest(root.join("lake")).await.map_err(|e| e.to_string())?;
        let mut config = PaimonConfig::rest(uri, "warehouse");
        if let PaimonCatalog::Rest { options, .. } = &mut config.catalog {
            // the crate asks for an authentication provider: a bearer token
            options.insert("token.provider".into(), "bear".into());
            options.insert("token".into(), "test-token".into());
        }
        build_paimon_in(rng, workload, root, config).await
    })
    .await
}

/// A random primary-key workload on a Paimon table whose readers skip level 0: a Paimon
/// `first-row` table for half the first-row workloads, a deletion-vector table otherwise.
pub fn paimon_compacted_workload(rng: &mut Rng, ops: usize) -> Workload {
    let mut shape = TableShape {
        bucketing: Bucketing::Paimon,
        primary_key: true,
        ..TableShape::random(rng)
    };
    let option = match shape.engine {
        MergeEngine::FirstRow if rng.chance(0.5) => ("paimon.merge-engine", "first-row"),
        _ => ("paimon.deletion-vectors.enabled", "true"),
    };
    shape.properties.insert(option.0.into(), option.1.into());
    Workload::random_for(rng, shape, ops)
}

/// What one case of [`compacted_case`] reached, for the suite that checks its coverage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactedCase {
    /// A compaction deleted rows by deletion vectors.
    pub deletion_vectors: bool,
    /// The readable offsets of some bucket stay below its tiered offset: the two views
    /// read different rows.
    pub readable_behind: bool,
}

/// [`compacted_case`], for the property suites.
pub async fn run_paimon_compacted_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    compacted_case(seed, ops, strategy).await.map(|_| ())
}

/// One case of a Paimon table whose readers skip level 0 ([`paimon_compacted_workload`]),
/// compacted as it is tiered. Two to five tiering rounds, most followed by a compaction
/// ([`PaimonCompactor`], full or of level 0 alone) of a random subset of the buckets (the
/// last round seldom), so that the snapshot holds runs above level 0, deletion vectors,
/// and level-0 files. Two random queries are checked against the oracle: one pairing the
/// snapshot's tiered offsets with every committed row, one pairing the last compaction's
/// snapshot and each bucket's readable offset with the rows Paimon's readers see (as a
/// Fluss coordinator serves such a table, [`ReadableLog`]).
pub async fn compacted_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<CompactedCase, String> {
    let mut rng = Rng::new(seed);
    let workload = paimon_compacted_workload(&mut rng, ops);
    let info = workload.shape.info();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = PaimonConfig::filesystem(dir.path().join("lake"));
    let lake = Arc::new(
        PaimonStorage::connect(config.clone())
            .await
            .map_err(|e| e.to_string())?,
    );
    let worker = Arc::new(PaimonStorage::connect(config).await.map_err(|e| e.to_string())?);
    let log = build_local_log(&mut rng, &workload, &dir.path().join("log")).map_err(|e| e.to_string())?;
    let tierer = Tierer::new(log.clone(), lake.clone());
    let compactor = PaimonCompactor::new(lake.clone(), info.path.clone());
    let ends = workload.end_offsets();
    let mut tiered: Option<BTreeMap<TableBucket, i64>> = None;
    // each bucket's offset below which its rows are above level 0 in the readable snapshot
    let mut readable: BTreeMap<TableBucket, i64> = ends.keys().map(|b| (b.clone(), 0)).collect();
    let mut readable_snapshot = None;
    let mut compactions = Vec::new();
    let rounds = rng.range(2, 6);
    for round in 1..=rounds {
        let up_to = tier_random_round(&mut rng, &tierer, &ends, tiered.as_ref())
            .await
            .map_err(|e| format!("tiering: {e}\nshape: {:?}", workload.shape))?;
        let exists = lake.latest_snapshot(&info.path).await.map_err(|e| e.to_string())?;
        // seldom after the last round, so that level 0 mostly lies over compacted runs
        if exists.is_some() && rng.chance(if round == rounds { 0.25 } else { 0.85 }) {
            // a bucket's first compaction is a full one whatever is asked
            let how = if rng.chance(0.2) {
                Compaction::Full
            } else {
                Compaction::LevelZero
            };
            let chosen: BTreeSet<TableBucket> = ends.keys().filter(|_| rng.chance(0.8)).cloned().collect();
            let done = compactor
                .compact(how, |b| chosen.contains(b))
                .await
                .map_err(|e| format!("compacting: {e}\nshape: {:?}", workload.shape))?;
            if done.buckets > 0 {
                // a chosen bucket has no level-0 files left: all it holds is readable
                for b in &chosen {
                    readable.insert(b.clone(), up_to.get(b).copied().unwrap_or(0));
                }
                readable_snapshot = lake
                    .latest_snapshot(&info.path)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|s| s.id);
            }
            compactions.push((how, chosen, done));
        }
        tiered = Some(up_to);
    }
    let reached = CompactedCase {
        deletion_vectors: compactions.iter().any(|(_, _, done)| done.deleted_rows > 0),
        readable_behind: readable_snapshot.is_some()
            && readable
                .iter()
                .any(|(b, r)| tiered.as_ref().and_then(|t| t.get(b)).is_some_and(|t| t > r)),
    };
    let snapshot = lake.latest_snapshot(&info.path).await.map_err(|e| e.to_string())?;
    let committed = BuiltTable {
        info: info.clone(),
        log: Arc::new(log.clone()),
        lake: lake.clone(),
        worker_lake: worker,
        snapshot,
        layout: Layout {
            tiered,
            older: Vec::new(),
            earliest: BTreeMap::new(),
            lake_options: None,
        },
    };
    let readable_view = BuiltTable {
        log: Arc::new(ReadableLog {
            inner: Arc::new(log),
            snapshot: readable_snapshot,
            readable: readable.clone(),
        }),
        layout: Layout {
            tiered: Some(readable),
            ..committed.layout.clone()
        },
        ..committed.clone()
    };
    for (view, built) in [("committed", committed), ("readable", readable_view)] {
        let query = Query::random(&mut rng, &workload, &built, strategy);
        check(&workload, &built, &query).await.map_err(|e| {
            format!(
                "{view} view: {e}\nshape: {:?}\nlayout: {:?}\ncompactions: {compactions:?}\nquery: {query:?}",
                workload.shape, built.layout
            )
        })?;
    }
    Ok(reached)
}
