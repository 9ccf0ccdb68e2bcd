//! Encoding rows as one Fluss log batch, and decoding one batch back into a
//! [`LogBatch`].
//!
//! A batch is the fixed header, the statistics (V1/V2; we write none), the change-type
//! vector (one byte per row, absent in append-only batches) and the Arrow part, with no
//! padding between them.

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::CompressionType;
use arrow_schema::SchemaRef;
use lake_api::{ChangeType, LogBatch};

use crate::error::{Error, Result};

use super::format::{APPEND_ONLY_FLAG, LOG_OVERHEAD, MAGIC_V0, NO_BATCH_SEQUENCE, NO_LEADER_EPOCH, NO_WRITER_ID};
use super::format::{MAGIC_V2, layout_for_write};
use super::header::{BatchHeader, read_header, store_crc};
use super::ipc::{read_arrow_buffer, write_arrow_part};

/// Arrow IPC body compression of the Arrow part (`table.log.arrow.compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Buffers stored as they are.
    #[default]
    None,
    /// LZ4 frame per buffer.
    Lz4Frame,
    /// Zstandard (arrow-rs's default level, 3, which is Fluss's default) per buffer.
    Zstd,
}

impl Compression {
    fn ipc(self) -> Option<CompressionType> {
        match self {
            Compression::None => None,
            Compression::Lz4Frame => Some(CompressionType::LZ4_FRAME),
            Compression::Zstd => Some(CompressionType::ZSTD),
        }
    }
}

/// Options for writing a batch.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// The format version (default V0, what Fluss clients write).
    pub magic: u8,
    /// Body compression of the Arrow part.
    pub compression: Compression,
    /// The schema id of the rows.
    pub schema_id: i16,
    /// The commit timestamp (ms since the epoch; the server overwrites it).
    pub commit_timestamp: i64,
    /// The idempotent writer, or [`NO_WRITER_ID`].
    pub writer_id: i64,
    /// The writer's sequence number, or [`NO_BATCH_SEQUENCE`].
    pub batch_sequence: i32,
    /// The leader epoch, written by V2 only.
    pub leader_epoch: i32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            magic: MAGIC_V0,
            compression: Compression::None,
            schema_id: 0,
            commit_timestamp: 0,
            writer_id: NO_WRITER_ID,
            batch_sequence: NO_BATCH_SEQUENCE,
            leader_epoch: NO_LEADER_EPOCH,
        }
    }
}

/// Encodes rows as one Fluss log batch at `base_offset`.
///
/// `changes: None` writes an append-only batch (attribute bit 0 set, no change-type
/// vector); `Some` writes one byte per row. The Arrow part is one encapsulated IPC
/// RecordBatch message without the schema message, with the options' body compression.
/// A batch with zero rows has RecordCount 0, LastOffsetDelta 0 and no Arrow part.
/// V1/V2 write StatisticsLength 0.
pub fn encode_batch(
    batch: &RecordBatch,
    changes: Option<&[ChangeType]>,
    base_offset: i64,
    options: &EncodeOptions,
) -> Result<Vec<u8>> {
    let delta = batch.num_rows().saturating_sub(1);
    encode_with_delta(batch, changes, base_offset, delta, options)
}

/// Encodes a [`LogBatch`]: append-only iff every change type is `+A`. The base offset and
/// commit timestamp come from the batch (`options.commit_timestamp` is not used), and
/// LastOffsetDelta is `next_offset - base_offset - 1`, so that a batch whose `next_offset`
/// runs past its rows decodes with the same `next_offset`. (A batch always consumes one
/// offset: an empty batch with `next_offset == base_offset` decodes with `base_offset + 1`.)
pub fn encode_log_batch(batch: &LogBatch, options: &EncodeOptions) -> Result<Vec<u8>> {
    let rows = batch.num_rows();
    if batch.change_types.len() != rows {
        return Err(Error::invalid(format!(
            "log batch at base offset {} has {rows} rows but {} change types",
            batch.base_offset,
            batch.change_types.len()
        )));
    }
    let span = batch.next_offset.checked_sub(batch.base_offset).unwrap_or(-1);
    if span < rows as i64 {
        return Err(Error::invalid(format!(
            "log batch at base offset {} with {rows} rows has next offset {}",
            batch.base_offset, batch.next_offset
        )));
    }
    let delta = usize::try_from(span - 1).unwrap_or(0);
    let append_only = batch.change_types.iter().all(|c| *c == ChangeType::AppendOnly);
    let changes = (!append_only).then_some(batch.change_types.as_slice());
    let options = EncodeOptions {
        commit_timestamp: batch.commit_timestamp,
        ..options.clone()
    };
    encode_with_delta(&batch.batch, changes, batch.base_offset, delta, &options)
}

