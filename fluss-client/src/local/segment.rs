//! One bucket's log on disk: append-only segment files of Fluss log batches, rolled by
//! size and named by their first offset, with an in-memory index from offset to file
//! position.
//!
//! An append writes one whole encoded batch. What [`LocalLog::sync`](super::LocalLog::sync)
//! made durable, and what a clean close left, is recorded in the bucket's recovery point file
//! (`recovery-point`: the offset below which every batch was synced).
//!
//! - **Below the recovery point** a bad batch is damage to synced data: opening fails rather
//!   than cut it, as it does for a log that ends before its recovery point. Cutting synced
//!   batches would let new appends take offsets that a lake snapshot tiered from the old
//!   ones may cover. Opening reads only the headers of these batches (a full pass would
//!   cost as much as reading them); their CRCs are checked when they are read, and a bad one
//!   is then a typed error naming the segment and byte, never silently dropped or cut.
//! - **Past it** lies what a crash may have left half written. The page cache writes pages
//!   back in no set order, so a crash can leave any of these batches torn, zeroed or
//!   missing, and later ones (even later segments) whole. The writer therefore checks every
//!   batch past the recovery point in full when it opens the log, and cuts the log at the
//!   first bad one: that batch, the rest of its segment and every later segment go, as
//!   Kafka's log recovery does. Nothing after a lost batch could be kept without a gap in
//!   the offsets.
//!
//! Readers in other processes stop before an incomplete tail (it may still be being
//! written) and pick up new batches with [`BucketLog::refresh`]; they cut nothing, and a
//! bad batch with whole ones behind it is an error for them.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::record::{arrow_part_prefix, peek_header, read_header};

/// The bytes before a batch's length is known: base offset (8) and length (4).
const LOG_OVERHEAD: usize = 12;
/// The longest fixed header (V2).
const MAX_HEADER_LEN: usize = 56;
/// The file in a bucket directory that holds its recovery point.
const RECOVERY_POINT_FILE: &str = "recovery-point";

/// A segment file.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub path: PathBuf,
    pub len: u64,
}

/// Where one batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub base: i64,
    pub next: i64,
    pub segment: usize,
    pub pos: u64,
    pub len: u32,
}

impl IndexEntry {
    /// Whether a batch read where this entry points is the one indexed there.
    pub(crate) fn describes(&self, base: i64, next: i64, len: usize) -> bool {
        self.base == base && self.next == next && self.len as usize == len
    }

    /// The error for a batch `at` that is no longer the one indexed there.
    pub(crate) fn rewritten(&self, at: &str) -> Error {
        Error::corrupt(format!(
            "{at} was rewritten since it was indexed (an appender recovered the log since): reopen this reader"
        ))
    }
}

/// One bucket's segments and index.
#[derive(Debug)]
pub(crate) struct BucketLog {
    dir: PathBuf,
    pub segments: Vec<Segment>,
    pub index: Vec<IndexEntry>,
    /// The offset the next batch gets.
    pub end: i64,
    /// The batches below this offset are known to be on disk (fsynced); those from it to
    /// `end` may still sit in the page cache.
    pub durable: i64,
    /// The offset the recovery point file holds (at most `durable`).
    recovery_point: i64,
    writer: Option<File>,
}

fn segment_name(base: i64) -> String {
    format!("{base:020}.log")
}

fn io(e: std::io::Error, what: impl std::fmt::Display) -> Error {
    let kind = if e.kind() == std::io::ErrorKind::NotFound {
        ErrorKind::NotFound
    } else {
        ErrorKind::Io
    };
    Error::new(kind, what.to_string()).with_source(e)
}

/// What scanning a segment from some position found.
enum Scan {
    /// Every byte is a complete, valid batch.
    Clean,
    /// The bytes from this position on are not a complete valid batch; `last` says whether
    /// the bad batch reaches the end of the file (a torn tail) rather than sitting in the middle.
    Bad { pos: u64, last: bool, error: Error },
}

