//! Files → tables, in parallel across files, with an account of every file.

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::*;
use rayon::prelude::*;

use crate::analyzer::model::{Needs, Part, ProviderFilter, Sink, Tables};
use crate::analyzer::notice::Notice;
use crate::analyzer::source::envelope::{self, BadRecord, EnvelopeError};
use crate::analyzer::source::files::{self, Found, Limits, Plan, ReadError, WalkError};
use crate::analyzer::source::repair;
use crate::analyzer::source::s3::{self, S3, S3Error, S3Options, S3Uri};
use crate::base::timefmt::Window;

pub mod account;
pub mod spill;
pub mod spill_dirs;

pub use account::{
    FileReport, FileStatus, Skip, Summary, files_frame, report_files_frame, summarize,
};

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub paths: Vec<PathBuf>,
    pub window: Window,
    pub needs: Needs,
    pub providers: ProviderFilter,
    /// SHA-256 every file opened (digests included), for a report manifest.
    pub hash_inputs: bool,
    /// No file at all is a valid, empty input (a store the API found nothing for), not an error.
    pub empty_ok: bool,
    pub limits: Limits,
    /// Read this Parquet dataset instead of `paths`.
    pub dataset: Option<PathBuf>,
    /// Keep only these columns of `role_calls` (see `model::role_call_columns`); `None`: all.
    pub role_call_columns: Option<crate::analyzer::model::CallColumns>,
    /// Build only these columns of `key_lineage` (see `query::table_words`); `None`: all.
    pub lineage_columns: Option<crate::analyzer::model::lineage::Named>,
    /// Decode only these columns of a dataset's `assumptions` and `hops`.
    pub base_columns: crate::analyzer::model::BaseColumns,
    /// Whether a query can name `key_activity`'s `event_source` (its one column made only
    /// when named: 16 bytes a group).
    pub activity_sources: bool,
    /// How `s3://` paths are reached and narrowed.
    pub s3: S3Options,
    /// Validate the inputs against their CloudTrail digests (`--verify`); each file's
    /// decompressed content is hashed as it is read.
    pub verify: bool,
    /// `--public-keys FILE`: the only keys `--verify` trusts.
    pub public_keys: Option<PathBuf>,
    /// `--gcp-logs` and the listings: read beside the trail (see `gcp`).
    pub gcp: crate::analyzer::gcp::Inputs,
    /// Sigma rules to evaluate on every record in the window (`sigma_matches`).
    pub sigma: Option<std::sync::Arc<crate::analyzer::sigma::RuleSet>>,
}

pub struct Ingested {
    pub tables: Tables,
    pub files: Vec<FileReport>,
    pub walk_errors: Vec<WalkError>,
    pub summary: Summary,
}

impl Ingested {
    pub fn files_frame(&self) -> PolarsResult<DataFrame> {
        report_files_frame(&self.files)
    }

    /// Each skipped or partly read input, then the summary line.
    pub fn tell(&self, tell: &mut dyn FnMut(Notice)) {
        for w in &self.walk_errors {
            tell(Notice::Problem(format!("skipped {w}")));
        }
        for f in &self.files {
            match f.status {
                FileStatus::Skipped => tell(Notice::Problem(format!(
                    "skipped {}: {}",
                    crate::base::text::quoted(&f.path),
                    f.problems.join("; ")
                ))),
                FileStatus::Partial => tell(Notice::Problem(format!(
                    "partly read {}: {} unusable record(s): {}",
                    crate::base::text::quoted(&f.path),
                    f.unusable,
                    f.problems
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ))),
                _ => {}
            }
        }
        tell(Notice::Info(self.summary.line()));
    }
}

fn skip(report: &mut FileReport, kind: Skip, reason: String) {
    report.status = FileStatus::Skipped;
    report.skip = Some(kind);
    report.problems.push(crate::base::text::reason(&reason));
}

