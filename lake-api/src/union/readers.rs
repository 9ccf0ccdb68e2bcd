//! Reading one union split: lake-only and log-only splits of log tables, and the merged
//! lake-and-log splits of primary-key tables.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::lake::{LakeSplit, RecordBatchStream};
use crate::log::{ChangeType, LogBatch};
use crate::merge::disjoint_runs::{DisjointRuns, MergeRest};
use crate::merge::fold::{FoldOutput, FoldRule, GroupFold};
use crate::merge::key_filter::KeyFilterMerge;
use crate::merge::keys::{KeyEncoder, conform};
use crate::merge::kway::{KeyedStream, keyed_stream};
use crate::merge::log_index::{LogMerge, int_key};
use crate::merge::run_chain::{OpenedSplit, chain_runs};
use crate::merge::sort::ExternalSorter;
use crate::merge::sparse_merge::SparseMerge;
use crate::merge::spill::SpillDir;
use crate::predicate::{Predicate, filter_batch};
use crate::table::{MergeEngine, TablePath};

use super::log_reader::{change_batch_of, change_sorter, read_range};
use super::options::MergeStrategy;
use super::planner::check_partition;
use super::scan::ScanContext;
use super::split::{LogRange, UnionSplit, UnionSplitKind};

/// Applies `filters`, then keeps the output columns.
fn finish(
    ctx: &Arc<ScanContext>,
    stream: impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static,
    filters: Vec<Predicate>,
) -> RecordBatchStream {
    let projection = ctx.output_projection.clone();
    let identity = projection.len() == ctx.read_schema.fields().len();
    let out = stream
        .map(move |batch| {
            let batch = batch?;
            let batch = if filters.is_empty() {
                batch
            } else {
                filter_batch(&batch, &filters)?
            };
            if identity {
                Ok(batch)
            } else {
                Ok(batch.project(&projection)?)
            }
        })
        .try_filter(|b| futures::future::ready(b.num_rows() > 0));
    RecordBatchStream::new(ctx.output_schema.clone(), out)
}

/// Stops after `limit` rows, slicing the last batch.
pub(crate) fn limit(stream: RecordBatchStream, limit: Option<usize>) -> RecordBatchStream {
    let Some(limit) = limit else { return stream };
    let schema = stream.schema();
    let limited = futures::stream::unfold((Some(stream), limit), |(stream, left)| async move {
        let mut stream = stream.filter(|_| left > 0)?;
        let (item, left) = match stream.next().await? {
            Ok(batch) if batch.num_rows() >= left => (Ok(batch.slice(0, left)), 0),
            Ok(batch) => {
                let n = batch.num_rows();
                (Ok(batch), left - n)
            }
            Err(e) => (Err(e), 0),
        };
        // the input goes as soon as the limit is reached, so that the split tasks reading
        // ahead stop now rather than at the consumer's next poll
        Some((item, ((left > 0).then_some(stream), left)))
    });
    RecordBatchStream::new(schema, limited)
}

