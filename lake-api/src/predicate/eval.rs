//! Evaluation of [`Predicate`]s on Arrow record batches with Arrow's compute kernels,
//! and the schema checks that share its literal-casting rules.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow_arith::boolean::{and_kleene, is_not_null, is_null, not, or_kleene};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, RecordBatch, Scalar, StringArray, UInt64Array,
};
use arrow_buffer::BooleanBuffer;
use arrow_cast::{CastOptions, can_cast_types, cast, cast_with_options};
use arrow_ord::cmp;
use arrow_schema::{ArrowError, DataType, Field, Schema};
use arrow_select::filter::{filter_record_batch, prep_null_mask_filter};
use arrow_string::like::starts_with;

use super::{CompareOp, Literal, Predicate};
use crate::error::{Error, Result};

/// The rows of `batch` every predicate selects, as a mask without nulls (NULL counts as
/// not selected); `None` when there are no predicates.
///
/// Errors as [`Predicate::evaluate`].
pub fn selection_mask(batch: &RecordBatch, predicates: &[Predicate]) -> Result<Option<BooleanArray>> {
    let mut mask: Option<BooleanArray> = None;
    for p in predicates {
        let r = evaluate(p, batch)?;
        mask = Some(match mask {
            None => r,
            Some(m) => and_kleene(&m, &r)?,
        });
    }
    // prep_null_mask_filter expects a null buffer; a mask without nulls is ready as it is
    Ok(mask.map(|m| {
        if m.null_count() > 0 {
            prep_null_mask_filter(&m)
        } else {
            m
        }
    }))
}

/// Keeps the rows of `batch` for which every predicate is TRUE (NULL counts as not
/// selected).
///
/// Returns the input batch itself (zero-copy, same buffers) when every row passes or
/// there are no predicates, and an empty slice of it when no row passes.
///
/// Errors as [`Predicate::evaluate`].
pub fn filter_batch(batch: &RecordBatch, predicates: &[Predicate]) -> Result<RecordBatch> {
    let Some(mask) = selection_mask(batch, predicates)? else {
        return Ok(batch.clone());
    };
    let selected = mask.true_count();
    if selected == batch.num_rows() {
        return Ok(batch.clone());
    }
    if selected == 0 {
        return Ok(batch.slice(0, 0));
    }
    Ok(filter_record_batch(batch, &mask)?)
}

/// See [`Predicate::evaluate`]. Walks the tree with a stack of its own rather than by
/// recursion: a filter deep enough (a long AND/OR chain) would otherwise overflow the
/// stack of the task evaluating it, which aborts the process.
pub(super) fn evaluate(p: &Predicate, batch: &RecordBatch) -> Result<BooleanArray> {
    enum Step<'a> {
        /// Evaluate this node and push its result.
        Visit(&'a Predicate),
        /// Combine the results its children left on top of the result stack.
        Combine(&'a Predicate),
    }
    let mut steps = vec![Step::Visit(p)];
    let mut results: Vec<BooleanArray> = Vec::new();
    let pop = |results: &mut Vec<BooleanArray>| {
        results
            .pop()
            .ok_or_else(|| Error::invalid("predicate evaluation lost an operand"))
    };
    while let Some(step) = steps.pop() {
        match step {
            Step::Visit(node @ (Predicate::And(a, b) | Predicate::Or(a, b))) => {
                steps.extend([Step::Combine(node), Step::Visit(b), Step::Visit(a)]);
            }
            Step::Visit(node @ Predicate::Not(inner)) => steps.extend([Step::Combine(node), Step::Visit(inner)]),
            Step::Visit(leaf) => results.push(evaluate_leaf(leaf, batch)?),
            Step::Combine(node) => {
                let combined = match node {
                    Predicate::Not(_) => not(&pop(&mut results)?)?,
                    _ => {
                        let right = pop(&mut results)?;
                        let left = pop(&mut results)?;
                        if matches!(node, Predicate::And(..)) {
                            and_kleene(&left, &right)?
                        } else {
                            or_kleene(&left, &right)?
                        }
                    }
                };
                results.push(combined);
            }
        }
    }
    pop(&mut results)
}

/// One leaf of [`evaluate`]'s walk.
fn evaluate_leaf(p: &Predicate, batch: &RecordBatch) -> Result<BooleanArray> {
    match p {
        Predicate::Compare { column, op, value } => compare(column, column_of(batch, column)?, *op, value),
        Predicate::IsNull(column) => Ok(is_null(column_of(batch, column)?.as_ref())?),
        Predicate::IsNotNull(column) => Ok(is_not_null(column_of(batch, column)?.as_ref())?),
        Predicate::In {
            column,
            values,
            negated,
        } => {
            let found = in_list(column, column_of(batch, column)?, values)?;
            if *negated { Ok(not(&found)?) } else { Ok(found) }
        }
        Predicate::StartsWith { column, prefix } => {
            let array = column_of(batch, column)?;
            let scalar = prefix_scalar(column, array.data_type(), prefix)?;
            Ok(starts_with(array, &scalar)?)
        }
        Predicate::And(..) | Predicate::Or(..) | Predicate::Not(..) => evaluate(p, batch),
    }
}

/// See [`Predicate::validate`]: checks each leaf (the connectives need no check).
pub(super) fn validate(p: &Predicate, schema: &Schema) -> Result<()> {
    p.leaves().try_for_each(|leaf| validate_leaf(leaf, schema))
}

fn validate_leaf(p: &Predicate, schema: &Schema) -> Result<()> {
    match p {
        Predicate::Compare { column, value, .. } => {
            let field = field_of(schema, column)?;
            check_literal(column, field.data_type(), value)
        }
        Predicate::IsNull(column) | Predicate::IsNotNull(column) => field_of(schema, column).map(|_| ()),
        Predicate::In { column, values, .. } => {
            let field = field_of(schema, column)?;
            values
                .iter()
                .try_for_each(|value| check_literal(column, field.data_type(), value))
        }
        Predicate::StartsWith { column, prefix } => {
            let field = field_of(schema, column)?;
            prefix_scalar(column, field.data_type(), prefix).map(|_| ())
        }
        Predicate::And(..) | Predicate::Or(..) | Predicate::Not(..) => validate(p, schema),
    }
}

/// Whether `value` may be compared with a column of type `dt`, as evaluation would.
fn check_literal(column: &str, dt: &DataType, value: &Literal) -> Result<()> {
    match number_of(dt, value).as_ref() {
        Literal::Null => Ok(()),
        // compared through an integer bound (see `integer_comparison`)
        Literal::Float(_) if holds_integers(value_type(dt)) => operand(column, dt, &Literal::Int(0)).map(|_| ()),
        value => operand(column, dt, value).map(|_| ()),
    }
}

/// A string literal compared with an integer column, as the number it spells (`'300'`,
/// `'1.5'`), so that it compares exactly as that number does, past the column's range or
/// between its values; any other literal as it is.
fn number_of<'a>(dt: &DataType, lit: &'a Literal) -> std::borrow::Cow<'a, Literal> {
    use std::borrow::Cow;
    match lit {
        Literal::String(s) if value_type(dt).is_integer() => match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(v), _) => Cow::Owned(Literal::Int(v)),
            // past Int64 but a UInt64, of a UInt64 column: cast to it exactly, as written
            // (a float would round it); other columns compare it as the float, beyond them
            (_, _) if *value_type(dt) == DataType::UInt64 && s.parse::<u64>().is_ok() => Cow::Borrowed(lit),
            // below Int64: below every value of any integer column (as a float it could
            // round up to i64::MIN itself)
            (_, _) if s.trim().parse::<i128>().is_ok_and(|v| v < i128::from(i64::MIN)) => {
                Cow::Owned(Literal::Float(f64::MIN))
            }
            (_, Ok(v)) => Cow::Owned(Literal::Float(v)),
            _ => Cow::Borrowed(lit),
        },
        _ => Cow::Borrowed(lit),
    }
}

