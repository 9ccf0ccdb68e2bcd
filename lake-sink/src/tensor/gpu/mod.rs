//! The NVIDIA GPU decoder (cargo feature `cuda`): nvJPEG batched decode, then resize,
//! center-crop, layout and normalization in kernels compiled at run time with NVRTC.
//!
//! Nothing CUDA is needed to build: the driver (`libcuda`), NVRTC (`libnvrtc`) and nvJPEG
//! (`libnvjpeg`) are loaded when a [`GpuDecoder`] is made, and a machine without them, or
//! without a device, gets an [`ErrorKind::Unsupported`] error naming what is missing.
//!
//! nvJPEG's hardware backend (the JPEG engines of A100 and H100) is used where the GPU has
//! one, its GPU-hybrid backend otherwise. Rows the GPU does not take decode on the CPU
//! decoder, so the output is always complete and errors are worded the same way: PNG,
//! anything not JPEG, JPEGs whose header nvJPEG cannot read, JPEGs without three components
//! (grayscale, CMYK), progressive JPEGs on the hardware backend (it decodes baseline only),
//! images above the pixel limit (the CPU decoder refuses them from the header), and every
//! row of a batch the GPU failed on. [`GpuDecoder::cpu_fallbacks`] counts the last kind.
//!
//! The resize matches the CPU decoder's arithmetic (see `kernels`); the decoded pixels
//! themselves come from a different JPEG decoder, so tensors differ from the CPU's by a few
//! levels at most.
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

mod kernels;
mod nvjpeg;
mod pipeline;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::CudaContext;
use rayon::prelude::*;

use self::nvjpeg::{Backend, Library};
use self::pipeline::{GpuJpeg, Pipeline};
use super::decode::{ImageFormatKind, Tensor, decode_valid, detect_format};
use super::decoder::BatchDecoder;
use super::options::TensorOptions;
use crate::error::{Error, ErrorKind, Result, RowError};

/// Settings of a [`GpuDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    /// The CUDA device ordinal.
    pub device: usize,
    /// Images per nvJPEG batch (128 by default).
    pub batch_size: usize,
    /// Use the GPU's JPEG engines where it has them (the default).
    pub hardware: bool,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            device: 0,
            batch_size: 128,
            hardware: true,
        }
    }
}

/// Decodes image BLOBs on an NVIDIA GPU (see the [module docs](self)).
pub struct GpuDecoder {
    name: String,
    options: GpuOptions,
    library: Arc<Library>,
    /// Decodes one batch at a time: the decoder states and buffers are not shared.
    pipeline: Mutex<Pipeline>,
    fallbacks: AtomicU64,
}

impl fmt::Debug for GpuDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuDecoder")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

fn unsupported(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}

impl GpuDecoder {
    /// Opens the device and nvJPEG and compiles the kernels. Errors with
    /// [`ErrorKind::Unsupported`] when the machine has no CUDA driver, NVRTC, nvJPEG or
    /// device `options.device`.
    pub fn new(options: GpuOptions) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(Error::invalid("the GPU batch size must be positive"));
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
        // nvJPEG works in the context current on the calling thread
        ctx.bind_to_thread()
            .map_err(|e| unsupported(format!("CUDA device {}: {e}", options.device)))?;
        let library = Library::open(options.hardware)?;
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
        })
    }

    /// Rows the GPU took but could not finish (a batch it failed on), decoded on the CPU
    /// instead, since this decoder was made.
    pub fn cpu_fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// The size of a JPEG the GPU takes, or `None` for a row the CPU decodes (see the
    /// module docs for which).
    fn gpu_size(&self, bytes: &[u8], opts: &TensorOptions) -> Option<(u32, u32)> {
        if detect_format(bytes) != Some(ImageFormatKind::Jpeg) {
            return None;
        }
        if self.library.backend() == Backend::Hardware && is_progressive(bytes) {
            return None;
        }
        let (components, width, height) = self.library.image_info(bytes).ok()?;
        let pixels = u64::from(width) * u64::from(height);
        (components == 3 && pixels > 0 && pixels <= opts.max_pixels).then_some((width, height))
    }
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
            match self.gpu_size(data, opts) {
                Some((width, height)) => on_gpu.push(GpuJpeg {
                    row,
                    data,
                    width,
                    height,
                }),
                None => on_cpu.push(row),
            }
        }
        if !on_gpu.is_empty() {
            let outcomes = self
                .pipeline
                .lock()
                .map_err(|_| Error::new(ErrorKind::External, "the GPU decoder panicked in an earlier call"))?
                .run(&on_gpu, opts, self.options.batch_size);
            for (row, outcome) in outcomes {
                match outcome {
                    Ok(tensor) => tensors[row] = Some(tensor),
                    Err(_) => {
                        self.fallbacks.fetch_add(1, Ordering::Relaxed);
                        on_cpu.push(row);
                    }
                }
            }
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

/// Whether a JPEG is progressive (its frame header is SOF2, SOF6, SOF10 or SOF14), found by
/// walking the marker segments up to the first frame header.
fn is_progressive(bytes: &[u8]) -> bool {
    let mut at = 2; // past SOI
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            // fill bytes before a marker
            0xFF => at += 1,
            // markers without a length
            0x01 | 0xD0..=0xD7 => at += 2,
            // start of scan before any frame header: not a valid JPEG, let the decoder say so
            0xDA | 0xD9 => return false,
            // frame headers (C4 DHT, C8 JPG and CC DAC share the range but are not frames)
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
            }
            _ => {
                let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
                at += 2 + len;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progressive_frames_are_found_by_their_marker() {
        // SOI, APP0 (length 4), then a frame header
        let frame = |sof: u8| vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, sof, 0x00, 0x08];
        assert!(!is_progressive(&frame(0xC0)));
        assert!(!is_progressive(&frame(0xC1)));
        assert!(is_progressive(&frame(0xC2)));
        // a DHT before the frame is skipped, not taken for one
        let mut dht = vec![0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x02];
        dht.extend([0xFF, 0xC2, 0x00, 0x08]);
        assert!(is_progressive(&dht));
        assert!(!is_progressive(&[0xFF, 0xD8]));
        assert!(!is_progressive(&[0xFF, 0xD8, 0x12, 0x34, 0x56]));
    }

    /// The GPU decoder, or the reason this machine cannot make one (printed, and the GPU
    /// tests skip).
    fn device() -> Option<GpuDecoder> {
        match GpuDecoder::new(GpuOptions::default()) {
            Ok(gpu) => Some(gpu),
            Err(e) => {
                eprintln!("skipping the GPU decoder test: {e}");
                None
            }
        }
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
    fn matches_the_cpu_decoder_within_three_levels() -> Result<()> {
        let Some(gpu) = device() else { return Ok(()) };
        let images = super::super::testutil::gpu_comparison_set()?;
        let rows: Vec<Option<&[u8]>> = images.iter().map(|i| i.as_deref()).collect();
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
                        let diff = super::super::testutil::max_abs_diff_levels(g, w, &opts);
                        assert!(diff <= 3.0, "row {row}, {opts:?}: differs by {diff} levels");
                    }
                    _ => panic!("row {row}: the GPU and the CPU disagree on whether it decodes"),
                }
            }
        }
        eprintln!("{}: {} rows fell back to the CPU", gpu.name(), gpu.cpu_fallbacks());
        Ok(())
    }
}
