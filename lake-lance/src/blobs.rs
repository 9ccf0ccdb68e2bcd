//! BLOB references into a Lance dataset, and [`LanceBlobResolver`], which fetches them.
//!
//! A blob v2 value lives in a file of the dataset: inline ones in the out-of-line buffer
//! of the fragment's data file, packed ones in a shared blob file, dedicated ones in a file
//! of their own. Lance's own `take_blobs_by_addresses` says which file and range (this
//! crate does not read descriptors itself); a reference is that range of that file, named
//! by the dataset's URI plus the file's path below it. External blobs keep the URI Lance
//! recorded for them, which [`LanceBlobResolver`] does not serve (a resolver for their own
//! store does).

use std::sync::Arc;

use arrow_array::{ArrayRef, UInt64Array};
use async_trait::async_trait;
use lake_api::blob::{BlobRef, BlobRefBuilder, BlobResolver};
use lake_api::{Error, ErrorKind, Result};
use lance::Dataset;
use lance::dataset::BlobFile;
use lance::datatypes::BlobKind;
use object_store::path::Path;

use crate::error::{from_lance, lance_err};

/// Where a dataset's files live: its URI and the same place as an object-store path.
#[derive(Debug, Clone)]
struct DatasetBase {
    /// The dataset's URI without a trailing `/`.
    uri: String,
    /// The dataset's root in its object store.
    path: Path,
}

impl DatasetBase {
    fn of(dataset: &Dataset) -> Self {
        Self {
            uri: dataset.uri().trim_end_matches('/').to_string(),
            path: dataset.branch_location().path,
        }
    }

    /// The URI of an object of the dataset's store, if it lies below the dataset.
    fn uri_of(&self, object: &Path) -> Option<String> {
        let rest: Vec<_> = object
            .prefix_match(&self.path)?
            .map(|part| part.as_ref().to_string())
            .collect();
        (!rest.is_empty()).then(|| format!("{}/{}", self.uri, rest.join("/")))
    }

    /// The object-store path a URI of [`uri_of`](Self::uri_of) names; `None` for a URI
    /// outside the dataset. Path segments are checked (`..` and empty ones are refused).
    fn path_of(&self, uri: &str) -> Option<Path> {
        let rest = uri.strip_prefix(self.uri.as_str())?.strip_prefix('/')?;
        let mut path = self.path.clone();
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return None;
            }
            path = path.clone().join(segment);
        }
        Some(path)
    }
}

/// The BLOB references (`lakeunion.blob_ref` structs) of `column` for the rows at
/// `row_addrs` of `dataset`; null blobs are null references.
pub(crate) async fn blob_references(
    dataset: &Arc<Dataset>,
    row_addrs: &UInt64Array,
    column: &str,
    context: &str,
) -> Result<ArrayRef> {
    let files = dataset
        .take_blobs_by_addresses(row_addrs.values(), column)
        .await
        .map_err(lance_err(format!("{context}: locating the blobs of column {column}")))?;
    if files.len() != row_addrs.len() {
        return Err(Error::corrupt(format!(
            "{context}: Lance located {} blobs of column {column} for {} rows",
            files.len(),
            row_addrs.len()
        )));
    }
    let base = DatasetBase::of(dataset);
    let mut refs = BlobRefBuilder::with_capacity(files.len());
    for file in &files {
        match file {
            None => refs.append_null(),
            Some(file) => {
                refs.append(&reference(&base, file).map_err(|e| e.context(format!("{context}: column {column}")))?)
            }
        }
    }
    refs.finish()
}

/// One located blob as a reference.
fn reference(base: &DatasetBase, file: &BlobFile) -> Result<BlobRef> {
    if file.kind() == BlobKind::External {
        let uri = file
            .uri()
            .ok_or_else(|| Error::corrupt("an external blob without a URI"))?;
        // an external blob under a registered base has a URI relative to it, which no
        // resolver outside Lance could place
        if !uri.contains("://") && !uri.starts_with('/') {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("external blob {uri} is relative to a Lance base: read the column as payloads"),
            ));
        }
        return Ok(BlobRef::new(uri, file.position(), file.size()));
    }
    let uri = base.uri_of(file.data_path()).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "a {:?} blob in {}, outside the dataset's own base {}: read the column as payloads",
                file.kind(),
                file.data_path(),
                base.uri
            ),
        )
    })?;
    Ok(BlobRef::new(uri, file.position(), file.size()))
}

