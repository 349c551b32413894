//! `janus-audit ingest`: CloudTrail (files, `s3://`, or the API's store) into the dataset, a
//! batch of files at a time; a rerun reads only files it has not recorded.

use std::path::PathBuf;

use crate::analyzer::cmd::answer::{self, Source};
use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::progress;
use crate::analyzer::cmd::sigma_rules;
use crate::analyzer::cmd::ui::Ui;
use crate::analyzer::dataset::Dataset;
use crate::analyzer::dataset::write;
use crate::analyzer::notice::Notice;
use crate::base::exit;
use crate::base::timefmt::Window;

#[derive(Debug, Clone)]
pub struct Request {
    pub source: Source,
    pub dataset: PathBuf,
    /// Also write the `events` table (every record; by far the largest).
    pub events: bool,
    /// Evaluate these Sigma rules on every record and keep the matches.
    pub sigma: Option<answer::SigmaRules>,
    /// Files per batch: what one batch holds in memory.
    pub batch_files: usize,
}

/// Run `ingest`: returns the exit status (3 when a file of this run was skipped or partly read,
/// or a Sigma rule could not be evaluated).
pub fn run(req: Request, ui: Ui<'_>) -> Result<i32, AnalyzerError> {
    let Ui {
        progress,
        interrupt,
        tell,
    } = ui;
    // Before any fetch: a rule path that is not there is a usage error, found at once.
    let sigma = match &req.sigma {
        Some(spec) => Some(sigma_rules::load(spec, None, &Window::default(), tell)?),
        None => None,
    };
    let mut source = req.source.clone();
    sigma_rules::fetch_every_event(&mut source.api, sigma.is_some());
    let input = answer::fetch_input(&source, Window::default(), progress, interrupt, tell)?;
    if input.interrupted {
        return Ok(exit::INTERRUPTED);
    }
    let ds = Dataset::create(&req.dataset)?;
    let gcp_complete = ingest_gcp(&req, &ds, tell)?;
    let how = write::Request {
        events: req.events,
        sigma: sigma.clone(),
        batch_files: req.batch_files,
        limits: req.source.limits,
        s3: req.source.s3.clone(),
    };
    let bar = progress::files_bar(progress, "ingest: ");
    let done = write::write(&ds, input.paths, &how, bar.count(), tell);
    bar.finish();
    let done = done?;
    let (files_done, records, incomplete, already) =
        (done.files, done.records, done.incomplete, done.already);
    for w in &done.walk_errors {
        tell(Notice::Problem(format!("skipped {w}")));
    }
    tell(Notice::Info(format!(
        "ingested {files_done} new file(s), {records} record(s), into {}; {already} file(s) already in the dataset",
        crate::base::text::quoted(&ds.dir)
    )));
    let rules_skipped = sigma.as_ref().is_some_and(|s| !s.skipped.is_empty());
    Ok(
        if incomplete || !input.complete || !gcp_complete || rules_skipped {
            exit::INCOMPLETE
        } else {
            exit::OK
        },
    )
}

/// `--gcp-logs` and the listings into the dataset; whether every GCP input was read whole.
fn ingest_gcp(
    req: &Request,
    ds: &Dataset,
    tell: &mut dyn FnMut(Notice),
) -> Result<bool, AnalyzerError> {
    if !req.source.gcp.given() {
        return Ok(true);
    }
    let gcp = crate::analyzer::gcp::load(&req.source.gcp, &req.source.limits)
        .map_err(crate::analyzer::engine::ReportError::from)?;
    let _lock = ds.lock()?;
    let added = crate::analyzer::dataset::gcp::write(ds, &gcp)?;
    answer::tell_gcp(&gcp, tell);
    tell(Notice::Info(format!(
        "stored {added} new GCP fact(s) in {}",
        crate::base::text::quoted(&ds.dir)
    )));
    Ok(gcp.complete())
}
