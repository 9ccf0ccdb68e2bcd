//! Projection by nested index paths, as [`LakeSource::with_project`](crate::LakeSource::with_project)
//! takes it: `[2]` is top-level column 2, `[3, 0]` is child 0 of struct column 3, kept
//! inside a pruned copy of its struct. Top-level columns come out in order of their first
//! appearance in the paths.
//!
//! ```
//! # use std::sync::Arc;
//! # use arrow_array::{ArrayRef, Int32Array, RecordBatch, StructArray};
//! # use arrow_schema::{DataType, Field};
//! use lake_api::project::project_batch;
//!
//! let point = StructArray::from(vec![
//!     (Arc::new(Field::new("x", DataType::Int32, false)), Arc::new(Int32Array::from(vec![1])) as ArrayRef),
//!     (Arc::new(Field::new("y", DataType::Int32, false)), Arc::new(Int32Array::from(vec![2])) as ArrayRef),
//! ]);
//! let batch = RecordBatch::try_from_iter([
//!     ("id", Arc::new(Int32Array::from(vec![7])) as ArrayRef),
//!     ("point", Arc::new(point) as ArrayRef),
//! ]).unwrap();
//! let out = project_batch(&batch, &[vec![1, 1], vec![0]]).unwrap();
//! assert_eq!(out.schema().field(0).name(), "point");
//! assert_eq!(out.schema().field(1).name(), "id");
//! ```

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema};

use crate::error::{Error, Result};

/// A tree of selected children: `None` selects a whole field.
#[derive(Debug, Default)]
struct Selection {
    children: Vec<(usize, Option<Selection>)>,
}

impl Selection {
    fn add(&mut self, path: &[usize]) {
        let Some((&first, rest)) = path.split_first() else {
            return;
        };
        match self.children.iter_mut().find(|(i, _)| *i == first) {
            Some((_, None)) => {}
            Some((_, selected @ Some(_))) => {
                if rest.is_empty() {
                    // the whole field wins over a part of it, in the part's place
                    *selected = None;
                } else if let Some(sub) = selected {
                    sub.add(rest);
                }
            }
            None => {
                if rest.is_empty() {
                    self.children.push((first, None));
                } else {
                    let mut sub = Selection::default();
                    sub.add(rest);
                    self.children.push((first, Some(sub)));
                }
            }
        }
    }
}

/// The longest projection path taken: far deeper than any schema nests, and short enough
/// that building its selection (one level of recursion per step) cannot exhaust a stack.
const MAX_PATH_LEN: usize = 256;

fn build_selection(paths: &[Vec<usize>]) -> Result<Selection> {
    let mut sel = Selection::default();
    for p in paths {
        if p.is_empty() {
            return Err(Error::invalid("an empty projection path"));
        }
        if p.len() > MAX_PATH_LEN {
            return Err(Error::invalid(format!(
                "a projection path of {} steps (at most {MAX_PATH_LEN})",
                p.len()
            )));
        }
        sel.add(p);
    }
    Ok(sel)
}

fn project_field(field: &FieldRef, sel: &Option<Selection>, path: &str) -> Result<FieldRef> {
    let Some(sel) = sel else {
        return Ok(field.clone());
    };
    let DataType::Struct(children) = field.data_type() else {
        return Err(Error::invalid(format!(
            "projection path goes into '{path}', which is not a struct"
        )));
    };
    let fields = project_fields(children, sel, path)?;
    Ok(Arc::new(
        Field::new(field.name(), DataType::Struct(fields), field.is_nullable()).with_metadata(field.metadata().clone()),
    ))
}

fn project_fields(fields: &Fields, sel: &Selection, path: &str) -> Result<Fields> {
    sel.children
        .iter()
        .map(|(i, sub)| {
            let f = fields.get(*i).ok_or_else(|| {
                Error::invalid(format!(
                    "projection index {i} is out of range in '{path}' ({} fields)",
                    fields.len()
                ))
            })?;
            project_field(f, sub, &format!("{path}.{}", f.name()))
        })
        .collect()
}

/// A projection read as whole top-level columns, as lake formats that cannot read parts of
/// a struct do: the distinct top-level columns the paths touch (ascending; all `columns`
/// when there is no projection), and the paths re-pointed at positions among them, to
/// finish the projection with [`project_batch`].
///
/// ```
/// use lake_api::project::top_level_projection;
///
/// let (read, paths) = top_level_projection(5, Some(&[vec![3, 0], vec![1]]));
/// assert_eq!(read, vec![1, 3]);
/// assert_eq!(paths, Some(vec![vec![1, 0], vec![0]]));
/// assert_eq!(top_level_projection(2, None), (vec![0, 1], None));
/// ```
pub fn top_level_projection(columns: usize, paths: Option<&[Vec<usize>]>) -> (Vec<usize>, Option<Vec<Vec<usize>>>) {
    let Some(paths) = paths else {
        return ((0..columns).collect(), None);
    };
    let mut top: Vec<usize> = paths.iter().filter_map(|p| p.first().copied()).collect();
    top.sort_unstable();
    top.dedup();
    let remapped = paths
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(first) = p.first_mut() {
                *first = top.binary_search(first).unwrap_or_default();
            }
            p
        })
        .collect();
    (top, Some(remapped))
}

