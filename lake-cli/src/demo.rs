//! `lakescan demo`: build the embedded demo table, union-read it, and explain what came
//! from the lake and what from the log.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fluss_client::local::{DATALAKE_FORMAT_PROPERTY, LocalLog, LocalLogOptions};
use fluss_client::tiering::{TierOptions, Tierer};
use lake_api::memory::{MemoryLake, demo_info, demo_rounds};
use lake_api::{BlobMode, FLUSS_OFFSETS_PROPERTY, LakeStorage, MergeStrategy, ReadMode, Result, UnionTable};
use lake_iceberg::{IcebergConfig, IcebergStorage};
use lake_paimon::{PaimonConfig, PaimonStorage};

use crate::render::{TableLayout, render_table};

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

/// Which lake the demo tiers into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoLake {
    /// An Apache Iceberg warehouse (SQLite catalog, Parquet files) beside the log.
    Iceberg,
    /// An Apache Paimon warehouse (filesystem catalog, Parquet files) beside the log.
    Paimon,
    /// Lance datasets beside the log (lakescan built with the `lance` feature).
    #[cfg(feature = "lance")]
    Lance,
    /// The in-memory reference lake.
    Memory,
}

/// Builds the demo table, reads it, and prints what the demo shows.
pub async fn run(strategy: MergeStrategy, lake: DemoLake, dir: Option<PathBuf>) -> Result<()> {
    crate::stdout::print(&render(strategy, lake, dir.as_deref()).await?)?;
    Ok(())
}

/// Builds the demo table in a LocalLog under `root` (rows routed to buckets as Fluss
/// routes them for the lake format) and tiers its first round into the lake: the second
/// round of changes stays in the log.
async fn build(root: &Path, kind: DemoLake) -> Result<(LocalLog, Arc<dyn LakeStorage>, String)> {
    let mut info = demo_info();
    let format = match kind {
        DemoLake::Iceberg => Some("iceberg"),
        DemoLake::Paimon => Some("paimon"),
        #[cfg(feature = "lance")]
        DemoLake::Lance => Some("lance"),
        DemoLake::Memory => None,
    };
    if let Some(format) = format {
        info.properties.insert(DATALAKE_FORMAT_PROPERTY.into(), format.into());
    }
    // the table first: a directory that already holds one is refused before a lake (an
    // Iceberg catalog, say) is made in it
    let log = LocalLog::create(root, &info, LocalLogOptions::default())?;
    match tier_demo(&log, root, kind).await {
        Ok((lake, described)) => Ok((log, lake, described)),
        Err(e) => {
            // the table goes with the demo that failed, or a rerun would say it exists
            let table = log.table_dir().to_path_buf();
            drop(log);
            let _ = std::fs::remove_dir_all(table);
            Err(e)
        }
    }
}

/// Opens the demo's lake under `root` and fills the demo table `log`: a first round of
/// changes tiered into the lake, the second left in the log.
async fn tier_demo(log: &LocalLog, root: &Path, kind: DemoLake) -> Result<(Arc<dyn LakeStorage>, String)> {
    let (lake, described): (Arc<dyn LakeStorage>, String) = match kind {
        DemoLake::Iceberg => {
            let warehouse = root.join("lake");
            let lake = IcebergStorage::connect(IcebergConfig::sqlite(&warehouse)).await?;
            (
                Arc::new(lake),
                format!(
                    "an Iceberg warehouse at {} (SQLite catalog, Parquet files)",
                    warehouse.display()
                ),
            )
        }
        DemoLake::Paimon => {
            let warehouse = root.join("lake");
            let lake = PaimonStorage::connect(PaimonConfig::filesystem(&warehouse)).await?;
            (
                Arc::new(lake),
                format!(
                    "a Paimon warehouse at {} (filesystem catalog, Parquet files)",
                    warehouse.display()
                ),
            )
        }
        #[cfg(feature = "lance")]
        DemoLake::Lance => {
            let warehouse = root.join("lake");
            let lake = lake_lance::LanceStorage::new(lake_lance::LanceConfig::new(warehouse.to_string_lossy()));
            (Arc::new(lake), format!("Lance datasets under {}", warehouse.display()))
        }
        DemoLake::Memory => (Arc::new(MemoryLake::new()), "in memory".to_string()),
    };
    let (tiered, tail) = demo_rounds()?;
    for (_, batch, changes) in tiered {
        log.append_rows(batch, changes)?;
    }
    Tierer::new(log.clone(), lake.clone())
        .tier(&TierOptions::default())
        .await?;
    for (_, batch, changes) in tail {
        log.append_rows(batch, changes)?;
    }
    Ok((lake, described))
}

