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

pub async fn run(strategy: MergeStrategy) -> Result<()> {
    let (log, lake) = demo_table().await?;
    let table = UnionTable::open(log, Some(lake)).await?;
    let info = table.info().clone();
    println!(
        "table {} (primary key {}; partitioned by {}; {} buckets; merge engine {}), embedded in-memory lake and log",
        info.path,
        info.primary_key.join(", "),
        info.partition_keys.join(", "),
        info.bucket_count,
        info.merge_engine
    );

    let scan = table.scan().strategy(strategy).build().await?;
    let splits = scan.plan().await?;
    println!("\nplan:");
    for split in &splits {
        println!("  {split}");
    }
    let union = scan.collect().await?;
    let lake_only = table.scan().mode(ReadMode::LakeOnly).build().await?.collect().await?;
    let log_changes: i64 = splits.iter().map(|s| s.log_len()).sum();

    println!("\n{}", pretty_format_batches(&union)?);

    let before = keyed_rows(&lake_only, &info.primary_key)?;
    let after = keyed_rows(&union, &info.primary_key)?;
    let inserted = after.keys().filter(|k| !before.contains_key(*k)).count();
    let deleted = before.keys().filter(|k| !after.contains_key(*k)).count();
    let updated = after
        .iter()
        .filter(|(k, v)| before.get(*k).is_some_and(|old| old != *v))
        .count();
    println!(
        "{} rows: {} from lake snapshot {} with {} log changes after it applied ({} updated, {} deleted, {} inserted)",
        after.len(),
        before.len(),
        scan.snapshot().map_or("-".to_string(), |s| s.id.to_string()),
        log_changes,
        updated,
        deleted,
        inserted
    );
    Ok(())
}
