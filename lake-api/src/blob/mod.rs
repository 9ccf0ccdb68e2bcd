//! BLOB references and the resolver that fetches their payloads.
//!
//! Reading a BLOB column returns references by default (`lakeunion.blob_ref`, a
//! `Struct{uri: Utf8, offset: UInt64, length: UInt64}`, see [`crate::types`]). A
//! [`BlobResolver`] fetches one payload; backends plug in their own readers (an object
//! store, a Lance blob file, ...). [`resolve_column`] fetches a whole column of references
//! concurrently, bounded by both the number of fetches and the bytes in flight (see
//! [`ResolveOptions`]), and keeps every row's outcome separate so that one bad reference
//! does not fail the others.
//! [`MemoryBlobStore`] serves payloads that are already in memory (log rows) as references.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use async_trait::async_trait;
//! use lake_api::blob::{resolve_column, BlobRef, BlobResolver, ResolveOptions};
//!
//! /// Serves every reference as `length` copies of the byte `offset`.
//! struct Repeat;
//!
//! #[async_trait]
//! impl BlobResolver for Repeat {
//!     async fn fetch(&self, blob: &BlobRef) -> lake_api::Result<Vec<u8>> {
//!         Ok(vec![blob.offset as u8; blob.length as usize])
//!     }
//! }
//!
//! let refs = vec![Some(BlobRef::new("mem://a", 7, 3)), None];
//! let out = resolve_column(&Repeat, &refs, ResolveOptions::default()).await;
//! assert_eq!(out[0].as_ref().unwrap().as_ref().unwrap(), &vec![7u8; 3]);
//! assert!(out[1].is_none());
//! # });
//! ```

use std::collections::VecDeque;
use std::fmt;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::error::{Error, ErrorKind, Result};

mod builder;
mod memory;

pub use builder::BlobRefBuilder;
pub use memory::{MEMORY_BLOB_SCHEME, MemoryBlobStore};

/// How a read returns BLOB columns.
///
/// References keep payloads out of the merge (they are fetched after it, on demand);
/// payloads are what a consumer that wants every byte now asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlobMode {
    /// `lakeunion.blob_ref` structs (`Struct{uri, offset, length}`), resolved through a
    /// [`BlobResolver`].
    #[default]
    References,
    /// The payloads inline: `LargeBinary` marked `lakeunion.blob`.
    Payloads,
}

impl BlobMode {
    /// The schema a read in this mode returns for rows of `schema`: BLOB columns as
    /// references under `References` (see [`crate::types::with_blob_references`]),
    /// `schema` itself under `Payloads`.
    pub fn schema_of(self, schema: &SchemaRef) -> SchemaRef {
        match self {
            BlobMode::References => std::sync::Arc::new(crate::types::with_blob_references(schema)),
            BlobMode::Payloads => schema.clone(),
        }
    }

    /// Parses `references` (or `refs`) or `payloads`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "references" | "refs" => Ok(BlobMode::References),
            "payloads" => Ok(BlobMode::Payloads),
            other => Err(Error::invalid(format!(
                "unknown BLOB mode {other:?} (expected references or payloads)"
            ))),
        }
    }
}

/// A pointer to a BLOB payload: `length` bytes at `offset` of the object at `uri`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// Where the payload lives (a file path or an object-store URI; the resolver decides).
    pub uri: String,
    /// Byte offset of the payload inside the object.
    pub offset: u64,
    /// Length of the payload in bytes.
    pub length: u64,
}

impl BlobRef {
    /// A reference to `length` bytes at `offset` of `uri`.
    pub fn new(uri: impl Into<String>, offset: u64, length: u64) -> Self {
        Self {
            uri: uri.into(),
            offset,
            length,
        }
    }

    /// The byte range `offset..offset + length`, or an `InvalidArgument` error if it
    /// overflows `u64`.
    pub fn range(&self) -> Result<std::ops::Range<u64>> {
        let end = self
            .offset
            .checked_add(self.length)
            .ok_or_else(|| Error::invalid(format!("blob reference {self}: offset + length overflows u64")))?;
        Ok(self.offset..end)
    }
}

