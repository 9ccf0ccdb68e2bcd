//! The slice of nvJPEG the GPU decoder uses, loaded at run time with `libloading`: no CUDA
//! toolkit is needed to build, and a machine without `libnvjpeg` gets a clear error.
//!
//! Declarations follow `nvjpeg.h` (CUDA 12): opaque handles, `nvjpegImage_t` with four
//! channel pointers and pitches, the backend and output-format enums as `int`.

use std::ffi::{c_int, c_uint, c_void};
use std::sync::Arc;

use cudarc::driver::CudaContext;
use cudarc::driver::sys::CUstream;

use crate::error::{Error, ErrorKind, Result};

/// Library names tried in order.
const LIBRARY_NAMES: [&str; 4] = ["libnvjpeg.so.12", "libnvjpeg.so.13", "libnvjpeg.so", "libnvjpeg.so.11"];

/// `NVJPEG_MAX_COMPONENT`.
pub(super) const MAX_COMPONENT: usize = 4;

/// `nvjpegBackend_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub(super) enum Backend {
    /// `NVJPEG_BACKEND_DEFAULT`: the library picks (GPU-hybrid for batches).
    Default = 0,
    /// `NVJPEG_BACKEND_HARDWARE`: the GPU's JPEG engines (A100, H100), baseline JPEG only.
    Hardware = 3,
}

/// `NVJPEG_OUTPUT_YUV`: the Y, Cb and Cr planes as coded, chroma at its own resolution.
/// The decoder's own conversion to RGB upsamples chroma its own way, which differs from
/// the CPU decoder's by up to 25 levels at colour edges (seen on an H100); the pipeline
/// upsamples and converts as the CPU decoder does instead (see `kernels`).
const OUTPUT_YUV: c_int = 1;

/// `nvjpegImage_t`: where a decoded image goes (device pointers).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct Image {
    pub channel: [*mut u8; MAX_COMPONENT],
    pub pitch: [usize; MAX_COMPONENT],
}

type Status = c_int;
type Handle = *mut c_void;
type State = *mut c_void;

type CreateEx = unsafe extern "C" fn(c_int, *mut c_void, *mut c_void, c_uint, *mut Handle) -> Status;
type Destroy = unsafe extern "C" fn(Handle) -> Status;
type StateCreate = unsafe extern "C" fn(Handle, *mut State) -> Status;
type StateDestroy = unsafe extern "C" fn(State) -> Status;
type GetImageInfo =
    unsafe extern "C" fn(Handle, *const u8, usize, *mut c_int, *mut c_int, *mut c_int, *mut c_int) -> Status;
type BatchedInitialize = unsafe extern "C" fn(Handle, State, c_int, c_int, c_int) -> Status;
type DecodeBatched =
    unsafe extern "C" fn(Handle, State, *const *const u8, *const usize, *mut Image, CUstream) -> Status;

/// The loaded library's entry points.
struct Api {
    create_ex: CreateEx,
    destroy: Destroy,
    state_create: StateCreate,
    state_destroy: StateDestroy,
    get_image_info: GetImageInfo,
    batched_initialize: BatchedInitialize,
    decode_batched: DecodeBatched,
    /// Keeps the entry points valid.
    _library: libloading::Library,
}

/// What an nvJPEG status code means (`nvjpegStatus_t`).
fn status_name(status: Status) -> &'static str {
    match status {
        1 => "NOT_INITIALIZED",
        2 => "INVALID_PARAMETER",
        3 => "BAD_JPEG",
        4 => "JPEG_NOT_SUPPORTED",
        5 => "ALLOCATOR_FAILURE",
        6 => "EXECUTION_FAILED",
        7 => "ARCH_MISMATCH",
        8 => "INTERNAL_ERROR",
        9 => "IMPLEMENTATION_NOT_SUPPORTED",
        10 => "INCOMPLETE_BITSTREAM",
        _ => "unknown status",
    }
}

fn check(status: Status, what: &str) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::External,
            format!("nvJPEG {what} failed: {} ({status})", status_name(status)),
        ))
    }
}

/// How a JPEG's chroma is subsampled: each chroma plane is `width / horizontal` by
/// `height / vertical` pixels, rounded up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Subsampling {
    pub horizontal: u32,
    pub vertical: u32,
}

impl Subsampling {
    /// The size of a chroma plane of a `width` x `height` image.
    pub(super) fn chroma_size(&self, width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(self.horizontal), height.div_ceil(self.vertical))
    }
}

/// What a JPEG header says, as nvJPEG reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ImageInfo {
    pub components: u32,
    /// `nvjpegChromaSubsampling_t`.
    pub subsampling: i32,
    pub width: u32,
    pub height: u32,
    /// The size (width, height) of the Cb and the Cr plane, as nvJPEG writes them.
    pub chroma_planes: [(u32, u32); 2],
}

