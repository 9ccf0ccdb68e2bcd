//! `lakescan scan`: the union read, written as a table, JSON, JSON lines, CSV, Parquet or
//! Arrow IPC; `--follow` keeps tailing the log as a changelog.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use clap::{Args, ValueEnum};
use futures::StreamExt;
use lake_api::{BlobMode, MergeStrategy, ReadMode, RecordBatchStream, UnionScan, UnionTable};
use lake_sink::{IpcFileSink, OutputFile, ParquetFileSink, Sink, drain};

use crate::failure::{CliResult, Failure};
use crate::offsets::{AsOfOffsets, parse_as_of};
use crate::progress::{self, Progress};
use crate::render::{self, TableLayout};
use crate::table::{self, TableArgs};
use crate::terminal_json::TerminalJson;

/// Parses `auto`, `sort-merge` or `key-filter`.
pub fn parse_strategy(s: &str) -> Result<MergeStrategy, String> {
    MergeStrategy::parse(s).map_err(|e| e.message().to_string())
}

/// What to read: columns, filter, limit, strategy and sides.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Only these columns, in this order (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub columns: Option<Vec<String>>,
    /// Keep rows matching a SQL-like predicate, e.g. "amount > 10 AND customer LIKE 'g%'".
    #[arg(long, value_name = "PREDICATE")]
    pub filter: Option<String>,
    /// Return at most N rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// How lake rows and log changes merge: auto, sort-merge or key-filter.
    #[arg(long, default_value = "auto", value_parser = parse_strategy)]
    pub strategy: MergeStrategy,
    /// Read the lake snapshot alone (stale by the log tail).
    #[arg(long, conflicts_with_all = ["log_only", "as_of_offsets"])]
    pub lake_only: bool,
    /// Read the log alone, from each bucket's earliest offset.
    #[arg(long)]
    pub log_only: bool,
    /// Read the table as of these log offsets: each listed bucket's log stops before its
    /// offset (the others read to their end), e.g. "0=5,1=3" or "us/0=4,eu/1=2".
    #[arg(long, value_name = "BUCKET=OFFSET,...", value_parser = parse_as_of)]
    pub as_of_offsets: Option<AsOfOffsets>,
}

impl ReadArgs {
    pub(crate) fn mode(&self) -> ReadMode {
        if self.lake_only {
            ReadMode::LakeOnly
        } else if self.log_only {
            ReadMode::LogOnly
        } else {
            ReadMode::Union
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A bordered text table (BLOBs described, VECTORs shortened, long cells cut).
    Table,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header (VECTORs as text).
    Csv,
    /// A Parquet file (BLOB / VECTOR types kept).
    Parquet,
    /// An Arrow IPC file (BLOB / VECTOR types kept).
    Arrow,
}

/// `scan`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    /// After the exact read, keep tailing the log and print each change as it arrives,
    /// with its change type (+I, -U, +U, -D, +A) in a `_change_type` column.
    #[arg(long, conflicts_with_all = ["limit", "lake_only", "as_of_offsets"])]
    pub follow: bool,
    /// Output format. Without it, an --output FILE ending in .csv, .json, .jsonl (or
    /// .ndjson), .parquet or .arrow (or .ipc, .feather) is written in that format, and
    /// anything else is a table.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The widest a cell of `--format table` may be, in characters (0: no limit).
    #[arg(long, default_value_t = 40, value_name = "CHARS")]
    pub max_width: usize,
    /// The most rows `--format table` prints (it holds them to lay the table out); the rest
    /// are counted. 0: no limit. Other formats, and --follow (which prints each batch as it
    /// comes), stream every row.
    #[arg(long, default_value_t = 1000, value_name = "ROWS")]
    pub max_rows: usize,
    /// Print BLOB cells as their bytes in hex (`table` and `csv`; `json`/`jsonl` always
    /// carry the bytes, hex-encoded) instead of `<blob 53 KB image/jpeg>`.
    #[arg(long)]
    pub blob_bytes: bool,
}

impl ScanArgs {
    /// The format written: `--format`, else the one `--output`'s extension names, else a
    /// table.
    pub fn format(&self) -> Format {
        self.format
            .or_else(|| self.output.as_deref().and_then(Format::of_file))
            .unwrap_or(Format::Table)
    }
}

impl Format {
    /// The format a file's extension names (in any case), if one does.
    fn of_file(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match extension.as_str() {
            "csv" => Format::Csv,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" => Format::Parquet,
            "arrow" | "ipc" | "feather" => Format::Arrow,
            _ => return None,
        })
    }
}

