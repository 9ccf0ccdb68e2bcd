//! The image-to-tensor sink: image BLOBs in, batched fixed-size tensors out.
//!
//! Each image BLOB (JPEG or PNG, recognized by its magic bytes) is decoded on the CPU
//! (JPEGs strictly by zune-jpeg, PNGs by the `image` crate), converted to 3-channel RGB (grayscale expanded,
//! alpha dropped), resized with a bilinear (triangle) filter and center-cropped to
//! `height x width`, then laid out channels-first ([`Layout::Chw`]) or channels-last
//! ([`Layout::Hwc`]) as `u8` or normalized `f32` ([`DType`]). Batches decode in parallel
//! across cores with rayon.
//!
//! Decoded rows form a [`TensorBatch`]: an Arrow `FixedSizeList` column marked with the
//! canonical `arrow.fixed_shape_tensor` extension, plus the source row ids. A batch converts to
//! a [`RecordBatch`](arrow_array::RecordBatch) ([`TensorBatch::to_record_batch`]) and exports
//! zero-copy through DLPack ([`TensorBatch::to_dlpack`]) for PyTorch and friends.
//!
//! Rows that cannot be decoded (corrupt, truncated, empty, unknown format, or above the
//! pixel limit) never panic and are never dropped silently: they come back as [`RowError`](crate::RowError)s
//! naming the row. Images whose header declares more than [`TensorOptions::max_pixels`]
//! pixels are refused from the header alone, before any pixel is decoded (decompression-bomb
//! guard). A null BLOB is neither a tensor nor an error: it is a null output.
//!
//! ```
//! # use lake_sink::tensor::{decode_image, Layout, TensorOptions};
//! let mut png = Vec::new();
//! image::RgbImage::from_pixel(8, 6, image::Rgb([10, 20, 30]))
//!     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
//!     .unwrap();
//! let tensor = decode_image(&png, &TensorOptions::new(4, 4)).unwrap();
//! assert_eq!(tensor.shape(), [3, 4, 4]);
//! assert_eq!(tensor.layout(), Layout::Chw);
//! assert_eq!(tensor.get_u8(0, 1, 1), Some(10));
//! ```

mod batch;
mod decode;
mod decoder;
mod dlpack;
#[cfg(feature = "cuda")]
pub mod gpu;
mod options;
mod resize;
mod sink;
#[cfg(test)]
mod testutil;

pub use batch::{FIXED_SHAPE_TENSOR_EXTENSION, TensorBatch, tensor_field};
pub use decode::{ImageFormatKind, Tensor, TensorData, decode_batch, decode_image, detect_format};
pub use decoder::{BatchDecoder, CpuDecoder};
pub use options::{DEFAULT_MAX_PIXELS, DType, Layout, Resize, TensorOptions};
pub use sink::{TensorOutput, TensorSink};
