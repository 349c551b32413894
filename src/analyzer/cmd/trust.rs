//! `janus-audit trust --policies SOURCE...`: which Google identities each role admits, and so
//! how far the session names CloudTrail shows for it can be believed.

use std::io::Write;
use std::path::PathBuf;

use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::ui::Ui;
use crate::analyzer::cmd::view::{self, View};
use crate::analyzer::notice::Notice;
use crate::analyzer::render::{self, Format};

#[derive(Debug, Clone)]
pub struct Request {
    pub policies: Vec<PathBuf>,
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
    let loaded = crate::analyzer::trust::load(&req.policies);
    let bad: Vec<String> = loaded
        .problems
        .iter()
        .cloned()
        .chain(crate::analyzer::trust::malformed(&loaded.roles))
        .collect();
    for p in &bad {
        (ui.tell)(Notice::Problem(format!("trust: {p}")));
    }
    let frame = crate::analyzer::trust::frame(&loaded.roles)?;
    (ui.tell)(Notice::Info(format!(
        "trust: {} role(s) judged; {} problem(s) in the input",
        loaded.roles.len(),
        bad.len()
    )));
    let frame = view::select_columns(frame, &req.view)?;
    let fitted = view::fitted(
        req.format,
        &req.view,
        req.output.as_ref(),
        Some(USUAL),
        &frame,
    )?;
    let write = |w: &mut dyn Write| match &fitted {
        Some((width, (shown, hidden))) => render::write_fitted(shown, *width, hidden, w),
        None => render::write(&frame, req.format, "trust", w),
    };
    match &req.output {
        Some(path) => crate::base::atomic::write_atomic(path, write)?,
        None => write(stdout)?,
    }
    Ok(match bad.is_empty() {
        true => crate::base::exit::OK,
        false => crate::base::exit::INCOMPLETE,
    })
}
