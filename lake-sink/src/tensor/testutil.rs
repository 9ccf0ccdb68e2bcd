//! Test images, generated with the `image` encoders or crafted byte by byte.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A `w x h` image of one color.
pub fn solid(w: u32, h: u32, color: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(color))
}

/// A `w x h` image, left half `left`, right half `right`.
pub fn split(w: u32, h: u32, left: [u8; 3], right: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| Rgb(if x < w / 2 { left } else { right }))
}

/// Baseline JPEG of any image at `quality`.
pub fn encode_jpeg(image: &DynamicImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(image)
        .expect("jpeg encode");
    out
}

/// Baseline JPEG of an RGB image at `quality`.
pub fn jpeg_rgb(image: &RgbImage, quality: u8) -> Vec<u8> {
    encode_jpeg(&DynamicImage::ImageRgb8(image.clone()), quality)
}

/// PNG of any image.
pub fn png(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .expect("png encode");
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// `png` with an `iCCP` chunk (a colour profile, named "icc") after its header, holding
/// `profile` compressed: a small file whose profile inflates to `profile.len()` bytes.
pub fn png_with_profile(png: &[u8], profile: &[u8]) -> Vec<u8> {
    // the signature (8 bytes) and the IHDR chunk (4 + 4 + 13 + 4 bytes) come first
    let (head, rest) = png.split_at(33);
    let mut chunk = b"icc\0\0".to_vec();
    chunk.extend(fdeflate::compress_to_vec(profile));
    let mut out = head.to_vec();
    png_chunk(&mut out, b"iCCP", &chunk);
    out.extend(rest);
    out
}

/// A PNG whose IHDR declares `w x h` 8-bit RGB, with a tiny IDAT and IEND: a decompression
/// bomb's header without the bomb.
pub fn png_with_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // bit depth 8, color type RGB, deflate, adaptive, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    // A valid zlib stream of a single empty stored block.
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A real 16x16 baseline JPEG whose SOF0 header is patched to claim `w x h`; the scan data is
/// that of the small image.
pub fn jpeg_header_only(w: u16, h: u16) -> Vec<u8> {
    let mut out = jpeg_rgb(&solid(16, 16, [1, 2, 3]), 90);
    let sof = out
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("baseline SOF0 marker");
    // FF C0, length (2), precision (1), height (2), width (2).
    out[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    out
}

/// A photo-like `w x h` test card: gradients, a disc and pixel noise (so that resizing and
/// JPEG coding have real work), different for each `seed`.
pub fn test_card(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 24) as i32 - 12
    };
    let (cx, cy, r) = ((w / 3) as i32, (h / 2) as i32, (w.min(h) / 4) as i32);
    RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = (x as i32, y as i32);
        let inside = (x - cx).pow(2) + (y - cy).pow(2) < r * r;
        let base = [
            x * 255 / w as i32,
            y * 255 / h as i32,
            if inside {
                220
            } else {
                ((x + y) / 4 + seed as i32 * 7) % 256
            },
        ];
        Rgb(base.map(|c| (c + noise()).clamp(0, 255) as u8))
    })
}

/// A JPEG with the chroma `sampling` and scan mode asked for (the `jpeg-encoder` crate: the
/// `image` encoder writes baseline 4:4:4 only).
pub fn jpeg_with(
    image: &RgbImage,
    quality: u8,
    sampling: jpeg_encoder::SamplingFactor,
    progressive: bool,
) -> crate::error::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(sampling);
    encoder.set_progressive(progressive);
    encode_raw(
        encoder,
        image.as_raw(),
        image.dimensions(),
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(out)
}

/// A one-component (grey) baseline JPEG.
#[cfg(feature = "cuda")]
pub fn jpeg_gray(image: &image::GrayImage, quality: u8) -> crate::error::Result<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encode_raw(
        encoder,
        image.as_raw(),
        image.dimensions(),
        jpeg_encoder::ColorType::Luma,
    )?;
    Ok(out)
}

/// Encodes `raw`, `width x height` pixels of `color`, with `encoder`.
fn encode_raw(
    encoder: jpeg_encoder::Encoder<&mut Vec<u8>>,
    raw: &[u8],
    (width, height): (u32, u32),
    color: jpeg_encoder::ColorType,
) -> crate::error::Result<()> {
    let too_big = |_| crate::error::Error::invalid("test image too large for JPEG");
    encoder
        .encode(
            raw,
            u16::try_from(width).map_err(too_big)?,
            u16::try_from(height).map_err(too_big)?,
            color,
        )
        .map_err(|e| crate::error::Error::invalid(format!("jpeg-encoder: {e}")))
}

