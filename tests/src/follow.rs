//! Followed scans against the oracle: a table is built from a prefix of a workload's
//! changelog (its log, and a lake tiered at random points of it), followed, and then sent
//! the rest. The changelog the scan emits, replayed into an empty table, must be the
//! oracle's table after the whole workload; its first part (the bounded read) must be all
//! inserts (`+A` for a log table), and every later change must come as the log recorded it
//! (each key's changes in their order, kinds included). Changes past the expected count
//! are not waited for: one more would go unseen. Some partitions of a partitioned table
//! come only after the scan started: the scan must find them and tail them from their
//! first offset.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lake_api::memory::{MemoryLake, MemoryLog, tier};
use lake_api::predicate::{Predicate, col};
use lake_api::{BlobMode, ChangeType, MergeEngine, MergeStrategy, TableBucket, UnionTable};

use crate::build::{append_in_batches, build_log};
use crate::check::{format_rows, projected_rows};
use crate::oracle::table_at;
use crate::oracle_filter::selects_all;
use crate::rng::Rng;
use crate::workload::{Row, Workload};

/// How long a followed scan may take to emit its next batch before the case fails.
const NEXT_BATCH: Duration = Duration::from_secs(10);

/// Builds a table from a random prefix of a random workload, follows it, appends the rest
/// and checks the changelog (see the module docs).
pub async fn run_follow_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut workload = Workload::random(&mut rng, ops);
    // only deduplicate tables (and log tables) can be followed
    workload.shape.engine = MergeEngine::Deduplicate;
    // partitions created after the scan started: none of their changes is in the prefix,
    // and the log does not know them until the rest is appended
    let late: BTreeSet<Vec<String>> = workload
        .changes
        .keys()
        .filter(|b| !b.partition.is_empty())
        .map(|b| b.partition.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|_| rng.chance(0.3))
        .collect();
    let cuts: BTreeMap<TableBucket, usize> = workload
        .changes
        .iter()
        .map(|(b, c)| {
            let cut = if late.contains(&b.partition) {
                0
            } else {
                rng.index(c.len() + 1)
            };
            (b.clone(), cut)
        })
        .collect();
    let prefix = Workload {
        shape: workload.shape.clone(),
        changes: workload
            .changes
            .iter()
            .filter(|(b, _)| !late.contains(&b.partition))
            .map(|(b, c)| (b.clone(), c[..cuts[b]].to_vec()))
            .collect(),
    };
    let log = build_log(&mut rng, &prefix).map_err(|e| format!("log: {e}"))?;
    let lake = Arc::new(MemoryLake::new());
    if rng.chance(0.7) {
        let up_to: BTreeMap<TableBucket, i64> = cuts
            .iter()
            .filter(|(b, _)| !late.contains(&b.partition))
            .map(|(b, &cut)| (b.clone(), rng.range(0, cut as i64 + 1)))
            .collect();
        tier(&log, lake.as_ref(), Some(&up_to))
            .await
            .map_err(|e| format!("tier: {e}"))?;
    }
    let filter: Option<Predicate> = rng.chance(0.3).then(|| col("k").gt(rng.range(-10, 10)));
    let result = follow_and_check(&mut rng, &workload, &prefix, &cuts, log, lake, strategy, filter.clone()).await;
    result.map_err(|e| {
        format!(
            "{e}\nshape: {:?}\ncuts: {cuts:?}\npartitions created later: {late:?}\nfilter: {filter:?}",
            workload.shape
        )
    })
}

