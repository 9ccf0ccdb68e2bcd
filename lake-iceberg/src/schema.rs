//! Table metadata both ways: a lakeunion [`TableInfo`] as an Iceberg schema, partition spec
//! and properties, and back; and batches cast between the two type systems.
//!
//! The layout follows Fluss's Iceberg tables: partition keys are `identity` fields, and the
//! last partition field is the bucket, either `bucket[N](key)` (tables with a bucket key)
//! or `identity(__bucket)` (tables without one, which also carry the `__offset` and
//! `__timestamp` system columns; Fluss gives every table it creates all three). System
//! columns never reach a reader.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, FieldRef, Schema as ArrowSchema, SchemaRef, TimeUnit};
use iceberg::arrow::{arrow_schema_to_schema_auto_assign_ids, schema_to_arrow_schema};
use iceberg::spec::{
    Literal, NullOrder, PartitionSpec, PrimitiveLiteral, PrimitiveType, Schema, SortDirection, SortField, SortOrder,
    Struct, TableMetadata, Transform, Type, UnboundPartitionSpec,
};
use lake_api::table::date_partition_value;
use lake_api::types::{
    LogicalType, MAX_VECTOR_DIMENSION, blob_field, blob_ref_field, is_vector_dimension, vector_field,
};
use lake_api::{Error, ErrorKind, MergeEngine, Result, TableInfo, TablePath};

use crate::error::iceberg_err;

/// The bucket system column of tables without a bucket key.
pub const BUCKET_COLUMN: &str = "__bucket";
/// The log offset system column.
pub const OFFSET_COLUMN: &str = "__offset";
/// The commit timestamp system column.
pub const TIMESTAMP_COLUMN: &str = "__timestamp";
const SYSTEM_COLUMNS: [&str; 3] = [BUCKET_COLUMN, OFFSET_COLUMN, TIMESTAMP_COLUMN];

/// Table property: the merge engine (`first_row`, `versioned`; absent: deduplicate).
pub const MERGE_ENGINE_PROPERTY: &str = "fluss.table.merge-engine";
/// Table property: the version column of a `versioned` table.
pub const VERSION_COLUMN_PROPERTY: &str = "fluss.table.merge-engine.versioned.ver-column";
/// Table property: the bucket count of a table bucketed by `identity(__bucket)`.
pub const BUCKET_COUNT_PROPERTY: &str = "fluss.bucket.num";
/// Table property: the bucket key columns (comma-separated) where the spec cannot say.
pub const BUCKET_KEY_PROPERTY: &str = "fluss.bucket.key";

/// The table property holding a VECTOR column's dimension (Iceberg stores a `list`).
pub fn vector_dimension_property(column: &str) -> String {
    format!("lakeunion.vector.{column}.dimension")
}

/// The table property marking a `binary` column as a BLOB.
pub fn blob_property(column: &str) -> String {
    format!("lakeunion.blob.{column}")
}

/// The table property marking a `struct` column as BLOB references.
pub fn blob_ref_property(column: &str) -> String {
    format!("lakeunion.blob-ref.{column}")
}

/// Is this a Fluss system column?
pub fn is_system_column(name: &str) -> bool {
    SYSTEM_COLUMNS.contains(&name)
}

/// Whether a table's (Arrow) schema has any of Fluss's three system columns, which Fluss
/// gives every Iceberg table it creates (and this crate a table bucketed by
/// `identity(__bucket)`); a table made elsewhere may have some of them.
pub(crate) fn has_system_columns(schema: &ArrowSchema) -> bool {
    SYSTEM_COLUMNS.iter().any(|c| schema.field_with_name(c).is_ok())
}

/// An identity partition field of a partition key.
#[derive(Debug, Clone)]
struct KeyField {
    /// The field's position in the partition spec.
    position: usize,
    /// The partition key (the source column's name).
    name: String,
    /// The column's type, where it is a primitive.
    kind: Option<PrimitiveType>,
}

/// Where a table keeps its Fluss bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BucketField {
    /// `bucket[N](column)` at this partition-field position.
    Transform { position: usize, buckets: u32 },
    /// `identity(__bucket)` at this partition-field position.
    Column { position: usize },
    /// Neither: the table is not bucket-aware.
    None,
}

/// How partition values of a data file map to a Fluss partition and bucket.
#[derive(Debug, Clone)]
pub(crate) struct TableLayout {
    /// The identity partition fields of partition keys.
    partitions: Vec<KeyField>,
    /// The partition spec's fields, of every kind.
    field_count: usize,
    /// Fields that are neither a partition key nor the bucket, other than `void` ones
    /// (which are always null): `day(ts)` and such, whose values a writer cannot derive
    /// from a Fluss partition and bucket.
    derived: Vec<String>,
    /// Partition keys that are not strings and a `__bucket` that is not an int, as
    /// `name (type)`: read, but a writer fills them with a string and an int.
    mistyped: Vec<String>,
    pub bucket: BucketField,
    pub bucket_key: Vec<String>,
}

