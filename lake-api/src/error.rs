//! The one error type of lake-api: a kind to match on, a message naming what failed
//! (bucket, offset, column, file), and an optional source.

use std::fmt;

/// What went wrong, coarse enough to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something invalid (unknown column, bad filter string, bad option).
    InvalidArgument,
    /// Stored data is corrupt or inconsistent (bad split bytes, CRC mismatch, truncated file).
    Corrupt,
    /// Data does not match the table schema (missing key column, wrong types).
    SchemaMismatch,
    /// Log offsets are not what the reader expected (backwards, gaps, past the end).
    Offsets,
    /// A split or serialized envelope has a version or kind this build does not know.
    UnsupportedVersion,
    /// A table, snapshot, bucket or file does not exist.
    NotFound,
    /// The operation is not supported by this backend.
    Unsupported,
    /// I/O failed (spill files, local files, object stores).
    Io,
    /// An Arrow kernel failed.
    Arrow,
    /// A backend or log client failed in a way not covered above.
    External,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::SchemaMismatch => "schema mismatch",
            ErrorKind::Offsets => "offset error",
            ErrorKind::UnsupportedVersion => "unsupported version",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "i/o error",
            ErrorKind::Arrow => "arrow error",
            ErrorKind::External => "external error",
        };
        f.write_str(s)
    }
}

/// Whether an error chain says that a file or object is missing: an `io::Error` of kind
/// `NotFound` in it, or, where a format crate re-wraps the cause as text, the words of the
/// operating system (`No such file or directory`), of opendal (`NotFound (persistent)`) or
/// of S3 (`NoSuchKey`). Backends use it to tell [`ErrorKind::NotFound`] from corruption.
/// The words are an approximation: a missing bucket reads as a missing object too.
///
/// ```
/// use lake_api::error::is_missing_file;
///
/// let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert!(is_missing_file(&gone));
/// let wrapped = std::io::Error::other("read failed: NotFound (persistent) at read => NoSuchKey");
/// assert!(is_missing_file(&wrapped));
/// assert!(!is_missing_file(&std::io::Error::other("invalid footer")));
/// ```
pub fn is_missing_file(error: &(dyn std::error::Error + 'static)) -> bool {
    // `io::Error`s some crates print with `{:?}` instead of keeping them as sources
    const WORDS: &[&str] = &[
        "No such file or directory",
        "(os error 2)",
        "NotFound (",
        "NoSuchKey",
        "kind: NotFound",
        "Kind(NotFound)",
    ];
    let mut source = Some(error);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return true;
        }
        let text = s.to_string();
        if WORDS.iter().any(|w| text.contains(w)) {
            return true;
        }
        source = s.source();
    }
    false
}

/// Runs `f`, turning a panic in it into a [`ErrorKind::Corrupt`] error that says what was
/// being read (`what`) and why the decoder gave up.
///
/// For decoders that assert on malformed input rather than return an error (arrow-ipc and
/// arrow-buffer do, on some damaged buffers): bad data must reach the caller as an error.
/// The panic hook still runs, so the panic's message is printed too.
///
/// ```
/// use lake_api::ErrorKind;
/// use lake_api::error::corrupt_on_panic;
///
/// let fine: lake_api::Result<i32> = corrupt_on_panic("the footer", || Ok(1));
/// assert_eq!(fine?, 1);
/// let e = corrupt_on_panic::<()>("the footer", || panic!("offset out of bounds")).unwrap_err();
/// assert_eq!(e.kind(), ErrorKind::Corrupt);
/// assert!(e.to_string().contains("the footer is malformed (the decoder gave up: offset out of bounds)"));
/// # Ok::<(), lake_api::Error>(())
/// ```
pub fn corrupt_on_panic<T>(what: impl fmt::Display, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(Error::corrupt(format!(
            "{what} is malformed (the decoder gave up: {reason})"
        )))
    })
}

/// The error of lake-api. Backends define their own and convert into this one.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The same error as another kind, its message and cause kept: for a layer that knows
    /// better what a lower one's error means (a missing file of a table that exists is
    /// corruption, not an absent table).
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// A [`ErrorKind::NotFound`] error as `kind`, with `context` before its message; any
    /// other error as it is. For a layer that knows what is there: a file missing from a
    /// table that was just listed is no absent table.
    ///
    /// ```
    /// use lake_api::{Error, ErrorKind};
    ///
    /// let missing = Error::new(ErrorKind::NotFound, "no file v3.json");
    /// let e = missing.not_found_as(ErrorKind::Corrupt, "table db.t");
    /// assert_eq!(e.kind(), ErrorKind::Corrupt);
    /// assert_eq!(e.message(), "table db.t: no file v3.json");
    /// let io = Error::new(ErrorKind::Io, "timed out").not_found_as(ErrorKind::Corrupt, "table db.t");
    /// assert_eq!(io.message(), "timed out");
    /// ```
    pub fn not_found_as(self, kind: ErrorKind, context: impl fmt::Display) -> Self {
        match self.kind {
            ErrorKind::NotFound => self.with_kind(kind).context(context),
            _ => self,
        }
    }

    /// Prefixes the message with context (which bucket, split or file was being read).
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind or the source.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The kind, the message and the cause, for converting into another crate's error:
    /// that error takes the message and this error's cause, not this error as its cause,
    /// which would print the message twice.
    pub fn into_parts(
        self,
    ) -> (
        ErrorKind,
        String,
        Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) {
        (self.kind, self.message, self.source)
    }

    /// An error from its parts, as [`into_parts`](Self::into_parts) gives them: what another
    /// crate's error converts into (its message, and its cause as the cause).
    pub fn from_parts(
        kind: ErrorKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source,
        }
    }

    /// An [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// An [`ErrorKind::Corrupt`] error.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }

    /// An [`ErrorKind::SchemaMismatch`] error.
    pub fn schema(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::SchemaMismatch, message)
    }

    /// An [`ErrorKind::Offsets`] error.
    pub fn offsets(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Offsets, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        match e {
            arrow_schema::ArrowError::IoError(msg, io) => Error::new(ErrorKind::Io, msg).with_source(io),
            other => Error::new(ErrorKind::Arrow, "arrow kernel failed").with_source(other),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, "i/o failed").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_kind_context_and_source() {
        let io = std::io::Error::other("disk full");
        let e = Error::new(ErrorKind::Io, "writing spill run")
            .with_source(io)
            .context("bucket 3");
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "i/o error: bucket 3: writing spill run: disk full");
        assert!(std::error::Error::source(&e).is_some());
    }
}
