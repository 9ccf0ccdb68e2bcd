//! The oracle's filter: whether a predicate selects a row of the model, in SQL's
//! three-valued logic, written from the SQL definitions over the model's own values so
//! that it shares no code with the engine's evaluation (which works on Arrow arrays).

use std::cmp::Ordering;

use lake_api::predicate::{CompareOp, Literal, Predicate};

use crate::workload::{Row, blob_payload};

/// One column's value in a row of the model.
#[derive(Debug, PartialEq)]
enum Value<'a> {
    Int(i64),
    Str(&'a str),
    Bytes(Vec<u8>),
    Null,
}

fn value<'a>(row: &'a Row, column: &str) -> Value<'a> {
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    match column {
        "k" => Value::Int(row.k),
        "k2" => Value::Str(&row.k2),
        "p" => Value::Str(&row.p),
        "v" => int(row.v),
        "s" => row.s.as_deref().map_or(Value::Null, Value::Str),
        "ver" => int(row.ver),
        "b" => blob_payload(row).map_or(Value::Null, Value::Bytes),
        other => panic!("the oracle's filter knows no column {other}"),
    }
}

/// `value` compared with `literal`; `None` when either is NULL.
fn compare(value: &Value, literal: &Literal) -> Option<Ordering> {
    match (value, literal) {
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Int(a), Literal::Int(b)) => Some(a.cmp(b)),
        (Value::Str(a), Literal::String(b)) => Some((*a).cmp(b.as_str())),
        (Value::Bytes(a), Literal::Binary(b)) => Some(a.as_slice().cmp(b.as_slice())),
        (value, literal) => panic!("the oracle's filter does not compare {value:?} with {literal}"),
    }
}

/// Whether `predicate` selects `row`: `Some(true)`, `Some(false)`, or `None` (SQL NULL,
/// which a filter drops too).
pub fn selects(predicate: &Predicate, row: &Row) -> Option<bool> {
    match predicate {
        Predicate::Compare {
            column,
            op,
            value: literal,
        } => {
            let ordering = compare(&value(row, column), literal)?;
            Some(match op {
                CompareOp::Eq => ordering == Ordering::Equal,
                CompareOp::NotEq => ordering != Ordering::Equal,
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::LtEq => ordering != Ordering::Greater,
                CompareOp::Gt => ordering == Ordering::Greater,
                CompareOp::GtEq => ordering != Ordering::Less,
            })
        }
        Predicate::IsNull(column) => Some(value(row, column) == Value::Null),
        Predicate::IsNotNull(column) => Some(value(row, column) != Value::Null),
        Predicate::In {
            column,
            values,
            negated,
        } => {
            // an OR of equalities: TRUE on a match, else NULL if any side was NULL
            let v = value(row, column);
            let mut unknown = false;
            let mut found = false;
            for candidate in values {
                match compare(&v, candidate) {
                    Some(Ordering::Equal) => found = true,
                    Some(_) => {}
                    None => unknown = true,
                }
            }
            let is_in = if found {
                Some(true)
            } else if unknown {
                None
            } else {
                Some(false)
            };
            if *negated { is_in.map(|b| !b) } else { is_in }
        }
        Predicate::StartsWith { column, prefix } => match value(row, column) {
            Value::Null => None,
            Value::Str(s) => Some(s.starts_with(prefix.as_str())),
            other => panic!("the oracle's filter does not take starts_with on {other:?}"),
        },
        Predicate::And(l, r) => match (selects(l, row), selects(r, row)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Predicate::Or(l, r) => match (selects(l, row), selects(r, row)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Predicate::Not(inner) => selects(inner, row).map(|b| !b),
    }
}

/// Whether every one of `filters` selects `row`.
pub fn selects_all(filters: &[Predicate], row: &Row) -> bool {
    filters.iter().all(|f| selects(f, row) == Some(true))
}

#[cfg(test)]
mod tests {
    use lake_api::predicate::col;

    use super::*;

    #[test]
    fn nulls_follow_sql() {
        let row = Row {
            k: 3,
            k2: "x".into(),
            p: "a".into(),
            v: None,
            s: Some("ab".into()),
            ver: Some(1),
        };
        assert_eq!(selects(&col("v").gt(1), &row), None);
        assert_eq!(selects(&col("v").gt(1).negate(), &row), None);
        assert_eq!(selects(&col("v").gt(1).or(col("k").eq(3)), &row), Some(true));
        assert_eq!(selects(&col("v").gt(1).and(col("k").eq(4)), &row), Some(false));
        assert_eq!(selects(&col("k").in_list([Literal::Int(1), Literal::Null]), &row), None);
        assert_eq!(selects(&col("k").not_in_list([4]), &row), Some(true));
        assert_eq!(selects(&col("s").starts_with("a"), &row), Some(true));
        assert_eq!(selects(&col("b").is_null(), &row), Some(true));
        assert!(!selects_all(&[col("k").eq(3), col("v").is_not_null()], &row));
    }
}
