//! Table addressing: the log, `--log DIR` (a LocalLog) or `--fluss HOST:PORT` (a Fluss
//! cluster), and `--table db.name`, plus the lake the log is tiered into (`--lake
//! iceberg|paimon|lance` with `--warehouse DIR|URI` for the SQLite or filesystem catalog or
//! `--catalog-uri URI` for a REST catalog, or `--lake FILE.metadata.json`; `--lake-option`s
//! for an object store), from the command line or a `lakescan.toml` profile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use fluss_client::local::{LocalLog, LocalLogOptions};
use fluss_client::remote::FlussLog;
use lake_api::{LakeStorage, LogSource, TablePath, UnionTable};
use lake_iceberg::{CatalogConfig, IcebergConfig, IcebergStorage};
use lake_paimon::{PaimonCatalog, PaimonConfig, PaimonStorage};

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
    /// The lake format (`iceberg`, `paimon`, or `lance` where lakescan is built with the
    /// `lance` feature), or an Iceberg table's metadata JSON file (read-only). Implied as
    /// `iceberg` by --warehouse or --catalog-uri.
    #[arg(long, value_name = "FORMAT|FILE")]
    pub lake: Option<String>,
    /// The lake warehouse: a directory (Iceberg: its SQLite catalog is DIR/catalog.db;
    /// Paimon: the filesystem catalog's root; Lance: the root of `<db>/<table>.lance`), or
    /// an object-store URI such as `s3://bucket/wh` (Paimon, Iceberg; see --lake-option).
    #[arg(long, value_name = "DIR|URI")]
    pub warehouse: Option<String>,
    /// The lake's REST catalog URI (Iceberg or Paimon), or an Iceberg SQLite catalog
    /// (`sqlite:PATH`) for a warehouse in an object store.
    #[arg(long, value_name = "URI")]
    pub catalog_uri: Option<String>,
    /// An option of the lake's catalog and file IO, `KEY=VALUE` (repeatable): an object
    /// store's endpoint and credentials for a warehouse such as `s3://bucket/wh`, e.g.
    /// `s3.endpoint=http://127.0.0.1:9000` (Paimon's and Iceberg's own option names).
    #[arg(long = "lake-option", value_name = "KEY=VALUE", value_parser = parse_option)]
    pub lake_options: Vec<(String, String)>,
    /// The Fluss cluster to read the log from (its bootstrap address, `host:port[,..]`),
    /// instead of a LocalLog; needs --table.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "log")]
    pub fluss: Option<String>,
    /// Read the addressing flags from this TOML file (default: ./lakescan.toml if present);
    /// flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

impl TableArgs {
    /// The arguments with the profile's values filling in what the command line leaves out.
    ///
    /// A log given on the command line (`--log` or `--fluss`) replaces the profile's, either
    /// kind (a table's own directory as `--log` takes its table, not the profile's); a lake
    /// of another format (`--lake`) replaces the profile's location of its lake
    /// (`warehouse`, `catalog_uri`) and its options, while a profile that names no
    /// lake lends its options to the command line's. Other values are taken one by one.
    /// `--lake-option` with no lake named anywhere is a usage error.
    pub fn with_profile(&self) -> CliResult<TableArgs> {
        let Some(p) = profile::load(self.profile.as_deref())? else {
            return self.clone().lake_options_with_a_lake(self);
        };
        let (log, fluss) = match self.log.is_some() || self.fluss.is_some() {
            true => (self.log.clone(), self.fluss.clone()),
            false => (p.log, p.fluss),
        };
        // a table's own directory given as --log names its table: the profile's would only
        // contradict it
        let table = match &self.log {
            Some(dir) if self.table.is_none() && is_table_dir(dir) => None,
            _ => self.table.clone().or(p.table),
        };
        // a profile that names no lake lends its options to the command line's
        let profile_lake = LakeFormat::named(p.lake.as_deref(), p.warehouse.is_some() || p.catalog_uri.is_some());
        let another_lake = self.lake.is_some()
            && profile_lake.is_some()
            && LakeFormat::named(self.lake.as_deref(), true) != profile_lake;
        let (warehouse, catalog_uri) = match another_lake {
            true => (self.warehouse.clone(), self.catalog_uri.clone()),
            false => (
                self.warehouse.clone().or(p.warehouse),
                self.catalog_uri.clone().or(p.catalog_uri),
            ),
        };
        TableArgs {
            log,
            table,
            lake: self.lake.clone().or(p.lake),
            warehouse,
            catalog_uri,
            // the command line's options win over the profile's, key by key; the profile's
            // are its lake's, and go with it
            lake_options: match another_lake {
                true => self.lake_options.clone(),
                false => p.lake_options.into_iter().chain(self.lake_options.clone()).collect(),
            },
            fluss,
            profile: self.profile.clone(),
        }
        .lake_options_with_a_lake(self)
    }

