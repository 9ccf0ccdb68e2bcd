//! Random queries (projection, filters, limit, strategy, budget, as-of offsets, split
//! serialization) and their comparison with the oracle, row for row.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use lake_api::predicate::{Predicate, col};
use lake_api::types::LogicalType;
use lake_api::{MergeStrategy, ReadMode, TableBucket, UnionSplit, UnionSplitKind};

use crate::build::BuiltTable;
use crate::oracle::table_at;
use crate::oracle_filter::selects_all;
use crate::rng::Rng;
use crate::workload::{PARTITIONS, Row, TableShape, Workload, rows_to_batch};

/// One union read to check.
#[derive(Debug, Clone)]
pub struct Query {
    pub columns: Vec<String>,
    pub filters: Vec<Predicate>,
    pub limit: Option<usize>,
    pub strategy: MergeStrategy,
    pub memory_budget: usize,
    pub batch_size: usize,
    pub as_of: Option<BTreeMap<TableBucket, i64>>,
    /// An older lake snapshot to read instead of the latest, with each bucket's tiered
    /// offset in it ([`Layout::older`](crate::build::Layout::older)).
    pub snapshot: Option<(i64, BTreeMap<TableBucket, i64>)>,
    pub mode: ReadMode,
    /// Read through serialized splits on a second scan instead of `to_stream`.
    pub via_serialized_splits: bool,
}

fn random_leaf(rng: &mut Rng, shape: &TableShape) -> Predicate {
    let x = rng.range(-30, 30);
    let mut leaves = vec![
        col("v").gt(x),
        col("v").lt_eq(x),
        col("v").eq(x),
        col("s").is_null(),
        col("s").is_not_null(),
        col("s").starts_with(rng.pick(&["a", "ab", "z"]).to_string()),
        col("k").in_list([rng.range(-10, 10), rng.range(-10, 10), rng.range(-10, 10)]),
        col("k").not_in_list([rng.range(-10, 10)]),
        col("k").lt(rng.range(-20, 20)),
        col("k").eq(rng.range(-10, 10)),
        col("k").gt(rng.range(-20, 20)),
        col("k").gt_eq(rng.range(-20, 20)),
        col("ver").gt_eq(rng.range(0, 8)),
    ];
    if shape.composite_key {
        leaves.push(col("k2").eq("x"));
        leaves.push(col("k2").not_eq("y"));
    }
    if shape.partitioned {
        let mut p = || rng.pick(PARTITIONS).to_string();
        leaves.push(col("p").not_eq(p()));
        leaves.push(col("p").eq(p()));
        leaves.push(col("p").in_list([p(), p()]));
    }
    if shape.blob {
        leaves.push(col("b").is_null());
        leaves.push(col("b").is_not_null());
    }
    leaves.swap_remove(rng.index(leaves.len()))
}

fn random_filter(rng: &mut Rng, shape: &TableShape) -> Predicate {
    match rng.index(20) {
        0..12 => random_leaf(rng, shape),
        12..16 => random_leaf(rng, shape).and(random_leaf(rng, shape)),
        16..19 => random_leaf(rng, shape).or(random_leaf(rng, shape)),
        _ => random_leaf(rng, shape).negate(),
    }
}

