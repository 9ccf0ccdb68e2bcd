//! The properties a tiering round gives its Paimon snapshot (`fluss-offsets`), made as
//! durable as the commit itself.
//!
//! The paimon crate's commit cannot set snapshot properties, so they are written into the
//! snapshot file after the commit (patching its JSON, replaced whole). Between the two
//! steps a crash, or a failed write, would leave a snapshot holding the round's rows but
//! no offsets, and a reader would take an older snapshot's offsets with it: a log table
//! read the round's rows twice and the next round tiered them again. So the properties are
//! first recorded beside the table, under the round's unique commit user, and a snapshot
//! that one of these users committed without properties is read with its record's.
//!
//! The record is removed once the snapshot carries the properties; a round whose commit
//! never landed leaves its small record behind, unread, since no snapshot names its user.

use std::collections::BTreeMap;

use lake_api::{Error, ErrorKind, LakeSnapshot, Result};
use paimon::spec::Snapshot;
use paimon::table::Table;

use crate::error::{found, paimon_err};
use crate::storage::snapshot_of;

/// Every tiering round commits as its own user: this prefix and a fresh UUID.
const COMMIT_USER_PREFIX: &str = "lakeunion-";

/// The directory, under a table's location, of the rounds' recorded properties.
const RECORD_DIR: &str = "lakeunion-commits";

/// A new round's commit user.
pub(crate) fn new_commit_user() -> String {
    format!("{COMMIT_USER_PREFIX}{}", uuid::Uuid::new_v4())
}

/// Where the properties of the round committing as `user` are recorded; `None` for users
/// no round of this writer commits as (the name also keeps the path inside the table).
fn record_path(table: &Table, user: &str) -> Option<String> {
    let id = user.strip_prefix(COMMIT_USER_PREFIX)?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    Some(format!(
        "{}/{RECORD_DIR}/{COMMIT_USER_PREFIX}{}.json",
        table.location().trim_end_matches('/'),
        id.hyphenated()
    ))
}

/// Records the `properties` the round committing as `user` is to give its snapshot,
/// before it commits.
pub(crate) async fn record(
    table: &Table,
    user: &str,
    properties: &BTreeMap<String, String>,
    context: &str,
) -> Result<()> {
    let path = record_path(table, user)
        .ok_or_else(|| Error::invalid(format!("{context}: {user} is not a tiering round's commit user")))?;
    let text = serde_json::to_vec(properties).map_err(|e| Error::new(ErrorKind::External, e.to_string()))?;
    replace_file(table.file_io(), &path, bytes::Bytes::from(text), context).await
}

/// `snapshot` as a lake snapshot, with the properties recorded for it where its round
/// stopped before writing them into it.
pub(crate) async fn lake_snapshot(table: &Table, snapshot: &Snapshot) -> Result<LakeSnapshot> {
    let mut lake = snapshot_of(snapshot);
    let carries_properties = snapshot.properties().is_some_and(|p| !p.is_empty());
    let Some(path) = record_path(table, snapshot.commit_user()).filter(|_| !carries_properties) else {
        return Ok(lake);
    };
    let context = format!("snapshot {} of table {}", snapshot.id(), table.location());
    let input = table.file_io().new_input(&path).map_err(paimon_err(&context))?;
    let bytes = match input.read().await {
        Ok(bytes) => bytes,
        // a round that gave its snapshot no properties records none; and a round that wrote
        // them into its snapshot since the snapshot was read has removed its record
        Err(e) if lake_api::error::is_missing_file(&e) => {
            let again = table
                .snapshot_manager()
                .get_snapshot(snapshot.id())
                .await
                .map_err(paimon_err(format!("{context}: re-reading it")))?;
            return Ok(snapshot_of(&again));
        }
        Err(e) => return Err(crate::error::from_paimon(e, format!("{context}: reading {path}"))),
    };
    let recorded: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|e| {
        Error::corrupt(format!(
            "{context}: the properties recorded in {path} are not a JSON map: {e}"
        ))
    })?;
    lake.properties.extend(recorded);
    Ok(lake)
}

