//! Our predicates as Iceberg expressions. Iceberg applies a scan filter exactly (as a
//! Parquet row filter, after pruning files and row groups), so whatever converts is
//! reported as accepted, but for two cases of schema evolution: on a column a data file
//! may lack (an optional one, or one added since), iceberg 0.10 holds a few comparisons
//! true ([`may_keep_extra_rows`]), and those are left to the engine too; on a column
//! whose type was widened since a file was written, it
//! may drop rows, so comparisons on it do not convert at all; nor does any filter on a
//! column added with an initial default, which its row filter takes for null in the files
//! that lack it while its reader fills the default in.

use std::collections::HashSet;

use arrow_schema::{DataType, Schema};
use iceberg::expr::{
    BinaryExpression, Predicate as IcebergPredicate, PredicateOperator, Reference, SetExpression, UnaryExpression,
};
use iceberg::spec::{Datum, Schema as IcebergSchema, TableMetadata};
use lake_api::predicate::{CompareOp, ConvertPredicate, Literal, Predicate};
use lake_api::types::plain_column_type;

/// Converts predicates over the columns of a table's (lakeunion) Arrow schema.
pub(crate) struct IcebergFilters<'a> {
    pub schema: &'a Schema,
    /// Columns whose type some older schema had narrower ([`EvolvedColumns::retyped`]):
    /// no comparison on them converts.
    pub retyped: &'a HashSet<String>,
    /// Columns added with an initial default ([`EvolvedColumns::defaulted`]): no filter on
    /// them converts.
    pub defaulted: &'a HashSet<String>,
}