impl TableLayout {
    pub fn of(spec: &PartitionSpec, schema: &Schema) -> Result<Self> {
        let fields = spec.fields();
        let mut bucket = BucketField::None;
        let mut bucket_key = Vec::new();
        let mut mistyped = Vec::new();
        let primitive = |id: i32| match schema.field_by_id(id).map(|c| c.field_type.as_ref()) {
            Some(Type::Primitive(p)) => Some(p.clone()),
            _ => None,
        };
        let describe = |name: &str, id: i32| match schema.field_by_id(id) {
            Some(c) => format!("{name} ({})", c.field_type),
            None => name.to_string(),
        };
        // the bucket is the last field, not counting void ones (fields a v1 table dropped)
        if let Some(position) = fields.iter().rposition(|f| f.transform != Transform::Void) {
            let last = &fields[position];
            let source = schema.name_by_field_id(last.source_id).unwrap_or_default();
            match last.transform {
                Transform::Bucket(n) => {
                    bucket = BucketField::Transform { position, buckets: n };
                    bucket_key.push(source.to_string());
                }
                Transform::Identity if source == BUCKET_COLUMN => {
                    bucket = BucketField::Column { position };
                    if primitive(last.source_id) != Some(PrimitiveType::Int) {
                        mistyped.push(describe(&last.name, last.source_id));
                    }
                }
                _ => {}
            }
        }
        let mut partitions = Vec::new();
        let mut derived = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let is_bucket = match bucket {
                BucketField::Transform { position, .. } | BucketField::Column { position } => position == i,
                BucketField::None => false,
            };
            if is_bucket || f.transform == Transform::Void {
                continue;
            }
            if f.transform != Transform::Identity {
                derived.push(format!("{} ({})", f.name, f.transform));
                continue;
            }
            let name = schema.name_by_field_id(f.source_id).ok_or_else(|| {
                Error::corrupt(format!(
                    "partition field {} names no column (id {})",
                    f.name, f.source_id
                ))
            })?;
            let kind = primitive(f.source_id);
            if kind != Some(PrimitiveType::String) {
                mistyped.push(describe(&f.name, f.source_id));
            }
            partitions.push(KeyField {
                position: i,
                name: name.to_string(),
                kind,
            });
        }
        Ok(Self {
            partitions,
            field_count: fields.len(),
            derived,
            mistyped,
            bucket,
            bucket_key,
        })
    }

    pub fn partition_keys(&self) -> Vec<String> {
        self.partitions.iter().map(|k| k.name.clone()).collect()
    }

    /// The Fluss partition (rendered values) and bucket of a data file's partition data.
    pub fn locate(&self, data: &Struct) -> Result<(Vec<String>, Option<u32>)> {
        // a field past the partition data's end is the manifest's damage; a NULL one is a
        // value (of a table written elsewhere) that no Fluss partition or bucket is named by
        let value = |i: usize| -> Result<Option<Literal>> {
            data.fields().get(i).cloned().ok_or_else(|| {
                Error::corrupt(format!(
                    "a data file's partition data has {} fields, not the {} the partition spec has",
                    data.fields().len(),
                    i + 1
                ))
            })
        };
        let null = |what: &str| {
            Error::new(
                ErrorKind::Unsupported,
                format!("a data file's {what} is NULL, which no Fluss partition or bucket is named by"),
            )
        };
        let mut partition = Vec::with_capacity(self.partitions.len());
        for key in &self.partitions {
            let Some(kind) = key.kind.as_ref().filter(|k| is_named(k)) else {
                // a timestamp's microseconds, say, name no partition of the log's
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "partition key {}: a {} has no partition name here (string, integer, boolean and date ones have)",
                        key.name,
                        key.kind
                            .as_ref()
                            .map_or("nested value".to_string(), ToString::to_string)
                    ),
                ));
            };
            let rendered = match value(key.position)? {
                None => return Err(null(&format!("partition value of '{}'", key.name))),
                Some(Literal::Primitive(p)) => render(&p, kind),
                Some(_) => None,
            }
            .ok_or_else(|| {
                Error::corrupt(format!(
                    "a data file's partition value of '{}' is not a {kind} (or is a date past the calendar)",
                    key.name
                ))
            })?;
            partition.push(rendered);
        }
        let bucket = match self.bucket {
            BucketField::Transform { position, .. } | BucketField::Column { position } => {
                let stored = value(position)?;
                let number = match &stored {
                    None => return Err(null("bucket partition value")),
                    Some(Literal::Primitive(PrimitiveLiteral::Int(b))) => Some(i64::from(*b)),
                    Some(Literal::Primitive(PrimitiveLiteral::Long(b))) => Some(*b),
                    Some(_) => None,
                };
                // a number past u32 is no bucket (truncated, it would name another)
                let bucket = number.and_then(|b| u32::try_from(b).ok()).ok_or_else(|| {
                    Error::corrupt(format!(
                        "a data file's bucket partition value is {stored:?}, not a bucket number"
                    ))
                })?;
                Some(bucket)
            }
            BucketField::None => None,
        };
        Ok((partition, bucket))
    }

    /// Where a file [located](Self::locate) under another spec of the table (`file`, spec
    /// `spec_id`) lies in this one, the table's current spec: its bucket only where both
    /// spec bucket alike (a file bucketed otherwise holds rows of several of this spec's
    /// buckets: it is read as bucket-unaware), its partition only where both partition by
    /// the same keys ([`ErrorKind::Unsupported`] otherwise: its rows may belong to several).
    pub fn relocate(
        &self,
        file: &TableLayout,
        (partition, bucket): (Vec<String>, Option<u32>),
        spec_id: i32,
    ) -> Result<(Vec<String>, Option<u32>)> {
        let (ours, theirs) = (self.partition_keys(), file.partition_keys());
        if ours != theirs {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the file was written under partition spec {spec_id}, which partitions by {theirs:?}, \
                     and the table's current spec partitions by {ours:?}"
                ),
            ));
        }
        let same_buckets = match (&self.bucket, &file.bucket) {
            (BucketField::Transform { buckets: a, .. }, BucketField::Transform { buckets: b, .. }) => {
                a == b && self.bucket_key == file.bucket_key
            }
            (BucketField::Column { .. }, BucketField::Column { .. }) | (BucketField::None, BucketField::None) => true,
            _ => false,
        };
        Ok((partition, bucket.filter(|_| same_buckets)))
    }

    /// Fails with [`ErrorKind::Unsupported`] where the spec has fields a writer cannot
    /// fill from a Fluss partition and bucket (see [`TableLayout::partition_data`]).
    /// Callers that know the table add it as context.
    pub fn check_writable(&self) -> Result<()> {
        let unwritable = [
            (
                &self.derived,
                "identity partitions of its partition keys and the bucket, not derived values",
            ),
            // Fluss requires string partition keys of tables it tiers into Iceberg
            (&self.mistyped, "string partition keys and an int bucket"),
        ];
        match unwritable.iter().find(|(fields, _)| !fields.is_empty()) {
            Some((fields, writes)) => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the lake table is partitioned by {}: a Fluss tier writes {writes}",
                    fields.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// The partition data of a Fluss partition and bucket: one value per field of the
    /// spec, null for `void` fields. Fails as [`TableLayout::check_writable`] does.
    pub fn partition_data(&self, partition: &[String], bucket: u32) -> Result<Struct> {
        self.check_writable()?;
        let mut values: Vec<Option<Literal>> = vec![None; self.field_count];
        if partition.len() != self.partitions.len() {
            return Err(Error::invalid(format!(
                "partition {partition:?} has {} values, the table {} keys",
                partition.len(),
                self.partitions.len()
            )));
        }
        for (key, v) in self.partitions.iter().zip(partition) {
            values[key.position] = Some(Literal::string(v.clone()));
        }
        match self.bucket {
            BucketField::Transform { position, .. } | BucketField::Column { position } => {
                values[position] = Some(Literal::int(bucket as i32));
            }
            BucketField::None => {}
        }
        Ok(Struct::from_iter(values))
    }
}

/// Whether values of a partition column of type `kind` have names as Fluss names
/// partitions ([`render`]); others (timestamps, floats, binaries) have names of Fluss's own
/// that no lake here writes.
fn is_named(kind: &PrimitiveType) -> bool {
    matches!(
        kind,
        PrimitiveType::String | PrimitiveType::Int | PrimitiveType::Long | PrimitiveType::Boolean | PrimitiveType::Date
    )
}

/// A partition value of a column of type `kind` as Fluss names it; `None` for a value not
/// of that type, or a date past the calendar.
fn render(p: &PrimitiveLiteral, kind: &PrimitiveType) -> Option<String> {
    Some(match (p, kind) {
        (PrimitiveLiteral::Int(days), PrimitiveType::Date) => date_partition_value(*days)?,
        (PrimitiveLiteral::String(s), PrimitiveType::String) => s.clone(),
        (PrimitiveLiteral::Int(v), PrimitiveType::Int) => v.to_string(),
        (PrimitiveLiteral::Long(v), PrimitiveType::Long) => v.to_string(),
        // a file of a manifest written before the column was widened from int
        (PrimitiveLiteral::Int(v), PrimitiveType::Long) => v.to_string(),
        (PrimitiveLiteral::Boolean(v), PrimitiveType::Boolean) => v.to_string(),
        _ => return None,
    })
}

/// The lakeunion table metadata of an Iceberg table.
pub(crate) fn table_info(path: &TablePath, metadata: &TableMetadata) -> Result<TableInfo> {
    let schema = metadata.current_schema();
    let properties = metadata.properties();
    let arrow = schema_to_arrow_schema(schema).map_err(iceberg_err(format!("table {path}: schema")))?;
    let mut fields = Vec::new();
    for f in arrow.fields() {
        if is_system_column(f.name()) {
            continue;
        }
        fields.push(logical_field(f, properties)?);
    }
    let arrow = Arc::new(ArrowSchema::new(fields));
    let layout = TableLayout::of(metadata.default_partition_spec(), schema)?;
    // identifier fields are a set: keep the key in column order
    let identifier: Vec<i32> = schema.identifier_field_ids().collect();
    let top_level = schema.as_struct().fields();
    // a key field inside a struct would otherwise be left out of the key (all of them: the
    // table would read as a log table, its updates appended instead of merged)
    if let Some(&id) = identifier.iter().find(|&&id| !top_level.iter().any(|f| f.id == id)) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "table {path}: the identifier field {} is not a top-level column; only top-level primary key columns are supported",
                schema.name_by_field_id(id).unwrap_or("(unnamed)")
            ),
        ));
    }
    let primary_key: Vec<String> = top_level
        .iter()
        .filter(|f| identifier.contains(&f.id))
        .map(|f| f.name.clone())
        .collect();
    let bucket_count = match layout.bucket {
        BucketField::Transform { buckets, .. } => buckets,
        _ => properties
            .get(BUCKET_COUNT_PROPERTY)
            .map(|v| {
                v.parse::<u32>().map_err(|_| {
                    Error::corrupt(format!(
                        "table {path}: property {BUCKET_COUNT_PROPERTY}='{v}' is not a bucket count"
                    ))
                })
            })
            .transpose()?
            .unwrap_or(1),
    };
    let bucket_key = if layout.bucket_key.is_empty() {
        properties
            .get(BUCKET_KEY_PROPERTY)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        layout.bucket_key.clone()
    };
    let merge_engine = MergeEngine::from_option(
        properties.get(MERGE_ENGINE_PROPERTY).map(String::as_str),
        properties.get(VERSION_COLUMN_PROPERTY).map(String::as_str),
        path,
    )?;
    let mut info = if primary_key.is_empty() {
        TableInfo::log_table(path.clone(), arrow, bucket_count)
    } else {
        TableInfo::primary_key_table(path.clone(), arrow, primary_key, bucket_count)
    };
    info.bucket_key = bucket_key;
    info = info
        .with_partition_keys(layout.partition_keys())
        .with_merge_engine(merge_engine);
    info.properties = properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // the properties are anyone's to set: a bucket count of 0, or a key column that is
    // not there, is a table this crate cannot read
    info.validate_stored()?;
    Ok(info)
}

