//! Writing the dataset (`janus-audit ingest`): CloudTrail into the dataset, a batch of files at a time, so memory
//! follows the batch and not the input. A rerun reads only files it has not recorded (same
//! path, size and modification time); each batch's parts are written beside their final names,
//! renamed into place, and committed by its `files` part, written last.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::analyzer::dataset::files::{FileMeta, files_frame};
use crate::analyzer::dataset::{
    Dataset, DatasetError, NO_DATE, TABLES, io, part_name, rollup, sigma, write_aside_with,
};
use crate::analyzer::load::{self, FileReport, FileStatus, IngestOptions};
use crate::analyzer::model::dedupe::SEQ;
use crate::analyzer::model::{Needs, ProviderFilter, Raw};
use crate::analyzer::notice::{FileCount, Notice};
use crate::analyzer::source::files::{Found, Limits, WalkError};
use crate::analyzer::source::s3::{S3, S3Options};
use crate::base::timefmt::{Millis, Window};

/// How an ingest reads and writes.
#[derive(Debug, Clone)]
pub struct Request {
    /// Also write the `events` table (every record; by far the largest).
    pub events: bool,
    /// Evaluate these Sigma rules on every record, and store the matches (`dataset::sigma`).
    pub sigma: Option<std::sync::Arc<crate::analyzer::sigma::RuleSet>>,
    /// Files per batch: what one batch holds in memory.
    pub batch_files: usize,
    pub limits: Limits,
    pub s3: S3Options,
}

/// What [`write`] added, and what it could not read.
pub struct Written {
    pub files: u64,
    pub records: u64,
    /// A file was skipped or partly read.
    pub incomplete: bool,
    /// Files found that the dataset already holds.
    pub already: u64,
    /// Paths that could not be walked.
    pub walk_errors: Vec<WalkError>,
}

/// Add the files under `paths` that `ds` has not recorded, a batch at a time, under its lock;
/// first removes what an interrupted ingest left (said through `tell`).
pub fn write(
    ds: &Dataset,
    paths: Vec<PathBuf>,
    req: &Request,
    progress: Option<&dyn FileCount>,
    tell: &mut dyn FnMut(Notice),
) -> Result<Written, DatasetError> {
    let _lock = ds.lock()?;
    let removed = clean_uncommitted(ds)?;
    if removed > 0 {
        tell(Notice::Problem(format!(
            "removed {removed} part file(s) of a batch an interrupted ingest never committed"
        )));
    }
    // Under the lock, every temporary file is one a killed ingest was writing.
    let stale = crate::base::atomic::remove_stale_temporaries(&ds.dir);
    if stale > 0 {
        tell(Notice::Problem(format!(
            "removed {stale} temporary file(s) an interrupted ingest left"
        )));
    }
    let known = ds.files()?;
    let opts = batch_options(req);
    let (found, walk_errors, s3) = load::discover(&IngestOptions {
        paths,
        ..opts.clone()
    });
    let (todo, already) = new_files(found, &known)?;
    // Parts of uncommitted batches are gone by now, so the next number is free everywhere.
    let first_batch = ds.committed()?.last().map_or(0, |b| b + 1);
    if let Some(p) = progress {
        p.set_total(todo.len() as u64);
    }
    let done = write_batches(
        ds,
        req,
        &opts,
        s3.as_ref(),
        &todo,
        next_file_id(&known)?,
        first_batch,
        progress,
        tell,
    )?;
    Ok(Written {
        files: done.files,
        records: done.records,
        incomplete: done.incomplete || !walk_errors.is_empty(),
        already,
        walk_errors,
    })
}

/// What a run's batches added.
struct Done {
    files: u64,
    records: u64,
    /// A file was skipped or partly read.
    incomplete: bool,
}