/// Fetches the references a Lance dataset's readers return: ranged reads of the dataset's
/// files, through the dataset's own object store (so whatever store and credentials opened
/// the dataset serve its blobs too).
///
/// Only files below the dataset are read: a reference elsewhere (an external blob, a forged
/// URI, `..` segments) is an `InvalidArgument` row error; resolve external blobs with a
/// resolver for their store.
pub struct LanceBlobResolver {
    dataset: Arc<Dataset>,
    base: DatasetBase,
}

impl std::fmt::Debug for LanceBlobResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanceBlobResolver")
            .field("dataset", &self.base.uri)
            .finish()
    }
}

impl LanceBlobResolver {
    /// A resolver for the files of `dataset` (any version: they share the files).
    pub fn new(dataset: Arc<Dataset>) -> Self {
        let base = DatasetBase::of(&dataset);
        Self { dataset, base }
    }

    /// Whether `uri` names a file of the dataset.
    pub fn serves(&self, uri: &str) -> bool {
        self.base.path_of(uri).is_some()
    }
}

#[async_trait]
impl BlobResolver for LanceBlobResolver {
    async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        let path = self.base.path_of(&blob.uri).ok_or_else(|| {
            Error::invalid(format!(
                "blob {blob} is not a file of the Lance dataset {}",
                self.base.uri
            ))
        })?;
        let range = blob.range()?;
        let range = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .map(|(start, end)| start..end)
            .ok_or_else(|| Error::invalid(format!("blob {blob}: the range does not fit in memory")))?;
        let context = format!("blob {blob}");
        let store = self.dataset.object_store(None).await.map_err(lance_err(&context))?;
        let reader = store.open(&path).await.map_err(lance_err(&context))?;
        // Lance's local reader allocates the whole range before it reads: a reference
        // past the end of its file must fail here, not ask for its length in memory (the
        // reader learns its size once, from the file it holds open). A remote reader
        // would pay a request for the size, so there the bytes returned are checked, but
        // for an empty range (an empty payload), which object stores refuse to read.
        if store.is_local() || range.is_empty() {
            let size = reader.size().await.map_err(|e| from_lance(e.into(), &context))?;
            if range.end > size {
                return Err(Error::corrupt(format!(
                    "blob {blob} ends past the end of its {size}-byte file"
                )));
            }
        }
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = range.len();
        let bytes = reader
            .get_range(range)
            .await
            .map_err(|e| from_lance(e.into(), &context))?;
        if bytes.len() != wanted {
            return Err(Error::corrupt(format!(
                "blob {blob}: {} of its {wanted} bytes could be read, it ends past the end of its file",
                bytes.len()
            )));
        }
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> DatasetBase {
        DatasetBase {
            uri: "s3://bucket/db/t.lance".to_string(),
            path: Path::from("db/t.lance"),
        }
    }

    #[test]
    fn uris_and_paths_map_both_ways_inside_the_dataset_only() {
        let base = base();
        let file = Path::from("db/t.lance/data/abc.lance");
        let uri = base.uri_of(&file);
        assert_eq!(uri.as_deref(), Some("s3://bucket/db/t.lance/data/abc.lance"));
        assert_eq!(base.path_of("s3://bucket/db/t.lance/data/abc.lance"), Some(file));
        assert_eq!(base.uri_of(&Path::from("db/other.lance/data/x.lance")), None);
        assert_eq!(base.uri_of(&Path::from("db/t.lance")), None);
        for hostile in [
            "s3://bucket/db/t.lance/../secret",
            "s3://bucket/db/t.lance/data//x",
            "s3://bucket/db/t.lance2/data/x",
            "s3://bucket/db/t.lance",
            "/etc/passwd",
        ] {
            assert_eq!(base.path_of(hostile), None, "{hostile}");
        }
    }
}
