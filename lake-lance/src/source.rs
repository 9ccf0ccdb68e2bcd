//! Reading: a configured scan of one dataset ([`LanceSource`]), its planner (fragments of
//! one version, per partition for partitioned tables and per bucket for datasets with a
//! `__bucket` column) and the reader of one split.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use lake_api::blob::{BlobMode, BlobResolver};
use lake_api::error::corrupt_on_panic;
use lake_api::lake::{
    LakeSource, LakeSplit, Planner, RecordBatchStream, RecordReader, RunPosition, SortedRecordReader, SplitSerializer,
};
use lake_api::predicate::{FilterPushDown, Predicate, push_down};
use lake_api::project::{project_batch, project_schema, top_level_projection};
use lake_api::table::{date_partition_days, partition_names};
use lake_api::types::{LogicalType, blob_ref_field};
use lake_api::{Error, ErrorKind, Result, TableInfo};
use lance::Dataset;
use lance::datatypes::BlobHandling;
use lance::table::format::Fragment;

use crate::blobs::{LanceBlobResolver, blob_references};
use crate::error::lance_err;
use crate::predicate::{LanceFilters, ident, quote};
use crate::schema::{BUCKET_COLUMN, from_lance, has_bucket_column};
use crate::sorted_runs::{LEGACY_SORTED_FRAGMENTS_KEY, SORTED_BUCKET_RUNS_KEY, SORTED_RUNS_KEY, SortedRuns};
use crate::split::{LanceSplit, LanceSplitSerializer, check_inside, trusted_fragments};

/// The default number of rows per batch read.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// A dataset version a source has opened, with its fragments by id: splits are read with
/// the dataset's own fragment metadata rather than theirs, and a scan has a split per
/// fragment, so the index is built once per version, by the first reader (a planner needs
/// none).
struct OpenVersion {
    dataset: Arc<Dataset>,
    fragments: OnceLock<HashMap<u64, Fragment>>,
}

impl OpenVersion {
    fn new(dataset: Arc<Dataset>) -> Self {
        Self {
            dataset,
            fragments: OnceLock::new(),
        }
    }

    fn fragments(&self) -> &HashMap<u64, Fragment> {
        self.fragments
            .get_or_init(|| self.dataset.fragments().iter().map(|f| (f.id, f.clone())).collect())
    }
}

/// One scan of a Lance dataset: projection, filters and limit, then planning and reading.
#[derive(Clone)]
pub struct LanceSource {
    uri: String,
    info: TableInfo,
    latest: Arc<Dataset>,
    versions: Arc<Mutex<HashMap<u64, Arc<OpenVersion>>>>,
    projection: Option<Vec<Vec<usize>>>,
    filter: Option<String>,
    limit: Option<usize>,
    batch_size: usize,
    blob_mode: BlobMode,
}

