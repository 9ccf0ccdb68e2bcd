//! Lance splits: fragments of one dataset version (and, for a partitioned table, the
//! partition they are read for; in a dataset that keeps buckets, the bucket), serialized
//! as our own versioned record.
//!
//! A split carries the version's manifest pruned to its own fragments (Lance's protobuf
//! `Manifest`, base64 in the record), so that a worker opens the dataset at that version
//! without reading the manifest again, and without listing or reading anything of the
//! fragments other splits read. Splits written before the manifest travelled (no
//! `manifest` field) still read: the worker checks the version out instead.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lake_api::lake::{LakeSplit, RunPosition, SplitSerializer, SplitStats};
use lake_api::{Error, ErrorKind, Result};
use lance::table::format::Fragment;
use serde::{Deserialize, Serialize};

/// Fragments of one version, read whole or for one partition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LanceSplit {
    pub(crate) version: u64,
    pub(crate) fragments: Vec<Fragment>,
    pub(crate) partition: Vec<String>,
    /// The SQL filter selecting the partition's rows (partitioned tables only). A reader
    /// builds it again from `partition` and refuses a split whose filter differs.
    pub(crate) partition_filter: Option<String>,
    /// The Fluss bucket whose rows the split reads, in a dataset that keeps buckets (see
    /// [`BUCKET_COLUMN`](crate::BUCKET_COLUMN)); `None`: every row, bucket-unaware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bucket: Option<u32>,
    /// The rows come in primary-key order (the tiering writer wrote them so).
    #[serde(default)]
    pub(crate) sorted: bool,
    /// The split's place in a key-sorted run of fragments (see
    /// [`SORTED_RUNS_KEY`](crate::SORTED_RUNS_KEY)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run: Option<RunPosition>,
    /// The version's manifest holding only `fragments` (protobuf bytes).
    #[serde(default, with = "base64_bytes", skip_serializing_if = "Option::is_none")]
    pub(crate) manifest: Option<Vec<u8>>,
}

/// Optional bytes as a base64 string in the JSON record.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_some(&STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl LanceSplit {
    /// The dataset version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The fragments read.
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments
    }

    /// Whether the split's rows come in primary-key order, so that a sort-merge read need
    /// not sort it.
    pub fn key_sorted(&self) -> bool {
        self.sorted
    }
}

impl LakeSplit for LanceSplit {
    fn bucket(&self) -> Option<u32> {
        self.bucket
    }

    fn partition(&self) -> &[String] {
        &self.partition
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn run_position(&self) -> Option<RunPosition> {
        self.run.filter(|_| self.sorted)
    }

    fn stats(&self) -> Option<SplitStats> {
        let mut fragments = SplitStats::of(0, Some(0), Some(0));
        for fragment in &self.fragments {
            let sizes = SplitStats::sum(fragment.files.iter().map(|f| f.file_size_bytes.get().map(u64::from)));
            fragments = fragments
                + SplitStats::of(
                    fragment.files.len() + usize::from(fragment.deletion_file.is_some()),
                    sizes,
                    fragment.physical_rows.map(|r| r as u64),
                );
        }
        // a partitioned table reads a fragment once per partition it holds
        let ids: Vec<String> = self.fragments.iter().map(|f| f.id.to_string()).collect();
        let key = format!("version {} fragments {}", self.version, ids.join(","));
        Some(SplitStats {
            shared: vec![(key, fragments)],
            ..SplitStats::of(0, Some(0), Some(0))
        })
    }
}

/// The serializer of [`LanceSplit`]s: a JSON record of the fragments. Version 2 may carry
/// a bucket, which a version-1 reader would ignore and so read every bucket's rows: such a
/// reader refuses version 2 instead. Version 1 records still read.
#[derive(Debug, Clone, Copy, Default)]
pub struct LanceSplitSerializer;

impl LanceSplitSerializer {
    /// The version this build writes.
    pub const VERSION: u32 = 2;
}

impl SplitSerializer for LanceSplitSerializer {
    fn version(&self) -> u32 {
        Self::VERSION
    }

    fn serialize(&self, split: &dyn LakeSplit) -> Result<Vec<u8>> {
        let split = split
            .as_any()
            .downcast_ref::<LanceSplit>()
            .ok_or_else(|| Error::invalid(format!("not a Lance split: {split:?}")))?;
        serde_json::to_vec(split)
            .map_err(|e| Error::new(ErrorKind::External, format!("serializing a Lance split: {e}")))
    }

    fn deserialize(&self, version: u32, bytes: &[u8]) -> Result<Arc<dyn LakeSplit>> {
        if !(1..=Self::VERSION).contains(&version) {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "Lance split version {version} is not known (this build reads {})",
                    Self::VERSION
                ),
            ));
        }
        let split: LanceSplit = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(format!("Lance split bytes are not a split: {e}")))?;
        Ok(Arc::new(split))
    }
}

/// Fails unless every file of the split lies in the dataset's own data directory: data
/// file paths are bare names there; another base or a path that climbs out is refused, and
/// so is a deletion file in another base (a split's manifest names the bases).
pub(crate) fn check_inside(split: &LanceSplit, dataset: &str) -> Result<()> {
    for fragment in &split.fragments {
        if let Some(base) = fragment.deletion_file.as_ref().and_then(|d| d.base_id) {
            return Err(Error::invalid(format!(
                "the split's fragment {} names a deletion file in base {base}, outside dataset {dataset}",
                fragment.id
            )));
        }
        let files = fragment
            .files
            .iter()
            .chain(fragment.overlays.iter().map(|o| &o.data_file));
        for file in files {
            let bare = !file.path.is_empty()
                && !file.path.contains('/')
                && !file.path.contains('\\')
                && file.path != ".."
                && file.path != ".";
            if file.base_id.is_some() || !bare {
                return Err(Error::invalid(format!(
                    "the split's fragment {} names data file {} outside dataset {dataset}",
                    fragment.id, file.path
                )));
            }
        }
    }
    Ok(())
}

/// The dataset's own metadata of the split's fragments, looked up by id in `known` (the
/// dataset's fragments at the split's version): a split is input, and the row counts,
/// deletion files and row-id metadata it carries must not reach Lance's reader. Fails with
/// [`ErrorKind::Corrupt`](lake_api::ErrorKind::Corrupt) for an id the version lacks or one
/// named twice (its rows would be read twice).
pub(crate) fn trusted_fragments(
    split: &LanceSplit,
    known: &HashMap<u64, Fragment>,
    context: &str,
) -> Result<Vec<Fragment>> {
    let mut seen = HashSet::with_capacity(split.fragments.len());
    split
        .fragments
        .iter()
        .map(|f| {
            if !seen.insert(f.id) {
                return Err(Error::corrupt(format!(
                    "{context}: the split names fragment {} twice",
                    f.id
                )));
            }
            known.get(&f.id).cloned().ok_or_else(|| {
                Error::corrupt(format!(
                    "{context}: the split names fragment {}, which that version lacks",
                    f.id
                ))
            })
        })
        .collect()
}
