//! Tiered offsets: what a lake snapshot covers of each log bucket, as Fluss records it.
//!
//! Fluss puts the property `fluss-offsets` on every lake snapshot it tiers. Its value has
//! had three forms (docs/fluss-formats.md, section 3):
//!
//! - 0.8: an inline JSON array `[{"partition_id":3,"bucket":0,"partition_name":"k=v","offset":100}]`;
//! - inline offsets JSON `{"version":1,"table_id":4,"bucket_offsets":[100,-1,300]}` (or
//!   `"partition_offsets":[{"partition_id":1,"bucket_offsets":[..]}]`);
//! - 0.9 and later: a path to a file holding that JSON: a local path, or a URL of an
//!   object store (`file://`, and `s3://`, `gs://`, `az://`/`abfss://` with this crate's
//!   `s3`, `gcs`, `azure` features; credentials from the usual `AWS_*`, `GOOGLE_*`,
//!   `AZURE_*` environment variables).
//!
//! Offsets are exclusive ends: the lake holds every record below them. One parser serves
//! all three, whether the offsets come from a snapshot property or from a coordinator.
//!
//! ```
//! use fluss_client::offsets::TableBucketOffsets;
//!
//! let o = TableBucketOffsets::from_json(r#"{"version":1,"table_id":4,"bucket_offsets":[100,-1,300]}"#).unwrap();
//! assert_eq!(o.get(None, 2), Some(300));
//! assert_eq!(o.get(None, 1), None);
//! assert_eq!(o.to_json().unwrap(), r#"{"version":1,"table_id":4,"bucket_offsets":[100,-1,300]}"#);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use lake_api::{LakeSnapshot, TableBucket, TableInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// The snapshot property holding the tiered offsets.
pub const FLUSS_OFFSETS_PROPERTY: &str = lake_api::FLUSS_OFFSETS_PROPERTY;
/// The property naming who committed a snapshot (Iceberg summary, Lance transaction).
pub const COMMIT_USER_PROPERTY: &str = "commit-user";
/// The commit user of Fluss's tiering service.
pub const FLUSS_COMMIT_USER: &str = "__fluss_lake_tiering";
/// The offsets JSON version this build reads and writes.
pub const OFFSETS_JSON_VERSION: i64 = 1;

/// The tiered offset of every bucket of one table, partitions by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableBucketOffsets {
    /// The Fluss table id.
    pub table_id: i64,
    /// `(partition id, bucket) → offset`; the partition id is `None` when not partitioned.
    pub offsets: BTreeMap<(Option<i64>, u32), i64>,
}

/// The offsets JSON, fields in Fluss's order.
#[derive(Serialize)]
struct OffsetsJson {
    version: i64,
    table_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket_offsets: Option<Vec<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partition_offsets: Option<Vec<PartitionOffsetsJson>>,
}

#[derive(Serialize)]
struct PartitionOffsetsJson {
    partition_id: i64,
    bucket_offsets: Vec<i64>,
}

/// Bucket offsets as Fluss writes them: index = bucket, `-1` = no offset.
fn dense(offsets: impl Iterator<Item = (u32, i64)>) -> Vec<i64> {
    let mut out = Vec::new();
    for (bucket, offset) in offsets {
        let b = bucket as usize;
        if out.len() <= b {
            out.resize(b + 1, -1);
        }
        out[b] = offset;
    }
    out
}

fn sparse(values: &[Value], what: &str) -> Result<Vec<(u32, i64)>> {
    let mut out = Vec::new();
    for (bucket, v) in values.iter().enumerate() {
        let offset = v
            .as_i64()
            .ok_or_else(|| Error::corrupt(format!("{what}: bucket {bucket} has a non-integer offset {v}")))?;
        match offset {
            -1 => {}
            o if o < 0 => {
                return Err(Error::corrupt(format!(
                    "{what}: bucket {bucket} has a negative offset {o}"
                )));
            }
            o => out.push((
                u32::try_from(bucket).map_err(|_| Error::corrupt(format!("{what}: too many buckets")))?,
                o,
            )),
        }
    }
    Ok(out)
}

impl TableBucketOffsets {
    /// The offset of a bucket.
    pub fn get(&self, partition_id: Option<i64>, bucket: u32) -> Option<i64> {
        self.offsets.get(&(partition_id, bucket)).copied()
    }

