//! What became of every input file (read, partly read, skipped and why), the `files` table, and
//! the one-line summary of a run.

use std::path::PathBuf;

use polars::prelude::*;

use crate::analyzer::model::Tables;
use crate::analyzer::source::files::WalkError;
use crate::base::timefmt::{Millis, Window};

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
    /// An S3 object's ETag.
    pub etag: Option<String>,
    /// Hex SHA-256 of the decompressed content, with `hash_content`.
    pub content_sha256: Option<String>,
    /// What log-file integrity validation said of it (`--verify`), e.g. `valid`, `uncovered`.
    pub validation: Option<String>,
}

/// Totals for the stderr summary and the report manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records whose time falls in the window, and the earliest and latest time of all read.
    pub records_in_window: u64,
    pub earliest: Option<Millis>,
    pub latest: Option<Millis>,
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
    pub only_at_timestamp: u64,
    pub unreadable_time: u64,
    pub unreadable_time_example: Option<String>,
    pub incomplete_assumptions: u64,
    /// Calls matched to a key on its ID with fewer than the session's ARN and creation time.
    pub calls_matched_by_fewer_fields: u64,
    /// Calls made with a key ID the input issued, but to another session or at another time.
    pub calls_of_unseen_issuance: u64,
    /// Chained AssumeRoles whose record does not name its parent session's ARN and creation time.
    pub hops_unlinked: u64,
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

/// The `files` table a report's queries read: the dataset's columns, and what `--verify` said
/// of each file (null without it).
pub fn report_files_frame(files: &[FileReport]) -> PolarsResult<DataFrame> {
    let mut df = files_frame(files)?;
    df.with_column(Column::new(
        "validation".into(),
        files
            .iter()
            .map(|f| f.validation.clone())
            .collect::<Vec<_>>(),
    ))?;
    Ok(df)
}
impl Summary {
    /// Nothing in `window`, though the input holds records elsewhere (read, or in day folders
    /// outside the window, which are not opened): said, with the time the input spans, so that
    /// an empty answer is not taken for a quiet trail.
    pub fn missed(&self, window: &Window, files: &[FileReport]) -> Option<String> {
        if self.records_in_window > 0 || (window.since.is_none() && window.until.is_none()) {
            return None;
        }
        let t = crate::base::timefmt::format_millis;
        let span = match (self.earliest, self.latest) {
            (Some(first), Some(last)) => {
                format!(
                    "the {} record(s) read run from {} to {}",
                    self.records,
                    t(first),
                    t(last)
                )
            }
            _ => {
                let days: Vec<chrono::NaiveDate> = files
                    .iter()
                    .filter(|f| f.status == FileStatus::OutsideWindow)
                    .filter_map(|f| crate::analyzer::source::layout::s3_day(&f.path))
                    .collect();
                let (first, last) = (days.iter().min()?, days.iter().max()?);
                format!("the input's day folders run from {first} to {last}")
            }
        };
        let bound = |b: Option<Millis>| b.map_or("open".to_string(), t);
        Some(format!(
            "nothing in the window [{}, {}): {span}; choose the window with --since and --until (`report` plans its windows as of now, or of --as-of)",
            bound(window.since),
            bound(window.until),
        ))
    }

    /// The one-line account of a run's input, for stderr.
    // Reads better whole: the line's clauses in the order it says them, one entry each.
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
                    .map(|id| crate::base::text::excerpt(id))
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
                match s.only_at_timestamp {
                    0 => format!("{} record(s) without eventTime", s.without_time),
                    n => format!(
                        "{} record(s) without eventTime ({n} of them with only a Logstash/Elastic @timestamp, which is the export's time, not the event's, and is not read)",
                        s.without_time
                    ),
                },
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
            (
                s.calls_matched_by_fewer_fields,
                format!(
                    "{} call(s) matched to their key by key ID without the session's ARN or creation time (the record lacks it)",
                    s.calls_matched_by_fewer_fields
                ),
            ),
            (
                s.calls_of_unseen_issuance,
                format!(
                    "{} call(s) made with a key ID the input issued, but to another session or at another time: a reused key ID whose issuing event is not in the input, left unattributed",
                    s.calls_of_unseen_issuance
                ),
            ),
            (
                s.hops_unlinked,
                format!(
                    "{} chained AssumeRole(s) whose record lacks the parent session's ARN or creation time: their keys are linked to no parent",
                    s.hops_unlinked
                ),
            ),
        ];
        parts.extend(optional.into_iter().filter(|(n, _)| *n > 0).map(|(_, t)| t));
        parts.join("; ")
    }
}
/// The totals of a run over `reports`, with the counts the tables carry.
pub fn summarize(reports: &[FileReport], walk_errors: &[WalkError], tables: &Tables) -> Summary {
    let mut summary = Summary {
        paths_unreadable: walk_errors.len() as u64,
        records: tables.stats.records,
        duplicates: tables.duplicates.dropped(),
        duplicates_differing: tables.duplicates.differing,
        differing_ids: tables.duplicates.differing_ids.clone(),
        other_providers: tables.other_providers,
        without_event_id: tables.stats.without_event_id,
        without_time: tables.stats.without_time,
        only_at_timestamp: tables.stats.only_at_timestamp,
        unreadable_time: tables.stats.unreadable_time,
        unreadable_time_example: tables.stats.unreadable_time_example.clone(),
        incomplete_assumptions: tables.stats.incomplete_assumptions,
        calls_matched_by_fewer_fields: tables.key_match.by_fewer_fields,
        calls_of_unseen_issuance: tables.key_match.other_issuance,
        hops_unlinked: tables.key_match.hops_unlinked,
        records_in_window: tables.stats.in_window,
        earliest: tables.stats.earliest,
        latest: tables.stats.latest,
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
