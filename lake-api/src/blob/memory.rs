//! [`MemoryBlobStore`]: BLOB payloads that arrived inline, kept by the reader and handed
//! out as references.
//!
//! Log rows carry their BLOB payloads inline, and so do lakes that cannot point into their
//! files. Where a read returns references, the store keeps a copy of such payloads (only
//! the bytes of the array's own rows, not the buffer it may share with other columns or
//! batches) and the references name that copy: `lakeunion-mem://<store>/<chunk>` at the
//! payload's offset in it. Past a memory limit, chunks go to a temporary file instead,
//! which is removed with the store.
//!
//! References into a store are valid in the process that made them, while the store
//! lives; the store's URI prefix is random, so a reference shipped elsewhere is refused,
//! never served from another store.
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

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;

use super::{BlobRef, BlobRefBuilder, BlobResolver};
use crate::error::{Error, ErrorKind, Result};
use crate::types::LogicalType;

/// The URI scheme of references into a [`MemoryBlobStore`].
pub const MEMORY_BLOB_SCHEME: &str = "lakeunion-mem://";

/// Where one chunk's bytes are.
#[derive(Debug)]
enum Chunk {
    Memory(Buffer),
    /// `len` bytes at `offset` of the spill file.
    Spilled {
        offset: u64,
        len: u64,
    },
}

#[derive(Debug, Default)]
struct Chunks {
    chunks: Vec<Chunk>,
    bytes_in_memory: usize,
    bytes_spilled: u64,
    /// Created on the first chunk past the memory limit; unnamed, so the OS removes it.
    spill: Option<File>,
}

/// BLOB payloads kept for the references a read hands out.
///
/// Each call of [`references`](Self::references) keeps one chunk (a copy of the array's
/// payload bytes) until the store is dropped; fetching does not release it, since a
/// reference may be resolved more than once. Chunks stay in memory up to the store's
/// limit and go to a temporary file past it.
#[derive(Debug)]
pub struct MemoryBlobStore {
    prefix: String,
    memory_limit: usize,
    spill_dir: Option<PathBuf>,
    chunks: Mutex<Chunks>,
}

impl Default for MemoryBlobStore {
    fn default() -> Self {
        Self::new()
    }
}

/// A prefix no other store, in this process or another, hands out (128 random bits).
fn random_prefix() -> String {
    let word = || RandomState::new().build_hasher().finish();
    format!("{MEMORY_BLOB_SCHEME}{:016x}{:016x}/", word(), word())
}

impl MemoryBlobStore {
    /// An empty store that keeps every chunk in memory.
    pub fn new() -> Self {
        Self::with_memory_limit(usize::MAX, None)
    }

    /// An empty store that keeps chunks in memory up to `bytes` in all, and the rest in a
    /// temporary file under `spill_dir` (the system temp directory when `None`).
    pub fn with_memory_limit(bytes: usize, spill_dir: Option<PathBuf>) -> Self {
        Self {
            prefix: random_prefix(),
            memory_limit: bytes,
            spill_dir,
            chunks: Mutex::new(Chunks::default()),
        }
    }

    /// The prefix of every URI this store hands out.
    pub fn uri_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `uri` names a chunk of this store.
    pub fn serves(&self, uri: &str) -> bool {
        uri.starts_with(&self.prefix)
    }

    /// The payload bytes the store keeps in memory.
    pub fn bytes_in_memory(&self) -> usize {
        self.lock().map_or(0, |c| c.bytes_in_memory)
    }

    /// The payload bytes the store has written to its spill file.
    pub fn bytes_spilled(&self) -> u64 {
        self.lock().map_or(0, |c| c.bytes_spilled)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Chunks>> {
        self.chunks
            .lock()
            .map_err(|_| Error::new(ErrorKind::External, "a memory blob store's lock is poisoned"))
    }

    /// References (the `lakeunion.blob_ref` struct) to the payloads of a binary array
    /// (`Binary`, `LargeBinary` or `BinaryView`); null rows stay null.
    ///
    /// Errors: `SchemaMismatch` for an array that holds no binary payloads, `Io` when the
    /// spill file cannot be written.
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

    /// A batch's `columns` (in `target`'s order) as `target` wants them: every BLOB payload
    /// column that `target` holds as a BLOB reference is kept here and replaced by its
    /// references; every other column (a reference column the table itself stores included)
    /// stays as it is.
    pub fn references_in(&self, target: &SchemaRef, mut columns: Vec<ArrayRef>) -> Result<Vec<ArrayRef>> {
        for (field, column) in target.fields().iter().zip(columns.iter_mut()) {
            let payloads = matches!(
                column.data_type(),
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView
            );
            if payloads && LogicalType::of(field) == LogicalType::BlobRef {
                *column = self
                    .references(column.as_ref())
                    .map_err(|e| e.context(format!("BLOB column {}", field.name())))?;
            }
        }
        Ok(columns)
    }

    fn references_of<O: OffsetSizeTrait>(&self, payloads: &dyn Array) -> Result<ArrayRef> {
        let binary = payloads.as_binary::<O>();
        let offsets = binary.value_offsets();
        // the rows' own bytes: an array may be a slice of a buffer shared with far more
        let first = offsets.first().map_or(0, |o| o.as_usize());
        let last = offsets.last().map_or(0, |o| o.as_usize());
        let bytes = binary.values().get(first..last).ok_or_else(|| {
            Error::corrupt(format!(
                "binary offsets {first}..{last} lie past its {}-byte values",
                binary.values().len()
            ))
        })?;
        let uri = format!("{}{}", self.prefix, self.keep(bytes)?);
        let mut refs = BlobRefBuilder::with_capacity(binary.len());
        for row in 0..binary.len() {
            if binary.is_null(row) {
                refs.append_null();
                continue;
            }
            let start = offsets[row].as_usize().saturating_sub(first);
            let end = offsets[row + 1].as_usize().saturating_sub(first);
            refs.append_parts(&uri, start as u64, end.saturating_sub(start) as u64);
        }
        refs.finish()
    }

    /// Keeps `bytes` as a new chunk; its number.
    fn keep(&self, bytes: &[u8]) -> Result<usize> {
        let mut chunks = self.lock()?;
        let chunk = if chunks.bytes_in_memory.saturating_add(bytes.len()) <= self.memory_limit {
            chunks.bytes_in_memory += bytes.len();
            Chunk::Memory(Buffer::from(bytes))
        } else {
            let offset = chunks.bytes_spilled;
            let file = match &mut chunks.spill {
                Some(file) => file,
                spill @ None => spill.insert(self.create_spill_file()?),
            };
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.write_all(bytes))
                .map_err(|e| Error::new(ErrorKind::Io, "writing a BLOB spill file").with_source(e))?;
            chunks.bytes_spilled += bytes.len() as u64;
            Chunk::Spilled {
                offset,
                len: bytes.len() as u64,
            }
        };
        chunks.chunks.push(chunk);
        Ok(chunks.chunks.len() - 1)
    }