/// An Iceberg column as lakeunion sees it: BLOB and VECTOR restored from table
/// properties, field ids dropped.
fn logical_field(field: &Field, properties: &HashMap<String, String>) -> Result<Field> {
    let name = field.name();
    if let Some(dim) = properties.get(&vector_dimension_property(name)) {
        let dimension: i32 = dim.parse().ok().filter(|d| is_vector_dimension(*d)).ok_or_else(|| {
            Error::corrupt(format!(
                "property {}='{dim}' is not a dimension from 1 to {MAX_VECTOR_DIMENSION}",
                vector_dimension_property(name)
            ))
        })?;
        let element = match field.data_type() {
            DataType::List(item) | DataType::LargeList(item) => item.data_type().clone(),
            other => {
                return Err(Error::new(
                    ErrorKind::SchemaMismatch,
                    format!("column {name} has a vector dimension but is {other}, not a list"),
                ));
            }
        };
        return Ok(vector_field(name.clone(), element, dimension, field.is_nullable()));
    }
    if properties.get(&blob_property(name)).map(String::as_str) == Some("true") {
        return Ok(blob_field(name.clone(), field.is_nullable()));
    }
    if properties.get(&blob_ref_property(name)).map(String::as_str) == Some("true") {
        return Ok(blob_ref_field(name.clone(), field.is_nullable()));
    }
    Ok(strip_field_ids(field))
}