/// Builds the scan the read arguments describe.
pub async fn build_scan(table: &UnionTable, args: &ReadArgs) -> CliResult<UnionScan> {
    if args.lake_only && table.lake().is_none() {
        return Err(Failure::msg(format!(
            "--lake-only reads the lake snapshot, and no lake is given for table {}: name it with --lake and \
             --warehouse or --catalog-uri",
            table.info().path
        )));
    }
    // the scanner shows and writes BLOB cells themselves, so it reads payloads
    let mut builder = table
        .scan()
        .strategy(args.strategy)
        .mode(args.mode())
        .blobs(BlobMode::Payloads);
    if let Some(columns) = &args.columns {
        builder = builder.project(columns.iter().map(|c| c.trim().to_string()));
    }
    if let Some(text) = &args.filter {
        let predicate = lake_api::predicate::parse(text)
            .map_err(|e| Failure::usage(format!("bad --filter '{text}': {}", e.message())))?;
        builder = builder.filter(predicate);
    }
    if let Some(limit) = args.limit {
        builder = builder.limit(limit);
    }
    if let Some(as_of) = &args.as_of_offsets {
        as_of.check(table.info()).map_err(Failure::usage)?;
        if !table.info().partition_keys.is_empty() {
            let ranges = table.log().offset_ranges().await?;
            let known: std::collections::BTreeSet<&Vec<String>> = ranges.keys().map(|b| &b.partition).collect();
            if let Some(b) = as_of.0.keys().find(|b| !known.contains(&b.partition)) {
                let names: Vec<String> = known.iter().map(|p| lake_api::table::partition_name(p)).collect();
                return Err(Failure::msg(format!(
                    "--as-of-offsets names {b}, but the log of table {} has no partition {} (it has {})",
                    table.info().path,
                    lake_api::table::partition_name(&b.partition),
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )));
            }
        }
        builder = builder.as_of_offsets(as_of.0.clone());
    }
    Ok(builder.build().await?)
}

/// Runs `scan`.
pub async fn run(args: ScanArgs, quiet: bool) -> CliResult<()> {
    let format = args.format();
    let binary = matches!(format, Format::Parquet | Format::Arrow);
    if args.follow && matches!(format, Format::Json | Format::Parquet | Format::Arrow) {
        let from_extension = match (args.format, &args.output) {
            (None, Some(file)) => format!(
                " (not {}, which {}'s extension names)",
                format!("{format:?}").to_lowercase(),
                file.display()
            ),
            _ => String::new(),
        };
        return Err(Failure::usage(format!(
            "--follow never ends, so it writes a stream: use --format table, jsonl or csv{from_extension}"
        )));
    }
    if binary && args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::usage(
            "parquet and arrow output is binary: give --output FILE or redirect stdout",
        ));
    }
    let opened = table::open(&args.table).await?;
    let scan = build_scan(&opened.table, &args.read).await?;
    // a lake that holds no snapshot (a warehouse mistyped, a table not tiered yet) leaves
    // the log alone to read, or nothing: right either way, but not what naming a lake
    // suggests
    if let Some(lake) = &opened.lake
        && scan.snapshot().is_none()
        && !quiet
    {
        let read = match args.read.mode() {
            ReadMode::Union => Some("read the log alone"),
            ReadMode::LakeOnly => Some("a lake-only read has no rows"),
            ReadMode::LogOnly => None,
        };
        if let Some(read) = read {
            crate::stdout::note(format_args!(
                "note: {lake} holds no snapshot of {}: {read}",
                opened.table.info().path
            ));
        }
    }
    // rows streamed to a terminal show progress themselves: no bar beside them
    let streams_to_terminal = args.output.is_none() && format != Format::Table && std::io::stdout().is_terminal();
    let bar = Progress::start(progress::wanted(quiet) && !args.follow && !streams_to_terminal);
    let result = write(&args, format, &scan, quiet, &bar).await;
    bar.finish();
    result
}

