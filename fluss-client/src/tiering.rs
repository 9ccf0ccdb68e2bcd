//! Tiering: moving a log's records into a lake snapshot that records how far it got, as
//! Fluss's tiering service does.
//!
//! Per bucket, the records `[o_b, e_b)` go to the lake writer, where `o_b` is the offset the
//! latest lake snapshot covers and `e_b` the log's end (or a chosen stop). The commit
//! carries `fluss-offsets` (inline offsets JSON, or the path of an offsets file beside the
//! log) and `commit-user = __fluss_lake_tiering`. Paimon's own commit user is not that one:
//! each round commits as `lakeunion-<uuid>`, so that a round that crashed between its
//! commit and the snapshot's properties is recognised (see lake-paimon's
//! `commit_properties`).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use lake_api::{LakeSnapshot, LakeStorage, LogSource, TableBucket, latest_tiered_offsets};

use crate::error::{Error, ErrorKind, Result};
use crate::local::LocalLog;
use crate::offsets::{COMMIT_USER_PROPERTY, FLUSS_COMMIT_USER, FLUSS_OFFSETS_PROPERTY, TableBucketOffsets};

/// How the tiered offsets travel in the snapshot property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetsStorage {
    /// The canonical path of an offsets file in the log's table directory (what Fluss 0.9+
    /// writes). A log whose path has a `{` (which Fluss reads as JSON) or is not UTF-8 gets
    /// its offsets inline instead.
    #[default]
    File,
    /// The offsets JSON itself.
    Inline,
}

/// What one tiering run does.
#[derive(Debug, Clone, Default)]
pub struct TierOptions {
    /// Tier each bucket only up to this offset (default: the log's end).
    pub up_to: Option<BTreeMap<TableBucket, i64>>,
    /// How the offsets are recorded.
    pub offsets: OffsetsStorage,
}

/// Tiers a [`LocalLog`] into a lake.
#[derive(Clone)]
pub struct Tierer {
    log: LocalLog,
    lake: Arc<dyn LakeStorage>,
}

impl std::fmt::Debug for Tierer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tierer").field("log", &self.log).finish_non_exhaustive()
    }
}

impl Tierer {
    /// A tierer from a log to a lake.
    pub fn new(log: LocalLog, lake: Arc<dyn LakeStorage>) -> Self {
        Self { log, lake }
    }

