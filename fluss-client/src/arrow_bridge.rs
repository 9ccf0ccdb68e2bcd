//! Arrow 59 ⇄ Arrow 58, zero-copy, through the Arrow C Data Interface.
//!
//! `fluss-rs` 1.0 hands out Arrow 59 record batches; the rest of the workspace is on Arrow 58
//! (DESIGN.md). A batch crosses as one C `ArrowArray` + `ArrowSchema` pair describing a struct
//! array of its columns: no buffer is copied, and the exporter's release callback frees the
//! buffers when the last array on the importing side that refers to them is dropped.
//!
//! # Safety argument
//!
//! This module holds the workspace's only `unsafe` code for the crossing, in two moves:
//!
//! - **Layout.** Both Arrow versions define `FFI_ArrowArray` and `FFI_ArrowSchema` as
//!   `#[repr(C)]` mirrors of the `struct ArrowArray` / `struct ArrowSchema` the Arrow C Data
//!   Interface specifies, so the two versions' structs have the same size, alignment and field
//!   layout, and a value of one is a valid value of the other. Size and alignment equality are
//!   asserted at compile time below; the field order is fixed by the specification.
//! - **Ownership.** `from_raw` moves the exported struct out and leaves an empty (released)
//!   struct behind, so the release callback runs exactly once: when the importing side drops
//!   the last array holding it. The callback and its private data were set by the exporting
//!   side and free only that side's memory; the importer calls them through the C ABI alone.
//!
//! The import itself (`from_ffi`) is arrow's, and it does not validate the imported data:
//! it builds the arrays unchecked. Both directions import only what arrow itself exported
//! a moment before from a valid array, so the data is as valid as that array.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use fluss_client::arrow_bridge::{batch_from_arrow59, batch_to_arrow59};
//!
//! let batch = RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1, 2])) as _)]).unwrap();
//! let in_59 = batch_to_arrow59(&batch).unwrap();
//! assert_eq!(batch_from_arrow59(&in_59).unwrap(), batch);
//! ```

use std::mem::{align_of, size_of};
use std::sync::Arc;

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::{Array, RecordBatch, StructArray};
use arrow_array_59 as a59;
use arrow_schema::Schema;

use crate::error::{Error, ErrorKind, Result};

// the two versions' C structs must be the same shape (see the module's safety argument)
const _: () = {
    assert!(size_of::<FFI_ArrowArray>() == size_of::<a59::ffi::FFI_ArrowArray>());
    assert!(align_of::<FFI_ArrowArray>() == align_of::<a59::ffi::FFI_ArrowArray>());
    assert!(size_of::<FFI_ArrowSchema>() == size_of::<a59::ffi::FFI_ArrowSchema>());
    assert!(align_of::<FFI_ArrowSchema>() == align_of::<a59::ffi::FFI_ArrowSchema>());
};

fn bridge_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::new(ErrorKind::Arrow, format!("cannot move a record batch {what}")).with_source(e)
}

/// An Arrow 59 batch as an Arrow 58 batch, sharing its buffers.
pub fn batch_from_arrow59(batch: &a59::RecordBatch) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let metadata = batch.schema().metadata().clone();
    let exported = a59::StructArray::from(batch.clone());
    let (array, schema) =
        a59::ffi::to_ffi(&a59::Array::to_data(&exported)).map_err(|e| bridge_error("out of Arrow 59", e))?;
    let array_ptr = Box::into_raw(Box::new(array));
    let schema_ptr = Box::into_raw(Box::new(schema));
    // SAFETY: same C layout (asserted above); `from_raw` moves each struct out and leaves an
    // empty, released one, which the boxes then drop without releasing anything.
    let (array, schema) = unsafe {
        let moved = (
            FFI_ArrowArray::from_raw(array_ptr.cast::<FFI_ArrowArray>()),
            FFI_ArrowSchema::from_raw(schema_ptr.cast::<FFI_ArrowSchema>()),
        );
        drop(Box::from_raw(array_ptr));
        drop(Box::from_raw(schema_ptr));
        moved
    };
    // SAFETY: the structs are arrow 59's export of a valid array just above (from_ffi does
    // not validate: the source array's validity is the argument)
    let data = unsafe { arrow_array::ffi::from_ffi(array, &schema) }.map_err(|e| bridge_error("into Arrow 58", e))?;
    rebuild(StructArray::from(data), rows, metadata)
}

