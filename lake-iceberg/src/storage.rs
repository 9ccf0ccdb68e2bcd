//! [`IcebergStorage`]: the catalog side of the backend (tables, snapshots, sources and
//! writers).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::spec::SnapshotRef;
use iceberg::table::{StaticTable, Table};
use iceberg::util::snapshot::ancestors_of;
use iceberg::{Catalog, NamespaceIdent, TableCreation, TableIdent};
use lake_api::lake::{LakeScanStart, LakeSnapshot, LakeSource, LakeStorage, LakeWriter};
use lake_api::{Error, ErrorKind, Result, TableInfo, TablePath};

use crate::config::{CatalogConfig, IcebergConfig};
use crate::error::iceberg_err;
use crate::schema::{BucketField, TableLayout, has_system_columns, table_definition, table_info};
use crate::source::IcebergSource;
use crate::writer::IcebergLakeWriter;

/// Apache Iceberg tables behind a catalog, as a [`LakeStorage`].
///
/// Table `db.t` is Iceberg table `t` in namespace `db`. Snapshots are Iceberg snapshots,
/// their properties the snapshot summary (where Fluss writes `fluss-offsets`).
///
/// ```no_run
/// # async fn example() -> lake_api::Result<()> {
/// use lake_api::{LakeStorage, TablePath};
/// use lake_iceberg::{IcebergConfig, IcebergStorage};
///
/// let lake = IcebergStorage::connect(IcebergConfig::sqlite("/data/lake")).await?;
/// let snapshots = lake.list_snapshots(&TablePath::new("fluss", "orders")).await?;
/// println!("{} snapshots", snapshots.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct IcebergStorage {
    config: IcebergConfig,
    catalog: Option<Arc<dyn Catalog>>,
}

impl std::fmt::Debug for IcebergStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergStorage")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IcebergStorage {
    /// Connects to the configured catalog (a SQLite catalog is created when missing).
    pub async fn connect(config: IcebergConfig) -> Result<Self> {
        let catalog = config.connect().await?;
        Ok(Self { config, catalog })
    }

    /// The configuration, for workers that open the same storage.
    pub fn config(&self) -> &IcebergConfig {
        &self.config
    }

    fn ident(path: &TablePath) -> Result<TableIdent> {
        TableIdent::from_strs([path.database.as_str(), path.table.as_str()])
            .map_err(iceberg_err(format!("table {path}")))
    }

    /// Loads the Iceberg table. Only a table the catalog does not know is
    /// [`NotFound`](ErrorKind::NotFound), which says the table is not in the lake (a union
    /// read then reads the log alone): a table whose metadata file is missing is corrupt,
    /// and a metadata file the configuration names that is not there a bad argument.
    pub async fn load_table(&self, path: &TablePath) -> Result<Table> {
        let ident = Self::ident(path)?;
        match (&self.catalog, &self.config.catalog) {
            (Some(catalog), _) => catalog.load_table(&ident).await.map_err(|e| {
                let unknown = matches!(
                    e.kind(),
                    iceberg::ErrorKind::TableNotFound | iceberg::ErrorKind::NamespaceNotFound
                );
                let e = crate::error::from_iceberg(e, format!("table {path}"));
                match unknown {
                    true => e,
                    false => e.not_found_as(
                        ErrorKind::Corrupt,
                        format_args!("the catalog names table {path}, but its metadata is missing"),
                    ),
                }
            }),
            (None, CatalogConfig::MetadataFile { location }) => {
                let table = StaticTable::from_metadata_file(location, ident, self.config.file_io()?)
                    .await
                    .map_err(|e| {
                        crate::error::from_iceberg(e, format!("table {path} from {location}")).not_found_as(
                            ErrorKind::InvalidArgument,
                            format_args!("the metadata file {location} is not there"),
                        )
                    })?;
                Ok(table.into_table())
            }
            (None, _) => Err(Error::new(ErrorKind::External, "the Iceberg catalog is not connected")),
        }
    }

    fn catalog(&self, what: &str) -> Result<&Arc<dyn Catalog>> {
        self.catalog.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("{what}: a table opened from its metadata file is read-only"),
            )
        })
    }

    /// Creates the table (and its namespace) for `info`, or loads it when it exists.
    pub async fn create_table(&self, info: &TableInfo) -> Result<Table> {
        let path = &info.path;
        let catalog = self.catalog(&format!("creating table {path}"))?;
        let ident = Self::ident(path)?;
        if catalog
            .table_exists(&ident)
            .await
            .map_err(iceberg_err(format!("table {path}")))?
        {
            return self.load_table(path).await;
        }
        info.validate()?;
        let namespace = NamespaceIdent::new(path.database.clone());
        if !catalog
            .namespace_exists(&namespace)
            .await
            .map_err(iceberg_err(format!("namespace {}", path.database)))?
        {
            catalog
                .create_namespace(&namespace, Default::default())
                .await
                .map_err(iceberg_err(format!("namespace {}", path.database)))?;
        }
        let definition = table_definition(info)?;
        let creation = TableCreation::builder()
            .name(path.table.clone())
            .schema(definition.schema)
            .partition_spec(definition.spec)
            .properties(definition.properties)
            .sort_order_opt(definition.sort_order)
            .build();
        catalog
            .create_table(&namespace, creation)
            .await
            .map_err(iceberg_err(format!("creating table {path}")))
    }
}

