//! Reading: a configured scan of one table ([`IcebergSource`]), its planner (file scan
//! tasks of one snapshot, as [`IcebergSplit`]s) and the reader of one split.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use iceberg::expr::{Bind, Predicate as IcebergPredicate};
use iceberg::scan::FileScanTask;
use iceberg::spec::{DEFAULT_SCHEMA_NAME_MAPPING, ManifestContentType, NameMapping, TableMetadata};
use iceberg::table::Table;
use lake_api::lake::{
    LakeSource, LakeSplit, Planner, RecordBatchStream, RecordReader, SortedRecordReader, SplitSerializer,
};
use lake_api::location::check_inside;
use lake_api::predicate::{FilterPushDown, Predicate, push_down};
use lake_api::project::{project_batch, project_schema, top_level_projection};
use lake_api::{Error, ErrorKind, Result, TableInfo};

use crate::error::iceberg_err;
use crate::predicate::{EvolvedColumns, IcebergFilters, for_snapshot_schema, may_keep_extra_rows};
use crate::schema::{TableLayout, conform, key_sort_columns};
use crate::split::{IcebergSplit, IcebergSplitSerializer};

/// The default number of rows per batch read.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// One scan of an Iceberg table: projection, filters and limit, then planning and reading.
#[derive(Debug, Clone)]
pub struct IcebergSource {
    table: Table,
    info: TableInfo,
    projection: Option<Vec<Vec<usize>>>,
    /// The pushed-down filters, joined.
    filter: Option<IcebergPredicate>,
    limit: Option<usize>,
    batch_size: usize,
}

impl IcebergSource {
    pub(crate) fn new(table: Table, info: TableInfo) -> Self {
        Self {
            table,
            info,
            projection: None,
            filter: None,
            limit: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    /// Sets the number of rows per batch.
    pub fn with_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size.max(1);
    }

    /// The table's lakeunion metadata.
    pub fn info(&self) -> &TableInfo {
        &self.info
    }

    /// The top-level columns to read, in schema order, and the paths to project from them.
    fn top_level_projection(&self) -> (Vec<usize>, Option<Vec<Vec<usize>>>) {
        top_level_projection(self.info.schema.fields().len(), self.projection.as_deref())
    }

    /// The names of the top-level columns `top`.
    fn column_names<'a>(&'a self, top: &[usize]) -> Vec<&'a str> {
        top.iter().map(|&i| self.info.schema.field(i).name().as_str()).collect()
    }

    /// The schema of the batches readers yield.
    pub fn output_schema(&self) -> Result<SchemaRef> {
        Ok(match &self.projection {
            None => self.info.schema.clone(),
            Some(paths) => Arc::new(project_schema(&self.info.schema, paths)?),
        })
    }

    fn context(&self, snapshot_id: i64) -> String {
        format!("table {} snapshot {snapshot_id}", self.info.path)
    }

    /// The task a split is read with. Of the task it carries, only the file and its deletes
    /// are the split's to say: the schema (the table's current one), the columns and the
    /// filter are derived from this source, so that a split planned elsewhere (or forged)
    /// reads what this source asks for; and since the planner never divides a file, a byte
    /// range short of the whole file (which would drop row groups) is refused. Columns are
    /// resolved by name in the current schema: iceberg's planner takes a few names (`_file`,
    /// `pos`, `file_path`, ...) for its metadata columns, this takes them for the table's own.
    fn read_task(&self, split: &IcebergSplit, top: &[usize]) -> Result<FileScanTask> {
        let context = self.context(split.snapshot_id);
        let original = &split.task;
        let whole = original.start == 0 && original.length == original.file_size_in_bytes;
        if !whole {
            return Err(Error::corrupt(format!(
                "{context} file {}: the split reads {} bytes from byte {} of a {}-byte file; \
                 splits here read the whole file",
                original.data_file_path, original.length, original.start, original.file_size_in_bytes
            )));
        }
        // the table's current schema, the one its info (and so the union read) has: Iceberg
        // reads a file written under an older one by field id, a column it lacks as null
        let schema = self.table.metadata().current_schema().clone();
        let project_field_ids = self
            .column_names(top)
            .into_iter()
            .map(|name| {
                schema
                    .field_id_by_name(name)
                    .ok_or_else(|| Error::corrupt(format!("{context}: the table's schema has no column {name}")))
            })
            .collect::<Result<Vec<i32>>>()?;
        let predicate = match &self.filter {
            Some(filter) => Some(
                filter
                    .clone()
                    .bind(schema.clone(), true)
                    .map_err(iceberg_err(&context))?,
            ),
            None => None,
        };
        let mut task = original.clone();
        task.schema = schema;
        task.project_field_ids = project_field_ids;
        task.predicate = predicate;
        task.case_sensitive = true;
        task.name_mapping = name_mapping(&self.table)?;
        Ok(task)
    }
}