fn read_one(
    found: &Found,
    body: Option<Result<s3::Got, S3Error>>,
    file_id: u32,
    sink: &mut Sink,
    bufs: &mut files::Buffers,
    limits: &Limits,
) -> FileReport {
    let mut report = FileReport::planned(found, file_id);
    let custody = bufs.hash && found.plan == Plan::Digest;
    if found.plan != Plan::Read && !custody {
        report.bytes = match &found.object {
            Some(o) => o.size,
            None => std::fs::metadata(&found.path).map(|m| m.len()).unwrap_or(0),
        };
        return report;
    }
    let read = decode(found, body, &mut report, bufs, limits);
    report.sha256 = bufs.sha256.map(hex::encode);
    report.content_sha256 = bufs.content_sha256.map(hex::encode);
    match read {
        Ok(size) => report.bytes = size,
        Err(e) => {
            let kind = match e {
                ReadError::TooLarge { .. } => Skip::OverLimit,
                _ => Skip::Damaged,
            };
            skip(&mut report, kind, e.to_string());
            return report;
        }
    }
    if custody {
        return report;
    }
    if !unwrapped(bufs, &mut report) {
        return report;
    }
    let texts = sink.wants_texts();
    let first = envelope::split_with_texts(&bufs.decoded, limits.max_records, texts);
    let retry = match &first {
        Err(e) => envelope::repairable(&e.to_string()),
        Ok(split) => split.bad.iter().any(|b| envelope::repairable(&b.reason)),
    };
    let (mut nulled, mut not_utf8) = (0, 0);
    let parsed = if retry {
        drop(first);
        not_utf8 = repair::invalid_utf8(&mut bufs.decoded);
        // An export's envelope that could not be read for a bad byte can be now.
        if not_utf8 > 0
            && let Some(records) = envelope::unwrap_exports(&bufs.decoded)
        {
            bufs.decoded = records;
        }
        nulled = repair::null_unreadable(&mut bufs.decoded);
        envelope::split_with_texts(&bufs.decoded, limits.max_records, texts)
    } else {
        first
    };
    let before = sink.stats.values_nulled;
    match parsed {
        Err(e) => {
            let kind = match e {
                EnvelopeError::Json(_) => Skip::Damaged,
                EnvelopeError::NotCloudTrail(_) => Skip::NotCloudTrail,
                EnvelopeError::TooManyRecords(_) => Skip::OverLimit,
            };
            skip(&mut report, kind, e.to_string());
        }
        Ok(split) if split.digest && split.records.is_empty() => report.status = FileStatus::Digest,
        Ok(split) => {
            push_records(sink, &split, file_id);
            report.records = split.records.len() as u64;
            let nulled = nulled + sink.stats.values_nulled - before;
            partly_read(&mut report, &split, not_utf8, nulled);
        }
    }
    report
}

/// The records of a Security Lake file or of an export's envelopes in place of its bytes;
/// false when the file was skipped.
fn unwrapped(bufs: &mut files::Buffers, report: &mut FileReport) -> bool {
    if let Err(reason) = from_security_lake(bufs, report) {
        skip(
            report,
            Skip::NotCloudTrail,
            format!("not a CloudTrail log: {reason}"),
        );
        return false;
    }
    if let Some(records) = envelope::unwrap_exports(&bufs.decoded) {
        bufs.decoded = records;
    }
    true
}

/// A Security Lake Parquet file's rows, as the CloudTrail records they were made from, in
/// place of its bytes; rows of other OCSF classes are counted as unusable.
fn from_security_lake(bufs: &mut files::Buffers, report: &mut FileReport) -> Result<(), String> {
    use crate::analyzer::source::security_lake;
    if !security_lake::is_parquet(&bufs.decoded) {
        return Ok(());
    }
    let read = security_lake::read(&bufs.decoded)?;
    if read.ndjson.is_empty() {
        return Err(format!(
            "Parquet of {} OCSF row(s), none of them API Activity (class 6003)",
            read.other_classes
        ));
    }
    if read.other_classes > 0 {
        report.status = FileStatus::Partial;
        report.unusable += read.other_classes;
        report.problems.push(format!(
            "{} row(s) of other OCSF classes than API Activity",
            read.other_classes
        ));
    }
    bufs.decoded = read.ndjson;
    Ok(())
}

/// Every record of a file into `sink`, each with its text when the sink evaluates Sigma rules.
fn push_records(sink: &mut Sink, split: &envelope::Split<'_>, file_id: u32) {
    for (i, r) in split.records.iter().enumerate() {
        let text = split.texts.as_ref().map(|t| t[i]);
        sink.push_with_text(r, text, file_id, i as u32);
    }
}

