//! The decoder a [`TensorSink`](super::TensorSink) runs: the CPU one always, the NVIDIA GPU
//! one with the `cuda` feature. Both turn a batch of image BLOBs into tensors of the same
//! options and report failed rows the same way, so a sink can switch between them.

use std::fmt;

use super::decode::{Tensor, decode_batch_from};
use super::options::TensorOptions;
use crate::error::{Result, RowError};

/// Decodes a batch of image BLOBs into tensors.
///
/// Returns one output per input, in order (`None` for a null input and for a failed row),
/// and the failed rows' errors in row order; row ids count from `first_row`. Only invalid
/// options (or a decoder that cannot run at all) fail the whole call. A
/// [`TensorSink`](super::TensorSink) holds an implementation to this: an answer of another
/// length, a tensor or an error for a null input, a row both decoded and failed, and an
/// error given twice or for a row outside the batch fail the batch, and a non-null input
/// with neither a tensor nor an error becomes that row's error.
pub trait BatchDecoder: Send + Sync + fmt::Debug {
    /// What decodes, for reports (`"cpu"`, `"cuda:0 (NVIDIA H100 ...)"`).
    fn name(&self) -> String;

    /// Decodes `images`, whose first row has row id `first_row`.
    fn decode_batch(
        &self,
        images: &[Option<&[u8]>],
        opts: &TensorOptions,
        first_row: u64,
    ) -> Result<(Vec<Option<Tensor>>, Vec<RowError>)>;
}

/// The CPU decoder: the `image` crate (zune-jpeg for JPEG), parallel across cores with rayon.
///
/// ```
/// # use lake_sink::tensor::{BatchDecoder, CpuDecoder, TensorOptions};
/// let (tensors, errors) = CpuDecoder.decode_batch(&[None, Some(b"not an image")], &TensorOptions::new(2, 2), 10).unwrap();
/// assert!(tensors.iter().all(Option::is_none));
/// assert_eq!(errors[0].row, 11);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuDecoder;

impl BatchDecoder for CpuDecoder {
    fn name(&self) -> String {
        "cpu".into()
    }

    fn decode_batch(
        &self,
        images: &[Option<&[u8]>],
        opts: &TensorOptions,
        first_row: u64,
    ) -> Result<(Vec<Option<Tensor>>, Vec<RowError>)> {
        decode_batch_from(images, opts, first_row)
    }
}