fn strip_field_ids(field: &Field) -> Field {
    let data_type = match field.data_type() {
        DataType::List(item) => DataType::List(Arc::new(strip_field_ids(item))),
        DataType::LargeList(item) => DataType::LargeList(Arc::new(strip_field_ids(item))),
        DataType::Struct(children) => DataType::Struct(
            children
                .iter()
                .map(|c| Arc::new(strip_field_ids(c)))
                .collect::<Vec<FieldRef>>()
                .into(),
        ),
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(strip_field_ids(entries)), *sorted),
        // Iceberg binary comes back as LargeBinary; a plain BYTES column is Binary
        DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    };
    let mut metadata = field.metadata().clone();
    metadata.remove(parquet::arrow::PARQUET_FIELD_ID_META_KEY);
    Field::new(field.name(), data_type, field.is_nullable()).with_metadata(metadata)
}

/// The columns a table buckets by: its bucket key, or for a primary-key table without one,
/// its key less the partition keys (as Fluss defaults it).
pub(crate) fn bucket_key(info: &TableInfo) -> Vec<String> {
    if info.bucket_key.is_empty() && info.has_primary_key() {
        info.primary_key
            .iter()
            .filter(|k| !info.partition_keys.contains(k))
            .cloned()
            .collect()
    } else {
        info.bucket_key.clone()
    }
}

