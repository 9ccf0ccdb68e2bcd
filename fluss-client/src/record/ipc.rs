//! The Arrow part of a batch: one encapsulated Arrow IPC RecordBatch message
//! (`0xFFFFFFFF`, metadata length, flatbuffer `Message`, body) with no schema message,
//! optionally with Arrow IPC body compression. See `docs/fluss-formats.md` §1.3.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::writer::{CompressionContext, DictionaryTracker, IpcDataGenerator, IpcWriteOptions, write_message};
use arrow_ipc::{CompressionType, MessageHeader, MetadataVersion};
use arrow_schema::{DataType, SchemaRef};

use crate::error::{Error, ErrorKind, Result};

/// The continuation marker that starts an encapsulated IPC message.
const CONTINUATION: u32 = 0xFFFF_FFFF;
/// The continuation marker and the metadata length.
const PREFIX_LEN: usize = 8;
/// Buffer alignment of what we write (Fluss's Java writer aligns to 8 as well).
const ALIGNMENT: usize = 8;
/// The largest uncompressed buffer a compressed body may declare. Java's Arrow caps a
/// buffer at `Integer.MAX_VALUE`; the check keeps a damaged length from asking for an
/// absurd allocation.
const MAX_UNCOMPRESSED_BUFFER: i64 = i32::MAX as i64;

/// What a body may make in all: its buffers uncompressed and a byte per row (the change
/// type of each row of an append-only batch), this many bytes, or [`MAX_INFLATION`] times
/// the body's size where that is more. The decoder allocates what the body declares before
/// it inflates it, so a few kilobytes of zeros could otherwise ask for gigabytes. Fluss writes batches of a few MiB (`writer.batch-size`,
/// 2 MiB by default), well inside both.
const MIN_INFLATED_BODY: u64 = 512 << 20;
/// See [`MIN_INFLATED_BODY`].
const MAX_INFLATION: u64 = 128;

/// Appends `batch` as one IPC RecordBatch message (no schema message) to `out`.
pub(crate) fn write_arrow_part(
    batch: &RecordBatch,
    compression: Option<CompressionType>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let options = IpcWriteOptions::try_new(ALIGNMENT, false, MetadataVersion::V5)
        .and_then(|o| o.try_with_compression(compression))
        .map_err(|e| Error::new(ErrorKind::Arrow, "cannot set up the Arrow IPC writer").with_source(e))?;
    let (dictionaries, message) = IpcDataGenerator::default()
        .encode(
            batch,
            &mut DictionaryTracker::new(false),
            &options,
            &mut CompressionContext::default(),
        )
        .map_err(|e| Error::new(ErrorKind::Arrow, "cannot encode the batch as Arrow IPC").with_source(e))?;
    if !dictionaries.is_empty() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "dictionary-encoded columns cannot be written to a Fluss log batch (it carries no dictionary messages)",
        ));
    }
    // one allocation for the whole message: growing `out` while the body is written would
    // copy it several times over (continuation and length, metadata padded to the
    // alignment, then the body, padded too)
    out.reserve_exact(2 * ALIGNMENT + message.ipc_message.len() + message.arrow_data.len() + ALIGNMENT);
    write_message(&mut *out, message, &options)
        .map_err(|e| Error::new(ErrorKind::Arrow, "cannot write the Arrow IPC message").with_source(e))?;
    Ok(())
}

/// Decodes the Arrow part of a batch against the table schema. `what` names the batch in
/// messages. An empty part is an empty batch, allowed only when `record_count` is 0.
#[cfg(test)]
pub(crate) fn read_arrow_part(part: &[u8], schema: &SchemaRef, record_count: i32, what: &str) -> Result<RecordBatch> {
    read_arrow_buffer(&Buffer::from_slice_ref(part), schema, record_count, what)
}

/// Why a batch's Arrow part cannot be one, from its prefix alone (see
/// [`arrow_part_prefix`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArrowPartFault {
    /// Empty, but the batch counts records.
    NoData,
    /// Shorter than the continuation marker and the metadata length.
    Short,
    /// Starts with this instead of the continuation marker.
    Marker(u32),
    /// A metadata length that does not fit.
    MetadataLength(i32),
}