impl ImageInfo {
    /// The subsampling of a three-component JPEG the GPU takes: 4:4:4, 4:2:2, 4:2:0 or
    /// 4:4:0 (`nvjpegChromaSubsampling_t` 0 to 3), with both chroma planes of the size that
    /// implies. `None` for anything else: the hardware backend refuses 4:1:1 and 4:1:0, the
    /// upsampling kernel doubles at most, and grayscale and unknown layouts go to the CPU.
    pub(super) fn gpu_subsampling(&self) -> Option<Subsampling> {
        if self.components != 3 {
            return None;
        }
        let (horizontal, vertical) = match self.subsampling {
            0 => (1, 1),
            1 => (2, 1),
            2 => (2, 2),
            3 => (1, 2),
            _ => return None,
        };
        let subsampling = Subsampling { horizontal, vertical };
        let implied = subsampling.chroma_size(self.width, self.height);
        // both planes: a file may sample Cb and Cr differently
        let planes_fit = self.chroma_planes.iter().all(|&plane| plane == implied);
        planes_fit.then_some(subsampling)
    }
}

/// An nvJPEG library handle with one backend, made in (and destroyed in) one CUDA context.
pub(super) struct Library {
    api: Api,
    handle: Handle,
    backend: Backend,
    /// Handles and states belong to the context current when they were made: it is made
    /// current again to destroy them.
    ctx: Arc<CudaContext>,
}

// SAFETY: an nvJPEG handle may be used from any thread (the library documents handles as
// thread-safe; decoder states are not, and `DecoderState` is used under the decoder's lock).
unsafe impl Send for Library {}
unsafe impl Sync for Library {}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("nvjpeg::Library")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Library {
    /// Loads libnvjpeg and creates a handle in `ctx` (made current on this thread): the
    /// hardware backend where `hardware` asks for it and the GPU has JPEG engines, else the
    /// default one.
    pub(super) fn open(ctx: &Arc<CudaContext>, hardware: bool) -> Result<Arc<Self>> {
        ctx.bind_to_thread()
            .map_err(|e| Error::new(ErrorKind::Unsupported, format!("CUDA context: {e}")))?;
        let api = load()?;
        let mut tried = Vec::new();
        let backends: &[Backend] = if hardware {
            &[Backend::Hardware, Backend::Default]
        } else {
            &[Backend::Default]
        };
        for &backend in backends {
            let mut handle: Handle = std::ptr::null_mut();
            // SAFETY: null allocators select nvJPEG's own; `handle` is an out pointer.
            let status = unsafe {
                (api.create_ex)(
                    backend as c_int,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    0,
                    &mut handle,
                )
            };
            if status == 0 && !handle.is_null() {
                return Ok(Arc::new(Self {
                    api,
                    handle,
                    backend,
                    ctx: ctx.clone(),
                }));
            }
            tried.push(format!("{backend:?}: {}", status_name(status)));
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            format!("nvJPEG could not create a handle ({})", tried.join(", ")),
        ))
    }

    /// The backend the handle decodes with.
    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// Components, chroma subsampling and size of a JPEG, from its header.
    pub(super) fn image_info(&self, data: &[u8]) -> Result<ImageInfo> {
        let mut components: c_int = 0;
        let mut subsampling: c_int = 0;
        let mut widths = [0 as c_int; MAX_COMPONENT];
        let mut heights = [0 as c_int; MAX_COMPONENT];
        // SAFETY: `data` is valid for its length; the arrays hold MAX_COMPONENT entries.
        let status = unsafe {
            (self.api.get_image_info)(
                self.handle,
                data.as_ptr(),
                data.len(),
                &mut components,
                &mut subsampling,
                widths.as_mut_ptr(),
                heights.as_mut_ptr(),
            )
        };
        check(status, "reading a header")?;
        let dim = |v: c_int| u32::try_from(v).unwrap_or(0);
        Ok(ImageInfo {
            components: dim(components),
            subsampling,
            width: dim(widths[0]),
            height: dim(heights[0]),
            chroma_planes: [(dim(widths[1]), dim(heights[1])), (dim(widths[2]), dim(heights[2]))],
        })
    }

    /// A decoder state (one per stream: states are not shared between concurrent decodes).
    pub(super) fn new_state(self: &Arc<Self>) -> Result<DecoderState> {
        let mut state: State = std::ptr::null_mut();
        // SAFETY: `state` is an out pointer for a handle that lives as long as `self`.
        check(
            unsafe { (self.api.state_create)(self.handle, &mut state) },
            "creating a state",
        )?;
        Ok(DecoderState {
            library: self.clone(),
            state,
        })
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // the handle belongs to its context (nothing to do about a failure in a destructor)
        let _ = self.ctx.bind_to_thread();
        // SAFETY: the handle came from nvjpegCreateEx and every state holding it is gone
        // (each keeps the library alive).
        unsafe { (self.api.destroy)(self.handle) };
    }
}

/// One decoder state: decodes a batch at a time on one stream.
pub(super) struct DecoderState {
    library: Arc<Library>,
    state: State,
}

// SAFETY: a state is used by one thread at a time (the decoder's lock).
unsafe impl Send for DecoderState {}

