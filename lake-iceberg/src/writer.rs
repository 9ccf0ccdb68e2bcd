//! Tiering into Iceberg: log batches become Parquet data files per Fluss partition and
//! bucket, committed with one `fast_append` that carries the snapshot properties
//! (`fluss-offsets`).
//!
//! iceberg 0.10 can commit data files only (no delete files, no overwrite), so a
//! primary-key bucket can be tiered while the lake holds no rows of it: its changes are
//! folded into rows first. Changing rows already in the lake would need delete files; that
//! fails with [`ErrorKind::Unsupported`] and commits nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;
use futures::TryStreamExt;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFile, DataFileBuilder, DataFileFormat, PartitionKey, Transform};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::transform::create_transform_function;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter as _, IcebergWriterBuilder as _};
use iceberg::{Catalog, TableIdent};
use lake_api::lake::{LakeSnapshot, LakeWriter, RoundBatches};
use lake_api::{ChangeType, Error, ErrorKind, LogBatch, Result, TableBucket, TableInfo, apply_changes};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::iceberg_err;
use crate::schema::{
    BUCKET_COLUMN, BucketField, OFFSET_COLUMN, TIMESTAMP_COLUMN, TableLayout, conform, has_system_columns,
    key_sort_columns,
};
use crate::source::{FileFacts, FileLocator};
use crate::storage::snapshot_of;

/// Writes one tiering round into an Iceberg table.
pub(crate) struct IcebergLakeWriter {
    pub catalog: Arc<dyn Catalog>,
    pub ident: TableIdent,
    pub info: TableInfo,
    /// Where the table partitions by `bucket[N](key)`: the key column and the type Iceberg
    /// keeps it as. Rows must hash to the bucket they are written for (a table without
    /// that field keeps no buckets to disagree with).
    pub bucket_column: Option<(String, DataType)>,
    pub written: RoundBatches,
}

#[async_trait]
impl LakeWriter for IcebergLakeWriter {
    async fn write(&mut self, bucket: &TableBucket, batch: &LogBatch) -> Result<()> {
        if bucket.bucket >= self.info.bucket_count {
            return Err(Error::invalid(format!("table {} has no {bucket}", self.info.path)));
        }
        if bucket.partition.len() != self.info.partition_keys.len() {
            return Err(Error::invalid(format!(
                "table {} is partitioned by {:?}: {bucket} does not name a partition",
                self.info.path, self.info.partition_keys
            )));
        }
        batch.validate()?;
        if let Some((key, file_type)) = &self.bucket_column {
            check_bucketing(&self.info, bucket, &batch.batch, key, file_type)?;
        }
        self.written.entry(bucket.clone()).or_default().push(batch.clone());
        Ok(())
    }

    async fn commit(self: Box<Self>, properties: BTreeMap<String, String>) -> Result<LakeSnapshot> {
        let path = self.info.path.clone();
        let table = self
            .catalog
            .load_table(&self.ident)
            .await
            .map_err(iceberg_err(format!("table {path}")))?;
        let metadata = table.metadata();
        let layout = TableLayout::of(metadata.default_partition_spec(), metadata.current_schema())?;
        // the spec may have changed since the writer was made
        layout
            .check_writable()
            .map_err(|e| e.context(format!("table {path}")))?;
        if self.info.has_primary_key() {
            refuse_rows_in_lake(&table, &self.info, &self.written).await?;
        }
        let file_schema =
            Arc::new(schema_to_arrow_schema(metadata.current_schema()).map_err(iceberg_err(format!("table {path}")))?);
        let sort_order = key_order_id(&table, &self.info);
        let spec_id = metadata.default_partition_spec_id();
        let mut files: Vec<DataFile> = Vec::new();
        let staged = write_round(&table, &layout, &self.info, &file_schema, self.written, &mut files)
            .await
            .and_then(|()| stage(&table, &files, sort_order, spec_id, properties, &path));
        let tx = match staged {
            Ok(tx) => tx,
            Err(e) => {
                // nothing will commit the files written so far. Past the commit below its
                // outcome may be unknown, so no file is removed there
                discard(&table, &files).await;
                return Err(e);
            }
        };
        let table = tx
            .commit(self.catalog.as_ref())
            .await
            .map_err(iceberg_err(format!("table {path}: commit")))?;
        let snapshot = table.metadata().current_snapshot().ok_or_else(|| {
            Error::new(
                ErrorKind::External,
                format!("table {path}: the commit left no snapshot"),
            )
        })?;
        Ok(snapshot_of(snapshot))
    }
}

