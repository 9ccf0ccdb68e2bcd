//! The [`Sink`] trait, [`drain`], and the body the file sinks share.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use lake_api::RecordBatchStream;
//! use lake_sink::{drain, IpcFileSink};
//!
//! let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
//! let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))]).unwrap();
//! let stream = RecordBatchStream::from_batches(schema.clone(), vec![batch]);
//!
//! let dir = std::env::temp_dir().join(format!("lake-sink-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let sink = IpcFileSink::create(dir.join("out.arrow"), schema).unwrap();
//! let summary = drain(stream, Box::new(sink)).await.unwrap();
//! assert_eq!(summary.rows, 3);
//! assert_eq!(summary.path.as_deref(), Some(dir.join("out.arrow").as_path()));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use lake_api::RecordBatchStream;

use crate::error::{Error, ErrorKind, Result};
use crate::output::{OutputFile, OutputWriter};

/// What a sink wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Rows written.
    pub rows: u64,
    /// Bytes written (the size of the finished file, for file sinks).
    pub bytes: u64,
    /// The file written, for file sinks.
    pub path: Option<PathBuf>,
}

/// Consumes record batches.
///
/// A sink that is dropped without [`Sink::finish`] leaves nothing behind (file sinks
/// remove their temp file), so a failed run never leaves a half-written output. A file
/// sink's `finish` whose future is dropped (a timeout) before it renamed the file leaves
/// none either.
#[async_trait]
pub trait Sink: Send {
    /// Writes one batch. Its schema must be the sink's schema.
    async fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Completes the output (footer, flush, rename into place) and says what was written.
    async fn finish(self: Box<Self>) -> Result<SinkSummary>;
}

/// Writes every batch of `stream` into `sink`, then finishes it.
///
/// On the first error (from the stream or the sink) the sink is dropped unfinished, so
/// file sinks leave no output, and the error is returned.
pub async fn drain(mut stream: RecordBatchStream, mut sink: Box<dyn Sink>) -> Result<SinkSummary> {
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| Error::from(e).context("reading the input stream"))?;
        sink.write(&batch).await?;
    }
    sink.finish().await
}

/// A synchronous file-format writer, run on the blocking thread pool.
pub(crate) trait FormatWriter: Send + 'static {
    /// Appends one batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Writes the footer and flushes the file (the [`OutputFile`] syncs it on commit);
    /// returns the bytes written.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// The body of the file sinks: schema check, row count, writes on the blocking pool, an
/// [`OutputFile`] committed on finish.
pub(crate) struct FileSink {
    schema: SchemaRef,
    // Dropped before `output`, so the file is closed before it is removed.
    writer: Option<Box<dyn FormatWriter>>,
    output: OutputFile,
    rows: u64,
    what: &'static str,
}

impl FileSink {
    pub(crate) fn new(
        schema: SchemaRef,
        output: OutputFile,
        writer: Box<dyn FormatWriter>,
        what: &'static str,
    ) -> Self {
        Self {
            schema,
            writer: Some(writer),
            output,
            rows: 0,
            what,
        }
    }

    pub(crate) fn destination(&self) -> &Path {
        self.output.path()
    }

    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(Error::schema(format!(
                "{} sink {}: batch schema {:?} differs from the sink schema {:?}",
                self.what,
                self.output.path().display(),
                batch.schema().fields(),
                self.schema.fields()
            )));
        }
        let mut writer = self.writer.take().ok_or_else(|| {
            Error::invalid(format!(
                "{} sink {}: an earlier write failed",
                self.what,
                self.output.path().display()
            ))
        })?;
        let owned = batch.clone();
        let (writer, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = writer.write(&owned);
            (writer, outcome)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::External, "sink writer task failed").with_source(e))?;
        outcome.map_err(|e| e.context(format!("{} sink {}", self.what, self.output.path().display())))?;
        self.writer = Some(writer);
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub(crate) async fn finish(mut self) -> Result<SinkSummary> {
        let writer = self.writer.take().ok_or_else(|| {
            Error::invalid(format!(
                "{} sink {}: an earlier write failed",
                self.what,
                self.output.path().display()
            ))
        })?;
        let rows = self.rows;
        let what = self.what;
        let output = self.output;
        // the blocking task runs on if this future is dropped (a timeout, an interrupt):
        // it must then not rename the file into place for a run its caller gave up on
        let abandoned = Abandoned::default();
        let given_up = abandoned.0.clone();
        let (path, bytes) = tokio::task::spawn_blocking(move || {
            let context = format!("{what} sink {}", output.path().display());
            let bytes = writer.finish().map_err(|e| e.context(&context))?;
            if given_up.load(Ordering::SeqCst) {
                // dropping the output removes its temp file
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("{context}: abandoned before it was finished"),
                ));
            }
            Ok::<_, Error>((output.commit()?, bytes))
        })
        .await
        .map_err(|e| Error::new(ErrorKind::External, "sink writer task failed").with_source(e))??;
        drop(abandoned);
        Ok(SinkSummary {
            rows,
            bytes,
            path: Some(path),
        })
    }
}