impl DecoderState {
    /// Decodes `data[i]` (host bitstreams) into `images[i]` as planar Y, Cb and Cr
    /// (`channel[0..3]`, each plane `pitch[c]` bytes by its component's height), on
    /// `stream`. The host side of the decode runs in this call; the device side is queued
    /// on the stream.
    ///
    /// # Safety
    ///
    /// Every `images[i].channel[c]` (c < 3) must point to device memory of `pitch[c]` times
    /// the component's height bytes, `pitch[c]` at least the component's width, that stays
    /// allocated until the stream has run the decode; `data` must stay valid until this
    /// call returns.
    pub(super) unsafe fn decode_batched(
        &mut self,
        data: &[&[u8]],
        images: &mut [Image],
        stream: CUstream,
    ) -> Result<()> {
        if data.len() != images.len() {
            return Err(Error::invalid(format!(
                "{} bitstreams for {} output images",
                data.len(),
                images.len()
            )));
        }
        if data.is_empty() {
            return Ok(());
        }
        let n = c_int::try_from(data.len()).map_err(|_| Error::invalid("batch too large for nvJPEG"))?;
        let api = &self.library.api;
        let handle = self.library.handle;
        // SAFETY: handle and state are live; one host thread decodes.
        check(
            unsafe { (api.batched_initialize)(handle, self.state, n, 1, OUTPUT_YUV) },
            "initializing a batch",
        )?;
        let pointers: Vec<*const u8> = data.iter().map(|d| d.as_ptr()).collect();
        let lengths: Vec<usize> = data.iter().map(|d| d.len()).collect();
        // SAFETY: the pointer and length arrays hold `n` entries that outlive the call; the
        // caller guarantees the device buffers.
        check(
            unsafe {
                (api.decode_batched)(
                    handle,
                    self.state,
                    pointers.as_ptr(),
                    lengths.as_ptr(),
                    images.as_mut_ptr(),
                    stream,
                )
            },
            "decoding a batch",
        )
    }
}

impl Drop for DecoderState {
    fn drop(&mut self) {
        let _ = self.library.ctx.bind_to_thread();
        // SAFETY: the state came from nvjpegJpegStateCreate and its handle is still alive.
        unsafe { (self.library.api.state_destroy)(self.state) };
    }
}

fn load() -> Result<Api> {
    let mut failures = Vec::new();
    for name in LIBRARY_NAMES {
        // SAFETY: loading libnvjpeg runs its initializers, which have no preconditions.
        match unsafe { libloading::Library::new(name) } {
            Ok(library) => return entry_points(library, name),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        format!("the nvJPEG library is not installed ({})", failures.join("; ")),
    ))
}

fn entry_points(library: libloading::Library, name: &str) -> Result<Api> {
    fn symbol<T: Copy>(library: &libloading::Library, library_name: &str, symbol: &str) -> Result<T> {
        // SAFETY: the type `T` is the C signature `nvjpeg.h` declares for `symbol`.
        unsafe { library.get::<T>(symbol.as_bytes()) }
            .map(|s| *s)
            .map_err(|e| Error::new(ErrorKind::Unsupported, format!("{library_name} lacks {symbol}: {e}")))
    }
    Ok(Api {
        create_ex: symbol(&library, name, "nvjpegCreateEx")?,
        destroy: symbol(&library, name, "nvjpegDestroy")?,
        state_create: symbol(&library, name, "nvjpegJpegStateCreate")?,
        state_destroy: symbol(&library, name, "nvjpegJpegStateDestroy")?,
        get_image_info: symbol(&library, name, "nvjpegGetImageInfo")?,
        batched_initialize: symbol(&library, name, "nvjpegDecodeBatchedInitialize")?,
        decode_batched: symbol(&library, name, "nvjpegDecodeBatched")?,
        _library: library,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(subsampling: i32, chroma: (u32, u32)) -> ImageInfo {
        ImageInfo {
            components: 3,
            subsampling,
            width: 500,
            height: 375,
            chroma_planes: [chroma, chroma],
        }
    }

    #[test]
    fn the_gpu_takes_the_subsamplings_its_kernels_upsample() {
        let factors = |i: ImageInfo| i.gpu_subsampling().map(|s| (s.horizontal, s.vertical));
        assert_eq!(factors(info(0, (500, 375))), Some((1, 1)));
        assert_eq!(factors(info(1, (250, 375))), Some((2, 1)));
        assert_eq!(factors(info(2, (250, 188))), Some((2, 2)));
        assert_eq!(factors(info(3, (500, 188))), Some((1, 2)));
        // 4:1:1, 4:1:0, grayscale, unknown
        for other in [4, 5, 6, 7, -1] {
            assert_eq!(factors(info(other, (125, 375))), None, "{other}");
        }
        // chroma planes of another size than the layout implies (padded, say)
        assert_eq!(factors(info(2, (256, 192))), None);
        // Cb and Cr sampled differently (Cb 1x1, Cr 1x2 under a 2x2 luma): the pipeline
        // sizes both planes alike, so nvJPEG would write past the Cr plane
        let mixed = ImageInfo {
            chroma_planes: [(250, 188), (250, 375)],
            ..info(2, (250, 188))
        };
        assert_eq!(factors(mixed), None);
        assert_eq!(
            factors(ImageInfo {
                components: 1,
                ..info(0, (500, 375))
            }),
            None
        );
    }
}
