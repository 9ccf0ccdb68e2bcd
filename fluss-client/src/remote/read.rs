//! Bounded and tailing reads of one bucket of a [`FlussLog`](super::FlussLog).
//!
//! Log tables go through `fluss-rs`'s record-batch scanner: each fetched batch crosses into
//! Arrow 58 as is, with `+A` change types. Primary-key changelogs need change types, which
//! only the row scanner keeps; its rows are views into the Arrow batch they were decoded
//! from, so consecutive rows of one batch become one zero-copy slice of it again.
//!
//! Neither scanner tells us everything we need to end a bounded read, so the high
//! watermark guards both:
//!
//! - A bounded read stops at `min(stop, high watermark when the read opened)`, as a bounded
//!   [`LocalLog`](crate::local::LocalLog) read sees what is there.
//! - The record-batch scanner reports its fetch position, which moves past batches whose
//!   records were all dropped; the row scanner does not. A bounded read that makes no
//!   progress for [`stall_timeout`](super::FlussLogOptions::stall_timeout) while the log
//!   holds offsets below its stop therefore fails for a log table (a stuck cluster) and
//!   ends for a changelog (the offsets left hold no records). Either fails when the log
//!   now ends below its stop: offsets it was planned to read were lost to a new leader.
//! - Offsets that hold no records (a batch whose records were all dropped; the empty
//!   changelog batch Fluss writes for a write that changes nothing) are handed on as a
//!   batch without rows that covers them, so that the offsets a read returns have no holes.
//! - The record-batch scanner swallows fetch errors, `LOG_OFFSET_OUT_OF_RANGE` included (it
//!   just returns nothing), so empty polls compare the position with the bucket's earliest
//!   offset (at most once a second): a position that aged out of retention is a typed
//!   [`ErrorKind::Offsets`] error, never a hang or a silent gap.
//! - Log-table batches carry no commit timestamp through that scanner: their
//!   [`LogBatch::commit_timestamp`] is 0. Changelog batches carry their batch's, except the
//!   batches without rows over offsets that hold no records, whose is 0.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array_59 as a59;
use arrow_schema::SchemaRef;
use fluss::client::{FlussTable, LogScanner, RecordBatchLogScanner};
use fluss::record::ScanRecord;
use fluss::rpc::message::OffsetSpec;
use lake_api::{ChangeType, LogBatch, LogBatchStream, OffsetRange, TableBucket};

use super::FlussLog;
use super::convert::{is_out_of_range, remote};
use crate::arrow_bridge::batch_from_arrow59;
use crate::error::{Error, ErrorKind, Result};

enum Scanner {
    /// Log tables: Arrow batches with their base offsets.
    Batches(RecordBatchLogScanner),
    /// Primary-key changelogs: rows with offsets and change types.
    Records(LogScanner),
}

struct BucketRead {
    log: FlussLog,
    bucket: TableBucket,
    partition_id: Option<i64>,
    scanner: Scanner,
    cursor: Cursor,
    /// Since when polls have brought nothing.
    idle_since: Option<Instant>,
    /// When the offsets were last checked during idle polls.
    last_check: Option<Instant>,
    failures: u32,
}

/// A failed poll: the client's error (maybe transient), or ours on what it returned.
enum PollError {
    Client(fluss::error::Error),
    Ours(Error),
}

impl From<fluss::error::Error> for PollError {
    fn from(e: fluss::error::Error) -> Self {
        PollError::Client(e)
    }
}

impl From<Error> for PollError {
    fn from(e: Error) -> Self {
        PollError::Ours(e)
    }
}

/// How often idle polls look at the bucket's offsets.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Where a read is and what it has fetched but not yet returned.
struct Cursor {
    /// The offset up to which batches are queued or returned.
    next: i64,
    /// Where a bounded read ends (already capped at the high watermark).
    stop: Option<i64>,
    pending: VecDeque<LogBatch>,
    /// The table's schema, for the batches without rows that carry a read past offsets
    /// that hold no records.
    schema: SchemaRef,
}

impl Cursor {
    fn done(&self) -> bool {
        self.stop.is_some_and(|stop| self.next >= stop)
    }

