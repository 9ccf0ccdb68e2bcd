//! Table metadata between lakeunion and Paimon: a Paimon `TableSchema` as a [`TableInfo`]
//! and back, and batches between lakeunion's logical types and the exact Arrow types the
//! paimon writer takes.
//!
//! Fluss's Paimon layout: the Paimon primary key is the Fluss one (partition columns
//! included), `bucket` / `bucket-key` are the Fluss buckets, and Fluss's `__bucket`,
//! `__offset` and `__timestamp` system columns, where a table has them, are hidden. What
//! Paimon cannot say natively lives in `fluss.*` options: the Fluss bucket count of a
//! bucket-unaware table and the merge engine lakeunion folds with.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use lake_api::conform::conform_batch;
use lake_api::types::{LogicalType, blob_field, vector_field};
use lake_api::{Error, ErrorKind, MergeEngine, Result, TableInfo, TablePath};
use paimon::spec::{DataType as PaimonType, TableSchema};

use crate::error::paimon_err;

/// Fluss's system columns in lake tables, hidden from readers.
pub const SYSTEM_COLUMNS: [&str; 3] = ["__bucket", "__offset", "__timestamp"];
/// Table option: the Fluss merge engine (`first_row`, `versioned`; absent: from Paimon's own
/// `merge-engine` and `sequence.field`).
pub const MERGE_ENGINE_OPTION: &str = "fluss.table.merge-engine";
/// Table option: the version column of a `versioned` table.
pub const VERSION_COLUMN_OPTION: &str = "fluss.table.merge-engine.versioned.ver-column";
/// Table option: the Fluss bucket count where Paimon's `bucket` is not it (bucket-unaware
/// log tables).
pub const BUCKET_COUNT_OPTION: &str = "fluss.bucket.num";
/// Paimon's bucket count option.
pub const BUCKET_OPTION: &str = "bucket";
/// Paimon's bucket key option.
pub const BUCKET_KEY_OPTION: &str = "bucket-key";
/// Paimon's merge engine option.
pub const PAIMON_MERGE_ENGINE_OPTION: &str = "merge-engine";

/// Table option marking a `BYTES` column as a lakeunion BLOB: `lakeunion.blob.<column>`.
pub fn blob_option(column: &str) -> String {
    format!("lakeunion.blob.{column}")
}

/// Whether `name` is one of Fluss's system columns.
pub fn is_system_column(name: &str) -> bool {
    SYSTEM_COLUMNS.contains(&name)
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

/// The lakeunion metadata of a Paimon table.
pub(crate) fn table_info(path: &TablePath, schema: &TableSchema) -> Result<TableInfo> {
    let options = schema.options();
    let mut fields = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        if is_system_column(f.name()) {
            continue;
        }
        fields.push(logical_field(path, f.name(), f.data_type(), options)?);
    }
    let arrow = Arc::new(Schema::new(fields));
    let paimon_buckets: i64 = match options.get(BUCKET_OPTION) {
        None => -1,
        Some(v) => v.trim().parse().map_err(|_| {
            Error::corrupt(format!(
                "table {path}: option {BUCKET_OPTION}='{v}' is not a bucket count"
            ))
        })?,
    };
    let bucket_count = match options.get(BUCKET_COUNT_OPTION) {
        Some(v) => v.trim().parse::<u32>().map_err(|_| {
            Error::corrupt(format!(
                "table {path}: option {BUCKET_COUNT_OPTION}='{v}' is not a bucket count"
            ))
        })?,
        None if paimon_buckets > 0 => u32::try_from(paimon_buckets)
            .map_err(|_| Error::corrupt(format!("table {path}: {paimon_buckets} buckets")))?,
        None => 1,
    };
    let primary_key: Vec<String> = schema.primary_keys().to_vec();
    // Paimon merges only by key: an append table's merge options (a catalog's
    // `table-default.merge-engine`, say) do nothing
    let merge_engine = if primary_key.is_empty() {
        MergeEngine::Deduplicate
    } else {
        merge_engine(path, options)?
    };
    let mut info = if primary_key.is_empty() {
        TableInfo::log_table(path.clone(), arrow, bucket_count)
    } else {
        TableInfo::primary_key_table(path.clone(), arrow, primary_key, bucket_count)
    };
    info.bucket_key = if paimon_buckets > 0 || info.has_primary_key() {
        schema.bucket_keys()
    } else {
        Vec::new()
    };
    info.properties = options.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    info = info
        .with_partition_keys(schema.partition_keys().to_vec())
        .with_merge_engine(merge_engine);
    info.validate_stored()?;
    Ok(info)
}