/// Where the IPC metadata of a batch's Arrow part ends, from the part's prefix alone (the
/// continuation marker and a metadata length that fits); `None` for the empty part of a
/// batch without records. The cheap first checks of [`read_arrow_buffer`], which a search
/// for whole batches in damaged bytes also runs, over and over, before spending a CRC on
/// a candidate: so it formats no message.
pub(crate) fn arrow_part_prefix(part: &[u8], record_count: i32) -> std::result::Result<Option<usize>, ArrowPartFault> {
    if part.is_empty() {
        return if record_count == 0 {
            Ok(None)
        } else {
            Err(ArrowPartFault::NoData)
        };
    }
    if part.len() < PREFIX_LEN {
        return Err(ArrowPartFault::Short);
    }
    let marker = u32::from_le_bytes([part[0], part[1], part[2], part[3]]);
    if marker != CONTINUATION {
        return Err(ArrowPartFault::Marker(marker));
    }
    let meta_len = i32::from_le_bytes([part[4], part[5], part[6], part[7]]);
    if meta_len < 0 || PREFIX_LEN + meta_len as usize > part.len() {
        return Err(ArrowPartFault::MetadataLength(meta_len));
    }
    Ok(Some(PREFIX_LEN + meta_len as usize))
}

/// [`read_arrow_part`] over bytes already in an Arrow buffer: the columns are zero-copy
/// slices of it.
pub(crate) fn read_arrow_buffer(
    buffer: &Buffer,
    schema: &SchemaRef,
    record_count: i32,
    what: &str,
) -> Result<RecordBatch> {
    let part = buffer.as_slice();
    let prefix = arrow_part_prefix(part, record_count).map_err(|fault| {
        Error::corrupt(match fault {
            ArrowPartFault::NoData => format!("{what}: record count {record_count} but no Arrow data"),
            ArrowPartFault::Short => format!(
                "{what}: the Arrow part is {} bytes, shorter than the {PREFIX_LEN}-byte IPC message prefix",
                part.len()
            ),
            ArrowPartFault::Marker(marker) => {
                format!("{what}: the Arrow part starts with {marker:#010x}, not the IPC continuation marker 0xffffffff")
            }
            ArrowPartFault::MetadataLength(meta_len) => format!(
                "{what}: IPC metadata length {meta_len} does not fit in the {}-byte Arrow part",
                part.len()
            ),
        })
    })?;
    let Some(meta_end) = prefix else {
        return Ok(RecordBatch::new_empty(schema.clone()));
    };
    let message = arrow_ipc::root_as_message(&part[PREFIX_LEN..meta_end]).map_err(|e| {
        Error::corrupt(format!(
            "{what}: the IPC message metadata is not a valid flatbuffer: {e}"
        ))
    })?;
    let version = message.version();
    if version != MetadataVersion::V4 && version != MetadataVersion::V5 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("{what}: Arrow IPC metadata version {version:?} (only V4 and V5 are read)"),
        ));
    }
    match message.header_type() {
        MessageHeader::RecordBatch => {}
        MessageHeader::Schema => {
            return Err(Error::new(
                ErrorKind::SchemaMismatch,
                format!("{what}: found an Arrow Schema message where a RecordBatch message belongs"),
            ));
        }
        other => {
            return Err(Error::corrupt(format!(
                "{what}: found an Arrow {other:?} message where a RecordBatch message belongs"
            )));
        }
    }
    let ipc_batch = message
        .header_as_record_batch()
        .ok_or_else(|| Error::corrupt(format!("{what}: the RecordBatch message has no header")))?;
    let body = &part[meta_end..];
    let body_len = message.bodyLength();
    if body_len < 0 || body_len as u64 != body.len() as u64 {
        return Err(Error::corrupt(format!(
            "{what}: the IPC message declares a {body_len}-byte body but {} bytes follow its metadata",
            body.len()
        )));
    }
    if ipc_batch.length() != i64::from(record_count) {
        return Err(Error::corrupt(format!(
            "{what}: record count {record_count} but the Arrow body has {} rows",
            ipc_batch.length()
        )));
    }
    if ipc_batch.length() > 0
        && !schema
            .fields()
            .iter()
            .any(|f| lake_api::table::holds_values(f.data_type()))
    {
        // nothing in the body grows with the rows, so nothing bounds the count: the reader
        // would make a change type per claimed row
        return Err(Error::corrupt(format!(
            "{what}: record count {record_count}, but the table schema ({}) holds no values to bound it",
            describe(schema)
        )));
    }
    check_shape(&ipc_batch, body, schema, what)?;

    let data = buffer.slice(meta_end);
    let decode =
        || arrow_ipc::reader::read_record_batch(&data, ipc_batch, schema.clone(), &HashMap::new(), None, &version);
    // arrow-ipc/arrow-data assert (panic) on some malformed bodies. `check_shape` rules out
    // the ones it can see before decompression, but a compressed buffer may decompress to
    // another size than it declares; whatever is left is a corrupt body, not a bug here.
    let batch =
        lake_api::error::corrupt_on_panic(format_args!("{what}: the Arrow body"), || Ok(decode()))?.map_err(|e| {
            Error::corrupt(format!(
                "{what}: the Arrow body does not decode against the table schema ({})",
                describe(schema)
            ))
            .with_source(e)
        })?;
    if batch.num_rows() as u64 != record_count as u64 {
        return Err(Error::corrupt(format!(
            "{what}: record count {record_count} but the Arrow body decoded to {} rows",
            batch.num_rows()
        )));
    }
    Ok(batch)
}

