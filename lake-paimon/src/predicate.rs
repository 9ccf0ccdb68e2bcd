//! Our predicates as Paimon predicates. Paimon applies a read filter exactly (partition and
//! statistics pruning, then a row filter after the merge), so whatever converts is
//! reported as accepted. Negations are not offered: Paimon's `NOT` of a comparison is true
//! on a NULL, where SQL's is not.

use arrow_schema::{DataType, Schema};
use lake_api::predicate::{CompareOp, ConvertPredicate, Literal, Predicate};
use lake_api::types::plain_column_type;
use paimon::spec::{DataField, Datum, Predicate as PaimonPredicate, PredicateBuilder};

/// Converts predicates over the columns of a table's (lakeunion) Arrow schema.
pub(crate) struct PaimonFilters<'a> {
    pub schema: &'a Schema,
    pub builder: PredicateBuilder,
}

impl<'a> PaimonFilters<'a> {
    pub fn new(schema: &'a Schema, fields: &[DataField]) -> Self {
        Self {
            schema,
            builder: PredicateBuilder::new(fields),
        }
    }

    /// The column's type, if the column is one Paimon can filter on: not a list, map or
    /// struct. paimon 0.4 reads a filter's columns through parquet's predicate cache, which
    /// takes a struct of one field for a flat column and then panics on a nullable one
    /// ("child with nullable parents must have definition level"); the engine checks
    /// such filters instead.
    fn column_type(&self, name: &str) -> Option<&DataType> {
        plain_column_type(self.schema, name)
    }

    fn datum(&self, column: &str, value: &Literal) -> Option<Datum> {
        let ty = self.column_type(column)?;
        Some(match (ty, value) {
            (DataType::Int64, Literal::Int(v)) => Datum::Long(*v),
            (DataType::Int32, Literal::Int(v)) => Datum::Int(i32::try_from(*v).ok()?),
            (DataType::Int16, Literal::Int(v)) => Datum::SmallInt(i16::try_from(*v).ok()?),
            (DataType::Int8, Literal::Int(v)) => Datum::TinyInt(i8::try_from(*v).ok()?),
            // no float comparison: the engine orders NaN above every number and -0.0 below
            // 0.0 (as Arrow does), where Paimon compares floats without an order for NaN
            // and prunes files by bounds that leave it out; the engine keeps them
            (DataType::Utf8 | DataType::LargeUtf8, Literal::String(s)) => Datum::String(s.clone()),
            (DataType::Boolean, Literal::Boolean(b)) => Datum::Bool(*b),
            (DataType::Binary | DataType::LargeBinary, Literal::Binary(b)) => Datum::Bytes(b.clone()),
            (DataType::Date32, Literal::Int(v)) => Datum::Date(i32::try_from(*v).ok()?),
            _ => return None,
        })
    }
}

impl ConvertPredicate for PaimonFilters<'_> {
    type Output = PaimonPredicate;

    fn leaf(&self, leaf: &Predicate) -> Option<PaimonPredicate> {
        let b = &self.builder;
        match leaf {
            Predicate::Compare { column, op, value } => {
                let d = self.datum(column, value)?;
                match op {
                    CompareOp::Eq => b.equal(column, d),
                    CompareOp::NotEq => b.not_equal(column, d),
                    CompareOp::Lt => b.less_than(column, d),
                    CompareOp::LtEq => b.less_or_equal(column, d),
                    CompareOp::Gt => b.greater_than(column, d),
                    CompareOp::GtEq => b.greater_or_equal(column, d),
                }
                .ok()
            }
            Predicate::IsNull(column) => {
                self.column_type(column)?;
                b.is_null(column).ok()
            }
            Predicate::IsNotNull(column) => {
                self.column_type(column)?;
                b.is_not_null(column).ok()
            }
            Predicate::In {
                column,
                values,
                negated,
            } => {
                // a NULL candidate makes SQL's IN three-valued: Paimon cannot say that
                let datums = values
                    .iter()
                    .map(|v| self.datum(column, v))
                    .collect::<Option<Vec<_>>>()?;
                if datums.is_empty() {
                    return None;
                }
                if *negated {
                    b.is_not_in(column, datums).ok()
                } else {
                    b.is_in(column, datums).ok()
                }
            }
            Predicate::StartsWith { column, prefix } => match self.column_type(column)? {
                DataType::Utf8 | DataType::LargeUtf8 => b.starts_with(column, Datum::String(prefix.clone())).ok(),
                _ => None,
            },
            Predicate::And(..) | Predicate::Or(..) | Predicate::Not(..) => None,
        }
    }

    fn and(&self, left: PaimonPredicate, right: PaimonPredicate) -> PaimonPredicate {
        PaimonPredicate::and(vec![left, right])
    }

    fn or(&self, left: PaimonPredicate, right: PaimonPredicate) -> PaimonPredicate {
        PaimonPredicate::or(vec![left, right])
    }

    fn not(&self, _inner: PaimonPredicate) -> Option<PaimonPredicate> {
        None
    }
}
