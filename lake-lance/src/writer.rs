//! Tiering into Lance: log tables append; primary-key tables apply each round's changes to
//! the rows of the keys they touch (lake-api's fold, so every merge engine agrees with the
//! union read) and commit them as a `delete` of the lake's keys that end absent and one
//! `merge_insert` of the rest (a plain append, in key order, while the dataset is empty).
//! The commit of the round's rows and the last commit of a round carry its properties
//! (`fluss-offsets`); the last one adds the key-sorted runs of fragments (see
//! [`SORTED_RUNS_KEY`]), which let sort-merge reads skip sorting them. A delete's commit
//! before the rows' carries none: a reader meeting it takes the previous offsets and
//! replays the round from the log, which yields the same rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchIterator};
use arrow_schema::{ArrowError, DataType, SchemaRef};
use async_trait::async_trait;
use futures::TryStreamExt;
use lake_api::lake::{LakeSnapshot, LakeWriter, RoundBatches, keep_round_batch};
use lake_api::{Error, ErrorKind, LogBatch, Result, TableBucket, TableInfo, apply_changes};
use lance::Dataset;
use lance::dataset::transaction::{Operation, TransactionBuilder, UpdateMap, UpdateMapEntry};
use lance::dataset::{
    CommitBuilder, DeleteBuilder, InsertBuilder, MergeInsertBuilder, WhenMatched, WhenNotMatched, WriteMode,
    WriteParams,
};
use lance::datatypes::BlobHandling;

use crate::error::lance_err;
use crate::predicate::{quote, sql_idents};
use crate::schema::{from_lance, has_bucket_column, lance_schema, to_lance};
use crate::sorted_runs::{LEGACY_SORTED_FRAGMENTS_KEY, SortedRuns};
use crate::storage::{open_dataset, snapshot_of};

/// Keys per SQL filter when reading or deleting the rows of touched keys.
const KEYS_PER_FILTER: usize = 2048;

/// Writes one tiering round into a Lance dataset.
pub(crate) struct LanceLakeWriter {
    pub uri: String,
    pub info: TableInfo,
    pub written: RoundBatches,
    /// Rows per data file (fragment) written; `None` leaves Lance's default.
    pub max_rows_per_file: Option<usize>,
    /// Whether a dataset this writer creates keeps each row's bucket.
    pub bucket_column: bool,
}

/// Lance's write parameters with the configured fragment size.
fn write_params(max_rows_per_file: Option<usize>) -> WriteParams {
    let default = WriteParams::default();
    WriteParams {
        // Lance counts a file's rows in a u32
        max_rows_per_file: max_rows_per_file.map_or(default.max_rows_per_file, |n| n.clamp(1, u32::MAX as usize)),
        ..default
    }
}

#[async_trait]
impl LakeWriter for LanceLakeWriter {
    async fn write(&mut self, bucket: &TableBucket, batch: &LogBatch) -> Result<()> {
        keep_round_batch(&self.info, &mut self.written, bucket, batch)
    }

    async fn commit(self: Box<Self>, properties: BTreeMap<String, String>) -> Result<LakeSnapshot> {
        let context = format!("table {} ({})", self.info.path, self.uri);
        let properties: HashMap<String, String> = properties.into_iter().collect();
        let dataset = match open_dataset(&self.uri, None).await {
            Ok(ds) => ds,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let schema = lance_schema(&self.info, self.bucket_column)?;
                create_empty(&self.uri, &schema, &context).await?
            }
            Err(e) => return Err(e),
        };
        // an existing dataset keeps its layout, whatever this writer was configured with
        let keeps_buckets = has_bucket_column(&dataset);
        let schema = lance_schema(&self.info, keeps_buckets)?;
        let dataset = Arc::new(dataset);
        let done = if self.info.has_primary_key() {
            // a key lives in one bucket: the buckets its changes came from say which
            let mut key_buckets: HashMap<Vec<String>, u32> = HashMap::new();
            if keeps_buckets {
                for (bucket, batches) in &self.written {
                    for b in batches {
                        key_buckets.extend(sql_keys(&self.info, &b.batch)?.into_iter().map(|k| (k, bucket.bucket)));
                    }
                }
            }
            let batches: Vec<LogBatch> = self.written.into_values().flatten().collect();
            let round = Round {
                info: &self.info,
                schema: &schema,
                key_buckets: keeps_buckets.then_some(&key_buckets),
                max_rows_per_file: self.max_rows_per_file,
                context: &context,
            };
            apply_round(&round, dataset, batches, properties).await?
        } else {
            let rows: Vec<RecordBatch> = self
                .written
                .iter()
                .flat_map(|(bucket, batches)| batches.iter().map(move |b| (bucket.bucket, b)))
                .filter(|(_, b)| b.batch.num_rows() > 0)
                .map(|(bucket, b)| {
                    let buckets = keeps_buckets.then(|| vec![bucket; b.batch.num_rows()]);
                    to_lance(&b.batch, &schema, buckets)
                })
                .collect::<Result<_>>()?;
            if rows.is_empty() {
                commit_properties(dataset, properties, None, &context).await?
            } else {
                let params = WriteParams {
                    mode: WriteMode::Append,
                    transaction_properties: Some(Arc::new(properties)),
                    ..write_params(self.max_rows_per_file)
                };
                let reader = RecordBatchIterator::new(rows.into_iter().map(Ok::<_, ArrowError>), schema.clone());
                Dataset::write(reader, dataset, Some(params))
                    .await
                    .map_err(lance_err(&context))?
            }
        };
        snapshot_of(&done, done.version_id()).await
    }
}

