//! Following a table: the exact bounded union read, then every bucket's log tailed from
//! where that read stopped, as a changelog; the buckets of partitions created later are
//! found by listing the log now and then, and tailed from their first offset.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::filter::filter_record_batch;
use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::error::{Error, Result};
use crate::lake::RecordBatchStream;
use crate::log::{ChangeType, LogBatch};
use crate::predicate::selection_mask;
use crate::table::TableBucket;

use super::log_reader::read_log;
use super::options::ReadMode;
use super::scan::ScanContext;

/// The column [`UnionScan::follow`](super::UnionScan::follow) adds: `+I`, `-U`, `+U`,
/// `-D` or `+A` per row.
pub const CHANGE_TYPE_COLUMN: &str = "_change_type";

/// The output schema plus the change-type column.
pub(crate) fn changelog_schema(output: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = output.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(CHANGE_TYPE_COLUMN, DataType::Utf8, false)));
    Arc::new(Schema::new_with_metadata(fields, output.metadata().clone()))
}

fn with_changes(
    schema: &SchemaRef,
    batch: RecordBatch,
    changes: impl Iterator<Item = ChangeType>,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter_values(
        changes.map(ChangeType::short_string),
    )));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Refuses a scan that cannot be followed: checked before its bounded read starts.
pub(crate) fn check_followable(ctx: &ScanContext, mode: ReadMode) -> Result<()> {
    if ctx.limit.is_some() {
        return Err(Error::invalid("a followed scan has no end, so it cannot take a limit"));
    }
    if mode == ReadMode::LakeOnly {
        return Err(Error::invalid("a lake-only scan cannot follow the log"));
    }
    // the log of a first-row or versioned table may hold changes its engine ignores;
    // passing them on would make the changelog drift from the table
    if ctx.info.has_primary_key() && ctx.info.merge_engine != crate::table::MergeEngine::Deduplicate {
        return Err(Error::new(
            crate::error::ErrorKind::Unsupported,
            format!(
                "following table {} with merge engine {} is not supported yet (only deduplicate tables and log tables)",
                ctx.info.path, ctx.info.merge_engine
            ),
        ));
    }
    Ok(())
}

/// `bounded` (the union read up to `ends`) as inserts, then each followed bucket's log
/// from where `bounded` left it (`log_stops`), the buckets found later included.
pub(crate) fn follow(
    ctx: &Arc<ScanContext>,
    bounded: RecordBatchStream,
    followed: Vec<TableBucket>,
    log_stops: BTreeMap<TableBucket, i64>,
) -> Result<RecordBatchStream> {
    let schema = changelog_schema(&ctx.output_schema);
    let snapshot_change = if ctx.info.has_primary_key() {
        ChangeType::Insert
    } else {
        ChangeType::AppendOnly
    };
    let snapshot = {
        let schema = schema.clone();
        bounded.map(move |b| {
            let b = b?;
            let n = b.num_rows();
            with_changes(&schema, b, std::iter::repeat_n(snapshot_change, n))
        })
    };
    // tokio's interval refuses a zero period; an unpartitioned table has all its buckets
    // from the start, so there is nothing to discover
    let every = ctx
        .options
        .follow_discovery
        .filter(|_| !ctx.info.partition_keys.is_empty())
        .map(|d| d.clamp(Duration::from_millis(1), LONGEST_DISCOVERY));
    let mut tails = Tails {
        ctx: ctx.clone(),
        schema: schema.clone(),
        running: SelectAll::new(),
        followed: BTreeSet::new(),
        log_stops,
        every,
        discovery: None,
        failed_listings: 0,
        refused: BTreeSet::new(),
    };
    for bucket in followed {
        tails.start(bucket);
    }
    let out = snapshot
        .chain(tails.into_stream())
        .try_filter(|b| futures::future::ready(b.num_rows() > 0));
    Ok(RecordBatchStream::new(schema, out))
}

/// The tails of a followed scan: one per bucket, merged as their changes come, and more
/// as a listing of the log every [`ScanOptions::follow_discovery`](super::ScanOptions)
/// finds buckets of new partitions.
struct Tails {
    ctx: Arc<ScanContext>,
    schema: SchemaRef,
    running: SelectAll<BoxStream<'static, Result<RecordBatch>>>,
    /// Every bucket a tail was started for (whether or not it still runs).
    followed: BTreeSet<TableBucket>,
    /// Where the bounded read left each bucket's log it planned.
    log_stops: BTreeMap<TableBucket, i64>,
    /// How often the log's buckets are listed; `None`: never.
    every: Option<Duration>,
    /// Ticks every `every`, started at the first poll (it needs the runtime's timer).
    discovery: Option<Interval>,
    /// Listings that failed since the last one that did not.
    failed_listings: u32,
    /// Buckets the log listed that the table cannot have (reported once each).
    refused: BTreeSet<TableBucket>,
}

