//! Sorted runs spilled to Arrow IPC files.
//!
//! Every run of one reader lives in one temporary directory that is removed when the
//! reader is dropped, finished or failed; a run is written under a `.partial` name and
//! renamed only once complete, so a reader never sees half a run.
//!
//! Dictionary columns are kept decoded on disk and encoded again as they are read: an
//! IPC file holds one dictionary per column, while every batch a merge builds may carry
//! its own (arrow's `interleave` merges its inputs' dictionaries per output batch).

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_ipc::writer::FileWriter;
use arrow_schema::SchemaRef;
use futures::StreamExt;

use super::spill_file::SpillFile;
use crate::error::{Error, ErrorKind, Result};
use crate::lake::RecordBatchStream;

/// The spill directory of one reader, created on first use.
#[derive(Debug)]
pub(crate) struct SpillDir {
    root: Option<PathBuf>,
    dir: OnceLock<tempfile::TempDir>,
    next: AtomicUsize,
}

impl SpillDir {
    /// Spills under `root` (the system temp directory when `None`).
    pub(crate) fn new(root: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            root,
            dir: OnceLock::new(),
            next: AtomicUsize::new(0),
        })
    }

    fn dir(&self) -> Result<&std::path::Path> {
        if let Some(d) = self.dir.get() {
            return Ok(d.path());
        }
        let builder = {
            let mut b = tempfile::Builder::new();
            b.prefix("lakeunion-spill-");
            b
        };
        let created = match &self.root {
            Some(root) => builder.tempdir_in(root),
            None => builder.tempdir(),
        }
        .map_err(|e| Error::new(ErrorKind::Io, "cannot create the spill directory").with_source(e))?;
        // a racing initializer wins; ours is dropped (and removed)
        let _ = self.dir.set(created);
        self.dir
            .get()
            .map(|d| d.path())
            .ok_or_else(|| Error::new(ErrorKind::Io, "spill directory vanished"))
    }

    /// The directory, if anything was spilled.
    #[cfg(test)]
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        self.dir.get().map(|d| d.path())
    }

    /// Writes `batches` as one run.
    pub(crate) fn write_run(
        &self,
        schema: &SchemaRef,
        batches: impl IntoIterator<Item = Result<RecordBatch>>,
    ) -> Result<SpillRun> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir()?;
        let path = dir.join(format!("run-{n:06}.arrow"));
        let partial = dir.join(format!("run-{n:06}.arrow.partial"));
        let run = SpillRun::new(path, schema);
        let write = || -> Result<()> {
            let file = File::create(&partial)?;
            let mut writer = FileWriter::try_new(BufWriter::new(file), &run.disk)?;
            for batch in batches {
                writer.write(&run.to_disk(batch?)?)?;
            }
            writer.finish()?;
            Ok(())
        };
        match write() {
            Ok(()) => {
                std::fs::rename(&partial, &run.path)?;
                Ok(run)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e.context(format!("spilling run {}", run.path.display())))
            }
        }
    }
}

/// One spilled, sorted run.
#[derive(Debug, Clone)]
pub(crate) struct SpillRun {
    pub path: PathBuf,
    /// The schema of the batches written and read back.
    pub schema: SchemaRef,
    /// The schema of the file: `schema` with its dictionaries decoded.
    disk: SchemaRef,
}

impl SpillRun {
    fn new(path: PathBuf, schema: &SchemaRef) -> Self {
        Self {
            path,
            schema: schema.clone(),
            disk: crate::conform::dictionaries_decoded(schema),
        }
    }

    /// A batch as the file keeps it.
    fn to_disk(&self, batch: RecordBatch) -> Result<RecordBatch> {
        // a schema without dictionaries is its own disk schema: batches go as they are
        if Arc::ptr_eq(&self.schema, &self.disk) {
            return Ok(batch);
        }
        crate::conform::recast(&batch, &self.disk)
    }

    /// A batch of the file as it was written.
    fn as_written(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if Arc::ptr_eq(&self.schema, &self.disk) {
            return Ok(batch);
        }
        crate::conform::recast(&batch, &self.schema)
    }

    /// Reads the run back, one batch at a time.
    ///
    /// Reads are synchronous: runs are local files read sequentially in large blocks,
    /// the same trade-off DataFusion makes for its spill readers.
    pub(crate) fn read(&self) -> Result<RecordBatchStream> {
        let mut file = Some(SpillFile::open(&self.path, &self.disk)?);
        let run = self.clone();
        let batches = std::iter::from_fn(move || {
            let next = file
                .as_mut()?
                .next_batch()
                .and_then(|b| b.map(|b| run.as_written(b)).transpose());
            if next.is_err() {
                // a file that failed midway is in no state to go on
                file = None;
            }
            next.transpose()
        });
        Ok(RecordBatchStream::new(
            self.schema.clone(),
            futures::stream::iter(batches),
        ))
    }
}

