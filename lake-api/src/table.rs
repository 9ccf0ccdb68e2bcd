//! Table identity and metadata: paths, buckets, partitions, primary key and merge engine.

use std::collections::BTreeMap;
use std::fmt;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Date32Array, StringArray};
use arrow_schema::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// `database.table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TablePath {
    /// The database (namespace).
    pub database: String,
    /// The table name.
    pub table: String,
}

impl TablePath {
    /// A path from its two parts.
    pub fn new(database: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            table: table.into(),
        }
    }

    /// Parses `db.table`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once('.') {
            Some((db, t)) if !db.is_empty() && !t.is_empty() && !t.contains('.') => Ok(Self::new(db, t)),
            _ => Err(Error::invalid(format!(
                "table path '{s}' is not of the form database.table"
            ))),
        }
    }
}

impl fmt::Display for TablePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// The separator Fluss puts between the values of a multi-key partition name.
pub const PARTITION_SEPARATOR: &str = "$";

/// The most buckets a table may have here: eight times Fluss's default cap
/// (`max.bucket.num`, 128,000). A larger count is a damaged or hostile table description,
/// and taking it at its word would size per-bucket vectors (offsets lists, the offsets
/// JSON) by it.
pub const MAX_BUCKET_COUNT: u32 = 1 << 20;

/// Renders partition values the way Fluss names partitions (`2024$us`).
pub fn partition_name(values: &[String]) -> String {
    values.join(PARTITION_SEPARATOR)
}

/// Renders a DATE partition value (days since 1970-01-01) as Fluss names it:
/// `yyyy-MM-dd`. `None` for a day past the calendar's range.
///
/// ```
/// assert_eq!(lake_api::table::date_partition_value(19_723).as_deref(), Some("2024-01-01"));
/// assert_eq!(lake_api::table::date_partition_value(-1).as_deref(), Some("1969-12-31"));
/// ```
pub fn date_partition_value(days: i32) -> Option<String> {
    let mut name = String::with_capacity(10);
    write_date_partition(&mut name, days)?;
    Some(name)
}

/// Writes [`date_partition_value`] to `out`; `None` (nothing written) for a day past the
/// calendar's range.
fn write_date_partition(out: &mut impl std::fmt::Write, days: i32) -> Option<()> {
    use chrono::Datelike;
    // Fluss's `String.format("%04d-%02d-%02d")`: a year past 9999 unsigned, one before
    // year 0 with its sign inside the four places ("-001"), which Rust's padding also does
    let date = arrow_array::temporal_conversions::date32_to_datetime(days)?.date();
    write!(out, "{:04}-{:02}-{:02}", date.year(), date.month(), date.day()).ok()
}

/// Fails with [`ErrorKind::Unsupported`] unless a partition key of `data_type` has a
/// name here as Fluss names it (see [`partition_names`]).
fn ensure_named_partition_type(key: &str, data_type: &DataType) -> Result<()> {
    let named = matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Date32
    );
    if named {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        format!(
            "partition key {key}: a {data_type} has no partition name here (string, integer, boolean and date ones have)"
        ),
    ))
}

