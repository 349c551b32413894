//! `manifest.json`, the chain-of-custody record of a window: what went in (with hashes), what was
//! skipped and why, the counts, the tool and its exact parameters, `--verify`'s verdict, and the
//! hash of every file that came out. The fields are the contract docs/STABILITY.md describes, in
//! the order they are written.

use chrono::Utc;
use serde::Serialize;

use crate::analyzer::load::{FileStatus, Ingested};
use crate::analyzer::verify::Verification;
use crate::base::timefmt::{Window, format_millis};

#[derive(Serialize)]
pub struct Manifest<'a> {
    tool: Tool,
    window: Span,
    generated_at: String,
    complete: bool,
    /// The command's exact parameters, recorded as they were given.
    parameters: serde_json::Value,
    /// Each query's name → the SHA-256 of its SQL text, in the order they ran.
    queries_sha256: serde_json::Map<String, serde_json::Value>,
    inputs: Vec<Input<'a>>,
    skipped: Vec<Skipped<'a>>,
    verification: Option<Verdict<'a>>,
    counts: Counts,
    outputs: Vec<OutputFile<'a>>,
    /// `--gcp-logs` and the listings: every file with its SHA-256, the counts, the coverage.
    #[serde(skip_serializing_if = "Option::is_none")]
    gcp: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Span {
    since: Option<String>,
    until: Option<String>,
}

#[derive(Serialize)]
struct Input<'a> {
    path: String,
    bytes: u64,
    sha256: &'a Option<String>,
    etag: &'a Option<String>,
    status: &'static str,
    records: u64,
    validation: &'a Option<String>,
}

#[derive(Serialize)]
struct Skipped<'a> {
    path: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<Option<&'static str>>,
    reasons: Vec<&'a str>,
}

#[derive(Serialize)]
struct Verdict<'a> {
    tampered: bool,
    fully_covered: bool,
    keys_source: String,
    keys_caveat: Option<&'static str>,
    /// What `--public-keys` takes to pin the keys of this verdict in a later run.
    public_key_fingerprints: &'a std::collections::BTreeSet<String>,
    scopes: Vec<Scope<'a>>,
    problems: &'a [String],
}

#[derive(Serialize)]
struct Scope<'a> {
    account_id: &'a str,
    region: &'a str,
    digests_valid: u64,
    digests_unsigned: u64,
    digests_invalid: u64,
    digests_missing: u64,
    log_files_valid: u64,
    log_files_modified: u64,
    log_files_deleted: u64,
    log_files_uncovered: u64,
    gaps: Vec<[String; 2]>,
    keys_source: String,
}

#[derive(Serialize)]
struct Counts {
    files_read: u64,
    files_partial: u64,
    files_skipped: u64,
    files_not_cloudtrail: u64,
    files_over_limit: u64,
    paths_unreadable: u64,
    digests: u64,
    outside_window_not_opened: u64,
    records: u64,
    unusable_records: u64,
    duplicates_dropped: u64,
    duplicates_differing: u64,
    duplicate_ids_differing: Vec<String>,
    other_provider_assumptions: u64,
    records_without_event_id: u64,
    records_without_time: u64,
    records_with_unreadable_time: u64,
    values_read_as_null: u64,
    calls_matched_by_fewer_fields: u64,
    calls_of_unseen_issuance: u64,
    chained_assumptions_unlinked: u64,
    /// Each report's name → its number of rows.
    rows: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct OutputFile<'a> {
    file: &'a str,
    bytes: u64,
    sha256: &'a str,
}

/// What the manifest is made from, besides what was read.
pub struct Made<'a> {
    pub window: &'a Window,
    pub parameters: serde_json::Value,
    pub queries: serde_json::Map<String, serde_json::Value>,
    pub rows: serde_json::Map<String, serde_json::Value>,
    /// Each output's name, size and SHA-256.
    pub listed: &'a [(String, u64, String)],
    /// What was read of the GCP input, if any (see `gcp::Gcp::describe`).
    pub gcp: Option<serde_json::Value>,
}

