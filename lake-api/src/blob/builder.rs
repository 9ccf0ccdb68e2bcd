//! [`BlobRefBuilder`]: builds a BLOB reference column row by row, as backends that turn
//! their own blob locations into `lakeunion.blob_ref` structs do.
//!
//! ```
//! use lake_api::blob::{blob_refs_from_array, BlobRef, BlobRefBuilder};
//!
//! let mut refs = BlobRefBuilder::with_capacity(2);
//! refs.append(&BlobRef::new("s3://b/t/data/a.lance", 64, 1024));
//! refs.append_null();
//! let column = refs.finish().unwrap();
//! assert_eq!(
//!     blob_refs_from_array(column.as_ref()).unwrap(),
//!     vec![Some(BlobRef::new("s3://b/t/data/a.lance", 64, 1024)), None]
//! );
//! ```

use std::sync::Arc;

use arrow_array::builder::{BooleanBufferBuilder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, StructArray};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType;

use super::BlobRef;
use crate::error::{Error, ErrorKind, Result};
use crate::types::blob_ref_type;

/// Builds a `Struct{uri: Utf8, offset: UInt64, length: UInt64}` column; null rows are
/// null structs (with placeholder children, as Arrow requires of non-null children).
#[derive(Debug)]
pub struct BlobRefBuilder {
    uris: StringBuilder,
    offsets: UInt64Builder,
    lengths: UInt64Builder,
    valid: BooleanBufferBuilder,
}

impl BlobRefBuilder {
    /// A builder with room for `rows` references.
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            uris: StringBuilder::with_capacity(rows, rows * 64),
            offsets: UInt64Builder::with_capacity(rows),
            lengths: UInt64Builder::with_capacity(rows),
            valid: BooleanBufferBuilder::new(rows),
        }
    }

    /// Appends `length` bytes at `offset` of `uri`.
    pub fn append_parts(&mut self, uri: &str, offset: u64, length: u64) {
        self.uris.append_value(uri);
        self.offsets.append_value(offset);
        self.lengths.append_value(length);
        self.valid.append(true);
    }

    /// Appends a reference.
    pub fn append(&mut self, blob: &BlobRef) {
        self.append_parts(&blob.uri, blob.offset, blob.length);
    }

    /// Appends a null row.
    pub fn append_null(&mut self) {
        self.uris.append_value("");
        self.offsets.append_value(0);
        self.lengths.append_value(0);
        self.valid.append(false);
    }

    /// The column built so far.
    pub fn finish(mut self) -> Result<ArrayRef> {
        let DataType::Struct(fields) = blob_ref_type() else {
            return Err(Error::new(
                ErrorKind::External,
                "the BLOB reference type is not a struct",
            ));
        };
        let nulls = NullBuffer::new(self.valid.finish());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        let refs = StructArray::try_new(
            fields,
            vec![
                Arc::new(self.uris.finish()),
                Arc::new(self.offsets.finish()),
                Arc::new(self.lengths.finish()),
            ],
            nulls,
        )?;
        Ok(Arc::new(refs))
    }
}
