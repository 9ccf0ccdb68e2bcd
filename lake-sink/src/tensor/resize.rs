//! The CPU decoder's resize: a window of an RGB image scaled to the tensor's size with a
//! triangle (bilinear) filter.
//!
//! The arithmetic is the `image` crate's `imageops::resize(.., FilterType::Triangle)`,
//! operation for operation, so the output is bit-identical to it (a test holds it to that)
//! and the GPU kernels, which mirror the same arithmetic, still agree with the CPU. What
//! differs is the work around it: `image` resizes through generic pixel accessors, one
//! pixel and four channels at a time, and was three quarters of the CPU decoder's time on
//! 500x375 JPEGs. Here the weights are computed once per output row and column, the
//! vertical pass runs along contiguous rows (which the compiler vectorizes), and the window
//! is read in place rather than copied out first.
//!
//! Both passes keep `image`'s order: vertical first, into `f32`, then horizontal, each
//! output the sum of `source * weight` over its taps from the left, started at zero,
//! without fused multiply-adds, and the result clamped to `0..=255` and rounded half away
//! from zero.

use image::RgbImage;

const CHANNELS: usize = 3;

/// The source samples one output coordinate reads: from `left`, one normalized weight each.
#[derive(Debug, Clone, PartialEq)]
struct Taps {
    left: usize,
    weights: Vec<f32>,
}

/// `image`'s triangle kernel.
fn triangle(x: f32) -> f32 {
    if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 }
}

/// The taps of each of `to` outputs scaled from `from` samples, as `image` computes them
/// (the kernel's support, 1, widens with the downscale factor, so downscaling averages).
/// `from` and `to` are at least 1.
fn taps(from: usize, to: usize) -> Vec<Taps> {
    let ratio = from as f32 / to as f32;
    let scale = if ratio < 1.0 { 1.0 } else { ratio };
    let support = scale;
    let last = from as i64;
    (0..to)
        .map(|out| {
            let centre = (out as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, last - 1);
            let right = ((centre + support).ceil() as i64).clamp(left + 1, last);
            let centre = centre - 0.5;
            let mut weights: Vec<f32> = (left..right).map(|i| triangle((i as f32 - centre) / scale)).collect();
            let mut sum = 0.0;
            for w in &weights {
                sum += w;
            }
            for w in &mut weights {
                *w /= sum;
            }
            Taps {
                left: left as usize,
                weights,
            }
        })
        .collect()
}

/// `image`'s conversion of a filtered value back to a byte: clamped to `0..=255`, then
/// rounded half away from zero. `f32::round` is a library call on x86-64 without SSE4.1
/// (the default target), which made it the costliest step of the resize; for a value in
/// `0..=255` the fraction `v - trunc(v)` is exact, so comparing it with one half rounds
/// the same.
fn to_byte(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let whole = v as u8;
    if v - f32::from(whole) >= 0.5 { whole + 1 } else { whole }
}

/// Scales the `width x height` window at `(x0, y0)` of `image` to `to_width x to_height`.
/// The window lies inside the image and no size is zero (the caller's `source_window`
/// and size checks see to both); the intermediate holds `width x to_height` pixels as
/// `f32`. `None` only if the output's size does not fit `image`'s buffer type (or a tap fell
/// outside the window, which `taps` rules out).
pub(super) fn resize_window(
    image: &RgbImage,
    (x0, y0, width, height): (u32, u32, u32, u32),
    to_width: u32,
    to_height: u32,
) -> Option<RgbImage> {
    let stride = image.width() as usize * CHANNELS;
    let raw = image.as_raw();
    let (x0, y0) = (x0 as usize, y0 as usize);
    let (width, height) = (width as usize, height as usize);
    let (to_width, to_height) = (to_width as usize, to_height as usize);
    let row_len = width * CHANNELS;

    // vertical: every output row is a weighted sum of whole source rows of the window;
    // one float of padding at the end lets the horizontal pass load four lanes per pixel
    let mut rows = vec![0f32; row_len * to_height + 1];
    for (out, taps) in rows.chunks_exact_mut(row_len).zip(taps(height, to_height)) {
        for (k, &w) in taps.weights.iter().enumerate() {
            let start = (y0 + taps.left + k) * stride + x0 * CHANNELS;
            for (acc, &v) in out.iter_mut().zip(&raw[start..start + row_len]) {
                *acc += f32::from(v) * w;
            }
        }
    }

    // horizontal: every output pixel a weighted sum of neighbouring pixels of its row. A
    // pixel's three channels are summed in the first three lanes of one four-lane
    // accumulator (the fourth, the next sample, is ignored): each lane still adds its
    // products in tap order, so the sums are the same, a vector instruction apiece
    let columns = taps(width, to_width);
    let mut pixels = vec![0u8; to_width * to_height * CHANNELS];
    for (y, out) in pixels.chunks_exact_mut(to_width * CHANNELS).enumerate() {
        let row = y * row_len;
        for (taps, out) in columns.iter().zip(out.chunks_exact_mut(CHANNELS)) {
            let mut acc = [0f32; 4];
            for (k, &w) in taps.weights.iter().enumerate() {
                let at = row + (taps.left + k) * CHANNELS;
                let pixel: &[f32; 4] = rows.get(at..at + 4)?.try_into().ok()?;
                for (acc, &v) in acc.iter_mut().zip(pixel) {
                    *acc += v * w;
                }
            }
            out[0] = to_byte(acc[0]);
            out[1] = to_byte(acc[1]);
            out[2] = to_byte(acc[2]);
        }
    }
    RgbImage::from_raw(u32::try_from(to_width).ok()?, u32::try_from(to_height).ok()?, pixels)
}

