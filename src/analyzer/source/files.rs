//! CloudTrail log files on disk: find them, decide which to read, decompress them.
//!
//! Layouts: `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`, organization trails
//! `AWSLogs/<o-id>/<acct>/CloudTrail/...`, and any loose `.json`, `.json.gz`, `.jsonl` file.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::analyzer::source::layout::{SYNC_DIR, is_digest, is_own_file, outside, s3_day};
use crate::base::timefmt::Window;

/// Why a file could not be read. The path is carried by the caller's report.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("damaged gzip (truncated or corrupt): {0}")]
    Gzip(std::io::Error),
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("cannot fetch: {0}")]
    Fetch(crate::analyzer::source::s3::S3Error),
    #[error("{what} exceeds --max-file-size ({limit} bytes); raise it to read this file")]
    TooLarge { what: &'static str, limit: u64 },
}

/// Bounds on what one file may cost, so that a single hostile file cannot exhaust memory. The
/// defaults are far above real CloudTrail delivery files (a few hundred MB decompressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Decompressed bytes per file (and bytes on disk).
    pub max_file_bytes: u64,
    /// Records (usable or not) per file.
    pub max_records: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1 << 30,
            max_records: 2_000_000,
        }
    }
}

/// What discovery decided about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Read,
    /// A `CloudTrail-Digest` file: counted, never parsed as events.
    Digest,
    /// Its S3 date folder is more than a day outside the window, so it cannot hold a relevant event.
    OutsideWindow,
}

#[derive(Debug, Clone)]
pub struct Found {
    /// For an S3 object, its `s3://bucket/key` URI.
    pub path: PathBuf,
    pub plan: Plan,
    /// Set when the input is an S3 object, fetched rather than opened.
    pub object: Option<crate::analyzer::source::s3::Object>,
}

impl Found {
    pub fn local(path: PathBuf, plan: Plan) -> Found {
        Found {
            path,
            plan,
            object: None,
        }
    }
}

/// A positional path that could not be walked.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", crate::base::text::quoted(path))]
pub struct WalkError {
    pub path: PathBuf,
    pub reason: String,
}

pub(crate) fn plan_for(path: &Path, window: &Window) -> Plan {
    if is_digest(path) {
        Plan::Digest
    } else if s3_day(path).is_some_and(|d| outside(d, window)) {
        Plan::OutsideWindow
    } else {
        Plan::Read
    }
}

/// Walk the positional paths. Directories are walked recursively in name order so that every
/// run sees files in the same order; a file named directly is always read.
pub fn discover(paths: &[PathBuf], window: &Window) -> (Vec<Found>, Vec<WalkError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        match std::fs::metadata(root) {
            Err(e) => errors.push(WalkError {
                path: root.clone(),
                reason: e.to_string(),
            }),
            Ok(m) if m.is_file() => found.push(Found::local(root.clone(), plan_for(root, window))),
            Ok(m) if !m.is_dir() => errors.push(not_regular(root, m.file_type())),
            Ok(_) => {
                // Each real file and folder once: links that reach one place by many paths (a
                // chain of 2N links costs 2^N walks otherwise) are followed to it only the first
                // time; and no kernel file system (/proc, /sys, ...) is entered through a link.
                let mut seen: std::collections::HashSet<(u64, u64)> = Default::default();
                // A link to a folder above the walked path (`/` among them) would walk it again
                // and everything around it: named, not followed.
                let above = std::fs::canonicalize(root).ok();
                // A folder on the walked path's own file system is no kernel one: only a
                // folder on another is looked at closer (statfs), once per folder.
                let home = {
                    use std::os::unix::fs::MetadataExt;
                    std::fs::metadata(root).map(|m| m.dev()).ok()
                };
                let mut refused: Vec<WalkError> = Vec::new();
                for entry in walkdir::WalkDir::new(root)
                    .follow_links(true)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|e| {
                        use std::os::unix::fs::MetadataExt;
                        if e.file_name() == SYNC_DIR {
                            return false;
                        }
                        let Ok(m) = e.metadata() else { return true };
                        if e.path_is_symlink()
                            && m.is_dir()
                            && let (Some(root), Ok(target)) =
                                (&above, std::fs::canonicalize(e.path()))
                            && root.starts_with(&target)
                        {
                            refused.push(WalkError {
                                path: e.path().to_path_buf(),
                                reason: "a link to a folder above the walked path: not followed"
                                    .into(),
                            });
                            return false;
                        }
                        // Folders, and whatever a link leads to; a regular file with two names
                        // is read under each (its records are de-duplicated like any repeat).
                        if (m.is_dir() || e.path_is_symlink()) && !seen.insert((m.dev(), m.ino())) {
                            return false;
                        }
                        !(m.is_dir() && home != Some(m.dev()) && kernel_file_system(e.path()))
                    })
                {
                    match entry {
                        Err(e) => errors.push(WalkError {
                            path: e.path().map(Path::to_path_buf).unwrap_or(root.clone()),
                            reason: e.to_string(),
                        }),
                        // Every regular file is read, whatever its name (`export.JSON`, a
                        // Filebeat `.log`, a Firehose object with no extension): its content
                        // says what it is, and one that is no CloudTrail is named and counted.
                        // Only what janus-audit itself writes beside a trail is passed over.
                        Ok(e) if e.file_type().is_file() => {
                            if !is_own_file(&e.file_name().to_string_lossy()) {
                                let plan = plan_for(e.path(), window);
                                found.push(Found::local(e.into_path(), plan));
                            }
                        }
                        Ok(e) if e.file_type().is_dir() => {}
                        // A FIFO would hang a read, a device could be endless: named, never opened.
                        Ok(e) => errors.push(not_regular(e.path(), e.file_type())),
                    }
                }
                errors.extend(refused);
            }
        }
    }
    (found, errors)
}

