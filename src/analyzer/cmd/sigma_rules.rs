//! Which Sigma rules a command evaluates (`sigma`, `findings --sigma`, `ingest --sigma`), and
//! what evaluating them asks of the input.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::DataFrame;

use crate::analyzer::acquire::ApiSource;
use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::dataset::{Dataset, sigma_coverage};
use crate::analyzer::load::IngestOptions;
use crate::analyzer::model::Table;
use crate::analyzer::notice::Notice;
use crate::analyzer::sigma::{RuleSet, Skipped};
use crate::base::timefmt::Window;

/// Which Sigma rules to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigmaRules {
    /// The SigmaHQ CloudTrail rules janus-audit ships (`rules/sigma/`).
    Shipped,
    /// Rule files, or directories of them.
    Paths(Vec<PathBuf>),
}

impl SigmaRules {
    fn load(&self) -> Result<RuleSet, AnalyzerError> {
        match self {
            SigmaRules::Shipped => Ok(RuleSet::shipped()),
            SigmaRules::Paths(p) => {
                RuleSet::load(p).map_err(|e| AnalyzerError::Usage(e.to_string()))
            }
        }
    }
}

/// The Sigma rules a command evaluates, each one skipped named (exit 3 follows, as for a
/// skipped input); rules for other log sources are counted in one line. Over a dataset
/// (`dataset`), the rules are those `ingest --sigma` evaluated
/// on every batch of the window; any other is skipped, named with how much of the window it
/// was not evaluated over.
pub fn load(
    spec: &SigmaRules,
    dataset: Option<&Path>,
    window: &Window,
    tell: &mut dyn FnMut(Notice),
) -> Result<Arc<RuleSet>, AnalyzerError> {
    let mut set = spec.load()?;
    if let Some(dir) = dataset {
        not_covered(&mut set, dir, window)?;
    }
    for s in &set.skipped {
        tell(Notice::Problem(format!(
            "skipped Sigma rule {}{}: {}",
            s.source,
            s.title
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            s.reason
        )));
    }
    if set.other_sources > 0 {
        tell(Notice::Info(format!(
            "{} Sigma rule(s) for other log sources than CloudTrail not evaluated",
            set.other_sources
        )));
    }
    tell(Notice::Info(match dataset {
        None => format!(
            "{} Sigma rule(s) evaluated on every record",
            set.rules.len()
        ),
        Some(_) => format!(
            "{} Sigma rule(s) answered from the matches ingest kept",
            set.rules.len()
        ),
    }));
    Ok(Arc::new(set))
}

/// Move the rules the dataset's batches in `window` were not all evaluated with (at ingest,
/// with the same detection) from `set.rules` to `set.skipped`.
fn not_covered(set: &mut RuleSet, dir: &Path, window: &Window) -> Result<(), AnalyzerError> {
    let coverage = sigma_coverage::coverage(&Dataset::open(dir)?, window)?;
    let rules = std::mem::take(&mut set.rules);
    for rule in rules {
        let missing = coverage.not_evaluated(&rule);
        if missing == 0 {
            set.rules.push(rule);
            continue;
        }
        set.skipped.push(Skipped {
            source: crate::base::text::quoted(Path::new(&rule.id)),
            title: Some(crate::base::text::excerpt(&rule.title)),
            reason: format!(
                "{missing} of the {} dataset batch(es) with events in the window were not ingested with this rule (or with another detection under its id), so its hits there are unknown: ingest the logs into a new dataset with `ingest --sigma`, or give the log files",
                coverage.batches
            ),
        });
    }
    Ok(())
}

/// What the API is asked for when a command evaluates Sigma rules (`sigma`): a rule can hold
/// for any event, not only the calls of the federated keys that the API is otherwise asked for
/// key by key, so every event of the window is fetched.
pub fn fetch_every_event(api: &mut ApiSource, sigma: bool) {
    api.full |= sigma;
}

/// Hand `set` to a run: the reader evaluates the rules on every record (`opts.sigma`) and the
/// SQL reads them as `sigma_rules` (`params`), which numbers `sigma_matches.rule_no`.
pub fn attach(
    set: &Arc<RuleSet>,
    opts: &mut IngestOptions,
    params: &mut Vec<(Table, DataFrame)>,
) -> Result<(), AnalyzerError> {
    opts.sigma = Some(set.clone());
    params.push((Table::SigmaRules, set.frame()?));
    Ok(())
}

/// The rules as a scheduled report's manifest records them (`parameters.sigma`): how many were
/// evaluated, each one skipped and why, and whether none was.
pub fn describe(set: &RuleSet) -> serde_json::Value {
    let skipped: Vec<serde_json::Value> = set
        .skipped
        .iter()
        .map(|s| serde_json::json!({"rule": s.source, "title": s.title, "reason": s.reason}))
        .collect();
    serde_json::json!({
        "evaluated": set.rules.len(),
        "other_log_sources": set.other_sources,
        "skipped": skipped,
        "complete": set.skipped.is_empty(),
    })
}

/// The rules of each window of a scheduled report: loaded once over files; over a dataset,
/// once a window, since what each window's batches were ingested with differs.
pub struct PerWindow<'a> {
    spec: Option<&'a SigmaRules>,
    dataset: Option<&'a Path>,
    once: Option<Arc<RuleSet>>,
}

impl<'a> PerWindow<'a> {
    pub fn new(
        spec: Option<&'a SigmaRules>,
        dataset: Option<&'a Path>,
        tell: &mut dyn FnMut(Notice),
    ) -> Result<Self, AnalyzerError> {
        let once = match (spec, dataset) {
            (Some(spec), None) => Some(load(spec, None, &Window::default(), tell)?),
            _ => None,
        };
        Ok(PerWindow {
            spec,
            dataset,
            once,
        })
    }

    pub fn for_window(
        &self,
        w: &Window,
        tell: &mut dyn FnMut(Notice),
    ) -> Result<Option<Arc<RuleSet>>, AnalyzerError> {
        match (self.spec, self.dataset) {
            (Some(spec), Some(dir)) => Ok(Some(load(spec, Some(dir), w, tell)?)),
            _ => Ok(self.once.clone()),
        }
    }
}
