//! How to reach an Iceberg catalog: everything a remote worker needs to open the same
//! tables from configuration alone.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use iceberg::io::{FileIO, FileIOBuilder, LocalFsStorageFactory, StorageFactory};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle, SqlCatalogBuilder,
};
use lake_api::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::error::iceberg_err;

/// Which catalog holds the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum CatalogConfig {
    /// The SQL catalog (JDBC-compatible tables) on SQLite: the embedded default.
    Sql {
        /// A sqlx SQLite URI, e.g. `sqlite:/data/lake/catalog.db?mode=rwc`.
        uri: String,
    },
    /// An Iceberg REST catalog.
    Rest {
        /// The catalog's base URI, e.g. `http://localhost:8181`.
        uri: String,
    },
    /// One table straight from its metadata JSON file, read-only, for workers and for
    /// tables whose catalog is out of reach. Every table path resolves to this table.
    MetadataFile {
        /// The metadata JSON file (`.../metadata/00003-<uuid>.metadata.json`).
        location: String,
    },
}

/// Configuration of an [`IcebergStorage`](crate::IcebergStorage).
///
/// ```
/// use lake_iceberg::IcebergConfig;
///
/// let config = IcebergConfig::sqlite("/data/lake");
/// assert_eq!(config.warehouse, "/data/lake");
/// let json = serde_json::to_string(&config).unwrap();
/// assert_eq!(serde_json::from_str::<IcebergConfig>(&json).unwrap(), config);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IcebergConfig {
    /// The catalog.
    pub catalog: CatalogConfig,
    /// Where new tables go (a local directory).
    pub warehouse: String,
    /// The catalog's name: every process sharing a SQL catalog must use the same one.
    #[serde(default = "default_catalog_name")]
    pub catalog_name: String,
    /// Passed to the catalog and to the file IO (credentials, endpoints, pool sizes).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_catalog_name() -> String {
    "lakeunion".into()
}

impl IcebergConfig {
    /// A SQLite SQL catalog in `warehouse/catalog.db`, tables under `warehouse`.
    pub fn sqlite(warehouse: impl AsRef<Path>) -> Self {
        let warehouse = warehouse.as_ref().to_string_lossy().into_owned();
        Self {
            catalog: CatalogConfig::Sql {
                uri: format!("sqlite:{}/catalog.db?mode=rwc", warehouse.trim_end_matches('/')),
            },
            warehouse,
            catalog_name: default_catalog_name(),
            properties: BTreeMap::new(),
        }
    }

    /// A REST catalog at `uri`.
    pub fn rest(uri: impl Into<String>, warehouse: impl Into<String>) -> Self {
        Self {
            catalog: CatalogConfig::Rest { uri: uri.into() },
            warehouse: warehouse.into(),
            catalog_name: default_catalog_name(),
            properties: BTreeMap::new(),
        }
    }

    /// One table from its metadata JSON file (read-only).
    pub fn metadata_file(location: impl Into<String>) -> Self {
        Self {
            catalog: CatalogConfig::MetadataFile {
                location: location.into(),
            },
            warehouse: String::new(),
            catalog_name: default_catalog_name(),
            properties: BTreeMap::new(),
        }
    }

    /// Sets the catalog name.
    pub fn with_catalog_name(mut self, name: impl Into<String>) -> Self {
        self.catalog_name = name.into();
        self
    }

    /// Adds a catalog / file IO property.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    pub(crate) fn storage_factory(&self) -> Arc<dyn StorageFactory> {
        // local files only: object stores come with iceberg-storage-opendal, not linked yet
        Arc::new(LocalFsStorageFactory)
    }

    pub(crate) fn file_io(&self) -> FileIO {
        FileIOBuilder::new(self.storage_factory())
            .with_props(self.properties.clone())
            .build()
    }

    /// Connects to the catalog (`None` for a metadata-file table, which needs none).
    pub(crate) async fn connect(&self) -> Result<Option<Arc<dyn Catalog>>> {
        let mut props: HashMap<String, String> = self.properties.clone().into_iter().collect();
        match &self.catalog {
            CatalogConfig::Sql { uri } => {
                if let Some(dir) = sqlite_parent_dir(uri) {
                    std::fs::create_dir_all(&dir).map_err(|e| {
                        Error::new(
                            lake_api::ErrorKind::Io,
                            format!("creating the catalog directory {dir}: {e}"),
                        )
                    })?;
                }
                props.insert(SQL_CATALOG_PROP_URI.into(), uri.clone());
                props.insert(SQL_CATALOG_PROP_WAREHOUSE.into(), self.warehouse.clone());
                props.insert(SQL_CATALOG_PROP_BIND_STYLE.into(), SqlBindStyle::QMark.to_string());
                let catalog = SqlCatalogBuilder::default()
                    .with_storage_factory(self.storage_factory())
                    .load(&self.catalog_name, props)
                    .await
                    .map_err(iceberg_err(format!("opening the SQL catalog {uri}")))?;
                Ok(Some(Arc::new(catalog)))
            }
            CatalogConfig::Rest { uri } => {
                props.insert(iceberg_catalog_rest::REST_CATALOG_PROP_URI.into(), uri.clone());
                if !self.warehouse.is_empty() {
                    props.insert(
                        iceberg_catalog_rest::REST_CATALOG_PROP_WAREHOUSE.into(),
                        self.warehouse.clone(),
                    );
                }
                let catalog = iceberg_catalog_rest::RestCatalogBuilder::default()
                    .with_storage_factory(self.storage_factory())
                    .load(&self.catalog_name, props)
                    .await
                    .map_err(iceberg_err(format!("opening the REST catalog {uri}")))?;
                Ok(Some(Arc::new(catalog)))
            }
            CatalogConfig::MetadataFile { .. } => Ok(None),
        }
    }
}

/// The directory of a file-backed SQLite URI, so that a new warehouse can be created.
fn sqlite_parent_dir(uri: &str) -> Option<String> {
    let path = uri.strip_prefix("sqlite:")?.trim_start_matches("//");
    let path = path.split('?').next()?;
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_dirs() {
        assert_eq!(sqlite_parent_dir("sqlite:/a/b/c.db?mode=rwc").as_deref(), Some("/a/b"));
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_parent_dir("postgres://x"), None);
    }
}