/// Whether `dir` is on a file system the kernel makes up (procfs, sysfs, devices, cgroups,
/// debug and tracing): endless or blocking files, never a trail.
fn kernel_file_system(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs(2) fills `st` for a NUL-terminated path.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    const KERNEL: [i64; 12] = [
        0x9fa0,      // proc
        0x6265_6572, // sysfs
        0x1373,      // devfs
        0x1cd1,      // devpts
        0x6462_6720, // debugfs
        0x7472_6163, // tracefs
        0x0027_e0eb, // cgroup
        0x6367_7270, // cgroup2
        0x7363_6673, // securityfs
        0xcafe_4a11, // bpf
        0x6265_6570, // configfs
        0x6165_676c, // pstore
    ];
    // devtmpfs has tmpfs's magic number, and tmpfs holds real files (/tmp, /run): /dev is
    // known by its place.
    KERNEL.contains(&(st.f_type as i64))
        || std::fs::canonicalize(dir).is_ok_and(|p| p.starts_with("/dev"))
}

fn not_regular(path: &Path, t: std::fs::FileType) -> WalkError {
    use std::os::unix::fs::FileTypeExt;
    let kind = if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    WalkError {
        path: path.to_path_buf(),
        reason: format!("{kind}: not read"),
    }
}

/// Per-worker buffers, reused from file to file: a fresh megabyte-sized buffer per file is a
/// fresh mmap, and its page faults cost more than the copy itself.
#[derive(Default)]
pub struct Buffers {
    raw: Vec<u8>,
    pub decoded: Vec<u8>,
    /// Hash each file's bytes as read (for a report manifest); `sha256` is then the last file's.
    pub hash: bool,
    pub sha256: Option<[u8; 32]>,
    /// Hash the decompressed content too (what a CloudTrail digest's `hashValue` is of).
    pub hash_content: bool,
    pub content_sha256: Option<[u8; 32]>,
}

impl Buffers {
    pub fn hashing(hash: bool) -> Self {
        Buffers {
            hash,
            ..Buffers::default()
        }
    }
}

/// Read a file into `bufs.decoded`, gunzipping it if it is gzip (by its magic bytes, not its
/// name), never past `limit` bytes either way. Returns the size on disk.
pub fn read_decoded(path: &Path, bufs: &mut Buffers, limit: u64) -> Result<u64, ReadError> {
    bufs.raw.clear();
    let file = std::fs::File::open(path)?;
    // One byte past the limit is enough to know it is over.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bufs.raw)?;
    decode(bufs, limit)
}

/// As [`read_decoded`], for bytes already fetched (an S3 object's body).
pub fn decode_fetched(body: Vec<u8>, bufs: &mut Buffers, limit: u64) -> Result<u64, ReadError> {
    bufs.raw = body;
    decode(bufs, limit)
}

fn decode(bufs: &mut Buffers, limit: u64) -> Result<u64, ReadError> {
    bufs.sha256 = None;
    bufs.content_sha256 = None;
    let size = bufs.raw.len() as u64;
    if size > limit {
        return Err(ReadError::TooLarge {
            what: "the file",
            limit,
        });
    }
    if size == 0 {
        return Err(ReadError::Empty);
    }
    if bufs.hash {
        // The bytes on disk, before gunzip: what `sha256sum FILE` says, damaged or not.
        use sha2::Digest;
        bufs.sha256 = Some(sha2::Sha256::digest(&bufs.raw).into());
    }
    bufs.decoded.clear();
    if !bufs.raw.starts_with(&[0x1f, 0x8b]) {
        std::mem::swap(&mut bufs.raw, &mut bufs.decoded);
        bufs.hash_decoded();
        return Ok(size);
    }
    // ISIZE, the last 4 bytes, is the uncompressed size mod 2^32: a near-exact capacity.
    let hint = bufs
        .raw
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes(bufs.raw[i..].try_into().expect("4 bytes")) as usize)
        .unwrap_or(0)
        .min(limit as usize);
    bufs.decoded
        .reserve(hint.max(bufs.raw.len() * 4).min(limit as usize) + 1);
    crate::analyzer::source::gunzip::gunzip(&bufs.raw, &mut bufs.decoded, limit as usize).map_err(
        |e| {
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                ReadError::TooLarge {
                    what: "its decompressed content",
                    limit,
                }
            } else {
                ReadError::Gzip(e)
            }
        },
    )?;
    bufs.hash_decoded();
    Ok(size)
}

impl Buffers {
    fn hash_decoded(&mut self) {
        if self.hash_content {
            use sha2::Digest;
            self.content_sha256 = Some(sha2::Sha256::digest(&self.decoded).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_members_are_all_read() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"{\"Records\":[]}\n").unwrap();
        let member = e.finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.json.gz");
        std::fs::write(&path, [member.clone(), member].concat()).unwrap();
        let mut bufs = Buffers::default();
        read_decoded(&path, &mut bufs, u64::MAX - 1).unwrap();
        assert_eq!(bufs.decoded, b"{\"Records\":[]}\n{\"Records\":[]}\n");
    }
}