fn encode_with_delta(
    batch: &RecordBatch,
    changes: Option<&[ChangeType]>,
    base_offset: i64,
    last_offset_delta: usize,
    options: &EncodeOptions,
) -> Result<Vec<u8>> {
    let layout = layout_for_write(options.magic)?;
    let rows = batch.num_rows();
    let what = format!("log batch at base offset {base_offset}");
    if base_offset < 0 {
        return Err(Error::invalid(format!("{what}: negative base offset")));
    }
    let record_count =
        i32::try_from(rows).map_err(|_| Error::invalid(format!("{what}: {rows} rows do not fit in one batch")))?;
    let last_offset_delta = i32::try_from(last_offset_delta)
        .ok()
        .filter(|d| base_offset.checked_add(i64::from(*d) + 1).is_some())
        .ok_or_else(|| Error::invalid(format!("{what}: last offset delta {last_offset_delta} is out of range")))?;
    if let Some(changes) = changes
        && changes.len() != rows
    {
        return Err(Error::invalid(format!(
            "{what}: {rows} rows but {} change types",
            changes.len()
        )));
    }

    // the Arrow part reserves exactly what it writes once it is encoded (see
    // `write_arrow_part`), so the body is copied once, whatever its columns or its parent
    let mut out = Vec::with_capacity(layout.header_len + changes.map_or(0, <[ChangeType]>::len));
    out.resize(layout.header_len, 0);
    if let Some(changes) = changes {
        out.extend(changes.iter().map(|c| *c as u8));
    }
    if rows > 0 {
        write_arrow_part(batch, options.compression.ipc(), &mut out).map_err(|e| e.context(&what))?;
    }
    let length = i32::try_from(out.len() - LOG_OVERHEAD)
        .map_err(|_| Error::invalid(format!("{what}: {} bytes do not fit in one batch", out.len())))?;

    let header = BatchHeader {
        base_offset,
        length,
        magic: options.magic,
        commit_timestamp: options.commit_timestamp,
        leader_epoch: (options.magic == MAGIC_V2).then_some(options.leader_epoch),
        crc: 0,
        schema_id: options.schema_id,
        attributes: if changes.is_none() { APPEND_ONLY_FLAG } else { 0 },
        last_offset_delta,
        writer_id: options.writer_id,
        batch_sequence: options.batch_sequence,
        record_count,
        statistics_length: layout.statistics_length.map(|_| 0),
    };
    header.write_to(&mut out)?;
    store_crc(&mut out, layout);
    Ok(out)
}

/// Decodes one batch at the start of `bytes` against the table schema: header and CRC
/// check, change types, and the Arrow body. Returns the batch (with `next_offset =
/// base_offset + last_offset_delta + 1`) and the number of bytes consumed.
pub fn decode_batch(bytes: &[u8], schema: &SchemaRef) -> Result<(LogBatch, usize)> {
    let header = read_header(bytes)?;
    let size = header.size_in_bytes();
    let batch = decode_checked(&header, &Buffer::from_slice_ref(&bytes[..size]), schema)?;
    Ok((batch, size))
}

/// [`decode_batch`] over bytes already in an Arrow buffer (a segment read, a fetch
/// response): the batch's columns are zero-copy slices of `bytes`.
pub fn decode_batch_buffer(bytes: &Buffer, schema: &SchemaRef) -> Result<(LogBatch, usize)> {
    let header = read_header(bytes.as_slice())?;
    let size = header.size_in_bytes();
    let batch = decode_checked(&header, &bytes.slice_with_length(0, size), schema)?;
    Ok((batch, size))
}

