//! Row filters: a small predicate model that lake sources can take over (push down),
//! that the union reader evaluates on Arrow batches, and that the CLI parses from
//! `--filter` strings.
//!
//! A [`Predicate`] compares top-level columns with [`Literal`]s and combines the
//! comparisons with `AND`, `OR` and `NOT`. Evaluation follows SQL three-valued logic:
//! a comparison with a NULL is NULL, and a NULL result means "not selected".
//!
//! Predicates can be built in code with [`col`], parsed from text with [`parse`], and
//! printed back as text with [`Display`](std::fmt::Display); printing then parsing
//! gives back an equal predicate.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
//! use lake_api::predicate::{col, filter_batch, parse};
//!
//! let batch = RecordBatch::try_from_iter([
//!     ("id", Arc::new(Int64Array::from(vec![1, 5, 9])) as ArrayRef),
//!     ("name", Arc::new(StringArray::from(vec![Some("apple"), None, Some("avocado")])) as ArrayRef),
//! ])?;
//!
//! let built = col("id").gt(2i64).and(col("name").starts_with("av"));
//! let parsed = parse("id > 2 AND name LIKE 'av%'")?;
//! assert_eq!(built, parsed);
//! assert_eq!(built.to_string(), "id > 2 AND name LIKE 'av%'");
//!
//! let kept = filter_batch(&batch, &[parsed])?;
//! assert_eq!(kept.num_rows(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod convert;
mod eval;
mod parse;

use std::collections::BTreeSet;
use std::fmt;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use convert::{ConvertPredicate, convert, push_down};
pub use eval::{filter_batch, selection_mask};
pub use parse::parse;

/// The deepest predicate tree a scan takes. Evaluation and validation walk a tree with
/// stacks of their own, but converting it for a backend, printing, cloning and dropping it
/// recurse once per level, and a stack overflow aborts the process rather than failing
/// the scan. A parsed filter stays far inside it (see [`parse`]).
pub const MAX_PREDICATE_DEPTH: usize = 1024;

/// A constant a column is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    /// SQL `NULL`: any comparison with it is NULL.
    Null,
    /// `TRUE` or `FALSE`; compares with Boolean columns.
    Boolean(bool),
    /// A 64-bit integer; compares with integer, float and decimal columns by value, and
    /// with date, time, timestamp and duration columns as a count of their unit (days for
    /// Date32, milliseconds for Date64, the type's own unit for the others). A value past
    /// the column type's range compares as the number it is: above or below every value
    /// (for a decimal of a scale past 57, which leaves no room for it, it is an error).
    Int(i64),
    /// A 64-bit float; compares exactly with integer columns and with date, time,
    /// timestamp and duration columns (counted as for [`Literal::Int`]): `1.5` lies
    /// between 1 and 2. Decimal columns are widened to Float64 to compare.
    Float(f64),
    /// A string; compares with string columns, and is parsed when the column is a
    /// number, date, timestamp or boolean. The parsed value is compared as written, not
    /// as the column's type would round it: `'3.505'` lies between a `DECIMAL(10, 2)`
    /// column's 3.50 and 3.51, and `'0.1'` is not a Float32 column's 0.1 (as the
    /// float literal 0.1 is not).
    String(String),
    /// Raw bytes; compares with binary columns.
    Binary(Vec<u8>),
}

impl Literal {
    /// Whether this is [`Literal::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Literal::Null)
    }
}

impl From<i64> for Literal {
    fn from(v: i64) -> Self {
        Literal::Int(v)
    }
}

impl From<i32> for Literal {
    fn from(v: i32) -> Self {
        Literal::Int(i64::from(v))
    }
}

impl From<u32> for Literal {
    fn from(v: u32) -> Self {
        Literal::Int(i64::from(v))
    }
}

impl From<f64> for Literal {
    fn from(v: f64) -> Self {
        Literal::Float(v)
    }
}

impl From<f32> for Literal {
    fn from(v: f32) -> Self {
        Literal::Float(f64::from(v))
    }
}

impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Literal::Boolean(v)
    }
}

impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Literal::String(v.to_owned())
    }
}

impl From<String> for Literal {
    fn from(v: String) -> Self {
        Literal::String(v)
    }
}

impl From<Vec<u8>> for Literal {
    fn from(v: Vec<u8>) -> Self {
        Literal::Binary(v)
    }
}