/// Writes each bucket's rows of a round (a primary-key bucket's folded) as data files,
/// adding each file to `files` once written, so that a failure later can remove them.
async fn write_round(
    table: &Table,
    layout: &TableLayout,
    info: &TableInfo,
    file_schema: &SchemaRef,
    written: RoundBatches,
    files: &mut Vec<DataFile>,
) -> Result<()> {
    for (bucket, batches) in written {
        let rows = if info.has_primary_key() {
            apply_changes(info, Vec::new(), batches).await?
        } else {
            batches
                .iter()
                .map(|b| with_system_columns(b, &bucket, file_schema))
                .collect::<Result<_>>()?
        };
        let context = format!("table {} {bucket}", info.path);
        let rows: Vec<RecordBatch> = rows
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| conform(b, file_schema, &context))
            .collect::<Result<_>>()?;
        if rows.is_empty() {
            continue;
        }
        let written = write_files(table, layout, &bucket, rows, &context).await?;
        files.extend(written);
    }
    Ok(())
}

/// The fast append of `files`, with the round's snapshot `properties`.
fn stage(
    table: &Table,
    files: &[DataFile],
    sort_order: Option<i32>,
    spec_id: i32,
    properties: BTreeMap<String, String>,
    path: &lake_api::TablePath,
) -> Result<Transaction> {
    let context = format!("table {path}");
    // folded rows come out in key order: say so where the table's order is the key's
    let files = match sort_order {
        Some(order) => files
            .iter()
            .map(|file| with_sort_order(file, order, spec_id, &context))
            .collect::<Result<Vec<_>>>()?,
        None => files.to_vec(),
    };
    let tx = Transaction::new(table);
    tx.fast_append()
        .with_check_duplicate(false)
        .add_data_files(files)
        .set_snapshot_properties(properties.into_iter().collect::<HashMap<_, _>>())
        .apply(tx)
        .map_err(iceberg_err(format!("{context}: commit")))
}

/// Removes data files a failed round wrote (best-effort: the round's error is the one to
/// report, and a file left behind is only unreferenced).
async fn discard(table: &Table, files: &[DataFile]) {
    for file in files {
        let _ = table.file_io().delete(file.file_path()).await;
    }
}

/// The id of the table's default sort order when it is the primary key's order (the
/// order folded rows come out in).
fn key_order_id(table: &Table, info: &TableInfo) -> Option<i32> {
    if !info.has_primary_key() {
        return None;
    }
    let metadata = table.metadata();
    let order = metadata.default_sort_order();
    let columns = key_sort_columns(order, metadata.current_schema())?;
    (columns == info.primary_key)
        .then(|| i32::try_from(order.order_id).ok())
        .flatten()
}

/// The data file marked as sorted by `order` (iceberg 0.10's writer leaves it unset and
/// keeps the fields crate-private, so the file is rebuilt from its accessors; it was
/// written with the default spec, `spec_id`).
fn with_sort_order(file: &DataFile, order: i32, spec_id: i32, context: &str) -> Result<DataFile> {
    DataFileBuilder::default()
        .content(file.content_type())
        .file_path(file.file_path().to_string())
        .file_format(file.file_format())
        .partition(file.partition().clone())
        .record_count(file.record_count())
        .file_size_in_bytes(file.file_size_in_bytes())
        .column_sizes(file.column_sizes().clone())
        .value_counts(file.value_counts().clone())
        .null_value_counts(file.null_value_counts().clone())
        .nan_value_counts(file.nan_value_counts().clone())
        .lower_bounds(file.lower_bounds().clone())
        .upper_bounds(file.upper_bounds().clone())
        .key_metadata(file.key_metadata().map(<[u8]>::to_vec))
        .split_offsets(file.split_offsets().map(<[i64]>::to_vec))
        .equality_ids(file.equality_ids())
        .sort_order_id(order)
        .first_row_id(file.first_row_id())
        .partition_spec_id(spec_id)
        .referenced_data_file(file.referenced_data_file())
        .content_offset(file.content_offset())
        .content_size_in_bytes(file.content_size_in_bytes())
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::External,
                format!("{context}: marking a data file sorted: {e}"),
            )
        })
}

