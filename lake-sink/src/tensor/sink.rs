//! The sink over a union-read stream: a BLOB column in, tensor batches and row errors out.

use std::sync::Arc;

use arrow_array::{Array, BinaryArray, LargeBinaryArray, RecordBatch};
use arrow_schema::DataType;
use futures::{Stream, StreamExt};
use lake_api::RecordBatchStream;

use super::Tensor;
use super::batch::TensorBatch;
use super::decoder::{BatchDecoder, CpuDecoder};
use super::options::TensorOptions;
use crate::error::{Error, ErrorKind, Result, RowError};

/// Input batches [`TensorSink::stream`] decodes at once.
const BATCHES_IN_HAND: usize = 2;

/// What one input batch decoded into.
#[derive(Debug)]
pub struct TensorOutput {
    /// The decoded rows, dense, with their row ids.
    pub tensors: TensorBatch,
    /// The rows that could not be decoded, with their row ids, in row order.
    pub errors: Vec<RowError>,
    /// The rows whose BLOB was null (neither a tensor nor an error).
    pub null_rows: Vec<u64>,
}

/// Decodes a named BLOB column of a record-batch stream into tensor batches.
///
/// Row ids count the rows of the input stream from 0 (the first row of the first batch);
/// every input row ends up in exactly one of [`TensorOutput::tensors`],
/// [`TensorOutput::errors`] and [`TensorOutput::null_rows`]. The column must hold inline BLOB
/// payloads (`LargeBinary`, as `lakeunion.blob`, or `Binary`); resolve BLOB references first.
/// Images decode on the CPU unless [`TensorSink::with_decoder`] gives another decoder (the
/// GPU one of the `cuda` feature).
#[derive(Debug, Clone)]
pub struct TensorSink {
    column: String,
    options: TensorOptions,
    decoder: Arc<dyn BatchDecoder>,
}

