//! Our predicates as Lance filter SQL. Lance applies a scan filter exactly, so whatever
//! converts is reported as accepted.

use arrow_schema::{DataType, Schema};
use lake_api::predicate::{CompareOp, ConvertPredicate, Literal, Predicate};
use lake_api::types::LogicalType;
use lake_api::{Error, ErrorKind, Result, TableInfo};

/// A column name as a Lance SQL identifier (backticks: identifiers are case-sensitive).
pub(crate) fn ident(name: &str) -> Option<String> {
    (!name.contains('`')).then(|| format!("`{name}`"))
}

/// Key or partition columns as Lance SQL identifiers: the writer's and the reader's
/// filters name them. A name Lance's SQL cannot quote (one with a backtick) fails with
/// [`ErrorKind::Unsupported`].
pub(crate) fn sql_idents(info: &TableInfo, columns: &[String]) -> Result<Vec<String>> {
    columns
        .iter()
        .map(|k| {
            ident(k).ok_or_else(|| {
                Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "table {}: Lance's SQL filters cannot name the column '{k}' (a backtick in a key or \
                         partition column's name)",
                        info.path
                    ),
                )
            })
        })
        .collect()
}

/// A string as a SQL literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Converts predicates over the columns of a table's (lakeunion) Arrow schema.
pub(crate) struct LanceFilters<'a> {
    pub schema: &'a Schema,
}

impl LanceFilters<'_> {
    fn column(&self, name: &str) -> Option<(String, &DataType)> {
        let field = self.schema.field_with_name(name).ok()?;
        match LogicalType::of(field) {
            LogicalType::Plain => Some((ident(name)?, field.data_type())),
            _ => None,
        }
    }

    fn literal(ty: &DataType, value: &Literal) -> Option<String> {
        Some(match (ty, value) {
            // Lance narrows a literal to the column's type, and fails where it does not fit
            // (its parser reads `-9223372036854775808` as a float: i64::MIN stays behind)
            (DataType::Int64, Literal::Int(v)) if *v != i64::MIN => v.to_string(),
            (DataType::Int32, Literal::Int(v)) => i32::try_from(*v).ok()?.to_string(),
            (DataType::Int16, Literal::Int(v)) => i16::try_from(*v).ok()?.to_string(),
            (DataType::Int8, Literal::Int(v)) => i8::try_from(*v).ok()?.to_string(),
            // no float comparison: the engine orders NaN above every number and -0.0 below
            // 0.0 (as Arrow does), where Lance's scan drops NaN under `> 3.0` and narrows a
            // Float64 literal to a Float32 column's type; the engine keeps them
            (DataType::Utf8 | DataType::LargeUtf8, Literal::String(s)) => quote(s),
            (DataType::Boolean, Literal::Boolean(b)) => b.to_string(),
            _ => return None,
        })
    }
}

impl ConvertPredicate for LanceFilters<'_> {
    type Output = String;

    fn leaf(&self, leaf: &Predicate) -> Option<String> {
        match leaf {
            Predicate::Compare { column, op, value } => {
                let (c, ty) = self.column(column)?;
                let v = Self::literal(ty, value)?;
                let op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::NotEq => "!=",
                    CompareOp::Lt => "<",
                    CompareOp::LtEq => "<=",
                    CompareOp::Gt => ">",
                    CompareOp::GtEq => ">=",
                };
                Some(format!("{c} {op} {v}"))
            }
            Predicate::IsNull(column) => Some(format!("{} IS NULL", self.column(column)?.0)),
            Predicate::IsNotNull(column) => Some(format!("{} IS NOT NULL", self.column(column)?.0)),
            Predicate::In {
                column,
                values,
                negated,
            } => {
                let (c, ty) = self.column(column)?;
                // a NULL candidate makes IN three-valued; keep that with the engine
                let values = values
                    .iter()
                    .map(|v| Self::literal(ty, v))
                    .collect::<Option<Vec<_>>>()?;
                if values.is_empty() {
                    return None;
                }
                let not = if *negated { "NOT " } else { "" };
                Some(format!("{c} {not}IN ({})", values.join(", ")))
            }
            Predicate::StartsWith { column, prefix } => {
                let (c, ty) = self.column(column)?;
                // LIKE wildcards in the prefix would need escapes
                if !matches!(ty, DataType::Utf8 | DataType::LargeUtf8) || prefix.contains(['%', '_', '\\']) {
                    return None;
                }
                Some(format!("{c} LIKE {}", quote(&format!("{prefix}%"))))
            }
            Predicate::And(..) | Predicate::Or(..) | Predicate::Not(..) => None,
        }
    }

    fn and(&self, left: String, right: String) -> String {
        format!("({left}) AND ({right})")
    }

    fn or(&self, left: String, right: String) -> String {
        format!("({left}) OR ({right})")
    }

    fn not(&self, inner: String) -> Option<String> {
        Some(format!("NOT ({inner})"))
    }

    /// Lance parses the filter again, and its SQL parser stops at a nesting depth of 50;
    /// each level here nests its parentheses, and the read adds a few levels of its own
    /// (the partition and bucket filters beside this one).
    fn max_depth(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use lake_api::predicate::{col, push_down};

    #[test]
    fn converts_to_lance_sql() {
        let schema = Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]);
        let conv = LanceFilters { schema: &schema };
        let (sql, report) = push_down(
            &conv,
            vec![
                col("k").gt(3).or(col("s").eq("it's")),
                col("s").starts_with("a_b"),
                col("k").not_in_list([1, 2]),
            ],
        );
        assert_eq!(
            sql,
            vec![
                "(`k` > 3) OR (`s` = 'it''s')".to_string(),
                "`k` NOT IN (1, 2)".to_string()
            ]
        );
        assert_eq!(report.remaining, vec![col("s").starts_with("a_b")]);
    }
}
