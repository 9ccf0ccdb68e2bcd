//! [`FlussLog`]: the log of a table on a Fluss cluster, over the `fluss-rs` 1.0 client.
//!
//! - Table info comes from the coordinator (`get_table_info`) and its schema crosses into
//!   Arrow 58 through [`crate::arrow_bridge`].
//! - Offset ranges are `list_offsets` earliest and latest (the high watermark: what readers
//!   may see).
//! - Tiered offsets come from the coordinator's record of the lake snapshot
//!   (`get_lake_snapshot`), else from the snapshot's own `fluss-offsets` property; both
//!   name the same offsets, and the coordinator is asked first because it also knows
//!   snapshots whose property is a path this process cannot read.
//! - Reads of log tables use the record-batch scanner (zero-copy Arrow batches); reads of
//!   primary-key changelogs use the row scanner, whose rows are grouped back into slices
//!   of the Arrow batches they were decoded from (the `read` module).
//!
//! ```no_run
//! # async fn demo() -> fluss_client::Result<()> {
//! use fluss_client::remote::FlussLog;
//! use lake_api::{LogSource, TablePath};
//!
//! let log = FlussLog::connect("127.0.0.1:9123", &TablePath::new("fluss", "orders")).await?;
//! let ranges = log.offset_ranges().await?;
//! # Ok(()) }
//! ```

mod convert;
mod read;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fluss::client::{FlussAdmin, FlussConnection};
use fluss::config::Config;
use fluss::metadata::LakeSnapshotInfo;
use fluss::metadata::{TableInfo as FlussTableInfo, TablePath as FlussTablePath};
use fluss::rpc::message::OffsetSpec;
use lake_api::{
    LakeSnapshot, LogBatchStream, LogSource, OffsetRange, ReadableSnapshot, TableBucket, TableInfo, TablePath,
};

pub use convert::{MERGE_ENGINE_OPTION, VERSION_COLUMN_OPTION};

use crate::error::{Error, ErrorKind, Result};
use crate::offsets::resolve_snapshot_offsets;
use convert::{bucket_id, remote, snapshot_offsets};

/// How a [`FlussLog`] polls and retries.
#[derive(Debug, Clone)]
pub struct FlussLogOptions {
    /// How long one poll of a scanner waits for records.
    pub poll_timeout: Duration,
    /// How long a bounded read may go without progress while the log holds offsets below
    /// where it stops. A log-table read then fails (its scanner says where it is, so no
    /// progress is a stuck cluster). A changelog read then ends, with a batch without rows
    /// over the offsets left: the row scanner does not say where it is, and offsets below
    /// the high watermark that yield no records for this long are batches whose records
    /// were all dropped (Fluss writes empty batches to advance offsets). Too short a value
    /// could end a changelog read early, and wrongly, while a cluster recovers or a remote
    /// segment downloads; the default leaves ten seconds.
    pub stall_timeout: Duration,
    /// Transient errors (a leader moving, a connection dropping) retried per read before
    /// the read fails.
    pub retries: u32,
    /// The pause before each retry.
    pub retry_backoff: Duration,
}

impl Default for FlussLogOptions {
    fn default() -> Self {
        Self {
            poll_timeout: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(10),
            retries: 5,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// The log of one table on a Fluss cluster: a [`LogSource`].
///
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct FlussLog {
    inner: Arc<Inner>,
}

struct Inner {
    connection: FlussConnection,
    admin: Arc<FlussAdmin>,
    path: FlussTablePath,
    fluss_info: FlussTableInfo,
    info: TableInfo,
    options: FlussLogOptions,
}

impl std::fmt::Debug for FlussLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlussLog")
            .field("table", &self.inner.info.path)
            .field("table_id", &self.inner.fluss_info.table_id)
            .field("bootstrap", &self.inner.connection.config().bootstrap_servers)
            .finish()
    }
}

impl FlussLog {
    /// Connects to the cluster at `bootstrap_servers` (`host:port[,host:port]`) with the
    /// client's default configuration, and loads `table`.
    pub async fn connect(bootstrap_servers: &str, table: &TablePath) -> Result<Self> {
        let config = Config {
            bootstrap_servers: bootstrap_servers.to_string(),
            ..Config::default()
        };
        Self::connect_with(config, table, FlussLogOptions::default()).await
    }

    /// Connects with a full client configuration and our polling options.
    pub async fn connect_with(config: Config, table: &TablePath, options: FlussLogOptions) -> Result<Self> {
        let bootstrap = config.bootstrap_servers.clone();
        let connection = FlussConnection::new(config)
            .await
            .map_err(|e| remote(e, format!("cannot connect to the Fluss cluster at {bootstrap}")))?;
        let admin = connection
            .get_admin()
            .map_err(|e| remote(e, format!("cannot open the admin client of {bootstrap}")))?;
        let path = FlussTablePath::new(table.database.as_str(), table.table.as_str());
        let fluss_info = admin
            .get_table_info(&path)
            .await
            .map_err(|e| remote(e, format!("cannot load table {table} from {bootstrap}")))?;
        let info = convert::table_info(&fluss_info)?;
        Ok(Self {
            inner: Arc::new(Inner {
                connection,
                admin,
                path,
                fluss_info,
                info,
                options,
            }),
        })
    }