/// Checks `split` against the table and itself; its lake splits, decoded (once: a split
/// carrying a manifest is not small).
fn check_split(ctx: &ScanContext, split: &UnionSplit) -> Result<Vec<Arc<dyn LakeSplit>>> {
    check_partition(ctx, &split.partition)?;
    // a bucket the table lacks holds no rows of its own: whatever a lake split read for it
    // would be some other bucket's
    if let Some(bucket) = split.bucket
        && bucket >= ctx.info.bucket_count
    {
        return Err(Error::corrupt(format!(
            "split {split} of table {} names bucket {bucket}, but the table has {} buckets",
            ctx.info.path, ctx.info.bucket_count
        )));
    }
    // each kind's reader reads only its own side: a split holding the other side's work
    // would lose it silently, and a merge over a table without a key would lose rows
    // (the planner gives a primary-key table merges only: the one-sided readers neither
    // fold changes nor merge runs)
    let keyed = ctx.info.has_primary_key();
    let misfit = match split.kind {
        UnionSplitKind::LakeOnly if !split.log_ranges.is_empty() => Some("log ranges"),
        UnionSplitKind::LogOnly if !split.lake_splits.is_empty() => Some("lake splits"),
        UnionSplitKind::LakeOnly | UnionSplitKind::LogOnly if keyed => {
            Some("one side's rows unmerged, but the table has a primary key")
        }
        UnionSplitKind::LakeAndLog if !keyed => Some("a merge, but the table has no primary key"),
        _ => None,
    };
    if let Some(misfit) = misfit {
        return Err(Error::corrupt(format!(
            "split {split} of table {} holds {misfit}",
            ctx.info.path
        )));
    }
    for r in &split.log_ranges {
        check_partition(ctx, &r.bucket.partition)?;
        // another bucket's changes would find none of their keys in this bucket's lake rows
        let other_bucket = split.bucket.is_some_and(|b| b != r.bucket.bucket);
        if r.bucket.bucket >= ctx.info.bucket_count || r.bucket.partition != split.partition || other_bucket {
            return Err(Error::corrupt(format!(
                "split for partition {:?} bucket {:?} names log {} of table {} ({} buckets)",
                split.partition, split.bucket, r.bucket, ctx.info.path, ctx.info.bucket_count
            )));
        }
    }
    // a range or a lake split listed twice would be read twice
    let mut ranges: Vec<&LogRange> = split.log_ranges.iter().filter(|r| !r.is_empty()).collect();
    ranges.sort_by(|a, b| (&a.bucket, a.start).cmp(&(&b.bucket, b.start)));
    if let Some(pair) = ranges
        .windows(2)
        .find(|pair| pair[0].bucket == pair[1].bucket && pair[1].start < pair[0].stop)
    {
        return Err(Error::corrupt(format!(
            "split {split} of table {} reads offsets [{}, {}) of {} twice",
            ctx.info.path,
            pair[1].start,
            pair[0].stop.min(pair[1].stop),
            pair[0].bucket
        )));
    }
    // a bucket's ranges are read in the order listed: a later change applied before an
    // earlier one would lose to it
    let mut read_to: HashMap<&crate::table::TableBucket, i64> = HashMap::new();
    for r in split.log_ranges.iter().filter(|r| !r.is_empty()) {
        if let Some(stop) = read_to.insert(&r.bucket, r.stop)
            && r.start < stop
        {
            return Err(Error::corrupt(format!(
                "split {split} of table {} lists offsets [{}, {}) of {} after [.., {stop}): out of order",
                ctx.info.path, r.start, r.stop, r.bucket
            )));
        }
    }
    let source = match (&ctx.lake, split.lake_splits.is_empty()) {
        (_, true) => return Ok(Vec::new()),
        (Some(source), false) => source,
        (None, false) => {
            return Err(Error::invalid(
                "split has lake splits but the scan has no lake source (was it built with the same lake?)",
            ));
        }
    };
    let serializer = source.split_serializer();
    let lake_splits = split
        .lake_splits
        .iter()
        .map(|s| serializer.deserialize(s.version, &s.bytes))
        .collect::<Result<Vec<_>>>()?;
    if lake_splits.len() > 1 {
        // compared as the serializer writes them: the same split in other bytes (JSON
        // spaced or ordered otherwise) is the same split
        let mut seen = HashSet::new();
        for lake_split in &lake_splits {
            if !seen.insert(serializer.serialize(lake_split.as_ref())?) {
                return Err(Error::corrupt(format!(
                    "split {split} of table {} lists a lake split twice",
                    ctx.info.path
                )));
            }
        }
    }
    Ok(lake_splits)
}

/// Batches a lake split's reader decodes ahead of the merge.
const LAKE_READ_AHEAD: usize = 2;