/// Fails unless every row of `batch` hashes to `bucket` under the table's own
/// `bucket[N](key)`, on the key as Iceberg keeps it (`file_type`: a millisecond timestamp
/// is kept, and hashed, in microseconds). Iceberg prunes files by that transform when a
/// scan filters on the key, so data files whose bucket partition disagrees with it would
/// silently lose rows; Fluss buckets tables tiered into Iceberg with the same function
/// (`table.datalake.format = iceberg`).
fn check_bucketing(
    info: &TableInfo,
    bucket: &TableBucket,
    batch: &RecordBatch,
    key: &str,
    file_type: &DataType,
) -> Result<()> {
    let column = batch
        .column_by_name(key)
        .ok_or_else(|| Error::schema(format!("table {}: {bucket} has no bucket key column {key}", info.path)))?;
    let column = lake_api::conform::conform_array(column, file_type).map_err(|e| {
        Error::schema(format!(
            "table {}: bucket key column {key} as {file_type}: {e}",
            info.path
        ))
    })?;
    let buckets = create_transform_function(&Transform::Bucket(info.bucket_count))
        .and_then(|f| f.transform(column))
        .map_err(iceberg_err(format!("table {}: bucketing {key}", info.path)))?;
    let buckets = buckets
        .as_primitive_opt::<arrow_array::types::Int32Type>()
        .ok_or_else(|| Error::new(ErrorKind::External, "Iceberg's bucket transform did not return int"))?;
    if let Some((row, b)) = buckets
        .iter()
        .enumerate()
        .find(|(_, b)| *b != Some(bucket.bucket as i32))
    {
        return Err(Error::invalid(format!(
            "table {}: row {row} of a batch for {bucket} belongs to bucket {b:?} under Iceberg's bucket[{}]({key}); \
             tier a log bucketed for Iceberg (Fluss: table.datalake.format = iceberg)",
            info.path, info.bucket_count
        )));
    }
    Ok(())
}

/// Fails when a written primary-key bucket already has rows in the lake: changing them
/// needs delete files, which iceberg 0.10 cannot commit.
async fn refuse_rows_in_lake(
    table: &Table,
    info: &TableInfo,
    written: &BTreeMap<TableBucket, Vec<LogBatch>>,
) -> Result<()> {
    let path = &info.path;
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(());
    };
    let context = format!("table {path}");
    let facts = FileFacts::read(table, &[], snapshot.snapshot_id(), &context).await?;
    let mut locator = FileLocator::new(table.metadata(), &facts.spec_ids)?;
    let tasks: Vec<_> = table
        .scan()
        .select_empty()
        .build()
        .map_err(iceberg_err(format!("table {path}")))?
        .plan_files()
        .await
        .map_err(iceberg_err(format!("table {path}")))?
        .try_collect()
        .await
        .map_err(iceberg_err(format!("table {path}")))?;
    let bucketed = locator.current().bucket != BucketField::None;
    let mut in_lake: BTreeSet<(Vec<String>, Option<u32>)> = BTreeSet::new();
    // partitions with files of an older spec bucketed otherwise: rows of any bucket
    let mut in_lake_unbucketed: BTreeSet<Vec<String>> = BTreeSet::new();
    for task in &tasks {
        if task.record_count == Some(0) || task.partition.is_none() {
            continue;
        }
        let located = locator
            .locate(task)
            .map_err(|e| e.context(format!("{context} file {}", task.data_file_path)))?;
        match located {
            (partition, None) if bucketed => in_lake_unbucketed.insert(partition),
            located => in_lake.insert(located),
        };
    }
    for (bucket, batches) in written {
        let group = (bucket.partition.clone(), bucketed.then_some(bucket.bucket));
        let occupied = in_lake.contains(&group) || in_lake_unbucketed.contains(&bucket.partition);
        // every change of a primary-key table is an upsert or a delete of its key
        if occupied && batches.iter().any(|b| b.batch.num_rows() > 0) {
            let kinds: BTreeSet<ChangeType> = batches.iter().flat_map(|b| b.change_types.iter().copied()).collect();
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "table {path}: {bucket} already has rows in the Iceberg lake and its changes ({kinds:?}) \
                     would update them; iceberg 0.10 cannot commit the delete files that needs"
                ),
            ));
        }
    }
    Ok(())
}

