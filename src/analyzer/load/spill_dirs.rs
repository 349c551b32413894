//! The directories of the spills in progress, so that a signal handler can remove them before it
//! ends the process (which runs no destructor).
//!
//! Four races are closed here. A directory is made and registered under one lock, so a signal
//! that arrives between the two cannot miss it; once the handler has begun removing, no new
//! directory is made; the spill's writer thread, which may still be creating files in a
//! directory as it is removed (a lone `remove_dir_all` then fails with "directory not empty"),
//! is cut off by renaming the directory before removing it; and the command, whose writes fail
//! from then on, can ask [`SpillDirs::ending`] and leave the exit to the handler.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How many times a directory's removal is tried before it is left: a file whose creation began
/// before the rename may still land after a try has listed the directory.
const TRIES: usize = 100;

struct State {
    dirs: Vec<PathBuf>,
    ended: bool,
}

/// Spill directories in progress.
pub struct SpillDirs(Mutex<State>);

/// Every spill of this process.
pub static IN_PROGRESS: SpillDirs = SpillDirs::new();

impl SpillDirs {
    const fn new() -> SpillDirs {
        SpillDirs(Mutex::new(State {
            dirs: Vec::new(),
            ended: false,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make a directory with `make` and register it, unless the process is ending.
    pub fn make<T: AsRef<Path>>(
        &self,
        make: impl FnOnce() -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut state = self.state();
        if state.ended {
            return Err(std::io::Error::other("the process is ending"));
        }
        let dir = make()?;
        state.dirs.push(dir.as_ref().to_path_buf());
        Ok(dir)
    }

    /// Whether a signal's handler has begun removing (waits until it has removed them all).
    pub fn ending(&self) -> bool {
        self.state().ended
    }

    /// Forget a directory its owner removed.
    pub fn forget(&self, dir: &Path) {
        self.state().dirs.retain(|d| d != dir);
    }

    /// Remove every directory in progress and refuse new ones: the process is ending.
    pub fn remove_all(&self) {
        let mut state = self.state();
        state.ended = true;
        for dir in state.dirs.drain(..) {
            // Renamed first, so that the writer's paths no longer lead into it and it stops
            // adding files while they are removed.
            let away = dir.with_extension("removing");
            let target = match std::fs::rename(&dir, &away) {
                Ok(()) => away,
                Err(_) => dir,
            };
            for _ in 0..TRIES {
                match std::fs::remove_dir_all(&target) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound && target.exists() => {}
                    _ => break,
                }
            }
        }
        // Debug builds can hold the removal open, so that a test can show the command, which
        // fails meanwhile, does not end the process first.
        let pause = crate::base::debug_knob::number("JANUS_AUDIT_REMOVAL_PAUSE_MS", 0);
        std::thread::sleep(std::time::Duration::from_millis(pause as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removal while a writer is still creating files in the directory (as the spill's writer
    /// thread does when a signal arrives) leaves nothing, and no directory is made afterwards.
    #[test]
    fn removal_races_a_writer_and_wins() {
        let tmp = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let dirs = SpillDirs::new();
            let dir = dirs
                .make(|| {
                    let d = tmp.path().join(format!("spill-{round}"));
                    std::fs::create_dir(&d).map(|()| d)
                })
                .unwrap();
            let inner = dir.join("ids");
            std::fs::create_dir(&inner).unwrap();
            // Bounded, so that a removal that gives up fails the test instead of hanging it.
            let writer = std::thread::spawn(move || {
                let mut made = 0;
                while made < 20_000 && std::fs::write(inner.join(format!("b{made}")), b"x").is_ok()
                {
                    made += 1;
                }
            });
            while std::fs::read_dir(dir.join("ids")).map_or(0, |d| d.count()) < 200 {
                std::thread::yield_now();
            }
            dirs.remove_all();
            writer.join().unwrap();
            let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
            assert!(left.is_empty(), "round {round} left {left:?}");
            let late = tmp.path().join("late");
            assert!(
                dirs.make(|| std::fs::create_dir(&late).map(|()| late.clone()))
                    .is_err()
            );
            assert!(!late.exists());
        }
    }
}