/// What a new Iceberg table for a lakeunion table looks like.
pub(crate) struct TableDefinition {
    pub schema: Schema,
    pub spec: UnboundPartitionSpec,
    pub properties: HashMap<String, String>,
    /// Primary-key tables: the key ascending, nulls first (the files the tiering writer
    /// writes are in this order and say so, so that sort-merge reads need not sort them).
    pub sort_order: Option<SortOrder>,
}

/// The columns (in order) a sort order sorts by when it is the primary key's order:
/// identity transforms, ascending, nulls first. `None` for any other order.
pub(crate) fn key_sort_columns(order: &SortOrder, schema: &Schema) -> Option<Vec<String>> {
    if order.fields.is_empty() {
        return None;
    }
    order
        .fields
        .iter()
        .map(|f| {
            let plain = f.transform == Transform::Identity
                && f.direction == SortDirection::Ascending
                && f.null_order == NullOrder::First;
            plain
                .then(|| schema.name_by_field_id(f.source_id).map(str::to_string))
                .flatten()
        })
        .collect()
}

/// The Iceberg schema, partition spec and properties of a new table, Fluss's layout.
pub(crate) fn table_definition(info: &TableInfo) -> Result<TableDefinition> {
    let path = &info.path;
    let mut properties: HashMap<String, String> = HashMap::new();
    let mut fields: Vec<Field> = Vec::new();
    for f in info.schema.fields() {
        if is_system_column(f.name()) {
            return Err(Error::invalid(format!(
                "table {path}: column {} is reserved for Fluss system columns",
                f.name()
            )));
        }
        let physical = match LogicalType::of(f) {
            LogicalType::Blob => {
                properties.insert(blob_property(f.name()), "true".into());
                Field::new(f.name(), DataType::LargeBinary, f.is_nullable())
            }
            LogicalType::Vector { element, dimension } => {
                properties.insert(vector_dimension_property(f.name()), dimension.to_string());
                Field::new(
                    f.name(),
                    DataType::List(Arc::new(Field::new("element", element, false))),
                    f.is_nullable(),
                )
            }
            LogicalType::BlobRef => {
                // Iceberg has no unsigned integers: offsets and lengths are stored as long
                properties.insert(blob_ref_property(f.name()), "true".into());
                let fields = vec![
                    Field::new("uri", DataType::Utf8, false),
                    Field::new("offset", DataType::Int64, false),
                    Field::new("length", DataType::Int64, false),
                ];
                Field::new(f.name(), DataType::Struct(fields.into()), f.is_nullable())
            }
            // Iceberg's `time` and `timestamp[tz]` are microseconds (or nanoseconds): second
            // and millisecond ones widen to microseconds
            LogicalType::Plain => match f.data_type() {
                DataType::Time32(_) => Field::new(f.name(), DataType::Time64(TimeUnit::Microsecond), f.is_nullable()),
                DataType::Timestamp(TimeUnit::Second | TimeUnit::Millisecond, tz) => Field::new(
                    f.name(),
                    DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                    f.is_nullable(),
                ),
                _ => f.as_ref().clone(),
            },
        };
        fields.push(physical);
    }
    let bucket_key = bucket_key(info);
    let bucket_column = match bucket_key.len() {
        0 => true,
        1 => false,
        _ => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "table {path}: Iceberg tables take one bucket key column, not {:?}",
                    bucket_key
                ),
            ));
        }
    };
    if bucket_column {
        fields.push(Field::new(BUCKET_COLUMN, DataType::Int32, false));
        fields.push(Field::new(OFFSET_COLUMN, DataType::Int64, false));
        fields.push(Field::new(
            TIMESTAMP_COLUMN,
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            false,
        ));
        properties.insert(BUCKET_COUNT_PROPERTY.into(), info.bucket_count.to_string());
    }
    let schema = arrow_schema_to_schema_auto_assign_ids(&ArrowSchema::new(fields))
        .map_err(iceberg_err(format!("table {path}: converting the schema")))?;
    let id_of = |name: &str| {
        schema
            .field_id_by_name(name)
            .ok_or_else(|| Error::invalid(format!("table {path}: no column {name}")))
    };
    let identifier: Vec<i32> = info.primary_key.iter().map(|k| id_of(k)).collect::<Result<_>>()?;
    let identifier_set = identifier.clone();
    let bucket_source = if bucket_column {
        id_of(BUCKET_COLUMN)?
    } else {
        id_of(&bucket_key[0])?
    };
    let partition_sources: Vec<i32> = info.partition_keys.iter().map(|k| id_of(k)).collect::<Result<_>>()?;
    let schema = schema
        .into_builder()
        .with_identifier_field_ids(identifier_set)
        .build()
        .map_err(iceberg_err(format!("table {path}: primary key")))?;
    let mut spec = UnboundPartitionSpec::builder();
    for (i, key) in info.partition_keys.iter().enumerate() {
        let field = info
            .schema
            .field_with_name(key)
            .map_err(|_| Error::invalid(format!("table {path}: partition key {key} is not a column")))?;
        if field.data_type() != &DataType::Utf8 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("table {path}: partition key {key} must be a string, as Fluss requires for Iceberg"),
            ));
        }
        spec = spec
            .add_partition_field(partition_sources[i], key.clone(), Transform::Identity)
            .map_err(iceberg_err(format!("table {path}: partition spec")))?;
    }
    spec = if bucket_column {
        spec.add_partition_field(bucket_source, BUCKET_COLUMN, Transform::Identity)
    } else {
        let key = &bucket_key[0];
        spec.add_partition_field(
            bucket_source,
            format!("{key}_bucket"),
            Transform::Bucket(info.bucket_count),
        )
    }
    .map_err(iceberg_err(format!("table {path}: partition spec")))?;
    if let Some((engine, column)) = info.merge_engine.to_option() {
        properties.insert(MERGE_ENGINE_PROPERTY.into(), engine.into());
        if let Some(column) = column {
            properties.insert(VERSION_COLUMN_PROPERTY.into(), column.into());
        }
    }
    for (k, v) in &info.properties {
        properties.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let sort_order = if info.has_primary_key() {
        let mut order = SortOrder::builder();
        for id in &identifier {
            order.with_sort_field(SortField {
                source_id: *id,
                transform: Transform::Identity,
                direction: SortDirection::Ascending,
                null_order: NullOrder::First,
            });
        }
        Some(
            order
                .with_order_id(1)
                .build_unbound()
                .map_err(iceberg_err(format!("table {path}: sort order")))?,
        )
    } else {
        None
    };
    Ok(TableDefinition {
        schema,
        spec: spec.build(),
        properties,
        sort_order,
    })
}

