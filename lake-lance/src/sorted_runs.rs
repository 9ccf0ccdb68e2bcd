//! Key-sorted runs of fragments: what the tiering writer records of the order it wrote rows
//! in, so that sort-merge reads need not sort them.
//!
//! Lance keeps no key order, and one append of a large round writes several fragments (one
//! per `max_rows_per_file` rows). When the rows came in key order, those fragments read one
//! after the other are a single sorted stream: a *run*. The planner keeps one split per
//! fragment (plain scans read them in parallel), each with its place in the run
//! ([`RunPosition`](lake_api::lake::RunPosition)); the union read chains them back into one
//! sorted input, merged with the log tail without a sort and, when it is the only run,
//! without the k-way merge.

use std::collections::{BTreeSet, HashMap};

/// Table metadata: the runs of fragments whose rows are in primary-key order, kept by the
/// tiering writer. Runs are separated by `;`; a run lists its fragment ids, comma-separated,
/// in key order, and its fragments' keys do not overlap, so that read in that order the run
/// is one key-sorted stream.
///
/// Fragment ids are never reused and a deletion keeps the order of the rows it leaves, so a
/// run stays true as long as its fragments live (a run that lost some is still a run);
/// fragments other writers add are simply not listed.
pub const SORTED_RUNS_KEY: &str = "lakeunion.sorted-runs";

/// What writers before the runs recorded: key-sorted fragments, comma-separated, each read
/// as a run of its own. Read when [`SORTED_RUNS_KEY`] is absent; the next tiering commit
/// replaces it.
pub(crate) const LEGACY_SORTED_FRAGMENTS_KEY: &str = "lakeunion.sorted-fragments";

/// Table metadata of a dataset that keeps buckets (see [`BUCKET_COLUMN`](crate::BUCKET_COLUMN)):
/// runs as in [`SORTED_RUNS_KEY`], but in key order *within each bucket* (a round writes
/// each bucket's rows together), which only a bucket-aware read, one bucket per split, may
/// take as sorted. Kept under its own key so that a reader that knows nothing of buckets
/// never takes such a run for one key-sorted stream.
pub const SORTED_BUCKET_RUNS_KEY: &str = "lakeunion.sorted-bucket-runs";

/// The sorted runs of a dataset, each its fragment ids in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SortedRuns(Vec<Vec<u64>>);

impl SortedRuns {
    /// The metadata key a dataset's runs live under.
    pub(crate) fn key(bucketed: bool) -> &'static str {
        if bucketed {
            SORTED_BUCKET_RUNS_KEY
        } else {
            SORTED_RUNS_KEY
        }
    }

    /// The runs of a dataset that keeps buckets (`bucketed`) or not.
    pub(crate) fn of_dataset(metadata: &HashMap<String, String>, bucketed: bool) -> Self {
        if bucketed {
            metadata
                .get(SORTED_BUCKET_RUNS_KEY)
                .map_or_else(Self::default, |v| Self::parse(v))
        } else {
            Self::from_metadata(metadata)
        }
    }
}

impl SortedRuns {
    /// The runs a dataset's table metadata lists. The value is input: an id that does not
    /// parse is skipped, and an id listed twice counts in its first run only, so that no
    /// fragment is read twice (what is left of a run is still in key order; a value that
    /// lies about the order is caught by the read, which checks it at batch boundaries).
    pub(crate) fn from_metadata(metadata: &HashMap<String, String>) -> Self {
        let Some(value) = metadata.get(SORTED_RUNS_KEY) else {
            let legacy = metadata.get(LEGACY_SORTED_FRAGMENTS_KEY).map(|v| v.replace(',', ";"));
            return match legacy {
                Some(value) => Self::parse(&value),
                None => Self::default(),
            };
        };
        Self::parse(value)
    }

    fn parse(value: &str) -> Self {
        let mut seen = BTreeSet::new();
        let mut runs = Vec::new();
        for text in value.split(';') {
            let mut run = Vec::new();
            for id in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if let Ok(id) = id.parse::<u64>()
                    && seen.insert(id)
                {
                    run.push(id);
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
        Self(runs)
    }

    /// The metadata value of the runs, kept to the fragments in `alive`.
    pub(crate) fn to_metadata(&self, alive: &BTreeSet<u64>) -> String {
        self.0
            .iter()
            .map(|run| {
                run.iter()
                    .filter(|id| alive.contains(id))
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|run| !run.is_empty())
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Adds a run: fragments written in key order, in the order given.
    pub(crate) fn push(&mut self, run: Vec<u64>) {
        if !run.is_empty() {
            self.0.push(run);
        }
    }

    /// The runs, each its fragment ids in key order.
    pub(crate) fn runs(&self) -> &[Vec<u64>] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_of(value: &str) -> SortedRuns {
        SortedRuns::from_metadata(&HashMap::from([(SORTED_RUNS_KEY.to_string(), value.to_string())]))
    }

    #[test]
    fn round_trips_through_metadata() {
        let mut runs = SortedRuns::default();
        runs.push(vec![3, 4, 5]);
        runs.push(Vec::new());
        runs.push(vec![9]);
        let alive: BTreeSet<u64> = [3, 4, 5, 9].into();
        let value = runs.to_metadata(&alive);
        assert_eq!(value, "3,4,5;9");
        assert_eq!(runs_of(&value), runs);
    }

    #[test]
    fn the_legacy_key_lists_runs_of_one_fragment() {
        let metadata = HashMap::from([(LEGACY_SORTED_FRAGMENTS_KEY.to_string(), "4,2,9".to_string())]);
        assert_eq!(
            SortedRuns::from_metadata(&metadata).runs(),
            &[vec![4], vec![2], vec![9]]
        );
        let mut both = metadata;
        both.insert(SORTED_RUNS_KEY.to_string(), "1,2".to_string());
        assert_eq!(SortedRuns::from_metadata(&both).runs(), &[vec![1, 2]]);
    }

    #[test]
    fn drops_fragments_that_are_gone() {
        let runs = runs_of("1,2,3;4;5,6");
        let alive: BTreeSet<u64> = [1, 3, 6].into();
        assert_eq!(runs.to_metadata(&alive), "1,3;6");
    }

    #[test]
    fn hostile_values_never_list_a_fragment_twice() {
        assert_eq!(
            runs_of("1,2;2,3;x,4;5,y,6; ;").runs(),
            &[vec![1, 2], vec![3], vec![4], vec![5, 6]]
        );
        assert_eq!(runs_of("").runs(), &[] as &[Vec<u64>]);
        assert_eq!(SortedRuns::from_metadata(&HashMap::new()).runs(), &[] as &[Vec<u64>]);
    }
}