/// Reads the scan and writes it in `format` ([`ScanArgs::format`]) as `args` ask.
async fn write(args: &ScanArgs, format: Format, scan: &UnionScan, quiet: bool, bar: &Progress) -> CliResult<()> {
    let binary = matches!(format, Format::Parquet | Format::Arrow);
    let stream = if args.follow {
        scan.follow().await?
    } else {
        progress::stream(scan, bar).await?
    };
    if binary {
        return write_binary(stream, format, args.output.as_deref(), quiet, bar).await;
    }
    // a followed scan never completes: it writes in place; anything else is renamed into
    // place once whole
    let mut pending = None;
    // a terminal acts on escape sequences in the data: stdout, or one named by -o
    // (`/dev/tty`, `/dev/stdout`), gets them replaced or escaped
    let mut to_terminal = std::io::stdout().is_terminal();
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) if args.follow => {
            let handle = OutputFile::create_in_place(p)?;
            to_terminal = handle.is_terminal();
            Box::new(BufWriter::new(Named::new(handle, p)))
        }
        Some(p) => {
            let (file, handle) = OutputFile::create(p)?;
            to_terminal = handle.is_terminal();
            pending = Some(file);
            Box::new(BufWriter::new(Named::new(handle, p)))
        }
        None => Box::new(BufWriter::new(crate::stdout::stdout())),
    };
    let layout = TableLayout {
        max_cell_width: args.max_width,
        max_table_width: terminal_width(to_terminal),
        blob_bytes: args.blob_bytes,
    };
    let rows = write_text(stream, format, args.follow, layout, args.max_rows, &mut out, bar).await?;
    out.flush()?;
    drop(out);
    if let Some(file) = pending {
        file.commit()?;
    }
    bar.finish();
    if !quiet && !args.follow {
        crate::stdout::note(format_args!("{rows} row{}", if rows == 1 { "" } else { "s" }));
    }
    Ok(())
}

/// The terminal's width, when writing to a terminal (see [`pick_width`]).
fn terminal_width(to_terminal: bool) -> Option<usize> {
    if !to_terminal {
        return None;
    }
    let columns = std::env::var("COLUMNS").ok();
    Some(pick_width(columns.as_deref(), || {
        console::Term::stdout().size_checked().map(|(_, width)| width)
    }))
}

/// The table width: `COLUMNS` where it holds a positive number (a user's override), else
/// what the terminal reports (most shells do not export `COLUMNS`), else 120.
fn pick_width(columns: Option<&str>, terminal: impl FnOnce() -> Option<u16>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or_else(|| terminal().map(usize::from).filter(|&w| w > 0))
        .unwrap_or(120)
}

/// A file the output is written to, whose write errors name it (the format writers pass
/// on only the error's text: "No space left on device" alone names no file).
struct Named<W> {
    inner: W,
    path: PathBuf,
}

impl<W: Write> Named<W> {
    fn new(inner: W, path: &Path) -> Self {
        Self {
            inner,
            path: path.to_path_buf(),
        }
    }

    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("writing {}: {e}", self.path.display()))
    }
}

impl<W: Write> Write for Named<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.named(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.named(e))
    }
}