/// A lake snapshot from an Iceberg snapshot.
pub(crate) fn snapshot_of(snapshot: &SnapshotRef) -> LakeSnapshot {
    let mut properties: BTreeMap<String, String> = snapshot
        .summary()
        .additional_properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties.insert("operation".into(), snapshot.summary().operation.as_str().to_string());
    LakeSnapshot {
        id: snapshot.snapshot_id(),
        timestamp_ms: snapshot.timestamp_ms(),
        properties,
    }
}

/// The table's history, oldest first: the current snapshot and its ancestors (those not
/// expired). Other snapshots in the metadata (of other branches, or rolled back) are not
/// the table's: the newest of them would pass for its latest.
fn snapshots_of(table: &Table) -> Vec<LakeSnapshot> {
    let Some(current) = table.metadata().current_snapshot() else {
        return Vec::new();
    };
    // (`seen`: metadata whose parents loop ends the walk, which the crate's does not)
    let mut seen = HashSet::new();
    let mut history: Vec<LakeSnapshot> = ancestors_of(&table.metadata_ref(), current.snapshot_id())
        .take_while(|s| seen.insert(s.snapshot_id()))
        .map(|s| snapshot_of(&s))
        .collect();
    history.reverse();
    history
}

/// A source over a loaded table.
fn source_of(path: &TablePath, table: Table) -> Result<Box<dyn LakeSource>> {
    let info = table_info(path, table.metadata())?;
    Ok(Box::new(IcebergSource::new(table, info)))
}

#[async_trait]
impl LakeStorage for IcebergStorage {
    async fn table_info(&self, path: &TablePath) -> Result<TableInfo> {
        let table = self.load_table(path).await?;
        table_info(path, table.metadata())
    }

    async fn list_snapshots(&self, path: &TablePath) -> Result<Vec<LakeSnapshot>> {
        Ok(snapshots_of(&self.load_table(path).await?))
    }

    async fn latest_snapshot(&self, path: &TablePath) -> Result<Option<LakeSnapshot>> {
        let table = self.load_table(path).await?;
        Ok(table.metadata().current_snapshot().map(snapshot_of))
    }

    async fn create_lake_source(&self, path: &TablePath) -> Result<Box<dyn LakeSource>> {
        source_of(path, self.load_table(path).await?)
    }

    /// One load of the table (its metadata file, or a catalog round trip) for both.
    async fn open_scan(&self, path: &TablePath) -> Result<LakeScanStart> {
        let table = self.load_table(path).await?;
        Ok(LakeScanStart {
            snapshots: snapshots_of(&table),
            source: Some(source_of(path, table)?),
        })
    }