impl Query {
    /// A random query of `strategy` against a built table.
    pub fn random(rng: &mut Rng, workload: &Workload, built: &BuiltTable, strategy: MergeStrategy) -> Self {
        let shape = &workload.shape;
        let names = shape.column_names();
        let columns = if rng.chance(0.4) {
            names
        } else if rng.chance(0.1) {
            // no column (a COUNT(*)): a primary-key table still merges by its key
            Vec::new()
        } else {
            let mut cols: Vec<String> = names.into_iter().filter(|_| rng.chance(0.5)).collect();
            if cols.is_empty() {
                cols.push("v".into());
            }
            for i in (1..cols.len()).rev() {
                cols.swap(i, rng.index(i + 1));
            }
            cols
        };
        let filters = (0..rng.index(3)).map(|_| random_filter(rng, shape)).collect();
        let limit = rng.chance(0.2).then(|| rng.index(12));
        let tiered = built.layout.tiered.clone().unwrap_or_default();
        let as_of = rng.chance(0.2).then(|| {
            workload
                .end_offsets()
                .into_iter()
                .map(|(b, end)| {
                    let t = tiered.get(&b).copied().unwrap_or(0);
                    let start = t.max(built.layout.earliest.get(&b).copied().unwrap_or(0));
                    (b, rng.range(start, end + 1))
                })
                .collect()
        });
        let retention = built.layout.earliest.values().any(|&e| e > 0);
        let mode = match rng.index(20) {
            0 => ReadMode::LakeOnly,
            1 if !retention => ReadMode::LogOnly,
            _ => ReadMode::Union,
        };
        Self {
            columns,
            filters,
            limit,
            strategy,
            memory_budget: if rng.chance(0.3) {
                rng.range(1, 4096) as usize
            } else {
                64 << 20
            },
            batch_size: rng.range(1, 64) as usize,
            as_of: if mode == ReadMode::Union { as_of } else { None },
            // drawn only where there is one, so that other tables' queries draw as before;
            // the as-of offsets, at or past the latest's, suit it too
            snapshot: match mode {
                ReadMode::LogOnly => None,
                _ if built.layout.older.is_empty() || !rng.chance(0.4) => None,
                _ => Some(rng.pick(&built.layout.older).clone()),
            },
            mode,
            via_serialized_splits: rng.chance(0.3),
        }
    }

    /// Each bucket's tiered offset in the snapshot the query reads.
    fn tiered(&self, built: &BuiltTable) -> BTreeMap<TableBucket, i64> {
        match &self.snapshot {
            Some((_, tiered)) => tiered.clone(),
            None => built.layout.tiered.clone().unwrap_or_default(),
        }
    }
}

/// Each row of some batches as one string per cell (`NULL` for nulls), in batch order.
pub fn format_rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formattable column"))
            .collect();
        for i in 0..b.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
        }
    }
    rows
}

/// The rows the oracle says the query returns (before the limit).
pub fn expected_rows(workload: &Workload, built: &BuiltTable, query: &Query) -> Vec<Vec<String>> {
    let ends = workload.end_offsets();
    let stop: BTreeMap<TableBucket, i64> = match query.mode {
        ReadMode::LakeOnly => {
            let tiered = query.tiered(built);
            ends.keys()
                .map(|b| (b.clone(), tiered.get(b).copied().unwrap_or(0)))
                .collect()
        }
        ReadMode::LogOnly | ReadMode::Union => match (&query.as_of, query.mode) {
            (Some(as_of), ReadMode::Union) => as_of.clone(),
            _ => ends,
        },
    };
    let rows: Vec<Row> = table_at(workload, &stop)
        .into_iter()
        .filter(|row| selects_all(&query.filters, row))
        .collect();
    projected_rows(&workload.shape, &rows, &query.columns)
}

/// `rows` as text, in the order given, with the columns `columns`.
pub fn projected_rows(shape: &TableShape, rows: &[Row], columns: &[String]) -> Vec<Vec<String>> {
    let batch = rows_to_batch(shape, rows);
    let schema = batch.schema();
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| schema.index_of(c).expect("projected column"))
        .collect();
    format_rows(&[batch.project(&idx).expect("oracle projection")])
}

/// The rows a log-only split of a log table returns, in the order it must return them:
/// each of its ranges' records in offset order, one range after another (filtered and
/// projected as the query asks). `None` for other splits, and where a BLOB column is read
/// (its references compare only once resolved).
fn log_rows_in_order(workload: &Workload, query: &Query, split: &UnionSplit) -> Option<Vec<Vec<String>>> {
    let shape = &workload.shape;
    if shape.primary_key || split.kind != UnionSplitKind::LogOnly || query.columns.iter().any(|c| c == "b") {
        return None;
    }
    let mut rows = Vec::new();
    for range in &split.log_ranges {
        let changes = workload.changes.get(&range.bucket)?;
        let (start, stop) = (usize::try_from(range.start).ok()?, usize::try_from(range.stop).ok()?);
        rows.extend(
            changes
                .get(start..stop)?
                .iter()
                .map(|(_, row)| row.clone())
                .filter(|row| selects_all(&query.filters, row)),
        );
    }
    Some(projected_rows(shape, &rows, &query.columns))
}