/// Decodes the records of one batch whose header `read_header` has already checked;
/// `bytes` is exactly that batch.
pub(crate) fn decode_checked(header: &BatchHeader, buffer: &Buffer, schema: &SchemaRef) -> Result<LogBatch> {
    let bytes = buffer.as_slice();
    let what = format!("log batch at base offset {}", header.base_offset);
    let at = header.arrow_part_start();
    let change_types = if header.is_append_only() {
        None
    } else {
        let vector = bytes
            .get(header.records_start()..at)
            .ok_or_else(|| Error::corrupt(format!("{what}: the change-type vector does not fit in the batch")))?;
        let types = vector
            .iter()
            .enumerate()
            .map(|(row, b)| {
                ChangeType::from_byte(*b)
                    .map_err(|_| Error::corrupt(format!("{what}: row {row} has change type byte {b}, not 0..=4")))
            })
            .collect::<Result<Vec<_>>>()?;
        Some(types)
    };
    if at > bytes.len() {
        return Err(Error::corrupt(format!(
            "{what}: the records start past the end of the batch"
        )));
    }
    let batch = read_arrow_buffer(&buffer.slice(at), schema, header.record_count, &what)?;
    // An append-only batch's count is bounded by nothing but its Arrow body, so its change
    // types are made only once the body has shown that many rows (whose budget counts a
    // byte per row): a header alone must not make the reader allocate for two billion rows.
    let change_types = change_types.unwrap_or_else(|| vec![ChangeType::AppendOnly; batch.num_rows()]);
    Ok(LogBatch {
        batch,
        change_types,
        base_offset: header.base_offset,
        next_offset: header.next_offset(),
        commit_timestamp: header.commit_timestamp,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::error::ErrorKind;
    use crate::record::format::{MAGIC_V1, layout};
    use crate::record::header::{get_i32, get_u32};
    use crate::record::testdata::{all_types_batch, changes, sample_batch};

    const MAGICS: [u8; 3] = [MAGIC_V0, MAGIC_V1, MAGIC_V2];
    const COMPRESSIONS: [Compression; 3] = [Compression::None, Compression::Lz4Frame, Compression::Zstd];

    fn options(magic: u8, compression: Compression) -> EncodeOptions {
        EncodeOptions {
            magic,
            compression,
            schema_id: 5,
            commit_timestamp: 1_700_000_000_123,
            writer_id: 77,
            batch_sequence: 9,
            leader_epoch: 4,
        }
    }

    fn put_i32(bytes: &mut [u8], at: usize, v: i32) {
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Recomputes the CRC after a test patched the bytes.
    fn recrc(bytes: &mut [u8]) {
        store_crc(bytes, layout(bytes[12]).unwrap());
    }

    fn round_trip(batch: &RecordBatch, append_only: bool, magic: u8, compression: Compression) {
        let ch = changes(batch.num_rows());
        let c = (!append_only).then_some(ch.as_slice());
        let opts = options(magic, compression);
        let bytes = encode_batch(batch, c, 100, &opts).unwrap();
        let what = format!("V{magic} {compression:?} append_only={append_only}");

        let h = read_header(&bytes).unwrap();
        let rows = batch.num_rows() as i32;
        assert_eq!(h.base_offset, 100, "{what}");
        assert_eq!(h.size_in_bytes(), bytes.len(), "{what}");
        assert_eq!(h.magic, magic, "{what}");
        assert_eq!(h.commit_timestamp, opts.commit_timestamp, "{what}");
        assert_eq!(h.leader_epoch, (magic == MAGIC_V2).then_some(4), "{what}");
        assert_eq!(h.schema_id, 5, "{what}");
        assert_eq!(h.is_append_only(), append_only, "{what}");
        assert_eq!(h.last_offset_delta, (rows - 1).max(0), "{what}");
        assert_eq!((h.writer_id, h.batch_sequence, h.record_count), (77, 9, rows), "{what}");
        assert_eq!(h.statistics_length, (magic != MAGIC_V0).then_some(0), "{what}");

        let mut followed = bytes.clone();
        followed.extend_from_slice(&bytes);
        let (lb, used) = decode_batch(&followed, &batch.schema()).unwrap();
        assert_eq!(used, bytes.len(), "{what}");
        assert_eq!(&lb.batch, batch, "{what}");
        let expected = if append_only {
            vec![ChangeType::AppendOnly; rows as usize]
        } else {
            ch
        };
        assert_eq!(lb.change_types, expected, "{what}");
        assert_eq!(lb.base_offset, 100, "{what}");
        assert_eq!(lb.next_offset, 100 + i64::from(rows.max(1)), "{what}");
        assert_eq!(lb.commit_timestamp, opts.commit_timestamp, "{what}");
        lb.validate().unwrap();
    }

    #[test]
    fn a_slice_reserves_for_its_rows_not_its_parents() -> Result<()> {
        // regression: the output was reserved at the parent batch's size, so appending
        // one row of a big batch reserved (and held until written) the whole batch's bytes
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let big = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..1 << 20))])?;
        let one = big.slice(5, 1);
        let bytes = encode_batch(&one, None, 0, &EncodeOptions::default())?;
        assert!(bytes.capacity() < 64 << 10, "reserved {} bytes", bytes.capacity());
        let (decoded, _) = decode_batch(&bytes, &one.schema())?;
        assert_eq!(decoded.batch, one);
        // and a whole batch still fits its reserve: no regrowth (which doubles the capacity)
        // copying the body
        let strings = RecordBatch::try_from_iter([(
            "s",
            Arc::new(StringArray::from_iter_values(
                (0..100_000).map(|i| format!("value {i}")),
            )) as _,
        )])?;
        // nested columns (lists, maps, structs) and their slices, compressed or not, with
        // change types or without: the reserve is what is written, to the padding
        let all = all_types_batch();
        let batches = [big, strings, all.clone(), all.slice(1, 2), sample_batch()];
        for batch in batches {
            for compression in COMPRESSIONS {
                let changes = changes(batch.num_rows());
                for c in [None, Some(changes.as_slice())] {
                    let bytes = encode_batch(&batch, c, 0, &options(MAGIC_V2, compression))?;
                    assert!(
                        bytes.capacity() <= bytes.len() + 16,
                        "{compression:?}: {} bytes in {}",
                        bytes.len(),
                        bytes.capacity()
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn round_trip_every_magic_compression_and_kind() {
        for magic in MAGICS {
            for compression in COMPRESSIONS {
                for append_only in [true, false] {
                    round_trip(&sample_batch(), append_only, magic, compression);
                }
            }
        }
    }

    #[test]
    fn round_trip_every_mapped_type() {
        let b = all_types_batch();
        assert_eq!(b.num_columns(), 18);
        for magic in MAGICS {
            for compression in COMPRESSIONS {
                round_trip(&b, false, magic, compression);
            }
        }
    }

    #[test]
    fn round_trip_sliced_and_single_row() {
        let b = all_types_batch();
        round_trip(&b.slice(1, 2), true, MAGIC_V0, Compression::None);
        round_trip(&b.slice(3, 1), false, MAGIC_V2, Compression::Zstd);
        round_trip(&sample_batch().slice(1, 2), false, MAGIC_V1, Compression::Lz4Frame);
    }

    #[test]
    fn compression_shrinks_repetitive_data() {
        let n = 10_000;
        let b = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from_iter_values(0..n)) as _),
            (
                "s",
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("row-{}", i % 10)))) as _,
            ),
        ])
        .unwrap();
        let plain = encode_batch(&b, None, 0, &EncodeOptions::default()).unwrap();
        for compression in [Compression::Lz4Frame, Compression::Zstd] {
            let opts = EncodeOptions {
                compression,
                ..Default::default()
            };
            let packed = encode_batch(&b, None, 0, &opts).unwrap();
            assert!(
                packed.len() * 2 < plain.len(),
                "{compression:?}: {} vs {}",
                packed.len(),
                plain.len()
            );
            assert_eq!(decode_batch(&packed, &b.schema()).unwrap().0.batch, b);
        }
    }

    #[test]
    fn golden_layout_v0() {
        let b = sample_batch();
        let ch = [ChangeType::Insert, ChangeType::UpdateBefore, ChangeType::Delete];
        let bytes = encode_batch(
            &b,
            Some(&ch),
            0x0102_0304_0506_0708,
            &options(MAGIC_V0, Compression::None),
        )
        .unwrap();
        assert_eq!(&bytes[0..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(get_i32(&bytes, 8) as usize, bytes.len() - 12);
        assert_eq!(bytes[12], 0);
        assert_eq!(&bytes[13..21], &1_700_000_000_123i64.to_le_bytes());
        assert_eq!(get_u32(&bytes, 21), crc32c::crc32c(&bytes[25..]));
        assert_eq!(&bytes[25..27], &[5, 0]);
        assert_eq!(bytes[27] & 1, 0);
        assert_eq!(get_i32(&bytes, 28), 2);
        assert_eq!(&bytes[32..40], &77i64.to_le_bytes());
        assert_eq!(get_i32(&bytes, 40), 9);
        assert_eq!(get_i32(&bytes, 44), 3);
        assert_eq!(&bytes[48..51], &[1, 2, 4]);
        assert_eq!(&bytes[51..55], &[0xff; 4]);
        // the metadata (with its length prefix) is padded to 8 bytes
        assert_eq!((get_i32(&bytes, 55) + 8) % 8, 0);

        let append = encode_batch(&b, None, 0, &EncodeOptions::default()).unwrap();
        assert_eq!(append[27], 1);
        assert_eq!(&append[32..40], &(-1i64).to_le_bytes());
        assert_eq!(get_i32(&append, 40), -1);
        assert_eq!(&append[48..52], &[0xff; 4]);
        assert_eq!(get_u32(&append, 21), crc32c::crc32c(&append[25..]));
        // the change-type vector is the only difference in size
        assert_eq!(bytes.len(), append.len() + 3);
    }

    #[test]
    fn golden_layout_v1_and_v2() {
        let b = sample_batch();
        let ch = changes(3);
        let v1 = encode_batch(&b, Some(&ch), 42, &options(MAGIC_V1, Compression::None)).unwrap();
        assert_eq!(v1[12], 1);
        assert_eq!(get_u32(&v1, 21), crc32c::crc32c(&v1[25..]));
        assert_eq!(get_i32(&v1, 44), 3);
        assert_eq!(get_i32(&v1, 48), 0, "no statistics");
        assert_eq!(&v1[52..55], &[1, 2, 3]);
        assert_eq!(&v1[55..59], &[0xff; 4]);

        let v2 = encode_batch(&b, Some(&ch), 42, &options(MAGIC_V2, Compression::None)).unwrap();
        assert_eq!(v2[12], 2);
        assert_eq!(get_i32(&v2, 21), 4, "leader epoch");
        assert_eq!(get_u32(&v2, 25), crc32c::crc32c(&v2[29..]));
        assert_eq!(&v2[29..31], &[5, 0]);
        assert_eq!(v2[31], 0);
        assert_eq!(get_i32(&v2, 32), 2);
        assert_eq!(&v2[36..44], &77i64.to_le_bytes());
        assert_eq!(get_i32(&v2, 44), 9);
        assert_eq!(get_i32(&v2, 48), 3);
        assert_eq!(get_i32(&v2, 52), 0);
        assert_eq!(&v2[56..59], &[1, 2, 3]);
        assert_eq!(&v2[59..63], &[0xff; 4]);
        assert_eq!(v2.len(), v1.len() + 4);
    }

    #[test]
    fn empty_batches() {
        let empty = sample_batch().slice(0, 0);
        for magic in MAGICS {
            for c in [None, Some(&[][..])] {
                let bytes = encode_batch(&empty, c, 10, &options(magic, Compression::Zstd)).unwrap();
                assert_eq!(bytes.len(), BatchHeader::header_len(magic).unwrap());
                let h = read_header(&bytes).unwrap();
                assert_eq!(
                    (h.record_count, h.last_offset_delta, h.is_append_only()),
                    (0, 0, c.is_none())
                );
                let (lb, used) = decode_batch(&bytes, &empty.schema()).unwrap();
                assert_eq!((lb.num_rows(), lb.next_offset, used), (0, 11, bytes.len()));
                assert_eq!(lb.batch.schema(), empty.schema());

                // a batch whose records were all dropped still consumes its offsets
                let mut patched = bytes.clone();
                put_i32(&mut patched, layout(magic).unwrap().last_offset_delta, 5);
                recrc(&mut patched);
                let (lb, _) = decode_batch(&patched, &empty.schema()).unwrap();
                assert_eq!((lb.num_rows(), lb.base_offset, lb.next_offset), (0, 10, 16));
                lb.validate().unwrap();
            }
        }
    }

    #[test]
    fn statistics_are_skipped() {
        let b = sample_batch();
        for magic in [MAGIC_V1, MAGIC_V2] {
            let l = layout(magic).unwrap();
            let bytes = encode_batch(&b, Some(&changes(3)), 0, &options(magic, Compression::None)).unwrap();
            let stats = [1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            let mut with = bytes[..l.header_len].to_vec();
            with.extend_from_slice(&stats);
            with.extend_from_slice(&bytes[l.header_len..]);
            let length = (with.len() - 12) as i32;
            put_i32(&mut with, 8, length);
            put_i32(&mut with, l.statistics_length.unwrap(), stats.len() as i32);
            recrc(&mut with);
            let (lb, used) = decode_batch(&with, &b.schema()).unwrap();
            assert_eq!((used, lb.batch), (with.len(), b.clone()));
            assert_eq!(lb.change_types, changes(3));
        }
    }

    #[test]
    fn encode_log_batch_picks_the_kind_and_keeps_offsets() {
        let b = sample_batch();
        let mut lb = LogBatch::append_only(b.clone(), 50);
        lb.commit_timestamp = 999;
        let opts = EncodeOptions {
            commit_timestamp: 1,
            ..options(MAGIC_V2, Compression::Lz4Frame)
        };
        let bytes = encode_log_batch(&lb, &opts).unwrap();
        let h = read_header(&bytes).unwrap();
        assert!(h.is_append_only());
        assert_eq!((h.base_offset, h.commit_timestamp, h.next_offset()), (50, 999, 53));
        assert_eq!(bytes.len(), encode_batch(&b, None, 50, &opts).unwrap().len());

        let mut changelog = LogBatch::new(b.clone(), changes(3), 50);
        changelog.next_offset = 60;
        let (back, _) = decode_batch(&encode_log_batch(&changelog, &opts).unwrap(), &b.schema()).unwrap();
        assert_eq!(back.change_types, changes(3));
        assert_eq!((back.base_offset, back.next_offset), (50, 60));

        let empty = LogBatch::append_only(b.slice(0, 0), 7);
        let (back, _) = decode_batch(&encode_log_batch(&empty, &opts).unwrap(), &b.schema()).unwrap();
        assert_eq!((back.num_rows(), back.next_offset), (0, 8));

        let mut bad = LogBatch::new(b.clone(), changes(2), 0);
        assert_eq!(
            encode_log_batch(&bad, &opts).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        bad.change_types = changes(3);
        bad.next_offset = 2;
        assert_eq!(
            encode_log_batch(&bad, &opts).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn encode_rejects_bad_input() {
        let b = sample_batch();
        let bad_magic = EncodeOptions {
            magic: 9,
            ..Default::default()
        };
        let e = encode_batch(&b, None, 0, &bad_magic).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("magic 9"), "{e}");
        let e = encode_batch(&b, Some(&changes(2)), 0, &EncodeOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = encode_batch(&b, None, -1, &EncodeOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        let e = encode_batch(&b, None, i64::MAX - 1, &EncodeOptions::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    fn encoded(magic: u8, append_only: bool, compression: Compression) -> Vec<u8> {
        let ch = changes(3);
        let c = (!append_only).then_some(ch.as_slice());
        encode_batch(&sample_batch(), c, 1000, &options(magic, compression)).unwrap()
    }

    fn corrupt(bytes: &[u8]) -> Error {
        let e = decode_batch(bytes, &sample_batch().schema()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        e
    }

    #[test]
    fn any_flipped_byte_under_the_crc_is_caught() {
        for magic in MAGICS {
            for compression in COMPRESSIONS {
                let bytes = encoded(magic, false, compression);
                for at in layout(magic).unwrap().crc..bytes.len() {
                    let mut bad = bytes.clone();
                    bad[at] ^= 0x10;
                    let e = corrupt(&bad);
                    assert!(e.message().contains("CRC mismatch: stored"), "{e}");
                    assert!(e.message().contains("base offset 1000"), "{e}");
                    assert!(read_header(&bad).is_err());
                }
            }
        }
    }

    #[test]
    fn every_truncation_is_corrupt() {
        for magic in MAGICS {
            for append_only in [true, false] {
                let bytes = encoded(magic, append_only, Compression::Zstd);
                for len in 0..bytes.len() {
                    let e = corrupt(&bytes[..len]);
                    assert!(e.message().contains("truncated"), "{len}: {e}");
                    assert!(e.message().contains("at byte 0"), "{len}: {e}");
                    assert_eq!(read_header(&bytes[..len]).unwrap_err().kind(), ErrorKind::Corrupt);
                }
            }
        }
    }

    #[test]
    fn unknown_magic() {
        let mut bytes = encoded(MAGIC_V0, true, Compression::None);
        bytes[12] = 9;
        let e = corrupt(&bytes);
        assert!(e.message().contains("unknown magic 9"), "{e}");
    }

    #[test]
    fn bad_change_type_byte() {
        for magic in MAGICS {
            let mut bytes = encoded(magic, false, Compression::None);
            let at = layout(magic).unwrap().header_len + 1;
            bytes[at] = 7;
            recrc(&mut bytes);
            let e = corrupt(&bytes);
            assert!(e.message().contains("row 1 has change type byte 7"), "{e}");
            assert!(e.message().contains("base offset 1000"), "{e}");
        }
    }

    #[test]
    fn record_count_disagreeing_with_the_body() {
        for magic in MAGICS {
            let l = layout(magic).unwrap();
            // append-only: fewer records than the Arrow body has rows
            let mut bytes = encoded(magic, true, Compression::Lz4Frame);
            put_i32(&mut bytes, l.record_count, 1);
            recrc(&mut bytes);
            let e = corrupt(&bytes);
            assert!(
                e.message().contains("record count 1 but the Arrow body has 3 rows"),
                "{e}"
            );

            // more records than the offsets cover
            let mut bytes = encoded(magic, true, Compression::None);
            put_i32(&mut bytes, l.record_count, 4);
            recrc(&mut bytes);
            corrupt(&bytes);

            // more records, and a delta to match: the body has 3 rows
            put_i32(&mut bytes, l.last_offset_delta, 3);
            recrc(&mut bytes);
            let e = corrupt(&bytes);
            assert!(
                e.message().contains("record count 4 but the Arrow body has 3 rows"),
                "{e}"
            );

            // changelog: the change-type vector length moves the Arrow part
            for count in [2, 4] {
                let mut bytes = encoded(magic, false, Compression::None);
                put_i32(&mut bytes, l.record_count, count);
                put_i32(&mut bytes, l.last_offset_delta, count - 1);
                recrc(&mut bytes);
                corrupt(&bytes);
            }

            // records but no Arrow part
            let mut bytes = encoded(magic, true, Compression::None)[..l.header_len].to_vec();
            put_i32(&mut bytes, 8, (l.header_len - 12) as i32);
            recrc(&mut bytes);
            let e = corrupt(&bytes);
            assert!(e.message().contains("no Arrow data"), "{e}");
        }
    }

    #[test]
    fn a_header_claiming_two_billion_appended_rows_is_refused_before_any_row_is_made() -> Result<()> {
        // a header-only append-only batch: nothing bounds its record count but the Arrow
        // body it lacks, so the decoder must not size anything by the count first
        for magic in MAGICS {
            let l = layout(magic).ok_or_else(|| Error::corrupt("no layout"))?;
            let mut bytes = encoded(magic, true, Compression::None)[..l.header_len].to_vec();
            put_i32(&mut bytes, 8, (l.header_len - 12) as i32);
            put_i32(&mut bytes, l.record_count, i32::MAX);
            put_i32(&mut bytes, l.last_offset_delta, i32::MAX - 1);
            recrc(&mut bytes);
            let e = corrupt(&bytes);
            assert!(e.message().contains("no Arrow data"), "{e}");
        }
        Ok(())
    }

    #[test]
    fn rows_of_a_schema_that_holds_no_values_are_refused() -> Result<()> {
        // without a column whose buffers grow with the rows, nothing bounds an append-only
        // batch's record count: the decoder must not make two billion change types for it
        let no_values = [
            Arc::new(Schema::empty()),
            Arc::new(Schema::new(vec![Field::new("n", DataType::Null, true)])),
        ];
        for schema in no_values {
            let columns = schema
                .fields()
                .iter()
                .map(|f| arrow_array::new_null_array(f.data_type(), i32::MAX as usize))
                .collect();
            let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(i32::MAX as usize));
            let batch = RecordBatch::try_new_with_options(schema.clone(), columns, &options)?;
            let bytes = encode_batch(&batch, None, 0, &EncodeOptions::default())?;
            let e = decode_batch(&bytes, &schema)
                .err()
                .ok_or_else(|| Error::corrupt("decoded"))?;
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
            assert!(e.message().contains("holds no values to bound it"), "{e}");
            // a batch without rows stays readable
            let empty = RecordBatch::new_empty(schema.clone());
            let bytes = encode_batch(&empty, None, 0, &EncodeOptions::default())?;
            assert_eq!(decode_batch(&bytes, &schema)?.0.num_rows(), 0);
        }
        Ok(())
    }

    #[test]
    fn wrong_schema_is_an_error() {
        let bytes = encoded(MAGIC_V0, false, Compression::None);
        let schema = |fields: Vec<Field>| Arc::new(Schema::new(fields));
        let id = Field::new("id", DataType::Int64, false);
        let name = Field::new("name", DataType::Utf8, true);
        let score = Field::new("score", DataType::Float64, true);

        let fewer = schema(vec![id.clone(), name.clone()]);
        let e = decode_batch(&bytes, &fewer).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch, "{e}");
        assert!(e.message().contains("base offset 1000"), "{e}");

        let more = schema(vec![
            id.clone(),
            name.clone(),
            score.clone(),
            Field::new("x", DataType::Int32, true),
        ]);
        assert_eq!(
            decode_batch(&bytes, &more).unwrap_err().kind(),
            ErrorKind::SchemaMismatch
        );

        let utf8_id = schema(vec![
            Field::new("id", DataType::Utf8, false),
            name.clone(),
            score.clone(),
        ]);
        assert_eq!(
            decode_batch(&bytes, &utf8_id).unwrap_err().kind(),
            ErrorKind::SchemaMismatch
        );

        let not_null_name = schema(vec![
            id.clone(),
            Field::new("name", DataType::Utf8, false),
            score.clone(),
        ]);
        let e = decode_batch(&bytes, &not_null_name).unwrap_err();
        assert!(e.message().contains("does not decode against the table schema"), "{e}");

        // a body written with Int32 ids is too short for the Int64 the schema wants
        let narrow = RecordBatch::try_from_iter([
            ("id", Arc::new(Int32Array::from(vec![1, 2, 3])) as _),
            ("name", Arc::new(StringArray::from(vec!["a", "b", "c"])) as _),
            (
                "score",
                Arc::new(arrow_array::Float64Array::from(vec![1.0, 2.0, 3.0])) as _,
            ),
        ])
        .unwrap();
        let bytes = encode_batch(&narrow, None, 0, &EncodeOptions::default()).unwrap();
        let e = decode_batch(&bytes, &sample_batch().schema()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

        let all = all_types_batch();
        let bytes = encode_batch(&all, None, 0, &EncodeOptions::default()).unwrap();
        assert!(decode_batch(&bytes, &sample_batch().schema()).is_err());
    }
}

#[cfg(test)]
mod fuzz {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::record::format::layout;
    use crate::record::testdata::{all_types_batch, changes};

    /// xorshift64*: deterministic bytes for the mutation test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random byte changes under a recomputed CRC (so they reach the body checks and the
    /// Arrow decoder) give errors, never panics. `RECORD_FUZZ_ITERATIONS` runs longer.
    #[test]
    fn mutations_with_a_fixed_crc_never_panic() {
        let b = all_types_batch();
        let schema = b.schema();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut failures = 0;
        for (magic, compression) in [
            (0, Compression::None),
            (1, Compression::Lz4Frame),
            (2, Compression::Zstd),
        ] {
            let opts = EncodeOptions {
                magic,
                compression,
                ..Default::default()
            };
            let append_only = magic == 1;
            let ch = changes(4);
            let bytes = encode_batch(&b, (!append_only).then_some(&ch[..]), 0, &opts).unwrap();
            let l = layout(magic).unwrap();
            let iterations = std::env::var("RECORD_FUZZ_ITERATIONS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(3000);
            for _ in 0..iterations {
                let mut bad = bytes.clone();
                // half the time, aim at the header fields and the IPC metadata
                let end = if rng.below(2) == 0 {
                    bad.len()
                } else {
                    (l.header_len + 600).min(bad.len())
                };
                for _ in 0..1 + rng.below(4) {
                    let at = l.schema_id + rng.below(end - l.schema_id);
                    bad[at] = rng.next() as u8;
                }
                store_crc(&mut bad, l);
                let result = catch_unwind(AssertUnwindSafe(|| decode_batch(&bad, &schema)));
                match result {
                    Ok(Ok((lb, _))) => assert_eq!(lb.change_types.len(), lb.num_rows()),
                    Ok(Err(_)) => failures += 1,
                    Err(_) => panic!("decode panicked ({} bytes)", bad.len()),
                }
            }
        }
        assert!(failures > 0);
    }
}