/// A partition column's values as Fluss names partitions: strings as they are, integers
/// and booleans as their text, dates through [`date_partition_value`] (Arrow's own text
/// signs years past 9999); nulls stay null. Fluss also partitions by floats, times,
/// timestamps and binaries, under names of its own that no lake here writes: those fail
/// with [`ErrorKind::Unsupported`] naming `key`, rather than being named otherwise (the
/// lake's rows would then never meet their partition's log). A value with no name (a date
/// past the calendar) fails with [`ErrorKind::InvalidArgument`].
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Date32Array, Float64Array, Int32Array};
/// use lake_api::table::partition_names;
///
/// # fn main() -> lake_api::Result<()> {
/// let days: ArrayRef = Arc::new(Date32Array::from(vec![19_723, 2_932_897]));
/// let names = partition_names("d", &days)?;
/// assert_eq!(names.value(0), "2024-01-01");
/// assert_eq!(names.value(1), "10000-01-01");
/// let ints: ArrayRef = Arc::new(Int32Array::from(vec![-7]));
/// assert_eq!(partition_names("n", &ints)?.value(0), "-7");
/// let floats: ArrayRef = Arc::new(Float64Array::from(vec![1.5]));
/// assert!(partition_names("f", &floats).is_err());
/// # Ok(())
/// # }
/// ```
pub fn partition_names(key: &str, column: &ArrayRef) -> Result<StringArray> {
    ensure_named_partition_type(key, column.data_type())?;
    // a type with a name, but a value without one: the value is at fault, not the type
    let unnamed = |why: String| Error::invalid(format!("partition key {key}: {why}"));
    if let Some(days) = column.as_any().downcast_ref::<Date32Array>() {
        // each name written straight into the array's buffer
        let mut names = arrow_array::builder::StringBuilder::with_capacity(days.len(), days.len() * 10);
        for d in days.iter() {
            match d {
                None => names.append_null(),
                Some(d) => {
                    write_date_partition(&mut names, d)
                        .ok_or_else(|| unnamed(format!("{d} days is past the calendar")))?;
                    names.append_value("");
                }
            }
        }
        return Ok(names.finish());
    }
    let text = crate::conform::conform_array(column, &DataType::Utf8).map_err(|e| unnamed(e.to_string()))?;
    Ok(text.as_string::<i32>().clone())
}

/// The day (since 1970-01-01) a DATE partition is named by: the inverse of
/// [`date_partition_value`], `None` for any other text.
///
/// ```
/// assert_eq!(lake_api::table::date_partition_days("2024-01-01"), Some(19_723));
/// assert_eq!(lake_api::table::date_partition_days("-001-12-31"), Some(-719_529));
/// assert_eq!(lake_api::table::date_partition_days("2024-1-1"), None);
/// ```
pub fn date_partition_days(name: &str) -> Option<i32> {
    let mut parts = name.rsplitn(3, '-');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    let date = chrono::NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let days = i32::try_from(date.signed_duration_since(epoch).num_days()).ok()?;
    // one name per day: "+2024-01-01" or "2024-1-1" name no partition Fluss makes
    (date_partition_value(days)? == name).then_some(days)
}

/// One bucket of a table: the partition values (empty when the table is not partitioned)
/// and the bucket id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableBucket {
    /// Partition values in partition-key order; empty for a non-partitioned table.
    pub partition: Vec<String>,
    /// The bucket id, `0..bucket_count`.
    pub bucket: u32,
}

impl TableBucket {
    /// A bucket of a non-partitioned table.
    pub fn new(bucket: u32) -> Self {
        Self {
            partition: Vec::new(),
            bucket,
        }
    }

    /// A bucket of one partition.
    pub fn partitioned(partition: Vec<String>, bucket: u32) -> Self {
        Self { partition, bucket }
    }
}

impl fmt::Display for TableBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.partition.is_empty() {
            write!(f, "bucket {}", self.bucket)
        } else {
            write!(
                f,
                "partition {} bucket {}",
                partition_name(&self.partition),
                self.bucket
            )
        }
    }
}

/// How rows with the same primary key merge (Fluss `table.merge-engine`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MergeEngine {
    /// The last change wins; `-D` and a lone `-U` remove the row.
    #[default]
    Deduplicate,
    /// The first row wins; later changes, retractions included, are ignored.
    FirstRow,
    /// The row with the largest version wins (ties: the later one); a null version never
    /// replaces a row; retractions are ignored.
    Versioned {
        /// The version column.
        column: String,
    },
}

impl MergeEngine {
    /// The engine Fluss's `table.merge-engine` option names (`deduplicate`, `first_row`,
    /// `versioned`; absent: deduplicate), with the version column of a versioned table.
    /// Lakes keep these in table properties; `table` names the table in errors.
    pub fn from_option(engine: Option<&str>, version_column: Option<&str>, table: &TablePath) -> Result<Self> {
        match engine.map(str::to_ascii_lowercase).as_deref() {
            None | Some("deduplicate") => Ok(MergeEngine::Deduplicate),
            Some("first_row") => Ok(MergeEngine::FirstRow),
            Some("versioned") => Ok(MergeEngine::Versioned {
                column: version_column
                    .ok_or_else(|| {
                        Error::corrupt(format!("table {table}: a versioned table without its version column"))
                    })?
                    .to_string(),
            }),
            Some(other) => Err(Error::new(
                crate::ErrorKind::Unsupported,
                format!("table {table}: merge engine '{other}' is not supported"),
            )),
        }
    }