/// An Arrow 58 batch as an Arrow 59 batch, sharing its buffers (for handing batches to
/// `fluss-rs`).
pub fn batch_to_arrow59(batch: &RecordBatch) -> Result<a59::RecordBatch> {
    let rows = batch.num_rows();
    let metadata = batch.schema().metadata().clone();
    let exported = StructArray::from(batch.clone());
    let (array, schema) =
        arrow_array::ffi::to_ffi(&exported.to_data()).map_err(|e| bridge_error("out of Arrow 58", e))?;
    let array_ptr = Box::into_raw(Box::new(array));
    let schema_ptr = Box::into_raw(Box::new(schema));
    // SAFETY: as in `batch_from_arrow59`, in the other direction
    let (array, schema) = unsafe {
        let moved = (
            a59::ffi::FFI_ArrowArray::from_raw(array_ptr.cast::<a59::ffi::FFI_ArrowArray>()),
            a59::ffi::FFI_ArrowSchema::from_raw(schema_ptr.cast::<a59::ffi::FFI_ArrowSchema>()),
        );
        drop(Box::from_raw(array_ptr));
        drop(Box::from_raw(schema_ptr));
        moved
    };
    // SAFETY: arrow 58's export of a valid array just above (see the other direction)
    let data = unsafe { a59::ffi::from_ffi(array, &schema) }.map_err(|e| bridge_error("into Arrow 59", e))?;
    let imported = a59::StructArray::from(data);
    // arrow's From<StructArray> asserts (panics) on top-level nulls: refuse them first
    if a59::Array::null_count(&imported) > 0 {
        return Err(Error::corrupt(
            "an exported record batch has null rows at the top level",
        ));
    }
    let batch = a59::RecordBatch::from(imported);
    debug_assert_eq!(batch.num_rows(), rows);
    let schema = batch.schema().as_ref().clone().with_metadata(metadata);
    batch
        .with_schema(Arc::new(schema))
        .map_err(|e| bridge_error("into Arrow 59", e))
}