/// Set when dropped: whether the future that finishes a file sink was dropped before
/// its blocking task committed the file. The task checks it before renaming.
#[derive(Default)]
struct Abandoned(Arc<AtomicBool>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        // after a finish that completed, nobody reads it any more
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Flushes a buffered [`OutputWriter`]; returns the bytes written. (The commit syncs.)
pub(crate) fn flush_buffered(writer: std::io::BufWriter<OutputWriter>) -> Result<u64> {
    Ok(writer.into_inner().map_err(|e| Error::from(e.into_error()))?.written())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::Arc;

    use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array, LargeBinaryArray, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use lake_api::types::{LogicalType, blob_field, vector_field};

    use super::*;
    use crate::{IpcFileSink, ParquetFileSink};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            blob_field("image", true),
            vector_field("embedding", DataType::Float32, 4, true),
        ]))
    }

    fn batch(schema: &SchemaRef, start: i64) -> RecordBatch {
        let ids: Vec<i64> = (start..start + 3).collect();
        let names = StringArray::from(vec![Some("a"), None, Some("c")]);
        let images = LargeBinaryArray::from_opt_vec(vec![Some(b"\x89PNG\r\n".as_slice()), None, Some(b"\xff\xd8\xff")]);
        let DataType::FixedSizeList(item, _) = schema.field(3).data_type() else {
            unreachable!()
        };
        let values = Float32Array::from((0..12).map(|i| i as f32 + start as f32).collect::<Vec<_>>());
        let vectors = FixedSizeListArray::new(item.clone(), 4, Arc::new(values), None);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(names),
            Arc::new(images),
            Arc::new(vectors),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    fn assert_logical_types(schema: &Schema) {
        assert_eq!(LogicalType::of(schema.field(0)), LogicalType::Plain);
        assert_eq!(LogicalType::of(schema.field(2)), LogicalType::Blob);
        assert_eq!(
            LogicalType::of(schema.field(3)),
            LogicalType::Vector {
                element: DataType::Float32,
                dimension: 4
            }
        );
    }

    fn only_file(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn ipc_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.arrow");
        let schema = schema();
        let input = vec![batch(&schema, 0), batch(&schema, 10)];
        let stream = RecordBatchStream::from_batches(schema.clone(), input.clone());
        let sink = IpcFileSink::create(&path, schema.clone()).unwrap();
        let summary = drain(stream, Box::new(sink)).await.unwrap();
        assert_eq!(summary.rows, 6);
        assert_eq!(summary.path.as_deref(), Some(path.as_path()));
        assert_eq!(summary.bytes, fs::metadata(&path).unwrap().len());
        assert_eq!(only_file(dir.path()), vec!["out.arrow".to_string()]);

        let reader = arrow_ipc::reader::FileReader::try_new(fs::File::open(&path).unwrap(), None).unwrap();
        assert_logical_types(&reader.schema());
        assert_eq!(reader.schema(), schema);
        let read: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(read, input);
    }

    #[tokio::test]
    async fn parquet_round_trip_keeps_blob_and_vector() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let schema = schema();
        let input = vec![batch(&schema, 0), batch(&schema, 10)];
        let stream = RecordBatchStream::from_batches(schema.clone(), input.clone());
        let sink = ParquetFileSink::create(&path, schema.clone()).unwrap();
        let summary = drain(stream, Box::new(sink)).await.unwrap();
        assert_eq!(summary.rows, 6);
        assert_eq!(summary.path.as_deref(), Some(path.as_path()));
        assert_eq!(summary.bytes, fs::metadata(&path).unwrap().len());
        assert_eq!(only_file(dir.path()), vec!["out.parquet".to_string()]);

        let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
        let read_schema = builder.schema().clone();
        assert_logical_types(&read_schema);
        assert_eq!(read_schema.fields(), schema.fields());
        let read: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
        let read = arrow_select::concat::concat_batches(&read_schema, &read).unwrap();
        let expected = arrow_select::concat::concat_batches(&schema, &input).unwrap();
        assert_eq!(read.columns(), expected.columns());
    }

    #[tokio::test]
    async fn parquet_flushes_row_groups_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small-groups.parquet");
        let schema = schema();
        let props = ::parquet::file::properties::WriterProperties::default();
        let mut sink = ParquetFileSink::create_with_properties(&path, schema.clone(), props, 1).unwrap();
        for start in [0, 10, 20] {
            sink.write(&batch(&schema, start)).await.unwrap();
        }
        let summary = Box::new(sink).finish().await.unwrap();
        assert_eq!(summary.rows, 9);
        let builder = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(builder.metadata().num_row_groups(), 3);
        assert_logical_types(builder.schema());
    }

    #[tokio::test]
    async fn failed_runs_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let schema = schema();
        let failing = futures::stream::iter(vec![
            Ok(batch(&schema, 0)),
            Err(lake_api::Error::new(lake_api::ErrorKind::Io, "log went away")),
        ]);
        let ipc = IpcFileSink::create(dir.path().join("a.arrow"), schema.clone()).unwrap();
        let e = drain(RecordBatchStream::new(schema.clone(), failing), Box::new(ipc))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);

        let failing = futures::stream::iter(vec![
            Ok(batch(&schema, 0)),
            Err(lake_api::Error::new(lake_api::ErrorKind::Corrupt, "bad batch")),
        ]);
        let pq = ParquetFileSink::create(dir.path().join("a.parquet"), schema.clone()).unwrap();
        let e = drain(RecordBatchStream::new(schema.clone(), failing), Box::new(pq))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);

        // A batch of another schema is refused (before any byte is written; the sink stays usable).
        let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let wrong = RecordBatch::try_new(other, vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        let mut sink = IpcFileSink::create(dir.path().join("b.arrow"), schema.clone()).unwrap();
        assert_eq!(sink.write(&wrong).await.unwrap_err().kind(), ErrorKind::SchemaMismatch);
        drop(sink);

        assert!(only_file(dir.path()).is_empty(), "{:?}", only_file(dir.path()));

        // A missing directory is a typed error at creation.
        let e = ParquetFileSink::create(dir.path().join("no/such/dir.parquet"), schema)
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn an_ipc_file_takes_a_dictionary_column_whose_dictionary_changes() -> TestResult {
        // regression: the IPC file writer refused the second batch ("dictionary
        // replacement"), as every batch a merge builds carries its own dictionary
        use arrow_array::{DictionaryArray, types::Int32Type};
        let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let field = Field::new("tag", dict, true).with_metadata(std::collections::HashMap::from([(
            "note".to_string(),
            "kept".to_string(),
        )]));
        let schema = Arc::new(Schema::new(vec![field]));
        let column = |values: Vec<&str>,
                      keys: Vec<i32>|
         -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
            let dictionary = DictionaryArray::<Int32Type>::try_new(keys.into(), Arc::new(StringArray::from(values)))?;
            RecordBatch::try_new(schema.clone(), vec![Arc::new(dictionary)])
        };
        let input = vec![column(vec!["a", "b"], vec![0, 1])?, column(vec!["c"], vec![0, 0])?];
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tags.arrow");
        let stream = RecordBatchStream::from_batches(schema.clone(), input);
        let summary = drain(stream, Box::new(IpcFileSink::create(&path, schema.clone())?)).await?;
        assert_eq!(summary.rows, 4);

        let reader = arrow_ipc::reader::FileReader::try_new(fs::File::open(&path)?, None)?;
        let read_schema = reader.schema();
        assert_eq!(read_schema.field(0).data_type(), &DataType::Utf8, "written decoded");
        assert_eq!(
            read_schema.field(0).metadata().get("note").map(String::as_str),
            Some("kept")
        );
        let mut tags = Vec::new();
        for batch in reader {
            let batch = batch?;
            let column = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("not strings")?;
            tags.extend(column.iter().map(|t| t.unwrap_or("").to_string()));
        }
        assert_eq!(tags, ["a", "b", "c", "c"]);
        Ok(())
    }

    /// A format whose footer takes a while to write; sets its flag once written.
    struct SlowFinish(Arc<AtomicBool>);

    impl FormatWriter for SlowFinish {
        fn write(&mut self, _batch: &RecordBatch) -> Result<()> {
            Ok(())
        }

        fn finish(self: Box<Self>) -> Result<u64> {
            std::thread::sleep(std::time::Duration::from_millis(300));
            self.0.store(true, Ordering::SeqCst);
            Ok(0)
        }
    }

    #[tokio::test]
    async fn a_finish_given_up_on_leaves_no_file() -> TestResult {
        // regression: the blocking task went on and renamed the file into place after its
        // caller's timeout had reported the run as failed
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("late.arrow");
        let (output, file) = OutputFile::create(path.clone())?;
        drop(file);
        let footer = Arc::new(AtomicBool::new(false));
        let sink = FileSink::new(schema(), output, Box::new(SlowFinish(footer.clone())), "slow");
        let finished = tokio::time::timeout(std::time::Duration::from_millis(50), sink.finish()).await;
        assert!(finished.is_err(), "finished within the timeout");
        // the task went on: once past the footer, it decides on the file at once
        for _ in 0..500 {
            if footer.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(footer.load(Ordering::SeqCst), "the footer was never written");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(only_file(dir.path()).is_empty(), "{:?}", only_file(dir.path()));
        Ok(())
    }

    #[tokio::test]
    async fn a_parquet_file_of_no_columns_is_refused() -> TestResult {
        // regression: Parquet keeps a row group's row count in its column chunks, so a
        // file of no columns said 0 rows while the sink reported every row written
        let dir = tempfile::tempdir()?;
        let empty = Arc::new(Schema::empty());
        let e = ParquetFileSink::create(dir.path().join("count.parquet"), empty)
            .err()
            .ok_or("created")?;
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(only_file(dir.path()).is_empty(), "{:?}", only_file(dir.path()));
        Ok(())
    }
}