    /// These arguments, unless the command line (`given`) has `--lake-option`s and no
    /// lake is named to take them: a usage error, not options silently unused.
    fn lake_options_with_a_lake(self, given: &TableArgs) -> CliResult<TableArgs> {
        let located = self.warehouse.is_some() || self.catalog_uri.is_some();
        if !given.lake_options.is_empty() && LakeFormat::named(self.lake.as_deref(), located).is_none() {
            return Err(Failure::usage(
                "--lake-option applies to a lake: name one with --lake, --warehouse or --catalog-uri",
            ));
        }
        Ok(self)
    }
}

/// `KEY=VALUE` as a pair.
fn parse_option(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{text}'")),
    }
}

/// Whether a warehouse is a URI (`s3://bucket/wh`) rather than a local directory.
fn is_uri(warehouse: &str) -> bool {
    lake_api::location::scheme(warehouse).is_some()
}

/// An opened table.
pub struct Opened {
    /// The union table.
    pub table: UnionTable,
    /// Where the log is, in words (`LocalLog at DIR`, `Fluss cluster HOST:PORT`).
    pub log: String,
    /// What the lake is, in words (`None`: no lake given).
    pub lake: Option<String>,
}

/// The lake format the arguments name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LakeFormat {
    Iceberg,
    /// An Iceberg table's metadata JSON file, read without a catalog.
    IcebergMetadataFile(String),
    Paimon,
    Lance,
    /// A name lakescan does not know, as given.
    Unknown(String),
}

impl LakeFormat {
    /// The format `lake` names (`iceberg`, `paimon`, `lance` in any case, or an Iceberg
    /// metadata file), or Iceberg where only where the lake lives is given (`located`);
    /// `None`: no lake.
    fn named(lake: Option<&str>, located: bool) -> Option<Self> {
        let Some(lake) = lake else {
            return located.then_some(LakeFormat::Iceberg);
        };
        Some(match lake.to_ascii_lowercase().as_str() {
            "iceberg" => LakeFormat::Iceberg,
            "paimon" => LakeFormat::Paimon,
            "lance" => LakeFormat::Lance,
            _ if lake.ends_with(".metadata.json") => LakeFormat::IcebergMetadataFile(lake.to_string()),
            _ => LakeFormat::Unknown(lake.to_string()),
        })
    }
}

/// The first of `flags` that was given.
fn given<'a>(flags: &[(&'a str, bool)]) -> Option<&'a str> {
    flags.iter().find(|(_, set)| *set).map(|(flag, _)| *flag)
}