impl std::fmt::Debug for LanceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanceSource")
            .field("uri", &self.uri)
            .field("projection", &self.projection)
            .field("filter", &self.filter)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl LanceSource {
    pub(crate) fn new(uri: String, info: TableInfo, latest: Arc<Dataset>) -> Self {
        Self {
            uri,
            info,
            latest,
            versions: Arc::default(),
            projection: None,
            filter: None,
            limit: None,
            batch_size: DEFAULT_BATCH_SIZE,
            blob_mode: BlobMode::Payloads,
        }
    }

    /// Sets the number of rows per batch.
    pub fn with_batch_size(&mut self, batch_size: usize) {
        // (Lance counts a batch's rows in 32 bits)
        self.batch_size = batch_size.clamp(1, u32::MAX as usize);
    }

    /// The table's lakeunion metadata.
    pub fn info(&self) -> &TableInfo {
        &self.info
    }

    fn context(&self, version: u64) -> String {
        format!("table {} version {version} ({})", self.info.path, self.uri)
    }

    /// The dataset at a split's version from the manifest the split carries, checked to be
    /// that version and to hold exactly the split's fragments (a split is input: a forged
    /// manifest must not widen what it reads).
    async fn open_split_manifest(&self, split: &LanceSplit, manifest: &[u8]) -> Result<Arc<Dataset>> {
        let context = self.context(split.version);
        // lance's decoder does unchecked arithmetic on the manifest's counts and timestamp
        let builder = corrupt_on_panic(format!("{context}: the split's manifest"), || {
            lance::dataset::builder::DatasetBuilder::from_uri(&self.uri)
                .with_serialized_manifest(manifest)
                .map_err(|e| Error::corrupt(format!("{context}: the split's manifest: {e}")))
        })?;
        let dataset = builder.load().await.map_err(lance_err(&context))?;
        if dataset.version_id() != split.version || dataset.fragments().as_slice() != split.fragments.as_slice() {
            return Err(Error::corrupt(format!(
                "{context}: the split's manifest is of version {} with fragments {:?}, not the split's",
                dataset.version_id(),
                dataset.fragments().iter().map(|f| f.id).collect::<Vec<_>>()
            )));
        }
        Ok(Arc::new(dataset))
    }

    /// The dataset at `version`, opened (and its fragments indexed) once per source.
    async fn at_version(&self, version: u64) -> Result<Arc<OpenVersion>> {
        let cache = || self.versions.lock().map_err(|_| Error::invalid("poisoned cache"));
        if let Some(open) = cache()?.get(&version) {
            return Ok(open.clone());
        }
        let dataset = if self.latest.version_id() == version {
            self.latest.clone()
        } else {
            Arc::new(
                self.latest
                    .checkout_version(version)
                    .await
                    .map_err(lance_err(self.context(version)))?,
            )
        };
        let open = Arc::new(OpenVersion::new(dataset));
        cache()?.insert(version, open.clone());
        Ok(open)
    }

    fn output_schema(&self) -> Result<SchemaRef> {
        let schema = match &self.projection {
            None => self.info.schema.clone(),
            Some(paths) => Arc::new(project_schema(&self.info.schema, paths)?),
        };
        Ok(self.blob_mode.schema_of(&schema))
    }

    /// The filter selecting a split's partition, from the partition itself. The one the
    /// split carries is SQL from its planner: it is checked against this rather than run
    /// (`true) OR (true` would undo every other filter of the read).
    fn partition_filter_of(&self, split: &LanceSplit) -> Result<Option<String>> {
        let keys = &self.info.partition_keys;
        if split.partition.len() != keys.len() {
            return Err(Error::corrupt(format!(
                "a split names partition {:?} of a table partitioned by {keys:?}",
                split.partition
            )));
        }
        let expected = partition_filter(&self.info, &split.partition)?;
        if split.partition_filter != expected {
            return Err(Error::corrupt(format!(
                "a split of partition {:?} carries the filter {:?}, not that partition's",
                split.partition, split.partition_filter
            )));
        }
        Ok(expected)
    }
}

#[async_trait]
impl LakeSource for LanceSource {
    fn with_project(&mut self, paths: &[Vec<usize>]) -> Result<()> {
        project_schema(&self.info.schema, paths)?;
        self.projection = Some(paths.to_vec());
        Ok(())
    }

    fn with_filters(&mut self, filters: Vec<Predicate>) -> FilterPushDown {
        let converter = LanceFilters {
            schema: &self.info.schema,
        };
        let (sql, report) = push_down(&converter, filters);
        self.filter = and_all(sql);
        report
    }

    fn with_limit(&mut self, limit: usize) {
        self.limit = Some(limit);
    }

    async fn create_planner(&self, snapshot_id: i64) -> Result<Box<dyn Planner>> {
        let version = u64::try_from(snapshot_id).map_err(|_| {
            Error::new(
                ErrorKind::NotFound,
                format!("table {}: no version {snapshot_id}", self.info.path),
            )
        })?;
        let dataset = self.at_version(version).await?.dataset.clone();
        Ok(Box::new(LancePlanner {
            source: self.clone(),
            dataset,
        }))
    }