fn missing_column<'a>(column: &str, available: impl Iterator<Item = &'a String>) -> Error {
    let names: Vec<&str> = available.map(String::as_str).collect();
    Error::schema(format!(
        "column '{column}' not found; available columns: {}",
        names.join(", ")
    ))
}

fn field_of<'a>(schema: &'a Schema, column: &str) -> Result<&'a Field> {
    schema
        .fields()
        .iter()
        .find(|f| f.name() == column)
        .map(|f| f.as_ref())
        .ok_or_else(|| missing_column(column, schema.fields().iter().map(|f| f.name())))
}

fn column_of<'a>(batch: &'a RecordBatch, column: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(column)
        .ok_or_else(|| missing_column(column, batch.schema_ref().fields().iter().map(|f| f.name())))
}

/// The right-hand side of a comparison, ready for the `arrow_ord::cmp` kernels.
struct Operand {
    /// The type the column must be cast to first, when it is not compared as is
    /// (an integer column against a float literal is widened to Float64).
    column_cast: Option<DataType>,
    /// The literal as a one-element array of the (possibly cast) column's type.
    scalar: Scalar<ArrayRef>,
    /// How that value compares with the literal's own: `Equal` unless the type cannot
    /// hold the literal and the cast rounded it (see [`rounding`]).
    rounded: Ordering,
}

impl Operand {
    /// The literal cast to `to`, and how the cast rounded it.
    fn cast(literal: &ArrayRef, to: &DataType, column_cast: Option<DataType>) -> std::result::Result<Self, ArrowError> {
        let scalar = strict_cast(literal, to)?;
        Ok(Operand {
            column_cast,
            rounded: rounding(literal, &scalar),
            scalar: Scalar::new(scalar),
        })
    }
}

/// How `cast`, a literal cast to a column's type, compares with `literal` itself:
/// compared in a type that holds both exactly, where the column's type may not (a
/// decimal of fewer digits, a coarser time unit, a date for a date-time, Float32 for a
/// decimal string, Float64 for an integer past 2^53). `Equal` where no such type is
/// needed, or the value does not fit it (then the cast's value stands).
fn rounding(literal: &ArrayRef, cast: &ArrayRef) -> Ordering {
    match exact_rounding(literal, cast) {
        // Arrow's parser drops the digits past a nanosecond without a word, so the
        // literal lies above what it parses to (by less than a nanosecond)
        Ordering::Equal if cast.data_type().is_temporal() && finer_than_nanoseconds(literal) => Ordering::Less,
        other => other,
    }
}

/// Whether a string literal has a non-zero digit past the ninth of a fraction of a second
/// (of a date-time or time: `'2024-01-01T00:00:00.0000000001'`).
fn finer_than_nanoseconds(literal: &ArrayRef) -> bool {
    let Some(strings) = literal.as_any().downcast_ref::<StringArray>() else {
        return false;
    };
    strings.iter().flatten().any(|s| {
        s.split('.').skip(1).any(|fraction| {
            fraction
                .bytes()
                .take_while(u8::is_ascii_digit)
                .skip(9)
                .any(|d| d != b'0')
        })
    })
}

/// [`rounding`], where a type that holds both values exactly tells it.
fn exact_rounding(literal: &ArrayRef, cast: &ArrayRef) -> Ordering {
    use arrow_schema::TimeUnit::{Microsecond, Nanosecond};
    let string = is_string(literal.data_type());
    // finest first; a coarser one where the value is past the finer one's range (a
    // nanosecond timestamp ends in 2262)
    let exact: Vec<DataType> = match (cast.data_type(), literal.data_type()) {
        (
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s),
            _,
        ) if string => {
            // every digit of the column's integer part, and the rest for the fraction
            let integer_digits = (i16::from(*p) - i16::from(*s)).max(1);
            match i8::try_from(76 - integer_digits) {
                Ok(scale) => vec![DataType::Decimal256(76, scale)],
                Err(_) => return Ordering::Equal,
            }
        }
        (DataType::Timestamp(unit, tz), _) if string && *unit != Nanosecond => vec![
            DataType::Timestamp(Nanosecond, tz.clone()),
            DataType::Timestamp(Microsecond, tz.clone()),
        ],
        (DataType::Date32 | DataType::Date64, _) if string => vec![
            DataType::Timestamp(Nanosecond, None),
            DataType::Timestamp(Microsecond, None),
        ],
        (DataType::Time32(_) | DataType::Time64(_), _) if string => vec![DataType::Time64(Nanosecond)],
        (DataType::Float16 | DataType::Float32, _) if string => vec![DataType::Float64],
        // an integer cast to a decimal of negative scale loses its last digits
        (t, DataType::Int64) if decimal_scale(t).is_some_and(|s| s < 0) => vec![DataType::Decimal256(76, 0)],
        (DataType::Float16 | DataType::Float32 | DataType::Float64, DataType::Int64) => {
            vec![DataType::Decimal128(38, 0)]
        }
        _ => return Ordering::Equal,
    };
    let Some((literal, cast)) = exact
        .iter()
        .find_map(|t| Some((strict_cast(literal, t).ok()?, strict_cast(cast, t).ok()?)))
    else {
        return Ordering::Equal;
    };
    let holds = |result: std::result::Result<BooleanArray, ArrowError>| result.is_ok_and(|b| b.value(0));
    if holds(cmp::lt(&cast, &literal)) {
        Ordering::Less
    } else if holds(cmp::gt(&cast, &literal)) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// The type values are compared as: a dictionary's value type, else the type itself.
fn value_type(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, v) => v.as_ref(),
        other => other,
    }
}

fn is_string(dt: &DataType) -> bool {
    matches!(dt, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
    )
}

fn literal_array(lit: &Literal) -> ArrayRef {
    match lit {
        Literal::Null => arrow_array::new_null_array(&DataType::Null, 1),
        Literal::Boolean(v) => Arc::new(BooleanArray::from(vec![*v])),
        Literal::Int(v) => Arc::new(Int64Array::from(vec![*v])),
        Literal::Float(v) => Arc::new(Float64Array::from(vec![*v])),
        Literal::String(v) => Arc::new(StringArray::from(vec![v.as_str()])),
        Literal::Binary(v) => Arc::new(BinaryArray::from_vec(vec![v.as_slice()])),
    }
}

/// Casts a one-element literal array, failing (instead of yielding NULL) when the value
/// does not fit or does not parse.
fn strict_cast(array: &ArrayRef, to: &DataType) -> std::result::Result<ArrayRef, ArrowError> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let out = cast_with_options(array, to, &options)?;
    if out.null_count() > 0 {
        return Err(ArrowError::CastError(format!("value is not a valid {to}")));
    }
    Ok(out)
}

/// Whether a literal of this kind may be compared with a column of type `dt` at all
/// (the value itself may still fail to cast).
fn compatible(lit: &Literal, dt: &DataType) -> bool {
    match lit {
        Literal::Null => true,
        Literal::Boolean(_) => matches!(dt, DataType::Boolean),
        Literal::Int(_) | Literal::Float(_) => dt.is_numeric() || dt.is_temporal(),
        Literal::String(_) => {
            is_string(dt)
                || ((dt.is_numeric() || dt.is_temporal() || is_binary(dt) || matches!(dt, DataType::Boolean))
                    && can_cast_types(&DataType::Utf8, dt))
        }
        Literal::Binary(_) => is_binary(dt),
    }
}