/// Table properties naming where data (and delete) files are written instead of under the
/// table's location: Iceberg's current one, the object-storage layout's, and the older one
/// its writers still honour.
const DATA_PATH_PROPERTIES: [&str; 3] = [
    "write.data.path",
    "write.object-storage.path",
    "write.folder-storage.path",
];

/// Fails unless `file` lies under the table's location or a data path its properties name
/// ([`DATA_PATH_PROPERTIES`]): a split from a hostile or confused planner must not read
/// arbitrary files. The error names the table's location.
fn check_in_table(metadata: &TableMetadata, file: &str, what: &str) -> Result<()> {
    let properties = metadata.properties();
    let mut data_paths = DATA_PATH_PROPERTIES.iter().filter_map(|p| properties.get(*p));
    if data_paths.any(|root| check_inside(root, file, what).is_ok()) {
        return Ok(());
    }
    check_inside(metadata.location(), file, what)
}

#[async_trait]
impl LakeSource for IcebergSource {
    fn with_project(&mut self, paths: &[Vec<usize>]) -> Result<()> {
        project_schema(&self.info.schema, paths)?;
        self.projection = Some(paths.to_vec());
        Ok(())
    }

    fn with_filters(&mut self, filters: Vec<Predicate>) -> FilterPushDown {
        let evolved = EvolvedColumns::of(self.table.metadata());
        let converter = IcebergFilters {
            schema: &self.info.schema,
            retyped: &evolved.retyped,
            defaulted: &evolved.defaulted,
        };
        let (converted, report) = push_down(&converter, filters);
        // `NOT` pushed into the leaves once, as the planner and every reader want it
        let converted: Vec<IcebergPredicate> = converted.into_iter().map(|p| p.rewrite_not()).collect();
        // a filter Iceberg may apply leniently to files that lack one of its columns
        // still prunes, and the engine checks it again
        let mut checked = FilterPushDown {
            accepted: Vec::new(),
            remaining: report.remaining,
        };
        for (p, c) in report.accepted.into_iter().zip(&converted) {
            match may_keep_extra_rows(c, &evolved.lackable) {
                true => checked.remaining.push(p),
                false => checked.accepted.push(p),
            }
        }
        self.filter = converted.into_iter().reduce(|a, b| a.and(b));
        checked
    }

    fn with_limit(&mut self, limit: usize) {
        self.limit = Some(limit);
    }