impl From<&[u8]> for Literal {
    fn from(v: &[u8]) -> Self {
        Literal::Binary(v.to_vec())
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=` (also written `<>`)
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
}

impl CompareOp {
    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn flip(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::Eq,
            CompareOp::NotEq => CompareOp::NotEq,
            CompareOp::Lt => CompareOp::Gt,
            CompareOp::LtEq => CompareOp::GtEq,
            CompareOp::Gt => CompareOp::Lt,
            CompareOp::GtEq => CompareOp::LtEq,
        }
    }

    /// The SQL symbol of the operator.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::LtEq => "<=",
            CompareOp::Gt => ">",
            CompareOp::GtEq => ">=",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A boolean row filter over the top-level columns of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Predicate {
    /// `column op value`.
    Compare {
        /// The column compared.
        column: String,
        /// The operator.
        op: CompareOp,
        /// The constant compared with.
        value: Literal,
    },
    /// `column IS NULL`.
    IsNull(String),
    /// `column IS NOT NULL`.
    IsNotNull(String),
    /// `column IN (values)`, or `column NOT IN (values)` when `negated`.
    In {
        /// The column tested.
        column: String,
        /// The candidate values; a NULL among them makes a non-match NULL (SQL).
        values: Vec<Literal>,
        /// `NOT IN` rather than `IN`.
        negated: bool,
    },
    /// The string column starts with `prefix` (`column LIKE 'prefix%'`).
    StartsWith {
        /// The string column tested.
        column: String,
        /// The literal prefix (no wildcards).
        prefix: String,
    },
    /// Both hold.
    And(Box<Predicate>, Box<Predicate>),
    /// Either holds.
    Or(Box<Predicate>, Box<Predicate>),
    /// The inner predicate does not hold (NULL stays NULL).
    Not(Box<Predicate>),
}

/// What a lake source took over from a list of conjunctive filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterPushDown {
    /// Filters the source applies itself; rows it returns satisfy all of them.
    pub accepted: Vec<Predicate>,
    /// Filters the caller must still apply to the rows the source returns.
    pub remaining: Vec<Predicate>,
}

/// A column, to build predicates on: `col("id").gt(5i64)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnRef {
    name: String,
}

/// Starts a predicate on the top-level column `name`.
pub fn col(name: impl Into<String>) -> ColumnRef {
    ColumnRef { name: name.into() }
}

impl ColumnRef {
    /// The column name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `column op value`.
    pub fn compare(self, op: CompareOp, value: impl Into<Literal>) -> Predicate {
        Predicate::Compare {
            column: self.name,
            op,
            value: value.into(),
        }
    }

    /// `column = value`.
    pub fn eq(self, value: impl Into<Literal>) -> Predicate {
        self.compare(CompareOp::Eq, value)
    }

    /// `column != value`.
    pub fn not_eq(self, value: impl Into<Literal>) -> Predicate {
        self.compare(CompareOp::NotEq, value)
    }

    /// `column < value`.
    pub fn lt(self, value: impl Into<Literal>) -> Predicate {
        self.compare(CompareOp::Lt, value)
    }

    /// `column <= value`.
    pub fn lt_eq(self, value: impl Into<Literal>) -> Predicate {
        self.compare(CompareOp::LtEq, value)
    }

    /// `column > value`.
    pub fn gt(self, value: impl Into<Literal>) -> Predicate {
        self.compare(CompareOp::Gt, value)
    }

    /// `column >= value`.
    pub fn gt_eq(self, value: impl Into<Literal>) -> Predicate {
        self.compare(CompareOp::GtEq, value)
    }

    /// `column IS NULL`.
    pub fn is_null(self) -> Predicate {
        Predicate::IsNull(self.name)
    }

    /// `column IS NOT NULL`.
    pub fn is_not_null(self) -> Predicate {
        Predicate::IsNotNull(self.name)
    }

    /// `column IN (values)`.
    pub fn in_list<L: Into<Literal>>(self, values: impl IntoIterator<Item = L>) -> Predicate {
        Predicate::In {
            column: self.name,
            values: values.into_iter().map(Into::into).collect(),
            negated: false,
        }
    }

    /// `column NOT IN (values)`.
    pub fn not_in_list<L: Into<Literal>>(self, values: impl IntoIterator<Item = L>) -> Predicate {
        Predicate::In {
            column: self.name,
            values: values.into_iter().map(Into::into).collect(),
            negated: true,
        }
    }

    /// `column LIKE 'prefix%'`: the string column starts with `prefix`.
    pub fn starts_with(self, prefix: impl Into<String>) -> Predicate {
        Predicate::StartsWith {
            column: self.name,
            prefix: prefix.into(),
        }
    }
}

impl Predicate {
    /// `self AND other`.
    pub fn and(self, other: Predicate) -> Predicate {
        Predicate::And(Box::new(self), Box::new(other))
    }

    /// `self OR other`.
    pub fn or(self, other: Predicate) -> Predicate {
        Predicate::Or(Box::new(self), Box::new(other))
    }

    /// `NOT self`.
    pub fn negate(self) -> Predicate {
        Predicate::Not(Box::new(self))
    }

    /// Every column the predicate references.
    pub fn columns(&self) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        self.collect_columns(&mut out);
        out
    }

    fn collect_columns<'a>(&'a self, out: &mut BTreeSet<&'a str>) {
        out.extend(self.leaves().filter_map(Predicate::leaf_column));
    }