    fn create_spill_file(&self) -> Result<File> {
        match &self.spill_dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
        .map_err(|e| Error::new(ErrorKind::Io, "creating a BLOB spill file").with_source(e))
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
        let mut chunks = self.lock()?;
        let past_end = |len: u64| Error::corrupt(format!("blob {blob} lies past the end of its {len}-byte chunk"));
        match chunks.chunks.get(index) {
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("blob {blob}: no chunk {index} in the store"),
            )),
            Some(Chunk::Memory(buffer)) => usize::try_from(range.start)
                .ok()
                .zip(usize::try_from(range.end).ok())
                .and_then(|(start, end)| buffer.get(start..end))
                .map(<[u8]>::to_vec)
                .ok_or_else(|| past_end(buffer.len() as u64)),
            Some(&Chunk::Spilled { offset, len }) => {
                if range.end > len {
                    return Err(past_end(len));
                }
                let size = usize::try_from(blob.length).map_err(|_| past_end(len))?;
                let mut out = vec![0u8; size];
                let file = chunks
                    .spill
                    .as_mut()
                    .ok_or_else(|| Error::new(ErrorKind::External, "a spilled chunk without a spill file"))?;
                file.seek(SeekFrom::Start(offset + range.start))
                    .and_then(|_| file.read_exact(&mut out))
                    .map_err(|e| Error::new(ErrorKind::Io, format!("reading blob {blob} back")).with_source(e))?;
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{BinaryArray, BinaryViewArray, Int32Array, LargeBinaryArray};

    use super::*;
    use crate::blob::{ResolveOptions, blob_refs_from_array, resolve_column};

    async fn round_trip(store: &MemoryBlobStore, payloads: &dyn Array) -> Result<Vec<Option<Vec<u8>>>> {
        let refs = store.references(payloads)?;
        let refs = blob_refs_from_array(refs.as_ref())?;
        let fetched = resolve_column(store, &refs, ResolveOptions::default()).await;
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
    async fn past_the_memory_limit_chunks_spill_and_read_back() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        let store = MemoryBlobStore::with_memory_limit(8, Some(dir.path().to_path_buf()));
        let small = LargeBinaryArray::from_opt_vec(vec![Some(b"abc".as_ref()), None, Some(b"de".as_ref())]);
        let large = LargeBinaryArray::from_opt_vec(vec![Some(b"0123456789".as_ref()), Some(b"xyz".as_ref())]);
        let expect =
            |a: &LargeBinaryArray| -> Vec<Option<Vec<u8>>> { a.iter().map(|v| v.map(<[u8]>::to_vec)).collect() };
        assert_eq!(round_trip(&store, &small).await?, expect(&small));
        assert_eq!(round_trip(&store, &large).await?, expect(&large));
        assert_eq!(
            round_trip(&store, &small.slice(2, 1)).await?,
            expect(&small.slice(2, 1))
        );
        assert_eq!(store.bytes_in_memory(), 5 + 2);
        assert_eq!(store.bytes_spilled(), 13);
        // a range past a spilled chunk's end is refused
        let refs = blob_refs_from_array(store.references(&large)?.as_ref())?;
        let Some(Some(first)) = refs.first() else {
            panic!("a reference to the first row")
        };
        let beyond = BlobRef::new(first.uri.clone(), 10, 4);
        assert_eq!(
            store.fetch(&beyond).await.map_err(|e| e.kind()),
            Err(ErrorKind::Corrupt)
        );
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
        assert_eq!(a.bytes_in_memory(), 3);
        let ints = Int32Array::from(vec![1]);
        assert_eq!(
            a.references(&ints).map_err(|e| e.kind()).err(),
            Some(ErrorKind::SchemaMismatch)
        );
        Ok(())
    }
}
