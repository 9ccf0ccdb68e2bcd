//! `lakescan.toml`: a profile holding the table-addressing flags, read from `--profile FILE`
//! or else from `./lakescan.toml` when present. Flags on the command line override it.
//!
//! ```toml
//! log = "/tmp/shop"          # relative paths are relative to the profile's directory
//! table = "demo.orders"
//! # for a lake the log is tiered into, and a remote log:
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
    if let Some(dir) = path.parent() {
        rebase(&mut profile, dir);
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

/// Takes the profile's relative paths relative to `dir`, its directory: the log, a
/// warehouse that is a directory (not a URI, nor the warehouse name a REST catalog takes),
/// an Iceberg metadata file given as the lake, and the file of a SQLite catalog URI. (A
/// warehouse taken from the working directory beside a log taken from the profile's would
/// pair another lake with the log.) The current directory's own profile (`dir` empty)
/// needs none of it.
fn rebase(profile: &mut Profile, dir: &Path) {
    if dir.as_os_str().is_empty() {
        return;
    }
    let relative = |p: &str| !p.is_empty() && lake_api::location::scheme(p).is_none() && Path::new(p).is_relative();
    let joined = |p: &str| dir.join(p).to_string_lossy().into_owned();
    if let Some(log) = &profile.log
        && log.is_relative()
    {
        profile.log = Some(dir.join(log));
    }
    let rest_catalog = profile
        .catalog_uri
        .as_ref()
        .is_some_and(|uri| !uri.starts_with("sqlite:"));
    if let Some(warehouse) = profile.warehouse.as_mut().filter(|w| relative(w) && !rest_catalog) {
        *warehouse = joined(warehouse);
    }
    if let Some(lake) = profile
        .lake
        .as_mut()
        .filter(|l| l.ends_with(".metadata.json") && relative(l))
    {
        *lake = joined(lake);
    }
    // `sqlite:PATH` and `sqlite://PATH` (`sqlite:///abs` is absolute); an in-memory one has
    // no file
    let sqlite = |uri: &str| {
        let prefix = ["sqlite://", "sqlite:"].into_iter().find(|p| uri.starts_with(p))?;
        let file = &uri[prefix.len()..];
        let in_memory = file.starts_with(":memory:") || file.contains("mode=memory");
        (!in_memory && relative(file)).then(|| (prefix.to_string(), file.to_string()))
    };
    if let Some(uri) = profile.catalog_uri.as_mut()
        && let Some((prefix, file)) = sqlite(uri)
    {
        // the directory goes into a URI: the characters that would end or escape its path
        let dir = dir
            .to_string_lossy()
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        *uri = format!("{prefix}{dir}/{file}");
    }
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

    /// `text` parsed as the profile `/etc/x/lakescan.toml`.
    fn in_etc_x(text: &str) -> CliResult<Profile> {
        parse(text, Path::new("/etc/x/lakescan.toml"))
    }

    #[test]
    fn reads_every_key_and_resolves_relative_logs() -> CliResult<()> {
        let p = in_etc_x(
            "log = \"shop\"\ntable = \"demo.orders\"\nlake = \"l\"\nwarehouse = \"w\"\ncatalog_uri = \"c\"\nfluss = \"f\"\nlake_options = { \"s3.region\" = \"r\" }\n",
        )?;
        assert_eq!(p.log.as_deref(), Some(Path::new("/etc/x/shop")));
        assert_eq!(p.table.as_deref(), Some("demo.orders"));
        assert_eq!(p.fluss.as_deref(), Some("f"));
        assert_eq!(p.lake_options.get("s3.region").map(String::as_str), Some("r"));
        assert_eq!(
            p.warehouse.as_deref(),
            Some("w"),
            "a REST catalog's warehouse is a name"
        );
        Ok(())
    }

    #[test]
    fn paths_are_relative_to_the_profile_and_names_stay() -> CliResult<()> {
        // regression: the warehouse, a metadata file and a SQLite catalog's file were taken
        // from the working directory, not the profile's
        let sqlite = "warehouse = \"w\"\ncatalog_uri = \"sqlite:c.db\"";
        for (text, warehouse, uri) in [
            ("warehouse = \"w\"", Some("/etc/x/w"), None),
            (sqlite, Some("/etc/x/w"), Some("sqlite:/etc/x/c.db")),
            (
                "catalog_uri = \"sqlite://cat.db\"",
                None,
                Some("sqlite:///etc/x/cat.db"),
            ),
        ] {
            let p = in_etc_x(text)?;
            assert_eq!(
                (p.warehouse.as_deref(), p.catalog_uri.as_deref()),
                (warehouse, uri),
                "{text}"
            );
        }
        // the working directory's own profile: relative to it, as they are
        let p = parse(sqlite, Path::new("lakescan.toml"))?;
        assert_eq!(p.warehouse.as_deref(), Some("w"));
        assert_eq!(p.catalog_uri.as_deref(), Some("sqlite:c.db"));
        let p = parse(
            "lake = \"m/v1.metadata.json\"\ncatalog_uri = \"sqlite:cat.db?mode=rwc\"",
            Path::new("/etc/a b?/lakescan.toml"),
        )?;
        assert_eq!(p.lake.as_deref(), Some("/etc/a b?/m/v1.metadata.json"));
        assert_eq!(p.catalog_uri.as_deref(), Some("sqlite:/etc/a b%3F/cat.db?mode=rwc"));
        // what is absolute, a URI or no path at all stays as it is
        let p = in_etc_x(
            "log = \"/abs\"\nwarehouse = \"s3://lake/wh\"\nlake = \"paimon\"\ncatalog_uri = \"sqlite::memory:\"",
        )?;
        assert_eq!(p.log.as_deref(), Some(Path::new("/abs")));
        assert_eq!(p.warehouse.as_deref(), Some("s3://lake/wh"));
        assert_eq!(p.lake.as_deref(), Some("paimon"));
        assert_eq!(p.catalog_uri.as_deref(), Some("sqlite::memory:"));
        for uri in [
            "sqlite:/abs/cat.db",
            "sqlite:///abs/cat.db",
            "sqlite:c?mode=memory",
            "http://rest:8181",
        ] {
            assert_eq!(
                in_etc_x(&format!("catalog_uri = \"{uri}\""))?.catalog_uri.as_deref(),
                Some(uri)
            );
        }
        Ok(())
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
