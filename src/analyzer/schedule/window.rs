//! One window of `report`: the three reports in each format, and the manifest that says what
//! went in and what came out.

use std::path::{Path, PathBuf};

use chrono::Utc;
use polars::prelude::DataFrame;

use crate::analyzer::engine::{self, ReportError};
use crate::analyzer::load::{FileStatus, IngestOptions, Ingested};
use crate::analyzer::query::{Queries, QueryError};
use crate::analyzer::render::{self, Format, OutputError};
use crate::analyzer::schedule::publish::{Output, write_window};
use crate::analyzer::schedule::state::ScheduleError;
use crate::base::hash::sha256_hex;
use crate::base::timefmt::Window;
use crate::base::timefmt::format_millis;

/// Everything a window's report is made from, for `run_window`.
pub struct WindowJob<'a> {
    pub window: Window,
    pub output_dir: &'a Path,
    pub formats: &'a [Format],
    pub queries: &'a Queries,
    /// What to read, over `window` (hashing every input, for the manifest, is this module's to
    /// set).
    pub input: IngestOptions,
    pub params: Vec<(String, DataFrame)>,
    pub trusted: &'a [ipnet::IpNet],
    /// Every planned API lookup succeeded (true for files): for the page's header.
    pub input_complete: bool,
    /// The exact parameters, recorded verbatim in the manifest.
    pub parameters: serde_json::Value,
}

pub struct WindowDone {
    pub dir: PathBuf,
    /// Every input was read in full (the caller adds whether every API lookup succeeded).
    pub complete: bool,
    pub ingested: Ingested,
    pub findings: DataFrame,
    /// `--verify`: what validation found (also in the manifest).
    pub verification: Option<crate::analyzer::verify::Verification>,
}

#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Write(#[from] ScheduleError),
    #[error("cannot encode {name}: {source}")]
    Encode { name: String, source: OutputError },
}

/// The three reports of one window, in each format, with a manifest, in `DIR/<span>/`.
pub fn run_window(
    job: WindowJob<'_>,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
) -> Result<WindowDone, WindowError> {
    let html = job.formats.contains(&Format::Html);
    let (sqls, own) = window_queries(job.queries, html)?;
    let mut params = job.params;
    if html {
        // No entity set: every instance's timeline.
        params.push((
            "timeline_filter".into(),
            crate::analyzer::query::timeline::Entity::default().frame(),
        ));
    }
    let opts = IngestOptions {
        window: job.window,
        hash_inputs: true,
        ..job.input
    };
    let mut outcome = engine::run(&sqls, job.queries, opts, params, job.trusted, progress)?;
    let mut frames = std::mem::take(&mut outcome.frames);
    let extra = frames.split_off(own);
    let mut frames = frames.into_iter();
    let by_instance = frames.next().unwrap_or_default();
    let sessions = frames.next().unwrap_or_default();
    let findings = crate::analyzer::query::findings::combine(frames.collect()).map_err(|e| {
        ReportError::Query(QueryError::Sql {
            name: "findings".into(),
            error: e,
        })
    })?;
    let reports = [
        ("by_instance", &by_instance),
        ("sessions", &sessions),
        ("findings", &findings),
    ];
    let mut outputs = Vec::new();
    if html {
        let complete = outcome.ingested.summary.complete() && job.input_complete;
        let source = &job.parameters["source"];
        let frames = [&by_instance, &sessions, &findings];
        outputs.push(page(
            job.window, source, complete, &outcome, frames, &extra,
        )?);
    }
    outputs.extend(encode(&reports, job.formats)?);
    let ingested = outcome.ingested;
    let verification = outcome.verification;
    let rows: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|(n, df)| (n.to_string(), df.height().into()))
        .collect();
    let queries: serde_json::Map<String, serde_json::Value> = std::iter::once(&outcome.calls)
        .chain(sqls.iter())
        .map(|q| (q.name.clone(), sha256_hex(q.text.as_bytes()).into()))
        .collect();
    let window = job.window;
    let parameters = job.parameters;
    let dir = write_window(job.output_dir, &window, &outputs, |listed| {
        manifest(
            &window,
            &ingested,
            verification.as_ref(),
            parameters,
            queries,
            rows,
            listed,
        )
    })?;
    Ok(WindowDone {
        complete: ingested.summary.complete(),
        dir,
        ingested,
        findings,
        verification,
    })
}

/// The three reports' queries (by-instance, sessions, then every finding's), and for a page the
/// activity and timeline it draws too; with how many are the reports'.
fn window_queries(
    queries: &Queries,
    html: bool,
) -> Result<(Vec<crate::analyzer::query::Sql>, usize), QueryError> {
    let mut sqls = vec![queries.named("by_instance")?, queries.named("sessions")?];
    sqls.extend(queries.findings()?);
    let own = sqls.len();
    if html {
        sqls.push(queries.named("activity")?);
        sqls.push(queries.named("timeline")?);
    }
    Ok((sqls, own))
}

/// The window's page, `index.html`: `frames` are by-instance, sessions and findings, `extra` the
/// activity and timeline frames.
fn page(
    window: Window,
    source: &serde_json::Value,
    complete: bool,
    outcome: &engine::Outcome,
    frames: [&DataFrame; 3],
    extra: &[DataFrame],
) -> Result<Output, WindowError> {
    let [by_instance, sessions, findings] = frames;
    let ctx = crate::analyzer::render::html::Context::new(
        "window report",
        window,
        &outcome.ingested,
        outcome.verification.as_ref(),
        source,
        complete,
    );
    let sections = crate::analyzer::render::html::Sections {
        findings: Some(findings),
        activity: extra.first(),
        by_instance: Some(by_instance),
        sessions: Some(sessions),
        timeline: extra.get(1),
        table: None,
    };
    let page = crate::analyzer::render::html::render(&ctx, &sections).map_err(|e| {
        WindowError::Encode {
            name: "index.html".into(),
            source: e.into(),
        }
    })?;
    Ok(Output {
        name: "index.html".into(),
        bytes: page.into_bytes(),
    })
}