#[allow(clippy::too_many_arguments)]
async fn follow_and_check(
    rng: &mut Rng,
    workload: &Workload,
    prefix: &Workload,
    cuts: &BTreeMap<TableBucket, usize>,
    log: MemoryLog,
    lake: Arc<MemoryLake>,
    strategy: MergeStrategy,
    filter: Option<Predicate>,
) -> Result<(), String> {
    let shape = &workload.shape;
    let table = UnionTable::new(shape.info(), Arc::new(log.clone()), Some(lake)).map_err(|e| e.to_string())?;
    let mut builder = table
        .scan()
        .strategy(strategy)
        .batch_size(rng.range(1, 16) as usize)
        .follow_discovery(Some(Duration::from_millis(rng.range(1, 20) as u64)))
        .blobs(BlobMode::Payloads);
    if let Some(f) = &filter {
        builder = builder.filter(f.clone());
    }
    let scan = builder.build().await.map_err(|e| format!("build: {e}"))?;
    let mut changes = scan.follow().await.map_err(|e| format!("follow: {e}"))?;

    // the rest of the changelog, after the scan pinned its ends; what the tail must emit:
    // each change the filter selects, as recorded (values and kind), in offset order
    let columns = shape.column_names();
    let mut want_tail: Vec<Vec<String>> = Vec::new();
    for (bucket, all) in &workload.changes {
        let rest = &all[cuts[bucket]..];
        append_in_batches(rng, &log, shape, bucket, rest, 5).map_err(|e| format!("append: {e}"))?;
        let selected: Vec<&(ChangeType, Row)> = rest
            .iter()
            .filter(|(_, row)| {
                filter
                    .as_ref()
                    .is_none_or(|f| selects_all(std::slice::from_ref(f), row))
            })
            .collect();
        let rows: Vec<Row> = selected.iter().map(|(_, r)| r.clone()).collect();
        for (mut row, (kind, _)) in projected_rows(shape, &rows, &columns).into_iter().zip(&selected) {
            row.push(kind.short_string().to_string());
            want_tail.push(row);
        }
    }
    let tail_changes = want_tail.len();

    let selected = |w: &Workload| -> Vec<Row> {
        table_at(w, &BTreeMap::new())
            .into_iter()
            .filter(|row| {
                filter
                    .as_ref()
                    .is_none_or(|f| selects_all(std::slice::from_ref(f), row))
            })
            .collect()
    };
    let bounded_rows = selected(prefix).len();
    let want_rows = bounded_rows + tail_changes;
    let mut got: Vec<Vec<String>> = Vec::with_capacity(want_rows);
    while got.len() < want_rows {
        let next = tokio::time::timeout(NEXT_BATCH, changes.next())
            .await
            .map_err(|_| format!("{} of {want_rows} changes within {NEXT_BATCH:?}", got.len()))?;
        let batch = next
            .ok_or_else(|| format!("the followed scan ended after {} of {want_rows} changes", got.len()))?
            .map_err(|e| format!("follow: {e}"))?;
        got.extend(format_rows(&[batch]));
    }
    if got.len() != want_rows {
        return Err(format!("{} changes, {want_rows} expected", got.len()));
    }

    // the bounded read: every row of the prefix's table, as an insert
    let snapshot_change = if shape.primary_key { "+I" } else { "+A" };
    let (bounded, tail) = got.split_at(bounded_rows);
    if let Some(row) = bounded
        .iter()
        .find(|r| r.last().map(String::as_str) != Some(snapshot_change))
    {
        return Err(format!("the bounded read emitted {row:?}, not a {snapshot_change}"));
    }
    let strip = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = rows.iter().map(|r| r[..r.len() - 1].to_vec()).collect();
        rows.sort();
        rows
    };
    let mut want_bounded = projected_rows(shape, &selected(prefix), &columns);
    want_bounded.sort();
    if strip(bounded) != want_bounded {
        return Err(format!(
            "the bounded read differs from the prefix's table:\nwant {want_bounded:?}\ngot  {:?}",
            strip(bounded)
        ));
    }

    // the tail: each key's changes as recorded, in their order (a key lives in one
    // bucket; buckets interleave), or for a log table the rows appended
    let key_of = |row: &[String]| -> Vec<String> {
        ["k", "k2", "p"]
            .iter()
            .filter_map(|c| columns.iter().position(|n| n == c))
            .map(|i| row[i].clone())
            .collect()
    };
    let per_key = |rows: &[Vec<String>]| -> BTreeMap<Vec<String>, Vec<Vec<String>>> {
        let mut by_key: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
        for row in rows {
            let key = if shape.primary_key { key_of(row) } else { Vec::new() };
            by_key.entry(key).or_default().push(row.clone());
        }
        if !shape.primary_key {
            by_key.values_mut().for_each(|rows| rows.sort());
        }
        by_key
    };
    if per_key(tail) != per_key(&want_tail) {
        return Err(format!(
            "the tail differs from the changes recorded:\nwant {want_tail:?}\ngot  {tail:?}"
        ));
    }

    // replayed, the whole changelog is the whole workload's table
    let mut replayed: Vec<Vec<String>> = Vec::new();
    let mut by_key: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for row in bounded.iter().chain(tail) {
        let (values, change) = row.split_at(row.len() - 1);
        match (shape.primary_key, change[0].as_str()) {
            (false, "+A") => replayed.push(values.to_vec()),
            (true, "+I" | "+U") => {
                by_key.insert(key_of(values), values.to_vec());
            }
            (true, "-U" | "-D") => {
                by_key.remove(&key_of(values));
            }
            (_, other) => return Err(format!("change {other} in the changelog of this table: {row:?}")),
        }
    }
    replayed.extend(by_key.into_values());
    replayed.sort();
    let mut want = projected_rows(shape, &selected(workload), &columns);
    want.sort();
    if replayed != want {
        return Err(format!(
            "the replayed changelog differs from the table:\nwant {want:?}\ngot  {replayed:?}"
        ));
    }
    Ok(())
}
