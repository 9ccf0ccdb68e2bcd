//! Table locations: which store a location names, and which files a split may name.

use crate::error::{Error, Result};

/// The scheme of a location that is a URI (`s3` of `s3://bucket/wh`, `file` of
/// `file:///data`); `None` for a plain path.
///
/// ```
/// use lake_api::location::scheme;
///
/// assert_eq!(scheme("s3://bucket/wh"), Some("s3"));
/// assert_eq!(scheme("/data/lake"), None);
/// assert_eq!(scheme("C://x"), None); // a drive letter, not a scheme
/// assert_eq!(scheme("file:///data/lake"), Some("file"));
/// ```
pub fn scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    let valid = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(scheme)
}

/// `location` with a relative local path made absolute against the working directory,
/// so that it names the same place wherever it is used later (URIs, `file:` ones
/// included, and absolute paths stay as they are).
///
/// ```
/// use lake_api::location::absolute;
///
/// assert!(std::path::Path::new(&absolute("lake")).is_absolute());
/// assert_eq!(absolute("/data/lake"), "/data/lake");
/// assert_eq!(absolute("s3://bucket/wh"), "s3://bucket/wh");
/// ```
pub fn absolute(location: &str) -> String {
    if scheme(location).is_some() || location.starts_with("file:") {
        return location.to_string();
    }
    std::path::absolute(location)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| location.to_string())
}

/// Whether a location is on local disk: a plain path or a `file://` URI.
pub fn is_local(location: &str) -> bool {
    scheme(location).is_none_or(|s| s == "file")
}

/// A local path or `file:` URI without its scheme, for comparing locations.
fn strip_scheme(location: &str) -> &str {
    if let Some(rest) = location.strip_prefix("file://") {
        rest
    } else if let Some(rest) = location.strip_prefix("file:") {
        rest
    } else {
        location
    }
}

/// Fails with [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) unless
/// `file` lies inside the table's `location` on the same store: a split from a hostile or
/// confused planner must not read arbitrary files. `what` names the file in the error.
///
/// ```
/// use lake_api::location::check_inside;
///
/// assert!(check_inside("file:///w/db/t", "/w/db/t/data/a.parquet", "data file").is_ok());
/// assert!(check_inside("file:///w/db/t", "/w/db/t/../u/a.parquet", "data file").is_err());
/// ```
pub fn check_inside(location: &str, file: &str, what: &str) -> Result<()> {
    let root = strip_scheme(location).trim_end_matches('/');
    let path = strip_scheme(file);
    // a location of no directory (`/`, `s3://`) holds nothing: it would hold every file
    let no_directory = root.is_empty() || root.ends_with(':');
    let inside = !no_directory
        && path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/') && !rest.split('/').any(|c| c == ".."));
    // the same store: both local, or both the same scheme
    let same_scheme = scheme(location).unwrap_or("file") == scheme(file).unwrap_or("file");
    if inside && same_scheme {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the split's {what} {file} is outside the table location {location}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_inside_the_table_only() {
        let loc = "file:///w/db/t";
        assert!(check_inside(loc, "file:///w/db/t/data/a.parquet", "data file").is_ok());
        assert!(check_inside(loc, "/w/db/t/data/a.parquet", "data file").is_ok());
        assert!(check_inside("/w/db/t", "file:/w/db/t/data/a.parquet", "data file").is_ok());
        assert!(check_inside(loc, "file:///w/db/t2/data/a.parquet", "data file").is_err());
        assert!(check_inside(loc, "file:///w/db/t/../t2/a.parquet", "data file").is_err());
        assert!(check_inside(loc, "file:///etc/passwd", "data file").is_err());
        assert!(check_inside(loc, "s3://w/db/t/data/a.parquet", "data file").is_err());
        for root in ["/", "file:///", "s3://", ""] {
            assert!(check_inside(root, "/etc/passwd", "data file").is_err(), "{root}");
            assert!(check_inside(root, "s3://b/x", "data file").is_err(), "{root}");
        }
    }
}
