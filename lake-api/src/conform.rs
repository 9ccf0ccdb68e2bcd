//! Batches cast to a table's schema: the kernel lake backends use where a format's
//! physical types (`LargeBinary`, Iceberg's `list`, Lance's nullable vector items) and
//! lakeunion's logical ones (Binary, BLOB, VECTOR as `FixedSizeList`) meet.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{LargeStringArray, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use lake_api::conform::conform_batch;
//!
//! let stored = RecordBatch::try_from_iter([("name", Arc::new(LargeStringArray::from(vec!["a"])) as _)]).unwrap();
//! let table = Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, true)]));
//! let batch = conform_batch(&stored, &table).unwrap();
//! assert_eq!(batch.schema(), table);
//! ```

use std::sync::Arc;

use arrow_array::builder::BooleanBufferBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, GenericListArray, ListArray, OffsetSizeTrait, RecordBatch,
    RecordBatchOptions, StructArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::types::{MAX_VECTOR_DIMENSION, is_vector_dimension};

/// Casts fail on a value the target type cannot hold, rather than making it NULL.
const STRICT: arrow_cast::CastOptions<'static> = arrow_cast::CastOptions {
    safe: false,
    format_options: arrow_cast::display::FormatOptions::new(),
};

/// `batch` under `target`: columns taken by name (extra columns dropped), each cast to the
/// target type where it differs (struct fields by name, or by position where the names
/// differ). Fails with
/// [`ErrorKind::SchemaMismatch`](crate::ErrorKind::SchemaMismatch) naming the column when one is missing or cannot be cast.
pub fn conform_batch(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let source = batch.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(target.fields().len());
    for field in target.fields() {
        let (i, _) = source
            .column_with_name(field.name())
            .ok_or_else(|| Error::schema(format!("column {} is missing", field.name())))?;
        let column = conform_array(batch.column(i), field.data_type()).map_err(|e| {
            Error::schema(format!(
                "column {} is {}, the table wants {}: {e}",
                field.name(),
                batch.column(i).data_type(),
                field.data_type()
            ))
        })?;
        columns.push(column);
    }
    batch_of(target, columns, batch.num_rows()).map_err(|e| Error::schema(e.to_string()))
}

/// A batch of `schema` with `columns` and `rows` rows: a batch of no columns (a read of
/// none, to count rows) keeps its row count, which arrow's `RecordBatch::try_new` cannot
/// know.
pub fn batch_of(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> std::result::Result<RecordBatch, ArrowError> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
}