    /// The table as the cluster describes it.
    pub fn info(&self) -> &TableInfo {
        &self.inner.info
    }

    /// The table's id on the cluster.
    pub fn table_id(&self) -> i64 {
        self.inner.fluss_info.table_id
    }

    /// Fails with [`ErrorKind::Offsets`] unless `id`, the table's id as `seen` gives it
    /// now, is the id the table was opened as: a table dropped and created again under the
    /// name is another table, whose offsets and rows are none of this one's.
    pub(crate) fn check_table_id(&self, id: i64, seen: std::fmt::Arguments<'_>) -> Result<()> {
        if id == self.table_id() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Offsets,
            format!(
                "{seen} is of table id {id}, but table {} was opened as id {}: it was dropped and created again \
                 since",
                self.inner.info.path,
                self.table_id()
            ),
        ))
    }

    /// Partition ids by partition values, as the coordinator has them now. Not cached: a
    /// partition dropped and created again gets a new id, and every caller is already
    /// making other calls to the cluster.
    async fn partitions(&self) -> Result<HashMap<Vec<String>, i64>> {
        let infos = self
            .inner
            .admin
            .list_partition_infos(&self.inner.path)
            .await
            .map_err(|e| remote(e, format!("cannot list the partitions of {}", self.inner.info.path)))?;
        let map: HashMap<Vec<String>, i64> = infos
            .iter()
            .map(|p| {
                (
                    p.get_resolved_partition_spec().get_partition_values().to_vec(),
                    p.get_partition_id(),
                )
            })
            .collect();
        Ok(map)
    }

    /// The id of a partition, or `None` for a non-partitioned table.
    async fn partition_id(&self, values: &[String]) -> Result<Option<i64>> {
        if self.inner.info.partition_keys.is_empty() {
            // a partition named on a table without any is none of its buckets (the
            // cluster would say so only later, when offsets are listed under the name)
            return match values {
                [] => Ok(None),
                _ => Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "table {} has no partitions, so no partition {}",
                        self.inner.info.path,
                        values.join("$")
                    ),
                )),
            };
        }
        self.partitions().await?.get(values).copied().map(Some).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("table {} has no partition {}", self.inner.info.path, values.join("$")),
            )
        })
    }

    /// Ids → values of every partition (for keying offsets the cluster reports by id).
    async fn partition_values(&self) -> Result<HashMap<i64, Vec<String>>> {
        if self.inner.info.partition_keys.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self.partitions().await?.into_iter().map(|(v, id)| (id, v)).collect())
    }

    /// One offset per bucket of every partition, as `spec` asks.
    async fn list_offsets(&self, spec: OffsetSpec) -> Result<BTreeMap<TableBucket, i64>> {
        let buckets: Vec<i32> = (0..self.inner.info.bucket_count as i32).collect();
        let partitions: Vec<Vec<String>> = if self.inner.info.partition_keys.is_empty() {
            vec![Vec::new()]
        } else {
            self.partitions().await?.into_keys().collect()
        };
        let mut out = BTreeMap::new();
        for partition in partitions {
            let answered = self.offsets_in(&partition, &buckets, spec.clone()).await?;
            // a bucket left out of the answer has an unknown range, not an empty one
            for &b in &buckets {
                let bucket = TableBucket {
                    partition: partition.clone(),
                    bucket: bucket_id(b)?,
                };
                let Some(&offset) = answered.get(&b) else {
                    return Err(Error::new(
                        ErrorKind::Remote,
                        format!(
                            "the cluster's {spec:?} offsets of table {} leave out {bucket}",
                            self.inner.info.path
                        ),
                    ));
                };
                out.insert(bucket, offset);
            }
        }
        Ok(out)
    }

    /// The offsets `spec` asks for of some buckets of one partition (empty: the table is
    /// not partitioned), by bucket id.
    pub(crate) async fn offsets_in(
        &self,
        partition: &[String],
        buckets: &[i32],
        spec: OffsetSpec,
    ) -> Result<HashMap<i32, i64>> {
        let (admin, path) = (&self.inner.admin, &self.inner.path);
        if partition.is_empty() {
            admin.list_offsets(path, buckets, spec).await
        } else {
            admin
                .list_partition_offsets(path, &partition.join("$"), buckets, spec)
                .await
        }
        .map_err(|e| remote(e, format!("cannot list the offsets of {}", self.inner.info.path)))
    }

    /// What the coordinator answers when asked for a lake snapshot (`snapshot`, or the
    /// latest readable one).
    async fn ask_coordinator(&self, snapshot: Option<i64>, readable: bool) -> Result<Coordinator> {
        use fluss::error::FlussError as Code;
        let asked = self
            .inner
            .admin
            .get_lake_snapshot(&self.inner.path, snapshot, readable.then_some(true))
            .await;
        match asked {
            Ok(info) => Ok(Coordinator::Snapshot(info)),
            Err(e) if matches!(e.api_error(), Some(Code::LakeSnapshotNotExist)) => Ok(Coordinator::NoSnapshot),
            // a cluster whose lake is not its to manage, or one that predates the API
            Err(e)
                if matches!(e.api_error(), Some(Code::LakeStorageNotConfiguredException))
                    || matches!(e, fluss::error::Error::UnsupportedVersion { .. }) =>
            {
                Ok(Coordinator::NotManaged)
            }
            Err(e) => Err(remote(
                e,
                format!(
                    "cannot get the lake snapshot of {} from the coordinator",
                    self.inner.info.path
                ),
            )),
        }
    }

    /// The offsets a coordinator's snapshot record names, as lake-api buckets. Partitions
    /// dropped since (expired: their log is gone too) are left out.
    async fn coordinator_offsets(&self, info: &LakeSnapshotInfo) -> Result<BTreeMap<TableBucket, i64>> {
        self.check_table_id(
            info.table_id,
            format_args!("the coordinator's lake snapshot {}", info.snapshot_id),
        )?;
        let partitions = self.partition_values().await?;
        snapshot_offsets(info, &partitions, &self.inner.info)
    }
}