/// Prepares `column op lit` for a column of type `dt`; `lit` must not be NULL.
fn operand(column: &str, dt: &DataType, lit: &Literal) -> Result<Operand> {
    let target = value_type(dt);
    if !compatible(lit, target) {
        return Err(Error::invalid(format!(
            "cannot compare column '{column}' of type {dt} with literal {lit}"
        )));
    }
    let cast_error = |e: ArrowError| {
        Error::invalid(format!(
            "literal {lit} cannot be cast to type {target} of column '{column}'"
        ))
        .with_source(e)
    };
    // a decimal has no negative zero: -0.0 is its zero, as it is an integer's
    let lit = match lit {
        Literal::Float(f) if *f == 0.0 && decimal_scale(target).is_some() => &Literal::Float(0.0),
        other => other,
    };
    let array = literal_array(lit);
    let widened =
        |to: DataType| -> Result<Operand> { Operand::cast(&array, &to, Some(to.clone())).map_err(cast_error) };
    match lit {
        // Compare in Float64 rather than round the literal to the column's float type.
        Literal::Int(_) if matches!(target, DataType::Float16 | DataType::Float32) => widened(DataType::Float64),
        // Compare in Float64 rather than truncate the literal: `5 < 5.5` holds.
        Literal::Float(_) if target.is_numeric() && *target != DataType::Float64 => widened(DataType::Float64),
        Literal::Int(_) if target.is_integer() || integer_backed(target) || decimal_scale(target).is_some() => {
            match Operand::cast(&array, target, None) {
                Ok(operand) => Ok(operand),
                // The literal does not cast to the column's type (it is out of its
                // range, or Arrow casts no integer to it, as to Time32): compare in a type
                // that holds both exactly.
                Err(e) => match out_of_range_type(target) {
                    Some(wider) => widened(wider),
                    None => Err(cast_error(e)),
                },
            }
        }
        // Another width than the column's: compare as variable-width bytes, where it is
        // never equal and orders as bytes do.
        Literal::Binary(bytes) if matches!(target, DataType::FixedSizeBinary(n) if usize::try_from(*n).ok() != Some(bytes.len())) => {
            widened(DataType::Binary)
        }
        _ => Operand::cast(&array, target, None).map_err(cast_error),
    }
}

/// A type that holds every value of `target` and every Int64 exactly, for an integer
/// literal out of `target`'s range; `None` if there is none.
fn out_of_range_type(target: &DataType) -> Option<DataType> {
    match target {
        DataType::UInt64 => Some(DataType::Decimal128(20, 0)),
        t if t.is_integer() || integer_backed(t) => Some(DataType::Int64),
        // 76 digits: the column's, and an Int64's 19 beside a fraction of up to 57
        t => match decimal_scale(t)? {
            s if s <= 57 => Some(DataType::Decimal256(76, s.max(0))),
            _ => None,
        },
    }
}

/// The scale of a decimal type.
fn decimal_scale(dt: &DataType) -> Option<i8> {
    match dt {
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => Some(*s),
        _ => None,
    }
}

/// Whether `dt` is a date, time, timestamp or duration: an integer count of its unit,
/// which an integer literal gives as is.
fn integer_backed(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Timestamp(..)
            | DataType::Duration(_)
    )
}

/// Whether a float literal is compared with `dt`'s values as integers (see
/// [`integer_comparison`]).
fn holds_integers(dt: &DataType) -> bool {
    dt.is_integer() || integer_backed(dt)
}

fn apply(op: CompareOp, lhs: &ArrayRef, rhs: &Scalar<ArrayRef>) -> Result<BooleanArray> {
    let kernel = match op {
        CompareOp::Eq => cmp::eq,
        CompareOp::NotEq => cmp::neq,
        CompareOp::Lt => cmp::lt,
        CompareOp::LtEq => cmp::lt_eq,
        CompareOp::Gt => cmp::gt,
        CompareOp::GtEq => cmp::gt_eq,
    };
    Ok(kernel(lhs, rhs)?)
}

fn compare(column: &str, array: &ArrayRef, op: CompareOp, lit: &Literal) -> Result<BooleanArray> {
    if lit.is_null() {
        return Ok(BooleanArray::new_null(array.len()));
    }
    let lit = number_of(array.data_type(), lit);
    let lit = lit.as_ref();
    if let Literal::Float(v) = lit
        && holds_integers(value_type(array.data_type()))
    {
        return compare_integers(column, array, integer_comparison(op, *v));
    }
    let operand = operand(column, array.data_type(), lit)?;
    // a literal the column's type cannot hold lies between two of its values: compare
    // with the one the cast rounded it to, on the literal's side of it
    let op = match (operand.rounded, op) {
        (Ordering::Equal, op) => op,
        (_, CompareOp::Eq) => return Ok(constant(array, false)),
        (_, CompareOp::NotEq) => return Ok(constant(array, true)),
        (Ordering::Greater, CompareOp::Lt | CompareOp::LtEq) => CompareOp::Lt,
        (Ordering::Greater, CompareOp::Gt | CompareOp::GtEq) => CompareOp::GtEq,
        (Ordering::Less, CompareOp::Lt | CompareOp::LtEq) => CompareOp::LtEq,
        (Ordering::Less, CompareOp::Gt | CompareOp::GtEq) => CompareOp::Gt,
    };
    match &operand.column_cast {
        None => apply(op, array, &operand.scalar),
        Some(to) => apply(op, &cast(array, to)?, &operand.scalar),
    }
}

/// `comparison` (see [`integer_comparison`]) on a column of integers (or of a type
/// counted in integers).
fn compare_integers(column: &str, array: &ArrayRef, comparison: IntegerComparison) -> Result<BooleanArray> {
    let (op, bound) = match comparison {
        IntegerComparison::Every => return Ok(constant(array, true)),
        IntegerComparison::None => return Ok(constant(array, false)),
        IntegerComparison::Compare(op, bound) => (op, bound),
    };
    if let Ok(bound) = i64::try_from(bound) {
        return compare(column, array, op, &Literal::Int(bound));
    }
    // past Int64: only a UInt64 column holds such values; for any other the bound lies
    // beyond every value
    match (value_type(array.data_type()), u64::try_from(bound)) {
        (DataType::UInt64, Ok(bound)) => apply(op, array, &Scalar::new(Arc::new(UInt64Array::from(vec![bound])))),
        _ => compare_integers(column, array, beyond(op, bound > 0)),
    }
}

/// `holds` for every non-null row of `array`, null for the null ones.
fn constant(array: &ArrayRef, holds: bool) -> BooleanArray {
    let values = match holds {
        true => BooleanBuffer::new_set(array.len()),
        false => BooleanBuffer::new_unset(array.len()),
    };
    BooleanArray::new(values, array.logical_nulls())
}

/// What `x op v` comes to for every integer `x`: true for every non-null `x`, for none,
/// or one comparison with an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntegerComparison {
    Every,
    None,
    /// Past Int64 only for a value that only a UInt64 column may hold.
    Compare(CompareOp, i128),
}

/// `x op v` for a bound `v` above (or below) every `x`.
fn beyond(op: CompareOp, above: bool) -> IntegerComparison {
    use CompareOp::*;
    match (op, above) {
        (Lt | LtEq | NotEq, true) | (Gt | GtEq | NotEq, false) => IntegerComparison::Every,
        _ => IntegerComparison::None,
    }
}