/// Opens one lake split's rows, conformed to the read schema; with `read_ahead`, the split
/// decodes on a task of its own while its consumer runs.
async fn open_lake_split(
    ctx: &Arc<ScanContext>,
    union: &UnionSplit,
    split: Arc<dyn LakeSplit>,
    read_ahead: bool,
) -> Result<OpenedSplit> {
    let source = ctx
        .lake
        .as_ref()
        .ok_or_else(|| Error::invalid("no lake source for a lake split"))?;
    let what = format!("{split:?}");
    // a lake split merged with another bucket's (or partition's) log would be silently wrong;
    // so would one of no bucket (its partition's every row) in a bucket's split, whose other
    // buckets' rows no change of this log reaches (a plan with such lake splits groups by
    // partition)
    let wrong_bucket = union.bucket.is_some_and(|b| split.bucket() != Some(b))
        || split.bucket().is_some_and(|b| b >= ctx.info.bucket_count);
    if wrong_bucket || split.partition() != union.partition.as_slice() {
        return Err(Error::corrupt(format!(
            "union split {union} holds lake split {what} of partition {:?} bucket {:?}",
            split.partition(),
            split.bucket()
        )));
    }
    let run = split.run_position();
    let reader = source.create_reader(split).await?;
    let sorted = reader
        .as_sorted()
        .is_some_and(|r| r.key_order() == ctx.info.primary_key.as_slice());
    let stream = reader.read().await?;
    let schema = ctx.read_schema.clone();
    let conformed = stream.map(move |b| {
        let what = what.clone();
        conform(b?, &schema, &move || format!("lake split {what}"))
    });
    let stream = RecordBatchStream::new(ctx.read_schema.clone(), conformed);
    Ok(OpenedSplit {
        stream: if read_ahead {
            stream.read_ahead(LAKE_READ_AHEAD)
        } else {
            stream
        },
        sorted,
        run,
    })
}

pub(crate) async fn read_lake_only(ctx: &Arc<ScanContext>, split: &UnionSplit) -> Result<RecordBatchStream> {
    let lake_splits = check_split(ctx, split)?;
    let Ok([lake]) = <[_; 1]>::try_from(lake_splits) else {
        return Err(Error::corrupt(format!(
            "a lake-only split holds {} lake splits, not one",
            split.lake_splits.len()
        )));
    };
    let opened = open_lake_split(ctx, split, lake, false).await?;
    Ok(finish(ctx, opened.stream, ctx.lake_remaining.clone()))
}

pub(crate) fn read_log_only(ctx: &Arc<ScanContext>, split: &UnionSplit) -> Result<RecordBatchStream> {
    check_split(ctx, split)?;
    let table_schema = ctx.info.schema.clone();
    let log = ctx.log.clone();
    let ranges = split.log_ranges.clone();
    let rows = ctx.clone();
    // a log table's log rows merge with nothing: every filter applies to them, and before
    // their BLOB payloads are kept for references, so that rows filtered out are not
    let batches = futures::stream::iter(ranges)
        .flat_map(move |r| read_range(log.clone(), r, table_schema.clone()))
        .map(move |b| {
            let b = b?;
            refuse_changes(&rows.info.path, &b)?;
            let batch = b.batch;
            let batch = if rows.filters.is_empty() {
                batch
            } else {
                filter_batch(&batch, &rows.filters)?
            };
            rows.log_rows(&batch)
        });
    Ok(finish(ctx, batches, Vec::new()))
}

/// Fails unless every row of a log table's batch appends (`+A`, or `+I`): a retraction or
/// an update has no row to show where nothing merges it.
pub(crate) fn refuse_changes(table: &TablePath, batch: &LogBatch) -> Result<()> {
    let changed = batch
        .change_types
        .iter()
        .position(|c| !matches!(c, ChangeType::AppendOnly | ChangeType::Insert));
    match changed {
        None => Ok(()),
        Some(row) => Err(Error::corrupt(format!(
            "log table {table}: row {row} of the log batch at offset {} is a {} change, and a log \
             table's log only appends",
            batch.base_offset,
            batch.change_types[row].short_string()
        ))),
    }
}

