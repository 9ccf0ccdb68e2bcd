//! An in-process Fluss server for proving `FlussLog` without a cluster.
//!
//! It speaks, over real TCP, the subset of the Fluss RPC protocol the `fluss-rs` 1.0 client
//! uses to read and write (ApiVersions, MetaData, GetTable, ListPartitionInfos,
//! ListOffsets, GetLakeSnapshot, FetchLog, InitWriter, ProduceLog, PutKv), and plays coordinator
//! and the one tablet server at one address. Each table is a [`LocalLog`]:
//!
//! - **FetchLog** re-encodes the log's batches with *our* encoder (so `fluss-rs`'s scanner
//!   decodes our bytes), projected when the client pushes a projection down.
//! - **ProduceLog** decodes what `fluss-rs`'s `AppendWriter` sends with *our* decoder (CRC
//!   and all) and appends it to the log.
//! - **PutKv** applies what the `UpsertWriter` sends to a per-bucket KV state and appends
//!   the changelog that makes (`+I`, `-U`/`+U`, `-D`) to the log, as a tablet server does
//!   ([`kv`]). The state starts empty: upserts go to tables whose log the server wrote.
//! - **GetLakeSnapshot** answers from lake snapshots the test publishes, the newest
//!   published one being the readable one unless the test names another.
//!
//! Framing (big-endian): a request is `i32 length, i16 api key, i16 api version, i32
//! request id, protobuf body`; a response is `i32 length, u8 type (0 ok, 1 error), i32
//! request id, body` where an error body is an `ErrorResponse`. Requests on one connection
//! are answered concurrently (a FetchLog long-poll must not hold up a ProduceLog), their
//! responses matched by request id.

mod kv;
mod proto;
mod table_json;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use fluss_client::local::LocalLog;
use fluss_client::record::{EncodeOptions, decode_batch, encode_log_batch};
use futures::StreamExt;
use lake_api::{LakeSnapshot, LogBatch, LogSource, TableBucket, TablePath};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use proto::*;
pub use table_json::table_json;

/// The API keys served, each at version 0 only.
mod api {
    pub const API_VERSIONS: i16 = 1000;
    pub const GET_TABLE: i16 = 1007;
    pub const LIST_PARTITION_INFOS: i16 = 1009;
    pub const METADATA: i16 = 1012;
    pub const PRODUCE_LOG: i16 = 1014;
    pub const FETCH_LOG: i16 = 1015;
    pub const PUT_KV: i16 = 1016;
    pub const LIST_OFFSETS: i16 = 1021;
    pub const INIT_WRITER: i16 = 1026;
    pub const GET_LAKE_SNAPSHOT: i16 = 1032;
    pub const SERVED: [i16; 10] = [
        API_VERSIONS,
        GET_TABLE,
        LIST_PARTITION_INFOS,
        METADATA,
        PRODUCE_LOG,
        FETCH_LOG,
        PUT_KV,
        LIST_OFFSETS,
        INIT_WRITER,
        GET_LAKE_SNAPSHOT,
    ];
}

/// Fluss error codes the server answers with (apache/fluss `Errors`).
pub mod code {
    pub const UNKNOWN_SERVER_ERROR: i32 = -1;
    pub const UNSUPPORTED_VERSION: i32 = 2;
    pub const CORRUPT_MESSAGE: i32 = 3;
    pub const TABLE_NOT_EXIST: i32 = 7;
    pub const NOT_LEADER_OR_FOLLOWER: i32 = 12;
    pub const LOG_OFFSET_OUT_OF_RANGE: i32 = 19;
    pub const NON_PRIMARY_KEY_TABLE: i32 = 20;
    pub const UNKNOWN_TABLE_OR_BUCKET: i32 = 21;
    pub const PARTITION_NOT_EXISTS: i32 = 36;
    pub const LAKE_SNAPSHOT_NOT_EXIST: i32 = 53;
}

const COORDINATOR_ID: i32 = 0;
const TABLET_SERVER_ID: i32 = 1;
const SCHEMA_ID: i32 = 1;

