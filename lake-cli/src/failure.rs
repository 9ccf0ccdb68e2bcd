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
    pub fn is_broken_pipe(&self) -> bool {
        if crate::stdout::closed() {
            // whatever failed after the reader went away has no one to tell
            return true;
        }
        let Failure::Runtime(e) = self else {
            return false;
        };
        let mut current: Option<&(dyn StdError + 'static)> = Some(e.as_ref());
        while let Some(err) = current {
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            if let Some(arrow::error::ArrowError::IoError(_, io)) = err.downcast_ref::<arrow::error::ArrowError>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            current = err.source();
        }
        false
    }

    /// Prints the failure to stderr: one line, then the causes when `verbose`.
    pub fn report(&self, verbose: bool) {
        eprintln!("lakescan: {self}");
        if let Failure::Runtime(e) = self
            && verbose
        {
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
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