/// Checks, before arrow-ipc reads it, that the message's field nodes and buffers fit the
/// schema and the body: arrow-ipc neither notices leftover nodes (a batch with more columns
/// than the schema) nor bounds-checks buffer ranges.
fn check_shape(ipc_batch: &arrow_ipc::RecordBatch<'_>, body: &[u8], schema: &SchemaRef, what: &str) -> Result<()> {
    let nodes = ipc_batch
        .nodes()
        .ok_or_else(|| Error::corrupt(format!("{what}: the RecordBatch message has no field nodes")))?;
    let buffers = ipc_batch
        .buffers()
        .ok_or_else(|| Error::corrupt(format!("{what}: the RecordBatch message has no buffers")))?;

    let fields = schema.fields().iter().map(|f| f.data_type());
    let expected_nodes: Option<usize> = fields.clone().map(node_count).sum();
    if let Some(expected) = expected_nodes
        && expected != nodes.len()
    {
        return Err(Error::new(
            ErrorKind::SchemaMismatch,
            format!(
                "{what}: the Arrow body has {} field nodes but the table schema ({}) has {expected}",
                nodes.len(),
                describe(schema)
            ),
        ));
    }
    let expected_buffers: Option<usize> = fields.map(buffer_count).sum();
    if let Some(expected) = expected_buffers
        && expected != buffers.len()
    {
        return Err(Error::new(
            ErrorKind::SchemaMismatch,
            format!(
                "{what}: the Arrow body has {} buffers but the table schema ({}) needs {expected}",
                buffers.len(),
                describe(schema)
            ),
        ));
    }

    for (i, node) in nodes.iter().enumerate() {
        if node.length() < 0 || node.null_count() < 0 || node.null_count() > node.length() {
            return Err(Error::corrupt(format!(
                "{what}: Arrow field node {i} has length {} and null count {}",
                node.length(),
                node.null_count()
            )));
        }
    }
    // the size of each buffer once decompressed (as declared, for compressed buffers)
    let compressed = ipc_batch.compression().is_some();
    let mut sizes = Vec::with_capacity(buffers.len());
    for (i, buffer) in buffers.iter().enumerate() {
        let (offset, length) = (buffer.offset(), buffer.length());
        let end = offset.checked_add(length);
        if offset < 0 || length < 0 || end.is_none_or(|end| end as u64 > body.len() as u64) {
            return Err(Error::corrupt(format!(
                "{what}: Arrow buffer {i} at {offset}+{length} lies outside the {}-byte body",
                body.len()
            )));
        }
        if !compressed || length == 0 {
            sizes.push((length as u64, false));
            continue;
        }
        let start = offset as usize;
        let declared = (length >= 8)
            .then(|| &body[start..start + 8])
            .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
        match declared {
            Some(-1) => sizes.push((length as u64 - 8, false)),
            Some(n) if (0..=MAX_UNCOMPRESSED_BUFFER).contains(&n) => sizes.push((n as u64, true)),
            Some(n) => {
                return Err(Error::corrupt(format!(
                    "{what}: compressed Arrow buffer {i} declares an uncompressed length of {n}"
                )));
            }
            None => {
                return Err(Error::corrupt(format!(
                    "{what}: compressed Arrow buffer {i} is {length} bytes, too short for its length prefix"
                )));
            }
        }
    }

    let inflated: u64 = sizes.iter().filter(|(_, declared)| *declared).map(|(n, _)| n).sum();
    // each row costs a byte more: the change type the reader makes for an append-only batch
    let rows = ipc_batch.length().max(0) as u64;
    let allowed = MIN_INFLATED_BODY.max(MAX_INFLATION.saturating_mul(body.len() as u64));
    if inflated.saturating_add(rows) > allowed {
        return Err(Error::corrupt(format!(
            "{what}: the {}-byte body declares {inflated} bytes uncompressed and {rows} rows, more than the {allowed} bytes this reader makes of it",
            body.len()
        )));
    }

    // arrow-ipc and arrow-data assert (panic) where these do not hold
    if expected_nodes.is_some() && expected_buffers.is_some() {
        if ipc_batch.variadicBufferCounts().is_some_and(|v| !v.is_empty()) {
            return Err(Error::corrupt(format!(
                "{what}: the RecordBatch message has variadic buffer counts but the schema has no view types"
            )));
        }
        let mut walk = Walk {
            nodes: nodes.iter().map(|n| (n.length() as u64, n.null_count())).collect(),
            sizes,
            node: 0,
            buffer: 0,
        };
        let rows = ipc_batch.length().max(0) as u64;
        for field in schema.fields() {
            // a column is as long as the batch: a longer node would size its buffers' bounds
            if let Some(&(length, _)) = walk.nodes.get(walk.node)
                && length != rows
            {
                return Err(Error::corrupt(format!(
                    "{what}: column {} has {length} values in a batch of {rows} rows",
                    field.name()
                )));
            }
            walk.field(field.data_type())
                .map_err(|e| Error::corrupt(format!("{what}: column {}: {e}", field.name())))?;
        }
    }
    Ok(())
}

