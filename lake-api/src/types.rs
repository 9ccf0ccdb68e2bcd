//! Logical types that plain Arrow cannot name: BLOB, BLOB reference and VECTOR.
//!
//! They are ordinary Arrow fields marked with the Arrow extension-type metadata key
//! (`ARROW:extension:name`), so that any Arrow consumer can still read them, and every
//! crate of the workspace agrees on one spelling (DESIGN.md, "Multimodal columns").
//!
//! ```
//! use arrow_schema::DataType;
//! use lake_api::types::{blob_field, vector_field, LogicalType};
//!
//! let image = blob_field("image", true);
//! assert_eq!(LogicalType::of(&image), LogicalType::Blob);
//!
//! let embedding = vector_field("embedding", DataType::Float32, 768, true);
//! assert_eq!(
//!     LogicalType::of(&embedding),
//!     LogicalType::Vector { element: DataType::Float32, dimension: 768 }
//! );
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields};

/// The Arrow metadata key that carries an extension type's name.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Extension name of a BLOB column (payload bytes inline).
pub const BLOB_EXTENSION: &str = "lakeunion.blob";
/// Extension name of a BLOB reference column (`Struct{uri, offset, length}`).
pub const BLOB_REF_EXTENSION: &str = "lakeunion.blob_ref";

/// The logical type of a field, where it differs from its Arrow type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicalType {
    /// Anything without a lakeunion extension: the Arrow type says it all.
    Plain,
    /// Binary payloads (`LargeBinary`), possibly large; read as references by default.
    Blob,
    /// A pointer to a BLOB payload: `Struct{uri: Utf8, offset: UInt64, length: UInt64}`.
    BlobRef,
    /// A fixed-dimension vector of a primitive element type.
    Vector {
        /// The element type (non-null in the Arrow list).
        element: DataType,
        /// The number of elements.
        dimension: i32,
    },
}

impl LogicalType {
    /// The logical type of an Arrow field.
    pub fn of(field: &Field) -> Self {
        match field.metadata().get(EXTENSION_NAME_KEY).map(String::as_str) {
            Some(BLOB_EXTENSION) => return LogicalType::Blob,
            Some(BLOB_REF_EXTENSION) => return LogicalType::BlobRef,
            _ => {}
        }
        match field.data_type() {
            DataType::FixedSizeList(item, n) if !item.is_nullable() => LogicalType::Vector {
                element: item.data_type().clone(),
                dimension: *n,
            },
            _ => LogicalType::Plain,
        }
    }
}

/// The Arrow type of column `name` of `schema` when it is a plain, flat column (no BLOB,
/// BLOB reference or VECTOR, no list, map or struct): what a backend can compare with a
/// literal, or check for null, in a pushed filter. (Lakes bind filters to leaf columns:
/// Iceberg fails a scan whose filter names a struct, and paimon's read panics on one.)
pub fn plain_column_type<'a>(schema: &'a arrow_schema::Schema, name: &str) -> Option<&'a DataType> {
    let field = schema.field_with_name(name).ok()?;
    match LogicalType::of(field) {
        LogicalType::Plain if !field.data_type().is_nested() => Some(field.data_type()),
        _ => None,
    }
}

fn with_extension(field: Field, name: &str) -> Field {
    let mut metadata: HashMap<String, String> = field.metadata().clone();
    metadata.insert(EXTENSION_NAME_KEY.to_string(), name.to_string());
    field.with_metadata(metadata)
}

/// A BLOB column: `LargeBinary` marked `lakeunion.blob`.
pub fn blob_field(name: impl Into<String>, nullable: bool) -> Field {
    with_extension(Field::new(name, DataType::LargeBinary, nullable), BLOB_EXTENSION)
}

/// The Arrow type of a BLOB reference.
pub fn blob_ref_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("uri", DataType::Utf8, false),
        Field::new("offset", DataType::UInt64, false),
        Field::new("length", DataType::UInt64, false),
    ]))
}

/// A BLOB reference column: `Struct{uri, offset, length}` marked `lakeunion.blob_ref`.
pub fn blob_ref_field(name: impl Into<String>, nullable: bool) -> Field {
    with_extension(Field::new(name, blob_ref_type(), nullable), BLOB_REF_EXTENSION)
}

/// `schema` with every BLOB column turned into a BLOB reference column (same name,
/// nullability and position): what a read that returns references yields.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use lake_api::types::{blob_field, with_blob_references, LogicalType};
///
/// let table = Schema::new(vec![Field::new("id", DataType::Int64, false), blob_field("img", true)]);
/// let read = with_blob_references(&table);
/// assert_eq!(LogicalType::of(read.field(1)), LogicalType::BlobRef);
/// assert_eq!(read.field(0), table.field(0));
/// ```
pub fn with_blob_references(schema: &arrow_schema::Schema) -> arrow_schema::Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match LogicalType::of(f) {
            LogicalType::Blob => blob_ref_field(f.name().clone(), f.is_nullable()),
            _ => f.as_ref().clone(),
        })
        .collect();
    arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// Whether `schema` has a BLOB column (payloads, not references).
pub fn has_blob_column(schema: &arrow_schema::Schema) -> bool {
    schema.fields().iter().any(|f| LogicalType::of(f) == LogicalType::Blob)
}

/// The largest vector dimension read: far above embedding models' (a few thousand),
/// and low enough that a damaged dimension cannot size a batch's vectors into terabytes.
pub const MAX_VECTOR_DIMENSION: usize = 1 << 16;

/// Whether `dimension` is one a VECTOR column may have here: 1 to [`MAX_VECTOR_DIMENSION`].
///
/// ```
/// use lake_api::types::is_vector_dimension;
///
/// assert!(is_vector_dimension(768));
/// assert!(!is_vector_dimension(0) && !is_vector_dimension(-1) && !is_vector_dimension(i32::MAX));
/// ```
pub fn is_vector_dimension(dimension: i32) -> bool {
    usize::try_from(dimension).is_ok_and(|d| (1..=MAX_VECTOR_DIMENSION).contains(&d))
}

/// A VECTOR<T, N> column: `FixedSizeList<T (non-null), N>`.
pub fn vector_field(name: impl Into<String>, element: DataType, dimension: i32, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::FixedSizeList(Arc::new(Field::new("item", element, false)), dimension),
        nullable,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_fields_are_plain() {
        assert_eq!(
            LogicalType::of(&Field::new("a", DataType::Int64, true)),
            LogicalType::Plain
        );
        // a nullable-element fixed-size list is a plain list, not a VECTOR
        let f = Field::new(
            "l",
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), 3),
            true,
        );
        assert_eq!(LogicalType::of(&f), LogicalType::Plain);
    }

    #[test]
    fn blob_ref_keeps_extension() {
        let f = blob_ref_field("img", true);
        assert_eq!(LogicalType::of(&f), LogicalType::BlobRef);
        assert!(matches!(f.data_type(), DataType::Struct(fields) if fields.len() == 3));
    }
}