/// `x op v`, for every integer `x` of a column of 64-bit or narrower integers (or of a
/// date, time, timestamp or duration, counted in its unit), as one comparison of `x` with
/// an integer: exact where comparing in Float64 would round `x` (past 2^53) and where
/// casting `v` would truncate it. `v` is taken by value (`-0.0` is 0); NaN sorts as
/// Arrow's total order puts it, above every number (below, with its sign bit set).
fn integer_comparison(op: CompareOp, v: f64) -> IntegerComparison {
    use CompareOp::*;
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    if (v.is_nan() && v.is_sign_positive()) || v >= TWO_64 {
        return beyond(op, true);
    }
    if v.is_nan() || v < -TWO_64 {
        return beyond(op, false);
    }
    let below = v.floor();
    // in range, so the conversion is exact (and a non-integral `v` is below 2^52)
    let floor = below as i128;
    if below == v {
        return IntegerComparison::Compare(op, floor);
    }
    match op {
        Lt | LtEq => IntegerComparison::Compare(LtEq, floor),
        Gt | GtEq => IntegerComparison::Compare(Gt, floor),
        Eq => IntegerComparison::None,
        NotEq => IntegerComparison::Every,
    }
}

/// `column IN (values)` as an OR of equalities (Kleene): TRUE on a match, else NULL
/// when the column value or any listed value is NULL, else FALSE.
fn in_list(column: &str, array: &ArrayRef, values: &[Literal]) -> Result<BooleanArray> {
    let mut found: Option<BooleanArray> = None;
    let mut has_null = false;
    // Widened copies of the column, made once per target type.
    let mut widened: Vec<(DataType, ArrayRef)> = Vec::new();
    let integers = holds_integers(value_type(array.data_type()));
    for value in values {
        if value.is_null() {
            has_null = true;
            continue;
        }
        let value = number_of(array.data_type(), value);
        let value = value.as_ref();
        let eq = if integers && matches!(value, Literal::Float(_)) {
            // exactly, as a comparison does: no widening to share
            compare(column, array, CompareOp::Eq, value)?
        } else {
            let operand = operand(column, array.data_type(), value)?;
            if operand.rounded != Ordering::Equal {
                // no value of the column's type is the literal (null rows stay null)
                found.get_or_insert_with(|| constant(array, false));
                continue;
            }
            let lhs = match operand.column_cast {
                None => Arc::clone(array),
                Some(to) => match widened.iter().find(|(t, _)| *t == to) {
                    Some((_, a)) => Arc::clone(a),
                    None => {
                        let a = cast(array, &to)?;
                        widened.push((to, Arc::clone(&a)));
                        a
                    }
                },
            };
            apply(CompareOp::Eq, &lhs, &operand.scalar)?
        };
        found = Some(match found {
            None => eq,
            Some(f) => or_kleene(&f, &eq)?,
        });
    }
    let found = match found {
        Some(f) => f,
        None => BooleanArray::from(vec![false; array.len()]),
    };
    if has_null {
        Ok(or_kleene(&found, &BooleanArray::new_null(array.len()))?)
    } else {
        Ok(found)
    }
}

