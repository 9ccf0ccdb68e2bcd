//! A Paimon REST catalog over a local warehouse directory: enough of the protocol for the
//! tiering writer and for readers (config, databases, tables, snapshot commits, the latest
//! snapshot). Tables live under `<warehouse>/<db>.db/<table>` as in the filesystem layout.
//! As a REST server does, it commits for its clients: a commit's snapshot is written to the
//! table's `snapshot/` directory, and the server keeps its own record of each table's
//! latest snapshot, as committed, without anything a writer adds to the file afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::http::{Handler, Requests, serve_json};

#[derive(Default)]
struct Catalog {
    databases: BTreeSet<String>,
    /// `(database, table)` to the table's answer to `GET .../tables/{t}`.
    tables: BTreeMap<(String, String), Value>,
    /// `(database, table)` to its latest snapshot, as committed.
    latest: BTreeMap<(String, String), Value>,
}

fn error(status: u16, kind: &str, name: &str, message: impl Into<String>) -> (u16, Value) {
    (
        status,
        json!({"message": message.into(), "resourceType": kind, "resourceName": name, "code": status}),
    )
}

impl Catalog {
    fn answer(&mut self, warehouse: &Path, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["v1", "config"]) => (200, json!({"defaults": {}, "overrides": {}})),
            ("POST", ["v1", "databases"]) => {
                let name = body["name"].as_str().unwrap_or_default().to_string();
                if !self.databases.insert(name.clone()) {
                    return error(409, "DATABASE", &name, format!("database {name} exists"));
                }
                match std::fs::create_dir_all(warehouse.join(format!("{name}.db"))) {
                    Ok(()) => (200, json!({})),
                    Err(e) => error(500, "DATABASE", &name, e.to_string()),
                }
            }
            ("GET", ["v1", "databases", db]) if self.databases.contains(*db) => {
                let location = warehouse.join(format!("{db}.db"));
                (
                    200,
                    json!({"id": db, "name": db, "location": location.to_string_lossy(), "options": {}}),
                )
            }
            ("POST", ["v1", "databases", db, "tables"]) => self.create_table(warehouse, db, &body),
            ("GET", ["v1", "databases", db, "tables", table]) => {
                match self.tables.get(&(db.to_string(), table.to_string())) {
                    Some(answer) => (200, answer.clone()),
                    None => error(404, "TABLE", table, format!("no table {db}.{table}")),
                }
            }
            ("POST", ["v1", "databases", db, "tables", table, "commit"]) => self.commit(db, table, &body),
            ("GET", ["v1", "databases", db, "tables", table, "snapshot"]) => {
                match self.latest.get(&(db.to_string(), table.to_string())) {
                    Some(snapshot) => (200, json!({"snapshot": {"snapshot": snapshot}})),
                    None => error(404, "SNAPSHOT", table, format!("{db}.{table} has no snapshot")),
                }
            }
            _ => error(404, "TABLE", path, format!("no {method} {path}")),
        }
    }

    fn create_table(&mut self, warehouse: &Path, db: &str, body: &Value) -> (u16, Value) {
        let Some(table) = body["identifier"]["object"].as_str() else {
            return error(400, "TABLE", db, "no table name");
        };
        if !self.databases.contains(db) {
            return error(404, "DATABASE", db, format!("no database {db}"));
        }
        let key = (db.to_string(), table.to_string());
        if self.tables.contains_key(&key) {
            return error(409, "TABLE", table, format!("table {db}.{table} exists"));
        }
        let schema: paimon::spec::Schema = match serde_json::from_value(body["schema"].clone()) {
            Ok(schema) => schema,
            Err(e) => return error(400, "TABLE", table, format!("bad schema: {e}")),
        };
        // the schema file, as the server's catalog writes it for readers of the files
        let location = warehouse.join(format!("{db}.db")).join(table);
        let file = paimon::spec::TableSchema::new(0, &schema);
        let written = std::fs::create_dir_all(location.join("schema")).and_then(|()| {
            std::fs::write(
                location.join("schema/schema-0"),
                serde_json::to_vec(&file).map_err(std::io::Error::other)?,
            )
        });
        if let Err(e) = written {
            return error(500, "TABLE", table, e.to_string());
        }
        let answer = json!({
            "id": format!("uuid-{db}-{table}"),
            "database": db,
            "name": table,
            "path": location.to_string_lossy(),
            "isExternal": false,
            "schemaId": 0,
            "schema": body["schema"],
        });
        self.tables.insert(key, answer);
        (200, json!({}))
    }

    fn commit(&mut self, db: &str, table: &str, body: &Value) -> (u16, Value) {
        let key = (db.to_string(), table.to_string());
        let Some(answer) = self.tables.get(&key) else {
            return error(404, "TABLE", table, format!("no table {db}.{table}"));
        };
        let snapshot = &body["snapshot"];
        let Some(id) = snapshot["id"].as_i64() else {
            return error(400, "SNAPSHOT", table, "a commit without a snapshot id");
        };
        let dir = PathBuf::from(answer["path"].as_str().unwrap_or_default()).join("snapshot");
        let file = dir.join(format!("snapshot-{id}"));
        if file.exists() {
            // another writer committed this id first: the client retries on the next
            return (200, json!({"success": false}));
        }
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&file, snapshot.to_string()))
            .and_then(|()| std::fs::write(dir.join("LATEST"), id.to_string()));
        if let Err(e) = written {
            return error(500, "SNAPSHOT", table, e.to_string());
        }
        self.latest.insert(key, snapshot.clone());
        (200, json!({"success": true}))
    }
}

/// Serves a Paimon REST catalog over `warehouse` (created as needed) on `127.0.0.1`; returns
/// its URI and the record of requests.
pub async fn serve_paimon_rest(warehouse: PathBuf) -> std::io::Result<(String, Requests)> {
    std::fs::create_dir_all(&warehouse)?;
    let catalog = Arc::new(Mutex::new(Catalog::default()));
    let handler: Handler = Arc::new(move |method, target, body| {
        let path = target.split('?').next().unwrap_or(target);
        match catalog.lock() {
            Ok(mut catalog) => catalog.answer(&warehouse, method, path, body),
            Err(_) => error(500, "CATALOG", path, "the catalog's lock is poisoned"),
        }
    });
    serve_json(handler).await
}
