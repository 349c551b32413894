//! One window of `report`: the three reports in each format, and the manifest that says what
//! went in and what came out.

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::analyzer::engine::{self, ReportError};
use crate::analyzer::load::{IngestOptions, Ingested};
use crate::analyzer::model::Table;
use crate::analyzer::query::{Queries, QueryError, Shipped};
use crate::analyzer::render::{self, Format, OutputError};
use crate::analyzer::schedule::manifest::{Made, Manifest};
use crate::analyzer::schedule::publish::{Output, write_window};
use crate::analyzer::schedule::state::ScheduleError;
use crate::base::hash::sha256_hex;
use crate::base::timefmt::Window;

/// Everything a window's report is made from, for `run_window`.
pub struct WindowJob<'a> {
    pub window: Window,
    pub output_dir: &'a Path,
    pub formats: &'a [Format],
    pub queries: &'a Queries,
    /// What to read, over `window` (hashing every input, for the manifest, is this module's to
    /// set).
    pub input: IngestOptions,
    pub params: Vec<(Table, DataFrame)>,
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
    /// `--gcp-logs`: what was read of them.
    pub gcp: crate::analyzer::gcp::Gcp,
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

/// With GCP input, `gcp_instance` on both reports (see `gcp::keys`).
fn judge_gcp(
    gcp: &crate::analyzer::gcp::Gcp,
    by_instance: &mut DataFrame,
    sessions: &mut DataFrame,
) -> Result<(), ReportError> {
    if gcp.present {
        crate::analyzer::gcp::keys::append(by_instance, Some(sessions), &gcp.model)?;
        crate::analyzer::gcp::keys::append(sessions, None, &gcp.model)?;
    }
    Ok(())
}

/// The three reports of one window, in each format, with a manifest, in `DIR/<span>/`.
pub fn run_window(
    job: WindowJob<'_>,
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
) -> Result<WindowDone, WindowError> {
    let html = job.formats.contains(&Format::Html);
    let (sqls, own) = window_queries(job.queries, html, job.input.sigma.is_some())?;
    let mut params = job.params;
    if html {
        // No entity set: every instance's timeline.
        params.push((
            Table::TimelineFilter,
            crate::analyzer::query::timeline::Entity::default().frame(),
        ));
    }
    let opts = IngestOptions {
        window: job.window,
        hash_inputs: true,
        ..job.input
    };
    let mut outcome = engine::run(&sqls, job.queries, opts, params, job.trusted, &[], progress)?;
    let mut frames = std::mem::take(&mut outcome.frames);
    let extra = frames.split_off(own);
    let mut frames = frames.into_iter();
    let mut by_instance = frames.next().unwrap_or_default();
    let mut sessions = frames.next().unwrap_or_default();
    judge_gcp(&outcome.gcp, &mut by_instance, &mut sessions)?;
    let findings = findings(frames.collect(), job.formats.contains(&Format::Ocsf))?;
    let reports = [
        ("by_instance", &by_instance),
        ("sessions", &sessions),
        ("findings", &findings),
    ];
    let mut outputs = Vec::new();
    if html {
        let complete =
            outcome.ingested.summary.complete() && job.input_complete && outcome.gcp.complete();
        let source = &job.parameters["source"];
        let frames = [&by_instance, &sessions, &findings];
        outputs.push(page(
            job.window, source, complete, &outcome, frames, &extra,
        )?);
    }
    outputs.extend(encode(&reports, job.formats)?);
    let ingested = outcome.ingested;
    let verification = outcome.verification;
    let gcp = outcome.gcp;
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
        let made = Made {
            window: &window,
            parameters,
            queries,
            rows,
            listed,
            gcp: gcp.describe(),
        };
        Manifest::new(made, &ingested, verification.as_ref()).to_bytes()
    })?;
    Ok(WindowDone {
        complete: ingested.summary.complete() && gcp.complete(),
        dir,
        ingested,
        findings,
        verification,
        gcp,
    })
}

/// The three reports' queries (by-instance, sessions, then every finding's, with `sigma` the
/// Sigma rules' too), and for a page the activity and timeline it draws too; with how many are
/// the reports'.
fn window_queries(
    queries: &Queries,
    html: bool,
    sigma: bool,
) -> Result<(Vec<crate::analyzer::query::Sql>, usize), QueryError> {
    let mut sqls = vec![
        queries.shipped(Shipped::ByInstance)?,
        queries.shipped(Shipped::Sessions)?,
    ];
    sqls.extend(queries.findings()?);
    if sigma {
        sqls.push(queries.shipped(Shipped::SigmaFindings)?);
    }
    let own = sqls.len();
    if html {
        sqls.push(queries.shipped(Shipped::Activity)?);
        sqls.push(queries.shipped(Shipped::Timeline)?);
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

/// The findings, stacked; with the OCSF file, each keeps the events behind it (only that file
/// shows them).
fn findings(frames: Vec<DataFrame>, ocsf: bool) -> Result<DataFrame, ReportError> {
    crate::analyzer::query::findings::combine_with(frames, ocsf).map_err(|e| {
        ReportError::Query(QueryError::Sql {
            name: "findings".into(),
            error: e,
        })
    })
}

/// Each report in each of `formats` but the page, in that order; OCSF holds the findings only,
/// and only OCSF the findings' evidence.
fn encode(reports: &[(&str, &DataFrame)], formats: &[Format]) -> Result<Vec<Output>, WindowError> {
    let mut outputs = Vec::new();
    for (name, df) in reports {
        let without = df.drop(crate::analyzer::query::findings::EVIDENCE).ok();
        for f in formats.iter().filter(|f| **f != Format::Html) {
            if *f == Format::Ocsf && *name != "findings" {
                continue;
            }
            let df = match (f, &without) {
                (Format::Ocsf, _) | (_, None) => *df,
                (_, Some(w)) => w,
            };
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