/// The merge engine: lakeunion's option where the table has it, else Paimon's own
/// (`deduplicate`, with `sequence.field` as `versioned`; `first-row`).
fn merge_engine(path: &TablePath, options: &HashMap<String, String>) -> Result<MergeEngine> {
    match options.get(MERGE_ENGINE_OPTION) {
        Some(engine) => {
            refuse_descending_sequence(path, options)?;
            MergeEngine::from_option(
                Some(engine.as_str()),
                options.get(VERSION_COLUMN_OPTION).map(String::as_str),
                path,
            )
        }
        None => native_merge_engine(path, options),
    }
}

/// Paimon keeps the smallest version under a descending sequence (in its writer and its
/// reader alike), where a Fluss versioned table keeps the largest; without a sequence
/// field the order orders nothing.
fn refuse_descending_sequence(path: &TablePath, options: &HashMap<String, String>) -> Result<()> {
    let sequence = list(options.get("sequence.field"));
    if !sequence.is_empty() && !paimon::spec::CoreOptions::new(options).sequence_field_sort_order_is_ascending() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "table {path}: a descending sequence (sequence.field.sort-order, the smallest version wins) has no Fluss merge engine"
            ),
        ));
    }
    Ok(())
}

/// The Fluss merge engine Paimon's own options merge a key's rows as, whatever Fluss
/// option the table carries: what a commit of folded rows meets in the lake.
pub(crate) fn native_merge_engine(path: &TablePath, options: &HashMap<String, String>) -> Result<MergeEngine> {
    refuse_descending_sequence(path, options)?;
    let sequence = list(options.get("sequence.field"));
    match options
        .get(PAIMON_MERGE_ENGINE_OPTION)
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("deduplicate") => match sequence.as_slice() {
            [] => Ok(MergeEngine::Deduplicate),
            [column] => Ok(MergeEngine::Versioned { column: column.clone() }),
            more => Err(Error::new(
                ErrorKind::Unsupported,
                format!("table {path}: a sequence over several fields ({more:?}) has no Fluss merge engine"),
            )),
        },
        Some("first-row") => Ok(MergeEngine::FirstRow),
        // Paimon merges the lake's rows of these tables on read; the log's changes of a
        // primary-key table are full row images (Fluss's KV store applies partial updates
        // and aggregations before it logs), so the latest change replaces the merged row
        Some("partial-update" | "aggregation") => Ok(MergeEngine::Deduplicate),
        Some(other) => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "table {path}: Paimon merge engine '{other}' has no Fluss counterpart, so log changes \
                 cannot be merged into it (union reads support deduplicate, first-row, a sequence field, partial-update \
                 and aggregation)"
            ),
        )),
    }
}

/// A Paimon column as lakeunion sees it.
fn logical_field(path: &TablePath, name: &str, ty: &PaimonType, options: &HashMap<String, String>) -> Result<Field> {
    let nullable = ty.is_nullable();
    Ok(match ty {
        PaimonType::Blob(_) => blob_field(name, nullable),
        PaimonType::VarBinary(_) | PaimonType::Binary(_)
            if options.get(&blob_option(name)).is_some_and(|v| v == "true") =>
        {
            blob_field(name, nullable)
        }
        PaimonType::Vector(v) => {
            let element = paimon::arrow::paimon_type_to_arrow(v.element_type())
                .map_err(paimon_err(format!("table {path} column {name}")))?;
            let dimension = i32::try_from(v.length())
                .map_err(|_| Error::corrupt(format!("table {path} column {name}: vector of {}", v.length())))?;
            vector_field(name, element, dimension, nullable)
        }
        other => {
            let arrow = paimon::arrow::paimon_type_to_arrow(other)
                .map_err(paimon_err(format!("table {path} column {name}")))?;
            Field::new(name, arrow, nullable)
        }
    })
}

