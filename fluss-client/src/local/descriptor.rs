//! The table descriptor a [`LocalLog`](super::LocalLog) keeps beside its segments, and the
//! directory names of its buckets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::Schema;
use lake_api::{MergeEngine, TableBucket, TableInfo, TablePath, table::partition_name};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The descriptor file's name in a table directory.
pub(crate) const DESCRIPTOR_FILE: &str = "table.json";
/// The descriptor format this build writes.
const DESCRIPTOR_VERSION: u32 = 1;

/// What a local table is: its metadata, its id, and the ids of its partitions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TableDescriptor {
    pub version: u32,
    pub table_id: i64,
    pub database: String,
    pub table: String,
    pub schema: Schema,
    pub primary_key: Vec<String>,
    pub bucket_count: u32,
    pub bucket_key: Vec<String>,
    pub partition_keys: Vec<String>,
    pub merge_engine: MergeEngine,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl TableDescriptor {
    pub(crate) fn new(info: &TableInfo, table_id: i64) -> Self {
        Self {
            version: DESCRIPTOR_VERSION,
            table_id,
            database: info.path.database.clone(),
            table: info.path.table.clone(),
            schema: info.schema.as_ref().clone(),
            primary_key: info.primary_key.clone(),
            bucket_count: info.bucket_count,
            bucket_key: info.bucket_key.clone(),
            partition_keys: info.partition_keys.clone(),
            merge_engine: info.merge_engine.clone(),
            properties: info.properties.clone(),
        }
    }

    pub(crate) fn info(&self) -> TableInfo {
        TableInfo {
            path: TablePath::new(&self.database, &self.table),
            schema: Arc::new(self.schema.clone()),
            primary_key: self.primary_key.clone(),
            bucket_count: self.bucket_count,
            bucket_key: self.bucket_key.clone(),
            partition_keys: self.partition_keys.clone(),
            merge_engine: self.merge_engine.clone(),
            properties: self.properties.clone(),
        }
    }

    /// Reads and checks a descriptor.
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(DESCRIPTOR_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                ErrorKind::NotFound
            } else {
                ErrorKind::Io
            };
            Error::new(
                kind,
                format!("no local table at {} (cannot read {})", dir.display(), path.display()),
            )
            .with_source(e)
        })?;
        let d: TableDescriptor = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(format!("table descriptor {} is malformed", path.display())).with_source(e))?;
        if d.version != DESCRIPTOR_VERSION {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "table descriptor {} has version {} (this build reads {DESCRIPTOR_VERSION})",
                    path.display(),
                    d.version
                ),
            ));
        }
        d.info()
            .validate_stored()
            .map_err(|e| Error::from(e).context(format!("table descriptor {}", path.display())))?;
        Ok(d)
    }

    /// Writes the descriptor atomically (temporary file, then rename).
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("cannot serialize the table descriptor").with_source(e))?;
        write_durably(dir, DESCRIPTOR_FILE, text.as_bytes())
    }
}

/// Writes a small file atomically and durably: a temporary file, fsync, rename, fsync of
/// the directory. The temporary file's name is this call's own (process and sequence
/// number), so that writers that race each rename a whole file: one of them wins.
pub(crate) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.{}.{sequence}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    super::segment::sync_dir(dir)
}

/// The directory of a table under a log root: `{root}/{database}/{table}`. Each name must
/// be one plain directory name: an absolute or nested one (`/x`, `..`, `a/b`) would put
/// the table's files outside the root.
pub(crate) fn table_dir(root: &Path, path: &TablePath) -> Result<PathBuf> {
    for name in [&path.database, &path.table] {
        let mut components = Path::new(name).components();
        let plain = matches!(
            (components.next(), components.next()),
            (Some(std::path::Component::Normal(c)), None) if c == name.as_str()
        );
        if !plain {
            return Err(Error::invalid(format!(
                "table {path}: {name:?} is not a plain directory name, so the table's log would not stay under its root"
            )));
        }
    }
    Ok(root.join(&path.database).join(&path.table))
}

/// A partition's directory name: `{partition name}-p{partition id}`, as Fluss names
/// partition directories in its remote storage.
pub(crate) fn partition_dir_name(values: &[String], id: i64) -> String {
    format!("{}-p{id}", partition_name(values))
}

/// Where a bucket's segments live: `{table}/log/bucket-{b}`, or
/// `{table}/log/{partition dir}/bucket-{b}` for a partition with its id.
pub(crate) fn bucket_dir(table_dir: &Path, partition: Option<(&[String], i64)>, bucket: u32) -> PathBuf {
    let log = table_dir.join("log");
    let log = match partition {
        Some((values, id)) => log.join(partition_dir_name(values, id)),
        None => log,
    };
    log.join(format!("bucket-{bucket}"))
}