/// The log changes of the split's ranges folded per key: the log summary (see
/// [`LogMerge::summarize`]), in key order.
async fn log_summary(ctx: &Arc<ScanContext>, split: &UnionSplit, merge: &LogMerge) -> Result<RecordBatchStream> {
    let (mut sorter, schema) = change_sorter(
        &ctx.read_schema,
        &ctx.info.primary_key,
        merge.budget,
        merge.batch_size,
        merge.spill.clone(),
    )?;
    for range in &split.log_ranges {
        let mut batches = std::pin::pin!(read_range(ctx.log.clone(), range.clone(), ctx.info.schema.clone()));
        while let Some(b) = batches.try_next().await? {
            sorter.push(change_batch_of(ctx.log_rows(&b.batch)?, &b, &schema)?)?;
        }
    }
    merge.summarize(sorter)
}

pub(crate) async fn read_lake_and_log(ctx: &Arc<ScanContext>, split: &UnionSplit) -> Result<RecordBatchStream> {
    let lake_splits = check_split(ctx, split)?;
    let info = &ctx.info;
    let keys = KeyEncoder::new(&ctx.read_schema, &info.primary_key)?;
    let (versions, version_column) = match &info.merge_engine {
        MergeEngine::Versioned { column } => (
            Some(KeyEncoder::new(&ctx.read_schema, std::slice::from_ref(column))?),
            Some(ctx.read_schema.index_of(column)?),
        ),
        _ => (None, None),
    };
    let rule = FoldRule::new(&info.merge_engine, version_column);
    let spill = SpillDir::new(ctx.options.spill_dir.clone());
    let strategy = ctx.options.resolve(split.strategy, split.log_len());
    // the log tail and the sort of the unsorted lake splits share the budget
    let budget = (ctx.options.memory_budget / 2).max(1);
    let batch_size = ctx.options.batch_size;
    let log_merge = LogMerge {
        schema: ctx.read_schema.clone(),
        keys: keys.clone(),
        versions: versions.clone(),
        rule: rule.clone(),
        budget,
        spill: spill.clone(),
        batch_size,
    };
    let log = log_summary(ctx, split, &log_merge).await?;

    // A bucket-unaware lake's split merges a whole partition: often the whole table's
    // work, with no other split to keep a second core busy, so its lake side decodes on
    // tasks of their own while the merge runs. Bucket-aware splits run side by side
    // already, and reading ahead there too showed no gain beyond the noise in the Paimon
    // and Iceberg benches (BENCHMARKS.md, session 7), so they read as they did.
    let read_ahead = split.bucket.is_none();
    let mut opened = Vec::with_capacity(lake_splits.len());
    for lake_split in lake_splits {
        opened.push(open_lake_split(ctx, split, lake_split, read_ahead).await?);
    }
    let merged: RecordBatchStream = match strategy {
        MergeStrategy::KeyFilter | MergeStrategy::Auto => {
            let opened = opened.into_iter().map(|o| o.stream).collect();
            KeyFilterMerge(log_merge).run(log, opened).await?
        }
        MergeStrategy::SortMerge => {
            // the parts of a sorted run are one sorted input
            let opened = chain_runs(&ctx.read_schema, &keys, opened)?;
            // so are sorted inputs whose key ranges do not overlap
            let mut opened = if opened.len() > 1 && opened.iter().all(|(_, sorted)| *sorted) {
                let streams = opened.into_iter().map(|(stream, _)| stream).collect();
                let runs = DisjointRuns::peek(ctx.read_schema.clone(), &keys, streams).await?;
                if runs.overlap_at_start()? {
                    runs.into_inputs().into_iter().map(|s| (s, true)).collect()
                } else {
                    vec![(runs.into_stream(lake_merge(ctx, &keys, versions.as_ref(), &rule)), true)]
                }
            } else {
                opened
            };
            // one sorted run, an integer key and a log tail whose index fits: the sparse
            // merge gives the same rows in the same order without a decision per row (for
            // a run that holds each key once, as a primary-key table's does)
            let sparse = int_key(&ctx.read_schema, &keys).is_some()
                && ctx.options.key_index_fits(split.log_len())
                && matches!(opened.as_slice(), [(_, true)]);
            if sparse && let Some((lake, _)) = opened.pop() {
                let merged = SparseMerge(log_merge).run(log, lake).await?;
                return Ok(finish(ctx, merged, ctx.filters.clone()));
            }
            let keyed = |stream| keyed_stream(stream, ctx.read_schema.clone(), keys.clone(), versions.clone(), None);
            let mut inputs: Vec<KeyedStream> = Vec::with_capacity(split.lake_splits.len() + 2);
            // unsorted splits share one sort: one budget and one set of spill files, not
            // one per split
            let mut unsorted = Vec::new();
            for (stream, sorted) in opened {
                if sorted {
                    inputs.push(keyed(stream));
                } else {
                    unsorted.push(stream);
                }
            }
            if !unsorted.is_empty() {
                let all = RecordBatchStream::new(ctx.read_schema.clone(), futures::stream::iter(unsorted).flatten());
                inputs.push(keyed(sort_lazily(ctx, all, keys.clone(), budget, spill.clone())));
            }
            let log_changes = ctx.read_schema.fields().len();
            inputs.push(keyed_stream(
                log,
                ctx.read_schema.clone(),
                keys.clone(),
                versions.clone(),
                Some(log_changes),
            ));
            let fold = GroupFold::new(inputs, ctx.read_schema.clone(), rule, FoldOutput::Rows, batch_size);
            RecordBatchStream::new(ctx.read_schema.clone(), fold)
        }
    };
    // the spill directory lives as long as the streams that read its runs hold it
    Ok(finish(ctx, merged, ctx.filters.clone()))
}

