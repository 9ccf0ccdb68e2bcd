//! Resolving BLOB references: an [`ObjectStoreBlobResolver`] (ranged reads from any
//! `object_store`, local files included) and [`resolve_blobs`], which turns the BLOB
//! reference columns of a stream into BLOB payload columns.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use futures::TryStreamExt;
//! use arrow_array::{RecordBatch, StringArray, StructArray, UInt64Array};
//! use arrow_array::cast::AsArray;
//! use arrow_schema::{DataType, Schema};
//! use lake_api::types::{blob_ref_field, blob_ref_type};
//! use lake_api::RecordBatchStream;
//! use lake_sink::{resolve_blobs, ObjectStoreBlobResolver, ResolveOptions};
//!
//! let dir = std::env::temp_dir().join(format!("lake-sink-resolve-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("images.bin");
//! std::fs::write(&file, b"headerPAYLOAD").unwrap();
//!
//! // One reference: 7 bytes at offset 6 of images.bin.
//! let DataType::Struct(fields) = blob_ref_type() else { unreachable!() };
//! let refs = StructArray::new(fields, vec![
//!     Arc::new(StringArray::from(vec![file.to_str().unwrap()])),
//!     Arc::new(UInt64Array::from(vec![6])),
//!     Arc::new(UInt64Array::from(vec![7])),
//! ], None);
//! let schema = Arc::new(Schema::new(vec![blob_ref_field("image", true)]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(refs)]).unwrap();
//! let input = RecordBatchStream::from_batches(schema, vec![batch]);
//!
//! let resolver = ObjectStoreBlobResolver::local().allow_root(dir.to_str().unwrap()).unwrap();
//! let (output, errors) = resolve_blobs(input, Arc::new(resolver), &["image"], ResolveOptions::default()).unwrap();
//! let batches: Vec<RecordBatch> = output.try_collect().await.unwrap();
//! assert_eq!(batches[0].column(0).as_binary::<i64>().value(0), b"PAYLOAD");
//! assert!(errors.take().is_empty());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```

use std::sync::{Arc, Mutex};

use arrow_array::builder::LargeBinaryBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
/// The bounds of [`resolve_blobs`] (defined beside `resolve_column` in lake-api).
pub use lake_api::blob::ResolveOptions;
use lake_api::blob::{BlobRef, BlobResolver, blob_refs_per_row, check_blob_ref_type, resolve_column_in_order};
use lake_api::types::{BLOB_EXTENSION, EXTENSION_NAME_KEY, blob_field};
use lake_api::{ErrorKind as ApiKind, RecordBatchStream};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result, RowError};

/// Fetches BLOB payloads with ranged reads from an [`ObjectStore`].
///
/// A reference's `uri` must start with the resolver's URI prefix (for [`Self::local`]:
/// `file://`, or a bare absolute path); the rest is the object's path in the store. Only
/// objects under an allowed root are read: a new resolver allows nothing, so every root
/// must be configured with [`Self::allow_root`]. Paths with `.` or `..` segments are
/// refused.
///
/// Row errors (`lake_api::Error`): `InvalidArgument` for a URI this resolver does not
/// serve or outside the allowed roots, `NotFound` for a missing object, `Corrupt` for a
/// range past the end of the object, `Io` for other store failures.
///
/// ```
/// use lake_sink::ObjectStoreBlobResolver;
///
/// let resolver = ObjectStoreBlobResolver::local().allow_root("/data/images").unwrap();
/// assert!(resolver.object_path("file:///data/images/cat.jpg").is_ok());
/// assert!(resolver.object_path("/data/other/cat.jpg").is_err());
/// assert!(resolver.object_path("/data/images/../secrets").is_err());
/// ```
pub struct ObjectStoreBlobResolver {
    store: Arc<dyn ObjectStore>,
    /// The store again where it is the local file system, whose symbolic links can lead
    /// out of the allowed roots: each file is checked where it really lies.
    local: Option<Arc<LocalFileSystem>>,
    uri_prefix: String,
    bare_absolute_paths: bool,
    allowed_roots: Vec<Path>,
    /// For the local file system, the allowed roots with their symbolic links followed,
    /// resolved once (a root that does not exist yet as it is named).
    local_roots: Vec<std::path::PathBuf>,
}