/// Runs a query on a built table and compares it with the oracle; the error says how
/// they differ.
pub async fn check(workload: &Workload, built: &BuiltTable, query: &Query) -> Result<(), String> {
    let table = built.union_table().map_err(|e| e.to_string())?;
    let builder = |table: &lake_api::UnionTable| {
        let mut b = table
            .scan()
            .project(query.columns.clone())
            .strategy(query.strategy)
            .memory_budget(query.memory_budget)
            .batch_size(query.batch_size)
            .mode(query.mode)
            .concurrency(2);
        for f in &query.filters {
            b = b.filter(f.clone());
        }
        if let Some(l) = query.limit {
            b = b.limit(l);
        }
        if let Some(a) = &query.as_of {
            b = b.as_of_offsets(a.clone());
        }
        if let Some((id, _)) = &query.snapshot {
            b = b.snapshot(*id);
        }
        b
    };
    let scan = builder(&table).build().await.map_err(|e| format!("build: {e}"))?;
    let splits = scan.plan().await.map_err(|e| format!("plan: {e}"))?;
    check_log_ranges(workload, built, query, &splits)?;
    let (batches, resolver): (Vec<RecordBatch>, _) = if query.via_serialized_splits {
        // a second scan built from the same configuration reads the bytes, as a worker would
        let bytes: Vec<Vec<u8>> = splits.iter().map(UnionSplit::to_bytes).collect();
        let worker = builder(&built.worker_table().map_err(|e| e.to_string())?)
            .build()
            .await
            .map_err(|e| format!("worker build: {e}"))?;
        let mut out = Vec::new();
        let mut left = query.limit;
        let key_ordered = key_ordered(&workload.shape, query);
        for b in bytes {
            let split = UnionSplit::from_bytes(&b).map_err(|e| format!("split bytes: {e}"))?;
            let got: Vec<RecordBatch> = worker
                .read(&split)
                .await
                .map_err(|e| format!("read {split}: {e}"))?
                .try_collect()
                .await
                .map_err(|e| format!("read {split}: {e}"))?;
            if key_ordered {
                check_key_order(&got).map_err(|e| format!("read {split}: {e}"))?;
            }
            // a log table's log rows come in offset order (all of them, or as many as the
            // limit leaves: the first ones)
            if let Some(want) = log_rows_in_order(workload, query, &split) {
                let read = format_rows(&got);
                let whole = query.limit.map_or(want.len(), |l| l.min(want.len()));
                if read.len() != whole || want.get(..whole) != Some(read.as_slice()) {
                    return Err(format!(
                        "read {split}: log rows out of offset order, or not all of them\n{}",
                        diff(&want, &read)
                    ));
                }
            }
            // a split read on its own keeps the scan's limit: the rows past it are trimmed
            // below only to total the limit over the splits
            let rows: usize = got.iter().map(RecordBatch::num_rows).sum();
            if let Some(limit) = query.limit
                && rows > limit
            {
                return Err(format!("read {split}: {rows} rows past the limit {limit}"));
            }
            for g in got {
                match &mut left {
                    Some(0) => break,
                    Some(l) if g.num_rows() > *l => {
                        out.push(g.slice(0, *l));
                        *l = 0;
                    }
                    Some(l) => {
                        *l -= g.num_rows();
                        out.push(g);
                    }
                    None => out.push(g),
                }
            }
        }
        (out, worker.blob_resolver())
    } else {
        let batches = scan
            .to_stream()
            .await
            .map_err(|e| format!("to_stream: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("read: {e}"))?;
        (batches, scan.blob_resolver())
    };
    // the scan's columns are the ones asked for, of the table's types (a BLOB's type is
    // its read mode's)
    let table_schema = workload.shape.schema();
    let read_schema = scan.schema();
    let names: Vec<&String> = read_schema.fields().iter().map(|f| f.name()).collect();
    if names.iter().copied().ne(query.columns.iter()) {
        return Err(format!("the scan's columns are {names:?}, not {:?}", query.columns));
    }
    for f in read_schema.fields() {
        let want = table_schema.field_with_name(f.name()).map_err(|e| e.to_string())?;
        if LogicalType::of(want) == LogicalType::Blob {
            continue;
        }
        if f.data_type() != want.data_type() {
            return Err(format!(
                "column {} is read as {}, the table's is {}",
                f.name(),
                f.data_type(),
                want.data_type()
            ));
        }
    }
    for b in &batches {
        if b.schema() != scan.schema() {
            return Err(format!(
                "batch schema {:?} is not the scan's {:?}",
                b.schema(),
                scan.schema()
            ));
        }
    }
    // references (the default) compare by the bytes they lead to
    let batches = match resolver {
        Some(resolver) => payloads(batches, scan.schema(), resolver).await?,
        None => batches,
    };
    let mut actual = format_rows(&batches);
    let mut expected = expected_rows(workload, built, query);
    actual.sort();
    expected.sort();
    match query.limit {
        None => {
            if actual != expected {
                return Err(diff(&expected, &actual));
            }
        }
        Some(limit) => {
            if actual.len() != limit.min(expected.len()) {
                return Err(format!(
                    "limit {limit}: got {} rows, expected {}\n{}",
                    actual.len(),
                    limit.min(expected.len()),
                    diff(&expected, &actual)
                ));
            }
            let mut pool = expected.clone();
            for row in &actual {
                match pool.iter().position(|r| r == row) {
                    Some(i) => {
                        pool.swap_remove(i);
                    }
                    None => {
                        return Err(format!(
                            "limit {limit}: row {row:?} is not in the table\n{}",
                            diff(&expected, &actual)
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Fails unless every log range the plan reads holds exactly the offsets the query's mode
/// reads of its bucket: from the tiered offset (or the log's earliest, where the lake has
/// none of the bucket) to the as-of offset or the log's end in a union read, the whole log
/// in a log-only read, nothing in a lake-only read. A range starting low would replay
/// changes the lake holds, which primary-key merges hide; one starting high loses some.
/// (A bucket may be left out where a filter prunes it, so only the ranges planned are held
/// to this.)
fn check_log_ranges(
    workload: &Workload,
    built: &BuiltTable,
    query: &Query,
    splits: &[UnionSplit],
) -> Result<(), String> {
    let ends = workload.end_offsets();
    let tiered = query.tiered(built);
    for range in splits.iter().flat_map(|s| &s.log_ranges).filter(|r| !r.is_empty()) {
        let b = &range.bucket;
        let earliest = built.layout.earliest.get(b).copied().unwrap_or(0);
        let end = ends.get(b).copied().unwrap_or(0);
        let want = match query.mode {
            ReadMode::LakeOnly => None,
            ReadMode::LogOnly => Some((earliest, end)),
            ReadMode::Union => {
                let stop = query.as_of.as_ref().and_then(|a| a.get(b)).copied().unwrap_or(end);
                Some((tiered.get(b).copied().unwrap_or(0).max(earliest), stop))
            }
        };
        if want != Some((range.start, range.stop)) {
            return Err(format!(
                "{:?} read: the plan reads {b} at [{}, {}), expected {}",
                query.mode,
                range.start,
                range.stop,
                match want {
                    Some((start, stop)) => format!("[{start}, {stop})"),
                    None => "nothing".to_string(),
                }
            ));
        }
    }
    Ok(())
}

/// Whether each split of `query` returns its rows in primary-key order, which a reader can
/// see: a sort-merge union read of a primary-key table that projects the whole key.
fn key_ordered(shape: &TableShape, query: &Query) -> bool {
    let projected = |c: &str| query.columns.iter().any(|p| p == c);
    shape.primary_key
        && query.strategy == MergeStrategy::SortMerge
        && query.mode == ReadMode::Union
        && projected("k")
        && (!shape.composite_key || projected("k2"))
        && (!shape.partitioned || projected("p"))
}

/// Fails unless the rows of `batches` (one split's) ascend strictly by the primary key
/// `(k, k2, p)`, compared as values (a missing `k2` or `p` column compares equal).
fn check_key_order(batches: &[RecordBatch]) -> Result<(), String> {
    use arrow::array::{Array, AsArray, StringArray};
    use arrow::datatypes::Int64Type;
    let mut previous: Option<(i64, String, String)> = None;
    for b in batches {
        let k = b
            .column_by_name("k")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or("no BIGINT column k")?;
        let strings = |name: &str| -> Result<Option<&StringArray>, String> {
            b.column_by_name(name)
                .map(|c| c.as_string_opt::<i32>().ok_or(format!("column {name} is not a string")))
                .transpose()
        };
        let (k2, p) = (strings("k2")?, strings("p")?);
        let text = |c: Option<&StringArray>, i: usize| match c {
            Some(c) if !c.is_null(i) => c.value(i).to_string(),
            _ => String::new(),
        };
        for i in 0..b.num_rows() {
            let key = (k.value(i), text(k2, i), text(p, i));
            if let Some(p) = &previous
                && *p >= key
            {
                return Err(format!("the sort-merge returned key {key:?} after {p:?}"));
            }
            previous = Some(key);
        }
    }
    Ok(())
}

/// `batches` with their BLOB reference columns resolved through `resolver`; a reference
/// that does not resolve is a failure.
pub async fn payloads(
    batches: Vec<RecordBatch>,
    schema: arrow::datatypes::SchemaRef,
    resolver: std::sync::Arc<dyn lake_api::BlobResolver>,
) -> Result<Vec<RecordBatch>, String> {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| lake_api::types::LogicalType::of(f) == lake_api::types::LogicalType::BlobRef)
        .map(|f| f.name().clone())
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let stream = lake_api::RecordBatchStream::from_batches(schema, batches);
    let (resolved, errors) = lake_sink::resolve_blobs(stream, resolver, &columns, lake_sink::ResolveOptions::default())
        .map_err(|e| format!("resolve: {e}"))?;
    let batches: Vec<RecordBatch> = resolved.try_collect().await.map_err(|e| format!("resolve: {e}"))?;
    match errors.take().first() {
        Some(e) => Err(format!("a BLOB reference did not resolve: {e:?}")),
        None => Ok(batches),
    }
}

fn diff(expected: &[Vec<String>], actual: &[Vec<String>]) -> String {
    let missing: Vec<_> = expected.iter().filter(|r| !actual.contains(r)).collect();
    let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).collect();
    format!(
        "expected {} rows, got {}\nmissing: {missing:?}\nunexpected: {extra:?}",
        expected.len(),
        actual.len()
    )
}

/// Generates a workload in a [`LocalLog`](fluss_client::local::LocalLog), tiers it, queries
/// and checks one case from a seed.
pub async fn run_local_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let workload = Workload::random(&mut rng, ops);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let built = crate::local::build_local(&mut rng, &workload, dir.path())
        .await
        .map_err(|e| format!("build: {e}"))?;
    let query = Query::random(&mut rng, &workload, &built, strategy);
    check_case(&workload, &built, &query).await
}

/// Generates, builds, queries and checks one case from a seed.
pub async fn run_case(seed: u64, ops: usize, strategy: MergeStrategy) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let workload = Workload::random(&mut rng, ops);
    let built = crate::build::build(&mut rng, &workload).map_err(|e| format!("build: {e}"))?;
    let query = Query::random(&mut rng, &workload, &built, strategy);
    check_case(&workload, &built, &query).await
}

/// A case count from the environment variable `var` (a suite's knob, such as
/// `LAKEUNION_PAIMON_CASES`), else `default`.
pub fn case_count(var: &str, default: u32) -> u32 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Generates a workload, builds it with `build` in a temporary directory (a log tiered
/// into some lake), and checks three queries of it from a seed.
pub async fn run_tiered_case(
    seed: u64,
    ops: usize,
    strategy: MergeStrategy,
    workload: impl FnOnce(&mut Rng, usize) -> Workload,
    build: impl AsyncFnOnce(&mut Rng, &Workload, &std::path::Path) -> Result<BuiltTable, String>,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let workload = workload(&mut rng, ops);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let built = build(&mut rng, &workload, dir.path())
        .await
        .map_err(|e| format!("build: {e}\nshape: {:?}", workload.shape))?;
    // building the lake is the cost: read it three ways, one of them the lake alone (in
    // a union read the log's changes hide lake rows they replace, wrong or not)
    let mut queries: Vec<Query> = (0..2)
        .map(|_| Query::random(&mut rng, &workload, &built, strategy))
        .collect();
    let mut lake_only = Query::random(&mut rng, &workload, &built, strategy);
    (lake_only.mode, lake_only.as_of) = (ReadMode::LakeOnly, None);
    queries.push(lake_only);
    for query in &queries {
        check_case(&workload, &built, query).await?;
    }
    Ok(())
}

/// [`check`], its failure with what reproduces it: the table's shape and layout, and the
/// query.
async fn check_case(workload: &Workload, built: &BuiltTable, query: &Query) -> Result<(), String> {
    check(workload, built, query).await.map_err(|e| {
        format!(
            "{e}\nshape: {:?}\nlayout: {:?}\nquery: {query:?}",
            workload.shape, built.layout
        )
    })
}