/// Checks partition values the way Fluss does: non-empty, at most 200 characters of ASCII
/// letters, digits, `_` and `-` (so `$` and `/` can never appear in names or paths).
pub(crate) fn check_partition_values(values: &[String], keys: &[String]) -> Result<()> {
    if values.len() != keys.len() {
        return Err(Error::invalid(format!(
            "{} partition value(s) given for {} partition key(s)",
            values.len(),
            keys.len()
        )));
    }
    for v in values {
        let ok =
            !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(Error::invalid(format!(
                "partition value '{v}' must be 1-200 ASCII letters, digits, '_' or '-'"
            )));
        }
    }
    Ok(())
}

/// What exists under a table directory: its partitions (values → id) and its buckets.
#[derive(Debug, Default)]
pub(crate) struct Discovered {
    pub partitions: BTreeMap<Vec<String>, i64>,
    pub buckets: Vec<TableBucket>,
}

/// Every partition and bucket with a directory under `table_dir`, of a table with
/// `bucket_count` buckets: a bucket directory beyond the count, or a partition directory
/// with a negative id or a name this log does not write, is a damaged table (it would be read, tiered and sized as if the
/// table had that many buckets or partitions).
pub(crate) fn discover(table_dir: &Path, partition_keys: &[String], bucket_count: u32) -> Result<Discovered> {
    let log = table_dir.join("log");
    let mut out = Discovered::default();
    let buckets_in = |dir: &Path, partition: Vec<String>, out: &mut Discovered| -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(b) = name
                .to_str()
                .and_then(|n| n.strip_prefix("bucket-"))
                .and_then(|b| b.parse::<u32>().ok())
            {
                // `bucket-01` or `bucket-+1`: read as bucket 1, whose directory this log
                // names `bucket-1` (beside it, one of the two would go unread; alone, the
                // bucket's directory would not be found)
                if name.to_str() != Some(format!("bucket-{b}").as_str()) {
                    return Err(Error::corrupt(format!(
                        "{} is no bucket directory this log writes (bucket {b}'s is bucket-{b})",
                        entry.path().display()
                    )));
                }
                if b >= bucket_count {
                    return Err(Error::corrupt(format!(
                        "{} is bucket {b} but the table has {bucket_count} buckets",
                        entry.path().display()
                    )));
                }
                out.buckets.push(TableBucket::partitioned(partition.clone(), b));
            }
        }
        Ok(())
    };
    if !log.exists() {
        return Ok(out);
    }
    if !partition_keys.is_empty() {
        // each id names one partition: tiered offsets are kept by id
        let mut ids = std::collections::HashMap::new();
        for entry in std::fs::read_dir(&log)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let parsed = name
                .rsplit_once("-p")
                .and_then(|(values, id)| Some((values.to_string(), id.parse::<i64>().ok()?)));
            // anything else (editor or file-manager droppings) is not ours
            let Some((values, id)) = parsed.filter(|_| entry.path().is_dir()) else {
                continue;
            };
            if id < 0 {
                return Err(Error::corrupt(format!(
                    "{} names partition id {id}; partition ids are not negative",
                    entry.path().display()
                )));
            }
            let values: Vec<String> = values
                .split(lake_api::table::PARTITION_SEPARATOR)
                .map(str::to_string)
                .collect();
            // a directory this log would not have written (another value count, a value
            // Fluss refuses, `x-p01` for `x-p1`) is no partition to read, tier or size
            let ours =
                check_partition_values(&values, partition_keys).is_ok() && partition_dir_name(&values, id) == name;
            if !ours {
                return Err(Error::corrupt(format!(
                    "{} is no partition of a table partitioned by {partition_keys:?}",
                    entry.path().display()
                )));
            }
            if let Some(other) = ids.insert(id, values.clone()) {
                return Err(Error::corrupt(format!(
                    "{} takes partition id {id}, which partition {other:?} has too",
                    entry.path().display()
                )));
            }
            if let Some(other) = out.partitions.insert(values.clone(), id) {
                return Err(Error::corrupt(format!(
                    "{} is partition {values:?}, which the directory of partition id {other} is too",
                    entry.path().display()
                )));
            }
            buckets_in(&entry.path(), values, &mut out)?;
        }
    } else {
        buckets_in(&log, Vec::new(), &mut out)?;
    }
    out.buckets.sort();
    Ok(out)
}