    async fn create_reader(&self, split: Arc<dyn LakeSplit>) -> Result<Box<dyn RecordReader>> {
        let split = split
            .as_any()
            .downcast_ref::<LanceSplit>()
            .ok_or_else(|| Error::invalid(format!("not a Lance split: {split:?}")))?
            .clone();
        check_inside(&split, &self.uri)?;
        let partition_filter = self.partition_filter_of(&split)?;
        // A worker that never saw the version opens it from the manifest the split carries
        // (no catalog round trip); that manifest is then what the split is checked against.
        // Otherwise the split's fragments are replaced by the dataset's own.
        let (dataset, fragments) = match &split.manifest {
            Some(manifest) if split.version != self.latest.version_id() => {
                let dataset = self.open_split_manifest(&split, manifest).await?;
                (dataset, split.fragments.clone())
            }
            _ => {
                let open = self.at_version(split.version).await?;
                let fragments = trusted_fragments(&split, open.fragments(), &self.context(split.version))?;
                (open.dataset.clone(), fragments)
            }
        };
        // a split planned without buckets would merge every bucket's rows as one; whether
        // the table keeps buckets is its own to say, not a split's manifest's
        if split.bucket.is_none() && (has_bucket_column(&dataset) || has_bucket_column(&self.latest)) {
            return Err(Error::invalid(format!(
                "{}: the split names no bucket, but the dataset keeps each row's bucket (was it planned by an older build?)",
                self.context(split.version)
            )));
        }
        if let Some(bucket) = split.bucket.filter(|b| *b >= self.info.bucket_count) {
            return Err(Error::corrupt(format!(
                "{}: the split names bucket {bucket}, but the table has {} buckets",
                self.context(split.version),
                self.info.bucket_count
            )));
        }
        let (top, paths) = top_level_projection(self.info.schema.fields().len(), self.projection.as_deref());
        let read_schema = Arc::new(
            self.info
                .schema
                .project(&top)
                .map_err(|e| Error::invalid(e.to_string()))?,
        );
        // a bucket's split reads that bucket's rows whatever filter it came with
        let bucket_filter = split.bucket.map(|b| format!("{BUCKET_COLUMN} = {b}"));
        let filter = and_all(
            [self.filter.clone(), partition_filter, bucket_filter]
                .into_iter()
                .flatten(),
        );
        Ok(Box::new(LanceReader {
            key_order: (split.sorted && self.info.has_primary_key()).then(|| self.info.primary_key.clone()),
            context: self.context(split.version),
            dataset,
            fragments,
            filter,
            read_schema,
            output_schema: self.output_schema()?,
            paths,
            limit: self.limit,
            batch_size: self.batch_size,
            blob_mode: self.blob_mode,
        }))
    }

    fn split_serializer(&self) -> Arc<dyn SplitSerializer> {
        Arc::new(LanceSplitSerializer)
    }

    fn with_blob_mode(&mut self, mode: BlobMode) -> Result<()> {
        self.blob_mode = mode;
        Ok(())
    }

    fn blob_resolver(&self) -> Option<Arc<dyn BlobResolver>> {
        (self.blob_mode == BlobMode::References)
            .then(|| Arc::new(LanceBlobResolver::new(self.latest.clone())) as Arc<dyn BlobResolver>)
    }
}

struct LancePlanner {
    source: LanceSource,
    dataset: Arc<Dataset>,
}

impl LancePlanner {
    /// The version's manifest holding only `fragment`, as protobuf bytes: what a worker
    /// needs to open the version for this split.
    fn pruned_manifest(&self, fragment: &Fragment) -> Vec<u8> {
        use prost::Message;
        let mut manifest = self.dataset.manifest().clone();
        manifest.fragments = Arc::new(vec![fragment.clone()]);
        // the runs of every sorted fragment would make the plan grow with the square of the
        // fragment count; the split carries its own place in its run
        manifest.table_metadata.remove(SORTED_RUNS_KEY);
        manifest.table_metadata.remove(SORTED_BUCKET_RUNS_KEY);
        manifest.table_metadata.remove(LEGACY_SORTED_FRAGMENTS_KEY);
        lance::table::format::pb::Manifest::from(&manifest).encode_to_vec()
    }

    fn split(
        &self,
        fragment: Fragment,
        run: Option<RunPosition>,
        partition: Vec<String>,
        filter: Option<String>,
        bucket: Option<u32>,
    ) -> Arc<dyn LakeSplit> {
        Arc::new(LanceSplit {
            version: self.dataset.version_id(),
            sorted: run.is_some(),
            run,
            manifest: Some(self.pruned_manifest(&fragment)),
            fragments: vec![fragment],
            partition,
            partition_filter: filter,
            bucket,
        })
    }

