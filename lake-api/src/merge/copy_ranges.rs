//! Row ranges of several batches copied into one batch: what the key filter keeps of a lake
//! batch (the rows between the keys the log changed), and what the sparse merge builds (lake
//! rows with the log's states in their places).
//!
//! Fixed-width and byte columns are copied a range at a time. arrow's `filter` and
//! `MutableArrayData` rebase a string column's offsets one value at a time, through a
//! running sum, which profiles of the key filter showed at a third of the cost of copying the
//! rows themselves; here each range's offsets are shifted by one constant, a loop the
//! compiler vectorizes. Other types go through `MutableArrayData`.

use arrow_array::cast::AsArray;
use arrow_array::types::{BinaryType, ByteArrayType, LargeBinaryType, LargeUtf8Type, Utf8Type};
use arrow_array::{Array, ArrayRef, GenericByteArray, RecordBatch, make_array, new_empty_array};
use arrow_buffer::{ArrowNativeType, BooleanBufferBuilder, MutableBuffer, NullBuffer, OffsetBuffer};
use arrow_data::ArrayData;
use arrow_data::transform::{Capacities, MutableArrayData};
use arrow_schema::{DataType, SchemaRef};
use arrow_select::interleave::interleave;

use crate::error::{Error, Result};

/// The rows to copy: `(source, start, end)` row ranges, in output order.
#[derive(Debug, Default)]
pub(crate) struct Ranges {
    /// Adjacent ranges of one source are joined.
    ranges: Vec<(usize, usize, usize)>,
    rows: usize,
}

impl Ranges {
    /// Appends rows `start..end` of source `source` (nothing when the range is empty).
    pub(crate) fn push(&mut self, source: usize, start: usize, end: usize) {
        if start >= end {
            return;
        }
        self.rows += end - start;
        match self.ranges.last_mut() {
            Some((s, _, e)) if *s == source && *e == start => *e = end,
            _ => self.ranges.push((source, start, end)),
        }
    }

    /// Forgets every range, keeping the room they took.
    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
        self.rows = 0;
    }

    /// The rows of every range.
    #[cfg(test)]
    fn rows(&self) -> usize {
        self.rows
    }

    /// The number of ranges, after joining adjacent ones.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The one range `(source, start, end)` when there is exactly one.
    fn only(&self) -> Option<(usize, usize, usize)> {
        match self.ranges.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }
}