    /// Whether the offsets are partitioned.
    pub fn is_partitioned(&self) -> bool {
        self.offsets.keys().any(|(p, _)| p.is_some())
    }

    /// The offsets JSON, exactly as Fluss's serde writes it. Fails with
    /// [`ErrorKind::InvalidArgument`] where the JSON cannot say what the map holds: a map
    /// that mixes partitioned and non-partitioned buckets, or a bucket past
    /// [`lake_api::table::MAX_BUCKET_COUNT`] (the JSON lists every bucket up to the
    /// highest, so its size follows the bucket number).
    pub fn to_json(&self) -> Result<String> {
        let partitioned = self.is_partitioned();
        for &(p, b) in self.offsets.keys() {
            if p.is_some() != partitioned {
                return Err(Error::invalid(format!(
                    "offsets of table id {} mix partitioned and non-partitioned buckets (bucket {b})",
                    self.table_id
                )));
            }
            if b >= lake_api::table::MAX_BUCKET_COUNT {
                return Err(Error::invalid(format!(
                    "offsets of table id {} name bucket {b}, past the {} buckets a table may have",
                    self.table_id,
                    lake_api::table::MAX_BUCKET_COUNT
                )));
            }
        }
        let mut json = OffsetsJson {
            version: OFFSETS_JSON_VERSION,
            table_id: self.table_id,
            bucket_offsets: None,
            partition_offsets: None,
        };
        if partitioned {
            let mut by_partition: BTreeMap<i64, Vec<(u32, i64)>> = BTreeMap::new();
            for (&(p, b), &o) in &self.offsets {
                if let Some(p) = p {
                    by_partition.entry(p).or_default().push((b, o));
                }
            }
            json.partition_offsets = Some(
                by_partition
                    .into_iter()
                    .map(|(partition_id, offsets)| PartitionOffsetsJson {
                        partition_id,
                        bucket_offsets: dense(offsets.into_iter()),
                    })
                    .collect(),
            );
        } else if !self.offsets.is_empty() {
            json.bucket_offsets = Some(dense(self.offsets.iter().map(|(&(_, b), &o)| (b, o))));
        }
        serde_json::to_string(&json).map_err(|e| Error::corrupt("cannot write the offsets JSON").with_source(e))
    }