    /// The `table.merge-engine` option value and, for a versioned table, the version
    /// column: what [`MergeEngine::from_option`] reads back (`None` for the default).
    pub fn to_option(&self) -> Option<(&'static str, Option<&str>)> {
        match self {
            MergeEngine::Deduplicate => None,
            MergeEngine::FirstRow => Some(("first_row", None)),
            MergeEngine::Versioned { column } => Some(("versioned", Some(column.as_str()))),
        }
    }
}

impl fmt::Display for MergeEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeEngine::Deduplicate => f.write_str("deduplicate"),
            MergeEngine::FirstRow => f.write_str("first_row"),
            MergeEngine::Versioned { column } => write!(f, "versioned({column})"),
        }
    }
}

/// Everything the union reader needs to know about a table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The table's path.
    pub path: TablePath,
    /// The full row schema (log and lake rows both have it, before projection).
    pub schema: SchemaRef,
    /// Primary-key column names; empty for a log table.
    pub primary_key: Vec<String>,
    /// The number of buckets per partition.
    pub bucket_count: u32,
    /// The columns rows are bucketed by (defaults to the primary key, less the partition
    /// keys).
    pub bucket_key: Vec<String>,
    /// Partition column names; empty when not partitioned.
    pub partition_keys: Vec<String>,
    /// The merge engine of a primary-key table.
    pub merge_engine: MergeEngine,
    /// Free-form table properties.
    pub properties: BTreeMap<String, String>,
}

impl TableInfo {
    /// A log table (no primary key) with `bucket_count` buckets.
    pub fn log_table(path: TablePath, schema: SchemaRef, bucket_count: u32) -> Self {
        Self {
            path,
            schema,
            primary_key: Vec::new(),
            bucket_count,
            bucket_key: Vec::new(),
            partition_keys: Vec::new(),
            merge_engine: MergeEngine::Deduplicate,
            properties: BTreeMap::new(),
        }
    }

    /// A primary-key table bucketed by its key.
    pub fn primary_key_table(path: TablePath, schema: SchemaRef, primary_key: Vec<String>, bucket_count: u32) -> Self {
        Self {
            path,
            schema,
            bucket_key: primary_key.clone(),
            primary_key,
            bucket_count,
            partition_keys: Vec::new(),
            merge_engine: MergeEngine::Deduplicate,
            properties: BTreeMap::new(),
        }
    }

    /// Sets the partition keys. A primary-key table bucketed by its key (as
    /// [`primary_key_table`](Self::primary_key_table) makes it) is then bucketed by its key
    /// without them, as Fluss defaults it: a partition column holds one value in all of a
    /// partition's rows. A bucket key set otherwise stays as it is.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use lake_api::{TableInfo, TablePath};
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("id", DataType::Int64, false),
    ///     Field::new("dt", DataType::Utf8, false),
    /// ]));
    /// let key = vec!["id".to_string(), "dt".to_string()];
    /// let info = TableInfo::primary_key_table(TablePath::new("db", "t"), schema, key, 4)
    ///     .with_partition_keys(vec!["dt".into()]);
    /// assert_eq!(info.bucket_key, ["id"]);
    /// ```
    pub fn with_partition_keys(mut self, keys: Vec<String>) -> Self {
        if self.has_primary_key() && self.bucket_key == self.primary_key {
            self.bucket_key.retain(|c| !keys.contains(c));
        }
        self.partition_keys = keys;
        self
    }

    /// Sets the merge engine.
    pub fn with_merge_engine(mut self, engine: MergeEngine) -> Self {
        self.merge_engine = engine;
        self
    }

    /// Whether the table has a primary key.
    pub fn has_primary_key(&self) -> bool {
        !self.primary_key.is_empty()
    }

