//! The subset of Fluss's RPC messages the in-process server speaks, written by hand from
//! the field numbers of `FlussApi.proto` (apache/fluss, `fluss-rpc`; the copy `fluss-rs`
//! 1.0 ships). Fields the server never reads or sets are left out: protobuf skips them.
//!
//! Proto2 `required` fields are plain values, `optional` ones `Option`s.

#![allow(missing_docs)]

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct ErrorResponse {
    #[prost(int32, required, tag = "1")]
    pub error_code: i32,
    #[prost(string, optional, tag = "2")]
    pub error_message: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbTablePath {
    #[prost(string, required, tag = "1")]
    pub database_name: String,
    #[prost(string, required, tag = "2")]
    pub table_name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbPhysicalTablePath {
    #[prost(string, required, tag = "1")]
    pub database_name: String,
    #[prost(string, required, tag = "2")]
    pub table_name: String,
    #[prost(string, optional, tag = "3")]
    pub partition_name: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ApiVersionsRequest {
    #[prost(string, optional, tag = "1")]
    pub client_software_name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub client_software_version: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbApiVersion {
    #[prost(int32, required, tag = "1")]
    pub api_key: i32,
    #[prost(int32, required, tag = "2")]
    pub min_version: i32,
    #[prost(int32, required, tag = "3")]
    pub max_version: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct ApiVersionsResponse {
    #[prost(message, repeated, tag = "1")]
    pub api_versions: Vec<PbApiVersion>,
    /// Left unset: one listener plays coordinator and tablet server, and the client
    /// checks a set type against the role it expects.
    #[prost(int32, optional, tag = "2")]
    pub server_type: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetadataRequest {
    #[prost(message, repeated, tag = "1")]
    pub table_path: Vec<PbTablePath>,
    #[prost(message, repeated, tag = "2")]
    pub partitions_path: Vec<PbPhysicalTablePath>,
    #[prost(int64, repeated, tag = "3")]
    pub partitions_id: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbServerNode {
    #[prost(int32, required, tag = "1")]
    pub node_id: i32,
    #[prost(string, required, tag = "2")]
    pub host: String,
    #[prost(int32, required, tag = "3")]
    pub port: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbBucketMetadata {
    #[prost(int32, required, tag = "1")]
    pub bucket_id: i32,
    #[prost(int32, optional, tag = "2")]
    pub leader_id: Option<i32>,
    #[prost(int32, repeated, packed = "false", tag = "3")]
    pub replica_id: Vec<i32>,
    #[prost(int32, optional, tag = "4")]
    pub leader_epoch: Option<i32>,
    #[prost(int32, optional, tag = "5")]
    pub bucket_epoch: Option<i32>,
    #[prost(int32, repeated, packed = "false", tag = "6")]
    pub isr: Vec<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbTableMetadata {
    #[prost(message, required, tag = "1")]
    pub table_path: PbTablePath,
    #[prost(int64, required, tag = "2")]
    pub table_id: i64,
    #[prost(int32, required, tag = "3")]
    pub schema_id: i32,
    #[prost(bytes = "vec", required, tag = "4")]
    pub table_json: Vec<u8>,
    #[prost(message, repeated, tag = "5")]
    pub bucket_metadata: Vec<PbBucketMetadata>,
    #[prost(int64, required, tag = "6")]
    pub created_time: i64,
    #[prost(int64, required, tag = "7")]
    pub modified_time: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbPartitionMetadata {
    #[prost(int64, required, tag = "1")]
    pub table_id: i64,
    #[prost(string, required, tag = "2")]
    pub partition_name: String,
    #[prost(int64, required, tag = "3")]
    pub partition_id: i64,
    #[prost(message, repeated, tag = "4")]
    pub bucket_metadata: Vec<PbBucketMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetadataResponse {
    #[prost(message, optional, tag = "1")]
    pub coordinator_server: Option<PbServerNode>,
    #[prost(message, repeated, tag = "2")]
    pub tablet_servers: Vec<PbServerNode>,
    #[prost(message, repeated, tag = "3")]
    pub table_metadata: Vec<PbTableMetadata>,
    #[prost(message, repeated, tag = "4")]
    pub partition_metadata: Vec<PbPartitionMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetTableInfoRequest {
    #[prost(message, required, tag = "1")]
    pub table_path: PbTablePath,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetTableInfoResponse {
    #[prost(int64, required, tag = "1")]
    pub table_id: i64,
    #[prost(int32, required, tag = "2")]
    pub schema_id: i32,
    #[prost(bytes = "vec", required, tag = "3")]
    pub table_json: Vec<u8>,
    #[prost(int64, required, tag = "4")]
    pub created_time: i64,
    #[prost(int64, required, tag = "5")]
    pub modified_time: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbKeyValue {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, required, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbPartitionSpec {
    #[prost(message, repeated, tag = "1")]
    pub partition_key_values: Vec<PbKeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ListPartitionInfosRequest {
    #[prost(message, required, tag = "1")]
    pub table_path: PbTablePath,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbPartitionInfo {
    #[prost(int64, required, tag = "1")]
    pub partition_id: i64,
    #[prost(message, required, tag = "2")]
    pub partition_spec: PbPartitionSpec,
}

#[derive(Clone, PartialEq, Message)]
pub struct ListPartitionInfosResponse {
    #[prost(message, repeated, tag = "1")]
    pub partitions_info: Vec<PbPartitionInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ListOffsetsRequest {
    #[prost(int32, required, tag = "1")]
    pub follower_server_id: i32,
    /// 0 earliest, 1 latest, 2 by timestamp.
    #[prost(int32, required, tag = "2")]
    pub offset_type: i32,
    #[prost(int64, required, tag = "3")]
    pub table_id: i64,
    #[prost(int64, optional, tag = "4")]
    pub partition_id: Option<i64>,
    #[prost(int32, repeated, tag = "5")]
    pub bucket_id: Vec<i32>,
    #[prost(int64, optional, tag = "6")]
    pub start_timestamp: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbListOffsetsRespForBucket {
    #[prost(int32, required, tag = "1")]
    pub bucket_id: i32,
    #[prost(int32, optional, tag = "2")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub error_message: Option<String>,
    #[prost(int64, optional, tag = "4")]
    pub offset: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ListOffsetsResponse {
    #[prost(message, repeated, tag = "1")]
    pub buckets_resp: Vec<PbListOffsetsRespForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetLakeSnapshotRequest {
    #[prost(message, required, tag = "1")]
    pub table_path: PbTablePath,
    #[prost(int64, optional, tag = "2")]
    pub snapshot_id: Option<i64>,
    #[prost(bool, optional, tag = "3")]
    pub readable: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbLakeSnapshotForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(int64, optional, tag = "3")]
    pub log_offset: Option<i64>,
    #[prost(string, optional, tag = "4")]
    pub partition_name: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct GetLakeSnapshotResponse {
    #[prost(int64, required, tag = "1")]
    pub table_id: i64,
    #[prost(int64, required, tag = "2")]
    pub snapshot_id: i64,
    #[prost(message, repeated, tag = "3")]
    pub bucket_snapshots: Vec<PbLakeSnapshotForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbFetchLogReqForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(int64, required, tag = "3")]
    pub fetch_offset: i64,
    #[prost(int32, required, tag = "4")]
    pub max_fetch_bytes: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbFetchLogReqForTable {
    #[prost(int64, required, tag = "1")]
    pub table_id: i64,
    #[prost(bool, required, tag = "2")]
    pub projection_pushdown_enabled: bool,
    #[prost(int32, repeated, tag = "3")]
    pub projected_fields: Vec<i32>,
    #[prost(message, repeated, tag = "4")]
    pub buckets_req: Vec<PbFetchLogReqForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FetchLogRequest {
    #[prost(int32, required, tag = "1")]
    pub follower_server_id: i32,
    #[prost(int32, required, tag = "2")]
    pub max_bytes: i32,
    #[prost(message, repeated, tag = "3")]
    pub tables_req: Vec<PbFetchLogReqForTable>,
    #[prost(int32, optional, tag = "4")]
    pub max_wait_ms: Option<i32>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbFetchLogRespForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub error_message: Option<String>,
    #[prost(int64, optional, tag = "5")]
    pub high_watermark: Option<i64>,
    #[prost(int64, optional, tag = "6")]
    pub log_start_offset: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub records: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbFetchLogRespForTable {
    #[prost(int64, required, tag = "1")]
    pub table_id: i64,
    #[prost(message, repeated, tag = "2")]
    pub buckets_resp: Vec<PbFetchLogRespForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct FetchLogResponse {
    #[prost(message, repeated, tag = "1")]
    pub tables_resp: Vec<PbFetchLogRespForTable>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbProduceLogReqForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(bytes = "vec", required, tag = "3")]
    pub records: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProduceLogRequest {
    #[prost(int32, required, tag = "1")]
    pub acks: i32,
    #[prost(int64, required, tag = "2")]
    pub table_id: i64,
    #[prost(int32, required, tag = "3")]
    pub timeout_ms: i32,
    #[prost(message, repeated, tag = "4")]
    pub buckets_req: Vec<PbProduceLogReqForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbProduceLogRespForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub error_message: Option<String>,
    #[prost(int64, optional, tag = "5")]
    pub base_offset: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ProduceLogResponse {
    #[prost(message, repeated, tag = "1")]
    pub buckets_resp: Vec<PbProduceLogRespForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct InitWriterResponse {
    #[prost(int64, required, tag = "1")]
    pub writer_id: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbPutKvReqForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(bytes = "vec", required, tag = "3")]
    pub records: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PutKvRequest {
    #[prost(int32, required, tag = "1")]
    pub acks: i32,
    #[prost(int64, required, tag = "2")]
    pub table_id: i64,
    #[prost(int32, required, tag = "3")]
    pub timeout_ms: i32,
    /// Empty: whole rows; else the columns of a partial update.
    #[prost(int32, repeated, tag = "4")]
    pub target_columns: Vec<i32>,
    #[prost(message, repeated, tag = "5")]
    pub buckets_req: Vec<PbPutKvReqForBucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PbPutKvRespForBucket {
    #[prost(int64, optional, tag = "1")]
    pub partition_id: Option<i64>,
    #[prost(int32, required, tag = "2")]
    pub bucket_id: i32,
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub error_message: Option<String>,
    #[prost(int64, optional, tag = "5")]
    pub log_end_offset: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PutKvResponse {
    #[prost(message, repeated, tag = "1")]
    pub buckets_resp: Vec<PbPutKvRespForBucket>,
}
