//! Reading: a configured scan of one table ([`PaimonSource`]), its planner (the data splits
//! of one snapshot, as [`PaimonSplit`]s) and the reader of one split.
//!
//! Paimon merges a primary-key split on read and yields it in key order; a raw-convertible
//! split (already merged files, read as they are) is in key order only when it is one file.
//! Each split is read on its own (`to_arrow(&[split])`), never several interleaved, so the
//! engine's k-way merge sees every sorted split as one sorted input.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use lake_api::blob::{BlobMode, BlobResolver};
use lake_api::conform::conform_batch;
use lake_api::lake::{
    LakeSource, LakeSplit, Planner, RecordBatchStream, RecordReader, SortedRecordReader, SplitSerializer,
};
use lake_api::predicate::{FilterPushDown, Predicate, push_down};
use lake_api::project::{project_batch, project_schema, top_level_projection};
use lake_api::table::date_partition_value;
use lake_api::types::{LogicalType, blob_ref_field};
use lake_api::{Error, ErrorKind, Result, SnapshotView, TableInfo};
use paimon::DataSplit;
use paimon::spec::{DataType as PaimonType, Datum, Predicate as PaimonPredicate};
use paimon::table::Table;

use crate::blobs::{BLOB_AS_DESCRIPTOR_OPTION, PaimonBlobResolver, can_reference, references_from_descriptors};
use crate::error::paimon_err;
use crate::predicate::PaimonFilters;
use crate::schema::BUCKET_OPTION;
use crate::split::{PaimonSplit, PaimonSplitSerializer};
use crate::view::PlanView;

/// The default number of rows per batch read, where the table's `read.batch-size` does not
/// say (paimon's own default, 1024, costs the merge engine five times the batches).
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// Paimon's read batch size option.
const READ_BATCH_SIZE_OPTION: &str = "read.batch-size";

/// One scan of a Paimon table: projection, filters and limit, then planning and reading.
#[derive(Debug, Clone)]
pub struct PaimonSource {
    table: Table,
    info: TableInfo,
    projection: Option<Vec<Vec<usize>>>,
    filters: Vec<PaimonPredicate>,
    limit: Option<usize>,
    blob_mode: BlobMode,
    view: SnapshotView,
}

impl PaimonSource {
    pub(crate) fn new(table: Table, info: TableInfo) -> Self {
        // payloads until asked otherwise, whatever the table's own options say
        let mut options = HashMap::from([(BLOB_AS_DESCRIPTOR_OPTION.to_string(), "false".to_string())]);
        if !table.schema().options().contains_key(READ_BATCH_SIZE_OPTION) {
            options.insert(READ_BATCH_SIZE_OPTION.to_string(), DEFAULT_BATCH_SIZE.to_string());
        }
        let table = table.copy_with_options(options);
        Self {
            table,
            info,
            projection: None,
            filters: Vec::new(),
            limit: None,
            blob_mode: BlobMode::Payloads,
            view: SnapshotView::Committed,
        }
    }

    /// Sets the number of rows per batch (paimon's `read.batch-size`).
    pub fn with_batch_size(&mut self, batch_size: usize) {
        self.table = self.table.copy_with_options(HashMap::from([(
            READ_BATCH_SIZE_OPTION.to_string(),
            batch_size.max(1).to_string(),
        )]));
    }

    /// The table's lakeunion metadata.
    pub fn info(&self) -> &TableInfo {
        &self.info
    }

    /// The names of the top-level columns to read, in schema order.
    fn column_names(&self) -> Vec<String> {
        top_level_projection(self.info.schema.fields().len(), self.projection.as_deref())
            .0
            .into_iter()
            .map(|i| self.info.schema.field(i).name().clone())
            .collect()
    }

    /// The schema of the batches readers yield.
    pub fn output_schema(&self) -> Result<SchemaRef> {
        let schema = match &self.projection {
            None => self.info.schema.clone(),
            Some(paths) => Arc::new(project_schema(&self.info.schema, paths)?),
        };
        Ok(self.blob_mode.schema_of(&schema))
    }

    fn context(&self, snapshot_id: i64) -> String {
        format!("table {} snapshot {snapshot_id}", self.info.path)
    }

    /// The types of the table's partition columns, in order.
    fn partition_types(&self) -> Vec<PaimonType> {
        self.table
            .schema()
            .partition_fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
    }

