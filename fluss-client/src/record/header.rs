//! The fixed batch header: the decoded struct, its checks (lengths, magic, CRC, counts)
//! and its byte form.

use std::fmt;

use crate::error::{Error, Result};

use super::format::{
    APPEND_ONLY_FLAG, BASE_OFFSET_OFFSET, COMMIT_TIMESTAMP_OFFSET, LENGTH_OFFSET, LOG_OVERHEAD, Layout, MAGIC_OFFSET,
    MAGIC_V0, MAGIC_V1, MAGIC_V2, layout,
};

/// The fixed header, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHeader {
    /// The offset of the first record.
    pub base_offset: i64,
    /// The bytes after the `Length` field (the batch is `12 + length` bytes).
    pub length: i32,
    /// The format version.
    pub magic: u8,
    /// When the server appended the batch (ms since the epoch).
    pub commit_timestamp: i64,
    /// The leader epoch (V2 only).
    pub leader_epoch: Option<i32>,
    /// CRC-32C of the bytes from the schema id to the end of the batch.
    pub crc: u32,
    /// The id of the schema the rows were written with.
    pub schema_id: i16,
    /// Bit 0: append-only (no change-type vector).
    pub attributes: u8,
    /// The offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// The idempotent writer, or [`NO_WRITER_ID`](super::NO_WRITER_ID).
    pub writer_id: i64,
    /// The writer's sequence number, or [`NO_BATCH_SEQUENCE`](super::NO_BATCH_SEQUENCE).
    pub batch_sequence: i32,
    /// The number of records.
    pub record_count: i32,
    /// The bytes of statistics after the header (V1/V2 only).
    pub statistics_length: Option<i32>,
}

impl BatchHeader {
    /// The size of the whole batch: `12 + length`.
    pub fn size_in_bytes(&self) -> usize {
        LOG_OVERHEAD + self.length.max(0) as usize
    }

    /// Whether the batch has no change-type vector (every row is `+A`).
    pub fn is_append_only(&self) -> bool {
        self.attributes & APPEND_ONLY_FLAG != 0
    }

    /// The offset of the last record: `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset.saturating_add(i64::from(self.last_offset_delta))
    }

    /// Whether `batch` (the whole batch this header was peeked from, `size_in_bytes`
    /// long) carries the CRC it stores: [`read_header`]'s check without parsing again.
    pub(crate) fn crc_matches(&self, batch: &[u8]) -> bool {
        layout(self.magic).is_some_and(|l| batch.len() == self.size_in_bytes() && compute_crc(batch, l) == self.crc)
    }

    /// The offset after the batch: `base_offset + last_offset_delta + 1`. A batch always
    /// consumes at least one offset, even with no records.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// The size of the fixed header of a magic version: 48 (V0), 52 (V1), 56 (V2).
    pub fn header_len(magic: u8) -> Result<usize> {
        layout(magic)
            .map(|l| l.header_len)
            .ok_or_else(|| Error::corrupt(format!("unknown log batch magic {magic}")))
    }

    /// Where the change-type vector (or, for append-only batches, the Arrow part) starts:
    /// after the fixed header and the statistics.
    pub(crate) fn records_start(&self) -> usize {
        let header_len = layout(self.magic).map_or(0, |l| l.header_len);
        header_len + self.statistics_length.unwrap_or(0).max(0) as usize
    }

    /// Where the Arrow part starts: after the change-type vector (a byte per record),
    /// which append-only batches do not have.
    pub(crate) fn arrow_part_start(&self) -> usize {
        let changes = if self.is_append_only() {
            0
        } else {
            self.record_count.max(0) as usize
        };
        self.records_start() + changes
    }

    /// Writes every field, the CRC as stored in `self`, into `out[..header_len]`.
    pub(crate) fn write_to(&self, out: &mut [u8]) -> Result<()> {
        let l =
            layout(self.magic).ok_or_else(|| Error::invalid(format!("cannot write log batch magic {}", self.magic)))?;
        if out.len() < l.header_len {
            return Err(Error::invalid(format!(
                "a V{} header needs {} bytes, got {}",
                self.magic,
                l.header_len,
                out.len()
            )));
        }
        put(out, BASE_OFFSET_OFFSET, &self.base_offset.to_le_bytes());
        put(out, LENGTH_OFFSET, &self.length.to_le_bytes());
        out[MAGIC_OFFSET] = self.magic;
        put(out, COMMIT_TIMESTAMP_OFFSET, &self.commit_timestamp.to_le_bytes());
        if let Some(at) = l.leader_epoch {
            put(
                out,
                at,
                &self.leader_epoch.unwrap_or(super::NO_LEADER_EPOCH).to_le_bytes(),
            );
        }
        put(out, l.crc, &self.crc.to_le_bytes());
        put(out, l.schema_id, &self.schema_id.to_le_bytes());
        out[l.attributes] = self.attributes;
        put(out, l.last_offset_delta, &self.last_offset_delta.to_le_bytes());
        put(out, l.writer_id, &self.writer_id.to_le_bytes());
        put(out, l.batch_sequence, &self.batch_sequence.to_le_bytes());
        put(out, l.record_count, &self.record_count.to_le_bytes());
        if let Some(at) = l.statistics_length {
            put(out, at, &self.statistics_length.unwrap_or(0).to_le_bytes());
        }
        Ok(())
    }
}