/// `schema` with every dictionary of plain values, at any depth but inside a union,
/// decoded to its values: what a format that holds one dictionary per column (an Arrow
/// IPC file, where each batch a merge builds may carry its own) can keep. Arrow casts back
/// to neither a union nor a dictionary of nested values, so those stay encoded. The same
/// schema (`Arc`) where nothing changes.
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use lake_api::conform::dictionaries_decoded;
///
/// let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
/// let schema = Arc::new(Schema::new(vec![Field::new("tag", dict, true)]));
/// assert_eq!(dictionaries_decoded(&schema).field(0).data_type(), &DataType::Utf8);
/// ```
pub fn dictionaries_decoded(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<FieldRef> = schema.fields().iter().map(decoded_field).collect();
    if fields.iter().zip(schema.fields()).all(|(a, b)| Arc::ptr_eq(a, b)) {
        return schema.clone();
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `field` with its dictionaries decoded; the same field where there are none.
fn decoded_field(field: &FieldRef) -> FieldRef {
    let decoded = decoded_type(field.data_type());
    if &decoded == field.data_type() {
        return field.clone();
    }
    Arc::new(Field::clone(field).with_data_type(decoded))
}

fn decoded_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Dictionary(_, values) if !values.is_nested() => values.as_ref().clone(),
        DataType::List(f) => DataType::List(decoded_field(f)),
        DataType::LargeList(f) => DataType::LargeList(decoded_field(f)),
        DataType::ListView(f) => DataType::ListView(decoded_field(f)),
        DataType::LargeListView(f) => DataType::LargeListView(decoded_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(decoded_field(f), *n),
        DataType::Map(f, sorted) => DataType::Map(decoded_field(f), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(decoded_field).collect()),
        DataType::RunEndEncoded(ends, values) => DataType::RunEndEncoded(ends.clone(), decoded_field(values)),
        other => other.clone(),
    }
}

/// `batch` with its columns cast, by position, to `to`'s types (strictly, as
/// [`conform_array`] does): a batch of a schema to its [`dictionaries_decoded`] form and
/// back.
pub fn recast(batch: &RecordBatch, to: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(to.fields())
        .map(|(column, field)| conform_array(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(batch_of(to, columns, batch.num_rows())?)
}

/// Whether values stored as `stored` are values of `table` in another physical form, as a
/// lake keeps some types: Iceberg an int for a TINYINT, microseconds for a TIME(3), `+00:00`
/// for `UTC`, `element` for a list's `item`; Paimon a `Binary` for a `BINARY(n)`. A
/// [strict](conform_array) cast between them keeps every value a log wrote, and keeps their
/// order; any other pair (a float as an integer, an integer as text) is another type.
pub fn stores_as(stored: &DataType, table: &DataType) -> bool {
    use DataType::*;
    let is_string = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let is_binary = |t: &DataType| matches!(t, Binary | LargeBinary | BinaryView | FixedSizeBinary(_));
    let list_item = |t: &DataType| match t {
        List(item) | LargeList(item) | FixedSizeList(item, _) | ListView(item) | LargeListView(item) => {
            Some(item.data_type().clone())
        }
        _ => None,
    };
    match (stored, table) {
        (a, b) if a == b => true,
        (Dictionary(_, values), t) => stores_as(values, t),
        (s, Dictionary(_, values)) => stores_as(s, values),
        (a, b) if a.is_integer() && b.is_integer() => true,
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) | (Date32 | Date64, Date32 | Date64) => true,
        // an instant under any zone's name, or a wall-clock time: not one as the other
        (Timestamp(_, a), Timestamp(_, b)) => a.is_some() == b.is_some(),
        (
            Decimal32(_, a) | Decimal64(_, a) | Decimal128(_, a) | Decimal256(_, a),
            Decimal32(_, b) | Decimal64(_, b) | Decimal128(_, b) | Decimal256(_, b),
        ) => a == b,
        (a, b) if is_string(a) && is_string(b) => true,
        (a, b) if is_binary(a) && is_binary(b) => true,
        (Struct(a), Struct(b)) if a.len() == b.len() => {
            // by name where the stored struct has every name, else by position (as
            // `conform_array` matches them)
            let by_name = b.iter().all(|f| a.find(f.name()).is_some());
            b.iter().enumerate().all(|(i, f)| {
                let have = if by_name {
                    a.find(f.name()).map(|(_, s)| s)
                } else {
                    a.get(i)
                };
                have.is_some_and(|s| stores_as(s.data_type(), f.data_type()))
            })
        }
        (Map(a, _), Map(b, _)) => stores_as(a.data_type(), b.data_type()),
        (a, b) => match (list_item(a), list_item(b)) {
            (Some(a), Some(b)) => stores_as(&a, &b),
            _ => false,
        },
    }
}

/// One array as `target`.
pub fn conform_array(array: &ArrayRef, target: &DataType) -> std::result::Result<ArrayRef, ArrowError> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    let cast = match (array.data_type(), target) {
        (DataType::FixedSizeList(..), DataType::List(item)) => {
            vector_to_list(array.as_fixed_size_list(), item.clone())?
        }
        (DataType::List(item), DataType::FixedSizeList(_, dimension)) => {
            lists_to_vectors(array.as_list::<i32>(), item, *dimension, target)?
        }
        (DataType::LargeList(item), DataType::FixedSizeList(_, dimension)) => {
            lists_to_vectors(array.as_list::<i64>(), item, *dimension, target)?
        }
        // nested types are taken apart so that the vectors inside them are checked too
        (DataType::Struct(from), DataType::Struct(to)) if from.len() == to.len() && !to.is_empty() => {
            conform_struct(array.as_struct(), to)?
        }
        (DataType::List(_), DataType::List(item)) => conform_list(array.as_list::<i32>(), item)?,
        (DataType::LargeList(_), DataType::LargeList(item)) => conform_list(array.as_list::<i64>(), item)?,
        // a value the target cannot hold is an error, never a NULL in its place
        _ => arrow_cast::cast_with_options(array, target, &STRICT)?,
    };
    retype(cast, target)
}

/// A struct under `fields`, each child conformed to its field so that a child's error
/// names it. Children are matched by name when the stored struct has every field's name
/// (as arrow's cast matches them, so that reordered fields keep their values), else by
/// position (renamed fields).
fn conform_struct(array: &StructArray, fields: &Fields) -> std::result::Result<ArrayRef, ArrowError> {
    let by_name: Option<Vec<&ArrayRef>> = fields.iter().map(|f| array.column_by_name(f.name())).collect();
    let stored = by_name.unwrap_or_else(|| array.columns().iter().collect());
    let children = fields
        .iter()
        .zip(stored)
        .map(|(field, child)| {
            conform_array(child, field.data_type())
                .map_err(|e| ArrowError::InvalidArgumentError(format!("field {}: {e}", field.name())))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Arc::new(StructArray::try_new(
        fields.clone(),
        children,
        array.nulls().cloned(),
    )?))
}

/// Lists whose items are conformed to `item`.
fn conform_list<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    item: &FieldRef,
) -> std::result::Result<ArrayRef, ArrowError> {
    let (offsets, values) = held_items(lists);
    let values = conform_array(&values, item.data_type())?;
    Ok(Arc::new(GenericListArray::<O>::try_new(
        item.clone(),
        offsets,
        values,
        lists.nulls().cloned(),
    )?))
}

/// Lists (of `item`) as vectors of `dimension` items (`target`), once every list is checked
/// to hold that many.
fn lists_to_vectors<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    item: &FieldRef,
    dimension: i32,
    target: &DataType,
) -> std::result::Result<ArrayRef, ArrowError> {
    check_vector_lengths(lists, dimension)?;
    // arrow-cast 58 reads a sliced list's items from the start of its child array, not from
    // its first offset, and so returns other rows' items (apache/arrow-rs#10975): lists
    // whose child holds more than the items they name are rebased for the cast
    let offsets = lists.offsets();
    let whole_child = offsets.first().is_none_or(|o| o.as_usize() == 0)
        && offsets.last().is_none_or(|o| o.as_usize() == lists.values().len());
    // an item the vector's item type cannot hold is an error, never a NULL in its place
    if whole_child {
        return arrow_cast::cast_with_options(lists, target, &STRICT);
    }
    let (offsets, values) = held_items(lists);
    let rebased = GenericListArray::<O>::try_new(item.clone(), offsets, values, lists.nulls().cloned())?;
    arrow_cast::cast_with_options(&rebased, target, &STRICT)
}

