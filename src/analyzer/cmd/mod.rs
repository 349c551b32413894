//! One file per subcommand, the analyzer's error type and what talks to a person (notices,
//! progress bars). `answer` runs the reports that answer on stdout or in one file (`by-instance`,
//! `sessions`, `query`, `findings`, `timeline`).

pub mod answer;
pub mod dataset;
pub mod error;
pub mod ingest;
pub mod progress;
pub mod report;
pub mod sigma_rules;
pub mod sync;
pub mod tables;
pub mod trust;
pub mod ui;
pub mod verify;
pub mod view;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::base::exit;

/// A parsed analyzer command.
#[derive(Debug, Clone)]
pub enum Request {
    Answer(answer::Request),
    Report(report::Request),
    Ingest(ingest::Request),
    Ddl(dataset::DdlRequest),
    Tables {
        queries: Option<PathBuf>,
        markdown: bool,
    },
    Sync(sync::Request),
    Verify(verify::Request),
    Trust(trust::Request),
}

/// Runs the command; returns the exit status, having said on stderr why it is not 0.
pub fn run(req: Request, quiet: bool) -> i32 {
    let stdout = std::io::stdout();
    let result = match req {
        Request::Answer(req) => {
            let from_api = req.source.api.from_api;
            let terminal = stdout.is_terminal();
            ui::with_ui(quiet, from_api, |ui| {
                answer::run(req, ui, &mut stdout.lock(), terminal)
            })
        }
        Request::Report(req) => {
            let from_api = req.source.api.from_api;
            ui::with_ui(quiet, from_api, |ui| report::run(req, ui))
        }
        Request::Ingest(req) => {
            let from_api = req.source.api.from_api;
            ui::with_ui(quiet, from_api, |ui| ingest::run(req, ui))
        }
        Request::Ddl(req) => dataset::ddl(&req, &mut stdout.lock()),
        Request::Tables { queries, markdown } => tables::run(queries, markdown, &mut stdout.lock()),
        Request::Sync(req) => ui::with_ui(quiet, false, |ui| sync::run(req, ui)),
        Request::Verify(req) => {
            ui::with_ui(quiet, false, |ui| verify::run(req, ui, &mut stdout.lock()))
        }
        Request::Trust(req) => {
            let from_api = req.source.api.from_api;
            ui::with_ui(quiet, from_api, |ui| {
                trust::run(req, ui, &mut stdout.lock())
            })
        }
    };
    result.unwrap_or_else(|e| {
        // A reader that stopped reading (`| head`) is not an error of ours: stop quietly, as
        // ripgrep and xsv do.
        if reader_went_away(&e) {
            return exit::OK;
        }
        let _ = std::io::stderr().write_all(exit::error_line(&e).as_bytes());
        e.exit_code()
    })
}

/// Whether `e` is a write to stdout that failed because its reader has gone. Only the writers of
/// stdout are asked: a network peer's broken pipe is a real error.
fn reader_went_away(e: &error::AnalyzerError) -> bool {
    use crate::analyzer::render::OutputError;
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    match e {
        error::AnalyzerError::Io(io) | error::AnalyzerError::Output(OutputError::Io(io)) => {
            broken(io)
        }
        // polars keeps the I/O error of a writer it was handed as an I/O error of its own.
        error::AnalyzerError::Output(OutputError::Polars(polars::prelude::PolarsError::IO {
            error,
            ..
        })) => broken(error),
        _ => false,
    }
}