/// Follows the nodes and buffers in the order arrow-ipc reads them (a column's node, its
/// own buffers, then its children), checking each validity bitmap covers its array and
/// each compressed buffer declares no more than its array needs.
struct Walk {
    nodes: Vec<(u64, i64)>,
    /// Each buffer's size uncompressed, and whether that size is only declared (by a
    /// compressed buffer's length prefix) rather than present in the body.
    sizes: Vec<(u64, bool)>,
    node: usize,
    buffer: usize,
}

impl Walk {
    fn field(&mut self, dt: &DataType) -> std::result::Result<(), String> {
        let Some(&(length, null_count)) = self.nodes.get(self.node) else {
            return Err("too few field nodes".into());
        };
        self.node += 1;
        let own_buffers = match dt {
            DataType::Null => 0,
            DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) => 2,
            DataType::FixedSizeList(_, _) | DataType::Struct(_) => 1,
            _ => flat_buffer_count(dt).ok_or_else(|| format!("unexpected type {dt}"))?,
        };
        for i in 0..own_buffers {
            let Some(&(size, true)) = self.sizes.get(self.buffer + i) else {
                continue;
            };
            // arrow-ipc allocates a declared size before it inflates the buffer
            if let Some(needed) = buffer_needs(dt, i, length)
                && size > (needed | 63).saturating_add(65)
            {
                return Err(format!(
                    "compressed buffer {i} declares {size} bytes where {length} values of type {dt} need {needed}"
                ));
            }
        }
        if own_buffers > 0 && null_count > 0 {
            let validity = self.sizes.get(self.buffer).map_or(0, |(n, _)| *n);
            if validity.saturating_mul(8) < length {
                return Err(format!(
                    "a {validity}-byte validity bitmap for {length} values of type {dt}"
                ));
            }
        }
        if let Some(offset_width) = offset_width(dt) {
            let offsets = self.sizes.get(self.buffer + 1).map_or(0, |(n, _)| *n);
            if !offsets.is_multiple_of(offset_width) {
                return Err(format!("a {offsets}-byte offsets buffer of type {dt}"));
            }
        }
        self.buffer += own_buffers;
        match dt {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::Map(f, _) => {
                self.field(f.data_type())
            }
            DataType::Struct(fs) => fs.iter().try_for_each(|f| self.field(f.data_type())),
            _ => Ok(()),
        }
    }
}

