//! [`OutputFile`]: an output file that appears whole or not at all, and [`OutputWriter`],
//! the file it is written through.
//!
//! A regular file is written under a temporary name beside its destination and renamed
//! into place by [`OutputFile::commit`], so a failed or cancelled run leaves neither a
//! truncated output nor the temporary file. The commit syncs the file's data before the
//! rename, so that a power loss cannot leave the new name on a file whose data never
//! reached the disk. A destination that exists and is not a regular file (`/dev/null`, a
//! FIFO, a terminal) is written directly: renaming over it would
//! replace the device node or the pipe with a plain file. So is a file reached through a
//! process's descriptor (`/dev/stdout`, `/proc/self/fd/1`): this process's stdout or
//! stderr through the descriptor itself, another through the file reopened for
//! appending; a rename would drop what it holds and cut off the descriptor. Such an output is
//! not whole or nothing (a failed run leaves what it wrote), and opening a FIFO waits for
//! its reader. A symbolic link is followed, so the file it names is replaced and the link
//! stays. An output that never completes (a followed scan) is opened with
//! [`OutputFile::create_in_place`] instead: a regular file is written in place from its
//! start, anything else as above.
//!
//! ```
//! use std::io::Write;
//! use lake_sink::OutputFile;
//!
//! let dir = std::env::temp_dir().join(format!("lake-sink-output-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let (output, mut file) = OutputFile::create(dir.join("rows.csv"))?;
//! file.write_all(b"id\n1\n")?;
//! drop(file);
//! assert!(!dir.join("rows.csv").exists()); // not in place until committed
//! output.commit()?;
//! assert_eq!(std::fs::read(dir.join("rows.csv"))?, b"id\n1\n");
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// An output file in the making; dropped uncommitted, it removes its temporary file.
#[derive(Debug)]
pub struct OutputFile {
    dest: PathBuf,
    /// The temporary file renamed to `dest` on commit, and a handle to sync it through
    /// (it may carry a read-only file's mode already, so it could not be opened again for
    /// writing); `None` when `dest` is written directly (it is not a regular file).
    tmp: Option<(PathBuf, File)>,
    committed: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl OutputFile {
    /// Starts the output for `dest`, whose directory must exist, and returns the file to
    /// write it through.
    pub fn create(dest: impl Into<PathBuf>) -> Result<(Self, OutputWriter)> {
        let dest = dest.into();
        let (replaced, target) = match Destination::of(&dest)? {
            Destination::Direct(file) => return Ok(Self::direct(dest, file)),
            Destination::Replaced { meta, target } => (meta, target),
        };
        let context = |what: &str, path: &Path| format!("{what} {}", path.display());
        let name = target
            .file_name()
            .ok_or_else(|| Error::invalid(format!("output path {} has no file name", dest.display())))?
            .to_string_lossy()
            .into_owned();
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = target.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::from(e).context(context("creating", &tmp)))?;
        let handle = file
            .try_clone()
            .map_err(|e| Error::from(e).context(context("opening", &tmp)))?;
        let output = Self {
            dest: target,
            tmp: Some((tmp, handle)),
            committed: false,
        };
        // the file replaced keeps its permissions (a private file stays private; its
        // owner becomes the writer's)
        if let Some(meta) = replaced {
            file.set_permissions(meta.permissions())
                .map_err(|e| Error::from(e).context(context("setting the permissions of", &output.dest)))?;
        }
        Ok((output, OutputWriter::new(file)))
    }

    /// Opens `dest` to be written in place as the output comes, for an output that never
    /// completes (a followed scan) and so is never committed: a regular file is truncated
    /// (or created) and written directly, not renamed into place. Any other destination is
    /// opened as [`OutputFile::create`] opens it: a device or a FIFO for writing, this
    /// process's stdout or stderr (`/dev/stdout`) through its descriptor, another
    /// process's descriptor for appending, so what the file held stays. A read-only file is
    /// refused (where [`OutputFile::create`] replaces it).
    ///
    /// ```
    /// use std::io::Write;
    /// use lake_sink::OutputFile;
    ///
    /// let dir = std::env::temp_dir().join(format!("lake-sink-in-place-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let mut file = OutputFile::create_in_place(dir.join("rows.jsonl"))?;
    /// file.write_all(b"{\"id\":1}\n")?;
    /// assert_eq!(std::fs::read(dir.join("rows.jsonl"))?, b"{\"id\":1}\n"); // there at once
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_in_place(dest: impl Into<PathBuf>) -> Result<OutputWriter> {
        let dest = dest.into();
        let file = match Destination::of(&dest)? {
            Destination::Direct(file) => file,
            // `File::create` follows the links, as the rename in `commit` replaces the
            // file they name
            Destination::Replaced { .. } => {
                File::create(&dest).map_err(|e| Error::from(e).context(format!("creating {}", dest.display())))?
            }
        };
        Ok(OutputWriter::new(file))
    }