    /// Whether Paimon's buckets are the Fluss buckets (fixed-bucket tables), rather than
    /// bucket-unaware or dynamic ones.
    fn fixed_buckets(&self) -> bool {
        self.table
            .schema()
            .options()
            .get(BUCKET_OPTION)
            .and_then(|b| b.trim().parse::<i64>().ok())
            .is_some_and(|b| b > 0)
    }

    /// A read builder's configuration: the projection and the filter.
    fn configure<'a>(&self, builder: &mut paimon::ReadBuilder<'a>, context: &str) -> Result<()> {
        let names = self.column_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        builder.with_projection(&names).map_err(paimon_err(context))?;
        if !self.filters.is_empty() {
            builder.with_filter(PaimonPredicate::and(self.filters.clone()));
        }
        Ok(())
    }
}

#[async_trait]
impl LakeSource for PaimonSource {
    fn with_project(&mut self, paths: &[Vec<usize>]) -> Result<()> {
        project_schema(&self.info.schema, paths)?;
        self.projection = Some(paths.to_vec());
        Ok(())
    }

    fn with_filters(&mut self, filters: Vec<Predicate>) -> FilterPushDown {
        let converter = PaimonFilters::new(&self.info.schema, self.table.schema().fields());
        let (converted, report) = push_down(&converter, filters);
        self.filters = converted;
        report
    }

    fn with_limit(&mut self, limit: usize) {
        self.limit = Some(limit);
    }

    async fn create_planner(&self, snapshot_id: i64) -> Result<Box<dyn Planner>> {
        self.table
            .snapshot_manager()
            .get_snapshot(snapshot_id)
            .await
            .map_err(paimon_err(format!("table {}", self.info.path)))?;
        Ok(Box::new(PaimonPlanner {
            source: self.clone(),
            snapshot_id,
        }))
    }

    async fn create_reader(&self, split: Arc<dyn LakeSplit>) -> Result<Box<dyn RecordReader>> {
        let split = split
            .as_any()
            .downcast_ref::<PaimonSplit>()
            .ok_or_else(|| Error::invalid(format!("not a Paimon split: {split:?}")))?;
        // the row came with the split, untrusted: paimon indexes it by its own header
        // unchecked (a forged one overflows, a panic where overflow checks are on)
        let types = self.partition_types();
        let held_partition = lake_api::error::corrupt_on_panic(
            format_args!("the partition row of the split of {}", split.split.bucket_path()),
            || render_partition(&split.split, &types),
        )?;
        split.check(self.table.location(), self.fixed_buckets(), &held_partition)?;
        let (top, paths) = top_level_projection(self.info.schema.fields().len(), self.projection.as_deref());
        let read_schema = Arc::new(
            self.info
                .schema
                .project(&top)
                .map_err(|e| Error::invalid(e.to_string()))?,
        );
        let files = split.data_files().join(", ");
        Ok(Box::new(PaimonReader {
            key_order: (split.sorted && self.info.has_primary_key()).then(|| self.info.primary_key.clone()),
            source: self.clone(),
            context: format!(
                "{} bucket {} files [{files}]",
                self.context(split.snapshot_id),
                split.split.bucket()
            ),
            split: split.split.clone(),
            read_schema,
            output_schema: self.output_schema()?,
            paths,
        }))
    }

    fn split_serializer(&self) -> Arc<dyn SplitSerializer> {
        Arc::new(PaimonSplitSerializer)
    }

    fn with_blob_mode(&mut self, mode: BlobMode) -> Result<()> {
        if mode == BlobMode::References && !can_reference(&self.table, &self.info) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "table {}: only Paimon BLOB columns of data-evolution tables, stored in .blob files, \
                     read as references; this table's are not",
                    self.info.path
                ),
            ));
        }
        let descriptors = mode == BlobMode::References;
        self.table = self.table.copy_with_options(HashMap::from([(
            BLOB_AS_DESCRIPTOR_OPTION.to_string(),
            descriptors.to_string(),
        )]));
        self.blob_mode = mode;
        Ok(())
    }

    fn blob_resolver(&self) -> Option<Arc<dyn BlobResolver>> {
        (self.blob_mode == BlobMode::References)
            .then(|| Arc::new(PaimonBlobResolver::new(&self.table)) as Arc<dyn BlobResolver>)
    }

    /// Under `Committed` (the default), deletion-vector and `first-row` tables are planned
    /// with their level-0 files merged in; under `Readable`, as Paimon's readers see them.
    /// Other tables have one view: `Committed`.
    fn with_view(&mut self, view: SnapshotView) -> Result<SnapshotView> {
        self.view = match PlanView::hides_level_zero(&self.table) {
            true => view,
            false => SnapshotView::Committed,
        };
        Ok(self.view)
    }
}