impl fmt::Display for BlobRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}+{}]", self.uri, self.offset, self.length)
    }
}

/// Fetches the payload of one BLOB reference.
///
/// Implementations must be cheap to call concurrently: [`resolve_column`] keeps several
/// fetches in flight on one task.
#[async_trait]
pub trait BlobResolver: Send + Sync {
    /// The `blob.length` bytes at `blob.offset` of `blob.uri`.
    async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>>;
}

/// Reads the BLOB reference column `column` of `batch` (see [`blob_refs_from_array`]).
///
/// Errors: `InvalidArgument` if the batch has no such column, `SchemaMismatch` if it is
/// not a `Struct{uri: Utf8, offset: UInt64, length: UInt64}`.
pub fn blob_refs(batch: &RecordBatch, column: &str) -> Result<Vec<Option<BlobRef>>> {
    let array = batch
        .column_by_name(column)
        .ok_or_else(|| Error::invalid(format!("no column {column:?} in batch")))?;
    blob_refs_from_array(array.as_ref()).map_err(|e| e.context(format!("column {column:?}")))
}

/// Checks that `data_type` is the BLOB reference struct
/// (`Struct{uri: Utf8, offset: UInt64, length: UInt64}`, children found by name).
pub fn check_blob_ref_type(data_type: &DataType) -> Result<()> {
    let DataType::Struct(fields) = data_type else {
        return Err(Error::schema(format!(
            "expected a blob reference struct, found {data_type}"
        )));
    };
    for (name, expected) in [
        ("uri", DataType::Utf8),
        ("offset", DataType::UInt64),
        ("length", DataType::UInt64),
    ] {
        match fields.find(name) {
            Some((_, f)) if f.data_type() == &expected => {}
            Some((_, f)) => {
                return Err(Error::schema(format!(
                    "blob reference child {name:?} is {}, expected {expected}",
                    f.data_type()
                )));
            }
            None => {
                return Err(Error::schema(format!("blob reference struct has no child {name:?}")));
            }
        }
    }
    Ok(())
}

/// Reads an array of BLOB references; null rows stay `None`.
///
/// Errors: `SchemaMismatch` if the array is not the BLOB reference struct, `Corrupt` if a
/// non-null row has a null `uri`, `offset` or `length`.
pub fn blob_refs_from_array(array: &dyn Array) -> Result<Vec<Option<BlobRef>>> {
    blob_refs_per_row(array)?
        .into_iter()
        .enumerate()
        .map(|(row, r)| r.transpose().map_err(|e| e.context(format!("row {row}"))))
        .collect()
}

/// [`blob_refs_from_array`] with a result per row: a non-null row with a null `uri`,
/// `offset` or `length` is that row's `Corrupt` error, so callers can fail the row and go
/// on (the error names no row: the caller knows where the row lies in its stream). Only an
/// array that is not the BLOB reference struct fails as a whole.
pub fn blob_refs_per_row(array: &dyn Array) -> Result<Vec<Option<Result<BlobRef>>>> {
    check_blob_ref_type(array.data_type())?;
    let structs: &StructArray = array
        .as_struct_opt()
        .ok_or_else(|| Error::schema("blob reference column is not a StructArray"))?;
    let child = |name: &str| {
        structs
            .column_by_name(name)
            .ok_or_else(|| Error::schema(format!("blob reference struct has no child {name:?}")))
    };
    let uri_col = child("uri")?;
    let offset_col = child("offset")?;
    let length_col = child("length")?;
    let uris = uri_col
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::schema("blob reference uri is not Utf8"))?;
    let offsets = offset_col
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| Error::schema("blob reference offset is not UInt64"))?;
    let lengths = length_col
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| Error::schema("blob reference length is not UInt64"))?;

    let mut out = Vec::with_capacity(structs.len());
    for row in 0..structs.len() {
        if structs.is_null(row) {
            out.push(None);
            continue;
        }
        if uris.is_null(row) || offsets.is_null(row) || lengths.is_null(row) {
            out.push(Some(Err(Error::corrupt(
                "blob reference has a null uri, offset or length",
            ))));
            continue;
        }
        out.push(Some(Ok(BlobRef {
            uri: uris.value(row).to_string(),
            offset: offsets.value(row),
            length: lengths.value(row),
        })));
    }
    Ok(out)
}

