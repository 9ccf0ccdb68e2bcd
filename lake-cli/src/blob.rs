//! `lakescan blob get ROW COL [-o FILE]`: the bytes of one BLOB cell.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use arrow::array::{Array, ArrayRef, AsArray};
use clap::{Args, Subcommand};
use futures::StreamExt;
use lake_api::types::LogicalType;
use lake_sink::OutputFile;

use crate::failure::{CliResult, Failure};
use crate::progress::{self, Progress};
use crate::render;
use crate::scan::{ReadArgs, build_scan};
use crate::table::{self, TableArgs};

/// `blob`'s subcommands.
#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// Write the bytes of one BLOB cell to stdout (not a terminal) or --output FILE.
    Get(Box<GetArgs>),
}

/// `blob get`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// The row's index in scan order, from 0 (after --filter and --limit, as `scan` prints
    /// them).
    #[arg(value_name = "ROW")]
    pub row: usize,
    /// The BLOB column.
    #[arg(value_name = "COL")]
    pub column: String,
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The bytes of a binary cell, `None` when null; an error when the array is not binary.
fn cell(array: &ArrayRef, row: usize) -> Option<Option<&[u8]>> {
    if let Some(a) = array.as_binary_opt::<i64>() {
        return Some((!a.is_null(row)).then(|| a.value(row)));
    }
    if let Some(a) = array.as_binary_opt::<i32>() {
        return Some((!a.is_null(row)).then(|| a.value(row)));
    }
    if let Some(a) = array.as_binary_view_opt() {
        return Some((!a.is_null(row)).then(|| a.value(row)));
    }
    None
}

/// Runs `blob get`.
pub async fn get(args: &GetArgs, quiet: bool) -> CliResult<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "a BLOB is binary: give --output FILE or redirect stdout",
        ));
    }
    if args.read.columns.is_some() {
        return Err(Failure::usage("blob get reads COL alone: --columns does not apply"));
    }
    let opened = table::open(&args.table).await?;
    let info = opened.table.info().clone();
    let col = args.column.trim();
    let field = info
        .schema
        .field_with_name(col)
        .map_err(|_| Failure::msg(format!("table {} has no column '{col}'", info.path)))?;
    if LogicalType::of(field) != LogicalType::Blob {
        return Err(Failure::msg(format!(
            "column '{col}' is {}, not BLOB: blob get writes the bytes of BLOB cells",
            render::field_type_name(field)
        )));
    }
    // the rows up to ROW suffice
    let wanted = args.row.saturating_add(1);
    let mut read = args.read.clone();
    read.columns = Some(vec![col.to_string()]);
    read.limit = Some(args.read.limit.map_or(wanted, |l| l.min(wanted)));
    let scan = build_scan(&opened.table, &read).await?;
    let bar = Progress::start(progress::wanted(quiet));
    let found = find(&scan, args.row, &bar).await;
    bar.finish();
    let (batch_column, index) = match found? {
        Ok(found) => found,
        Err(seen) => {
            let limit = match args.read.limit {
                Some(l) if l <= args.row => format!(" (--limit {l})"),
                _ => String::new(),
            };
            return Err(Failure::msg(format!(
                "no row {}: the scan has {seen} row(s){limit}; rows count from 0",
                args.row
            )));
        }
    };
    let bytes = match cell(&batch_column, index) {
        Some(Some(b)) => b,
        Some(None) => {
            return Err(Failure::msg(format!(
                "row {}'s '{col}' is NULL: there are no bytes to write",
                args.row
            )));
        }
        None => {
            return Err(Failure::msg(format!(
                "column '{col}' holds {} values, not binary ones",
                batch_column.data_type()
            )));
        }
    };
    match &args.output {
        Some(path) => {
            let (pending, mut file) = OutputFile::create(path)?;
            file.write_all(bytes)
                .map_err(|e| Failure::msg(format!("cannot write {}: {e}", path.display())))?;
            drop(file);
            pending.commit()?;
            if !quiet {
                crate::stdout::note(format_args!(
                    "wrote {} ({}) to {}",
                    render::human_bytes(bytes.len() as u64),
                    render::sniff_mime(bytes),
                    path.display()
                ));
            }
        }
        None => {
            let mut out = crate::stdout::stdout();
            out.write_all(bytes)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// The column and index in it of row `row` of the scan, or how many rows the scan has.
async fn find(scan: &lake_api::UnionScan, row: usize, bar: &Progress) -> CliResult<Result<(ArrayRef, usize), usize>> {
    let mut stream = progress::stream(scan, bar).await?;
    let mut seen = 0usize;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let n = batch.num_rows();
        if row < seen + n {
            return Ok(Ok((batch.column(0).clone(), row - seen)));
        }
        seen += n;
    }
    Ok(Err(seen))
}
