//! CPU decoding of one image or a batch of images into fixed-size RGB tensors.

use std::fmt;
use std::io::Cursor;

use image::imageops;
use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbImage};
use rayon::prelude::*;

use super::options::{DType, Layout, Resize, TensorOptions};
use super::resize::resize_window;
use crate::error::{Error, Result, RowError};

/// What a PNG decode may allocate beside its pixels: row and zlib buffers, and the
/// chunks the decoder inflates before the pixels (a colour profile, text), which this
/// decoder never uses. A file cannot make one decode cost more than its pixels and this.
const PNG_ALLOC_SLACK: u64 = 8 << 20;
/// Worst-case decoded bytes per pixel (16-bit RGBA) used to size the decoder's allocation budget.
const MAX_BYTES_PER_PIXEL: u64 = 8;

/// The image formats the CPU decoder accepts, recognized by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormatKind {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
}

impl fmt::Display for ImageFormatKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormatKind::Jpeg => "JPEG",
            ImageFormatKind::Png => "PNG",
        })
    }
}

/// Recognizes JPEG and PNG by their magic bytes; `None` for anything else.
pub fn detect_format(bytes: &[u8]) -> Option<ImageFormatKind> {
    const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormatKind::Jpeg)
    } else if bytes.starts_with(&PNG) {
        Some(ImageFormatKind::Png)
    } else {
        None
    }
}

/// The elements of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Raw 8-bit values.
    U8(Vec<u8>),
    /// Normalized 32-bit floats.
    F32(Vec<f32>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::U8(v) => v.len(),
            TensorData::F32(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One decoded image: a dense, row-major tensor of shape `[3, H, W]` ([`Layout::Chw`]) or
/// `[H, W, 3]` ([`Layout::Hwc`]), channels in RGB order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: [usize; 3],
    layout: Layout,
    data: TensorData,
}

impl Tensor {
    /// A tensor of `opts`' shape and layout holding `data` (what a decoder builds).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(super) fn with_data(opts: &TensorOptions, data: TensorData) -> Self {
        Self {
            shape: opts.shape(),
            layout: opts.layout,
            data,
        }
    }

    /// The shape, in the order of [`Tensor::layout`].
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The channel placement.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        match self.layout {
            Layout::Chw => self.shape[1],
            Layout::Hwc => self.shape[0],
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        match self.layout {
            Layout::Chw => self.shape[2],
            Layout::Hwc => self.shape[1],
        }
    }

    /// The elements, row-major in the order of [`Tensor::shape`].
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Takes the elements.
    pub fn into_data(self) -> TensorData {
        self.data
    }

    /// The flat index of channel `c` at row `y`, column `x`, whatever the layout.
    pub fn index(&self, c: usize, y: usize, x: usize) -> Option<usize> {
        let (h, w) = (self.height(), self.width());
        if c >= TensorOptions::CHANNELS || y >= h || x >= w {
            return None;
        }
        Some(match self.layout {
            Layout::Chw => (c * h + y) * w + x,
            Layout::Hwc => (y * w + x) * TensorOptions::CHANNELS + c,
        })
    }

    /// The `u8` value of channel `c` at (`y`, `x`); `None` when out of range or not `u8`.
    pub fn get_u8(&self, c: usize, y: usize, x: usize) -> Option<u8> {
        let i = self.index(c, y, x)?;
        match &self.data {
            TensorData::U8(v) => v.get(i).copied(),
            TensorData::F32(_) => None,
        }
    }

    /// The `f32` value of channel `c` at (`y`, `x`); `None` when out of range or not `f32`.
    pub fn get_f32(&self, c: usize, y: usize, x: usize) -> Option<f32> {
        let i = self.index(c, y, x)?;
        match &self.data {
            TensorData::F32(v) => v.get(i).copied(),
            TensorData::U8(_) => None,
        }
    }
}

/// Why one image failed, before it becomes an [`Error`] (kept `Send` for rayon).
pub(super) struct Failure(String);

impl Failure {
    pub(super) fn into_error(self, row: Option<u64>) -> Error {
        match row {
            Some(row) => Error::decode(format!("row {row}: {}", self.0)),
            None => Error::decode(self.0),
        }
    }
}

/// Decodes one JPEG or PNG image into a `height x width` RGB tensor as `opts` says.
///
/// Grayscale is expanded to RGB, alpha is dropped (not composited), 16-bit samples are scaled
/// to 8 bits. Images whose header declares more than `opts.max_pixels` pixels are refused
/// before decoding. Errors: invalid options; empty input, unknown format, corrupt or truncated
/// data, zero or too large dimensions.
pub fn decode_image(bytes: &[u8], opts: &TensorOptions) -> Result<Tensor> {
    opts.validate()?;
    decode_valid(bytes, opts).map_err(|f| f.into_error(None))
}

