//! Table builders: turn a workload into a log plus a lake snapshot tiered at random
//! points, with the lake laid out in random files (sorted or not, key ranges overlapping).
//!
//! The lake's content comes from the oracle at the tiering offsets, not from the engine,
//! so the union read is checked against an independent truth.

use std::collections::BTreeMap;
use std::sync::Arc;

use lake_api::memory::{MemoryFile, MemoryLake, MemoryLakeOptions, MemoryLog};
use lake_api::{ChangeType, LakeSnapshot, LakeStorage, LogSource, Result, TableBucket, TableInfo};

use crate::oracle::{rows_of_bucket, table_at};
use crate::rng::Rng;
use crate::workload::{Row, TableShape, Workload, rows_to_batch};

/// How a workload was laid out.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The tiered offset of each bucket in the snapshot (absent: no snapshot).
    pub tiered: Option<BTreeMap<TableBucket, i64>>,
    /// Older snapshots of the lake, oldest first: each one's id and the offset each
    /// bucket was tiered to in it. A query may read one instead of the latest.
    pub older: Vec<(i64, BTreeMap<TableBucket, i64>)>,
    /// Buckets whose log was truncated (retention) below their tiered offset.
    pub earliest: BTreeMap<TableBucket, i64>,
    /// The memory lake's options (`None`: another lake format).
    pub lake_options: Option<MemoryLakeOptions>,
}

/// A built table: its log, its lake and the snapshot to read.
#[derive(Clone)]
pub struct BuiltTable {
    pub info: TableInfo,
    pub log: Arc<dyn LogSource>,
    pub lake: Arc<dyn LakeStorage>,
    /// The lake as a remote worker opens it, from configuration alone (for a memory lake,
    /// the same one).
    pub worker_lake: Arc<dyn LakeStorage>,
    pub snapshot: Option<LakeSnapshot>,
    pub layout: Layout,
}

/// Appends a workload's changes to a new memory log in random batch sizes.
pub fn build_log(rng: &mut Rng, workload: &Workload) -> Result<MemoryLog> {
    let info = workload.shape.info();
    let log = MemoryLog::new(info)?;
    for (bucket, changes) in &workload.changes {
        log.ensure_bucket(bucket)?;
        append_in_batches(rng, &log, &workload.shape, bucket, changes, 8)?;
    }
    Ok(log)
}

/// Appends `changes` to `bucket` of `log` in batches of 1 to `most` of them.
pub fn append_in_batches(
    rng: &mut Rng,
    log: &MemoryLog,
    shape: &TableShape,
    bucket: &TableBucket,
    changes: &[(ChangeType, Row)],
    most: i64,
) -> Result<()> {
    let mut i = 0;
    while i < changes.len() {
        let n = (rng.range(1, most + 1) as usize).min(changes.len() - i);
        let chunk = &changes[i..i + n];
        let rows: Vec<Row> = chunk.iter().map(|(_, r)| r.clone()).collect();
        let kinds = chunk.iter().map(|(c, _)| *c).collect();
        log.append(bucket, rows_to_batch(shape, &rows), kinds)?;
        i += n;
    }
    Ok(())
}

/// Splits rows into 1..=4 files, each sorted by key or shuffled, in batches of 1..=7 rows.
/// A primary-key table's rows go to files at random (key ranges overlap), or by key range
/// (as a table whose keys grow with time leaves them), sometimes with a few rows swapped
/// between neighbouring files so that the ranges meet somewhere in the middle.
fn lay_out_files(
    rng: &mut Rng,
    workload: &Workload,
    rows: Vec<&Row>,
    partition: &[String],
    bucket: Option<u32>,
) -> Vec<MemoryFile> {
    let shape = &workload.shape;
    let n_files = rng.range(1, 5) as usize;
    let mut files: Vec<Vec<Row>> = vec![Vec::new(); n_files];
    let by_range = shape.primary_key && rng.chance(0.4);
    if shape.primary_key && !by_range {
        for r in rows {
            files[rng.index(n_files)].push(r.clone());
        }
    } else {
        // key ranges: the rows sorted, then cut into consecutive chunks (log tables keep
        // offset order inside a file)
        let mut rows = rows;
        if by_range {
            rows.sort_by_key(|r| r.key());
        }
        let per = rows.len().div_ceil(n_files).max(1);
        for (i, r) in rows.into_iter().enumerate() {
            files[i / per].push(r.clone());
        }
        // a few rows swapped across neighbouring ranges, so that some ranges meet
        if by_range && n_files > 1 && rng.chance(0.5) {
            for _ in 0..rng.range(1, 3) {
                let f = rng.index(n_files - 1);
                if !files[f].is_empty() && !files[f + 1].is_empty() {
                    let (i, j) = (rng.index(files[f].len()), rng.index(files[f + 1].len()));
                    let (left, right) = files.split_at_mut(f + 1);
                    std::mem::swap(&mut left[f][i], &mut right[0][j]);
                }
            }
        }
    }
    let mut out = Vec::new();
    for mut rows in files.into_iter().filter(|f| !f.is_empty()) {
        let sorted = shape.primary_key && rng.chance(if by_range { 0.85 } else { 0.6 });
        if sorted {
            rows.sort_by_key(|r| r.key());
        } else if shape.primary_key {
            for i in (1..rows.len()).rev() {
                rows.swap(i, rng.index(i + 1));
            }
        }
        let mut batches = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let n = (rng.range(1, 8) as usize).min(rows.len() - i);
            batches.push(rows_to_batch(shape, &rows[i..i + n]));
            i += n;
        }
        out.push(MemoryFile {
            partition: partition.to_vec(),
            bucket,
            batches,
            sorted,
        });
    }
    out
}

