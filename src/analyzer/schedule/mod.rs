//! `report`: the scheduled report. Which windows a run owes (`--state` catches up missed ones),
//! and for each, in order: input, the three reports with a manifest in an atomically published
//! directory, then the state advanced past it.

pub mod publish;
pub mod window;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analyzer::cmd::answer::{self, Source};
use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::progress;
use crate::analyzer::engine::TrustedCidrs;
use crate::analyzer::notice::{Notice, Ui};
use crate::analyzer::query::Queries;
use crate::analyzer::query::findings::{self, Severity, Thresholds};
use crate::analyzer::render::{Format, OutputError};
use crate::base::exit;
use crate::base::timefmt::{Millis, Window};

pub use window::{WindowDone, WindowError, WindowJob, run_window};

/// Which windows to report.
#[derive(Debug, Clone)]
pub enum Plan {
    /// `--since/--until`: exactly this one.
    Explicit { since: Millis, until: Millis },
    /// Every whole window of `width` owed at `now` (after `settle`), since the state's last one.
    Owed {
        width: Millis,
        settle: Millis,
        now: Millis,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub source: Source,
    pub output_dir: PathBuf,
    pub plan: Plan,
    pub state: Option<PathBuf>,
    pub formats: Vec<Format>,
    pub trusted_cidrs: Option<PathBuf>,
    pub fail_on: Option<Severity>,
    pub thresholds: Thresholds,
    /// The command line as typed, for the manifest.
    pub command_line: Vec<String>,
}

/// `2026-10-05T00-00Z_2026-10-06T00-00Z`: sortable, and free of `:` for every file system.
pub fn dir_name(w: &Window) -> String {
    let stamp = |t: Option<Millis>| {
        t.and_then(DateTime::<Utc>::from_timestamp_millis)
            .map(|d| d.format("%Y-%m-%dT%H-%MZ").to_string())
            .unwrap_or_else(|| "open".into())
    };
    format!("{}_{}", stamp(w.since), stamp(w.until))
}

/// Lock the output directory (flock on the directory itself, so it leaves no file behind: two
/// runs writing one directory would race), then recover what an interrupted run left behind.
fn take_output_dir(
    dir: &Path,
    tell: &mut dyn FnMut(Notice),
) -> Result<std::fs::File, ScheduleError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScheduleError::Write { path, source }
    };
    crate::base::atomic::create_private_dirs(dir).map_err(err(dir))?;
    let lock = std::fs::File::open(dir).map_err(err(dir))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(ScheduleError::Busy(dir.to_path_buf()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(err(dir)(e)),
    }
    for line in publish::recover(dir).map_err(err(dir))? {
        tell(Notice::Problem(line));
    }
    let stale = crate::base::atomic::remove_stale_temporaries(dir);
    if stale > 0 {
        tell(Notice::Problem(format!(
            "removed {stale} temporary file(s) an interrupted report left"
        )));
    }
    Ok(lock)
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("--state {}: {reason}", crate::base::text::quoted(path))]
    State { path: PathBuf, reason: String },
    #[error("cannot write {}: {source}", crate::base::text::quoted(path))]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("another janus-audit report is writing to {}; not starting a second", crate::base::text::quoted(.0))]
    Busy(PathBuf),
}

impl From<crate::base::atomic::WriteError> for ScheduleError {
    fn from(e: crate::base::atomic::WriteError) -> Self {
        ScheduleError::Write {
            path: e.path,
            source: e.source,
        }
    }
}

/// What `--state FILE` remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// End of the last window whose directory was completed (RFC 3339).
    pub last_completed_until: String,
}

pub fn read_state(path: &Path) -> Result<Option<State>, ScheduleError> {
    let bad = |reason: String| ScheduleError::State {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(bad(e.to_string())),
        Ok(bytes) => {
            let state: State = serde_json::from_slice(&bytes)
                .map_err(|e| bad(format!("not a janus-audit state file: {e}")))?;
            DateTime::parse_from_rfc3339(&state.last_completed_until)
                .map_err(|e| bad(format!("last_completed_until: {e}")))?;
            Ok(Some(state))
        }
    }
}

pub fn write_state(path: &Path, state: &State) -> Result<(), ScheduleError> {
    let text = serde_json::to_string_pretty(state).expect("plain struct") + "\n";
    Ok(crate::base::atomic::write_bytes(path, text.as_bytes())?)
}