/// An error answered for a whole request or one bucket: a Fluss error code and message.
#[derive(Debug)]
struct Refusal {
    code: i32,
    message: String,
}

fn refuse(code: i32, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// The running server; it stops when dropped.
pub struct FlussTestServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
}

struct State {
    port: u16,
    tables: Vec<ServedTable>,
}

struct ServedTable {
    path: TablePath,
    log: LocalLog,
    json: Vec<u8>,
    lake: Mutex<LakeRecord>,
    /// Per bucket, the rows of a primary-key table by encoded key (PutKv's state).
    kv: Mutex<HashMap<TableBucket, HashMap<Vec<u8>, RecordBatch>>>,
    /// Added to the log's table id: a table dropped and created again under its path gets
    /// a new id ([`FlussTestServer::recreate`]).
    id_shift: std::sync::atomic::AtomicI64,
}

impl ServedTable {
    /// The id the cluster gives the table now.
    fn id(&self) -> i64 {
        self.log.table_id() + self.id_shift.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What the coordinator knows of the lake, and the retention the tablet server applies.
#[derive(Default)]
struct LakeRecord {
    snapshots: BTreeMap<i64, BTreeMap<TableBucket, i64>>,
    /// Readable offsets kept apart from the tiered ones (Paimon deletion-vector tables).
    readable_offsets: BTreeMap<i64, BTreeMap<TableBucket, i64>>,
    readable: Option<i64>,
    log_start: HashMap<TableBucket, i64>,
    /// Error codes the next fetches of any bucket answer with, one each.
    fetch_faults: Vec<i32>,
    /// Answer every GetLakeSnapshot with the newest snapshot, whatever id it asks for, as
    /// a coordinator older than the request's `snapshot_id` field does.
    ignore_snapshot_ids: bool,
    /// Buckets ListOffsets leaves out of its answers.
    unlisted: Vec<TableBucket>,
    /// A bucket's high watermark set back below its log's end, as when a leader that
    /// lacked the last records took over: offsets past it are neither listed nor fetched.
    log_end: HashMap<TableBucket, i64>,
}

impl FlussTestServer {
    /// Listens on a free loopback port and serves `logs`, one table each.
    pub async fn start(logs: Vec<LocalLog>) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let tables = logs
            .into_iter()
            .map(|log| {
                Ok(ServedTable {
                    path: log.info().path.clone(),
                    json: table_json(log.info())?,
                    log,
                    lake: Mutex::new(LakeRecord::default()),
                    kv: Mutex::new(HashMap::new()),
                    id_shift: std::sync::atomic::AtomicI64::new(0),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let state = Arc::new(State {
            port: addr.port(),
            tables,
        });
        let (shutdown, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, state.clone(), stopped));
        Ok(Self { addr, state, shutdown })
    }

    /// The bootstrap address clients connect to.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    fn table(&self, path: &TablePath) -> fluss_client::Result<&ServedTable> {
        self.state.tables.iter().find(|t| &t.path == path).ok_or_else(|| {
            fluss_client::Error::new(
                fluss_client::ErrorKind::NotFound,
                format!("the test server does not serve {path}"),
            )
        })
    }

    fn lake(&self, path: &TablePath) -> fluss_client::Result<std::sync::MutexGuard<'_, LakeRecord>> {
        Ok(self.table(path)?.lake.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records a lake snapshot of `path` the way the Fluss coordinator does when a tiering
    /// round commits: with the offsets its `fluss-offsets` property names.
    pub async fn publish_lake_snapshot(&self, path: &TablePath, snapshot: &LakeSnapshot) -> fluss_client::Result<()> {
        let offsets = self.table(path)?.log.snapshot_offsets(snapshot).await?;
        self.lake(path)?.snapshots.insert(snapshot.id, offsets);
        Ok(())
    }

    /// Names the readable snapshot (`None`: the newest published).
    pub fn set_readable_snapshot(&self, path: &TablePath, id: Option<i64>) -> fluss_client::Result<()> {
        self.lake(path)?.readable = id;
        Ok(())
    }

    /// Records readable offsets for snapshot `id` of `path`, apart from its tiered ones, as
    /// the Fluss coordinator does for a Paimon deletion-vector table: a `readable` request
    /// answers with them.
    pub fn set_readable_offsets(
        &self,
        path: &TablePath,
        id: i64,
        offsets: BTreeMap<TableBucket, i64>,
    ) -> fluss_client::Result<()> {
        self.lake(path)?.readable_offsets.insert(id, offsets);
        Ok(())
    }

    /// Makes the next fetches of `path` fail, one per code, the way a cluster in
    /// transition answers (a leader moving, a log not yet caught up).
    pub fn inject_fetch_faults(&self, path: &TablePath, codes: &[i32]) -> fluss_client::Result<()> {
        self.lake(path)?.fetch_faults.extend_from_slice(codes);
        Ok(())
    }

    /// How many injected faults have not been answered yet.
    pub fn fetch_faults_left(&self, path: &TablePath) -> fluss_client::Result<usize> {
        Ok(self.lake(path)?.fetch_faults.len())
    }

    /// Makes the coordinator answer every lake snapshot request with its newest snapshot,
    /// as one that predates the request's `snapshot_id` field does.
    pub fn ignore_snapshot_ids(&self, path: &TablePath) -> fluss_client::Result<()> {
        self.lake(path)?.ignore_snapshot_ids = true;
        Ok(())
    }

    /// Makes ListOffsets leave `bucket` out of its answers, error code and all.
    pub fn leave_out_of_offsets(&self, path: &TablePath, bucket: TableBucket) -> fluss_client::Result<()> {
        self.lake(path)?.unlisted.push(bucket);
        Ok(())
    }

    /// Sets a bucket's high watermark back to `offset` (see [`LakeRecord::log_end`]).
    pub fn set_log_end(&self, path: &TablePath, bucket: TableBucket, offset: i64) -> fluss_client::Result<()> {
        self.lake(path)?.log_end.insert(bucket, offset);
        Ok(())
    }

    /// Serves `path` under a new table id from now on, as when the table is dropped and
    /// created again under its name (its rows stay, the schema too).
    pub fn recreate(&self, path: &TablePath) -> fluss_client::Result<()> {
        self.table(path)?
            .id_shift
            .fetch_add(1000, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Ages a bucket's log out of retention below `offset`.
    pub fn set_log_start(&self, path: &TablePath, bucket: TableBucket, offset: i64) -> fluss_client::Result<()> {
        self.lake(path)?.log_start.insert(bucket, offset);
        Ok(())
    }
}

impl Drop for FlussTestServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, state.clone(), stopped.clone()));
                }
                Err(_) => return,
            },
        }
    }
}

