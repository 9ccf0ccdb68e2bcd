//! Iceberg errors as lake-api errors, with the table, snapshot or file they concern.

use lake_api::{Error, ErrorKind};

/// Converts an iceberg error, prefixing `context` (which table, snapshot or file).
pub(crate) fn from_iceberg(error: iceberg::Error, context: impl std::fmt::Display) -> Error {
    use iceberg::ErrorKind as K;
    let kind = match error.kind() {
        _ if lake_api::error::is_missing_file(&error) => ErrorKind::NotFound,
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