/// The bytes buffer `i` of an array of `length` values of `dt` takes, where that follows
/// from the length (validity, fixed-width values, offsets); `None` for variable-length
/// values.
fn buffer_needs(dt: &DataType, i: usize, length: u64) -> Option<u64> {
    let bits = length.div_ceil(8);
    match (i, dt) {
        (0, _) => Some(bits),
        (1, DataType::Boolean) => Some(bits),
        (1, DataType::FixedSizeBinary(n)) => Some(length.saturating_mul(u64::try_from(*n).unwrap_or(0))),
        (1, _) => match offset_width(dt) {
            Some(width) => Some(length.saturating_add(1).saturating_mul(width)),
            None => dt.primitive_width().map(|w| length.saturating_mul(w as u64)),
        },
        _ => None,
    }
}

/// The width of the offsets (buffer 1) of a column of `dt`, for types that have offsets.
fn offset_width(dt: &DataType) -> Option<u64> {
    match dt {
        DataType::Utf8 | DataType::Binary | DataType::List(_) | DataType::Map(_, _) => Some(4),
        DataType::LargeUtf8 | DataType::LargeBinary | DataType::LargeList(_) => Some(8),
        _ => None,
    }
}

/// The IPC field nodes a column of `dt` takes, where this module knows the layout.
fn node_count(dt: &DataType) -> Option<usize> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::Map(f, _) => {
            Some(1 + node_count(f.data_type())?)
        }
        DataType::Struct(fs) => fs
            .iter()
            .map(|f| node_count(f.data_type()))
            .sum::<Option<usize>>()
            .map(|n| n + 1),
        _ if flat_buffer_count(dt).is_some() => Some(1),
        _ => None,
    }
}

/// The IPC buffers a column of `dt` takes, where this module knows the layout.
fn buffer_count(dt: &DataType) -> Option<usize> {
    match dt {
        // validity + offsets, then the child
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => Some(2 + buffer_count(f.data_type())?),
        // validity, then the child
        DataType::FixedSizeList(f, _) => Some(1 + buffer_count(f.data_type())?),
        DataType::Struct(fs) => fs
            .iter()
            .map(|f| buffer_count(f.data_type()))
            .sum::<Option<usize>>()
            .map(|n| n + 1),
        _ => flat_buffer_count(dt),
    }
}

/// The buffers of a column without children.
fn flat_buffer_count(dt: &DataType) -> Option<usize> {
    match dt {
        DataType::Null => Some(0),
        DataType::Boolean | DataType::FixedSizeBinary(_) => Some(2),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary => Some(3),
        _ if dt.is_primitive() => Some(2),
        _ => None,
    }
}