    /// Parses the offsets JSON (strictly: version 1, at most one of `bucket_offsets` and
    /// `partition_offsets`, `-1` for gaps and no other negative offset).
    pub fn from_json(text: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| Error::corrupt("tiered offsets are not valid JSON").with_source(e))?;
        let obj = root
            .as_object()
            .ok_or_else(|| Error::corrupt("tiered offsets JSON is not an object"))?;
        match obj.get("version").and_then(Value::as_i64) {
            Some(OFFSETS_JSON_VERSION) => {}
            Some(v) => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("tiered offsets JSON version {v} (this build reads {OFFSETS_JSON_VERSION})"),
                ));
            }
            None => return Err(Error::corrupt("tiered offsets JSON has no version")),
        }
        let table_id = obj
            .get("table_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::corrupt("tiered offsets JSON has no table_id"))?;
        let mut offsets = BTreeMap::new();
        match (obj.get("bucket_offsets"), obj.get("partition_offsets")) {
            (Some(_), Some(_)) => {
                return Err(Error::corrupt(
                    "tiered offsets JSON has both bucket_offsets and partition_offsets",
                ));
            }
            (Some(b), None) => {
                let list = b
                    .as_array()
                    .ok_or_else(|| Error::corrupt("bucket_offsets is not an array"))?;
                for (bucket, o) in sparse(list, "bucket_offsets")? {
                    offsets.insert((None, bucket), o);
                }
            }
            (None, Some(p)) => {
                let list = p
                    .as_array()
                    .ok_or_else(|| Error::corrupt("partition_offsets is not an array"))?;
                let mut seen = std::collections::BTreeSet::new();
                for entry in list {
                    let id = entry.get("partition_id").and_then(Value::as_i64).ok_or_else(|| {
                        Error::corrupt(format!("partition offsets entry {entry} has no partition_id"))
                    })?;
                    // a second entry of a partition would silently win over the first
                    if !seen.insert(id) {
                        return Err(Error::corrupt(format!("partition {id} is in partition_offsets twice")));
                    }
                    let buckets = entry
                        .get("bucket_offsets")
                        .and_then(Value::as_array)
                        .ok_or_else(|| Error::corrupt(format!("partition {id} has no bucket_offsets array")))?;
                    for (bucket, o) in sparse(buckets, &format!("partition {id}"))? {
                        offsets.insert((Some(id), bucket), o);
                    }
                }
            }
            (None, None) => {}
        }
        Ok(Self { table_id, offsets })
    }

    /// Parses the 0.8 inline form, as Fluss 0.8.0's `BucketOffsetJsonSerde` writes it:
    /// `[{"partition_id":3,"bucket":0,"partition_name":"k=v","offset":100}]`
    /// (`partition_id` and `partition_name` only where the table is partitioned). The keys
    /// `bucket_id` and `log_offset` of Fluss's snapshots before the release are read too.
    pub fn from_v08_array(text: &str, table_id: i64) -> Result<Self> {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(alias = "bucket_id")]
            bucket: u32,
            #[serde(alias = "log_offset")]
            offset: i64,
            partition_id: Option<i64>,
        }
        let entries: Vec<Entry> = serde_json::from_str(text)
            .map_err(|e| Error::corrupt("0.8 inline tiered offsets are malformed").with_source(e))?;
        let mut offsets = BTreeMap::new();
        for e in entries {
            if i32::try_from(e.bucket).is_err() {
                return Err(Error::corrupt(format!(
                    "bucket {} is past Fluss's bucket ids",
                    e.bucket
                )));
            }
            if e.offset < 0 {
                return Err(Error::corrupt(format!(
                    "bucket {} has a negative offset {}",
                    e.bucket, e.offset
                )));
            }
            if offsets.insert((e.partition_id, e.bucket), e.offset).is_some() {
                return Err(Error::corrupt(format!(
                    "bucket {} of partition {:?} is in the offsets twice",
                    e.bucket, e.partition_id
                )));
            }
        }
        Ok(Self { table_id, offsets })
    }

    /// Checks the offsets against a table: the same table id (when known), partitioned
    /// exactly when the table is, and buckets below its bucket count.
    pub fn validate_against(&self, table_id: Option<i64>, bucket_count: u32, partitioned: bool) -> Result<()> {
        if let Some(id) = table_id
            && id != self.table_id
        {
            return Err(Error::corrupt(format!(
                "tiered offsets belong to table id {} but the table's id is {id}",
                self.table_id
            )));
        }
        for &(p, b) in self.offsets.keys() {
            if p.is_some() != partitioned {
                return Err(Error::corrupt(format!(
                    "tiered offsets name bucket {b} {} but the table is {}partitioned",
                    p.map_or("without a partition".to_string(), |p| format!("of partition id {p}")),
                    if partitioned { "" } else { "not " }
                )));
            }
            if b >= bucket_count {
                return Err(Error::corrupt(format!(
                    "tiered offsets name bucket {b} but the table has {bucket_count} buckets"
                )));
            }
        }
        Ok(())
    }
}

/// Where a snapshot's `fluss-offsets` value points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsProperty {
    /// The offsets themselves (0.8 array or inline offsets JSON).
    Inline(String),
    /// A path to an offsets file (0.9+).
    Path(String),
}

impl OffsetsProperty {
    /// Classifies a property value the way Fluss does: anything with a `{` is JSON.
    pub fn parse(value: &str) -> Self {
        if value.contains('{') {
            OffsetsProperty::Inline(value.trim().to_string())
        } else {
            OffsetsProperty::Path(value.trim().to_string())
        }
    }
}

/// Reads the offsets of a snapshot from its `fluss-offsets` property: inline, or from the
/// file the property names ([`read_offsets_at`]).
pub async fn read_snapshot_offsets(snapshot: &LakeSnapshot, table_id: i64) -> Result<TableBucketOffsets> {
    let value = snapshot.properties.get(FLUSS_OFFSETS_PROPERTY).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "lake snapshot {} has no '{FLUSS_OFFSETS_PROPERTY}' property",
                snapshot.id
            ),
        )
    })?;
    let context = |e: Error| e.context(format!("'{FLUSS_OFFSETS_PROPERTY}' of lake snapshot {}", snapshot.id));
    match OffsetsProperty::parse(value) {
        OffsetsProperty::Inline(json) if json.starts_with('[') => {
            TableBucketOffsets::from_v08_array(&json, table_id).map_err(context)
        }
        OffsetsProperty::Inline(json) => TableBucketOffsets::from_json(&json).map_err(context),
        OffsetsProperty::Path(path) => read_offsets_at(&path).await.map_err(context),
    }
}