impl IcebergFilters<'_> {
    /// The column's type, if the column is one Iceberg can filter on: a primitive one, as
    /// iceberg binds a filter only to fields it has an accessor for (a list, map or struct
    /// column failed the whole scan with "Accessor for Field .. not found").
    fn column_type(&self, name: &str) -> Option<&DataType> {
        if self.defaulted.contains(name) {
            return None;
        }
        plain_column_type(self.schema, name)
    }

    fn datum(&self, column: &str, value: &Literal) -> Option<Datum> {
        // iceberg 0.10 casts the literal to a file's older, narrower type, one out of its
        // range to null, and then drops every row of the file for `n < 3000000000`
        if self.retyped.contains(column) {
            return None;
        }
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
                // iceberg 0.10 projects a starts-with onto a `truncate[W]` partition as an
                // equality when the prefix is W *bytes* long, though truncation keeps W
                // characters: `starts_with 'día'` under truncate[4] would prune the files of
                // partition 'días'. An ASCII prefix has as many bytes as characters
                DataType::Utf8 | DataType::LargeUtf8 if prefix.is_ascii() => {
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

/// The filter, over the current schema's columns, as the planner of a snapshot written
/// under `snapshot` must have it: Iceberg binds a scan's filter to the snapshot's schema
/// by name. A column renamed since takes its old name; a leaf on a column the snapshot
/// lacks (added since, so null in every row) becomes `true`, so that no file is pruned
/// for it. Readers apply the whole filter in the current schema.
pub(crate) fn for_snapshot_schema(
    filter: IcebergPredicate,
    current: &IcebergSchema,
    snapshot: &IcebergSchema,
) -> IcebergPredicate {
    // `NOT` first pushed into the leaves: a leaf made `true` under a `NOT` would prune
    renamed_leaves(&filter.rewrite_not(), current, snapshot)
}

/// [`for_snapshot_schema`] of a filter without `NOT`.
fn renamed_leaves(filter: &IcebergPredicate, current: &IcebergSchema, snapshot: &IcebergSchema) -> IcebergPredicate {
    let renamed = |r: &Reference| {
        let id = current.field_id_by_name(r.name())?;
        snapshot.name_by_field_id(id).map(Reference::new)
    };
    match filter {
        IcebergPredicate::And(e) => {
            let [l, r] = e.inputs();
            renamed_leaves(l, current, snapshot).and(renamed_leaves(r, current, snapshot))
        }
        IcebergPredicate::Or(e) => {
            let [l, r] = e.inputs();
            renamed_leaves(l, current, snapshot).or(renamed_leaves(r, current, snapshot))
        }
        IcebergPredicate::Unary(u) => match renamed(u.term()) {
            Some(r) => IcebergPredicate::Unary(UnaryExpression::new(u.op(), r)),
            None => IcebergPredicate::AlwaysTrue,
        },
        IcebergPredicate::Binary(b) => match renamed(b.term()) {
            Some(r) => IcebergPredicate::Binary(BinaryExpression::new(b.op(), r, b.literal().clone())),
            None => IcebergPredicate::AlwaysTrue,
        },
        IcebergPredicate::Set(set) => match renamed(set.term()) {
            Some(r) => IcebergPredicate::Set(SetExpression::new(set.op(), r, set.literals().clone())),
            None => IcebergPredicate::AlwaysTrue,
        },
        // none left after `rewrite_not`; pruning nothing is always right
        IcebergPredicate::Not(_) => IcebergPredicate::AlwaysTrue,
        IcebergPredicate::AlwaysTrue => IcebergPredicate::AlwaysTrue,
        IcebergPredicate::AlwaysFalse => IcebergPredicate::AlwaysFalse,
    }
}

/// Whether Iceberg's row filter may keep a row that `filter` (with `NOT` pushed into its
/// leaves) does not select, because a data file lacks one of `columns`: iceberg 0.10 reads
/// a missing column as null, yet takes `NULL < x`, `NULL <= x`, `NULL NOT IN (..)` and
/// `NOT starts_with(NULL, ..)` to hold.
pub(crate) fn may_keep_extra_rows(filter: &IcebergPredicate, columns: &HashSet<String>) -> bool {
    let lenient = |op: PredicateOperator, r: &Reference| {
        matches!(
            op,
            PredicateOperator::LessThan
                | PredicateOperator::LessThanOrEq
                | PredicateOperator::NotIn
                | PredicateOperator::NotStartsWith
        ) && columns.contains(r.name())
    };
    match filter {
        IcebergPredicate::And(e) | IcebergPredicate::Or(e) => {
            e.inputs().iter().any(|p| may_keep_extra_rows(p, columns))
        }
        IcebergPredicate::Unary(u) => lenient(u.op(), u.term()),
        IcebergPredicate::Binary(b) => lenient(b.op(), b.term()),
        IcebergPredicate::Set(set) => lenient(set.op(), set.term()),
        IcebergPredicate::Not(_) => true,
        IcebergPredicate::AlwaysTrue | IcebergPredicate::AlwaysFalse => false,
    }
}

/// The top-level columns of the current schema that schema evolution changed under some
/// data file, found in one pass over the table's schemas.
#[derive(Debug, Default)]
pub(crate) struct EvolvedColumns {
    /// Columns a data file may lack: those some schema lacks (a file written under it
    /// lacks them too), and every optional one, which a file written under a schema since
    /// removed (as Java's snapshot expiry removes them) or added from another table may not
    /// have. A required column is in every file the table may hold.
    pub lackable: HashSet<String>,
    /// Columns some schema had with another type (an `int` promoted to `long`, a `float`
    /// to `double`): a data file written under it holds the older type.
    pub retyped: HashSet<String>,
    /// Of the added columns, those with an initial default: a data file that lacks one
    /// reads as the default (Iceberg v3), not as null.
    pub defaulted: HashSet<String>,
}

impl EvolvedColumns {
    pub(crate) fn of(metadata: &TableMetadata) -> Self {
        let mut evolved = Self::default();
        for f in metadata.current_schema().as_struct().fields() {
            if !f.required {
                evolved.lackable.insert(f.name.clone());
            }
            for schema in metadata.schemas_iter() {
                match schema.field_by_id(f.id) {
                    None => {
                        if f.initial_default.is_some() {
                            evolved.defaulted.insert(f.name.clone());
                        }
                        evolved.lackable.insert(f.name.clone())
                    }
                    Some(old) if old.field_type != f.field_type => evolved.retyped.insert(f.name.clone()),
                    Some(_) => false,
                };
            }
        }
        evolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lake_api::predicate::{col, push_down};
    use std::sync::Arc;

    #[test]
    fn converts_what_iceberg_can_apply() {
        let schema = Schema::new(vec![
            arrow_schema::Field::new("k", DataType::Int64, false),
            arrow_schema::Field::new("s", DataType::Utf8, true),
            lake_api::types::vector_field("e", DataType::Float32, 2, true),
            arrow_schema::Field::new_list("l", arrow_schema::Field::new_list_field(DataType::Int64, true), true),
            arrow_schema::Field::new_struct("st", vec![arrow_schema::Field::new("a", DataType::Int64, true)], true),
            // added with an initial default
            arrow_schema::Field::new("d", DataType::Utf8, true),
        ]);
        let conv = IcebergFilters {
            schema: &schema,
            retyped: &HashSet::new(),
            defaulted: &HashSet::from(["d".to_string()]),
        };
        let (exprs, report) = push_down(
            &conv,
            vec![
                col("k").gt(3).and(col("s").starts_with("a")),
                col("e").is_null(),
                col("l").is_null(),
                col("st").is_not_null(),
                col("k").in_list([Literal::Int(1), Literal::Null]),
                col("s").eq(5),
                col("k").eq(1).negate(),
                col("d").eq("x"),
                col("d").is_null(),
                // 4 bytes, 3 characters: see `leaf`
                col("s").starts_with("día"),
                col("s").starts_with("día").negate(),
            ],
        );
        assert_eq!(exprs.len(), 3);
        assert_eq!(
            report.accepted,
            vec![col("k").gt(3), col("s").starts_with("a"), col("k").eq(1).negate()]
        );
        assert_eq!(report.remaining.len(), 9);
    }

    #[test]
    fn a_snapshot_plans_with_its_own_names_and_prunes_nothing_for_a_column_it_lacks() -> iceberg::Result<()> {
        use iceberg::spec::{NestedField, PrimitiveType, Type};
        let field = |id, name: &str, ty| Arc::new(NestedField::optional(id, name, Type::Primitive(ty)));
        let snapshot = IcebergSchema::builder()
            .with_fields([
                field(1, "id", PrimitiveType::Long),
                field(2, "v", PrimitiveType::String),
            ])
            .build()?;
        // `v` renamed `w`, a new `v` added
        let current = IcebergSchema::builder()
            .with_fields([
                field(1, "id", PrimitiveType::Long),
                field(2, "w", PrimitiveType::String),
                field(3, "v", PrimitiveType::Long),
            ])
            .build()?;
        let w = || Reference::new("w").equal_to(Datum::string("a"));
        let v = || Reference::new("v").greater_than_or_equal_to(Datum::long(5));
        let planned = |p| for_snapshot_schema(p, &current, &snapshot).to_string();
        assert_eq!(
            planned(w()),
            Reference::new("v").equal_to(Datum::string("a")).to_string()
        );
        assert_eq!(planned(!v()), "TRUE");
        assert_eq!(planned(w().and(!v())), planned(w()));
        assert_eq!(planned(w().or(v())), "TRUE");

        let added = HashSet::from(["v".to_string()]);
        assert!(may_keep_extra_rows(&(!v()).rewrite_not(), &added));
        assert!(!may_keep_extra_rows(&v(), &added));
        assert!(!may_keep_extra_rows(
            &Reference::new("id").less_than(Datum::long(1)),
            &added
        ));
        Ok(())
    }
}