    /// The index of a column in the full schema.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.schema
            .index_of(name)
            .map_err(|_| Error::schema(format!("table {} has no column '{name}'", self.path)))
    }

    /// Fails with [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch) unless a
    /// lake's view of this table agrees on what a union read relies on: column names and
    /// nullability in order, the primary key (as a set: lakes may not keep its order), the
    /// partition keys and the bucket count.
    pub fn ensure_compatible(&self, lake: &TableInfo) -> Result<()> {
        let columns = |i: &TableInfo| -> Vec<(String, bool)> {
            i.schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.is_nullable()))
                .collect()
        };
        let sorted = |names: &[String]| -> Vec<String> {
            let mut v = names.to_vec();
            v.sort();
            v
        };
        let mismatch = if columns(self) != columns(lake) {
            Some(format!("columns {:?} vs the lake's {:?}", columns(self), columns(lake)))
        } else if sorted(&self.primary_key) != sorted(&lake.primary_key) {
            Some(format!("primary key {:?} vs {:?}", self.primary_key, lake.primary_key))
        } else if self.partition_keys != lake.partition_keys {
            Some(format!(
                "partition keys {:?} vs {:?}",
                self.partition_keys, lake.partition_keys
            ))
        } else if self.bucket_count != lake.bucket_count {
            Some(format!("{} buckets vs {}", self.bucket_count, lake.bucket_count))
        } else {
            None
        };
        match mismatch {
            Some(m) => Err(Error::schema(format!(
                "table {}: the lake table no longer matches the log: {m}",
                self.path
            ))),
            None => Ok(()),
        }
    }

    /// Fails with [`ErrorKind::Unsupported`] for a partitioned primary-key table whose key
    /// lacks a partition key. Fluss refuses to create one (a key could be in several
    /// partitions, or move between them), so a log never has one; lake tables other tools
    /// wrote may (an Iceberg table keyed by `id` and partitioned by `dt`), and are read.
    pub fn ensure_key_holds_partitions(&self) -> Result<()> {
        if !self.has_primary_key() {
            return Ok(());
        }
        match self.partition_keys.iter().find(|p| !self.primary_key.contains(p)) {
            Some(missing) => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "table {}: its primary key {:?} lacks partition key {missing}, so one key could be in several partitions",
                    self.path, self.primary_key
                ),
            )),
            None => Ok(()),
        }
    }

    /// Fails with [`ErrorKind::Unsupported`] unless every partition key is of a type with
    /// a name here as Fluss names it ([`partition_names`]): a writer refuses such a table
    /// before it writes rows no read could name.
    pub fn ensure_named_partitions(&self) -> Result<()> {
        for key in &self.partition_keys {
            let column = self.schema.field(self.column_index(key)?);
            ensure_named_partition_type(key, column.data_type())?;
        }
        Ok(())
    }

    /// Checks that the table has a column that [holds values](holds_values), that the key,
    /// bucket, partition and version columns exist and that the bucket count is in
    /// `1..=`[`MAX_BUCKET_COUNT`].
    pub fn validate(&self) -> Result<()> {
        if self.schema.fields().is_empty() {
            return Err(Error::invalid(format!("table {} has no columns", self.path)));
        }
        if !self.schema.fields().iter().any(|f| holds_values(f.data_type())) {
            // nothing in its log batches would grow with their rows, so nothing would bound
            // how many rows a batch claims
            return Err(Error::invalid(format!(
                "table {} has no column that holds values ({})",
                self.path, self.schema
            )));
        }
        if self.bucket_count == 0 || self.bucket_count > MAX_BUCKET_COUNT {
            return Err(Error::invalid(format!(
                "table {} has a bucket count of {}, not 1 to {MAX_BUCKET_COUNT}",
                self.path, self.bucket_count
            )));
        }
        for c in self
            .primary_key
            .iter()
            .chain(&self.bucket_key)
            .chain(&self.partition_keys)
        {
            self.column_index(c)?;
        }
        if let MergeEngine::Versioned { column } = &self.merge_engine {
            self.column_index(column)?;
        }
        if !self.has_primary_key() && self.merge_engine != MergeEngine::Deduplicate {
            return Err(Error::invalid(format!(
                "log table {} cannot have merge engine {}",
                self.path, self.merge_engine
            )));
        }
        Ok(())
    }

    /// [`validate`](Self::validate) for metadata read back from where a table keeps it (a
    /// lake's schema or options, a log's descriptor): anyone may have written it, so a
    /// failure says the stored metadata describes no table this crate can read, not that
    /// the caller asked wrongly. Its errors are [`ErrorKind::Corrupt`].
    pub fn validate_stored(&self) -> Result<()> {
        self.validate().map_err(|e| e.with_kind(ErrorKind::Corrupt))
    }
}

