//! Union splits and their versioned byte envelope.
//!
//! Layout (all integers little-endian): the magic `LUSPLIT\0`, a `u16` envelope version,
//! a `u8` kind, a `u8` strategy, the partition values, an optional bucket, an optional
//! snapshot id, the lake splits (serializer version + bytes each) and the log ranges.
//! Every length is checked against the bytes left, so truncated or hostile input is a
//! typed error, never a panic or a huge allocation.

use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::table::{TableBucket, partition_name};

use super::options::MergeStrategy;

const MAGIC: &[u8; 8] = b"LUSPLIT\0";
/// The envelope version this build writes.
pub const UNION_SPLIT_VERSION: u16 = 1;

/// What a union split reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnionSplitKind {
    /// One lake split of a log table.
    LakeOnly,
    /// One bucket's log range of a log table.
    LogOnly,
    /// A primary-key bucket (or partition, for bucket-unaware lakes): lake splits merged
    /// with log ranges.
    LakeAndLog,
}

impl UnionSplitKind {
    fn byte(self) -> u8 {
        match self {
            UnionSplitKind::LakeOnly => 1,
            UnionSplitKind::LogOnly => 2,
            UnionSplitKind::LakeAndLog => 3,
        }
    }

    fn from_byte(b: u8) -> Result<Self> {
        Ok(match b {
            1 => UnionSplitKind::LakeOnly,
            2 => UnionSplitKind::LogOnly,
            3 => UnionSplitKind::LakeAndLog,
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedVersion,
                    format!("unknown union split kind {other}"),
                ));
            }
        })
    }
}

/// A lake split in its source's serialized form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializedLakeSplit {
    /// The split serializer's version.
    pub version: u32,
    /// The serializer's bytes.
    pub bytes: Vec<u8>,
}

/// The log records `[start, stop)` of one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRange {
    /// The bucket.
    pub bucket: TableBucket,
    /// The first offset to read (the tiered offset, or the log's earliest).
    pub start: i64,
    /// The offset to stop before.
    pub stop: i64,
}

impl LogRange {
    /// The number of offsets covered.
    pub fn len(&self) -> i64 {
        self.stop.saturating_sub(self.start).max(0)
    }

    /// Whether the range covers nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One unit of union-read work; serializable so that planners and readers may run apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionSplit {
    /// What the split reads.
    pub kind: UnionSplitKind,
    /// How lake and log rows merge (primary-key splits).
    pub strategy: MergeStrategy,
    /// The partition values; empty when not partitioned.
    pub partition: Vec<String>,
    /// The bucket; `None` for a bucket-unaware lake's partition-wide split.
    pub bucket: Option<u32>,
    /// The lake snapshot the lake splits belong to.
    pub snapshot_id: Option<i64>,
    /// The lake splits.
    pub lake_splits: Vec<SerializedLakeSplit>,
    /// The log ranges.
    pub log_ranges: Vec<LogRange>,
}

impl fmt::Display for UnionSplit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            UnionSplitKind::LakeOnly => "lake-only",
            UnionSplitKind::LogOnly => "log-only",
            UnionSplitKind::LakeAndLog => "lake+log",
        };
        write!(f, "{kind}")?;
        if !self.partition.is_empty() {
            write!(f, " partition {}", partition_name(&self.partition))?;
        }
        match self.bucket {
            Some(b) => write!(f, " bucket {b}")?,
            None => write!(f, " all buckets")?,
        }
        write!(f, ": {} lake split(s)", self.lake_splits.len())?;
        for r in &self.log_ranges {
            write!(f, ", log [{}, {}) of bucket {}", r.start, r.stop, r.bucket.bucket)?;
        }
        if self.kind == UnionSplitKind::LakeAndLog {
            write!(f, ", {}", self.strategy)?;
        }
        Ok(())
    }
}

impl UnionSplit {
    /// The number of log offsets the split reads.
    pub fn log_len(&self) -> i64 {
        // saturating: a hostile split's ranges must not overflow
        self.log_ranges.iter().fold(0i64, |n, r| n.saturating_add(r.len()))
    }