/// The tiered offsets a lake snapshot records, as lake-api buckets: read from its
/// `fluss-offsets` property (inline or a file), checked against the table (its id, bucket
/// count and partitioning) and keyed by partition values through `partitions` (id →
/// values).
pub async fn resolve_snapshot_offsets(
    snapshot: &LakeSnapshot,
    table_id: i64,
    info: &TableInfo,
    partitions: &HashMap<i64, Vec<String>>,
) -> Result<BTreeMap<TableBucket, i64>> {
    let table = |e: Error| e.context(format!("table {}", info.path));
    let offsets = read_snapshot_offsets(snapshot, table_id).await.map_err(table)?;
    offsets
        .validate_against(Some(table_id), info.bucket_count, !info.partition_keys.is_empty())
        .map_err(|e| table(e.context(format!("lake snapshot {}", snapshot.id))))?;
    Ok(to_table_buckets(&offsets, partitions))
}

/// Reads an offsets file: a local path, or the URL of an object store (see the module
/// docs for the schemes this build reads).
pub async fn read_offsets_at(location: &str) -> Result<TableBucketOffsets> {
    let text = match url::Url::parse(location) {
        // a local file by its path, for the checks `read_local` makes before it opens
        Ok(url) if url.scheme() == "file" => {
            let path = url.to_file_path().map_err(|()| {
                Error::new(
                    ErrorKind::Unsupported,
                    format!("cannot read offsets file {location}: a file:// URL must name a local path"),
                )
            })?;
            read_local(&path)?
        }
        // a URL with a scheme of more than one letter (`C:\..` is a path)
        Ok(url) if url.scheme().len() > 1 => read_object(&url).await?,
        _ => read_local(Path::new(location))?,
    };
    TableBucketOffsets::from_json(&text).map_err(|e| e.context(format!("offsets file {location}")))
}

/// Reads a local offsets file.
pub fn read_offsets_file(path: &Path) -> Result<TableBucketOffsets> {
    let text = read_local(path)?;
    TableBucketOffsets::from_json(&text).map_err(|e| e.context(format!("offsets file {}", path.display())))
}

/// The longest offsets file read: a snapshot property names the file, so a hostile or
/// broken one could name something endless (`/dev/zero`) or huge. About a million buckets'
/// entries fit.
pub const MAX_OFFSETS_FILE_BYTES: u64 = 64 << 20;

/// The error for an offsets file longer than [`MAX_OFFSETS_FILE_BYTES`].
fn too_long(location: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Offsets,
        format!("offsets file {location} is longer than {MAX_OFFSETS_FILE_BYTES} bytes: no offsets file is"),
    )
}

/// A missing offsets file is [`ErrorKind::Offsets`], not `NotFound`: `NotFound` from a
/// snapshot's offsets means "this snapshot records none" (a maintenance commit), and a reader
/// would step back to an older snapshot's offsets while reading this one's data. Only a
/// regular file is read (a pipe or device could block or never end).
fn read_local(path: &Path) -> Result<String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::Offsets
        } else {
            ErrorKind::Io
        };
        Error::new(kind, format!("cannot read offsets file {}", path.display())).with_source(e)
    };
    // before opening: opening a FIFO blocks until it has a writer
    if !std::fs::metadata(path).map_err(cannot)?.is_file() {
        return Err(Error::new(
            ErrorKind::Offsets,
            format!("offsets file {} is not a regular file", path.display()),
        ));
    }
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_OFFSETS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    // the length first: the cut may split a character
    if bytes.len() as u64 > MAX_OFFSETS_FILE_BYTES {
        return Err(too_long(path.display()));
    }
    String::from_utf8(bytes).map_err(|e| Error::corrupt(format!("offsets file {} is not UTF-8: {e}", path.display())))
}

