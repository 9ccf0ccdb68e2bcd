//! [`LanceStorage`]: Lance datasets under a root directory as a [`LakeStorage`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::Schema;
use async_trait::async_trait;
use lake_api::lake::{LakeScanStart, LakeSnapshot, LakeSource, LakeStorage, LakeWriter};
use lake_api::{Error, ErrorKind, FLUSS_OFFSETS_PROPERTY, OFFSETS_UNKNOWN_PROPERTY, Result, TableInfo, TablePath};
use lance::Dataset;
use lance::dataset::builder::DatasetBuilder;
use lance::dataset::transaction::Operation;
use serde::{Deserialize, Serialize};

use crate::error::lance_err;
use crate::schema::{blobs_are_v2, table_info};
use crate::source::LanceSource;
use crate::writer::LanceLakeWriter;

/// Where the datasets are: table `db.t` is the dataset `<root>/db/t.lance`.
///
/// ```
/// use lake_api::TablePath;
/// use lake_lance::LanceConfig;
///
/// let config = LanceConfig::new("/data/lance");
/// assert_eq!(config.table_uri(&TablePath::new("fluss", "logs")), "/data/lance/fluss/logs.lance");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanceConfig {
    /// A directory or an object-store URI.
    pub root: String,
    /// Rows per data file (fragment) the tiering writer writes; `None` (the default) keeps
    /// Lance's own (about a million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows_per_file: Option<usize>,
    /// Whether datasets the tiering writer creates keep each row's Fluss bucket in a
    /// [`BUCKET_COLUMN`](crate::BUCKET_COLUMN), which makes them bucket-aware (default:
    /// no, as Fluss's own Lance tiering writes none). Existing datasets keep their layout.
    #[serde(default)]
    pub bucket_column: bool,
}

impl LanceConfig {
    /// Datasets under `root` (a relative path is made absolute: BLOB references carry the
    /// dataset's URI, and must name the same files from any working directory).
    pub fn new(root: impl AsRef<str>) -> Self {
        Self {
            root: lake_api::location::absolute(root.as_ref().trim_end_matches('/')),
            max_rows_per_file: None,
            bucket_column: false,
        }
    }

    /// Makes new datasets keep each row's bucket (see [`Self::bucket_column`]).
    ///
    /// ```
    /// use lake_lance::LanceConfig;
    ///
    /// assert!(LanceConfig::new("/data/lance").with_bucket_column(true).bucket_column);
    /// ```
    pub fn with_bucket_column(mut self, bucket_column: bool) -> Self {
        self.bucket_column = bucket_column;
        self
    }

    /// Sets the rows per fragment the tiering writer writes (at least 1).
    ///
    /// ```
    /// use lake_lance::LanceConfig;
    ///
    /// let config = LanceConfig::new("/data/lance").with_max_rows_per_file(100_000);
    /// assert_eq!(config.max_rows_per_file, Some(100_000));
    /// ```
    pub fn with_max_rows_per_file(mut self, rows: usize) -> Self {
        self.max_rows_per_file = Some(rows.max(1));
        self
    }

    /// The dataset URI of a table.
    pub fn table_uri(&self, path: &TablePath) -> String {
        format!("{}/{}/{}.lance", self.root, path.database, path.table)
    }
}

/// Lance datasets as a lake. Snapshots are dataset versions, their properties the
/// version's transaction properties (where Fluss writes `fluss-offsets`).
#[derive(Debug, Clone)]
pub struct LanceStorage {
    config: LanceConfig,
}

impl LanceStorage {
    /// A storage over `config`'s root (nothing is opened until a table is).
    pub fn new(config: LanceConfig) -> Self {
        Self { config }
    }

    /// The configuration, for workers that open the same storage.
    pub fn config(&self) -> &LanceConfig {
        &self.config
    }

    async fn open(&self, path: &TablePath) -> Result<Dataset> {
        let uri = self.config.table_uri(path);
        open_dataset(&uri, None)
            .await
            .map_err(|e| e.context(format!("table {path}")))
    }

    /// A source over an open dataset of table `path`.
    fn source_of(&self, path: &TablePath, dataset: Dataset) -> Result<Box<dyn LakeSource>> {
        let info = table_info(path, &Schema::from(dataset.schema()))?;
        Ok(Box::new(LanceSource::new(
            self.config.table_uri(path),
            info,
            Arc::new(dataset),
        )))
    }
}

/// Opens a dataset (at a version); a missing one is [`ErrorKind::NotFound`].
pub(crate) async fn open_dataset(uri: &str, version: Option<u64>) -> Result<Dataset> {
    let mut builder = DatasetBuilder::from_uri(uri);
    if let Some(v) = version {
        builder = builder.with_version(v);
    }
    builder.load().await.map_err(lance_err(format!("dataset {uri}")))
}

/// The lake snapshot of one version of a dataset.
pub(crate) async fn snapshot_of(dataset: &Dataset, version: u64) -> Result<LakeSnapshot> {
    Ok(version_of(dataset, version).await?.0)
}