    /// The fragments, each with its place in a key-sorted run: a primary-key table's sorted
    /// runs first, in key order, then every other fragment (`None`: not known sorted). A run
    /// stays one split per fragment, so that plain scans read its fragments in parallel; a
    /// union read chains them back into one sorted input.
    fn fragments_in_runs(&self) -> Vec<(Fragment, Option<RunPosition>)> {
        let fragments = self.dataset.fragments();
        let mut left: HashMap<u64, Fragment> = fragments.iter().map(|f| (f.id, f.clone())).collect();
        let runs = if self.source.info.has_primary_key() {
            let bucketed = has_bucket_column(&self.dataset);
            SortedRuns::of_dataset(self.dataset.metadata(), bucketed)
        } else {
            SortedRuns::default()
        };
        let mut out = Vec::with_capacity(fragments.len());
        for run in runs.runs() {
            // a run is named by its first fragment: ids are unique, a fragment is in one run
            let Some(&name) = run.first() else { continue };
            let parts = run.iter().filter_map(|id| left.remove(id));
            for (index, fragment) in (0u32..).zip(parts) {
                out.push((fragment, Some(RunPosition { run: name, index })));
            }
        }
        out.extend(fragments.iter().filter_map(|f| left.remove(&f.id)).map(|f| (f, None)));
        out
    }

    /// The (partition, bucket) groups whose rows `fragment` holds, from its partition
    /// columns and, where the dataset keeps buckets, its bucket column.
    async fn groups_of(&self, fragment: &Fragment, buckets: bool) -> Result<BTreeSet<(Vec<String>, Option<u32>)>> {
        let keys = &self.source.info.partition_keys;
        let context = self.source.context(self.dataset.version_id());
        let mut columns: Vec<&str> = keys.iter().map(String::as_str).collect();
        if buckets {
            columns.push(BUCKET_COLUMN);
        }
        let mut scanner = self.dataset.scan();
        scanner.with_fragments(vec![fragment.clone()]);
        scanner.project(&columns).map_err(lance_err(&context))?;
        let mut batches = scanner.try_into_stream().await.map_err(lance_err(&context))?;
        let mut groups = BTreeSet::new();
        while let Some(batch) = batches.try_next().await.map_err(lance_err(&context))? {
            self.add_groups(&batch, fragment, buckets, &context, &mut groups)?;
        }
        Ok(groups)
    }

