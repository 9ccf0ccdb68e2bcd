//! Batches of JPEGs through the GPU: bitstreams staged in pinned host memory, nvJPEG's
//! batched decode to Y, Cb and Cr planes, the colour and resize kernels, and the tensors
//! copied back into pinned memory.
//!
//! Two slots, each with its own CUDA stream, decoder state and buffers, take batches in
//! turn: while one slot's batch runs on the GPU, the host stages and decodes (nvJPEG's host
//! part) the next batch into the other. A slot's buffers are reused only after its previous
//! batch has been collected.

use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaSlice, CudaStream, DevicePtrMut, DeviceRepr, DriverError, PinnedHostSlice, ValidAsZeroBits,
};

use super::kernels::{JOB_WORDS, Job, Kernels};
use super::nvjpeg::{DecoderState, Image, Library, MAX_COMPONENT, Subsampling};
use crate::error::{Error, ErrorKind, Result};
use crate::tensor::decode::{Tensor, TensorData, source_window};
use crate::tensor::options::{DType, TensorOptions};

/// Planes and decoded images start on this byte boundary in their buffers.
const IMAGE_ALIGN: u64 = 256;

/// One JPEG the GPU decodes: its row in the caller's batch, its bytes, its size and how
/// its chroma is subsampled.
#[derive(Debug, Clone, Copy)]
pub(super) struct GpuJpeg<'a> {
    pub row: usize,
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub subsampling: Subsampling,
}

/// A row's outcome: its tensor, or why the GPU could not make it (the caller decodes such
/// rows on the CPU, which also words any real decoding error).
pub(super) type RowOutcome = (usize, std::result::Result<Tensor, String>);

/// How JPEGs are grouped into batches: at most `images` per batch, and no more device
/// bytes (see [`batch_bytes`]) than `bytes` (a single larger image still makes a batch of
/// its own).
#[derive(Debug, Clone, Copy)]
pub(super) struct Batching {
    pub images: usize,
    pub bytes: u64,
}

impl Batching {
    /// The batches of `jpegs`, in order.
    fn split<'a, 'b>(&self, jpegs: &'b [GpuJpeg<'a>], opts: &TensorOptions) -> Vec<&'b [GpuJpeg<'a>]> {
        let mut batches = Vec::new();
        let (mut start, mut bytes) = (0, 0u64);
        for (i, j) in jpegs.iter().enumerate() {
            let size = batch_bytes(j, opts);
            if i > start && (i - start >= self.images.max(1) || bytes + size > self.bytes) {
                batches.push(&jpegs[start..i]);
                (start, bytes) = (i, 0);
            }
            bytes += size;
        }
        if start < jpegs.len() {
            batches.push(&jpegs[start..]);
        }
        batches
    }
}

/// The bytes a JPEG decodes to (interleaved RGB).
fn decoded_bytes(j: &GpuJpeg<'_>) -> u64 {
    u64::from(j.width) * u64::from(j.height) * 3
}

/// The bytes of a JPEG's Y plane and of each of its chroma planes.
fn plane_bytes(j: &GpuJpeg<'_>) -> (u64, u64) {
    let (chroma_width, chroma_height) = j.subsampling.chroma_size(j.width, j.height);
    (
        u64::from(j.width) * u64::from(j.height),
        u64::from(chroma_width) * u64::from(chroma_height),
    )
}

/// The `f32` values of the resize buffer of an image whose window (see [`source_window`])
/// is `window_width` wide: that width times the tensor's height, three channels (the
/// kernels scale the height first).
fn resize_values(window_width: u32, opts: &TensorOptions) -> u64 {
    u64::from(window_width) * u64::from(opts.height) * 3
}