impl std::fmt::Debug for ObjectStoreBlobResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreBlobResolver")
            .field("store", &self.store.to_string())
            .field("uri_prefix", &self.uri_prefix)
            .field("allowed_roots", &self.allowed_roots)
            .finish()
    }
}

fn api_error(kind: ApiKind, message: impl Into<String>) -> lake_api::Error {
    lake_api::Error::new(kind, message)
}

impl ObjectStoreBlobResolver {
    /// A resolver over `store`, for URIs that start with `uri_prefix` (e.g.
    /// `"s3://bucket/"`; `""` takes every URI as a path in the store). Allows no root yet.
    pub fn new(store: Arc<dyn ObjectStore>, uri_prefix: impl Into<String>) -> Self {
        Self {
            store,
            local: None,
            uri_prefix: uri_prefix.into(),
            bare_absolute_paths: false,
            allowed_roots: Vec::new(),
            local_roots: Vec::new(),
        }
    }

    /// A resolver over the local file system, for `file:///abs/path` URIs and bare
    /// absolute paths. Allows no root yet. Symbolic links are followed where they lead to
    /// a file under an allowed root (a root may itself be a link), and refused where they
    /// lead out of them.
    pub fn local() -> Self {
        let local = Arc::new(LocalFileSystem::new());
        Self {
            local: Some(local.clone()),
            bare_absolute_paths: true,
            ..Self::new(local, "file://")
        }
    }

    /// Allows reading objects under `root` (a URI or path in the same form as the
    /// references; matched segment by segment, so `/data/a` does not allow `/data/ab`).
    pub fn allow_root(mut self, root: &str) -> Result<Self> {
        let path = self.map_uri(root).map_err(Error::from)?;
        if let Some(local) = &self.local {
            let dir = local.path_to_filesystem(&path)?;
            self.local_roots.push(std::fs::canonicalize(&dir).unwrap_or(dir));
        }
        self.allowed_roots.push(path);
        Ok(self)
    }

    /// The allowed roots, as store paths.
    pub fn allowed_roots(&self) -> &[Path] {
        &self.allowed_roots
    }

    fn map_uri(&self, uri: &str) -> lake_api::Result<Path> {
        let prefix = self.uri_prefix.as_str();
        // the prefix ends where a path segment does: `s3://bucket` does not serve
        // `s3://bucketdata/x`
        let whole_segments =
            |rest: &str| prefix.is_empty() || prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/');
        let rest = if let Some(rest) = uri.strip_prefix(prefix).filter(|rest| whole_segments(rest)) {
            rest
        } else if self.bare_absolute_paths && uri.starts_with('/') {
            uri
        } else {
            return Err(api_error(
                ApiKind::InvalidArgument,
                format!(
                    "blob uri {uri:?} is not served by this resolver (prefix {:?})",
                    self.uri_prefix
                ),
            ));
        };
        if self.bare_absolute_paths && !rest.starts_with('/') {
            return Err(api_error(
                ApiKind::InvalidArgument,
                format!("blob uri {uri:?} is not an absolute path"),
            ));
        }
        Path::parse(rest).map_err(|e| {
            api_error(
                ApiKind::InvalidArgument,
                format!("blob uri {uri:?} is not a valid path"),
            )
            .with_source(e)
        })
    }

    /// The store path of `uri`, if this resolver serves it and it is under an allowed root.
    pub fn object_path(&self, uri: &str) -> lake_api::Result<Path> {
        let path = self.map_uri(uri)?;
        if self.allowed_roots.iter().any(|root| path.prefix_matches(root)) {
            Ok(path)
        } else {
            Err(api_error(
                ApiKind::InvalidArgument,
                format!("blob uri {uri:?} is outside the allowed roots"),
            ))
        }
    }