/// The lake the arguments name, opened, with a description.
async fn open_lake(args: &TableArgs) -> CliResult<Option<(Arc<dyn LakeStorage>, String)>> {
    let located = args.warehouse.is_some() || args.catalog_uri.is_some();
    let Some(format) = LakeFormat::named(args.lake.as_deref(), located) else {
        return Ok(None);
    };
    // Lance has no catalog, and its datasets are read from a directory here
    if let (LakeFormat::Lance, Some(flag)) = (
        &format,
        given(&[
            ("--catalog-uri", args.catalog_uri.is_some()),
            ("--lake-option", !args.lake_options.is_empty()),
        ]),
    ) {
        return Err(Failure::usage(format!(
            "--lake lance reads the datasets under --warehouse DIR: {flag} does not apply to it"
        )));
    }
    match format {
        LakeFormat::IcebergMetadataFile(file) => {
            // the file names the table alone: a catalog given beside it would be ignored
            if let Some(flag) = given(&[
                ("--warehouse", args.warehouse.is_some()),
                ("--catalog-uri", args.catalog_uri.is_some()),
            ]) {
                return Err(Failure::usage(format!(
                    "--lake {file} reads that metadata file alone: {flag} does not apply to it"
                )));
            }
            let mut config = IcebergConfig::metadata_file(file);
            config.properties.extend(args.lake_options.iter().cloned());
            open_iceberg(config, false).await
        }
        LakeFormat::Iceberg => {
            let mut config = match (&args.warehouse, &args.catalog_uri) {
                (Some(warehouse), Some(uri)) if uri.starts_with("sqlite:") => IcebergConfig::sql(uri, warehouse),
                (None, Some(uri)) if uri.starts_with("sqlite:") => {
                    return Err(Failure::usage(format!(
                        "the SQLite catalog {uri} needs --warehouse (where its tables' files go)"
                    )));
                }
                (_, Some(uri)) => IcebergConfig::rest(uri.clone(), args.warehouse.clone().unwrap_or_default()),
                (Some(warehouse), None) if is_uri(warehouse) => {
                    return Err(Failure::usage(format!(
                        "the Iceberg warehouse {warehouse} needs its catalog: --catalog-uri sqlite:PATH \
                         (a SQLite catalog) or the REST catalog's URI"
                    )));
                }
                (Some(dir), None) => IcebergConfig::sqlite(dir),
                (None, _) => {
                    return Err(Failure::usage(
                        "--lake iceberg needs --warehouse DIR (SQLite catalog) or --catalog-uri URI (REST catalog)",
                    ));
                }
            };
            config.properties.extend(args.lake_options.iter().cloned());
            // a warehouse alone implies Iceberg: it may be another format's
            open_iceberg(config, args.lake.is_none()).await
        }
        LakeFormat::Paimon => {
            let mut config = match (&args.warehouse, &args.catalog_uri) {
                (_, Some(uri)) => PaimonConfig::rest(uri.clone(), args.warehouse.clone().unwrap_or_default()),
                (Some(dir), None) => {
                    if !is_uri(dir) && !Path::new(dir).is_dir() {
                        return Err(Failure::msg(format!("lake warehouse {dir} does not exist")));
                    }
                    PaimonConfig::filesystem(dir)
                }
                (None, None) => {
                    return Err(Failure::usage(
                        "--lake paimon needs --warehouse DIR (filesystem catalog) or --catalog-uri URI (REST catalog)",
                    ));
                }
            };
            config.options.extend(args.lake_options.iter().cloned());
            let described = match &config.catalog {
                PaimonCatalog::Filesystem => format!("Paimon warehouse {} (filesystem catalog)", config.warehouse),
                PaimonCatalog::Rest { uri, .. } => format!("Paimon REST catalog {uri}"),
            };
            let lake = PaimonStorage::connect(config).await?;
            Ok(Some((Arc::new(lake), described)))
        }
        #[cfg(feature = "lance")]
        LakeFormat::Lance => {
            let Some(dir) = &args.warehouse else {
                return Err(Failure::usage(
                    "--lake lance needs --warehouse DIR (the root holding <db>/<table>.lance)",
                ));
            };
            if !Path::new(dir).is_dir() {
                return Err(Failure::msg(format!("lake warehouse {dir} does not exist")));
            }
            let lake = lake_lance::LanceStorage::new(lake_lance::LanceConfig::new(dir.clone()));
            Ok(Some((Arc::new(lake), format!("Lance datasets under {dir}"))))
        }
        #[cfg(not(feature = "lance"))]
        LakeFormat::Lance => Err(Failure::msg(
            "lakescan is built without the Lance backend (its build needs protoc), so a Lance lake \
             cannot be read here; build it with `--features lance`",
        )),
        LakeFormat::Unknown(format) => {
            // (older profiles wrote `lake = "paimon://..."`, which named Paimon)
            let hint = match format.split_once("://") {
                Some((name, _)) => format!(" (the format alone: --lake {name}; where it lives: --warehouse)"),
                None => String::new(),
            };
            Err(Failure::usage(format!(
                "unknown lake '{format}'{hint}: give --lake iceberg, paimon (with --warehouse or \
                 --catalog-uri) or lance (with --warehouse), or an Iceberg metadata JSON file"
            )))
        }
    }
}

