//! [`IcebergStorage`]: the catalog side of the backend (tables, snapshots, sources and
//! writers).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::spec::SnapshotRef;
use iceberg::table::{StaticTable, Table};
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use lake_api::lake::{LakeSnapshot, LakeSource, LakeStorage, LakeWriter};
use lake_api::{Error, ErrorKind, Result, TableInfo, TablePath};

use crate::config::{CatalogConfig, IcebergConfig};
use crate::error::iceberg_err;
use crate::schema::{table_definition, table_info};
use crate::source::IcebergSource;
use crate::writer::IcebergLakeWriter;

/// Apache Iceberg tables behind a catalog, as a [`LakeStorage`].
///
/// Table `db.t` is Iceberg table `t` in namespace `db`. Snapshots are Iceberg snapshots,
/// their properties the snapshot summary (where Fluss writes `fluss-offsets`).
///
/// ```no_run
/// # async fn example() -> lake_api::Result<()> {
/// use lake_api::{LakeStorage, TablePath};
/// use lake_iceberg::{IcebergConfig, IcebergStorage};
///
/// let lake = IcebergStorage::connect(IcebergConfig::sqlite("/data/lake")).await?;
/// let snapshots = lake.list_snapshots(&TablePath::new("fluss", "orders")).await?;
/// println!("{} snapshots", snapshots.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct IcebergStorage {
    config: IcebergConfig,
    catalog: Option<Arc<dyn Catalog>>,
}

impl std::fmt::Debug for IcebergStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergStorage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IcebergStorage {
    /// Connects to the configured catalog (a SQLite catalog is created when missing).
    pub async fn connect(config: IcebergConfig) -> Result<Self> {
        let catalog = config.connect().await?;
        Ok(Self { config, catalog })
    }

    /// The configuration, for workers that open the same storage.
    pub fn config(&self) -> &IcebergConfig {
        &self.config
    }

    fn ident(path: &TablePath) -> Result<TableIdent> {
        TableIdent::from_strs([path.database.as_str(), path.table.as_str()])
            .map_err(iceberg_err(format!("table {path}")))
    }

    /// Loads the Iceberg table.
    pub async fn load_table(&self, path: &TablePath) -> Result<Table> {
        let ident = Self::ident(path)?;
        match (&self.catalog, &self.config.catalog) {
            (Some(catalog), _) => catalog
                .load_table(&ident)
                .await
                .map_err(iceberg_err(format!("table {path}"))),
            (None, CatalogConfig::MetadataFile { location }) => {
                let table = StaticTable::from_metadata_file(location, ident, self.config.file_io())
                    .await
                    .map_err(iceberg_err(format!("table {path} from {location}")))?;
                Ok(table.into_table())
            }
            (None, _) => Err(Error::new(ErrorKind::External, "the Iceberg catalog is not connected")),
        }
    }

    fn catalog(&self, what: &str) -> Result<&Arc<dyn Catalog>> {
        self.catalog.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("{what}: a table opened from its metadata file is read-only"),
            )
        })
    }

    /// Creates the table (and its namespace) for `info`, or loads it when it exists.
    pub async fn create_table(&self, info: &TableInfo) -> Result<Table> {
        let path = &info.path;
        let catalog = self.catalog(&format!("creating table {path}"))?;
        let ident = Self::ident(path)?;
        if catalog
            .table_exists(&ident)
            .await
            .map_err(iceberg_err(format!("table {path}")))?
        {
            return self.load_table(path).await;
        }
        info.validate()?;
        let namespace = NamespaceIdent::new(path.database.clone());
        if !catalog
            .namespace_exists(&namespace)
            .await
            .map_err(iceberg_err(format!("namespace {}", path.database)))?
        {
            catalog
                .create_namespace(&namespace, Default::default())
                .await
                .map_err(iceberg_err(format!("namespace {}", path.database)))?;
        }
        let definition = table_definition(info)?;
        let creation = TableCreation::builder()
            .name(path.table.clone())
            .schema(definition.schema)
            .partition_spec(definition.spec)
            .properties(definition.properties)
            .sort_order_opt(definition.sort_order)
            .build();
        catalog
            .create_table(&namespace, creation)
            .await
            .map_err(iceberg_err(format!("creating table {path}")))
    }
}

/// A lake snapshot from an Iceberg snapshot.
pub(crate) fn snapshot_of(snapshot: &SnapshotRef) -> LakeSnapshot {
    let mut properties: BTreeMap<String, String> = snapshot
        .summary()
        .additional_properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties.insert("operation".into(), snapshot.summary().operation.as_str().to_string());
    LakeSnapshot {
        id: snapshot.snapshot_id(),
        timestamp_ms: snapshot.timestamp_ms(),
        properties,
    }
}

#[async_trait]
impl LakeStorage for IcebergStorage {
    async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
        let table = self.load_table(path).await?;
        table_info(path, table.metadata())
    }

    async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
        let table = self.load_table(path).await?;
        let mut snapshots: Vec<&SnapshotRef> = table.metadata().snapshots().collect();
        snapshots.sort_by_key(|s| (s.sequence_number(), s.timestamp_ms()));
        Ok(snapshots.into_iter().map(snapshot_of).collect())
    }

    async fn latest_snapshot(&self, path: &TablePath) -> Result<Option<LakeSnapshot>> {
        let table = self.load_table(path).await?;
        Ok(table.metadata().current_snapshot().map(snapshot_of))
    }

    async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>> {
        let table = self.load_table(path).await?;
        let info = table_info(path, table.metadata())?;
        Ok(Box::new(IcebergSource::new(table, info)))
    }

    async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn LakeWriter>> {
        let table = self.create_table(info).await?;
        let lake_info = table_info(&info.path, table.metadata())?;
        info.ensure_compatible(&lake_info)?;
        Ok(Box::new(IcebergLakeWriter {
            catalog: self.catalog(&format!("tiering into {}", info.path))?.clone(),
            ident: Self::ident(&info.path)?,
            info: info.clone(),
            written: BTreeMap::new(),
        }))
    }
}