impl BucketLog {
    /// A new, empty bucket directory. Its name is made durable with its first synced
    /// batch (see [`sync_ancestors`]), not here: appends do not wait for the disk.
    pub(crate) fn create(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| io(e, format!("cannot create {}", dir.display())))?;
        Ok(Self {
            dir,
            segments: Vec::new(),
            index: Vec::new(),
            end: 0,
            durable: 0,
            recovery_point: 0,
            writer: None,
        })
    }

    /// Opens a bucket directory. `recover` (the writer) checks every batch past the
    /// recovery point and cuts the log at the first bad one (see the module docs); readers
    /// stop before a torn tail instead.
    pub(crate) fn open(dir: PathBuf, recover: bool) -> Result<Self> {
        let recovery_point = read_recovery_point(&dir)?;
        let mut log = Self {
            dir,
            segments: Vec::new(),
            index: Vec::new(),
            end: 0,
            // what an earlier process wrote past its last sync may not be on disk
            durable: recovery_point,
            recovery_point,
            writer: None,
        };
        let mut names: Vec<(i64, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&log.dir).map_err(|e| io(e, format!("cannot list {}", log.dir.display())))? {
            let path = entry?.path();
            let base = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
                .and_then(|n| n.parse::<i64>().ok())
                // only names this log writes: a stray `8.log` is no segment (recovery would
                // take it for a gap, and cut the log there), nor a negative offset's
                .filter(|&base| base >= 0 && path.file_name().is_some_and(|n| *n == *segment_name(base)));
            if let Some(base) = base {
                names.push((base, path));
            }
        }
        names.sort();
        let n = names.len();
        // the log keeps every offset from 0 (nothing deletes old segments), so a first
        // segment past 0 is a gap like any other
        for (i, (base, path)) in names.iter().enumerate() {
            if *base != log.end {
                let before = match i {
                    0 => "the log begins at offset 0".to_string(),
                    _ => format!("the previous segment ends at {}", log.end),
                };
                let error = Error::corrupt(format!(
                    "segment {} starts at offset {base} but {before}",
                    path.display()
                ));
                if recover && log.end >= recovery_point {
                    // a segment lost in a crash, past the recovery point
                    log.cut(None, &names[i..])?;
                    break;
                }
                return Err(error);
            }
            log.segments.push(Segment {
                base_offset: *base,
                path: path.clone(),
                len: 0,
            });
            // the appender checks in full what a crash may have torn, and needs no judgement
            // of a bad tail: below the recovery point it is an error, past it the log is cut
            // whatever follows
            let scan = match recover {
                true => log.scan_segment_batches(i, 0, recovery_point)?,
                false => log.scan_segment(i, 0)?,
            };
            match scan {
                Scan::Clean => {}
                Scan::Bad { pos, last, error } => {
                    // the bad batch starts at offset `end`
                    if log.end < recovery_point {
                        return Err(error.context(format!(
                            "the batch at offset {} of a log synced up to offset {recovery_point} is damaged, and synced batches are not cut",
                            log.end
                        )));
                    }
                    if recover {
                        log.cut(Some(pos), &names[i + 1..])?;
                        break;
                    }
                    if !(i + 1 == n && last) {
                        return Err(error);
                    }
                }
            }
        }
        if log.end < recovery_point {
            return Err(Error::corrupt(format!(
                "{}: the log ends at offset {} but was synced up to offset {recovery_point}: segments are missing or were cut",
                log.dir.display(),
                log.end
            )));
        }
        Ok(log)
    }

    /// Cuts the log where recovery found its first bad batch: the last segment opened at
    /// byte `pos` (`None` keeps it whole), and the `later` segments (never opened) go. The
    /// cut segment is made durable first, then the directory: a crash in between leaves a
    /// log that the next open cuts the same way.
    fn cut(&mut self, pos: Option<u64>, later: &[(i64, PathBuf)]) -> Result<()> {
        if let (Some(pos), Some(seg)) = (pos, self.segments.last_mut()) {
            let f = OpenOptions::new()
                .write(true)
                .open(&seg.path)
                .map_err(|e| io(e, format!("cannot open {}", seg.path.display())))?;
            f.set_len(pos)
                .and_then(|_| f.sync_all())
                .map_err(|e| io(e, format!("cannot cut {} at byte {pos}", seg.path.display())))?;
            seg.len = pos;
        }
        for (_, path) in later {
            std::fs::remove_file(path).map_err(|e| {
                io(
                    e,
                    format!("cannot remove {}, past the cut of a torn log", path.display()),
                )
            })?;
        }
        sync_dir(&self.dir)
    }

    /// Indexes the batches of segment `i` from byte `from` for a reader, judging a bad
    /// batch: a torn tail (`last`), which a reader stops before, or damage in place.
    fn scan_segment(&mut self, i: usize, from: u64) -> Result<Scan> {
        let scan = self.scan_segment_batches(i, from, i64::MAX)?;
        // where the scan stopped: the offset of the bad batch, which any later valid batch
        // of this log lies beyond
        let expected = self.end;
        let Scan::Bad { pos, last, error } = scan else {
            return Ok(scan);
        };
        let path = &self.segments[i].path;
        let mut rest = Vec::new();
        let mut f = File::open(path).map_err(|e| io(e, format!("cannot open segment {}", path.display())))?;
        f.seek(SeekFrom::Start(pos))?;
        f.read_to_end(&mut rest)?;
        let last = match last {
            // a torn write in progress has nothing whole after it: a valid later batch means
            // the bad one was corrupted in place (or torn by a crash the appender has not
            // recovered from yet), and a reader must not take what follows for the end of
            // the log
            true => !has_valid_batch_after(&rest, expected),
            // zeros from the bad batch to the end of the file are what a crash leaves when
            // the file grew before its data landed: a torn tail as well
            false => rest.iter().all(|&b| b == 0),
        };
        Ok(Scan::Bad { pos, last, error })
    }

    /// Indexes the batches of segment `i` from byte `from`, checking those at or past
    /// offset `verify_from` in full (CRC included), up to the first bad one.
    fn scan_segment_batches(&mut self, i: usize, from: u64, verify_from: i64) -> Result<Scan> {
        let path = self.segments[i].path.clone();
        let mut file = File::open(&path).map_err(|e| io(e, format!("cannot open segment {}", path.display())))?;
        let file_len = file.metadata()?.len();
        let mut pos = from;
        let mut buf = Vec::new();
        while pos < file_len {
            let bad = |what: String, last: bool| Scan::Bad {
                pos,
                last,
                error: Error::corrupt(format!("segment {} at byte {pos}: {what}", path.display())),
            };
            if file_len - pos < LOG_OVERHEAD as u64 {
                return Ok(bad("truncated batch header".into(), true));
            }
            // one read takes the length and, mostly, the whole header with it
            let first = (MAX_HEADER_LEN as u64).min(file_len - pos) as usize;
            buf.resize(first, 0);
            read_exact_at(&mut file, &mut buf, pos)?;
            let length = i32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
            if length < 0 {
                return Ok(bad(format!("negative batch length {length}"), false));
            }
            let total = LOG_OVERHEAD as u64 + length as u64;
            if pos + total > file_len {
                return Ok(bad(
                    format!("truncated batch: {total} bytes claimed, {} left", file_len - pos),
                    true,
                ));
            }
            // the file's last batch, where a crash mid-append leaves a torn write, and those
            // past `verify_from` are read and checked in full here; the others are indexed
            // from their headers and checked (CRC included) when they are read
            let last_in_file = pos + total == file_len;
            let full = last_in_file || self.end >= verify_from;
            let want = if full {
                total as usize
            } else {
                (total as usize).min(MAX_HEADER_LEN)
            };
            if want > buf.len() {
                let have = buf.len();
                buf.resize(want, 0);
                read_exact_at(&mut file, &mut buf[have..], pos + have as u64)?;
            } else {
                buf.truncate(want);
            }
            let checked = if full { read_header(&buf) } else { peek_header(&buf) };
            let header = match checked {
                Ok(h) => h,
                Err(e) => {
                    return Ok(Scan::Bad {
                        pos,
                        last: last_in_file,
                        error: e.context(format!("segment {} at byte {pos}", path.display())),
                    });
                }
            };
            if header.base_offset != self.end {
                return Ok(bad(
                    format!(
                        "batch at offset {} where offset {} was expected",
                        header.base_offset, self.end
                    ),
                    false,
                ));
            }
            self.index.push(IndexEntry {
                base: header.base_offset,
                next: header.next_offset(),
                segment: i,
                pos,
                len: total as u32,
            });
            self.end = header.next_offset();
            pos += total;
            self.segments[i].len = pos;
        }
        Ok(Scan::Clean)
    }

    /// Picks up batches another process appended since this one looked (whole batches
    /// only; an incomplete tail is left for later).
    pub(crate) fn refresh(&mut self) -> Result<()> {
        if let Some(last) = self.segments.len().checked_sub(1) {
            let from = self.segments[last].len;
            if let Scan::Bad { last: false, error, .. } = self.scan_segment(last, from)? {
                return Err(error);
            }
            // new segments start where the last one ends; several may have rolled since
            loop {
                let i = self.segments.len() - 1;
                if self.segments[i].len == 0 {
                    break;
                }
                let next = self.dir.join(segment_name(self.end));
                if !next.exists() {
                    break;
                }
                self.segments.push(Segment {
                    base_offset: self.end,
                    path: next,
                    len: 0,
                });
                if let Scan::Bad { last: false, error, .. } = self.scan_segment(i + 1, 0)? {
                    return Err(error);
                }
            }
        } else {
            let fresh = Self::open(self.dir.clone(), false)?;
            *self = fresh;
        }
        Ok(())
    }

    /// Appends one encoded batch covering offsets `[self.end, next)`.
    pub(crate) fn append(&mut self, bytes: &[u8], next: i64, segment_bytes: u64, sync: bool) -> Result<()> {
        let roll = self.segments.last().is_none_or(|s| s.len >= segment_bytes);
        if roll {
            let path = self.dir.join(segment_name(self.end));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| io(e, format!("cannot create segment {}", path.display())))?;
            if sync {
                // the new file's name must survive a crash too, and a new bucket's own
                if self.segments.is_empty() {
                    sync_ancestors(&self.dir)?;
                }
                sync_dir(&self.dir)?;
            }
            self.segments.push(Segment {
                base_offset: self.end,
                path,
                len: 0,
            });
            self.writer = Some(file);
        }
        let i = self.segments.len() - 1;
        if self.writer.is_none() {
            let path = &self.segments[i].path;
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| io(e, format!("cannot open segment {}", path.display())))?;
            self.writer = Some(file);
        }
        let seg = &mut self.segments[i];
        let Some(file) = self.writer.as_mut() else {
            return Err(Error::new(ErrorKind::Io, "no segment open for appending"));
        };
        let written = file
            .write_all(bytes)
            .and_then(|_| if sync { file.sync_data() } else { Ok(()) });
        if let Err(e) = written {
            // leave no partial batch behind
            let _ = file.set_len(seg.len);
            return Err(io(e, format!("cannot append to segment {}", seg.path.display())));
        }
        self.index.push(IndexEntry {
            base: self.end,
            next,
            segment: i,
            pos: seg.len,
            len: bytes.len() as u32,
        });
        seg.len += bytes.len() as u64;
        self.end = next;
        // the sync covered this segment only: what earlier ones hold past `durable` (an
        // unsynced writer's, or a crashed one's) is still for `sync` to make durable
        if sync && self.durable >= seg.base_offset {
            self.durable = next;
        }
        Ok(())
    }

    /// What making every batch indexed so far durable takes (see [`SyncPlan`]); `None`
    /// when the recovery point covers them already. Segments wholly below
    /// [`durable`](Self::durable) are not synced again.
    ///
    /// `read_only`: a reader indexes the batches past the recovery point from their
    /// headers, and recording them unchecked would make a crash's damage in them synced
    /// data the appender never cuts, so its sync checks them in full first. (The appender
    /// checked them when it opened the log, or wrote them.)
    pub(crate) fn plan_sync(&self, read_only: bool) -> Option<SyncPlan> {
        if self.recovery_point >= self.end {
            return None;
        }
        let segments = (0..self.segments.len())
            // segment i holds the offsets below the next segment's base
            .filter(|&i| self.segments.get(i + 1).map_or(self.end, |next| next.base_offset) > self.durable)
            .map(|i| self.segments[i].path.clone())
            .collect();
        let mut check: Vec<(PathBuf, Vec<IndexEntry>)> = Vec::new();
        if read_only {
            let first = self.index.partition_point(|e| e.next <= self.recovery_point);
            for run in self.index[first..].chunk_by(|a, b| a.segment == b.segment) {
                check.push((self.segments[run[0].segment].path.clone(), run.to_vec()));
            }
        }
        Some(SyncPlan {
            dir: self.dir.clone(),
            new_bucket: self.recovery_point == 0,
            segments,
            check,
            end: self.end,
        })
    }

    /// Takes note of a [`SyncPlan`] that ran.
    pub(crate) fn synced(&mut self, plan: &SyncPlan) {
        self.durable = self.durable.max(plan.end);
        self.recovery_point = self.recovery_point.max(plan.end);
    }

    /// The first index entry whose batch holds offsets at or after `offset`, and the entries
    /// right behind it in the same segment, up to `max_bytes` in all (at least one) and to
    /// the first batch that starts at or after `stop`: batches one read can fetch together.
    pub(crate) fn entries_after(&self, offset: i64, stop: Option<i64>, max_bytes: u64) -> Vec<IndexEntry> {
        let first = self.index.partition_point(|e| e.next <= offset);
        let mut out: Vec<IndexEntry> = Vec::new();
        let mut bytes = 0u64;
        for e in &self.index[first.min(self.index.len())..] {
            let contiguous = out
                .last()
                .is_none_or(|l| l.segment == e.segment && l.pos + u64::from(l.len) == e.pos);
            let room = out.is_empty() || bytes + u64::from(e.len) <= max_bytes;
            let wanted = out.is_empty() || stop.is_none_or(|s| e.base < s);
            if !(contiguous && room && wanted) {
                break;
            }
            bytes += u64::from(e.len);
            out.push(*e);
        }
        out
    }

    /// The path of a segment.
    pub(crate) fn segment_path(&self, segment: usize) -> Option<&Path> {
        self.segments.get(segment).map(|s| s.path.as_path())
    }
}

