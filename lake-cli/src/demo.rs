//! `lakescan demo`: build the embedded demo table, union-read it, and explain what came
//! from the lake and what from the log.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow::util::pretty::pretty_format_batches;
use lake_api::memory::demo_table;
use lake_api::{MergeStrategy, ReadMode, Result, UnionTable};

/// Rows keyed by their primary-key cells, every cell rendered as text.
fn keyed_rows(batches: &[RecordBatch], key: &[String]) -> Result<BTreeMap<Vec<String>, Vec<String>>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = BTreeMap::new();
    for b in batches {
        let schema = b.schema();
        let key_idx = key
            .iter()
            .map(|k| schema.index_of(k))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let formatters = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..b.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            out.insert(key_idx.iter().map(|&i| cells[i].clone()).collect(), cells);
        }
    }
    Ok(out)
}

/// Builds the demo table, reads it, and prints what the demo shows.
pub async fn run(strategy: MergeStrategy) -> Result<()> {
    print!("{}", render(strategy).await?);
    Ok(())
}

/// What the demo shows, as text.
pub async fn render(strategy: MergeStrategy) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let (log, lake) = demo_table().await?;
    let table = UnionTable::open(log, Some(lake)).await?;
    let info = table.info().clone();
    let _ = writeln!(
        out,
        "table {} (primary key {}; partitioned by {}; {} buckets; merge engine {}), embedded in-memory lake and log",
        info.path,
        info.primary_key.join(", "),
        info.partition_keys.join(", "),
        info.bucket_count,
        info.merge_engine
    );

    let scan = table.scan().strategy(strategy).build().await?;
    let splits = scan.plan().await?;
    let _ = writeln!(out, "\nplan:");
    for split in &splits {
        let _ = writeln!(out, "  {split}");
    }
    let union = scan.collect().await?;
    let lake_only = table.scan().mode(ReadMode::LakeOnly).build().await?.collect().await?;
    let log_changes: i64 = splits.iter().map(|s| s.log_len()).sum();

    let _ = writeln!(out, "\n{}", pretty_format_batches(&union)?);

    let before = keyed_rows(&lake_only, &info.primary_key)?;
    let after = keyed_rows(&union, &info.primary_key)?;
    let inserted = after.keys().filter(|k| !before.contains_key(*k)).count();
    let deleted = before.keys().filter(|k| !after.contains_key(*k)).count();
    let updated = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|old| old != *v))
        .count();
    let _ = writeln!(
        out,
        "{} rows: {} from lake snapshot {} with {} log changes after it applied ({} updated, {} deleted, {} inserted)",
        after.len(),
        before.len(),
        scan.snapshot().map_or("-".to_string(), |s| s.id.to_string()),
        log_changes,
        updated,
        deleted,
        inserted
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn demo_explains_what_came_from_where_for_every_strategy() {
        for strategy in [MergeStrategy::Auto, MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
            let text = render(strategy).await.unwrap();
            assert!(
                text.contains("9 rows: 8 from lake snapshot 1 with 7 log changes after it applied (2 updated, 1 deleted, 2 inserted)"),
                "{strategy}:\n{text}"
            );
            assert!(text.contains("| 9  | eu     | margaret | 120.0  |"), "{text}");
            assert!(!text.contains("alan"), "the deleted order is gone: {text}");
        }
    }
}
