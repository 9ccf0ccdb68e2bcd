//! The integration suites (one binary: each test binary links the whole tree).

mod bad_input;
mod blobs;
mod fluss_remote;
mod iceberg;
mod lance;
mod object_store;
mod oracle_props;
mod paimon;
mod paimon_levels;
mod scenarios;