    /// Writes `dest` in place, through `file`: it is a device, a FIFO or a terminal, or a
    /// file some process holds open (reached through its descriptor's link), whose
    /// contents and open descriptors a rename would cut off.
    fn direct(dest: PathBuf, file: File) -> (Self, OutputWriter) {
        let output = Self {
            dest,
            tmp: None,
            committed: false,
        };
        (output, OutputWriter::new(file))
    }

    /// Where the output goes: the destination given, or the file a symbolic link there
    /// names.
    pub fn path(&self) -> &Path {
        &self.dest
    }

    /// Syncs the written file's data to disk and moves it into place (nothing to do for a
    /// destination written directly); returns where it went. Flush any buffer around the
    /// [`OutputWriter`] first (it writes straight to the file): bytes still buffered are
    /// not in it.
    pub fn commit(mut self) -> Result<PathBuf> {
        if let Some((tmp, handle)) = &self.tmp {
            // the handle it was written through: some systems (Windows) sync only through
            // a writable one
            handle
                .sync_all()
                .map_err(|e| Error::from(e).context(format!("syncing {}", tmp.display())))?;
            std::fs::rename(tmp, &self.dest).map_err(|e| {
                Error::from(e).context(format!("renaming {} to {}", tmp.display(), self.dest.display()))
            })?;
        }
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let (Some((tmp, _)), false) = (&self.tmp, self.committed) {
            // best effort: the temporary file may already be gone
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// How an output reaches its destination.
enum Destination {
    /// Written directly, through this file: a device, a FIFO or a terminal, or a file some
    /// process holds open (reached through its descriptor's link).
    Direct(File),
    /// A regular file, or none yet: replaced. `meta` describes the file replaced, if any;
    /// `target` is the path the destination's links lead to (see [`link_chain`]), which
    /// the rename replaces so that the links stay.
    Replaced {
        meta: Option<std::fs::Metadata>,
        target: PathBuf,
    },
}

impl Destination {
    fn of(dest: &Path) -> Result<Self> {
        let context = |what: &str| format!("{what} {}", dest.display());
        // `metadata` follows links: what it describes is the file a link names
        let meta = match std::fs::metadata(dest) {
            Ok(meta) if meta.is_dir() => {
                return Err(Error::invalid(format!("output path {} is a directory", dest.display())));
            }
            Ok(meta) if !meta.is_file() => {
                let file = OpenOptions::new()
                    .write(true)
                    .open(dest)
                    .map_err(|e| Error::from(e).context(context("opening")))?;
                return Ok(Self::Direct(file));
            }
            Ok(meta) => Some(meta),
            Err(_) => None,
        };
        let mut links = link_chain(dest).map_err(|e| Error::from(e).context(context("resolving")))?;
        if meta.is_some()
            && let Some(descriptor) = links.iter().find_map(|link| descriptor_of(link))
        {
            // this process's stdout or stderr is written through the descriptor itself,
            // sharing its position with whoever else writes there (`{ ...; } > file`)
            let file = match descriptor {
                Descriptor::Own(n) => own_descriptor(n),
                Descriptor::Other => None,
            };
            let file = file
                .unwrap_or_else(|| OpenOptions::new().append(true).open(dest))
                .map_err(|e| Error::from(e).context(context("opening")))?;
            return Ok(Self::Direct(file));
        }
        // the chain starts at `dest`, so it has a last path
        let target = links.pop().unwrap_or_else(|| dest.to_path_buf());
        Ok(Self::Replaced { meta, target })
    }
}

/// `dest` and, where it is a symbolic link (dangling or not), the paths it leads to, link
/// by link; the last is the file the output replaces (the links stay).
fn link_chain(dest: &Path) -> io::Result<Vec<PathBuf>> {
    let mut chain = vec![dest.to_path_buf()];
    // as many links as open(2) follows before it says ELOOP
    for _ in 0..=40 {
        let Some(link) = chain.last() else { break };
        match std::fs::symlink_metadata(link) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let named = std::fs::read_link(link)?;
                let next = match link.parent() {
                    Some(dir) => dir.join(named),
                    None => named,
                };
                chain.push(next);
            }
            _ => return Ok(chain),
        }
    }
    // a loop (or a chain too long): the rename would replace a link of it with the file
    Err(io::Error::other(format!(
        "{}: too many levels of symbolic links",
        dest.display()
    )))
}

/// A process's descriptor a link names.
enum Descriptor {
    /// This process's, by number.
    Own(u32),
    /// Another process's (or a link under `/proc` of another kind).
    Other,
}

/// Whether `link` is a process's descriptor (`/proc/self/fd/1`, `/dev/stdout`,
/// `/dev/fd/1`): a link in a directory under `/proc`, which opens the file the descriptor
/// holds open, even one since renamed or removed.
fn descriptor_of(link: &Path) -> Option<Descriptor> {
    let dir = std::fs::canonicalize(link.parent()?).ok()?;
    if !dir.starts_with("/proc") {
        return None;
    }
    let own = std::fs::canonicalize("/proc/self/fd").is_ok_and(|fds| fds == dir);
    let number = link.file_name()?.to_str()?.parse().ok();
    Some(match number {
        Some(n) if own => Descriptor::Own(n),
        _ => Descriptor::Other,
    })
}

/// A duplicate of this process's stdout (1) or stderr (2); `None` for other descriptors,
/// which only a reopening reaches.
#[cfg(unix)]
fn own_descriptor(n: u32) -> Option<io::Result<File>> {
    use std::os::fd::AsFd;
    let fd = match n {
        1 => std::io::stdout().as_fd().try_clone_to_owned(),
        2 => std::io::stderr().as_fd().try_clone_to_owned(),
        _ => return None,
    };
    Some(fd.map(File::from))
}

#[cfg(not(unix))]
fn own_descriptor(_: u32) -> Option<io::Result<File>> {
    None
}

/// The file an [`OutputFile`] is written through. It counts the bytes written, since a
/// pipe or a device has no size to read back.
#[derive(Debug)]
pub struct OutputWriter {
    file: File,
    written: u64,
}

impl OutputWriter {
    fn new(file: File) -> Self {
        Self { file, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Whether the bytes go to a terminal (`-o /dev/tty`), which acts on escape sequences
    /// in them.
    pub fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&self.file)
    }
}

impl Write for OutputWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Result<tempfile::TempDir> {
        Ok(tempfile::tempdir()?)
    }