/// What the demo shows, as text. The log lives under `dir` (a fresh temporary directory
/// when `None`).
pub async fn render(strategy: MergeStrategy, kind: DemoLake, dir: Option<&Path>) -> Result<String> {
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
    let (log, lake, described) = build(&root, kind).await?;
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
        "log: Fluss log batches in a LocalLog at {}; lake: {described}",
        log_dir.display()
    );

    // the demo prints BLOB cells as what they hold, so it reads payloads
    let scan = table
        .scan()
        .strategy(strategy)
        .blobs(BlobMode::Payloads)
        .build()
        .await?;
    let splits = scan.plan().await?;
    if let Some(offsets) = scan.snapshot().and_then(|s| s.properties.get(FLUSS_OFFSETS_PROPERTY)) {
        let _ = writeln!(out, "lake snapshot tiered up to the offsets in {offsets}");
    }
    let _ = writeln!(out, "\nplan:");
    for split in &splits {
        let _ = writeln!(out, "  {split}");
    }
    let union = scan.collect().await?;
    let lake_only = table
        .scan()
        .mode(ReadMode::LakeOnly)
        .blobs(BlobMode::Payloads)
        .build()
        .await?
        .collect()
        .await?;
    let log_changes: i64 = splits.iter().map(|s| s.log_len()).sum();

    let layout = TableLayout {
        max_cell_width: 40,
        max_table_width: None,
        blob_bytes: false,
    };
    let _ = writeln!(out, "\n{}", render_table(&scan.schema(), &union, layout)?);

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
        for (strategy, lake) in [
            (MergeStrategy::Auto, DemoLake::Iceberg),
            (MergeStrategy::SortMerge, DemoLake::Iceberg),
            (MergeStrategy::KeyFilter, DemoLake::Iceberg),
            (MergeStrategy::SortMerge, DemoLake::Memory),
            (MergeStrategy::SortMerge, DemoLake::Paimon),
            (MergeStrategy::KeyFilter, DemoLake::Paimon),
        ] {
            let text = render(strategy, lake, None).await.unwrap();
            assert!(
                text.contains("9 rows: 8 from lake snapshot ")
                    && text.contains(" with 7 log changes after it applied (2 updated, 1 deleted, 2 inserted)"),
                "{strategy}:\n{text}"
            );
            let margaret = text.lines().find(|l| l.contains("margaret")).unwrap_or_default();
            assert!(margaret.contains("120.0"), "{text}");
            assert!(margaret.contains("<blob 74 B image/png>"), "{text}");
            assert!(margaret.contains("[0.9, 1.2, 1.0]"), "{text}");
            assert!(!text.contains("alan"), "the deleted order is gone: {text}");
            assert!(text.contains(".offsets"), "tiered offsets are in a file: {text}");
        }
    }

    #[tokio::test]
    async fn a_dir_keeps_the_log_and_refuses_to_build_twice() {
        let dir = tempfile::tempdir().unwrap();
        render(MergeStrategy::Auto, DemoLake::Iceberg, Some(dir.path()))
            .await
            .unwrap();
        assert!(dir.path().join("demo/orders/table.json").exists());
        assert!(dir.path().join("lake/catalog.db").exists());
        let e = render(MergeStrategy::Auto, DemoLake::Iceberg, Some(dir.path()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }
}
