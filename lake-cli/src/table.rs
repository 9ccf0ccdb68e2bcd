//! Table addressing: `--log DIR` (a LocalLog) and `--table db.name`, from the command line
//! or a `lakescan.toml` profile; `--lake`, `--warehouse`, `--catalog-uri` and `--fluss` are
//! accepted and refused until a lake backend / the remote log is built.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use fluss_client::local::{LocalLog, LocalLogOptions};
use lake_api::{TablePath, UnionTable};

use crate::failure::{CliResult, Failure};
use crate::profile;

/// Where the table lives.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// The LocalLog root directory (holding `db/name/table.json`), or a table directory.
    #[arg(long, value_name = "DIR")]
    pub log: Option<PathBuf>,
    /// The table, `database.name` (optional when DIR holds exactly one table).
    #[arg(long, value_name = "DB.NAME")]
    pub table: Option<String>,
    /// The lake catalog (Paimon, Iceberg or Lance): no lake backend is built yet.
    #[arg(long, value_name = "URI")]
    pub lake: Option<String>,
    /// The lake warehouse: no lake backend is built yet.
    #[arg(long, value_name = "DIR")]
    pub warehouse: Option<String>,
    /// The lake catalog's URI: no lake backend is built yet.
    #[arg(long, value_name = "URI")]
    pub catalog_uri: Option<String>,
    /// The Fluss cluster (bootstrap address): the remote log is not built yet.
    #[arg(long, value_name = "HOST:PORT")]
    pub fluss: Option<String>,
    /// Read the addressing flags from this TOML file (default: ./lakescan.toml if present);
    /// flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

impl TableArgs {
    /// The arguments with the profile's values filling in what the command line leaves out.
    pub fn with_profile(&self) -> CliResult<TableArgs> {
        let Some(p) = profile::load(self.profile.as_deref())? else {
            return Ok(self.clone());
        };
        Ok(TableArgs {
            log: self.log.clone().or(p.log),
            table: self.table.clone().or(p.table),
            lake: self.lake.clone().or(p.lake),
            warehouse: self.warehouse.clone().or(p.warehouse),
            catalog_uri: self.catalog_uri.clone().or(p.catalog_uri),
            fluss: self.fluss.clone().or(p.fluss),
            profile: self.profile.clone(),
        })
    }
}

/// An opened table.
pub struct Opened {
    /// The union table (log only: no lake backend yet).
    pub table: UnionTable,
    /// The table's directory.
    pub dir: PathBuf,
}

fn is_table_dir(dir: &Path) -> bool {
    dir.join("table.json").is_file()
}

/// The `db/name` tables under a LocalLog root.
fn tables_under(root: &Path) -> Vec<TablePath> {
    let mut found = Vec::new();
    let Ok(dbs) = std::fs::read_dir(root) else {
        return found;
    };
    for db in dbs.flatten() {
        let Ok(tables) = std::fs::read_dir(db.path()) else {
            continue;
        };
        for t in tables.flatten() {
            if is_table_dir(&t.path()) {
                found.push(TablePath::new(
                    db.file_name().to_string_lossy(),
                    t.file_name().to_string_lossy(),
                ));
            }
        }
    }
    found.sort();
    found
}

/// Resolves the LocalLog root and table path from the arguments.
fn locate(args: &TableArgs) -> CliResult<(PathBuf, TablePath)> {
    if let Some(lake) = args
        .lake
        .as_ref()
        .or(args.warehouse.as_ref())
        .or(args.catalog_uri.as_ref())
    {
        return Err(Failure::msg(format!(
            "no lake backend is built yet (Paimon, Iceberg and Lance are to come), so lake '{lake}' cannot be read; \
             read the log alone with --log DIR --table db.name"
        )));
    }
    if let Some(fluss) = &args.fluss {
        return Err(Failure::msg(format!(
            "the remote Fluss log is not built yet, so fluss '{fluss}' cannot be read; \
             read a LocalLog with --log DIR --table db.name"
        )));
    }
    let Some(dir) = &args.log else {
        return Err(Failure::usage(
            "no table given: use --log DIR [--table db.name], or a lakescan.toml profile (the remote Fluss log is not built yet)",
        ));
    };
    let table = match &args.table {
        Some(t) => Some(TablePath::parse(t).map_err(|e| Failure::usage(e.message().to_string()))?),
        None => None,
    };
    if !dir.exists() {
        return Err(Failure::msg(format!("log directory {} does not exist", dir.display())));
    }
    if !dir.is_dir() {
        return Err(Failure::msg(format!("log path {} is not a directory", dir.display())));
    }
    // `.` and `..` have no file name: work from the real path
    let canonical = std::fs::canonicalize(dir)
        .map_err(|e| Failure::msg(format!("cannot resolve log directory {}: {e}", dir.display())))?;
    let dir = &canonical;
    // DIR is the table directory itself: {root}/{db}/{name}
    if is_table_dir(dir) {
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string());
        let db_dir = dir.parent();
        let db = db_dir
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().to_string());
        let root = db_dir.and_then(|d| d.parent());
        if let (Some(name), Some(db), Some(root)) = (name, db, root) {
            let own = TablePath::new(db, name);
            if let Some(t) = &table
                && *t != own
            {
                return Err(Failure::msg(format!(
                    "{} is the directory of table {own}, not of {t}",
                    dir.display()
                )));
            }
            return Ok((root.to_path_buf(), own));
        }
    }
    match table {
        Some(t) => Ok((dir.clone(), t)),
        None => {
            let found = tables_under(dir);
            match found.as_slice() {
                [one] => Ok((dir.clone(), one.clone())),
                [] => Err(Failure::msg(format!(
                    "no local table under {} (expected DIR/db/name/table.json)",
                    dir.display()
                ))),
                many => Err(Failure::usage(format!(
                    "{} holds {} tables ({}): pick one with --table db.name",
                    dir.display(),
                    many.len(),
                    many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ))),
            }
        }
    }
}

/// Opens the table read-only (another process may be appending).
pub async fn open(args: &TableArgs) -> CliResult<Opened> {
    let args = args.with_profile()?;
    let (root, path) = locate(&args)?;
    let log = LocalLog::open_read_only(&root, &path, LocalLogOptions::default())
        .map_err(|e| Failure::Runtime(Box::new(lake_api::Error::from(e))))?;
    let dir = log.table_dir().to_path_buf();
    let table = UnionTable::open(Arc::new(log), None).await?;
    Ok(Opened { table, dir })
}