    /// Queues the part of `batch` at or after `next` and before `stop`, once its offsets
    /// are [`checked`]. Offsets between `next` and the batch hold no records: Fluss spends
    /// an offset on an empty changelog batch when a write changes nothing (a delete of an
    /// absent key, a duplicate under `first_row`), and the row scanner returns no row for it.
    fn queue(&mut self, batch: LogBatch) -> Result<()> {
        checked(&batch)?;
        if batch.next_offset <= self.next {
            return Ok(());
        }
        self.pass_to(batch.base_offset);
        if self.done() {
            return Ok(());
        }
        let batch = batch.slice_offsets(self.next, self.stop.unwrap_or(i64::MAX));
        self.next = batch.next_offset.max(self.next);
        self.pending.push_back(batch);
        Ok(())
    }

    /// Moves the read to `offset` (at most to its stop) over offsets that hold no records,
    /// with a batch without rows that covers them: the union read accounts for every offset
    /// of its range, and takes a batch past a hole for a gap.
    fn pass_to(&mut self, offset: i64) {
        let end = self.stop.map_or(offset, |stop| offset.min(stop));
        if end > self.next {
            let mut passed = LogBatch::new(RecordBatch::new_empty(self.schema.clone()), Vec::new(), self.next);
            passed.next_offset = end;
            self.pending.push_back(passed);
            self.next = end;
        }
    }
}

/// Opens a read of `bucket` from `start` to `stop` (or forever).
pub(super) async fn open(log: FlussLog, bucket: TableBucket, start: i64, stop: Option<i64>) -> Result<LogBatchStream> {
    let info = &log.inner.info;
    if bucket.bucket >= info.bucket_count {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("table {} has no {bucket} ({} buckets)", info.path, info.bucket_count),
        ));
    }
    // the table first: the name may have been given to a new table since the log opened,
    // and fluss-rs lists offsets under the table id it last saw, which the server may no
    // longer know ("table info not found", a Remote error, rather than this Offsets one)
    let table = current_table(&log).await?;
    let partition_id = log.partition_id(&bucket.partition).await?;
    let OffsetRange { earliest, end } = bucket_offsets(&log, &bucket).await?;
    if start < earliest {
        return Err(aged_out(&log, &bucket, start, earliest));
    }
    if stop.is_some() && start > end {
        return Err(Error::new(
            ErrorKind::Offsets,
            format!("start offset {start} is beyond the end offset {end} of {bucket}"),
        ));
    }
    let scanner = subscribe(&log, &table, partition_id, bucket.bucket as i32, start).await?;
    drop(table);
    let schema = log.inner.info.schema.clone();
    let read = BucketRead {
        log,
        bucket,
        partition_id,
        scanner,
        cursor: Cursor {
            next: start,
            stop: stop.map(|s| s.min(end)),
            pending: VecDeque::new(),
            schema,
        },
        idle_since: None,
        last_check: None,
        failures: 0,
    };
    let stream = futures::stream::try_unfold(read, |mut read| async move {
        Ok::<_, lake_api::Error>(read.next_batch().await?.map(|b| (b, read)))
    });
    Ok(Box::pin(stream))
}

/// The earliest and end (high watermark) offsets of one bucket.
async fn bucket_offsets(log: &FlussLog, bucket: &TableBucket) -> Result<OffsetRange> {
    let ids = [bucket.bucket as i32];
    let mut found = [0i64; 2];
    for (slot, spec) in [OffsetSpec::Earliest, OffsetSpec::Latest].into_iter().enumerate() {
        let offsets = log
            .offsets_in(&bucket.partition, &ids, spec)
            .await
            .map_err(|e| e.context(bucket))?;
        found[slot] = *offsets.get(&ids[0]).ok_or_else(|| {
            Error::new(
                ErrorKind::Remote,
                format!("the cluster listed no offset for {bucket} of {}", log.inner.info.path),
            )
        })?;
    }
    OffsetRange::new(found[0], found[1])
        .map_err(|e| Error::from(e).context(format!("{bucket} of {}", log.inner.info.path)))
}

fn aged_out(log: &FlussLog, bucket: &TableBucket, offset: i64, earliest: i64) -> Error {
    Error::new(
        ErrorKind::Offsets,
        format!(
            "offset {offset} of {bucket} of {} is no longer in the log (it starts at {earliest}: aged out of retention)",
            log.inner.info.path
        ),
    )
}

/// The table the log's name gives now, fetched fresh, if it is still the one the log
/// opened (see [`FlussLog::check_table_id`]).
async fn current_table(log: &FlussLog) -> Result<FlussTable<'_>> {
    let path = &log.inner.info.path;
    let table = log
        .inner
        .connection
        .get_table(&log.inner.path)
        .await
        .map_err(|e| remote(e, format!("cannot scan the log of {path}")))?;
    log.check_table_id(
        table.get_table_info().table_id,
        format_args!("the table scanned as {path}"),
    )?;
    Ok(table)
}