impl FileReport {
    /// A file's report before it is read: what the walk planned for it.
    fn planned(found: &Found, file_id: u32) -> FileReport {
        FileReport {
            file_id,
            path: found.path.clone(),
            bytes: 0,
            records: 0,
            status: match found.plan {
                Plan::Read => FileStatus::Read,
                Plan::Digest => FileStatus::Digest,
                Plan::OutsideWindow => FileStatus::OutsideWindow,
            },
            skip: None,
            problems: Vec::new(),
            unusable: 0,
            values_nulled: 0,
            sha256: None,
            etag: found.object.as_ref().and_then(|o| o.etag.clone()),
            content_sha256: None,
            validation: None,
        }
    }
}

/// The file's bytes, decompressed into `bufs` (from disk, or the object fetched for it): how
/// many. A fetched object's ETag replaces the listing's.
fn decode(
    found: &Found,
    body: Option<Result<s3::Got, S3Error>>,
    report: &mut FileReport,
    bufs: &mut files::Buffers,
    limits: &Limits,
) -> Result<u64, ReadError> {
    match body {
        None => files::read_decoded(&found.path, bufs, limits.max_file_bytes),
        Some(Ok(got)) => {
            if got.etag.is_some() {
                report.etag = got.etag;
            }
            files::decode_fetched(got.body, bufs, limits.max_file_bytes)
        }
        Some(Err(S3Error::TooLarge { what, limit })) => Err(ReadError::TooLarge { what, limit }),
        Some(Err(e)) => Err(ReadError::Fetch(e)),
    }
}

/// A file whose records were read with some unusable, some bytes that are not UTF-8, or some
/// values read as null: partly read, each kind of damage said once.
fn partly_read(report: &mut FileReport, split: &envelope::Split<'_>, not_utf8: u64, nulled: u64) {
    if split.bad_count > 0 {
        report.status = FileStatus::Partial;
        report.unusable += split.bad_count;
        report.problems.extend(
            split.bad.iter().map(|BadRecord { at, reason }| {
                crate::base::text::reason(&format!("{at}: {reason}"))
            }),
        );
        let unlisted = split.bad_count - split.bad.len() as u64;
        if unlisted > 0 {
            report.problems.push(format!("and {unlisted} more"));
        }
    }
    if not_utf8 > 0 {
        report.status = FileStatus::Partial;
        report.problems.push(format!(
            "{not_utf8} byte sequence(s) that are not UTF-8 read as U+FFFD; their records are kept"
        ));
    }
    report.values_nulled = nulled;
    if report.values_nulled > 0 {
        report.status = FileStatus::Partial;
        report.problems.push(format!(
            "{} unreadable value(s) (a lone UTF-16 surrogate escape, a number out of range) read as null; their records are kept",
            report.values_nulled
        ));
    }
}

/// Read every input and build the tables. Damaged files are reported, never fatal.
pub fn ingest(
    opts: &IngestOptions,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
) -> PolarsResult<Ingested> {
    ingest_into(opts, progress, |raw| {
        Tables::from_raw(raw, &opts.providers, opts.lineage_columns.as_ref())
    })
}

/// [`ingest`], the tables built from what was read by `build`.
pub fn ingest_into<E: From<PolarsError>>(
    opts: &IngestOptions,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
    build: impl FnOnce(crate::analyzer::model::Raw) -> Result<Tables, E>,
) -> Result<Ingested, E> {
    let (found, walk_errors, s3) = discover(opts);
    if let Some(pb) = progress {
        pb.set_total(found.len() as u64);
    }
    let (parts, reports) = match &s3 {
        Some(s3) => read_fetched(&found, 0, s3, opts, progress),
        None => read_files(&found, 0, opts, progress, Vec::new()),
    };
    let started = Instant::now();
    let tables = build(crate::analyzer::model::Raw::from_parts(parts)?)?;
    Ok(ingested(tables, started, reports, walk_errors))
}

/// Local files read per batch where the calls may be spilled: what one batch adds to memory
/// before its calls can be written.
const SPILL_BATCH_FILES: usize = 192;

