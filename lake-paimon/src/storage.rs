//! [`PaimonStorage`]: the catalog side of the backend (tables, snapshots, sources and
//! writers).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use lake_api::lake::{LakeScanStart, LakeSnapshot, LakeSource, LakeStorage, LakeWriter};
use lake_api::{Error, ErrorKind, Result, TableInfo, TablePath};
use paimon::catalog::Identifier;
use paimon::io::FileIO;
use paimon::spec::{Snapshot, TableSchema};
use paimon::table::{SchemaManager, Table};
use paimon::{Catalog, CatalogFactory};

use crate::commit_properties::lake_snapshot;
use crate::config::{PaimonCatalog, PaimonConfig};
use crate::error::{found, paimon_err};
use crate::schema::{paimon_schema, sanitize_schema_json, table_info};
use crate::source::PaimonSource;
use crate::writer::PaimonLakeWriter;

/// Apache Paimon tables behind a catalog, as a [`LakeStorage`].
///
/// Table `db.t` is Paimon table `t` of database `db`. Snapshots are Paimon snapshots and
/// their properties the snapshot's `properties` (where Fluss writes `fluss-offsets`).
/// A tiering round records its properties in the table's `lakeunion-commits/` directory
/// before it commits, so that a round stopped before its snapshot got them still reads
/// with them.
///
/// ```no_run
/// # async fn example() -> lake_api::Result<()> {
/// use lake_api::{LakeStorage, TablePath};
/// use lake_paimon::{PaimonConfig, PaimonStorage};
///
/// let lake = PaimonStorage::connect(PaimonConfig::filesystem("/data/lake")).await?;
/// let snapshots = lake.list_snapshots(&TablePath::new("fluss", "orders")).await?;
/// println!("{} snapshots", snapshots.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PaimonStorage {
    config: PaimonConfig,
    catalog: Arc<dyn Catalog>,
}

impl std::fmt::Debug for PaimonStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaimonStorage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PaimonStorage {
    /// Connects to the configured catalog (a filesystem warehouse needs no server and is
    /// created on first write).
    pub async fn connect(config: PaimonConfig) -> Result<Self> {
        let catalog = CatalogFactory::create(config.options())
            .await
            .map_err(paimon_err(format!(
                "connecting to the Paimon catalog of {}",
                config.warehouse
            )))?;
        Ok(Self { config, catalog })
    }

    /// The configuration, for workers that open the same storage.
    pub fn config(&self) -> &PaimonConfig {
        &self.config
    }

    fn ident(path: &TablePath) -> Identifier {
        Identifier::new(path.database.clone(), path.table.clone())
    }

    /// Loads the Paimon table: through the REST catalog, or straight from its location in a
    /// filesystem warehouse (what a worker does, with no catalog round trip).
    pub async fn load_table(&self, path: &TablePath) -> Result<Table> {
        match &self.config.catalog {
            PaimonCatalog::Rest { .. } => self
                .catalog
                .get_table(&Self::ident(path))
                .await
                .map_err(paimon_err(format!("table {path}"))),
            PaimonCatalog::Filesystem => {
                let location = self.config.table_location(&path.database, &path.table);
                open_location(path, &location, &self.config.options).await
            }
        }
    }

    /// Creates the table (and its database) for `info`, or loads it when it exists.
    pub async fn create_table(&self, info: &TableInfo) -> Result<Table> {
        let path = &info.path;
        match self.load_table(path).await {
            Ok(table) => return Ok(table),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        info.validate()?;
        self.create_paimon_table(path, paimon_schema(info)?).await
    }

    /// Creates a table (and its database) with a Paimon schema made elsewhere (tests make
    /// the layouts other writers make), and loads it.
    pub(crate) async fn create_paimon_table(&self, path: &TablePath, schema: paimon::spec::Schema) -> Result<Table> {
        self.catalog
            .create_database(&path.database, true, HashMap::new())
            .await
            .map_err(paimon_err(format!("database {}", path.database)))?;
        self.catalog
            .create_table(&Self::ident(path), schema, true)
            .await
            .map_err(paimon_err(format!("creating table {path}")))?;
        self.load_table(path).await
    }
}

/// Opens a table from its location: the latest schema file, read leniently (see
/// [`sanitize_schema_json`]), and no catalog. `options` configure the file IO (an object
/// store's endpoint and credentials, see [`PaimonConfig::options`]).
pub async fn open_location(path: &TablePath, location: &str, options: &BTreeMap<String, String>) -> Result<Table> {
    let context = format!("table {path} at {location}");
    let io: FileIO = FileIO::from_path(location)
        .and_then(|b| b.with_props(options.iter()).build())
        .map_err(paimon_err(&context))?;
    let schemas = SchemaManager::new(io.clone(), location.to_string());
    let ids = found(schemas.list_all_ids().await, &context)?.unwrap_or_default();
    let Some(latest) = ids.into_iter().max() else {
        return Err(Error::new(ErrorKind::NotFound, format!("{context}: no such table")));
    };
    let schema_path = schemas.schema_path(latest);
    let bytes = io
        .new_input(&schema_path)
        .map_err(paimon_err(&context))?
        .read()
        .await
        .map_err(paimon_err(format!("{context}: schema {schema_path}")))?;
    let mut json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(format!("{context}: schema {schema_path} is not JSON: {e}")))?;
    sanitize_schema_json(&mut json);
    let schema: TableSchema = serde_json::from_value(json)
        .map_err(|e| Error::corrupt(format!("{context}: schema {schema_path} is not a Paimon schema: {e}")))?;
    Ok(Table::new(
        io,
        PaimonStorage::ident(path),
        location.to_string(),
        schema,
        None,
    ))
}