    async fn create_planner(&self, snapshot_id: i64) -> Result<Box<dyn Planner>> {
        if self.table.metadata().snapshot_by_id(snapshot_id).is_none() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("table {}: no snapshot {snapshot_id}", self.info.path),
            ));
        }
        Ok(Box::new(IcebergPlanner {
            source: self.clone(),
            snapshot_id,
        }))
    }

    async fn create_reader(&self, split: Arc<dyn LakeSplit>) -> Result<Box<dyn RecordReader>> {
        let split = split
            .as_any()
            .downcast_ref::<IcebergSplit>()
            .ok_or_else(|| Error::invalid(format!("not an Iceberg split: {split:?}")))?;
        let metadata = self.table.metadata();
        check_in_table(metadata, &split.task.data_file_path, "data file")?;
        for d in &split.task.deletes {
            check_in_table(metadata, &d.file_path, "delete file")?;
            refuse_deletion_vector(&self.info, split, &d.file_path)?;
            check_equality_ids(self.table.metadata(), split, d)?;
        }
        let (mut top, mut paths) = self.top_level_projection();
        if top.is_empty() {
            // iceberg 0.10 decodes every column of a file asked for none (a count, which
            // could fetch every BLOB payload): ask for one narrow column, and drop it
            if let Some(i) = count_column(&self.info, self.table.metadata().current_schema()) {
                (top, paths) = (vec![i], Some(Vec::new()));
            }
        }
        let task = self.read_task(split, &top)?;
        let read_schema = Arc::new(
            self.info
                .schema
                .project(&top)
                .map_err(|e| Error::invalid(e.to_string()))?,
        );
        Ok(Box::new(IcebergReader {
            key_order: split.sorted.then(|| self.info.primary_key.clone()),
            table: self.table.clone(),
            context: format!("{} file {}", self.context(split.snapshot_id), task.data_file_path),
            task,
            read_schema,
            output_schema: self.output_schema()?,
            paths,
            limit: self.limit,
            batch_size: self.batch_size,
        }))
    }

    fn split_serializer(&self) -> Arc<dyn SplitSerializer> {
        Arc::new(IcebergSplitSerializer)
    }
}

/// The column a read of no columns decodes in their stead. iceberg decodes every column of
/// a file that has none of those asked for, so the first key column, which every file of
/// the table has; else never bytes or a nested value while another column is there (a
/// BLOB's payloads are what a count must not fetch), then a column every file has
/// (required, and no default for files written before it was added), then the narrowest
/// kind (fixed-width, then text) and the oldest (lowest field id).
fn count_column(info: &TableInfo, schema: &iceberg::spec::Schema) -> Option<usize> {
    if let Some(i) = info.primary_key.first().and_then(|k| info.column_index(k).ok()) {
        return Some(i);
    }
    let width = |t: &DataType| match t {
        t if t.is_primitive() || *t == DataType::Boolean => 0,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 1,
        _ => 2,
    };
    info.schema
        .fields()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let field = schema.field_by_name(f.name())?;
            let in_every_file = field.required && field.initial_default.is_none();
            let width = width(f.data_type());
            Some((i, (width == 2, !in_every_file, width, field.id)))
        })
        .min_by_key(|&(_, rank)| rank)
        .map(|(i, _)| i)
}

/// iceberg 0.10 would read a v3 deletion vector (a Puffin blob) as a Parquet position
/// delete file and fail obscurely, or worse: refuse it up front.
fn refuse_deletion_vector(info: &TableInfo, split: &IcebergSplit, delete_file: &str) -> Result<()> {
    if delete_file.ends_with(".puffin") {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "table {} snapshot {} file {}: its deletes are a v3 deletion vector ({delete_file}), \
                 which the iceberg crate 0.10 cannot apply",
                info.path, split.snapshot_id, split.task.data_file_path
            ),
        ));
    }
    Ok(())
}

/// Fails unless an equality delete names its columns, each one the table has had: iceberg
/// 0.10 unwraps the ids (a panic in its delete loader) and looks each up by id.
fn check_equality_ids(
    metadata: &iceberg::spec::TableMetadata,
    split: &IcebergSplit,
    delete: &iceberg::scan::FileScanTaskDeleteFile,
) -> Result<()> {
    if delete.file_type != iceberg::spec::DataContentType::EqualityDeletes {
        return Ok(());
    }
    let known = |id: &i32| metadata.schemas_iter().any(|s| s.field_by_id(*id).is_some());
    match delete.equality_ids.as_deref() {
        Some(ids) if !ids.is_empty() && ids.iter().all(known) => Ok(()),
        ids => Err(Error::corrupt(format!(
            "snapshot {} file {}: equality delete file {} names equality ids {ids:?}, not columns of the table",
            split.snapshot_id, split.task.data_file_path, delete.file_path
        ))),
    }
}

fn name_mapping(table: &Table) -> Result<Option<Arc<NameMapping>>> {
    match table.metadata().properties().get(DEFAULT_SCHEMA_NAME_MAPPING) {
        None => Ok(None),
        Some(json) => serde_json::from_str(json).map(|m| Some(Arc::new(m))).map_err(|e| {
            Error::corrupt(format!(
                "table {}: property {DEFAULT_SCHEMA_NAME_MAPPING} is not a name mapping: {e}",
                table.identifier()
            ))
        }),
    }
}