/// The Paimon schema of a new table for `info`.
///
/// Primary-key tables get fixed buckets on the Fluss bucket key; log tables too where they
/// have a bucket key, else they are bucket-unaware (`bucket = -1`, the Fluss bucket count in
/// an option). The Paimon merge engine is `deduplicate`: the tiering writer folds each
/// round with the Fluss engine and writes the winners, which every Paimon reader then sees
/// as they are. Properties under [`PAIMON_PROPERTY_PREFIX`] become further table options,
/// as Fluss passes them (`paimon.deletion-vectors.enabled`, or `paimon.merge-engine` =
/// `first-row` for a first-row table), where they cannot undo the fold
/// ([`TAKEN_PAIMON_OPTIONS`]).
pub(crate) fn paimon_schema(info: &TableInfo) -> Result<paimon::spec::Schema> {
    let context = format!("table {}", info.path);
    let mut builder = paimon::spec::Schema::builder();
    for f in info.schema.fields() {
        let ty = match LogicalType::of(f) {
            LogicalType::Blob => {
                builder = builder.option(blob_option(f.name()), "true");
                paimon::arrow::arrow_to_paimon_type(&DataType::Binary, f.is_nullable())
            }
            LogicalType::Vector { element, dimension } => paimon::arrow::arrow_to_paimon_type(
                &DataType::new_fixed_size_list(element, dimension, true),
                f.is_nullable(),
            ),
            LogicalType::BlobRef => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{context}: column {} holds BLOB references, not a storable type",
                        f.name()
                    ),
                ));
            }
            LogicalType::Plain => paimon::arrow::arrow_to_paimon_type(f.data_type(), f.is_nullable()),
        }
        .map_err(paimon_err(format!("{context} column {}", f.name())))?;
        builder = builder.column(f.name().clone(), ty);
    }
    let fixed = info.has_primary_key() || !info.bucket_key.is_empty();
    builder = builder
        .partition_keys(info.partition_keys.clone())
        .option("file.format", "parquet")
        .option(BUCKET_COUNT_OPTION, info.bucket_count.to_string());
    if fixed {
        // Paimon (like Fluss) buckets within a partition: partition columns never hash
        let key: Vec<String> = if info.bucket_key.is_empty() {
            &info.primary_key
        } else {
            &info.bucket_key
        }
        .iter()
        .filter(|c| !info.partition_keys.contains(c))
        .cloned()
        .collect();
        if key.is_empty() {
            return Err(Error::invalid(format!(
                "{context}: its bucket key has no column outside the partition keys"
            )));
        }
        builder = builder
            .option(BUCKET_OPTION, info.bucket_count.to_string())
            .option(BUCKET_KEY_OPTION, key.join(","));
    } else {
        builder = builder.option(BUCKET_OPTION, "-1");
    }
    let mut options: HashMap<String, String> = HashMap::new();
    if info.has_primary_key() {
        builder = builder.primary_key(info.primary_key.clone());
        options.insert(PAIMON_MERGE_ENGINE_OPTION.into(), "deduplicate".into());
        if let Some((engine, column)) = info.merge_engine.to_option() {
            options.insert(MERGE_ENGINE_OPTION.into(), engine.into());
            if let Some(column) = column {
                options.insert(VERSION_COLUMN_OPTION.into(), column.into());
            }
        }
    }
    options.extend(paimon_properties(info)?);
    for (key, value) in options {
        builder = builder.option(key, value);
    }
    builder.build().map_err(paimon_err(context))
}

/// The prefix of the table properties that Fluss passes to Paimon as table options
/// (`paimon.deletion-vectors.enabled` becomes `deletion-vectors.enabled`).
pub const PAIMON_PROPERTY_PREFIX: &str = "paimon.";