/// The device bytes a JPEG takes in a batch's buffers: its Y, Cb and Cr planes, its RGB
/// image, its resize buffer and its tensor (alignment aside).
fn batch_bytes(j: &GpuJpeg<'_>, opts: &TensorOptions) -> u64 {
    let (luma, chroma) = plane_bytes(j);
    let tensor = opts.tensor_len() as u64 * opts.dtype.element_size() as u64;
    let (_, _, window_width, _) = source_window(j.width, j.height, opts);
    let resize = resize_values(window_width, opts) * size_of::<f32>() as u64;
    luma + 2 * chroma + decoded_bytes(j) + resize + tensor
}

fn driver(what: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| Error::new(ErrorKind::External, format!("CUDA {what}: {e}"))
}

/// One stream's state and buffers (grown on demand, never shrunk).
struct Slot {
    stream: Arc<CudaStream>,
    state: DecoderState,
    staging: Option<PinnedHostSlice<u8>>,
    /// The job table, staged in pinned memory so that its upload does not wait.
    job_words: Option<PinnedHostSlice<i64>>,
    planes: Option<CudaSlice<u8>>,
    decoded: Option<CudaSlice<u8>>,
    tmp: Option<CudaSlice<f32>>,
    jobs: Option<CudaSlice<i64>>,
    out: Option<CudaSlice<u8>>,
    host_out: Option<PinnedHostSlice<u8>>,
    /// The rows of the batch in flight, in the order of its tensors.
    in_flight: Vec<usize>,
}

/// The device, the library, the kernels and two slots.
pub(super) struct Pipeline {
    ctx: Arc<CudaContext>,
    kernels: Kernels,
    slots: [Slot; 2],
}

/// A device buffer of at least `len` elements. A bigger one replaces a smaller only once
/// it is allocated, so a failed allocation leaves the old buffer (and its size) in place.
fn device_buffer<'a, T: DeviceRepr + ValidAsZeroBits>(
    buffer: &'a mut Option<CudaSlice<T>>,
    stream: &Arc<CudaStream>,
    len: usize,
) -> Result<&'a mut CudaSlice<T>> {
    if buffer.as_ref().is_none_or(|b| b.len() < len) {
        let fresh = stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(driver("allocating device memory"))?;
        *buffer = Some(fresh);
    }
    buffer
        .as_mut()
        .ok_or_else(|| Error::new(ErrorKind::External, "device buffer vanished"))
}

/// A pinned host buffer of at least `len` elements, readable by the CPU at full speed (not
/// write-combined); replaced like [`device_buffer`].
fn pinned_buffer<'a, T: DeviceRepr>(
    buffer: &'a mut Option<PinnedHostSlice<T>>,
    ctx: &Arc<CudaContext>,
    len: usize,
) -> Result<&'a mut PinnedHostSlice<T>> {
    if buffer.as_ref().is_none_or(|b| b.len() < len) {
        // SAFETY: the memory is written (bitstreams, job tables, copies from the device)
        // before it is read.
        let fresh =
            unsafe { ctx.alloc_pinned_with_flags::<T>(len.max(1), 0) }.map_err(driver("allocating pinned memory"))?;
        *buffer = Some(fresh);
    }
    buffer
        .as_mut()
        .ok_or_else(|| Error::new(ErrorKind::External, "pinned buffer vanished"))
}

impl Pipeline {
    pub(super) fn new(ctx: Arc<CudaContext>, library: &Arc<Library>) -> Result<Self> {
        let kernels = Kernels::compile(&ctx)?;
        let slot = || -> Result<Slot> {
            Ok(Slot {
                stream: ctx.new_stream().map_err(driver("creating a stream"))?,
                state: library.new_state()?,
                staging: None,
                job_words: None,
                planes: None,
                decoded: None,
                tmp: None,
                jobs: None,
                out: None,
                host_out: None,
                in_flight: Vec::new(),
            })
        };
        let slots = [slot()?, slot()?];
        Ok(Self { ctx, kernels, slots })
    }

