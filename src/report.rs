//! A report is a query over freshly ingested tables: ingest, register, run.

use std::path::PathBuf;

use indicatif::ProgressBar;
use polars::prelude::*;

use crate::ingest::{self, IngestOptions, Ingested};
use crate::model::Needs;
use crate::query::{self, Queries, QueryError, Registered, Sql};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("cannot build the tables: {0}")]
    Model(#[from] PolarsError),
    #[error("no CloudTrail log files (.json, .json.gz, .jsonl) found in {}", list(.0))]
    NoInput(Vec<PathBuf>),
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one-row `timeline_filter` table: which entity a timeline follows (unset columns are null).
pub fn timeline_filter(
    instance: Option<&str>,
    session_name: Option<&str>,
    access_key_id: Option<&str>,
    sub: Option<&str>,
) -> PolarsResult<DataFrame> {
    df!(
        "instance" => [instance],
        "session_name" => [session_name],
        "access_key_id" => [access_key_id],
        "sub" => [sub],
    )
}

pub struct Outcome {
    pub frame: DataFrame,
    pub ingested: Ingested,
}

/// Ingest `opts.paths` and run `sql` over the result. `opts.needs` is widened to what the SQL reads.
pub fn run(
    sql: &Sql,
    queries: &Queries,
    mut opts: IngestOptions,
    params: Vec<(String, DataFrame)>,
    progress: Option<&ProgressBar>,
) -> Result<Outcome, ReportError> {
    let calls = queries.named("calls")?;
    opts.needs = Needs {
        events: opts.needs.events
            || query::mentions(&sql.text, "events")
            || query::mentions(&calls.text, "events"),
    };
    let ingested = ingest::ingest(&opts, progress)?;
    if ingested.files.is_empty() {
        return Err(ReportError::NoInput(opts.paths.clone()));
    }
    let tables = &ingested.tables;
    let frame = query::run(
        Registered {
            events: tables.events.as_ref(),
            role_calls: &tables.role_calls,
            assumptions: &tables.assumptions,
            files: ingested.files_frame()?,
            params,
        },
        &calls,
        sql,
    )?;
    Ok(Outcome { frame, ingested })
}