    /// Adds the (partition, bucket) groups of `batch`'s rows to `groups`. Rows of one group
    /// mostly come together, so a row like the one before it costs no allocation.
    fn add_groups(
        &self,
        batch: &RecordBatch,
        fragment: &Fragment,
        buckets: bool,
        context: &str,
        groups: &mut BTreeSet<(Vec<String>, Option<u32>)>,
    ) -> Result<()> {
        use arrow_array::Array;
        let bucket_count = self.source.info.bucket_count;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::schema(format!("{context}: column {name} is missing")))
        };
        let partitions = self
            .source
            .info
            .partition_keys
            .iter()
            .map(|k| {
                // a stored value that cannot be named is damage, not a bad request
                partition_names(k, column(k)?).map_err(|e| match e.kind() {
                    ErrorKind::InvalidArgument => e.with_kind(ErrorKind::Corrupt).context(context),
                    _ => e,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bucket_values = match buckets {
            true => Some(
                column(BUCKET_COLUMN)?
                    .as_any()
                    .downcast_ref::<arrow_array::Int32Array>()
                    .ok_or_else(|| Error::schema(format!("{context}: {BUCKET_COLUMN} is not Int32")))?
                    .clone(),
            ),
            false => None,
        };
        let mut last: Option<(Vec<String>, Option<u32>)> = None;
        for row in 0..batch.num_rows() {
            if partitions.iter().any(|c| c.is_null(row)) {
                return Err(Error::corrupt(format!("{context}: a null partition value")));
            }
            let bucket = match &bucket_values {
                None => None,
                Some(b) => {
                    let value = (!b.is_null(row)).then(|| b.value(row));
                    Some(
                        value
                            .and_then(|v| u32::try_from(v).ok())
                            .filter(|v| *v < bucket_count)
                            .ok_or_else(|| {
                                Error::corrupt(format!(
                                    "{context}: fragment {} holds a row of bucket {value:?}, not one of the table's {bucket_count}",
                                    fragment.id,
                                ))
                            })?,
                    )
                }
            };
            let same = last.as_ref().is_some_and(|(values, b)| {
                *b == bucket && values.iter().zip(&partitions).all(|(v, c)| v == c.value(row))
            });
            if !same {
                let values = partitions.iter().map(|c| c.value(row).to_string()).collect();
                let group = (values, bucket);
                groups.insert(group.clone());
                last = Some(group);
            }
        }
        Ok(())
    }
}

/// The SQL conjunction of `filters`, as one flat chain: Lance's SQL parser reads a chain of
/// `AND`s at one depth, where nesting each pair (`((a) AND (b)) AND (c)`) costs a level
/// per filter, and it stops at a depth of 50.
fn and_all(filters: impl IntoIterator<Item = String>) -> Option<String> {
    let filters: Vec<String> = filters.into_iter().collect();
    match filters.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        all => Some(all.iter().map(|f| format!("({f})")).collect::<Vec<_>>().join(" AND ")),
    }
}

/// How many fragments a planner scans for their partitions and buckets at once.
const GROUP_SCANS_AT_ONCE: usize = 8;

/// The SQL filter selecting one partition's rows; `None` for a table without partitions.
///
/// A partition is named by its values' text (as the planner casts them to strings), so a
/// key of another type (an integer, boolean or date, which Lance will not compare with a
/// string literal) is compared as its cast to a string: the same text for the same value.
fn partition_filter(info: &TableInfo, values: &[String]) -> Result<Option<String>> {
    let keys = &info.partition_keys;
    if keys.is_empty() {
        return Ok(None);
    }
    let filter = keys
        .iter()
        .zip(values)
        .map(|(k, v)| {
            let column = ident(k).ok_or_else(|| Error::invalid(format!("partition key {k}")))?;
            let field = info
                .schema
                .field_with_name(k)
                .map_err(|_| Error::schema(format!("partition key {k} is not a column of the table")))?;
            Ok(match field.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!("{column} = {}", quote(v)),
                // by the day: a date's text in SQL is not the partition's past year 9999
                DataType::Date32 => {
                    let days = date_partition_days(v)
                        .ok_or_else(|| Error::corrupt(format!("partition {k}={v} names no date")))?;
                    format!("CAST({column} AS BIGINT) = {days}")
                }
                _ => format!("CAST({column} AS STRING) = {}", quote(v)),
            })
        })
        .collect::<Result<Vec<_>>>()?
        .join(" AND ");
    Ok(Some(filter))
}

#[async_trait]
impl Planner for LancePlanner {
    async fn plan(&mut self) -> Result<Vec<Arc<dyn LakeSplit>>> {
        let fragments = self.fragments_in_runs();
        let keys = self.source.info.partition_keys.clone();
        let buckets = has_bucket_column(&self.dataset);
        if keys.is_empty() && !buckets {
            return Ok(fragments
                .into_iter()
                .map(|(fragment, run)| self.split(fragment, run, Vec::new(), None, None))
                .collect());
        }
        // Lance has no partitions or buckets: a fragment is read once per partition (and
        // bucket) it holds, with them as a filter (a run's parts within one group still
        // follow each other)
        // fragments are scanned a few at a time, and their splits kept in fragment order
        let this = &*self;
        let groups: Vec<_> = futures::stream::iter(fragments)
            .map(|(fragment, run)| async move {
                let groups = this.groups_of(&fragment, buckets).await?;
                Ok::<_, Error>((fragment, run, groups))
            })
            .buffered(GROUP_SCANS_AT_ONCE)
            .try_collect()
            .await?;
        let mut splits = Vec::new();
        for (fragment, run, groups) in groups {
            for (values, bucket) in groups {
                let filter = partition_filter(&self.source.info, &values)?;
                splits.push(self.split(fragment.clone(), run, values, filter, bucket));
            }
        }
        Ok(splits)
    }
}