    /// The leaf predicates, left to right, walked without recursion (a tree may be as
    /// deep as its chains of AND and OR are long).
    pub(crate) fn leaves(&self) -> impl Iterator<Item = &Predicate> {
        let mut stack = vec![self];
        std::iter::from_fn(move || {
            while let Some(p) = stack.pop() {
                match p {
                    Predicate::And(a, b) | Predicate::Or(a, b) => {
                        stack.push(b);
                        stack.push(a);
                    }
                    Predicate::Not(inner) => stack.push(inner),
                    leaf => return Some(leaf),
                }
            }
            None
        })
    }

    /// The column of a leaf predicate; `None` for `And`, `Or` and `Not`.
    pub(crate) fn leaf_column(&self) -> Option<&str> {
        match self {
            Predicate::Compare { column, .. }
            | Predicate::IsNull(column)
            | Predicate::IsNotNull(column)
            | Predicate::In { column, .. }
            | Predicate::StartsWith { column, .. } => Some(column),
            Predicate::And(..) | Predicate::Or(..) | Predicate::Not(..) => None,
        }
    }

    /// Whether every column the predicate references is one of `columns`.
    pub fn references_only(&self, columns: &[String]) -> bool {
        self.columns().into_iter().all(|c| columns.iter().any(|k| k == c))
    }

    /// Checks the predicate against a schema: it nests at most [`MAX_PREDICATE_DEPTH`]
    /// levels, every column exists (top-level names), every literal can be cast to its
    /// column's type, and `StartsWith` is only used on string columns.
    ///
    /// Errors: `ErrorKind::SchemaMismatch` naming a missing column,
    /// `ErrorKind::InvalidArgument` for type problems and for nesting too deep.
    pub fn validate(&self, schema: &Schema) -> Result<()> {
        let depth = self.depth();
        if depth > MAX_PREDICATE_DEPTH {
            return Err(Error::invalid(format!(
                "the filter nests {depth} levels deep, more than {MAX_PREDICATE_DEPTH}; \
                 balance long AND/OR chains, or use IN for long lists of values"
            )));
        }
        eval::validate(self, schema)
    }

    /// The levels of the predicate's tree (1 for a leaf), counted without recursion.
    ///
    /// ```
    /// use lake_api::predicate::col;
    ///
    /// assert_eq!(col("a").eq(1).depth(), 1);
    /// assert_eq!(col("a").eq(1).or(col("a").eq(2)).and(col("b").is_null()).depth(), 3);
    /// ```
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(self, 1)];
        while let Some((p, level)) = stack.pop() {
            deepest = deepest.max(level);
            match p {
                Predicate::And(a, b) | Predicate::Or(a, b) => {
                    stack.push((a, level + 1));
                    stack.push((b, level + 1));
                }
                Predicate::Not(inner) => stack.push((inner, level + 1)),
                _ => {}
            }
        }
        deepest
    }

    /// Evaluates the predicate on every row of `batch` with SQL three-valued logic.
    /// A NULL in the result means the row is not selected.
    ///
    /// Errors: `ErrorKind::SchemaMismatch` when a column is missing from the batch,
    /// `ErrorKind::InvalidArgument` when a literal cannot be compared with its column.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        eval::evaluate(self, batch)
    }

    /// Binding strength when printed: OR < AND < NOT < leaf.
    fn precedence(&self) -> u8 {
        match self {
            Predicate::Or(..) => 1,
            Predicate::And(..) => 2,
            Predicate::Not(..) => 3,
            _ => 4,
        }
    }
}

