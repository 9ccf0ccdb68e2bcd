//! The NVIDIA GPU decoder (cargo feature `cuda`): nvJPEG batched decode, then resize,
//! center-crop, layout and normalization in kernels compiled at run time with NVRTC.
//!
//! Nothing CUDA is needed to build: the driver (`libcuda`), NVRTC (`libnvrtc`) and nvJPEG
//! (`libnvjpeg`) are loaded when a [`GpuDecoder`] is made, and a machine without them, or
//! without a device, gets an [`ErrorKind::Unsupported`] error naming what is missing.
//!
//! nvJPEG's hardware backend (the JPEG engines of A100 and H100) is used where the GPU has
//! one, its default backend otherwise. Rows the GPU does not take decode on the CPU
//! decoder, so the output is always complete and errors are worded the same way:
//! - PNG, anything not JPEG, and JPEGs whose header nvJPEG cannot read;
//! - JPEGs that are not 8-bit Huffman-coded (12-bit, arithmetic-coded, lossless), not
//!   baseline on the hardware backend (it decodes baseline only), coded as RGB rather than
//!   YCbCr, without three components (grayscale, CMYK) or subsampled 4:1:1 or 4:1:0;
//! - JPEGs that do not end with their end marker (cut short, or with bytes appended):
//!   the hardware decoder fills in a cut image where the CPU decoder refuses it;
//! - images above the pixel limit, or whose resize passes through more pixels than it
//!   (the CPU decoder refuses them, the first from the header);
//! - rows the GPU failed on: a failed batch is retried in halves down to single images
//!   first, so one bad image does not send its neighbours to the CPU.
//!   [`GpuDecoder::cpu_fallbacks`] counts these.
//!
//! nvJPEG decodes to Y, Cb and Cr planes; the chroma upsampling, the colour conversion and
//! the resize are the CPU decoder's arithmetic (see `kernels`). Only the inverse DCT is
//! nvJPEG's own (and the chroma of one edge column or row of some subsampled sizes, see
//! `kernels`), so tensors differ from the CPU's by a few levels at most.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use lake_sink::tensor::gpu::{GpuDecoder, GpuOptions};
//! use lake_sink::tensor::{TensorOptions, TensorSink};
//!
//! let gpu = GpuDecoder::new(GpuOptions::default())?;
//! let sink = TensorSink::new("image", TensorOptions::new(224, 224))?.with_decoder(Arc::new(gpu));
//! # Ok::<(), lake_sink::error::Error>(())
//! ```

mod jpeg_header;
mod kernels;
mod nvjpeg;
mod pipeline;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::CudaContext;
use rayon::prelude::*;

use self::jpeg_header::{ends_with_end_marker, frame_info};
use self::nvjpeg::{Backend, Library, Subsampling};
use self::pipeline::{Batching, GpuJpeg, Pipeline};
use super::decode::{ImageFormatKind, Tensor, decode_valid, detect_format, resize_pixels};
use super::decoder::BatchDecoder;
use super::options::TensorOptions;
use crate::error::{Error, ErrorKind, Result, RowError};

/// Settings of a [`GpuDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    /// The CUDA device ordinal.
    pub device: usize,
    /// Images per nvJPEG batch (128 by default; at most 65,535, a kernel grid's limit).
    pub batch_size: usize,
    /// Device bytes per batch (each image's Y, Cb and Cr planes and its RGB pixels, 4.5
    /// to 6 bytes a pixel; the resize's intermediate image, 12 bytes a pixel of its
    /// window's width times the tensor's height; and its tensor): a batch ends early rather
    /// than pass it, so that device memory follows the images' size (1 GiB by default;
    /// each of the two batches in flight has its own buffers).
    pub max_batch_bytes: u64,
    /// Use the GPU's JPEG engines where it has them (the default).
    pub hardware: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            device: 0,
            batch_size: 128,
            max_batch_bytes: 1 << 30,
            hardware: true,
        }
    }
}

/// The rows the GPU decoded, with their tensors, and the rows it could not.
type GpuOutcome = (Vec<(usize, Tensor)>, Vec<usize>);

/// The largest batch: images are the `y` dimension of the kernels' grids.
const MAX_BATCH_SIZE: usize = 65_535;

/// Decodes image BLOBs on an NVIDIA GPU (see the [module docs](self)).
pub struct GpuDecoder {
    name: String,
    options: GpuOptions,
    library: Arc<Library>,
    /// Decodes one batch at a time: the decoder states and buffers are not shared.
    pipeline: Mutex<Pipeline>,
    fallbacks: AtomicU64,
    on_gpu: AtomicU64,
}

