//! A file IO storage that picks the store by each path's scheme: local paths and `file://`
//! go to the local file system, `s3://` (and `s3a://`, `s3n://`) to S3 with the `s3`
//! feature.
//!
//! The iceberg crate builds one storage per `FileIO`, from a factory chosen before any
//! table is known, and routes every path to it. A REST catalog whose warehouse is a name
//! (`prod`), not a URI, leaves nothing to choose by, while its tables live in S3: with
//! one store picked from the warehouse, their files would be looked for on the local disk.
//! Routing each path by its own scheme reads them wherever the table's metadata says.
//!
//! `iceberg-storage-opendal`'s `OpenDalResolvingStorage` routes the same way, but parses
//! every path as a URL, so the plain paths of a local warehouse (`/data/lake/...`) fail;
//! here they, and `file://` URLs, go to the iceberg crate's own local file system.
//!
//! Every file IO reaches both stores: metadata that names `s3://` files is read from S3
//! (with the `s3.*` properties given, else OpenDAL's usual AWS credential chain), and a
//! path without a scheme is a local file, whatever the warehouse.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, LocalFsStorageFactory, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use lake_api::location::scheme;
use serde::{Deserialize, Serialize};

/// Builds [`SchemeStorage`]s.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct SchemeStorageFactory;

#[typetag::serde(name = "LakeunionSchemeStorageFactory")]
impl StorageFactory for SchemeStorageFactory {
    fn build(&self, config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(SchemeStorage {
            config: config.clone(),
            local: OnceLock::new(),
            s3: OnceLock::new(),
        }))
    }
}

/// The stores a `FileIO` reaches, each built from its configuration on first use.
#[derive(Serialize, Deserialize)]
pub(crate) struct SchemeStorage {
    config: StorageConfig,
    #[serde(skip)]
    local: OnceLock<Arc<dyn Storage>>,
    #[serde(skip)]
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    s3: OnceLock<Arc<dyn Storage>>,
}

impl fmt::Debug for SchemeStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the configuration holds credentials
        f.debug_struct("SchemeStorage")
            .field("local", &self.local.get().is_some())
            .field("s3", &self.s3.get().is_some())
            .finish()
    }
}

/// One of the stores this build reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// Local files: bare paths and `file://`.
    Local,
    /// S3 (`s3://`, `s3a://`, `s3n://`), with the `s3` feature.
    #[cfg(feature = "s3")]
    S3,
}

/// The store that holds `path`, by its scheme; the error says which schemes this build
/// reaches. The one list of reachable schemes, for the catalog's storage and each path.
pub(crate) fn store_for(path: &str) -> std::result::Result<Store, String> {
    match scheme(path) {
        None | Some("file") => Ok(Store::Local),
        #[cfg(feature = "s3")]
        Some("s3" | "s3a" | "s3n") => Ok(Store::S3),
        Some(other) => Err(format!(
            "{path}: this build of lake-iceberg reaches {} and not '{other}://'",
            if cfg!(feature = "s3") {
                "local files and S3 (s3://)"
            } else {
                "local files (S3 needs the `s3` feature)"
            }
        )),
    }
}

impl SchemeStorage {
    /// The store for `path`.
    fn route(&self, path: &str) -> iceberg::Result<Arc<dyn Storage>> {
        match store_for(path) {
            Ok(Store::Local) => get_or_build(&self.local, || LocalFsStorageFactory.build(&self.config)),
            #[cfg(feature = "s3")]
            Ok(Store::S3) => get_or_build(&self.s3, || {
                iceberg_storage_opendal::OpenDalStorageFactory::S3 {
                    customized_credential_load: None,
                }
                .build(&self.config)
            }),
            Err(message) => Err(iceberg::Error::new(iceberg::ErrorKind::FeatureUnsupported, message)),
        }
    }
}

/// The store in `cell`, built by `build` the first time.
fn get_or_build(
    cell: &OnceLock<Arc<dyn Storage>>,
    build: impl FnOnce() -> iceberg::Result<Arc<dyn Storage>>,
) -> iceberg::Result<Arc<dyn Storage>> {
    if let Some(storage) = cell.get() {
        return Ok(storage.clone());
    }
    let storage = build()?;
    // a store built by a racing caller is as good as this one
    Ok(cell.get_or_init(|| storage).clone())
}

#[async_trait]
#[typetag::serde(name = "LakeunionSchemeStorage")]
impl Storage for SchemeStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        self.route(path)?.exists(path).await
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        self.route(path)?.metadata(path).await
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        self.route(path)?.read(path).await
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        self.route(path)?.reader(path).await
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        self.route(path)?.write(path, bs).await
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        self.route(path)?.writer(path).await
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        self.route(path)?.delete(path).await
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        self.route(path)?.delete_prefix(path).await
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        self.route(path)?.new_input(path)
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        self.route(path)?.new_output(path)
    }
}

#[cfg(test)]
mod tests {
    use iceberg::io::FileIOBuilder;

    use super::*;

    fn file_io(props: &[(&str, &str)]) -> iceberg::io::FileIO {
        FileIOBuilder::new(Arc::new(SchemeStorageFactory))
            .with_props(props.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .build()
    }

    #[tokio::test]
    async fn local_paths_go_to_the_local_disk() -> iceberg::Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string()))?;
        let io = file_io(&[]);
        let plain = dir.path().join("a.bin").to_string_lossy().into_owned();
        io.new_output(&plain)?.write(Bytes::from_static(b"abc")).await?;
        let url = format!("file://{plain}");
        assert_eq!(io.new_input(&url)?.read().await?, Bytes::from_static(b"abc"));
        assert!(!io.exists(format!("{plain}.missing")).await?);
        Ok(())
    }

    #[cfg(feature = "s3")]
    #[tokio::test]
    async fn s3_paths_go_to_s3_whatever_came_first() -> iceberg::Result<()> {
        // nothing listens on the endpoint: S3 fails to connect, where the local disk would
        // have said the file does not exist
        let io = file_io(&[
            ("s3.endpoint", "http://127.0.0.1:9"),
            ("s3.region", "us-east-1"),
            ("s3.access-key-id", "k"),
            ("s3.secret-access-key", "s"),
        ]);
        let dir =
            tempfile::tempdir().map_err(|e| iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string()))?;
        assert!(!io.exists(dir.path().join("x").to_string_lossy()).await?);
        assert!(io.exists("s3://bucket/wh/x").await.is_err());
        Ok(())
    }

    #[tokio::test]
    async fn other_schemes_are_refused_by_name() {
        let e = match file_io(&[]).exists("gs://bucket/x").await {
            Ok(found) => panic!("reached gs:// ({found})"),
            Err(e) => e,
        };
        assert_eq!(e.kind(), iceberg::ErrorKind::FeatureUnsupported);
        assert!(e.to_string().contains("gs://"), "{e}");
    }
}