/// Flattens nested `AND`s into their conjuncts, left to right.
pub fn split_conjunction(p: Predicate) -> Vec<Predicate> {
    let mut out = Vec::new();
    let mut stack = vec![p];
    while let Some(p) = stack.pop() {
        match p {
            Predicate::And(a, b) => {
                stack.push(*b);
                stack.push(*a);
            }
            other => out.push(other),
        }
    }
    out
}

/// ANDs the predicates together, left-deep (as the parser builds `a AND b AND c`);
/// `None` when there are none.
pub fn conjunction(ps: impl IntoIterator<Item = Predicate>) -> Option<Predicate> {
    ps.into_iter().reduce(Predicate::and)
}

/// Words that are never printed as bare identifiers.
const RESERVED: &[&str] = &[
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "IN",
    "LIKE",
    "TRUE",
    "FALSE",
    "NAN",
    "INF",
    "INFINITY",
    "STARTS_WITH",
];

pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// Writes a column name, double-quoted (with `""` escaping) unless it is a plain
/// identifier that is not a keyword.
fn write_ident(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_reserved(name);
    if plain {
        f.write_str(name)
    } else {
        write!(f, "\"{}\"", name.replace('"', "\"\""))
    }
}

fn write_str_lit(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Boolean(true) => f.write_str("TRUE"),
            Literal::Boolean(false) => f.write_str("FALSE"),
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Float(v) if v.is_nan() && v.is_sign_negative() => f.write_str("-NaN"),
            Literal::Float(v) if v.is_nan() => f.write_str("NaN"),
            Literal::Float(v) if v.is_infinite() && *v > 0.0 => f.write_str("Infinity"),
            Literal::Float(v) if v.is_infinite() => f.write_str("-Infinity"),
            // `{:?}` always keeps a `.` or an exponent, so the text reads back as a float.
            Literal::Float(v) => write!(f, "{v:?}"),
            Literal::String(s) => write_str_lit(f, s),
            Literal::Binary(b) => {
                f.write_str("X'")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str("'")
            }
        }
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Predicate::Compare { column, op, value } => {
                write_ident(f, column)?;
                write!(f, " {op} {value}")
            }
            Predicate::IsNull(column) => {
                write_ident(f, column)?;
                f.write_str(" IS NULL")
            }
            Predicate::IsNotNull(column) => {
                write_ident(f, column)?;
                f.write_str(" IS NOT NULL")
            }
            Predicate::In {
                column,
                values,
                negated,
            } => {
                write_ident(f, column)?;
                f.write_str(if *negated { " NOT IN (" } else { " IN (" })?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Predicate::StartsWith { column, prefix } => {
                if prefix.contains(['%', '_', '\\']) {
                    f.write_str("starts_with(")?;
                    write_ident(f, column)?;
                    f.write_str(", ")?;
                    write_str_lit(f, prefix)?;
                    f.write_str(")")
                } else {
                    write_ident(f, column)?;
                    write!(f, " LIKE '{}%'", prefix.replace('\'', "''"))
                }
            }
            Predicate::And(a, b) => write_binary(f, self, a, "AND", b),
            Predicate::Or(a, b) => write_binary(f, self, a, "OR", b),
            Predicate::Not(p) => {
                f.write_str("NOT ")?;
                write_child(f, p, p.precedence() < self.precedence())
            }
        }
    }
}

/// Writes `a OP b` with the fewest parentheses that parse back to the same tree
/// (the parser groups `a AND b AND c` as `(a AND b) AND c`).
fn write_binary(f: &mut fmt::Formatter<'_>, parent: &Predicate, a: &Predicate, op: &str, b: &Predicate) -> fmt::Result {
    write_child(f, a, a.precedence() < parent.precedence())?;
    write!(f, " {op} ")?;
    write_child(f, b, b.precedence() <= parent.precedence())
}

