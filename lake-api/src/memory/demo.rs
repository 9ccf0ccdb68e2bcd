//! The embedded demo table: a partitioned primary-key table with two buckets, a BLOB (a
//! small PNG photo) and a VECTOR column, half tiered into the lake, with updates and
//! deletes waiting in the log.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::types::Float32Type;
use arrow_array::{ArrayRef, FixedSizeListArray, Float64Array, Int64Array, LargeBinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::{MemoryLake, MemoryLog, tier};
use crate::error::Result;
use crate::lake::LakeStorage;
use crate::log::{ChangeType, LogSource};
use crate::table::{TableBucket, TableInfo, TablePath};
use crate::types::{blob_field, vector_field};

/// The demo photos: 8x8 one-colour PNGs.
const PHOTOS: [&[u8]; 3] = [
    include_bytes!("demo/red.png"),
    include_bytes!("demo/green.png"),
    include_bytes!("demo/blue.png"),
];

/// The embedding dimension of the demo table.
const DIMENSION: i32 = 3;

/// The demo table's path.
pub const DEMO_TABLE: &str = "demo.orders";

/// The demo table: `orders(id, region, customer, amount, photo BLOB, embedding
/// VECTOR<FLOAT, 3>)`, primary key `(id, region)`, partitioned by `region`, two buckets by
/// `id`.
pub fn demo_info() -> TableInfo {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        blob_field("photo", true),
        vector_field("embedding", DataType::Float32, DIMENSION, true),
    ]));
    let mut info = TableInfo::primary_key_table(
        TablePath::new("demo", "orders"),
        schema,
        vec!["id".into(), "region".into()],
        2,
    )
    .with_partition_keys(vec!["region".into()]);
    info.bucket_key = vec!["id".into()];
    info
}

fn region(id: i64) -> &'static str {
    if id % 3 == 0 { "eu" } else { "us" }
}

fn bucket_of(id: i64) -> TableBucket {
    TableBucket::partitioned(vec![region(id).to_string()], (id % 2) as u32)
}

/// A deterministic embedding per order: `[id / 10, amount / 100, region]`.
fn embeddings(rows: impl Iterator<Item = (i64, f64)>, field: &Field) -> Result<FixedSizeListArray> {
    let DataType::FixedSizeList(item, n) = field.data_type() else {
        return Err(crate::Error::schema(format!("{} is not a vector column", field.name())));
    };
    let values: Vec<Option<Vec<Option<f32>>>> = rows
        .map(|(id, amount)| {
            let region = if region(id) == "eu" { 1.0 } else { 0.0 };
            Some(vec![
                Some(id as f32 / 10.0),
                Some((amount / 100.0) as f32),
                Some(region),
            ])
        })
        .collect();
    let (_, _, values, nulls) = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(values, *n).into_parts();
    Ok(FixedSizeListArray::try_new(item.clone(), *n, values, nulls)?)
}

/// A round of demo changes: per bucket, one batch and its change types.
pub type DemoRound = Vec<(TableBucket, RecordBatch, Vec<ChangeType>)>;

fn round(rows: &[(ChangeType, i64, &str, f64)]) -> Result<DemoRound> {
    // one batch per bucket, in the order given
    let mut by_bucket: BTreeMap<TableBucket, Vec<(ChangeType, i64, &str, f64)>> = BTreeMap::new();
    for r in rows {
        by_bucket.entry(bucket_of(r.1)).or_default().push(*r);
    }
    let schema = demo_info().schema;
    let mut out = Vec::new();
    for (bucket, rows) in by_bucket {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| region(r.1)))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(LargeBinaryArray::from_iter_values(
                rows.iter()
                    .map(|r| PHOTOS[r.1.rem_euclid(PHOTOS.len() as i64) as usize]),
            )),
            Arc::new(embeddings(rows.iter().map(|r| (r.1, r.3)), schema.field(5))?),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        out.push((bucket, batch, rows.iter().map(|r| r.0).collect()));
    }
    Ok(out)
}

/// The demo's changes in two rounds: eight orders (tiered into the lake), then two
/// updates, a delete and two new orders (left in the log).
pub fn demo_rounds() -> Result<(DemoRound, DemoRound)> {
    use ChangeType::*;
    let tiered = round(&[
        (Insert, 1, "ada", 12.5),
        (Insert, 2, "grace", 80.0),
        (Insert, 3, "alan", 7.25),
        (Insert, 4, "edsger", 19.0),
        (Insert, 5, "barbara", 45.5),
        (Insert, 6, "donald", 3.0),
        (Insert, 7, "ken", 64.0),
        (Insert, 8, "dennis", 27.75),
    ])?;
    let tail = round(&[
        (UpdateBefore, 2, "grace", 80.0),
        (UpdateAfter, 2, "grace", 95.0),
        (Delete, 3, "alan", 7.25),
        (Insert, 9, "margaret", 120.0),
        (UpdateBefore, 5, "barbara", 45.5),
        (UpdateAfter, 5, "barbara", 50.0),
        (Insert, 10, "linus", 8.5),
    ])?;
    Ok((tiered, tail))
}

/// Builds the demo table in memory: the first round written to the log and tiered into
/// the lake, the second left in the log.
pub async fn demo_table() -> Result<(Arc<dyn LogSource>, Arc<dyn LakeStorage>)> {
    let (log, lake) = demo_memory_table().await?;
    Ok((Arc::new(log), Arc::new(lake)))
}

/// [`demo_table`] as the in-memory log and lake themselves (to commit more snapshots to,
/// say).
pub async fn demo_memory_table() -> Result<(MemoryLog, MemoryLake)> {
    let log = MemoryLog::new(demo_info())?;
    let lake = MemoryLake::new();
    let (tiered, tail) = demo_rounds()?;
    for (bucket, batch, changes) in tiered {
        log.append(&bucket, batch, changes)?;
    }
    tier(&log, &lake, None).await?;
    for (bucket, batch, changes) in tail {
        log.append(&bucket, batch, changes)?;
    }
    Ok((log, lake))
}