/// The prefix as a scalar of the string column's type.
fn prefix_scalar(column: &str, dt: &DataType, prefix: &str) -> Result<Scalar<ArrayRef>> {
    let target = value_type(dt);
    if !is_string(target) {
        return Err(Error::invalid(format!(
            "starts_with needs a string column, but column '{column}' has type {dt}"
        )));
    }
    let array: ArrayRef = Arc::new(StringArray::from(vec![prefix]));
    let array = if *target == DataType::Utf8 {
        array
    } else {
        cast(&array, target)?
    };
    Ok(Scalar::new(array))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::predicate::col;
    use arrow_array::types::Int32Type;
    use arrow_array::{
        Date32Array, Decimal128Array, DictionaryArray, FixedSizeBinaryArray, Float32Array, Int8Array, Int32Array,
        LargeStringArray, StringViewArray, TimestampMicrosecondArray, UInt64Array,
    };

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    const JAN_1_2024_DAYS: i32 = 19723;
    const JAN_1_2024_MICROS: i64 = 1_704_067_200_000_000;

    fn batch() -> RecordBatch {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "i64",
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4), Some(5)])),
            ),
            ("i32", Arc::new(Int32Array::from(vec![10, 20, 30, 40, 50]))),
            ("f64", Arc::new(Float64Array::from(vec![1.5, 2.5, 3.5, -1.0, 0.0]))),
            (
                "s",
                Arc::new(StringArray::from(vec![
                    Some("apple"),
                    None,
                    Some("banana"),
                    Some("avocado"),
                    Some("cherry"),
                ])),
            ),
            ("ls", Arc::new(LargeStringArray::from(vec!["a", "b", "c", "ab", "e"]))),
            (
                "b",
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    Some(false),
                ])),
            ),
            (
                "d",
                Arc::new(Date32Array::from(vec![
                    0,
                    1,
                    JAN_1_2024_DAYS - 1,
                    JAN_1_2024_DAYS,
                    JAN_1_2024_DAYS + 1,
                ])),
            ),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from(vec![
                    0,
                    1_000_000,
                    JAN_1_2024_MICROS - 1,
                    JAN_1_2024_MICROS,
                    JAN_1_2024_MICROS + 1,
                ])),
            ),
            (
                "bin",
                Arc::new(BinaryArray::from(vec![
                    Some(&b"\x00"[..]),
                    Some(&b"\x0a\xff"[..]),
                    Some(&b""[..]),
                    Some(&b"abc"[..]),
                    None,
                ])),
            ),
        ];
        match RecordBatch::try_from_iter(columns) {
            Ok(b) => b,
            Err(e) => panic!("test batch: {e}"),
        }
    }

    fn eval(p: &Predicate) -> Vec<Option<bool>> {
        match p.evaluate(&batch()) {
            Ok(r) => r.iter().collect(),
            Err(e) => panic!("evaluating {p}: {e}"),
        }
    }

    fn eval_err(p: &Predicate) -> Error {
        match p.evaluate(&batch()) {
            Ok(r) => panic!("evaluating {p} should fail, got {r:?}"),
            Err(e) => e,
        }
    }

    const T: Option<bool> = Some(true);
    const F: Option<bool> = Some(false);
    const N: Option<bool> = None;

    #[test]
    fn int64_comparisons_with_nulls() {
        assert_eq!(eval(&col("i64").eq(3)), vec![F, N, T, F, F]);
        assert_eq!(eval(&col("i64").not_eq(3)), vec![T, N, F, T, T]);
        assert_eq!(eval(&col("i64").lt(3)), vec![T, N, F, F, F]);
        assert_eq!(eval(&col("i64").lt_eq(3)), vec![T, N, T, F, F]);
        assert_eq!(eval(&col("i64").gt(3)), vec![F, N, F, T, T]);
        assert_eq!(eval(&col("i64").gt_eq(3)), vec![F, N, T, T, T]);
    }

    #[test]
    fn compare_with_null_literal_is_null() {
        for op in [CompareOp::Eq, CompareOp::NotEq, CompareOp::Lt] {
            assert_eq!(eval(&col("i64").compare(op, Literal::Null)), vec![N; 5]);
            assert_eq!(eval(&col("s").compare(op, Literal::Null)), vec![N; 5]);
        }
    }

    #[test]
    fn int32_and_out_of_range_literals() {
        assert_eq!(eval(&col("i32").gt_eq(30)), vec![F, F, T, T, T]);
        assert_eq!(eval(&col("i32").lt(10_000_000_000i64)), vec![T; 5]);
        assert_eq!(eval(&col("i32").gt(-10_000_000_000i64)), vec![T; 5]);
        assert_eq!(eval(&col("i32").eq(10_000_000_000i64)), vec![F; 5]);
    }

    #[test]
    fn a_quoted_number_compares_with_an_integer_column_as_the_number_does() -> TestResult {
        // regression: `v > '300'` on a TINYINT failed (the string was cast to the column's
        // type), where `v > 300` compares exactly
        let batch = RecordBatch::try_from_iter([(
            "v",
            Arc::new(Int8Array::from(vec![Some(100), Some(-100), None])) as ArrayRef,
        )])?;
        let run = |p: Predicate| -> Result<Vec<Option<bool>>> {
            p.validate(batch.schema_ref())?;
            Ok(p.evaluate(&batch)?.iter().collect())
        };
        assert_eq!(run(col("v").gt("300"))?, vec![F, F, N]);
        assert_eq!(run(col("v").lt("300"))?, vec![T, T, N]);
        assert_eq!(run(col("v").gt_eq("-300"))?, vec![T, T, N]);
        assert_eq!(run(col("v").eq("1.5"))?, vec![F, F, N]);
        assert_eq!(run(col("v").gt("99.5"))?, vec![T, F, N]);
        assert_eq!(run(col("v").eq("100"))?, vec![T, F, N]);
        assert_eq!(run(col("v").in_list(["300", "100"]))?, vec![T, F, N]);
        assert_eq!(run(col("v").in_list(["1.5"]).negate())?, vec![T, T, N]);
        // what is no number stays an error
        assert!(run(col("v").eq("ten")).is_err());
        // past Int64 (and within UInt64): beyond every value of the column, not an error
        // (regression: it was kept a string, for UInt64 columns alone, and failed the cast)
        assert_eq!(run(col("v").lt("9223372036854775808"))?, vec![T, T, N]);
        assert_eq!(run(col("v").eq("18446744073709551615"))?, vec![F, F, N]);
        assert_eq!(run(col("v").in_list(["18446744073709551615"]))?, vec![F, F, N]);
        // and just below Int64, where a float rounds to i64::MIN
        let min = RecordBatch::try_from_iter([(
            "m",
            Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(0), None])) as ArrayRef,
        )])?;
        let below: Vec<Option<bool>> = col("m").eq("-9223372036854775809").evaluate(&min)?.iter().collect();
        assert_eq!(below, vec![F, F, N]);
        let above: Vec<Option<bool>> = col("m").gt("-9223372036854775809").evaluate(&min)?.iter().collect();
        assert_eq!(above, vec![T, T, N]);
        // a UInt64 past Int64 compares exactly
        let batch = RecordBatch::try_from_iter([(
            "u",
            Arc::new(arrow_array::UInt64Array::from(vec![Some(u64::MAX), Some(1), None])) as ArrayRef,
        )])?;
        let got: Vec<Option<bool>> = col("u").eq(u64::MAX.to_string()).evaluate(&batch)?.iter().collect();
        assert_eq!(got, vec![T, F, N]);
        Ok(())
    }

    #[test]
    fn float_literal_against_integer_column_widens_the_column() {
        assert_eq!(eval(&col("i64").lt(5.5)), vec![T, N, T, T, T]);
        assert_eq!(eval(&col("i64").gt(4.5)), vec![F, N, F, F, T]);
        assert_eq!(eval(&col("i64").eq(3.0)), vec![F, N, T, F, F]);
        assert_eq!(eval(&col("i32").lt_eq(20.1)), vec![T, T, F, F, F]);
    }

    #[test]
    fn integers_and_floats_compare_exactly_past_the_float_mantissa() -> TestResult {
        // regression: an integer column was widened to Float64 and a float column took an
        // integer literal rounded to its own type, so values past the mantissa matched
        // their rounded neighbours
        const TWO_53: i64 = 1 << 53;
        let batch = RecordBatch::try_from_iter([
            (
                "i64",
                Arc::new(Int64Array::from(vec![Some(TWO_53 + 1), Some(5), Some(i64::MAX), None])) as ArrayRef,
            ),
            (
                "f32",
                Arc::new(Float32Array::from(vec![
                    Some(16_777_216.0),
                    Some(0.5),
                    Some(-1.0),
                    None,
                ])) as ArrayRef,
            ),
        ])?;
        let run = |p: Predicate| -> Result<Vec<Option<bool>>> { Ok(p.evaluate(&batch)?.iter().collect()) };
        assert_eq!(run(col("i64").eq(TWO_53 as f64))?, vec![F, F, F, N]);
        assert_eq!(run(col("i64").gt(TWO_53 as f64))?, vec![T, F, T, N]);
        assert_eq!(run(col("i64").in_list([TWO_53 as f64]))?, vec![F, F, F, N]);
        assert_eq!(run(col("i64").in_list([TWO_53 as f64]).negate())?, vec![T, T, T, N]);
        // 2^63: past every Int64, which Float64 rounds i64::MAX up to
        assert_eq!(run(col("i64").lt(9_223_372_036_854_775_808.0))?, vec![T, T, T, N]);
        assert_eq!(run(col("i64").eq(9_223_372_036_854_775_808.0))?, vec![F, F, F, N]);
        assert_eq!(run(col("i64").gt_eq(-1e300))?, vec![T, T, T, N]);
        assert_eq!(run(col("i64").lt(5.5))?, vec![F, T, F, N]);
        assert_eq!(run(col("i64").gt_eq(5.5))?, vec![T, F, T, N]);
        assert_eq!(run(col("i64").eq(5.5))?, vec![F, F, F, N]);
        assert_eq!(run(col("i64").not_eq(5.5))?, vec![T, T, T, N]);
        // the engine orders NaN above every number
        assert_eq!(run(col("i64").lt(f64::NAN))?, vec![T, T, T, N]);
        assert_eq!(run(col("i64").gt_eq(f64::NAN))?, vec![F, F, F, N]);
        assert_eq!(run(col("i64").gt(-f64::NAN))?, vec![T, T, T, N]);
        assert_eq!(run(col("i64").eq(-0.0))?, vec![F, F, F, N]);
        assert_eq!(run(col("i64").lt_eq(-0.0))?, vec![F, F, F, N]);
        assert_eq!(run(col("f32").eq(16_777_217))?, vec![F, F, F, N]);
        assert_eq!(run(col("f32").lt(16_777_217))?, vec![T, T, T, N]);
        assert_eq!(run(col("f32").in_list([16_777_217]))?, vec![F, F, F, N]);
        Ok(())
    }

    #[test]
    fn literals_the_column_type_cannot_hold_compare_by_their_value() -> TestResult {
        // regression: a literal was cast to the column's type and compared as cast, so
        // `price = '3.505'` matched 3.51 (rounded half up) and a timestamp string below
        // the column's unit matched the timestamp it was truncated to
        use arrow_array::TimestampMillisecondArray;
        const TWO_53: i64 = 1 << 53;
        const JAN_1_2024_MILLIS: i64 = JAN_1_2024_MICROS / 1000;
        // past a nanosecond timestamp's range (2262)
        const JAN_1_2300_MILLIS: i64 = 10_413_792_000_000;
        let batch = RecordBatch::try_from_iter([
            (
                "price",
                Arc::new(Decimal128Array::from(vec![Some(350), Some(351), None]).with_precision_and_scale(10, 2)?)
                    as ArrayRef,
            ),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(JAN_1_2024_MILLIS),
                    Some(JAN_1_2024_MILLIS + 1),
                    None,
                ])) as ArrayRef,
            ),
            (
                "day",
                Arc::new(Date32Array::from(vec![
                    Some(JAN_1_2024_DAYS),
                    Some(JAN_1_2024_DAYS + 1),
                    None,
                ])) as ArrayRef,
            ),
            (
                "f32",
                Arc::new(Float32Array::from(vec![Some(0.1), Some(0.5), None])) as ArrayRef,
            ),
            (
                "f64",
                Arc::new(Float64Array::from(vec![Some(TWO_53 as f64), Some(1.0), None])) as ArrayRef,
            ),
            (
                "far",
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(JAN_1_2300_MILLIS),
                    Some(JAN_1_2300_MILLIS + 1),
                    None,
                ])) as ArrayRef,
            ),
            (
                "price64",
                Arc::new(
                    arrow_array::Decimal64Array::from(vec![Some(350), Some(351), None])
                        .with_precision_and_scale(10, 2)?,
                ) as ArrayRef,
            ),
        ])?;
        let run = |p: Predicate| -> Result<Vec<Option<bool>>> { Ok(p.evaluate(&batch)?.iter().collect()) };
        // 3.505 lies between the column's 3.50 and 3.51
        assert_eq!(run(col("price").eq("3.505"))?, vec![F, F, N]);
        assert_eq!(run(col("price").not_eq("3.505"))?, vec![T, T, N]);
        assert_eq!(run(col("price").gt("3.505"))?, vec![F, T, N]);
        assert_eq!(run(col("price").gt_eq("3.505"))?, vec![F, T, N]);
        assert_eq!(run(col("price").lt("3.504"))?, vec![T, F, N]);
        assert_eq!(run(col("price").lt_eq("3.504"))?, vec![T, F, N]);
        assert_eq!(run(col("price").in_list(["3.505", "3.5"]))?, vec![T, F, N]);
        // trailing zeros are the same value
        assert_eq!(run(col("price").eq("3.5100"))?, vec![F, T, N]);
        assert_eq!(run(col("price64").eq("3.505"))?, vec![F, F, N]);
        assert_eq!(run(col("price64").gt("3.505"))?, vec![F, T, N]);
        // half a millisecond past midnight
        let past = "2024-01-01T00:00:00.0005";
        assert_eq!(run(col("ts").eq(past))?, vec![F, F, N]);
        assert_eq!(run(col("ts").gt_eq(past))?, vec![F, T, N]);
        assert_eq!(run(col("ts").lt(past))?, vec![T, F, N]);
        assert_eq!(run(col("ts").eq("2024-01-01T00:00:00.001"))?, vec![F, T, N]);
        assert_eq!(run(col("far").eq("2300-01-01T00:00:00.0005"))?, vec![F, F, N]);
        assert_eq!(run(col("far").gt("2300-01-01T00:00:00.0005"))?, vec![F, T, N]);
        // noon of January 1st is after that day
        assert_eq!(run(col("day").gt_eq("2024-01-01 12:00:00"))?, vec![F, T, N]);
        assert_eq!(run(col("day").lt_eq("2024-01-01 12:00:00"))?, vec![T, F, N]);
        assert_eq!(run(col("day").eq("2024-01-01"))?, vec![T, F, N]);
        // Float32 has no 0.1000000001: the string names that value, not 0.1f32
        assert_eq!(run(col("f32").eq("0.1000000001"))?, vec![F, F, N]);
        // (0.1f32 is 0.100000001490116..., above it)
        assert_eq!(run(col("f32").gt("0.1000000001"))?, vec![T, T, N]);
        assert_eq!(run(col("f32").lt_eq("0.1000000001"))?, vec![F, F, N]);
        assert_eq!(run(col("f32").eq("0.5"))?, vec![F, T, N]);
        // '0.1' names the number 0.1 as a Float64 literal 0.1 does, which 0.1f32 is not
        assert_eq!(run(col("f32").eq("0.1"))?, vec![F, F, N]);
        assert_eq!(run(col("f32").eq("0.1"))?, run(col("f32").eq(0.1))?);
        assert_eq!(run(col("f32").gt("0.1"))?, run(col("f32").gt(0.1))?);
        // 2^53 + 1 has no Float64: it rounds to 2^53, which it is not
        assert_eq!(run(col("f64").eq(TWO_53 + 1))?, vec![F, F, N]);
        assert_eq!(run(col("f64").not_eq(TWO_53 + 1))?, vec![T, T, N]);
        assert_eq!(run(col("f64").lt(TWO_53 + 1))?, vec![T, T, N]);
        assert_eq!(run(col("f64").in_list([TWO_53 + 1]))?, vec![F, F, N]);
        assert_eq!(run(col("f64").eq(TWO_53))?, vec![T, F, N]);
        // regression: Arrow's parser drops the digits past a nanosecond, and a tenth of a
        // nanosecond past midnight compared as midnight
        let tenth = "2024-01-01T00:00:00.0000000001";
        assert_eq!(run(col("ts").eq(tenth))?, vec![F, F, N]);
        assert_eq!(run(col("ts").gt_eq(tenth))?, vec![F, T, N]);
        assert_eq!(run(col("ts").lt(tenth))?, vec![T, F, N]);
        assert_eq!(run(col("day").gt_eq(tenth))?, vec![F, T, N]);
        assert_eq!(run(col("day").lt_eq(tenth))?, vec![T, F, N]);
        // zeros past the ninth digit are the same value
        assert_eq!(run(col("ts").eq("2024-01-01T00:00:00.0000000000"))?, vec![T, F, N]);
        Ok(())
    }

    #[test]
    fn a_negative_zero_literal_is_a_decimal_columns_zero() -> TestResult {
        // regression: the column was widened to Float64, where its 0 is +0.0, which is
        // not equal to -0.0 and orders above it
        let zeros = Arc::new(
            arrow_array::Decimal128Array::from(vec![Some(0), Some(-1), None]).with_precision_and_scale(10, 2)?,
        ) as ArrayRef;
        let batch = RecordBatch::try_from_iter([("price", zeros)])?;
        let run = |p: Predicate| -> Result<Vec<Option<bool>>> { Ok(p.evaluate(&batch)?.iter().collect()) };
        assert_eq!(run(col("price").eq(-0.0))?, vec![T, F, N]);
        assert_eq!(run(col("price").lt_eq(-0.0))?, vec![T, T, N]);
        assert_eq!(run(col("price").gt(-0.0))?, vec![F, F, N]);
        assert_eq!(run(col("price").lt(-0.0))?, vec![F, T, N]);
        Ok(())
    }

    #[test]
    fn literals_compare_by_value_on_every_integer_backed_and_fixed_width_type() -> TestResult {
        // regression: a float literal was truncated against timestamps and durations and
        // widened to Float64 against UInt64; an integer literal was truncated against a
        // decimal of negative scale, and refused past the range of a Decimal64 or a
        // Date32; a binary literal of another width than a FixedSizeBinary was refused
        use arrow_array::{Decimal64Array, DurationSecondArray};
        const TWO_53: u64 = 1 << 53;
        let batch = RecordBatch::try_from_iter([
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from(vec![Some(0), Some(1), Some(2), None])) as ArrayRef,
            ),
            (
                "dur",
                Arc::new(DurationSecondArray::from(vec![Some(0), Some(1), Some(2), None])) as ArrayRef,
            ),
            (
                "u64",
                Arc::new(UInt64Array::from(vec![Some(TWO_53 + 1), Some(5), Some(u64::MAX), None])) as ArrayRef,
            ),
            (
                "hundreds",
                Arc::new(
                    Decimal128Array::from(vec![Some(123), Some(-1), Some(0), None]).with_precision_and_scale(5, -2)?,
                ) as ArrayRef,
            ),
            (
                "price",
                Arc::new(
                    Decimal64Array::from(vec![Some(350), Some(-1), Some(0), None]).with_precision_and_scale(10, 2)?,
                ) as ArrayRef,
            ),
            (
                "day",
                Arc::new(Date32Array::from(vec![Some(JAN_1_2024_DAYS), Some(0), Some(-1), None])) as ArrayRef,
            ),
            (
                "fsb",
                Arc::new(FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                    [Some(b"ab"), Some(b"cd"), Some(b"ef"), None].into_iter(),
                    2,
                )?) as ArrayRef,
            ),
        ])?;
        let run = |p: Predicate| -> Result<Vec<Option<bool>>> {
            p.validate(batch.schema_ref())?;
            Ok(p.evaluate(&batch)?.iter().collect())
        };
        assert_eq!(run(col("ts").eq(1.5))?, vec![F, F, F, N]);
        assert_eq!(run(col("ts").gt_eq(1.5))?, vec![F, F, T, N]);
        assert_eq!(run(col("ts").lt(1.5))?, vec![T, T, F, N]);
        assert_eq!(run(col("ts").lt_eq(-0.5))?, vec![F, F, F, N]);
        assert_eq!(run(col("ts").in_list([1.5, 2.0]))?, vec![F, F, T, N]);
        assert_eq!(run(col("dur").gt(0.5))?, vec![F, T, T, N]);
        assert_eq!(run(col("dur").eq(1.0))?, vec![F, T, F, N]);
        assert_eq!(run(col("day").gt(1.5))?, vec![T, F, F, N]);
        // past 2^53, and past every Int64
        assert_eq!(run(col("u64").gt(TWO_53 as f64))?, vec![T, F, T, N]);
        assert_eq!(run(col("u64").eq(TWO_53 as f64))?, vec![F, F, F, N]);
        assert_eq!(run(col("u64").in_list([TWO_53 as f64]))?, vec![F, F, F, N]);
        assert_eq!(run(col("u64").gt_eq(9_223_372_036_854_775_808.0))?, vec![F, F, T, N]);
        assert_eq!(run(col("u64").eq(18_446_744_073_709_551_616.0))?, vec![F, F, F, N]);
        assert_eq!(run(col("u64").lt(18_446_744_073_709_551_616.0))?, vec![T, T, T, N]);
        assert_eq!(run(col("u64").gt(-0.5))?, vec![T, T, T, N]);
        // 12300, -100 and 0: 12345 lies between two of the column's values
        assert_eq!(run(col("hundreds").eq(12345))?, vec![F, F, F, N]);
        assert_eq!(run(col("hundreds").gt_eq(12345))?, vec![F, F, F, N]);
        assert_eq!(run(col("hundreds").lt(12345))?, vec![T, T, T, N]);
        assert_eq!(run(col("hundreds").eq(12300))?, vec![T, F, F, N]);
        assert_eq!(run(col("hundreds").in_list([12345, -100]))?, vec![F, T, F, N]);
        // past the column type's range: every value is below
        assert_eq!(run(col("price").lt(100_000_000_000i64))?, vec![T, T, T, N]);
        assert_eq!(run(col("price").eq(100_000_000_000i64))?, vec![F, F, F, N]);
        assert_eq!(run(col("day").gt(3_000_000_000i64))?, vec![F, F, F, N]);
        assert_eq!(run(col("day").gt(-3_000_000_000i64))?, vec![T, T, T, N]);
        assert_eq!(run(col("day").in_list([3_000_000_000i64, 0]))?, vec![F, T, F, N]);
        // another width than the column's: never equal, ordered as bytes
        assert_eq!(run(col("fsb").not_eq(vec![0u8]))?, vec![T, T, T, N]);
        assert_eq!(run(col("fsb").eq(vec![0u8]))?, vec![F, F, F, N]);
        assert_eq!(
            run(col("fsb").in_list([vec![1u8], b"cd".to_vec()]).negate())?,
            vec![T, F, T, N]
        );
        assert_eq!(run(col("fsb").gt(&b"c"[..]))?, vec![F, T, T, N]);
        // a prefix sorts first
        assert_eq!(run(col("fsb").lt(&b"abc"[..]))?, vec![T, F, F, N]);
        Ok(())
    }

    #[test]
    fn float_column() {
        assert_eq!(eval(&col("f64").gt(2)), vec![F, T, T, F, F]);
        assert_eq!(eval(&col("f64").lt_eq(1.5)), vec![T, F, F, T, T]);
    }

    #[test]
    fn string_columns() {
        assert_eq!(eval(&col("s").eq("apple")), vec![T, N, F, F, F]);
        assert_eq!(eval(&col("s").not_eq("apple")), vec![F, N, T, T, T]);
        assert_eq!(eval(&col("s").gt_eq("b")), vec![F, N, T, F, T]);
        assert_eq!(eval(&col("ls").eq("c")), vec![F, F, T, F, F]);
        assert_eq!(eval(&col("ls").lt("b")), vec![T, F, F, T, F]);
    }

    #[test]
    fn starts_with_on_string_columns() {
        assert_eq!(eval(&col("s").starts_with("a")), vec![T, N, F, T, F]);
        assert_eq!(eval(&col("s").starts_with("")), vec![T, N, T, T, T]);
        assert_eq!(eval(&col("ls").starts_with("a")), vec![T, F, F, T, F]);
        let e = eval_err(&col("i64").starts_with("1"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("'i64'"), "{e}");
    }

    #[test]
    fn boolean_column() {
        assert_eq!(eval(&col("b").eq(true)), vec![T, F, N, T, F]);
        assert_eq!(eval(&col("b").not_eq(true)), vec![F, T, N, F, T]);
        assert_eq!(eval(&col("b").eq("false")), vec![F, T, N, F, T]);
    }

    #[test]
    fn date_and_timestamp_columns() {
        assert_eq!(eval(&col("d").gt_eq("2024-01-01")), vec![F, F, F, T, T]);
        assert_eq!(eval(&col("d").eq(JAN_1_2024_DAYS)), vec![F, F, F, T, F]);
        assert_eq!(eval(&col("d").lt(1)), vec![T, F, F, F, F]);
        assert_eq!(eval(&col("ts").gt_eq("2024-01-01T00:00:00")), vec![F, F, F, T, T]);
        assert_eq!(eval(&col("ts").eq(1_000_000i64)), vec![F, T, F, F, F]);
        let e = eval_err(&col("d").eq("not a date"));
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn binary_column() {
        assert_eq!(eval(&col("bin").eq(vec![0x0a_u8, 0xff])), vec![F, T, F, F, N]);
        assert_eq!(eval(&col("bin").lt(&b"a"[..])), vec![T, T, T, F, N]);
        assert_eq!(eval(&col("bin").eq("abc")), vec![F, F, F, T, N]);
    }

    #[test]
    fn incompatible_literals_are_invalid_arguments() {
        let cases = [
            (col("s").eq(5), "'s'", "5"),
            (col("i64").eq("abc"), "'i64'", "'abc'"),
            (col("b").lt(1), "'b'", "1"),
            (col("i64").eq(true), "'i64'", "TRUE"),
            (col("s").in_list([1.5]), "'s'", "1.5"),
            (col("i64").eq(vec![1u8]), "'i64'", "X'01'"),
        ];
        for (p, column, lit) in cases {
            let e = eval_err(&p);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{p}: {e}");
            assert!(e.message().contains(column), "{e}");
            assert!(e.message().contains(lit), "{e}");
            assert_eq!(
                p.validate(&batch().schema()).map_err(|e| e.kind()),
                Err(ErrorKind::InvalidArgument)
            );
        }
    }

    #[test]
    fn null_checks() {
        assert_eq!(eval(&col("i64").is_null()), vec![F, T, F, F, F]);
        assert_eq!(eval(&col("s").is_not_null()), vec![T, F, T, T, T]);
        assert_eq!(eval(&col("i32").is_null()), vec![F; 5]);
    }

    #[test]
    fn in_and_not_in_with_sql_null_semantics() {
        assert_eq!(eval(&col("i64").in_list([1, 3])), vec![T, N, T, F, F]);
        assert_eq!(eval(&col("i64").not_in_list([1, 3])), vec![F, N, F, T, T]);
        let with_null = [Literal::Int(1), Literal::Null];
        assert_eq!(eval(&col("i64").in_list(with_null.clone())), vec![T, N, N, N, N]);
        assert_eq!(eval(&col("i64").not_in_list(with_null)), vec![F, N, N, N, N]);
        assert_eq!(eval(&col("i64").in_list(Vec::<Literal>::new())), vec![F; 5]);
        assert_eq!(eval(&col("i64").not_in_list(Vec::<Literal>::new())), vec![T; 5]);
        assert_eq!(eval(&col("i64").in_list([Literal::Null])), vec![N; 5]);
        // Mixed literal kinds: 4.0 widens the column, 5 does not.
        assert_eq!(
            eval(&col("i64").in_list([Literal::Float(4.0), Literal::Int(5)])),
            vec![F, N, F, T, T]
        );
        assert_eq!(eval(&col("s").in_list(["apple", "cherry"])), vec![T, N, F, F, T]);
        let long: Vec<i64> = (100..140).chain([4]).collect();
        assert_eq!(eval(&col("i64").in_list(long)), vec![F, N, F, T, F]);
    }

    #[test]
    fn kleene_logic() {
        let gt3 = col("i64").gt(3);
        assert_eq!(eval(&gt3.clone().negate()), vec![T, N, T, F, F]);
        assert_eq!(eval(&gt3.clone().or(col("s").is_null())), vec![F, T, F, T, T]);
        // NULL OR TRUE = TRUE, NULL AND FALSE = FALSE, NULL AND TRUE = NULL.
        assert_eq!(eval(&gt3.clone().or(col("i32").gt(0))), vec![T; 5]);
        assert_eq!(eval(&gt3.clone().and(col("i32").lt(0))), vec![F; 5]);
        assert_eq!(eval(&gt3.and(col("i32").gt(0))), vec![F, N, F, T, T]);
    }

    #[test]
    fn missing_column_is_a_schema_mismatch() {
        for p in [
            col("nope").eq(1),
            col("nope").is_null(),
            col("i64").eq(1).and(col("nope").in_list([1])),
            col("nope").starts_with("x").negate(),
        ] {
            let e = eval_err(&p);
            assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
            assert!(e.message().contains("'nope'"), "{e}");
            let e = match p.validate(&batch().schema()) {
                Ok(()) => panic!("{p} should not validate"),
                Err(e) => e,
            };
            assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
            assert!(e.message().contains("'nope'"), "{e}");
        }
    }

    #[test]
    fn validate_accepts_good_predicates() -> TestResult {
        let schema = batch().schema();
        for p in [
            col("i64").gt(5.5).and(col("s").starts_with("a")),
            col("d").eq("2024-01-01").or(col("ts").lt(0)),
            col("bin").in_list([Literal::Null, Literal::Binary(vec![1])]),
            col("b").eq(Literal::Null).negate(),
            col("ls").is_not_null(),
        ] {
            p.validate(&schema)?;
        }
        Ok(())
    }

    #[test]
    fn other_column_types() -> TestResult {
        let dict: DictionaryArray<Int32Type> = vec![Some("x"), Some("xy"), None, Some("y")].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            (
                "view",
                Arc::new(StringViewArray::from(vec!["ab", "b", "abc", "c"])) as ArrayRef,
            ),
            ("dict", Arc::new(dict) as ArrayRef),
            (
                "dec",
                Arc::new(Decimal128Array::from(vec![150, 250, 350, 450]).with_precision_and_scale(10, 2)?) as ArrayRef,
            ),
            ("u64", Arc::new(UInt64Array::from(vec![0, 1, u64::MAX, 7])) as ArrayRef),
            ("i8", Arc::new(Int8Array::from(vec![-128, 0, 5, 127])) as ArrayRef),
            (
                "fsb",
                Arc::new(FixedSizeBinaryArray::try_from_iter(
                    [b"ab", b"cd", b"ef", b"ab"].into_iter(),
                )?) as ArrayRef,
            ),
        ])?;
        let run = |p: Predicate| -> Result<Vec<Option<bool>>> { Ok(p.evaluate(&batch)?.iter().collect()) };
        assert_eq!(run(col("view").starts_with("ab"))?, vec![T, F, T, F]);
        assert_eq!(run(col("view").eq("b"))?, vec![F, T, F, F]);
        assert_eq!(run(col("dict").eq("xy"))?, vec![F, T, N, F]);
        assert_eq!(run(col("dict").starts_with("x"))?, vec![T, T, N, F]);
        assert_eq!(run(col("dec").gt(2))?, vec![F, T, T, T]);
        assert_eq!(run(col("dec").lt(2.6))?, vec![T, T, F, F]);
        assert_eq!(run(col("dec").eq("3.50"))?, vec![F, F, T, F]);
        assert_eq!(run(col("u64").gt(-1))?, vec![T; 4]);
        assert_eq!(run(col("u64").gt(5))?, vec![F, F, T, T]);
        assert_eq!(run(col("i8").lt(1000))?, vec![T; 4]);
        assert_eq!(run(col("i8").gt(-1000))?, vec![T; 4]);
        assert_eq!(run(col("i8").eq(127))?, vec![F, F, F, T]);
        assert_eq!(run(col("fsb").eq(b"ab".to_vec()))?, vec![T, F, F, T]);
        Ok(())
    }

    fn first_buffer_ptr(batch: &RecordBatch, column: usize) -> *const u8 {
        batch.column(column).to_data().buffers()[0].as_ptr()
    }

    #[test]
    fn filter_batch_is_zero_copy_when_all_rows_pass() -> TestResult {
        let input = batch();
        let out = filter_batch(&input, &[col("i32").gt(0), col("f64").lt(100)])?;
        assert_eq!(out.num_rows(), input.num_rows());
        for i in 0..input.num_columns() {
            assert_eq!(first_buffer_ptr(&out, i), first_buffer_ptr(&input, i));
        }
        let out = filter_batch(&input, &[])?;
        assert_eq!(first_buffer_ptr(&out, 0), first_buffer_ptr(&input, 0));
        Ok(())
    }

    #[test]
    fn filter_batch_empty_and_partial() -> TestResult {
        let input = batch();
        let none = filter_batch(&input, &[col("i32").gt(1000)])?;
        assert_eq!(none.num_rows(), 0);
        assert_eq!(none.schema(), input.schema());
        // NULL counts as not selected: `i64 > 0` is NULL on row 1.
        let some = filter_batch(&input, &[col("i64").gt(0), col("i32").lt(50)])?;
        assert_eq!(some.num_rows(), 3);
        let ids = some.column(1).as_any().downcast_ref::<Int32Array>();
        assert_eq!(ids.map(|a| a.values().to_vec()), Some(vec![10, 30, 40]));
        // All rows NULL: nothing selected.
        let nulls = filter_batch(&input, &[col("i32").eq(Literal::Null)])?;
        assert_eq!(nulls.num_rows(), 0);
        let e = filter_batch(&input, &[col("missing").eq(1)]).map_err(|e| e.kind());
        assert_eq!(e.err(), Some(ErrorKind::SchemaMismatch));
        Ok(())
    }
}