/// The Paimon table options `info`'s properties ask for, as Fluss passes them: those under
/// [`PAIMON_PROPERTY_PREFIX`], less the prefix.
///
/// Only options that leave the folded rows the tiering writer commits as they are, and
/// the buckets as Fluss assigns them, are taken ([`TAKEN_PAIMON_OPTIONS`]); anything else
/// (bucketing, sequence fields, ignored deletes, another merge engine) is refused by name.
/// `merge-engine` may say `first-row` for a first-row table, or `deduplicate`.
fn paimon_properties(info: &TableInfo) -> Result<HashMap<String, String>> {
    let mut options = HashMap::new();
    for (key, value) in &info.properties {
        let Some(option) = key.strip_prefix(PAIMON_PROPERTY_PREFIX) else {
            continue;
        };
        let engine = value.trim().to_ascii_lowercase();
        let taken = if option == PAIMON_MERGE_ENGINE_OPTION {
            engine == "deduplicate" || (engine == "first-row" && info.merge_engine == MergeEngine::FirstRow)
        } else {
            TAKEN_PAIMON_OPTIONS
                .iter()
                .any(|taken| option == *taken || (taken.ends_with('.') && option.starts_with(taken)))
        };
        if !taken {
            return Err(Error::invalid(format!(
                "table {}: property {key} = {value} is not taken: Paimon options that change bucketing or \
                 merging would undo what the tiering writer folds (taken: {}, and merge-engine \
                 first-row for first-row tables)",
                info.path,
                TAKEN_PAIMON_OPTIONS.join(", ")
            )));
        }
        options.insert(option.to_string(), value.clone());
    }
    Ok(options)
}

/// The Paimon options a `paimon.` property may set (a trailing `.` takes every option under
/// it): storage, file and snapshot-keeping options, and deletion vectors.
pub const TAKEN_PAIMON_OPTIONS: &[&str] = &[
    "deletion-vectors.enabled",
    "file.",
    "parquet.",
    "orc.",
    "target-file-size",
    "write-buffer-size",
    "page-size",
    "snapshot.",
    "changelog-producer",
    "manifest.",
    "metadata.",
    "tag.",
    "partition.expiration-",
    "write-only",
    "commit.",
];

/// Rows in the exact Arrow types the paimon writer takes for `target`.
pub(crate) fn to_paimon(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    conform_batch(batch, target)
}

