//! `janus-audit sync s3://bucket/prefix DIR`: an incremental mirror of a trail's window that keeps
//! what validation needs. Each object lands at `DIR/<key below the prefix>`, written aside and
//! renamed, then its sidecar (`<file>.s3meta`: bucket, key, ETag, size, and for a digest the
//! signature from its S3 metadata); the public keys go to `DIR/.janus-sync/public-keys.json`.
//! An object whose sidecar names the same ETag and size is up to date and never fetched again.

use std::path::{Component, Path, PathBuf};

use crate::analyzer::cmd::error::{AnalyzerError, SyncError};
use crate::analyzer::cmd::ui::Ui;
use crate::analyzer::notice::Notice;
use crate::analyzer::source::files::Limits;
use crate::analyzer::source::layout::SYNC_DIR;
use crate::analyzer::source::s3::{self, Object, S3, S3Options, S3Uri};
use crate::analyzer::verify::gather::{self, GatherError, Sidecar};
use crate::analyzer::verify::keys;
use crate::base::timefmt::Window;

#[derive(Debug, Clone)]
pub struct Request {
    pub source: S3Uri,
    pub dir: PathBuf,
    pub window: Window,
    pub s3: S3Options,
    pub limits: Limits,
}

/// Objects fetched and written per step: what one step holds in memory.
const BATCH: usize = 64;

fn dir_err(path: &Path) -> impl FnOnce(std::io::Error) -> AnalyzerError + '_ {
    move |source| {
        SyncError::Dir {
            path: path.to_path_buf(),
            source,
        }
        .into()
    }
}

/// Where an object goes under `dir`; `None` for a key that would leave it (`..`, an absolute
/// path), that names nothing, or that has an empty or `.` segment: `05/./X`, `05//X` and `05/X`
/// are three S3 objects but one path, and which one the mirror kept would flip between runs, so
/// that whoever may only add objects could swap the mirror's copy of a log file.
pub fn local_path(dir: &Path, uri: &S3Uri, key: &str) -> Option<PathBuf> {
    let rel = match uri.prefix.is_empty() {
        true => key,
        false => key.strip_prefix(&format!("{}/", uri.prefix))?,
    };
    if rel
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return None;
    }
    let rel = Path::new(rel);
    let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && rel.components().next().is_some() && !rel.starts_with(SYNC_DIR))
        .then(|| dir.join(rel))
}

fn up_to_date(path: &Path, o: &Object) -> bool {
    let side = Sidecar::read(path);
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    side.is_some_and(|s| {
        s.etag == o.etag && s.size == o.size && s.bucket == o.bucket && s.key == o.key
    }) && size == Some(o.size)
}

/// Mirror the window; returns the exit status (3 when an object could not be fetched).
pub fn run(req: Request, ui: Ui<'_>) -> Result<i32, AnalyzerError> {
    let _lock = lock_mirror(&req.dir, ui.tell)?;
    let s3 = S3::connect(&req.s3).map_err(|e| SyncError::Gather(GatherError::Connect(e)))?;
    let uri = || req.source.clone();
    let mut objects = s3
        .list_trail(&req.source, &req.window, s3::Kind::Digests, &req.s3)
        .map_err(|source| GatherError::ListDigests { uri: uri(), source })
        .map_err(SyncError::Gather)?;
    let digests = objects.len();
    objects.extend(
        s3.list_trail(&req.source, &req.window, s3::Kind::Logs, &req.s3)
            .map_err(|source| GatherError::ListLogs { uri: uri(), source })
            .map_err(SyncError::Gather)?,
    );
    let (todo, current, refused) = plan(&req.dir, &req.source, &objects, digests, ui.tell);
    let (mut fetched, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    for batch in todo.chunks(BATCH) {
        let refs: Vec<&Object> = batch.iter().map(|(_, o, _)| *o).collect();
        // Each object is written the moment it arrives: an interrupted sync keeps all of them,
        // and the next run fetches only the rest.
        s3.fetch_each(&refs, req.limits.max_file_bytes, |i, got| {
            let (is_digest, o, path) = &batch[i];
            // One object that cannot be fetched, or written (a key too long for the file system,
            // a file where its folder should be), is named and skipped; the rest are synced.
            let kept = got.map_err(|e| e.to_string()).and_then(|got| {
                keep(path, o, *is_digest, &got)
                    .map(|()| got.body.len() as u64)
                    .map_err(|e| e.to_string())
            });
            match kept {
                Ok(n) => {
                    fetched += 1;
                    bytes += n;
                }
                Err(why) => {
                    failed += 1;
                    (ui.tell)(Notice::Problem(format!(
                        "not synced {}: {}",
                        crate::base::text::quoted(&o.path()),
                        crate::base::text::reason(&why)
                    )));
                }
            }
        });
    }
    // Keys for every digest of the window, not only the new ones: a mirror whose key file was
    // lost gets it back.
    if digests > 0 && !sync_keys(&req.dir, &s3, &objects[..digests], ui.tell)? {
        failed += 1;
    }
    (ui.tell)(Notice::Info(format!(
        "synced {fetched} new or changed object(s) ({bytes} bytes) into {}; {current} already up to date; {} request(s)",
        crate::base::text::quoted(&req.dir),
        s3.requests.load(std::sync::atomic::Ordering::Relaxed)
    )));
    Ok(if failed + refused > 0 {
        crate::base::exit::INCOMPLETE
    } else {
        crate::base::exit::OK
    })
}

/// One sync at a time per mirror (a lock on its sync folder); then whatever temporary file is
/// in the mirror was left by a run killed while writing it.
fn lock_mirror(dir: &Path, tell: &mut dyn FnMut(Notice)) -> Result<std::fs::File, AnalyzerError> {
    let sync_dir = dir.join(SYNC_DIR);
    crate::base::atomic::create_private_dirs(&sync_dir).map_err(dir_err(&sync_dir))?;
    let lock = std::fs::File::open(&sync_dir).map_err(dir_err(&sync_dir))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(SyncError::Busy {
                dir: dir.to_path_buf(),
            }
            .into());
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(SyncError::Lock(e).into()),
    }
    let stale = crate::base::atomic::remove_stale_temporaries(dir);
    if stale > 0 {
        tell(Notice::Info(format!(
            "removed {stale} temporary file(s) an interrupted sync left"
        )));
    }
    Ok(lock)
}