/// Whether `bytes` (from a bad batch on) hold a whole, CRC-valid batch at a later offset than
/// `expected`: proof, to a reader, that the bad batch is not a torn tail in progress. Only
/// runs on the error path.
///
/// Every byte position is a candidate. One whose header holds together (its offset and
/// length, then [`peek_header`]) and whose records start as an Arrow part does (an empty
/// one, or the IPC continuation marker and a metadata length that fits) costs a CRC over
/// its claimed length, so a crafted tail could make
/// the search quadratic: past [`CRC_WORK_PER_BYTE`] bytes checked per byte of tail (and at
/// least [`MIN_CRC_WORK`]) it answers yes, and the reader reports the segment corrupt.
fn has_valid_batch_after(bytes: &[u8], expected: i64) -> bool {
    let budget = (bytes.len() as u64).saturating_mul(CRC_WORK_PER_BYTE).max(MIN_CRC_WORK);
    valid_batch_within(bytes, expected, budget)
}

/// [`has_valid_batch_after`] with `budget` bytes of CRC work.
fn valid_batch_within(bytes: &[u8], expected: i64, mut budget: u64) -> bool {
    (1..bytes.len().saturating_sub(LOG_OVERHEAD)).any(|q| {
        // most positions fail on their offset or length: turned away here without
        // `peek_header`, whose errors are formatted strings
        let base = i64::from_le_bytes(bytes[q..q + 8].try_into().unwrap_or([0; 8]));
        let length = i32::from_le_bytes(bytes[q + 8..q + 12].try_into().unwrap_or([0; 4]));
        if base <= expected || length < 0 || q + LOG_OVERHEAD + length as usize > bytes.len() {
            return false;
        }
        let Ok(header) = peek_header(&bytes[q..]) else {
            return false;
        };
        // the checks above hold for the header too: it is read from the same bytes
        let size = header.size_in_bytes();
        // nor do its records start as every batch's do: inside a column of ascending
        // integers nearly every value starts a header that holds together
        let part = bytes.get(q + header.arrow_part_start()..q + size);
        if part.is_none_or(|part| arrow_part_prefix(part, header.record_count).is_err()) {
            return false;
        }
        budget = budget.saturating_sub(size as u64);
        budget == 0 || header.crc_matches(&bytes[q..q + size])
    })
}