    /// For the local file system: the file `path` names, with every symbolic link on the
    /// way followed, which the read then opens by that path; fails unless it lies under an
    /// allowed root (each resolved the same way) and is a regular file (opening a FIFO
    /// would block the read for good). The check and the read are two steps: someone who
    /// can write under a root could swap a directory on the way for a link between them,
    /// which the read would follow; the roots keep out references, not local writers.
    async fn local_target(&self, local: &LocalFileSystem, path: &Path, blob: &BlobRef) -> lake_api::Result<Path> {
        let file = local.path_to_filesystem(path).map_err(|e| Self::store_error(blob, e))?;
        let resolve = move || {
            let target = std::fs::canonicalize(&file)?;
            let regular = std::fs::metadata(&target)?.is_file();
            Ok::<_, std::io::Error>((target, regular))
        };
        let target = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn_blocking(resolve).await.map_err(|e| {
                api_error(ApiKind::External, format!("resolving blob {blob}: the task failed")).with_source(e)
            })?,
            Err(_) => resolve(),
        };
        match target {
            Ok((target, _)) if !self.local_roots.iter().any(|root| target.starts_with(root)) => Err(api_error(
                ApiKind::InvalidArgument,
                format!(
                    "blob uri {:?} is outside the allowed roots: a symbolic link leads out of them",
                    blob.uri
                ),
            )),
            Ok((_, false)) => Err(api_error(
                ApiKind::InvalidArgument,
                format!(
                    "blob uri {:?} names no regular file (a directory, FIFO or device)",
                    blob.uri
                ),
            )),
            Ok((target, true)) => Path::from_absolute_path(&target).map_err(|e| {
                api_error(
                    ApiKind::InvalidArgument,
                    format!("blob uri {:?} names no valid path", blob.uri),
                )
                .with_source(e)
            }),
            Err(e) => {
                let kind = match e.kind() {
                    std::io::ErrorKind::NotFound => ApiKind::NotFound,
                    _ => ApiKind::Io,
                };
                Err(api_error(kind, format!("reading blob {blob}")).with_source(e))
            }
        }
    }

    fn past_end(blob: &BlobRef, size: u64) -> lake_api::Error {
        api_error(
            ApiKind::Corrupt,
            format!("blob {blob} reaches past the end of the object ({size} bytes)"),
        )
    }

    fn store_error(blob: &BlobRef, e: object_store::Error) -> lake_api::Error {
        let kind = match e {
            object_store::Error::NotFound { .. } => ApiKind::NotFound,
            _ => ApiKind::Io,
        };
        api_error(kind, format!("reading blob {blob}")).with_source(e)
    }
}

#[async_trait]
impl BlobResolver for ObjectStoreBlobResolver {
    async fn fetch(&self, blob: &BlobRef) -> lake_api::Result<Vec<u8>> {
        let mut path = self.object_path(&blob.uri)?;
        if let Some(local) = &self.local {
            path = self.local_target(local, &path, blob).await?;
        }
        let range = blob.range()?;
        if range.is_empty() {
            let meta = self.store.head(&path).await.map_err(|e| Self::store_error(blob, e))?;
            return if range.start > meta.size {
                Err(Self::past_end(blob, meta.size))
            } else {
                Ok(Vec::new())
            };
        }
        match self.store.get_range(&path, range.clone()).await {
            // a payload the store does not share moves into the Vec uncopied: a copy would
            // hold it twice, past the bytes-in-flight budget
            Ok(bytes) if bytes.len() as u64 == blob.length => Ok(Vec::from(bytes)),
            Ok(bytes) => Err(Self::past_end(blob, range.start + bytes.len() as u64)),
            Err(e @ object_store::Error::NotFound { .. }) => Err(Self::store_error(blob, e)),
            Err(e) => match self.store.head(&path).await {
                Ok(meta) if meta.size < range.end => Err(Self::past_end(blob, meta.size)),
                _ => Err(Self::store_error(blob, e)),
            },
        }
    }
}

