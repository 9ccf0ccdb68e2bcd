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

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
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
/// [`OutputFile`]).
pub struct ParquetFileSink {
    inner: FileSink,
}

struct ParquetWriter {
    writer: ArrowWriter<BufWriter<OutputWriter>>,
    max_row_group_bytes: usize,
}

impl FormatWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        if self.writer.in_progress_size() >= self.max_row_group_bytes {
            self.writer.flush()?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        flush_buffered(self.writer.into_inner()?)
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
        let path = path.into();
        let shown = path.display().to_string();
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
