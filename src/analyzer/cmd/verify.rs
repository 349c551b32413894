//! `janus-audit verify PATHS...`: validate a trail (local, synced, or `s3://`) and report per
//! account and region.

use std::io::Write;
use std::path::PathBuf;

use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::ui::Ui;
use crate::analyzer::cmd::view::{self, View};
use crate::analyzer::notice::Notice;
use crate::analyzer::render::Format;
use crate::analyzer::source::files::Limits;
use crate::analyzer::source::s3::S3Options;
use crate::base::timefmt::Window;

#[derive(Debug, Clone)]
pub struct Request {
    pub paths: Vec<PathBuf>,
    pub window: Window,
    pub s3: S3Options,
    pub limits: Limits,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub view: View,
    pub keys: crate::analyzer::verify::gather::KeyOptions,
}

/// What a table on a terminal shows first: the verdict's counts, its gaps and its keys.
const USUAL: &[&str] = &[
    "account_id",
    "region",
    "digests_valid",
    "digests_invalid",
    "digests_missing",
    "log_files_valid",
    "log_files_modified",
    "log_files_deleted",
    "log_files_uncovered",
    "gaps",
    "keys_source",
];

/// Validate, tell each problem, write the per-scope table; the status says what was found.
pub fn run(req: Request, ui: Ui<'_>, stdout: &mut dyn Write) -> Result<i32, AnalyzerError> {
    let (inputs, walk_errors) = crate::analyzer::verify::gather::inputs(
        &req.paths,
        &req.window,
        &req.s3,
        &req.limits,
        &req.keys,
    )
    .map_err(AnalyzerError::Verify)?;
    for w in &walk_errors {
        (ui.tell)(Notice::Problem(format!("skipped {w}")));
    }
    let v = crate::analyzer::verify::validate(&inputs);
    tell(&v, ui.tell);
    view::write(
        v.frame()?,
        req.format,
        "verify",
        &req.view,
        req.output.as_ref(),
        USUAL,
        stdout,
    )?;
    let read = match walk_errors.is_empty() {
        true => crate::base::exit::OK,
        false => crate::base::exit::INCOMPLETE,
    };
    Ok(crate::base::exit::most_severe(v.exit_status(), read))
}

/// Each problem, then one summary line.
pub fn tell(v: &crate::analyzer::verify::Verification, tell: &mut dyn FnMut(Notice)) {
    for p in &v.problems {
        tell(Notice::Problem(format!("verify: {p}")));
    }
    let sum =
        |f: fn(&crate::analyzer::verify::ScopeResult) -> u64| v.scopes.iter().map(f).sum::<u64>();
    let gaps: usize = v.scopes.iter().map(|s| s.gaps.len()).sum();
    tell(Notice::Info(format!(
        "verify: {} digest(s) valid, {} unsigned, {} invalid, {} missing; {} log file(s) valid, {} modified, {} deleted, {} not covered by any digest; {} coverage gap(s); {} public key(s)",
        sum(|s| s.digests_valid),
        sum(|s| s.digests_unsigned),
        sum(|s| s.digests_invalid),
        sum(|s| s.digests_missing),
        sum(|s| s.logs_valid),
        sum(|s| s.logs_modified),
        sum(|s| s.logs_deleted),
        sum(|s| s.logs_uncovered),
        gaps,
        v.public_keys,
    )));
    let sources = v.keys_source();
    if !sources.is_empty() {
        tell(Notice::Info(format!(
            "verify: signatures checked with public keys from: {sources}"
        )));
    }
    if v.rests_on_mirror_keys() {
        tell(Notice::Problem(format!(
            "verify: keys_source mirror: {}",
            crate::analyzer::verify::keys::MIRROR_CAVEAT
        )));
    }
}