impl TensorSink {
    /// A sink decoding `column` with `options`; fails on invalid options.
    pub fn new(column: impl Into<String>, options: TensorOptions) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            column: column.into(),
            options,
            decoder: Arc::new(CpuDecoder),
        })
    }

    /// With another decoder (for example the GPU one of the `cuda` feature).
    pub fn with_decoder(mut self, decoder: Arc<dyn BatchDecoder>) -> Self {
        self.decoder = decoder;
        self
    }

    /// The decoder that runs.
    pub fn decoder(&self) -> &Arc<dyn BatchDecoder> {
        &self.decoder
    }

    /// The BLOB column decoded.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The decode options.
    pub fn options(&self) -> &TensorOptions {
        &self.options
    }

    /// Decodes one record batch whose first row has row id `first_row` with the sink's
    /// decoder (blocks the calling thread). Fails only when the column is missing or not
    /// binary; undecodable rows are reported in [`TensorOutput::errors`].
    pub fn decode_record_batch(&self, batch: &RecordBatch, first_row: u64) -> Result<TensorOutput> {
        let Some(column) = batch.column_by_name(&self.column) else {
            return Err(Error::invalid(format!(
                "no column {:?} in the input batch",
                self.column
            )));
        };
        let images: Vec<Option<&[u8]>> = match column.data_type() {
            DataType::LargeBinary => column
                .as_any()
                .downcast_ref::<LargeBinaryArray>()
                .map(|a| a.iter().collect()),
            DataType::Binary => column
                .as_any()
                .downcast_ref::<BinaryArray>()
                .map(|a| a.iter().collect()),
            other => {
                return Err(Error::schema(format!(
                    "column {:?} is {other}, not a BLOB (LargeBinary); resolve BLOB references before the tensor sink",
                    self.column
                )));
            }
        }
        .ok_or_else(|| Error::schema(format!("column {:?} does not match its binary type", self.column)))?;
        let (tensors, mut errors) = self.decoder.decode_batch(&images, &self.options, first_row)?;
        self.account(&images, &tensors, &mut errors, first_row)?;
        let null_rows = images
            .iter()
            .enumerate()
            .filter(|(_, image)| image.is_none())
            .map(|(i, _)| first_row + i as u64)
            .collect();
        let rows = tensors
            .into_iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (first_row + i as u64, t)));
        let tensors = TensorBatch::from_tensors(&self.options, rows)?;
        Ok(TensorOutput {
            tensors,
            errors,
            null_rows,
        })
    }

    /// Holds the decoder to [`BatchDecoder`]'s contract, so that every row ends up in
    /// exactly one of the output's places whatever decoder runs: one result per image,
    /// tensors and errors only for BLOBs, at most one error per row and none for a row
    /// decoded or outside the batch (else the batch fails). A BLOB the decoder returned
    /// neither a tensor nor an error for becomes a row error, and every row error names
    /// the sink's column.
    fn account(
        &self,
        images: &[Option<&[u8]>],
        tensors: &[Option<Tensor>],
        errors: &mut Vec<RowError>,
        first_row: u64,
    ) -> Result<()> {
        let broken = |what: String| {
            Error::new(
                ErrorKind::External,
                format!("decoder {} broke its contract: {what}", self.decoder.name()),
            )
        };
        if tensors.len() != images.len() {
            return Err(broken(format!("{} results for {} rows", tensors.len(), images.len())));
        }
        let mut failed = std::collections::HashSet::with_capacity(errors.len());
        for e in errors.iter() {
            let in_batch = e.row.checked_sub(first_row).is_some_and(|i| i < images.len() as u64);
            if !in_batch {
                return Err(broken(format!("an error for row {}, outside the batch", e.row)));
            }
            if !failed.insert(e.row) {
                return Err(broken(format!("two errors for row {}", e.row)));
            }
        }
        let mut forgotten = Vec::new();
        for (i, (image, tensor)) in images.iter().zip(tensors).enumerate() {
            let row = first_row + i as u64;
            match (image, tensor, failed.contains(&row)) {
                (None, Some(_), _) => return Err(broken(format!("a tensor for row {row}, whose BLOB is null"))),
                (None, None, true) => return Err(broken(format!("an error for row {row}, whose BLOB is null"))),
                (Some(_), Some(_), true) => return Err(broken(format!("both a tensor and an error for row {row}"))),
                (Some(_), None, false) => forgotten.push(row),
                _ => {}
            }
        }
        if !forgotten.is_empty() {
            errors.extend(forgotten.into_iter().map(|row| RowError {
                row,
                column: None,
                error: broken(format!("neither a tensor nor an error for row {row}")),
            }));
            errors.sort_by_key(|e| e.row);
        }
        for error in errors.iter_mut() {
            error.column.get_or_insert_with(|| self.column.clone());
        }
        Ok(())
    }

    /// Decodes every batch of `input`, one [`TensorOutput`] per input batch, in order. Decoding
    /// runs on Tokio's blocking pool (so the stream must be polled inside a Tokio runtime);
    /// an input error is passed through as an error item.
    ///
    /// The next input batch is read while one decodes, and up to two batches decode at
    /// once, so that a union read and its BLOB fetches overlap the decoding rather than
    /// wait for it, and one batch's host-side work overlaps the other's device work (on
    /// an H100, one decode at a time made the GPU end to end about a quarter slower, and
    /// the CPU end to end on 16 cores a tenth slower). A decoder's memory is two batches'.
    pub fn stream(self, input: RecordBatchStream) -> impl Stream<Item = Result<TensorOutput>> + Send + 'static {
        let sink = Arc::new(self);
        let mut next_row = 0u64;
        input
            .map(move |batch| {
                let first_row = next_row;
                if let Ok(batch) = &batch {
                    next_row += batch.num_rows() as u64;
                }
                let worker = Arc::clone(&sink);
                async move {
                    let batch = batch.map_err(Error::from)?;
                    tokio::task::spawn_blocking(move || worker.decode_record_batch(&batch, first_row))
                        .await
                        .unwrap_or_else(|e| {
                            Err(Error::new(ErrorKind::External, "tensor decode task failed").with_source(e))
                        })
                }
            })
            .buffered(BATCHES_IN_HAND)
    }

    /// Decodes the whole stream: all outputs in order, or the first error.
    pub async fn collect(self, input: RecordBatchStream) -> Result<Vec<TensorOutput>> {
        let mut stream = std::pin::pin!(self.stream(input));
        let mut outputs = Vec::new();
        while let Some(output) = stream.next().await {
            outputs.push(output?);
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use arrow_schema::{Field, Schema};
    use image::DynamicImage;
    use lake_api::types::blob_field;

    fn blob_batch(schema: &Arc<Schema>, images: Vec<Option<Vec<u8>>>) -> RecordBatch {
        let ids = arrow_array::Int64Array::from_iter_values(0..images.len() as i64);
        let blobs = LargeBinaryArray::from_iter(images);
        RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(blobs)]).unwrap()
    }

    #[tokio::test]
    async fn tensor_sink_stream_rows_errors_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            blob_field("image", true),
        ]));
        let red = png(&DynamicImage::ImageRgb8(solid(16, 8, [255, 0, 0])));
        let blue = jpeg_rgb(&solid(8, 16, [0, 0, 255]), 90);
        let bomb = png_with_header_only(100_000, 100_000);
        let b1 = blob_batch(&schema, vec![Some(red.clone()), None, Some(b"junk".to_vec())]);
        let b2 = blob_batch(&schema, vec![Some(blue), Some(bomb), Some(vec![]), Some(red)]);
        let input = RecordBatchStream::from_batches(schema, vec![b1, b2]);
        let sink = TensorSink::new("image", TensorOptions::new(4, 4)).unwrap();
        let outputs = sink.collect(input).await.unwrap();
        assert_eq!(outputs.len(), 2);
        assert_eq!(outputs[0].tensors.row_ids(), &[0]);
        assert_eq!(outputs[0].null_rows, vec![1]);
        assert_eq!(outputs[0].errors.iter().map(|e| e.row).collect::<Vec<_>>(), vec![2]);
        assert_eq!(outputs[1].tensors.row_ids(), &[3, 6]);
        assert!(outputs[1].null_rows.is_empty());
        assert_eq!(outputs[1].errors.iter().map(|e| e.row).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(outputs[1].errors[0].error.kind(), ErrorKind::Decode);
        let bomb_error = outputs[1].errors[0].error.to_string();
        assert!(
            bomb_error.contains("row 4") && bomb_error.contains("max_pixels"),
            "{bomb_error}"
        );
        let rb = outputs[1].tensors.to_record_batch().unwrap();
        assert_eq!(rb.num_rows(), 2);
        let dl = outputs[1].tensors.to_dlpack().unwrap();
        assert_eq!(dl.validate().unwrap().shape(), &[2, 3, 4, 4]);
    }

    /// Holds the first batch's decode until the input has been read past it, and counts
    /// the decodes that run at once.
    #[derive(Debug, Default)]
    struct WaitsForTheNextRead {
        read: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
        overlapped: std::sync::atomic::AtomicBool,
        running: std::sync::atomic::AtomicUsize,
        most_running: std::sync::atomic::AtomicUsize,
    }

    impl BatchDecoder for WaitsForTheNextRead {
        fn name(&self) -> String {
            "waits for the next read".into()
        }

        fn decode_batch(
            &self,
            images: &[Option<&[u8]>],
            opts: &TensorOptions,
            first_row: u64,
        ) -> Result<(Vec<Option<super::super::Tensor>>, Vec<RowError>)> {
            use std::sync::atomic::Ordering::SeqCst;
            let running = self.running.fetch_add(1, SeqCst) + 1;
            self.most_running.fetch_max(running, SeqCst);
            let decoded = self.decode(images, opts, first_row);
            self.running.fetch_sub(1, SeqCst);
            decoded
        }
    }

    impl WaitsForTheNextRead {
        fn decode(
            &self,
            images: &[Option<&[u8]>],
            opts: &TensorOptions,
            first_row: u64,
        ) -> Result<(Vec<Option<super::super::Tensor>>, Vec<RowError>)> {
            if first_row == 0 {
                let (read, signal) = &*self.read;
                let guard = read.lock().map_err(|_| Error::invalid("poisoned"))?;
                let (_guard, wait) = signal
                    .wait_timeout_while(guard, std::time::Duration::from_secs(5), |read| !*read)
                    .map_err(|_| Error::invalid("poisoned"))?;
                self.overlapped
                    .store(!wait.timed_out(), std::sync::atomic::Ordering::SeqCst);
            }
            CpuDecoder.decode_batch(images, opts, first_row)
        }
    }

    #[tokio::test]
    async fn the_next_batch_is_read_while_one_decodes_and_decodes_are_bounded() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            blob_field("image", true),
        ]));
        let red = png(&DynamicImage::ImageRgb8(solid(4, 4, [255, 0, 0])));
        let batches: Vec<RecordBatch> = (0..3)
            .map(|_| blob_batch(&schema, vec![Some(red.clone()), Some(red.clone())]))
            .collect();
        let decoder = Arc::new(WaitsForTheNextRead::default());
        let read = Arc::clone(&decoder.read);
        let input = futures::stream::iter(batches.into_iter().enumerate()).map(move |(i, batch)| {
            if i == 1 {
                let (flag, signal) = &*read;
                if let Ok(mut flag) = flag.lock() {
                    *flag = true;
                }
                signal.notify_all();
            }
            Ok(batch)
        });
        let sink = TensorSink::new("image", TensorOptions::new(2, 2))?.with_decoder(decoder.clone());
        let outputs = sink.collect(RecordBatchStream::new(schema, input)).await?;
        let rows: Vec<&[u64]> = outputs.iter().map(|o| o.tensors.row_ids()).collect();
        assert_eq!(rows, vec![&[0, 1][..], &[2, 3], &[4, 5]]);
        assert!(
            decoder.overlapped.load(std::sync::atomic::Ordering::SeqCst),
            "the second batch was read only after the first had decoded"
        );
        let most = decoder.most_running.load(std::sync::atomic::Ordering::SeqCst);
        assert!(most <= BATCHES_IN_HAND, "{most} batches decoded at once");
        Ok(())
    }

    #[test]
    fn tensor_sink_rejects_bad_columns_and_options() {
        assert!(TensorSink::new("image", TensorOptions::new(0, 4)).is_err());
        let schema = Arc::new(Schema::new(vec![Field::new("image", DataType::Utf8, true)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(arrow_array::StringArray::from(vec![Some("x")]))]).unwrap();
        let sink = TensorSink::new("image", TensorOptions::new(4, 4)).unwrap();
        let err = sink.decode_record_batch(&batch, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SchemaMismatch);
        let sink = TensorSink::new("missing", TensorOptions::new(4, 4)).unwrap();
        let err = sink.decode_record_batch(&batch, 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    /// A decoder that breaks [`BatchDecoder`]'s contract: it returns results for the first
    /// `keep` images only, forgets the tensor and error of row `forget`, and adds an error
    /// for each row of `extra`.
    #[derive(Debug)]
    struct Careless {
        keep: usize,
        forget: Option<u64>,
        extra: Vec<u64>,
    }

    impl BatchDecoder for Careless {
        fn name(&self) -> String {
            "careless".into()
        }

        fn decode_batch(
            &self,
            images: &[Option<&[u8]>],
            opts: &TensorOptions,
            first_row: u64,
        ) -> Result<(Vec<Option<super::super::Tensor>>, Vec<RowError>)> {
            let (mut tensors, mut errors) = CpuDecoder.decode_batch(images, opts, first_row)?;
            tensors.truncate(self.keep);
            if let Some(row) = self.forget {
                errors.retain(|e| e.row != row);
                if let Some(t) = tensors.get_mut((row - first_row) as usize) {
                    *t = None;
                }
            }
            errors.extend(self.extra.iter().map(|&row| RowError {
                row,
                column: None,
                error: Error::invalid("made up"),
            }));
            Ok((tensors, errors))
        }
    }

    #[test]
    fn a_decoder_that_loses_rows_cannot_drop_them() -> Result<()> {
        // regression: the sink took the decoder's word, so a row it returned neither a
        // tensor nor an error for was in none of tensors, errors and null rows
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            blob_field("image", true),
        ]));
        let red = png(&DynamicImage::ImageRgb8(solid(4, 4, [255, 0, 0])));
        let batch = blob_batch(
            &schema,
            vec![Some(red.clone()), Some(b"junk".to_vec()), None, Some(red)],
        );
        let with = |keep, forget, extra: &[u64]| {
            let careless = Careless {
                keep,
                forget,
                extra: extra.to_vec(),
            };
            TensorSink::new("image", TensorOptions::new(2, 2)).map(|s| s.with_decoder(Arc::new(careless)))
        };

        let out = with(4, Some(13), &[])?.decode_record_batch(&batch, 10)?;
        assert_eq!(out.tensors.row_ids(), &[10]);
        assert_eq!(out.null_rows, vec![12]);
        let errors: Vec<(u64, Option<&str>, ErrorKind)> = out
            .errors
            .iter()
            .map(|e| (e.row, e.column.as_deref(), e.error.kind()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (11, Some("image"), ErrorKind::Decode),
                (13, Some("image"), ErrorKind::External)
            ]
        );
        assert!(
            out.errors[1].error.to_string().contains("careless"),
            "{}",
            out.errors[1]
        );

        // answers that would put a row in two places, or name one outside the batch
        for (keep, extra, says) in [
            (3, &[][..], "3 results for 4 rows"),
            (4, &[12], "an error for row 12, whose BLOB is null"),
            (4, &[10], "both a tensor and an error for row 10"),
            (4, &[11], "two errors for row 11"),
            (4, &[14], "an error for row 14, outside the batch"),
            (4, &[9], "an error for row 9, outside the batch"),
        ] {
            let e = with(keep, None, extra)?
                .decode_record_batch(&batch, 10)
                .err()
                .ok_or_else(|| Error::invalid(format!("{says}: taken")))?;
            assert_eq!(e.kind(), ErrorKind::External, "{says}");
            assert!(e.to_string().contains(says), "{e}");
        }
        Ok(())
    }

    #[test]
    fn tensor_sink_binary_column_with_offset() {
        let schema = Arc::new(Schema::new(vec![Field::new("img", DataType::Binary, true)]));
        let red = png(&DynamicImage::ImageRgb8(solid(4, 4, [255, 0, 0])));
        let blobs = BinaryArray::from_iter(vec![Some(red.as_slice()), Some(b"x".as_slice())]);
        let batch = RecordBatch::try_new(schema, vec![Arc::new(blobs)]).unwrap();
        let sink = TensorSink::new("img", TensorOptions::new(2, 2)).unwrap();
        let out = sink.decode_record_batch(&batch, 100).unwrap();
        assert_eq!(out.tensors.row_ids(), &[100]);
        assert_eq!(out.errors[0].row, 101);
        assert!(out.errors[0].error.to_string().contains("row 101"));
    }
}