struct LanceReader {
    /// The primary key, when the fragment's rows come in its order.
    key_order: Option<Vec<String>>,
    context: String,
    dataset: Arc<Dataset>,
    fragments: Vec<Fragment>,
    filter: Option<String>,
    read_schema: SchemaRef,
    output_schema: SchemaRef,
    paths: Option<Vec<Vec<usize>>>,
    limit: Option<usize>,
    batch_size: usize,
    blob_mode: BlobMode,
}

#[async_trait]
impl RecordReader for LanceReader {
    fn schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    fn as_sorted(&self) -> Option<&dyn SortedRecordReader> {
        self.key_order.as_ref().map(|_| self as &dyn SortedRecordReader)
    }

    async fn read(self: Box<Self>) -> Result<RecordBatchStream> {
        let this = *self;
        let context = Arc::new(this.context);
        let mut scanner = this.dataset.scan();
        scanner.with_fragments(this.fragments);
        // a sorted fragment is only worth its order if it is read in it
        scanner.scan_in_order(true);
        // BLOB columns read as references are located row by row after the scan, by address
        let (blob_columns, columns): (Vec<(&str, bool)>, Vec<(&str, bool)>) = this
            .read_schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), LogicalType::of(f) == LogicalType::Blob))
            .partition(|(_, blob)| *blob && this.blob_mode == BlobMode::References);
        let blob_columns: Vec<String> = blob_columns.into_iter().map(|(name, _)| name.to_string()).collect();
        let columns: Vec<&str> = columns.into_iter().map(|(name, _)| name).collect();
        scanner.project(&columns).map_err(lance_err(context.as_ref()))?;
        if !blob_columns.is_empty() {
            scanner.with_row_address();
        }
        if let Some(filter) = &this.filter {
            scanner.filter(filter).map_err(lance_err(context.as_ref()))?;
        }
        if let Some(limit) = this.limit {
            scanner
                .limit(Some(i64::try_from(limit).unwrap_or(i64::MAX)), None)
                .map_err(lance_err(context.as_ref()))?;
        }
        scanner.blob_handling(BlobHandling::AllBinary);
        scanner.batch_size(this.batch_size);
        let stream = scanner.try_into_stream().await.map_err(lance_err(context.as_ref()))?;
        let read_schema = this.blob_mode.schema_of(&this.read_schema);
        let paths = Arc::new(this.paths);
        let dataset = this.dataset;
        let blob_columns = Arc::new(blob_columns);
        let stream = stream.then(move |batch| {
            let (context, read_schema, paths) = (context.clone(), read_schema.clone(), paths.clone());
            let (dataset, blob_columns) = (dataset.clone(), blob_columns.clone());
            async move {
                let mut batch = batch.map_err(lance_err(context.as_ref()))?;
                if !blob_columns.is_empty() {
                    batch = with_blob_references_of(&dataset, batch, &blob_columns, &context).await?;
                }
                let batch = from_lance(&batch, &read_schema).map_err(|e| e.context(context.as_ref()))?;
                match paths.as_ref() {
                    Some(p) => project_batch(&batch, p),
                    None => Ok(batch),
                }
            }
        });
        Ok(RecordBatchStream::new(this.output_schema, stream))
    }
}

/// The meta column of row addresses a Lance scan adds on request (`lance_core::ROW_ADDR`,
/// which `lance` does not re-export).
const ROW_ADDR: &str = "_rowaddr";

/// `batch` (a scan with row addresses) plus a reference column for each of `columns`.
async fn with_blob_references_of(
    dataset: &Arc<Dataset>,
    batch: RecordBatch,
    columns: &[String],
    context: &str,
) -> Result<RecordBatch> {
    use arrow_array::cast::AsArray;
    let addrs = batch
        .column_by_name(ROW_ADDR)
        .and_then(|a| a.as_primitive_opt::<arrow_array::types::UInt64Type>())
        .ok_or_else(|| Error::corrupt(format!("{context}: the scan returned no row addresses")))?
        .clone();
    let mut fields: Vec<arrow_schema::FieldRef> = batch.schema().fields().iter().cloned().collect();
    let mut arrays = batch.columns().to_vec();
    for column in columns {
        let refs = blob_references(dataset, &addrs, column, context).await?;
        fields.push(Arc::new(blob_ref_field(column.clone(), true)));
        arrays.push(refs);
    }
    Ok(RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        arrays,
    )?)
}