/// A log table's batch with the system columns, where its table carries any of them (the
/// `identity(__bucket)` layout has them, and Fluss gives them to every table it creates),
/// or as it is: the batch is conformed to the table's columns by name, which drops those
/// the table lacks.
fn with_system_columns(batch: &LogBatch, bucket: &TableBucket, file_schema: &SchemaRef) -> Result<RecordBatch> {
    if !has_system_columns(file_schema) {
        return Ok(batch.batch.clone());
    }
    let n = batch.batch.num_rows();
    let mut fields = batch.batch.schema().fields().to_vec();
    let mut columns: Vec<ArrayRef> = batch.batch.columns().to_vec();
    fields.push(Arc::new(arrow_schema::Field::new(
        BUCKET_COLUMN,
        arrow_schema::DataType::Int32,
        false,
    )));
    columns.push(Arc::new(Int32Array::from(vec![bucket.bucket as i32; n])));
    fields.push(Arc::new(arrow_schema::Field::new(
        OFFSET_COLUMN,
        arrow_schema::DataType::Int64,
        false,
    )));
    columns.push(Arc::new(Int64Array::from_iter_values(
        (0..n as i64).map(|i| batch.base_offset + i),
    )));
    let ts =
        TimestampMicrosecondArray::from(vec![batch.commit_timestamp.saturating_mul(1000); n]).with_timezone("+00:00");
    fields.push(Arc::new(arrow_schema::Field::new(
        TIMESTAMP_COLUMN,
        arrow_array::Array::data_type(&ts).clone(),
        false,
    )));
    columns.push(Arc::new(ts));
    let schema: SchemaRef = Arc::new(arrow_schema::Schema::new(fields));
    RecordBatch::try_new(schema, columns).map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
}

/// Writes the rows of one bucket as Parquet data files of its partition.
async fn write_files(
    table: &Table,
    layout: &TableLayout,
    bucket: &TableBucket,
    rows: Vec<RecordBatch>,
    context: &str,
) -> Result<Vec<DataFile>> {
    let metadata = table.metadata();
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().as_ref().clone();
    let partition_key = if spec.is_unpartitioned() {
        None
    } else {
        Some(PartitionKey::new(
            spec,
            schema.clone(),
            layout
                .partition_data(&bucket.partition, bucket.bucket)
                .map_err(|e| e.context(context))?,
        ))
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let location = DefaultLocationGenerator::new(metadata).map_err(iceberg_err(context))?;
    // a fresh name per writer: the local file IO overwrites silently
    let names = DefaultFileNameGenerator::new(
        format!("lakeunion-{}", uuid::Uuid::new_v4()),
        None,
        DataFileFormat::Parquet,
    );
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, schema),
        256 << 20,
        table.file_io().clone(),
        location,
        names,
    );
    let mut writer = DataFileWriterBuilder::new(rolling)
        .build(partition_key)
        .await
        .map_err(iceberg_err(context))?;
    for batch in rows {
        writer.write(batch).await.map_err(iceberg_err(context))?;
    }
    writer.close().await.map_err(iceberg_err(context))
}