/// An Iceberg lake, opened, with a description. `implied`: the format was not named, only
/// where the lake is.
async fn open_iceberg(config: IcebergConfig, implied: bool) -> CliResult<Option<(Arc<dyn LakeStorage>, String)>> {
    let described = match &config.catalog {
        CatalogConfig::Sql { .. } => format!("Iceberg warehouse {} (SQLite catalog)", config.warehouse),
        CatalogConfig::Rest { uri } => format!("Iceberg REST catalog {uri}"),
        CatalogConfig::MetadataFile { location } => format!("Iceberg table from {location} (read-only)"),
    };
    if let CatalogConfig::Sql { .. } = &config.catalog
        && !is_uri(&config.warehouse)
        && !Path::new(&config.warehouse).is_dir()
    {
        return Err(Failure::msg(format!(
            "lake warehouse {} does not exist",
            config.warehouse
        )));
    }
    // connecting would create a missing catalog, and a lake without the table reads as one
    // not tiered yet: a warehouse of another format (given without --lake) would read as
    // the log alone
    if let Some(file) = config.catalog_file()
        && !file.is_file()
    {
        let hint = match implied {
            true => {
                "a warehouse given alone is read as Iceberg's: a Paimon warehouse needs --lake paimon, a Lance root --lake lance"
            }
            false => "nothing was tiered into this warehouse yet, or the path is wrong",
        };
        return Err(Failure::msg(format!(
            "no Iceberg SQLite catalog at {} (lakescan creates none); {hint}",
            file.display()
        )));
    }
    let lake = IcebergStorage::connect(config).await?;
    Ok(Some((Arc::new(lake), described)))
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

/// Where the log of the table is.
enum LogAddress {
    /// A LocalLog: its root directory.
    Local(PathBuf),
    /// A Fluss cluster: its bootstrap address.
    Fluss(String),
}

/// Resolves the log and the table path from the arguments.
fn locate(args: &TableArgs) -> CliResult<(LogAddress, TablePath)> {
    if let Some(fluss) = &args.fluss {
        if args.log.is_some() {
            return Err(Failure::usage(
                "give the log once: --log DIR or --fluss HOST:PORT, not both",
            ));
        }
        let Some(table) = &args.table else {
            return Err(Failure::usage(format!(
                "--fluss {fluss} needs the table: --table db.name"
            )));
        };
        let path = TablePath::parse(table).map_err(|e| Failure::usage(e.message().to_string()))?;
        return Ok((LogAddress::Fluss(fluss.clone()), path));
    }
    let Some(dir) = &args.log else {
        return Err(Failure::usage(
            "no table given: use --log DIR [--table db.name] or --fluss HOST:PORT --table db.name, or a lakescan.toml profile",
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
            return Ok((LogAddress::Local(root.to_path_buf()), own));
        }
    }
    match table {
        Some(t) => Ok((LogAddress::Local(dir.clone()), t)),
        None => {
            let found = tables_under(dir);
            match found.as_slice() {
                [one] => Ok((LogAddress::Local(dir.clone()), one.clone())),
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
    let (address, path) = locate(&args)?;
    let runtime = |e: fluss_client::Error| Failure::Runtime(Box::new(lake_api::Error::from(e)));
    let (log, described_log): (Arc<dyn LogSource>, String) = match address {
        LogAddress::Local(root) => {
            let log = LocalLog::open_read_only(&root, &path, LocalLogOptions::default()).map_err(runtime)?;
            let described = format!("LocalLog at {}", log.table_dir().display());
            (Arc::new(log), described)
        }
        LogAddress::Fluss(bootstrap) => {
            let log = FlussLog::connect(&bootstrap, &path).await.map_err(runtime)?;
            (Arc::new(log), format!("Fluss cluster {bootstrap}"))
        }
    };
    let lake = open_lake(&args).await?;
    let (storage, described) = match lake {
        Some((storage, described)) => (Some(storage), Some(described)),
        None => (None, None),
    };
    let table = UnionTable::open(log, storage).await?;
    Ok(Opened {
        table,
        log: described_log,
        lake: described,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lake_is_named_whole() {
        let named = |lake| LakeFormat::named(Some(lake), false);
        assert_eq!(named("Paimon"), Some(LakeFormat::Paimon));
        assert_eq!(named("ICEBERG"), Some(LakeFormat::Iceberg));
        assert_eq!(named("lance"), Some(LakeFormat::Lance));
        let file = "/w/t/metadata/00001-a.metadata.json";
        assert_eq!(named(file), Some(LakeFormat::IcebergMetadataFile(file.into())));
        // regression: everything after a ':' was dropped, so these read as Paimon and Iceberg
        assert_eq!(named("paimon://x"), Some(LakeFormat::Unknown("paimon://x".into())));
        assert_eq!(named("iceberg:rest"), Some(LakeFormat::Unknown("iceberg:rest".into())));
        assert_eq!(LakeFormat::named(None, true), Some(LakeFormat::Iceberg));
        assert_eq!(LakeFormat::named(None, false), None);
    }

    fn args(
        lake: Option<&str>,
        warehouse: Option<&str>,
        options: &[(&str, &str)],
        profile: Option<&Path>,
    ) -> TableArgs {
        TableArgs {
            log: Some(PathBuf::from("/log")),
            table: None,
            lake: lake.map(str::to_string),
            warehouse: warehouse.map(str::to_string),
            catalog_uri: None,
            lake_options: options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fluss: None,
            profile: profile.map(Path::to_path_buf),
        }
    }

    /// Regression: a profile of only lake options lost them to a command line that named a
    /// lake, as if the profile had named another.
    #[test]
    fn a_profile_naming_no_lake_lends_its_options_to_the_command_lines() -> CliResult<()> {
        let dir = tempfile::tempdir()?;
        let profile = dir.path().join("p.toml");
        std::fs::write(&profile, "lake_options = { \"s3.endpoint\" = \"http://e\" }\n")?;
        let merged = args(Some("paimon"), Some("s3://b/wh"), &[("s3.region", "r")], Some(&profile)).with_profile()?;
        assert_eq!(
            merged.lake_options,
            vec![
                ("s3.endpoint".to_string(), "http://e".to_string()),
                ("s3.region".to_string(), "r".to_string())
            ]
        );
        // a profile naming another lake keeps its options to it
        std::fs::write(
            &profile,
            "lake = \"iceberg\"\nlake_options = { \"s3.endpoint\" = \"http://e\" }\n",
        )?;
        let merged = args(Some("paimon"), Some("s3://b/wh"), &[], Some(&profile)).with_profile()?;
        assert!(merged.lake_options.is_empty(), "{:?}", merged.lake_options);
        Ok(())
    }

    /// Regression: a profile's table overrode a table directory given as `--log`, which
    /// was then refused as "the directory of table media.items, not of demo.orders".
    #[test]
    fn a_table_directory_on_the_command_line_takes_its_own_table() -> CliResult<()> {
        let dir = tempfile::tempdir()?;
        let profile = dir.path().join("p.toml");
        std::fs::write(&profile, "log = \"/shop\"\ntable = \"demo.orders\"\n")?;
        let table_dir = dir.path().join("media/items");
        std::fs::create_dir_all(&table_dir)?;
        std::fs::write(table_dir.join("table.json"), "{}")?;
        let mut own = args(None, None, &[], Some(&profile));
        own.log = Some(table_dir.clone());
        let merged = own.with_profile()?;
        assert_eq!((merged.log, merged.table), (Some(table_dir), None));
        // a root directory, or a cluster, takes the profile's table (it may hold several)
        let merged = args(None, None, &[], Some(&profile)).with_profile()?;
        assert_eq!(merged.table.as_deref(), Some("demo.orders"));
        let mut fluss = args(None, None, &[], Some(&profile));
        (fluss.log, fluss.fluss) = (None, Some("h:9123".into()));
        assert_eq!(fluss.with_profile()?.table.as_deref(), Some("demo.orders"));
        Ok(())
    }

    /// Regression: `--lake-option` without a lake was silently unused.
    #[test]
    fn lake_options_without_a_lake_are_a_usage_error() -> CliResult<()> {
        let dir = tempfile::tempdir()?;
        let profile = dir.path().join("p.toml");
        std::fs::write(&profile, "table = \"db.t\"\n")?;
        for profile in [None, Some(profile.as_path())] {
            let Err(e) = args(None, None, &[("s3.region", "r")], profile).with_profile() else {
                return Err(Failure::usage("options without a lake were taken"));
            };
            assert!(matches!(e, Failure::Usage(_)), "{e}");
            assert!(e.to_string().contains("--lake-option"), "{e}");
        }
        // a profile's options with no lake anywhere are the profile's to keep
        std::fs::write(&profile, "lake_options = { \"s3.region\" = \"r\" }\n")?;
        args(None, None, &[], Some(&profile)).with_profile()?;
        // and a lake named in the profile takes the command line's
        std::fs::write(&profile, "warehouse = \"/wh\"\n")?;
        args(None, None, &[("s3.region", "r")], Some(&profile)).with_profile()?;
        Ok(())
    }
}