/// Decodes many images in parallel (rayon). Returns one output per input, in order: `None`
/// for a null input (not an error) and for a row that failed, and the failed rows' errors
/// with their index in `images`, in row order. Only invalid options fail the whole call.
pub fn decode_batch(images: &[Option<&[u8]>], opts: &TensorOptions) -> Result<(Vec<Option<Tensor>>, Vec<RowError>)> {
    decode_batch_from(images, opts, 0)
}

/// [`decode_batch`] where `images[0]` has row id `first_row`.
pub(super) fn decode_batch_from(
    images: &[Option<&[u8]>],
    opts: &TensorOptions,
    first_row: u64,
) -> Result<(Vec<Option<Tensor>>, Vec<RowError>)> {
    opts.validate()?;
    let results: Vec<std::result::Result<Option<Tensor>, Failure>> = images
        .par_iter()
        .map(|image| image.map(|bytes| decode_valid(bytes, opts)).transpose())
        .collect();
    let mut tensors = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (row, result) in results.into_iter().enumerate() {
        match result {
            Ok(tensor) => tensors.push(tensor),
            Err(failure) => {
                let row = first_row + row as u64;
                tensors.push(None);
                errors.push(RowError {
                    row,
                    column: None,
                    error: failure.into_error(Some(row)),
                });
            }
        }
    }
    Ok((tensors, errors))
}

/// [`decode_image`] with options already validated.
pub(super) fn decode_valid(bytes: &[u8], opts: &TensorOptions) -> std::result::Result<Tensor, Failure> {
    guarded(|| {
        let rgb = decode_rgb(bytes, opts.max_pixels)?;
        Ok(to_tensor(fit(rgb, opts)?, opts))
    })
}

/// Runs one image's decode, a panic in the decoders included as that image's failure: a
/// crafted file that trips a bug in them fails its row, not its batch and the stream.
fn guarded(decode: impl FnOnce() -> std::result::Result<Tensor, Failure>) -> std::result::Result<Tensor, Failure> {
    lake_api::error::corrupt_on_panic("the image", || Ok(decode()))
        .unwrap_or_else(|e| Err(Failure(e.message().to_string())))
}

/// Header check against the pixel limit, then full decode to 8-bit RGB.
fn decode_rgb(bytes: &[u8], max_pixels: u64) -> std::result::Result<RgbImage, Failure> {
    if bytes.is_empty() {
        return Err(Failure("empty (zero-byte) image".to_string()));
    }
    match detect_format(bytes) {
        Some(ImageFormatKind::Jpeg) => decode_jpeg(bytes, max_pixels),
        Some(ImageFormatKind::Png) => decode_png(bytes, max_pixels),
        None => {
            let head = &bytes[..bytes.len().min(8)];
            Err(Failure(format!(
                "unrecognized image format (not JPEG or PNG), first bytes {head:02x?}"
            )))
        }
    }
}

/// Fails unless a `width x height` image (as its header says) has pixels, and no more
/// than `max_pixels`: checked before any pixel is decoded.
fn check_size(format: ImageFormatKind, width: u32, height: u32, max_pixels: u64) -> std::result::Result<(), Failure> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels == 0 {
        return Err(Failure(format!("{format} image has zero dimensions {width}x{height}")));
    }
    if pixels > max_pixels {
        return Err(Failure(format!(
            "{format} image declares {width}x{height} = {pixels} pixels, above the limit of {max_pixels} \
             (max_pixels); refused before decoding"
        )));
    }
    Ok(())
}

/// A JPEG, decoded strictly: image data that ends early or does not decode is an error.
///
/// The `image` crate's JPEG decoder is lenient, as browsers are: it fills what it could not
/// read with grey and reports success, which would put half-grey images in a training set
/// with no row error to say so. Strictness also refuses the odd file that breaks the format
/// in a harmless way (stray bytes between its headers); that is a row error too.
fn decode_jpeg(bytes: &[u8], max_pixels: u64) -> std::result::Result<RgbImage, Failure> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    // the pixel limit is `max_pixels`, checked below, not zune's default width and height
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| Failure(format!("cannot read JPEG header: {e}")))?;
    let (Some((width, height)), Some(stored)) = (decoder.dimensions(), decoder.input_colorspace()) else {
        return Err(Failure("JPEG header without dimensions or colour space".to_string()));
    };
    // a JPEG's dimensions are 16-bit
    let (Ok(width), Ok(height)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(Failure(format!("JPEG dimensions {width}x{height} out of range")));
    };
    check_size(ImageFormatKind::Jpeg, width, height, max_pixels)?;
    // straight to RGB, what the tensor wants: grey is replicated and alpha dropped, as
    // `image`'s `into_rgb8` would, without a second pass over the pixels
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(ColorSpace::RGB));
    let pixels = decoder
        .decode()
        .map_err(|e| Failure(format!("cannot decode JPEG image ({width}x{height}): {e}")))?;
    RgbImage::from_raw(width, height, pixels).ok_or_else(|| {
        Failure(format!(
            "the JPEG decoder returned too few bytes for {width}x{height} RGB (stored as {stored:?})"
        ))
    })
}

