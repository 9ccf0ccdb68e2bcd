//! The colour, resize, crop and layout kernels, compiled at run time with NVRTC.
//!
//! `ycc_to_rgb` turns nvJPEG's Y, Cb and Cr planes into interleaved RGB as zune-jpeg (the
//! CPU decoder) does: chroma upsampled by its "fancy" filter (each output sample is
//! `(3 * nearest + next nearest + 2) >> 2`, vertically first, then horizontally over the
//! vertical results; the edges repeat), then its 14-bit fixed-point BT.601 full-range
//! conversion. One difference remains at the edges: zune-jpeg upsamples rows padded to whole
//! MCUs, so where a width (height) is even but not a multiple of the MCU's, the last column
//! (row) reads a padding sample the encoder wrote, where these kernels repeat the edge
//! sample. (The 500x375 4:2:0 test card's last column is one; odd sizes and sizes that fill
//! their MCUs are exact.)
//!
//! The resize passes compute what the CPU decoder computes with the `image` crate's
//! `resize(.., FilterType::Triangle)`: a separable triangle filter whose support widens with
//! the downscale factor (so downscaling averages, as the CPU does), vertical pass first into
//! `f32`, then horizontal, clamped to `0..=255` and rounded half away from zero; `f32`
//! tensors are `(v / 255 - mean) / std` of the rounded byte. Multiply-adds are not fused, so
//! the arithmetic is the CPU's, operation for operation.
//!
//! NVRTC emits PTX, which the driver compiles on load: a driver older than the NVRTC
//! library cannot load it, and [`Kernels::compile`] then fails with the driver's error
//! (the decoder is not made; nothing decodes wrongly).

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::error::{Error, ErrorKind, Result};
use crate::tensor::options::{DType, Layout, TensorOptions};

/// Entries per image in the job table (see [`Job`]).
pub(super) const JOB_WORDS: usize = 16;
const THREADS: u32 = 256;

/// The kernels; `JOB_WORDS` is defined in front of them when they are compiled.
const SOURCE: &str = r#"
__device__ __forceinline__ int clamp_int(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// A chroma sample at plane row r, column i, both clamped to the plane (its edges repeat).
__device__ __forceinline__ int chroma_at(const unsigned char* plane, int cw, int ch, int i, int r) {
    return (int)plane[(long long)clamp_int(r, 0, ch - 1) * cw + clamp_int(i, 0, cw - 1)];
}

// zune-jpeg's vertical upsampling, at plane column i for image row y.
__device__ int chroma_rows(const unsigned char* plane, int cw, int ch, int vs, int i, int y) {
    if (vs == 1) return chroma_at(plane, cw, ch, i, y);
    int r = y >> 1;
    int next = (y & 1) ? r + 1 : r - 1;
    return (3 * chroma_at(plane, cw, ch, i, r) + chroma_at(plane, cw, ch, i, next) + 2) >> 2;
}

// zune-jpeg's upsampling of one chroma plane at image pixel (x, y): vertical, then
// horizontal over the vertical results.
__device__ int chroma_upsampled(const unsigned char* plane, int cw, int ch, int hs, int vs, int x, int y) {
    if (hs == 1) return chroma_rows(plane, cw, ch, vs, x, y);
    int i = x >> 1;
    int next = clamp_int((x & 1) ? i + 1 : i - 1, 0, cw - 1);
    return (3 * chroma_rows(plane, cw, ch, vs, i, y) + chroma_rows(plane, cw, ch, vs, next, y) + 2) >> 2;
}

__device__ __forceinline__ unsigned char to_byte(int v) {
    return (unsigned char)clamp_int(v, 0, 255);
}

// jobs[JOB_WORDS * image]: see `Job::words`. One thread per image pixel.
extern "C" __global__ void ycc_to_rgb(const unsigned char* planes, const long long* jobs, unsigned char* decoded) {
    const long long* j = jobs + JOB_WORDS * (long long)blockIdx.y;
    int w = (int)j[7], h = (int)j[8];
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)w * h) return;
    int y = (int)(idx / w), x = (int)(idx % w);
    int cw = (int)j[12], ch = (int)j[13], hs = (int)j[14], vs = (int)j[15];
    int luma = (int)planes[j[9] + idx];
    int cb = chroma_upsampled(planes + j[10], cw, ch, hs, vs, x, y) - 128;
    int cr = chroma_upsampled(planes + j[11], cw, ch, hs, vs, x, y) - 128;
    // zune-jpeg's coefficients: BT.601 full range in 14-bit fixed point
    int y0 = luma * 16384 + 8191;
    unsigned char* o = decoded + j[0] + (long long)y * j[1] + (long long)x * 3;
    o[0] = to_byte((y0 + cr * 22970) >> 14);
    o[1] = to_byte((y0 + cr * -11700 + cb * -5638) >> 14);
    o[2] = to_byte((y0 + cb * 29032) >> 14);
}

