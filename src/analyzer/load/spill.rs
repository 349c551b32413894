//! A report over the JSON files keeps the window's calls on disk once they outgrow a budget, so
//! that what it holds does not grow with the window: the calls of each batch of files are
//! written to a private temporary directory as Parquet, and the report then reads them back a
//! few parts at a time, as it reads a dataset's. Below the budget nothing is written and the
//! calls stay in memory: small inputs keep their speed.
//!
//! Which copy of a repeated eventID survives is still decided after every file is read: the
//! calls are written with their place in input order (`__seq`), and every record's ID, place and
//! content hash go to buckets by ID (`dedupe::buckets`), resolved a bucket at a time; the copies
//! that do not survive are dropped as the calls are read back, exactly as in memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::spill_dirs::IN_PROGRESS;
use crate::analyzer::model::Part;
use crate::analyzer::model::dedupe::buckets::IdBuckets;
use crate::analyzer::model::dedupe::{Duplicates, EventIds};

/// What the calls and event IDs may take in memory before they are written to disk (polars'
/// estimate of the calls' columns, 32 bytes an ID): about a million calls of `by-instance`'s
/// columns.
const BUDGET_BYTES: usize = 256 << 20;

/// Calls a file holds at most: 131,072, or in debug builds `JANUS_AUDIT_SPILL_ROWS=N`, so that
/// tests over small trails cross the seams between files. A report decodes two files per core
/// at once, as it does a dataset's parts (about 84,000 calls each at 3M events): files of
/// 262,144 calls made `findings` over 3M events peak at 605 MiB instead of 485 MiB.
fn file_rows() -> usize {
    crate::base::debug_knob::number("JANUS_AUDIT_SPILL_ROWS", 131_072).max(1)
}

#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error(
        "cannot keep the window's calls in a temporary directory under {}: {why} (set TMPDIR to a \
         directory with room, or narrow the window with --since/--until)",
        crate::base::text::quoted(dir)
    )]
    Write { dir: PathBuf, why: String },
}

impl SpillError {
    fn at(dir: &Path) -> impl Fn(String) -> SpillError + '_ {
        move |why| SpillError::Write {
            dir: dir.to_path_buf(),
            why,
        }
    }
}

/// The budget: [`BUDGET_BYTES`], or in debug builds `JANUS_AUDIT_SPILL_BYTES=N`, so that tests
/// over small trails spill (0: from the first call).
pub fn budget() -> usize {
    crate::base::debug_knob::number("JANUS_AUDIT_SPILL_BYTES", BUDGET_BYTES)
}

/// Calls written to disk, in input order, one file per batch read, and the event IDs in
/// buckets. The directory and its files are removed when this is dropped.
pub struct Spilled {
    dir: tempfile::TempDir,
    pub paths: Vec<PathBuf>,
    ids: Option<IdBuckets>,
}

impl Drop for Spilled {
    fn drop(&mut self) {
        // Removed before it is forgotten: a signal between the two still finds it.
        let _ = std::fs::remove_dir_all(self.dir.path());
        IN_PROGRESS.forget(self.dir.path());
    }
}

impl Spilled {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write `ids` to the buckets (before they are resolved).
    fn append_ids(&mut self, ids: EventIds) -> Result<(), SpillError> {
        let buckets = self.ids.as_mut().expect("buckets until resolved");
        buckets
            .append(ids)
            .map_err(|e| SpillError::at(self.dir.path())(e.to_string()))
    }

    /// Which copies of the repeated event IDs survive (once: the buckets are consumed).
    pub fn resolve_ids(&mut self) -> Result<Duplicates, SpillError> {
        let ids = self.ids.take().expect("resolved once");
        ids.resolve()
            .map_err(|e| SpillError::at(self.dir.path())(e.to_string()))
    }
}