/// A PNG, decoded by the `image` crate.
fn decode_png(bytes: &[u8], max_pixels: u64) -> std::result::Result<RgbImage, Failure> {
    let format = ImageFormatKind::Png;
    // The budget is this image's pixels, not the limit's: the decoder inflates the chunks
    // before the pixels (a colour profile) as it reads the header, up to the budget. The
    // dimensions are in the IHDR chunk, which must come first, at a fixed place.
    let (width, height) = png_dimensions(bytes).ok_or_else(|| Failure(format!("{format} without an IHDR header")))?;
    check_size(format, width, height, max_pixels)?;
    let pixels = u64::from(width) * u64::from(height);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Png);
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(
        pixels
            .saturating_mul(MAX_BYTES_PER_PIXEL)
            .saturating_add(PNG_ALLOC_SLACK),
    );
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| Failure(format!("cannot read {format} header: {e}")))?;
    let image = DynamicImage::from_decoder(decoder)
        .map_err(|e| Failure(format!("cannot decode {format} image ({width}x{height}): {e}")))?;
    Ok(image.into_rgb8())
}

/// The width and height a PNG's IHDR chunk declares: after the 8-byte signature, the
/// chunk's length and type (`IHDR`), then both as big-endian `u32`.
fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let field = |at: usize| bytes.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
    if field(12)? != *b"IHDR" {
        return None;
    }
    Some((u32::from_be_bytes(field(16)?), u32::from_be_bytes(field(20)?)))
}

/// Brings an image to exactly `opts.width x opts.height` with a bilinear (triangle) filter.
///
/// The resize (see [`resize_window`]) scales the height first, into an image of the
/// window's width and the target's height at 12 bytes a pixel: for a stretched image far
/// wider than it is high (a 16M x 4 PNG is a few kilobytes), gigabytes. Those pixels count
/// against `opts.max_pixels` as the decoded ones do.
fn fit(image: RgbImage, opts: &TensorOptions) -> std::result::Result<RgbImage, Failure> {
    let (w, h) = image.dimensions();
    let (tw, th) = (opts.width, opts.height);
    if (w, h) == (tw, th) {
        return Ok(image);
    }
    let (x0, y0, cw, ch) = source_window(w, h, opts);
    if (cw, ch) == (tw, th) {
        return Ok(imageops::crop_imm(&image, x0, y0, cw, ch).to_image());
    }
    let between = resize_pixels(w, h, opts);
    if between > opts.max_pixels {
        return Err(Failure(format!(
            "resizing the {cw}x{ch} pixels of a {w}x{h} image to {tw}x{th} passes through {cw}x{th} = {between} pixels, \
             above the limit of {} (max_pixels)",
            opts.max_pixels
        )));
    }
    resize_window(&image, (x0, y0, cw, ch), tw, th)
        .ok_or_else(|| Failure(format!("cannot resize a {w}x{h} image to {tw}x{th}")))
}

/// The pixels a `w x h` image's resize passes through (see [`fit`]): its window's width
/// times the target's height; none when the image or its window is the target's size
/// already. Every decoder refuses an image whose count passes `opts.max_pixels`.
pub(super) fn resize_pixels(w: u32, h: u32, opts: &TensorOptions) -> u64 {
    let (_, _, cw, ch) = source_window(w, h, opts);
    let target = (opts.width, opts.height);
    if (w, h) == target || (cw, ch) == target {
        return 0;
    }
    u64::from(cw) * u64::from(opts.height)
}

/// The window `(x0, y0, width, height)` of a `w x h` source that scales to the tensor: the
/// whole image for [`Resize::Stretch`], else the centered window of the target's aspect
/// ratio. Every decoder crops with this, so that they agree on the pixels.
///
/// Cropping the centered window of aspect ratio tw : th from the source and scaling it to
/// tw x th gives the picture of scaling by max(tw / w, th / h) and cropping the centered
/// tw x th window while touching fewer pixels; it is not pixel-identical to that (nor to
/// torchvision: the crop offset rounds down and the edge samples differ slightly).
pub(super) fn source_window(w: u32, h: u32, opts: &TensorOptions) -> (u32, u32, u32, u32) {
    let (tw, th) = (opts.width, opts.height);
    match opts.resize {
        Resize::Stretch => (0, 0, w, h),
        Resize::ShorterSideThenCenterCrop => {
            let (w64, h64, tw64, th64) = (u64::from(w), u64::from(h), u64::from(tw), u64::from(th));
            let (cw, ch) = if w64 * th64 > tw64 * h64 {
                // Source is wider than the target: keep the full height.
                let cw = (h64 * tw64 + th64 / 2) / th64;
                (clamp_dim(cw, w), h)
            } else {
                let ch = (w64 * th64 + tw64 / 2) / tw64;
                (w, clamp_dim(ch, h))
            };
            ((w - cw) / 2, (h - ch) / 2, cw, ch)
        }
    }
}