    /// The envelope bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.0.extend_from_slice(MAGIC);
        w.u16(UNION_SPLIT_VERSION);
        w.u8(self.kind.byte());
        w.u8(self.strategy.byte());
        w.strings(&self.partition);
        w.opt_u32(self.bucket);
        w.opt_i64(self.snapshot_id);
        w.u32(self.lake_splits.len() as u32);
        for s in &self.lake_splits {
            w.u32(s.version);
            w.bytes(&s.bytes);
        }
        w.u32(self.log_ranges.len() as u32);
        for r in &self.log_ranges {
            w.strings(&r.bucket.partition);
            w.u32(r.bucket.bucket);
            w.i64(r.start);
            w.i64(r.stop);
        }
        w.0
    }

    /// A split from envelope bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(Error::corrupt("not a union split (bad magic)"));
        }
        let version = r.u16()?;
        if version != UNION_SPLIT_VERSION {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion,
                format!("union split version {version} (this build reads {UNION_SPLIT_VERSION})"),
            ));
        }
        let kind = UnionSplitKind::from_byte(r.u8()?)?;
        let strategy = MergeStrategy::from_byte(r.u8()?)?;
        let partition = r.strings()?;
        let bucket = r.opt_u32()?;
        let snapshot_id = r.opt_i64()?;
        let n = r.count(8)?;
        let mut lake_splits = Vec::with_capacity(n);
        for _ in 0..n {
            let version = r.u32()?;
            let bytes = r.bytes()?.to_vec();
            lake_splits.push(SerializedLakeSplit { version, bytes });
        }
        let n = r.count(20)?;
        let mut log_ranges = Vec::with_capacity(n);
        for _ in 0..n {
            let partition = r.strings()?;
            let bucket = r.u32()?;
            let start = r.i64()?;
            let stop = r.i64()?;
            if start < 0 || stop < start {
                return Err(Error::corrupt(format!(
                    "union split has an invalid log range [{start}, {stop}) for bucket {bucket}"
                )));
            }
            log_ranges.push(LogRange {
                bucket: TableBucket { partition, bucket },
                start,
                stop,
            });
        }
        if r.pos != bytes.len() {
            return Err(Error::corrupt(format!(
                "union split has {} trailing bytes",
                bytes.len() - r.pos
            )));
        }
        Ok(Self {
            kind,
            strategy,
            partition,
            bucket,
            snapshot_id,
            lake_splits,
            log_ranges,
        })
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn opt_u32(&mut self, v: Option<u32>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.u32(v);
            }
            None => self.u8(0),
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
            None => self.u8(0),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn strings(&mut self, s: &[String]) {
        self.u32(s.len() as u32);
        for s in s {
            self.bytes(s.as_bytes());
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                Error::corrupt(format!(
                    "union split truncated: needs {n} bytes at position {} of {}",
                    self.pos,
                    self.bytes.len()
                ))
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// A count of items each at least `min_size` bytes long, checked against what is left.
    fn count(&mut self, min_size: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.pos {
            return Err(Error::corrupt(format!(
                "union split claims {n} items but only {} bytes are left",
                self.bytes.len() - self.pos
            )));
        }
        Ok(n)
    }
    fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            other => Err(Error::corrupt(format!("bad option tag {other} in union split"))),
        }
    }
    fn opt_u32(&mut self) -> Result<Option<u32>> {
        self.opt(|r| r.u32())
    }
    fn opt_i64(&mut self) -> Result<Option<i64>> {
        self.opt(|r| r.i64())
    }
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn strings(&mut self) -> Result<Vec<String>> {
        let n = self.count(4)?;
        (0..n)
            .map(|_| {
                let b = self.bytes()?;
                String::from_utf8(b.to_vec()).map_err(|_| Error::corrupt("union split has a non-UTF-8 partition value"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UnionSplit {
        UnionSplit {
            kind: UnionSplitKind::LakeAndLog,
            strategy: MergeStrategy::KeyFilter,
            partition: vec!["2024".into(), "us".into()],
            bucket: Some(3),
            snapshot_id: Some(42),
            lake_splits: vec![
                SerializedLakeSplit {
                    version: 2,
                    bytes: vec![1, 2, 3],
                },
                SerializedLakeSplit {
                    version: 2,
                    bytes: vec![],
                },
            ],
            log_ranges: vec![LogRange {
                bucket: TableBucket::partitioned(vec!["2024".into(), "us".into()], 3),
                start: 10,
                stop: 25,
            }],
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(UnionSplit::from_bytes(&s.to_bytes()).unwrap(), s);
        assert_eq!(
            s.to_string(),
            "lake+log partition 2024$us bucket 3: 2 lake split(s), log [10, 25) of bucket 3, key-filter"
        );
    }

    #[test]
    fn every_truncation_is_a_typed_error() {
        let bytes = sample().to_bytes();
        for n in 0..bytes.len() {
            let e = UnionSplit::from_bytes(&bytes[..n]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt, "at {n}: {e}");
        }
    }

    #[test]
    fn unknown_version_kind_and_hostile_counts() {
        let mut bytes = sample().to_bytes();
        bytes[8] = 9;
        assert_eq!(
            UnionSplit::from_bytes(&bytes).unwrap_err().kind(),
            ErrorKind::UnsupportedVersion
        );
        let mut bytes = sample().to_bytes();
        bytes[10] = 77;
        assert_eq!(
            UnionSplit::from_bytes(&bytes).unwrap_err().kind(),
            ErrorKind::UnsupportedVersion
        );
        // a partition count of 2^32-1 must not allocate
        let mut bytes = sample().to_bytes();
        bytes[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(UnionSplit::from_bytes(&bytes).unwrap_err().kind(), ErrorKind::Corrupt);
        let mut bytes = sample().to_bytes();
        bytes.push(0);
        assert!(
            UnionSplit::from_bytes(&bytes)
                .unwrap_err()
                .to_string()
                .contains("trailing")
        );
    }
}
