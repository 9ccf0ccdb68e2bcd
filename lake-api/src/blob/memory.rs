//! [`MemoryBlobStore`]: BLOB payloads already in memory, handed out as references.
//!
//! Log rows carry their BLOB payloads inline, and so do lakes that cannot point into their
//! files. Where a read returns references, such payloads stay where they are (the values
//! buffer of the Arrow array that holds them, shared, not copied) and the references name
//! that buffer: `lakeunion-mem://<store>/<chunk>` at the payload's offset in it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use arrow_array::LargeBinaryArray;
//! use lake_api::blob::{blob_refs_from_array, BlobResolver, MemoryBlobStore};
//!
//! let store = MemoryBlobStore::new();
//! let payloads = LargeBinaryArray::from_opt_vec(vec![Some(b"cat".as_ref()), None]);
//! let refs = store.references(&payloads).unwrap();
//! let refs = blob_refs_from_array(refs.as_ref()).unwrap();
//! assert!(refs[1].is_none());
//! let cat = refs[0].as_ref().unwrap();
//! assert!(store.serves(&cat.uri));
//! assert_eq!(store.fetch(cat).await.unwrap(), b"cat");
//! # });
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::builder::{StringBuilder, UInt64Builder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait, StructArray};
use arrow_buffer::Buffer;
use arrow_schema::DataType;
use async_trait::async_trait;

use super::{BlobRef, BlobResolver};
use crate::error::{Error, ErrorKind, Result};
use crate::types::blob_ref_type;

/// The URI scheme of references into a [`MemoryBlobStore`].
pub const MEMORY_BLOB_SCHEME: &str = "lakeunion-mem://";

/// Stores told apart within one process.
static NEXT_STORE: AtomicU64 = AtomicU64::new(0);

/// Payload buffers of Arrow arrays, kept alive and served as BLOB references.
///
/// Each call of [`references`](Self::references) keeps one buffer (the array's values,
/// shared with the array, so nothing is copied) until the store is dropped. Fetching does
/// not release it: a reference may be resolved more than once.
#[derive(Debug)]
pub struct MemoryBlobStore {
    prefix: String,
    chunks: Mutex<Vec<Buffer>>,
}

impl Default for MemoryBlobStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBlobStore {
    /// An empty store with a URI prefix of its own (unique within the process).
    pub fn new() -> Self {
        let id = NEXT_STORE.fetch_add(1, Ordering::Relaxed);
        Self {
            prefix: format!("{MEMORY_BLOB_SCHEME}{}-{id}/", std::process::id()),
            chunks: Mutex::new(Vec::new()),
        }
    }

    /// The prefix of every URI this store hands out.
    pub fn uri_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `uri` names a buffer of this store.
    pub fn serves(&self, uri: &str) -> bool {
        uri.starts_with(&self.prefix)
    }