/// The row errors of a [`resolve_blobs`] stream, filled in as the stream is read; read
/// them once the stream has ended. Clones share the list.
#[derive(Debug, Clone, Default)]
pub struct RowErrors(Arc<Mutex<Vec<RowError>>>);

impl RowErrors {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RowError>> {
        // A panic while pushing cannot leave the Vec inconsistent; ignore poisoning.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the errors recorded so far (in row order per column), leaving none.
    pub fn take(&self) -> Vec<RowError> {
        std::mem::take(&mut *self.lock())
    }

    /// How many errors are recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no error is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn extend(&self, errors: Vec<RowError>) {
        if !errors.is_empty() {
            self.lock().extend(errors);
        }
    }
}

/// Replaces the BLOB reference columns `columns` of `stream` by BLOB columns
/// (`LargeBinary` marked `lakeunion.blob`, nullable) holding the fetched payloads.
///
/// Payloads are fetched through `resolver`, concurrently within a batch (bounded by
/// `options`), batches in order; a reference longer than `options.max_blob_bytes` is a row
/// error and is not fetched. A row whose fetch fails becomes null and its error goes
/// to the returned [`RowErrors`]; the stream goes on. Stream errors pass through.
///
/// Errors (before any read): `InvalidArgument` for an unknown or repeated column,
/// `SchemaMismatch` for a column that is not a BLOB reference struct.
pub fn resolve_blobs(
    stream: RecordBatchStream,
    resolver: Arc<dyn BlobResolver>,
    columns: &[&str],
    options: ResolveOptions,
) -> Result<(RecordBatchStream, RowErrors)> {
    let input_schema = stream.schema();
    let mut targets: Vec<(usize, String)> = Vec::with_capacity(columns.len());
    let mut fields: Vec<Field> = input_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for &name in columns {
        let (index, field) = input_schema
            .column_with_name(name)
            .ok_or_else(|| Error::invalid(format!("no column {name:?} to resolve")))?;
        if targets.iter().any(|(i, _)| *i == index) {
            return Err(Error::invalid(format!("column {name:?} named twice")));
        }
        check_blob_ref_type(field.data_type()).map_err(|e| Error::from(e).context(format!("column {name:?}")))?;
        let mut metadata = field.metadata().clone();
        metadata.insert(EXTENSION_NAME_KEY.to_string(), BLOB_EXTENSION.to_string());
        fields[index] = blob_field(name, true).with_metadata(metadata);
        targets.push((index, name.to_string()));
    }
    let output_schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, input_schema.metadata().clone()));
    let targets = Arc::new(targets);
    let errors = RowErrors::default();

    let mut next_row: u64 = 0;
    let out_schema = output_schema.clone();
    let sink_errors = errors.clone();
    let resolved = stream.then(move |item| {
        let base = next_row;
        if let Ok(batch) = &item {
            next_row += batch.num_rows() as u64;
        }
        let resolver = resolver.clone();
        let targets = targets.clone();
        let schema = out_schema.clone();
        let errors = sink_errors.clone();
        async move {
            let batch = item?;
            let (batch, row_errors) = resolve_batch(&batch, resolver.as_ref(), &targets, schema, base, options).await?;
            errors.extend(row_errors);
            Ok(batch)
        }
    });
    Ok((RecordBatchStream::new(output_schema, resolved), errors))
}

