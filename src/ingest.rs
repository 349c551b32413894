//! Files → tables, in parallel across files, with an account of every file.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use polars::prelude::*;
use rayon::prelude::*;

use crate::model::{Needs, Part, ProviderFilter, Sink, Tables};
use crate::notice::Notice;
use crate::source::envelope::{self, BadRecord, EnvelopeError};
use crate::source::files::{self, Found, Limits, Plan, ReadError, WalkError};
use crate::source::repair;
use crate::timefmt::Window;

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
    pub role_call_columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Every record was read.
    Read,
    /// Read, but some records in it were unusable (listed in `problems`).
    Partial,
    Digest,
    OutsideWindow,
    /// Nothing could be read from it (reason in `problems`).
    Skipped,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Read => "read",
            FileStatus::Partial => "partial",
            FileStatus::Digest => "digest",
            FileStatus::OutsideWindow => "outside-window",
            FileStatus::Skipped => "skipped",
        }
    }
}

/// Why a file was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Broken gzip or JSON, unreadable, or empty.
    Damaged,
    /// Readable, but not CloudTrail (a CSV, a zip, JSON of another shape).
    NotCloudTrail,
    /// Over `--max-file-size` or `--max-records-per-file`.
    OverLimit,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Damaged => "damaged",
            Skip::NotCloudTrail => "not-cloudtrail",
            Skip::OverLimit => "over-limit",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileReport {
    /// The id rows of the other tables carry (`file_id`); global across a dataset's runs.
    pub file_id: u32,
    pub path: PathBuf,
    /// Size on disk (compressed, for `.gz`).
    pub bytes: u64,
    pub records: u64,
    pub status: FileStatus,
    /// Why, when `status` is `Skipped`.
    pub skip: Option<Skip>,
    /// What went wrong, each capped and escaped; unusable records are listed up to a bound.
    pub problems: Vec<String>,
    /// Records that could not be used (`Partial` files).
    pub unusable: u64,
    /// Values that could not be read and became null, their records kept (`Partial` files).
    pub values_nulled: u64,
    /// Hex SHA-256 of the bytes on disk, when hashing was asked for and the file could be read.
    pub sha256: Option<String>,
}

/// Totals for the stderr summary and the report manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub files_read: u64,
    pub files_partial: u64,
    pub files_skipped: u64,
    /// Of `files_skipped`: readable, but not CloudTrail.
    pub not_cloudtrail: u64,
    /// Of `files_skipped`: over a size or record limit.
    pub over_limit: u64,
    pub digests: u64,
    pub outside_window: u64,
    pub paths_unreadable: u64,
    pub records: u64,
    pub bad_records: u64,
    /// Values that could not be read and became null (their records kept).
    pub values_nulled: u64,
    pub duplicates: u64,
    /// Of `duplicates`: copies whose content differed from the kept one (an ID collision).
    pub duplicates_differing: u64,
    /// The first few IDs with such copies.
    pub differing_ids: Vec<String>,
    /// Assumptions from other web identity providers that `--provider google` left out.
    pub other_providers: u64,
    pub without_event_id: u64,
    pub without_time: u64,
    pub unreadable_time: u64,
    pub unreadable_time_example: Option<String>,
    pub incomplete_assumptions: u64,
}

impl Summary {
    /// True when every input that should have been read was read in full.
    pub fn complete(&self) -> bool {
        self.files_skipped == 0
            && self.files_partial == 0
            && self.paths_unreadable == 0
            && self.bad_records == 0
    }
}

pub struct Ingested {
    pub tables: Tables,
    pub files: Vec<FileReport>,
    pub walk_errors: Vec<WalkError>,
    pub summary: Summary,
}

/// The `files` table: one row per input file, `file_id` matching the other tables.
pub fn files_frame(files: &[FileReport]) -> PolarsResult<DataFrame> {
    df!(
        "file_id" => files.iter().map(|f| f.file_id).collect::<Vec<_>>(),
        "path" => files.iter().map(|f| f.path.display().to_string()).collect::<Vec<_>>(),
        "bytes" => files.iter().map(|f| f.bytes).collect::<Vec<_>>(),
        "records" => files.iter().map(|f| f.records).collect::<Vec<_>>(),
        "status" => files.iter().map(|f| f.status.as_str()).collect::<Vec<_>>(),
        "problems" => files.iter().map(|f| (!f.problems.is_empty()).then(|| f.problems.join("; "))).collect::<Vec<_>>(),
    )
}

