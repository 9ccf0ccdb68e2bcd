//! Table metadata in a Lance dataset's schema metadata, and batches between lakeunion's
//! logical types and Lance's physical ones (BLOB as a blob v2 column, VECTOR as a
//! `FixedSizeList` whose items Lance reads back as nullable `item`s).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use lake_api::conform::{conform_array, conform_batch};
use lake_api::types::{
    BLOB_EXTENSION, BLOB_REF_EXTENSION, EXTENSION_NAME_KEY, LogicalType, blob_field, blob_ref_field, vector_field,
};
use lake_api::{Error, ErrorKind, MergeEngine, Result, TableInfo, TablePath};

/// Schema metadata: the primary key columns, comma-separated.
pub const PRIMARY_KEY_KEY: &str = "fluss.primary-key";
/// Schema metadata: the bucket count of the Fluss table.
pub const BUCKET_COUNT_KEY: &str = "fluss.bucket.num";
/// Schema metadata: the bucket key columns, comma-separated.
pub const BUCKET_KEY_KEY: &str = "fluss.bucket.key";
/// Schema metadata: the partition keys, comma-separated.
pub const PARTITION_KEYS_KEY: &str = "fluss.partition-keys";
/// Schema metadata: the merge engine (`first_row`, `versioned`; absent: deduplicate).
pub const MERGE_ENGINE_KEY: &str = "fluss.table.merge-engine";
/// Schema metadata: the version column of a `versioned` table.
pub const VERSION_COLUMN_KEY: &str = "fluss.table.merge-engine.versioned.ver-column";

const LANCE_BLOB_EXTENSION: &str = "lance.blob.v2";
/// Field metadata marking a VECTOR column (any `FixedSizeList` reads back with nullable
/// items, so its Arrow type cannot tell a VECTOR from a plain list).
const VECTOR_KEY: &str = "lakeunion.vector";
/// Schema metadata: every VECTOR column carries [`VECTOR_KEY`]. Datasets written before
/// the marker lack it, and their vectors are told by their type (a `FixedSizeList` of
/// numbers or times).
const VECTORS_MARKED_KEY: &str = "lakeunion.vectors-marked";

/// The column holding each row's Fluss bucket (Fluss's system-column name), where a
/// dataset has one: it makes the dataset bucket-aware. It is no column of the table.
pub const BUCKET_COLUMN: &str = "__bucket";

/// Whether a dataset has the [`BUCKET_COLUMN`] (asked of its Lance schema, with no Arrow
/// conversion: readers ask once per split).
pub(crate) fn has_bucket_column(dataset: &lance::Dataset) -> bool {
    dataset.schema().field(BUCKET_COLUMN).is_some()
}

fn list(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The lakeunion table of a dataset's Arrow schema (its metadata carries the Fluss table's
/// key, buckets, partitions and merge engine; a dataset without it is a one-bucket log table).
pub(crate) fn table_info(path: &TablePath, schema: &Schema) -> Result<TableInfo> {
    let meta = schema.metadata();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| f.name() != BUCKET_COLUMN)
        .map(|f| logical_field(f, schema))
        .collect();
    let logical = Arc::new(Schema::new(fields));
    let primary_key = list(meta.get(PRIMARY_KEY_KEY));
    let bucket_count = match meta.get(BUCKET_COUNT_KEY) {
        None => 1,
        Some(v) => v.parse::<u32>().map_err(|_| {
            Error::corrupt(format!(
                "table {path}: schema metadata {BUCKET_COUNT_KEY}='{v}' is not a bucket count"
            ))
        })?,
    };
    let merge_engine = MergeEngine::from_option(
        meta.get(MERGE_ENGINE_KEY).map(String::as_str),
        meta.get(VERSION_COLUMN_KEY).map(String::as_str),
        path,
    )?;
    let mut info = if primary_key.is_empty() {
        TableInfo::log_table(path.clone(), logical, bucket_count)
    } else {
        TableInfo::primary_key_table(path.clone(), logical, primary_key, bucket_count)
    };
    info.bucket_key = list(meta.get(BUCKET_KEY_KEY));
    info = info
        .with_partition_keys(list(meta.get(PARTITION_KEYS_KEY)))
        .with_merge_engine(merge_engine);
    info.validate_stored()?;
    Ok(info)
}