/// The offsets and items of `lists` rebased to hold only the items the lists name: a sliced
/// array's child may hold others before and after them, which nothing should read (nor
/// fail on).
fn held_items<O: OffsetSizeTrait>(lists: &GenericListArray<O>) -> (OffsetBuffer<O>, ArrayRef) {
    let offsets = lists.offsets();
    let first = offsets.first().map_or(0, |o| o.as_usize());
    let last = offsets.last().map_or(0, |o| o.as_usize());
    let values = lists.values().slice(first, last - first);
    if first == 0 {
        return (offsets.clone(), values);
    }
    let base = O::usize_as(first);
    let rebased = offsets.iter().map(|&o| o - base).collect::<Vec<O>>();
    (OffsetBuffer::new(rebased.into()), values)
}

/// Checks that every non-null list holds `dimension` items before lists become vectors:
/// the cast would turn a list of another length into a null (losing it), and sizes its
/// output by the dimension before it looks, so a damaged dimension could ask for terabytes.
fn check_vector_lengths<O: OffsetSizeTrait>(
    lists: &GenericListArray<O>,
    dimension: i32,
) -> std::result::Result<(), ArrowError> {
    if !is_vector_dimension(dimension) {
        return Err(ArrowError::InvalidArgumentError(format!(
            "vectors of dimension {dimension} (not 1 to {MAX_VECTOR_DIMENSION})"
        )));
    }
    let wanted = dimension as usize;
    let lengths = lists.offsets().lengths();
    match lengths
        .enumerate()
        .find(|&(row, len)| len != wanted && lists.is_valid(row))
    {
        Some((row, len)) => Err(ArrowError::InvalidArgumentError(format!(
            "row {row} holds {len} items where vectors have dimension {dimension}"
        ))),
        None => Ok(()),
    }
}

