//! Decoded tensors as one Arrow `arrow.fixed_shape_tensor` column plus their source row ids.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::{Float32Type, UInt8Type};
use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, UInt8Array, UInt64Array};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Field, Schema};

use super::decode::{Tensor, TensorData};
use super::options::{DType, Layout, TensorOptions};
use crate::error::{Error, Result};

/// Extension name of the Arrow canonical fixed-shape tensor type.
pub const FIXED_SHAPE_TENSOR_EXTENSION: &str = "arrow.fixed_shape_tensor";
/// Arrow metadata key of an extension type's name.
const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Arrow metadata key of an extension type's serialized parameters.
const EXTENSION_METADATA_KEY: &str = "ARROW:extension:metadata";

/// The Arrow element type of tensors of `dtype`.
fn value_type(dtype: DType) -> DataType {
    match dtype {
        DType::U8 => DataType::UInt8,
        DType::F32 { .. } => DataType::Float32,
    }
}

/// The `ARROW:extension:metadata` JSON of tensors shaped as `opts` says, for example
/// `{"shape":[3,224,224],"dim_names":["C","H","W"]}`.
fn extension_metadata(opts: &TensorOptions) -> String {
    let [a, b, c] = opts.shape();
    let names = match opts.layout {
        Layout::Chw => r#"["C","H","W"]"#,
        Layout::Hwc => r#"["H","W","C"]"#,
    };
    format!(r#"{{"shape":[{a},{b},{c}],"dim_names":{names}}}"#)
}

/// A column field of tensors shaped as `opts` says: `FixedSizeList<UInt8 | Float32, 3*H*W>`
/// carrying the canonical `arrow.fixed_shape_tensor` extension (name and JSON metadata with
/// `shape` and `dim_names`), readable as a tensor extension array by pyarrow and Arrow C++.
pub fn tensor_field(name: impl Into<String>, opts: &TensorOptions) -> Field {
    let item = Arc::new(Field::new("item", value_type(opts.dtype), true));
    // validate() bounds the size to i32::MAX; saturate rather than wrap if unvalidated.
    let size = i32::try_from(opts.tensor_len()).unwrap_or(i32::MAX);
    let metadata = HashMap::from([
        (EXTENSION_NAME_KEY.to_string(), FIXED_SHAPE_TENSOR_EXTENSION.to_string()),
        (EXTENSION_METADATA_KEY.to_string(), extension_metadata(opts)),
    ]);
    Field::new(name, DataType::FixedSizeList(item, size), false).with_metadata(metadata)
}

/// Decoded tensors of one shape, dense (no nulls), with the row id each came from.
#[derive(Debug, Clone)]
pub struct TensorBatch {
    tensors: FixedSizeListArray,
    row_ids: Vec<u64>,
    options: TensorOptions,
}

impl TensorBatch {
    /// Name of the row-id column in [`TensorBatch::to_record_batch`].
    pub const ROW_ID_COLUMN: &'static str = "row_id";
    /// Name of the tensor column in [`TensorBatch::to_record_batch`].
    pub const TENSOR_COLUMN: &'static str = "tensor";

    /// Packs tensors decoded with `opts` (one copy into a single contiguous Arrow buffer).
    /// Every tensor must have the shape, layout and element type `opts` gives.
    pub fn from_tensors(opts: &TensorOptions, rows: impl IntoIterator<Item = (u64, Tensor)>) -> Result<Self> {
        opts.validate()?;
        let shape = opts.shape();
        let len = opts.tensor_len();
        let mut row_ids = Vec::new();
        let mut u8s = Vec::new();
        let mut f32s = Vec::new();
        for (row, tensor) in rows {
            if tensor.shape() != shape || tensor.layout() != opts.layout {
                return Err(Error::invalid(format!(
                    "row {row}: tensor of shape {:?} ({:?}) does not match the batch shape {shape:?} ({:?})",
                    tensor.shape(),
                    tensor.layout(),
                    opts.layout
                )));
            }
            match (tensor.into_data(), opts.dtype) {
                (TensorData::U8(v), DType::U8) if v.len() == len => u8s.extend_from_slice(&v),
                (TensorData::F32(v), DType::F32 { .. }) if v.len() == len => f32s.extend_from_slice(&v),
                (data, dtype) => {
                    return Err(Error::invalid(format!(
                        "row {row}: tensor data ({} elements, {}) does not match {dtype:?} x {len}",
                        data.len(),
                        match data {
                            TensorData::U8(_) => "u8",
                            TensorData::F32(_) => "f32",
                        }
                    )));
                }
            }
            row_ids.push(row);
        }
        let values: ArrayRef = match opts.dtype {
            DType::U8 => Arc::new(UInt8Array::from(u8s)),
            DType::F32 { .. } => Arc::new(Float32Array::from(f32s)),
        };
        Self::from_values(opts, row_ids, values)
    }

    /// A batch of no tensors.
    pub fn empty(opts: &TensorOptions) -> Result<Self> {
        Self::from_tensors(opts, std::iter::empty())
    }

    fn from_values(opts: &TensorOptions, row_ids: Vec<u64>, values: ArrayRef) -> Result<Self> {
        let DataType::FixedSizeList(item, size) = tensor_field(Self::TENSOR_COLUMN, opts).data_type().clone() else {
            return Err(Error::invalid("tensor field is not a FixedSizeList"));
        };
        let tensors = FixedSizeListArray::try_new(item, size, values, None)
            .map_err(|e| Error::from(e).context("building the tensor column"))?;
        Ok(Self {
            tensors,
            row_ids,
            options: *opts,
        })
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.row_ids.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.row_ids.is_empty()
    }

    /// The source row id of each tensor, in order.
    pub fn row_ids(&self) -> &[u64] {
        &self.row_ids
    }

    /// The options the tensors were decoded with.
    pub fn options(&self) -> &TensorOptions {
        &self.options
    }

    /// The shape of one tensor (`[3, H, W]` or `[H, W, 3]`).
    pub fn tensor_shape(&self) -> [usize; 3] {
        self.options.shape()
    }

    /// The shape of the whole batch: `[N, 3, H, W]` or `[N, H, W, 3]`.
    pub fn batch_shape(&self) -> [usize; 4] {
        let [a, b, c] = self.tensor_shape();
        [self.len(), a, b, c]
    }

    /// The tensor column (storage array of the `arrow.fixed_shape_tensor` extension).
    pub fn tensors(&self) -> &FixedSizeListArray {
        &self.tensors
    }

    /// The field of the tensor column, with the extension metadata.
    pub fn tensor_field(&self) -> Field {
        tensor_field(Self::TENSOR_COLUMN, &self.options)
    }

    /// The contiguous values of all tensors, row-major `[N, ...]`, as a shared Arrow buffer
    /// (no copy), and its element count.
    pub(super) fn values_buffer(&self) -> Result<(Buffer, usize)> {
        let n = self.len() * self.options.tensor_len();
        let start = if self.tensors.is_empty() {
            0
        } else {
            usize::try_from(self.tensors.value_offset(0)).unwrap_or(0)
        };
        let values = self.tensors.values();
        let buffer = match self.options.dtype {
            DType::U8 => values
                .as_any()
                .downcast_ref::<arrow_array::PrimitiveArray<UInt8Type>>()
                .filter(|a| a.len() >= start + n)
                .map(|a| a.values().slice(start, n).into_inner()),
            DType::F32 { .. } => values
                .as_any()
                .downcast_ref::<arrow_array::PrimitiveArray<Float32Type>>()
                .filter(|a| a.len() >= start + n)
                .map(|a| a.values().slice(start, n).into_inner()),
        };
        buffer
            .map(|b| (b, n))
            .ok_or_else(|| Error::invalid("tensor values have an unexpected element type"))
    }

    /// A record batch of two columns: `row_id` (UInt64) and `tensor` (the
    /// `arrow.fixed_shape_tensor` column). Zero-copy.
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let schema = Schema::new(vec![
            Field::new(Self::ROW_ID_COLUMN, DataType::UInt64, false),
            self.tensor_field(),
        ]);
        let row_ids: ArrayRef = Arc::new(UInt64Array::from(self.row_ids.clone()));
        let tensors: ArrayRef = Arc::new(self.tensors.clone());
        RecordBatch::try_new(Arc::new(schema), vec![row_ids, tensors])
            .map_err(|e| Error::from(e).context("building the tensor record batch"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::decode_image;
    use super::super::testutil::*;
    use super::*;
    use image::DynamicImage;

    fn tensors(opts: &TensorOptions, colors: &[[u8; 3]]) -> Vec<(u64, Tensor)> {
        colors
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let bytes = png(&DynamicImage::ImageRgb8(solid(4, 4, *c)));
                (10 + i as u64, decode_image(&bytes, opts).unwrap())
            })
            .collect()
    }

    #[test]
    fn tensor_field_carries_canonical_extension() {
        let opts = TensorOptions::new(224, 200);
        let f = tensor_field("img", &opts);
        assert_eq!(f.metadata()["ARROW:extension:name"], "arrow.fixed_shape_tensor");
        assert_eq!(
            f.metadata()["ARROW:extension:metadata"],
            r#"{"shape":[3,224,200],"dim_names":["C","H","W"]}"#
        );
        match f.data_type() {
            DataType::FixedSizeList(item, size) => {
                assert_eq!(*size, 3 * 224 * 200);
                assert_eq!(item.data_type(), &DataType::UInt8);
            }
            other => panic!("unexpected {other:?}"),
        }
        let f = tensor_field("img", &opts.with_layout(Layout::Hwc).with_dtype(DType::IMAGENET));
        assert_eq!(
            f.metadata()["ARROW:extension:metadata"],
            r#"{"shape":[224,200,3],"dim_names":["H","W","C"]}"#
        );
        assert!(matches!(f.data_type(), DataType::FixedSizeList(item, _) if item.data_type() == &DataType::Float32));
    }

    #[test]
    fn tensor_batch_to_record_batch() {
        let opts = TensorOptions::new(2, 2);
        let batch = TensorBatch::from_tensors(&opts, tensors(&opts, &[[1, 2, 3], [4, 5, 6]])).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.row_ids(), &[10, 11]);
        assert_eq!(batch.batch_shape(), [2, 3, 2, 2]);
        let rb = batch.to_record_batch().unwrap();
        assert_eq!(rb.num_rows(), 2);
        assert_eq!(
            rb.schema().field(1).metadata()["ARROW:extension:name"],
            "arrow.fixed_shape_tensor"
        );
        let col = rb.column(1).as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        let second = col.value(1);
        let second = second.as_any().downcast_ref::<UInt8Array>().unwrap();
        // CHW: 4 values of R, then G, then B.
        assert_eq!(second.values().as_ref(), &[4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6]);
        let ids = rb.column(0).as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(ids.values().as_ref(), &[10, 11]);
    }

    #[test]
    fn tensor_batch_f32_and_empty_and_mismatch() {
        let opts = TensorOptions::new(2, 2)
            .with_dtype(DType::F32_UNIT)
            .with_layout(Layout::Hwc);
        let batch = TensorBatch::from_tensors(&opts, tensors(&opts, &[[255, 0, 51]])).unwrap();
        let (buffer, n) = batch.values_buffer().unwrap();
        assert_eq!(n, 12);
        assert_eq!(buffer.len(), 48);
        let col = batch.tensors().value(0);
        let v = col.as_any().downcast_ref::<Float32Array>().unwrap();
        assert_eq!(&v.values()[..3], &[1.0, 0.0, 0.2]);

        let empty = TensorBatch::empty(&opts).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.to_record_batch().unwrap().num_rows(), 0);

        // A u8 tensor into an f32 batch, or another shape, is refused.
        let u8_opts = TensorOptions::new(2, 2).with_layout(Layout::Hwc);
        assert!(TensorBatch::from_tensors(&opts, tensors(&u8_opts, &[[1, 1, 1]])).is_err());
        let other = TensorOptions::new(3, 2)
            .with_dtype(DType::F32_UNIT)
            .with_layout(Layout::Hwc);
        assert!(TensorBatch::from_tensors(&opts, tensors(&other, &[[1, 1, 1]])).is_err());
    }
}