/// Read and write `todo` a batch at a time, numbering files from `first_id` and batches from
/// `first_batch`. A batch is written while the next one is parsed: writing keeps about one core
/// busy (each part's pages are compressed and written in order), and parsing fills the other.
/// Memory holds two batches at most.
#[allow(clippy::too_many_arguments)]
fn write_batches(
    ds: &Dataset,
    req: &Request,
    opts: &IngestOptions,
    s3: Option<&S3>,
    todo: &[Found],
    first_id: u32,
    first_batch: u32,
    bar: Option<&dyn FileCount>,
    tell: &mut dyn FnMut(Notice),
) -> Result<Done, DatasetError> {
    let mut done = Done {
        files: 0,
        records: 0,
        incomplete: false,
    };
    std::thread::scope(|scope| {
        // A rendezvous: the reader hands over a batch only once the writer is free for it, so
        // no third batch waits in between.
        let (to_writer, batches) = std::sync::mpsc::sync_channel::<Batch<'_>>(0);
        let writer = scope.spawn(move || -> Result<(), DatasetError> {
            for b in batches {
                write_batch(ds, b, req.sigma.as_deref())?;
            }
            Ok(())
        });
        let read = (|| {
            let mut next_id = first_id;
            for (batch, chunk) in (first_batch..).zip(todo.chunks(req.batch_files.max(1))) {
                let (parts, reports) = match s3 {
                    Some(s3) => load::read_fetched(chunk, next_id, s3, opts, bar),
                    None => load::read_files(chunk, next_id, opts, bar, Vec::new()),
                };
                let raw = Raw::from_parts(parts)?;
                done.records += raw.stats.records;
                for r in &reports {
                    let what = match r.status {
                        FileStatus::Skipped => "skipped",
                        FileStatus::Partial => "partly read",
                        _ => continue,
                    };
                    done.incomplete = true;
                    tell(Notice::Problem(format!(
                        "{what} {}: {}",
                        crate::base::text::quoted(&r.path),
                        r.problems.join("; ")
                    )));
                }
                let b = Batch {
                    number: batch,
                    raw,
                    reports,
                    chunk,
                };
                // A closed channel means the writer failed; its error is the one to report.
                if to_writer.send(b).is_err() {
                    break;
                }
                done.files += chunk.len() as u64;
                next_id += chunk.len() as u32;
            }
            Ok::<(), DatasetError>(())
        })();
        drop(to_writer);
        // The writer's error comes first: a failed read stops the run either way, but a failed
        // write is why the reader stopped when both failed.
        writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        read
    })?;
    Ok(done)
}

/// One batch, read and on its way to the dataset.
struct Batch<'f> {
    number: u32,
    raw: Raw,
    reports: Vec<FileReport>,
    /// The files it was read from, in the order of `reports`.
    chunk: &'f [Found],
}

/// How a batch is read: every table, every provider, hashed.
fn batch_options(req: &Request) -> IngestOptions {
    IngestOptions {
        paths: Vec::new(),
        window: Window::default(),
        needs: Needs {
            events: req.events,
            id_times: true,
            touched: true,
            piecewise: false,
            groups: false,
        },
        providers: ProviderFilter::Any,
        hash_inputs: true,
        empty_ok: true,
        limits: req.limits,
        dataset: None,
        role_call_columns: None,
        lineage_columns: None,
        base_columns: Default::default(),
        activity_sources: true,
        s3: req.s3.clone(),
        verify: false,
        public_keys: None,
        gcp: Default::default(),
        sigma: req.sigma.clone(),
    }
}

/// Found files the dataset has not recorded with the same size and modification time.
fn new_files(found: Vec<Found>, known: &DataFrame) -> Result<(Vec<Found>, u64), DatasetError> {
    let paths = known.column("path")?.str()?;
    let bytes = known.column("bytes")?.u64()?;
    let mtimes = known.column("mtime")?.datetime()?;
    let mut seen: HashMap<&str, (Option<u64>, Option<i64>)> = HashMap::new();
    for i in 0..known.height() {
        if let Some(p) = paths.get(i) {
            seen.insert(p, (bytes.get(i), mtimes.phys.get(i)));
        }
    }
    let mut todo = Vec::new();
    let mut already = 0;
    for f in found {
        let key = f.path.display().to_string();
        let now = size_and_mtime(&f);
        if seen.get(key.as_str()) == Some(&now) {
            already += 1;
        } else {
            todo.push(f);
        }
    }
    Ok((todo, already))
}

