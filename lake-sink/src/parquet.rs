//! A Parquet file sink that keeps BLOB and VECTOR columns as such.
//!
//! `ArrowWriter` stores the Arrow schema (with field metadata, hence the `lakeunion.blob`
//! extension names) in the Parquet file metadata, so reading the file back with the Arrow
//! reader gives the same logical types.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use arrow_array::{LargeBinaryArray, RecordBatch};
//! use arrow_schema::Schema;
//! use lake_api::types::blob_field;
//! use lake_sink::{ParquetFileSink, Sink};
//!
//! let schema = Arc::new(Schema::new(vec![blob_field("image", true)]));
//! let images = LargeBinaryArray::from_opt_vec(vec![Some(b"\x89PNG...".as_slice()), None]);
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(images)]).unwrap();
//! let path = std::env::temp_dir().join(format!("lake-sink-pq-doc-{}.parquet", std::process::id()));
//! let mut sink = ParquetFileSink::create(&path, schema).unwrap();
//! sink.write(&batch).await.unwrap();
//! let summary = Box::new(sink).finish().await.unwrap();
//! assert_eq!(summary.rows, 2);
//! # std::fs::remove_file(&path).unwrap();
//! # });
//! ```

use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, OffsetSizeTrait, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, ErrorKind, Result};
use crate::output::{OutputFile, OutputWriter};
use crate::sink::{FileSink, FormatWriter, Sink, SinkSummary, flush_buffered};

/// Buffered row-group bytes after which the writer flushes a row group (BLOB columns make
/// rows large; the row-count limit alone could buffer gigabytes).
pub const DEFAULT_MAX_ROW_GROUP_BYTES: usize = 128 << 20;

/// Writes batches into a Parquet file.
///
/// Written under a temp name in the same directory and renamed to `path` by
/// [`Sink::finish`]; dropped unfinished it leaves no file. An existing file at `path` is
/// replaced on finish; a pipe or device there is written directly (see
/// [`OutputFile`]). Batches go to the Parquet writer in slices of at most 64 MiB of
/// payloads and strings, so that however large its BLOBs, no page nears Parquet's 2 GiB
/// limit.
pub struct ParquetFileSink {
    inner: FileSink,
}

/// Bytes of variable-width values (BLOB payloads, strings) one write hands the Parquet
/// writer at most. Parquet checks a page's size, and a dictionary's, only between groups
/// of rows (`write_batch_size`, 1024 by default), and cannot write a page past 2 GiB: a
/// batch of 1024 images of 2 MiB given whole would fail the file at its end.
const MAX_WRITE_BYTES: usize = 64 << 20;

struct ParquetWriter {
    writer: ArrowWriter<BufWriter<OutputWriter>>,
    max_row_group_bytes: usize,
    max_write_bytes: usize,
}

impl FormatWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for (offset, len) in slices_by_bytes(batch, self.max_write_bytes) {
            self.writer.write(&batch.slice(offset, len))?;
            if self.writer.in_progress_size() >= self.max_row_group_bytes {
                self.writer.flush()?;
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        flush_buffered(self.writer.into_inner()?)
    }
}

/// The row ranges `(offset, len)` of `batch` to write one by one so that each holds at
/// most `cap` bytes of its top-level variable-width columns' values (or is one row): the
/// whole batch when it holds no more than that.
fn slices_by_bytes(batch: &RecordBatch, cap: usize) -> Vec<(usize, usize)> {
    let rows = batch.num_rows();
    let columns: Vec<ValueLengths> = batch
        .columns()
        .iter()
        .filter_map(|c| ValueLengths::of(c.as_ref()))
        .collect();
    let total: usize = columns.iter().map(ValueLengths::total).sum();
    if total <= cap {
        return vec![(0, rows)];
    }
    let mut slices = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for row in 0..rows {
        let size: usize = columns.iter().map(|column| column.of_row(row)).sum();
        if row > start && bytes + size > cap {
            slices.push((start, row - start));
            (start, bytes) = (row, 0);
        }
        bytes += size;
    }
    if start < rows {
        slices.push((start, rows - start));
    }
    slices
}