/// Whether every BLOB column of a Lance schema is a blob v2 column (whose values Lance can
/// locate in its files), rather than a plain `LargeBinary` marked as a BLOB.
pub(crate) fn blobs_are_v2(schema: &Schema) -> bool {
    schema.fields().iter().all(|f| {
        let extension = f.metadata().get(EXTENSION_NAME_KEY).map(String::as_str);
        LogicalType::of(&logical_field(f, schema)) != LogicalType::Blob || extension == Some(LANCE_BLOB_EXTENSION)
    })
}

/// A column of Lance `schema` as lakeunion sees it.
fn logical_field(field: &Field, schema: &Schema) -> Field {
    let extension = field.metadata().get(EXTENSION_NAME_KEY).map(String::as_str);
    let (name, nullable) = (field.name().clone(), field.is_nullable());
    match (field.data_type(), extension) {
        (_, Some(LANCE_BLOB_EXTENSION)) | (DataType::LargeBinary, Some(BLOB_EXTENSION)) => blob_field(name, nullable),
        (DataType::FixedSizeList(item, n), _) if is_vector(field, item, schema) => {
            vector_field(name, item.data_type().clone(), *n, nullable)
        }
        (_, Some(BLOB_REF_EXTENSION)) => blob_ref_field(name, nullable),
        (other, _) => Field::new(name, other.clone(), nullable),
    }
}

/// Whether a `FixedSizeList` column of `schema` with items `item` is a VECTOR.
fn is_vector(field: &Field, item: &Field, schema: &Schema) -> bool {
    match schema.metadata().contains_key(VECTORS_MARKED_KEY) {
        true => field.metadata().contains_key(VECTOR_KEY),
        false => item.data_type().is_primitive(),
    }
}

/// The Lance schema of a dataset for `info`, its table metadata in the schema metadata,
/// with the [`BUCKET_COLUMN`] last where `bucket_column`.
pub(crate) fn lance_schema(info: &TableInfo, bucket_column: bool) -> Result<SchemaRef> {
    if info.schema.field_with_name(BUCKET_COLUMN).is_ok() {
        return Err(Error::schema(format!(
            "table {}: column {BUCKET_COLUMN} is the name Lance datasets keep the Fluss bucket under",
            info.path
        )));
    }
    let mut fields = Vec::with_capacity(info.schema.fields().len());
    for f in info.schema.fields() {
        fields.push(match LogicalType::of(f) {
            LogicalType::Blob => lance::blob::blob_field(f.name(), f.is_nullable()),
            LogicalType::Vector { element, dimension } => Field::new(
                f.name(),
                DataType::new_fixed_size_list(element, dimension, true),
                f.is_nullable(),
            )
            .with_metadata(HashMap::from([(VECTOR_KEY.to_string(), "true".to_string())])),
            LogicalType::BlobRef | LogicalType::Plain => f.as_ref().clone(),
        });
    }
    if bucket_column {
        fields.push(Field::new(BUCKET_COLUMN, DataType::Int32, false));
    }
    let mut meta: HashMap<String, String> = HashMap::from([(VECTORS_MARKED_KEY.to_string(), "true".to_string())]);
    if info.has_primary_key() {
        meta.insert(PRIMARY_KEY_KEY.into(), key_list(info, &info.primary_key)?);
    }
    meta.insert(BUCKET_COUNT_KEY.into(), info.bucket_count.to_string());
    if !info.bucket_key.is_empty() {
        meta.insert(BUCKET_KEY_KEY.into(), key_list(info, &info.bucket_key)?);
    }
    if !info.partition_keys.is_empty() {
        meta.insert(PARTITION_KEYS_KEY.into(), key_list(info, &info.partition_keys)?);
    }
    if let Some((engine, column)) = info.merge_engine.to_option() {
        meta.insert(MERGE_ENGINE_KEY.into(), engine.into());
        if let Some(column) = column {
            meta.insert(VERSION_COLUMN_KEY.into(), column.into());
        }
    }
    Ok(Arc::new(Schema::new_with_metadata(fields, meta)))
}