async fn create_empty(uri: &str, schema: &SchemaRef, context: &str) -> Result<Dataset> {
    let params = WriteParams {
        mode: WriteMode::Create,
        ..WriteParams::default()
    };
    let empty = RecordBatchIterator::new(
        std::iter::empty::<std::result::Result<RecordBatch, ArrowError>>(),
        schema.clone(),
    );
    Dataset::write(empty, uri, Some(params))
        .await
        .map_err(lance_err(format!("{context}: creating the dataset")))
}

/// A commit that changes no rows, to carry a round's properties and, for a primary-key
/// table, its key-sorted runs of fragments (`sorted`, kept to the fragments that still
/// exist).
async fn commit_properties(
    dataset: Arc<Dataset>,
    properties: HashMap<String, String>,
    sorted: Option<SortedRuns>,
    context: &str,
) -> Result<Dataset> {
    let table_metadata_updates = sorted.map(|sorted| {
        let bucketed = has_bucket_column(&dataset);
        let alive: BTreeSet<u64> = dataset.fragments().iter().map(|f| f.id).collect();
        UpdateMap {
            update_entries: vec![
                UpdateMapEntry {
                    key: SortedRuns::key(bucketed).to_string(),
                    value: Some(sorted.to_metadata(&alive)),
                },
                // what older writers kept, now in the runs: removed
                UpdateMapEntry {
                    key: LEGACY_SORTED_FRAGMENTS_KEY.to_string(),
                    value: None,
                },
            ],
            replace: false,
        }
    });
    let operation = Operation::UpdateConfig {
        config_updates: None,
        table_metadata_updates,
        schema_metadata_updates: None,
        field_metadata_updates: HashMap::new(),
    };
    let transaction = TransactionBuilder::new(dataset.version_id(), operation)
        .transaction_properties(Some(Arc::new(properties)))
        .build();
    CommitBuilder::new(dataset)
        .execute(transaction)
        .await
        .map_err(lance_err(format!("{context}: committing the tiered offsets")))
}

/// One SQL conjunction per key: the rows of the touched keys.
fn key_filters(info: &TableInfo, keys: &BTreeSet<Vec<String>>) -> Result<Vec<String>> {
    let columns = sql_idents(info, &info.primary_key)?;
    let keys: Vec<&Vec<String>> = keys.iter().collect();
    Ok(keys
        .chunks(KEYS_PER_FILTER)
        .map(|chunk| {
            chunk
                .iter()
                .map(|values| {
                    let parts: Vec<String> = columns
                        .iter()
                        .zip(values.iter())
                        .map(|(c, v)| key_equals(c, v))
                        .collect();
                    format!("({})", parts.join(" AND "))
                })
                .collect::<Vec<_>>()
                .join(" OR ")
        })
        .collect())
}

/// `column = value` in Lance's SQL. Its parser reads `-9223372036854775808` as a float,
/// which no BIGINT column takes: that key is the one value below the next.
fn key_equals(column: &str, value: &str) -> String {
    if value == i64::MIN.to_string() {
        format!("{column} < {}", i64::MIN + 1)
    } else {
        format!("{column} = {value}")
    }
}