struct PaimonPlanner {
    source: PaimonSource,
    snapshot_id: i64,
}

#[async_trait]
impl Planner for PaimonPlanner {
    async fn plan(&mut self) -> Result<Vec<Arc<dyn LakeSplit>>> {
        let source = &self.source;
        let context = source.context(self.snapshot_id);
        let view = PlanView::of(&source.table, source.view);
        view.check(&source.table, &context)?;
        let mut options = view.options;
        options.insert("scan.snapshot-id".to_string(), self.snapshot_id.to_string());
        let table = source.table.copy_with_options(options);
        let mut builder = table.new_read_builder();
        source.configure(&mut builder, &context)?;
        let pk = source.info.has_primary_key();
        // the limit stays out of paimon's planner, which sums the files' row counts
        // unchecked to apply it (a corrupt manifest's overflow a panic in debug builds):
        // the loop below stops at it, once each split's counts are checked
        let mut scan = builder.new_scan();
        if view.scan_all_files {
            scan = scan.with_scan_all_files();
        }
        let plan = scan.plan().await.map_err(paimon_err(&context))?;
        let partition_types = source.partition_types();
        let fixed = source.fixed_buckets();
        let mut splits: Vec<Arc<dyn LakeSplit>> = Vec::with_capacity(plan.splits().len());
        // unsigned: a limit past i64::MAX must not wrap to a negative row count
        let mut planned_rows: u64 = 0;
        for split in plan.splits() {
            if let Some(limit) = source.limit
                && !pk
                && source.filters.is_empty()
                && planned_rows >= limit as u64
            {
                break;
            }
            let partition = render_partition(split, &partition_types)
                .map_err(|e| e.context(format!("{context} bucket {}", split.bucket_path())))?;
            let bucket = if fixed {
                let b = u32::try_from(split.bucket())
                    .ok()
                    .filter(|b| *b < source.info.bucket_count)
                    .ok_or_else(|| {
                        Error::corrupt(format!(
                            "{context}: split {} is bucket {} of a table with {} buckets",
                            split.bucket_path(),
                            split.bucket(),
                            source.info.bucket_count
                        ))
                    })?;
                Some(b)
            } else {
                None
            };
            if !crate::split::row_counts_fit(split) {
                return Err(Error::corrupt(format!(
                    "{context}: the manifest entries of {} count more rows than fit in 64 bits",
                    split.bucket_path()
                )));
            }
            if split.raw_convertible() {
                let rows = split.merged_row_count().and_then(|n| u64::try_from(n).ok());
                planned_rows = planned_rows.saturating_add(rows.unwrap_or(0));
            }
            let sorted = pk && (!split.raw_convertible() || split.data_files().len() <= 1);
            splits.push(Arc::new(PaimonSplit {
                snapshot_id: self.snapshot_id,
                bucket,
                partition,
                sorted,
                split: split.clone(),
            }));
        }
        Ok(splits)
    }
}

/// The split's partition values, rendered as Fluss renders partition names.
fn render_partition(split: &DataSplit, types: &[PaimonType]) -> Result<Vec<String>> {
    let row = split.partition();
    types
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            let datum = row
                .get_datum(i, ty)
                .map_err(|e| Error::corrupt(format!("partition value {i}: {e}")))?;
            partition_value_name(i, datum)
        })
        .collect()
}

/// Partition value `i` as Fluss names it. A NULL one (Paimon files such rows under its
/// default partition name) has no Fluss name, whatever wrote it: the table is intact
/// but not one a Fluss table tiered, so it is unsupported rather than corrupt.
fn partition_value_name(i: usize, datum: Option<Datum>) -> Result<String> {
    match datum {
        Some(Datum::String(s)) => Ok(s),
        Some(Datum::Int(v)) => Ok(v.to_string()),
        Some(Datum::Long(v)) => Ok(v.to_string()),
        Some(Datum::SmallInt(v)) => Ok(v.to_string()),
        Some(Datum::TinyInt(v)) => Ok(v.to_string()),
        Some(Datum::Bool(v)) => Ok(v.to_string()),
        Some(Datum::Date(days)) => date_partition_value(days)
            .ok_or_else(|| Error::corrupt(format!("partition value {i} is day {days}, past the calendar"))),
        None => Err(Error::new(
            ErrorKind::Unsupported,
            format!("partition value {i} is NULL, which no Fluss partition is named by"),
        )),
        Some(other) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("partition value {i} ({other:?}) has no Fluss partition name"),
        )),
    }
}