/// Bounds on fetching a column of BLOB references ([`resolve_column_in_order`], which
/// [`resolve_column`] and `lake_sink::resolve_blobs`, per column of each batch, go
/// through).
///
/// ```
/// use lake_api::blob::ResolveOptions;
///
/// // videos up to 4 GiB, 4 fetches at a time
/// let options = ResolveOptions { max_blob_bytes: 4 << 30, concurrency: 4, ..ResolveOptions::default() };
/// assert_eq!(options.max_bytes_in_flight, 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolveOptions {
    /// The most payload bytes fetched or being fetched and not yet handed on in row order
    /// (a larger single payload is fetched alone).
    pub max_bytes_in_flight: usize,
    /// The most fetches in flight (at least one is).
    pub concurrency: usize,
    /// The longest payload fetched. A longer reference is an `InvalidArgument` row error
    /// and is never fetched: every payload ends up in memory (in its column), so one
    /// reference to a huge object (or a hostile `length`) must not be able to take the
    /// process's memory.
    pub max_blob_bytes: u64,
}

impl Default for ResolveOptions {
    /// 64 MiB and 16 fetches in flight; payloads up to 256 MiB.
    fn default() -> Self {
        Self {
            max_bytes_in_flight: 64 << 20,
            concurrency: 16,
            max_blob_bytes: 256 << 20,
        }
    }
}

/// One row of a column of references: `None` for a null reference, else its payload or
/// its error.
pub type RowOutcome = Option<Result<Vec<u8>>>;

/// Fetches every reference of `refs` through `resolver`, concurrently; the outcomes in
/// a vector (see [`resolve_column_in_order`] for the bounds and the errors).
///
/// The result has one entry per row, in row order: `None` for a null reference, else that
/// row's outcome.
pub async fn resolve_column(
    resolver: &dyn BlobResolver,
    refs: &[Option<BlobRef>],
    options: ResolveOptions,
) -> Vec<RowOutcome> {
    let mut results = Vec::with_capacity(refs.len());
    resolve_column_in_order(resolver, refs, options, |_, outcome| results.push(outcome)).await;
    results
}

/// Fetches every reference of `refs` through `resolver`, concurrently, and hands each
/// row's outcome to `deliver` in row order: `None` for a null reference, else the payload
/// or the row's error. A consumer that copies each payload into one buffer (an Arrow
/// column) holds the column plus at most `options.max_bytes_in_flight` of payloads (or
/// one payload of up to `options.max_blob_bytes`, which is fetched alone).
///
/// At most `options.concurrency` fetches are in flight (at least one). The lengths of the
/// payloads fetched or being fetched but not yet delivered add up to at most
/// `options.max_bytes_in_flight`, except that a reference longer than that on its own is
/// still fetched, alone. Fetches start in row order.
///
/// Errors are per row: one failed fetch does not stop the others. A reference longer
/// than `options.max_blob_bytes` is an `InvalidArgument` row error, never fetched; a
/// payload whose size differs from the reference's `length` is a `Corrupt` row error.
pub async fn resolve_column_in_order(
    resolver: &dyn BlobResolver,
    refs: &[Option<BlobRef>],
    options: ResolveOptions,
    mut deliver: impl FnMut(usize, RowOutcome),
) {
    let concurrency = options.concurrency.max(1);
    let budget = u64::try_from(options.max_bytes_in_flight).unwrap_or(u64::MAX);
    let mut rows = Handover::default();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0usize;

    loop {
        // admit as many rows as the bounds allow, in row order
        while next < refs.len() && in_flight.len() < concurrency {
            match &refs[next] {
                None => rows.window.push_back((0, Some(None))),
                Some(blob) if blob.length > options.max_blob_bytes => {
                    let refused = Error::invalid(format!(
                        "blob {blob} is longer than the {} bytes a payload may have (ResolveOptions::max_blob_bytes)",
                        options.max_blob_bytes
                    ));
                    rows.window.push_back((0, Some(Some(Err(refused)))));
                }
                Some(blob) => {
                    if rows.held.saturating_add(blob.length) > budget && rows.held > 0 {
                        break;
                    }
                    rows.held = rows.held.saturating_add(blob.length);
                    rows.window.push_back((blob.length, None));
                    let row = next;
                    in_flight.push(async move {
                        let outcome = resolver.fetch(blob).await.and_then(|bytes| {
                            if bytes.len() as u64 == blob.length {
                                Ok(bytes)
                            } else {
                                Err(Error::new(
                                    ErrorKind::Corrupt,
                                    format!("blob {blob}: resolver returned {} bytes", bytes.len()),
                                ))
                            }
                        });
                        (row, outcome)
                    });
                }
            }
            next += 1;
        }
        // rows admitted with their outcome known (nulls, refusals) go at once
        rows.hand_over(&mut deliver);
        // a finished fetch is handed over (with those after it that finished first) before
        // the next admission, so that its bytes are free for it
        let Some((row, outcome)) = in_flight.next().await else {
            // nothing in flight: every row was admitted and handed over
            break;
        };
        rows.finish(row, outcome);
        rows.hand_over(&mut deliver);
    }
}