impl fmt::Debug for GpuDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuDecoder")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

/// Whether `LAKEUNION_REQUIRE_GPU` is set: then a GPU decoder that cannot start is a
/// failure of the GPU tests and the tensor bench rather than a note (`scripts/gpu-check.sh`
/// sets it on the GPU machine, where a skip would hide a library the machine lacks).
pub fn gpu_required() -> bool {
    std::env::var_os("LAKEUNION_REQUIRE_GPU").is_some()
}

fn unsupported(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}

impl GpuDecoder {
    /// Opens the device and nvJPEG and compiles the kernels. Errors with
    /// [`ErrorKind::Unsupported`] when the machine has no CUDA driver, NVRTC, nvJPEG or
    /// device `options.device`.
    pub fn new(options: GpuOptions) -> Result<Self> {
        if options.batch_size == 0 || options.batch_size > MAX_BATCH_SIZE {
            return Err(Error::invalid(format!(
                "the GPU batch size must be 1 to {MAX_BATCH_SIZE}, not {}",
                options.batch_size
            )));
        }
        // SAFETY: these only try to load the libraries; nothing else runs without them
        // (cudarc panics on first use of a missing library, so this comes first).
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(unsupported("no CUDA driver library (libcuda) on this machine"));
        }
        // SAFETY: as above.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(unsupported(
                "no NVRTC library (libnvrtc) on this machine: the resize kernels are compiled with it",
            ));
        }
        let count = CudaContext::device_count().map_err(|e| unsupported(format!("CUDA driver: {e}")))?;
        if options.device >= usize::try_from(count).unwrap_or(0) {
            return Err(unsupported(format!(
                "no CUDA device {} ({count} present)",
                options.device
            )));
        }
        let ctx = CudaContext::new(options.device)
            .map_err(|e| unsupported(format!("CUDA device {}: {e}", options.device)))?;
        let library = Library::open(&ctx, options.hardware)?;
        let device_name = ctx.name().unwrap_or_else(|_| "unnamed device".into());
        let pipeline = Pipeline::new(ctx, &library)?;
        Ok(Self {
            name: format!(
                "cuda:{} ({device_name}, nvJPEG {:?} backend)",
                options.device,
                library.backend()
            ),
            options,
            library,
            pipeline: Mutex::new(pipeline),
            fallbacks: AtomicU64::new(0),
            on_gpu: AtomicU64::new(0),
        })
    }

    /// Rows the GPU took but could not finish (a batch it failed on), decoded on the CPU
    /// instead, since this decoder was made.
    pub fn cpu_fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Rows decoded on the GPU since this decoder was made (the others went to the CPU:
    /// see the module docs for which).
    pub fn gpu_rows(&self) -> u64 {
        self.on_gpu.load(Ordering::Relaxed)
    }

    /// The size and chroma subsampling of a JPEG the GPU takes, or `None` for a row the
    /// CPU decodes (see the module docs for which).
    fn gpu_layout(&self, bytes: &[u8], opts: &TensorOptions) -> Option<(u32, u32, Subsampling)> {
        if detect_format(bytes) != Some(ImageFormatKind::Jpeg) || !ends_with_end_marker(bytes) {
            return None;
        }
        let frame = frame_info(bytes)?;
        let coded = match self.library.backend() {
            Backend::Hardware => frame.is_baseline(),
            Backend::Default => frame.is_huffman_dct(),
        };
        if !coded || frame.precision != 8 || frame.rgb_coded {
            return None;
        }
        let info = self.library.image_info(bytes).ok()?;
        let subsampling = info.gpu_subsampling()?;
        within_limits(info.width, info.height, opts).then_some((info.width, info.height, subsampling))
    }

    /// Decodes `jpegs` on the GPU; a batch that fails is tried again in halves, down to
    /// single images. Returns the tensors made and the rows the GPU could not make.
    fn decode_on_gpu(&self, jpegs: Vec<GpuJpeg<'_>>, opts: &TensorOptions) -> Result<GpuOutcome> {
        let mut pipeline = self
            .pipeline
            .lock()
            .map_err(|_| Error::new(ErrorKind::External, "the GPU decoder panicked in an earlier call"))?;
        let mut batching = Batching {
            images: self.options.batch_size,
            bytes: self.options.max_batch_bytes,
        };
        let (mut done, mut pending) = (Vec::with_capacity(jpegs.len()), jpegs);
        loop {
            let mut failed = Vec::new();
            for (row, outcome) in pipeline.run(&pending, opts, batching) {
                match outcome {
                    Ok(tensor) => done.push((row, tensor)),
                    Err(_) => failed.push(row),
                }
            }
            if failed.is_empty() {
                return Ok((done, Vec::new()));
            }
            if batching.images == 1 {
                return Ok((done, failed));
            }
            batching.images = batching.images.div_ceil(2);
            failed.sort_unstable();
            pending.retain(|j| failed.binary_search(&j.row).is_ok());
        }
    }
}