/// Builds a workload's log and (usually) a lake snapshot tiered at random offsets, with
/// random retention below them.
pub fn build(rng: &mut Rng, workload: &Workload) -> Result<BuiltTable> {
    let info = workload.shape.info();
    let log = build_log(rng, workload)?;
    let lake_options = MemoryLakeOptions {
        accept_filters: rng.chance(0.5),
        bucket_aware: rng.chance(0.7),
    };
    let lake = MemoryLake::with_options(lake_options);
    lake.create_table(&info)?;
    let mut layout = Layout {
        tiered: None,
        older: Vec::new(),
        earliest: BTreeMap::new(),
        lake_options: Some(lake_options),
    };
    let mut snapshot = None;
    if rng.chance(0.85) {
        let tiered: BTreeMap<TableBucket, i64> = workload
            .changes
            .iter()
            .map(|(b, c)| {
                let end = c.len() as i64;
                let t = match rng.index(4) {
                    0 => 0,
                    1 => end,
                    _ => rng.range(0, end + 1),
                };
                (b.clone(), t)
            })
            .collect();
        let lake_rows = table_at(workload, &tiered);
        let mut files = Vec::new();
        for bucket in tiered.keys() {
            let rows: Vec<&Row> = rows_of_bucket(workload, &lake_rows, bucket).collect();
            if rows.is_empty() {
                continue;
            }
            let b = lake_options.bucket_aware.then_some(bucket.bucket);
            files.extend(lay_out_files(rng, workload, rows, &bucket.partition, b));
        }
        // files of a snapshot come in no particular order
        for i in (1..files.len()).rev() {
            files.swap(i, rng.index(i + 1));
        }
        let s = lake.commit_files(&info.path, files, BTreeMap::new())?;
        // a bucket the round tiered nothing of may be missing from its offsets: read from
        // the log's start (its earliest offset), as a bucket at offset 0 is
        let leave_out_empty = rng.chance(0.3);
        let recorded = tiered
            .iter()
            .filter(|&(_, &t)| t > 0 || !leave_out_empty)
            .map(|(b, &t)| (b.clone(), t))
            .collect();
        log.record_tiered_offsets(s.id, recorded)?;
        if rng.chance(0.3) {
            for (bucket, &t) in &tiered {
                let e = rng.range(0, t + 1);
                log.truncate_before(bucket, e)?;
                layout.earliest.insert(bucket.clone(), e);
            }
        }
        layout.tiered = Some(tiered);
        snapshot = Some(s);
    }
    Ok(BuiltTable {
        info,
        log: Arc::new(log),
        lake: Arc::new(lake.clone()),
        worker_lake: Arc::new(lake),
        snapshot,
        layout,
    })
}

impl BuiltTable {
    /// The union table over this log and lake.
    pub fn union_table(&self) -> Result<lake_api::UnionTable> {
        lake_api::UnionTable::new(self.info.clone(), self.log.clone(), Some(self.lake.clone()))
    }

    /// The union table a worker builds from configuration: the same log, the worker's lake.
    pub fn worker_table(&self) -> Result<lake_api::UnionTable> {
        lake_api::UnionTable::new(self.info.clone(), self.log.clone(), Some(self.worker_lake.clone()))
    }
}