    /// Writes `bytes` as the output for `dest` and commits it; returns where it went.
    fn write_output(dest: &Path, bytes: &[u8]) -> Result<PathBuf> {
        let (output, mut file) = OutputFile::create(dest)?;
        file.write_all(bytes)?;
        drop(file);
        output.commit()
    }

    #[test]
    fn an_uncommitted_output_leaves_nothing() -> Result<()> {
        let dir = dir()?;
        let (output, mut file) = OutputFile::create(dir.path().join("out.bin"))?;
        file.write_all(b"partial")?;
        drop((output, file));
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        Ok(())
    }

    #[test]
    fn a_committed_output_replaces_the_file_and_counts_its_bytes() -> Result<()> {
        let dir = dir()?;
        let dest = dir.path().join("out.bin");
        std::fs::write(&dest, b"old contents, longer")?;
        let (output, mut file) = OutputFile::create(&dest)?;
        file.write_all(b"new")?;
        assert_eq!(file.written(), 3);
        drop(file);
        assert_eq!(std::fs::read(&dest)?, b"old contents, longer");
        output.commit()?;
        assert_eq!(std::fs::read(&dest)?, b"new");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() -> Result<()> {
        // regression: the temporary file took the default mode (0644 under the usual
        // umask), so replacing a private 0600 file made it world-readable
        use std::os::unix::fs::PermissionsExt;
        let dir = dir()?;
        let dest = dir.path().join("private.parquet");
        std::fs::write(&dest, b"old")?;
        for mode in [0o600, 0o640] {
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
            write_output(&dest, b"new")?;
            assert_eq!(std::fs::metadata(&dest)?.permissions().mode() & 0o777, mode);
        }
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_replaced_and_stays_read_only() -> Result<()> {
        // regression: the commit opened the temporary file, which had taken the replaced
        // file's read-only mode, for writing to sync it: permission denied, after the
        // whole output was written (root is not denied, so this fails only for others)
        use std::os::unix::fs::PermissionsExt;
        let dir = dir()?;
        let dest = dir.path().join("frozen.csv");
        std::fs::write(&dest, b"old")?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o444))?;
        write_output(&dest, b"new")?;
        assert_eq!(std::fs::read(&dest)?, b"new");
        assert_eq!(std::fs::metadata(&dest)?.permissions().mode() & 0o777, 0o444);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_followed_and_stays() -> Result<()> {
        let dir = dir()?;
        let target = dir.path().join("target.bin");
        let link = dir.path().join("link.bin");
        std::fs::write(&target, b"old")?;
        std::os::unix::fs::symlink(&target, &link)?;
        assert_eq!(write_output(&link, b"new")?, target);
        assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
        assert_eq!(std::fs::read(&target)?, b"new");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_link_gets_its_file_and_stays() -> Result<()> {
        let dir = dir()?;
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink("made.bin", &link)?;
        assert_eq!(write_output(&link, b"new")?, dir.path().join("made.bin"));
        assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
        assert_eq!(std::fs::read(&link)?, b"new");
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_loop_of_links_is_refused_and_left_as_it_is() -> Result<()> {
        // regression: the walk stopped after 40 links and the rename replaced one of the
        // loop's links with the output
        let dir = dir()?;
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::os::unix::fs::symlink("b", &a)?;
        std::os::unix::fs::symlink("a", &b)?;
        let e = OutputFile::create(&a)
            .err()
            .ok_or_else(|| Error::invalid("a loop of links was written through"))?;
        assert!(e.to_string().contains("too many levels of symbolic links"), "{e}");
        for link in [&a, &b] {
            assert!(std::fs::symlink_metadata(link)?.file_type().is_symlink());
        }
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 2, "nothing was left behind");
        Ok(())
    }

    #[test]
    fn a_directory_is_refused_before_anything_is_written() -> Result<()> {
        let dir = dir()?;
        let e = OutputFile::create(dir.path())
            .err()
            .ok_or_else(|| Error::invalid("a directory was taken"))?;
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_written_directly_and_kept() -> Result<()> {
        let null = Path::new("/dev/null");
        let (output, mut file) = OutputFile::create(null)?;
        file.write_all(b"discarded")?;
        assert_eq!(file.written(), 9);
        drop(file);
        assert_eq!(output.commit()?, null);
        assert!(!std::fs::metadata(null)?.is_file());
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_open_descriptor_is_written_through_and_keeps_its_contents() -> Result<()> {
        // regression: `-o /dev/stdout >> rows.csv` reached rows.csv through the
        // descriptor's /proc link and renamed the output over it, losing what it held
        use std::os::fd::AsRawFd;
        let dir = dir()?;
        let dest = dir.path().join("rows.csv");
        std::fs::write(&dest, b"earlier\n")?;
        let held = OpenOptions::new().append(true).open(&dest)?;
        let through = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
        assert_eq!(write_output(&through, b"later\n")?, through);
        assert_eq!(std::fs::read(&dest)?, b"earlier\nlater\n");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1, "nothing was left beside it");
        drop(held);
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn in_place_a_file_is_truncated_a_link_followed_and_a_descriptor_kept() -> Result<()> {
        use std::os::fd::AsRawFd;
        let dir = dir()?;
        let dest = dir.path().join("rows.jsonl");
        std::fs::write(&dest, b"old contents, longer")?;
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&dest, &link)?;
        OutputFile::create_in_place(&link)?.write_all(b"new")?;
        assert_eq!(std::fs::read(&dest)?, b"new");
        assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
        // a file some process holds open keeps what it held: written after it
        let held = OpenOptions::new().append(true).open(&dest)?;
        let through = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
        let mut file = OutputFile::create_in_place(&through)?;
        file.write_all(b", later")?;
        assert_eq!((std::fs::read(&dest)?, file.written()), (b"new, later".to_vec(), 7));
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 2, "nothing beside them");
        let refused = OutputFile::create_in_place(dir.path()).err().map(|e| e.kind());
        assert_eq!(refused, Some(crate::error::ErrorKind::InvalidArgument));
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_directly() -> Result<()> {
        let dir = dir()?;
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status()?;
        assert!(status.success(), "mkfifo failed");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo))
        };
        write_output(&fifo, b"through the pipe")?;
        let read = reader
            .join()
            .map_err(|_| Error::invalid("the reader thread panicked"))??;
        assert_eq!(read, b"through the pipe");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }
}