impl fmt::Display for BatchHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "log batch V{} at base offset {} ({} records, {} bytes)",
            self.magic,
            self.base_offset,
            self.record_count,
            self.size_in_bytes()
        )
    }
}

/// The CRC-32C a batch should carry: over `[schema id offset, end)` of the batch bytes.
/// `batch` must be exactly one batch, at least a full header long.
///
/// Reads check it over every byte they return, so its speed is the read path's: crc-fast
/// folds with carry-less multiplies (VPCLMULQDQ on AVX-512 machines), about twice the
/// hardware CRC instruction's throughput here (BENCHMARKS.md, fluss-client).
pub(crate) fn compute_crc(batch: &[u8], l: &Layout) -> u32 {
    // CRC-32/ISCSI is CRC-32C; the 32-bit value comes back widened to u64
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, &batch[l.schema_id..]) as u32
}

/// Recomputes and stores the CRC of one complete batch.
pub(crate) fn store_crc(batch: &mut [u8], l: &Layout) {
    let crc = compute_crc(batch, l);
    put(batch, l.crc, &crc.to_le_bytes());
}

/// Reads and checks the header at the start of `bytes` (length within bytes, known
/// magic, CRC over `[schema-id offset, end)`, sane counts), without decoding Arrow.
pub fn read_header(bytes: &[u8]) -> Result<BatchHeader> {
    parse_header_at(bytes, 0)
}

/// Reads the fixed header at the start of `bytes` without the rest of the batch: no CRC
/// check (the batch's bytes need not be there). For indexing segments cheaply; whoever
/// reads the records checks them with [`read_header`] or [`decode_batch`](super::decode_batch).
pub fn peek_header(bytes: &[u8]) -> Result<BatchHeader> {
    parse_header(bytes, 0, false)
}

/// [`read_header`] of the batch at `buf[pos..]`; errors name `pos` as the byte position.
pub(crate) fn parse_header_at(buf: &[u8], pos: usize) -> Result<BatchHeader> {
    parse_header(buf, pos, true)
}

