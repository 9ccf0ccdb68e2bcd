//! Lance errors as lake-api errors, with the table, version or file they concern.

use lake_api::{Error, ErrorKind};

/// Converts a lance error, prefixing `context` (which table, version or file).
pub(crate) fn from_lance(error: lance::Error, context: impl std::fmt::Display) -> Error {
    use lance::Error as L;
    let kind = match &error {
        L::DatasetNotFound { .. } | L::VersionNotFound { .. } | L::NotFound { .. } => ErrorKind::NotFound,
        L::CorruptFile { .. } => ErrorKind::Corrupt,
        L::SchemaMismatch { .. } | L::Schema { .. } => ErrorKind::SchemaMismatch,
        L::NotSupported { .. } => ErrorKind::Unsupported,
        L::InvalidInput { .. } if looks_corrupt(&error) => ErrorKind::Corrupt,
        L::InvalidInput { .. } => ErrorKind::InvalidArgument,
        L::Arrow { .. } => ErrorKind::Arrow,
        _ if looks_missing(&error) => ErrorKind::NotFound,
        L::IO { .. } if looks_corrupt(&error) => ErrorKind::Corrupt,
        L::IO { .. } => ErrorKind::Io,
        _ => ErrorKind::External,
    };
    Error::new(kind, format!("{context}: {error}"))
}

/// A closure for `map_err` that converts with context.
pub(crate) fn lance_err<C: std::fmt::Display>(context: C) -> impl FnOnce(lance::Error) -> Error {
    move |e| from_lance(e, context)
}

// a wrapped object-store NotFound only survives as text
fn looks_missing(error: &lance::Error) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    text.contains("no such file or directory") || text.contains("not found") || text.contains("notfound")
}

// a file that is not a Lance file, or one cut short, is corrupt data, not a caller mistake
fn looks_corrupt(error: &lance::Error) -> bool {
    let text = error.to_string();
    text.contains("invalid magic")
        || text.contains("does not appear to be a Lance file")
        || text.contains("out of range")
        || text.contains("decode")
}
