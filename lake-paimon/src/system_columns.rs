//! Fluss's system columns in the Paimon tables that carry them: `__bucket` (INT),
//! `__offset` (BIGINT) and `__timestamp` (TIMESTAMP_LTZ). Fluss's own Paimon tiering fills
//! them per row with the row's bucket, log offset and log timestamp
//! (`FlussRecordAsPaimonRow`); the tiering writer here does the same, and readers never see
//! them (see [`crate::schema`]).

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::{DataType, FieldRef, Schema, TimeUnit};
use lake_api::{Error, ErrorKind, Result};

use crate::schema::SYSTEM_COLUMNS;

/// The system columns of a table's write schema, in its order.
#[derive(Debug, Clone)]
pub(crate) struct SystemColumns {
    fields: Vec<FieldRef>,
}

/// Where each row of a batch sits in the log.
pub(crate) struct RowOrigins<'a> {
    /// The Fluss bucket of every row.
    pub bucket: i32,
    /// Each row's log offset.
    pub offsets: &'a [i64],
    /// Each row's log timestamp, in milliseconds since the epoch.
    pub timestamps_ms: &'a [i64],
}

impl SystemColumns {
    /// The system columns of `target` (the exact Arrow schema the paimon writer takes), or
    /// `None` when it has none. A system column of another type than Fluss gives it is an
    /// error: the writer would not know what to put there.
    pub(crate) fn of(target: &Schema, context: &str) -> Result<Option<Self>> {
        let fields: Vec<FieldRef> = target
            .fields()
            .iter()
            .filter(|f| SYSTEM_COLUMNS.contains(&f.name().as_str()))
            .cloned()
            .collect();
        for f in &fields {
            let fits = match f.name().as_str() {
                "__bucket" => f.data_type() == &DataType::Int32,
                "__offset" => f.data_type() == &DataType::Int64,
                _ => matches!(f.data_type(), DataType::Timestamp(..)),
            };
            if !fits {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{context}: Fluss's system column {} has type {}, not the one Fluss writes",
                        f.name(),
                        f.data_type()
                    ),
                ));
            }
        }
        Ok((!fields.is_empty()).then_some(Self { fields }))
    }

    /// `batch` with the system columns appended, filled from `origins` (one entry per row).
    pub(crate) fn append(&self, batch: &RecordBatch, origins: &RowOrigins<'_>) -> Result<RecordBatch> {
        let n = batch.num_rows();
        if origins.offsets.len() != n || origins.timestamps_ms.len() != n {
            return Err(Error::invalid(format!(
                "{n} rows but {} offsets and {} timestamps for the system columns",
                origins.offsets.len(),
                origins.timestamps_ms.len()
            )));
        }
        let mut fields: Vec<FieldRef> = batch.schema().fields().iter().cloned().collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for f in &self.fields {
            let column: ArrayRef = match f.data_type() {
                DataType::Int32 => Arc::new(Int32Array::from(vec![origins.bucket; n])),
                DataType::Int64 => Arc::new(Int64Array::from(origins.offsets.to_vec())),
                DataType::Timestamp(unit, tz) => timestamps(origins.timestamps_ms, *unit, tz.clone()),
                other => {
                    return Err(Error::invalid(format!(
                        "system column {} of type {other} slipped past its check",
                        f.name()
                    )));
                }
            };
            fields.push(f.clone());
            columns.push(column);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| Error::new(ErrorKind::Arrow, e.to_string()))
    }
}

/// Millisecond timestamps in `unit` with time zone `tz`.
fn timestamps(ms: &[i64], unit: TimeUnit, tz: Option<Arc<str>>) -> ArrayRef {
    let scaled = |per_ms: i64| ms.iter().map(move |&t| t.saturating_mul(per_ms));
    match unit {
        TimeUnit::Second => Arc::new(
            TimestampSecondArray::from_iter_values(ms.iter().map(|&t| t.div_euclid(1000))).with_timezone_opt(tz),
        ),
        TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(ms.to_vec()).with_timezone_opt(tz)),
        TimeUnit::Microsecond => {
            Arc::new(TimestampMicrosecondArray::from_iter_values(scaled(1_000)).with_timezone_opt(tz))
        }
        TimeUnit::Nanosecond => {
            Arc::new(TimestampNanosecondArray::from_iter_values(scaled(1_000_000)).with_timezone_opt(tz))
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
    use arrow_schema::Field;

    use super::*;

    fn target() -> Schema {
        Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("__bucket", DataType::Int32, false),
            Field::new("__offset", DataType::Int64, false),
            Field::new(
                "__timestamp",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ])
    }

    #[test]
    fn fills_bucket_offset_and_timestamp_per_row() -> Result<()> {
        let system = SystemColumns::of(&target(), "t")?.ok_or_else(|| Error::invalid("no system columns found"))?;
        let batch = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef)])
            .map_err(|e| Error::invalid(e.to_string()))?;
        let out = system.append(
            &batch,
            &RowOrigins {
                bucket: 3,
                offsets: &[40, 41],
                timestamps_ms: &[1_700_000_000_123, 1_700_000_000_124],
            },
        )?;
        assert_eq!(out.num_columns(), 4);
        assert_eq!(out.column(1).as_primitive::<Int32Type>().values(), &[3, 3]);
        assert_eq!(out.column(2).as_primitive::<Int64Type>().values(), &[40, 41]);
        let ts = out.column(3).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.values(), &[1_700_000_000_123, 1_700_000_000_124]);
        assert_eq!(out.column(3).data_type(), target().field(3).data_type());
        let short = system.append(
            &batch,
            &RowOrigins {
                bucket: 0,
                offsets: &[1],
                timestamps_ms: &[1],
            },
        );
        assert!(short.is_err(), "a row without its offset is refused");
        Ok(())
    }

    #[test]
    fn tables_without_them_and_mistyped_ones() -> Result<()> {
        let plain = Schema::new(vec![Field::new("k", DataType::Int64, false)]);
        assert!(SystemColumns::of(&plain, "t")?.is_none());
        let wrong = Schema::new(vec![Field::new("__offset", DataType::Utf8, false)]);
        let err = SystemColumns::of(&wrong, "table db.t")
            .err()
            .ok_or_else(|| Error::invalid("accepted"))?;
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("__offset has type Utf8"), "{err}");
        Ok(())
    }
}
