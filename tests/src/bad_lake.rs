//! The bad-input checks every lake backend's suite runs against its own copy of the small
//! table ([`small_table`], tiered by [`tier_small_table`]): a data file removed, a data file
//! corrupted, `fluss-offsets` that are not JSON, and a writer for a changed schema.
//!
//! The backends name a snapshot each in their own words ("snapshot 3", "version 3"), so the
//! caller says what else an error must name beside the table.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use fluss_client::local::{LocalLog, LocalLogOptions};
use lake_api::{ChangeType, Error, ErrorKind, LakeStorage, MergeStrategy, TableBucket, UnionTable};

use crate::fixtures::{read_small_table, small_rows, small_table, sorted_column, union_read};

/// What a check returns: the first thing that was not as expected.
pub type CheckResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// `fluss-offsets` that are not JSON, for [`check_malformed_offsets`]'s table.
pub const MALFORMED_OFFSETS: &str = "{\"version\":1,\"bucket_offsets\":[oops";

/// Fails unless `result` is an error of `kind` whose message names the table and each of
/// `names`.
fn expect_error<T>(result: lake_api::Result<T>, kind: ErrorKind, names: &[&str]) -> CheckResult {
    let err: Error = result
        .err()
        .ok_or_else(|| format!("expected a {kind:?} error naming {names:?}, got a result"))?;
    let text = err.to_string();
    if err.kind() != kind {
        return Err(format!("expected a {kind:?} error, got {:?}: {text}", err.kind()).into());
    }
    let table = small_table().path.to_string();
    match std::iter::once(table.as_str())
        .chain(names.iter().copied())
        .find(|n| !text.contains(n))
    {
        Some(missing) => Err(format!("the error does not name {missing:?}: {text}").into()),
        None => Ok(()),
    }
}

/// The file name of `file`, which an error about it names.
pub fn file_name(file: &Path) -> std::result::Result<&str, String> {
    file.file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{} has no file name", file.display()))
}

/// Checks that `snapshot` reads keys 0..10, then removes `file` (one of its data files):
/// reading it again is `NotFound` naming the table, the file and each of `names`.
pub async fn check_missing_data_file(
    lake: &dyn LakeStorage,
    snapshot: i64,
    file: &Path,
    names: &[&str],
) -> CheckResult {
    let before = read_small_table(lake, snapshot).await?;
    if sorted_column(&before, "k") != (0..10).collect::<Vec<_>>() {
        return Err(format!("snapshot {snapshot} does not hold keys 0..10 before the file goes").into());
    }
    std::fs::remove_file(file)?;
    let names: Vec<&str> = names.iter().copied().chain([file_name(file)?]).collect();
    expect_error(read_small_table(lake, snapshot).await, ErrorKind::NotFound, &names)
}

/// Rewrites `file` (one of `snapshot`'s data files) through `corrupt`: reading the snapshot
/// is then `Corrupt` naming the table and each of `names`.
pub async fn check_corrupt_data_file(
    lake: &dyn LakeStorage,
    snapshot: i64,
    file: &Path,
    corrupt: impl FnOnce(&mut [u8]),
    names: &[&str],
) -> CheckResult {
    let mut bytes = std::fs::read(file)?;
    corrupt(&mut bytes);
    std::fs::write(file, bytes)?;
    expect_error(read_small_table(lake, snapshot).await, ErrorKind::Corrupt, names)
}

/// `lake` holds the small table tiered with [`MALFORMED_OFFSETS`] as `snapshot`: a union
/// read with a log (made under `log_dir`) is `Corrupt` and names the snapshot.
pub async fn check_malformed_offsets(lake: Arc<dyn LakeStorage>, log_dir: &Path, snapshot: i64) -> CheckResult {
    let log = LocalLog::create(log_dir, &small_table(), LocalLogOptions::default())?;
    log.append(&TableBucket::new(0), small_rows(0..10), vec![ChangeType::Insert; 10])?;
    let table = UnionTable::new(small_table(), Arc::new(log), Some(lake))?;
    let read = union_read(&table, MergeStrategy::Auto, None).await;
    expect_error(read, ErrorKind::Corrupt, &[&format!("lake snapshot {snapshot}")])
}

/// A lake writer for the small table with a column added is refused, `SchemaMismatch`
/// naming the column.
pub async fn check_changed_schema_is_refused(lake: &dyn LakeStorage) -> CheckResult {
    let mut changed = small_table();
    let mut fields = changed.schema.fields().to_vec();
    fields.push(Arc::new(Field::new("extra", DataType::Int64, true)));
    changed.schema = Arc::new(Schema::new(fields));
    expect_error(
        lake.create_lake_writer(&changed).await,
        ErrorKind::SchemaMismatch,
        &["extra"],
    )
}