/// Clamps a computed crop size to `1..=limit`.
fn clamp_dim(value: u64, limit: u32) -> u32 {
    u32::try_from(value).unwrap_or(limit).clamp(1, limit.max(1))
}

/// Lays out an exactly sized RGB image as the tensor `opts` asks for.
fn to_tensor(image: RgbImage, opts: &TensorOptions) -> Tensor {
    const C: usize = TensorOptions::CHANNELS;
    if let (DType::U8, Layout::Hwc) = (opts.dtype, opts.layout) {
        // The decoder's interleaved buffer is already the tensor: no copy.
        return Tensor {
            shape: opts.shape(),
            layout: opts.layout,
            data: TensorData::U8(image.into_raw()),
        };
    }
    let raw: &[u8] = image.as_raw();
    let hw = raw.len() / C;
    let shape = opts.shape();
    let data = match opts.dtype {
        DType::U8 => match opts.layout {
            Layout::Hwc => TensorData::U8(raw.to_vec()), // handled above
            Layout::Chw => {
                let mut out = vec![0u8; raw.len()];
                for (i, px) in raw.chunks_exact(C).enumerate() {
                    for (c, v) in px.iter().enumerate() {
                        out[c * hw + i] = *v;
                    }
                }
                TensorData::U8(out)
            }
        },
        DType::F32 { mean, std } => {
            let lut = normalization_table(mean, std);
            match opts.layout {
                Layout::Hwc => TensorData::F32(
                    raw.chunks_exact(C)
                        .flat_map(|px| (0..C).map(move |c| (c, px[c])))
                        .map(|(c, v)| lut[c][usize::from(v)])
                        .collect(),
                ),
                Layout::Chw => {
                    let mut out = vec![0f32; raw.len()];
                    for (i, px) in raw.chunks_exact(C).enumerate() {
                        for (c, v) in px.iter().enumerate() {
                            out[c * hw + i] = lut[c][usize::from(*v)];
                        }
                    }
                    TensorData::F32(out)
                }
            }
        }
    };
    Tensor {
        shape,
        layout: opts.layout,
        data,
    }
}