/// [`ingest_into`], the files read a batch at a time and the window's calls written to disk
/// once they outgrow `budget` (see [`spill`]). `build` is handed what was read and, when the
/// calls were written, where (`Raw`'s `role_calls` then has none); they are removed after.
pub fn ingest_spilling<E: From<PolarsError> + From<spill::SpillError>>(
    opts: &IngestOptions,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
    budget: usize,
    build: impl FnOnce(crate::analyzer::model::Raw, Option<&spill::Spilled>) -> Result<Tables, E>,
) -> Result<Ingested, E> {
    let (found, walk_errors, s3) = discover(opts);
    if let Some(pb) = progress {
        pb.set_total(found.len() as u64);
    }
    let mut spill = spill::Spill::new(budget);
    let (mut parts, mut reports) = (Vec::new(), Vec::new());
    let mut each = |mut p: Vec<Part>, r: Vec<FileReport>| -> Result<(), spill::SpillError> {
        spill.take(&mut parts, &mut p)?;
        // One part a batch, not one a worker: each part holds its assumptions and hops
        // until every file is read.
        parts.extend(Part::merged(p).expect("parts of one schema"));
        reports.extend(r);
        Ok(())
    };
    match &s3 {
        Some(s3) => fetch_batches(&found, 0, s3, opts, progress, &mut each)?,
        None => {
            let mut first = 0;
            for chunk in found.chunks(SPILL_BATCH_FILES) {
                let (p, r) = read_files(chunk, first, opts, progress, Vec::new());
                each(p, r)?;
                first += chunk.len() as u32;
            }
        }
    }
    let mut spilled = spill.finish()?;
    let mut raw = crate::analyzer::model::Raw::from_parts(parts)?;
    if let Some(s) = &mut spilled {
        tracing::info!(
            "the window's calls were kept in {} file(s) under {}",
            s.paths.len(),
            s.dir().display()
        );
        raw.resolved = Some(s.resolve_ids()?);
        // The batches parsed on every core left their freed buffers in the allocator's arenas,
        // where the parts read back from disk would sit beside them (see memory::give_back).
        crate::analyzer::memory::give_back();
    }
    let started = Instant::now();
    let tables = build(raw, spilled.as_ref())?;
    Ok(ingested(tables, started, reports, walk_errors))
}

fn ingested(
    tables: Tables,
    started: Instant,
    reports: Vec<FileReport>,
    walk_errors: Vec<WalkError>,
) -> Ingested {
    tracing::info!("built tables in {:.2?}", started.elapsed());
    let summary = summarize(&reports, &walk_errors, &tables);
    Ingested {
        tables,
        files: reports,
        walk_errors,
        summary,
    }
}

/// The local files and S3 objects the positional paths name, with what could not be listed;
/// and the S3 client, when any path is a bucket.
pub fn discover(opts: &IngestOptions) -> (Vec<Found>, Vec<WalkError>, Option<S3>) {
    let (local, buckets): (Vec<PathBuf>, Vec<PathBuf>) = opts
        .paths
        .iter()
        .cloned()
        .partition(|p| S3Uri::of_path(p).is_none());
    let (mut found, mut errors) = files::discover(&local, &opts.window);
    if buckets.is_empty() {
        return (found, errors, None);
    }
    let s3 = match S3::connect(&opts.s3) {
        Ok(s3) => s3,
        Err(e) => {
            errors.extend(buckets.into_iter().map(|path| WalkError {
                path,
                reason: e.to_string(),
            }));
            return (found, errors, None);
        }
    };
    for path in buckets {
        let uri = S3Uri::of_path(&path).expect("partitioned on it");
        match s3.list_trail(&uri, &opts.window, s3::Kind::Logs, &opts.s3) {
            Ok(objects) => found.extend(objects.into_iter().map(|o| Found {
                path: o.path(),
                plan: files::plan_for(&o.path(), &opts.window),
                object: Some(o),
            })),
            Err(e) => errors.push(WalkError {
                path,
                reason: format!("cannot list: {e}"),
            }),
        }
    }
    (found, errors, Some(s3))
}

/// What one fetched batch may hold (compressed bytes as listed); two batches are in memory at
/// most, one being parsed while the next arrives.
const FETCH_BATCH_BYTES: u64 = 64 << 20;
const FETCH_BATCH_OBJECTS: usize = 512;

