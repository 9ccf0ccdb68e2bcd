//! A table as Fluss describes it on the wire: the table-descriptor JSON of `GetTable` and
//! `MetaData` (apache/fluss `TableDescriptorJsonSerde`, `SchemaJsonSerde`,
//! `DataTypeJsonSerde`), from a lake-api [`TableInfo`].

use arrow::datatypes::{DataType, Field, TimeUnit};
use lake_api::TableInfo;
use serde_json::{Map, Value, json};

/// The descriptor JSON of `info`; an Arrow type Fluss has no type for is an error naming it.
pub fn table_json(info: &TableInfo) -> Result<Vec<u8>, String> {
    let columns = info
        .schema
        .fields()
        .iter()
        .map(|f| Ok(json!({"name": f.name(), "data_type": data_type(f)?})))
        .collect::<Result<Vec<_>, String>>()?;
    // no field ids: the reader assigns them (ids must be given for nested fields too, or
    // for none)
    let mut schema = json!({"version": 1, "columns": columns});
    if !info.primary_key.is_empty() {
        schema["primary_key"] = json!(info.primary_key);
    }
    let mut properties: Map<String, Value> = info
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if let Some((engine, column)) = info.merge_engine.to_option() {
        properties.insert("table.merge-engine".into(), engine.into());
        if let Some(c) = column {
            properties.insert("table.merge-engine.versioned.ver-column".into(), c.into());
        }
    }
    let table = json!({
        "version": 1,
        "schema": schema,
        "partition_key": info.partition_keys,
        "bucket_key": info.bucket_key,
        "bucket_count": info.bucket_count,
        "properties": properties,
        "custom_properties": {},
    });
    serde_json::to_vec(&table).map_err(|e| e.to_string())
}

fn data_type(field: &Field) -> Result<Value, String> {
    let precision = |unit: &TimeUnit| match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    };
    let mut t = match field.data_type() {
        DataType::Boolean => json!({"type": "BOOLEAN"}),
        DataType::Int8 => json!({"type": "TINYINT"}),
        DataType::Int16 => json!({"type": "SMALLINT"}),
        DataType::Int32 => json!({"type": "INTEGER"}),
        DataType::Int64 => json!({"type": "BIGINT"}),
        DataType::Float32 => json!({"type": "FLOAT"}),
        DataType::Float64 => json!({"type": "DOUBLE"}),
        DataType::Utf8 => json!({"type": "STRING"}),
        DataType::Binary => json!({"type": "BYTES"}),
        DataType::FixedSizeBinary(n) => json!({"type": "BINARY", "length": n}),
        DataType::Decimal128(p, s) => json!({"type": "DECIMAL", "precision": p, "scale": s}),
        DataType::Date32 => json!({"type": "DATE"}),
        DataType::Time32(u) | DataType::Time64(u) => {
            json!({"type": "TIME_WITHOUT_TIME_ZONE", "precision": precision(u)})
        }
        DataType::Timestamp(u, None) => json!({"type": "TIMESTAMP_WITHOUT_TIME_ZONE", "precision": precision(u)}),
        DataType::Timestamp(u, Some(_)) => {
            json!({"type": "TIMESTAMP_WITH_LOCAL_TIME_ZONE", "precision": precision(u)})
        }
        DataType::List(item) => json!({"type": "ARRAY", "element_type": data_type(item)?}),
        DataType::Map(entries, _) => {
            let DataType::Struct(kv) = entries.data_type() else {
                return Err(format!("map column {} without key/value entries", field.name()));
            };
            json!({"type": "MAP", "key_type": data_type(&kv[0])?, "value_type": data_type(&kv[1])?})
        }
        DataType::Struct(fields) => {
            let fields = fields
                .iter()
                .map(|f| Ok(json!({"name": f.name(), "field_type": data_type(f)?})))
                .collect::<Result<Vec<_>, String>>()?;
            json!({"type": "ROW", "fields": fields})
        }
        other => {
            return Err(format!(
                "column {} has type {other}, which Fluss has no type for",
                field.name()
            ));
        }
    };
    if !field.is_nullable() {
        t["nullable"] = json!(false);
    }
    Ok(t)
}