/// The lake snapshot of one version of a dataset, and whether it is the empty version a
/// dataset is created with: version 1, an overwrite with no rows and no properties. That
/// one says nothing a reader needs, and listed it would read as a lake that holds a
/// snapshot but no tiered offsets: a tiering round that failed after creating the dataset
/// left its table refused by every later round.
async fn version_of(dataset: &Dataset, version: u64) -> Result<(LakeSnapshot, bool)> {
    let context = format!("dataset {} version {version}", dataset.uri());
    let transaction = dataset
        .read_transaction_by_version(version)
        .await
        .map_err(lance_err(&context))?;
    let created_empty = version == 1
        && transaction.as_ref().is_some_and(|t| {
            matches!(&t.operation, Operation::Overwrite { fragments, .. } if fragments.is_empty())
                && t.transaction_properties.as_ref().is_none_or(|p| p.is_empty())
        });
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    if let Some(t) = &transaction {
        if let Some(p) = &t.transaction_properties {
            properties.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        properties.insert("operation".into(), t.operation.to_string());
        if let Operation::Restore { version: restored } = &t.operation
            && !properties.contains_key(FLUSS_OFFSETS_PROPERTY)
        {
            match restored_offsets(dataset, *restored, &context).await? {
                Some(offsets) => properties.insert(FLUSS_OFFSETS_PROPERTY.into(), offsets),
                None => properties.insert(
                    OFFSETS_UNKNOWN_PROPERTY.into(),
                    format!("it restores version {restored}, and no version up to that one records them"),
                ),
            };
        }
    }
    let timestamp_ms = if dataset.version_id() == version {
        dataset.version().timestamp.timestamp_millis()
    } else {
        0
    };
    let snapshot = LakeSnapshot {
        id: i64::try_from(version).map_err(|_| Error::corrupt(format!("{context}: version out of range")))?,
        timestamp_ms,
        properties,
    };
    Ok((snapshot, created_empty))
}

/// The tiered offsets a `Restore` of version `restored` goes with: those its content was
/// read with, the newest recorded at or before it. A restore commits no properties, and
/// a reader walking back from it would take the offsets of the rounds it undid. `None`
/// where none is known (none recorded up to it, or the versions cleaned up): the restore
/// is then marked [`OFFSETS_UNKNOWN_PROPERTY`], which stops that walk, while reads of the
/// lake alone go on.
async fn restored_offsets(dataset: &Dataset, restored: u64, context: &str) -> Result<Option<String>> {
    let mut version = restored;
    // each step goes to an older version
    while version > 0 {
        let read = dataset
            .read_transaction_by_version(version)
            .await
            .map_err(lance_err(format!("{context}: version {version}, which it restores")));
        let transaction = match read {
            Ok(t) => t,
            // cleaned up: what it recorded is gone with it
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(transaction) = transaction else {
            version -= 1;
            continue;
        };
        if let Some(offsets) = transaction
            .transaction_properties
            .as_ref()
            .and_then(|p| p.get(FLUSS_OFFSETS_PROPERTY))
        {
            return Ok(Some(offsets.clone()));
        }
        version = match transaction.operation {
            Operation::Restore { version: earlier } if earlier < version => earlier,
            _ => version - 1,
        };
    }
    Ok(None)
}

/// Every version of an open dataset as a snapshot, oldest first, but for the empty version
/// it was created with (see [`version_of`]). A version cleaned up
/// while they are listed is left out, as if listed a moment later; a version still listed
/// whose files are missing is corrupt, never `NotFound`, which would say the table is not
/// in the lake (and have its reader skip the lake, its tierer start over).
async fn snapshots_of(path: &TablePath, dataset: &Dataset) -> Result<Vec<LakeSnapshot>> {
    let listed = || async {
        dataset
            .versions()
            .await
            .map_err(lance_err(format!("table {path}: versions")))
    };
    let versions = listed().await?;
    let mut out = Vec::with_capacity(versions.len());
    // the versions listed again, once, after the first one found missing
    let mut relisted: Option<std::collections::BTreeSet<u64>> = None;
    for v in versions {
        match version_of(dataset, v.version).await {
            Ok((_, true)) => {}
            Ok((mut snapshot, false)) => {
                snapshot.timestamp_ms = v.timestamp.timestamp_millis();
                out.push(snapshot);
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let still = match &relisted {
                    Some(still) => still,
                    None => relisted.insert(listed().await?.iter().map(|w| w.version).collect()),
                };
                if still.contains(&v.version) {
                    return Err(missing_files(path, v.version, e));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A version of an open dataset whose files are missing: corrupt.
fn missing_files(path: &TablePath, version: u64, e: Error) -> Error {
    e.with_kind(ErrorKind::Corrupt).context(format!(
        "table {path}: version {version} is listed but its files are missing"
    ))
}

#[async_trait]
impl LakeStorage for LanceStorage {
    async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
        let dataset = self.open(path).await?;
        table_info(path, &Schema::from(dataset.schema()))
    }

    async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
        snapshots_of(path, &self.open(path).await?).await
    }

    async fn latest_snapshot(&self, path: &TablePath) -> Result<Option<LakeSnapshot>> {
        let dataset = self.open(path).await?;
        let version = dataset.version_id();
        match version_of(&dataset, version).await {
            Ok((_, true)) => Ok(None),
            Ok((snapshot, false)) => Ok(Some(snapshot)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(missing_files(path, version, e)),
            Err(e) => Err(e),
        }
    }

    async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>> {
        self.source_of(path, self.open(path).await?)
    }

    /// One open of the dataset (its latest manifest) for both.
    async fn open_scan(&self, path: &TablePath) -> Result<LakeScanStart> {
        let dataset = self.open(path).await?;
        Ok(LakeScanStart {
            snapshots: snapshots_of(path, &dataset).await?,
            source: Some(self.source_of(path, dataset)?),
        })
    }

    async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn LakeWriter>> {
        info.validate()?;
        // a round's rows are matched by the key alone, across partitions
        info.ensure_key_holds_partitions()?;
        // and its partitions must have names a read can give them back
        info.ensure_named_partitions()?;
        // before anything is written: a round's deletes and its reads name these in SQL
        crate::predicate::sql_idents(info, &info.primary_key)?;
        crate::predicate::sql_idents(info, &info.partition_keys)?;
        // and the names the dataset's schema cannot keep, before a round is buffered
        crate::schema::lance_schema(info, false)?;
        match self.open(&info.path).await {
            Ok(dataset) => {
                let lake = table_info(&info.path, &Schema::from(dataset.schema()))?;
                info.ensure_compatible(&lake)?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Box::new(LanceLakeWriter {
            uri: self.config.table_uri(&info.path),
            info: info.clone(),
            written: BTreeMap::new(),
            max_rows_per_file: self.config.max_rows_per_file,
            bucket_column: self.config.bucket_column,
        }))
    }

    /// Blob v2 values lie in ranges of the dataset's files, which references can name.
    async fn blob_references(&self, path: &TablePath) -> Result<bool> {
        match self.open(path).await {
            Ok(dataset) => Ok(blobs_are_v2(&Schema::from(dataset.schema()))),
            // the writer creates blob v2 columns
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use lake_api::{LogBatch, TableBucket};

    use super::*;
    use crate::test_rows;

    #[test]
    fn a_relative_root_becomes_absolute() {
        // regression: a relative root stayed relative, and so did the BLOB reference URIs
        // made from it, which then meant another file from another working directory
        let c = LanceConfig::new("lake/");
        assert!(std::path::Path::new(&c.root).is_absolute(), "{}", c.root);
        assert!(c.root.ends_with("/lake"), "{}", c.root);
        assert_eq!(LanceConfig::new("s3://b/x/").root, "s3://b/x");
        assert_eq!(LanceConfig::new("file:///x").root, "file:///x");
    }

    /// Regression: a `Restore` commits no properties, so a reader took the offsets of the
    /// newest version before it (the round it undid) with the content it restored, and
    /// the rows between the two were in neither the lake nor the log range read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restored_version_keeps_the_offsets_of_what_it_restores() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()));
        let info = TableInfo::log_table(TablePath::new("db", "t"), test_rows::schema(), 1);
        let mut rounds = Vec::new();
        for round in 0..2i64 {
            let batch = test_rows::rows(round * 10..round * 10 + 3)?;
            let mut writer = lake.create_lake_writer(&info).await?;
            writer
                .write(&TableBucket::new(0), &LogBatch::append_only(batch, round * 3))
                .await?;
            let offsets = format!("round {round}");
            let snapshot = writer
                .commit(BTreeMap::from([(FLUSS_OFFSETS_PROPERTY.to_string(), offsets)]))
                .await?;
            rounds.push(snapshot.id);
        }
        let first = u64::try_from(rounds[0]).map_err(|e| Error::invalid(e.to_string()))?;
        let uri = lake.config().table_uri(&info.path);
        let mut restored = open_dataset(&uri, Some(first)).await?;
        restored.restore().await.map_err(lance_err("restore"))?;
        let latest = lake
            .latest_snapshot(&info.path)
            .await?
            .ok_or_else(|| Error::invalid("no snapshot"))?;
        assert!(latest.id > rounds[1], "{latest:?}");
        assert_eq!(
            latest.properties.get(FLUSS_OFFSETS_PROPERTY).map(String::as_str),
            Some("round 0"),
            "{latest:?}"
        );
        // back to the empty version the dataset was created with: no offsets describe it,
        // and the ones before the restore must not be taken for its own
        let mut empty = open_dataset(&uri, Some(1)).await?;
        empty.restore().await.map_err(lance_err("restore"))?;
        let snapshots = lake.list_snapshots(&info.path).await?;
        let latest = snapshots.last().ok_or_else(|| Error::invalid("no snapshot"))?;
        assert!(latest.properties.contains_key(OFFSETS_UNKNOWN_PROPERTY), "{latest:?}");
        assert!(!latest.properties.contains_key(FLUSS_OFFSETS_PROPERTY), "{latest:?}");
        let log = lake_api::memory::MemoryLog::new(info.clone())?;
        let Err(e) = lake_api::latest_tiered_offsets(&log, &snapshots).await else {
            return Err(Error::invalid("offsets taken from before the restore"));
        };
        assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
        Ok(())
    }
}