/// A local file's size and modification time; an S3 object's size and LastModified.
fn size_and_mtime(f: &Found) -> (Option<u64>, Option<Millis>) {
    match &f.object {
        Some(o) => (Some(o.size), o.last_modified),
        None => {
            let meta = std::fs::metadata(&f.path).ok();
            (
                meta.as_ref().map(|m| m.len()),
                meta.as_ref().and_then(mtime),
            )
        }
    }
}

fn mtime(m: &std::fs::Metadata) -> Option<Millis> {
    let t = m.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_millis() as Millis)
}

fn next_file_id(known: &DataFrame) -> Result<u32, DatasetError> {
    Ok(known.column("file_id")?.u32()?.max().map_or(0, |m| m + 1))
}

/// Remove the parts of batches that were never committed (a crash between a batch's parts and
/// its `files` part), and files left half-written beside their final names. Returns how many.
fn clean_uncommitted(ds: &Dataset) -> Result<u64, DatasetError> {
    let committed = ds.committed()?;
    let mut dirs = Vec::new();
    for table in TABLES {
        dirs.extend(ds.partitions(table)?.into_iter().map(|p| p.path));
    }
    // Unpartitioned; a stray part here would say a later batch of its number was evaluated
    // with rules it never was.
    let rules = ds.dir.join(sigma::RULES);
    if rules.is_dir() {
        dirs.push(rules);
    }
    let mut removed = 0;
    for dir in dirs {
        for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let stray = name.starts_with(".janus-audit-")
                || crate::analyzer::dataset::batch_of(&name)
                    .is_some_and(|b| !committed.contains(&b));
            if stray {
                std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Split `df` by the UTC date of `event_time`: `(partition value, rows)`.
fn by_date(df: &DataFrame) -> Result<BTreeMap<String, DataFrame>, DatasetError> {
    const DAY_MS: i64 = 86_400_000;
    let times = df.column("event_time")?.datetime()?;
    // Keyed by day number, named once per day: formatting a date per row was a visible share of
    // ingest.
    let mut rows: BTreeMap<Option<i64>, Vec<IdxSize>> = BTreeMap::new();
    for (i, t) in times.phys.iter().enumerate() {
        rows.entry(t.map(|t| t.div_euclid(DAY_MS)))
            .or_default()
            .push(i as IdxSize);
    }
    let name = |day: Option<i64>| {
        day.and_then(|d| chrono::DateTime::from_timestamp_millis(d * DAY_MS))
            .map_or_else(|| NO_DATE.to_string(), |t| t.format("%Y-%m-%d").to_string())
    };
    // Most batches fall on one day: then the table is its one part as it is. Gathering it
    // anyway copied every value of role_calls, a third of ingest's time outside parsing.
    if rows.len() == 1
        && let Some(&day) = rows.keys().next()
    {
        return Ok(BTreeMap::from([(name(day), df.clone())]));
    }
    let mut out = BTreeMap::new();
    for (day, idx) in rows {
        out.insert(name(day), df.take(&IdxCa::from_vec("".into(), idx))?);
    }
    Ok(out)
}

/// How a table's parts are compressed: Snappy, as Spark, Athena and DuckDB write by default (on
/// 1M events, a quarter faster to ingest and a tenth faster to read than zstd). Not `ids`, whose columns are UUIDs, content hashes and positions: Snappy took a
/// seventh off its size for about 1.5% of ingest's time.
fn compression(table: &str) -> ParquetCompression {
    match table {
        "ids" => ParquetCompression::Uncompressed,
        _ => ParquetCompression::Snappy,
    }
}

fn write_parquet(
    path: &Path,
    df: &mut DataFrame,
    compression: ParquetCompression,
) -> Result<(), DatasetError> {
    let dir = path.parent().expect("a partition directory");
    crate::base::atomic::create_private_dirs(dir).map_err(io(dir))?;
    // Straight into the file beside the part: encoding into memory first grew a buffer the size
    // of the part, page by fresh page, for every part of every batch.
    write_aside_with(path, |w| {
        ParquetWriter::new(w)
            .with_compression(compression)
            .finish(df)?;
        Ok(())
    })
}

/// Each table's rows into their date partitions (with `req_sigma`, the rules' matches and the
/// rules themselves), then the batch's `files` part (the commit).
fn write_batch(
    ds: &Dataset,
    b: Batch<'_>,
    req_sigma: Option<&crate::analyzer::sigma::RuleSet>,
) -> Result<(), DatasetError> {
    let Batch {
        number: batch,
        raw,
        reports,
        chunk,
    } = b;
    let ids = raw.ids.to_frame()?;
    let ranges = event_ranges(&ids)?;
    let mut tables: Vec<(&str, DataFrame)> = vec![
        ("role_calls", raw.role_calls),
        ("assumptions", raw.assumptions),
        ("hops", raw.hops),
        ("policy_changes", raw.policy_changes),
        ("ids", ids),
    ];
    if let Some(events) = raw.events {
        tables.push(("events", events));
    }
    let rules = req_sigma.map(|set| (sigma::rules_frame(set), set));
    if let (Some(m), Some((_, set))) = (&raw.sigma_matches, &rules) {
        tables.push((sigma::MATCHES, sigma::stored_matches(m, set)?));
    }
    // One part after another, on the writer's thread: polars encodes a part's columns on its own
    // pool, and the cores it leaves free parse the next batch. Handing the parts to rayon
    // instead queued them behind that parse.
    let mut written = Vec::new();
    for (table, df) in tables {
        for (date, mut part) in by_date(&df)? {
            if table == "role_calls" {
                let mut groups = rollup::of(&part)?;
                written.push(write_part(ds, rollup::TABLE, &date, batch, &mut groups)?);
            }
            written.push(write_part(ds, table, &date, batch, &mut part)?);
        }
    }
    // The rules last of the parts: a batch is evaluated with them only once its matches are in.
    if let Some((frame, _)) = rules {
        let path = ds.dir.join(sigma::RULES).join(part_name(batch));
        if let Some(link) = crate::base::atomic::through_symlink(&ds.dir, &path) {
            return Err(DatasetError::Symlink(link));
        }
        write_parquet(&path, &mut frame?, compression(sigma::RULES))?;
        written.push(sigma::RULES.to_string());
    }
    // Before the commit: a reader can then tell a part that went missing from one never made.
    ds.record_parts(batch, &written)?;
    let rows: Vec<(FileReport, FileMeta)> = reports
        .into_iter()
        .zip(chunk)
        .map(|(r, f)| {
            let (first_event, last_event) = ranges.get(&r.file_id).copied().unwrap_or_default();
            let meta = FileMeta {
                mtime: size_and_mtime(f).1,
                batch,
                first_event,
                last_event,
            };
            (r, meta)
        })
        .collect();
    let mut files = files_frame(&rows)?;
    write_parquet(
        &ds.dir.join("files").join(part_name(batch)),
        &mut files,
        compression("files"),
    )
}

/// `part` as batch `batch`'s part of `table` in partition `date`; returns `table/date=D`.
fn write_part(
    ds: &Dataset,
    table: &str,
    date: &str,
    batch: u32,
    part: &mut DataFrame,
) -> Result<String, DatasetError> {
    let partition = format!("{table}/date={date}");
    let path = ds.dir.join(&partition).join(part_name(batch));
    // Never written through a link planted inside the dataset.
    if let Some(link) = crate::base::atomic::through_symlink(&ds.dir, &path) {
        return Err(DatasetError::Symlink(link));
    }
    write_parquet(&path, part, compression(table))?;
    Ok(partition)
}

/// Earliest and latest event time.
type Range = (Option<Millis>, Option<Millis>);

/// Each file's earliest and latest event time, from the ids its records carry.
fn event_ranges(ids: &DataFrame) -> Result<HashMap<u32, Range>, DatasetError> {
    let seqs = ids.column(SEQ)?.u64()?;
    let times = ids.column("event_time")?.datetime()?;
    let mut out: HashMap<u32, Range> = HashMap::new();
    for (seq, t) in seqs.iter().zip(times.phys.iter()) {
        let (Some(seq), Some(t)) = (seq, t) else {
            continue;
        };
        let e = out.entry((seq >> 32) as u32).or_default();
        e.0 = Some(e.0.map_or(t, |v| v.min(t)));
        e.1 = Some(e.1.map_or(t, |v| v.max(t)));
    }
    Ok(out)
}