/// `name: type, ...` of a schema, for messages.
fn describe(schema: &SchemaRef) -> String {
    let fields: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    format!("{} columns: {}", fields.len(), fields.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int32Array, StringArray};
    use arrow_schema::{Field, Fields, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            ("a", Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])) as _),
            ("b", Arc::new(StringArray::from(vec![Some("x"), Some("yy"), None])) as _),
        ])
        .unwrap()
    }

    #[test]
    fn message_layout_and_round_trip() {
        for compression in [None, Some(CompressionType::LZ4_FRAME), Some(CompressionType::ZSTD)] {
            let b = batch();
            let mut out = vec![];
            write_arrow_part(&b, compression, &mut out).unwrap();
            assert_eq!(&out[..4], &[0xff; 4]);
            let meta_len = i32::from_le_bytes(out[4..8].try_into().unwrap()) as usize;
            assert_eq!((8 + meta_len) % ALIGNMENT, 0);
            let message = arrow_ipc::root_as_message(&out[8..8 + meta_len]).unwrap();
            assert_eq!(message.header_type(), MessageHeader::RecordBatch);
            assert_eq!(message.version(), MetadataVersion::V5);
            assert_eq!(message.bodyLength() as usize, out.len() - 8 - meta_len);
            let rb = message.header_as_record_batch().unwrap();
            assert_eq!(rb.compression().map(|c| c.codec()), compression);
            let back = read_arrow_part(&out, &b.schema(), 3, "test").unwrap();
            assert_eq!(back, b);
        }
    }

    #[test]
    fn node_and_buffer_counts() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
        let st = DataType::Struct(Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Utf8, true),
        ]));
        assert_eq!(
            (node_count(&DataType::Int64), buffer_count(&DataType::Int64)),
            (Some(1), Some(2))
        );
        assert_eq!(
            (node_count(&DataType::Utf8), buffer_count(&DataType::Utf8)),
            (Some(1), Some(3))
        );
        assert_eq!((node_count(&list), buffer_count(&list)), (Some(2), Some(4)));
        assert_eq!((node_count(&st), buffer_count(&st)), (Some(3), Some(6)));
        assert_eq!(node_count(&DataType::Utf8View), None);
    }

    #[test]
    fn leftover_columns_are_a_schema_mismatch() {
        let b = batch();
        let mut out = vec![];
        write_arrow_part(&b, None, &mut out).unwrap();
        let narrow = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        let e = read_arrow_part(&out, &narrow, 3, "test").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        assert!(e.message().contains("field nodes"), "{e}");
    }

    #[test]
    fn a_schema_message_is_rejected() {
        let b = batch();
        let options = IpcWriteOptions::default();
        let encoded = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
            &b.schema(),
            &mut DictionaryTracker::new(false),
            &options,
        );
        let mut out = vec![];
        write_message(&mut out, encoded, &options).unwrap();
        let e = read_arrow_part(&out, &b.schema(), 3, "test").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SchemaMismatch);
        assert!(e.message().contains("Schema message"), "{e}");
    }

    #[test]
    fn empty_part() {
        let schema = batch().schema();
        assert_eq!(read_arrow_part(&[], &schema, 0, "test").unwrap().num_rows(), 0);
        let e = read_arrow_part(&[], &schema, 2, "test").unwrap_err();
        assert!(e.message().contains("no Arrow data"), "{e}");
    }

    #[test]
    fn damaged_prefix_and_body() {
        let b = batch();
        let mut out = vec![];
        write_arrow_part(&b, None, &mut out).unwrap();
        let schema = b.schema();

        let mut bad = out.clone();
        bad[0] = 0;
        assert!(
            read_arrow_part(&bad, &schema, 3, "t")
                .unwrap_err()
                .message()
                .contains("continuation")
        );

        let mut bad = out.clone();
        bad[4..8].copy_from_slice(&(-3i32).to_le_bytes());
        assert!(
            read_arrow_part(&bad, &schema, 3, "t")
                .unwrap_err()
                .message()
                .contains("metadata length")
        );

        let mut bad = out.clone();
        bad.extend_from_slice(&[0; 8]);
        assert!(
            read_arrow_part(&bad, &schema, 3, "t")
                .unwrap_err()
                .message()
                .contains("body")
        );

        let bad = &out[..out.len() - 8];
        assert!(
            read_arrow_part(bad, &schema, 3, "t")
                .unwrap_err()
                .message()
                .contains("body")
        );

        assert!(
            read_arrow_part(&out, &schema, 4, "t")
                .unwrap_err()
                .message()
                .contains("4")
        );
    }

    #[test]
    fn absurd_uncompressed_length_is_rejected() -> Result<()> {
        // buffer 0: column a's validity, compressed
        let (b, out) = declaring(0, 1i64 << 60)?;
        let e = refused(&b, &out)?;
        assert!(e.message().contains("uncompressed length"), "{e}");
        Ok(())
    }

    /// A ZSTD part of [`batch`] and where its IPC metadata lies in it.
    fn zstd_part() -> Result<(RecordBatch, Vec<u8>, std::ops::Range<usize>)> {
        let b = batch();
        let mut out = vec![];
        write_arrow_part(&b, Some(CompressionType::ZSTD), &mut out)?;
        let meta_len = i32::from_le_bytes([out[4], out[5], out[6], out[7]]) as usize;
        Ok((b, out, 8..8 + meta_len))
    }

    /// A ZSTD part of [`batch`] whose buffer `index` declares `declared` bytes
    /// uncompressed (the prefix only: arrow-ipc would allocate that much first).
    fn declaring(index: usize, declared: i64) -> Result<(RecordBatch, Vec<u8>)> {
        let (b, mut out, meta) = zstd_part()?;
        let message = arrow_ipc::root_as_message(&out[meta.clone()]).map_err(|e| Error::corrupt(e.to_string()))?;
        let buffer = message
            .header_as_record_batch()
            .and_then(|rb| rb.buffers())
            .map(|buffers| buffers.get(index))
            .ok_or_else(|| Error::corrupt("no buffers"))?;
        assert!(buffer.length() >= 8, "buffer {index} is compressed");
        let at = meta.end + buffer.offset() as usize;
        out[at..at + 8].copy_from_slice(&declared.to_le_bytes());
        Ok((b, out))
    }

    /// The error reading `part` of `b`'s rows gives.
    fn refused(b: &RecordBatch, part: &[u8]) -> Result<Error> {
        read_arrow_part(part, &b.schema(), 3, "t")
            .err()
            .ok_or_else(|| Error::corrupt("read"))
    }

    #[test]
    fn a_fixed_width_buffer_declaring_more_than_its_values_need_is_refused() -> Result<()> {
        // buffer 1: the three Int32 values of column a (12 bytes), declared as 1 MiB (less
        // than the whole body may declare)
        let (b, out) = declaring(1, 1 << 20)?;
        let e = refused(&b, &out)?;
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.message()
                .contains("declares 1048576 bytes where 3 values of type Int32 need 12"),
            "{e}"
        );
        // padding up to the next 64 bytes and 64 more is within the bound (this body then
        // fails to inflate to what it declares, which is another error)
        let (b, out) = declaring(1, 128)?;
        let e = refused(&b, &out)?;
        assert!(!e.message().contains("where 3 values"), "{e}");
        Ok(())
    }

    #[test]
    fn a_column_longer_than_its_batch_is_refused() -> Result<()> {
        let (b, mut out, meta) = zstd_part()?;
        // column a's field node: length 3, null count 1 (two little-endian i64s)
        let node: Vec<u8> = [3i64, 1].iter().flat_map(|v| v.to_le_bytes()).collect();
        let at = (meta.start..meta.end - 16)
            .find(|&i| out[i..i + 16] == node[..])
            .ok_or_else(|| Error::corrupt("no node"))?;
        out[at..at + 8].copy_from_slice(&(1i64 << 40).to_le_bytes());
        let e = refused(&b, &out)?;
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.message()
                .contains("column a has 1099511627776 values in a batch of 3 rows"),
            "{e}"
        );
        Ok(())
    }

    #[test]
    fn rows_count_against_what_a_compressed_body_may_declare() -> Result<()> {
        // regression: half a billion rows of one Boolean column declare 62.5 MB, well inside
        // the budget, in a few kilobytes of ZSTD; the reader then made one change type per
        // row (500 MB) for an append-only batch: rows cost what they make
        let rows = 500_000_000;
        let schema = Arc::new(Schema::new(vec![Field::new("flag", DataType::Boolean, false)]));
        let flags = arrow_array::BooleanArray::new(arrow_buffer::BooleanBuffer::new_unset(rows), None);
        let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(flags)])?;
        let mut out = vec![];
        write_arrow_part(&b, Some(CompressionType::ZSTD), &mut out)?;
        drop(b);
        assert!(out.len() < 1 << 20, "{} bytes", out.len());
        let e = read_arrow_part(&out, &schema, rows as i32, "t")
            .err()
            .ok_or_else(|| Error::corrupt("read"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(e.message().contains("and 500000000 rows"), "{e}");
        Ok(())
    }

    #[test]
    fn a_body_declaring_far_more_than_it_could_inflate_to_is_refused() -> Result<()> {
        // buffer 4: the string values of column b, which nothing else bounds
        let (b, out) = declaring(4, 1 << 30)?;
        let e = refused(&b, &out)?;
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(
            e.message()
                .contains("declares 1073741824 bytes uncompressed and 3 rows"),
            "{e}"
        );
        Ok(())
    }
}