    async fn create_lake_writer(&self, info: &TableInfo) -> Result<Box<dyn LakeWriter>> {
        let table = self.create_table(info).await?;
        let lake_info = table_info(&info.path, table.metadata())?;
        info.ensure_compatible(&lake_info)?;
        let metadata = table.metadata();
        let layout = TableLayout::of(metadata.default_partition_spec(), metadata.current_schema())?;
        layout
            .check_writable()
            .map_err(|e| e.context(format!("table {}", info.path)))?;
        let file_schema = iceberg::arrow::schema_to_arrow_schema(metadata.current_schema())
            .map_err(iceberg_err(format!("table {}", info.path)))?;
        // a primary-key round is folded into rows, which keep no offset or timestamp of the
        // change that made them: refused before a round is gathered, not at its commit
        if info.has_primary_key() && has_system_columns(&file_schema) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "table {}: a primary-key table with Fluss's system columns (__bucket, __offset, \
                     __timestamp, as Fluss creates it) cannot be tiered here: a round's changes are folded \
                     into rows, which keep no offset (reading it is supported)",
                    info.path
                ),
            ));
        }
        // rows are checked against the table's own bucket column, which the log's bucket
        // key need not name
        let bucket_column = match (&layout.bucket, layout.bucket_key.as_slice()) {
            (BucketField::Transform { .. }, [key]) => {
                // a nested source column is named by its path, which no top-level field has
                let field = file_schema.field_with_name(key).map_err(|_| {
                    Error::new(
                        ErrorKind::Unsupported,
                        format!("table {}: its bucket column {key} is not a top-level column", info.path),
                    )
                })?;
                Some((key.clone(), field.data_type().clone()))
            }
            _ => None,
        };
        Ok(Box::new(IcebergLakeWriter {
            catalog: self.catalog(&format!("tiering into {}", info.path))?.clone(),
            ident: Self::ident(&info.path)?,
            info: info.clone(),
            bucket_column,
            written: BTreeMap::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use iceberg::spec::UnboundPartitionSpec;
    use lake_api::memory::MemoryLog;
    use lake_api::{ChangeType, LogBatch, MergeStrategy, TableBucket, UnionTable};

    use super::*;
    use crate::schema::BUCKET_COUNT_PROPERTY;

    type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

    fn rows(keys: &[i64], values: &[&str]) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(keys.to_vec())),
                Arc::new(StringArray::from(values.to_vec())),
            ],
        )
    }

    /// The `(k, v)` rows of batches of [`rows`]' schema, sorted.
    fn sorted_rows(batches: &[RecordBatch]) -> TestResult<Vec<(i64, String)>> {
        let mut got = Vec::new();
        for b in batches {
            let k = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or("k is not BIGINT")?;
            let v = b
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("v is not STRING")?;
            got.extend((0..b.num_rows()).map(|i| (k.value(i), v.value(i).to_string())));
        }
        got.sort();
        Ok(got)
    }

    /// A primary-key table made by another tool: partitioned by nothing Fluss knows (no
    /// bucket field), its bucket count in a property. Union reads group all buckets' log
    /// tails per partition and must still be exact.
    #[tokio::test]
    async fn a_primary_key_table_without_a_bucket_field_union_reads_exactly() -> TestResult {
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let info = TableInfo::primary_key_table(
            TablePath::new("ext", "t"),
            rows(&[], &[])?.schema(),
            vec!["k".into()],
            2,
        );
        let mut definition = table_definition(&info)?;
        let fields = definition.spec.fields();
        definition.spec = UnboundPartitionSpec::builder()
            .add_partition_fields(fields[..fields.len() - 1].to_vec())?
            .build();
        definition.properties.insert(BUCKET_COUNT_PROPERTY.into(), "2".into());
        let catalog = storage.catalog("test")?;
        let namespace = NamespaceIdent::new("ext".into());
        catalog.create_namespace(&namespace, Default::default()).await?;
        let creation = TableCreation::builder()
            .name("t".into())
            .schema(definition.schema)
            .partition_spec(definition.spec)
            .properties(definition.properties)
            .build();
        catalog.create_table(&namespace, creation).await?;

        // the lake: keys 0..4 from bucket 0 and 4..8 from bucket 1
        let log = MemoryLog::new(info.clone())?;
        let mut writer = storage.create_lake_writer(&info).await?;
        let lake_rows = [(0, [0, 1, 2, 3]), (1, [4, 5, 6, 7])];
        for (b, keys) in lake_rows {
            let values: Vec<String> = keys.iter().map(|k| format!("v{k}")).collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let batch = rows(&keys, &values)?;
            log.append(&TableBucket::new(b), batch.clone(), vec![ChangeType::Insert; 4])?;
            let changes = LogBatch::new(batch, vec![ChangeType::Insert; 4], 0);
            writer.write(&TableBucket::new(b), &changes).await?;
        }
        let snapshot = writer
            .commit(BTreeMap::from([("fluss-offsets".to_string(), "{}".to_string())]))
            .await?;
        let tiered = BTreeMap::from([(TableBucket::new(0), 4), (TableBucket::new(1), 4)]);
        log.record_tiered_offsets(snapshot.id, tiered)?;
        // the tail: an update and a delete in bucket 0, an insert in bucket 1
        use ChangeType::*;
        log.append(
            &TableBucket::new(0),
            rows(&[1, 1, 2], &["v1", "new", "v2"])?,
            vec![UpdateBefore, UpdateAfter, Delete],
        )?;
        log.append(&TableBucket::new(1), rows(&[20], &["v20"])?, vec![Insert])?;

        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(storage)))?;
        for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
            let scan = table.scan().strategy(strategy).build().await?;
            let splits = scan.plan().await?;
            assert!(splits.iter().all(|s| s.bucket.is_none()), "bucket-unaware: {splits:?}");
            let got = sorted_rows(&scan.collect().await?)?;
            let want: Vec<(i64, String)> = [0, 1, 3, 4, 5, 6, 7, 20]
                .iter()
                .map(|&k| (k, if k == 1 { "new".into() } else { format!("v{k}") }))
                .collect();
            assert_eq!(got, want, "{strategy}");
        }
        Ok(())
    }

    /// Writes `metadata` beside the table's current metadata file (where a commit's own
    /// would go) and points the SQLite catalog under `warehouse` at it, as another engine's
    /// commit would leave the table `t`; returns the new file's path.
    async fn commit_metadata(
        warehouse: &std::path::Path,
        table: &Table,
        metadata: &iceberg::spec::TableMetadata,
    ) -> TestResult<std::path::PathBuf> {
        let current = table.metadata_location().ok_or("no metadata location")?;
        let location = std::path::Path::new(current.trim_start_matches("file:"))
            .with_file_name("00099-0b5d1a5c-6c1e-4d2b-9d8a-1f2e3d4c5b6a.metadata.json");
        std::fs::write(&location, serde_json::to_vec(metadata)?)?;
        let catalog = sqlx::SqlitePool::connect(&format!("sqlite:{}", warehouse.join("catalog.db").display())).await?;
        sqlx::query("UPDATE iceberg_tables SET metadata_location = ? WHERE table_name = 't'")
            .bind(location.to_string_lossy())
            .execute(&catalog)
            .await?;
        catalog.close().await;
        Ok(location)
    }

    /// Regression: iceberg 0.10's scan tasks do not carry their file's partition spec, and
    /// every file was located with the table's default one. After the spec went from
    /// `bucket[2](k)` to `bucket[4](k)`, the old files' buckets 0 and 1 were read as the
    /// new buckets 0 and 1, and a change to a key of the old bucket 1 that now lives in
    /// bucket 3 never met its lake row: both came back.
    #[tokio::test]
    async fn files_of_an_older_partition_spec_are_located_with_their_own() -> TestResult {
        use iceberg::spec::{TableMetadataBuilder, Transform};
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let path = TablePath::new("ext", "t");
        let old = TableInfo::primary_key_table(path.clone(), rows(&[], &[])?.schema(), vec!["k".into()], 2);
        let keys: Vec<i64> = (0..16).collect();
        let key_column: arrow::array::ArrayRef = Arc::new(Int64Array::from(keys.clone()));
        let old_buckets = iceberg_buckets(&key_column, &DataType::Int64, 2)?;
        let new_buckets = iceberg_buckets(&key_column, &DataType::Int64, 4)?;
        let mut writer = storage.create_lake_writer(&old).await?;
        for (i, &k) in keys.iter().enumerate() {
            let changes = LogBatch::new(rows(&[k], &[&format!("v{k}")])?, vec![ChangeType::Insert], i as i64);
            writer.write(&TableBucket::new(old_buckets[i]), &changes).await?;
        }
        let snapshot = writer.commit(BTreeMap::new()).await?;

        // the spec evolves; the table is then read from its new metadata file
        let table = storage
            .catalog("test")?
            .load_table(&IcebergStorage::ident(&path)?)
            .await?;
        let spec = UnboundPartitionSpec::builder()
            .add_partition_field(1, "k_bucket_4", Transform::Bucket(4))?
            .build();
        let evolved = TableMetadataBuilder::new_from_metadata(
            table.metadata().clone(),
            table.metadata_location().map(String::from),
        )
        .add_partition_spec(spec)?
        .set_default_partition_spec(-1)?
        .build()?
        .metadata;
        let location = commit_metadata(dir.path(), &table, &evolved).await?;
        let info = storage.table_info(&path).await?;
        assert_eq!(info.bucket_count, 4);
        // a round changing a key whose old file is now read bucket-unaware: refused, as
        // iceberg 0.10 cannot delete the lake's row (regression: the writer located the old
        // files with the new spec, took the key's new bucket for empty and would have
        // committed a second row of it)
        let moved = (0..keys.len())
            .find(|&i| new_buckets[i] != old_buckets[i])
            .ok_or("no key moved")?;
        let mut writer = storage.create_lake_writer(&info).await?;
        let change = LogBatch::new(rows(&[keys[moved]], &["changed"])?, vec![ChangeType::UpdateAfter], 16);
        writer.write(&TableBucket::new(new_buckets[moved]), &change).await?;
        let e = writer
            .commit(BTreeMap::new())
            .await
            .err()
            .ok_or("a second row of the key was committed")?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        let storage = IcebergStorage::connect(IcebergConfig::metadata_file(location.to_string_lossy())).await?;

        // the log: the lake's rows, then the tail, in the buckets of four
        let log = MemoryLog::new(info.clone())?;
        let mut tiered = BTreeMap::new();
        for (i, &k) in keys.iter().enumerate() {
            let bucket = TableBucket::new(new_buckets[i]);
            log.append(&bucket, rows(&[k], &[&format!("v{k}")])?, vec![ChangeType::Insert])?;
            *tiered.entry(bucket).or_insert(0) += 1;
        }
        log.record_tiered_offsets(snapshot.id, tiered)?;
        let moved: Vec<usize> = (0..keys.len()).filter(|&i| new_buckets[i] != old_buckets[i]).collect();
        assert!(
            moved.len() >= 2,
            "no key changed bucket: {old_buckets:?} {new_buckets:?}"
        );
        let (updated, deleted) = (moved[0], moved[1]);
        use ChangeType::*;
        let update = rows(&[keys[updated], keys[updated]], &["old", "new"])?;
        log.append(
            &TableBucket::new(new_buckets[updated]),
            update,
            vec![UpdateBefore, UpdateAfter],
        )?;
        let delete = rows(&[keys[deleted]], &["gone"])?;
        log.append(&TableBucket::new(new_buckets[deleted]), delete, vec![Delete])?;

        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(storage)))?;
        for strategy in [MergeStrategy::SortMerge, MergeStrategy::KeyFilter] {
            let got = sorted_rows(&table.scan().strategy(strategy).build().await?.collect().await?)?;
            let want: Vec<(i64, String)> = keys
                .iter()
                .filter(|&&k| k != keys[deleted])
                .map(|&k| {
                    (
                        k,
                        if k == keys[updated] {
                            "new".into()
                        } else {
                            format!("v{k}")
                        },
                    )
                })
                .collect();
            assert_eq!(got, want, "{strategy}");
        }
        Ok(())
    }

    /// Regression: a table whose `write.data.path` puts its data files outside its location
    /// (iceberg's writer, this crate's, honours it) was tiered, and then every read refused
    /// its files as outside the table.
    #[tokio::test]
    async fn files_under_the_tables_data_path_are_read() -> TestResult {
        let dir = tempfile::tempdir()?;
        let elsewhere = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let mut info = TableInfo::log_table(TablePath::new("ext", "t"), rows(&[], &[])?.schema(), 1);
        let data_path = elsewhere.path().join("data").to_string_lossy().into_owned();
        info.properties.insert("write.data.path".into(), data_path.clone());
        let mut writer = storage.create_lake_writer(&info).await?;
        let changes = LogBatch::new(rows(&[1, 2], &["a", "b"])?, vec![ChangeType::AppendOnly; 2], 0);
        writer.write(&TableBucket::new(0), &changes).await?;
        writer.commit(BTreeMap::new()).await?;
        assert!(
            std::fs::read_dir(&data_path)?.next().is_some(),
            "nothing under {data_path}"
        );
        let info = storage.table_info(&info.path).await?;
        let table = UnionTable::new(info.clone(), Arc::new(MemoryLog::new(info)?), Some(Arc::new(storage)))?;
        let got = sorted_rows(
            &table
                .scan()
                .mode(lake_api::ReadMode::LakeOnly)
                .build()
                .await?
                .collect()
                .await?,
        )?;
        assert_eq!(got, vec![(1, "a".to_string()), (2, "b".to_string())]);
        Ok(())
    }

    /// Regression: a log table bucketed by `bucket[N](k)` with Fluss's system columns (as
    /// Fluss creates every table) was written without them: the commit failed with "column
    /// __bucket is missing" after the whole round. A primary-key one is refused up front.
    #[tokio::test]
    async fn tables_with_fluss_system_columns_are_tiered_or_refused_up_front() -> TestResult {
        use iceberg::spec::{NestedField, PrimitiveType, Type};
        use lake_api::ReadMode;
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let catalog = storage.catalog("test")?.clone();
        let namespace = NamespaceIdent::new("ext".into());
        catalog.create_namespace(&namespace, Default::default()).await?;
        let log_table = {
            let mut info = TableInfo::log_table(TablePath::new("ext", "log"), rows(&[], &[])?.schema(), 2);
            info.bucket_key = vec!["k".into()];
            info
        };
        let pk_table = TableInfo::primary_key_table(
            TablePath::new("ext", "pk"),
            rows(&[], &[])?.schema(),
            vec!["k".into()],
            2,
        );
        for info in [&log_table, &pk_table] {
            let definition = table_definition(info)?;
            let next = definition.schema.highest_field_id() + 1;
            let mut fields = definition.schema.as_struct().fields().to_vec();
            for (i, (name, ty)) in [
                ("__bucket", PrimitiveType::Int),
                ("__offset", PrimitiveType::Long),
                ("__timestamp", PrimitiveType::Timestamptz),
            ]
            .into_iter()
            .enumerate()
            {
                fields.push(Arc::new(NestedField::required(
                    next + i as i32,
                    name,
                    Type::Primitive(ty),
                )));
            }
            let schema = iceberg::spec::Schema::builder()
                .with_fields(fields)
                .with_identifier_field_ids(definition.schema.identifier_field_ids())
                .build()?;
            let creation = TableCreation::builder()
                .name(info.path.table.clone())
                .schema(schema)
                .partition_spec(definition.spec)
                .properties(definition.properties)
                .build();
            catalog.create_table(&namespace, creation).await?;
        }
        let e = storage
            .create_lake_writer(&pk_table)
            .await
            .err()
            .ok_or("a primary-key table with system columns was taken for tiering")?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");

        let info = log_table;
        let keys: Vec<i64> = (0..8).collect();
        let key_column: arrow::array::ArrayRef = Arc::new(Int64Array::from(keys.clone()));
        let buckets = iceberg_buckets(&key_column, &DataType::Int64, 2)?;
        let mut writer = storage.create_lake_writer(&info).await?;
        for b in 0..2 {
            let mine: Vec<i64> = keys
                .iter()
                .zip(&buckets)
                .filter(|(_, x)| **x == b)
                .map(|(k, _)| *k)
                .collect();
            let values: Vec<String> = mine.iter().map(|k| format!("v{k}")).collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let changes = LogBatch::new(rows(&mine, &values)?, vec![ChangeType::AppendOnly; mine.len()], 0);
            writer.write(&TableBucket::new(b), &changes).await?;
        }
        writer.commit(BTreeMap::new()).await?;
        let log = MemoryLog::new(info.clone())?;
        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(storage)))?;
        let got = sorted_rows(&table.scan().mode(ReadMode::LakeOnly).build().await?.collect().await?)?;
        let want: Vec<(i64, String)> = keys.iter().map(|&k| (k, format!("v{k}"))).collect();
        assert_eq!(got, want);
        Ok(())
    }

    /// Regression: `n < 5` on an optional column was taken as applied exactly unless an
    /// older schema of the table lacked `n`. A data file may lack it nonetheless (one
    /// written under a schema since removed, as Java's snapshot expiry removes them, or one
    /// added from elsewhere), and iceberg 0.10 holds `NULL < 5` true for such a file: its
    /// rows came back.
    #[tokio::test]
    async fn a_lenient_filter_on_an_optional_column_is_checked_again() -> TestResult {
        use iceberg::spec::{NestedField, PrimitiveType, TableMetadataBuilder, Type};
        use lake_api::ReadMode;
        use lake_api::predicate::col;
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let path = TablePath::new("ext", "t");
        let old = TableInfo::log_table(path.clone(), rows(&[], &[])?.schema(), 1);
        let mut writer = storage.create_lake_writer(&old).await?;
        let first = LogBatch::new(rows(&[1, 2], &["a", "b"])?, vec![ChangeType::AppendOnly; 2], 0);
        writer.write(&TableBucket::new(0), &first).await?;
        writer.commit(BTreeMap::new()).await?;

        // `n` added, and the schema the first file was written under removed
        let table = storage
            .catalog("test")?
            .load_table(&IcebergStorage::ident(&path)?)
            .await?;
        let current = table.metadata().current_schema().clone();
        let mut fields = current.as_struct().fields().to_vec();
        let n = NestedField::optional(
            current.highest_field_id() + 1,
            "n",
            Type::Primitive(PrimitiveType::Long),
        );
        fields.push(Arc::new(n));
        let schema = iceberg::spec::Schema::builder()
            .with_fields(fields)
            .with_identifier_field_ids(current.identifier_field_ids())
            .build()?;
        let evolved = TableMetadataBuilder::new_from_metadata(
            table.metadata().clone(),
            table.metadata_location().map(String::from),
        )
        .add_current_schema(schema)?
        .remove_schemas(&[current.schema_id()])?
        .build()?
        .metadata;
        commit_metadata(dir.path(), &table, &evolved).await?;

        // a second round under the new schema: n = 1 and n = 9
        let info = storage.table_info(&path).await?;
        let second = RecordBatch::try_new(
            info.schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![10, 11])),
                Arc::new(StringArray::from(vec!["c", "d"])),
                Arc::new(Int64Array::from(vec![1, 9])),
            ],
        )?;
        let mut writer = storage.create_lake_writer(&info).await?;
        let changes = LogBatch::new(second, vec![ChangeType::AppendOnly; 2], 2);
        writer.write(&TableBucket::new(0), &changes).await?;
        writer.commit(BTreeMap::new()).await?;

        let log = MemoryLog::new(info.clone())?;
        let table = UnionTable::new(info, Arc::new(log), Some(Arc::new(storage)))?;
        let scan = table
            .scan()
            .mode(ReadMode::LakeOnly)
            .filter(col("n").lt(5))
            .build()
            .await?;
        let got = sorted_rows(&scan.collect().await?)?;
        assert_eq!(got, vec![(10, "c".to_string())]);
        Ok(())
    }

    /// Regression: a round was conformed to the lake table's types with arrow's "safe"
    /// cast, so a BIGINT the table's `int` column cannot hold was committed as NULL.
    #[tokio::test]
    async fn a_value_the_lake_column_cannot_hold_fails_the_round_not_nulls() -> TestResult {
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let path = TablePath::new("ext", "narrow");
        let narrow = Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, true)]));
        storage
            .create_lake_writer(&TableInfo::log_table(path.clone(), narrow, 1))
            .await?;
        // the log's column is a BIGINT
        let wide = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let info = TableInfo::log_table(path.clone(), wide.clone(), 1);
        let batch = RecordBatch::try_new(wide, vec![Arc::new(Int64Array::from(vec![1, 3_000_000_000]))])?;
        let round = async {
            let mut writer = storage.create_lake_writer(&info).await?;
            writer
                .write(&TableBucket::new(0), &LogBatch::append_only(batch, 0))
                .await?;
            writer.commit(BTreeMap::new()).await
        };
        let Err(e) = round.await else {
            return Err("3,000,000,000 was written into an int column".into());
        };
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
        assert!(e.to_string().contains("column v is Int64"), "{e}");
        assert!(e.to_string().contains("3000000000"), "{e}");
        assert_eq!(storage.list_snapshots(&path).await?.len(), 0, "nothing committed");
        Ok(())
    }

    /// Each row's bucket under Iceberg's `bucket[n]` of `column`, cast first to the type
    /// Iceberg keeps it as (`file_type`).
    fn iceberg_buckets(column: &arrow::array::ArrayRef, file_type: &DataType, n: u32) -> TestResult<Vec<u32>> {
        use arrow::array::AsArray;
        use iceberg::spec::Transform;
        use iceberg::transform::create_transform_function;
        let cast = arrow::compute::cast(column, file_type)?;
        let buckets = create_transform_function(&Transform::Bucket(n))?.transform(cast)?;
        let buckets = buckets
            .as_primitive_opt::<arrow::datatypes::Int32Type>()
            .ok_or("not int")?;
        Ok(buckets.values().iter().map(|b| *b as u32).collect())
    }

    /// Regression: the writer hashed a millisecond timestamp key as it came, and iceberg's
    /// bucket transform takes micro- and nanoseconds only: every round failed.
    #[tokio::test]
    async fn a_table_bucketed_by_a_millisecond_timestamp_is_tiered() -> TestResult {
        use arrow::datatypes::TimeUnit;
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let ms = DataType::Timestamp(TimeUnit::Millisecond, None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", ms.clone(), false),
            Field::new("v", DataType::Utf8, true),
        ]));
        let mut info = TableInfo::log_table(TablePath::new("ts", "t"), schema.clone(), 4);
        info.bucket_key = vec!["ts".into()];
        let stamps = vec![0i64, 1_000, 1_700_000_000_123, -86_400_001, 42];
        let column: arrow::array::ArrayRef = Arc::new(arrow::array::TimestampMillisecondArray::from(stamps.clone()));
        let buckets = iceberg_buckets(&column, &DataType::Timestamp(TimeUnit::Microsecond, None), 4)?;
        let mut writer = storage.create_lake_writer(&info).await?;
        for (row, bucket) in buckets.iter().enumerate() {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    column.slice(row, 1),
                    Arc::new(StringArray::from(vec![format!("v{row}")])),
                ],
            )?;
            writer
                .write(&TableBucket::new(*bucket), &LogBatch::append_only(batch, row as i64))
                .await?;
        }
        let snapshot = writer.commit(BTreeMap::new()).await?;
        let source = storage.create_lake_source(&info.path).await?;
        let mut rows = 0;
        for split in source.create_planner(snapshot.id).await?.plan().await? {
            let batches: Vec<RecordBatch> =
                futures::TryStreamExt::try_collect(source.create_reader(split).await?.read().await?).await?;
            rows += batches.iter().map(RecordBatch::num_rows).sum::<usize>();
        }
        assert_eq!(rows, stamps.len());
        Ok(())
    }

    /// Regression: rows were checked against the log's bucket key, so a log without one
    /// (or with another) wrote rows under bucket values their `bucket[n]` column disagrees
    /// with, and every engine pruning by that column lost them.
    #[tokio::test]
    async fn rows_are_checked_against_the_tables_own_bucket_column() -> TestResult {
        let dir = tempfile::tempdir()?;
        let storage = IcebergStorage::connect(IcebergConfig::sqlite(dir.path())).await?;
        let schema = rows(&[], &[])?.schema();
        let mut bucketed = TableInfo::log_table(TablePath::new("ext", "events"), schema.clone(), 2);
        bucketed.bucket_key = vec!["k".into()];
        storage.create_lake_writer(&bucketed).await?;
        // the same table seen by a log without a bucket key: its rows go round-robin
        let keyless = TableInfo::log_table(TablePath::new("ext", "events"), schema, 2);
        let keys: Vec<i64> = (0..16).collect();
        let values: Vec<String> = keys.iter().map(|k| format!("v{k}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let batch = rows(&keys, &values)?;
        let expected = iceberg_buckets(batch.column(0), &DataType::Int64, 2)?;
        assert!(expected.contains(&0) && expected.contains(&1));
        let mut writer = storage.create_lake_writer(&keyless).await?;
        let Err(e) = writer
            .write(&TableBucket::new(0), &LogBatch::append_only(batch, 0))
            .await
        else {
            return Err("rows of both buckets were written as bucket 0".into());
        };
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("bucket[2](k)"), "{e}");
        Ok(())
    }
}
