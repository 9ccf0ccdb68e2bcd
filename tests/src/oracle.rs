//! The oracle: a plain model of the table, a map from key to row, applied in offset order.
//!
//! It is written from the merge-engine definitions alone (DESIGN.md, Fluss docs) and
//! shares no code with the engine it checks.

use std::collections::BTreeMap;

use lake_api::{ChangeType, MergeEngine, TableBucket};

use crate::workload::{Row, Workload};

/// Applies one change to a key's state.
pub fn apply(engine: &MergeEngine, state: &mut Option<Row>, change: ChangeType, row: &Row) {
    let retraction = matches!(change, ChangeType::UpdateBefore | ChangeType::Delete);
    match engine {
        MergeEngine::Deduplicate => *state = (!retraction).then(|| row.clone()),
        MergeEngine::FirstRow => {
            if !retraction && state.is_none() {
                *state = Some(row.clone());
            }
        }
        MergeEngine::Versioned { .. } => {
            if retraction {
                return;
            }
            let replace = match state {
                None => true,
                Some(old) => match (row.ver, old.ver) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(new), Some(old)) => new >= old,
                },
            };
            if replace {
                *state = Some(row.clone());
            }
        }
    }
}

/// The table's rows when each bucket's log is applied up to (excluding) `stop[bucket]`
/// (buckets not in `stop` are applied whole), in key order for primary-key tables and
/// offset order (bucket by bucket) for log tables.
pub fn table_at(workload: &Workload, stop: &BTreeMap<TableBucket, i64>) -> Vec<Row> {
    let engine = &workload.shape.engine;
    if !workload.shape.primary_key {
        let mut rows = Vec::new();
        for (bucket, changes) in &workload.changes {
            let n = stop.get(bucket).map_or(changes.len(), |&s| s.max(0) as usize);
            rows.extend(changes.iter().take(n).map(|(_, r)| r.clone()));
        }
        return rows;
    }
    let mut state: BTreeMap<(i64, String, String), Option<Row>> = BTreeMap::new();
    for (bucket, changes) in &workload.changes {
        let n = stop.get(bucket).map_or(changes.len(), |&s| s.max(0) as usize);
        for (change, row) in changes.iter().take(n) {
            apply(engine, state.entry(row.key()).or_default(), *change, row);
        }
    }
    state.into_values().flatten().collect()
}

/// Rows of one bucket (by [`TableShape::bucket_of`](crate::workload::TableShape::bucket_of)).
pub fn rows_of_bucket<'a>(
    workload: &'a Workload,
    rows: &'a [Row],
    bucket: &'a TableBucket,
) -> impl Iterator<Item = &'a Row> {
    rows.iter().filter(move |r| &workload.shape.bucket_of(r) == bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: i64, ver: Option<i64>) -> Row {
        Row {
            k,
            k2: String::new(),
            p: String::new(),
            v: Some(k),
            s: None,
            ver,
        }
    }

    #[test]
    fn engines_follow_their_definitions() {
        use ChangeType::*;
        let dedup = MergeEngine::Deduplicate;
        let mut s = None;
        apply(&dedup, &mut s, Insert, &row(1, None));
        apply(&dedup, &mut s, UpdateBefore, &row(1, None));
        assert_eq!(s, None, "a lone -U removes");
        apply(&dedup, &mut s, UpdateAfter, &row(1, Some(3)));
        assert_eq!(s, Some(row(1, Some(3))));

        let first = MergeEngine::FirstRow;
        let mut s = None;
        apply(&first, &mut s, Delete, &row(1, None));
        apply(&first, &mut s, Insert, &row(1, Some(1)));
        apply(&first, &mut s, Delete, &row(1, None));
        apply(&first, &mut s, Insert, &row(1, Some(2)));
        assert_eq!(s, Some(row(1, Some(1))), "first wins, retractions ignored");

        let versioned = MergeEngine::Versioned { column: "ver".into() };
        let mut s = None;
        apply(&versioned, &mut s, Insert, &row(1, None));
        apply(&versioned, &mut s, Insert, &row(1, None));
        assert_eq!(s, Some(row(1, None)));
        apply(&versioned, &mut s, Insert, &row(1, Some(5)));
        apply(&versioned, &mut s, Insert, &row(1, Some(4)));
        apply(&versioned, &mut s, Delete, &row(1, Some(9)));
        assert_eq!(
            s,
            Some(row(1, Some(5))),
            "largest version; null and retractions never replace"
        );
    }
}