/// Parses a header; `verify` also requires the whole batch and checks its CRC.
fn parse_header(buf: &[u8], pos: usize, verify: bool) -> Result<BatchHeader> {
    let bytes = buf.get(pos..).unwrap_or(&[]);
    let avail = bytes.len();
    if avail < LOG_OVERHEAD {
        return Err(Error::corrupt(format!(
            "truncated log batch at byte {pos}: {avail} bytes left, fewer than the {LOG_OVERHEAD}-byte log overhead"
        )));
    }
    let base_offset = get_i64(bytes, BASE_OFFSET_OFFSET);
    let length = get_i32(bytes, LENGTH_OFFSET);
    let what = format!("log batch at byte {pos} (base offset {base_offset})");
    if length < 0 {
        return Err(Error::corrupt(format!("{what}: negative length {length}")));
    }
    if avail <= MAGIC_OFFSET {
        return Err(Error::corrupt(format!(
            "truncated {what}: {avail} bytes left, the magic byte is missing"
        )));
    }
    let magic = bytes[MAGIC_OFFSET];
    let Some(l) = layout(magic) else {
        return Err(Error::corrupt(format!(
            "{what}: unknown magic {magic} (known: {MAGIC_V0}, {MAGIC_V1}, {MAGIC_V2})"
        )));
    };
    let size = LOG_OVERHEAD + length as usize;
    if !verify && avail < l.header_len {
        return Err(Error::corrupt(format!(
            "truncated {what}: the V{magic} header needs {} bytes, only {avail} available",
            l.header_len
        )));
    }
    if verify && avail < size {
        return Err(Error::corrupt(format!(
            "truncated {what}: the batch needs {size} bytes, only {avail} available"
        )));
    }
    if size < l.header_len {
        return Err(Error::corrupt(format!(
            "{what}: length {length} is smaller than the V{magic} header ({} bytes)",
            l.header_len
        )));
    }
    let batch = &bytes[..if verify { size } else { l.header_len }];

    let stored = get_u32(batch, l.crc);
    let computed = if verify { compute_crc(batch, l) } else { stored };
    if stored != computed {
        return Err(Error::corrupt(format!(
            "{what}: CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }

    let header = BatchHeader {
        base_offset,
        length,
        magic,
        commit_timestamp: get_i64(batch, COMMIT_TIMESTAMP_OFFSET),
        leader_epoch: l.leader_epoch.map(|at| get_i32(batch, at)),
        crc: stored,
        schema_id: get_i16(batch, l.schema_id),
        attributes: batch[l.attributes],
        last_offset_delta: get_i32(batch, l.last_offset_delta),
        writer_id: get_i64(batch, l.writer_id),
        batch_sequence: get_i32(batch, l.batch_sequence),
        record_count: get_i32(batch, l.record_count),
        statistics_length: l.statistics_length.map(|at| get_i32(batch, at)),
    };
    check_counts(&header, l, &what)?;
    Ok(header)
}

/// The checks on header fields that the CRC cannot catch (a writer's bug, or a server
/// that stamped a bad base offset).
fn check_counts(h: &BatchHeader, l: &Layout, what: &str) -> Result<()> {
    let size = h.size_in_bytes();
    if h.base_offset < 0 {
        return Err(Error::corrupt(format!("{what}: negative base offset")));
    }
    if h.record_count < 0 {
        return Err(Error::corrupt(format!(
            "{what}: negative record count {}",
            h.record_count
        )));
    }
    if h.last_offset_delta < 0 {
        return Err(Error::corrupt(format!(
            "{what}: negative last offset delta {}",
            h.last_offset_delta
        )));
    }
    if h.record_count > 0 && h.last_offset_delta < h.record_count - 1 {
        return Err(Error::corrupt(format!(
            "{what}: {} records do not fit in last offset delta {}",
            h.record_count, h.last_offset_delta
        )));
    }
    if h.base_offset.checked_add(i64::from(h.last_offset_delta) + 1).is_none() {
        return Err(Error::corrupt(format!(
            "{what}: last offset delta {} overflows the offset",
            h.last_offset_delta
        )));
    }
    if let Some(stats) = h.statistics_length
        && (stats < 0 || l.header_len + stats as usize > size)
    {
        return Err(Error::corrupt(format!(
            "{what}: statistics length {stats} does not fit in the {size}-byte batch"
        )));
    }
    if !h.is_append_only() && h.records_start() + h.record_count as usize > size {
        return Err(Error::corrupt(format!(
            "{what}: the change-type vector of {} records does not fit in the {size}-byte batch",
            h.record_count
        )));
    }
    Ok(())
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

fn get<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&bytes[at..at + N]);
    a
}

pub(crate) fn get_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_le_bytes(get(bytes, at))
}

pub(crate) fn get_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(get(bytes, at))
}

pub(crate) fn get_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(get(bytes, at))
}

pub(crate) fn get_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(get(bytes, at))
}

#[cfg(test)]
mod tests {

    #[test]
    fn crc_agrees_with_a_second_implementation() -> Result<()> {
        let layout = crate::record::format::layout_for_write(crate::record::MAGIC_V0)?;
        let bytes: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for len in [
            layout.schema_id,
            layout.schema_id + 1,
            63,
            64,
            65,
            255,
            1000,
            4097,
            5000,
        ] {
            let batch = &bytes[..len];
            assert_eq!(
                compute_crc(batch, layout),
                crc32c::crc32c(&batch[layout.schema_id..]),
                "{len} bytes"
            );
        }
        Ok(())
    }
    use super::*;
    use crate::error::ErrorKind;
    use crate::record::{NO_BATCH_SEQUENCE, NO_LEADER_EPOCH, NO_WRITER_ID};

