//! How to reach an Iceberg catalog: everything a remote worker needs to open the same
//! tables from configuration alone.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceberg::io::{FileIO, FileIOBuilder, StorageFactory};
use iceberg::{Catalog, CatalogBuilder};
use iceberg_catalog_sql::{
    SQL_CATALOG_PROP_BIND_STYLE, SQL_CATALOG_PROP_URI, SQL_CATALOG_PROP_WAREHOUSE, SqlBindStyle, SqlCatalogBuilder,
};
use lake_api::location::scheme;
use lake_api::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::error::iceberg_err;
use crate::scheme_storage::{SchemeStorageFactory, store_for};

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
    /// Where new tables go: a local directory, or an `s3://bucket/path` URI (the `s3`
    /// feature, on by default; `s3.endpoint`, `s3.access-key-id`, `s3.secret-access-key`,
    /// `s3.region` and `s3.path-style-access` in [`properties`](Self::properties)).
    pub warehouse: String,
    /// The catalog's name: every process sharing a SQL catalog must use the same one.
    #[serde(default = "default_catalog_name")]
    pub catalog_name: String,
    /// Passed to the catalog and to the file IO (credentials, endpoints, pool sizes).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// What a directory's path must have escaped inside a sqlx SQLite URI: what would end the
/// path (`?`, `#`), the escape itself, and control characters.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');

fn default_catalog_name() -> String {
    "lakeunion".into()
}

impl IcebergConfig {
    /// A SQLite SQL catalog in `warehouse/catalog.db`, tables under `warehouse` (made
    /// absolute: the catalog records where its tables are): a local warehouse (one in an
    /// object store takes [`IcebergConfig::sql`]).
    pub fn sqlite(warehouse: impl AsRef<Path>) -> Self {
        let warehouse = lake_api::location::absolute(&warehouse.as_ref().to_string_lossy());
        // sqlx decodes the path, and a `?` or `#` in it would end it
        let path = percent_encoding::utf8_percent_encode(warehouse.trim_end_matches('/'), URI_PATH);
        let uri = format!("sqlite:{path}/catalog.db?mode=rwc");
        Self::sql(uri, warehouse)
    }

    /// The local file a SQLite catalog keeps its tables in; `None` for other catalogs (an
    /// in-memory SQLite one included). Connecting creates the file when it is missing, so
    /// a reader that must not create a catalog checks it first.
    ///
    /// ```
    /// use lake_iceberg::IcebergConfig;
    ///
    /// let config = IcebergConfig::sqlite("/data/lake");
    /// assert_eq!(config.catalog_file(), Some("/data/lake/catalog.db".into()));
    /// assert_eq!(IcebergConfig::rest("http://catalog:8181", "wh").catalog_file(), None);
    /// ```
    pub fn catalog_file(&self) -> Option<PathBuf> {
        match &self.catalog {
            CatalogConfig::Sql { uri } => sqlite_file(uri),
            _ => None,
        }
    }

