//! Iceberg errors as lake-api errors, with the table, snapshot or file they concern.

use lake_api::{Error, ErrorKind};

/// Converts an iceberg error, prefixing `context` (which table, snapshot or file).
pub(crate) fn from_iceberg(error: iceberg::Error, context: impl std::fmt::Display) -> Error {
    use iceberg::ErrorKind as K;
    let kind = match error.kind() {
        _ if looks_missing(&error) => ErrorKind::NotFound,
        K::TableNotFound | K::NamespaceNotFound => ErrorKind::NotFound,
        K::FeatureUnsupported => ErrorKind::Unsupported,
        K::DataInvalid => ErrorKind::Corrupt,
        K::PreconditionFailed | K::TableAlreadyExists | K::NamespaceAlreadyExists => ErrorKind::InvalidArgument,
        _ if looks_corrupt(&error) => ErrorKind::Corrupt,
        _ => ErrorKind::External,
    };
    Error::new(kind, format!("{context}: {}", error.message())).with_source(error)
}

/// A closure for `map_err` that converts with context.
pub(crate) fn iceberg_err<C: std::fmt::Display>(context: C) -> impl FnOnce(iceberg::Error) -> Error {
    move |e| from_iceberg(e, context)
}

// A missing file reaches us as an `io::Error` of kind `NotFound` in the source chain, or,
// where iceberg's reader re-wraps it, only as the OS message inside a `DataInvalid` one.
fn looks_missing(error: &iceberg::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::NotFound
        {
            return true;
        }
        let text = s.to_string();
        if text.contains("No such file or directory") || text.contains("(os error 2)") {
            return true;
        }
        source = s.source();
    }
    false
}

// A damaged Parquet file surfaces as a parquet error inside an `Unexpected` one.
fn looks_corrupt(error: &iceberg::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(s) = source {
        if s.downcast_ref::<parquet::errors::ParquetError>().is_some() {
            return true;
        }
        source = s.source();
    }
    error.message().contains("Parquet") || error.message().contains("parquet")
}