    /// A header-only batch (no records, no Arrow) with a valid CRC.
    fn header_only(magic: u8) -> (BatchHeader, Vec<u8>) {
        let l = layout(magic).unwrap();
        let h = BatchHeader {
            base_offset: 7,
            length: (l.header_len - LOG_OVERHEAD) as i32,
            magic,
            commit_timestamp: 1_700_000_000_000,
            leader_epoch: l.leader_epoch.map(|_| NO_LEADER_EPOCH),
            crc: 0,
            schema_id: 2,
            attributes: APPEND_ONLY_FLAG,
            last_offset_delta: 0,
            writer_id: NO_WRITER_ID,
            batch_sequence: NO_BATCH_SEQUENCE,
            record_count: 0,
            statistics_length: l.statistics_length.map(|_| 0),
        };
        let mut bytes = vec![0u8; l.header_len];
        h.write_to(&mut bytes).unwrap();
        store_crc(&mut bytes, l);
        let crc = get_u32(&bytes, l.crc);
        (BatchHeader { crc, ..h }, bytes)
    }

    #[test]
    fn write_then_read_every_magic() {
        for magic in [MAGIC_V0, MAGIC_V1, MAGIC_V2] {
            let (h, bytes) = header_only(magic);
            assert_eq!(bytes.len(), BatchHeader::header_len(magic).unwrap());
            let read = read_header(&bytes).unwrap();
            assert_eq!(read, h);
            assert_eq!(read.size_in_bytes(), bytes.len());
            assert_eq!(read.next_offset(), 8);
            assert!(read.is_append_only());
        }
    }

    #[test]
    fn header_lengths() {
        assert_eq!(BatchHeader::header_len(MAGIC_V0).unwrap(), 48);
        assert_eq!(BatchHeader::header_len(MAGIC_V1).unwrap(), 52);
        assert_eq!(BatchHeader::header_len(MAGIC_V2).unwrap(), 56);
        assert_eq!(BatchHeader::header_len(3).unwrap_err().kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn crc_does_not_cover_the_fields_the_server_stamps() {
        let (_, mut bytes) = header_only(MAGIC_V2);
        bytes[..8].copy_from_slice(&1234i64.to_le_bytes());
        bytes[13..21].copy_from_slice(&99i64.to_le_bytes());
        bytes[21..25].copy_from_slice(&5i32.to_le_bytes());
        let h = read_header(&bytes).unwrap();
        assert_eq!((h.base_offset, h.commit_timestamp, h.leader_epoch), (1234, 99, Some(5)));
    }

    #[test]
    fn counts_the_crc_cannot_catch() {
        let l = layout(MAGIC_V1).unwrap();
        let patch = |at: usize, v: i32| {
            let (_, mut bytes) = header_only(MAGIC_V1);
            bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
            store_crc(&mut bytes, l);
            read_header(&bytes).unwrap_err()
        };
        assert!(patch(l.record_count, -1).message().contains("negative record count"));
        assert!(
            patch(l.last_offset_delta, -2)
                .message()
                .contains("negative last offset delta")
        );
        assert!(
            patch(l.statistics_length.unwrap(), 4)
                .message()
                .contains("statistics length 4")
        );
        assert!(
            patch(l.statistics_length.unwrap(), -4)
                .message()
                .contains("statistics length -4")
        );
        // three records need a delta of at least two
        let e = patch(l.record_count, 3);
        assert!(e.message().contains("last offset delta 0"), "{e}");

        let (_, mut bytes) = header_only(MAGIC_V1);
        bytes[..8].copy_from_slice(&(-5i64).to_le_bytes());
        assert!(
            read_header(&bytes)
                .unwrap_err()
                .message()
                .contains("negative base offset")
        );

        let (_, mut bytes) = header_only(MAGIC_V1);
        bytes[..8].copy_from_slice(&i64::MAX.to_le_bytes());
        assert!(read_header(&bytes).unwrap_err().message().contains("overflows"));
    }

    #[test]
    fn negative_and_short_lengths() {
        let (_, mut bytes) = header_only(MAGIC_V0);
        bytes[8..12].copy_from_slice(&(-1i32).to_le_bytes());
        let e = read_header(&bytes).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.message().contains("negative length -1"), "{e}");

        bytes[8..12].copy_from_slice(&10i32.to_le_bytes());
        let e = read_header(&bytes).unwrap_err();
        assert!(e.message().contains("smaller than the V0 header"), "{e}");
    }

    #[test]
    fn error_positions_are_absolute() {
        let (_, bytes) = header_only(MAGIC_V0);
        let mut buf = vec![0u8; 100];
        buf.extend_from_slice(&bytes[..30]);
        let e = parse_header_at(&buf, 100).unwrap_err();
        assert!(
            e.message().contains("truncated") && e.message().contains("at byte 100"),
            "{e}"
        );
        let e = parse_header_at(&buf, 1000).unwrap_err();
        assert!(
            e.message().contains("truncated") && e.message().contains("at byte 1000"),
            "{e}"
        );
    }
}
