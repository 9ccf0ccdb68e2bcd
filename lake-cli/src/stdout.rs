//! Standard output, watched for a reader that went away (`lakescan scan | head`), and
//! notes on standard error, which a reader gone from it does not fail.
//!
//! A closed pipe ends a command quietly with exit status 0, as it does for other Unix
//! tools. Some writers report a failed write as text only: arrow's CSV writer turns the
//! `io::Error` into `ArrowError::CsvError(String)`, which loses its kind. So the writer
//! here notes a broken pipe the moment it sees one, whatever becomes of the error after.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to standard output found its reader gone.
pub(crate) fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// Standard output, through a writer that notes a broken pipe.
pub(crate) fn stdout() -> Stdout {
    Stdout(io::stdout())
}

/// Writes `text`, a command's report, to standard output and flushes it. Reports carry
/// names, paths, values and properties from the lake and the log: what a terminal would act
/// on in them is replaced.
pub(crate) fn print(text: &str) -> io::Result<()> {
    let mut out = stdout();
    out.write_all(crate::render::sanitize(text, false).as_bytes())?;
    out.flush()
}

/// See [`stdout`].
pub(crate) struct Stdout(io::Stdout);

impl Stdout {
    fn noted<T>(result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            CLOSED.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::noted(self.0.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Self::noted(self.0.flush())
    }
}

/// Writes one line to standard error. A closed stderr loses the note but fails nothing:
/// `eprintln!` would panic there, after the command's work was done.
///
/// Notes carry paths, names and messages from the lake and the log: what a terminal would
/// act on in them is replaced.
pub(crate) fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "{}", crate::render::sanitize(&line.to_string(), false));
}