struct IcebergPlanner {
    source: IcebergSource,
    snapshot_id: i64,
}

#[async_trait]
impl Planner for IcebergPlanner {
    async fn plan(&mut self) -> Result<Vec<Arc<dyn LakeSplit>>> {
        let source = &self.source;
        let context = source.context(self.snapshot_id);
        let metadata = source.table.metadata();
        let snapshot_schema = metadata
            .snapshot_by_id(self.snapshot_id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("{context}: no such snapshot")))?
            .schema(metadata)
            .map_err(iceberg_err(&context))?;
        // the columns are the readers' to choose, in the current schema (`read_task`); the
        // snapshot's schema may name them otherwise, or lack them
        let mut scan = source.table.scan().snapshot_id(self.snapshot_id).select_empty();
        if let Some(filter) = &source.filter {
            scan = scan.with_filter(for_snapshot_schema(
                filter.clone(),
                metadata.current_schema(),
                &snapshot_schema,
            ));
        }
        let scan = scan.build().map_err(iceberg_err(&context))?;
        let mut tasks: Vec<FileScanTask> = scan
            .plan_files()
            .await
            .map_err(iceberg_err(&context))?
            .try_collect()
            .await
            .map_err(iceberg_err(&context))?;
        // iceberg reads manifests concurrently and yields their files as they come: one
        // order, so that a read (and the files a limit stops at) is the same on every run
        tasks.sort_by(|a, b| (&a.data_file_path, a.start).cmp(&(&b.data_file_path, b.start)));
        let key = source.info.primary_key.as_slice();
        let facts = FileFacts::read(&source.table, key, self.snapshot_id, &context).await?;
        let mut splits: Vec<Arc<dyn LakeSplit>> = Vec::with_capacity(tasks.len());
        let mut planned_rows: u64 = 0;
        let mut locator = FileLocator::new(metadata, &facts.spec_ids)?;
        for task in tasks {
            if let Some(limit) = source.limit
                && source.filter.is_none()
                && planned_rows >= limit as u64
            {
                break;
            }
            let (partition, bucket) = locator
                .locate(&task)
                .map_err(|e| e.context(format!("{context} file {}", task.data_file_path)))?;
            // only whole files without deletes count towards the limit
            if task.deletes.is_empty() {
                planned_rows = planned_rows.saturating_add(task.record_count.unwrap_or(0));
            }
            let split = IcebergSplit {
                snapshot_id: self.snapshot_id,
                bucket,
                partition,
                sorted: facts.key_sorted.contains(&task.data_file_path),
                task,
            };
            for d in &split.task.deletes {
                refuse_deletion_vector(&source.info, &split, &d.file_path)?;
            }
            splits.push(Arc::new(split));
        }
        Ok(splits)
    }
}

/// The Fluss partition and bucket of data files, each located with the partition spec it
/// was written with (iceberg 0.10's tasks do not say which: [`FileFacts::spec_ids`]) and
/// then placed in the current spec's ([`TableLayout::relocate`]).
pub(crate) struct FileLocator<'a> {
    metadata: &'a TableMetadata,
    spec_ids: &'a HashMap<String, i32>,
    current: TableLayout,
    /// One layout per older spec, not per file.
    older: HashMap<i32, TableLayout>,
}

impl<'a> FileLocator<'a> {
    pub(crate) fn new(metadata: &'a TableMetadata, spec_ids: &'a HashMap<String, i32>) -> Result<Self> {
        Ok(Self {
            metadata,
            spec_ids,
            current: TableLayout::of(metadata.default_partition_spec(), metadata.current_schema())?,
            older: HashMap::new(),
        })
    }

    /// The layout of the current spec.
    pub(crate) fn current(&self) -> &TableLayout {
        &self.current
    }