async fn resolve_batch(
    batch: &RecordBatch,
    resolver: &dyn BlobResolver,
    targets: &[(usize, String)],
    schema: SchemaRef,
    base: u64,
    options: ResolveOptions,
) -> lake_api::Result<(RecordBatch, Vec<RowError>)> {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    let mut row_errors = Vec::new();
    for (index, name) in targets {
        let array = batch
            .columns()
            .get(*index)
            .ok_or_else(|| api_error(ApiKind::SchemaMismatch, format!("batch has no column {name:?}")))?;
        // a malformed reference fails its row, not the stream
        let per_row = blob_refs_per_row(array.as_ref()).map_err(|e| e.context(format!("column {name:?}")))?;
        let mut malformed = std::collections::HashMap::new();
        let refs: Vec<Option<BlobRef>> = per_row
            .into_iter()
            .enumerate()
            .map(|(row, r)| match r {
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    malformed.insert(row, e);
                    None
                }
                None => None,
            })
            .collect();
        // sized for the payloads up to the bytes in flight: the lengths are the input's word,
        // and the column grows past that as payloads arrive
        let claimed = refs
            .iter()
            .flatten()
            .map(|r| r.length)
            .filter(|&length| length <= options.max_blob_bytes)
            .fold(0u64, u64::saturating_add);
        let capacity = claimed.min(options.max_bytes_in_flight as u64) as usize;
        let mut builder = LargeBinaryBuilder::with_capacity(refs.len(), capacity);
        // each payload is copied into the column as its row comes, in row order, so the
        // batch holds the column and at most `max_bytes_in_flight` of payloads besides (or
        // one longer payload, fetched alone)
        resolve_column_in_order(resolver, &refs, options, |row, outcome| {
            match outcome.or_else(|| malformed.remove(&row).map(Err)) {
                None => builder.append_null(),
                Some(Ok(bytes)) => builder.append_value(bytes),
                Some(Err(error)) => {
                    builder.append_null();
                    row_errors.push(RowError {
                        row: base + row as u64,
                        column: Some(name.clone()),
                        error: error.into(),
                    });
                }
            }
        })
        .await;
        columns[*index] = Arc::new(builder.finish());
    }
    // with its row count, for a batch of no column (a read of none: COUNT(*))
    let out = lake_api::conform::batch_of(&schema, columns, batch.num_rows())?;
    Ok((out, row_errors))
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::{Int64Array, StringArray, StructArray, UInt64Array};
    use arrow_buffer::NullBuffer;
    use arrow_schema::DataType;
    use futures::TryStreamExt;
    use lake_api::types::{LogicalType, blob_ref_field, blob_ref_type};

    use super::*;

    struct Fixture {
        dir: tempfile::TempDir,
        other: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let other = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("a.bin"), b"0123456789").unwrap();
            std::fs::create_dir(dir.path().join("sub")).unwrap();
            std::fs::write(dir.path().join("sub/b.bin"), b"abcdef").unwrap();
            std::fs::write(other.path().join("secret.bin"), b"secret").unwrap();
            Self { dir, other }
        }

        fn uri(&self, name: &str) -> String {
            self.dir.path().join(name).to_str().unwrap().to_string()
        }

        fn resolver(&self) -> ObjectStoreBlobResolver {
            ObjectStoreBlobResolver::local()
                .allow_root(self.dir.path().to_str().unwrap())
                .unwrap()
        }
    }

    #[tokio::test]
    async fn batches_of_no_column_keep_their_rows() -> Result<()> {
        // regression: a read of no column (a COUNT(*)) of a table with BLOBs came back in
        // batches rebuilt from their columns alone, which arrow refused for want of a row
        // count
        let schema = Arc::new(Schema::empty());
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(3));
        let batch = RecordBatch::try_new_with_options(schema.clone(), vec![], &options)?;
        let stream = RecordBatchStream::from_batches(schema, vec![batch]);
        let resolver = Arc::new(ObjectStoreBlobResolver::local());
        let (resolved, errors) = resolve_blobs(stream, resolver, &[], ResolveOptions::default())?;
        let batches: Vec<RecordBatch> = resolved.try_collect().await?;
        assert_eq!(batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![3]);
        assert!(errors.take().is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn fetches_ranges_of_local_files() {
        let f = Fixture::new();
        let r = f.resolver();
        assert_eq!(r.fetch(&BlobRef::new(f.uri("a.bin"), 2, 3)).await.unwrap(), b"234");
        let file_uri = format!("file://{}", f.uri("sub/b.bin"));
        assert_eq!(r.fetch(&BlobRef::new(file_uri, 0, 6)).await.unwrap(), b"abcdef");
        assert_eq!(r.fetch(&BlobRef::new(f.uri("a.bin"), 10, 0)).await.unwrap(), b"");
    }

    #[tokio::test]
    async fn refuses_uris_outside_the_allowed_roots() {
        let f = Fixture::new();
        let secret = f.other.path().join("secret.bin").to_str().unwrap().to_string();
        let e = f.resolver().fetch(&BlobRef::new(&secret, 0, 3)).await.unwrap_err();
        assert_eq!(e.kind(), ApiKind::InvalidArgument);
        assert!(e.message().contains("outside the allowed roots"), "{e}");

        // `..` cannot climb out of a root.
        let climb = format!("{}/../{}", f.dir.path().display(), secret);
        let e = f.resolver().fetch(&BlobRef::new(climb, 0, 3)).await.unwrap_err();
        assert_eq!(e.kind(), ApiKind::InvalidArgument);

        // A root matches whole segments only.
        let sibling = format!("{}x/a.bin", f.dir.path().display());
        assert!(f.resolver().object_path(&sibling).is_err());

        // Relative paths and foreign schemes are refused.
        assert!(f.resolver().object_path("a.bin").is_err());
        assert!(f.resolver().object_path("s3://bucket/a.bin").is_err());

        // A prefix without a trailing `/` ends at a segment too: `s3://bucket` does not
        // serve `s3://bucketdata/x` (which would read `data/x` of the other bucket).
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let bucket = ObjectStoreBlobResolver::new(store, "s3://bucket").allow_root("s3://bucket/data");
        assert!(
            bucket
                .as_ref()
                .is_ok_and(|r| r.object_path("s3://bucket/data/x").is_ok())
        );
        assert!(
            bucket
                .as_ref()
                .is_ok_and(|r| r.object_path("s3://bucketdata/x").is_err())
        );

        // Nothing is allowed until configured.
        let e = ObjectStoreBlobResolver::local()
            .fetch(&BlobRef::new(f.uri("a.bin"), 0, 1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ApiKind::InvalidArgument);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_link_out_of_the_roots_is_refused_and_one_inside_followed() -> lake_api::Result<()> {
        // regression: the roots were checked on the reference's text only, and the local
        // store follows links, so a link under a root read any file
        let f = Fixture::new();
        std::os::unix::fs::symlink(f.other.path(), f.dir.path().join("escape"))?;
        std::os::unix::fs::symlink(f.dir.path().join("sub"), f.dir.path().join("inside"))?;
        let r = f.resolver();
        let e = r
            .fetch(&BlobRef::new(f.uri("escape/secret.bin"), 0, 6))
            .await
            .err()
            .ok_or_else(|| lake_api::Error::invalid("read through a link out of the roots"))?;
        assert_eq!(e.kind(), ApiKind::InvalidArgument, "{e}");
        assert!(e.message().contains("outside the allowed roots"), "{e}");
        assert_eq!(r.fetch(&BlobRef::new(f.uri("inside/b.bin"), 0, 3)).await?, b"abc");
        // a root that is itself a link is the directory it names
        let linked_root = f.other.path().join("root");
        std::os::unix::fs::symlink(f.dir.path(), &linked_root)?;
        let via_link = ObjectStoreBlobResolver::local()
            .allow_root(linked_root.to_str().unwrap_or_default())
            .map_err(|e| lake_api::Error::invalid(e.to_string()))?;
        let uri = linked_root.join("a.bin");
        assert_eq!(
            via_link
                .fetch(&BlobRef::new(uri.to_str().unwrap_or_default(), 0, 2))
                .await?,
            b"01"
        );
        Ok(())
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_reference_to_a_fifo_or_directory_is_refused_not_waited_on() -> lake_api::Result<()> {
        // regression: opening a FIFO under a root blocked the read (and the stream) for good
        let f = Fixture::new();
        let fifo = f.dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        assert!(made.success(), "mkfifo failed");
        let r = f.resolver();
        for name in ["pipe", "sub"] {
            let fetched = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                r.fetch(&BlobRef::new(f.uri(name), 0, 3)),
            )
            .await
            .map_err(|_| lake_api::Error::invalid(format!("the read of {name} hung")))?;
            let e = fetched
                .err()
                .ok_or_else(|| lake_api::Error::invalid(format!("{name} was read")))?;
            assert_eq!(e.kind(), ApiKind::InvalidArgument, "{name}: {e}");
            assert!(e.message().contains("no regular file"), "{name}: {e}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn past_the_end_and_missing_files_are_typed() {
        let f = Fixture::new();
        let r = f.resolver();
        for blob in [
            BlobRef::new(f.uri("a.bin"), 8, 5),
            BlobRef::new(f.uri("a.bin"), 20, 1),
            BlobRef::new(f.uri("a.bin"), 11, 0),
        ] {
            let e = r.fetch(&blob).await.unwrap_err();
            assert_eq!(e.kind(), ApiKind::Corrupt, "{blob}: {e}");
            assert!(e.message().contains("past the end"), "{e}");
        }
        let e = r.fetch(&BlobRef::new(f.uri("nope.bin"), 0, 1)).await.unwrap_err();
        assert_eq!(e.kind(), ApiKind::NotFound, "{e}");
        let e = r.fetch(&BlobRef::new(f.uri("a.bin"), u64::MAX, 2)).await.unwrap_err();
        assert_eq!(e.kind(), ApiKind::InvalidArgument, "{e}");
    }

    fn ref_batch(schema: &SchemaRef, ids: &[i64], rows: &[Option<(String, u64, u64)>]) -> RecordBatch {
        let DataType::Struct(fields) = blob_ref_type() else {
            unreachable!()
        };
        let uris: StringArray = rows
            .iter()
            .map(|r| Some(r.as_ref().map_or("", |r| r.0.as_str())))
            .collect();
        let offsets: UInt64Array = rows.iter().map(|r| Some(r.as_ref().map_or(0, |r| r.1))).collect();
        let lengths: UInt64Array = rows.iter().map(|r| Some(r.as_ref().map_or(0, |r| r.2))).collect();
        let nulls = NullBuffer::from(rows.iter().map(Option::is_some).collect::<Vec<_>>());
        let refs = StructArray::new(
            fields,
            vec![Arc::new(uris), Arc::new(offsets), Arc::new(lengths)],
            Some(nulls),
        );
        RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(ids.to_vec())), Arc::new(refs)],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_malformed_reference_fails_its_row_not_the_stream() {
        // regression: a valid reference row with a null length failed the whole stream
        let f = Fixture::new();
        let fields = arrow_schema::Fields::from(vec![
            Field::new("uri", DataType::Utf8, true),
            Field::new("offset", DataType::UInt64, true),
            Field::new("length", DataType::UInt64, true),
        ]);
        let refs = StructArray::try_new(
            fields.clone(),
            vec![
                Arc::new(StringArray::from(vec![f.uri("a.bin"), f.uri("a.bin")])),
                Arc::new(UInt64Array::from(vec![0, 0])),
                Arc::new(UInt64Array::from(vec![Some(4), None])),
            ],
            None,
        )
        .unwrap();
        let field = Field::new("img", DataType::Struct(fields), true).with_metadata(
            [(
                lake_api::types::EXTENSION_NAME_KEY.to_string(),
                lake_api::types::BLOB_REF_EXTENSION.to_string(),
            )]
            .into(),
        );
        let schema: SchemaRef = Arc::new(Schema::new(vec![field]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(refs)]).unwrap();
        let input = RecordBatchStream::from_batches(schema, vec![batch.clone(), batch]);
        let (output, errors) =
            resolve_blobs(input, Arc::new(f.resolver()), &["img"], ResolveOptions::default()).unwrap();
        let batches: Vec<RecordBatch> = output.try_collect().await.unwrap();
        assert_eq!(batches.len(), 2, "the stream went on");
        let col = batches[1].column(0).as_binary::<i64>();
        assert_eq!(col.value(0), b"0123");
        assert!(arrow_array::Array::is_null(col, 1));
        let errors = errors.take();
        use crate::error::ErrorKind;
        let rows: Vec<(u64, ErrorKind)> = errors.iter().map(|e| (e.row, e.error.kind())).collect();
        assert_eq!(
            rows,
            vec![(1, ErrorKind::Corrupt), (3, ErrorKind::Corrupt)],
            "stream row numbers"
        );
        // regression: the message named the row's place in its batch (1), beside the
        // stream's row number (3)
        let shown = errors[1].to_string();
        assert!(shown.starts_with("row 3 ") && !shown.contains("row 1"), "{shown}");
    }

    #[tokio::test]
    async fn stream_replaces_refs_with_payloads_and_collects_row_errors() {
        let f = Fixture::new();
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            blob_ref_field("img", true),
        ]));
        let secret = f.other.path().join("secret.bin").to_str().unwrap().to_string();
        let b1 = ref_batch(
            &schema,
            &[0, 1, 2],
            &[Some((f.uri("a.bin"), 0, 4)), None, Some((f.uri("missing.bin"), 0, 1))],
        );
        let b2 = ref_batch(
            &schema,
            &[3, 4, 5, 6],
            &[
                Some((f.uri("sub/b.bin"), 1, 2)),
                Some((f.uri("a.bin"), 9, 2)),
                Some((secret, 0, 1)),
                // readable, but longer than max_blob_bytes
                Some((f.uri("a.bin"), 0, 6)),
            ],
        );
        let input = RecordBatchStream::from_batches(schema.clone(), vec![b1, b2]);
        let options = ResolveOptions {
            max_bytes_in_flight: 3,
            concurrency: 2,
            max_blob_bytes: 5,
        };
        let (output, errors) = resolve_blobs(input, Arc::new(f.resolver()), &["img"], options).unwrap();
        let out_schema = output.schema();
        assert_eq!(LogicalType::of(out_schema.field(1)), LogicalType::Blob);
        assert_eq!(out_schema.field(1).data_type(), &DataType::LargeBinary);
        let batches: Vec<RecordBatch> = output.try_collect().await.unwrap();
        assert_eq!(batches.len(), 2);
        let values: Vec<Option<Vec<u8>>> = batches
            .iter()
            .flat_map(|b| {
                assert_eq!(b.schema(), out_schema);
                b.column(1)
                    .as_binary::<i64>()
                    .iter()
                    .map(|v| v.map(<[u8]>::to_vec))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            values,
            vec![
                Some(b"0123".to_vec()),
                None,
                None,
                Some(b"bc".to_vec()),
                None,
                None,
                None
            ]
        );
        let errors = errors.take();
        use crate::error::ErrorKind;
        let summary: Vec<(u64, ErrorKind)> = errors.iter().map(|e| (e.row, e.error.kind())).collect();
        assert_eq!(
            summary,
            vec![
                (2, ErrorKind::NotFound),
                (4, ErrorKind::Corrupt),
                (5, ErrorKind::InvalidArgument),
                (6, ErrorKind::InvalidArgument)
            ]
        );
        assert!(errors.iter().all(|e| e.column.as_deref() == Some("img")));
    }

    #[test]
    fn rejects_columns_that_are_not_blob_refs() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            blob_ref_field("img", true),
        ]));
        let resolver: Arc<dyn BlobResolver> = Arc::new(ObjectStoreBlobResolver::local());
        let stream = || RecordBatchStream::from_batches(schema.clone(), vec![]);
        let e = resolve_blobs(stream(), resolver.clone(), &["id"], ResolveOptions::default()).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::SchemaMismatch);
        let e = resolve_blobs(stream(), resolver.clone(), &["nope"], ResolveOptions::default()).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument);
        let e = resolve_blobs(stream(), resolver, &["img", "img"], ResolveOptions::default()).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidArgument);
    }
}