/// Vectors as a `list` of `item`: null vectors become empty lists, so that non-null list
/// items hold no nulls (a cast keeps the slots under null rows); the items are conformed to
/// `item`'s type (a lake may store vectors of one integer type as lists of another).
fn vector_to_list(vectors: &FixedSizeListArray, item: FieldRef) -> std::result::Result<ArrayRef, ArrowError> {
    let n = vectors.value_length().max(0) as usize;
    let mut keep = BooleanBufferBuilder::new(vectors.len() * n);
    let mut offsets = Vec::with_capacity(vectors.len() + 1);
    let mut end = 0usize;
    offsets.push(0i32);
    for i in 0..vectors.len() {
        let valid = vectors.is_valid(i);
        keep.append_n(n, valid);
        if valid {
            end += n;
        }
        offsets.push(i32::try_from(end).map_err(|_| ArrowError::ComputeError("vectors too large for a list".into()))?);
    }
    let values = vectors.values().slice(vectors.offset() * n, vectors.len() * n);
    let values = arrow_select::filter::filter(&values, &BooleanArray::new(keep.finish(), None))?;
    let values = conform_array(&values, item.data_type())?;
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::new(offsets.into()),
        values,
        vectors.nulls().cloned(),
    )?))
}

/// The array under `target` when the two types differ only in nested field names,
/// nullability of children already free of nulls, or metadata: the same buffers.
fn retype(array: ArrayRef, target: &DataType) -> std::result::Result<ArrayRef, ArrowError> {
    if array.data_type() == target || !array.data_type().equals_datatype(target) {
        return Ok(array);
    }
    let data = array.to_data().into_builder().data_type(target.clone()).build()?;
    Ok(arrow_array::make_array(data))
}

#[cfg(test)]
mod tests {
    use arrow_array::types::{Float32Type, Int64Type};
    use arrow_array::{Int32Array, Int64Array, LargeBinaryArray};
    use arrow_schema::{Field, Schema};

    use super::*;
    use crate::error::ErrorKind;
    use crate::types::{blob_field, vector_field};

    #[test]
    fn a_lake_stores_a_type_as_another_form_of_it_only() {
        use arrow_schema::TimeUnit::{Microsecond, Millisecond};
        let list = |name: &str, item: DataType| DataType::List(Arc::new(Field::new(name, item, true)));
        let stored_as = [
            (DataType::Int32, DataType::Int8),
            (DataType::Time64(Microsecond), DataType::Time32(Millisecond)),
            (
                DataType::Timestamp(Microsecond, Some("+00:00".into())),
                DataType::Timestamp(Millisecond, Some("UTC".into())),
            ),
            (list("element", DataType::Int32), list("item", DataType::Int16)),
            (DataType::Binary, DataType::FixedSizeBinary(16)),
            (DataType::Decimal128(38, 2), DataType::Decimal128(10, 2)),
            (
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                DataType::LargeUtf8,
            ),
        ];
        for (stored, table) in &stored_as {
            assert!(stores_as(stored, table), "{stored} for {table}");
        }
        let other_types = [
            (DataType::Float64, DataType::Int64),
            (DataType::Int64, DataType::Utf8),
            (
                DataType::Timestamp(Microsecond, None),
                DataType::Timestamp(Microsecond, Some("UTC".into())),
            ),
            (DataType::Decimal128(10, 3), DataType::Decimal128(10, 2)),
            (list("element", DataType::Utf8), list("item", DataType::Int64)),
        ];
        for (stored, table) in &other_types {
            assert!(!stores_as(stored, table), "{stored} for {table}");
        }
    }