/// The k-way merge of sorted lake inputs alone, each key folded to its one row: the lake
/// side of a merge that then applies the log to it (see
/// [`DisjointRuns`](crate::merge::disjoint_runs::DisjointRuns)). Folding the lake rows
/// first and the log after gives what folding them all at once does, as the lake rows of
/// a key come before its log changes either way.
fn lake_merge(ctx: &Arc<ScanContext>, keys: &KeyEncoder, versions: Option<&KeyEncoder>, rule: &FoldRule) -> MergeRest {
    let schema = ctx.read_schema.clone();
    let (keys, versions, rule) = (keys.clone(), versions.cloned(), rule.clone());
    let batch_size = ctx.options.batch_size;
    Box::new(move |inputs: Vec<RecordBatchStream>| {
        let keyed = inputs
            .into_iter()
            .map(|s| keyed_stream(s, schema.clone(), keys.clone(), versions.clone(), None))
            .collect();
        let fold = GroupFold::new(keyed, schema.clone(), rule, FoldOutput::Rows, batch_size);
        RecordBatchStream::new(schema, fold)
    })
}

/// Sorts an unsorted lake split on first poll (so that splits sort one after another).
fn sort_lazily(
    ctx: &Arc<ScanContext>,
    stream: RecordBatchStream,
    keys: KeyEncoder,
    budget: usize,
    spill: Arc<SpillDir>,
) -> RecordBatchStream {
    let schema = ctx.read_schema.clone();
    let batch_size = ctx.options.batch_size;
    let sorted = futures::stream::once(async move {
        let mut sorter = ExternalSorter::new(schema, keys, budget, batch_size, spill);
        let mut stream = stream;
        while let Some(b) = stream.try_next().await? {
            sorter.push(b)?;
        }
        sorter.finish()
    })
    .try_flatten();
    RecordBatchStream::new(ctx.read_schema.clone(), sorted)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use arrow_array::Int64Array;

    use super::*;

    /// Sets its flag when dropped.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_limit_lets_go_of_its_input_as_soon_as_it_is_reached() -> Result<()> {
        let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as _)])?;
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let template = batch.clone();
        let endless = futures::stream::repeat_with(move || {
            let _keep = &flag;
            Ok(template.clone())
        });
        let mut limited = limit(RecordBatchStream::new(batch.schema(), endless), Some(5));
        assert_eq!(limited.next().await.transpose()?.map(|b| b.num_rows()), Some(3));
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(limited.next().await.transpose()?.map(|b| b.num_rows()), Some(2));
        // the input (and with it any split task reading ahead) is gone before the next poll
        assert!(dropped.load(Ordering::SeqCst));
        assert!(limited.next().await.is_none());
        Ok(())
    }
}
