//! Our predicates as Iceberg expressions. Iceberg applies a scan filter exactly (as a
//! Parquet row filter, after pruning files and row groups), so whatever converts is
//! reported as accepted.

use arrow_schema::{DataType, Schema};
use iceberg::expr::{Predicate as IcebergPredicate, Reference};
use iceberg::spec::Datum;
use lake_api::predicate::{CompareOp, ConvertPredicate, Literal, Predicate};
use lake_api::types::plain_column_type;

/// Converts predicates over the columns of a table's (lakeunion) Arrow schema.
pub(crate) struct IcebergFilters<'a> {
    pub schema: &'a Schema,
}

impl IcebergFilters<'_> {
    /// The column's type, if the column is one Iceberg can filter on.
    fn column_type(&self, name: &str) -> Option<&DataType> {
        plain_column_type(self.schema, name)
    }

    fn datum(&self, column: &str, value: &Literal) -> Option<Datum> {
        let ty = self.column_type(column)?;
        Some(match (ty, value) {
            (DataType::Int64, Literal::Int(v)) => Datum::long(*v),
            (DataType::Int32 | DataType::Int16 | DataType::Int8, Literal::Int(v)) => {
                Datum::int(i32::try_from(*v).ok()?)
            }
            // no float comparison: the engine orders NaN above every number and -0.0 below
            // 0.0 (as Arrow does), where Iceberg prunes files by bounds that leave NaN out
            // and takes -0.0 for 0.0; the engine keeps them
            (DataType::Utf8 | DataType::LargeUtf8, Literal::String(s)) => Datum::string(s.clone()),
            (DataType::Boolean, Literal::Boolean(b)) => Datum::bool(*b),
            (DataType::Binary | DataType::LargeBinary, Literal::Binary(b)) => Datum::binary(b.clone()),
            _ => return None,
        })
    }
}

impl ConvertPredicate for IcebergFilters<'_> {
    type Output = IcebergPredicate;

    fn leaf(&self, leaf: &Predicate) -> Option<IcebergPredicate> {
        match leaf {
            Predicate::Compare { column, op, value } => {
                let d = self.datum(column, value)?;
                let r = Reference::new(column.clone());
                Some(match op {
                    CompareOp::Eq => r.equal_to(d),
                    CompareOp::NotEq => r.not_equal_to(d),
                    CompareOp::Lt => r.less_than(d),
                    CompareOp::LtEq => r.less_than_or_equal_to(d),
                    CompareOp::Gt => r.greater_than(d),
                    CompareOp::GtEq => r.greater_than_or_equal_to(d),
                })
            }
            Predicate::IsNull(column) => {
                self.column_type(column)?;
                Some(Reference::new(column.clone()).is_null())
            }
            Predicate::IsNotNull(column) => {
                self.column_type(column)?;
                Some(Reference::new(column.clone()).is_not_null())
            }
            Predicate::In {
                column,
                values,
                negated,
            } => {
                // a NULL candidate makes SQL's IN three-valued: Iceberg cannot say that
                let datums = values
                    .iter()
                    .map(|v| self.datum(column, v))
                    .collect::<Option<Vec<_>>>()?;
                if datums.is_empty() {
                    return None;
                }
                let r = Reference::new(column.clone());
                Some(if *negated { r.is_not_in(datums) } else { r.is_in(datums) })
            }
            Predicate::StartsWith { column, prefix } => match self.column_type(column)? {
                DataType::Utf8 | DataType::LargeUtf8 => {
                    Some(Reference::new(column.clone()).starts_with(Datum::string(prefix.clone())))
                }
                _ => None,
            },
            Predicate::And(..) | Predicate::Or(..) | Predicate::Not(..) => None,
        }
    }

    fn and(&self, left: IcebergPredicate, right: IcebergPredicate) -> IcebergPredicate {
        left.and(right)
    }

    fn or(&self, left: IcebergPredicate, right: IcebergPredicate) -> IcebergPredicate {
        left.or(right)
    }

    fn not(&self, inner: IcebergPredicate) -> Option<IcebergPredicate> {
        Some(!inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lake_api::predicate::{col, push_down};

    #[test]
    fn converts_what_iceberg_can_apply() {
        let schema = Schema::new(vec![
            arrow_schema::Field::new("k", DataType::Int64, false),
            arrow_schema::Field::new("s", DataType::Utf8, true),
            lake_api::types::vector_field("e", DataType::Float32, 2, true),
        ]);
        let conv = IcebergFilters { schema: &schema };
        let (exprs, report) = push_down(
            &conv,
            vec![
                col("k").gt(3).and(col("s").starts_with("a")),
                col("e").is_null(),
                col("k").in_list([Literal::Int(1), Literal::Null]),
                col("s").eq(5),
                col("k").eq(1).negate(),
            ],
        );
        assert_eq!(exprs.len(), 3);
        assert_eq!(
            report.accepted,
            vec![col("k").gt(3), col("s").starts_with("a"), col("k").eq(1).negate()]
        );
        assert_eq!(report.remaining.len(), 3);
    }
}