/// See [`has_valid_batch_after`]: a real torn tail costs a few passes at most.
const CRC_WORK_PER_BYTE: u64 = 64;
/// See [`has_valid_batch_after`]: about 25 ms of CRC work, whatever the tail's size.
const MIN_CRC_WORK: u64 = 256 << 20;

/// Fills `buf` from byte `pos` of `file`: one `pread` on Unix (no seek), else a seek and a
/// read.
fn read_exact_at(file: &mut File, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, pos)
    }
    #[cfg(not(unix))]
    {
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(buf)
    }
}

/// A bucket's sync, planned under the log's lock and run outside it, so that appends and
/// reads do not wait for the disk: fsync the segments, then the directory (the names of
/// segments created since), then record `end` as the recovery point. Every batch below
/// `end` was whole when planned, and bytes once written are not rewritten, so the
/// recovery point never claims more than is on disk; of two syncs that race, the file may
/// keep the lower point, which only costs a later open the stricter checks.
#[derive(Debug)]
pub(crate) struct SyncPlan {
    dir: PathBuf,
    /// No sync has recorded a recovery point here yet: the bucket's name may not be durable.
    new_bucket: bool,
    segments: Vec<PathBuf>,
    /// The batches to check in full before anything is recorded, by segment (see
    /// [`BucketLog::plan_sync`]).
    check: Vec<(PathBuf, Vec<IndexEntry>)>,
    end: i64,
}

