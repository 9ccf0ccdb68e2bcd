//! A progress bar on stderr for scans that take longer than a second: rows read and splits
//! done out of the planned total. Hidden when stderr is not a terminal, with `--quiet`, and
//! wherever it would share a terminal with streamed rows; it never writes to stdout.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lake_api::{RecordBatchStream, UnionScan};

use crate::failure::CliResult;

/// How long a scan runs before its bar appears (`LAKESCAN_PROGRESS_AFTER_MS` overrides
/// the one second, for tests).
fn delay() -> Duration {
    std::env::var("LAKESCAN_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// Whether a bar may be drawn at all: stderr is a terminal and `--quiet` was not given.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

struct Shared {
    bar: ProgressBar,
    rows: AtomicU64,
    /// Set once the bar is finished: the timer must not show it after that.
    finished: Mutex<bool>,
}

impl Shared {
    fn refresh(&self) {
        let rows = self.rows.load(Ordering::Relaxed);
        self.bar
            .set_message(format!("{rows} row{} read", if rows == 1 { "" } else { "s" }));
    }
}

/// A progress bar that appears after a delay; cleared when finished or dropped.
#[derive(Clone)]
pub struct Progress {
    shared: Option<Arc<Shared>>,
}

impl Progress {
    /// A bar that is never drawn.
    pub fn hidden() -> Self {
        Self { shared: None }
    }

    /// A bar drawn on stderr once the scan has run for the delay, when `show`. Needs a Tokio
    /// runtime.
    pub fn start(show: bool) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template("{spinner} scanning: {msg}, {pos}/{len} splits done [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        let shared = Arc::new(Shared {
            bar,
            rows: AtomicU64::new(0),
            finished: Mutex::new(false),
        });
        shared.refresh();
        let timer = shared.clone();
        let after = delay();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Ok(finished) = timer.finished.lock()
                && !*finished
            {
                timer.bar.set_draw_target(ProgressDrawTarget::stderr());
                timer.bar.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Self { shared: Some(shared) }
    }

    /// Whether the bar may be drawn.
    pub fn is_active(&self) -> bool {
        self.shared.is_some()
    }

    fn set_splits(&self, total: usize) {
        if let Some(s) = &self.shared {
            s.bar.set_length(total as u64);
        }
    }

    fn split_done(&self) {
        if let Some(s) = &self.shared {
            s.bar.inc(1);
        }
    }

    fn add_rows(&self, rows: usize) {
        if let Some(s) = &self.shared {
            s.rows.fetch_add(rows as u64, Ordering::Relaxed);
            s.refresh();
        }
    }

    /// Clears the bar for good (before the command writes its summary).
    pub fn finish(&self) {
        if let Some(s) = &self.shared {
            if let Ok(mut finished) = s.finished.lock() {
                *finished = true;
            }
            s.bar.finish_and_clear();
        }
    }
}

/// The scan's rows, as [`UnionScan::to_stream`] reads them (its limit included), counting
/// rows and finished splits on `progress` when it is active.
pub async fn stream(scan: &UnionScan, progress: &Progress) -> CliResult<RecordBatchStream> {
    if !progress.is_active() {
        return Ok(scan.to_stream().await?);
    }
    Ok(counted_stream(scan, progress).await?)
}

async fn counted_stream(scan: &UnionScan, progress: &Progress) -> lake_api::Result<RecordBatchStream> {
    let splits = scan.plan().await?;
    progress.set_splits(splits.len());
    let counter = progress.clone();
    let stream = scan.stream_splits(splits, Arc::new(move || counter.split_done()));
    let rows = progress.clone();
    let schema = stream.schema();
    let counted = stream.inspect(move |item| {
        if let Ok(b) = item {
            rows.add_rows(b.num_rows());
        }
    });
    Ok(RecordBatchStream::new(schema, counted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use lake_api::UnionTable;
    use lake_api::memory::{MemoryLog, demo_info, demo_rounds};

    async fn demo_table() -> UnionTable {
        let log = MemoryLog::new(demo_info()).unwrap();
        let (first, tail) = demo_rounds().unwrap();
        for (bucket, batch, changes) in first.into_iter().chain(tail) {
            log.append(&bucket, batch, changes).unwrap();
        }
        UnionTable::open(Arc::new(log), None).await.unwrap()
    }

    #[tokio::test]
    async fn the_counted_read_returns_what_to_stream_does() {
        let table = demo_table().await;
        for limit in [None, Some(0), Some(1), Some(4), Some(100)] {
            // as the scanner reads them (references would name a new memory chunk per read)
            let mut builder = table.scan().blobs(lake_api::BlobMode::Payloads);
            if let Some(l) = limit {
                builder = builder.limit(l);
            }
            let scan = builder.build().await.unwrap();
            let want: Vec<_> = scan.to_stream().await.unwrap().try_collect().await.unwrap();
            let progress = Progress {
                shared: Some(Arc::new(Shared {
                    bar: ProgressBar::hidden(),
                    rows: AtomicU64::new(0),
                    finished: Mutex::new(false),
                })),
            };
            let got: Vec<_> = stream(&scan, &progress).await.unwrap().try_collect().await.unwrap();
            let rows = |b: &[arrow::array::RecordBatch]| b.iter().map(|b| b.num_rows()).sum::<usize>();
            assert_eq!(rows(&got), rows(&want), "{limit:?}");
            let text =
                |b: &[arrow::array::RecordBatch]| arrow::util::pretty::pretty_format_batches(b).unwrap().to_string();
            assert_eq!(text(&got), text(&want), "{limit:?}");
            let shared = progress.shared.as_ref().unwrap();
            assert_eq!(shared.rows.load(Ordering::Relaxed) as usize, rows(&want));
            if limit.is_none() {
                assert_eq!(shared.bar.position(), 4, "every split done");
                assert_eq!(shared.bar.length(), Some(4));
            }
            progress.finish();
        }
    }
}
