//! Merge kernels: row-format keys, the loser tree, k-way merging, per-key folding by
//! merge engine, external sorting with IPC spills, and the key-filter strategy.
//!
//! Modelled on DataFusion's `physical-plan/src/sorts/`: cursors over keyed batches, a
//! tournament tree of losers, and a builder that interleaves the picks.

pub(crate) mod apply;
pub(crate) mod builder;
pub(crate) mod copy_ranges;
pub(crate) mod disjoint_runs;
pub(crate) mod fold;
pub(crate) mod key_filter;
pub(crate) mod keys;
pub(crate) mod kway;
pub(crate) mod log_index;
pub(crate) mod log_summary;
pub(crate) mod loser_tree;
pub(crate) mod run_chain;
pub(crate) mod sort;
pub(crate) mod sort_order;
pub(crate) mod sparse_merge;
pub(crate) mod spill;
pub(crate) mod spill_file;
#[cfg(test)]
pub(crate) mod test_rows;
