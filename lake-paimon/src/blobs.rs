//! BLOB references into a Paimon table, and [`PaimonBlobResolver`], which fetches them.
//!
//! Paimon keeps the values of a `BLOB` column in `.blob` files of their own and, with the
//! table option `blob-as-descriptor`, reads each value as a serialized `BlobDescriptor`
//! (file URI, offset, length): exactly a lakeunion BLOB reference. Columns this backend
//! creates are `BYTES` marked as BLOBs (Paimon allows `BLOB` only in row-tracking,
//! data-evolution, bucket-unaware tables), stored inline in the data files, where nothing
//! can point at a value: tables with such a column read payloads.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use async_trait::async_trait;
use lake_api::blob::{BlobRef, BlobRefBuilder, BlobResolver};
use lake_api::location::check_inside;
use lake_api::types::LogicalType;
use lake_api::{Error, ErrorKind, Result, TableInfo};
use paimon::io::{FileIO, FileRead};
use paimon::spec::{BlobDescriptor, CoreOptions, DataType as PaimonType};
use paimon::table::Table;

use crate::error::paimon_err;

/// The table option that makes Paimon read `BLOB` values as serialized descriptors.
pub(crate) const BLOB_AS_DESCRIPTOR_OPTION: &str = "blob-as-descriptor";
/// Whether every BLOB column of the table is a Paimon `BLOB` kept in `.blob` files and read
/// through Paimon's data-evolution reader, so that all of them read as descriptors of
/// ranges of the table's own files. Columns Paimon stores as user-supplied descriptors,
/// blob views or video frames point elsewhere or are no plain ranges: tables with one read
/// payloads.
pub(crate) fn can_reference(table: &Table, info: &TableInfo) -> bool {
    let options = CoreOptions::new(table.schema().options());
    let elsewhere: HashSet<String> = options
        .blob_descriptor_fields()
        .into_iter()
        .chain(options.blob_view_fields())
        .chain(options.video_frame_fields())
        .collect();
    let mut blobs = info
        .schema
        .fields()
        .iter()
        .filter(|f| LogicalType::of(f) == LogicalType::Blob)
        .peekable();
    if blobs.peek().is_none() || !options.data_evolution_enabled() {
        return false;
    }
    blobs.all(|f| {
        !elsewhere.contains(f.name())
            && table
                .schema()
                .fields()
                .iter()
                .any(|p| p.name() == f.name() && matches!(p.data_type(), PaimonType::Blob(_)))
    })
}

/// BLOB references from a column of serialized descriptors (what Paimon reads under
/// `blob-as-descriptor`); null rows stay null.
///
/// Errors: `Corrupt` for bytes that are no descriptor or a negative offset, `Unsupported`
/// for a descriptor of unknown length (`-1`: to the end of its file).
pub(crate) fn references_from_descriptors(descriptors: &dyn Array, context: &str) -> Result<ArrayRef> {
    let rows: Vec<Option<&[u8]>> = match descriptors.data_type() {
        DataType::LargeBinary => descriptors.as_binary::<i64>().iter().collect(),
        DataType::Binary => descriptors.as_binary::<i32>().iter().collect(),
        other => {
            return Err(Error::schema(format!(
                "{context}: BLOB descriptors arrived as {other}, not binary"
            )));
        }
    };
    let mut refs = BlobRefBuilder::with_capacity(rows.len());
    for (row, bytes) in rows.iter().enumerate() {
        let Some(bytes) = bytes else {
            refs.append_null();
            continue;
        };
        let descriptor = BlobDescriptor::deserialize(bytes)
            .map_err(|e| Error::corrupt(format!("{context}: row {row} holds no BLOB descriptor: {e}")))?;
        let offset = u64::try_from(descriptor.offset())
            .map_err(|_| Error::corrupt(format!("{context}: row {row}: {descriptor}")))?;
        let length = u64::try_from(descriptor.length()).map_err(|_| {
            Error::new(
                ErrorKind::Unsupported,
                format!("{context}: row {row}: {descriptor} has no recorded length: read the column as payloads"),
            )
        })?;
        refs.append_parts(descriptor.uri(), offset, length);
    }
    refs.finish()
}

/// Fetches the references a Paimon table's readers return: ranged reads through the
/// table's own `FileIO` (whatever store and credentials opened the table).
///
/// Only files inside the table's location are read: a reference elsewhere is an
/// `InvalidArgument` row error.
#[derive(Clone)]
pub struct PaimonBlobResolver {
    file_io: FileIO,
    location: String,
}

impl std::fmt::Debug for PaimonBlobResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaimonBlobResolver")
            .field("location", &self.location)
            .finish()
    }
}

impl PaimonBlobResolver {
    /// A resolver for the files of `table`.
    pub fn new(table: &Table) -> Self {
        Self {
            file_io: table.file_io().clone(),
            location: table.location().to_string(),
        }
    }
}

#[async_trait]
impl BlobResolver for PaimonBlobResolver {
    async fn fetch(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        check_inside(&self.location, &blob.uri, "BLOB file").map_err(|_| {
            Error::invalid(format!(
                "blob {blob} is not a file of the Paimon table at {}",
                self.location
            ))
        })?;
        let range = blob.range()?;
        let context = format!("blob {blob}");
        let input = self.file_io.new_input(&blob.uri).map_err(paimon_err(&context))?;
        let reader = input.reader().await.map_err(paimon_err(&context))?;
        let bytes = reader.read(range).await.map_err(paimon_err(&context))?;
        Ok(bytes.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::LargeBinaryArray;

    use super::*;

    #[test]
    fn descriptors_become_references_and_bad_ones_are_typed_errors() -> Result<()> {
        let good = BlobDescriptor::new("file:/w/db/t/data/a.blob".to_string(), 4, 10).serialize();
        let column = LargeBinaryArray::from_opt_vec(vec![Some(good.as_slice()), None]);
        let refs = references_from_descriptors(&column, "t")?;
        let refs = lake_api::blob::blob_refs_from_array(refs.as_ref())?;
        assert_eq!(refs, vec![Some(BlobRef::new("file:/w/db/t/data/a.blob", 4, 10)), None]);

        let unknown_length = BlobDescriptor::new("file:/w/a.blob".to_string(), 0, -1).serialize();
        for (bytes, kind) in [
            (b"not a descriptor".to_vec(), ErrorKind::Corrupt),
            (unknown_length, ErrorKind::Unsupported),
        ] {
            let column = LargeBinaryArray::from_vec(vec![bytes.as_slice()]);
            let e = references_from_descriptors(&column, "t")
                .map(|_| ())
                .map_err(|e| e.kind());
            assert_eq!(e, Err(kind));
        }
        Ok(())
    }
}
