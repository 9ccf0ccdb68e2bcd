//! The harness over the Paimon backend: a workload in a `LocalLog`, tiered by the `Tierer`
//! into a Paimon warehouse (filesystem catalog, Parquet files, several rounds), read back
//! by a second `PaimonStorage` built from the same configuration for serialized splits.

use std::path::Path;
use std::sync::Arc;

use lake_api::{MergeEngine, MergeStrategy};
use lake_paimon::{PaimonCatalog, PaimonConfig, PaimonStorage};

use crate::build::BuiltTable;
use crate::check::run_tiered_case;
use crate::local::build_tiered;
use crate::paimon_rest::serve_paimon_rest;
use crate::rng::Rng;
use crate::s3::S3Server;
use crate::workload::{Bucketing, TableShape, Workload};

/// A random workload bucketed as Fluss buckets Paimon tables. A third of the primary-key
/// tables keep deletion vectors and half the first-row ones are Paimon `first-row` tables:
/// both hide their level-0 files from Paimon's readers.
pub fn paimon_workload(rng: &mut Rng, ops: usize) -> Workload {
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
    Workload::random_for(rng, shape, ops)
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