async fn subscribe(
    log: &FlussLog,
    table: &FlussTable<'_>,
    partition_id: Option<i64>,
    bucket: i32,
    offset: i64,
) -> Result<Scanner> {
    let path = &log.inner.info.path;
    let what = |e| remote(e, format!("cannot scan the log of {path}"));
    let scan = table.new_scan();
    let scanner = if log.inner.info.primary_key.is_empty() {
        Scanner::Batches(scan.create_record_batch_log_scanner().map_err(what)?)
    } else {
        Scanner::Records(scan.create_log_scanner().map_err(what)?)
    };
    resubscribe(&scanner, partition_id, bucket, offset)
        .await
        .map_err(what)?;
    Ok(scanner)
}

async fn resubscribe(
    scanner: &Scanner,
    partition_id: Option<i64>,
    bucket: i32,
    offset: i64,
) -> fluss::error::Result<()> {
    match (scanner, partition_id) {
        (Scanner::Batches(s), None) => s.subscribe(bucket, offset).await,
        (Scanner::Batches(s), Some(p)) => s.subscribe_partition(p, bucket, offset).await,
        (Scanner::Records(s), None) => s.subscribe(bucket, offset).await,
        (Scanner::Records(s), Some(p)) => s.subscribe_partition(p, bucket, offset).await,
    }
}

impl BucketRead {
    async fn next_batch(&mut self) -> Result<Option<LogBatch>> {
        loop {
            if let Some(batch) = self.cursor.pending.pop_front() {
                return Ok(Some(batch));
            }
            if self.cursor.done() {
                return Ok(None);
            }
            match self.poll().await {
                Ok(moved) => {
                    self.failures = 0;
                    if moved {
                        self.idle_since = None;
                    } else {
                        let since = *self.idle_since.get_or_insert_with(Instant::now);
                        self.check_progress(since).await?;
                    }
                }
                Err(PollError::Ours(e)) => return Err(e),
                Err(PollError::Client(e)) => self.recover(e).await?,
            }
        }
    }

    /// Polls once, queueing what arrived (trimmed at `stop`); whether the read moved.
    async fn poll(&mut self) -> std::result::Result<bool, PollError> {
        let timeout = self.log.inner.options.poll_timeout;
        let ours = |b: &fluss::metadata::TableBucket| {
            b.bucket_id() == self.bucket.bucket as i32 && b.partition_id() == self.partition_id
        };
        let cursor = &mut self.cursor;
        let before = cursor.next;
        match &self.scanner {
            Scanner::Batches(s) => {
                for scanned in s.poll(timeout).await? {
                    if ours(scanned.bucket()) {
                        let rows = batch_from_arrow59(scanned.batch())?;
                        let batch = LogBatch::append_only(rows, scanned.base_offset());
                        cursor.queue(batch)?;
                    }
                }
                // the fetch position also moves over batches with no records left
                let position = s.get_subscribed_buckets().into_iter().find(|(b, _)| ours(b));
                if let Some((_, p)) = position {
                    cursor.pass_to(p);
                }
            }
            Scanner::Records(s) => {
                for (b, rows) in s.poll(timeout).await?.into_records_by_buckets() {
                    if ours(&b) {
                        for batch in group_records(&rows)? {
                            cursor.queue(batch)?;
                        }
                    }
                }
            }
        }
        Ok(cursor.next > before)
    }