__device__ __forceinline__ float tri(float x) {
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

// The source pixels [left, right) that output coordinate `o` reads when `n` source pixels
// scale to `m`, the kernel's centre and scale, and the sum of the weights.
struct Taps { int left; int right; float center; float sratio; float sum; };

__device__ Taps taps(int o, int n, int m) {
    float ratio = (float)n / (float)m;
    float sratio = ratio < 1.0f ? 1.0f : ratio;
    float input = ((float)o + 0.5f) * ratio;
    int left = (int)floorf(input - sratio);
    left = max(0, min(left, n - 1));
    int right = (int)ceilf(input + sratio);
    right = max(left + 1, min(right, n));
    Taps t;
    t.left = left;
    t.right = right;
    t.center = input - 0.5f;
    t.sratio = sratio;
    float sum = 0.0f;
    for (int i = left; i < right; ++i) sum += tri(((float)i - t.center) / sratio);
    t.sum = sum;
    return t;
}

// jobs[JOB_WORDS * image]: see `Job::words`.
extern "C" __global__ void vertical(const unsigned char* decoded, const long long* jobs, float* tmp, int th) {
    const long long* j = jobs + JOB_WORDS * (long long)blockIdx.y;
    int cw = (int)j[4], ch = (int)j[5];
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)cw * th) return;
    int oy = (int)(idx / cw), x = (int)(idx % cw);
    Taps t = taps(oy, ch, th);
    float r = 0.0f, g = 0.0f, b = 0.0f;
    for (int i = t.left; i < t.right; ++i) {
        float w = tri(((float)i - t.center) / t.sratio) / t.sum;
        const unsigned char* p = decoded + j[0] + (j[3] + i) * j[1] + (j[2] + x) * 3;
        r += (float)p[0] * w;
        g += (float)p[1] * w;
        b += (float)p[2] * w;
    }
    float* o = tmp + j[6] + ((long long)oy * cw + x) * 3;
    o[0] = r;
    o[1] = g;
    o[2] = b;
}

extern "C" __global__ void horizontal(const float* tmp, const long long* jobs, unsigned char* out, int th, int tw,
                                      int chw, int as_f32, float m0, float m1, float m2, float s0, float s1,
                                      float s2) {
    const long long* j = jobs + JOB_WORDS * (long long)blockIdx.y;
    int cw = (int)j[4];
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)th * tw) return;
    int oy = (int)(idx / tw), ox = (int)(idx % tw);
    Taps t = taps(ox, cw, tw);
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int i = t.left; i < t.right; ++i) {
        float w = tri(((float)i - t.center) / t.sratio) / t.sum;
        const float* p = tmp + j[6] + ((long long)oy * cw + i) * 3;
        acc[0] += p[0] * w;
        acc[1] += p[1] * w;
        acc[2] += p[2] * w;
    }
    float mean[3] = {m0, m1, m2};
    float sd[3] = {s0, s1, s2};
    long long plane = (long long)th * tw;
    long long base = 3LL * plane * blockIdx.y;
    for (int c = 0; c < 3; ++c) {
        float v = roundf(fminf(fmaxf(acc[c], 0.0f), 255.0f));
        long long pos = base + (chw ? (long long)c * plane + (long long)oy * tw + ox : ((long long)oy * tw + ox) * 3 + c);
        if (as_f32) {
            ((float*)out)[pos] = (v / 255.0f - mean[c]) / sd[c];
        } else {
            out[pos] = (unsigned char)v;
        }
    }
}
"#;

/// One image of a batch: where nvJPEG put its planes, where its RGB pixels go, and which
/// window of them scales.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    /// The image's size.
    pub image_width: u32,
    pub image_height: u32,
    /// Byte offsets of the Y, Cb and Cr planes in the batch's plane buffer (the Y plane's
    /// pitch is the image's width, the chroma planes' their own width).
    pub plane_offsets: [u64; 3],
    /// The chroma planes' size.
    pub chroma_width: u32,
    pub chroma_height: u32,
    /// The chroma subsampling factors (1 or 2).
    pub horizontal: u32,
    pub vertical: u32,
    /// Byte offset of the interleaved RGB image in the batch's decode buffer.
    pub decoded_offset: u64,
    /// Bytes per RGB row.
    pub pitch: u32,
    /// The source window (see `decode::source_window`).
    pub x0: u32,
    pub y0: u32,
    pub width: u32,
    pub height: u32,
    /// Offset (in floats) of the image's vertical-pass output.
    pub tmp_offset: u64,
}

impl Job {
    /// The job table row the kernels read (offsets are far below `i64::MAX`: they index
    /// device buffers).
    pub(super) fn words(&self) -> [i64; JOB_WORDS] {
        let [y, cb, cr] = self.plane_offsets;
        [
            self.decoded_offset as i64,
            i64::from(self.pitch),
            i64::from(self.x0),
            i64::from(self.y0),
            i64::from(self.width),
            i64::from(self.height),
            self.tmp_offset as i64,
            i64::from(self.image_width),
            i64::from(self.image_height),
            y as i64,
            cb as i64,
            cr as i64,
            i64::from(self.chroma_width),
            i64::from(self.chroma_height),
            i64::from(self.horizontal),
            i64::from(self.vertical),
        ]
    }
}

