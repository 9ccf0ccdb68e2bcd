//! `lakescan`: the lakeunion table scanner.
//!
//! This first cut has the embedded demo only; the scanner subcommands (`scan`, `schema`,
//! `snapshots`, `explain`, `stats`) arrive with the lake backends.

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lake_api::MergeStrategy;

/// Union-read tables that live half in a data lake and half in a live log.
#[derive(Debug, Parser)]
#[command(name = "lakescan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print the whole cause chain of errors.
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a small table with a log tail (an embedded LocalLog tiered into a lake),
    /// union-read it and print it.
    Demo {
        /// How lake rows and log changes merge: auto, sort-merge or key-filter.
        #[arg(long, default_value = "auto", value_parser = parse_strategy)]
        strategy: MergeStrategy,
        /// Where the table's log is written (a fresh temporary directory by default).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

fn parse_strategy(s: &str) -> Result<MergeStrategy, String> {
    MergeStrategy::parse(s).map_err(|e| e.message().to_string())
}

fn main() -> ExitCode {
    // clap exits with 2 on usage errors
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lakescan: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo { strategy, dir } => demo::run(strategy, dir).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lakescan: {e}");
            if cli.verbose {
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    eprintln!("  caused by: {s}");
                    source = s.source();
                }
            }
            ExitCode::FAILURE
        }
    }
}
