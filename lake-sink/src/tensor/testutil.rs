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