/// The kernels as PTX (NVRTC needs no device for this).
fn ptx() -> Result<Ptx> {
    let opts = CompileOptions {
        fmad: Some(false),
        prec_div: Some(true),
        ..Default::default()
    };
    let source = format!("#define JOB_WORDS {JOB_WORDS}\n{SOURCE}");
    compile_ptx_with_opts(source, opts).map_err(|e| {
        Error::new(
            ErrorKind::External,
            format!("NVRTC could not compile the resize kernels: {e}"),
        )
    })
}

/// The compiled kernels.
#[derive(Debug)]
pub(super) struct Kernels {
    ycc_to_rgb: CudaFunction,
    vertical: CudaFunction,
    horizontal: CudaFunction,
}

fn driver(what: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::new(ErrorKind::External, format!("CUDA {what}: {e}"))
}

impl Kernels {
    /// Compiles the kernels for the context's device and loads them.
    pub(super) fn compile(ctx: &Arc<CudaContext>) -> Result<Self> {
        let module = ctx.load_module(ptx()?).map_err(driver("loading the resize kernels"))?;
        Ok(Self {
            ycc_to_rgb: module
                .load_function("ycc_to_rgb")
                .map_err(driver("loading `ycc_to_rgb`"))?,
            vertical: module.load_function("vertical").map_err(driver("loading `vertical`"))?,
            horizontal: module
                .load_function("horizontal")
                .map_err(driver("loading `horizontal`"))?,
        })
    }

    /// Queues the three passes for `images` jobs on `stream`: `planes` → `decoded` → `tmp`
    /// → `out` (one tensor per image, `opts`' layout and element type, back to back).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn launch(
        &self,
        stream: &Arc<CudaStream>,
        opts: &TensorOptions,
        images: u32,
        largest_image: u64,
        widest_window: u32,
        planes: &CudaSlice<u8>,
        jobs: &CudaSlice<i64>,
        decoded: &mut CudaSlice<u8>,
        tmp: &mut CudaSlice<f32>,
        out: &mut CudaSlice<u8>,
    ) -> Result<()> {
        let (th, tw) = (opts.height as i32, opts.width as i32);
        let blocks = |n: u64| -> Result<u32> {
            u32::try_from(n.div_ceil(u64::from(THREADS)))
                .map_err(|_| Error::invalid("image too large for one kernel grid"))
        };
        let colour = LaunchConfig {
            grid_dim: (blocks(largest_image)?, images, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&self.ycc_to_rgb);
        launch.arg(planes).arg(jobs).arg(&mut *decoded);
        // SAFETY: the job table describes planes inside `planes` and images inside
        // `decoded` (the pipeline sizes both from the same jobs); the grid covers every image.
        unsafe { launch.launch(colour) }.map_err(driver("launching the colour conversion"))?;

        let vertical = LaunchConfig {
            grid_dim: (blocks(u64::from(widest_window) * u64::from(opts.height))?, images, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&self.vertical);
        launch.arg(&*decoded).arg(jobs).arg(&mut *tmp).arg(&th);
        // SAFETY: the job table describes windows inside `decoded` and offsets inside `tmp`
        // (the pipeline sizes both from the same jobs); the grid covers every window.
        unsafe { launch.launch(vertical) }.map_err(driver("launching the vertical pass"))?;

        let (chw, as_f32, mean, std) = match (opts.layout, opts.dtype) {
            (layout, DType::U8) => (layout == Layout::Chw, 0i32, [0f32; 3], [1f32; 3]),
            (layout, DType::F32 { mean, std }) => (layout == Layout::Chw, 1i32, mean, std),
        };
        let chw = i32::from(chw);
        let horizontal = LaunchConfig {
            grid_dim: (blocks(u64::from(opts.height) * u64::from(opts.width))?, images, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&self.horizontal);
        launch
            .arg(&*tmp)
            .arg(jobs)
            .arg(out)
            .arg(&th)
            .arg(&tw)
            .arg(&chw)
            .arg(&as_f32)
            .arg(&mean[0])
            .arg(&mean[1])
            .arg(&mean[2])
            .arg(&std[0])
            .arg(&std[1])
            .arg(&std[2]);
        // SAFETY: `out` holds `images` tensors of `opts` (the pipeline sizes it so).
        unsafe { launch.launch(horizontal) }.map_err(driver("launching the horizontal pass"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels compile wherever NVRTC is installed, with or without a device.
    #[test]
    fn the_kernels_compile() -> Result<()> {
        // SAFETY: this only tries to load the library (cudarc panics on first use of a
        // missing one).
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipping the kernel compilation test: no NVRTC library (libnvrtc) on this machine");
            return Ok(());
        }
        let ptx = ptx()?.to_src();
        for kernel in ["ycc_to_rgb", "vertical", "horizontal"] {
            assert!(
                ptx.contains(&format!(".entry {kernel}")),
                "{kernel} missing from the PTX"
            );
        }
        Ok(())
    }
}
