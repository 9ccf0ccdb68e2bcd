//! Streams produced on tasks of their own: a reader or a split runs ahead of its consumer
//! on another core, its batches handed over through a bounded channel.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, ErrorKind, Result};

/// Sends every item of `input` to `tx`, up to and including its first error; stops early
/// when the receiver is gone.
pub(crate) async fn forward(mut input: impl Stream<Item = Result<RecordBatch>> + Unpin, tx: Sender) -> bool {
    while let Some(item) = input.next().await {
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            return false;
        }
    }
    true
}

/// The sending side of a [`task_stream`].
pub(crate) type Sender = tokio::sync::mpsc::Sender<Result<RecordBatch>>;

/// The items `produce` sends, produced on a task of its own with up to `capacity` waiting.
///
/// Dropping the stream aborts the task. A task that panics or is cancelled closes its
/// channel as if it had ended: the stream says so with an `External` error naming `what`,
/// rather than end with its rows cut short.
pub(crate) fn task_stream<F, Fut>(
    runtime: tokio::runtime::Handle,
    capacity: usize,
    what: &'static str,
    produce: F,
) -> impl Stream<Item = Result<RecordBatch>> + Send + 'static
where
    F: FnOnce(Sender) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(capacity.max(1));
    let task = AbortOnDrop(Some(runtime.spawn(produce(tx))));
    futures::stream::unfold((rx, task), move |(mut rx, mut task)| async move {
        if let Some(item) = rx.recv().await {
            return Some((item, (rx, task)));
        }
        match task.0.take()?.await {
            Ok(()) => None,
            Err(e) => Some((
                Err(Error::new(ErrorKind::External, format!("{what} failed: {e}"))),
                (rx, task),
            )),
        }
    })
}

/// A task handle that aborts its task when dropped (a consumer that stops reading must
/// not leave a reader decoding for nobody).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Bytes of batches that producers may hold beyond their channels, shared by all of them:
/// a semaphore counting KiB.
#[derive(Debug, Clone)]
pub(crate) struct ReadAheadBudget(Arc<Semaphore>);

impl ReadAheadBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new((bytes >> 10).min(Semaphore::MAX_PERMITS))))
    }

    /// `bytes` of budget where the current runtime has threads to read ahead on, none on a
    /// current-thread runtime or one with a single worker.
    ///
    /// There every batch read ahead is read while the consumer waits, so it gains nothing,
    /// and holding it costs the cache: a single-core union read that held its 128 MiB took
    /// twice as long (BENCHMARKS.md, session 12). Producers then hold their channel and one
    /// batch, as with no budget.
    pub fn for_current_runtime(bytes: usize) -> Self {
        // a current-thread runtime counts one worker too
        let one_thread = tokio::runtime::Handle::try_current().is_ok_and(|h| h.metrics().num_workers() == 1);
        Self::new(if one_thread { 0 } else { bytes })
    }

    /// Takes the share a batch of `bytes` needs (at least 1 KiB, so that batches without
    /// buffers are bounded too), if that much is free.
    fn try_take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).ok()?;
        self.0.clone().try_acquire_many_owned(kib).ok()
    }

    /// KiB free right now.
    #[cfg(test)]
    fn free_kib(&self) -> usize {
        self.0.available_permits()
    }
}

/// Items read but not yet sent, each with its share of the budget (none for errors, and
/// none for a batch read when the budget was out, which can only be the last).
type Held = VecDeque<(Result<RecordBatch>, Option<OwnedSemaphorePermit>)>;

/// Like [`forward`], but reads on while `tx` is full, holding what it read, as long as
/// `budget` has room for it.
///
/// A batch read when the budget is out is held anyway, so a producer overshoots by at most
/// one batch, and reading pauses until the budget has room for that batch. A producer whose
/// consumer keeps up (the split being returned) therefore never waits for the budget, and
/// one whose consumer is busy elsewhere (a split waiting its turn) runs ahead until the
/// budget is spent: the budget bounds memory, never progress. Besides the budget, each
/// producer has its channel's batches and that one batch in flight.
pub(crate) async fn forward_ahead(
    mut input: impl Stream<Item = Result<RecordBatch>> + Unpin,
    tx: Sender,
    budget: ReadAheadBudget,
) -> bool {
    let mut held = Held::new();
    // false while the last held item has no share of the budget, or is an error; and
    // once the input has ended
    let mut may_read = true;
    let mut ended = false;
    loop {
        if held.is_empty() {
            if ended {
                return true;
            }
            let Some(item) = input.next().await else {
                return true;
            };
            held.push_back((item, None));
            may_read = claim_last(&mut held, &budget);
            continue;
        }
        let failed = held.front().is_some_and(|(item, _)| item.is_err());
        tokio::select! {
            // both branches are cancel-safe: a lost race loses no item
            biased;
            room = tx.reserve() => {
                let Ok(room) = room else { return false };
                if let Some((item, _share)) = held.pop_front() {
                    room.send(item);
                }
                if failed {
                    return false;
                }
                // the share just given back may be what the paused batch waits for
                may_read = !ended && claim_last(&mut held, &budget);
            }
            item = input.next(), if may_read => {
                match item {
                    Some(item) => {
                        held.push_back((item, None));
                        may_read = claim_last(&mut held, &budget);
                    }
                    None => {
                        ended = true;
                        may_read = false;
                    }
                }
                // an input that is always ready (decoding, merging in memory) must still
                // let the other tasks on this worker run
                tokio::task::coop::consume_budget().await;
            }
        }
    }
}