    /// A task's partition and bucket in the current spec (a bucket of `None` where its
    /// spec buckets otherwise).
    pub(crate) fn locate(&mut self, task: &FileScanTask) -> Result<(Vec<String>, Option<u32>)> {
        let Some(data) = &task.partition else {
            return Ok((Vec::new(), None));
        };
        let default_id = self.metadata.default_partition_spec_id();
        let spec_id = match self.spec_ids.get(&task.data_file_path) {
            Some(&id) => id,
            // no spec known for the file: the table has had one spec only
            None if self.spec_ids.is_empty() => default_id,
            None => return Err(Error::corrupt("the file is in no manifest of the snapshot")),
        };
        if spec_id == default_id {
            return self.current.locate(data);
        }
        let layout = match self.older.entry(spec_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let spec = self
                    .metadata
                    .partition_spec_by_id(spec_id)
                    .ok_or_else(|| Error::corrupt(format!("no partition spec {spec_id}")))?;
                e.insert(TableLayout::of(spec, self.metadata.current_schema())?)
            }
        };
        let located = layout.locate(data)?;
        self.current.relocate(layout, located, spec_id)
    }
}

/// What planning and tiering need of a snapshot's data files that iceberg 0.10's scan
/// tasks do not carry, from the manifests (read only when some fact is wanted).
#[derive(Default)]
pub(crate) struct FileFacts {
    /// The files whose sort order is the primary key's.
    key_sorted: HashSet<String>,
    /// Each file's partition spec, where the table has had more than one (else every file
    /// has the default one).
    pub(crate) spec_ids: HashMap<String, i32>,
}

impl FileFacts {
    /// The facts of `snapshot_id`'s files; which of them are sorted by `key` only where a
    /// key is given (not empty).
    pub(crate) async fn read(table: &Table, key: &[String], snapshot_id: i64, context: &str) -> Result<Self> {
        let mut facts = Self::default();
        let metadata = table.metadata();
        let key_orders: HashSet<i64> = match key {
            [] => HashSet::new(),
            key => metadata
                .sort_orders_iter()
                .filter(|o| key_sort_columns(o, metadata.current_schema()).as_deref() == Some(key))
                .map(|o| o.order_id)
                .collect(),
        };
        let want_orders = !key_orders.is_empty();
        let want_specs = metadata.partition_specs_iter().nth(1).is_some();
        let Some(snapshot) = metadata.snapshot_by_id(snapshot_id) else {
            return Ok(facts);
        };
        if !want_orders && !want_specs {
            return Ok(facts);
        }
        let list = table
            .manifest_list_reader(snapshot)
            .load()
            .await
            .map_err(iceberg_err(context))?;
        for manifest_file in list.entries() {
            if manifest_file.content != ManifestContentType::Data {
                continue;
            }
            let manifest = manifest_file
                .load_manifest(table.file_io())
                .await
                .map_err(iceberg_err(context))?;
            for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                let path = entry.file_path();
                let order = entry.data_file().sort_order_id();
                if want_orders && order.is_some_and(|o| key_orders.contains(&i64::from(o))) {
                    facts.key_sorted.insert(path.to_string());
                }
                if want_specs {
                    facts.spec_ids.insert(path.to_string(), manifest_file.partition_spec_id);
                }
            }
        }
        Ok(facts)
    }
}

struct IcebergReader {
    /// The primary key, when the file's rows come in its order.
    key_order: Option<Vec<String>>,
    table: Table,
    task: FileScanTask,
    context: String,
    read_schema: SchemaRef,
    output_schema: SchemaRef,
    paths: Option<Vec<Vec<usize>>>,
    limit: Option<usize>,
    batch_size: usize,
}

#[async_trait]
impl RecordReader for IcebergReader {
    fn schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    fn as_sorted(&self) -> Option<&dyn SortedRecordReader> {
        self.key_order.as_ref().map(|_| self as &dyn SortedRecordReader)
    }