struct PaimonReader {
    /// The primary key, when the split's rows come in its order.
    key_order: Option<Vec<String>>,
    source: PaimonSource,
    split: DataSplit,
    context: String,
    read_schema: SchemaRef,
    output_schema: SchemaRef,
    paths: Option<Vec<Vec<usize>>>,
}

#[async_trait]
impl RecordReader for PaimonReader {
    fn schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    fn as_sorted(&self) -> Option<&dyn SortedRecordReader> {
        self.key_order.as_ref().map(|_| self as &dyn SortedRecordReader)
    }

    async fn read(self: Box<Self>) -> Result<RecordBatchStream> {
        let this = *self;
        let context = Arc::new(this.context);
        let stream = {
            let mut builder = this.source.table.new_read_builder();
            this.source.configure(&mut builder, &context)?;
            let read = builder.new_read().map_err(paimon_err(context.as_ref()))?;
            read.to_arrow(std::slice::from_ref(&this.split))
                .map_err(paimon_err(context.as_ref()))?
        };
        // under references, Paimon reads each BLOB value as its serialized descriptor
        let descriptors: Vec<String> = match this.source.blob_mode {
            BlobMode::References => this
                .read_schema
                .fields()
                .iter()
                .filter(|f| LogicalType::of(f) == LogicalType::Blob)
                .map(|f| f.name().clone())
                .collect(),
            BlobMode::Payloads => Vec::new(),
        };
        let read_schema = this.source.blob_mode.schema_of(&this.read_schema);
        let paths = this.paths;
        let limit = this.source.limit.filter(|_| !this.source.info.has_primary_key());
        let stream = stream.map(move |batch| {
            let mut batch = batch.map_err(paimon_err(context.as_ref()))?;
            if !descriptors.is_empty() {
                batch = with_references(batch, &descriptors, &context)?;
            }
            let batch = conform_batch(&batch, &read_schema).map_err(|e| e.context(context.as_ref()))?;
            match &paths {
                Some(p) => project_batch(&batch, p),
                None => Ok(batch),
            }
        });
        Ok(RecordBatchStream::new(this.output_schema, stream).with_row_limit(limit))
    }
}

/// `batch` with each of the descriptor columns `columns` turned into BLOB references.
fn with_references(
    batch: arrow_array::RecordBatch,
    columns: &[String],
    context: &str,
) -> Result<arrow_array::RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<arrow_schema::FieldRef> = schema.fields().iter().cloned().collect();
    let mut arrays = batch.columns().to_vec();
    for name in columns {
        let (i, _) = schema
            .column_with_name(name)
            .ok_or_else(|| Error::schema(format!("{context}: Paimon returned no column {name}")))?;
        arrays[i] = references_from_descriptors(arrays[i].as_ref(), &format!("{context} column {name}"))?;
        fields[i] = Arc::new(blob_ref_field(name.clone(), true));
    }
    Ok(arrow_array::RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        arrays,
    )?)
}

impl SortedRecordReader for PaimonReader {
    fn key_order(&self) -> &[String] {
        self.key_order.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_partition_value_is_unsupported_not_corrupt() -> Result<()> {
        // regression: a Paimon table partitioned by a nullable column, with a row whose
        // partition value is NULL (what Paimon's own writers allow), failed its plan as
        // corrupt; the table is intact, only no Fluss partition is named by NULL
        let e = partition_value_name(1, None)
            .err()
            .ok_or_else(|| Error::invalid("a NULL partition value was named"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("partition value 1 is NULL"), "{e}");
        assert_eq!(partition_value_name(0, Some(Datum::String("eu".into())))?, "eu");
        assert_eq!(partition_value_name(0, Some(Datum::Date(0)))?, "1970-01-01");
        assert_eq!(partition_value_name(0, Some(Datum::Long(-3)))?, "-3");
        Ok(())
    }
}
