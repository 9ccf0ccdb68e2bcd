//! The error of fluss-client: a kind, a message naming the file, bucket or offset, and
//! an optional source. Converts into lake-api's error.

use std::fmt;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bytes that are not a valid Fluss log batch, descriptor or offsets file (bad CRC,
    /// truncated, unknown magic, counts that disagree).
    Corrupt,
    /// A batch or file does not match the table schema.
    SchemaMismatch,
    /// Offsets out of range, going backwards, or aged out of the log.
    Offsets,
    /// A table, bucket, segment or file does not exist.
    NotFound,
    /// The caller asked for something invalid.
    InvalidArgument,
    /// Something this build does not support (a magic version, a codec).
    Unsupported,
    /// File-system I/O failed.
    Io,
    /// An Arrow kernel or the IPC codec failed.
    Arrow,
    /// A Fluss cluster failed or refused a request, or could not be reached.
    Remote,
}

/// The error of fluss-client.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the cause.
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Prefixes the message with context.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::SchemaMismatch => "schema mismatch",
            ErrorKind::Offsets => "offset error",
            ErrorKind::NotFound => "not found",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Io => "i/o error",
            ErrorKind::Arrow => "arrow error",
            ErrorKind::Remote => "fluss cluster error",
        };
        write!(f, "{kind}: {}", self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
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

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, "i/o failed").with_source(e)
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::new(ErrorKind::Arrow, "arrow failed").with_source(e)
    }
}

impl From<lake_api::Error> for Error {
    fn from(e: lake_api::Error) -> Self {
        let (kind, message, source) = e.into_parts();
        let kind = match kind {
            lake_api::ErrorKind::Corrupt => ErrorKind::Corrupt,
            lake_api::ErrorKind::SchemaMismatch => ErrorKind::SchemaMismatch,
            lake_api::ErrorKind::Offsets => ErrorKind::Offsets,
            lake_api::ErrorKind::NotFound => ErrorKind::NotFound,
            lake_api::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
            lake_api::ErrorKind::Unsupported | lake_api::ErrorKind::UnsupportedVersion => ErrorKind::Unsupported,
            lake_api::ErrorKind::Io => ErrorKind::Io,
            lake_api::ErrorKind::External => ErrorKind::Remote,
            _ => ErrorKind::Arrow,
        };
        Error { kind, message, source }
    }
}

impl From<Error> for lake_api::Error {
    fn from(e: Error) -> Self {
        let kind = match e.kind {
            ErrorKind::Corrupt => lake_api::ErrorKind::Corrupt,
            ErrorKind::SchemaMismatch => lake_api::ErrorKind::SchemaMismatch,
            ErrorKind::Offsets => lake_api::ErrorKind::Offsets,
            ErrorKind::NotFound => lake_api::ErrorKind::NotFound,
            ErrorKind::InvalidArgument => lake_api::ErrorKind::InvalidArgument,
            ErrorKind::Unsupported => lake_api::ErrorKind::Unsupported,
            ErrorKind::Io => lake_api::ErrorKind::Io,
            ErrorKind::Arrow => lake_api::ErrorKind::Arrow,
            ErrorKind::Remote => lake_api::ErrorKind::External,
        };
        let message = match e.kind {
            // keep the finer kind visible once it is folded into a coarser one
            ErrorKind::Remote => format!("fluss cluster error: {}", e.message),
            _ => e.message,
        };
        lake_api::Error::from_parts(kind, message, e.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_ways_saying_the_message_and_cause_once() {
        let e = Error::corrupt("tiered offsets are not valid JSON")
            .with_source(std::io::Error::other("line 1"))
            .context("snapshot 3");
        let text = "corrupt data: snapshot 3: tiered offsets are not valid JSON: line 1";
        assert_eq!(e.to_string(), text);
        let api: lake_api::Error = e.into();
        assert_eq!(
            (api.kind(), api.to_string()),
            (lake_api::ErrorKind::Corrupt, text.to_string())
        );
        assert!(std::error::Error::source(&api).is_some());
        let back: Error = api.into();
        assert_eq!((back.kind(), back.to_string()), (ErrorKind::Corrupt, text.to_string()));
        assert!(std::error::Error::source(&back).is_some());
        let remote: lake_api::Error = Error::new(ErrorKind::Remote, "request refused").into();
        assert_eq!(remote.kind(), lake_api::ErrorKind::External);
        assert_eq!(
            remote.to_string(),
            "external error: fluss cluster error: request refused"
        );
    }
}
