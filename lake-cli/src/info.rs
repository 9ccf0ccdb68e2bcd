//! `schema`, `explain` (alias `splits`) and `stats`.

use std::fmt::Write as _;

use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};

use lake_api::{
    LakeStorage, LogSource, MergeStrategy, ReadMode, ScanOptions, SplitStats, TableBucket, TableInfo, UnionSplit,
    UnionSplitKind, latest_tiered_offsets,
};

use crate::failure::CliResult;
use crate::progress::{self, Progress};
use crate::render;
use crate::scan::{ReadArgs, build_scan};
use crate::table::{self, TableArgs};

const NO_LAKE: &str = "none (give --lake iceberg --warehouse DIR to read one)";

/// The lake side of `stats`: each split's figures and where it belongs, and the offsets
/// the snapshot tiered.
struct LakeSide {
    /// Partition, bucket and figures (`None`: the backend reports none) of each split.
    per_split: Vec<(Vec<String>, Option<u32>, Option<SplitStats>)>,
    tiered: BTreeMap<TableBucket, i64>,
    /// Rows stored per bucket, where the lake keeps buckets (see [`LakeSide::rows_of`]).
    rows: Option<BTreeMap<TableBucket, Option<u64>>>,
}

impl LakeSide {
    fn new(per_split: Vec<(Vec<String>, Option<u32>, Option<SplitStats>)>, tiered: BTreeMap<TableBucket, i64>) -> Self {
        let rows = per_split.iter().all(|s| s.1.is_some()).then(|| bucket_rows(&per_split));
        Self {
            per_split,
            tiered,
            rows,
        }
    }

    /// Rows stored for a bucket, when every split of it says (and the lake keeps buckets),
    /// and none of them holds rows of other buckets too (a Lance fragment that keeps
    /// several buckets' rows is shared by their splits).
    fn rows_of(&self, bucket: &TableBucket) -> Option<u64> {
        self.rows.as_ref()?.get(bucket).copied().unwrap_or(Some(0))
    }

    /// The figures of every split, files that several splits read counted once.
    fn total(&self) -> SplitStats {
        SplitStats::total(self.per_split.iter().filter_map(|s| s.2.as_ref()))
    }
}

/// [`LakeSide::rows_of`] for every bucket the splits name: each split's own rows, and
/// the rows of each shared group it reads, counted once per bucket; unknown where a group
/// holding rows is read by several buckets' splits.
fn bucket_rows(per_split: &[(Vec<String>, Option<u32>, Option<SplitStats>)]) -> BTreeMap<TableBucket, Option<u64>> {
    let mut rows: BTreeMap<TableBucket, Option<u64>> = BTreeMap::new();
    // per bucket, the shared groups holding rows it reads; per group, the buckets reading it
    let mut groups: BTreeMap<TableBucket, BTreeMap<&str, Option<u64>>> = BTreeMap::new();
    let mut readers: BTreeMap<&str, BTreeSet<TableBucket>> = BTreeMap::new();
    for (partition, bucket, stats) in per_split {
        let Some(bucket) = bucket else { continue };
        let bucket = TableBucket::partitioned(partition.clone(), *bucket);
        let own = rows.entry(bucket.clone()).or_insert(Some(0));
        *own = SplitStats::sum([*own, stats.as_ref().and_then(|s| s.rows)]);
        for (key, group) in stats.iter().flat_map(|s| &s.shared) {
            let group_rows = group.whole().rows;
            if group_rows != Some(0) {
                readers.entry(key).or_default().insert(bucket.clone());
                groups.entry(bucket.clone()).or_default().insert(key, group_rows);
            }
        }
    }
    for (bucket, groups) in groups {
        let shared = groups.keys().any(|key| readers.get(key).is_some_and(|r| r.len() > 1));
        let own = rows.get(&bucket).copied().unwrap_or(Some(0));
        let figure = if shared {
            None
        } else {
            SplitStats::sum(groups.into_values().chain([own]))
        };
        rows.insert(bucket, figure);
    }
    rows
}

async fn lake_side(
    lake: &dyn LakeStorage,
    log: &dyn LogSource,
    info: &TableInfo,
    snapshot: i64,
) -> CliResult<LakeSide> {
    let source = lake.create_lake_source(&info.path).await?;
    let splits = source.create_planner(snapshot).await?.plan().await?;
    let per_split = splits
        .iter()
        .map(|s| (s.partition().to_vec(), s.bucket(), s.stats()))
        .collect();
    let history = lake.list_snapshots(&info.path).await?;
    let upto = history
        .iter()
        .position(|s| s.id == snapshot)
        .map_or(history.len(), |p| p + 1);
    let tiered = latest_tiered_offsets(log, &history[..upto])
        .await?
        .map(|(_, offsets)| offsets)
        .unwrap_or_default();
    Ok(LakeSide::new(per_split, tiered))
}

fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    }
}

/// The schema and table metadata as text, with where the log (`log`) and the lake are.
pub fn describe(info: &TableInfo, log: &str, lake: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "table {}", info.path);
    let fields = info.schema.fields();
    // names come from the lake: shown as a terminal shows them safely, padded by columns
    let names: Vec<String> = fields.iter().map(|f| render::sanitize(f.name(), true)).collect();
    let width = names.iter().map(|n| render::display_width(n)).max().unwrap_or(0);
    for (f, name) in fields.iter().zip(&names) {
        let null = if f.is_nullable() { "" } else { " NOT NULL" };
        let pad = " ".repeat(width.saturating_sub(render::display_width(name)));
        let _ = writeln!(out, "  {name}{pad}  {}{null}", render::field_type_name(f));
    }
    let _ = writeln!(out, "primary key: {}", list_or(&info.primary_key, "none (log table)"));
    let _ = writeln!(out, "bucket key: {}", list_or(&info.bucket_key, "none (round-robin)"));
    let _ = writeln!(out, "buckets: {}", info.bucket_count);
    let _ = writeln!(
        out,
        "partition keys: {}",
        list_or(&info.partition_keys, "none (not partitioned)")
    );
    if info.has_primary_key() {
        let _ = writeln!(out, "merge engine: {}", info.merge_engine);
    }
    for (k, v) in &info.properties {
        let _ = writeln!(
            out,
            "property {} = {}",
            render::sanitize(k, true),
            render::sanitize(v, true)
        );
    }
    let _ = writeln!(out, "log: {log}");
    let _ = writeln!(out, "lake: {}", lake.unwrap_or(NO_LAKE));
    // the keys, the table's path and where it lives come from the lake and the log too
    render::sanitize(&out, false)
}

/// `schema`.
pub async fn schema(args: &TableArgs) -> CliResult<()> {
    let opened = table::open(args).await?;
    Ok(crate::stdout::print(&describe(
        opened.table.info(),
        &opened.log,
        opened.lake.as_deref(),
    ))?)
}

/// Why a split reads the way it does.
fn why(split: &UnionSplit, info: &TableInfo, requested: MergeStrategy, options: &ScanOptions) -> String {
    match split.kind {
        UnionSplitKind::LakeOnly => "log table: the lake snapshot's rows as they are, nothing to merge".into(),
        UnionSplitKind::LogOnly => "log table: the log's rows in offset order, nothing to merge".into(),
        UnionSplitKind::LakeAndLog if split.lake_splits.is_empty() => format!(
            "no lake rows in this bucket: the log's changes are folded per key under merge engine {}",
            info.merge_engine
        ),
        UnionSplitKind::LakeAndLog => match requested {
            MergeStrategy::Auto => {
                let n = split.log_len();
                match options.resolve(MergeStrategy::Auto, n) {
                    MergeStrategy::KeyFilter => format!(
                        "auto chose key-filter: the log tail has {n} offset(s), at most {}, and its key index fits the memory budget",
                        options.key_filter_max_log_rows
                    ),
                    _ => format!(
                        "auto chose sort-merge: the log tail has {n} offset(s), more than the key filter takes (at most {} and within the memory budget)",
                        options.key_filter_max_log_rows
                    ),
                }
            }
            forced => format!("{forced}, as --strategy asks"),
        },
    }
}

/// `explain` / `splits`.
pub async fn explain(args: &TableArgs, read: &ReadArgs) -> CliResult<()> {
    let opened = table::open(args).await?;
    let info = opened.table.info().clone();
    let scan = build_scan(&opened.table, read).await?;
    let splits = scan.plan().await?;
    let mut out = String::new();
    let mode = match read.mode() {
        ReadMode::LogOnly => "log-only",
        ReadMode::LakeOnly => "lake-only",
        ReadMode::Union => "union",
    };
    let columns: Vec<String> = scan.schema().fields().iter().map(|f| f.name().clone()).collect();
    let _ = writeln!(out, "scan of table {} ({mode} read)", info.path);
    let _ = writeln!(out, "columns: {}", columns.join(", "));
    let _ = writeln!(out, "filter: {}", read.filter.as_deref().unwrap_or("none"));
    let _ = writeln!(
        out,
        "limit: {}",
        read.limit.map_or("none".to_string(), |l| l.to_string())
    );
    let _ = writeln!(out, "strategy: {}", read.strategy);
    if let Some(as_of) = &read.as_of_offsets {
        let _ = writeln!(out, "as of offsets: {as_of} (other buckets to their end)");
    }
    let lake = opened.lake.as_deref().unwrap_or(NO_LAKE);
    match (scan.snapshot(), read.mode()) {
        (Some(s), _) => {
            let _ = writeln!(out, "lake snapshot: {}", s.id);
        }
        // a log-only scan looks at no snapshot, whatever the lake holds
        (None, ReadMode::LogOnly) => {
            let _ = writeln!(out, "lake: {lake}, not read (log-only)");
        }
        (None, ReadMode::LakeOnly) => {
            let _ = writeln!(out, "lake: {lake}, no snapshot; nothing to read");
        }
        (None, _) => {
            let _ = writeln!(out, "lake: {lake}, no snapshot; every split reads the log alone");
        }
    }
    let options = ScanOptions::default();
    let _ = writeln!(out, "{} split(s):", splits.len());
    for split in &splits {
        let _ = writeln!(out, "  {split}");
        let _ = writeln!(out, "    {}", why(split, &info, read.strategy, &options));
    }
    Ok(crate::stdout::print(&out)?)
}