/// A schema JSON written by pypaimon or Java with keys the paimon crate's stricter parser
/// rejects (a `nullable` inside a `VECTOR` type: nullability is already in its `type`
/// string), made readable.
pub(crate) fn sanitize_schema_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let is_vector = map
                .get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.trim_start().to_ascii_uppercase().starts_with("VECTOR"));
            if is_vector {
                map.remove("nullable");
            }
            for v in map.values_mut() {
                sanitize_schema_json(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(sanitize_schema_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::DataType;

    fn info(primary_key: bool) -> TableInfo {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("p", DataType::Utf8, false),
            Field::new("v", DataType::Float64, true),
            blob_field("img", true),
            vector_field("e", DataType::Float32, 3, true),
        ]));
        let path = TablePath::new("db", "t");
        let info = if primary_key {
            TableInfo::primary_key_table(path, schema, vec!["k".into(), "p".into()], 3)
                .with_merge_engine(MergeEngine::Versioned { column: "v".into() })
        } else {
            TableInfo::log_table(path, schema, 3)
        };
        info.with_partition_keys(vec!["p".into()])
    }

    #[test]
    fn schema_round_trips_through_paimon() {
        for pk in [true, false] {
            let original = info(pk);
            let schema = paimon_schema(&original).unwrap();
            let table = TableSchema::new(0, &schema);
            let back = table_info(&original.path, &table).unwrap();
            original.ensure_compatible(&back).unwrap();
            assert_eq!(back.schema.fields().len(), 5);
            assert_eq!(LogicalType::of(back.schema.field(3)), LogicalType::Blob);
            assert_eq!(
                LogicalType::of(back.schema.field(4)),
                LogicalType::Vector {
                    element: DataType::Float32,
                    dimension: 3
                }
            );
            assert_eq!(back.merge_engine, original.merge_engine);
            assert_eq!(back.bucket_count, 3);
        }
    }

    #[test]
    fn merge_options_paimon_ignores_are_ignored() -> Result<()> {
        // regression: an append table with `merge-engine` (which Paimon ignores there, and a
        // catalog's `table-default.merge-engine` sets on every table) was refused as a log
        // table with a merge engine; a descending sort order without a sequence field (which
        // orders nothing) refused the whole table
        let log = info(false);
        for options in [
            &[("merge-engine", "first-row")][..],
            &[("sequence.field.sort-order", "descending")][..],
        ] {
            // as a table's schema file holds it, with the options added
            let mut json = serde_json::to_value(TableSchema::new(0, &paimon_schema(&log)?))
                .map_err(|e| Error::invalid(e.to_string()))?;
            for (k, v) in options {
                json["options"][*k] = serde_json::Value::from(*v);
            }
            let table: TableSchema = serde_json::from_value(json).map_err(|e| Error::invalid(e.to_string()))?;
            let back = table_info(&log.path, &table)?;
            assert_eq!(back.merge_engine, MergeEngine::Deduplicate, "{options:?}");
        }
        let descending: HashMap<String, String> = [
            ("merge-engine", "first-row"),
            ("sequence.field.sort-order", "descending"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(merge_engine(&log.path, &descending)?, MergeEngine::FirstRow);
        Ok(())
    }

    #[test]
    fn options_that_describe_no_table_are_corrupt() -> Result<()> {
        // regression: options that parsed but described no table (0 buckets, a bucket key
        // that is not a column) were an InvalidArgument, as if the caller had asked
        // wrongly; options that did not parse were Corrupt
        let log = info(false);
        for options in [
            &[(BUCKET_COUNT_OPTION, "abc")][..],
            &[(BUCKET_COUNT_OPTION, "0")][..],
            &[(BUCKET_OPTION, "x")][..],
            &[(BUCKET_OPTION, "2"), (BUCKET_KEY_OPTION, "missing")][..],
        ] {
            let mut json = serde_json::to_value(TableSchema::new(0, &paimon_schema(&log)?))
                .map_err(|e| Error::invalid(e.to_string()))?;
            for (k, v) in options {
                json["options"][*k] = serde_json::Value::from(*v);
            }
            let table: TableSchema = serde_json::from_value(json).map_err(|e| Error::invalid(e.to_string()))?;
            let e = table_info(&log.path, &table)
                .err()
                .ok_or_else(|| Error::invalid(format!("{options:?} accepted")))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{options:?}: {e}");
            assert!(e.to_string().contains("db.t"), "{e}");
        }
        Ok(())
    }

    #[test]
    fn native_merge_engines_map_to_fluss_ones() {
        let path = TablePath::new("db", "t");
        let opts = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(merge_engine(&path, &opts(&[])).unwrap(), MergeEngine::Deduplicate);
        assert_eq!(
            merge_engine(&path, &opts(&[("merge-engine", "first-row")])).unwrap(),
            MergeEngine::FirstRow
        );
        assert_eq!(
            merge_engine(&path, &opts(&[("sequence.field", "ts")])).unwrap(),
            MergeEngine::Versioned { column: "ts".into() }
        );
        for merged_on_read in ["partial-update", "aggregation"] {
            assert_eq!(
                merge_engine(&path, &opts(&[("merge-engine", merged_on_read)])).unwrap(),
                MergeEngine::Deduplicate
            );
        }
        let e = merge_engine(&path, &opts(&[("merge-engine", "lookup-changelog")])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
    }

    #[test]
    fn a_descending_sequence_has_no_fluss_merge_engine() -> Result<()> {
        // regression: `sequence.field.sort-order = descending` (Paimon keeps the smallest
        // version) was read as versioned, which keeps the largest: the union read and the
        // tiering writer's fold took the other row than Paimon's merge
        let path = TablePath::new("db", "t");
        for fluss_option in [None, Some("versioned")] {
            let mut options: HashMap<String, String> =
                [("sequence.field", "ts"), ("sequence.field.sort-order", "Descending")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
            if let Some(engine) = fluss_option {
                options.insert(MERGE_ENGINE_OPTION.to_string(), engine.to_string());
                options.insert(VERSION_COLUMN_OPTION.to_string(), "ts".to_string());
            }
            let e = merge_engine(&path, &options)
                .err()
                .ok_or_else(|| Error::invalid("a descending sequence was taken"))?;
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("descending"), "{e}");
        }
        let ascending: HashMap<String, String> = [("sequence.field", "ts"), ("sequence.field.sort-order", "ascending")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            merge_engine(&path, &ascending)?,
            MergeEngine::Versioned { column: "ts".into() }
        );
        Ok(())
    }

    #[test]
    fn vector_nullable_keys_are_dropped() {
        let mut v = serde_json::json!({"fields": [{"type": {"type": "VECTOR", "element": "FLOAT", "length": 4, "nullable": true}}]});
        sanitize_schema_json(&mut v);
        assert_eq!(
            v["fields"][0]["type"],
            serde_json::json!({"type": "VECTOR", "element": "FLOAT", "length": 4})
        );
    }
}