/// The key of each row of `batch`, as SQL literals.
fn sql_keys(info: &TableInfo, batch: &RecordBatch) -> Result<Vec<Vec<String>>> {
    let mut columns: Vec<(ArrayRef, bool)> = Vec::new();
    for k in &info.primary_key {
        let column = batch
            .column_by_name(k)
            .ok_or_else(|| Error::schema(format!("key column {k} is missing")))?;
        let is_string = match column.data_type() {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => false,
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => false,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("table {}: tiering a primary key of type {other} into Lance", info.path),
                ));
            }
        };
        let as_text = lake_api::conform::conform_array(column, &DataType::Utf8)
            .map_err(|e| Error::schema(format!("key column {k}: {e}")))?;
        columns.push((as_text, is_string));
    }
    (0..batch.num_rows())
        .map(|row| {
            columns
                .iter()
                .map(|(c, is_string)| {
                    let c = c.as_string::<i32>();
                    if c.is_null(row) {
                        Err(Error::schema(format!("table {}: a null primary key", info.path)))
                    } else if *is_string {
                        Ok(quote(c.value(row)))
                    } else {
                        Ok(c.value(row).to_string())
                    }
                })
                .collect()
        })
        .collect()
}

/// The lake rows of the touched keys, in the table's schema: nothing for an empty
/// dataset, one full scan kept to the touched keys for a large round, else a filtered scan
/// per chunk of keys.
async fn touched_rows(
    info: &TableInfo,
    dataset: &Arc<Dataset>,
    touched: &BTreeSet<Vec<String>>,
    context: &str,
) -> Result<Vec<RecordBatch>> {
    if dataset.fragments().is_empty() {
        return Ok(Vec::new());
    }
    let full_scan = touched.len() > 8 * KEYS_PER_FILTER;
    let filters = if full_scan {
        vec![None]
    } else {
        key_filters(info, touched)?.into_iter().map(Some).collect()
    };
    let mut lake = Vec::new();
    for filter in filters {
        let mut scanner = dataset.scan();
        if let Some(filter) = &filter {
            scanner.filter(filter).map_err(lance_err(context))?;
        }
        scanner.blob_handling(BlobHandling::AllBinary);
        let mut stream = scanner.try_into_stream().await.map_err(lance_err(context))?;
        while let Some(batch) = stream.try_next().await.map_err(lance_err(context))? {
            let batch = from_lance(&batch, &info.schema)?;
            if full_scan {
                let keep: Vec<bool> = sql_keys(info, &batch)?.iter().map(|k| touched.contains(k)).collect();
                let mask = arrow_array::BooleanArray::from(keep);
                lake.push(arrow_select_filter(&batch, &mask)?);
            } else {
                lake.push(batch);
            }
        }
    }
    Ok(lake)
}

fn arrow_select_filter(batch: &RecordBatch, mask: &arrow_array::BooleanArray) -> Result<RecordBatch> {
    arrow_select::filter::filter_record_batch(batch, mask).map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
}

/// What one primary-key round writes with.
struct Round<'a> {
    info: &'a TableInfo,
    /// The dataset's Lance schema.
    schema: &'a SchemaRef,
    /// Each touched key's bucket, where the dataset keeps buckets.
    key_buckets: Option<&'a HashMap<Vec<String>, u32>>,
    max_rows_per_file: Option<usize>,
    context: &'a str,
}

impl Round<'_> {
    /// Folded rows as the dataset stores them.
    fn to_lance(&self, rows: &RecordBatch) -> Result<RecordBatch> {
        let buckets = match self.key_buckets {
            None => None,
            Some(map) => Some(
                sql_keys(self.info, rows)?
                    .iter()
                    .map(|k| {
                        map.get(k).copied().ok_or_else(|| {
                            Error::new(
                                ErrorKind::External,
                                format!("{}: a folded key no change named", self.context),
                            )
                        })
                    })
                    .collect::<Result<Vec<u32>>>()?,
            ),
        };
        to_lance(rows, self.schema, buckets)
    }
}

/// Rows per batch [`group_by_bucket`] writes (a bound on each batch's offsets, too).
const GROUPED_BATCH_ROWS: usize = 65_536;