/// Gives the snapshot that the round committing as `user` just made its `properties`, and
/// returns it. Its snapshot is the newest one `user` committed after snapshot `before`
/// (other writers, a compaction say, may have committed since).
pub(crate) async fn write_into_snapshot(
    table: &Table,
    user: &str,
    before: Option<i64>,
    properties: BTreeMap<String, String>,
    context: &str,
) -> Result<LakeSnapshot> {
    let snapshots = table.snapshot_manager();
    let latest = snapshots
        .get_latest_snapshot_id()
        .await
        .map_err(paimon_err(context))?
        .unwrap_or(0);
    let mut ours = None;
    for id in (before.unwrap_or(0) + 1..=latest).rev() {
        // one not there is another writer's, expired since: this round's is not expired
        let Some(snapshot) = found(snapshots.get_snapshot(id).await, format!("{context}: snapshot {id}"))? else {
            continue;
        };
        if snapshot.commit_user() == user {
            ours = Some(snapshot);
            break;
        }
    }
    let ours = ours.ok_or_else(|| {
        Error::new(
            ErrorKind::External,
            format!("{context}: no snapshot after {before:?} is this round's commit ({user})"),
        )
    })?;
    if properties.is_empty() {
        return Ok(snapshot_of(&ours));
    }
    let path = snapshots.snapshot_path(ours.id());
    let io = table.file_io();
    let bytes = io
        .new_input(&path)
        .map_err(paimon_err(context))?
        .read()
        .await
        .map_err(paimon_err(format!("{context}: reading {path}")))?;
    // patch the JSON, not a re-serialized Snapshot: fields this crate does not model stay
    let mut json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(format!("{context}: snapshot {path} is not JSON: {e}")))?;
    let object = json
        .as_object_mut()
        .ok_or_else(|| Error::corrupt(format!("{context}: snapshot {path} is not a JSON object")))?;
    let mut merged: serde_json::Map<String, serde_json::Value> = object
        .get("properties")
        .and_then(|p| p.as_object().cloned())
        .unwrap_or_default();
    for (k, v) in properties {
        merged.insert(k, serde_json::Value::String(v));
    }
    object.insert("properties".into(), serde_json::Value::Object(merged));
    let text = serde_json::to_vec(&json).map_err(|e| Error::new(ErrorKind::External, e.to_string()))?;
    // what was written, parsed as a reader parses it: no need to read it back
    let patched: Snapshot = serde_json::from_slice(&text)
        .map_err(|e| Error::corrupt(format!("{context}: snapshot {path} patched is not a snapshot: {e}")))?;
    replace_file(io, &path, bytes::Bytes::from(text), context).await?;
    // the snapshot now says it all; a record left behind is never read again
    if let Some(record) = record_path(table, user) {
        let _ = io.delete_file(&record).await;
    }
    Ok(snapshot_of(&patched))
}

/// Replaces the file at `path` whole, so that readers see the old contents or the new:
/// object stores replace an object atomically on a write (and S3 cannot rename), local
/// files are written aside and renamed over it.
async fn replace_file(io: &paimon::io::FileIO, path: &str, contents: bytes::Bytes, context: &str) -> Result<()> {
    let local = lake_api::location::is_local(path);
    let target = if local { aside(path) } else { path.to_string() };
    io.new_output(&target)
        .map_err(paimon_err(context))?
        .write(contents)
        .await
        .map_err(paimon_err(format!("{context}: writing {target}")))?;
    if local {
        io.rename(&target, path)
            .await
            .map_err(paimon_err(format!("{context}: replacing {path}")))?;
    }
    Ok(())
}

/// Where `path`'s new contents are written before the rename: a hidden name beside it.
/// Java Paimon takes every name in `snapshot/` that starts with `snapshot-` for a
/// snapshot and parses its number, so `snapshot-7.<uuid>.tmp` (seen mid-write, or left
/// by a crash) would fail its listings; Java hides its own temporary files the same way.
fn aside(path: &str) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    format!("{dir}.{name}.{}.tmp", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::aside;

    #[test]
    fn a_snapshot_is_rewritten_under_a_name_no_snapshot_listing_takes() {
        for path in [
            "/wh/db.db/t/snapshot/snapshot-7",
            "file:///wh/db.db/t/snapshot/snapshot-7",
            "snapshot-7",
        ] {
            let temp = aside(path);
            let (dir, name) = temp.rsplit_once('/').unwrap_or(("", &temp));
            assert_eq!(dir, path.rsplit_once('/').map_or("", |(d, _)| d), "{temp}");
            assert!(name.starts_with(".snapshot-7.") && name.ends_with(".tmp"), "{temp}");
        }
    }
}