/// Writes a text format; returns the rows written.
async fn write_text(
    mut stream: RecordBatchStream,
    format: Format,
    follow: bool,
    layout: TableLayout,
    max_rows: usize,
    out: &mut Box<dyn Write>,
    bar: &Progress,
) -> CliResult<usize> {
    let schema = stream.schema();
    let mut rows = 0usize;
    // JSON on a terminal: what a terminal acts on, escaped (CSV and tables replace it)
    let mut terminal_json;
    let out: &mut dyn Write = if layout.for_terminal() && matches!(format, Format::Json | Format::Jsonl) {
        terminal_json = TerminalJson::new(&mut **out);
        &mut terminal_json
    } else {
        &mut **out
    };
    match format {
        Format::Table if !follow => {
            // the table is laid out over the rows it shows, so only those are held, as the
            // cells they show: not their batches, whose BLOB payloads a slice still holds
            let mut cells: Vec<Vec<String>> = Vec::new();
            let mut shown = 0usize;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                let room = if max_rows == 0 {
                    usize::MAX
                } else {
                    max_rows.saturating_sub(shown)
                };
                if room > 0 {
                    let keep = b.num_rows().min(room);
                    shown += keep;
                    cells.extend(render::table_cells(&b.slice(0, keep), layout)?);
                }
            }
            bar.finish();
            out.write_all(render::render_rows(&schema, &cells, layout).as_bytes())?;
            if shown < rows {
                writeln!(
                    out,
                    "({shown} of {rows} rows shown: raise --max-rows, or use --format jsonl/csv/parquet for all of them)"
                )?;
            }
        }
        Format::Json => {
            let mut writer = crate::json::writer_builder().build::<_, arrow::json::writer::JsonArray>(&mut *out);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                writer.write(&b)?;
            }
            writer.finish()?;
            drop(writer);
            out.write_all(b"\n")?;
        }
        _ => {
            let mut header = true;
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows();
                match format {
                    Format::Jsonl => {
                        let mut writer =
                            crate::json::writer_builder().build::<_, arrow::json::writer::LineDelimited>(&mut *out);
                        writer.write(&b)?;
                        writer.finish()?;
                    }
                    Format::Csv => {
                        let mut writer = arrow::csv::WriterBuilder::new().with_header(header).build(&mut *out);
                        writer.write(&render::csv_ready(&b, layout)?)?;
                    }
                    _ => {
                        // a followed table: each batch of changes as it arrives
                        out.write_all(render::render_table(&schema, std::slice::from_ref(&b), layout)?.as_bytes())?;
                    }
                }
                header = false;
                if follow {
                    out.flush()?;
                }
            }
            if header && format == Format::Csv {
                // no rows: still a header
                let empty = RecordBatch::new_empty(schema.clone());
                let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut *out);
                writer.write(&render::csv_ready(&empty, layout)?)?;
            }
        }
    }
    Ok(rows)
}

/// Writes Parquet or Arrow IPC through lake-sink's file sinks: to `output`, or to a temp
/// file copied to stdout.
async fn write_binary(
    stream: RecordBatchStream,
    format: Format,
    output: Option<&Path>,
    quiet: bool,
    bar: &Progress,
) -> CliResult<()> {
    let schema = stream.schema();
    let temp;
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().join(if format == Format::Parquet {
                "out.parquet"
            } else {
                "out.arrow"
            })
        }
    };
    let sink: Box<dyn Sink> = match format {
        Format::Parquet => Box::new(ParquetFileSink::create(&path, schema)?),
        _ => Box::new(IpcFileSink::create(&path, schema)?),
    };
    let summary = drain(stream, sink).await?;
    bar.finish();
    match output {
        Some(p) => {
            if !quiet {
                crate::stdout::note(format_args!(
                    "wrote {} rows ({}) to {}",
                    summary.rows,
                    render::human_bytes(summary.bytes),
                    p.display()
                ));
            }
        }
        None => {
            let mut file = File::open(&path)?;
            let mut stdout = crate::stdout::stdout();
            std::io::copy(&mut file, &mut stdout)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pick_width;

    #[test]
    fn the_width_comes_from_columns_then_the_terminal() {
        assert_eq!(pick_width(Some("80"), || Some(200)), 80);
        // regression: only COLUMNS was read (usually not exported: 120 whatever the
        // terminal), and COLUMNS=0 printed one column per group
        assert_eq!(pick_width(None, || Some(200)), 200);
        assert_eq!(pick_width(Some("0"), || Some(200)), 200);
        assert_eq!(pick_width(Some("wide"), || Some(200)), 200);
        assert_eq!(pick_width(None, || None), 120);
        assert_eq!(pick_width(None, || Some(0)), 120);
    }
}
