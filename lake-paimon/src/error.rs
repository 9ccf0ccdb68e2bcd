//! Paimon errors as lake-api errors, with the table, snapshot or file they concern.

use lake_api::{Error, ErrorKind};

/// Converts a paimon error, prefixing `context` (which table, snapshot or file).
pub(crate) fn from_paimon(error: paimon::Error, context: impl std::fmt::Display) -> Error {
    use paimon::Error as E;
    let kind = match &error {
        _ if lake_api::error::is_missing_file(&error) => ErrorKind::NotFound,
        E::TableNotExist { .. }
        | E::DatabaseNotExist { .. }
        | E::SnapshotNotExist { .. }
        | E::TagNotExist { .. }
        | E::ColumnNotExist { .. } => ErrorKind::NotFound,
        E::Unsupported { .. } | E::IoUnsupported { .. } => ErrorKind::Unsupported,
        E::DataInvalid { .. }
        | E::DataUnexpected { .. }
        | E::ParquetDataUnexpected { .. }
        | E::FileIndexFormatInvalid { .. } => ErrorKind::Corrupt,
        E::DataTypeInvalid { .. } => ErrorKind::SchemaMismatch,
        E::ConfigInvalid { .. }
        | E::IdentifierInvalid { .. }
        | E::TableAlreadyExist { .. }
        | E::DatabaseAlreadyExist { .. }
        | E::ColumnAlreadyExist { .. } => ErrorKind::InvalidArgument,
        _ => ErrorKind::External,
    };
    Error::new(kind, format!("{context}: {error}")).with_source(error)
}

/// The value of `result`, `None` where what it reads is not there (a snapshot expired, a
/// directory never made), or the error converted with context.
pub(crate) fn found<T>(result: paimon::Result<T>, context: impl std::fmt::Display) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            let e = from_paimon(e, context);
            match e.kind() {
                ErrorKind::NotFound => Ok(None),
                _ => Err(e),
            }
        }
    }
}

/// A closure for `map_err` that converts with context.
pub(crate) fn paimon_err<C: std::fmt::Display>(context: C) -> impl FnOnce(paimon::Error) -> Error {
    move |e| from_paimon(e, context)
}