/// The per-bucket lines of `stats` under their header. Bucket names carry the log's
/// partition values: shown on one line each, padded by the columns a terminal gives them.
fn bucket_table(buckets: &[(String, [String; 5])]) -> String {
    let header = ["lake rows", "tiered", "earliest", "end", "tail"].map(str::to_string);
    let rows: Vec<(String, &[String; 5])> = std::iter::once(("bucket".to_string(), &header))
        .chain(
            buckets
                .iter()
                .map(|(name, cells)| (render::sanitize(name, true), cells)),
        )
        .collect();
    let width = rows
        .iter()
        .map(|(name, _)| render::display_width(name))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (name, cells) in &rows {
        let pad = " ".repeat(width - render::display_width(name));
        let _ = write!(out, "  {name}{pad}");
        for cell in cells.iter() {
            let _ = write!(out, "  {cell:>10}");
        }
        out.push('\n');
    }
    out
}

/// `stats`.
pub async fn stats(args: &TableArgs, quiet: bool) -> CliResult<()> {
    let opened = table::open(args).await?;
    let info = opened.table.info().clone();
    // the offsets first, and the count up to them: on a live log, rows, ends and tails
    // then describe the same moment
    let ranges = opened.table.log().offset_ranges().await?;
    // rows counted with no column read but what the merge needs (the key): a first
    // column read for them could be a BLOB, every payload fetched to be counted
    let scan = opened
        .table
        .scan()
        .as_of_offsets(ranges.iter().map(|(b, r)| (b.clone(), r.end)).collect())
        .project(Vec::<String>::new())
        .build()
        .await?;
    let bar = Progress::start(progress::wanted(quiet));
    let mut rows = 0usize;
    let counted: CliResult<()> = async {
        let mut stream = progress::stream(&scan, &bar).await?;
        while let Some(b) = stream.next().await {
            rows += b?.num_rows();
        }
        Ok(())
    }
    .await;
    bar.finish();
    counted?;
    let lake = match (opened.table.lake(), scan.snapshot()) {
        (Some(lake), Some(snapshot)) => {
            Some(lake_side(lake.as_ref(), opened.table.log().as_ref(), &info, snapshot.id).await?)
        }
        _ => None,
    };
    let mut out = String::new();
    let _ = writeln!(out, "table {}", info.path);
    let _ = writeln!(out, "rows: {rows}");
    let described = opened.lake.as_deref().unwrap_or(NO_LAKE);
    match (&lake, scan.snapshot()) {
        (Some(side), Some(snapshot)) => {
            let _ = writeln!(out, "lake: {described}; lake snapshot: {}", snapshot.id);
            let total = side.total();
            let known = side.per_split.iter().all(|s| s.2.is_some());
            let _ = writeln!(
                out,
                "lake files: {}, {}, {} rows stored{}",
                total.files,
                total.bytes.map_or("size unknown".to_string(), render::human_bytes),
                total.rows.map_or("?".to_string(), |r| r.to_string()),
                if known {
                    ""
                } else {
                    " (the backend reports no figures for some splits)"
                }
            );
        }
        _ => {
            let _ = writeln!(out, "lake: {described}; lake snapshot: none");
        }
    }
    // each range was checked, but their sum need not fit
    let total: i64 = ranges
        .values()
        .fold(0i64, |sum, r| sum.saturating_add(r.end.saturating_sub(r.earliest)));
    let _ = writeln!(
        out,
        "log: {}, {} bucket(s), {total} offset(s)",
        opened.log,
        ranges.len()
    );
    let buckets: Vec<(String, [String; 5])> = ranges
        .iter()
        .map(|(bucket, range)| {
            let (lake_rows, tiered) = match &lake {
                Some(side) => (side.rows_of(bucket), side.tiered.get(bucket).copied()),
                None => (None, None),
            };
            // the tail is what the log holds past the lake (all of it, without a lake)
            let from = tiered.unwrap_or(range.earliest).max(range.earliest);
            let cells = [
                lake_rows.map_or("-".to_string(), |r| r.to_string()),
                tiered.map_or("-".to_string(), |t| t.to_string()),
                range.earliest.to_string(),
                range.end.to_string(),
                (range.end - from).max(0).to_string(),
            ];
            (bucket.to_string(), cells)
        })
        .collect();
    out.push_str(&bucket_table(&buckets));
    if lake
        .as_ref()
        .is_some_and(|side| side.per_split.iter().any(|s| s.1.is_none()))
    {
        let _ = writeln!(out, "(the lake is not bucket-aware: it keeps no row counts per bucket)");
    }
    Ok(crate::stdout::print(&out)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};
    use lake_api::{TableInfo, TablePath};

    use super::{LakeSide, bucket_table, describe};

    #[test]
    fn files_several_splits_read_count_once_in_totals_and_in_each_buckets_rows() {
        use lake_api::{SplitStats, TableBucket};
        // two buckets' splits, each with a file of its own and one delete file both apply
        let split = |own_bytes| SplitStats {
            shared: vec![("deletes".to_string(), SplitStats::of(1, Some(7), Some(0)))],
            ..SplitStats::of(1, Some(own_bytes), Some(4))
        };
        let side = LakeSide::new(
            vec![
                (Vec::new(), Some(0), Some(split(100))),
                (Vec::new(), Some(1), Some(split(50))),
            ],
            Default::default(),
        );
        assert_eq!(side.total(), SplitStats::of(3, Some(157), Some(8)));
        assert_eq!(side.rows_of(&TableBucket::new(1)), Some(4));
    }

    #[test]
    fn a_bucket_whose_rows_share_files_with_other_buckets_has_no_row_figure() {
        use lake_api::{SplitStats, TableBucket};
        // regression: two buckets' splits of one Lance fragment of 10 rows (6 and 4 of
        // them) each showed 10 lake rows, 20 in all
        let split = || SplitStats {
            shared: vec![("fragment-0".to_string(), SplitStats::of(1, Some(900), Some(10)))],
            ..SplitStats::of(0, Some(0), Some(0))
        };
        let side = LakeSide::new(
            vec![
                (Vec::new(), Some(0), Some(split())),
                (Vec::new(), Some(1), Some(split())),
            ],
            Default::default(),
        );
        assert_eq!(side.total(), SplitStats::of(1, Some(900), Some(10)));
        assert_eq!(side.rows_of(&TableBucket::new(0)), None);
        assert_eq!(side.rows_of(&TableBucket::new(1)), None);

        // a fragment of one bucket's rows alone counts for that bucket
        let alone = SplitStats {
            shared: vec![("fragment-1".to_string(), SplitStats::of(1, Some(500), Some(6)))],
            ..SplitStats::of(0, Some(0), Some(0))
        };
        let side = LakeSide::new(vec![(Vec::new(), Some(0), Some(alone))], Default::default());
        assert_eq!(side.rows_of(&TableBucket::new(0)), Some(6));
    }

    #[test]
    fn names_from_the_lake_line_up_and_run_no_escape_sequence() {
        // regression: names were padded by characters (a CJK name pushed its type out of
        // line) and printed as they were, ANSI escapes included
        let schema = Schema::new(vec![
            Field::new("名前", DataType::Utf8, true),
            Field::new("id", DataType::Int64, false),
            Field::new("x\u{1b}[2J", DataType::Int64, true),
        ]);
        let mut info = TableInfo::log_table(TablePath::new("db", "t"), Arc::new(schema), 1);
        info.properties.insert("note".into(), "\u{1b}]0;title\u{7}".into());
        // and the key lists (regression: printed as they came)
        info.bucket_key = vec!["x\u{1b}[2J".into()];
        let text = describe(&info, "log", None);
        assert!(!text.contains('\u{1b}'), "{text}");
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
        // where each type starts, in terminal columns: after the last two-space gap
        let type_column: Vec<usize> = lines
            .iter()
            .map(|l| l.rfind("  ").map_or(0, |i| crate::render::display_width(&l[..i + 2])))
            .collect();
        assert!(type_column.windows(2).all(|w| w[0] == w[1]), "{type_column:?}\n{text}");
    }

    #[test]
    fn bucket_names_line_up_by_terminal_columns_on_one_line_each() {
        // regression: padded by bytes, so a CJK partition pushed its figures out of line,
        // and a line break in a partition value broke the row in two
        let cells = |n: i64| [n, n, 0, n, n].map(|v| v.to_string());
        let text = bucket_table(&[
            ("bucket 0".into(), cells(1)),
            ("partition 日本 bucket 1".into(), cells(22)),
            ("partition a\nb bucket 0".into(), cells(333)),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        let ends: Vec<usize> = lines.iter().map(|l| crate::render::display_width(l)).collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{ends:?}\n{text}");
    }
}
