//! Laying down a window's directory: every file written into a hidden temporary directory, a
//! manifest with each output's SHA-256 last, then one rename, so that a reader never sees a
//! half-written window. A rerun swaps the new directory with the old one in one atomic
//! exchange, so a kill at any moment leaves one complete copy under the window's name; where
//! the file system cannot exchange, the old copy is renamed aside first, and [`recover`], run
//! before anything else, puts it back if a kill came between the two renames.
//!
//! Every file written is the owner's only (0600, in 0700 directories): reports name keys, IPs
//! and instances.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::analyzer::notice::Notice;
use crate::analyzer::schedule::state::{ScheduleError, dir_name};
use crate::base::hash::sha256_hex;
use crate::base::timefmt::Window;

/// Lock the output directory (flock on the directory itself, so it leaves no file behind: two
/// runs writing one directory would race), then recover what an interrupted run left behind.
pub fn take_output_dir(
    dir: &Path,
    tell: &mut dyn FnMut(Notice),
) -> Result<std::fs::File, ScheduleError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScheduleError::Write { path, source }
    };
    crate::base::atomic::create_private_dirs(dir).map_err(err(dir))?;
    let lock = std::fs::File::open(dir).map_err(err(dir))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(ScheduleError::Busy(dir.to_path_buf()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(err(dir)(e)),
    }
    for line in recover(dir).map_err(err(dir))? {
        tell(Notice::Problem(line));
    }
    let stale = crate::base::atomic::remove_stale_temporaries(dir);
    if stale > 0 {
        tell(Notice::Problem(format!(
            "removed {stale} temporary file(s) an interrupted report left"
        )));
    }
    Ok(lock)
}

/// One output file of a window, already encoded.
pub struct Output {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Write `outputs` and then the manifest (built by `manifest` from each output's name, size and
/// SHA-256) into `dir/<span>/`, atomically: the directory appears complete or not at all. An
/// existing directory for the same window is replaced.
pub fn write_window(
    dir: &Path,
    window: &Window,
    outputs: &[Output],
    manifest: impl FnOnce(&[(String, u64, String)]) -> Vec<u8>,
) -> Result<PathBuf, ScheduleError> {
    let name = dir_name(window);
    let target = dir.join(&name);
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScheduleError::Write { path, source }
    };
    crate::base::atomic::create_private_dirs(dir).map_err(err(dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".janus-audit-{name}-"))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(dir)
        .map_err(err(dir))?;
    let mut listed = Vec::with_capacity(outputs.len());
    for out in outputs {
        let path = tmp.path().join(&out.name);
        write_synced(&path, &out.bytes).map_err(err(&path))?;
        failpoint(&out.name).map_err(err(&path))?;
        listed.push((
            out.name.clone(),
            out.bytes.len() as u64,
            sha256_hex(&out.bytes),
        ));
    }
    let path = tmp.path().join("manifest.json");
    write_synced(&path, &manifest(&listed)).map_err(err(&path))?;
    // The directory's own entries must be durable before it is published by name.
    std::fs::File::open(tmp.path())
        .and_then(|d| d.sync_all())
        .map_err(err(tmp.path()))?;
    let tmp = tmp.keep();
    let publish = || -> std::io::Result<()> {
        if !target.exists() {
            std::fs::rename(&tmp, &target)?;
        } else if exchange(&tmp, &target).is_ok() {
            // `tmp` now holds the old copy.
            std::fs::remove_dir_all(&tmp)?;
        } else {
            // rename(2) will not replace a non-empty directory: the old copy goes aside first.
            let old = dir.join(format!("{OLD_PREFIX}{name}"));
            let _ = std::fs::remove_dir_all(&old);
            std::fs::rename(&target, &old)?;
            failpoint("publish")?;
            std::fs::rename(&tmp, &target)?;
            std::fs::remove_dir_all(&old)?;
        }
        std::fs::File::open(dir)?.sync_all()
    };
    publish().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        ScheduleError::Write {
            path: target.clone(),
            source: e,
        }
    })?;
    Ok(target)
}

/// Where a replaced window waits while the fallback publishes its successor.
const OLD_PREFIX: &str = ".janus-audit-old-";
/// What every temporary entry of a run in the output directory starts with.
const TEMP_PREFIX: &str = ".janus-audit-";

/// Swap two directories in one step (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        if std::env::var_os("JANUS_AUDIT_NO_EXCHANGE").is_some() && cfg!(debug_assertions) {
            return Err(std::io::Error::other("exchange disabled for a test"));
        }
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes());
        let (a, b) = (c(a)?, c(b)?);
        // SAFETY: two valid NUL-terminated paths; the call reads nothing else.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        Err(std::io::Error::last_os_error())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Err(std::io::Error::other("no atomic exchange on this platform"))
    }
}

/// Before a run writes anything: put back a window that a killed run left aside with no
/// successor, and remove what killed runs left half-written. The caller holds the output
/// directory's lock, so no live run's files are touched. Returns what was done, for stderr.
pub fn recover(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut done = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(done);
    };
    let mut leftovers = Vec::new();
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) {
            leftovers.push((name, e.path()));
        }
    }
    leftovers.sort();
    for (name, path) in leftovers {
        // This version's name for a copy set aside, and the one earlier versions used.
        let window = name
            .strip_prefix(OLD_PREFIX)
            .map(str::to_string)
            .or_else(|| {
                name.strip_prefix(TEMP_PREFIX)
                    .and_then(|rest| rest.rsplit_once("-old-"))
                    .map(|(window, _)| window.to_string())
            });
        match window {
            Some(w) if !w.is_empty() && !dir.join(&w).exists() => {
                std::fs::rename(&path, dir.join(&w))?;
                done.push(format!(
                    "restored window {} that an interrupted run had set aside",
                    crate::base::text::excerpt(&w)
                ));
            }
            _ => {
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
                done.push(format!(
                    "removed {} left by an interrupted run",
                    crate::base::text::quoted(&path)
                ));
            }
        }
    }
    Ok(done)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Debug builds only: `JANUS_AUDIT_FAILPOINT=write:NAME` fails right after writing output NAME,
/// so the tests can show an interrupted window leaves nothing behind; `kill:publish` ends the
/// process between the fallback's two renames, as a kill -9 would.
fn failpoint(name: &str) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    match std::env::var("JANUS_AUDIT_FAILPOINT") {
        Ok(v) if v == format!("write:{name}") => {
            return Err(std::io::Error::other(
                "simulated failure (JANUS_AUDIT_FAILPOINT)",
            ));
        }
        Ok(v) if v == format!("kill:{name}") => std::process::exit(137),
        _ => {}
    }
    let _ = name;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = 24 * 3_600_000;

    #[test]
    fn window_directory_replaces_and_never_half_exists() {
        let dir = tempfile::tempdir().unwrap();
        let span = Window::between(0, D);
        let outs = [Output {
            name: "a.csv".into(),
            bytes: b"x\n1\n".to_vec(),
        }];
        let made = write_window(dir.path(), &span, &outs, |l| {
            serde_json::to_vec(&l.iter().map(|x| x.2.clone()).collect::<Vec<_>>()).unwrap()
        })
        .unwrap();
        assert_eq!(std::fs::read(made.join("a.csv")).unwrap(), b"x\n1\n");
        let outs2 = [Output {
            name: "b.csv".into(),
            bytes: b"y\n".to_vec(),
        }];
        write_window(dir.path(), &span, &outs2, |_| b"{}".to_vec()).unwrap();
        assert!(!made.join("a.csv").exists());
        assert!(made.join("b.csv").exists());
        // Nothing but the window directory is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [dir_name(&span)]);
    }
}
