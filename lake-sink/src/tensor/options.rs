//! What the tensor sink produces: size, layout, element type, resize policy and the pixel limit.

use crate::error::{Error, Result};

/// Default [`TensorOptions::max_pixels`]: 64 Mi pixels (for example 8192 x 8192).
pub const DEFAULT_MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// Where the channel axis goes in each tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Channels first: shape `[3, height, width]` (PyTorch's convention).
    Chw,
    /// Channels last: shape `[height, width, 3]` (the decoder's native interleaved order).
    Hwc,
}

/// The element type of the tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DType {
    /// The raw 8-bit RGB values, `0..=255`.
    U8,
    /// `f32` normalized per channel as torchvision does: `(value / 255 - mean[c]) / std[c]`.
    /// Use `mean = [0.0; 3]` and `std = [1.0; 3]` for plain `value / 255`.
    F32 {
        /// Per-channel mean (R, G, B), in the `0..=1` scale.
        mean: [f32; 3],
        /// Per-channel standard deviation (R, G, B), in the `0..=1` scale; must be non-zero.
        std: [f32; 3],
    },
}

impl DType {
    /// `f32` with the ImageNet mean and standard deviation used by most vision models.
    pub const IMAGENET: DType = DType::F32 {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// `f32` scaled to `0..=1` without mean/std normalization.
    pub const F32_UNIT: DType = DType::F32 {
        mean: [0.0; 3],
        std: [1.0; 3],
    };

    /// Size of one element in bytes.
    pub fn element_size(&self) -> usize {
        match self {
            DType::U8 => 1,
            DType::F32 { .. } => 4,
        }
    }
}

/// How an image of another aspect ratio is brought to `height x width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resize {
    /// Scale so that the image covers `height x width` (the shorter side relative to the target
    /// fits exactly), then cut the centered `height x width` window. Keeps the aspect ratio.
    ShorterSideThenCenterCrop,
    /// Scale each axis independently to `height x width`; distorts the aspect ratio.
    Stretch,
}

/// Options of the tensor sink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorOptions {
    /// Output height in pixels (non-zero).
    pub height: u32,
    /// Output width in pixels (non-zero).
    pub width: u32,
    /// Channel axis placement.
    pub layout: Layout,
    /// Element type and normalization.
    pub dtype: DType,
    /// Largest `width * height` an input image may declare in its header; larger images are
    /// refused before decoding (decompression-bomb guard). The resize's intermediate image
    /// (the source window's width by the target height) is held to it as well, by every
    /// decoder.
    pub max_pixels: u64,
    /// Resize policy.
    pub resize: Resize,
}

impl TensorOptions {
    /// `height x width` tensors, channels-first `u8`, shorter side then center crop, and the
    /// default pixel limit.
    pub fn new(height: u32, width: u32) -> Self {
        Self {
            height,
            width,
            layout: Layout::Chw,
            dtype: DType::U8,
            max_pixels: DEFAULT_MAX_PIXELS,
            resize: Resize::ShorterSideThenCenterCrop,
        }
    }

    /// With another layout.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// With another element type.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// With another pixel limit.
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels;
        self
    }

    /// With another resize policy.
    pub fn with_resize(mut self, resize: Resize) -> Self {
        self.resize = resize;
        self
    }

    /// Number of channels of every tensor (always 3: RGB).
    pub const CHANNELS: usize = 3;

    /// The shape of one tensor: `[3, height, width]` or `[height, width, 3]`.
    pub fn shape(&self) -> [usize; 3] {
        let (h, w) = (self.height as usize, self.width as usize);
        match self.layout {
            Layout::Chw => [Self::CHANNELS, h, w],
            Layout::Hwc => [h, w, Self::CHANNELS],
        }
    }

    /// Number of elements of one tensor (saturating; [`TensorOptions::validate`] bounds it).
    pub fn tensor_len(&self) -> usize {
        Self::CHANNELS
            .saturating_mul(self.height as usize)
            .saturating_mul(self.width as usize)
    }

    /// Checks the options: non-zero size, a non-zero pixel limit, finite non-zero `std` and
    /// finite `mean`, and a tensor size that fits Arrow's `i32` list size.
    pub fn validate(&self) -> Result<()> {
        if self.height == 0 || self.width == 0 {
            return Err(Error::invalid(format!(
                "tensor size must be non-zero, got {}x{} (height x width)",
                self.height, self.width
            )));
        }
        if self.max_pixels == 0 {
            return Err(Error::invalid("max_pixels must be non-zero"));
        }
        let len = (Self::CHANNELS as u128) * u128::from(self.height) * u128::from(self.width);
        if len > i32::MAX as u128 {
            return Err(Error::invalid(format!(
                "tensor of {}x{}x3 elements does not fit an Arrow FixedSizeList (i32 size)",
                self.height, self.width
            )));
        }
        if let DType::F32 { mean, std } = self.dtype {
            if mean.iter().any(|m| !m.is_finite()) {
                return Err(Error::invalid(format!(
                    "normalization mean must be finite, got {mean:?}"
                )));
            }
            if std.iter().any(|s| !s.is_finite() || *s == 0.0) {
                return Err(Error::invalid(format!(
                    "normalization std must be finite and non-zero, got {std:?}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_options_defaults_and_shape() {
        let o = TensorOptions::new(4, 6);
        assert_eq!(o.max_pixels, 64 * 1024 * 1024);
        assert_eq!(o.shape(), [3, 4, 6]);
        assert_eq!(o.with_layout(Layout::Hwc).shape(), [4, 6, 3]);
        assert_eq!(o.tensor_len(), 72);
        assert!(o.validate().is_ok());
    }

    #[test]
    fn tensor_options_validation() {
        assert!(TensorOptions::new(0, 4).validate().is_err());
        assert!(TensorOptions::new(4, 4).with_max_pixels(0).validate().is_err());
        let zero_std = DType::F32 {
            mean: [0.0; 3],
            std: [1.0, 0.0, 1.0],
        };
        assert!(TensorOptions::new(4, 4).with_dtype(zero_std).validate().is_err());
        assert!(TensorOptions::new(4, 4).with_dtype(DType::IMAGENET).validate().is_ok());
        assert!(TensorOptions::new(u32::MAX, u32::MAX).validate().is_err());
    }
}