/// Each report in each of `formats` but the page, in that order.
fn encode(reports: &[(&str, &DataFrame)], formats: &[Format]) -> Result<Vec<Output>, WindowError> {
    let mut outputs = Vec::new();
    for (name, df) in reports {
        for f in formats.iter().filter(|f| **f != Format::Html) {
            let file = format!("{name}.{}", f.extension());
            let mut bytes = Vec::new();
            render::write(df, *f, name, &mut bytes).map_err(|source| WindowError::Encode {
                name: file.clone(),
                source,
            })?;
            outputs.push(Output { name: file, bytes });
        }
    }
    Ok(outputs)
}

/// `--verify`'s findings for a manifest: per account and region, and every problem named.
fn verification_json(v: &crate::analyzer::verify::Verification) -> serde_json::Value {
    let scopes: Vec<_> = v
        .scopes
        .iter()
        .map(|s| {
            serde_json::json!({
                "account_id": s.account, "region": s.region,
                "digests_valid": s.digests_valid, "digests_unsigned": s.digests_unsigned,
                "digests_invalid": s.digests_invalid, "digests_missing": s.digests_missing,
                "log_files_valid": s.logs_valid, "log_files_modified": s.logs_modified,
                "log_files_deleted": s.logs_deleted, "log_files_uncovered": s.logs_uncovered,
                "gaps": s.gaps.iter().map(|(a, b)| [format_millis(*a), format_millis(*b)]).collect::<Vec<_>>(),
                "keys_source": s.keys_source(),
            })
        })
        .collect();
    serde_json::json!({
        "tampered": v.tampered(),
        "fully_covered": !v.gaps(),
        "keys_source": v.keys_source(),
        "keys_caveat": v.rests_on_mirror_keys().then_some(crate::analyzer::verify::keys::MIRROR_CAVEAT),
        // What `--public-keys` takes to pin the keys of this verdict in a later run.
        "public_key_fingerprints": v.fingerprints_used,
        "scopes": scopes,
        "problems": v.problems,
    })
}

/// The chain-of-custody record: what went in (with hashes), what was skipped and why, the
/// counts, the tool and its exact parameters, and the hash of every file that came out.
fn manifest(
    window: &Window,
    ingested: &Ingested,
    verification: Option<&crate::analyzer::verify::Verification>,
    parameters: serde_json::Value,
    queries: serde_json::Map<String, serde_json::Value>,
    rows: serde_json::Map<String, serde_json::Value>,
    listed: &[(String, u64, String)],
) -> Vec<u8> {
    use serde_json::json;
    let inputs: Vec<_> = ingested
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "bytes": f.bytes,
                "sha256": f.sha256,
                "etag": f.etag,
                "status": f.status.as_str(),
                "records": f.records,
                "validation": f.validation,
            })
        })
        .collect();
    let mut skipped: Vec<_> = ingested
        .files
        .iter()
        .filter(|f| matches!(f.status, FileStatus::Skipped | FileStatus::Partial))
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "status": f.status.as_str(),
                "kind": f.skip.map(|k| k.as_str()),
                "reasons": f.problems,
            })
        })
        .collect();
    skipped.extend(ingested.walk_errors.iter().map(|w| {
        json!({"path": w.path.display().to_string(), "status": "unreadable", "reasons": [w.reason.clone()]})
    }));
    let s = &ingested.summary;
    let m = json!({
        "tool": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")},
        "window": {"since": window.since.map(format_millis), "until": window.until.map(format_millis)},
        "generated_at": crate::base::timefmt::format_utc(Utc::now()),
        "complete": s.complete(),
        "parameters": parameters,
        "queries_sha256": queries,
        "inputs": inputs,
        "skipped": skipped,
        "verification": verification.map(verification_json),
        "counts": {
            "files_read": s.files_read,
            "files_partial": s.files_partial,
            "files_skipped": s.files_skipped,
            "files_not_cloudtrail": s.not_cloudtrail,
            "files_over_limit": s.over_limit,
            "paths_unreadable": s.paths_unreadable,
            "digests": s.digests,
            "outside_window_not_opened": s.outside_window,
            "records": s.records,
            "unusable_records": s.bad_records,
            "duplicates_dropped": s.duplicates,
            "duplicates_differing": s.duplicates_differing,
            "duplicate_ids_differing": s.differing_ids,
            "other_provider_assumptions": s.other_providers,
            "records_without_event_id": s.without_event_id,
            "records_without_time": s.without_time,
            "records_with_unreadable_time": s.unreadable_time,
            "values_read_as_null": s.values_nulled,
            "calls_matched_by_fewer_fields": s.calls_matched_by_fewer_fields,
            "calls_of_unseen_issuance": s.calls_of_unseen_issuance,
            "chained_assumptions_unlinked": s.hops_unlinked,
            "rows": rows,
        },
        "outputs": listed.iter().map(|(name, bytes, sha)| json!({
            "file": name, "bytes": bytes, "sha256": sha,
        })).collect::<Vec<_>>(),
    });
    let mut out = serde_json::to_vec_pretty(&m).expect("json values");
    out.push(b'\n');
    out
}
