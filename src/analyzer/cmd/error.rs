//! The analyzer's one error type: every way a report command can fail, and the exit status each
//! one means (the fetcher has its own, `CredentialsError`).

use crate::analyzer::acquire::AcquireError;
use crate::analyzer::engine::ReportError;
use crate::analyzer::query::QueryError;
use crate::analyzer::render::OutputError;
use crate::analyzer::schedule::state::ScheduleError;
use crate::analyzer::schedule::window::WindowError;
use crate::analyzer::verify::gather::GatherError;
use crate::analyzer::verify::keys::KeysError;
use crate::base::exit;

#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    /// The command line asked for something impossible (found after the argument parser's checks).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Acquire(#[from] AcquireError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("window {window}: {source}")]
    Window { window: String, source: WindowError },
    #[error("{}", crate::analyzer::query::first_paragraph(.0))]
    Polars(polars::prelude::PolarsError),
    #[error(transparent)]
    Dataset(#[from] crate::analyzer::dataset::DatasetError),
    /// Validation could not read what it needs (a listing, the public keys).
    #[error("verify: {0}")]
    Verify(#[from] GatherError),
    #[error("sync: {0}")]
    Sync(#[from] SyncError),
    #[error("cannot write to the terminal: {0}")]
    Io(#[from] std::io::Error),
    /// `--policies iam` could not list the roles.
    #[error("--policies iam: {0}")]
    Trust(Box<crate::analyzer::trust::iam::IamError>),
}

impl AnalyzerError {
    /// The documented exit status (see `crate::base::exit`).
    pub fn exit_code(&self) -> i32 {
        match self {
            AnalyzerError::Usage(_)
            | AnalyzerError::Report(ReportError::TrustedCidrs { .. })
            | AnalyzerError::Query(QueryError::NotADirectory(_)) => exit::USAGE,
            _ => exit::ERROR,
        }
    }
}

impl From<polars::prelude::PolarsError> for AnalyzerError {
    fn from(e: polars::prelude::PolarsError) -> Self {
        AnalyzerError::Polars(e)
    }
}

/// Why `sync` stopped before mirroring anything more (one object that cannot be fetched or
/// written is skipped and counted instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Gather(GatherError),
    #[error("{}: {source}", crate::base::text::quoted(.path))]
    Dir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: another sync is writing this mirror", crate::base::text::quoted(.dir))]
    Busy { dir: std::path::PathBuf },
    #[error("{0}")]
    Lock(std::io::Error),
    #[error(transparent)]
    Keys(KeysError),
}
