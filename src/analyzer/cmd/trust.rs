//! `janus-audit trust --policies SOURCE...`: which Google identities each role admits, and so
//! how far the session names CloudTrail shows for it can be believed.

use std::io::Write;
use std::path::PathBuf;

use crate::analyzer::cmd::answer::Source;
use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::ui::Ui;
use crate::analyzer::cmd::view::{self, View};
use crate::analyzer::engine;
use crate::analyzer::notice::Notice;
use crate::analyzer::query::{Queries, Shipped};
use crate::analyzer::render::Format;
use crate::analyzer::trust::history;
use crate::base::timefmt::Window;
use polars::prelude::DataFrame;

#[derive(Debug, Clone)]
pub struct Request {
    pub policies: Vec<PathBuf>,
    /// The trail (paths, `s3://`, a dataset or the API), whose trust-policy changes and
    /// assumptions are judged too.
    pub source: Source,
    pub window: Window,
    /// Print the assumptions judged against the policy in force, not the policies.
    pub observed: bool,
    /// Print, for each loose role, a policy pinned to the identities the trail shows.
    pub tighten: bool,
    /// How `--policies iam` reaches IAM.
    pub iam: crate::analyzer::trust::iam::IamOptions,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub view: View,
}

/// What a table on a terminal shows first.
const USUAL: &[&str] = &[
    "role_arn",
    "statement",
    "effect",
    "who",
    "subjects",
    "session_name",
    "reason",
];

/// Judge every role the sources hold; bad input (a file that holds no role, a document that
/// cannot be read, a statement IAM would not accept) is named and makes the status 3.
pub fn run(req: Request, ui: Ui<'_>, stdout: &mut dyn Write) -> Result<i32, AnalyzerError> {
    let loaded = crate::analyzer::trust::load(&req.policies, &req.iam)
        .map_err(|e| AnalyzerError::Trust(Box::new(e)))?;
    let api = &req.source.api;
    let has_trail = !req.source.paths.is_empty()
        || req.source.dataset.is_some()
        || api.from_api
        || api.store.is_some();
    let trail = match has_trail {
        true => match read_trail(&req, ui.progress, ui.interrupt, ui.tell)? {
            Some(t) => Some(t),
            None => return Ok(crate::base::exit::INTERRUPTED),
        },
        false => None,
    };
    if (req.observed || req.tighten) && trail.is_none() {
        return Err(AnalyzerError::Usage(
            "--observed and --tighten judge the assumptions a trail holds: give trail paths, --dataset or --from-api"
                .into(),
        ));
    }
    let (changes, observed, complete) = match &trail {
        Some((policy_changes, assumptions, complete)) => {
            let changes = history::succeeded(policy_changes, &loaded.roles)?;
            let observed = history::observed(assumptions, &loaded.roles, &changes)?;
            (changes, Some(observed), *complete)
        }
        None => (Vec::new(), None, true),
    };
    let mut policies = loaded.roles.clone();
    policies.extend(changes.iter().map(|c| c.policy.clone()));
    let bad: Vec<String> = loaded
        .problems
        .iter()
        .cloned()
        .chain(crate::analyzer::trust::malformed(&policies))
        .collect();
    for p in &bad {
        (ui.tell)(Notice::Problem(format!("trust: {p}")));
    }
    (ui.tell)(Notice::Info(format!(
        "trust: {} role(s) judged, {} change(s) of a trust policy in the trail; {} problem(s) in the input",
        loaded.roles.len(),
        changes.len(),
        bad.len()
    )));
    match (&trail, observed) {
        (Some((_, assumptions, _)), _) if req.tighten => {
            let latest = history::latest(&loaded.roles, &changes);
            write_tightened(&req, assumptions, &latest, ui.tell, stdout)?
        }
        (_, Some(o)) if req.observed => write_frame(&req, o, OBSERVED, stdout)?,
        _ => write_frame(
            &req,
            crate::analyzer::trust::frame(&policies)?,
            USUAL,
            stdout,
        )?,
    }
    Ok(match bad.is_empty() && complete {
        true => crate::base::exit::OK,
        false => crate::base::exit::INCOMPLETE,
    })
}

fn write_frame(
    req: &Request,
    frame: DataFrame,
    usual: &[&str],
    stdout: &mut dyn Write,
) -> Result<(), AnalyzerError> {
    let output = req.output.as_ref();
    view::write(frame, req.format, "trust", &req.view, output, usual, stdout)
}

/// `--tighten`'s JSON; each loose role it cannot pin is named.
fn write_tightened(
    req: &Request,
    assumptions: &DataFrame,
    latest: &[crate::analyzer::trust::RolePolicy],
    tell: &mut dyn FnMut(Notice),
    stdout: &mut dyn Write,
) -> Result<(), AnalyzerError> {
    let (doc, untouched) = crate::analyzer::trust::tighten::tighten(assumptions, latest)?;
    for u in untouched {
        tell(Notice::Info(format!("trust: {u}")));
    }
    let text = serde_json::to_string_pretty(&doc).expect("JSON values serialise") + "\n";
    match &req.output {
        Some(path) => crate::base::atomic::write_atomic(path, |w| {
            w.write_all(text.as_bytes())
                .map_err(crate::analyzer::render::OutputError::Io)
        })?,
        None => stdout.write_all(text.as_bytes())?,
    }
    Ok(())
}

const OBSERVED: &[&str] = &[
    "role_arn",
    "sub",
    "admitted",
    "assumptions",
    "failed",
    "who",
];

/// The trail's `policy_changes` and Google assumptions in the window, and whether every input
/// was read whole; `None` when a fetch from the API was interrupted.
fn read_trail(
    req: &Request,
    progress: bool,
    interrupt: &crate::analyzer::acquire::Interrupt,
    tell: &mut dyn FnMut(Notice),
) -> Result<Option<(DataFrame, DataFrame, bool)>, AnalyzerError> {
    let queries = Queries::default();
    let sqls = vec![queries.shipped(Shipped::TrustAssumptions)?];
    let input = crate::analyzer::cmd::answer::fetch_input(
        &req.source,
        req.window,
        progress,
        interrupt,
        tell,
    )?;
    if input.interrupted {
        return Ok(None);
    }
    let opts = req
        .source
        .ingest_options(input.paths, req.window, input.from_store);
    let mut outcome = engine::run(&sqls, &queries, opts, Vec::new(), &[], &[], None)?;
    outcome.ingested.tell(tell);
    let complete = outcome.ingested.summary.complete() && input.complete;
    let assumptions = std::mem::take(&mut outcome.frames)
        .pop()
        .expect("one query gives one frame");
    let changes = std::mem::take(&mut outcome.ingested.tables.policy_changes);
    Ok(Some((changes, assumptions, complete)))
}
