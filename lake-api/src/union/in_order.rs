//! Streams read one after another, in order, with the ones behind the head already started:
//! how a scan reads its splits, each on a task of its own.
//!
//! A scan with a row limit usually needs few of its splits, and each split does its setup
//! (opening files, sorting or indexing its log tail) as soon as it starts. So the window of
//! started streams may start small and double each time a stream is read whole: a limit
//! that one split satisfies starts one, and a scan that reads on soon reaches full width.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

/// The streams that `start` makes of `items`, concatenated in item order; at most
/// `window` started at once, `window` doubling (up to `max`) each time one ends.
pub(crate) struct InOrder<T, S> {
    pending: VecDeque<T>,
    running: VecDeque<S>,
    start: Box<dyn FnMut(T) -> S + Send>,
    window: usize,
    max: usize,
}

impl<T, S> InOrder<T, S> {
    /// `window` streams are started on the first poll (at least 1, at most `max`).
    pub(crate) fn new(
        items: impl IntoIterator<Item = T>,
        window: usize,
        max: usize,
        start: impl FnMut(T) -> S + Send + 'static,
    ) -> Self {
        let max = max.max(1);
        Self {
            pending: items.into_iter().collect(),
            running: VecDeque::new(),
            start: Box::new(start),
            window: window.clamp(1, max),
            max,
        }
    }
}

impl<T, S> Unpin for InOrder<T, S> {}

impl<T, S: Stream + Unpin> Stream for InOrder<T, S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        loop {
            while this.running.len() < this.window
                && let Some(item) = this.pending.pop_front()
            {
                this.running.push_back((this.start)(item));
            }
            let Some(head) = this.running.front_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(head).poll_next(cx) {
                Poll::Ready(None) => {
                    this.running.pop_front();
                    this.window = this.window.saturating_mul(2).min(this.max);
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::StreamExt;

    use super::*;

    /// Eight two-item streams, counting how many were started.
    fn counted(
        window: usize,
        max: usize,
    ) -> (
        Arc<AtomicUsize>,
        InOrder<u32, futures::stream::Iter<std::vec::IntoIter<u32>>>,
    ) {
        let started = Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        let streams = InOrder::new(0..8u32, window, max, move |i| {
            counter.fetch_add(1, Ordering::SeqCst);
            futures::stream::iter(vec![2 * i, 2 * i + 1])
        });
        (started, streams)
    }

    #[tokio::test]
    async fn items_come_in_order_whatever_the_window() {
        for (window, max) in [(1, 1), (1, 4), (4, 4), (8, 3), (0, 0)] {
            let (started, streams) = counted(window, max);
            let got: Vec<u32> = streams.collect().await;
            assert_eq!(got, (0..16).collect::<Vec<_>>(), "window {window}, max {max}");
            assert_eq!(started.load(Ordering::SeqCst), 8);
        }
    }

    #[tokio::test]
    async fn the_window_starts_at_its_size_and_doubles_as_streams_end() {
        let (started, mut streams) = counted(1, 4);
        assert_eq!(streams.next().await, Some(0));
        assert_eq!(started.load(Ordering::SeqCst), 1);
        // the first stream ends: two run, then four
        assert_eq!(streams.next().await, Some(1));
        assert_eq!(streams.next().await, Some(2));
        assert_eq!(started.load(Ordering::SeqCst), 3);
        assert_eq!((streams.next().await, streams.next().await), (Some(3), Some(4)));
        assert_eq!(started.load(Ordering::SeqCst), 6);

        let (started, mut streams) = counted(3, 3);
        assert_eq!(streams.next().await, Some(0));
        assert_eq!(started.load(Ordering::SeqCst), 3);
    }
}
