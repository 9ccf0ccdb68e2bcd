//! Primary-key (and version) encoding into comparable bytes with `arrow-row`.
//!
//! Row-format keys compare with `memcmp` whatever the column types, which is what lets one
//! merge kernel serve every key shape.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::{Schema, SchemaRef};

use crate::error::{Error, Result};

/// Encodes chosen columns of batches of one schema into row-format keys.
#[derive(Debug, Clone)]
pub(crate) struct KeyEncoder {
    converter: Arc<RowConverter>,
    columns: Arc<[usize]>,
}

impl KeyEncoder {
    /// An encoder for the named columns of `schema`.
    pub(crate) fn new(schema: &Schema, names: &[String]) -> Result<Self> {
        let mut columns = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for name in names {
            let idx = schema
                .index_of(name)
                .map_err(|_| Error::schema(format!("key column '{name}' is not in the read schema")))?;
            columns.push(idx);
            fields.push(SortField::new(schema.field(idx).data_type().clone()));
        }
        let converter = RowConverter::new(fields)?;
        Ok(Self {
            converter: Arc::new(converter),
            columns: columns.into(),
        })
    }

    /// The encoded keys of every row of `batch`.
    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<Rows> {
        let arrays: Vec<_> = self.columns.iter().map(|&i| batch.column(i).clone()).collect();
        Ok(self.converter.convert_columns(&arrays)?)
    }

    /// The column indices encoded.
    pub(crate) fn columns(&self) -> &[usize] {
        &self.columns
    }
}

/// Checks that `batch` has exactly the columns of `schema` (by name, in order, with the
/// same types) and rebuilds it with `schema`, so that batches from different sources can
/// be interleaved. `what` names the source in errors.
pub(crate) fn conform(batch: RecordBatch, schema: &SchemaRef, what: &dyn Fn() -> String) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let Some((idx, have)) = batch.schema_ref().column_with_name(field.name()) else {
            return Err(Error::schema(format!(
                "{}: column '{}' is missing",
                what(),
                field.name()
            )));
        };
        if have.data_type() != field.data_type() {
            return Err(Error::schema(format!(
                "{}: column '{}' has type {} but the table says {}",
                what(),
                field.name(),
                have.data_type(),
                field.data_type()
            )));
        }
        columns.push(batch.column(idx).clone());
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::schema(format!("{}: {e}", what())))
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    use super::*;

    #[test]
    fn composite_keys_order_like_tuples() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![2, 1, 1, -5])),
                Arc::new(StringArray::from(vec![Some("a"), Some("z"), None, Some("q")])),
            ],
        )
        .unwrap();
        let enc = KeyEncoder::new(&schema, &["a".into(), "b".into()]).unwrap();
        let rows = enc.encode(&batch).unwrap();
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by(|&x, &y| rows.row(x).cmp(&rows.row(y)));
        assert_eq!(order, vec![3, 2, 1, 0]); // -5 < (1,null) < (1,z) < (2,a)
    }

    #[test]
    fn conform_names_missing_and_mistyped_columns() {
        let want = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let b = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as _)]).unwrap();
        let e = conform(b, &want, &|| "bucket 1".into()).unwrap_err();
        assert!(e.to_string().contains("bucket 1: column 'k' is missing"), "{e}");
        let b = RecordBatch::try_from_iter([("k", Arc::new(Int32Array::from(vec![1])) as _)]).unwrap();
        let e = conform(b, &want, &|| "split 0".into()).unwrap_err();
        assert!(e.to_string().contains("has type Int32"), "{e}");
    }
}