async fn serve_connection(stream: TcpStream, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    let (mut reader, mut writer) = stream.into_split();
    let (frames, mut outbox) = mpsc::unbounded_channel::<Vec<u8>>();
    let write_loop = tokio::spawn(async move {
        while let Some(frame) = outbox.recv().await {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    loop {
        let mut len = [0u8; 4];
        let read = tokio::select! {
            _ = stopped.changed() => break,
            read = reader.read_exact(&mut len) => read,
        };
        if read.is_err() {
            break;
        }
        let mut request = vec![0u8; i32::from_be_bytes(len).max(0) as usize];
        if reader.read_exact(&mut request).await.is_err() || request.len() < 8 {
            break;
        }
        let api_key = i16::from_be_bytes([request[0], request[1]]);
        let request_id = i32::from_be_bytes([request[4], request[5], request[6], request[7]]);
        let (state, frames) = (state.clone(), frames.clone());
        tokio::spawn(async move {
            let answer = handle(&state, api_key, &request[8..]).await;
            let _ = frames.send(response_frame(request_id, answer));
        });
    }
    write_loop.abort();
}

fn response_frame(request_id: i32, answer: Result<Vec<u8>, Refusal>) -> Vec<u8> {
    let (kind, body) = match answer {
        Ok(body) => (0u8, body),
        Err(r) => (
            1u8,
            ErrorResponse {
                error_code: r.code,
                error_message: Some(r.message),
            }
            .encode_to_vec(),
        ),
    };
    let mut frame = Vec::with_capacity(9 + body.len());
    frame.extend_from_slice(&((5 + body.len()) as i32).to_be_bytes());
    frame.push(kind);
    frame.extend_from_slice(&request_id.to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn decode<M: Message + Default>(body: &[u8]) -> Result<M, Refusal> {
    M::decode(body).map_err(|e| refuse(code::CORRUPT_MESSAGE, format!("undecodable request: {e}")))
}

async fn handle(state: &State, api_key: i16, body: &[u8]) -> Result<Vec<u8>, Refusal> {
    Ok(match api_key {
        api::API_VERSIONS => ApiVersionsResponse {
            api_versions: api::SERVED
                .iter()
                .map(|&k| PbApiVersion {
                    api_key: k.into(),
                    min_version: 0,
                    max_version: 0,
                })
                .collect(),
            server_type: None,
        }
        .encode_to_vec(),
        api::METADATA => state.metadata(decode(body)?)?.encode_to_vec(),
        api::GET_TABLE => {
            let request: GetTableInfoRequest = decode(body)?;
            let table = state.table_by_path(&request.table_path)?;
            GetTableInfoResponse {
                table_id: table.id(),
                schema_id: SCHEMA_ID,
                table_json: table.json.clone(),
                created_time: 0,
                modified_time: 0,
            }
            .encode_to_vec()
        }
        api::LIST_PARTITION_INFOS => {
            let request: ListPartitionInfosRequest = decode(body)?;
            let table = state.table_by_path(&request.table_path)?;
            ListPartitionInfosResponse {
                partitions_info: table
                    .partitions()?
                    .into_iter()
                    .map(|(id, values)| table.partition_info(id, &values))
                    .collect(),
            }
            .encode_to_vec()
        }
        api::LIST_OFFSETS => state.list_offsets(decode(body)?).await?.encode_to_vec(),
        api::GET_LAKE_SNAPSHOT => state.lake_snapshot(decode(body)?)?.encode_to_vec(),
        api::FETCH_LOG => state.fetch(decode(body)?).await?.encode_to_vec(),
        api::INIT_WRITER => InitWriterResponse { writer_id: 1 }.encode_to_vec(),
        api::PRODUCE_LOG => state.produce(decode(body)?)?.encode_to_vec(),
        api::PUT_KV => state.put_kv(decode(body)?).await?.encode_to_vec(),
        other => return Err(refuse(code::UNSUPPORTED_VERSION, format!("api {other} is not served"))),
    })
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    refuse(code::UNKNOWN_SERVER_ERROR, e.to_string())
}

impl State {
    fn node(&self, id: i32) -> PbServerNode {
        PbServerNode {
            node_id: id,
            host: "127.0.0.1".into(),
            port: self.port.into(),
        }
    }

    fn table_by_path(&self, path: &PbTablePath) -> Result<&ServedTable, Refusal> {
        self.tables
            .iter()
            .find(|t| t.path.database == path.database_name && t.path.table == path.table_name)
            .ok_or_else(|| {
                refuse(
                    code::TABLE_NOT_EXIST,
                    format!("table {}.{} does not exist", path.database_name, path.table_name),
                )
            })
    }

    fn table_by_id(&self, id: i64) -> Result<&ServedTable, Refusal> {
        self.tables
            .iter()
            .find(|t| t.id() == id)
            .ok_or_else(|| refuse(code::UNKNOWN_TABLE_OR_BUCKET, format!("no table with id {id}")))
    }

    fn metadata(&self, request: MetadataRequest) -> Result<MetadataResponse, Refusal> {
        let mut response = MetadataResponse {
            coordinator_server: Some(self.node(COORDINATOR_ID)),
            tablet_servers: vec![self.node(TABLET_SERVER_ID)],
            ..Default::default()
        };
        for path in &request.table_path {
            response.table_metadata.push(self.table_by_path(path)?.metadata());
        }
        for path in &request.partitions_path {
            let table = self.table_by_path(&PbTablePath {
                database_name: path.database_name.clone(),
                table_name: path.table_name.clone(),
            })?;
            let name = path.partition_name.clone().unwrap_or_default();
            let (id, _) = table
                .partitions()?
                .into_iter()
                .find(|(_, values)| values.join("$") == name)
                .ok_or_else(|| refuse(code::PARTITION_NOT_EXISTS, format!("no partition {name}")))?;
            response.partition_metadata.push(table.partition_metadata(id, &name));
        }
        for &id in &request.partitions_id {
            let found = self.tables.iter().find_map(|t| {
                let partitions = t.partitions().ok()?;
                partitions
                    .get(&id)
                    .map(|values| t.partition_metadata(id, &values.join("$")))
            });
            response
                .partition_metadata
                .push(found.ok_or_else(|| refuse(code::PARTITION_NOT_EXISTS, format!("no partition id {id}")))?);
        }
        Ok(response)
    }

    async fn list_offsets(&self, request: ListOffsetsRequest) -> Result<ListOffsetsResponse, Refusal> {
        let table = self.table_by_id(request.table_id)?;
        let mut response = ListOffsetsResponse::default();
        let unlisted = table.lake.lock().unwrap_or_else(|e| e.into_inner()).unlisted.clone();
        for &b in &request.bucket_id {
            let answer = match table.bucket(request.partition_id, b) {
                Ok(bucket) if unlisted.contains(&bucket) => continue,
                Ok(bucket) => {
                    let (earliest, end) = table.offsets(&bucket).await?;
                    match request.offset_type {
                        0 => Ok(earliest),
                        1 => Ok(end),
                        other => Err(refuse(
                            code::UNKNOWN_SERVER_ERROR,
                            format!("offset type {other} is not served"),
                        )),
                    }
                }
                Err(r) => Err(r),
            };
            response.buckets_resp.push(match answer {
                Ok(offset) => PbListOffsetsRespForBucket {
                    bucket_id: b,
                    offset: Some(offset),
                    ..Default::default()
                },
                Err(r) => PbListOffsetsRespForBucket {
                    bucket_id: b,
                    error_code: Some(r.code),
                    error_message: Some(r.message),
                    offset: None,
                },
            });
        }
        Ok(response)
    }

    fn lake_snapshot(&self, request: GetLakeSnapshotRequest) -> Result<GetLakeSnapshotResponse, Refusal> {
        let table = self.table_by_path(&request.table_path)?;
        let partitions: HashMap<Vec<String>, i64> = table.partitions()?.into_iter().map(|(id, v)| (v, id)).collect();
        let lake = table.lake.lock().unwrap_or_else(|e| e.into_inner());
        let id = match (request.snapshot_id, request.readable) {
            (Some(_), Some(true)) => {
                return Err(internal("a snapshot id and readable=true cannot be asked together"));
            }
            (Some(_), _) if lake.ignore_snapshot_ids => lake.snapshots.keys().last().copied(),
            (Some(id), _) => Some(id),
            (None, Some(true)) => lake.readable.or_else(|| lake.snapshots.keys().last().copied()),
            (None, _) => lake.snapshots.keys().last().copied(),
        };
        let readable = request.readable == Some(true);
        let recorded = |id: i64| match lake.readable_offsets.get(&id) {
            Some(o) if readable => Some(o),
            _ => lake.snapshots.get(&id),
        };
        let Some((id, offsets)) = id.and_then(|id| recorded(id).map(|o| (id, o))) else {
            return Err(refuse(
                code::LAKE_SNAPSHOT_NOT_EXIST,
                format!("table {} has no such lake snapshot", table.path),
            ));
        };
        Ok(GetLakeSnapshotResponse {
            table_id: table.id(),
            snapshot_id: id,
            bucket_snapshots: offsets
                .iter()
                .map(|(b, &o)| PbLakeSnapshotForBucket {
                    partition_id: partitions.get(&b.partition).copied(),
                    bucket_id: b.bucket as i32,
                    log_offset: Some(o),
                    partition_name: (!b.partition.is_empty()).then(|| b.partition.join("$")),
                })
                .collect(),
        })
    }

    async fn fetch(&self, request: FetchLogRequest) -> Result<FetchLogResponse, Refusal> {
        let wait = Duration::from_millis(request.max_wait_ms.unwrap_or(100).clamp(0, 200) as u64);
        let deadline = Instant::now() + wait;
        loop {
            let mut response = FetchLogResponse::default();
            let mut any = false;
            for t in &request.tables_req {
                let table = self.table_by_id(t.table_id)?;
                let projection = t
                    .projection_pushdown_enabled
                    .then(|| t.projected_fields.iter().map(|&f| f as usize).collect::<Vec<_>>());
                let mut buckets = Vec::new();
                for b in &t.buckets_req {
                    let answer = table.fetch(b, projection.as_deref()).await;
                    any |= answer.records.as_ref().is_some_and(|r| !r.is_empty()) || answer.error_code.is_some();
                    buckets.push(answer);
                }
                response.tables_resp.push(PbFetchLogRespForTable {
                    table_id: t.table_id,
                    buckets_resp: buckets,
                });
            }
            if any || Instant::now() >= deadline {
                return Ok(response);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn produce(&self, request: ProduceLogRequest) -> Result<ProduceLogResponse, Refusal> {
        let table = self.table_by_id(request.table_id)?;
        let buckets_resp = request
            .buckets_req
            .iter()
            .map(|b| {
                let appended = table
                    .bucket(b.partition_id, b.bucket_id)
                    .and_then(|bucket| table.append(&bucket, &b.records));
                match appended {
                    Ok(base) => PbProduceLogRespForBucket {
                        partition_id: b.partition_id,
                        bucket_id: b.bucket_id,
                        base_offset: Some(base),
                        ..Default::default()
                    },
                    Err(r) => PbProduceLogRespForBucket {
                        partition_id: b.partition_id,
                        bucket_id: b.bucket_id,
                        error_code: Some(r.code),
                        error_message: Some(r.message),
                        base_offset: None,
                    },
                }
            })
            .collect();
        Ok(ProduceLogResponse { buckets_resp })
    }
}

impl State {
    async fn put_kv(&self, request: PutKvRequest) -> Result<PutKvResponse, Refusal> {
        let table = self.table_by_id(request.table_id)?;
        let mut buckets_resp = Vec::new();
        for b in &request.buckets_req {
            let applied = if request.target_columns.is_empty() {
                match table.bucket(b.partition_id, b.bucket_id) {
                    Ok(bucket) => table.put_kv(&bucket, &b.records).await,
                    Err(r) => Err(r),
                }
            } else {
                Err(refuse(code::UNKNOWN_SERVER_ERROR, "partial updates are not served"))
            };
            buckets_resp.push(match applied {
                Ok(end) => PbPutKvRespForBucket {
                    partition_id: b.partition_id,
                    bucket_id: b.bucket_id,
                    log_end_offset: Some(end),
                    ..Default::default()
                },
                Err(r) => PbPutKvRespForBucket {
                    partition_id: b.partition_id,
                    bucket_id: b.bucket_id,
                    error_code: Some(r.code),
                    error_message: Some(r.message),
                    log_end_offset: None,
                },
            });
        }
        Ok(PutKvResponse { buckets_resp })
    }
}

impl ServedTable {
    /// Applies one KV batch to a bucket's state and appends its changelog; the bucket's
    /// log end offset after it.
    async fn put_kv(&self, bucket: &TableBucket, records: &[u8]) -> Result<i64, Refusal> {
        let info = self.log.info();
        if info.primary_key.is_empty() {
            return Err(refuse(
                code::NON_PRIMARY_KEY_TABLE,
                format!("table {} has no primary key", self.path),
            ));
        }
        let records = kv::parse_kv_batch(records).map_err(|e| refuse(code::CORRUPT_MESSAGE, e))?;
        let appended = {
            let mut kv = self.kv.lock().unwrap_or_else(|e| e.into_inner());
            let state = kv.entry(bucket.clone()).or_default();
            // apply to a copy: a record that does not decode leaves the state as it was
            let mut next = state.clone();
            let changelog =
                kv::apply(&mut next, records, &info.schema).map_err(|e| refuse(code::CORRUPT_MESSAGE, e))?;
            // a batch that changes nothing (deleting an absent key) still appends one, empty:
            // Fluss's tablet writes one changelog batch per KV batch, and it takes an offset
            let (rows, changes) =
                changelog.unwrap_or_else(|| (RecordBatch::new_empty(info.schema.clone()), Vec::new()));
            let (_, end) = self.log.append(bucket, rows, changes).map_err(internal)?;
            *state = next;
            end
        };
        Ok(appended)
    }

    fn partitions(&self) -> Result<HashMap<i64, Vec<String>>, Refusal> {
        self.log.partition_ids().map_err(internal)
    }

    fn bucket_metadata(&self) -> Vec<PbBucketMetadata> {
        (0..self.log.info().bucket_count as i32)
            .map(|b| PbBucketMetadata {
                bucket_id: b,
                leader_id: Some(TABLET_SERVER_ID),
                replica_id: vec![TABLET_SERVER_ID],
                leader_epoch: Some(0),
                bucket_epoch: Some(0),
                isr: vec![TABLET_SERVER_ID],
            })
            .collect()
    }

    fn metadata(&self) -> PbTableMetadata {
        PbTableMetadata {
            table_path: PbTablePath {
                database_name: self.path.database.clone(),
                table_name: self.path.table.clone(),
            },
            table_id: self.id(),
            schema_id: SCHEMA_ID,
            table_json: self.json.clone(),
            bucket_metadata: self.bucket_metadata(),
            created_time: 0,
            modified_time: 0,
        }
    }

    fn partition_metadata(&self, id: i64, name: &str) -> PbPartitionMetadata {
        PbPartitionMetadata {
            table_id: self.id(),
            partition_name: name.to_string(),
            partition_id: id,
            bucket_metadata: self.bucket_metadata(),
        }
    }

    fn partition_info(&self, id: i64, values: &[String]) -> PbPartitionInfo {
        PbPartitionInfo {
            partition_id: id,
            partition_spec: PbPartitionSpec {
                partition_key_values: self
                    .log
                    .info()
                    .partition_keys
                    .iter()
                    .zip(values)
                    .map(|(k, v)| PbKeyValue {
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect(),
            },
        }
    }

    fn bucket(&self, partition_id: Option<i64>, bucket: i32) -> Result<TableBucket, Refusal> {
        let info = self.log.info();
        if bucket < 0 || bucket as u32 >= info.bucket_count {
            return Err(refuse(code::UNKNOWN_TABLE_OR_BUCKET, format!("no bucket {bucket}")));
        }
        let partition = match partition_id {
            None if info.partition_keys.is_empty() => Vec::new(),
            Some(id) => self
                .partitions()?
                .remove(&id)
                .ok_or_else(|| refuse(code::PARTITION_NOT_EXISTS, format!("no partition id {id}")))?,
            None => {
                return Err(refuse(
                    code::PARTITION_NOT_EXISTS,
                    "a partitioned table needs a partition",
                ));
            }
        };
        Ok(TableBucket {
            partition,
            bucket: bucket as u32,
        })
    }

    /// The earliest (after retention) and end offsets of a bucket; a bucket never written
    /// to is empty at 0.
    async fn offsets(&self, bucket: &TableBucket) -> Result<(i64, i64), Refusal> {
        let ranges = self.log.offset_ranges().await.map_err(internal)?;
        let (earliest, end) = ranges.get(bucket).map_or((0, 0), |r| (r.earliest, r.end));
        let lake = self.lake.lock().unwrap_or_else(|e| e.into_inner());
        let end = lake.log_end.get(bucket).map_or(end, |&e| e.min(end));
        let start = lake.log_start.get(bucket).copied();
        Ok((start.map_or(earliest, |s| s.max(earliest)).min(end), end))
    }

    async fn fetch(&self, request: &PbFetchLogReqForBucket, projection: Option<&[usize]>) -> PbFetchLogRespForBucket {
        let mut response = PbFetchLogRespForBucket {
            partition_id: request.partition_id,
            bucket_id: request.bucket_id,
            ..Default::default()
        };
        match self.fetch_records(request, projection).await {
            Ok((records, earliest, end)) => {
                response.records = Some(records);
                response.high_watermark = Some(end);
                response.log_start_offset = Some(earliest);
            }
            Err(r) => {
                response.error_code = Some(r.code);
                response.error_message = Some(r.message);
            }
        }
        response
    }

    async fn fetch_records(
        &self,
        request: &PbFetchLogReqForBucket,
        projection: Option<&[usize]>,
    ) -> Result<(Vec<u8>, i64, i64), Refusal> {
        let bucket = self.bucket(request.partition_id, request.bucket_id)?;
        let fault = {
            let mut lake = self.lake.lock().unwrap_or_else(|e| e.into_inner());
            (!lake.fetch_faults.is_empty()).then(|| lake.fetch_faults.remove(0))
        };
        if let Some(code) = fault {
            return Err(refuse(code, "injected fault"));
        }
        let (earliest, end) = self.offsets(&bucket).await?;
        // -2 asks for the log start (fluss-rs's EARLIEST_OFFSET)
        let offset = if request.fetch_offset == -2 {
            earliest
        } else {
            request.fetch_offset
        };
        if offset < earliest || offset > end {
            return Err(refuse(
                code::LOG_OFFSET_OUT_OF_RANGE,
                format!("offset {offset} is outside [{earliest}, {end}] of {bucket}"),
            ));
        }
        let mut records = Vec::new();
        if offset == end {
            return Ok((records, earliest, end));
        }
        let mut batches = self.log.read(&bucket, offset, Some(end)).await.map_err(internal)?;
        let limit = request.max_fetch_bytes.max(1) as usize;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(internal)?;
            records.extend(encode(&batch, projection)?);
            if records.len() >= limit {
                break;
            }
        }
        Ok((records, earliest, end))
    }

    /// Appends one batch a client produced, decoded with our decoder; its base offset.
    fn append(&self, bucket: &TableBucket, records: &[u8]) -> Result<i64, Refusal> {
        let (batch, used) = decode_batch(records, &self.log.info().schema)
            .map_err(|e| refuse(code::CORRUPT_MESSAGE, format!("produced batch: {e}")))?;
        if used != records.len() {
            return Err(refuse(
                code::CORRUPT_MESSAGE,
                "a produce request carries one batch per bucket",
            ));
        }
        let (base, _) = self
            .log
            .append(bucket, batch.batch, batch.change_types)
            .map_err(internal)?;
        Ok(base)
    }
}

/// A log batch as FetchLog serves it: our encoding, with only the projected columns.
fn encode(batch: &LogBatch, projection: Option<&[usize]>) -> Result<Vec<u8>, Refusal> {
    let projected;
    let batch = match projection {
        None => batch,
        Some(columns) => {
            let rows: RecordBatch = batch.batch.project(columns).map_err(internal)?;
            projected = LogBatch {
                batch: rows,
                ..batch.clone()
            };
            &projected
        }
    };
    let options = EncodeOptions {
        schema_id: SCHEMA_ID as i16,
        ..EncodeOptions::default()
    };
    encode_log_batch(batch, &options).map_err(internal)
}