/// Batches kept in memory up to a budget and spilled, in order, to one run past it.
pub(crate) struct BatchBuffer {
    spill: Arc<SpillDir>,
    budget: usize,
    bytes: usize,
    memory: Vec<RecordBatch>,
    /// Past the budget: the file every batch goes to, and the run it will be.
    file: Option<(FileWriter<BufWriter<File>>, SpillRun)>,
}

impl BatchBuffer {
    pub(crate) fn new(spill: Arc<SpillDir>, budget: usize) -> Self {
        Self {
            spill,
            budget,
            bytes: 0,
            memory: Vec::new(),
            file: None,
        }
    }

    /// Appends a batch.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if let Some((writer, run)) = &mut self.file {
            writer.write(&run.to_disk(batch)?)?;
            return Ok(());
        }
        self.bytes += batch.get_array_memory_size();
        self.memory.push(batch);
        if self.bytes > self.budget {
            let schema = self.memory[0].schema();
            let n = self.spill.next.fetch_add(1, Ordering::Relaxed);
            let path = self.spill.dir()?.join(format!("buffer-{n:06}.arrow"));
            let run = SpillRun::new(path, &schema);
            let mut writer = FileWriter::try_new(BufWriter::new(File::create(&run.path)?), &run.disk)?;
            for b in self.memory.drain(..) {
                writer.write(&run.to_disk(b)?)?;
            }
            self.bytes = 0;
            self.file = Some((writer, run));
        }
        Ok(())
    }

    /// Everything pushed, in order.
    pub(crate) fn finish(self) -> Result<RecordBatchStream> {
        match self.file {
            None => {
                let schema = match self.memory.first() {
                    Some(b) => b.schema(),
                    None => Arc::new(arrow_schema::Schema::empty()),
                };
                Ok(RecordBatchStream::from_batches(schema, self.memory))
            }
            Some((mut writer, run)) => {
                writer.finish()?;
                let spill = self.spill;
                let stream = run.read()?;
                // the directory must outlive the reader
                Ok(RecordBatchStream::new(
                    run.schema.clone(),
                    stream.map(move |b| {
                        let _keep = &spill;
                        b
                    }),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Int64Array;
    use futures::TryStreamExt;

    use super::*;

    fn batch(v: Vec<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(v)) as _)]).unwrap()
    }

    #[tokio::test]
    async fn runs_round_trip_and_directory_is_removed() {
        let root = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        assert!(spill.path().is_none(), "nothing is created before the first spill");
        let b = batch(vec![1, 2, 3]);
        let run = spill
            .write_run(&b.schema(), vec![Ok(b.clone()), Ok(b.clone())])
            .unwrap();
        let back: Vec<RecordBatch> = run.read().unwrap().try_collect().await.unwrap();
        assert_eq!(back, vec![b.clone(), b]);
        let dir = spill.path().unwrap().to_path_buf();
        assert!(dir.exists());
        drop(spill);
        assert!(!dir.exists());
    }

    #[test]
    fn a_run_replaced_by_a_file_of_other_columns_is_corrupt() -> Result<()> {
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let b = batch(vec![1, 2, 3]);
        let run = spill.write_run(&b.schema(), vec![Ok(b.clone())])?;
        // another valid IPC file, with two columns, in its place
        let other = RecordBatch::try_from_iter([
            ("v", Arc::new(Int64Array::from(vec![1])) as _),
            ("w", Arc::new(Int64Array::from(vec![2])) as _),
        ])?;
        let mut writer = FileWriter::try_new(File::create(&run.path)?, &other.schema())?;
        writer.write(&other)?;
        writer.finish()?;
        let e = run.read().err().ok_or_else(|| Error::invalid("read"))?;
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(e.message().contains("not the ones written"), "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn a_damaged_run_is_an_error_not_a_panic() -> Result<()> {
        // a run has no checksum (neither has DataFusion's): damage to its values reads back
        // as other values, but damage to its framing must be an error, whatever arrow-ipc
        // makes of it
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let strings = RecordBatch::try_from_iter([
            ("v", Arc::new(Int64Array::from(vec![1, 2, 3])) as _),
            (
                "s",
                Arc::new(arrow_array::StringArray::from(vec![Some("a"), None, Some("ccc")])) as _,
            ),
        ])?;
        let run = spill.write_run(&strings.schema(), vec![Ok(strings.clone()), Ok(strings)])?;
        let bytes = std::fs::read(&run.path)?;
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                bad[at] ^= flip;
                std::fs::write(&run.path, &bad)?;
                let read = async { run.read()?.try_collect::<Vec<_>>().await };
                let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(read)).await;
                match outcome {
                    Err(_) => panic!("byte {at} ^ {flip:#x} panicked"),
                    // what reads, reads whole: no batch of the two goes missing
                    Ok(Ok(batches)) => assert_eq!(batches.len(), 2, "byte {at} ^ {flip:#x}"),
                    Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::Corrupt, "byte {at} ^ {flip:#x}: {e}"),
                }
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn runs_of_several_dictionary_columns_read_back() -> Result<()> {
        // the writer numbers each dictionary; the reader must look them up by those numbers
        let dictionary = |values: Vec<&str>| -> arrow_array::ArrayRef {
            Arc::new(
                values
                    .into_iter()
                    .collect::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>(),
            )
        };
        let b = RecordBatch::try_from_iter([
            ("a", dictionary(vec!["x", "y", "x"])),
            ("b", dictionary(vec!["p", "p", "q"])),
        ])?;
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let run = spill.write_run(&b.schema(), vec![Ok(b.clone()), Ok(b.clone())])?;
        let back: Vec<RecordBatch> = run.read()?.try_collect().await?;
        assert_eq!(back, vec![b.clone(), b]);
        Ok(())
    }

    /// Every batch a merge builds may carry its own dictionary (arrow's interleave merges
    /// them per output batch); an IPC file keeps one per column.
    #[tokio::test]
    async fn runs_and_buffers_of_batches_with_other_dictionaries_read_back() -> Result<()> {
        let nested = |values: Vec<Option<&str>>| -> Result<arrow_array::ArrayRef> {
            let keys: arrow_array::DictionaryArray<arrow_array::types::Int8Type> = values.into_iter().collect();
            use arrow_array::Array as _;
            let field = Arc::new(arrow_schema::Field::new("d", keys.data_type().clone(), true));
            Ok(Arc::new(arrow_array::StructArray::try_new(
                vec![field].into(),
                vec![Arc::new(keys) as _],
                None,
            )?))
        };
        let batch = |top: Vec<&str>, inner: Vec<Option<&str>>| -> Result<RecordBatch> {
            let top: arrow_array::DictionaryArray<arrow_array::types::Int32Type> = top.into_iter().collect();
            // and a list of them
            let mut lists = arrow_array::builder::ListBuilder::new(arrow_array::builder::StringDictionaryBuilder::<
                arrow_array::types::Int16Type,
            >::new());
            for value in top
                .values()
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .iter()
                .flat_map(|v| v.iter())
            {
                lists.values().append_option(value);
                lists.append(true);
            }
            lists.append(false);
            let lists = lists.finish().slice(0, top.len());
            Ok(RecordBatch::try_from_iter([
                ("a", Arc::new(top) as arrow_array::ArrayRef),
                ("s", nested(inner)?),
                ("l", Arc::new(lists) as _),
            ])?)
        };
        let first = batch(vec!["x", "y", "x"], vec![Some("p"), None, Some("q")])?;
        let second = batch(vec!["z", "w"], vec![Some("r"), Some("p")])?;
        let as_text = |batches: &[RecordBatch]| -> Result<Vec<String>> {
            let mut rows = Vec::new();
            for b in batches {
                for column in b.columns() {
                    let text = arrow_cast::display::ArrayFormatter::try_new(column.as_ref(), &Default::default())?;
                    rows.extend((0..b.num_rows()).map(|i| text.value(i).to_string()));
                }
            }
            Ok(rows)
        };
        let expected = as_text(&[first.clone(), second.clone()])?;
        let root = tempfile::tempdir()?;
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let run = spill.write_run(&first.schema(), vec![Ok(first.clone()), Ok(second.clone())])?;
        let back: Vec<RecordBatch> = run.read()?.try_collect().await?;
        assert!(back.iter().all(|b| b.schema() == first.schema()));
        assert_eq!(as_text(&back)?, expected);

        let mut buffer = BatchBuffer::new(spill.clone(), 0);
        buffer.push(first.clone())?;
        buffer.push(second)?;
        let back: Vec<RecordBatch> = buffer.finish()?.try_collect().await?;
        assert!(back.iter().all(|b| b.schema() == first.schema()));
        assert_eq!(as_text(&back)?, expected);
        Ok(())
    }

    #[test]
    fn a_failed_run_leaves_no_file() {
        let root = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(Some(root.path().to_path_buf()));
        let b = batch(vec![1]);
        let err = spill
            .write_run(&b.schema(), vec![Ok(b.clone()), Err(Error::corrupt("boom"))])
            .unwrap_err();
        assert!(err.to_string().contains("boom"));
        let left: Vec<_> = std::fs::read_dir(spill.path().unwrap()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