impl SyncPlan {
    pub(crate) fn run(&self) -> Result<()> {
        for (path, entries) in &self.check {
            check_batches(path, entries)?;
        }
        for path in &self.segments {
            File::open(path)
                .and_then(|f| f.sync_data())
                .map_err(|e| io(e, format!("cannot sync segment {}", path.display())))?;
        }
        if self.new_bucket {
            sync_ancestors(&self.dir)?;
        }
        sync_dir(&self.dir)?;
        super::write_durably(&self.dir, RECOVERY_POINT_FILE, self.end.to_string().as_bytes())
            .map_err(|e| e.context(format!("recording the recovery point of {}", self.dir.display())))
    }
}

/// Reads the indexed batches `entries` of the segment at `path` and checks each in full (CRC
/// included): a damaged one is a `Corrupt` error naming it.
fn check_batches(path: &Path, entries: &[IndexEntry]) -> Result<()> {
    let mut file = File::open(path).map_err(|e| io(e, format!("cannot open segment {}", path.display())))?;
    let mut buf = Vec::new();
    for entry in entries {
        let at = || {
            format!(
                "the batch at offset {} of segment {} (byte {}), which a sync was to record as durable",
                entry.base,
                path.display(),
                entry.pos
            )
        };
        buf.resize(entry.len as usize, 0);
        read_exact_at(&mut file, &mut buf, entry.pos).map_err(|e| io(e, format!("cannot read {}", at())))?;
        let header = read_header(&buf).map_err(|e| {
            e.context(format!(
                "{}: the appender's next open recovers the log (it cuts there), and a reader \
                 reopened after it reads on",
                at()
            ))
        })?;
        if !entry.describes(header.base_offset, header.next_offset(), header.size_in_bytes()) {
            return Err(entry.rewritten(&at()));
        }
    }
    Ok(())
}

