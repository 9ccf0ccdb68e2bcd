//! Walking a buffer of concatenated batches (a segment file or a fetch response).

use std::ops::Range;

use crate::error::Result;

use super::header::{BatchHeader, parse_header_at};

/// Iterates the batches of a buffer of concatenated batches, yielding each checked header
/// (CRC included) with the byte range of its batch, and stopping at the end of the buffer.
///
/// A truncated final batch yields one error of kind `Corrupt` whose message says
/// "truncated" and names the batch's byte position (see [`BatchIter::position`]); any
/// error ends the iteration.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    /// Iterates the batches of `bytes`, from its first byte.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            failed: false,
        }
    }

    /// The byte position of the next batch: after an error, where the bad batch starts,
    /// so `&bytes[..position()]` is the prefix of whole, valid batches.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Result<(BatchHeader, Range<usize>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        match parse_header_at(self.bytes, self.pos) {
            Ok(header) => {
                let range = self.pos..self.pos + header.size_in_bytes();
                self.pos = range.end;
                Some(Ok((header, range)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for BatchIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::record::testdata::{changes, sample_batch};
    use crate::record::{EncodeOptions, MAGIC_V2, decode_batch, encode_batch};

    fn three_batches() -> (Vec<u8>, Vec<usize>) {
        let mut buf = vec![];
        let mut starts = vec![];
        let options = EncodeOptions {
            magic: MAGIC_V2,
            ..Default::default()
        };
        for (i, base) in [0i64, 3, 6].into_iter().enumerate() {
            starts.push(buf.len());
            let b = sample_batch();
            let ch = changes(b.num_rows());
            let c = (i % 2 == 1).then_some(ch.as_slice());
            buf.extend(encode_batch(&b, c, base, &options).unwrap());
        }
        starts.push(buf.len());
        (buf, starts)
    }

    #[test]
    fn yields_each_batch_range() {
        let (buf, starts) = three_batches();
        let items: Vec<_> = BatchIter::new(&buf).collect::<Result<_>>().unwrap();
        assert_eq!(items.len(), 3);
        for (i, (h, r)) in items.iter().enumerate() {
            assert_eq!(*r, starts[i]..starts[i + 1]);
            assert_eq!(h.base_offset, 3 * i as i64);
            assert_eq!(h.is_append_only(), i % 2 == 0);
            let (lb, used) = decode_batch(&buf[r.clone()], &sample_batch().schema()).unwrap();
            assert_eq!(
                (lb.base_offset, lb.next_offset, used),
                (h.base_offset, h.next_offset(), r.len())
            );
        }
    }

    #[test]
    fn empty_buffer_yields_nothing() {
        assert!(BatchIter::new(&[]).next().is_none());
    }

    #[test]
    fn truncated_tail_is_reported_after_the_whole_batches() {
        let (buf, starts) = three_batches();
        for cut in [starts[2] + 1, starts[2] + 11, starts[2] + 30, buf.len() - 1] {
            let mut it = BatchIter::new(&buf[..cut]);
            assert!(it.next().unwrap().is_ok());
            assert!(it.next().unwrap().is_ok());
            let e = it.next().unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt);
            assert!(e.message().contains("truncated"), "{e}");
            assert!(e.message().contains(&format!("at byte {}", starts[2])), "{e}");
            assert_eq!(it.position(), starts[2]);
            assert!(it.next().is_none());
        }
    }

    #[test]
    fn a_bad_batch_in_the_middle_stops_the_iteration() {
        let (mut buf, starts) = three_batches();
        buf[starts[1] + 60] ^= 0xff;
        let mut it = BatchIter::new(&buf);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert!(e.message().contains("CRC mismatch"), "{e}");
        assert!(it.next().is_none());
    }
}