impl<'a> Manifest<'a> {
    pub fn new(
        made: Made<'a>,
        ingested: &'a Ingested,
        verification: Option<&'a Verification>,
    ) -> Self {
        let s = &ingested.summary;
        Manifest {
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            window: Span {
                since: made.window.since.map(format_millis),
                until: made.window.until.map(format_millis),
            },
            generated_at: crate::base::timefmt::format_utc(Utc::now()),
            // GCP input read in part leaves the window incomplete as a CloudTrail file would.
            complete: s.complete()
                && made
                    .gcp
                    .as_ref()
                    .is_none_or(|g| g["complete"].as_bool() == Some(true))
                // A Sigma rule skipped leaves the findings short, as a skipped file would.
                && made
                    .parameters
                    .get("sigma")
                    .is_none_or(|g| g["complete"].as_bool() == Some(true)),
            parameters: made.parameters,
            queries_sha256: made.queries,
            inputs: inputs(ingested),
            skipped: skipped(ingested),
            verification: verification.map(verdict),
            counts: Counts {
                files_read: s.files_read,
                files_partial: s.files_partial,
                files_skipped: s.files_skipped,
                files_not_cloudtrail: s.not_cloudtrail,
                files_over_limit: s.over_limit,
                paths_unreadable: s.paths_unreadable,
                digests: s.digests,
                outside_window_not_opened: s.outside_window,
                records: s.records,
                unusable_records: s.bad_records,
                duplicates_dropped: s.duplicates,
                duplicates_differing: s.duplicates_differing,
                duplicate_ids_differing: s.differing_ids.clone(),
                other_provider_assumptions: s.other_providers,
                records_without_event_id: s.without_event_id,
                records_without_time: s.without_time,
                records_with_unreadable_time: s.unreadable_time,
                values_read_as_null: s.values_nulled,
                calls_matched_by_fewer_fields: s.calls_matched_by_fewer_fields,
                calls_of_unseen_issuance: s.calls_of_unseen_issuance,
                chained_assumptions_unlinked: s.hops_unlinked,
                rows: made.rows,
            },
            outputs: made
                .listed
                .iter()
                .map(|(file, bytes, sha256)| OutputFile {
                    file,
                    bytes: *bytes,
                    sha256,
                })
                .collect(),
            gcp: made.gcp,
        }
    }

    /// Pretty JSON with a final newline, as written to `manifest.json`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("plain structs");
        out.push(b'\n');
        out
    }
}

fn inputs(ingested: &Ingested) -> Vec<Input<'_>> {
    ingested
        .files
        .iter()
        .map(|f| Input {
            path: f.path.display().to_string(),
            bytes: f.bytes,
            sha256: &f.sha256,
            etag: &f.etag,
            status: f.status.as_str(),
            records: f.records,
            validation: &f.validation,
        })
        .collect()
}

/// Skipped and partly read files, then paths that could not be walked (which have no kind).
fn skipped(ingested: &Ingested) -> Vec<Skipped<'_>> {
    let files = ingested
        .files
        .iter()
        .filter(|f| matches!(f.status, FileStatus::Skipped | FileStatus::Partial))
        .map(|f| Skipped {
            path: f.path.display().to_string(),
            status: f.status.as_str(),
            kind: Some(f.skip.map(|k| k.as_str())),
            reasons: f.problems.iter().map(String::as_str).collect(),
        });
    let walks = ingested.walk_errors.iter().map(|w| Skipped {
        path: w.path.display().to_string(),
        status: "unreadable",
        kind: None,
        reasons: vec![w.reason.as_str()],
    });
    files.chain(walks).collect()
}

/// `--verify`'s findings: per account and region, and every problem named.
fn verdict(v: &Verification) -> Verdict<'_> {
    Verdict {
        tampered: v.tampered(),
        fully_covered: !v.gaps(),
        keys_source: v.keys_source(),
        keys_caveat: v
            .rests_on_mirror_keys()
            .then_some(crate::analyzer::verify::keys::MIRROR_CAVEAT),
        public_key_fingerprints: &v.fingerprints_used,
        scopes: v
            .scopes
            .iter()
            .map(|s| Scope {
                account_id: &s.account,
                region: &s.region,
                digests_valid: s.digests_valid,
                digests_unsigned: s.digests_unsigned,
                digests_invalid: s.digests_invalid,
                digests_missing: s.digests_missing,
                log_files_valid: s.logs_valid,
                log_files_modified: s.logs_modified,
                log_files_deleted: s.logs_deleted,
                log_files_uncovered: s.logs_uncovered,
                gaps: s
                    .gaps
                    .iter()
                    .map(|(a, b)| [format_millis(*a), format_millis(*b)])
                    .collect(),
                keys_source: s.keys_source(),
            })
            .collect(),
        problems: &v.problems,
    }
}
