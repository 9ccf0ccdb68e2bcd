//! The CLI's error: a usage error (exit 2) or a runtime error (exit 1), printed as one
//! readable line, with the cause chain under `-v`.

use std::error::Error as StdError;
use std::fmt;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The command line asks for something impossible (exit 2).
    Usage(String),
    /// Running the command failed (exit 1).
    Runtime(Box<dyn StdError + Send + Sync + 'static>),
}

/// `Result` with [`Failure`].
pub type CliResult<T> = Result<T, Failure>;

impl Failure {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    /// A runtime error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Failure::Runtime(message.into().into())
    }

    /// Whether the failure is a closed stdout (`lakescan scan | head`): not an error.
    ///
    /// Only standard output's own writer can tell: a broken pipe anywhere else (an object
    /// store's connection, a FIFO named by `--output`) is a failure to report, and the
    /// closed stdout may come back as any error (arrow's CSV writer keeps only its text).
    pub fn is_broken_pipe(&self) -> bool {
        crate::stdout::closed()
    }

    /// Prints the failure to stderr: one line, then the causes when `verbose`.
    pub fn report(&self, verbose: bool) {
        crate::stdout::note(format_args!("lakescan: {self}"));
        if let Failure::Runtime(e) = self
            && verbose
        {
            let mut source = e.source();
            while let Some(s) = source {
                crate::stdout::note(format_args!("  caused by: {s}"));
                source = s.source();
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => write!(f, "{m}"),
            Failure::Runtime(e) => write!(f, "{e}"),
        }
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Runtime(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_not_on_stdout_is_reported() {
        // regression: any `BrokenPipe` in the cause chain ended the command with exit 0,
        // so a connection or FIFO that broke lost output without a word
        let io = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection reset");
        assert!(!Failure::from(io()).is_broken_pipe());
        let wrapped = arrow::error::ArrowError::IoError("writing a part".into(), io());
        assert!(!Failure::from(wrapped).is_broken_pipe());
    }
}