    /// Decodes `jpegs` in batches; one outcome per JPEG, in no set order.
    pub(super) fn run(&mut self, jpegs: &[GpuJpeg<'_>], opts: &TensorOptions, batching: Batching) -> Vec<RowOutcome> {
        let mut outcomes = Vec::with_capacity(jpegs.len());
        if let Err(e) = self.ctx.bind_to_thread() {
            let why = format!("CUDA context: {e}");
            outcomes.extend(jpegs.iter().map(|j| (j.row, Err(why.clone()))));
            return outcomes;
        }
        let Pipeline { ctx, kernels, slots } = self;
        for (turn, batch) in batching.split(jpegs, opts).into_iter().enumerate() {
            let slot = &mut slots[turn % 2];
            collect(slot, opts, &mut outcomes);
            if let Err(e) = enqueue(ctx, kernels, slot, batch, opts) {
                // work queued before the failure may still read the slot's buffers: let it
                // finish before the slot is used again (its own error, if any, is this one)
                let _ = slot.stream.synchronize();
                slot.in_flight.clear();
                let why = e.to_string();
                outcomes.extend(batch.iter().map(|j| (j.row, Err(why.clone()))));
            }
        }
        for slot in slots.iter_mut() {
            collect(slot, opts, &mut outcomes);
        }
        outcomes
    }
}

/// Stages, decodes and resizes one batch on `slot`'s stream, and queues the copy back.
fn enqueue(
    ctx: &Arc<CudaContext>,
    kernels: &Kernels,
    slot: &mut Slot,
    batch: &[GpuJpeg<'_>],
    opts: &TensorOptions,
) -> Result<()> {
    let n = batch.len();
    let tensor_bytes = opts.tensor_len() * opts.dtype.element_size();
    let stream = slot.stream.clone();

    // the bitstreams, back to back in pinned memory
    let total: usize = batch.iter().map(|j| j.data.len()).sum();
    let staging = pinned_buffer(&mut slot.staging, ctx, total)?;
    {
        let host = staging.as_mut_slice().map_err(driver("mapping pinned memory"))?;
        let mut at = 0;
        for j in batch {
            host[at..at + j.data.len()].copy_from_slice(j.data);
            at += j.data.len();
        }
    }

    // where each image's planes and pixels go, and which window of it scales
    let mut jobs = Vec::with_capacity(n);
    let (mut planes_len, mut decoded_len, mut tmp_len) = (0u64, 0u64, 0u64);
    let (mut largest, mut widest) = (0u64, 0u32);
    for j in batch {
        let (x0, y0, width, height) = source_window(j.width, j.height, opts);
        let (chroma_width, chroma_height) = j.subsampling.chroma_size(j.width, j.height);
        let (luma_bytes, chroma_bytes) = plane_bytes(j);
        let y_offset = planes_len;
        let cb_offset = y_offset + luma_bytes.next_multiple_of(IMAGE_ALIGN);
        let cr_offset = cb_offset + chroma_bytes.next_multiple_of(IMAGE_ALIGN);
        planes_len = cr_offset + chroma_bytes.next_multiple_of(IMAGE_ALIGN);
        let job = Job {
            image_width: j.width,
            image_height: j.height,
            plane_offsets: [y_offset, cb_offset, cr_offset],
            chroma_width,
            chroma_height,
            horizontal: j.subsampling.horizontal,
            vertical: j.subsampling.vertical,
            decoded_offset: decoded_len,
            pitch: j.width * 3,
            x0,
            y0,
            width,
            height,
            tmp_offset: tmp_len,
        };
        decoded_len += decoded_bytes(j).next_multiple_of(IMAGE_ALIGN);
        tmp_len += resize_values(width, opts);
        largest = largest.max(luma_bytes);
        widest = widest.max(width);
        jobs.push(job);
    }
    let too_big = |_| Error::invalid("batch too large for this platform");
    let planes = device_buffer(&mut slot.planes, &stream, usize::try_from(planes_len).map_err(too_big)?)?;
    {
        // nvJPEG writes the Y, Cb and Cr planes here, on this stream
        let (base, _written) = planes.device_ptr_mut(&stream);
        let mut images: Vec<Image> = jobs
            .iter()
            .map(|job| {
                let mut image = Image {
                    channel: [std::ptr::null_mut(); MAX_COMPONENT],
                    pitch: [0; MAX_COMPONENT],
                };
                for (c, offset) in job.plane_offsets.iter().enumerate() {
                    image.channel[c] = (base + offset) as *mut u8;
                }
                image.pitch[0] = job.image_width as usize;
                image.pitch[1] = job.chroma_width as usize;
                image.pitch[2] = job.chroma_width as usize;
                image
            })
            .collect();
        let host = staging.as_slice().map_err(driver("mapping pinned memory"))?;
        let mut data = Vec::with_capacity(n);
        let mut at = 0;
        for j in batch {
            data.push(&host[at..at + j.data.len()]);
            at += j.data.len();
        }
        // SAFETY: every plane lies inside `planes`, sized from the same jobs (the chroma
        // planes' size is the one nvJPEG reported, see `ImageInfo::gpu_subsampling`), which
        // the slot keeps until the batch is collected; `data` lives through the call.
        unsafe { slot.state.decode_batched(&data, &mut images, stream.cu_stream())? };
    }

    let words = pinned_buffer(&mut slot.job_words, ctx, n * JOB_WORDS)?;
    {
        let host = words.as_mut_slice().map_err(driver("mapping pinned memory"))?;
        for (row, job) in host.chunks_exact_mut(JOB_WORDS).zip(&jobs) {
            row.copy_from_slice(&job.words());
        }
    }
    let job_table = device_buffer(&mut slot.jobs, &stream, n * JOB_WORDS)?;
    // exactly this batch's rows (the pinned buffer may be longer); the slot is not written
    // again before the stream has run the copy (see `collect`)
    let host = words.as_slice().map_err(driver("mapping pinned memory"))?;
    stream
        .memcpy_htod(&host[..n * JOB_WORDS], job_table)
        .map_err(driver("copying the job table"))?;
    device_buffer(
        &mut slot.decoded,
        &stream,
        usize::try_from(decoded_len).map_err(too_big)?,
    )?;
    device_buffer(&mut slot.tmp, &stream, usize::try_from(tmp_len).map_err(too_big)?)?;
    device_buffer(&mut slot.out, &stream, n * tensor_bytes)?;
    let images = u32::try_from(n).map_err(too_big)?;
    let (Some(planes), Some(job_table), Some(decoded), Some(tmp), Some(out)) = (
        slot.planes.as_ref(),
        slot.jobs.as_ref(),
        slot.decoded.as_mut(),
        slot.tmp.as_mut(),
        slot.out.as_mut(),
    ) else {
        return Err(Error::new(ErrorKind::External, "device buffers vanished"));
    };
    kernels.launch(
        &stream, opts, images, largest, widest, planes, job_table, decoded, tmp, out,
    )?;

    let host_out = pinned_buffer(&mut slot.host_out, ctx, n * tensor_bytes)?;
    let out = slot
        .out
        .as_ref()
        .ok_or_else(|| Error::new(ErrorKind::External, "device buffer vanished"))?;
    // a copy is as long as its destination: give it exactly this batch's tensors (read
    // only after `collect` has synchronized the stream)
    let host = host_out.as_mut_slice().map_err(driver("mapping pinned memory"))?;
    stream
        .memcpy_dtoh(&out.slice(0..n * tensor_bytes), &mut host[..n * tensor_bytes])
        .map_err(driver("copying tensors back"))?;
    slot.in_flight = batch.iter().map(|j| j.row).collect();
    Ok(())
}

/// Waits for `slot`'s batch in flight, if any, and turns its bytes into tensors.
fn collect(slot: &mut Slot, opts: &TensorOptions, outcomes: &mut Vec<RowOutcome>) {
    let rows = std::mem::take(&mut slot.in_flight);
    if rows.is_empty() {
        return;
    }
    let fail = |outcomes: &mut Vec<RowOutcome>, why: String| {
        outcomes.extend(rows.iter().map(|&r| (r, Err(why.clone()))));
    };
    if let Err(e) = slot.stream.synchronize() {
        // an asynchronous failure (a bad bitstream found on the device, a fault) spoils
        // the whole batch: its rows go to the CPU
        return fail(outcomes, format!("CUDA batch failed: {e}"));
    }
    let Some(host) = slot.host_out.as_ref() else {
        return fail(outcomes, "pinned buffer vanished".into());
    };
    let bytes = match host.as_slice() {
        Ok(b) => b,
        Err(e) => return fail(outcomes, format!("CUDA pinned memory: {e}")),
    };
    let tensor_bytes = opts.tensor_len() * opts.dtype.element_size();
    for (i, &row) in rows.iter().enumerate() {
        let raw = &bytes[i * tensor_bytes..(i + 1) * tensor_bytes];
        let data = match opts.dtype {
            DType::U8 => TensorData::U8(raw.to_vec()),
            DType::F32 { .. } => TensorData::F32(
                raw.chunks_exact(4)
                    .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
        };
        outcomes.push((row, Ok(Tensor::with_data(opts, data))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_end_at_the_image_count_or_the_byte_budget() {
        let data = [0u8; 4];
        // 100 x 100 4:2:0 images take 46,203 bytes each for 1 x 1 tensors (15,000 in
        // planes, 30,000 in RGB, 1,200 in the resize buffer, 3 in the tensor); the fourth
        // one is 4x bigger
        let opts = TensorOptions::new(1, 1);
        let jpegs: Vec<GpuJpeg<'_>> = (0..6)
            .map(|row| GpuJpeg {
                row,
                data: &data,
                width: if row == 3 { 200 } else { 100 },
                height: if row == 3 { 200 } else { 100 },
                subsampling: Subsampling {
                    horizontal: 2,
                    vertical: 2,
                },
            })
            .collect();
        let sizes = |b: Batching| {
            b.split(&jpegs, &opts)
                .iter()
                .map(|batch| batch.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sizes(Batching {
                images: 4,
                bytes: u64::MAX
            }),
            vec![4, 2]
        );
        assert_eq!(
            sizes(Batching {
                images: 128,
                bytes: 150_000
            }),
            vec![3, 1, 2],
            "the big image starts a batch of its own"
        );
        assert_eq!(
            sizes(Batching {
                images: 128,
                bytes: 100_000
            }),
            vec![2, 1, 1, 2],
            "planes count as well as the RGB image"
        );
        assert_eq!(sizes(Batching { images: 1, bytes: 1 }), vec![1; 6]);
        assert!(Batching { images: 8, bytes: 8 }.split(&[], &opts).is_empty());
    }

    #[test]
    fn the_resize_buffer_counts_against_the_byte_budget() {
        // regression: a 4000 x 8 JPEG stretched to 224 x 224 decodes to 144,000 bytes but
        // resizes through 4000 x 224 x 3 f32s (10.75 MB): six of them made one batch of a
        // 1 MiB budget and 64 MB of device memory
        let data = [0u8; 4];
        let jpegs: Vec<GpuJpeg<'_>> = (0..6)
            .map(|row| GpuJpeg {
                row,
                data: &data,
                width: 4000,
                height: 8,
                subsampling: Subsampling {
                    horizontal: 2,
                    vertical: 2,
                },
            })
            .collect();
        let opts = TensorOptions::new(224, 224).with_resize(crate::tensor::options::Resize::Stretch);
        let batching = Batching {
            images: 128,
            bytes: 1 << 20,
        };
        let sizes: Vec<usize> = batching.split(&jpegs, &opts).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![1; 6]);
        assert_eq!(batch_bytes(&jpegs[0], &opts), 144_000 + 4000 * 224 * 12 + 224 * 224 * 3);
    }
}