/// The windows a run owes: every whole window of `width` (aligned to multiples of it since the
/// epoch, so `24h` is midnight to midnight UTC) that ended at least `settle` ago, starting after
/// the state's last completed window, or just the latest one when there is no state yet.
pub fn owed(width: Millis, settle: Millis, now: Millis, state: Option<&State>) -> Vec<Window> {
    let last_until = (now - settle).div_euclid(width) * width;
    let first_since = match state {
        Some(s) => DateTime::parse_from_rfc3339(&s.last_completed_until)
            .map(|t| t.timestamp_millis())
            .unwrap_or(last_until - width),
        None => last_until - width,
    };
    let mut out = Vec::new();
    let mut since = first_since;
    while since + width <= last_until {
        out.push(Window::between(since, since + width));
        since += width;
    }
    out
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
    let mut code = exit::OK;
    for (i, w) in windows.iter().enumerate() {
        let input = answer::fetch_input(&req.source, *w, progress, interrupt, tell)?;
        if input.interrupted {
            return Ok(exit::INTERRUPTED);
        }
        let label = format!("window {}/{} {}: ", i + 1, windows.len(), dir_name(w));
        let done = shared.window(*w, input, &label)?;
        done.ingested.tell(tell);
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
        if !done.complete && code == exit::OK {
            code = exit::INCOMPLETE;
        }
        if let Some(v) = &done.verification {
            if v.tampered() {
                code = exit::TAMPERED;
            } else if v.gaps() && code == exit::OK {
                code = exit::NOT_COVERED;
            }
        }
        if let Some(gate) = req.fail_on
            && findings::any_at_or_above(&done.findings, gate)?
        {
            code = exit::FINDINGS;
        }
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
        label: &str,
    ) -> Result<WindowDone, AnalyzerError> {
        let (req, queries, trusted) = (self.req, self.queries, self.trusted);
        let mut parameters = self.base.clone();
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
            paths: input.paths,
            providers: req.source.providers,
            empty_ok: input.from_store || req.source.dataset.is_some(),
            limits: req.source.limits,
            dataset: req.source.dataset.clone(),
            s3: req.source.s3.clone(),
            verify: req.source.verify,
            public_keys: req.source.public_keys.clone(),
            params: vec![("findings_params".into(), req.thresholds.frame())],
            trusted: &trusted.nets,
            input_complete: input.complete,
            parameters,
        };
        let bar = progress::files_bar(self.progress, label);
        let done = run_window(job, bar.as_ref());
        if let Some(pb) = &bar {
            pb.finish_and_clear();
        }
        let mut done = done.map_err(|source| AnalyzerError::Window {
            window: dir_name(&w),
            source,
        })?;
        done.complete &= input.complete;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Millis = 3_600_000;
    const D: Millis = 24 * H;

    fn at(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn dir_names() {
        let s = Window::between(at("2026-10-05T00:00:00Z"), at("2026-10-06T00:00:00Z"));
        assert_eq!(dir_name(&s), "2026-10-05T00-00Z_2026-10-06T00-00Z");
    }

    #[test]
    fn owed_windows() {
        let now = at("2026-10-08T00:30:00Z");
        // No state: the latest whole day is 10-06; 10-07 ended only 30 minutes ago, less than
        // the hour it is given to settle.
        let latest = owed(D, H, now, None);
        assert_eq!(
            latest,
            [Window::between(
                at("2026-10-06T00:00:00Z"),
                at("2026-10-07T00:00:00Z")
            )]
        );
        let later = owed(D, H, at("2026-10-08T01:00:00Z"), None);
        assert_eq!(later[0].since, Some(at("2026-10-07T00:00:00Z")));
        // Two missed nights are caught up, oldest first.
        let state = State {
            last_completed_until: "2026-10-05T00:00:00Z".into(),
        };
        let owed_now = owed(D, H, at("2026-10-08T01:00:00Z"), Some(&state));
        assert_eq!(
            owed_now.iter().map(dir_name).collect::<Vec<_>>(),
            [
                "2026-10-05T00-00Z_2026-10-06T00-00Z",
                "2026-10-06T00-00Z_2026-10-07T00-00Z",
                "2026-10-07T00-00Z_2026-10-08T00-00Z"
            ]
        );
        // Up to date: nothing owed.
        let done = State {
            last_completed_until: "2026-10-08T00:00:00Z".into(),
        };
        assert!(owed(D, H, at("2026-10-08T23:00:00Z"), Some(&done)).is_empty());
    }
}