    /// The bytes the store keeps alive.
    pub fn bytes_held(&self) -> usize {
        self.lock().map_or(0, |chunks| chunks.iter().map(Buffer::len).sum())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Vec<Buffer>>> {
        self.chunks
            .lock()
            .map_err(|_| Error::new(ErrorKind::External, "a memory blob store's lock is poisoned"))
    }

    /// References (the `lakeunion.blob_ref` struct) to the payloads of a binary array
    /// (`Binary`, `LargeBinary` or `BinaryView`); null rows stay null.
    ///
    /// Errors: `SchemaMismatch` for an array that holds no binary payloads.
    pub fn references(&self, payloads: &dyn Array) -> Result<ArrayRef> {
        match payloads.data_type() {
            DataType::LargeBinary => self.references_of::<i64>(payloads),
            DataType::Binary => self.references_of::<i32>(payloads),
            DataType::BinaryView => {
                let large = arrow_cast::cast(payloads, &DataType::LargeBinary)?;
                self.references_of::<i64>(large.as_ref())
            }
            other => Err(Error::schema(format!("BLOB payloads must be binary, found {other}"))),
        }
    }

    fn references_of<O: OffsetSizeTrait>(&self, payloads: &dyn Array) -> Result<ArrayRef> {
        let binary = payloads.as_binary::<O>();
        let uri = {
            let mut chunks = self.lock()?;
            chunks.push(binary.values().clone());
            format!("{}{}", self.prefix, chunks.len() - 1)
        };
        let n = binary.len();
        let mut uris = StringBuilder::with_capacity(n, n * uri.len());
        let mut offsets = UInt64Builder::with_capacity(n);
        let mut lengths = UInt64Builder::with_capacity(n);
        let value_offsets = binary.value_offsets();
        for row in 0..n {
            // a null row still gets (unused) children: the struct's validity says it is null
            uris.append_value(&uri);
            let start = value_offsets[row].as_usize();
            let end = value_offsets[row + 1].as_usize();
            offsets.append_value(start as u64);
            lengths.append_value(end.saturating_sub(start) as u64);
        }
        let DataType::Struct(fields) = blob_ref_type() else {
            return Err(Error::new(
                ErrorKind::External,
                "the BLOB reference type is not a struct",
            ));
        };
        let refs = StructArray::try_new(
            fields,
            vec![
                Arc::new(uris.finish()),
                Arc::new(offsets.finish()),
                Arc::new(lengths.finish()),
            ],
            binary.nulls().cloned(),
        )?;
        Ok(Arc::new(refs))
    }
}

#[async_trait]
impl BlobResolver for MemoryBlobStore {
    async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        let chunk = blob
            .uri
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| Error::invalid(format!("blob {blob} is not in memory blob store {}", self.prefix)))?;
        let index: usize = chunk
            .parse()
            .map_err(|_| Error::invalid(format!("blob {blob}: {chunk:?} is not a chunk number")))?;
        let range = blob.range()?;
        let chunks = self.lock()?;
        let buffer = chunks.get(index).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("blob {blob}: no chunk {index} in the store"),
            )
        })?;
        let bytes = usize::try_from(range.start)
            .ok()
            .zip(usize::try_from(range.end).ok())
            .and_then(|(start, end)| buffer.get(start..end))
            .ok_or_else(|| {
                Error::corrupt(format!(
                    "blob {blob} lies past the end of its {}-byte chunk",
                    buffer.len()
                ))
            })?;
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{BinaryArray, BinaryViewArray, Int32Array, LargeBinaryArray};

    use super::*;
    use crate::blob::{blob_refs_from_array, resolve_column};

    async fn round_trip(store: &MemoryBlobStore, payloads: &dyn Array) -> Result<Vec<Option<Vec<u8>>>> {
        let refs = store.references(payloads)?;
        let refs = blob_refs_from_array(refs.as_ref())?;
        let fetched = resolve_column(store, &refs, 1 << 20, 4).await;
        fetched.into_iter().map(|r| r.transpose()).collect()
    }

    #[tokio::test]
    async fn every_binary_layout_round_trips_with_its_nulls() -> Result<()> {
        let rows = vec![Some(b"ab".as_ref()), None, Some(b"".as_ref()), Some(b"cde".as_ref())];
        let expected: Vec<Option<Vec<u8>>> = rows.iter().map(|r| r.map(<[u8]>::to_vec)).collect();
        let store = MemoryBlobStore::new();
        let large = LargeBinaryArray::from_opt_vec(rows.clone());
        assert_eq!(round_trip(&store, &large).await?, expected);
        assert_eq!(
            round_trip(&store, &BinaryArray::from_opt_vec(rows.clone())).await?,
            expected
        );
        assert_eq!(
            round_trip(&store, &BinaryViewArray::from(rows.clone())).await?,
            expected
        );
        // a slice keeps its rows' offsets into the shared values buffer
        assert_eq!(round_trip(&store, &large.slice(2, 2)).await?, expected[2..].to_vec());
        Ok(())
    }

    #[tokio::test]
    async fn stores_do_not_serve_each_other_and_bad_references_are_typed_errors() -> Result<()> {
        let (a, b) = (MemoryBlobStore::new(), MemoryBlobStore::new());
        assert_ne!(a.uri_prefix(), b.uri_prefix());
        let refs = a.references(&LargeBinaryArray::from_vec(vec![b"xyz".as_ref()]))?;
        let blob = match blob_refs_from_array(refs.as_ref())?.pop() {
            Some(Some(blob)) => blob,
            other => panic!("expected one reference, got {other:?}"),
        };
        assert!(a.serves(&blob.uri) && !b.serves(&blob.uri));
        assert_eq!(
            b.fetch(&blob).await.map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        let past_end = BlobRef::new(blob.uri.clone(), 2, 5);
        assert_eq!(a.fetch(&past_end).await.map_err(|e| e.kind()), Err(ErrorKind::Corrupt));
        let no_chunk = BlobRef::new(format!("{}9", a.uri_prefix()), 0, 1);
        assert_eq!(a.fetch(&no_chunk).await.map_err(|e| e.kind()), Err(ErrorKind::NotFound));
        let not_a_number = BlobRef::new(format!("{}x", a.uri_prefix()), 0, 1);
        assert_eq!(
            a.fetch(&not_a_number).await.map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        assert_eq!(a.bytes_held(), 3);
        let ints = Int32Array::from(vec![1]);
        assert_eq!(
            a.references(&ints).map_err(|e| e.kind()).err(),
            Some(ErrorKind::SchemaMismatch)
        );
        Ok(())
    }
}
