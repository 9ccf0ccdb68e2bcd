//! `lakescan.toml`: a profile holding the table-addressing flags, read from `--profile FILE`
//! or else from `./lakescan.toml` when present. Flags on the command line override it.
//!
//! ```toml
//! log = "/tmp/shop"          # relative paths are relative to the profile's directory
//! table = "demo.orders"
//! # for the lake backends and the remote log, once built:
//! # lake = "paimon"  warehouse = "..."  catalog_uri = "..."  fluss = "host:9123"
//! # a warehouse in an object store, and how to reach it:
//! # warehouse = "s3://lake/wh"
//! # lake_options = { "s3.endpoint" = "http://127.0.0.1:9000", "s3.region" = "us-east-1" }
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::failure::{CliResult, Failure};

/// The file looked for in the current directory when no `--profile` is given.
pub const DEFAULT_PROFILE: &str = "lakescan.toml";

/// The addressing a profile holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The LocalLog root or table directory.
    pub log: Option<PathBuf>,
    /// The table, `database.name`.
    pub table: Option<String>,
    /// The lake catalog.
    pub lake: Option<String>,
    /// The lake warehouse.
    pub warehouse: Option<String>,
    /// The lake catalog's URI.
    pub catalog_uri: Option<String>,
    /// Options of the lake's catalog and file IO (`--lake-option`).
    #[serde(default)]
    pub lake_options: std::collections::BTreeMap<String, String>,
    /// The Fluss cluster's bootstrap address.
    pub fluss: Option<String>,
}

/// 1-based line and column of a byte offset in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Parses a profile's text; `path` names the file in errors, and relative paths in it are
/// taken relative to its directory.
pub fn parse(text: &str, path: &Path) -> CliResult<Profile> {
    let mut profile: Profile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace('\n', "; ");
        let place = e.span().map_or(String::new(), |s| {
            let (line, col) = line_col(text, s.start);
            let source = text.lines().nth(line - 1).map(str::trim).unwrap_or_default();
            if source.is_empty() {
                format!(" (line {line}, column {col})")
            } else {
                format!(" (line {line}, column {col}: `{source}`)")
            }
        });
        Failure::usage(format!("bad profile {}{place}: {message}", path.display()))
    })?;
    if let Some(log) = &profile.log
        && log.is_relative()
        && let Some(dir) = path.parent()
    {
        profile.log = Some(dir.join(log));
    }
    if let Some(t) = &profile.table
        && let Err(e) = lake_api::TablePath::parse(t)
    {
        return Err(Failure::usage(format!(
            "bad profile {}: table: {}",
            path.display(),
            e.message()
        )));
    }
    Ok(profile)
}

/// The profile to use: `explicit` (which must exist), else `./lakescan.toml` if present.
pub fn load(explicit: Option<&Path>) -> CliResult<Option<Profile>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = PathBuf::from(DEFAULT_PROFILE);
            if !p.is_file() {
                return Ok(None);
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::usage(format!("cannot read profile {}: {e}", path.display())))?;
    parse(&text, &path).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key_and_resolves_relative_logs() {
        let p = parse(
            "log = \"shop\"\ntable = \"demo.orders\"\nlake = \"l\"\nwarehouse = \"w\"\ncatalog_uri = \"c\"\nfluss = \"f\"\nlake_options = { \"s3.region\" = \"r\" }\n",
            Path::new("/etc/x/lakescan.toml"),
        )
        .unwrap();
        assert_eq!(p.log.as_deref(), Some(Path::new("/etc/x/shop")));
        assert_eq!(p.table.as_deref(), Some("demo.orders"));
        assert_eq!(p.fluss.as_deref(), Some("f"));
        assert_eq!(p.lake_options.get("s3.region").map(String::as_str), Some("r"));
        let p = parse("log = \"/abs\"", Path::new("lakescan.toml")).unwrap();
        assert_eq!(p.log.as_deref(), Some(Path::new("/abs")));
    }

    #[test]
    fn errors_name_the_file_and_the_place() {
        for (text, want) in [
            ("log = ", "line 1"),
            ("log = \"x\"\nbogus = 1\n", "line 2"),
            ("table = 3", "line 1, column 9: `table = 3`"),
            ("table = \"nodot\"", "table"),
        ] {
            let Err(Failure::Usage(m)) = parse(text, Path::new("p/lakescan.toml")) else {
                panic!("{text} parsed");
            };
            assert!(m.contains("p/lakescan.toml"), "{m}");
            assert!(m.contains(want), "{text}: {m}");
            assert!(!m.contains('\n'), "{m}");
        }
    }
}
