//! Laying down a window's directory: every file written into a hidden temporary directory, a
//! manifest with each output's SHA-256 last, then one rename, so that a reader never sees a
//! half-written window.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{ScheduleError, dir_name, sha256_hex};
use crate::timefmt::Window;

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
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".janus-audit-{name}-"))
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
        if target.exists() {
            // Rename the old copy aside first: rename(2) will not replace a non-empty directory.
            let old = tempfile::Builder::new()
                .prefix(&format!(".janus-audit-{name}-old-"))
                .tempdir_in(dir)?
                .keep();
            std::fs::remove_dir(&old)?;
            std::fs::rename(&target, &old)?;
            std::fs::rename(&tmp, &target)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&tmp, &target)?;
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

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Debug builds only: `JANUS_AUDIT_FAILPOINT=write:NAME` fails right after writing output NAME,
/// so the tests can show an interrupted window leaves nothing behind.
fn failpoint(name: &str) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    if std::env::var("JANUS_AUDIT_FAILPOINT").is_ok_and(|v| v == format!("write:{name}")) {
        return Err(std::io::Error::other(
            "simulated failure (JANUS_AUDIT_FAILPOINT)",
        ));
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
