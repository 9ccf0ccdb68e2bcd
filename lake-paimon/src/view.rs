//! Which files a plan of a snapshot reads under a [`SnapshotView`].
//!
//! Paimon's readers skip the level-0 (uncompacted) files of two kinds of primary-key
//! tables: those with deletion vectors (unless `deletion-vectors.merge-on-read`), and
//! `first-row` tables. Their rows become readable only once a compaction moves them up,
//! and neither the paimon crate nor this backend compacts. The snapshot's tiered offsets
//! (`fluss-offsets`) cover those files too, so a union read pairing them with the
//! snapshot must read level 0 as well: merged with the levels above, by key. A Fluss
//! coordinator's readable offsets cover only what Paimon's readers see.

use std::collections::HashMap;

use lake_api::{Error, ErrorKind, Result, SnapshotView};
use paimon::spec::MergeEngine as PaimonMergeEngine;
use paimon::table::Table;

/// Paimon's bucket number of tables whose rows wait for a bucket (`bucket = -2`).
const POSTPONE_BUCKET: i32 = -2;

/// Paimon's option that makes readers of a deletion-vector table merge level-0 files in.
pub(crate) const DV_MERGE_ON_READ_OPTION: &str = "deletion-vectors.merge-on-read";

/// How a planner reaches the files a view of a table's snapshot holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PlanView {
    /// Table options for the plan only: a split says itself whether it is merged on read
    /// (readers keep the table's own options, so a merge reads every level-0 file at once).
    pub options: HashMap<String, String>,
    /// Plan every file, level 0 included (`first-row` tables, which have no option for it).
    pub scan_all_files: bool,
}

impl PlanView {
    /// The plan of `view` over `table`.
    pub fn of(table: &Table, view: SnapshotView) -> Self {
        let schema = table.schema();
        if view == SnapshotView::Readable || schema.primary_keys().is_empty() {
            return Self::default();
        }
        let core = schema.core_options();
        if core.deletion_vectors_enabled() {
            if core.deletion_vectors_merge_on_read() {
                return Self::default();
            }
            return Self {
                options: HashMap::from([(DV_MERGE_ON_READ_OPTION.to_string(), "true".to_string())]),
                scan_all_files: false,
            };
        }
        Self {
            options: HashMap::new(),
            // a first-row table's level 0 is merged in, keeping each key's first row
            scan_all_files: matches!(core.merge_engine(), Ok(PaimonMergeEngine::FirstRow)),
        }
    }

    /// Refuses a plan that would read files it cannot merge: planning every file of a
    /// postponed-bucket table (`bucket = -2`) takes the files no bucket holds yet, which
    /// Paimon merges into their buckets only when it assigns them.
    pub fn check(&self, table: &Table, context: &str) -> Result<()> {
        if self.scan_all_files && table.schema().core_options().bucket() == POSTPONE_BUCKET {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{context}: the level-0 files of a first-row table with postponed buckets cannot be merged \
                     into a union read (its offsets cover them); read it after a compaction assigns its buckets"
                ),
            ));
        }
        Ok(())
    }

    /// Whether Paimon's readers of `table` skip files a snapshot commits, so that its two
    /// views differ.
    pub fn hides_level_zero(table: &Table) -> bool {
        Self::of(table, SnapshotView::Committed) != Self::default()
    }
}