    /// After an empty poll (at most once a second): fails on a position that aged out of
    /// the log, and settles a bounded read that has stalled for the stall timeout (see the
    /// module docs): one whose bucket now ends below its stop fails.
    async fn check_progress(&mut self, idle_since: Instant) -> Result<()> {
        if self.last_check.is_some_and(|t| t.elapsed() < CHECK_INTERVAL) {
            return Ok(());
        }
        self.last_check = Some(Instant::now());
        let OffsetRange { earliest, end } = bucket_offsets(&self.log, &self.bucket).await?;
        if self.cursor.next < earliest {
            return Err(aged_out(&self.log, &self.bucket, self.cursor.next, earliest));
        }
        let stall = self.log.inner.options.stall_timeout;
        if let Some(stop) = self.cursor.stop
            && idle_since.elapsed() >= stall
        {
            // the stop was at most the end when the read opened: an end below it since is a
            // log that lost records (a new leader lacked them), lasting past a leader move
            if end < stop {
                return Err(Error::new(
                    ErrorKind::Offsets,
                    format!(
                        "reading {} of {}: the log now ends at offset {end}, below offset {stop} the read was to reach \
                         (offsets from {end} on were lost, or rewritten by a new leader)",
                        self.bucket, self.log.inner.info.path
                    ),
                ));
            }
            match self.scanner {
                // no records for offsets [next, stop): batches with none left
                Scanner::Records(_) => self.cursor.pass_to(stop),
                Scanner::Batches(_) => {
                    return Err(Error::new(
                        ErrorKind::Remote,
                        format!(
                            "reading {} of {}: no progress past offset {} for {stall:?} though the log holds offsets up to {end}",
                            self.bucket, self.log.inner.info.path, self.cursor.next
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Handles a failed poll: an offset out of range is retention (typed error) or a
    /// transient state of the leader (resubscribe); other transient errors are retried a
    /// few times.
    async fn recover(&mut self, e: fluss::error::Error) -> Result<()> {
        let options = &self.log.inner.options;
        let path = &self.log.inner.info.path;
        if is_out_of_range(&e) {
            let OffsetRange { earliest, .. } = bucket_offsets(&self.log, &self.bucket).await?;
            if self.cursor.next < earliest {
                return Err(aged_out(&self.log, &self.bucket, self.cursor.next, earliest));
            }
        } else if !e.is_retriable() {
            return Err(remote(e, format!("cannot read {} of {path}", self.bucket)));
        }
        self.failures += 1;
        if self.failures > options.retries {
            return Err(remote(
                e,
                format!(
                    "cannot read {} of {path} after {} retries",
                    self.bucket, options.retries
                ),
            ));
        }
        tokio::time::sleep(options.retry_backoff).await;
        resubscribe(
            &self.scanner,
            self.partition_id,
            self.bucket.bucket as i32,
            self.cursor.next,
        )
        .await
        .map_err(|e| remote(e, format!("cannot resubscribe to {} of {path}", self.bucket)))
    }
}

/// A batch from the wire whose offsets hold together (not negative, not past `i64::MAX`):
/// the cursor trims and skips batches by offset, so a wrapped one would be dropped unseen.
fn checked(batch: &LogBatch) -> Result<()> {
    batch
        .validate()
        .map_err(|e| Error::corrupt(format!("the cluster sent a {}", e.message())))
}

/// Rows of one bucket as log batches: each run of rows that are consecutive rows of one
/// decoded Arrow batch becomes a zero-copy slice of it.
fn group_records(records: &[ScanRecord]) -> Result<Vec<LogBatch>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < records.len() {
        let row = records[i].row();
        let Some(source) = row.get_record_batch() else {
            return Err(Error::new(
                ErrorKind::Remote,
                "a scanned row is not backed by a record batch",
            ));
        };
        let first = row.get_row_id();
        let mut j = i + 1;
        while j < records.len()
            && records[j - 1].offset().checked_add(1) == Some(records[j].offset())
            && records[j].row().get_row_id() == first + (j - i)
            && records[j]
                .row()
                .get_record_batch()
                .is_some_and(|b| std::ptr::eq(b, source))
        {
            j += 1;
        }
        let slice: a59::RecordBatch = source.slice(first, j - i);
        let changes = records[i..j]
            .iter()
            .map(|r| ChangeType::from_byte(r.change_type().to_byte_value()))
            .collect::<lake_api::Result<Vec<_>>>()?;
        let mut batch = LogBatch::new(batch_from_arrow59(&slice)?, changes, records[i].offset());
        batch.commit_timestamp = records[i].timestamp();
        out.push(batch);
        i = j;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, RecordBatch};

    use super::*;

    #[test]
    fn batches_whose_offsets_wrap_or_go_negative_are_corrupt() -> Result<()> {
        let rows = RecordBatch::try_from_iter([("a", Arc::new(Int32Array::from(vec![1, 2, 3])) as _)])?;
        checked(&LogBatch::append_only(rows.clone(), 10))?;
        for base in [i64::MAX - 1, -5] {
            let e = checked(&LogBatch::append_only(rows.clone(), base))
                .err()
                .ok_or_else(|| Error::corrupt("accepted"))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{base}: {e}");
            assert!(e.message().contains(&format!("offset {base}")), "{e}");
        }
        Ok(())
    }
}