/// A test input and what it is.
#[cfg(feature = "cuda")]
pub type LabelledImage = (&'static str, Option<Vec<u8>>);

/// The inputs the GPU decoder is compared with the CPU decoder on, each with a label:
/// JPEGs of every layout the GPU takes (4:4:4, 4:2:0, 4:2:2, 4:4:0; landscape, portrait,
/// odd sizes, already at size; a grey picture the `image` crate codes as YCbCr) and rows it
/// hands to the CPU (progressive on the hardware backend, a one-component grey JPEG, PNG,
/// not an image, empty, null).
#[cfg(feature = "cuda")]
pub fn gpu_comparison_set() -> crate::error::Result<Vec<LabelledImage>> {
    use jpeg_encoder::SamplingFactor;
    let card = test_card(500, 375, 1);
    let tall = test_card(320, 480, 2);
    let square = test_card(224, 224, 3);
    let odd = test_card(333, 251, 4);
    let gray = image::GrayImage::from_fn(200, 150, |x, y| image::Luma([((x + 2 * y) % 256) as u8]));
    Ok(vec![
        ("image crate, 4:4:4", Some(jpeg_rgb(&card, 90))),
        ("4:2:0", Some(jpeg_with(&card, 90, SamplingFactor::R_4_2_0, false)?)),
        (
            "4:2:2 portrait",
            Some(jpeg_with(&tall, 85, SamplingFactor::R_4_2_2, false)?),
        ),
        (
            "4:4:4 at size",
            Some(jpeg_with(&square, 95, SamplingFactor::R_4_4_4, false)?),
        ),
        (
            "4:2:0 progressive",
            Some(jpeg_with(&card, 90, SamplingFactor::R_4_2_0, true)?),
        ),
        (
            "4:2:0 odd size",
            Some(jpeg_with(&odd, 90, SamplingFactor::R_4_2_0, false)?),
        ),
        (
            "4:4:0 odd size",
            Some(jpeg_with(&odd, 90, SamplingFactor::R_4_4_0, false)?),
        ),
        (
            "grey, coded as YCbCr",
            Some(encode_jpeg(&DynamicImage::ImageLuma8(gray.clone()), 90)),
        ),
        ("grey, one component", Some(jpeg_gray(&gray, 90)?)),
        ("PNG", Some(png(&DynamicImage::ImageRgb8(tall.clone())))),
        ("not an image", Some(b"not an image at all".to_vec())),
        ("empty", Some(Vec::new())),
        ("null", None),
    ])
}

/// Tensor options the comparison runs with: both layouts, both element types, both resize
/// policies, a size that upscales.
#[cfg(feature = "cuda")]
pub fn gpu_comparison_options() -> Vec<super::TensorOptions> {
    use super::{DType, Layout, Resize, TensorOptions};
    vec![
        TensorOptions::new(224, 224),
        TensorOptions::new(224, 224)
            .with_layout(Layout::Hwc)
            .with_dtype(DType::IMAGENET),
        TensorOptions::new(96, 160).with_resize(Resize::Stretch),
        TensorOptions::new(600, 512).with_dtype(DType::F32_UNIT),
    ]
}

/// The largest and the mean difference between two tensors of `opts`, in 8-bit levels
/// (an `f32` difference is scaled back through its channel's normalization and rounded).
#[cfg(feature = "cuda")]
pub fn diff_levels(a: &super::Tensor, b: &super::Tensor, opts: &super::TensorOptions) -> (f32, f32) {
    use super::DType;
    let (h, w) = (opts.height as usize, opts.width as usize);
    let (mut worst, mut total) = (0f32, 0f64);
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let diff = match opts.dtype {
                    DType::U8 => match (a.get_u8(c, y, x), b.get_u8(c, y, x)) {
                        (Some(p), Some(q)) => f32::from(p.abs_diff(q)),
                        _ => f32::INFINITY,
                    },
                    DType::F32 { std, .. } => match (a.get_f32(c, y, x), b.get_f32(c, y, x)) {
                        // both come from whole levels: round away the float error
                        (Some(p), Some(q)) => ((p - q).abs() * 255.0 * std[c]).round(),
                        _ => f32::INFINITY,
                    },
                };
                worst = worst.max(diff);
                total += f64::from(diff);
            }
        }
    }
    (worst, (total / (3 * h * w).max(1) as f64) as f32)
}