impl Tails {
    /// Tails `bucket` from where the bounded read left it: offset 0 for a bucket it knew
    /// nothing of, which has no change before the scan started but what the tail reads.
    fn start(&mut self, bucket: TableBucket) {
        if !self.followed.insert(bucket.clone()) {
            return;
        }
        let start = self.log_stops.get(&bucket).copied().unwrap_or(0);
        let ctx = self.ctx.clone();
        let schema = self.schema.clone();
        let tail = read_log(ctx.log.clone(), bucket, start, None, ctx.info.schema.clone())
            .map(move |lb| changes_of(&ctx, &schema, lb?))
            .boxed();
        self.running.push(tail);
    }

    /// Starts a tail for each bucket the log lists that none was started for. A failed
    /// listing is tried again at the next tick, and reported once it failed
    /// [`LISTING_RETRIES`] times in a row; a bucket the table cannot have is reported the
    /// first time it is listed, the others being started all the same.
    async fn discover(&mut self) -> Result<()> {
        let listed = match self.ctx.log.offset_ranges().await {
            Ok(listed) => listed,
            Err(e) => {
                self.failed_listings += 1;
                if self.failed_listings < LISTING_RETRIES {
                    return Ok(());
                }
                self.failed_listings = 0;
                return Err(e.context(format!(
                    "listing the log's buckets failed {LISTING_RETRIES} times in a row"
                )));
            }
        };
        self.failed_listings = 0;
        let mut refused = None;
        for bucket in listed.into_keys() {
            match check_bucket(&self.ctx, &bucket) {
                Ok(()) => self.start(bucket),
                Err(e) => {
                    if self.refused.insert(bucket) && refused.is_none() {
                        refused = Some(e);
                    }
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// The tails' changes as they come, with the discovery's errors among them; the stream
    /// ends once every tail has ended, where nothing discovers new ones.
    fn into_stream(self) -> impl Stream<Item = Result<RecordBatch>> + Send {
        futures::stream::unfold(self, |mut tails| async move {
            loop {
                if tails.running.is_empty() && tails.every.is_none() {
                    return None;
                }
                let discovery = match tails.every {
                    Some(every) => Some(tails.discovery.get_or_insert_with(|| {
                        let mut interval = tokio::time::interval_at(Instant::now() + every, every);
                        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        interval
                    })),
                    None => None,
                };
                let tick = async move {
                    match discovery {
                        Some(interval) => {
                            interval.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    next = tails.running.next(), if !tails.running.is_empty() => {
                        if let Some(change) = next {
                            return Some((change, tails));
                        }
                    }
                    () = tick => {
                        if let Err(e) = tails.discover().await {
                            return Some((Err(e), tails));
                        }
                    }
                }
            }
        })
    }
}

/// Refuses a bucket the table cannot have, listed by the log.
pub(crate) fn check_bucket(ctx: &ScanContext, bucket: &TableBucket) -> Result<()> {
    match super::planner::misshapen(&ctx.info, bucket) {
        Some(why) => Err(Error::corrupt(format!("the log lists {bucket}, but {why}"))),
        None => Ok(()),
    }
}

/// Listings of the log's buckets that may fail in a row before a followed scan reports
/// it: a listing is several requests (partitions, then each one's offsets), and a
/// partition dropped in between fails one now and then.
const LISTING_RETRIES: u32 = 3;

/// The longest discovery interval honoured: a longer one (`Duration::MAX` for "never")
/// waits this long, as a timer cannot reach past it.
const LONGEST_DISCOVERY: Duration = Duration::from_secs(365 * 24 * 3600);

/// One log batch of a tail as changes of the scan's output.
fn changes_of(ctx: &ScanContext, schema: &SchemaRef, lb: LogBatch) -> Result<RecordBatch> {
    // a log table's tail appends, as its bounded read does
    if !ctx.info.has_primary_key() {
        super::readers::refuse_changes(&ctx.info.path, &lb)?;
    }
    let data = ctx.log_rows(&lb.batch)?;
    // filters apply to each change on its own, as on any changelog stream
    let (data, changes) = match selection_mask(&data, &ctx.filters)? {
        None => (data, lb.change_types),
        Some(mask) => {
            let changes = lb
                .change_types
                .iter()
                .zip(mask.values().iter())
                .filter_map(|(c, keep)| keep.then_some(*c))
                .collect();
            (filter_record_batch(&data, &mask)?, changes)
        }
    };
    let out = data.project(&ctx.output_projection)?;
    with_changes(schema, out, changes.into_iter())
}