/// The rows [`resolve_column_in_order`] admitted and has not handed over yet.
#[derive(Default)]
struct Handover {
    /// From row `delivered` on: each row's held length and, once known, its outcome.
    window: VecDeque<(u64, Option<RowOutcome>)>,
    /// The rows handed over.
    delivered: usize,
    /// The bytes of the rows in the window.
    held: u64,
}

impl Handover {
    /// Records the outcome of row `row` (admitted, so in the window).
    fn finish(&mut self, row: usize, outcome: Result<Vec<u8>>) {
        if let Some(slot) = row.checked_sub(self.delivered).and_then(|i| self.window.get_mut(i)) {
            slot.1 = Some(Some(outcome));
        }
    }

    /// Hands over the rows whose outcome is known, up to the first still in flight.
    fn hand_over(&mut self, deliver: &mut impl FnMut(usize, RowOutcome)) {
        while let Some((_, Some(_))) = self.window.front() {
            let Some((length, Some(outcome))) = self.window.pop_front() else {
                break;
            };
            self.held = self.held.saturating_sub(length);
            deliver(self.delivered, outcome);
            self.delivered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::Duration;

    use arrow_array::{ArrayRef, Int32Array, StringArray, UInt64Array};
    use arrow_buffer::NullBuffer;
    use arrow_schema::{Field, Fields, Schema};

    use super::*;
    use crate::types::{blob_ref_field, blob_ref_type};

    /// An in-memory resolver that records the bytes and fetches in flight.
    #[derive(Default)]
    struct MemResolver {
        objects: HashMap<String, Vec<u8>>,
        bytes_now: AtomicU64,
        bytes_max: AtomicU64,
        count_now: AtomicUsize,
        count_max: AtomicUsize,
        /// Bytes asked for by every fetch so far.
        bytes_asked: AtomicU64,
    }

    impl MemResolver {
        fn with(objects: &[(&str, &[u8])]) -> Self {
            Self {
                objects: objects.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect(),
                ..Default::default()
            }
        }
    }

    #[async_trait]
    impl BlobResolver for MemResolver {
        async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>> {
            self.bytes_asked.fetch_add(blob.length, Ordering::SeqCst);
            let now = self.bytes_now.fetch_add(blob.length, Ordering::SeqCst) + blob.length;
            self.bytes_max.fetch_max(now, Ordering::SeqCst);
            let count = self.count_now.fetch_add(1, Ordering::SeqCst) + 1;
            self.count_max.fetch_max(count, Ordering::SeqCst);
            // Later rows finish first, so completion order differs from row order.
            tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(blob.offset))).await;
            let out = match self.objects.get(&blob.uri) {
                None => Err(Error::new(ErrorKind::NotFound, format!("no object {}", blob.uri))),
                Some(data) => blob.range().and_then(|range| {
                    data.get(range.start as usize..range.end as usize)
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| Error::invalid(format!("{blob} past the end")))
                }),
            };
            self.bytes_now.fetch_sub(blob.length, Ordering::SeqCst);
            self.count_now.fetch_sub(1, Ordering::SeqCst);
            out
        }
    }

    fn options(max_bytes_in_flight: usize, concurrency: usize) -> ResolveOptions {
        ResolveOptions {
            max_bytes_in_flight,
            concurrency,
            ..ResolveOptions::default()
        }
    }

    fn payload(r: &Option<Result<Vec<u8>>>) -> Option<&[u8]> {
        r.as_ref().and_then(|r| r.as_ref().ok()).map(Vec::as_slice)
    }

    #[tokio::test]
    async fn results_are_in_row_order_under_concurrency() {
        let data: Vec<u8> = (0..=255).collect();
        let resolver = MemResolver::with(&[("a", &data)]);
        let refs: Vec<Option<BlobRef>> = (0..20).map(|i| Some(BlobRef::new("a", i, 3))).collect();
        let out = resolve_column(&resolver, &refs, options(1 << 20, 8)).await;
        assert_eq!(out.len(), 20);
        for (i, r) in out.iter().enumerate() {
            let i = i as u8;
            assert_eq!(payload(r), Some(&[i, i + 1, i + 2][..]));
        }
        assert_eq!(resolver.count_max.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn rows_are_delivered_in_order_holding_at_most_the_byte_budget() {
        let data: Vec<u8> = (0..=255).collect();
        let resolver = MemResolver::with(&[("a", &data)]);
        // row 0 is the slowest (MemResolver sleeps less the larger the offset): the rows
        // after it finish first and wait for it, within the budget
        let refs: Vec<Option<BlobRef>> = (0..40)
            .map(|i| (i % 7 != 3).then(|| BlobRef::new("a", i, 10)))
            .collect();
        let mut rows = Vec::new();
        let mut delivered_bytes = 0u64;
        let mut most_held = 0u64;
        resolve_column_in_order(&resolver, &refs, options(35, 8), |row, outcome| {
            rows.push(row);
            // what was asked for and not handed over, this row included
            let asked = resolver.bytes_asked.load(Ordering::SeqCst);
            most_held = most_held.max(asked - delivered_bytes);
            let expected = refs[row].as_ref().map(|r| &data[r.offset as usize..][..10]);
            assert_eq!(payload(&outcome), expected, "row {row}");
            delivered_bytes += payload(&outcome).map_or(0, |p| p.len() as u64);
        })
        .await;
        assert_eq!(rows, (0..40).collect::<Vec<_>>());
        assert!(most_held <= 35, "{most_held} bytes fetched and not yet delivered");

        // no rows, only nulls, no concurrency asked for
        for refs in [vec![], vec![None, None]] {
            let mut seen = Vec::new();
            resolve_column_in_order(&resolver, &refs, options(35, 0), |row, outcome| {
                seen.push((row, outcome.is_none()));
            })
            .await;
            assert_eq!(seen, (0..refs.len()).map(|r| (r, true)).collect::<Vec<_>>());
        }
    }

    #[tokio::test]
    async fn bytes_handed_over_are_free_for_the_next_fetch_at_once() -> Result<()> {
        /// Row 1's fetch ends only once row 2's has begun: with a budget of two payloads,
        /// row 2 must start as soon as row 0 is handed over.
        #[derive(Default)]
        struct Gate(tokio::sync::Notify);
        #[async_trait]
        impl BlobResolver for Gate {
            async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>> {
                match blob.offset {
                    1 => self.0.notified().await,
                    2 => self.0.notify_one(),
                    _ => {}
                }
                Ok(vec![blob.offset as u8; blob.length as usize])
            }
        }
        let refs: Vec<Option<BlobRef>> = (0..3).map(|i| Some(BlobRef::new("g", i, 10))).collect();
        let out = tokio::time::timeout(
            Duration::from_secs(10),
            resolve_column(&Gate::default(), &refs, options(20, 8)),
        )
        .await
        .map_err(|_| Error::invalid("row 2 never started: freed bytes were not reused"))?;
        assert_eq!(
            out.iter().map(|r| payload(r).map(|p| p[0])).collect::<Vec<_>>(),
            [Some(0), Some(1), Some(2)]
        );
        Ok(())
    }

    #[tokio::test]
    async fn bounds_on_bytes_and_count_are_respected() {
        let data = vec![1u8; 1000];
        let resolver = MemResolver::with(&[("a", &data)]);
        let refs: Vec<Option<BlobRef>> = (0..30).map(|i| Some(BlobRef::new("a", i % 10, 10 + i))).collect();
        let out = resolve_column(&resolver, &refs, options(100, 4)).await;
        assert!(out.iter().all(|r| payload(r).is_some()));
        assert!(resolver.bytes_max.load(Ordering::SeqCst) <= 100);
        assert!(resolver.count_max.load(Ordering::SeqCst) <= 4);
        assert!(
            resolver.count_max.load(Ordering::SeqCst) >= 2,
            "fetches ran concurrently"
        );
    }

    #[tokio::test]
    async fn oversized_reference_is_fetched_alone() {
        let data = vec![9u8; 500];
        let resolver = MemResolver::with(&[("a", &data)]);
        let refs = vec![
            Some(BlobRef::new("a", 0, 10)),
            Some(BlobRef::new("a", 0, 400)),
            Some(BlobRef::new("a", 0, 10)),
        ];
        let out = resolve_column(&resolver, &refs, options(50, 8)).await;
        assert_eq!(payload(&out[1]).map(<[u8]>::len), Some(400));
        assert_eq!(resolver.bytes_max.load(Ordering::SeqCst), 400);
        assert!(out.iter().all(|r| payload(r).is_some()));
    }

    #[tokio::test]
    async fn a_reference_longer_than_the_payload_limit_is_a_row_error_and_never_fetched() {
        let data = vec![5u8; 100];
        let resolver = MemResolver::with(&[("a", &data)]);
        let refs = vec![
            Some(BlobRef::new("a", 0, 10)),
            Some(BlobRef::new("a", 0, 11)),
            Some(BlobRef::new("a", 0, u64::MAX)),
            Some(BlobRef::new("a", 90, 10)),
        ];
        let limited = ResolveOptions {
            max_blob_bytes: 10,
            ..options(1 << 20, 8)
        };
        let out = resolve_column(&resolver, &refs, limited).await;
        assert_eq!(payload(&out[0]), Some(&[5u8; 10][..]));
        assert_eq!(payload(&out[3]), Some(&[5u8; 10][..]));
        for refused in [&out[1], &out[2]] {
            let Some(Err(e)) = refused else {
                panic!("an oversized reference was fetched: {refused:?}");
            };
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains("max_blob_bytes"), "{e}");
        }
        // only the two short references reached the resolver
        assert_eq!(resolver.bytes_asked.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn errors_are_per_row_and_nulls_stay_none() {
        let resolver = MemResolver::with(&[("a", b"hello world")]);
        let refs = vec![
            Some(BlobRef::new("a", 0, 5)),
            None,
            Some(BlobRef::new("missing", 0, 1)),
            Some(BlobRef::new("a", 6, 50)),
            Some(BlobRef::new("a", 6, 5)),
            Some(BlobRef::new("a", u64::MAX, 2)),
        ];
        let out = resolve_column(&resolver, &refs, options(1 << 20, 3)).await;
        assert_eq!(payload(&out[0]), Some(&b"hello"[..]));
        assert!(out[1].is_none());
        assert!(matches!(&out[2], Some(Err(e)) if e.kind() == ErrorKind::NotFound));
        assert!(matches!(&out[3], Some(Err(e)) if e.kind() == ErrorKind::InvalidArgument));
        assert_eq!(payload(&out[4]), Some(&b"world"[..]));
        assert!(matches!(&out[5], Some(Err(e)) if e.kind() == ErrorKind::InvalidArgument));
    }

    #[tokio::test]
    async fn wrong_payload_size_is_corrupt() {
        struct Short;
        #[async_trait]
        impl BlobResolver for Short {
            async fn fetch(&self, _blob: &BlobRef) -> Result<Vec<u8>> {
                Ok(vec![0; 1])
            }
        }
        let out = resolve_column(&Short, &[Some(BlobRef::new("x", 0, 4))], options(10, 1)).await;
        assert!(matches!(&out[0], Some(Err(e)) if e.kind() == ErrorKind::Corrupt));
    }

    fn ref_array(rows: &[Option<(&str, u64, u64)>]) -> ArrayRef {
        let uris: StringArray = rows.iter().map(|r| Some(r.map_or("", |r| r.0))).collect();
        let offsets: UInt64Array = rows.iter().map(|r| Some(r.map_or(0, |r| r.1))).collect();
        let lengths: UInt64Array = rows.iter().map(|r| Some(r.map_or(0, |r| r.2))).collect();
        let DataType::Struct(fields) = blob_ref_type() else {
            unreachable!()
        };
        let nulls = NullBuffer::from(rows.iter().map(Option::is_some).collect::<Vec<_>>());
        Arc::new(StructArray::new(
            fields,
            vec![Arc::new(uris), Arc::new(offsets), Arc::new(lengths)],
            Some(nulls),
        ))
    }

    #[test]
    fn reads_a_blob_ref_column() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            blob_ref_field("img", true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![1, 2, 3])),
                ref_array(&[Some(("a", 1, 2)), None, Some(("b", 0, 9))]),
            ],
        )
        .unwrap();
        let refs = blob_refs(&batch, "img").unwrap();
        assert_eq!(
            refs,
            vec![Some(BlobRef::new("a", 1, 2)), None, Some(BlobRef::new("b", 0, 9))]
        );
        let e = blob_refs(&batch, "id").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        let e = blob_refs(&batch, "nope").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn a_reference_with_a_null_part_is_corrupt_and_named_by_its_row() -> Result<()> {
        // written by a writer whose parts are nullable
        let fields = Fields::from(vec![
            Field::new("uri", DataType::Utf8, true),
            Field::new("offset", DataType::UInt64, true),
            Field::new("length", DataType::UInt64, true),
        ]);
        let array = StructArray::try_new(
            fields,
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(UInt64Array::from(vec![0, 0])),
                Arc::new(UInt64Array::from(vec![Some(1), None])),
            ],
            None,
        )?;
        let per_row = blob_refs_per_row(&array)?;
        assert!(matches!(&per_row[0], Some(Ok(_))));
        let Some(Some(Err(e))) = per_row.get(1) else {
            return Err(Error::invalid("row 1 was taken"));
        };
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        // the row error names no row: its caller numbers rows in its own stream
        assert!(!e.message().contains("row"), "{e}");
        let e = blob_refs_from_array(&array)
            .err()
            .ok_or_else(|| Error::invalid("row 1 was taken"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.message().starts_with("row 1: "), "{e}");
        Ok(())
    }

    #[test]
    fn rejects_structs_of_the_wrong_shape() {
        let wrong = DataType::Struct(Fields::from(vec![
            Field::new("uri", DataType::Utf8, false),
            Field::new("offset", DataType::Int64, false),
            Field::new("length", DataType::UInt64, false),
        ]));
        assert_eq!(
            check_blob_ref_type(&wrong).unwrap_err().kind(),
            ErrorKind::SchemaMismatch
        );
        let missing = DataType::Struct(Fields::from(vec![Field::new("uri", DataType::Utf8, false)]));
        assert_eq!(
            check_blob_ref_type(&missing).unwrap_err().kind(),
            ErrorKind::SchemaMismatch
        );
        assert!(check_blob_ref_type(&blob_ref_type()).is_ok());
    }
}
