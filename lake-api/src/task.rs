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

/// Bytes of batches that producers waiting their turn may hold, shared by all of them: a
/// semaphore counting KiB.
#[derive(Debug, Clone)]
pub(crate) struct ReadAheadBudget(Arc<Semaphore>);

impl ReadAheadBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(Semaphore::new((bytes >> 10).min(Semaphore::MAX_PERMITS))))
    }

    /// Takes the share a batch of `bytes` needs, if that much is free.
    fn try_take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024)).ok()?;
        self.0.clone().try_acquire_many_owned(kib).ok()
    }

    /// KiB free right now.
    #[cfg(test)]
    fn free_kib(&self) -> usize {
        self.0.available_permits()
    }
}

/// Like [`forward`], but reads on while `tx` is full, holding what it read, as long as
/// `budget` has room for it.
///
/// A batch read when the budget is out is held anyway (so a producer overshoots by at most
/// one batch) and reading pauses until everything held has been sent. A producer whose
/// consumer keeps up (the split being returned) therefore never waits for the budget, and
/// one whose consumer is busy elsewhere (a split waiting its turn) runs ahead until the
/// budget is spent: the budget bounds memory, never progress.
pub(crate) async fn forward_ahead(
    mut input: impl Stream<Item = Result<RecordBatch>> + Unpin,
    tx: Sender,
    budget: ReadAheadBudget,
) -> bool {
    let mut held: VecDeque<(Result<RecordBatch>, Option<OwnedSemaphorePermit>)> = VecDeque::new();
    // false once a held item has no share of the budget, or after an error or the end
    let mut may_read = true;
    let mut ended = false;
    loop {
        let Some((front, _)) = held.front() else {
            if ended {
                return true;
            }
            match input.next().await {
                Some(item) => held.push_back(hold(item, &budget)),
                None => return true,
            }
            may_read = held.back().is_some_and(|(item, share)| item.is_ok() && share.is_some());
            continue;
        };
        let failed = front.is_err();
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
                if held.is_empty() {
                    may_read = !ended;
                }
            }
            item = input.next(), if may_read => match item {
                Some(item) => {
                    held.push_back(hold(item, &budget));
                    may_read = held.back().is_some_and(|(item, share)| item.is_ok() && share.is_some());
                }
                None => {
                    ended = true;
                    may_read = false;
                }
            },
        }
    }
}

/// An item and its share of the budget (none for errors, or when the budget is out).
fn hold(item: Result<RecordBatch>, budget: &ReadAheadBudget) -> (Result<RecordBatch>, Option<OwnedSemaphorePermit>) {
    let share = match &item {
        Ok(batch) => budget.try_take(batch.get_array_memory_size()),
        Err(_) => None,
    };
    (item, share)
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

    /// A producer of `n` batches of 1,024 `i64`s that counts what it has produced, with its
    /// stream (nobody reads it until the test does).
    fn counted(
        n: usize,
        budget: &ReadAheadBudget,
    ) -> Result<(
        Arc<AtomicUsize>,
        impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    )> {
        let produced = Arc::new(AtomicUsize::new(0));
        let template = batch(1024)?;
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
        let (produced, stream) = counted(100, &budget)?;
        let mut stream = std::pin::pin!(stream);
        // the producer's task starts at once, read or not
        settle().await;
        let ahead = produced.load(Ordering::SeqCst);
        // 10 in the budget, 2 in the channel, one held without a share of the budget
        assert_eq!(ahead, 13, "read ahead: {ahead}");
        assert_eq!(budget.free_kib(), 0);
        // reading all of it gives every share back, in order and whole
        let mut rows = 0;
        while let Some(b) = stream.next().await {
            rows += b?.num_rows();
        }
        assert_eq!(rows, 100 * 1024);
        assert_eq!(produced.load(Ordering::SeqCst), 100);
        assert_eq!(budget.free_kib(), 10 * one.div_ceil(1024));
        Ok(())
    }

    #[tokio::test]
    async fn without_a_budget_a_waiting_producer_holds_three_batches() -> Result<()> {
        let budget = ReadAheadBudget::new(0);
        let (produced, stream) = counted(100, &budget)?;
        settle().await;
        assert_eq!(produced.load(Ordering::SeqCst), 3);
        let got: Vec<RecordBatch> = futures::TryStreamExt::try_collect(stream).await?;
        assert_eq!(got.len(), 100);
        Ok(())
    }

    #[tokio::test]
    async fn shares_come_back_when_the_consumer_stops_early() -> Result<()> {
        let budget = ReadAheadBudget::new(1 << 20);
        let (produced, stream) = counted(usize::MAX, &budget)?;
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
