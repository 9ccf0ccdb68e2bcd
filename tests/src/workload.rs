//! Random workloads: a table shape and a changelog per bucket.
//!
//! Tables have the columns `k: Int64` (key), optionally `k2: Utf8` (composite key) and
//! `p: Utf8` (partition), then `v: Int64`, `s: Utf8` and `ver: Int64` (the version column
//! of versioned tables), all three nullable, and optionally `b`, a BLOB whose payload is a
//! function of the row (so the oracle needs no column of its own for it). Keys come from a small space so that changes
//! hit the same keys again; change types are arbitrary (a `-U` with no `+U`, a delete of
//! a missing key), because the union read must apply any changelog exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, LargeBinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use fluss_client::bucketing::{LakeFormat, bucket_of_bytes};
use lake_api::types::blob_field;
use lake_api::{ChangeType, MergeEngine, TableBucket, TableInfo, TablePath};

use crate::rng::Rng;

/// The shape of a generated table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableShape {
    /// Primary-key table (else a log table).
    pub primary_key: bool,
    /// A second key column `k2`.
    pub composite_key: bool,
    /// Partitioned by `p`.
    pub partitioned: bool,
    /// Buckets per partition.
    pub buckets: u32,
    /// The merge engine (primary-key tables).
    pub engine: MergeEngine,
    /// How keys map to buckets.
    pub bucketing: Bucketing,
    /// A BLOB column `b` (payload: [`blob_payload`] of the row).
    pub blob: bool,
    /// Table properties (lake options such as `paimon.deletion-vectors.enabled`).
    pub properties: BTreeMap<String, String>,
}

/// How a generated table assigns rows to buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bucketing {
    /// `k` modulo the bucket count: any mapping will do for lakes that do not re-derive it.
    #[default]
    Modulo,
    /// Iceberg's `bucket[N](k)`, as Fluss buckets tables tiered into Iceberg: the lake
    /// prunes partitions by that transform, so log and lake must agree on it.
    Iceberg,
    /// Paimon's fixed bucket of `k` (Fluss's Paimon bucketing): the lake prunes buckets by
    /// key filters with it, so log and lake must agree on it.
    Paimon,
}

impl TableShape {
    /// A random shape.
    pub fn random(rng: &mut Rng) -> Self {
        let primary_key = rng.chance(0.8);
        let engine = if !primary_key {
            MergeEngine::Deduplicate
        } else {
            match rng.index(4) {
                0 | 1 => MergeEngine::Deduplicate,
                2 => MergeEngine::FirstRow,
                _ => MergeEngine::Versioned { column: "ver".into() },
            }
        };
        Self {
            primary_key,
            composite_key: rng.chance(0.3),
            partitioned: rng.chance(0.4),
            buckets: rng.range(1, 5) as u32,
            engine,
            bucketing: Bucketing::Modulo,
            blob: rng.chance(0.4),
            properties: BTreeMap::new(),
        }
    }

    /// The Arrow schema.
    pub fn schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new("k", DataType::Int64, false)];
        if self.composite_key {
            fields.push(Field::new("k2", DataType::Utf8, false));
        }
        if self.partitioned {
            fields.push(Field::new("p", DataType::Utf8, false));
        }
        fields.push(Field::new("v", DataType::Int64, true));
        fields.push(Field::new("s", DataType::Utf8, true));
        fields.push(Field::new("ver", DataType::Int64, true));
        if self.blob {
            fields.push(blob_field("b", true));
        }
        Arc::new(Schema::new(fields))
    }

    /// The table metadata.
    pub fn info(&self) -> TableInfo {
        let path = TablePath::new("harness", "t");
        let mut info = if self.primary_key {
            let mut key = vec!["k".to_string()];
            if self.composite_key {
                key.push("k2".into());
            }
            if self.partitioned {
                key.push("p".into());
            }
            let mut info = TableInfo::primary_key_table(path, self.schema(), key, self.buckets);
            info.bucket_key = vec!["k".into()];
            info.with_merge_engine(self.engine.clone())
        } else {
            TableInfo::log_table(path, self.schema(), self.buckets)
        };
        if self.partitioned {
            info = info.with_partition_keys(vec!["p".into()]);
        }
        info.properties = self.properties.clone();
        info
    }

    /// The bucket a row belongs to, within its partition.
    pub fn bucket_of(&self, row: &Row) -> TableBucket {
        let partition = if self.partitioned {
            vec![row.p.clone()]
        } else {
            Vec::new()
        };
        let bucket = match self.bucketing {
            Bucketing::Modulo => row.k.rem_euclid(self.buckets as i64) as u32,
            Bucketing::Iceberg => bucket_of_bytes(LakeFormat::Iceberg, &row.k.to_le_bytes(), self.buckets),
            Bucketing::Paimon => bucket_of_bytes(LakeFormat::Paimon, &paimon_key(row.k), self.buckets),
        };
        TableBucket::partitioned(partition, bucket)
    }

    /// The names of the columns, in schema order.
    pub fn column_names(&self) -> Vec<String> {
        self.schema().fields().iter().map(|f| f.name().clone()).collect()
    }
}