/// Event IDs held while they fit a budget (see [`buckets::held_bytes`]), in buckets on disk
/// from then on, and resolved: for a report's first read of a dataset's `ids`, every eventID
/// of the window's dates, which it once held all at once, twice (the table and the IDs): 3 GB
/// over 30M events.
///
/// [`buckets::held_bytes`]: crate::analyzer::model::dedupe::buckets::held_bytes
pub struct IdSpill {
    budget: usize,
    held: EventIds,
    /// What `held` takes, counted as it grows: summed again on every part, IDs that are not
    /// UUIDs (an attacker's) would cost time in proportion to all of them.
    held_bytes: usize,
    spilled: Option<Spilled>,
}

impl IdSpill {
    pub fn new(budget: usize) -> IdSpill {
        IdSpill {
            budget,
            held: EventIds::default(),
            held_bytes: 0,
            spilled: None,
        }
    }

    pub fn add(&mut self, ids: EventIds) -> Result<(), SpillError> {
        self.held_bytes += crate::analyzer::model::dedupe::buckets::held_bytes(&ids);
        self.held.append(ids);
        if self.spilled.is_none() && self.held_bytes <= self.budget {
            return Ok(());
        }
        let spilled = match &mut self.spilled {
            Some(s) => s,
            None => {
                let s = self.spilled.insert(open()?);
                tracing::info!("event IDs kept on disk under {}", s.dir().display());
                s
            }
        };
        self.held_bytes = 0;
        spilled.append_ids(std::mem::take(&mut self.held))
    }

    /// Which copies survive: the same answer whether or not the IDs were written.
    pub fn resolve<E: From<PolarsError> + From<SpillError>>(self) -> Result<Duplicates, E> {
        let Some(mut spilled) = self.spilled else {
            return Ok(self.held.resolve()?);
        };
        spilled.append_ids(self.held)?;
        Ok(spilled.resolve_ids()?)
    }
}

/// A batch's calls and event IDs, on their way to disk.
type Batch = (Vec<DataFrame>, Vec<EventIds>);

/// What the writer wrote: the calls' files in order, and the buckets.
type Written = (Vec<PathBuf>, IdBuckets);

/// The thread that writes each batch while the next is parsed (as `ingest` does): writing
/// keeps about one core busy, and parsing the other. It holds one batch, and one more waits.
struct Writer {
    to: std::sync::mpsc::SyncSender<Batch>,
    thread: std::thread::JoinHandle<Result<Written, String>>,
}

/// The calls of the parts read so far: held in the parts while they fit the budget, written
/// to disk from then on.
pub struct Spill {
    budget: usize,
    held: usize,
    spilled: Option<(Spilled, Writer)>,
}

impl Spill {
    pub fn new(budget: usize) -> Spill {
        Spill {
            budget,
            held: 0,
            spilled: None,
        }
    }

    /// Take in the parts of one batch (`parts`, after `earlier`, the parts of the batches
    /// before it, in input order): once the calls and IDs of all of them outgrow the budget,
    /// every part's calls and IDs are taken out of it and written to disk.
    pub fn take(&mut self, earlier: &mut [Part], parts: &mut [Part]) -> Result<(), SpillError> {
        if self.spilled.is_none() {
            let size = |p: &Part| p.calls_size() + p.ids_size();
            self.held += parts.iter().map(size).sum::<usize>();
            if self.held <= self.budget {
                return Ok(());
            }
            let mut spilled = open()?;
            let ids = spilled.ids.take().expect("fresh buckets");
            let writer = Writer::start(spilled.dir.path().to_path_buf(), ids);
            self.spilled = Some((spilled, writer));
            self.send(earlier)?;
        }
        self.send(parts)
    }

    /// The calls on disk once every batch is written, or `None` when they all stayed in their
    /// parts.
    pub fn finish(self) -> Result<Option<Spilled>, SpillError> {
        let Some((mut spilled, writer)) = self.spilled else {
            return Ok(None);
        };
        drop(writer.to);
        let (paths, ids) = joined(writer.thread).map_err(SpillError::at(spilled.dir()))?;
        (spilled.paths, spilled.ids) = (paths, Some(ids));
        Ok(Some(spilled))
    }