    #[test]
    fn vectors_round_trip_through_lists_with_nulls() {
        let table = Arc::new(Schema::new(vec![
            vector_field("e", DataType::Float32, 2, true),
            blob_field("b", true),
        ]));
        let vectors = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            vec![Some(vec![Some(1.0), Some(2.0)]), None, Some(vec![Some(3.0), Some(4.0)])],
            2,
        );
        let (_, _, values, nulls) = vectors.into_parts();
        let DataType::FixedSizeList(item, _) = table.field(0).data_type() else {
            unreachable!()
        };
        let vectors = FixedSizeListArray::new(item.clone(), 2, values, nulls);
        let batch = RecordBatch::try_new(
            table.clone(),
            vec![
                Arc::new(vectors),
                Arc::new(LargeBinaryArray::from(vec![Some(&b"x"[..]), None, Some(b"")])),
            ],
        )
        .unwrap();
        let stored = Arc::new(Schema::new(vec![
            Field::new(
                "e",
                DataType::List(Arc::new(Field::new("element", DataType::Float32, false))),
                true,
            ),
            Field::new("b", DataType::Binary, true),
        ]));
        let as_stored = conform_batch(&batch, &stored).unwrap();
        assert_eq!(as_stored.column(0).as_list::<i32>().value_offsets(), &[0, 2, 2, 4]);
        assert_eq!(conform_batch(&as_stored, &table).unwrap(), batch);
    }

    #[test]
    fn lists_of_another_length_than_the_dimension_are_refused_not_nulled() -> Result<()> {
        let lists = arrow_array::ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            None,
            Some(vec![Some(3.0)]),
        ]);
        let stored = RecordBatch::try_from_iter([("e", Arc::new(lists) as ArrayRef)])?;
        let table = |dimension| Arc::new(Schema::new(vec![vector_field("e", DataType::Float32, dimension, true)]));
        // the cast alone would make row 2 a null vector
        let e = conform_batch(&stored, &table(2))
            .err()
            .ok_or_else(|| Error::schema("conformed"))?;
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        assert!(
            e.message()
                .contains("row 2 holds 1 items where vectors have dimension 2"),
            "{e}"
        );
        // a damaged dimension is refused before anything is sized by it
        for dimension in [-1, 0, i32::MAX] {
            let e = conform_batch(&stored, &table(dimension))
                .err()
                .ok_or_else(|| Error::schema("conformed"))?;
            assert!(
                e.message().contains(&format!("vectors of dimension {dimension}")),
                "{e}"
            );
        }
        let one = conform_batch(&stored.slice(0, 2), &table(2))?;
        assert_eq!((one.num_rows(), one.column(0).null_count()), (2, 1));
        Ok(())
    }

    #[test]
    fn a_sliced_list_column_becomes_its_own_vectors() -> Result<()> {
        // arrow-cast 58 alone gives [[9, 1], [2, 3]]: the child array's start, not the slice's
        let lists = float_lists(vec![Some(vec![9.0]), Some(vec![1.0, 2.0]), Some(vec![3.0, 4.0])]);
        let table = Arc::new(Schema::new(vec![vector_field("e", DataType::Float32, 2, true)]));
        let large = DataType::LargeList(Arc::new(Field::new("item", DataType::Float32, true)));
        for lists in [lists.clone(), arrow_cast::cast(&lists, &large)?] {
            let stored = RecordBatch::try_from_iter([("e", lists)])?.slice(1, 2);
            let batch = conform_batch(&stored, &table)?;
            let vectors = batch.column(0).as_fixed_size_list();
            let values = vectors.values().as_primitive::<Float32Type>().values().to_vec();
            assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0]);
        }
        Ok(())
    }

    #[test]
    fn list_items_a_vector_cannot_hold_are_refused_and_vector_items_conformed() -> Result<()> {
        // regression: lists became vectors by arrow's safe cast, so an item out of the
        // vector's item type became a NULL
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(
            vec![Some(vec![Some(300), Some(1)]), None],
        ));
        let vectors = DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Int8, true)), 2);
        let e = conform_array(&lists, &vectors)
            .err()
            .ok_or_else(|| Error::schema("300 held as an Int8"))?;
        assert!(e.to_string().contains("300"), "{e}");
        let fits: ArrayRef = Arc::new(ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(
            vec![Some(vec![Some(3), None]), None],
        ));
        let got = conform_array(&fits, &vectors)?;
        assert_eq!((got.len(), got.null_count()), (2, 1));
        // regression: vectors became lists of their own item type, which a list of another
        // item type (one the lake stores them as) refused
        let list16 = DataType::List(Arc::new(Field::new("element", DataType::Int16, true)));
        let back = conform_array(&got, &list16)?;
        assert_eq!(back.data_type(), &list16);
        let items = back.as_list::<i32>().value(0);
        assert_eq!(
            items
                .as_primitive::<arrow_array::types::Int16Type>()
                .iter()
                .collect::<Vec<_>>(),
            vec![Some(3), None]
        );
        assert!(back.is_null(1));
        Ok(())
    }

    /// `List<Float32>` lists of the given items.
    fn float_lists(items: Vec<Option<Vec<f32>>>) -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
            items
                .into_iter()
                .map(|l| l.map(|l| l.into_iter().map(Some).collect::<Vec<_>>())),
        ))
    }

    #[test]
    fn struct_fields_are_matched_by_name_when_every_name_is_there() -> Result<()> {
        let stored: ArrayRef = Arc::new(StructArray::try_new(
            vec![
                Field::new("b", DataType::Int32, false),
                Field::new("a", DataType::Int32, false),
            ]
            .into(),
            vec![Arc::new(Int32Array::from(vec![2])), Arc::new(Int32Array::from(vec![1]))],
            None,
        )?);
        let value_of = |target: &DataType, field: &str| -> Result<Option<i64>> {
            let conformed = conform_array(&stored, target)?;
            Ok(conformed
                .as_struct()
                .column_by_name(field)
                .map(|c| c.as_primitive::<Int64Type>().value(0)))
        };
        // reordered fields keep their values, as arrow's cast keeps them
        let reordered = DataType::Struct(
            vec![
                Field::new("a", DataType::Int64, false),
                Field::new("b", DataType::Int64, false),
            ]
            .into(),
        );
        assert_eq!(
            (value_of(&reordered, "a")?, value_of(&reordered, "b")?),
            (Some(1), Some(2))
        );
        // renamed fields go by position
        let renamed = DataType::Struct(
            vec![
                Field::new("x", DataType::Int64, false),
                Field::new("y", DataType::Int64, false),
            ]
            .into(),
        );
        assert_eq!((value_of(&renamed, "x")?, value_of(&renamed, "y")?), (Some(2), Some(1)));
        Ok(())
    }

    #[test]
    fn vectors_nested_in_structs_and_lists_are_checked_too() -> Result<()> {
        let DataType::FixedSizeList(item, _) = vector_field("v", DataType::Float32, 2, true).data_type().clone() else {
            return Err(Error::schema("a vector field is a fixed-size list"));
        };
        let vector = DataType::FixedSizeList(item, 2);
        let in_struct = DataType::Struct(vec![Field::new("v", vector.clone(), true)].into());
        let stored_struct = |lists: ArrayRef| -> Result<ArrayRef> {
            let fields = vec![Field::new("stored_v", lists.data_type().clone(), true)];
            Ok(Arc::new(StructArray::try_new(fields.into(), vec![lists], None)?))
        };

        let good = stored_struct(float_lists(vec![Some(vec![1.0, 2.0]), None]))?;
        let conformed = conform_array(&good, &in_struct)?;
        assert_eq!(conformed.data_type(), &in_struct);
        let vectors = conformed.as_struct().column(0).as_fixed_size_list().clone();
        assert_eq!((vectors.len(), vectors.null_count()), (2, 1));

        // a plain cast would null the second row's vector
        let bad = stored_struct(float_lists(vec![Some(vec![1.0, 2.0]), Some(vec![3.0])]))?;
        let e = conform_array(&bad, &in_struct)
            .err()
            .ok_or_else(|| Error::schema("conformed"))?;
        assert!(e.to_string().contains("field v: "), "{e}");
        assert!(e.to_string().contains("row 1 holds 1 items"), "{e}");

        // lists of vectors: only the items a (sliced) array holds are looked at
        let lists_of_vectors = DataType::List(Arc::new(Field::new("item", vector, true)));
        let inner = float_lists(vec![Some(vec![9.0]), Some(vec![1.0, 2.0]), Some(vec![3.0, 4.0])]);
        let outer: ArrayRef = Arc::new(ListArray::try_new(
            Arc::new(Field::new("item", inner.data_type().clone(), true)),
            OffsetBuffer::new(vec![0, 1, 3].into()),
            inner,
            None,
        )?);
        let e = conform_array(&outer, &lists_of_vectors)
            .err()
            .ok_or_else(|| Error::schema("conformed"))?;
        assert!(e.to_string().contains("row 0 holds 1 items"), "{e}");
        let conformed = conform_array(&outer.slice(1, 1), &lists_of_vectors)?;
        assert_eq!(conformed.data_type(), &lists_of_vectors);
        let vectors = conformed.as_list::<i32>().value(0);
        let values = vectors
            .as_fixed_size_list()
            .values()
            .as_primitive::<Float32Type>()
            .values()
            .to_vec();
        assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0]);
        Ok(())
    }

    #[test]
    fn a_missing_or_uncastable_column_is_a_schema_mismatch() {
        let batch = RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from(vec![1])) as _)]).unwrap();
        let target = Arc::new(Schema::new(vec![Field::new("b", DataType::Int64, true)]));
        let err = conform_batch(&batch, &target).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SchemaMismatch);
        assert!(err.to_string().contains("column b"), "{err}");
        let target = Arc::new(Schema::new(vec![Field::new(
            "a",
            DataType::Struct(vec![Field::new("x", DataType::Int64, true)].into()),
            true,
        )]));
        assert_eq!(
            conform_batch(&batch, &target).unwrap_err().kind(),
            ErrorKind::SchemaMismatch
        );
    }
}
