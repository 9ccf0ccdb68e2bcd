//! DLPack export of a [`TensorBatch`], zero-copy over its Arrow buffer.

use std::ffi::c_void;

use dlpark::DlpackFlags;
use dlpark::ffi::{DLDataType, DLDevice};
use dlpark::metadata::Fixed;
use dlpark::versioned;

use super::batch::TensorBatch;
use super::options::DType;
use crate::error::{Error, ErrorKind, Result};

impl TensorBatch {
    /// Exports the batch as a DLPack (versioned ABI, DLPack 1.x) CPU tensor of shape
    /// `[N, 3, H, W]` ([`Layout::Chw`](super::Layout::Chw)) or `[N, H, W, 3]`
    /// ([`Layout::Hwc`](super::Layout::Hwc)), dtype `uint8` or `float32`, compact row-major
    /// strides (in elements), flagged read-only.
    ///
    /// No pixel is copied: the tensor points into the batch's Arrow buffer, and the DLPack
    /// manager context holds a reference to that buffer, so the data stays alive after the
    /// batch is dropped, until the consumer calls the deleter (dropping the returned handle, or
    /// PyTorch releasing the tensor it made with `torch.from_dlpack`). Consumers that write
    /// into the tensor must copy first (Arrow buffers are immutable and may be shared).
    pub fn to_dlpack(&self) -> Result<versioned::Dlpack> {
        let (buffer, _len) = self.values_buffer()?;
        let dims = self.batch_shape();
        let mut shape = [0i64; 4];
        for (out, dim) in shape.iter_mut().zip(dims) {
            *out = i64::try_from(dim).map_err(|_| Error::invalid(format!("tensor dimension {dim} overflows i64")))?;
        }
        let mut strides = [0i64; 4];
        let mut stride = 1i64;
        for axis in (0..4).rev() {
            strides[axis] = stride;
            stride = stride.saturating_mul(shape[axis].max(1));
        }
        let dtype = match self.options().dtype {
            DType::U8 => DLDataType::U8,
            DType::F32 { .. } => DLDataType::F32,
        };
        // DLPack asks for a null data pointer when the tensor has no elements
        let data = if buffer.is_empty() {
            std::ptr::null_mut()
        } else {
            buffer.as_ptr() as *mut c_void
        };
        let mut initialized = Fixed::new(shape, strides)
            .initialize(Box::new(buffer))
            .map_err(|e| Error::new(ErrorKind::External, format!("cannot build the DLPack tensor: {e}")))?;
        initialized.set_data(data).set_dtype(dtype).set_device(DLDevice::CPU);
        initialized.set_flags(DlpackFlags::READ_ONLY).map_err(|e| {
            Error::new(
                ErrorKind::External,
                format!("cannot flag the DLPack tensor read-only: {e}"),
            )
        })?;
        // SAFETY: `data` points to the start of the batch's values, `N * 3 * H * W` elements of
        // `dtype`, contiguous in the compact row-major layout given by `shape` and `strides`.
        // The allocation is owned by the Arrow `Buffer` moved into the manager context above, so
        // it stays valid and unmoved until the deleter runs. Arrow buffers are shared and
        // immutable, hence READ_ONLY; IS_COPIED is not asserted.
        Ok(unsafe { initialized.finish() })
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::decode_image;
    use super::super::options::{Layout, TensorOptions};
    use super::super::testutil::*;
    use super::*;
    use image::{DynamicImage, Rgb, RgbImage};

    fn batch(opts: &TensorOptions, n: u64) -> TensorBatch {
        let rows = (0..n).map(|i| {
            let img = RgbImage::from_fn(6, 4, |x, y| Rgb([i as u8, (10 * y) as u8, x as u8]));
            (i, decode_image(&png(&DynamicImage::ImageRgb8(img)), opts).unwrap())
        });
        TensorBatch::from_tensors(opts, rows).unwrap()
    }

    #[test]
    fn tensor_dlpack_nchw_u8_zero_copy() {
        let opts = TensorOptions::new(4, 6);
        let b = batch(&opts, 3);
        let (buffer, _) = b.values_buffer().unwrap();
        let dl = b.to_dlpack().unwrap();
        drop(b); // the DLPack context keeps the Arrow buffer alive
        let t = dl.validate().unwrap();
        assert_eq!(t.shape(), &[3, 3, 4, 6]);
        assert_eq!(t.strides(), Some(&[72i64, 24, 6, 1][..]));
        assert_eq!(t.dtype(), DLDataType::U8);
        assert_eq!(t.device(), DLDevice::CPU);
        assert!(dl.flags().contains(DlpackFlags::READ_ONLY));
        assert_eq!(t.data_ptr(), buffer.as_ptr() as *const c_void, "zero-copy");
        let values = unsafe { t.cpu_slice::<u8>() }.unwrap();
        assert_eq!(values.len(), 3 * 72);
        // image 2, channel G (1), y = 3, x = 5 -> 30
        assert_eq!(values[2 * 72 + 24 + 3 * 6 + 5], 30);
        assert_eq!(values[2 * 72], 2);
    }

    #[test]
    fn tensor_dlpack_nhwc_f32() {
        let opts = TensorOptions::new(4, 6)
            .with_layout(Layout::Hwc)
            .with_dtype(DType::F32_UNIT);
        let b = batch(&opts, 2);
        let dl = b.to_dlpack().unwrap();
        let t = dl.validate().unwrap();
        assert_eq!(t.shape(), &[2, 4, 6, 3]);
        assert_eq!(t.strides(), Some(&[72i64, 18, 3, 1][..]));
        assert_eq!(t.dtype(), DLDataType::F32);
        let values = unsafe { t.cpu_slice::<f32>() }.unwrap();
        // image 1, y = 2, x = 4, channel B -> 4 / 255
        assert!((values[72 + 2 * 18 + 4 * 3 + 2] - 4.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn tensor_dlpack_empty_batch() {
        let opts = TensorOptions::new(4, 6);
        let b = TensorBatch::empty(&opts).unwrap();
        let dl = b.to_dlpack().unwrap();
        let t = dl.validate().unwrap();
        assert_eq!(t.shape(), &[0, 3, 4, 6]);
        // DLPack asks for a null data pointer when there are no elements
        assert!(t.data_ptr().is_null());
    }
}