/// [`read_files`] over input that includes S3 objects: batches are fetched on the client's
/// runtime while the previous batch is parsed on every core.
pub fn read_fetched(
    found: &[Found],
    first_id: u32,
    s3: &S3,
    opts: &IngestOptions,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
) -> (Vec<Part>, Vec<FileReport>) {
    let (mut parts, mut reports) = (Vec::new(), Vec::new());
    let kept = fetch_batches(found, first_id, s3, opts, progress, |p, r| {
        parts.extend(p);
        reports.extend(r);
        Ok::<(), std::convert::Infallible>(())
    });
    let Ok(()) = kept;
    (parts, reports)
}

/// [`read_fetched`], each batch's parts and reports handed to `each` as it is parsed; an error
/// from `each` stops the fetching.
pub fn fetch_batches<E>(
    found: &[Found],
    first_id: u32,
    s3: &S3,
    opts: &IngestOptions,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
    mut each: impl FnMut(Vec<Part>, Vec<FileReport>) -> Result<(), E>,
) -> Result<(), E> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, f) in found.iter().enumerate() {
        bytes += f.object.as_ref().map_or(0, |o| o.size);
        if bytes >= FETCH_BATCH_BYTES || i + 1 - start >= FETCH_BATCH_OBJECTS {
            batches.push(start..i + 1);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < found.len() {
        batches.push(start..found.len());
    }
    let fetchable = |f: &Found| {
        f.object.is_some() && (f.plan == Plan::Read || (opts.hash_inputs && f.plan == Plan::Digest))
    };
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let batches_ref = &batches;
        scope.spawn(move || {
            for range in batches_ref {
                let chunk = &found[range.clone()];
                let wanted: Vec<&s3::Object> = chunk
                    .iter()
                    .filter(|f| fetchable(f))
                    .filter_map(|f| f.object.as_ref())
                    .collect();
                let mut got = s3.fetch(&wanted, opts.limits.max_file_bytes).into_iter();
                let bodies: Vec<Option<Result<s3::Got, S3Error>>> = chunk
                    .iter()
                    .map(|f| fetchable(f).then(|| got.next()).flatten())
                    .collect();
                if tx.send((range.clone(), bodies)).is_err() {
                    break;
                }
            }
        });
        for (range, bodies) in rx {
            let first = first_id + range.start as u32;
            let (p, r) = read_files(&found[range.clone()], first, opts, progress, bodies);
            // Dropping the receiver on an error stops the fetcher at its next batch.
            each(p, r)?;
        }
        Ok(())
    })
}

/// Parse `found` in parallel, numbering files from `first_id`: one [`Part`] per worker, in
/// input order, and a report per file. `bodies` holds fetched S3 bodies by position (empty
/// when every input is on disk).
pub fn read_files(
    found: &[Found],
    first_id: u32,
    opts: &IngestOptions,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
    bodies: Vec<Option<Result<s3::Got, S3Error>>>,
) -> (Vec<Part>, Vec<FileReport>) {
    let started = Instant::now();
    let bodies: Vec<std::sync::Mutex<Option<Result<s3::Got, S3Error>>>> =
        bodies.into_iter().map(std::sync::Mutex::new).collect();
    let results: Vec<(Part, Vec<FileReport>)> = found
        .par_iter()
        .enumerate()
        .fold(
            || {
                let mut bufs = files::Buffers::hashing(opts.hash_inputs);
                bufs.hash_content = opts.verify;
                (
                    Sink::new(opts.needs, opts.window).with_sigma(opts.sigma.clone()),
                    Vec::new(),
                    bufs,
                )
            },
            |(mut sink, mut reports, mut bufs), (i, f)| {
                let id = first_id + i as u32;
                let body = bodies
                    .get(i)
                    .and_then(|b| b.lock().ok().and_then(|mut b| b.take()));
                reports.push(read_one(f, body, id, &mut sink, &mut bufs, &opts.limits));
                if let Some(pb) = progress {
                    pb.one_done();
                }
                (sink, reports, bufs)
            },
        )
        .map(|(sink, reports, _)| {
            let mut part = sink.finish(opts.role_call_columns.as_ref().map(|c| c.kept.as_slice()));
            opts.base_columns.narrow(&mut part);
            (part, reports)
        })
        .collect();
    tracing::info!("parsed {} files in {:.2?}", found.len(), started.elapsed());
    let mut parts = Vec::with_capacity(results.len());
    let mut reports = Vec::with_capacity(found.len());
    for (part, r) in results {
        parts.push(part);
        reports.extend(r);
    }
    (parts, reports)
}