/// The batch of an imported struct array, with its row count (a batch without columns keeps
/// it) and the schema-level metadata restored.
fn rebuild(
    array: StructArray,
    rows: usize,
    metadata: std::collections::HashMap<String, String>,
) -> Result<RecordBatch> {
    let (fields, columns, nulls) = array.into_parts();
    if nulls.is_some_and(|n| n.null_count() > 0) {
        return Err(Error::corrupt(
            "an imported record batch has null rows at the top level",
        ));
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    lake_api::conform::batch_of(&schema, columns, rows).map_err(|e| bridge_error("into Arrow 58", e))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow_array::builder::{Int64Builder, MapBuilder, StringBuilder};
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array, FixedSizeBinaryArray,
        FixedSizeListArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
        LargeBinaryArray, LargeStringArray, ListArray, StringArray, Time32MillisecondArray, Time64MicrosecondArray,
        TimestampMicrosecondArray, TimestampNanosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
    };
    use arrow_schema::{DataType, Field, Fields};

    use super::*;

    /// One column of every type the Fluss mapping uses, with nulls.
    fn every_type() -> RecordBatch {
        let strings = StringArray::from(vec![Some("a"), None, Some("ccc")]);
        let struct_array = StructArray::new(
            Fields::from(vec![
                Field::new("a", DataType::Int32, true),
                Field::new("b", DataType::Utf8, true),
            ]),
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
                Arc::new(strings.clone()) as ArrayRef,
            ],
            None,
        );
        let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        map.keys().append_value("x");
        map.values().append_value(7);
        map.append(true).unwrap();
        map.append(false).unwrap();
        map.keys().append_value("y");
        map.values().append_null();
        map.append(true).unwrap();
        let vectors = FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            3,
            Arc::new(Float32Array::from(vec![0.5; 9])),
            Some(vec![true, false, true].into()),
        );
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("i8", Arc::new(Int8Array::from(vec![Some(-1), None, Some(3)]))),
            ("i16", Arc::new(Int16Array::from(vec![Some(-1), None, Some(3)]))),
            ("i32", Arc::new(Int32Array::from(vec![Some(-1), None, Some(3)]))),
            ("i64", Arc::new(Int64Array::from(vec![Some(-1), None, Some(3)]))),
            ("u8", Arc::new(UInt8Array::from(vec![Some(1), None, Some(3)]))),
            ("u16", Arc::new(UInt16Array::from(vec![Some(1), None, Some(3)]))),
            ("u32", Arc::new(UInt32Array::from(vec![Some(1), None, Some(3)]))),
            ("u64", Arc::new(UInt64Array::from(vec![Some(1), None, Some(3)]))),
            ("f32", Arc::new(Float32Array::from(vec![Some(0.5), None, Some(-2.0)]))),
            ("f64", Arc::new(Float64Array::from(vec![Some(0.5), None, Some(-2.0)]))),
            (
                "dec",
                Arc::new(
                    Decimal128Array::from(vec![Some(12345), None, Some(-1)])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            ("utf8", Arc::new(strings)),
            (
                "large_utf8",
                Arc::new(LargeStringArray::from(vec![Some("é"), Some(""), None])),
            ),
            (
                "bin",
                Arc::new(BinaryArray::from(vec![Some(&b"\x00\x01"[..]), None, Some(b"")])),
            ),
            (
                "large_bin",
                Arc::new(LargeBinaryArray::from(vec![Some(&b"img"[..]), None, Some(b"x")])),
            ),
            (
                "fixed_bin",
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        vec![Some(b"abcd".to_vec()), None, Some(b"wxyz".to_vec())].into_iter(),
                        4,
                    )
                    .unwrap(),
                ),
            ),
            (
                "bool",
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            ),
            ("date32", Arc::new(Date32Array::from(vec![Some(19000), None, Some(0)]))),
            (
                "date64",
                Arc::new(Date64Array::from(vec![Some(86_400_000), None, Some(0)])),
            ),
            (
                "time32",
                Arc::new(Time32MillisecondArray::from(vec![Some(1000), None, Some(0)])),
            ),
            (
                "time64",
                Arc::new(Time64MicrosecondArray::from(vec![Some(1_000_000), None, Some(0)])),
            ),
            (
                "ts_ltz",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(1), None, Some(2)]).with_timezone("UTC")),
            ),
            (
                "ts_ntz",
                Arc::new(TimestampNanosecondArray::from(vec![Some(1), None, Some(2)])),
            ),
            (
                "list",
                Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                    Some(vec![Some(1), None]),
                    None,
                    Some(vec![]),
                ])),
            ),
            ("struct", Arc::new(struct_array)),
            ("map", Arc::new(map.finish())),
            ("vector", Arc::new(vectors)),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        // field metadata (the BLOB extension) and schema metadata must survive the crossing
        let mut fields: Vec<Field> = batch.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[14] = fields[14].clone().with_metadata(HashMap::from([(
            "ARROW:extension:name".into(),
            "lakeunion.blob".into(),
        )]));
        let schema = Schema::new_with_metadata(fields, HashMap::from([("origin".into(), "test".into())]));
        batch.with_schema(Arc::new(schema)).unwrap()
    }

    #[test]
    fn every_mapped_type_crosses_both_ways_without_copying() {
        let batch = every_type();
        let in_59 = batch_to_arrow59(&batch).unwrap();
        assert_eq!(in_59.num_rows(), 3);
        assert_eq!(in_59.num_columns(), batch.num_columns());
        assert_eq!(
            in_59.schema().metadata().get("origin").map(String::as_str),
            Some("test")
        );
        // read natively on the Arrow 59 side
        let i64s = in_59
            .column(3)
            .as_any()
            .downcast_ref::<a59::Int64Array>()
            .expect("an Arrow 59 Int64 array");
        assert_eq!(
            (i64s.value(0), a59::Array::is_null(i64s, 1), i64s.value(2)),
            (-1, true, 3)
        );

        let back = batch_from_arrow59(&in_59).unwrap();
        assert_eq!(back, batch);
        // zero-copy: the values buffer is the original allocation
        let original = batch.column(3).to_data().buffers()[0].as_ptr();
        assert_eq!(back.column(3).to_data().buffers()[0].as_ptr(), original);
    }

    #[test]
    fn sliced_and_column_less_batches_keep_their_rows() -> Result<()> {
        let batch = every_type().slice(1, 2);
        assert_eq!(batch_from_arrow59(&batch_to_arrow59(&batch)?)?, batch);
        let empty = lake_api::conform::batch_of(&Arc::new(Schema::empty()), vec![], 5)
            .map_err(|e| bridge_error("a batch of no columns", e))?;
        let back = batch_from_arrow59(&batch_to_arrow59(&empty)?)?;
        assert_eq!(back.num_rows(), 5);
        Ok(())
    }
}