/// `batches` (rows with a [`BUCKET_COLUMN`](crate::BUCKET_COLUMN)) ordered by bucket, rows
/// of one bucket in their original order, in batches of at most [`GROUPED_BATCH_ROWS`].
fn group_by_bucket(batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    let mut order: Vec<(i32, usize, usize)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let buckets = batch
            .column_by_name(crate::BUCKET_COLUMN)
            .and_then(|c| c.as_primitive_opt::<arrow_array::types::Int32Type>())
            .ok_or_else(|| Error::schema("rows without their bucket"))?;
        order.extend(
            buckets
                .values()
                .iter()
                .enumerate()
                .map(|(row, &bucket)| (bucket, b, row)),
        );
    }
    // stable: a bucket's rows keep their key order
    order.sort_by_key(|&(bucket, _, _)| bucket);
    let inputs: Vec<&RecordBatch> = batches.iter().collect();
    order
        .chunks(GROUPED_BATCH_ROWS)
        .map(|chunk| {
            let indices: Vec<(usize, usize)> = chunk.iter().map(|&(_, b, row)| (b, row)).collect();
            Ok(arrow_select::interleave::interleave_record_batch(&inputs, &indices)?)
        })
        .collect()
}

async fn apply_round(
    round: &Round<'_>,
    dataset: Arc<Dataset>,
    batches: Vec<LogBatch>,
    properties: HashMap<String, String>,
) -> Result<Dataset> {
    let (info, max_rows_per_file, context) = (round.info, round.max_rows_per_file, round.context);
    // the runs already known sorted stay so: deletions keep the order of what is left
    let mut sorted = SortedRuns::of_dataset(dataset.metadata(), round.key_buckets.is_some());
    let mut touched = BTreeSet::new();
    for b in &batches {
        touched.extend(sql_keys(info, &b.batch)?);
    }
    if touched.is_empty() {
        return commit_properties(dataset, properties, Some(sorted), context).await;
    }
    let lake = touched_rows(info, &dataset, &touched, context).await?;
    // only keys the lake holds have rows to delete: a key the round inserts and deletes
    // would otherwise cost a delete commit (one without offsets) that changes nothing
    let mut in_lake = BTreeSet::new();
    for r in &lake {
        in_lake.extend(sql_keys(info, r)?);
    }
    let rows = apply_changes(info, lake, batches).await?;
    let mut present = BTreeSet::new();
    for r in &rows {
        present.extend(sql_keys(info, r)?);
    }
    let absent: BTreeSet<Vec<String>> = in_lake.difference(&present).cloned().collect();
    let upserts: Vec<RecordBatch> = rows
        .iter()
        .filter(|r| r.num_rows() > 0)
        .map(|r| round.to_lance(r))
        .collect::<Result<_>>()?;

    let mut dataset = dataset;
    for filter in key_filters(info, &absent)? {
        let staged = DeleteBuilder::new(dataset.clone(), filter)
            .execute_uncommitted()
            .await
            .map_err(lance_err(format!("{context}: deleting rows")))?;
        let mut commit = CommitBuilder::new(dataset.clone());
        if let Some(rows) = staged.affected_rows {
            commit = commit.with_affected_rows(rows);
        }
        dataset = Arc::new(
            commit
                .execute(staged.transaction)
                .await
                .map_err(lance_err(format!("{context}: deleting rows")))?,
        );
    }
    if !upserts.is_empty() && dataset.fragments().is_empty() {
        // nothing to match: a plain append writes the same rows faster, and in key order
        // (the fold's), one fragment after another: the fragments it writes (all there are),
        // in the manifest's order, are one sorted run
        let params = WriteParams {
            mode: WriteMode::Append,
            ..write_params(max_rows_per_file)
        };
        // a dataset that keeps buckets gets each bucket's rows together (still in key
        // order within it), so that its fragments hold few buckets each and a bucket's
        // split reads few fragments
        let upserts = if round.key_buckets.is_some() {
            group_by_bucket(upserts)?
        } else {
            upserts
        };
        let mut transaction = InsertBuilder::new(dataset.clone())
            .with_params(&params)
            .execute_uncommitted(upserts)
            .await
            .map_err(lance_err(format!("{context}: appending rows")))?;
        transaction.transaction_properties = Some(Arc::new(properties.clone()));
        // this append's own fragments, known by their data files (a concurrent writer's,
        // rebased into the same version, are not part of the run)
        let written: BTreeSet<String> = match &transaction.operation {
            Operation::Append { fragments } => fragments
                .iter()
                .flat_map(|f| f.files.iter().map(|d| d.path.clone()))
                .collect(),
            _ => BTreeSet::new(),
        };
        dataset = Arc::new(
            CommitBuilder::new(dataset.clone())
                .execute(transaction)
                .await
                .map_err(lance_err(format!("{context}: appending rows")))?,
        );
        sorted.push(
            dataset
                .fragments()
                .iter()
                .filter(|f| !f.files.is_empty() && f.files.iter().all(|d| written.contains(&d.path)))
                .map(|f| f.id)
                .collect(),
        );
    } else if !upserts.is_empty() {
        // merge-insert writes the rows it inserts in no particular order: its new fragments
        // are not listed as sorted
        let mut builder =
            MergeInsertBuilder::try_new(dataset.clone(), info.primary_key.clone()).map_err(lance_err(context))?;
        builder
            .when_matched(WhenMatched::UpdateAll)
            .when_not_matched(WhenNotMatched::InsertAll);
        let job = builder.try_build().map_err(lance_err(context))?;
        let staged = job
            .execute_uncommitted_batches(upserts)
            .await
            .map_err(lance_err(format!("{context}: merging rows")))?;
        let mut commit = CommitBuilder::new(dataset.clone());
        if let Some(rows) = staged.affected_rows {
            commit = commit.with_affected_rows(rows);
        }
        let mut transaction = staged.transaction;
        transaction.transaction_properties = Some(Arc::new(properties.clone()));
        dataset = Arc::new(
            commit
                .execute(transaction)
                .await
                .map_err(lance_err(format!("{context}: merging rows")))?,
        );
    }
    // the rows' commit carries the round's offsets too: it holds the round's rows, and a
    // round stopped before the next commit must not leave them without (a first round's
    // would leave a lake whose every later round is refused, a later round's would be
    // read against the previous offsets); the last commit adds the sorted fragments
    commit_properties(dataset, properties, Some(sorted), context).await
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Int64Type;
    use lake_api::lake::LakeStorage;
    use lake_api::memory::MemoryLog;
    use lake_api::{ChangeType, MergeStrategy, TablePath, UnionTable};

    use super::*;
    use crate::test_rows::rows;
    use crate::{LanceConfig, LanceStorage};

    /// A table tiered in one round as a run of fragments whose recorded order is then
    /// reversed (metadata is input): the sort-merge fails on it, it does not misplace rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_recorded_out_of_order_fails_the_sort_merge() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::invalid(e.to_string()))?;
        let lake = LanceStorage::new(LanceConfig::new(dir.path().to_string_lossy()).with_max_rows_per_file(3));
        let batch = rows(0..10)?;
        let info = TableInfo::primary_key_table(TablePath::new("db", "t"), batch.schema(), vec!["k".into()], 1);
        let mut writer = lake.create_lake_writer(&info).await?;
        let bucket = TableBucket::new(0);
        writer
            .write(&bucket, &LogBatch::new(batch.clone(), vec![ChangeType::Insert; 10], 0))
            .await?;
        writer.commit(BTreeMap::new()).await?;

        let uri = lake.config().table_uri(&info.path);
        let dataset = Arc::new(open_dataset(&uri, None).await?);
        let runs = SortedRuns::from_metadata(dataset.metadata());
        let [run] = runs.runs() else {
            return Err(Error::invalid(format!("one run expected, got {runs:?}")));
        };
        assert_eq!(run.len(), 4);
        let mut reversed = SortedRuns::default();
        reversed.push(run.iter().rev().copied().collect());
        let forged = commit_properties(dataset, HashMap::new(), Some(reversed), "test").await?;
        let version = i64::try_from(forged.version_id()).map_err(|e| Error::invalid(e.to_string()))?;

        let log = MemoryLog::new(info.clone())?;
        log.append(&bucket, batch, vec![ChangeType::Insert; 10])?;
        log.append(&bucket, rows(3..4)?, vec![ChangeType::Delete])?;
        log.record_tiered_offsets(version, BTreeMap::from([(bucket, 10)]))?;
        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(lake)))?;
        let read = |strategy| {
            let table = &table;
            async move { table.scan().strategy(strategy).build().await?.collect().await }
        };
        let err = match read(MergeStrategy::SortMerge).await {
            Ok(got) => panic!("read a reversed run: {got:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("strict key order"), "{err}");
        // the key filter needs no order between its inputs: it reads the same table
        let mut keys: Vec<i64> = read(MergeStrategy::KeyFilter)
            .await?
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
        Ok(())
    }
}
