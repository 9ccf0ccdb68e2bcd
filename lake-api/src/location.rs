//! Table locations: which files a split may name.

use crate::error::{Error, Result};

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
    let inside = path
        .strip_prefix(root)
        .is_some_and(|rest| rest.starts_with('/') && !rest.split('/').any(|c| c == ".."));
    // the same store: both local, or both the same scheme
    let same_scheme = location.split_once("://").map(|(s, _)| s).unwrap_or("file")
        == file.split_once("://").map(|(s, _)| s).unwrap_or("file");
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
    }
}
