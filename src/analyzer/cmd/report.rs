//! `report`: the scheduled report. Which windows a run owes (`--state` catches up missed ones),
//! and for each, in order: input, the three reports with a manifest in an atomically published
//! directory, then the state advanced past it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::analyzer::cmd::answer::{self, Source};
use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::progress;
use crate::analyzer::cmd::sigma_rules::{self, SigmaRules};
use crate::analyzer::cmd::ui::Ui;
use crate::analyzer::engine::TrustedCidrs;
use crate::analyzer::model::Table;
use crate::analyzer::notice::Notice;
use crate::analyzer::query::Queries;
use crate::analyzer::query::findings::{self, Severity, Thresholds};
use crate::analyzer::render::Format;
use crate::analyzer::schedule::publish::take_output_dir;
use crate::analyzer::schedule::state::{Plan, State, dir_name, owed, read_state, write_state};
use crate::analyzer::schedule::window::{WindowDone, WindowJob, run_window};
use crate::analyzer::sigma::RuleSet;
use crate::base::exit;
use crate::base::timefmt::Window;

#[derive(Debug, Clone)]
pub struct Request {
    pub source: Source,
    pub output_dir: PathBuf,
    pub plan: Plan,
    pub state: Option<PathBuf>,
    pub formats: Vec<Format>,
    pub trusted_cidrs: Option<PathBuf>,
    pub fail_on: Option<Severity>,
    /// Sigma rules whose findings join each window's.
    pub sigma: Option<SigmaRules>,
    pub thresholds: Thresholds,
    /// The command line as typed, for the manifest.
    pub command_line: Vec<String>,
}

impl Request {
    fn windows(&self, state: Option<&State>) -> Result<Vec<Window>, AnalyzerError> {
        match self.plan {
            Plan::Explicit { since, until } if until <= since => {
                Err(AnalyzerError::Usage(format!(
                    "--until {} is not after --since {}",
                    crate::base::timefmt::format_millis(until),
                    crate::base::timefmt::format_millis(since)
                )))
            }
            Plan::Explicit { since, until } => Ok(vec![Window::between(since, until)]),
            Plan::Owed { width, settle, now } => Ok(owed(width, settle, now, state)),
        }
    }

    /// The manifest parameters every window shares; each adds its own window and source.
    fn parameters(&self, trusted: &TrustedCidrs) -> serde_json::Value {
        serde_json::json!({
            "command": self.command_line,
            "paths": self.source.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "formats": self.formats.iter().map(|f| f.extension()).collect::<Vec<_>>(),
            "provider": self.source.providers.as_str(),
            "queries_dir": self.source.queries.as_ref().map(|d| d.display().to_string()),
            "trusted_cidrs": trusted.describe(),
            "thresholds": self.thresholds,
        })
    }
}

/// Run every owed window, oldest first; the state advances after each completed one.
pub fn run(mut req: Request, ui: Ui<'_>) -> Result<i32, AnalyzerError> {
    if req.formats.contains(&Format::Table) {
        return Err(AnalyzerError::Usage(
            "--formats: table is for terminals; use csv, json, parquet or html".into(),
        ));
    }
    req.formats.dedup();
    let Ui {
        progress,
        interrupt,
        tell,
    } = ui;
    // Before anything else: what an interrupted run left is put right.
    let _lock = take_output_dir(&req.output_dir, tell)?;
    let state = req.state.as_deref().map(read_state).transpose()?.flatten();
    let windows = req.windows(state.as_ref())?;
    let queries = Queries::from_dir(req.source.queries.clone())?;
    let trusted = answer::read_trusted(req.trusted_cidrs.as_deref())?;
    if windows.is_empty() {
        let last = state.as_ref().map(|s| s.last_completed_until.as_str());
        tell(Notice::Info(format!(
            "nothing owed: the last completed window ends {}",
            last.unwrap_or("(no state)")
        )));
        return Ok(exit::OK);
    }
    let shared = Shared {
        base: req.parameters(&trusted),
        req: &req,
        queries: &queries,
        trusted: &trusted,
        progress,
    };
    let sigma =
        sigma_rules::PerWindow::new(req.sigma.as_ref(), req.source.dataset.as_deref(), tell)?;
    let mut source = req.source.clone();
    sigma_rules::fetch_every_event(&mut source.api, req.sigma.is_some());
    let mut code = exit::OK;
    for (i, w) in windows.iter().enumerate() {
        let rules = sigma.for_window(w, tell)?;
        let input = answer::fetch_input(&source, *w, progress, interrupt, tell)?;
        if input.interrupted {
            return Ok(exit::INTERRUPTED);
        }
        let label = format!("window {}/{} {}: ", i + 1, windows.len(), dir_name(w));
        let done = shared.window(*w, input, rules, &label)?;
        done.ingested.tell(tell);
        answer::tell_gcp(&done.gcp, tell);
        if let Some(missed) = done.ingested.summary.missed(w, &done.ingested.files) {
            tell(Notice::Problem(missed));
        }
        tell(Notice::Info(format!(
            "wrote {} ({} finding(s))",
            crate::base::text::quoted(&done.dir),
            done.findings.height()
        )));
        if let Some(path) = &req.state {
            let until = w
                .until
                .map(crate::base::timefmt::format_millis)
                .unwrap_or_default();
            write_state(
                path,
                &State {
                    last_completed_until: until,
                },
            )?;
        }
        if let Some(v) = &done.verification {
            crate::analyzer::cmd::verify::tell(v, tell);
        }
        let gate_hit = match req.fail_on {
            Some(gate) => findings::any_at_or_above(&done.findings, gate)?,
            None => false,
        };
        // Each window's status counts whatever the order of the windows.
        let window = answer::status(done.verification.as_ref(), done.complete, gate_hit);
        code = exit::most_severe(code, window);
    }
    Ok(code)
}

/// What every window of a run shares.
struct Shared<'a> {
    req: &'a Request,
    queries: &'a Queries,
    trusted: &'a TrustedCidrs,
    /// The manifest parameters; each window adds its own window and source.
    base: serde_json::Value,
    progress: bool,
}

impl Shared<'_> {
    /// One window's directory, from its input.
    fn window(
        &self,
        w: Window,
        input: crate::analyzer::acquire::Input,
        rules: Option<Arc<RuleSet>>,
        label: &str,
    ) -> Result<WindowDone, AnalyzerError> {
        let (req, queries, trusted) = (self.req, self.queries, self.trusted);
        let mut parameters = self.base.clone();
        let mut params = vec![(Table::FindingsParams, req.thresholds.frame())];
        let mut opts = req.source.ingest_options(input.paths, w, input.from_store);
        let rules_complete = rules.as_ref().is_none_or(|r| r.skipped.is_empty());
        if let Some(set) = &rules {
            parameters["sigma"] = sigma_rules::describe(set);
            sigma_rules::attach(set, &mut opts, &mut params)?;
        }
        parameters["source"] = input.source;
        parameters["window"] = serde_json::json!({
            "since": w.since.map(crate::base::timefmt::format_millis),
            "until": w.until.map(crate::base::timefmt::format_millis),
        });
        let job = WindowJob {
            window: w,
            output_dir: &req.output_dir,
            formats: &req.formats,
            queries,
            input: opts,
            params,
            trusted: &trusted.nets,
            input_complete: input.complete,
            parameters,
        };
        let bar = progress::files_bar(self.progress, label);
        let done = run_window(job, bar.count());
        bar.finish();
        let mut done = done.map_err(|source| AnalyzerError::Window {
            window: dir_name(&w),
            source,
        })?;
        done.complete &= input.complete && rules_complete;
        Ok(done)
    }
}