/// Whether a column of `dt` stores something for every value, so that its data grows with
/// the rows: a `Null` column, a zero-width binary or list, a run-end encoded column (whose
/// runs may each span any number of rows) or a struct of such columns does not.
///
/// ```
/// use arrow_schema::DataType;
/// use lake_api::table::holds_values;
///
/// assert!(holds_values(&DataType::Int64));
/// assert!(!holds_values(&DataType::Null));
/// assert!(!holds_values(&DataType::FixedSizeBinary(0)));
/// ```
pub fn holds_values(dt: &DataType) -> bool {
    match dt {
        DataType::Null | DataType::RunEndEncoded(_, _) => false,
        DataType::FixedSizeBinary(width) => *width > 0,
        DataType::FixedSizeList(f, width) => *width > 0 && holds_values(f.data_type()),
        DataType::Struct(fs) => fs.iter().any(|f| holds_values(f.data_type())),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_partitioned_key_table_keys_its_partitions() -> Result<()> {
        // regression: LocalLog took a key without the partition keys, and Lance's tiering
        // matched rows by the key alone, folding two partitions' rows of one key into one
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("k", DataType::Int64, false),
            arrow_schema::Field::new("dt", DataType::Utf8, false),
        ]));
        let path = TablePath::new("db", "t");
        let keyed = |key: &[&str]| {
            TableInfo::primary_key_table(
                path.clone(),
                schema.clone(),
                key.iter().map(|k| k.to_string()).collect(),
                1,
            )
            .with_partition_keys(vec!["dt".into()])
        };
        keyed(&["k", "dt"]).ensure_key_holds_partitions()?;
        let e = keyed(&["k"])
            .ensure_key_holds_partitions()
            .err()
            .ok_or_else(|| Error::invalid("accepted"))?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("lacks partition key dt"), "{e}");
        // still a valid table: lake tables other tools wrote are keyed so, and read
        keyed(&["k"]).validate()?;
        TableInfo::log_table(path.clone(), schema.clone(), 1)
            .with_partition_keys(vec!["dt".into()])
            .ensure_key_holds_partitions()?;
        Ok(())
    }

    #[test]
    fn dates_outside_four_digit_years_are_named_as_fluss_names_them() {
        // regression: chrono writes such years signed ("+10000-01-01"), where Fluss's
        // `String.format("%04d-%02d-%02d")` writes "10000-01-01" and "-001-12-31", so the
        // lake's partition and the log's never met
        for (days, name) in [
            (2_932_897, "10000-01-01"),
            (-719_528, "0000-01-01"),
            (-719_529, "-001-12-31"),
            (0, "1970-01-01"),
        ] {
            assert_eq!(date_partition_value(days).as_deref(), Some(name), "{days}");
            assert_eq!(date_partition_days(name), Some(days), "{name}");
        }
        for other in ["+10000-01-01", "-0001-12-31", "2024-13-01", "2024", "x-01-01", ""] {
            assert_eq!(date_partition_days(other), None, "{other}");
        }
    }

    #[test]
    fn table_path_parses() {
        assert_eq!(TablePath::parse("db.t").unwrap(), TablePath::new("db", "t"));
        assert!(TablePath::parse("nodot").is_err());
        assert!(TablePath::parse("a.b.c").is_err());
        assert!(TablePath::parse(".t").is_err());
    }

    #[test]
    fn a_partitioned_key_table_is_bucketed_by_its_key_without_the_partition_columns() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("id", DataType::Int64, false),
            arrow_schema::Field::new("dt", DataType::Utf8, false),
        ]));
        let path = TablePath::new("db", "t");
        let key = vec!["id".to_string(), "dt".to_string()];
        let info =
            TableInfo::primary_key_table(path.clone(), schema.clone(), key, 4).with_partition_keys(vec!["dt".into()]);
        assert_eq!(info.bucket_key, vec!["id".to_string()]);
        assert_eq!(info.primary_key, vec!["id".to_string(), "dt".to_string()]);
        // a bucket key set otherwise is the caller's, whatever the partitions
        let mut chosen = TableInfo::primary_key_table(path.clone(), schema.clone(), vec!["id".into(), "dt".into()], 4);
        chosen.bucket_key = vec!["dt".into()];
        assert_eq!(
            chosen.with_partition_keys(vec!["dt".into()]).bucket_key,
            vec!["dt".to_string()]
        );
        // and a log table's bucket key is its own to choose
        let mut log = TableInfo::log_table(path, schema, 4);
        log.bucket_key = vec!["dt".into()];
        assert_eq!(
            log.with_partition_keys(vec!["dt".into()]).bucket_key,
            vec!["dt".to_string()]
        );
    }

    #[test]
    fn a_table_without_columns_is_refused() -> Result<()> {
        let table = TableInfo::log_table(
            TablePath::new("db", "t"),
            std::sync::Arc::new(arrow_schema::Schema::empty()),
            1,
        );
        let e = table.validate().err().ok_or_else(|| Error::invalid("accepted"))?;
        assert!(e.to_string().contains("db.t has no columns"), "{e}");
        let nulls = arrow_schema::Schema::new(vec![arrow_schema::Field::new("n", DataType::Null, true)]);
        let table = TableInfo::log_table(TablePath::new("db", "t"), std::sync::Arc::new(nulls), 1);
        let e = table.validate().err().ok_or_else(|| Error::invalid("accepted"))?;
        assert!(e.to_string().contains("db.t has no column that holds values"), "{e}");
        Ok(())
    }

    #[test]
    fn columns_that_take_no_bytes_per_value_hold_none() {
        use arrow_schema::{Field, Fields};
        let null = std::sync::Arc::new(Field::new("n", DataType::Null, true));
        let int = std::sync::Arc::new(Field::new("i", DataType::Int32, true));
        for (dt, holds) in [
            (DataType::Null, false),
            (DataType::FixedSizeBinary(0), false),
            (DataType::FixedSizeBinary(4), true),
            (DataType::FixedSizeList(int.clone(), 0), false),
            (DataType::FixedSizeList(null.clone(), 3), false),
            (DataType::FixedSizeList(int.clone(), 3), true),
            (DataType::Struct(Fields::from(vec![null.clone()])), false),
            (DataType::Struct(Fields::from(vec![null.clone(), int.clone()])), true),
            (DataType::RunEndEncoded(int.clone(), int.clone()), false),
            (DataType::List(null), true),
            (DataType::Boolean, true),
            (DataType::Utf8, true),
        ] {
            assert_eq!(holds_values(&dt), holds, "{dt}");
        }
    }

    #[test]
    fn a_bucket_count_of_zero_or_past_the_cap_is_refused() -> Result<()> {
        let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "a",
            arrow_schema::DataType::Int32,
            false,
        )]));
        let table = |buckets| TableInfo::log_table(TablePath::new("db", "t"), schema.clone(), buckets);
        table(1).validate()?;
        table(MAX_BUCKET_COUNT).validate()?;
        for buckets in [0, MAX_BUCKET_COUNT + 1, u32::MAX] {
            let e = table(buckets)
                .validate()
                .err()
                .ok_or_else(|| Error::invalid("accepted"))?;
            assert!(e.to_string().contains(&format!("bucket count of {buckets}")), "{e}");
        }
        Ok(())
    }

    #[test]
    fn buckets_render_like_fluss() {
        let b = TableBucket::partitioned(vec!["2024".into(), "us".into()], 3);
        assert_eq!(b.to_string(), "partition 2024$us bucket 3");
        assert_eq!(TableBucket::new(1).to_string(), "bucket 1");
    }
}