/// `(v / 255 - mean[c]) / std[c]` for every channel `c` and byte `v`.
fn normalization_table(mean: [f32; 3], std: [f32; 3]) -> [[f32; 256]; 3] {
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, out) in table.iter_mut().enumerate() {
            *out = (v as f32 / 255.0 - mean[c]) / std[c];
        }
    }
    lut
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use image::{GrayImage, Luma, Rgb, Rgba, RgbaImage};

    const RED: [u8; 3] = [220, 30, 40];
    const BLUE: [u8; 3] = [20, 40, 230];

    fn assert_close(actual: u8, expected: u8, tol: u8, what: &str) {
        assert!(
            actual.abs_diff(expected) <= tol,
            "{what}: got {actual}, expected {expected} +- {tol}"
        );
    }

    /// Every pixel of a u8 tensor is `color` within `tol`.
    fn assert_solid(t: &Tensor, color: [u8; 3], tol: u8) {
        for y in 0..t.height() {
            for x in 0..t.width() {
                for (c, &want) in color.iter().enumerate() {
                    let got = t.get_u8(c, y, x).unwrap_or_default();
                    assert_close(got, want, tol, &format!("c={c} y={y} x={x}"));
                }
            }
        }
    }

    #[test]
    fn a_png_profile_inflates_no_further_than_the_pixel_limit_allows() -> Result<()> {
        // regression: the decoder's allocation budget was never below 512 MiB, so a 1x1
        // PNG of about 64 KiB whose colour profile inflates to 64 MiB cost 64 MiB per row,
        // whatever max_pixels said (and the profile is never used)
        let profile = vec![0u8; 64 << 20];
        let bomb = png_with_profile(&png(&DynamicImage::ImageRgb8(solid(1, 1, RED))), &profile);
        drop(profile);
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        // and with the default limit too: the budget was the limit's, not the image's
        for opts in [TensorOptions::new(4, 4).with_max_pixels(1024), TensorOptions::new(4, 4)] {
            let (decoded, largest) = crate::alloc_probe::largest_allocation(|| decode_valid(&bomb, &opts));
            assert!(largest < 24 << 20, "the decode allocated {largest} bytes at once");
            // the profile is dropped, the pixels are not
            let tensor = decoded.map_err(|f| f.into_error(None))?;
            assert_solid(&tensor, RED, 2);
        }
        Ok(())
    }

    #[test]
    fn a_stretch_of_a_wide_image_counts_its_resize_against_the_pixel_limit() -> Result<()> {
        // regression: a PNG of exactly the limit, 65536 x 1, stretched to 64 x 64, made a
        // 65536 x 64 image of 16-byte pixels on the way (64 MiB; at the default limit a
        // 16M x 4 PNG of a few kilobytes asked for 56 GiB)
        let bytes = png(&DynamicImage::ImageRgb8(solid(1 << 16, 1, RED)));
        let stretch = TensorOptions::new(64, 64)
            .with_max_pixels(1 << 16)
            .with_resize(Resize::Stretch);
        let (decoded, largest) = crate::alloc_probe::largest_allocation(|| decode_valid(&bytes, &stretch));
        let error = decoded
            .err()
            .map(|f| f.into_error(None).to_string())
            .unwrap_or_default();
        assert!(error.contains("65536x64 = 4194304 pixels"), "{error}");
        assert!(largest < 4 << 20, "the decode allocated {largest} bytes at once");
        // the center crop scales a 1 x 1 window
        let crop = TensorOptions::new(64, 64).with_max_pixels(1 << 16);
        assert_solid(&decode_valid(&bytes, &crop).map_err(|f| f.into_error(None))?, RED, 2);
        Ok(())
    }

    #[test]
    fn a_png_of_exactly_the_pixel_limit_decodes_at_its_widest() -> Result<()> {
        // the budget is the pixels at 16-bit RGBA and 8 MiB: the widest PNG at the limit
        // must still fit, with whatever the decoders allocate beside its pixels
        let (w, h) = (1024, 1024);
        let wide = image::ImageBuffer::from_pixel(w, h, Rgba([65535u16, 0, 0, 65535]));
        let bytes = png(&DynamicImage::ImageRgba16(wide));
        let opts = TensorOptions::new(4, 4).with_max_pixels(u64::from(w * h));
        let tensor = decode_valid(&bytes, &opts).map_err(|f| f.into_error(None))?;
        assert_solid(&tensor, [255, 0, 0], 1);
        Ok(())
    }

    #[test]
    fn a_decoder_panic_fails_its_image_only() {
        let failure = guarded(|| panic!("index out of bounds in a decoder")).err();
        let error = failure.map(|f| f.into_error(Some(7)).to_string()).unwrap_or_default();
        assert!(
            error.contains("row 7: the image is malformed (the decoder gave up: index out of bounds in a decoder)"),
            "{error}"
        );
    }

    #[test]
    fn tensor_detect_format_by_magic() {
        assert_eq!(
            detect_format(&jpeg_rgb(&solid(4, 4, RED), 90)),
            Some(ImageFormatKind::Jpeg)
        );
        assert_eq!(
            detect_format(&png(&DynamicImage::ImageRgb8(solid(4, 4, RED)))),
            Some(ImageFormatKind::Png)
        );
        assert_eq!(detect_format(b"GIF89a"), None);
        assert_eq!(detect_format(&[]), None);
    }

    #[test]
    fn tensor_baseline_jpeg_q90_solid_color() {
        // The `image` 0.25 JPEG encoder writes baseline JPEG only, always 4:4:4 (every component
        // sampled 1x1, whatever its doc comment says); the subsampled and progressive variants
        // come from the `jpeg-encoder` dev-dependency (see the test after the grayscale one).
        let bytes = jpeg_rgb(&solid(64, 48, RED), 90);
        let t = decode_image(&bytes, &TensorOptions::new(16, 16)).unwrap();
        assert_eq!(t.shape(), [3, 16, 16]);
        assert_solid(&t, RED, 3);
    }

    #[test]
    fn tensor_subsampled_and_progressive_jpegs_decode() -> Result<()> {
        use jpeg_encoder::SamplingFactor;
        let variants = [
            (SamplingFactor::R_4_2_0, false),
            (SamplingFactor::R_4_2_2, false),
            (SamplingFactor::R_4_2_0, true),
            (SamplingFactor::R_4_4_4, true),
        ];
        let opts = TensorOptions::new(48, 64);
        for (sampling, progressive) in variants {
            let solid_jpeg = jpeg_with(&solid(80, 60, BLUE), 92, sampling, progressive)?;
            assert_solid(&decode_image(&solid_jpeg, &opts)?, BLUE, 4);
        }
        // a busy picture decodes to the same tensor whatever the scan mode, and close to
        // its 4:4:4 baseline whatever the chroma subsampling
        let card = test_card(200, 150, 4);
        let reference = decode_image(&jpeg_with(&card, 95, SamplingFactor::R_4_4_4, false)?, &opts)?;
        let baseline_420 = decode_image(&jpeg_with(&card, 95, SamplingFactor::R_4_2_0, false)?, &opts)?;
        let progressive_420 = decode_image(&jpeg_with(&card, 95, SamplingFactor::R_4_2_0, true)?, &opts)?;
        let mean_diff = |a: &Tensor, b: &Tensor| -> f64 {
            let (TensorData::U8(a), TensorData::U8(b)) = (a.data(), b.data()) else {
                return f64::INFINITY;
            };
            a.iter().zip(b).map(|(p, q)| f64::from(p.abs_diff(*q))).sum::<f64>() / a.len() as f64
        };
        assert!(
            mean_diff(&baseline_420, &progressive_420) < 0.5,
            "scan mode changed the picture"
        );
        let chroma = mean_diff(&reference, &baseline_420);
        assert!(
            chroma < 4.0,
            "4:2:0 is {chroma} levels off its 4:4:4 baseline on average"
        );
        Ok(())
    }

    #[test]
    fn tensor_grayscale_jpeg_expands_to_rgb() {
        let gray = GrayImage::from_pixel(32, 32, Luma([77]));
        let bytes = encode_jpeg(&DynamicImage::ImageLuma8(gray), 90);
        let t = decode_image(&bytes, &TensorOptions::new(8, 8)).unwrap();
        assert_solid(&t, [77, 77, 77], 3);
    }

    #[test]
    fn a_grey_jpeg_decodes_to_image_s_grey_levels_replicated() -> Result<()> {
        // zune is asked for RGB straight away: each pixel must be the grey level the
        // `image` crate's own decoder gives, in all three channels
        let gray = GrayImage::from_fn(67, 45, |x, y| Luma([((x * 7 + y * 3) % 256) as u8]));
        let bytes = encode_jpeg(&DynamicImage::ImageLuma8(gray), 85);
        let ours = decode_rgb(&bytes, u64::MAX).map_err(|Failure(f)| Error::invalid(f))?;
        let theirs = image::load_from_memory(&bytes)
            .map_err(|e| Error::invalid(e.to_string()))?
            .into_luma8();
        assert_eq!(ours.dimensions(), theirs.dimensions());
        for (rgb, luma) in ours.pixels().zip(theirs.pixels()) {
            assert_eq!(rgb.0, [luma.0[0]; 3]);
        }
        Ok(())
    }

    #[test]
    fn tensor_png_rgb_exact_and_alpha_dropped() {
        let bytes = png(&DynamicImage::ImageRgb8(solid(10, 10, BLUE)));
        let t = decode_image(&bytes, &TensorOptions::new(10, 10)).unwrap();
        assert_solid(&t, BLUE, 0);

        // Alpha is dropped, not composited: a half-transparent pixel keeps its RGB values.
        let rgba = RgbaImage::from_pixel(12, 12, Rgba([200, 100, 50, 128]));
        let bytes = png(&DynamicImage::ImageRgba8(rgba));
        let t = decode_image(&bytes, &TensorOptions::new(6, 6)).unwrap();
        assert_solid(&t, [200, 100, 50], 0);
    }

    #[test]
    fn tensor_png_16bit_scaled_to_8bit() {
        let img = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(4, 4, Rgb([65535, 0, 32896]));
        let bytes = png(&DynamicImage::ImageRgb16(img));
        let t = decode_image(&bytes, &TensorOptions::new(4, 4)).unwrap();
        assert_solid(&t, [255, 0, 128], 0);
    }

    #[test]
    fn tensor_two_color_split_survives_resize_and_crop() {
        // 80x40, left half red, right half blue; target 10x10 keeps the centered 40x40 window,
        // whose left half is red and right half blue.
        let img = split(80, 40, RED, BLUE);
        for bytes in [png(&DynamicImage::ImageRgb8(img.clone())), jpeg_rgb(&img, 95)] {
            let tol = if detect_format(&bytes) == Some(ImageFormatKind::Png) {
                0
            } else {
                4
            };
            for layout in [Layout::Chw, Layout::Hwc] {
                let opts = TensorOptions::new(10, 10).with_layout(layout);
                let t = decode_image(&bytes, &opts).unwrap();
                for y in 0..10 {
                    for x in [0, 1, 2, 3] {
                        for c in 0..3 {
                            assert_close(t.get_u8(c, y, x).unwrap_or_default(), RED[c], tol, "left");
                            assert_close(t.get_u8(c, y, 9 - x).unwrap_or_default(), BLUE[c], tol, "right");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn tensor_center_crop_cuts_the_sides() {
        // 90x30 in three vertical bands red | blue | red: a square center crop sees only blue.
        let mut img = solid(90, 30, RED);
        for y in 0..30 {
            for x in 30..60 {
                img.put_pixel(x, y, Rgb(BLUE));
            }
        }
        let bytes = png(&DynamicImage::ImageRgb8(img.clone()));
        let t = decode_image(&bytes, &TensorOptions::new(15, 15)).unwrap();
        assert_solid(&t, BLUE, 0);
        // Stretch keeps all three bands.
        let opts = TensorOptions::new(15, 15).with_resize(Resize::Stretch);
        let t = decode_image(&bytes, &opts).unwrap();
        assert_eq!(t.get_u8(0, 7, 0), Some(RED[0]));
        assert_eq!(t.get_u8(2, 7, 7), Some(BLUE[2]));
        assert_eq!(t.get_u8(0, 7, 14), Some(RED[0]));
    }

    #[test]
    fn tensor_tall_image_crops_top_and_bottom_and_upscales() {
        // 6x18 tall: top band red, middle blue, bottom red; square crop keeps the middle, upscaled.
        let mut img = solid(6, 18, RED);
        for y in 6..12 {
            for x in 0..6 {
                img.put_pixel(x, y, Rgb(BLUE));
            }
        }
        let t = decode_image(&png(&DynamicImage::ImageRgb8(img)), &TensorOptions::new(12, 12)).unwrap();
        assert_eq!(t.shape(), [3, 12, 12]);
        assert_solid(&t, BLUE, 0);
    }

    #[test]
    fn tensor_chw_and_hwc_index_correctly() {
        // 2x2 image with distinct pixels, decoded at its own size (no resampling).
        let mut img = RgbImage::new(2, 2);
        img.put_pixel(0, 0, Rgb([1, 2, 3]));
        img.put_pixel(1, 0, Rgb([4, 5, 6]));
        img.put_pixel(0, 1, Rgb([7, 8, 9]));
        img.put_pixel(1, 1, Rgb([10, 11, 12]));
        let bytes = png(&DynamicImage::ImageRgb8(img));
        let chw = decode_image(&bytes, &TensorOptions::new(2, 2)).unwrap();
        assert_eq!(chw.data(), &TensorData::U8(vec![1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12]));
        let hwc = decode_image(&bytes, &TensorOptions::new(2, 2).with_layout(Layout::Hwc)).unwrap();
        assert_eq!(hwc.shape(), [2, 2, 3]);
        assert_eq!(hwc.data(), &TensorData::U8((1..=12).collect()));
        for (c, y, x) in [(0, 0, 1), (2, 1, 0), (1, 1, 1)] {
            assert_eq!(chw.get_u8(c, y, x), hwc.get_u8(c, y, x));
        }
        assert_eq!(chw.get_u8(3, 0, 0), None);
        assert_eq!(chw.get_f32(0, 0, 0), None);
    }

    #[test]
    fn tensor_f32_normalization_math() {
        let bytes = png(&DynamicImage::ImageRgb8(solid(3, 3, [0, 128, 255])));
        let opts = TensorOptions::new(3, 3).with_dtype(DType::IMAGENET);
        let t = decode_image(&bytes, &opts).unwrap();
        let expect = [
            (0.0 - 0.485) / 0.229,
            (128.0 / 255.0 - 0.456) / 0.224,
            (1.0 - 0.406) / 0.225,
        ];
        for layout in [Layout::Chw, Layout::Hwc] {
            let t2 = decode_image(&bytes, &opts.with_layout(layout)).unwrap();
            for (c, want) in expect.iter().enumerate() {
                let got = t2.get_f32(c, 2, 1).unwrap_or(f32::NAN);
                assert!((got - want).abs() < 1e-5, "{layout:?} c={c}: {got} vs {want}");
            }
        }
        assert!(matches!(t.data(), TensorData::F32(v) if v.len() == 27));
        let unit = decode_image(&bytes, &TensorOptions::new(3, 3).with_dtype(DType::F32_UNIT)).unwrap();
        assert_eq!(unit.get_f32(2, 0, 0), Some(1.0));
        assert_eq!(unit.get_f32(0, 0, 0), Some(0.0));
    }

    #[test]
    fn tensor_bad_inputs_are_errors_not_panics() {
        let opts = TensorOptions::new(8, 8);
        let good = jpeg_rgb(&solid(32, 32, RED), 90);

        let err = decode_image(&[], &opts).unwrap_err();
        assert!(err.to_string().contains("zero-byte"), "{err}");
        assert_eq!(err.kind(), crate::error::ErrorKind::Decode);
        assert_eq!(
            decode_image(&good, &TensorOptions::new(0, 8)).unwrap_err().kind(),
            crate::error::ErrorKind::InvalidArgument
        );

        let err = decode_image(b"definitely not an image", &opts).unwrap_err();
        assert!(err.to_string().contains("unrecognized image format"), "{err}");

        // Truncated JPEG: header intact, scan data cut.
        let truncated = &good[..good.len() / 2];
        assert!(decode_image(truncated, &opts).is_err());
        // Truncated inside the header.
        assert!(decode_image(&good[..20], &opts).is_err());

        // Corrupt PNG: valid signature and IHDR, garbage afterwards (bad CRC / zlib).
        let mut corrupt = png(&DynamicImage::ImageRgb8(solid(16, 16, RED)));
        let n = corrupt.len();
        for b in &mut corrupt[40..n - 12] {
            *b ^= 0x5A;
        }
        assert!(decode_image(&corrupt, &opts).is_err());

        // Corrupt JPEG: magic only, then noise.
        let mut noise = vec![0xFF, 0xD8, 0xFF];
        noise.extend((0..500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert!(decode_image(&noise, &opts).is_err());
    }

    /// Where a JPEG's entropy-coded data starts: after the last start-of-scan header.
    fn scan_start(jpeg: &[u8]) -> usize {
        let sos = jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap_or(0);
        let length = jpeg
            .get(sos + 2..sos + 4)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        sos + 2 + usize::from(length)
    }

    #[test]
    fn a_jpeg_cut_short_or_damaged_inside_its_image_data_is_an_error_not_grey() -> Result<()> {
        // Lenient decoders (browsers, and the `image` crate's JPEG decoder) fill what they
        // could not read with grey and report success: a training set would then hold
        // half-grey images that no error list names.
        let opts = TensorOptions::new(16, 16);
        let card = test_card(300, 200, 9);
        let baseline = jpeg_rgb(&card, 90);
        let progressive = jpeg_with(&card, 90, jpeg_encoder::SamplingFactor::R_4_2_0, true)?;
        for (name, jpeg) in [("baseline", &baseline), ("progressive", &progressive)] {
            assert!(decode_image(jpeg, &opts).is_ok(), "{name}");
            let start = if name == "baseline" {
                scan_start(jpeg)
            } else {
                jpeg.len() / 3
            };
            assert!(start > 100 && start + 200 < jpeg.len(), "{name}: scan data at {start}");
            // the image data cut short: a third of the file, a few bytes into the scan, or
            // the last few bytes gone
            for cut in [jpeg.len() / 3, start + 64, jpeg.len() - 40] {
                let err = decode_image(&jpeg[..cut], &opts).err();
                assert!(err.is_some(), "{name} cut at {cut} of {} decoded", jpeg.len());
            }
            // the image data overwritten in the middle: an invalid code (a run of 0xFF
            // bytes, each stuffed with 0x00 as the format requires)
            let mut damaged = jpeg.clone();
            let middle = (start + jpeg.len()) / 2;
            for pair in damaged[middle..middle + 64].chunks_mut(2) {
                pair.copy_from_slice(&[0xFF, 0x00][..pair.len()]);
            }
            let err = decode_image(&damaged, &opts).err();
            assert!(err.is_some(), "{name} with damaged image data decoded");
        }
        Ok(())
    }

    #[test]
    fn tensor_decompression_bomb_refused_from_header() {
        // A PNG whose IHDR claims 100000 x 100000 (10^10 pixels) with a tiny IDAT: refused from
        // the header alone. Decoding it would need 30 GB.
        let bomb = png_with_header_only(100_000, 100_000);
        let opts = TensorOptions::new(8, 8);
        let err = decode_image(&bomb, &opts).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("100000x100000") && msg.contains("max_pixels"), "{msg}");

        // The limit is configurable, and applies to real images too.
        let small = png(&DynamicImage::ImageRgb8(solid(20, 20, RED)));
        assert!(decode_image(&small, &opts.with_max_pixels(400)).is_ok());
        let err = decode_image(&small, &opts.with_max_pixels(399)).unwrap_err();
        assert!(err.to_string().contains("20x20"), "{err}");

        // In a batch, the error names the row.
        let (tensors, errors) = decode_batch(&[Some(&small), Some(&bomb)], &opts).unwrap();
        assert!(tensors[0].is_some() && tensors[1].is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].row, 1);
        assert!(errors[0].error.to_string().contains("row 1"), "{}", errors[0]);
        assert!(errors[0].to_string().contains("max_pixels"));
    }

    #[test]
    fn tensor_bomb_jpeg_header_refused() {
        // A JPEG SOF0 header claiming 60000 x 60000 with no scan data.
        let bomb = jpeg_header_only(60_000, 60_000);
        let err = decode_image(&bomb, &TensorOptions::new(8, 8)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("60000x60000") && msg.contains("max_pixels"), "{msg}");
    }

    #[test]
    fn tensor_decode_batch_in_order_with_nulls_and_errors() {
        let opts = TensorOptions::new(4, 4).with_layout(Layout::Hwc);
        let a = png(&DynamicImage::ImageRgb8(solid(8, 8, RED)));
        let b = jpeg_rgb(&solid(8, 8, BLUE), 90);
        let mut images: Vec<Option<&[u8]>> = vec![Some(&a), None, Some(b"junk"), Some(&b), Some(&[])];
        for _ in 0..40 {
            images.push(Some(&a));
        }
        let (tensors, errors) = decode_batch(&images, &opts).unwrap();
        assert_eq!(tensors.len(), images.len());
        assert!(tensors[0].is_some() && tensors[1].is_none() && tensors[2].is_none());
        assert!(tensors[3].is_some() && tensors[4].is_none());
        assert!(tensors[5..].iter().all(Option::is_some));
        let rows: Vec<u64> = errors.iter().map(|e| e.row).collect();
        assert_eq!(rows, vec![2, 4]);
        if let Some(t) = &tensors[3] {
            assert_solid(t, BLUE, 3);
        }
        // Invalid options fail the whole call.
        assert!(decode_batch(&images, &TensorOptions::new(0, 4)).is_err());
    }
}
