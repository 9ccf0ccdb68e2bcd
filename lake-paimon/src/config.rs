//! Where a Paimon lake lives: a warehouse and the catalog in front of it, as serde
//! configuration so that a remote worker rebuilds the same storage from it alone.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The catalog of a Paimon lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PaimonCatalog {
    /// The filesystem catalog: `<warehouse>/<db>.db/<table>`, no server. Tables open from
    /// their location, so workers need nothing but the warehouse path.
    Filesystem,
    /// A Paimon REST catalog at `uri`; `options` are passed to it as they are
    /// (`token.provider`, `token`, `dlf.*`, ...).
    Rest {
        /// The catalog server.
        uri: String,
        /// Further catalog options.
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
}

/// A Paimon lake: a warehouse (an absolute path or a URI) and its catalog.
///
/// ```
/// use lake_paimon::PaimonConfig;
///
/// let config = PaimonConfig::filesystem("/data/lake");
/// let json = serde_json::to_string(&config).unwrap();
/// assert_eq!(serde_json::from_str::<PaimonConfig>(&json).unwrap(), config);
///
/// // a warehouse in an S3-compatible store (the `s3` feature, on by default)
/// let config = PaimonConfig::filesystem("s3://lake/warehouse")
///     .with_option("s3.endpoint", "http://127.0.0.1:9000")
///     .with_option("s3.access-key", "key")
///     .with_option("s3.secret-key", "secret")
///     .with_option("s3.path-style-access", "true");
/// assert_eq!(config.options["s3.endpoint"], "http://127.0.0.1:9000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaimonConfig {
    /// The warehouse root: an absolute local path or a URI such as `file:///data/lake`.
    pub warehouse: String,
    /// The catalog.
    pub catalog: PaimonCatalog,
    /// Options of the catalog and of the file IO every table is read through: an object
    /// store's endpoint and credentials (`s3.endpoint`, `s3.access-key`, `s3.secret-key`,
    /// `s3.region`, `s3.path-style-access`, ...), as Paimon names them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

impl PaimonConfig {
    /// The filesystem catalog on `warehouse` (made absolute: the paimon crate takes
    /// absolute paths or URIs only).
    pub fn filesystem(warehouse: impl AsRef<Path>) -> Self {
        Self {
            warehouse: lake_api::location::absolute(&warehouse.as_ref().to_string_lossy()),
            catalog: PaimonCatalog::Filesystem,
            options: BTreeMap::new(),
        }
    }

    /// A REST catalog at `uri` over `warehouse` (the catalog's warehouse name).
    pub fn rest(uri: impl Into<String>, warehouse: impl Into<String>) -> Self {
        Self {
            warehouse: warehouse.into(),
            catalog: PaimonCatalog::Rest {
                uri: uri.into(),
                options: BTreeMap::new(),
            },
            options: BTreeMap::new(),
        }
    }

    /// Adds a catalog and file IO option (see [`PaimonConfig::options`]).
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    /// The paimon catalog options of this configuration.
    pub(crate) fn options(&self) -> paimon::Options {
        let mut options = paimon::Options::new();
        for (k, v) in &self.options {
            options.set(k.clone(), v.clone());
        }
        options.set(paimon::CatalogOptions::WAREHOUSE, self.warehouse.clone());
        if let PaimonCatalog::Rest { uri, options: extra } = &self.catalog {
            options.set(paimon::CatalogOptions::METASTORE, "rest");
            options.set(paimon::CatalogOptions::URI, uri.clone());
            for (k, v) in extra {
                options.set(k.clone(), v.clone());
            }
        }
        options
    }

    /// The location of table `table` of database `database` in the filesystem layout.
    pub(crate) fn table_location(&self, database: &str, table: &str) -> String {
        format!("{}/{database}.db/{table}", self.warehouse.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filesystem_paths_become_absolute() {
        let c = PaimonConfig::filesystem("lake");
        assert!(Path::new(&c.warehouse).is_absolute());
        assert!(c.table_location("db", "t").ends_with("/lake/db.db/t"));
        assert_eq!(PaimonConfig::filesystem("file:///x").warehouse, "file:///x");
    }

    #[test]
    fn rest_options_name_the_server() {
        let c = PaimonConfig::rest("http://localhost:8181", "wh");
        let o = c.options();
        assert_eq!(
            o.get(paimon::CatalogOptions::URI).map(String::as_str),
            Some("http://localhost:8181")
        );
        assert_eq!(
            o.get(paimon::CatalogOptions::METASTORE).map(String::as_str),
            Some("rest")
        );
    }
}