fn write_child(f: &mut fmt::Formatter<'_>, p: &Predicate, parens: bool) -> fmt::Result {
    if parens { write!(f, "({p})") } else { write!(f, "{p}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn builders_make_the_expected_variants() {
        assert_eq!(
            col("id").gt(5i64),
            Predicate::Compare {
                column: "id".into(),
                op: CompareOp::Gt,
                value: Literal::Int(5)
            }
        );
        assert_eq!(
            col("s").eq("x"),
            Predicate::Compare {
                column: "s".into(),
                op: CompareOp::Eq,
                value: Literal::String("x".into())
            }
        );
        assert_eq!(col("a").is_null(), Predicate::IsNull("a".into()));
        assert_eq!(col("a").is_not_null(), Predicate::IsNotNull("a".into()));
        assert_eq!(
            col("a").not_in_list([1, 2]),
            Predicate::In {
                column: "a".into(),
                values: vec![Literal::Int(1), Literal::Int(2)],
                negated: true
            }
        );
        assert_eq!(
            col("a").starts_with("ab"),
            Predicate::StartsWith {
                column: "a".into(),
                prefix: "ab".into()
            }
        );
        assert_eq!(col("a").eq(1).negate(), Predicate::Not(Box::new(col("a").eq(1))));
    }

    #[test]
    fn columns_and_references_only() {
        let p = col("b")
            .eq(1)
            .and(col("a").is_null().or(col("c").in_list([1.5])))
            .and(col("a").starts_with("x").negate());
        let cols: Vec<&str> = p.columns().into_iter().collect();
        assert_eq!(cols, vec!["a", "b", "c"]);
        assert!(p.references_only(&names(&["a", "b", "c", "d"])));
        assert!(!p.references_only(&names(&["a", "b"])));
    }

    #[test]
    fn split_and_conjunction() {
        let a = col("a").eq(1);
        let b = col("b").eq(2);
        let c = col("c").eq(3);
        let d = col("d").eq(4).or(col("e").eq(5));
        let nested = a.clone().and(b.clone().and(c.clone())).and(d.clone());
        assert_eq!(
            split_conjunction(nested),
            vec![a.clone(), b.clone(), c.clone(), d.clone()]
        );
        assert_eq!(split_conjunction(d.clone()), vec![d.clone()]);
        assert_eq!(conjunction(Vec::new()), None);
        assert_eq!(conjunction([a.clone()]), Some(a.clone()));
        assert_eq!(conjunction([a.clone(), b.clone(), c.clone()]), Some(a.and(b).and(c)));
    }

    #[test]
    fn display_renders_sql() {
        let cases: Vec<(Predicate, &str)> = vec![
            (col("id").gt(5), "id > 5"),
            (col("id").not_eq(-5), "id != -5"),
            (col("x").lt_eq(1.0), "x <= 1.0"),
            (col("x").gt_eq(1e300), "x >= 1e300"),
            (col("x").eq(f64::NEG_INFINITY), "x = -Infinity"),
            (col("s").eq("it's"), "s = 'it''s'"),
            (col("weird col").eq(true), "\"weird col\" = TRUE"),
            (col("select").eq(Literal::Null), "select = NULL"),
            (col("in").eq(1), "\"in\" = 1"),
            (col("a\"b").is_null(), "\"a\"\"b\" IS NULL"),
            (col("b").eq(vec![0x0a_u8, 0xff]), "b = X'0aff'"),
            (col("a").in_list([1, 2]), "a IN (1, 2)"),
            (col("a").not_in_list(["x"]), "a NOT IN ('x')"),
            (col("a").starts_with("ab"), "a LIKE 'ab%'"),
            (col("a").starts_with("5%"), "starts_with(a, '5%')"),
            (
                col("a").eq(1).or(col("b").eq(2)).and(col("c").eq(3)),
                "(a = 1 OR b = 2) AND c = 3",
            ),
            (
                col("a").eq(1).or(col("b").eq(2).and(col("c").eq(3))),
                "a = 1 OR b = 2 AND c = 3",
            ),
            (
                col("a").eq(1).and(col("b").eq(2).and(col("c").eq(3))),
                "a = 1 AND (b = 2 AND c = 3)",
            ),
            (col("a").eq(1).and(col("b").eq(2)).negate(), "NOT (a = 1 AND b = 2)"),
            (col("a").is_null().negate().negate(), "NOT NOT a IS NULL"),
        ];
        for (p, text) in cases {
            assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn serde_round_trip() -> std::result::Result<(), serde_json::Error> {
        let p = col("a")
            .in_list([Literal::Null, Literal::Binary(vec![1, 2])])
            .or(col("b").lt(2.5).negate());
        let json = serde_json::to_string(&p)?;
        let back: Predicate = serde_json::from_str(&json)?;
        assert_eq!(back, p);
        Ok(())
    }
}
