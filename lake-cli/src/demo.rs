//! `lakescan demo`: build the embedded demo table, union-read it, and explain what came
//! from the lake and what from the log.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow::util::pretty::pretty_format_batches;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluss_client::local::{LocalLog, LocalLogOptions};
use fluss_client::tiering::{TierOptions, Tierer};
use lake_api::memory::{MemoryLake, demo_info, demo_rounds};
use lake_api::{FLUSS_OFFSETS_PROPERTY, MergeStrategy, ReadMode, Result, UnionTable};

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
pub async fn run(strategy: MergeStrategy, dir: Option<PathBuf>) -> Result<()> {
    print!("{}", render(strategy, dir.as_deref()).await?);
    Ok(())
}

/// Builds the demo table in a LocalLog under `root` and tiers its first round into a lake:
/// the second round of changes stays in the log.
async fn build(root: &Path) -> Result<(LocalLog, Arc<MemoryLake>)> {
    let log = LocalLog::create(root, &demo_info(), LocalLogOptions::default())?;
    let lake = Arc::new(MemoryLake::new());
    let (tiered, tail) = demo_rounds()?;
    for (bucket, batch, changes) in tiered {
        log.append(&bucket, batch, changes)?;
    }
    Tierer::new(log.clone(), lake.clone())
        .tier(&TierOptions::default())
        .await?;
    for (bucket, batch, changes) in tail {
        log.append(&bucket, batch, changes)?;
    }
    Ok((log, lake))
}

/// What the demo shows, as text. The log lives under `dir` (a fresh temporary directory
/// when `None`).
pub async fn render(strategy: MergeStrategy, dir: Option<&Path>) -> Result<String> {
    use std::fmt::Write;
    let mut out = String::new();
    let temp;
    let root = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let (log, lake) = build(&root).await?;
    let log_dir = log.table_dir().to_path_buf();
    let table = UnionTable::open(Arc::new(log), Some(lake)).await?;
    let info = table.info().clone();
    let _ = writeln!(
        out,
        "table {} (primary key {}; partitioned by {}; {} buckets; merge engine {})",
        info.path,
        info.primary_key.join(", "),
        info.partition_keys.join(", "),
        info.bucket_count,
        info.merge_engine
    );
    let _ = writeln!(
        out,
        "log: Fluss log batches in a LocalLog at {}; lake: in memory (the Paimon, Iceberg and Lance backends are not built yet)",
        log_dir.display()
    );

    let scan = table.scan().strategy(strategy).build().await?;
    let splits = scan.plan().await?;
    if let Some(offsets) = scan.snapshot().and_then(|s| s.properties.get(FLUSS_OFFSETS_PROPERTY)) {
        let _ = writeln!(out, "lake snapshot tiered up to the offsets in {offsets}");
    }
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
            let text = render(strategy, None).await.unwrap();
            assert!(
                text.contains("9 rows: 8 from lake snapshot 1 with 7 log changes after it applied (2 updated, 1 deleted, 2 inserted)"),
                "{strategy}:\n{text}"
            );
            assert!(text.contains("| 9  | eu     | margaret | 120.0  |"), "{text}");
            assert!(!text.contains("alan"), "the deleted order is gone: {text}");
            assert!(text.contains(".offsets"), "tiered offsets are in a file: {text}");
        }
    }

    #[tokio::test]
    async fn a_dir_keeps_the_log_and_refuses_to_build_twice() {
        let dir = tempfile::tempdir().unwrap();
        render(MergeStrategy::Auto, Some(dir.path())).await.unwrap();
        assert!(dir.path().join("demo/orders/table.json").exists());
        let e = render(MergeStrategy::Auto, Some(dir.path())).await.unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }
}
