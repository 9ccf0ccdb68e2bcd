//! The resize, crop and layout kernels, compiled at run time with NVRTC.
//!
//! They compute what the CPU decoder computes with the `image` crate's
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
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use crate::error::{Error, ErrorKind, Result};
use crate::tensor::options::{DType, Layout, TensorOptions};

/// Entries per image in the job table (see [`Job`]).
pub(super) const JOB_WORDS: usize = 8;
const THREADS: u32 = 256;

const SOURCE: &str = r#"
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

// jobs[8 * image]: decoded byte offset, pitch, x0, y0, window width, window height,
// offset in tmp (floats), unused.
extern "C" __global__ void vertical(const unsigned char* decoded, const long long* jobs, float* tmp, int th) {
    const long long* j = jobs + 8LL * blockIdx.y;
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
    const long long* j = jobs + 8LL * blockIdx.y;
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

/// One image of a batch: where its decoded pixels are and which window scales.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    /// Byte offset of the decoded interleaved RGB image in the batch's decode buffer.
    pub decoded_offset: u64,
    /// Bytes per decoded row.
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
    /// The job table row the kernels read.
    pub(super) fn words(&self) -> [i64; JOB_WORDS] {
        [
            self.decoded_offset as i64,
            i64::from(self.pitch),
            i64::from(self.x0),
            i64::from(self.y0),
            i64::from(self.width),
            i64::from(self.height),
            self.tmp_offset as i64,
            0,
        ]
    }
}

/// The compiled kernels.
#[derive(Debug)]
pub(super) struct Kernels {
    vertical: CudaFunction,
    horizontal: CudaFunction,
}

fn driver(what: &str) -> impl Fn(cudarc::driver::DriverError) -> Error + '_ {
    move |e| Error::new(ErrorKind::External, format!("CUDA {what}: {e}"))
}

impl Kernels {
    /// Compiles the kernels for the context's device and loads them.
    pub(super) fn compile(ctx: &Arc<CudaContext>) -> Result<Self> {
        let opts = CompileOptions {
            fmad: Some(false),
            prec_div: Some(true),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(SOURCE, opts).map_err(|e| {
            Error::new(
                ErrorKind::External,
                format!("NVRTC could not compile the resize kernels: {e}"),
            )
        })?;
        let module = ctx.load_module(ptx).map_err(driver("loading the resize kernels"))?;
        Ok(Self {
            vertical: module.load_function("vertical").map_err(driver("loading `vertical`"))?,
            horizontal: module
                .load_function("horizontal")
                .map_err(driver("loading `horizontal`"))?,
        })
    }

    /// Queues both passes for `images` jobs on `stream`: `decoded` → `tmp` → `out` (one
    /// tensor per image, `opts`' layout and element type, back to back).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn launch(
        &self,
        stream: &Arc<CudaStream>,
        opts: &TensorOptions,
        images: u32,
        widest_window: u32,
        decoded: &CudaSlice<u8>,
        jobs: &CudaSlice<i64>,
        tmp: &mut CudaSlice<f32>,
        out: &mut CudaSlice<u8>,
    ) -> Result<()> {
        let (th, tw) = (opts.height as i32, opts.width as i32);
        let blocks = |n: u64| -> Result<u32> {
            u32::try_from(n.div_ceil(u64::from(THREADS)))
                .map_err(|_| Error::invalid("image too large for one kernel grid"))
        };
        let vertical = LaunchConfig {
            grid_dim: (blocks(u64::from(widest_window) * u64::from(opts.height))?, images, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut launch = stream.launch_builder(&self.vertical);
        launch.arg(decoded).arg(jobs).arg(&mut *tmp).arg(&th);
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