/// Reads an object through the object store its URL names, configured from the environment.
async fn read_object(url: &url::Url) -> Result<String> {
    // only the stores' own variables: object_store also takes bare names (`TOKEN`,
    // `REGION`) that other tools set
    let options = std::env::vars_os().filter_map(|(k, v)| {
        let (k, v) = (k.into_string().ok()?, v.into_string().ok()?);
        ["AWS_", "GOOGLE_", "AZURE_"]
            .iter()
            .any(|p| k.starts_with(p))
            .then_some((k, v))
    });
    let (store, path) = object_store::parse_url_opts(url, options).map_err(|e| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "cannot read offsets file {url}: this build reads local paths and file:// URLs \
                 (object stores: the fluss-client features s3, gcs, azure)"
            ),
        )
        .with_source(e)
    })?;
    use object_store::ObjectStoreExt;
    let read = async {
        let object = store.get(&path).await?;
        if object.meta.size > MAX_OFFSETS_FILE_BYTES {
            return Ok(None);
        }
        object.bytes().await.map(Some)
    };
    let bytes = read.await.map_err(|e| {
        let kind = match e {
            // as for a local file: missing is broken, not "no offsets recorded"
            object_store::Error::NotFound { .. } => ErrorKind::Offsets,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("cannot read offsets file {url}")).with_source(e)
    })?;
    let bytes = bytes.ok_or_else(|| too_long(url))?;
    String::from_utf8(bytes.to_vec()).map_err(|e| Error::corrupt(format!("offsets file {url} is not UTF-8: {e}")))
}