impl SortedRecordReader for LanceReader {
    fn key_order(&self) -> &[String] {
        self.key_order.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lake_api::lake::LakeStorage;
    use lake_api::{ChangeType, LogBatch, TableBucket, TablePath};
    use lance::table::format::DeletionFile;
    use prost::Message;

    use super::*;
    use crate::test_rows;
    use crate::{LanceConfig, LanceStorage};

    /// A bucket-keeping table tiered twice, and the splits of its first version as a
    /// worker gets them (each with its manifest), for a source of the table.
    async fn old_splits(dir: &std::path::Path) -> Result<(Box<dyn LakeSource>, Vec<LanceSplit>)> {
        let lake = LanceStorage::new(LanceConfig::new(dir.to_string_lossy()).with_bucket_column(true));
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), test_rows::schema(), vec!["k".into()], 2);
        let mut first = None;
        for round in 0..2i64 {
            let batch = test_rows::rows(round * 10..round * 10 + 4)?;
            let mut writer = lake.create_lake_writer(&info).await?;
            writer
                .write(
                    &TableBucket::new(0),
                    &LogBatch::new(batch, vec![ChangeType::Insert; 4], round * 4),
                )
                .await?;
            let snapshot = writer.commit(BTreeMap::new()).await?;
            first.get_or_insert(snapshot.id);
        }
        let first = first.ok_or_else(|| Error::invalid("no round"))?;
        let source = lake.create_lake_source(&info.path).await?;
        let splits = source
            .create_planner(first)
            .await?
            .plan()
            .await?
            .iter()
            .filter_map(|s| s.as_any().downcast_ref::<LanceSplit>().cloned())
            .collect();
        Ok((source, splits))
    }

    /// Regression: a split's manifest was checked only against the split, so one whose
    /// schema left the bucket column out read a bucket-keeping dataset as bucket-unaware
    /// (every bucket's rows merged as one).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_split_without_a_bucket_is_refused_whatever_its_manifest_says() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (source, splits) = old_splits(dir.path()).await?;
        let mut split = splits.first().cloned().ok_or_else(|| Error::invalid("no split"))?;
        let bytes = split.manifest.take().ok_or_else(|| Error::invalid("no manifest"))?;
        let mut manifest =
            lance::table::format::pb::Manifest::decode(bytes.as_slice()).map_err(|e| Error::corrupt(e.to_string()))?;
        let before = manifest.fields.len();
        manifest.fields.retain(|f| f.name != BUCKET_COLUMN);
        assert_eq!(manifest.fields.len() + 1, before);
        split.manifest = Some(manifest.encode_to_vec());
        split.bucket = None;
        let Err(e) = source.create_reader(Arc::new(split)).await else {
            return Err(Error::invalid("a split without its bucket was read"));
        };
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("bucket"), "{e}");
        Ok(())
    }

    /// Regression: a deletion file may name a base path, which a split's manifest sets:
    /// the reader would open `<any base>/_deletions/...`, outside the table.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deletion_file_in_another_base_is_refused() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (source, splits) = old_splits(dir.path()).await?;
        let mut split = splits.first().cloned().ok_or_else(|| Error::invalid("no split"))?;
        for fragment in &mut split.fragments {
            fragment.deletion_file = Some(DeletionFile {
                read_version: 1,
                id: 1,
                file_type: lance::table::format::DeletionFileType::Array,
                num_deleted_rows: Some(1),
                base_id: Some(7),
            });
        }
        // and the manifest it carries says the same
        let bytes = split.manifest.take().ok_or_else(|| Error::invalid("no manifest"))?;
        let mut manifest =
            lance::table::format::pb::Manifest::decode(bytes.as_slice()).map_err(|e| Error::corrupt(e.to_string()))?;
        manifest.fragments = split.fragments.iter().map(Into::into).collect();
        split.manifest = Some(manifest.encode_to_vec());
        let Err(e) = source.create_reader(Arc::new(split)).await else {
            return Err(Error::invalid("a deletion file elsewhere was taken"));
        };
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("deletion file"), "{e}");
        Ok(())
    }
}
