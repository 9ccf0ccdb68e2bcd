//! Reading a spilled run back: an Arrow IPC file whose footer and blocks are checked
//! against the file before anything is sized by them.
//!
//! arrow-ipc's `FileReader` allocates each block at the length the footer declares and
//! asserts on some malformed bodies, so a run damaged on disk could abort the process
//! (a flipped footer byte asked for 512 GiB) or panic. Here the footer is verified, every
//! block must lie between the file's magic and its footer, and a decoder that still gives
//! up ends the stream with a `Corrupt` error. A run has no checksum (neither has
//! DataFusion's): damage to its values reads back as other values.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::Block;
use arrow_ipc::reader::{FileDecoder, read_footer_length};
use arrow_schema::SchemaRef;

use crate::error::{Error, ErrorKind, Result, corrupt_on_panic};

/// The magic and padding an Arrow IPC file starts with.
const HEADER_LEN: u64 = 8;
/// The footer's length (4 bytes) and the closing magic (6).
const TRAILER_LEN: u64 = 10;
/// A message's continuation marker and metadata length.
const MESSAGE_PREFIX_LEN: u64 = 8;

/// A spill file opened for reading, its footer checked.
pub(crate) struct SpillFile {
    file: File,
    what: String,
    decoder: FileDecoder,
    /// The record batches' blocks, in order.
    batches: std::vec::IntoIter<Block>,
}

impl SpillFile {
    /// Opens the run at `path`, written under `schema`.
    pub(crate) fn open(path: &Path, schema: &SchemaRef) -> Result<Self> {
        let what = format!("spill run {}", path.display());
        let mut file =
            File::open(path).map_err(|e| Error::new(ErrorKind::Io, format!("{what} is gone")).with_source(e))?;
        let len = file.metadata()?.len();
        let corrupt = |detail: String| Error::corrupt(format!("{what}: {detail}"));
        let footer_end = len
            .checked_sub(TRAILER_LEN)
            .filter(|&end| end >= HEADER_LEN)
            .ok_or_else(|| corrupt(format!("{len} bytes are too few for an Arrow file")))?;
        let mut trailer = [0u8; TRAILER_LEN as usize];
        read_at(&mut file, footer_end, &mut trailer)?;
        let footer_len = read_footer_length(trailer).map_err(|e| corrupt(e.to_string()))? as u64;
        let body_end = footer_end
            .checked_sub(footer_len)
            .filter(|&end| end >= HEADER_LEN)
            .ok_or_else(|| corrupt(format!("a {footer_len}-byte footer does not fit in {len} bytes")))?;
        let mut footer_bytes = vec![0u8; footer_len as usize];
        read_at(&mut file, body_end, &mut footer_bytes)?;
        let footer = arrow_ipc::root_as_footer(&footer_bytes).map_err(|e| corrupt(format!("its footer: {e}")))?;
        let found = footer
            .schema()
            .ok_or_else(|| corrupt("its footer has no schema".into()))?;
        // arrow-ipc gives up on a type it does not know by panicking
        let found = corrupt_on_panic(&what, || Ok(arrow_ipc::convert::fb_to_schema(found)))?;
        // a run replaced behind the reader's back must not reach the merge, which indexes
        // its columns by position; every run is written under the schema it keeps
        if found.fields() != schema.fields() {
            return Err(corrupt(format!(
                "it holds columns ({found}), not the ones written ({schema})"
            )));
        }
        // the writer lists the record batches even when there are none: a footer without the
        // list is damaged, not an empty run
        let batches = footer
            .recordBatches()
            .ok_or_else(|| corrupt("its footer lists no record batches".into()))?;
        let batches = checked_blocks(batches.iter(), "record batch", body_end, &what)?;
        let dictionaries = checked_blocks(footer.dictionaries().iter().flatten(), "dictionary", body_end, &what)?;
        // the footer's schema, not the caller's: it carries the dictionary ids the writer
        // numbered the dictionaries by (equal fields ignore them)
        let mut decoder = FileDecoder::new(Arc::new(found), footer.version());
        for block in &dictionaries {
            let data = read_block(&mut file, block)?;
            corrupt_on_panic(&what, || {
                decoder.read_dictionary(block, &data).map_err(|e| undecodable(&what, e))
            })?;
        }
        Ok(Self {
            file,
            what,
            decoder,
            batches: batches.into_iter(),
        })
    }

    /// The next record batch, `None` past the last.
    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let Some(block) = self.batches.next() else {
            return Ok(None);
        };
        let data = read_block(&mut self.file, &block)?;
        let decoder = &self.decoder;
        let what = &self.what;
        let batch = corrupt_on_panic(what, || {
            decoder
                .read_record_batch(&block, &data)
                .map_err(|e| undecodable(what, e))
        })?;
        match batch {
            Some(batch) => Ok(Some(batch)),
            None => Err(Error::corrupt(format!(
                "{}: a record batch block holds no record batch",
                self.what
            ))),
        }
    }
}

/// A block arrow-ipc could not decode: damage, since the run was written by arrow-ipc.
fn undecodable(what: &str, e: arrow_schema::ArrowError) -> Error {
    Error::corrupt(format!("{what} does not decode")).with_source(e)
}

/// The blocks of a footer, each checked to lie between the file's magic and `body_end`
/// (where the footer starts), with room for a message's prefix (continuation marker and
/// length, which arrow-ipc reads without checking).
fn checked_blocks<'a>(
    blocks: impl Iterator<Item = &'a Block>,
    kind: &str,
    body_end: u64,
    what: &str,
) -> Result<Vec<Block>> {
    let within = |block: &Block| -> Option<()> {
        let start = u64::try_from(block.offset()).ok()?;
        let meta = u64::try_from(block.metaDataLength()).ok()?;
        let body = u64::try_from(block.bodyLength()).ok()?;
        let end = start.checked_add(meta)?.checked_add(body)?;
        (start >= HEADER_LEN && meta >= MESSAGE_PREFIX_LEN && end <= body_end).then_some(())
    };
    blocks
        .enumerate()
        .map(|(i, block)| match within(block) {
            Some(()) => Ok(*block),
            None => Err(Error::corrupt(format!(
                "{what}: {kind} block {i} ({} + {} bytes at byte {}) does not lie within its {body_end} bytes of blocks",
                block.metaDataLength(),
                block.bodyLength(),
                block.offset()
            ))),
        })
        .collect()
}

/// The bytes of a block already checked to lie within the file.
fn read_block(file: &mut File, block: &Block) -> Result<Buffer> {
    let len = block.metaDataLength() as usize + block.bodyLength() as usize;
    // aligned as arrow-ipc's own reader allocates it, so that its buffers need no copy
    let mut bytes = MutableBuffer::from_len_zeroed(len);
    read_at(file, block.offset() as u64, bytes.as_slice_mut())?;
    Ok(bytes.into())
}

fn read_at(file: &mut File, at: u64, buf: &mut [u8]) -> Result<()> {
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(buf)?;
    Ok(())
}
