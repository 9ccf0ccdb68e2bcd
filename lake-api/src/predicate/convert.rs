//! The hook lake backends use to turn our predicates into their own filter language and
//! to report honestly what they accepted.
//!
//! A backend converts leaves; `AND`, `OR` and `NOT` compose from its combinators; any
//! predicate with a leaf it cannot convert stays with the engine.
//!
//! ```
//! use lake_api::predicate::{col, push_down, ConvertPredicate, Predicate};
//!
//! /// A backend whose filter language is SQL text and which knows no `starts_with`.
//! struct Sql;
//!
//! impl ConvertPredicate for Sql {
//!     type Output = String;
//!     fn leaf(&self, leaf: &Predicate) -> Option<String> {
//!         match leaf {
//!             Predicate::StartsWith { .. } => None,
//!             other => Some(other.to_string()),
//!         }
//!     }
//!     fn and(&self, l: String, r: String) -> String { format!("({l} AND {r})") }
//!     fn or(&self, l: String, r: String) -> String { format!("({l} OR {r})") }
//!     fn not(&self, x: String) -> Option<String> { Some(format!("NOT ({x})")) }
//! }
//!
//! let (sql, pushed) = push_down(&Sql, vec![col("id").gt(5), col("name").starts_with("a")]);
//! assert_eq!(sql, vec!["id > 5".to_string()]);
//! assert_eq!(pushed.accepted, vec![col("id").gt(5)]);
//! assert_eq!(pushed.remaining, vec![col("name").starts_with("a")]);
//! ```

use super::{FilterPushDown, Predicate};

/// Converts predicates into a backend's filter expressions.
pub trait ConvertPredicate {
    /// The backend's filter expression.
    type Output;
    /// Converts a leaf (`Compare`, `IsNull`, `IsNotNull`, `In`, `StartsWith`); `None`
    /// when the backend cannot apply it exactly.
    fn leaf(&self, leaf: &Predicate) -> Option<Self::Output>;
    /// Both sides hold.
    fn and(&self, left: Self::Output, right: Self::Output) -> Self::Output;
    /// Either side holds.
    fn or(&self, left: Self::Output, right: Self::Output) -> Self::Output;
    /// The negation, if the backend has it.
    fn not(&self, inner: Self::Output) -> Option<Self::Output>;
    /// The deepest predicate (see [`Predicate::depth`]) the backend takes: [`push_down`]
    /// leaves deeper ones to the engine. A backend whose filters are parsed again (SQL)
    /// says where its parser stops; by default there is no limit.
    fn max_depth(&self) -> usize {
        usize::MAX
    }
}

/// Converts a whole predicate; `None` if any part of it cannot be converted.
pub fn convert<C: ConvertPredicate + ?Sized>(converter: &C, predicate: &Predicate) -> Option<C::Output> {
    match predicate {
        Predicate::And(l, r) => Some(converter.and(convert(converter, l)?, convert(converter, r)?)),
        Predicate::Or(l, r) => Some(converter.or(convert(converter, l)?, convert(converter, r)?)),
        Predicate::Not(inner) => converter.not(convert(converter, inner)?),
        leaf => converter.leaf(leaf),
    }
}

/// Offers conjunctive filters to a backend: returns the converted expressions of those it
/// accepted and the [`FilterPushDown`] report to give back to the engine. A conjunction
/// is split first, so `a AND b` pushes `a` even when `b` cannot be converted.
pub fn push_down<C: ConvertPredicate + ?Sized>(
    converter: &C,
    filters: Vec<Predicate>,
) -> (Vec<C::Output>, FilterPushDown) {
    let mut converted = Vec::new();
    let mut report = FilterPushDown::default();
    for p in filters.into_iter().flat_map(super::split_conjunction) {
        let converted_p = match p.depth() <= converter.max_depth() {
            true => convert(converter, &p),
            false => None,
        };
        match converted_p {
            Some(c) => {
                converted.push(c);
                report.accepted.push(p);
            }
            None => report.remaining.push(p),
        }
    }
    (converted, report)
}

#[cfg(test)]
mod tests {
    use super::super::col;
    use super::*;

    /// Accepts only comparisons, up to a depth, and has no NOT.
    struct Counting(usize);

    impl ConvertPredicate for Counting {
        type Output = usize;
        fn leaf(&self, leaf: &Predicate) -> Option<usize> {
            matches!(leaf, Predicate::Compare { .. }).then_some(1)
        }
        fn and(&self, l: usize, r: usize) -> usize {
            l + r
        }
        fn or(&self, l: usize, r: usize) -> usize {
            l + r
        }
        fn not(&self, _: usize) -> Option<usize> {
            None
        }
        fn max_depth(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn partial_conversion_keeps_the_rest_for_the_engine() {
        let filters = vec![
            col("a").gt(1).and(col("b").is_null()),
            col("c").eq(2).or(col("d").lt(3)),
            col("e").eq(1).negate(),
        ];
        let (out, report) = push_down(&Counting(usize::MAX), filters);
        assert_eq!(out, vec![1, 2]);
        assert_eq!(report.accepted, vec![col("a").gt(1), col("c").eq(2).or(col("d").lt(3))]);
        assert_eq!(report.remaining, vec![col("b").is_null(), col("e").eq(1).negate()]);
    }

    #[test]
    fn predicates_deeper_than_the_backend_takes_are_left_to_the_engine() {
        let two = col("a").eq(1).or(col("b").eq(2));
        let three = two.clone().or(col("c").eq(3));
        // a conjunction is split first: its parts count on their own
        let (out, report) = push_down(&Counting(2), vec![three.clone(), two.clone().and(col("d").eq(4))]);
        assert_eq!(out, vec![2, 1]);
        assert_eq!(report.accepted, vec![two, col("d").eq(4)]);
        assert_eq!(report.remaining, vec![three]);
    }
}