/// Where a binary or string column keeps its values' lengths: read in place, so that a
/// batch under the cap costs no pass over its rows.
enum ValueLengths<'a> {
    Offsets32(&'a [i32]),
    Offsets64(&'a [i64]),
    /// A view's first four bytes are its value's length.
    Views(&'a [u128]),
}

impl<'a> ValueLengths<'a> {
    /// `None` for columns of other types.
    fn of(column: &'a dyn Array) -> Option<Self> {
        Some(match column.data_type() {
            DataType::Binary => Self::Offsets32(column.as_binary::<i32>().value_offsets()),
            DataType::LargeBinary => Self::Offsets64(column.as_binary::<i64>().value_offsets()),
            DataType::Utf8 => Self::Offsets32(column.as_string::<i32>().value_offsets()),
            DataType::LargeUtf8 => Self::Offsets64(column.as_string::<i64>().value_offsets()),
            DataType::BinaryView => Self::Views(column.as_binary_view().views()),
            DataType::Utf8View => Self::Views(column.as_string_view().views()),
            _ => return None,
        })
    }

    fn of_row(&self, row: usize) -> usize {
        match self {
            Self::Offsets32(o) => span(&o[row..row + 2]),
            Self::Offsets64(o) => span(&o[row..row + 2]),
            Self::Views(v) => v[row] as u32 as usize,
        }
    }

    fn total(&self) -> usize {
        match self {
            Self::Offsets32(o) => span(o),
            Self::Offsets64(o) => span(o),
            Self::Views(v) => v.iter().map(|v| *v as u32 as usize).sum(),
        }
    }
}

/// The bytes from the first offset to the last.
fn span<O: OffsetSizeTrait>(offsets: &[O]) -> usize {
    match (offsets.first(), offsets.last()) {
        (Some(&first), Some(&last)) => (last - first).as_usize(),
        _ => 0,
    }
}

impl ParquetFileSink {
    /// Starts a Parquet file at `path` for batches of `schema`, with default writer
    /// properties. The directory must exist.
    pub fn create(path: impl Into<PathBuf>, schema: SchemaRef) -> Result<Self> {
        Self::create_with_properties(path, schema, WriterProperties::default(), DEFAULT_MAX_ROW_GROUP_BYTES)
    }

    /// Like [`ParquetFileSink::create`] with explicit writer properties, and a row group
    /// flushed once its buffered size reaches `max_row_group_bytes`.
    pub fn create_with_properties(
        path: impl Into<PathBuf>,
        schema: SchemaRef,
        properties: WriterProperties,
        max_row_group_bytes: usize,
    ) -> Result<Self> {
        Self::create_inner(path, schema, properties, max_row_group_bytes, MAX_WRITE_BYTES)
    }

    fn create_inner(
        path: impl Into<PathBuf>,
        schema: SchemaRef,
        properties: WriterProperties,
        max_row_group_bytes: usize,
        max_write_bytes: usize,
    ) -> Result<Self> {
        let path = path.into();
        let shown = path.display().to_string();
        // Parquet keeps a row group's row count in its column chunks: with none, the rows
        // of batches of no columns would be lost
        if schema.fields().is_empty() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("Parquet file {shown}: a Parquet file cannot hold rows of no columns"),
            ));
        }
        let (output, file) = OutputFile::create(path)?;
        let writer = ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(properties))
            .map_err(|e| Error::from(e).context(format!("starting Parquet file {shown}")))?;
        Ok(Self {
            inner: FileSink::new(
                schema,
                output,
                Box::new(ParquetWriter {
                    writer,
                    max_row_group_bytes,
                    max_write_bytes,
                }),
                "parquet",
            ),
        })
    }

    /// Where the file will be once finished.
    pub fn path(&self) -> &Path {
        self.inner.destination()
    }
}

#[async_trait]
impl Sink for ParquetFileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.inner.write(batch).await
    }

    async fn finish(self: Box<Self>) -> Result<SinkSummary> {
        self.inner.finish().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, LargeBinaryArray};
    use arrow_schema::{DataType, Field, Schema};
    use lake_api::types::blob_field;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    #[test]
    fn slices_hold_at_most_the_cap_or_one_row() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            blob_field("image", true),
        ]));
        let names = arrow_array::StringArray::from(vec![Some("ab"), None, Some("c"), Some(""), Some("de")]);
        let sizes: [usize; 5] = [3, 10, 4, 0, 5];
        let images = LargeBinaryArray::from_iter_values(sizes.iter().map(|&n| vec![0u8; n]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(names), Arc::new(images)])?;
        // row sizes 5, 10, 5, 0, 7
        assert_eq!(slices_by_bytes(&batch, 27), vec![(0, 5)]);
        assert_eq!(slices_by_bytes(&batch, 12), vec![(0, 1), (1, 1), (2, 3)]);
        assert_eq!(slices_by_bytes(&batch.slice(1, 3), 12), vec![(0, 1), (1, 2)]);
        // a row past the cap goes alone
        let alone: Vec<(usize, usize)> = (0..5).map(|row| (row, 1)).collect();
        assert_eq!(slices_by_bytes(&batch, 1), alone);
        Ok(())
    }

    #[tokio::test]
    async fn large_blobs_are_written_in_pages_of_bounded_size() -> Result<()> {
        // regression: a batch went to the writer whole, and Parquet checks a page's (and a
        // dictionary's) size only every 1024 rows: 1024 images of 2 MiB made a page past
        // the 2 GiB a page header can say, and the finished export failed. Here, with the
        // slice cap at 1 MiB, 200 payloads of 100 KiB must not share one page.
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            blob_field("image", true),
        ]));
        let rows = 200_u64;
        let payloads: Vec<Vec<u8>> = (0..rows).map(|i| vec![i as u8; 100 << 10]).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                Arc::new(LargeBinaryArray::from_iter_values(payloads.iter())),
            ],
        )?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("images.parquet");
        let mut sink = ParquetFileSink::create_inner(
            &path,
            schema,
            WriterProperties::default(),
            DEFAULT_MAX_ROW_GROUP_BYTES,
            1 << 20,
        )?;
        sink.write(&batch).await?;
        assert_eq!(Box::new(sink).finish().await?.rows, rows);

        let reader = SerializedFileReader::new(std::fs::File::open(&path)?)?;
        let mut largest = 0;
        let mut read = 0;
        for group in 0..reader.num_row_groups() {
            for page in reader.get_row_group(group)?.get_column_page_reader(1)? {
                let page = page?;
                largest = largest.max(page.buffer().len());
                read += page.num_values() as usize;
            }
        }
        assert!(read >= rows as usize, "{read} values in the pages");
        assert!(largest <= 2 << 20, "a page of {largest} bytes");
        Ok(())
    }
}