/// The schema a projection produces.
pub fn project_schema(schema: &Schema, paths: &[Vec<usize>]) -> Result<Schema> {
    let sel = build_selection(paths)?;
    let fields = project_fields(schema.fields(), &sel, "")?;
    Ok(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn project_array(array: &ArrayRef, field: &FieldRef, sel: &Option<Selection>) -> Result<ArrayRef> {
    let Some(sel) = sel else {
        return Ok(array.clone());
    };
    let s = array
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| Error::invalid(format!("column '{}' is not a struct array", field.name())))?;
    let DataType::Struct(child_fields) = field.data_type() else {
        return Err(Error::invalid(format!("field '{}' is not a struct", field.name())));
    };
    let mut fields = Vec::with_capacity(sel.children.len());
    let mut arrays = Vec::with_capacity(sel.children.len());
    for (i, sub) in &sel.children {
        let f = child_fields
            .get(*i)
            .ok_or_else(|| Error::invalid(format!("projection index {i} out of range in '{}'", field.name())))?;
        let projected = project_array(s.column(*i), f, sub)?;
        fields.push(project_field(f, sub, f.name())?);
        arrays.push(projected);
    }
    Ok(Arc::new(StructArray::try_new(
        Fields::from(fields),
        arrays,
        s.nulls().cloned(),
    )?))
}

/// Projects a batch by nested index paths.
pub fn project_batch(batch: &RecordBatch, paths: &[Vec<usize>]) -> Result<RecordBatch> {
    let sel = build_selection(paths)?;
    let schema = batch.schema();
    let out_schema = Arc::new(Schema::new_with_metadata(
        project_fields(schema.fields(), &sel, "")?,
        schema.metadata().clone(),
    ));
    let columns = sel
        .children
        .iter()
        .map(|(i, sub)| project_array(batch.column(*i), &schema.fields()[*i], sub))
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::conform::batch_of(&out_schema, columns, batch.num_rows())?)
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int32Array, StringArray};

    use super::*;

    fn batch() -> RecordBatch {
        let inner = StructArray::from(vec![
            (
                Arc::new(Field::new("a", DataType::Int32, false)),
                Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("b", DataType::Utf8, false)),
                Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
            ),
        ]);
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef),
            ("s", Arc::new(inner) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn nested_paths_prune_structs() {
        let out = project_batch(&batch(), &[vec![1, 1]]).unwrap();
        let DataType::Struct(f) = out.schema().field(0).data_type().clone() else {
            panic!()
        };
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name(), "b");
        assert_eq!(out.num_rows(), 2);
        assert_eq!(project_schema(&batch().schema(), &[vec![1, 1]]).unwrap(), *out.schema());
    }

    #[test]
    fn whole_field_wins_and_bad_paths_fail() {
        let out = project_batch(&batch(), &[vec![1, 0], vec![1]]).unwrap();
        assert_eq!(out.schema().field(0).data_type(), batch().schema().field(1).data_type());
        assert!(project_batch(&batch(), &[vec![5]]).is_err());
        assert!(project_batch(&batch(), &[vec![0, 1]]).is_err());
        assert!(project_batch(&batch(), &[vec![]]).is_err());
    }

    #[test]
    fn a_whole_field_after_a_part_of_it_keeps_its_first_place() -> Result<()> {
        // regression: the whole field replaced the part by moving to the end
        let out = project_batch(&batch(), &[vec![1, 0], vec![0], vec![1]])?;
        let names: Vec<&str> = out.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["s", "id"]);
        assert_eq!(out.column(0).data_type(), batch().schema().field(1).data_type());
        assert_eq!(
            project_schema(&batch().schema(), &[vec![1, 0], vec![0], vec![1]])?,
            *out.schema()
        );
        Ok(())
    }

    #[test]
    fn a_path_longer_than_any_schema_nests_is_refused_before_it_is_walked() -> Result<()> {
        // building the selection recursed once per step: a million steps overflowed
        let e = project_batch(&batch(), &[vec![1; 1_000_000]])
            .err()
            .ok_or_else(|| Error::invalid("projected"))?;
        assert!(e.message().contains("a projection path of 1000000 steps"), "{e}");
        Ok(())
    }
}
