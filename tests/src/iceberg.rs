//! The harness over the Iceberg backend: a workload in a `LocalLog`, tiered by the
//! `Tierer` into an Iceberg table (SQLite catalog, Parquet files), read back by a second
//! `IcebergStorage` built from the same configuration for serialized splits.

use std::path::Path;
use std::sync::Arc;

use lake_api::MergeStrategy;
use lake_iceberg::{IcebergConfig, IcebergStorage};

use crate::build::BuiltTable;
use crate::check::run_tiered_case;
use crate::local::build_tiered;
use crate::rng::Rng;
use crate::s3::S3Server;
use crate::workload::{Bucketing, TableShape, Workload};

/// A random workload bucketed as Fluss buckets Iceberg tables.
pub fn iceberg_workload(rng: &mut Rng, ops: usize) -> Workload {
    let shape = TableShape {
        bucketing: Bucketing::Iceberg,
        ..TableShape::random(rng)
    };
    Workload::random_for(rng, shape, ops)
}

/// Tiers a workload into a new Iceberg warehouse under `root`.
///
/// Primary-key tables are tiered at most once: iceberg 0.10 cannot commit the delete files
/// a second round's updates need (the writer refuses them; see lake-iceberg's docs).
pub async fn build_iceberg(rng: &mut Rng, workload: &Workload, root: &Path) -> Result<BuiltTable, String> {
    build_iceberg_in(rng, workload, root, IcebergConfig::sqlite(root.join("lake"))).await
}

/// [`build_iceberg`] into the (new) warehouse of `config`, the log under `root`.
pub async fn build_iceberg_in(
    rng: &mut Rng,
    workload: &Workload,
    root: &Path,
    config: IcebergConfig,
) -> Result<BuiltTable, String> {
    let lake = IcebergStorage::connect(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let worker = IcebergStorage::connect(config).await.map_err(|e| e.to_string())?;
    let rounds = if workload.shape.primary_key { 1..=1 } else { 0..=2 };
    build_tiered(
        rng,
        workload,
        &root.join("log"),
        Arc::new(lake),
        Arc::new(worker),
        rounds,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Generates, tiers into Iceberg, queries and checks one case from a seed.
pub async fn run_iceberg_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    run_tiered_case(seed, ops, strategy, iceberg_workload, async |rng, workload, root| {
        build_iceberg(rng, workload, root).await
    })
    .await
}

/// [`run_iceberg_case`] with the warehouse in bucket `bucket` of an S3 server (the SQLite
/// catalog stays on local disk).
pub async fn run_iceberg_s3_case(
    seed: u64,
    ops: usize,
    strategy: MergeStrategy,
    server: &S3Server,
    bucket: &str,
) -> Result<(), String> {
    run_tiered_case(seed, ops, strategy, iceberg_workload, async |rng, workload, root| {
        let catalog = format!("sqlite:{}/catalog.db?mode=rwc", root.display());
        let mut config = IcebergConfig::sql(catalog, format!("s3://{bucket}/iceberg-{}", crate::s3::fresh_prefix()));
        config.properties = server.iceberg_properties();
        build_iceberg_in(rng, workload, root, config).await
    })
    .await
}

/// A REST catalog serving `tables` (name -> metadata location and metadata JSON) in
/// `namespace`: enough of the protocol (config, load table) to read them. Returns its URI.
pub async fn serve_rest_catalog(
    namespace: &str,
    tables: std::collections::BTreeMap<String, (String, serde_json::Value)>,
) -> std::io::Result<String> {
    let prefix = format!("/v1/namespaces/{namespace}/tables/");
    // (the config request names the warehouse in its query)
    let handler: crate::http::Handler = Arc::new(move |_, target, _| match target.split('?').next().unwrap_or("") {
        "/v1/config" => (200, serde_json::json!({"defaults": {}, "overrides": {}})),
        t => match t.strip_prefix(prefix.as_str()).and_then(|n| tables.get(n)) {
            Some((location, metadata)) => (
                200,
                serde_json::json!({"metadata-location": location, "metadata": metadata}),
            ),
            None => (
                404,
                serde_json::json!({"error": {"message": "no such table", "type": "NoSuchTableException", "code": 404}}),
            ),
        },
    });
    Ok(crate::http::serve_json(handler).await?.0)
}