/// One batch of `schema` holding the rows `ranges` names from `sources` (batches of
/// `schema`). A range past its source's rows is an error.
pub(crate) fn copy_ranges(schema: &SchemaRef, sources: &[&RecordBatch], ranges: &Ranges) -> Result<RecordBatch> {
    for &(s, _, end) in &ranges.ranges {
        let rows = sources.get(s).map(|b| b.num_rows());
        if rows.is_none_or(|rows| end > rows) {
            return Err(Error::invalid(format!(
                "a copy of rows up to {end} of source {s} of {} ({rows:?} rows)",
                sources.len()
            )));
        }
    }
    // one range is a slice of its source: no copy
    if let Some((s, start, end)) = ranges.only() {
        let slice = sources[s].slice(start, end - start);
        return Ok(RecordBatch::try_new(schema.clone(), slice.columns().to_vec())?);
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (c, field) in schema.fields().iter().enumerate() {
        let arrays = sources
            .iter()
            .map(|b| {
                b.columns()
                    .get(c)
                    .filter(|a| a.data_type() == field.data_type())
                    .ok_or_else(|| Error::schema(format!("column {} differs between the batches merged", field.name())))
            })
            .collect::<Result<Vec<&ArrayRef>>>()?;
        columns.push(copy_column(field.data_type(), &arrays, ranges)?);
    }
    Ok(crate::conform::batch_of(schema, columns, ranges.rows)?)
}

/// One column's rows, from `arrays` (all of `data_type`).
fn copy_column(data_type: &DataType, arrays: &[&ArrayRef], ranges: &Ranges) -> Result<ArrayRef> {
    match data_type {
        DataType::Utf8 => copy_bytes::<Utf8Type>(arrays, ranges),
        DataType::LargeUtf8 => copy_bytes::<LargeUtf8Type>(arrays, ranges),
        DataType::Binary => copy_bytes::<BinaryType>(arrays, ranges),
        DataType::LargeBinary => copy_bytes::<LargeBinaryType>(arrays, ranges),
        _ => match data_type.primitive_width() {
            Some(width) => copy_fixed_width(data_type, width, arrays, ranges),
            None => copy_any(data_type, arrays, ranges),
        },
    }
}

/// Integers, floats, decimals, dates, times and the like: a slice copy per range.
fn copy_fixed_width(data_type: &DataType, width: usize, arrays: &[&ArrayRef], ranges: &Ranges) -> Result<ArrayRef> {
    let data: Vec<ArrayData> = arrays.iter().map(|a| a.to_data()).collect();
    let mut values = MutableBuffer::with_capacity(ranges.rows * width);
    for &(s, start, end) in &ranges.ranges {
        let d = &data[s];
        let bytes = d
            .buffers()
            .first()
            .and_then(|b| {
                b.as_slice()
                    .get((d.offset() + start) * width..(d.offset() + end) * width)
            })
            .ok_or_else(|| Error::invalid(format!("a {data_type} array shorter than its rows")))?;
        values.extend_from_slice(bytes);
    }
    let data = ArrayData::builder(data_type.clone())
        .len(ranges.rows)
        .add_buffer(values.into())
        .nulls(copy_nulls(arrays, ranges))
        .build()?;
    Ok(make_array(data))
}

/// Strings and binaries: each range's values in one copy, its offsets shifted by one
/// constant.
fn copy_bytes<T: ByteArrayType>(arrays: &[&ArrayRef], ranges: &Ranges) -> Result<ArrayRef> {
    let typed: Vec<&GenericByteArray<T>> = arrays.iter().map(|a| a.as_bytes::<T>()).collect();
    // room for all the sources' values: exact for one whole source, a little more where
    // rows are left out (the exact size would read each range's offsets ahead of the copy,
    // from memory not yet in cache, which costs more than the slack). The k-way and sparse
    // merges pass every batch they hold, so there this reserves more than they copy; the
    // pages never written are never touched, and reserving only each source's span of
    // copied rows measured about 3% slower in the sort-merge bench (session 17)
    let capacity = typed
        .iter()
        .map(|a| {
            let o = a.value_offsets();
            o.last()
                .zip(o.first())
                .map_or(0, |(&last, &first)| (last - first).as_usize())
        })
        .sum();
    let mut values = MutableBuffer::with_capacity(capacity);
    let mut offsets: Vec<T::Offset> = Vec::with_capacity(ranges.rows + 1);
    offsets.push(T::Offset::usize_as(0));
    for &(s, start, end) in &ranges.ranges {
        let array = typed[s];
        let source = &array.value_offsets()[start..=end];
        let (first, last) = (source[0], source[end - start]);
        let copied = values.len();
        if T::Offset::from_usize(copied + (last - first).as_usize()).is_none() {
            return Err(Error::invalid(format!(
                "more than {copied} bytes of {} values are too many for one batch",
                T::DATA_TYPE
            )));
        }
        // out = source - first + copied, in the offset type: the check above says it fits
        let shift = T::Offset::usize_as(copied) - first;
        offsets.extend(source[1..].iter().map(|&o| o + shift));
        values.extend_from_slice(&array.values()[first.as_usize()..last.as_usize()]);
    }
    let nulls = copy_nulls(arrays, ranges);
    // SAFETY: each output value is a whole value of a valid array of this type (the same
    // bytes between the same boundaries, the offsets shifted alike), so the offsets start at
    // 0, ascend and end at the values' length, and a string value is valid UTF-8 as it was
    // in its source. (Checking the offsets again costs a tenth of the whole key filter.)
    Ok(std::sync::Arc::new(unsafe {
        let offsets = OffsetBuffer::new_unchecked(offsets.into());
        GenericByteArray::<T>::new_unchecked(offsets, values.into(), nulls)
    }))
}

/// The validity of the copied rows, `None` when every copied row is valid.
fn copy_nulls(arrays: &[&ArrayRef], ranges: &Ranges) -> Option<NullBuffer> {
    if !ranges.ranges.iter().any(|&(s, _, _)| arrays[s].null_count() > 0) {
        return None;
    }
    let mut valid = BooleanBufferBuilder::new(ranges.rows);
    for &(s, start, end) in &ranges.ranges {
        match arrays[s].nulls() {
            Some(n) => valid.append_packed_range(n.offset() + start..n.offset() + end, n.validity()),
            None => valid.append_n(end - start, true),
        }
    }
    Some(NullBuffer::new(valid.finish())).filter(|n| n.null_count() > 0)
}

/// Any other type, through arrow's `MutableArrayData`, or, for dictionaries, `interleave`.
///
/// `MutableArrayData` joins the dictionaries of every source it is given and panics when
/// they overflow the key type; `interleave` merges the values the rows use (for string,
/// binary and primitive values) and reports an overflow as an error. Only the sources the
/// ranges use are given either way (the k-way merge retains batches no range of this
/// output reads). What still overflows (a dictionary in a struct or a list, or of other
/// values) is an error too, not the panic.
fn copy_any(data_type: &DataType, arrays: &[&ArrayRef], ranges: &Ranges) -> Result<ArrayRef> {
    without_dictionary_panic(data_type, || copy_any_of(data_type, arrays, ranges))
}

/// arrow's `interleave` of `picks` (`(array, row)`) of `arrays`, with its panic on
/// dictionaries it cannot combine (of values other than strings, binaries and primitives,
/// whose dictionaries together overflow the key type) an error.
pub(crate) fn interleave_rows(arrays: &[&dyn Array], picks: &[(usize, usize)]) -> Result<ArrayRef> {
    match arrays.first().map(|a| a.data_type()) {
        Some(t) if matches!(t, DataType::Dictionary(..)) || t.is_nested() => {
            without_dictionary_panic(t, || Ok(interleave(arrays, picks)?))
        }
        _ => Ok(interleave(arrays, picks)?),
    }
}

/// Runs a copy of `data_type` values by arrow, whose dictionary handling panics where
/// the dictionaries it must join overflow the key type: an error instead.
fn without_dictionary_panic(data_type: &DataType, copy: impl FnOnce() -> Result<ArrayRef>) -> Result<ArrayRef> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(copy)).unwrap_or_else(|_| {
        Err(Error::new(
            crate::error::ErrorKind::Arrow,
            format!("the rows copied hold more {data_type} dictionary values than its key type counts"),
        ))
    })
}