impl Ingested {
    pub fn files_frame(&self) -> PolarsResult<DataFrame> {
        files_frame(&self.files)
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
                    crate::text::quoted(&f.path),
                    f.problems.join("; ")
                ))),
                FileStatus::Partial => tell(Notice::Problem(format!(
                    "partly read {}: {} unusable record(s): {}",
                    crate::text::quoted(&f.path),
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

impl Summary {
    /// The one-line account of a run's input, for stderr.
    pub fn line(&self) -> String {
        let s = self;
        let mut parts = vec![format!(
            "read {} file(s), {} record(s)",
            s.files_read, s.records
        )];
        parts.push(format!("{} duplicate(s) dropped", s.duplicates));
        if s.duplicates_differing > 0 {
            parts.push(format!(
                "{} of them differ from the copy kept (eventID collision; events may be lost: {})",
                s.duplicates_differing,
                s.differing_ids
                    .iter()
                    .map(|id| crate::text::excerpt(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        parts.push(format!("{} digest file(s) skipped", s.digests));
        parts.push(format!(
            "{} file(s) skipped as damaged",
            s.files_skipped + s.paths_unreadable - s.not_cloudtrail - s.over_limit
        ));
        let unread_time = format!(
            "{} record(s) with an eventTime that is not a time (e.g. '{}')",
            s.unreadable_time,
            s.unreadable_time_example.as_deref().unwrap_or("")
        );
        // Each said only when it happened.
        let optional = [
            (
                s.not_cloudtrail,
                format!("{} file(s) skipped as not CloudTrail", s.not_cloudtrail),
            ),
            (
                s.over_limit,
                format!(
                    "{} file(s) skipped over a size or record limit",
                    s.over_limit
                ),
            ),
            (
                s.files_partial,
                format!(
                    "{} file(s) partly read ({} unusable record(s))",
                    s.files_partial, s.bad_records
                ),
            ),
            (
                s.values_nulled,
                format!(
                    "{} unreadable value(s) read as null (records kept)",
                    s.values_nulled
                ),
            ),
            (
                s.outside_window,
                format!("{} file(s) outside the window not opened", s.outside_window),
            ),
            (
                s.without_time,
                format!("{} record(s) without eventTime", s.without_time),
            ),
            (s.unreadable_time, unread_time),
            (
                s.without_event_id,
                format!("{} record(s) without eventID kept", s.without_event_id),
            ),
            (
                s.other_providers,
                format!(
                    "{} assumption(s) from other web identity providers (GitHub Actions, EKS, ...) not reported; --provider any includes them",
                    s.other_providers
                ),
            ),
            (
                s.incomplete_assumptions,
                format!(
                    "{} successful assumption(s) without a readable key or expiration",
                    s.incomplete_assumptions
                ),
            ),
        ];
        parts.extend(optional.into_iter().filter(|(n, _)| *n > 0).map(|(_, t)| t));
        parts.join("; ")
    }
}

fn skip(report: &mut FileReport, kind: Skip, reason: String) {
    report.status = FileStatus::Skipped;
    report.skip = Some(kind);
    report.problems.push(crate::text::reason(&reason));
}

fn read_one(
    found: &Found,
    file_id: u32,
    sink: &mut Sink,
    bufs: &mut files::Buffers,
    limits: &Limits,
) -> FileReport {
    let mut report = FileReport {
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
    };
    let custody = bufs.hash && found.plan == Plan::Digest;
    if found.plan != Plan::Read && !custody {
        report.bytes = std::fs::metadata(&found.path).map(|m| m.len()).unwrap_or(0);
        return report;
    }
    let read = files::read_decoded(&found.path, bufs, limits.max_file_bytes);
    report.sha256 = bufs.sha256.map(hex::encode);
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
    let first = envelope::split(&bufs.decoded, limits.max_records);
    let retry = match &first {
        Err(e) => envelope::repairable(&e.to_string()),
        Ok(split) => split.bad.iter().any(|b| envelope::repairable(&b.reason)),
    };
    let mut nulled = 0;
    let parsed = if retry {
        drop(first);
        nulled = repair::null_unreadable(&mut bufs.decoded);
        envelope::split(&bufs.decoded, limits.max_records)
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
            for (i, r) in split.records.iter().enumerate() {
                sink.push(r, file_id, i as u32);
            }
            report.records = split.records.len() as u64;
            if split.bad_count > 0 {
                report.status = FileStatus::Partial;
                report.unusable = split.bad_count;
                report.problems = split
                    .bad
                    .iter()
                    .map(|BadRecord { at, reason }| crate::text::reason(&format!("{at}: {reason}")))
                    .collect();
                let unlisted = split.bad_count - split.bad.len() as u64;
                if unlisted > 0 {
                    report.problems.push(format!("and {unlisted} more"));
                }
            }
            report.values_nulled = nulled + sink.stats.values_nulled - before;
            if report.values_nulled > 0 {
                report.status = FileStatus::Partial;
                report.problems.push(format!(
                    "{} unreadable value(s) (a lone UTF-16 surrogate escape, a number out of range) read as null; their records are kept",
                    report.values_nulled
                ));
            }
        }
    }
    report
}

/// Read every input and build the tables. Damaged files are reported, never fatal.
pub fn ingest(opts: &IngestOptions, progress: Option<&ProgressBar>) -> PolarsResult<Ingested> {
    let (found, walk_errors) = files::discover(&opts.paths, &opts.window);
    if let Some(pb) = progress {
        pb.set_length(found.len() as u64);
    }
    let (parts, reports) = read_files(&found, 0, opts, progress);
    let started = Instant::now();
    let tables = Tables::from_parts(parts, &opts.providers)?;
    tracing::info!("built tables in {:.2?}", started.elapsed());
    let summary = summarize(&reports, &walk_errors, &tables);
    Ok(Ingested {
        tables,
        files: reports,
        walk_errors,
        summary,
    })
}

/// Parse `found` in parallel, numbering files from `first_id`: one [`Part`] per worker, in
/// input order, and a report per file.
pub fn read_files(
    found: &[Found],
    first_id: u32,
    opts: &IngestOptions,
    progress: Option<&ProgressBar>,
) -> (Vec<Part>, Vec<FileReport>) {
    let started = Instant::now();
    let results: Vec<(Part, Vec<FileReport>)> = found
        .par_iter()
        .enumerate()
        .fold(
            || {
                (
                    Sink::new(opts.needs, opts.window),
                    Vec::new(),
                    files::Buffers::hashing(opts.hash_inputs),
                )
            },
            |(mut sink, mut reports, mut bufs), (i, f)| {
                let id = first_id + i as u32;
                reports.push(read_one(f, id, &mut sink, &mut bufs, &opts.limits));
                if let Some(pb) = progress {
                    pb.inc(1);
                }
                (sink, reports, bufs)
            },
        )
        .map(|(sink, reports, _)| (sink.finish(opts.role_call_columns.as_deref()), reports))
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

/// The totals of a run over `reports`, with the counts the tables carry.
pub fn summarize(reports: &[FileReport], walk_errors: &[WalkError], tables: &Tables) -> Summary {
    let mut summary = Summary {
        paths_unreadable: walk_errors.len() as u64,
        records: tables.stats.records,
        duplicates: tables.duplicates.dropped,
        duplicates_differing: tables.duplicates.differing,
        differing_ids: tables.duplicates.differing_ids.clone(),
        other_providers: tables.other_providers,
        without_event_id: tables.stats.without_event_id,
        without_time: tables.stats.without_time,
        unreadable_time: tables.stats.unreadable_time,
        unreadable_time_example: tables.stats.unreadable_time_example.clone(),
        incomplete_assumptions: tables.stats.incomplete_assumptions,
        ..Summary::default()
    };
    for r in reports {
        match r.status {
            FileStatus::Read => summary.files_read += 1,
            FileStatus::Partial => {
                summary.files_read += 1;
                summary.files_partial += 1;
                summary.bad_records += r.unusable;
                summary.values_nulled += r.values_nulled;
            }
            FileStatus::Digest => summary.digests += 1,
            FileStatus::OutsideWindow => summary.outside_window += 1,
            FileStatus::Skipped => {
                summary.files_skipped += 1;
                match r.skip {
                    Some(Skip::NotCloudTrail) => summary.not_cloudtrail += 1,
                    Some(Skip::OverLimit) => summary.over_limit += 1,
                    _ => {}
                }
            }
        }
    }
    summary
}
