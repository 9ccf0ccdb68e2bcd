//! `lakescan`: the lakeunion table scanner.
//!
//! Tables are addressed by their log, a LocalLog (`--log DIR [--table db.name]`) or a Fluss
//! cluster (`--fluss HOST:PORT --table db.name`), and the lake it is tiered into (`--lake`,
//! `--warehouse`, `--catalog-uri`, `--lake-option`), on the command line or in a
//! `lakescan.toml` profile.
//!
//! Exit codes: 0 success (also when a reader closes the output pipe), 1 runtime error, 2
//! usage error, 130/143/129 when stopped by SIGINT/SIGTERM/SIGHUP.

mod blob;
mod demo;
mod failure;
mod info;
mod json;
mod offsets;
mod profile;
mod progress;
mod render;
mod scan;
mod snapshots;
mod stdout;
mod table;
mod terminal_json;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lake_api::MergeStrategy;

use crate::failure::Failure;
use crate::scan::{ReadArgs, ScanArgs, parse_strategy};
use crate::table::TableArgs;

/// Union-read tables that live half in a data lake and half in a live log.
#[derive(Debug, Parser)]
#[command(name = "lakescan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print the whole cause chain of errors.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Print nothing but the data (no row counts, notes or progress bars on stderr).
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Union-read a table: lake snapshot plus the log after it, merged.
    Scan(Box<ScanArgs>),
    /// Show a table's columns (BLOB and VECTOR as such), key, buckets, partitions and
    /// merge engine.
    Schema {
        #[command(flatten)]
        table: TableArgs,
    },
    /// Show the plan of a scan: per split the lake splits, log ranges, merge strategy and
    /// why.
    #[command(visible_alias = "splits")]
    Explain {
        #[command(flatten)]
        table: TableArgs,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show row count, the lake snapshot (files, bytes, rows) and per-bucket lake rows,
    /// tiered offset and log offsets (earliest, end, tail length).
    Stats {
        #[command(flatten)]
        table: TableArgs,
    },
    /// Read BLOB cells.
    Blob {
        #[command(subcommand)]
        command: blob::BlobCommand,
    },
    /// List the table's lake snapshots, oldest first, with the log offsets each tiered up
    /// to (needs a lake).
    Snapshots {
        #[command(flatten)]
        table: TableArgs,
    },
    /// Build a small table with a log tail (an embedded LocalLog tiered into a lake),
    /// union-read it and print it.
    Demo {
        /// How lake rows and log changes merge: auto, sort-merge or key-filter.
        #[arg(long, default_value = "auto", value_parser = parse_strategy)]
        strategy: MergeStrategy,
        /// The lake the first round is tiered into.
        #[arg(long, value_enum, default_value = "iceberg")]
        lake: demo::DemoLake,
        /// Where the table's log (and the lake's warehouse, under `lake/`) is written (a
        /// fresh temporary directory by default).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    // clap exits with 2 on usage errors
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            crate::stdout::note(format_args!("lakescan: cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let quiet = cli.quiet;
    let mut interrupted = None;
    let result = runtime.block_on(async {
        let command = async {
            match cli.command {
                Command::Scan(args) => scan::run(*args, quiet).await,
                Command::Schema { table } => info::schema(&table).await,
                Command::Explain { table, read } => info::explain(&table, &read).await,
                Command::Stats { table } => info::stats(&table, quiet).await,
                Command::Blob {
                    command: blob::BlobCommand::Get(args),
                } => blob::get(&args, quiet).await,
                Command::Snapshots { table } => snapshots::run(&table).await,
                Command::Demo { strategy, lake, dir } => demo::run(strategy, lake, dir).await.map_err(Failure::from),
            }
        };
        // Ctrl-C (or a termination or hang-up) drops the command's future, so its temporary
        // files and directories are removed by their destructors instead of left behind
        tokio::select! {
            result = command => result,
            code = stopped() => {
                interrupted = Some(code);
                Ok(())
            }
        }
    });
    // Tasks still running hold temporary files: a sink finishing its file on a blocking
    // thread, split tasks aborted when the output stopped early (a closed pipe, a limit, an
    // error) with their spill directories. Shutting down drops them, so that their
    // destructors remove those; a process that exited at once would leave them behind.
    // A task in a long synchronous stretch is waited for a while, not for ever.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    if let Some(code) = interrupted {
        return ExitCode::from(code);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e @ Failure::Usage(_)) => {
            e.report(cli.verbose);
            ExitCode::from(2)
        }
        Err(e) => {
            e.report(cli.verbose);
            ExitCode::FAILURE
        }
    }
}

/// Waits for a signal to stop: SIGINT (Ctrl-C), and on Unix SIGTERM and SIGHUP too; the
/// exit status a process ended by it conventionally has (128 + its number).
async fn stopped() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        // each handler that registers is waited on (one registered is that signal caught:
        // left out of the wait, it would be ignored); one that does not leaves its signal
        // to end the process as it would
        async fn received(handler: &mut Option<Signal>) {
            match handler {
                Some(handler) => {
                    handler.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hangup = signal(SignalKind::hangup()).ok();
        tokio::select! {
            code = interrupt() => code,
            _ = received(&mut term) => 143,
            _ = received(&mut hangup) => 129,
        }
    }
    #[cfg(not(unix))]
    {
        interrupt().await
    }
}

/// Waits for Ctrl-C; 130, SIGINT's exit status. Never returns where none can be awaited.
async fn interrupt() -> u8 {
    match tokio::signal::ctrl_c().await {
        Ok(()) => 130,
        Err(_) => std::future::pending().await,
    }
}
