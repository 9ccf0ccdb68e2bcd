//! Builders over [`FlussLog`]: a workload in a [`LocalLog`](fluss_client::local::LocalLog),
//! tiered into a lake, then served by the in-process [`FlussTestServer`] and read back
//! through the real `fluss-rs` client, so that union reads over a remote log face the
//! same oracle as every other log.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fluss_client::local::{LocalLog, LocalLogOptions};
use fluss_client::remote::{FlussLog, FlussLogOptions};
use lake_api::{LakeSnapshot, LogBatchStream, LogSource, OffsetRange, TableBucket, TableInfo};

use crate::build::BuiltTable;
use crate::fluss_server::FlussTestServer;
use crate::rng::Rng;
use crate::workload::{TableShape, Workload};

/// A [`FlussLog`] that keeps its server running for as long as it is used.
pub struct ServedLog {
    /// The client side.
    pub log: FlussLog,
    /// The server it talks to.
    pub server: Arc<FlussTestServer>,
}

#[async_trait]
impl LogSource for ServedLog {
    async fn table_info(&self) -> lake_api::Result<TableInfo> {
        self.log.table_info().await
    }

    async fn offset_ranges(&self) -> lake_api::Result<BTreeMap<TableBucket, OffsetRange>> {
        self.log.offset_ranges().await
    }

    async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> lake_api::Result<BTreeMap<TableBucket, i64>> {
        self.log.tiered_offsets(snapshot).await
    }

    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> lake_api::Result<LogBatchStream> {
        self.log.read(bucket, start, stop).await
    }

    async fn readable_snapshot(&self) -> lake_api::Result<lake_api::ReadableSnapshot> {
        self.log.readable_snapshot().await
    }

    async fn readable_offsets(&self, snapshot: &LakeSnapshot) -> lake_api::Result<Option<BTreeMap<TableBucket, i64>>> {
        self.log.readable_offsets(snapshot).await
    }
}

/// Polling tuned for a loopback server: short polls, so that tests wait little.
pub fn test_options() -> FlussLogOptions {
    FlussLogOptions {
        poll_timeout: Duration::from_millis(200),
        ..FlussLogOptions::default()
    }
}

/// Serves `logs` and connects a [`FlussLog`] to the table of the first.
pub async fn serve(logs: Vec<LocalLog>) -> Result<ServedLog, String> {
    let path = logs.first().ok_or("nothing to serve")?.info().path.clone();
    let server = Arc::new(FlussTestServer::start(logs).await?);
    let config = fluss::config::Config {
        bootstrap_servers: server.bootstrap(),
        scanner_log_fetch_wait_max_time_ms: 100,
        ..fluss::config::Config::default()
    };
    let log = FlussLog::connect_with(config, &path, test_options())
        .await
        .map_err(|e| e.to_string())?;
    Ok(ServedLog { log, server })
}

/// A workload in a [`LocalLog`] tiered into a memory lake (as
/// [`build_local`](crate::local::build_local) does), every lake snapshot published to the
/// test server's coordinator, and the log read back through [`FlussLog`].
pub async fn build_remote(rng: &mut Rng, workload: &Workload, root: &Path) -> Result<BuiltTable, String> {
    let built = crate::local::build_local(rng, workload, root)
        .await
        .map_err(|e| e.to_string())?;
    serve_built(built, root).await
}

/// [`build_remote`] over a Paimon warehouse (as [`build_paimon`](crate::paimon::build_paimon)
/// tiers it).
pub async fn build_remote_paimon(rng: &mut Rng, workload: &Workload, root: &Path) -> Result<BuiltTable, String> {
    let built = crate::paimon::build_paimon(rng, workload, root).await?;
    serve_built(built, &root.join("log")).await
}

/// `built` with its log (the [`LocalLog`] under `log_root`) served by the test server and
/// read through [`FlussLog`], every lake snapshot that recorded offsets published to the
/// coordinator.
async fn serve_built(mut built: BuiltTable, log_root: &Path) -> Result<BuiltTable, String> {
    let path = &built.info.path;
    let log = LocalLog::open_read_only(log_root, path, LocalLogOptions::default()).map_err(|e| e.to_string())?;
    let served = serve(vec![log]).await?;
    let snapshots = match built.lake.list_snapshots(path).await {
        Ok(s) => s,
        Err(e) if e.kind() == lake_api::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    for snapshot in &snapshots {
        // maintenance snapshots record no offsets; the coordinator never hears of them
        if snapshot
            .properties
            .contains_key(fluss_client::offsets::FLUSS_OFFSETS_PROPERTY)
        {
            served
                .server
                .publish_lake_snapshot(path, snapshot)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    built.log = Arc::new(served);
    Ok(built)
}

/// Generates a workload, tiers it, serves its log through the test server, and checks one
/// union read over [`FlussLog`] against the oracle.
pub async fn run_remote_case(seed: u64, ops: usize, strategy: lake_api::MergeStrategy) -> Result<(), String> {
    crate::check::run_tiered_case(seed, ops, strategy, remote_workload, build_remote).await
}

/// [`run_remote_case`] over a Paimon warehouse.
pub async fn run_remote_paimon_case(seed: u64, ops: usize, strategy: lake_api::MergeStrategy) -> Result<(), String> {
    crate::check::run_tiered_case(seed, ops, strategy, remote_paimon_workload, build_remote_paimon).await
}

/// A random workload without a BLOB column: Fluss's table JSON (what the test server
/// describes tables with to fluss-rs) has no type for BLOB's `LargeBinary`.
fn remote_workload(rng: &mut Rng, ops: usize) -> Workload {
    let shape = TableShape {
        blob: false,
        properties: Default::default(),
        ..TableShape::random(rng)
    };
    Workload::random_for(rng, shape, ops)
}

/// [`remote_workload`] of a table tiered into Paimon.
fn remote_paimon_workload(rng: &mut Rng, ops: usize) -> Workload {
    let shape = TableShape {
        blob: false,
        ..crate::paimon::paimon_shape(rng)
    };
    Workload::random_for(rng, shape, ops)
}