/// [`copy_any`], which may panic.
fn copy_any_of(data_type: &DataType, arrays: &[&ArrayRef], ranges: &Ranges) -> Result<ArrayRef> {
    let mut used: Vec<usize> = ranges.ranges.iter().map(|&(s, _, _)| s).collect();
    used.sort_unstable();
    used.dedup();
    if used.is_empty() {
        return Ok(new_empty_array(data_type));
    }
    // every range's source is in `used`
    let position = |source: usize| used.partition_point(|&s| s < source);
    if matches!(data_type, DataType::Dictionary(..)) {
        let sources: Vec<&dyn Array> = used.iter().map(|&s| arrays[s].as_ref()).collect();
        let rows: Vec<(usize, usize)> = ranges
            .ranges
            .iter()
            .flat_map(|&(s, start, end)| {
                let p = position(s);
                (start..end).map(move |row| (p, row))
            })
            .collect();
        return Ok(interleave(&sources, &rows)?);
    }
    let data: Vec<ArrayData> = used.iter().map(|&s| arrays[s].to_data()).collect();
    let mut out = MutableArrayData::with_capacities(data.iter().collect(), false, Capacities::Array(ranges.rows));
    for &(source, start, end) in &ranges.ranges {
        out.extend(position(source), start, end);
    }
    Ok(make_array(out.freeze()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{
        BooleanArray, Decimal128Array, Int32Array, Int64Array, LargeBinaryArray, ListArray, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Schema};
    use arrow_select::concat::concat_batches;

    use super::*;

    fn schema() -> SchemaRef {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::LargeBinary, true),
            Field::new("d", DataType::Decimal128(20, 3), true),
            Field::new(
                "t",
                DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("f", DataType::Boolean, true),
            Field::new("l", list, true),
        ]))
    }

    /// Rows `from..from + n`, with nulls in the nullable columns where `nulls` is set; the
    /// batch is sliced out of a longer one, so that array offsets are not zero.
    fn batch(from: i64, n: usize, nulls: bool) -> Result<RecordBatch> {
        let len = n + 3;
        let keys: Vec<i64> = (from - 2..from - 2 + len as i64).collect();
        let null = |k: &i64| nulls && k % 3 == 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(keys.clone())),
            Arc::new(StringArray::from(
                keys.iter()
                    .map(|k| (!null(k)).then(|| "é".repeat(k.rem_euclid(5) as usize) + &k.to_string()))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(LargeBinaryArray::from(
                keys.iter()
                    .map(|k| (!null(k)).then(|| &b"blob"[..k.rem_euclid(4) as usize]))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(
                Decimal128Array::from(
                    keys.iter()
                        .map(|k| (!null(k)).then_some(*k as i128 * 1000))
                        .collect::<Vec<_>>(),
                )
                .with_precision_and_scale(20, 3)?,
            ),
            Arc::new(
                TimestampMicrosecondArray::from(keys.iter().map(|k| (!null(k)).then_some(*k)).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(BooleanArray::from(
                keys.iter()
                    .map(|k| (!null(k)).then_some(k % 2 == 0))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(ListArray::from_iter_primitive::<arrow_array::types::Int32Type, _, _>(
                keys.iter()
                    .map(|k| (!null(k)).then(|| (0..*k % 3).map(|i| Some(i as i32)).collect::<Vec<_>>())),
            )),
        ];
        Ok(RecordBatch::try_new(schema(), columns)?.slice(2, n))
    }

    #[test]
    fn ranges_of_several_batches_equal_the_same_rows_concatenated() -> Result<()> {
        let sources = [batch(0, 40, true)?, batch(100, 25, false)?, batch(200, 10, true)?];
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        let picks = [
            (0, 0, 5),
            (1, 3, 4),
            (0, 5, 9),
            (2, 0, 10),
            (0, 20, 40),
            (1, 24, 25),
            (1, 0, 0),
        ];
        let mut ranges = Ranges::default();
        let mut expected = Vec::new();
        for &(s, start, end) in &picks {
            ranges.push(s, start, end);
            expected.push(sources[s].slice(start, end - start));
        }
        // (0, 0, 5) and (0, 5, 9) are not adjacent in the output: they stay two ranges
        assert_eq!((ranges.rows(), ranges.len()), (41, 6));
        let got = copy_ranges(&schema(), &refs, &ranges)?;
        assert_eq!(got, concat_batches(&schema(), &expected)?);
        for column in got.columns() {
            column.to_data().validate_full()?;
        }
        // every row of one source in one range, and nothing at all
        let mut whole = Ranges::default();
        whole.push(1, 0, 25);
        assert_eq!(copy_ranges(&schema(), &refs, &whole)?, sources[1]);
        let none = copy_ranges(&schema(), &refs, &Ranges::default())?;
        assert_eq!(none.num_rows(), 0);
        Ok(())
    }

    #[test]
    fn dictionary_columns_copy_from_the_sources_used_and_overflow_as_an_error() -> Result<()> {
        // regression: arrow's `MutableArrayData` joins the dictionaries of every source it is
        // given, used or not, and panics when they overflow the key type
        use arrow_array::DictionaryArray;
        use arrow_array::types::Int8Type;
        let field = Field::new(
            "d",
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
            true,
        );
        let schema = Arc::new(Schema::new(vec![field]));
        let sources: Vec<RecordBatch> = (0..10)
            .map(|s| {
                let names: Vec<String> = (0..16).map(|v| format!("{s}-{v}")).collect();
                let values: DictionaryArray<Int8Type> = names.iter().map(String::as_str).collect();
                RecordBatch::try_new(schema.clone(), vec![Arc::new(values)])
            })
            .collect::<std::result::Result<_, _>>()?;
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        let mut ranges = Ranges::default();
        ranges.push(0, 0, 16);
        ranges.push(3, 0, 16);
        let got = copy_ranges(&schema, &refs, &ranges)?;
        let expected = concat_batches(&schema, [&sources[0], &sources[3]])?;
        assert_eq!(
            arrow_cast::cast(got.column(0), &DataType::Utf8)?.as_ref(),
            arrow_cast::cast(expected.column(0), &DataType::Utf8)?.as_ref()
        );
        // 160 values for an 8-bit key: an error, not a panic
        let mut every = Ranges::default();
        for s in 0..10 {
            every.push(s, 0, 16);
        }
        assert!(copy_ranges(&schema, &refs, &every).is_err());
        // and a dictionary inside a struct, which only `MutableArrayData` copies
        let inner = schema.field(0).clone();
        let nested = Arc::new(Schema::new(vec![Field::new(
            "s",
            DataType::Struct(vec![inner.clone()].into()),
            true,
        )]));
        let structs: Vec<RecordBatch> = sources
            .iter()
            .map(|b| {
                let column = arrow_array::StructArray::from(vec![(Arc::new(inner.clone()), b.column(0).clone())]);
                RecordBatch::try_new(nested.clone(), vec![Arc::new(column)])
            })
            .collect::<std::result::Result<_, _>>()?;
        let refs: Vec<&RecordBatch> = structs.iter().collect();
        assert_eq!(copy_ranges(&nested, &refs, &ranges)?.num_rows(), 32);
        let e = copy_ranges(&nested, &refs, &every).err().map(|e| e.kind());
        assert_eq!(e, Some(crate::error::ErrorKind::Arrow));
        Ok(())
    }

    #[test]
    fn a_range_past_its_source_or_a_foreign_batch_is_an_error() -> Result<()> {
        let source = batch(0, 10, false)?;
        let mut ranges = Ranges::default();
        ranges.push(0, 5, 11);
        assert!(copy_ranges(&schema(), &[&source], &ranges).is_err());
        let mut ranges = Ranges::default();
        ranges.push(1, 0, 1);
        assert!(copy_ranges(&schema(), &[&source], &ranges).is_err());
        let other = RecordBatch::try_from_iter([("k", Arc::new(Int32Array::from(vec![1])) as ArrayRef)])?;
        let mut ranges = Ranges::default();
        ranges.push(1, 0, 1);
        assert!(copy_ranges(&schema(), &[&source, &other], &ranges).is_err());
        Ok(())
    }
}