    /// A SQL catalog at the sqlx URI `uri` with tables under `warehouse` (a local path made
    /// absolute): a warehouse in an object store keeps its catalog apart.
    ///
    /// ```
    /// use lake_iceberg::IcebergConfig;
    ///
    /// let config = IcebergConfig::sql("sqlite:/var/lib/lake/catalog.db?mode=rwc", "s3://lake/wh")
    ///     .with_property("s3.endpoint", "http://127.0.0.1:9000")
    ///     .with_property("s3.region", "us-east-1");
    /// assert_eq!(config.warehouse, "s3://lake/wh");
    /// ```
    pub fn sql(uri: impl Into<String>, warehouse: impl Into<String>) -> Self {
        Self {
            catalog: CatalogConfig::Sql { uri: uri.into() },
            // the catalog records its tables' locations: a relative one would be read
            // against whatever directory a later reader runs in
            warehouse: lake_api::location::absolute(&warehouse.into()),
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

    /// Where the lake's files live, as far as the configuration says: the metadata file of
    /// a metadata-file table, the warehouse otherwise. A REST catalog's warehouse may be a
    /// bare name, which says nothing: the file IO then goes by each path's own scheme.
    fn storage_root(&self) -> &str {
        match &self.catalog {
            CatalogConfig::MetadataFile { location } => location,
            CatalogConfig::Sql { .. } | CatalogConfig::Rest { .. } => &self.warehouse,
        }
    }

    /// The file IO's storage: each path by its own scheme, local files for a path or
    /// `file://`, S3 for `s3://` (and `s3a://`, `s3n://`) with the `s3` feature. Fails
    /// when [`Self::storage_root`] has a scheme this build does not reach.
    pub(crate) fn storage_factory(&self) -> Result<Arc<dyn StorageFactory>> {
        storage_factory_for(self.storage_root())
    }

    pub(crate) fn file_io(&self) -> Result<FileIO> {
        Ok(FileIOBuilder::new(self.storage_factory()?)
            .with_props(self.properties.clone())
            .build())
    }

    /// Connects to the catalog (`None` for a metadata-file table, which needs none).
    pub(crate) async fn connect(&self) -> Result<Option<Arc<dyn Catalog>>> {
        let mut props: HashMap<String, String> = self.properties.clone().into_iter().collect();
        match &self.catalog {
            CatalogConfig::Sql { uri } => {
                // `sqlite:s3://…` (what sqlite() makes of an object-store warehouse), but not
                // sqlx's own `sqlite://path` forms
                if uri.strip_prefix("sqlite:").and_then(scheme).is_some() {
                    return Err(Error::invalid(format!(
                        "the SQLite catalog {uri} names a URI, not a local file: a warehouse in an \
                         object store keeps its catalog apart (IcebergConfig::sql)"
                    )));
                }
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
                    .with_storage_factory(self.storage_factory()?)
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
                    .with_storage_factory(self.storage_factory()?)
                    .load(&self.catalog_name, props)
                    .await
                    .map_err(iceberg_err(format!("opening the REST catalog {uri}")))?;
                Ok(Some(Arc::new(catalog)))
            }
            CatalogConfig::MetadataFile { .. } => Ok(None),
        }
    }
}

/// The storage for files under `root`: each path by its own scheme (see
/// [`SchemeStorage`](crate::scheme_storage::SchemeStorage)), once `root`'s scheme is one
/// this build reaches.
fn storage_factory_for(root: &str) -> Result<Arc<dyn StorageFactory>> {
    store_for(root)
        .map(|_| Arc::new(SchemeStorageFactory) as Arc<dyn StorageFactory>)
        .map_err(|message| Error::new(lake_api::ErrorKind::Unsupported, message))
}

/// The file of a file-backed SQLite URI (`sqlite:/a/b.db?mode=rwc`, `sqlite:///a/b.db`),
/// read as sqlx reads it: `sqlite://` or `sqlite:` stripped once, the path before `?`
/// percent-decoded; `None` for an in-memory database (`:memory:`, `mode=memory`).
fn sqlite_file(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("sqlite://").or_else(|| uri.strip_prefix("sqlite:"))?;
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path == ":memory:" || params.split('&').any(|p| p == "mode=memory");
    if path.is_empty() || in_memory || scheme(path).is_some() {
        return None;
    }
    let path = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    Some(PathBuf::from(path.as_ref()))
}

/// The directory of a file-backed SQLite URI, so that a new warehouse can be created.
fn sqlite_parent_dir(uri: &str) -> Option<String> {
    sqlite_file(uri)?
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_warehouse_keeps_the_characters_a_uri_would_take_as_its_own() {
        // regression: `?` ended the catalog's path ("/tmp/q"), and `%41` became "A"
        for dir in ["/tmp/q?1/lake", "/tmp/a%41/lake", "/tmp/x#y/lake", "/tmp/plain/lake/"] {
            let config = IcebergConfig::sqlite(dir);
            let want = PathBuf::from(format!("{}/catalog.db", dir.trim_end_matches('/')));
            assert_eq!(config.catalog_file(), Some(want), "{dir}");
        }
    }

    #[test]
    fn a_relative_sqlite_warehouse_becomes_absolute() -> Result<()> {
        // regression: `lakescan demo --dir shop` kept "shop/lake": the catalog recorded its
        // tables' metadata under the relative path, and a read from another directory
        // found none of it
        let config = IcebergConfig::sqlite("shop/lake");
        let cwd = std::env::current_dir()?;
        assert_eq!(PathBuf::from(&config.warehouse), cwd.join("shop/lake"));
        assert_eq!(config.catalog_file(), Some(cwd.join("shop/lake/catalog.db")));
        let config = IcebergConfig::sql("sqlite::memory:", "lake");
        assert_eq!(PathBuf::from(&config.warehouse), cwd.join("lake"));
        assert_eq!(
            IcebergConfig::sql("sqlite::memory:", "s3://b/wh").warehouse,
            "s3://b/wh"
        );
        Ok(())
    }

    #[test]
    fn sqlite_dirs() {
        assert_eq!(sqlite_parent_dir("sqlite:/a/b/c.db?mode=rwc").as_deref(), Some("/a/b"));
        assert_eq!(sqlite_parent_dir("sqlite::memory:"), None);
        assert_eq!(sqlite_parent_dir("postgres://x"), None);
        assert_eq!(sqlite_file("sqlite:///a/b.db"), Some(PathBuf::from("/a/b.db")));
        assert_eq!(sqlite_file("sqlite://a/b.db?mode=rwc"), Some(PathBuf::from("a/b.db")));
        assert_eq!(sqlite_file("sqlite:////a/b.db"), Some(PathBuf::from("//a/b.db")));
        assert_eq!(
            sqlite_file("sqlite:/my%20dir/b.db"),
            Some(PathBuf::from("/my dir/b.db"))
        );
        assert_eq!(sqlite_file("sqlite:s3://lake/wh/catalog.db?mode=rwc"), None);
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://?mode=memory",
            "sqlite:name?mode=memory",
        ] {
            assert_eq!(sqlite_file(memory), None, "{memory}");
        }
    }

    #[test]
    fn a_warehouse_scheme_this_build_cannot_reach_is_refused() {
        assert!(storage_factory_for("/data/lake").is_ok());
        assert!(
            IcebergConfig::metadata_file("file:///t/metadata/v1.metadata.json")
                .file_io()
                .is_ok()
        );
        assert_eq!(storage_factory_for("s3://bucket/wh").is_ok(), cfg!(feature = "s3"));
        let e = IcebergConfig::sqlite("hdfs://nn:8020/wh")
            .file_io()
            .err()
            .map(|e| e.kind());
        assert_eq!(e, Some(lake_api::ErrorKind::Unsupported));
    }

    #[tokio::test]
    async fn a_sqlite_catalog_inside_an_object_store_is_refused() {
        // sqlite() is for local warehouses: it would put the catalog at s3://.../catalog.db
        let e = IcebergConfig::sqlite("s3://bucket/wh").connect().await.err();
        assert_eq!(e.map(|e| e.kind()), Some(lake_api::ErrorKind::InvalidArgument));
    }

    #[tokio::test]
    async fn sqlite_uris_with_slashes_name_local_files() -> Result<()> {
        // sqlx's `sqlite:///abs/path` and `sqlite://rel` forms are local files, not URIs
        let dir = std::env::temp_dir().join(format!("lakeunion-sqlite-{}", std::process::id()));
        let uri = format!("sqlite://{}/catalog.db?mode=rwc", dir.display());
        let connected = IcebergConfig::sql(uri, dir.to_string_lossy()).connect().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(connected?.is_some());
        Ok(())
    }
}
