//! The Paimon backend against tables pypaimon wrote (`tests/fixtures/paimon`), and against
//! bad input: missing and corrupt data files, unknown snapshots, hostile splits, malformed
//! offsets, a log that no longer matches its lake.