/// A coordinator's answer about a lake snapshot.
enum Coordinator {
    /// Its record of the snapshot.
    Snapshot(LakeSnapshotInfo),
    /// It knows no such snapshot (or none readable).
    NoSnapshot,
    /// It does not manage the table's lake (no lake storage configured, or no such API).
    NotManaged,
}

#[async_trait]
impl LogSource for FlussLog {
    async fn table_info(&self) -> lake_api::Result<TableInfo> {
        Ok(self.inner.info.clone())
    }

    async fn offset_ranges(&self) -> lake_api::Result<BTreeMap<TableBucket, OffsetRange>> {
        let earliest = self.list_offsets(OffsetSpec::Earliest).await?;
        let latest = self.list_offsets(OffsetSpec::Latest).await?;
        // a negative or inverted pair off the wire is an error, not an empty bucket
        latest
            .into_iter()
            .map(|(b, end)| {
                let range = OffsetRange::new(earliest.get(&b).copied().unwrap_or(0), end)
                    .map_err(|e| e.context(format!("{b} of {}", self.inner.info.path)))?;
                Ok((b, range))
            })
            .collect()
    }

    /// The coordinator's record of `snapshot` where it has one, else the snapshot's own. A
    /// coordinator that predates the request's snapshot id answers with its newest
    /// snapshot, whatever is asked: an answer for another snapshot says nothing of this one.
    async fn tiered_offsets(&self, snapshot: &LakeSnapshot) -> lake_api::Result<BTreeMap<TableBucket, i64>> {
        if let Coordinator::Snapshot(info) = self.ask_coordinator(Some(snapshot.id), false).await?
            && info.snapshot_id == snapshot.id
        {
            return Ok(self.coordinator_offsets(&info).await?);
        }
        // the snapshot's own record: the coordinator never heard of it, or keeps none
        let partitions = self.partition_values().await?;
        Ok(resolve_snapshot_offsets(snapshot, self.table_id(), &self.inner.info, &partitions).await?)
    }

    async fn read(&self, bucket: &TableBucket, start: i64, stop: Option<i64>) -> lake_api::Result<LogBatchStream> {
        Ok(read::open(self.clone(), bucket.clone(), start, stop).await?)
    }

    async fn readable_snapshot(&self) -> lake_api::Result<ReadableSnapshot> {
        Ok(match self.ask_coordinator(None, true).await? {
            Coordinator::Snapshot(info) => ReadableSnapshot::Snapshot(info.snapshot_id),
            Coordinator::NoSnapshot => ReadableSnapshot::None,
            Coordinator::NotManaged => ReadableSnapshot::Lake,
        })
    }

    /// The coordinator's readable offsets, while `snapshot` is still its readable snapshot
    /// and they differ from its tiered ones: for Paimon deletion-vector tables, the
    /// coordinator records how far each bucket's compacted files reach. Equal offsets cover
    /// every committed row, so they are left to the tiered path.
    async fn readable_offsets(&self, snapshot: &LakeSnapshot) -> lake_api::Result<Option<BTreeMap<TableBucket, i64>>> {
        let readable = match self.ask_coordinator(None, true).await? {
            Coordinator::Snapshot(info) if info.snapshot_id == snapshot.id => self.coordinator_offsets(&info).await?,
            // it moved on since (or never named this one): the snapshot's tiered offsets
            _ => return Ok(None),
        };
        let tiered = match self.tiered_offsets(snapshot).await {
            Ok(tiered) => Some(tiered),
            // a compaction's snapshot may record no tiered offsets: only readable ones
            Err(e) if e.kind() == lake_api::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok((tiered.as_ref() != Some(&readable)).then_some(readable))
    }
}