/// Whether a `width x height` image is one the GPU may decode under `opts.max_pixels`: its
/// pixels and those its resize passes through (see [`resize_pixels`]) are within it. The
/// CPU decoder refuses the others, so that a row's outcome does not depend on the decoder.
fn within_limits(width: u32, height: u32, opts: &TensorOptions) -> bool {
    let pixels = u64::from(width) * u64::from(height);
    pixels > 0 && pixels <= opts.max_pixels && resize_pixels(width, height, opts) <= opts.max_pixels
}

impl BatchDecoder for GpuDecoder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn decode_batch(
        &self,
        images: &[Option<&[u8]>],
        opts: &TensorOptions,
        first_row: u64,
    ) -> Result<(Vec<Option<Tensor>>, Vec<RowError>)> {
        opts.validate()?;
        let mut tensors: Vec<Option<Tensor>> = vec![None; images.len()];
        let mut on_cpu: Vec<usize> = Vec::new();
        let mut on_gpu: Vec<GpuJpeg<'_>> = Vec::new();
        for (row, image) in images.iter().enumerate() {
            let Some(data) = image else { continue };
            match self.gpu_layout(data, opts) {
                Some((width, height, subsampling)) => on_gpu.push(GpuJpeg {
                    row,
                    data,
                    width,
                    height,
                    subsampling,
                }),
                None => on_cpu.push(row),
            }
        }
        if !on_gpu.is_empty() {
            let (tensors_made, failed) = self.decode_on_gpu(on_gpu, opts)?;
            self.on_gpu.fetch_add(tensors_made.len() as u64, Ordering::Relaxed);
            for (row, tensor) in tensors_made {
                tensors[row] = Some(tensor);
            }
            self.fallbacks.fetch_add(failed.len() as u64, Ordering::Relaxed);
            on_cpu.extend(failed);
        }
        on_cpu.sort_unstable();
        let decoded: Vec<_> = on_cpu
            .par_iter()
            .filter_map(|&row| images[row].map(|data| (row, decode_valid(data, opts))))
            .collect();
        let mut errors = Vec::new();
        for (row, outcome) in decoded {
            match outcome {
                Ok(tensor) => tensors[row] = Some(tensor),
                Err(failure) => {
                    let id = first_row + row as u64;
                    errors.push(RowError {
                        row: id,
                        column: None,
                        error: failure.into_error(Some(id)),
                    });
                }
            }
        }
        Ok((tensors, errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GPU decoder, or the reason this machine cannot make one (printed, and the GPU
    /// tests skip; they fail instead where [`gpu_required`]).
    fn device(options: GpuOptions) -> Option<GpuDecoder> {
        match GpuDecoder::new(options) {
            Ok(gpu) => Some(gpu),
            Err(e) if gpu_required() => {
                panic!("LAKEUNION_REQUIRE_GPU is set, and the GPU decoder cannot run: {e}")
            }
            Err(e) => {
                eprintln!("skipping the GPU decoder test: {e}");
                None
            }
        }
    }

    #[test]
    fn rows_past_the_pixel_limit_or_resizing_through_more_go_to_the_cpu() {
        // regression: only the decoded pixels were held to max_pixels; a 60000 x 4 JPEG
        // stretched to 224 x 224 resizes through 60000 x 224 = 13.4M pixels, which the CPU
        // decoder refuses and the GPU made a tensor of
        let opts = TensorOptions::new(224, 224)
            .with_resize(crate::tensor::Resize::Stretch)
            .with_max_pixels(1 << 20);
        assert!(within_limits(1000, 1000, &opts));
        assert!(!within_limits(1025, 1024, &opts), "decoded pixels past the limit");
        assert!(!within_limits(60_000, 4, &opts), "resize pixels past the limit");
        assert!(!within_limits(0, 4, &opts));
        // a center crop of the same image resizes a 4 x 4 window
        let crop = opts.with_resize(crate::tensor::Resize::ShorterSideThenCenterCrop);
        assert!(within_limits(60_000, 4, &crop));
    }

    #[test]
    fn without_a_device_the_error_says_what_is_missing() {
        if let Err(e) = GpuDecoder::new(GpuOptions::default()) {
            assert!(matches!(e.kind(), ErrorKind::Unsupported | ErrorKind::External), "{e}");
            assert!(!e.to_string().is_empty());
        }
        let zero = GpuDecoder::new(GpuOptions {
            batch_size: 0,
            ..GpuOptions::default()
        });
        assert!(matches!(zero, Err(e) if e.kind() == ErrorKind::InvalidArgument));
    }

    #[test]
    fn matches_the_cpu_decoder() -> Result<()> {
        // the hardware backend where the GPU has JPEG engines, and the default (hybrid)
        // one, which also takes progressive JPEGs
        for hardware in [true, false] {
            let Some(gpu) = device(GpuOptions {
                hardware,
                ..GpuOptions::default()
            }) else {
                return Ok(());
            };
            matches_the_cpu_decoder_on(&gpu)?;
            // the JPEGs the GPU takes did go to the GPU, under each option set: the seven
            // baseline ones of three components, and the progressive one on the default
            // backend
            let per_options = match gpu.library.backend() {
                Backend::Hardware => 7,
                Backend::Default => 8,
            };
            let options = super::super::testutil::gpu_comparison_options().len() as u64;
            assert_eq!(gpu.gpu_rows(), per_options * options, "{}", gpu.name());
        }
        Ok(())
    }

    fn matches_the_cpu_decoder_on(gpu: &GpuDecoder) -> Result<()> {
        let set = super::super::testutil::gpu_comparison_set()?;
        let rows: Vec<Option<&[u8]>> = set.iter().map(|(_, image)| image.as_deref()).collect();
        // every row's difference is printed before any is judged: one run on a GPU machine
        // shows them all
        eprintln!("{}", gpu.name());
        let mut too_far = Vec::new();
        for opts in super::super::testutil::gpu_comparison_options() {
            let (want, want_errors) = super::super::CpuDecoder.decode_batch(&rows, &opts, 5)?;
            let (got, got_errors) = gpu.decode_batch(&rows, &opts, 5)?;
            let rows_of = |e: &[RowError]| e.iter().map(|e| e.row).collect::<Vec<_>>();
            assert_eq!(rows_of(&got_errors), rows_of(&want_errors), "{opts:?}");
            assert_eq!(got.len(), want.len());
            for (row, (g, w)) in got.iter().zip(&want).enumerate() {
                match (g, w) {
                    (None, None) => {}
                    (Some(g), Some(w)) => {
                        let (max, mean) = super::super::testutil::diff_levels(g, w, &opts);
                        let (label, _) = &set[row];
                        eprintln!("row {row} ({label}), {opts:?}: max {max}, mean {mean:.3}");
                        if max > 3.0 {
                            too_far.push(format!("row {row} ({label}), {opts:?}: max {max}"));
                        }
                    }
                    _ => panic!("row {row}: the GPU and the CPU disagree on whether it decodes"),
                }
            }
        }
        assert!(too_far.is_empty(), "differ by more than 3 levels: {too_far:#?}");
        assert_eq!(
            gpu.cpu_fallbacks(),
            0,
            "{}: clean JPEGs fell back to the CPU",
            gpu.name()
        );
        Ok(())
    }

    #[test]
    fn a_bad_image_costs_only_its_own_row() -> Result<()> {
        let Some(gpu) = device(GpuOptions::default()) else {
            return Ok(());
        };
        let good = super::super::testutil::jpeg_rgb(&super::super::testutil::test_card(300, 200, 9), 90);
        // a baseline JPEG whose scan data is cut off: its header is fine, its decode is not
        let cut = good[..good.len() / 3].to_vec();
        let rows: Vec<Option<&[u8]>> = (0..40)
            .map(|i| Some(if i == 17 { &cut[..] } else { &good[..] }))
            .collect();
        let opts = TensorOptions::new(64, 64);
        let (got, _) = gpu.decode_batch(&rows, &opts, 0)?;
        let (want, _) = super::super::CpuDecoder.decode_batch(&rows, &opts, 0)?;
        assert_eq!(
            got.iter().filter(|t| t.is_some()).count(),
            want.iter().filter(|t| t.is_some()).count()
        );
        assert!(
            gpu.cpu_fallbacks() <= 1,
            "{} rows fell back for one bad image",
            gpu.cpu_fallbacks()
        );
        Ok(())
    }
}