/// Column names as the comma-separated list the schema metadata keeps, which [`list`]
/// reads back: a name with a comma, or with spaces around it, would come back as other
/// names, so it fails with [`ErrorKind::Unsupported`].
fn key_list(info: &TableInfo, columns: &[String]) -> Result<String> {
    if let Some(bad) = columns.iter().find(|c| c.contains(',') || c.trim() != c.as_str()) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "table {}: a Lance dataset lists its key and partition columns comma-separated, so it cannot \
                 keep the column '{bad}' (a comma, or spaces around the name)",
                info.path
            ),
        ));
    }
    Ok(columns.join(","))
}

/// Rows of the table as Lance stores them: BLOB payloads as blob v2 values, vectors with
/// nullable items, and the rows' buckets (`buckets`, one per row) where the dataset keeps
/// them.
pub(crate) fn to_lance(batch: &RecordBatch, lance: &SchemaRef, buckets: Option<Vec<u32>>) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(lance.fields().len());
    let mut buckets = buckets;
    for field in lance.fields() {
        if field.name() == BUCKET_COLUMN {
            let values = buckets
                .take()
                .ok_or_else(|| Error::schema("the dataset keeps buckets but the rows come without"))?;
            let values = values
                .into_iter()
                .map(i32::try_from)
                .collect::<std::result::Result<Vec<i32>, _>>()
                .map_err(|_| Error::invalid("a bucket number past i32"))?;
            if values.len() != batch.num_rows() {
                return Err(Error::invalid("one bucket per row"));
            }
            columns.push(Arc::new(arrow_array::Int32Array::from(values)));
            continue;
        }
        let column = batch
            .column_by_name(field.name())
            .ok_or_else(|| Error::schema(format!("column {} is missing", field.name())))?;
        let is_blob = field.metadata().get(EXTENSION_NAME_KEY).map(String::as_str) == Some(LANCE_BLOB_EXTENSION);
        let column = if is_blob {
            blob_values(column)?
        } else {
            conform_array(column, field.data_type())
                .map_err(|e| Error::schema(format!("column {}: {e}", field.name())))?
        };
        columns.push(column);
    }
    RecordBatch::try_new(lance.clone(), columns).map_err(|e| Error::schema(e.to_string()))
}

fn blob_values(column: &ArrayRef) -> Result<ArrayRef> {
    let binary = arrow_cast_large_binary(column)?;
    let binary = binary.as_binary::<i64>();
    let mut builder = lance::blob::BlobArrayBuilder::new(binary.len());
    let blob_err = |e: lance::Error| Error::new(ErrorKind::External, format!("building a blob column: {e}"));
    for i in 0..binary.len() {
        if binary.is_null(i) {
            builder.push_null().map_err(blob_err)?;
        } else {
            builder.push_bytes(binary.value(i)).map_err(blob_err)?;
        }
    }
    builder.finish().map_err(blob_err)
}

fn arrow_cast_large_binary(column: &ArrayRef) -> Result<ArrayRef> {
    conform_array(column, &DataType::LargeBinary)
        .map_err(|e| Error::schema(format!("a BLOB column is {}: {e}", column.data_type())))
}

/// Rows as the table wants them (after a scan that returned BLOB payloads as binary).
pub(crate) fn from_lance(batch: &RecordBatch, table: &SchemaRef) -> Result<RecordBatch> {
    conform_batch(batch, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_with(meta: &[(&str, &str)]) -> Schema {
        Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ])
        .with_metadata(meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn metadata_that_describes_no_table_is_corrupt() -> Result<()> {
        // regression: metadata that parsed but described no table (0 buckets, a key column
        // that is not there) was an InvalidArgument, as if the caller had asked wrongly;
        // metadata that did not parse was Corrupt
        let path = TablePath::new("db", "t");
        for meta in [
            &[(BUCKET_COUNT_KEY, "abc")][..],
            &[(BUCKET_COUNT_KEY, "0")][..],
            &[(PRIMARY_KEY_KEY, "missing")][..],
            &[(PARTITION_KEYS_KEY, "missing")][..],
        ] {
            let e = table_info(&path, &schema_with(meta))
                .err()
                .ok_or_else(|| Error::invalid(format!("{meta:?} accepted")))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{meta:?}: {e}");
            assert!(e.to_string().contains("db.t"), "{e}");
        }
        let info = table_info(&path, &schema_with(&[(PRIMARY_KEY_KEY, "k"), (BUCKET_COUNT_KEY, "2")]))?;
        assert_eq!(
            (info.primary_key.clone(), info.bucket_count),
            (vec!["k".to_string()], 2)
        );
        Ok(())
    }
}