    /// The offsets the lake covers: those of its newest snapshot that records any
    /// (maintenance commits record none); empty when the lake has no snapshot.
    pub async fn tiered_offsets(&self) -> Result<BTreeMap<TableBucket, i64>> {
        let path = &self.log.info().path;
        let snapshots = match self.lake.list_snapshots(path).await {
            Ok(s) => s,
            Err(e) if e.kind() == lake_api::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        match latest_tiered_offsets(&self.log, &snapshots).await? {
            Some((_, offsets)) => Ok(offsets),
            None if snapshots.is_empty() => Ok(BTreeMap::new()),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "the lake has {} snapshot(s) of {path} but none records '{FLUSS_OFFSETS_PROPERTY}': refusing to tier from a guess",
                    snapshots.len()
                ),
            )),
        }
    }

    /// Moves every bucket's untiered records into one new lake snapshot.
    pub async fn tier(&self, options: &TierOptions) -> Result<LakeSnapshot> {
        let info = self.log.info().clone();
        let from = self.tiered_offsets().await?;
        let ranges = self.log.offset_ranges().await?;
        let mut writer = self.lake.create_lake_writer(&info).await?;
        let mut tiered = from.clone();
        for (bucket, range) in ranges {
            let start = from.get(&bucket).copied().unwrap_or(range.earliest);
            if start < range.earliest {
                return Err(Error::new(
                    ErrorKind::Offsets,
                    format!(
                        "{bucket}: the lake covers offsets below {start} but the log starts at {}",
                        range.earliest
                    ),
                ));
            }
            // a lake ahead of its log: the log lost its tail (say, to a crash before its
            // segments reached the disk), or the lake was tiered from another log. Tiering on
            // would skip the offsets in between once the log reaches them again.
            if start > range.end {
                return Err(Error::new(
                    ErrorKind::Offsets,
                    format!(
                        "{bucket}: the lake covers offsets below {start} but the log ends at {}",
                        range.end
                    ),
                ));
            }
            let stop = options
                .up_to
                .as_ref()
                .and_then(|m| m.get(&bucket).copied())
                .unwrap_or(range.end)
                .clamp(start, range.end);
            if stop > start {
                let mut batches = self.log.read(&bucket, start, Some(stop)).await?;
                while let Some(batch) = batches.try_next().await? {
                    let batch = batch.slice_offsets(start, stop);
                    if batch.num_rows() > 0 {
                        writer.write(&bucket, &batch).await?;
                    }
                }
            }
            tiered.insert(bucket, stop);
        }
        // the lake is about to cover these offsets: the log must keep them through a crash
        // (else it comes back shorter than the lake, and tiering refuses to go on)
        self.log.sync()?;
        let offsets = self.to_offsets(&tiered)?;
        offsets.validate_against(
            Some(self.log.table_id()),
            info.bucket_count,
            !info.partition_keys.is_empty(),
        )?;
        let file = match options.offsets {
            OffsetsStorage::File => self.write_offsets_file(&offsets)?,
            OffsetsStorage::Inline => None,
        };
        let value = file.map_or_else(|| offsets.to_json(), Ok)?;
        let properties = BTreeMap::from([
            (FLUSS_OFFSETS_PROPERTY.to_string(), value),
            (COMMIT_USER_PROPERTY.to_string(), FLUSS_COMMIT_USER.to_string()),
        ]);
        Ok(writer.commit(properties).await?)
    }

    fn to_offsets(&self, tiered: &BTreeMap<TableBucket, i64>) -> Result<TableBucketOffsets> {
        let ids: BTreeMap<Vec<String>, i64> = self.log.partition_ids()?.into_iter().map(|(id, v)| (v, id)).collect();
        let mut offsets = BTreeMap::new();
        for (bucket, &o) in tiered {
            let partition = if bucket.partition.is_empty() {
                None
            } else {
                Some(
                    *ids.get(&bucket.partition)
                        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no partition id for {bucket}")))?,
                )
            };
            offsets.insert((partition, bucket.bucket), o);
        }
        Ok(TableBucketOffsets {
            table_id: self.log.table_id(),
            offsets,
        })
    }

    /// Writes an offsets file under the table directory; returns its path, canonical (it
    /// holds from any working directory, through any symlink). Fluss gives the property to
    /// its own readers as a path, unescaped, and reads any value with a `{` as JSON: a path
    /// with a `{` (or one that is not UTF-8) cannot be named, and `None` says so.
    fn write_offsets_file(&self, offsets: &TableBucketOffsets) -> Result<Option<String>> {
        let dir = self.log.table_dir().join("offsets");
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)?;
            // the directory's name must be on disk before a lake commit names a file in it
            crate::local::sync_dir(self.log.table_dir())?;
        }
        let dir = std::fs::canonicalize(&dir)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("{stamp:032}.offsets");
        let Some(path) = dir
            .join(&name)
            .to_str()
            .filter(|p| !p.contains('{'))
            .map(str::to_string)
        else {
            return Ok(None);
        };
        // the lake commit will point at this file: it must be whole and on disk first
        crate::local::write_durably(&dir, &name, offsets.to_json()?.as_bytes())?;
        Ok(Some(path))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use lake_api::memory::MemoryLake;
    use lake_api::{ChangeType, TableInfo, TablePath};

    use super::*;
    use crate::local::LocalLogOptions;
    use std::path::Path;

    fn info() -> TableInfo {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        TableInfo::primary_key_table(TablePath::new("db", "t"), schema, vec!["k".into()], 1)
    }

    fn keys(range: std::ops::Range<i64>) -> Result<RecordBatch> {
        let keys = Arc::new(Int64Array::from_iter_values(range));
        Ok(RecordBatch::try_new(info().schema, vec![keys])?)
    }

    /// A memory lake whose commits fail unless `log` is durable to its end at that moment.
    struct DurableFirst {
        lake: MemoryLake,
        log: LocalLog,
    }

    struct CheckedWriter {
        inner: Box<dyn lake_api::LakeWriter>,
        log: LocalLog,
    }

    #[async_trait::async_trait]
    impl LakeStorage for DurableFirst {
        async fn table_info(&self, path: &lake_api::TablePath) -> lake_api::Result<TableInfo> {
            self.lake.table_info(path).await
        }
        async fn list_snapshots(&self, path: &lake_api::TablePath) -> lake_api::Result<Vec<LakeSnapshot>> {
            self.lake.list_snapshots(path).await
        }
        async fn create_lake_source(
            &self,
            path: &lake_api::TablePath,
        ) -> lake_api::Result<Box<dyn lake_api::LakeSource>> {
            self.lake.create_lake_source(path).await
        }
        async fn create_lake_writer(&self, info: &TableInfo) -> lake_api::Result<Box<dyn lake_api::LakeWriter>> {
            Ok(Box::new(CheckedWriter {
                inner: self.lake.create_lake_writer(info).await?,
                log: self.log.clone(),
            }))
        }
    }

    #[async_trait::async_trait]
    impl lake_api::LakeWriter for CheckedWriter {
        async fn write(&mut self, bucket: &TableBucket, batch: &lake_api::LogBatch) -> lake_api::Result<()> {
            self.inner.write(bucket, batch).await
        }
        async fn commit(self: Box<Self>, properties: BTreeMap<String, String>) -> lake_api::Result<LakeSnapshot> {
            let offsets = self.log.durable_offsets().map_err(lake_api::Error::from)?;
            if let Some((bucket, (durable, end))) = offsets.iter().find(|(_, (d, e))| d < e) {
                return Err(lake_api::Error::invalid(format!(
                    "committing while {bucket} is durable to {durable} of {end}"
                )));
            }
            self.inner.commit(properties).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tiering_makes_the_log_it_covers_durable_first() -> Result<()> {
        let dir = tempfile::tempdir()?;
        // small segments, so that the tail spans segments the appender has rolled past
        let options = LocalLogOptions {
            segment_bytes: 256,
            ..LocalLogOptions::default()
        };
        let log = LocalLog::create(dir.path(), &info(), options)?;
        let bucket = TableBucket::new(0);
        for i in 0..4 {
            log.append(&bucket, keys(i * 10..i * 10 + 10)?, vec![ChangeType::Insert; 10])?;
        }
        assert_eq!(log.durable_offsets()?[&bucket], (0, 40), "appends without sync");
        let lake = DurableFirst {
            lake: MemoryLake::new(),
            log: log.clone(),
        };
        let tierer = Tierer::new(log.clone(), Arc::new(lake));
        // (the lake's commit checks that the log was durable by then)
        let snapshot = tierer.tier(&TierOptions::default()).await?;
        assert_eq!(log.durable_offsets()?[&bucket], (40, 40));
        let recorded = std::fs::read_to_string(log.table_dir().join("log/bucket-0/recovery-point"))?;
        assert_eq!(recorded, "40");
        assert_eq!(log.snapshot_offsets(&snapshot).await?[&bucket], 40);

        // the next run syncs what came since
        log.append(&bucket, keys(40..45)?, vec![ChangeType::Insert; 5])?;
        assert_eq!(log.durable_offsets()?[&bucket], (40, 45));
        tierer.tier(&TierOptions::default()).await?;
        assert_eq!(log.durable_offsets()?[&bucket], (45, 45));
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lake_ahead_of_the_log_is_refused_not_tiered_over() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let log = LocalLog::create(dir.path(), &info(), LocalLogOptions::default())?;
        let bucket = TableBucket::new(0);
        log.append(&bucket, keys(0..5)?, vec![ChangeType::Insert; 5])?;
        // a lake whose last snapshot covers offsets below 100 of a log that ends at 5 (a log
        // that lost its tail): tiering from 100 would skip offsets 5..100 once the log
        // reaches them, and union reads would take them for tiered
        let lake = Arc::new(MemoryLake::new());
        let offsets = format!(
            r#"{{"version":1,"table_id":{},"bucket_offsets":[100]}}"#,
            log.table_id()
        );
        let writer = lake.create_lake_writer(&info()).await?;
        writer
            .commit(BTreeMap::from([(FLUSS_OFFSETS_PROPERTY.to_string(), offsets)]))
            .await?;
        let tierer = Tierer::new(log, lake.clone());
        let err = tierer
            .tier(&TierOptions::default())
            .await
            .err()
            .ok_or_else(|| Error::invalid("tiered a log behind its lake"))?;
        assert_eq!(err.kind(), ErrorKind::Offsets, "{err}");
        assert!(
            err.to_string().contains("100") && err.to_string().contains("ends at 5"),
            "{err}"
        );
        // nothing was committed
        assert_eq!(lake.list_snapshots(&info().path).await?.len(), 1);
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_offsets_file_is_named_wherever_the_log_was_opened_from() -> Result<()> {
        // regression: the snapshot named the file by the log's root as given, so a relative
        // root left a path only its own working directory could read, and a `{` in the
        // root made the path read as inline offsets JSON (it now goes inline itself)
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("lake {eu}");
        std::fs::create_dir(&root)?;
        let cwd = std::env::current_dir()?;
        let relative: std::path::PathBuf = cwd
            .components()
            .skip(1)
            .map(|_| std::path::Component::ParentDir.as_os_str())
            .chain(root.components().skip(1).map(|c| c.as_os_str()))
            .collect();
        assert!(relative.is_relative() && cwd.join(&relative).is_dir());
        let log = LocalLog::create(&relative, &info(), LocalLogOptions::default())?;
        let bucket = TableBucket::new(0);
        log.append(&bucket, keys(0..5)?, vec![ChangeType::Insert; 5])?;
        let tierer = Tierer::new(log.clone(), Arc::new(MemoryLake::new()));
        let snapshot = tierer.tier(&TierOptions::default()).await?;
        assert!(snapshot.properties[FLUSS_OFFSETS_PROPERTY].starts_with('{'));
        assert_eq!(log.snapshot_offsets(&snapshot).await?[&bucket], 5);

        // the same through a plain directory: a file, named by its absolute path
        let plain = relative.with_file_name("lake");
        std::fs::create_dir(cwd.join(&plain))?;
        let log = LocalLog::create(&plain, &info(), LocalLogOptions::default())?;
        log.append(&bucket, keys(0..5)?, vec![ChangeType::Insert; 5])?;
        let tierer = Tierer::new(log.clone(), Arc::new(MemoryLake::new()));
        let snapshot = tierer.tier(&TierOptions::default()).await?;
        let value = &snapshot.properties[FLUSS_OFFSETS_PROPERTY];
        assert!(Path::new(value).is_absolute() && Path::new(value).is_file(), "{value}");
        assert_eq!(log.snapshot_offsets(&snapshot).await?[&bucket], 5);
        Ok(())
    }
}