    async fn read(self: Box<Self>) -> Result<RecordBatchStream> {
        let this = *self;
        let reader = this
            .table
            .reader_builder()
            .with_batch_size(this.batch_size)
            .with_data_file_concurrency_limit(1)
            .build();
        let tasks = futures::stream::iter([Ok(this.task)]).boxed();
        let context = Arc::new(this.context);
        let stream = reader.read(tasks).map_err(iceberg_err(context.as_ref()))?.stream();
        let read_schema = this.read_schema;
        let paths = this.paths;
        let stream = stream.map(move |batch| {
            let batch = batch.map_err(iceberg_err(context.as_ref()))?;
            let batch = conform(&batch, &read_schema, context.as_ref())?;
            match &paths {
                Some(p) => project_batch(&batch, p),
                None => Ok(batch),
            }
        });
        Ok(RecordBatchStream::new(this.output_schema, stream).with_row_limit(this.limit))
    }
}

impl SortedRecordReader for IcebergReader {
    fn key_order(&self) -> &[String] {
        self.key_order.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::{Field, Schema};
    use iceberg::spec::{NestedField, PrimitiveType, Schema as IcebergSchema, Type};
    use lake_api::TablePath;

    use super::*;

    #[test]
    fn a_read_of_no_columns_decodes_one_narrow_column_every_file_has() -> Result<()> {
        // iceberg 0.10 decodes every column of a file for a projection of none: a count
        // of a table with BLOBs fetched every payload
        let arrow = Arc::new(Schema::new(vec![
            Field::new("payload", DataType::LargeBinary, true),
            Field::new("name", DataType::Utf8, false),
            Field::new("late", DataType::Int32, true),
            Field::new("id", DataType::Int64, false),
        ]));
        let iceberg = IcebergSchema::builder()
            .with_fields(vec![
                NestedField::optional(1, "payload", Type::Primitive(PrimitiveType::Binary)).into(),
                NestedField::required(2, "name", Type::Primitive(PrimitiveType::String)).into(),
                NestedField::optional(9, "late", Type::Primitive(PrimitiveType::Int)).into(),
                NestedField::required(3, "id", Type::Primitive(PrimitiveType::Long)).into(),
            ])
            .build()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let path = TablePath::new("db", "t");
        // a required fixed-width column: not the optional one added since (id 9), nor the
        // wider required one
        let log = TableInfo::log_table(path.clone(), arrow.clone(), 1);
        assert_eq!(count_column(&log, &iceberg), Some(3));
        // a key column, which every file has
        let keyed = TableInfo::primary_key_table(path.clone(), arrow, vec!["name".into()], 1);
        assert_eq!(count_column(&keyed, &iceberg), Some(1));
        // no fixed-width column: the text, never the BLOB, older as it is
        let wide = Arc::new(Schema::new(vec![
            Field::new("payload", DataType::LargeBinary, true),
            Field::new("name", DataType::Utf8, false),
        ]));
        let wide = TableInfo::log_table(path.clone(), wide, 1);
        assert_eq!(count_column(&wide, &iceberg), Some(1));
        // all optional: the narrowest, then the oldest
        let optional = IcebergSchema::builder()
            .with_fields(vec![
                NestedField::optional(1, "payload", Type::Primitive(PrimitiveType::Binary)).into(),
                NestedField::optional(2, "name", Type::Primitive(PrimitiveType::String)).into(),
            ])
            .build()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let both = Arc::new(Schema::new(vec![
            Field::new("payload", DataType::LargeBinary, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        assert_eq!(
            count_column(&TableInfo::log_table(path.clone(), both, 1), &optional),
            Some(1)
        );
        // bytes never before another column, required or not; a required column added
        // with a default is missing from older files
        let mixed = IcebergSchema::builder()
            .with_fields(vec![
                NestedField::required(1, "payload", Type::Primitive(PrimitiveType::Binary)).into(),
                NestedField::required(3, "n", Type::Primitive(PrimitiveType::Int))
                    .with_initial_default(iceberg::spec::Literal::int(0))
                    .into(),
                NestedField::required(4, "name", Type::Primitive(PrimitiveType::String)).into(),
            ])
            .build()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let columns = Arc::new(Schema::new(vec![
            Field::new("payload", DataType::LargeBinary, false),
            Field::new("n", DataType::Int32, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        assert_eq!(count_column(&TableInfo::log_table(path, columns, 1), &mixed), Some(2));
        Ok(())
    }
}