/// Which listed objects to fetch (with whether each is a digest, and where it goes), how many are
/// up to date, and how many were refused (each named): a key that would leave the mirror or be
/// written through a link in it.
#[allow(clippy::type_complexity)]
fn plan<'o>(
    dir: &Path,
    source: &S3Uri,
    objects: &'o [Object],
    digests: usize,
    tell: &mut dyn FnMut(Notice),
) -> (Vec<(bool, &'o Object, PathBuf)>, u64, u64) {
    let mut todo = Vec::new();
    let (mut current, mut refused) = (0u64, 0u64);
    for (i, o) in objects.iter().enumerate() {
        match local_path(dir, source, &o.key) {
            None => {
                refused += 1;
                tell(Notice::Problem(format!(
                    "not synced {}: its key would leave the mirror, or has an empty, '.' or '..' part",
                    crate::base::text::quoted(&o.path())
                )));
            }
            Some(p) if crate::base::atomic::through_symlink(dir, &p).is_some() => {
                refused += 1;
                let link = crate::base::atomic::through_symlink(dir, &p).unwrap_or_default();
                tell(Notice::Problem(format!(
                    "not synced {}: {} in the mirror is a symbolic link, which would be written through",
                    crate::base::text::quoted(&o.path()),
                    crate::base::text::quoted(&link)
                )));
            }
            Some(p) if up_to_date(&p, o) => current += 1,
            Some(p) => todo.push((i < digests, o, p)),
        }
    }
    (todo, current, refused)
}

/// The public keys of `digests` added to the mirror's key file; false (said) when they could not
/// be fetched.
fn sync_keys(
    dir: &Path,
    s3: &S3,
    digests: &[Object],
    tell: &mut dyn FnMut(Notice),
) -> Result<bool, AnalyzerError> {
    let key_file = dir.join(SYNC_DIR).join(keys::FILE);
    let mut have = keys::PublicKeys::load(&key_file).map_err(SyncError::Keys)?;
    match gather::s3_keys(s3, digests.iter().map(|o| o.key.as_str())) {
        Ok(k) => {
            have.extend(k);
            write(&key_file, &have.to_json())?;
            Ok(true)
        }
        Err(e) => {
            tell(Notice::Problem(format!(
                "public keys not synced (offline verify will not check signatures): {}",
                crate::base::text::reason(&e.to_string())
            )));
            Ok(false)
        }
    }
}

/// The object's bytes, then its sidecar: a file with no sidecar (or an older one) is fetched again.
fn keep(path: &Path, o: &Object, is_digest: bool, got: &s3::Got) -> Result<(), AnalyzerError> {
    let sig = is_digest.then(|| gather::signature_of(&got.metadata));
    let (signature, signature_algorithm) = match &sig {
        Some(crate::analyzer::verify::Signature::Present { hex, algorithm }) => {
            (Some(hex.clone()), Some(algorithm.clone()))
        }
        _ => (None, None),
    };
    let side = Sidecar {
        bucket: o.bucket.clone(),
        key: o.key.clone(),
        etag: got.etag.clone().or_else(|| o.etag.clone()),
        size: got.body.len() as u64,
        signature,
        signature_algorithm,
    };
    write(path, &got.body)?;
    write(
        &Sidecar::path_for(path),
        &serde_json::to_vec_pretty(&side).expect("plain data"),
    )
}

/// Written aside in the same directory and renamed: a partial object never has its final name.
fn write(path: &Path, bytes: &[u8]) -> Result<(), AnalyzerError> {
    if let Some(d) = path.parent() {
        crate::base::atomic::create_private_dirs(d).map_err(dir_err(d))?;
    }
    crate::base::atomic::write_bytes(path, bytes)
        .map_err(crate::analyzer::render::OutputError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_leave_the_mirror() {
        let uri = S3Uri::parse("s3://b/p").unwrap();
        let d = Path::new("/m");
        assert_eq!(
            local_path(d, &uri, "p/AWSLogs/1/x.json.gz"),
            Some(PathBuf::from("/m/AWSLogs/1/x.json.gz"))
        );
        assert_eq!(local_path(d, &uri, "p/../../etc/passwd"), None);
        assert_eq!(local_path(d, &uri, "p//etc"), None);
        assert_eq!(local_path(d, &uri, "other/x"), None);
        assert_eq!(local_path(d, &uri, "p/.janus-sync/public-keys.json"), None);
        let root = S3Uri::parse("s3://b").unwrap();
        assert_eq!(local_path(d, &root, "/abs"), None);
        // Three objects S3 keeps apart that would be one file: all refused but the plain one.
        assert_eq!(
            local_path(d, &uri, "p/AWSLogs/05/X"),
            Some(PathBuf::from("/m/AWSLogs/05/X"))
        );
        for alias in [
            "p/AWSLogs/05/./X",
            "p/AWSLogs/05//X",
            "p/AWSLogs/05/X/",
            "p/./X",
        ] {
            assert_eq!(local_path(d, &uri, alias), None, "{alias}");
        }
    }
}