#[cfg(test)]
mod tests {
    use image::imageops::{self, FilterType};

    use super::*;

    /// Noise with some structure, so that every weight and rounding matters.
    fn noisy(width: u32, height: u32, seed: u32) -> RgbImage {
        let mut state = seed.wrapping_mul(2_654_435_761) | 1;
        RgbImage::from_fn(width, height, |x, y| {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            };
            let base = (x * 7 + y * 3) as u8;
            image::Rgb([
                base.wrapping_add((next() % 64) as u8),
                (next() % 256) as u8,
                if (x / 5 + y / 3) % 2 == 0 { 250 } else { 5 },
            ])
        })
    }

    #[test]
    fn matches_image_crate_resize_bit_for_bit() -> crate::error::Result<()> {
        let sizes = [
            // (source w, h, window x0, y0, w, h, to w, h)
            (500, 375, 62, 0, 375, 375, 224, 224),
            (500, 375, 0, 0, 500, 375, 160, 96),
            (320, 480, 0, 80, 320, 320, 224, 224),
            (333, 251, 41, 0, 251, 251, 224, 224),
            (224, 224, 0, 0, 224, 224, 600, 512),
            (7, 5, 0, 0, 7, 5, 31, 3),
            (1, 1, 0, 0, 1, 1, 9, 4),
            (640, 2, 0, 0, 640, 2, 3, 17),
            (100, 100, 10, 20, 37, 53, 100, 1),
            (1000, 700, 150, 0, 700, 700, 224, 224),
        ];
        for (seed, (w, h, x0, y0, cw, ch, tw, th)) in sizes.into_iter().enumerate() {
            let image = noisy(w, h, seed as u32);
            let want = imageops::resize(
                &*imageops::crop_imm(&image, x0, y0, cw, ch),
                tw,
                th,
                FilterType::Triangle,
            );
            let got = resize_window(&image, (x0, y0, cw, ch), tw, th)
                .ok_or_else(|| crate::error::Error::invalid("no resized image"))?;
            assert_eq!(got.dimensions(), (tw, th));
            let differing = got.as_raw().iter().zip(want.as_raw()).filter(|(a, b)| a != b).count();
            assert_eq!(differing, 0, "{w}x{h} window {cw}x{ch} at ({x0}, {y0}) to {tw}x{th}");
        }
        Ok(())
    }

    #[test]
    fn bytes_round_as_f32_round_does() {
        let half = 0.5f32;
        let fractions = [
            0.0,
            0.25,
            half.next_down(),
            half,
            half.next_up(),
            0.75,
            1f32.next_down(),
        ];
        for whole in -2..258 {
            for fraction in fractions {
                let v = whole as f32 + fraction;
                assert_eq!(to_byte(v), v.clamp(0.0, 255.0).round() as u8, "{v}");
            }
        }
        for v in [
            f32::MIN_POSITIVE,
            -0.0,
            1e-30,
            254.5f32.next_down(),
            255.0f32.next_up(),
            1e30,
            -1e30,
        ] {
            assert_eq!(to_byte(v), v.clamp(0.0, 255.0).round() as u8, "{v}");
        }
    }

    #[test]
    fn taps_stay_inside_the_source_and_sum_to_one() {
        for (from, to) in [(1, 1), (1, 7), (7, 1), (375, 224), (224, 600), (2, 3)] {
            for t in taps(from, to) {
                assert!(!t.weights.is_empty());
                assert!(t.left + t.weights.len() <= from, "{from} -> {to}: {t:?}");
                let sum: f32 = t.weights.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{from} -> {to}: {t:?}");
            }
        }
    }
}