/// The Paimon `BinaryRow` of a one-column BIGINT key: an 8-byte header (row kind and
/// null bits, all zero) and the value, little-endian.
pub fn paimon_key(k: i64) -> Vec<u8> {
    let mut bytes = vec![0u8; 8];
    bytes.extend_from_slice(&k.to_le_bytes());
    bytes
}

/// One row of a generated table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub k: i64,
    pub k2: String,
    pub p: String,
    pub v: Option<i64>,
    pub s: Option<String>,
    pub ver: Option<i64>,
}

impl Row {
    /// The primary key (all key columns; unused ones are empty).
    pub fn key(&self) -> (i64, String, String) {
        (self.k, self.k2.clone(), self.p.clone())
    }
}

/// The BLOB payload of a row of a table with a `b` column: null where `v` is, else the
/// row's values repeated 0 to 3 times (so empty payloads occur too).
pub fn blob_payload(row: &Row) -> Option<Vec<u8>> {
    let v = row.v?;
    let unit = format!("{}|{}|{v}|{:?};", row.k, row.k2, row.s);
    Some(unit.repeat(v.rem_euclid(4) as usize).into_bytes())
}

/// Rows as a batch of `shape`'s schema.
pub fn rows_to_batch(shape: &TableShape, rows: &[Row]) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.k)))];
    if shape.composite_key {
        columns.push(Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.k2.as_str()),
        )));
    }
    if shape.partitioned {
        columns.push(Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.p.as_str()),
        )));
    }
    columns.push(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.v))));
    columns.push(Arc::new(StringArray::from_iter(rows.iter().map(|r| r.s.as_deref()))));
    columns.push(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.ver))));
    if shape.blob {
        columns.push(Arc::new(LargeBinaryArray::from_iter(rows.iter().map(blob_payload))));
    }
    RecordBatch::try_new(shape.schema(), columns).expect("generated rows match the schema")
}

/// A table shape and its changelog, per bucket in offset order.
#[derive(Debug, Clone)]
pub struct Workload {
    pub shape: TableShape,
    pub changes: BTreeMap<TableBucket, Vec<(ChangeType, Row)>>,
}

/// The values of the partition column `p`.
pub const PARTITIONS: &[&str] = &["a", "b", "c"];
/// The values of the second key column `k2`.
pub const K2_VALUES: &[&str] = &["x", "y"];

impl Workload {
    /// `ops` random changes on a random table.
    pub fn random(rng: &mut Rng, ops: usize) -> Self {
        let shape = TableShape::random(rng);
        Self::random_for(rng, shape, ops)
    }

    /// `ops` random changes on a given table.
    pub fn random_for(rng: &mut Rng, shape: TableShape, ops: usize) -> Self {
        // about three changes per key, however many partitions and k2 values share its k
        let partitions = if shape.partitioned { PARTITIONS.len() } else { 1 };
        let k2s = if shape.composite_key { K2_VALUES.len() } else { 1 };
        let key_space = (ops as i64 / 3 / (partitions * k2s) as i64).max(2);
        let mut changes: BTreeMap<TableBucket, Vec<(ChangeType, Row)>> = BTreeMap::new();
        for _ in 0..ops {
            let row = Row {
                k: rng.range(-key_space / 2, key_space - key_space / 2),
                k2: if shape.composite_key {
                    rng.pick(K2_VALUES).to_string()
                } else {
                    String::new()
                },
                p: if shape.partitioned {
                    rng.pick(PARTITIONS).to_string()
                } else {
                    String::new()
                },
                v: (!rng.chance(0.1)).then(|| rng.range(-50, 50)),
                s: (!rng.chance(0.1)).then(|| format!("{}{}", rng.pick(&["a", "b", "ab", "z"]), rng.range(0, 100))),
                ver: (!rng.chance(0.1)).then(|| rng.range(0, 8)),
            };
            let change = if shape.primary_key {
                match rng.index(20) {
                    0..8 => ChangeType::Insert,
                    8..13 => ChangeType::UpdateAfter,
                    13..16 => ChangeType::UpdateBefore,
                    _ => ChangeType::Delete,
                }
            } else {
                ChangeType::AppendOnly
            };
            changes.entry(shape.bucket_of(&row)).or_default().push((change, row));
        }
        Self { shape, changes }
    }

    /// The end offset of every bucket.
    pub fn end_offsets(&self) -> BTreeMap<TableBucket, i64> {
        self.changes.iter().map(|(b, c)| (b.clone(), c.len() as i64)).collect()
    }
}
