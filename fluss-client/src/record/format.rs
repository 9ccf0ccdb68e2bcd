//! The fixed-header layout of each log-batch magic version: constants and field offsets.
//!
//! All multi-byte integers are little-endian. Every version starts with the same
//! 21 bytes (`BaseOffset` i64, `Length` i32, `Magic` i8, `CommitTimestamp` i64); V2
//! inserts `LeaderEpoch` (i32) after the commit timestamp, and V1/V2 end the header with
//! `StatisticsLength` (i32). See `docs/fluss-formats.md` §1.2.

use crate::error::{Error, Result};

/// The base layout: no leader epoch, no statistics. What Fluss clients write.
pub const MAGIC_V0: u8 = 0;
/// V0 plus `StatisticsLength` (the Fluss 1.0 meaning of magic 1).
pub const MAGIC_V1: u8 = 1;
/// V1 plus `LeaderEpoch`.
pub const MAGIC_V2: u8 = 2;

/// The writer id of a batch written without idempotence.
pub const NO_WRITER_ID: i64 = -1;
/// The batch sequence of a batch written without idempotence.
pub const NO_BATCH_SEQUENCE: i32 = -1;
/// The leader epoch of a batch no leader has stamped.
pub const NO_LEADER_EPOCH: i32 = -1;

/// The bytes before `Length` counts: `BaseOffset` and `Length` themselves.
pub(crate) const LOG_OVERHEAD: usize = 12;
pub(crate) const BASE_OFFSET_OFFSET: usize = 0;
pub(crate) const LENGTH_OFFSET: usize = 8;
pub(crate) const MAGIC_OFFSET: usize = 12;
pub(crate) const COMMIT_TIMESTAMP_OFFSET: usize = 13;

/// Attribute bit 0: the batch has no change-type vector and every row is `+A`.
pub(crate) const APPEND_ONLY_FLAG: u8 = 0x01;

/// Where the fields after the common prefix sit for one magic version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub leader_epoch: Option<usize>,
    pub crc: usize,
    /// The CRC covers `[schema_id, end of batch)`.
    pub schema_id: usize,
    pub attributes: usize,
    pub last_offset_delta: usize,
    pub writer_id: usize,
    pub batch_sequence: usize,
    pub record_count: usize,
    pub statistics_length: Option<usize>,
    /// The size of the fixed header; statistics (V1/V2) or records start here.
    pub header_len: usize,
}

/// The layout after the common prefix, starting `shift` bytes later than V0's.
const fn shifted(shift: usize, leader_epoch: Option<usize>, statistics: bool) -> Layout {
    let record_count = 44 + shift;
    Layout {
        leader_epoch,
        crc: 21 + shift,
        schema_id: 25 + shift,
        attributes: 27 + shift,
        last_offset_delta: 28 + shift,
        writer_id: 32 + shift,
        batch_sequence: 40 + shift,
        record_count,
        statistics_length: if statistics { Some(record_count + 4) } else { None },
        header_len: if statistics { record_count + 8 } else { record_count + 4 },
    }
}

const LAYOUT_V0: Layout = shifted(0, None, false);
const LAYOUT_V1: Layout = shifted(0, None, true);
const LAYOUT_V2: Layout = shifted(4, Some(21), true);

/// The layout of `magic`, or `None` for a magic this build does not know.
pub(crate) const fn layout(magic: u8) -> Option<&'static Layout> {
    match magic {
        MAGIC_V0 => Some(&LAYOUT_V0),
        MAGIC_V1 => Some(&LAYOUT_V1),
        MAGIC_V2 => Some(&LAYOUT_V2),
        _ => None,
    }
}

/// The layout of a magic given by a caller who wants to write it.
pub(crate) fn layout_for_write(magic: u8) -> Result<&'static Layout> {
    layout(magic).ok_or_else(|| {
        Error::invalid(format!(
            "cannot write log batch magic {magic}: known magics are {MAGIC_V0}, {MAGIC_V1} and {MAGIC_V2}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_documented_table() {
        let v0 = layout(MAGIC_V0).unwrap();
        assert_eq!(
            (v0.crc, v0.schema_id, v0.attributes, v0.last_offset_delta, v0.writer_id),
            (21, 25, 27, 28, 32)
        );
        assert_eq!((v0.batch_sequence, v0.record_count, v0.header_len), (40, 44, 48));
        assert_eq!((v0.leader_epoch, v0.statistics_length), (None, None));

        let v1 = layout(MAGIC_V1).unwrap();
        assert_eq!((v1.crc, v1.schema_id, v1.record_count), (21, 25, 44));
        assert_eq!(
            (v1.leader_epoch, v1.statistics_length, v1.header_len),
            (None, Some(48), 52)
        );

        let v2 = layout(MAGIC_V2).unwrap();
        assert_eq!(
            (
                v2.leader_epoch,
                v2.crc,
                v2.schema_id,
                v2.attributes,
                v2.last_offset_delta
            ),
            (Some(21), 25, 29, 31, 32)
        );
        assert_eq!((v2.writer_id, v2.batch_sequence, v2.record_count), (36, 44, 48));
        assert_eq!((v2.statistics_length, v2.header_len), (Some(52), 56));
    }

    #[test]
    fn unknown_magic_has_no_layout() {
        assert!(layout(3).is_none());
        assert!(layout(9).is_none());
        assert!(layout_for_write(9).is_err());
    }
}