/// Casts a batch to `target` (lake-api's kernel), naming `context` (the file or table) in
/// errors.
pub(crate) fn conform(batch: &RecordBatch, target: &SchemaRef, context: &dyn std::fmt::Display) -> Result<RecordBatch> {
    lake_api::conform::conform_batch(batch, target).map_err(|e| e.context(context))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use iceberg::spec::{NestedField, PartitionSpec, PrimitiveType, Schema, Transform, Type};

    use super::*;

    fn schema() -> iceberg::Result<Schema> {
        Schema::builder()
            .with_fields([
                Arc::new(NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long))),
                Arc::new(NestedField::required(2, "day", Type::Primitive(PrimitiveType::Date))),
                Arc::new(NestedField::required(
                    3,
                    "region",
                    Type::Primitive(PrimitiveType::String),
                )),
            ])
            .build()
    }

    #[test]
    fn a_spec_with_derived_fields_is_refused_for_writing_not_indexed_past() -> Result<()> {
        let schema = Arc::new(schema().map_err(iceberg_err("schema"))?);
        let spec = |fields: &[(&str, &str, Transform)]| {
            fields
                .iter()
                .try_fold(PartitionSpec::builder(schema.clone()), |b, (source, name, t)| {
                    b.add_partition_field(*source, *name, *t)
                })
                .and_then(|b| b.build())
                .map_err(iceberg_err("spec"))
        };
        // day(day) then bucket: two fields, one of them derived
        let layout = TableLayout::of(
            &spec(&[
                ("day", "day_day", Transform::Day),
                ("id", "id_bucket", Transform::Bucket(4)),
            ])?,
            &schema,
        )?;
        let e = layout
            .partition_data(&[], 1)
            .err()
            .ok_or_else(|| Error::invalid("written"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        let e = layout
            .check_writable()
            .err()
            .ok_or_else(|| Error::invalid("writable"))?;
        assert!(e.message().contains("partitioned by day_day (day)"), "{e}");

        // a void field (a dropped partition field) is written as null
        let layout = TableLayout::of(
            &spec(&[
                ("day", "dropped", Transform::Void),
                ("region", "region", Transform::Identity),
                ("id", "id_bucket", Transform::Bucket(4)),
            ])?,
            &schema,
        )?;
        let data = layout.partition_data(&["eu".to_string()], 3)?;
        assert_eq!(
            data.fields().to_vec(),
            vec![None, Some(Literal::string("eu")), Some(Literal::int(3))]
        );

        // a v1 table whose dropped field comes last: the bucket is the last field not void
        let layout = TableLayout::of(
            &spec(&[
                ("region", "region", Transform::Identity),
                ("id", "id_bucket", Transform::Bucket(4)),
                ("day", "dropped", Transform::Void),
            ])?,
            &schema,
        )?;
        assert_eq!(
            layout.bucket,
            BucketField::Transform {
                position: 1,
                buckets: 4
            }
        );
        let data = layout.partition_data(&["eu".to_string()], 2)?;
        assert_eq!(
            data.fields().to_vec(),
            vec![Some(Literal::string("eu")), Some(Literal::int(2)), None]
        );
        Ok(())
    }

    #[test]
    fn a_file_of_another_spec_keeps_its_bucket_only_where_both_bucket_alike() -> Result<()> {
        let schema = Arc::new(schema().map_err(iceberg_err("schema"))?);
        let layout = |fields: &[(&str, Transform)]| {
            fields
                .iter()
                .try_fold(PartitionSpec::builder(schema.clone()), |b, (source, t)| {
                    b.add_partition_field(*source, format!("{source}_{t}"), *t)
                })
                .and_then(|b| b.build())
                .map_err(iceberg_err("spec"))
                .and_then(|spec| TableLayout::of(&spec, &schema))
        };
        let current = layout(&[("region", Transform::Identity), ("id", Transform::Bucket(4))])?;
        let eu = || (vec!["eu".to_string()], Some(1));
        let same = layout(&[("region", Transform::Identity), ("id", Transform::Bucket(4))])?;
        assert_eq!(current.relocate(&same, eu(), 1)?, eu());
        let fewer_buckets = layout(&[("region", Transform::Identity), ("id", Transform::Bucket(2))])?;
        assert_eq!(
            current.relocate(&fewer_buckets, eu(), 1)?,
            (vec!["eu".to_string()], None)
        );
        let unbucketed = layout(&[("region", Transform::Identity)])?;
        assert_eq!(
            current.relocate(&unbucketed, (vec!["eu".to_string()], None), 1)?.1,
            None
        );
        // a file of a spec without the partition key may hold rows of every partition
        let unpartitioned = layout(&[("id", Transform::Bucket(4))])?;
        let e = current
            .relocate(&unpartitioned, (vec![], Some(1)), 7)
            .err()
            .ok_or_else(|| Error::invalid("relocated"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.message().contains("partition spec 7"), "{e}");
        Ok(())
    }

    #[test]
    fn a_bucket_number_past_u32_is_corrupt_not_truncated() -> Result<()> {
        let schema = Arc::new(schema().map_err(iceberg_err("schema"))?);
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("id", "id_bucket", Transform::Bucket(4))
            .and_then(|b| b.build())
            .map_err(iceberg_err("spec"))?;
        let layout = TableLayout::of(&spec, &schema)?;
        let located = |bucket: Literal| layout.locate(&Struct::from_iter([Some(bucket)]));
        assert_eq!(located(Literal::long(3))?, (vec![], Some(3)));
        // regression: 2^32 + 1 was read as bucket 1 and merged with bucket 1's log
        let e = located(Literal::long((1i64 << 32) + 1))
            .err()
            .ok_or_else(|| Error::invalid("located bucket 2^32 + 1"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        Ok(())
    }

    #[test]
    fn a_date_partition_is_named_as_fluss_names_it() -> Result<()> {
        // regression: a DATE identity partition (days, an int) was named "19723", which
        // no log partition ("2024-01-01") matches
        let schema = Arc::new(schema().map_err(iceberg_err("schema"))?);
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("day", "day", Transform::Identity)
            .and_then(|b| b.add_partition_field("id", "id_bucket", Transform::Bucket(4)))
            .and_then(|b| b.build())
            .map_err(iceberg_err("spec"))?;
        let layout = TableLayout::of(&spec, &schema)?;
        let data = Struct::from_iter([Some(Literal::date(19_723)), Some(Literal::int(2))]);
        assert_eq!(layout.locate(&data)?, (vec!["2024-01-01".to_string()], Some(2)));
        // regression: a NULL value (a table written elsewhere, identity of a nullable
        // column) was Corrupt; the table is intact, only no Fluss partition is named by NULL
        let null = Struct::from_iter([None, Some(Literal::int(2))]);
        let e = layout
            .locate(&null)
            .err()
            .ok_or_else(|| Error::invalid("a NULL partition named"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        // a value of another type is the file's damage
        let wrong = Struct::from_iter([Some(Literal::string("x")), Some(Literal::int(2))]);
        let e = layout
            .locate(&wrong)
            .err()
            .ok_or_else(|| Error::invalid("a string named a date"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        // so is partition data shorter than its spec; a NULL bucket is a value
        let short = Struct::from_iter([Some(Literal::date(19_723))]);
        let e = layout
            .locate(&short)
            .err()
            .ok_or_else(|| Error::invalid("a missing bucket named"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        let no_bucket = Struct::from_iter([Some(Literal::date(19_723)), None]);
        let e = layout
            .locate(&no_bucket)
            .err()
            .ok_or_else(|| Error::invalid("a NULL bucket named"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        // ... but not written: a tier writes a partition key's value as a string, which
        // Iceberg's commit refuses for a DATE field (after the data files are written)
        let e = layout
            .check_writable()
            .err()
            .ok_or_else(|| Error::invalid("writable"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.message().contains("day (date)"), "{e}");
        Ok(())
    }

    #[test]
    fn a_timestamp_partition_is_unsupported_not_named_by_its_microseconds() -> Result<()> {
        // regression: an identity(ts) partition was named by its microseconds
        // ("1700000000000000"), which no log partition matches: the lake's rows of a key
        // and its log changes fell in different partitions and were never merged
        let schema = Arc::new(
            Schema::builder()
                .with_fields([
                    Arc::new(NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long))),
                    Arc::new(NestedField::required(
                        2,
                        "ts",
                        Type::Primitive(PrimitiveType::Timestamp),
                    )),
                    Arc::new(NestedField::required(
                        3,
                        "price",
                        Type::Primitive(PrimitiveType::Double),
                    )),
                ])
                .build()
                .map_err(iceberg_err("schema"))?,
        );
        for (column, value, named) in [
            ("ts", Literal::timestamp(1_700_000_000_000_000), "timestamp"),
            ("price", Literal::double(1.5), "double"),
        ] {
            let spec = PartitionSpec::builder(schema.clone())
                .add_partition_field(column, column, Transform::Identity)
                .and_then(|b| b.build())
                .map_err(iceberg_err("spec"))?;
            let layout = TableLayout::of(&spec, &schema)?;
            let e = layout
                .locate(&Struct::from_iter([Some(value)]))
                .err()
                .ok_or_else(|| Error::invalid(format!("a {named} partition was named")))?;
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.message().contains(named), "{e}");
        }
        // a value of another type than its column's is corrupt
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("id", "id", Transform::Identity)
            .and_then(|b| b.build())
            .map_err(iceberg_err("spec"))?;
        let layout = TableLayout::of(&spec, &schema)?;
        assert_eq!(
            layout.locate(&Struct::from_iter([Some(Literal::long(7))]))?.0,
            vec!["7"]
        );
        // an int of a file written before the column was widened to long
        assert_eq!(layout.locate(&Struct::from_iter([Some(Literal::int(7))]))?.0, vec!["7"]);
        let e = layout
            .locate(&Struct::from_iter([Some(Literal::string("7"))]))
            .err()
            .ok_or_else(|| Error::invalid("a string named a long partition"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        Ok(())
    }

    #[test]
    fn a_bucket_column_that_is_not_an_int_is_read_not_written() -> Result<()> {
        // regression: a tier wrote the bucket as an int into a `long` __bucket field,
        // and iceberg's file naming panicked on the mismatched value
        let schema = Arc::new(
            Schema::builder()
                .with_fields([
                    Arc::new(NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long))),
                    Arc::new(NestedField::required(
                        2,
                        BUCKET_COLUMN,
                        Type::Primitive(PrimitiveType::Long),
                    )),
                ])
                .build()
                .map_err(iceberg_err("schema"))?,
        );
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field(BUCKET_COLUMN, BUCKET_COLUMN, Transform::Identity)
            .and_then(|b| b.build())
            .map_err(iceberg_err("spec"))?;
        let layout = TableLayout::of(&spec, &schema)?;
        assert_eq!(
            layout.locate(&Struct::from_iter([Some(Literal::long(3))]))?,
            (vec![], Some(3))
        );
        let e = layout
            .check_writable()
            .err()
            .ok_or_else(|| Error::invalid("writable"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.message().contains("__bucket (long)"), "{e}");
        let e = layout
            .partition_data(&[], 3)
            .err()
            .ok_or_else(|| Error::invalid("written"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        Ok(())
    }

    #[test]
    fn a_key_nested_in_a_struct_is_unsupported_not_dropped() -> Result<()> {
        use iceberg::spec::{FormatVersion, SortOrder, StructType, TableMetadataBuilder, UnboundPartitionSpec};
        // regression: only top-level identifier fields made the key, so a table keyed by
        // `s.id` read as a log table and its updates were appended, not merged
        let nested = Schema::builder()
            .with_fields([
                Arc::new(NestedField::required(
                    1,
                    "s",
                    Type::Struct(StructType::new(vec![Arc::new(NestedField::required(
                        2,
                        "id",
                        Type::Primitive(PrimitiveType::Long),
                    ))])),
                )),
                Arc::new(NestedField::optional(3, "v", Type::Primitive(PrimitiveType::String))),
            ])
            .with_identifier_field_ids([2])
            .build()
            .map_err(iceberg_err("schema"))?;
        let metadata = TableMetadataBuilder::new(
            nested,
            UnboundPartitionSpec::builder().build(),
            SortOrder::unsorted_order(),
            "/w/db/t".to_string(),
            FormatVersion::V2,
            Default::default(),
        )
        .and_then(|b| b.build())
        .map_err(iceberg_err("metadata"))?
        .metadata;
        let e = table_info(&TablePath::new("db", "t"), &metadata)
            .err()
            .ok_or_else(|| Error::invalid("read a nested key"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.message().contains("s.id"), "{e}");
        Ok(())
    }
}