/// Gives the last held batch its share of the budget if it has none yet and the budget
/// has room: whether the producer may read on.
fn claim_last(held: &mut Held, budget: &ReadAheadBudget) -> bool {
    match held.back_mut() {
        None => true,
        Some((Err(_), _)) => false,
        Some((Ok(batch), share)) => {
            if share.is_none() {
                *share = budget.try_take(batch.get_array_memory_size());
            }
            share.is_some()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use arrow_array::Int64Array;

    use super::*;

    fn batch(rows: usize) -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from(vec![7; rows])) as _,
        )])?)
    }

    /// A producer of `n` copies of `template` that counts what it has produced, with its
    /// stream (nobody reads it until the test does).
    fn counted(
        template: RecordBatch,
        n: usize,
        budget: &ReadAheadBudget,
    ) -> Result<(
        Arc<AtomicUsize>,
        impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    )> {
        let produced = Arc::new(AtomicUsize::new(0));
        let counter = produced.clone();
        let input = futures::stream::iter(0..n).map(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(template.clone())
        });
        let budget = budget.clone();
        let stream = task_stream(
            tokio::runtime::Handle::current(),
            2,
            "a test producer",
            move |tx| async move {
                forward_ahead(input.boxed(), tx, budget).await;
            },
        );
        Ok((produced, stream))
    }

    /// Lets the producer run until it waits (a current-thread runtime runs it only here).
    async fn settle() {
        for _ in 0..200 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_waiting_producer_runs_ahead_only_as_far_as_the_budget() -> Result<()> {
        let one = batch(1024)?.get_array_memory_size();
        let budget = ReadAheadBudget::new(10 * one.next_multiple_of(1024));
        let (produced, stream) = counted(batch(1024)?, 100, &budget)?;
        let mut stream = std::pin::pin!(stream);
        // the producer's task starts at once, read or not
        settle().await;
        let ahead = produced.load(Ordering::SeqCst);
        // 10 in the budget, 2 in the channel, one held without a share of the budget
        assert_eq!(ahead, 13, "read ahead: {ahead}");
        assert_eq!(budget.free_kib(), 0);
        // one batch read: one moves from the budget into the channel, and the paused one
        // takes its share, so the producer reads exactly one more
        assert!(stream.next().await.transpose()?.is_some());
        settle().await;
        assert_eq!(produced.load(Ordering::SeqCst), 14);
        // reading all of it gives every share back, in order and whole
        let mut rows = 0;
        while let Some(b) = stream.next().await {
            rows += b?.num_rows();
        }
        assert_eq!(rows, 99 * 1024);
        assert_eq!(produced.load(Ordering::SeqCst), 100);
        assert_eq!(budget.free_kib(), 10 * one.div_ceil(1024));
        Ok(())
    }

    #[tokio::test]
    async fn without_a_budget_a_waiting_producer_holds_three_batches() -> Result<()> {
        let budget = ReadAheadBudget::new(0);
        let (produced, stream) = counted(batch(1024)?, 100, &budget)?;
        settle().await;
        assert_eq!(produced.load(Ordering::SeqCst), 3);
        let got: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream).await?;
        assert_eq!(got.len(), 100);
        Ok(())
    }

    #[tokio::test]
    async fn a_current_thread_runtime_gets_no_budget() {
        assert_eq!(ReadAheadBudget::for_current_runtime(1 << 20).free_kib(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_thread_runtime_gets_the_whole_budget() {
        assert_eq!(ReadAheadBudget::for_current_runtime(1 << 20).free_kib(), 1024);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_runtime_of_one_worker_gets_no_budget() {
        assert_eq!(ReadAheadBudget::for_current_runtime(1 << 20).free_kib(), 0);
    }

    #[tokio::test]
    async fn batches_without_buffers_take_a_share_too() -> Result<()> {
        let empty = RecordBatch::try_new_with_options(
            Arc::new(arrow_schema::Schema::empty()),
            vec![],
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(5)),
        )?;
        assert_eq!(empty.get_array_memory_size(), 0);
        let budget = ReadAheadBudget::new(10 << 10);
        let (produced, _stream) = counted(empty, 100, &budget)?;
        settle().await;
        assert_eq!(produced.load(Ordering::SeqCst), 13);
        Ok(())
    }

    #[tokio::test]
    async fn shares_come_back_when_the_consumer_stops_early() -> Result<()> {
        let budget = ReadAheadBudget::new(1 << 20);
        let (produced, stream) = counted(batch(1024)?, usize::MAX, &budget)?;
        let mut stream = Box::pin(stream);
        assert!(stream.next().await.is_some());
        settle().await;
        assert!(produced.load(Ordering::SeqCst) > 3);
        assert!(budget.free_kib() < 1024);
        drop(stream);
        settle().await;
        assert_eq!(budget.free_kib(), 1024);
        Ok(())
    }

    #[tokio::test]
    async fn an_error_is_forwarded_after_the_batches_before_it_and_ends_the_stream() -> Result<()> {
        let budget = ReadAheadBudget::new(1 << 20);
        let ok = batch(3)?;
        let input = futures::stream::iter(vec![Ok(ok.clone()), Err(Error::invalid("bad batch")), Ok(ok.clone())]);
        let stream = task_stream(
            tokio::runtime::Handle::current(),
            2,
            "a test producer",
            move |tx| async move {
                forward_ahead(input, tx, budget).await;
            },
        );
        let items: Vec<Result<RecordBatch>> = stream.collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(matches!(&items[1], Err(e) if e.kind() == ErrorKind::InvalidArgument));
        Ok(())
    }
}