/// Turns offsets keyed by partition id into lake-api buckets keyed by partition values.
///
/// A partition id `partitions` lacks is left out: Fluss drops expired partitions (partition
/// retention), while every later snapshot's offsets still name them, and the coordinator's
/// record of a snapshot leaves them out the same way. Their lake rows need no log range.
pub fn to_table_buckets(
    offsets: &TableBucketOffsets,
    partitions: &HashMap<i64, Vec<String>>,
) -> BTreeMap<TableBucket, i64> {
    offsets
        .offsets
        .iter()
        .filter_map(|(&(p, bucket), &o)| {
            let partition = match p {
                None => Vec::new(),
                Some(id) => partitions.get(&id)?.clone(),
            };
            Some((TableBucket { partition, bucket }, o))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_the_json_cannot_hold_are_refused() -> Result<()> {
        let far = TableBucketOffsets {
            table_id: 3,
            offsets: BTreeMap::from([((None, u32::MAX), 5)]),
        };
        // the dense JSON would list four billion buckets
        let e = far.to_json().err().ok_or_else(|| Error::corrupt("written"))?;
        assert!(e.message().contains("past the"), "{e}");
        let mixed = TableBucketOffsets {
            table_id: 3,
            offsets: BTreeMap::from([((None, 0), 5), ((Some(1), 0), 6)]),
        };
        let e = mixed.to_json().err().ok_or_else(|| Error::corrupt("written"))?;
        assert!(e.message().contains("mix partitioned"), "{e}");
        let e = TableBucketOffsets::from_v08_array(r#"[{"bucket":4294967295,"offset":1}]"#, 3)
            .err()
            .ok_or_else(|| Error::corrupt("parsed"))?;
        assert!(e.message().contains("bucket 4294967295"), "{e}");
        Ok(())
    }

    #[test]
    fn the_08_array_reads_as_fluss_writes_it() -> Result<()> {
        // regression: the keys were read as `bucket_id`/`log_offset`, which only Fluss's
        // unreleased snapshots before its commit e543d1c5 wrote, so every snapshot a 0.8.0
        // release tiered was Corrupt. Both elements are those of `BucketOffsetJsonSerdeTest`
        // at v0.8.0-incubating
        let text = r#"[{"partition_id":1,"bucket":1,"partition_name":"country=eu-central/year=2023/month=12","offset":10},{"partition_id":1,"bucket":0,"offset":20}]"#;
        let o = TableBucketOffsets::from_v08_array(text, 3)?;
        assert_eq!(o.offsets, BTreeMap::from([((Some(1), 1), 10), ((Some(1), 0), 20)]));
        let plain = TableBucketOffsets::from_v08_array(r#"[{"bucket":2,"offset":20}]"#, 3)?;
        assert_eq!(plain.offsets, BTreeMap::from([((None, 2), 20)]));
        // the pre-release spelling is read too
        let early = TableBucketOffsets::from_v08_array(r#"[{"bucket_id":2,"log_offset":20}]"#, 3)?;
        assert_eq!(early.offsets, plain.offsets);
        Ok(())
    }

    #[test]
    fn fluss_examples_round_trip() {
        for text in [
            r#"{"version":1,"table_id":4,"bucket_offsets":[100,200,300]}"#,
            r#"{"version":1,"table_id":5,"bucket_offsets":[100,-1,300,-1,500]}"#,
            r#"{"version":1,"table_id":6,"partition_offsets":[{"partition_id":1,"bucket_offsets":[100,200]},{"partition_id":2,"bucket_offsets":[300,400]}]}"#,
            r#"{"version":1,"table_id":7}"#,
        ] {
            let o = TableBucketOffsets::from_json(text).unwrap();
            assert_eq!(o.to_json().ok().as_deref(), Some(text));
        }
        let o = TableBucketOffsets::from_json(
            r#"{"version":1,"table_id":6,"partition_offsets":[{"partition_id":2,"bucket_offsets":[-1,7]}]}"#,
        )
        .unwrap();
        assert_eq!(o.get(Some(2), 1), Some(7));
        assert_eq!(o.get(Some(2), 0), None);
    }

    #[test]
    fn malformed_json_is_a_typed_error() {
        for (text, needle) in [
            ("not json", "not valid JSON"),
            ("[]", "not an object"),
            (r#"{"table_id":1}"#, "no version"),
            (r#"{"version":1}"#, "no table_id"),
            (
                r#"{"version":1,"table_id":1,"bucket_offsets":[1],"partition_offsets":[]}"#,
                "both",
            ),
            (
                r#"{"version":1,"table_id":1,"bucket_offsets":[1,-5]}"#,
                "negative offset -5",
            ),
            (r#"{"version":1,"table_id":1,"bucket_offsets":["x"]}"#, "non-integer"),
            (
                r#"{"version":1,"table_id":1,"partition_offsets":[{"bucket_offsets":[1]}]}"#,
                "no partition_id",
            ),
            (
                r#"{"version":1,"table_id":1,"partition_offsets":[
                    {"partition_id":3,"bucket_offsets":[10]},{"partition_id":3,"bucket_offsets":[5]}]}"#,
                "partition 3 is in partition_offsets twice",
            ),
        ] {
            let e = TableBucketOffsets::from_json(text).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{text}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
        let e = TableBucketOffsets::from_json(r#"{"version":2,"table_id":1}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        // the 0.8 array form, a bucket twice
        let twice = r#"[{"bucket":0,"offset":10},{"bucket":0,"offset":5}]"#;
        let e = TableBucketOffsets::from_v08_array(twice, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.to_string()
                .contains("bucket 0 of partition None is in the offsets twice"),
            "{e}"
        );
    }

    #[test]
    fn validation_names_buckets_the_table_lacks() {
        let o = TableBucketOffsets::from_json(r#"{"version":1,"table_id":4,"bucket_offsets":[1,2,3]}"#).unwrap();
        assert!(o.validate_against(Some(4), 3, false).is_ok());
        let e = o.validate_against(Some(4), 2, false).unwrap_err();
        assert!(e.to_string().contains("bucket 2 but the table has 2 buckets"), "{e}");
        assert!(
            o.validate_against(Some(5), 3, false)
                .unwrap_err()
                .to_string()
                .contains("table id 4")
        );
        assert!(o.validate_against(None, 3, true).is_err());
    }

    #[tokio::test]
    async fn snapshot_property_in_every_form() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("abc.offsets");
        std::fs::write(&file, r#"{"version":1,"table_id":3,"bucket_offsets":[5,6]}"#)?;
        let snapshot = |value: String| LakeSnapshot {
            id: 9,
            timestamp_ms: 0,
            properties: BTreeMap::from([(FLUSS_OFFSETS_PROPERTY.to_string(), value)]),
        };
        let want = TableBucketOffsets {
            table_id: 3,
            offsets: BTreeMap::from([((None, 0), 5), ((None, 1), 6)]),
        };
        assert_eq!(
            read_snapshot_offsets(&snapshot(file.display().to_string()), 3).await?,
            want
        );
        assert_eq!(
            read_snapshot_offsets(&snapshot(format!("file://{}", file.display())), 3).await?,
            want
        );
        assert_eq!(read_snapshot_offsets(&snapshot(want.to_json()?), 3).await?, want);
        let v08 = r#"[{"bucket":1,"offset":6},{"bucket":0,"offset":5}]"#.to_string();
        assert_eq!(read_snapshot_offsets(&snapshot(v08), 3).await?, want);

        let e = read_snapshot_offsets(&snapshot("/no/such/file.offsets".into()), 3)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Offsets);
        assert!(
            e.to_string().contains("lake snapshot 9") && e.to_string().contains("/no/such/file.offsets"),
            "{e}"
        );
        let e = read_snapshot_offsets(&snapshot("{broken".into()), 3).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        let none = LakeSnapshot {
            id: 1,
            timestamp_ms: 0,
            properties: BTreeMap::new(),
        };
        assert_eq!(
            read_snapshot_offsets(&none, 3).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        Ok(())
    }

    #[tokio::test]
    async fn object_store_urls() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("b.offsets");
        std::fs::write(&file, r#"{"version":1,"table_id":3,"bucket_offsets":[7]}"#)?;
        let url = format!("file://{}", file.display());
        assert_eq!(read_offsets_at(&url).await?.get(None, 0), Some(7));

        let e = read_offsets_at(&format!("file://{}/missing.offsets", dir.path().display()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
        // a store this build has no client for: a typed refusal naming the features
        if !cfg!(feature = "s3") {
            let e = read_offsets_at("s3://bucket/remote/abc.offsets").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(
                e.to_string().contains("s3://bucket/remote/abc.offsets") && e.to_string().contains("s3"),
                "{e}"
            );
        }
        let e = read_offsets_at("hdfs://nn:8020/remote/abc.offsets").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn endless_special_and_oversized_offsets_files_are_refused() -> Result<()> {
        // regression: a snapshot property naming /dev/zero read it forever, growing
        let dir = tempfile::tempdir()?;
        let mut special = vec![dir.path().display().to_string()];
        if Path::new("/dev/zero").exists() {
            special.push("/dev/zero".into());
        }
        // a FIFO without a writer: opening it would block
        let fifo = dir.path().join("fifo.offsets");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            special.push(fifo.display().to_string());
        }
        // regression: as a file:// URL, a FIFO blocked the read forever and /dev/zero read
        // as an empty file (the object store's local files open before they look)
        let urls: Vec<String> = special.iter().map(|p| format!("file://{p}")).collect();
        for location in special.into_iter().chain(urls) {
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), read_offsets_at(&location));
            let e = read
                .await
                .map_err(|_| Error::corrupt(format!("reading {location} hangs")))?
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Offsets, "{location}: {e}");
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        // one byte too long, as a path and as a file:// URL (whose store says its size)
        let big = dir.path().join("big.offsets");
        std::fs::File::create(&big)?.set_len(MAX_OFFSETS_FILE_BYTES + 1)?;
        for location in [big.display().to_string(), format!("file://{}", big.display())] {
            let e = read_offsets_at(&location).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Offsets, "{e}");
            assert!(e.to_string().contains("longer than"), "{e}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn an_offsets_file_that_is_not_utf8_is_corrupt() -> Result<()> {
        // regression: a local file's bad UTF-8 was an I/O error (a fault worth retrying),
        // while the same bytes through a file:// URL were already corrupt
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("bad.offsets");
        std::fs::write(&file, b"{\xff}")?;
        for location in [file.display().to_string(), format!("file://{}", file.display())] {
            let e = read_offsets_at(&location).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{location}: {e}");
            assert!(e.to_string().contains("UTF-8"), "{e}");
        }
        Ok(())
    }

    #[test]
    fn partition_ids_map_to_values() -> Result<()> {
        let o = TableBucketOffsets::from_json(
            r#"{"version":1,"table_id":6,"partition_offsets":[{"partition_id":1,"bucket_offsets":[10]},{"partition_id":2,"bucket_offsets":[7]}]}"#,
        )?;
        let ids = HashMap::from([(1, vec!["2024".to_string(), "us".to_string()])]);
        // partition 2 was dropped since
        assert_eq!(
            to_table_buckets(&o, &ids),
            BTreeMap::from([(TableBucket::partitioned(vec!["2024".into(), "us".into()], 0), 10)])
        );
        Ok(())
    }
}