/// A lake snapshot from a Paimon snapshot.
pub(crate) fn snapshot_of(snapshot: &Snapshot) -> LakeSnapshot {
    let mut properties: BTreeMap<String, String> = snapshot
        .properties()
        .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    properties.insert("paimon.commit-kind".into(), format!("{:?}", snapshot.commit_kind()));
    LakeSnapshot {
        id: snapshot.id(),
        timestamp_ms: i64::try_from(snapshot.time_millis()).unwrap_or(i64::MAX),
        properties,
    }
}

/// Snapshot files read at once while listing.
const SNAPSHOT_READS: usize = 16;

/// Every snapshot of a loaded table, oldest first. A snapshot that expires while they are
/// listed is left out, as if listed a moment later.
async fn snapshots_of(path: &TablePath, table: &Table) -> Result<Vec<LakeSnapshot>> {
    let manager = table.snapshot_manager();
    let context = format!("table {path}: listing snapshots");
    let mut ids = manager.list_all_ids().await.map_err(paimon_err(&context))?;
    ids.sort_unstable();
    // read concurrently, as the paimon crate's own listing does: one request per snapshot
    let snapshots: Vec<Option<LakeSnapshot>> = futures::stream::iter(ids)
        .map(|id| {
            let (manager, context) = (&manager, &context);
            async move {
                match found(manager.get_snapshot(id).await, format!("{context}: snapshot {id}"))? {
                    Some(snapshot) => lake_snapshot(table, &snapshot).await.map(Some),
                    None => Ok(None),
                }
            }
        })
        .buffered(SNAPSHOT_READS)
        .try_collect()
        .await?;
    Ok(snapshots.into_iter().flatten().collect())
}

/// A source over a loaded table.
fn source_of(path: &TablePath, table: Table) -> Result<Box<dyn LakeSource>> {
    let info = table_info(path, table.schema())?;
    Ok(Box::new(PaimonSource::new(table, info)))
}

#[async_trait]
impl LakeStorage for PaimonStorage {
    async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
        let table = self.load_table(path).await?;
        table_info(path, table.schema())
    }

    async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
        snapshots_of(path, &self.load_table(path).await?).await
    }

    /// The catalog names the latest snapshot (a REST catalog from its own record), and the
    /// snapshot file says what it holds: the tiering writer adds `fluss-offsets` to the
    /// file after the commit, which a REST catalog's record of the commit does not carry
    /// (or, where the round stopped before that, its record of them: see
    /// `commit_properties`).
    async fn latest_snapshot(&self, path: &TablePath) -> Result<Option<LakeSnapshot>> {
        let table = self.load_table(path).await?;
        let snapshots = table.snapshot_manager();
        let context = format!("table {path}: the latest snapshot");
        let Some(latest) = snapshots.get_latest_snapshot().await.map_err(paimon_err(&context))? else {
            return Ok(None);
        };
        let file = snapshots
            .get_snapshot(latest.id())
            .await
            .map_err(paimon_err(format!("{context} ({})", latest.id())))?;
        Ok(Some(lake_snapshot(&table, &file).await?))
    }

    async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>> {
        source_of(path, self.load_table(path).await?)
    }

    /// One load of the table for both.
    async fn open_scan(&self, path: &TablePath) -> Result<LakeScanStart> {
        let table = self.load_table(path).await?;
        Ok(LakeScanStart {
            snapshots: snapshots_of(path, &table).await?,
            source: Some(source_of(path, table)?),
        })
    }

    async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn LakeWriter>> {
        let table = self.create_table(info).await?;
        let lake_info = table_info(&info.path, table.schema())?;
        info.ensure_compatible(&lake_info)?;
        PaimonLakeWriter::new(table, info.clone()).map(|w| Box::new(w) as Box<dyn LakeWriter>)
    }

    /// Only tables whose BLOB columns are all Paimon `BLOB`s (in `.blob` files, read
    /// through the data-evolution reader) can; a table this backend would create holds
    /// them inline as `BYTES`, so a table not created yet cannot either.
    async fn blob_references(&self, path: &TablePath) -> Result<bool> {
        match self.load_table(path).await {
            Ok(table) => Ok(crate::blobs::can_reference(&table, &table_info(path, table.schema())?)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}