    fn send(&mut self, parts: &mut [Part]) -> Result<(), SpillError> {
        let batch = parts
            .iter_mut()
            .map(|p| (p.take_calls(), p.take_ids()))
            .unzip();
        let (_, writer) = self.spilled.as_mut().expect("opened before writing");
        if writer.to.send(batch).is_ok() {
            return Ok(());
        }
        // The writer stopped: its error is why.
        let (spilled, writer) = self.spilled.take().expect("just used");
        let why = match joined(writer.thread) {
            Err(why) => why,
            Ok(_) => "the writer stopped".to_string(),
        };
        Err(SpillError::at(spilled.dir())(why))
    }
}

fn joined(thread: std::thread::JoinHandle<Result<Written, String>>) -> Result<Written, String> {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

impl Writer {
    fn start(dir: PathBuf, mut ids: IdBuckets) -> Writer {
        let (to, batches) = std::sync::mpsc::sync_channel::<Batch>(1);
        let thread = std::thread::spawn(move || {
            let mut paths = Vec::new();
            for (calls, batch_ids) in batches {
                for i in batch_ids {
                    ids.append(i).map_err(|e| e.to_string())?;
                }
                write_calls(&dir, calls, &mut paths)?;
            }
            Ok((paths, ids))
        });
        Writer { to, thread }
    }
}

/// A batch's calls as files of at most [`file_rows`] calls each: a worker's part of a batch is
/// a few thousand calls, and a file per part cost a footer and a read each; a report reads a
/// few files at once, whole.
fn write_calls(dir: &Path, calls: Vec<DataFrame>, paths: &mut Vec<PathBuf>) -> Result<(), String> {
    let calls = calls.into_iter().filter(|c| c.height() > 0);
    let Some(calls) = crate::analyzer::model::stack(calls).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let rows = file_rows();
    for at in (0..calls.height()).step_by(rows) {
        let mut slice = calls.slice(at as i64, rows);
        let path = dir.join(format!("part-{}.parquet", paths.len()));
        write_part(&path, &mut slice)?;
        paths.push(path);
    }
    Ok(())
}

/// A directory only its owner can read, under `TMPDIR` (or /tmp).
fn open() -> Result<Spilled, SpillError> {
    let tmp = std::env::temp_dir();
    let mut builder = tempfile::Builder::new();
    builder.prefix("janus-audit-calls-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let dir = IN_PROGRESS
        .make(|| builder.tempdir_in(&tmp))
        .map_err(|e| SpillError::at(&tmp)(e.to_string()))?;
    let ids = IdBuckets::create(&dir.path().join("ids"))
        .map_err(|e| SpillError::at(dir.path())(e.to_string()))?;
    Ok(Spilled {
        dir,
        paths: Vec::new(),
        ids: Some(ids),
    })
}

/// One part's calls as Parquet, compressed with LZ4 (cheap to write and read back; the calls
/// are read once), readable by their owner only.
fn write_part(path: &Path, calls: &mut DataFrame) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = std::io::BufWriter::new(options.open(path).map_err(|e| e.to_string())?);
    ParquetWriter::new(&mut file)
        .with_compression(ParquetCompression::Lz4Raw)
        .finish(calls)
        .map_err(|e| e.to_string())?;
    file.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_calls_on_disk_are_their_owners_only_and_removed_when_done() {
        use std::os::unix::fs::PermissionsExt;
        let spilled = open().unwrap();
        let dir = spilled.dir().to_path_buf();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let path = dir.join("part-0.parquet");
        let mut df = df!("event_time" => [1i64, 2]).unwrap();
        write_part(&path, &mut df).unwrap();
        assert_eq!(mode(&path), 0o600);
        let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert!(back.equals(&df));
        drop(spilled);
        assert!(!dir.exists());
    }

    #[test]
    fn a_part_is_never_written_over() {
        let spilled = open().unwrap();
        let path = spilled.dir().join("part-0.parquet");
        std::fs::write(&path, b"x").unwrap();
        let mut df = df!("a" => [1i64]).unwrap();
        assert!(write_part(&path, &mut df).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
    }
}
