//! An Arrow IPC file sink.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use lake_sink::{IpcFileSink, Sink};
//!
//! let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![7]))]).unwrap();
//! let path = std::env::temp_dir().join(format!("lake-sink-ipc-doc-{}.arrow", std::process::id()));
//! let mut sink = IpcFileSink::create(&path, schema).unwrap();
//! sink.write(&batch).await.unwrap();
//! let summary = Box::new(sink).finish().await.unwrap();
//! assert_eq!(summary.rows, 1);
//! assert!(summary.bytes > 0);
//! # std::fs::remove_file(&path).unwrap();
//! # });
//! ```

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ipc::writer::FileWriter;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use lake_api::conform::{dictionaries_decoded, recast};

use crate::error::{Error, Result};
use crate::output::{OutputFile, OutputWriter};
use crate::sink::{FileSink, FormatWriter, Sink, SinkSummary, flush_buffered};

/// Writes batches into an Arrow IPC file.
///
/// The file is written under a temp name in the same directory and renamed to `path` by
/// [`Sink::finish`]; dropped unfinished (an error, a cancelled run) it leaves no file. An
/// existing file at `path` is replaced on finish; a pipe or device there is written
/// directly (see [`OutputFile`]). Field metadata (BLOB / VECTOR
/// extension names) is kept: it is part of the IPC schema. Dictionary columns are written
/// decoded, as their value type: an IPC file holds one dictionary per column, and each
/// batch of a merged stream may carry its own.
pub struct IpcFileSink {
    inner: FileSink,
}

struct IpcWriter {
    writer: FileWriter<BufWriter<OutputWriter>>,
    /// The file's schema, where it decodes dictionaries of the sink's.
    decoded: Option<SchemaRef>,
}

impl FormatWriter for IpcWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &self.decoded {
            Some(schema) => Ok(self.writer.write(&recast(batch, schema)?)?),
            None => Ok(self.writer.write(batch)?),
        }
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        flush_buffered(self.writer.into_inner()?)
    }
}

impl IpcFileSink {
    /// Starts an Arrow IPC file at `path` for batches of `schema`. The directory must exist.
    pub fn create(path: impl Into<PathBuf>, schema: SchemaRef) -> Result<Self> {
        let path = path.into();
        let shown = path.display().to_string();
        let file_schema = dictionaries_decoded(&schema);
        let decoded = (!Arc::ptr_eq(&file_schema, &schema)).then(|| file_schema.clone());
        let (output, file) = OutputFile::create(path)?;
        let writer = FileWriter::try_new(BufWriter::new(file), &file_schema)
            .map_err(|e| Error::from(e).context(format!("starting Arrow IPC file {shown}")))?;
        Ok(Self {
            inner: FileSink::new(schema, output, Box::new(IpcWriter { writer, decoded }), "arrow ipc"),
        })
    }

    /// Where the file will be once finished.
    pub fn path(&self) -> &Path {
        self.inner.destination()
    }
}

#[async_trait]
impl Sink for IpcFileSink {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.inner.write(batch).await
    }

    async fn finish(self: Box<Self>) -> Result<SinkSummary> {
        self.inner.finish().await
    }
}
