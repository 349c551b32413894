//! Files janus-audit writes: owner-only folders, and files that readers see whole or not at all.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file that could not be created, written, synced or renamed into place.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", crate::base::text::quoted(path))]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// [`write_atomic`] of bytes already made.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|source| WriteError {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// `bytes` to `path`, written aside and renamed over whatever is there, even a FIFO or device:
/// for files janus-audit owns (the credentials cache), where anything but its own regular file
/// is debris to replace, never something to open (opening a FIFO would hang the run).
pub fn replace_bytes(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = temporary_beside(path).map_err(err)?;
    tmp.as_file_mut().write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// A private (0600) temporary file in `path`'s folder, named so that
/// [`remove_stale_temporaries`] knows it: renamed onto `path` once whole.
fn temporary_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".janus-audit-")
        .suffix(".tmp")
        .tempfile_in(dir)
}

/// Create `dir` and every missing folder above it owner-only (0700), whatever the umask: the
/// folders janus-audit makes hold evidence, credentials or reports.
pub fn create_private_dirs(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Whether `path`, or a folder between `root` and it, is a symbolic link: writing there would
/// write outside the folder janus-audit owns. (`root` itself may be a link: the user named it.)
pub fn through_symlink(root: &Path, path: &Path) -> Option<PathBuf> {
    let rel = path.strip_prefix(root).ok()?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(at);
        }
    }
    None
}

/// Remove the temporary files (`.janus-audit-*.tmp`) that runs killed while writing left under
/// `root`; the caller holds the folder's lock, so none of them is being written. Returns how
/// many were removed. Symbolic links are not followed.
#[cfg(feature = "analyzer")] // walkdir is the analyzer's; the fetcher never leaves any
pub fn remove_stale_temporaries(root: &Path) -> usize {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let n = e.file_name().to_string_lossy();
            n.starts_with(".janus-audit-") && n.ends_with(".tmp")
        })
        .filter(|e| std::fs::remove_file(e.path()).is_ok())
        .count()
}

/// Create `path` so that readers only ever see no file or the whole file: write a temporary file
/// in the same directory, fsync it, then rename it into place. A path that names something other
/// than a regular file (a device such as `/dev/null` or `/dev/stdout`, a FIFO) is written to as it
/// is: renaming over it would replace the device with a file.
///
/// `body` writes the content and fails with the caller's error; failures of the file itself
/// come as a [`WriteError`] converted to it.
pub fn write_atomic<E: From<WriteError>>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E> {
    let file_err = |source| {
        E::from(WriteError {
            path: path.to_path_buf(),
            source,
        })
    };
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(file_err)?;
        let mut w = BufWriter::new(f);
        body(&mut w)?;
        w.flush().map_err(file_err)?;
        return Ok(());
    }
    let mut tmp = temporary_beside(path).map_err(file_err)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        body(&mut w)?;
        w.flush().map_err(file_err)?;
    }
    tmp.as_file().sync_all().map_err(file_err)?;
    tmp.persist(path).map_err(|e| file_err(e.error))?;
    Ok(())
}