/// The recovery point recorded in a bucket directory; 0 when none is.
fn read_recovery_point(dir: &Path) -> Result<i64> {
    let path = dir.join(RECOVERY_POINT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e, format!("cannot read {}", path.display()))),
    };
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|&offset| offset >= 0)
        .ok_or_else(|| Error::corrupt(format!("{} holds {:?}, not an offset", path.display(), text.trim())))
}

/// Makes a bucket directory's name durable: in its parent (the table's log directory or a
/// partition's), and the parent's in its own, for a partition directory made with it. A
/// crash must not lose a bucket whose batches were synced.
fn sync_ancestors(bucket_dir: &Path) -> Result<()> {
    bucket_dir.ancestors().skip(1).take(2).try_for_each(sync_dir)
}

/// Makes a directory's entries durable (file creations and renames in it).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(e, format!("cannot sync directory {}", dir.display())))
}

/// Reads the bytes of consecutive indexed batches (contiguous in one segment, as
/// [`BucketLog::entries_after`] picks them) from an open segment file, in one read.
///
/// `position` is where the file is positioned, when known: a read right after the last one
/// (a sequential scan) needs no seek. It is updated, and forgotten on errors.
pub(crate) fn read_entries(
    file: &mut File,
    path: &Path,
    entries: &[IndexEntry],
    position: &mut Option<u64>,
) -> Result<Vec<u8>> {
    let (Some(entry), Some(last)) = (entries.first(), entries.last()) else {
        return Ok(Vec::new());
    };
    let len = last.pos + u64::from(last.len) - entry.pos;
    // no zero-filling: the read fills exactly `len` bytes or fails
    let mut buf = Vec::with_capacity(len as usize);
    let at = position.take();
    let seek = if at == Some(entry.pos) {
        Ok(entry.pos)
    } else {
        file.seek(SeekFrom::Start(entry.pos))
    };
    seek.and_then(|_| Read::by_ref(file).take(len).read_to_end(&mut buf))
        .and_then(|n| {
            if n as u64 == len {
                Ok(())
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("read {n} of {len} bytes"),
                ))
            }
        })
        .map_err(|e| {
            io(
                e,
                format!(
                    "cannot read the batch at offset {} from segment {} (byte {})",
                    entry.base,
                    path.display(),
                    entry.pos
                ),
            )
        })?;
    *position = Some(entry.pos + len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::testdata::sample_batch;
    use crate::record::{EncodeOptions, encode_batch};

    /// A byte, then `count` copies of a batch at offset 1000 whose last byte is damaged
    /// (each a candidate whose header holds together, costing a CRC check), then the batch
    /// whole when `valid_last`. Also returns one batch's size.
    fn tail(count: usize, valid_last: bool) -> Result<(Vec<u8>, u64)> {
        let batch = encode_batch(&sample_batch(), None, 1000, &EncodeOptions::default())?;
        let mut damaged = batch.clone();
        if let Some(last) = damaged.last_mut() {
            *last ^= 0xff;
        }
        let mut bytes = vec![0u8];
        for _ in 0..count {
            bytes.extend_from_slice(&damaged);
        }
        if valid_last {
            bytes.extend_from_slice(&batch);
        }
        Ok((bytes, batch.len() as u64))
    }

    #[test]
    fn a_tail_costing_more_crc_work_than_its_budget_is_kept_not_cut() -> Result<()> {
        let (garbage, size) = tail(8, false)?;
        // with room to check every candidate (positions inside a batch can pass the cheap
        // header checks too): no valid batch, so a torn tail
        assert!(!valid_batch_within(&garbage, 10, u64::MAX));
        assert!(!has_valid_batch_after(&garbage, 10));
        // a whole batch behind the damaged ones is found
        let (proof, _) = tail(8, true)?;
        assert!(valid_batch_within(&proof, 10, u64::MAX));
        // at or below the expected offset it proves nothing
        assert!(!valid_batch_within(&proof, 1000, u64::MAX));
        // past the budget the answer is the one that cuts nothing
        assert!(valid_batch_within(&garbage, 10, size));
        Ok(())
    }

    #[test]
    fn a_torn_batch_of_ascending_keys_is_a_torn_tail() -> Result<()> {
        // regression: inside a column of ascending Int64 keys nearly every key starts a
        // header that holds together (offset past the expected one, a length from the
        // next key, zeros for magic, counts and flags); each cost a CRC over its claimed
        // length, the budget ran out, and a reader took a write in progress for damage
        use arrow_array::{Int64Array, RecordBatch};
        let keys = Int64Array::from_iter_values(1..=100_000);
        let rows = RecordBatch::try_from_iter([("k", std::sync::Arc::new(keys) as arrow_array::ArrayRef)])?;
        let batch = encode_batch(&rows, None, 5, &EncodeOptions::default())?;
        let torn = &batch[1..batch.len() / 2];
        assert!(!has_valid_batch_after(torn, 5));
        Ok(())
    }
}
