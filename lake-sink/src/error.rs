//! The error type of lake-sink: a kind to match on, a message naming what failed, and an
//! optional source. Converts to and from [`lake_api::Error`].
//!
//! ```
//! use lake_sink::error::{Error, ErrorKind};
//!
//! let e = Error::decode("row 3: not a JPEG or PNG").context("column image");
//! assert_eq!(e.kind(), ErrorKind::Decode);
//! let api: lake_api::Error = e.into();
//! assert_eq!(api.kind(), lake_api::ErrorKind::Corrupt);
//! ```

use std::fmt;

/// What went wrong, coarse enough to match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller asked for something invalid (unknown column, bad option, disallowed URI).
    InvalidArgument,
    /// Data does not have the schema the sink needs (wrong column type, schema change).
    SchemaMismatch,
    /// Stored data is corrupt or inconsistent (a BLOB reference past the end of its object).
    Corrupt,
    /// A payload could not be decoded (an image BLOB that is not a decodable image).
    Decode,
    /// A file or object does not exist.
    NotFound,
    /// The operation is not supported.
    Unsupported,
    /// I/O failed (local files, object stores).
    Io,
    /// An Arrow kernel or the Arrow IPC writer failed.
    Arrow,
    /// The Parquet writer or reader failed.
    Parquet,
    /// A dependency failed in a way not covered above.
    External,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::SchemaMismatch => "schema mismatch",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::Decode => "decode error",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "i/o error",
            ErrorKind::Arrow => "arrow error",
            ErrorKind::Parquet => "parquet error",
            ErrorKind::External => "external error",
        };
        f.write_str(s)
    }
}

/// The error of lake-sink.
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

    /// An [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// An [`ErrorKind::Decode`] error (an undecodable payload).
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode, message)
    }

    /// An [`ErrorKind::SchemaMismatch`] error.
    pub fn schema(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::SchemaMismatch, message)
    }

    /// An [`ErrorKind::Io`] error.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Prefixes the message with context (which file, column or row was being handled).
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

impl From<Error> for lake_api::Error {
    fn from(e: Error) -> Self {
        use lake_api::ErrorKind as K;
        let kind = match e.kind {
            ErrorKind::InvalidArgument => K::InvalidArgument,
            ErrorKind::SchemaMismatch => K::SchemaMismatch,
            ErrorKind::Corrupt | ErrorKind::Decode => K::Corrupt,
            ErrorKind::NotFound => K::NotFound,
            ErrorKind::Unsupported => K::Unsupported,
            ErrorKind::Io => K::Io,
            ErrorKind::Arrow => K::Arrow,
            ErrorKind::Parquet | ErrorKind::External => K::External,
        };
        let message = match e.kind {
            // Keep the finer kind visible once it is folded into a coarser one.
            ErrorKind::Decode | ErrorKind::Parquet => format!("{}: {}", e.kind, e.message),
            _ => e.message,
        };
        lake_api::Error::from_parts(kind, message, e.source)
    }
}

impl From<lake_api::Error> for Error {
    fn from(e: lake_api::Error) -> Self {
        use lake_api::ErrorKind as K;
        let (kind, message, source) = e.into_parts();
        let kind = match kind {
            K::InvalidArgument => ErrorKind::InvalidArgument,
            K::SchemaMismatch => ErrorKind::SchemaMismatch,
            K::Corrupt => ErrorKind::Corrupt,
            K::NotFound => ErrorKind::NotFound,
            K::Unsupported | K::UnsupportedVersion => ErrorKind::Unsupported,
            K::Io => ErrorKind::Io,
            K::Arrow => ErrorKind::Arrow,
            _ => ErrorKind::External,
        };
        Error { kind, message, source }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        match e {
            arrow_schema::ArrowError::IoError(msg, io) => Error::new(ErrorKind::Io, msg).with_source(io),
            other => Error::new(ErrorKind::Arrow, "arrow failed").with_source(other),
        }
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::new(ErrorKind::Parquet, "parquet failed").with_source(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        Error::new(kind, "i/o failed").with_source(e)
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            object_store::Error::InvalidPath { .. } => ErrorKind::InvalidArgument,
            object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
                ErrorKind::Unsupported
            }
            _ => ErrorKind::Io,
        };
        Error::new(kind, "object store failed").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways_keeping_kind_and_source() {
        let e = Error::new(ErrorKind::NotFound, "blob a.jpg")
            .with_source(std::io::Error::other("gone"))
            .context("row 4");
        assert_eq!(e.to_string(), "not found: row 4: blob a.jpg: gone");
        let api: lake_api::Error = e.into();
        assert_eq!(api.kind(), lake_api::ErrorKind::NotFound);
        assert!(std::error::Error::source(&api).is_some());
        let back: Error = api.into();
        assert_eq!(back.kind(), ErrorKind::NotFound);
        // the message and the cause once each, however often the error crossed over
        assert_eq!(back.to_string(), "not found: row 4: blob a.jpg: gone");

        let d: lake_api::Error = Error::decode("bad png").into();
        assert_eq!(d.kind(), lake_api::ErrorKind::Corrupt);
        assert!(d.message().contains("decode error"));
        assert_eq!(Error::invalid("x").kind(), ErrorKind::InvalidArgument);
    }
}

/// One row a sink could not process (its output is null or absent, never silently
/// dropped): its position in the input stream, the column, and why.
#[derive(Debug)]
pub struct RowError {
    /// The row's index in the input (the stream, counting from 0 over all batches; for
    /// slice APIs, the index in the slice).
    pub row: u64,
    /// The column, where the caller named one.
    pub column: Option<String>,
    /// Why the row failed.
    pub error: Error,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "row {} ({c}): {}", self.row, self.error),
            None => write!(f, "row {}: {}", self.row, self.error),
        }
    }
}

impl std::error::Error for RowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
