//! A report is a query over freshly ingested tables: ingest, register, run.

use std::path::PathBuf;

use indicatif::ProgressBar;
use polars::prelude::*;

use crate::ingest::{self, IngestOptions, Ingested};
use crate::model::Needs;
use crate::query::{self, Queries, QueryError, Registered, Sql};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--trusted-cidrs {}: {reason}", path.display())]
    TrustedCidrs { path: PathBuf, reason: String },
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
    /// One frame per query, in the order given.
    pub frames: Vec<DataFrame>,
    pub ingested: Ingested,
    /// The `calls` query that ran (embedded or overridden), for a manifest to hash.
    pub calls: Sql,
}

/// `--trusted-cidrs FILE`: one CIDR or address per line; `#` starts a comment.
pub fn read_trusted_cidrs(path: &std::path::Path) -> Result<Vec<ipnet::IpNet>, ReportError> {
    let bad = |reason: String| ReportError::TrustedCidrs {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let mut nets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let net = line
            .parse::<ipnet::IpNet>()
            .or_else(|_| line.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                bad(format!(
                    "line {}: '{line}' is not a CIDR or IP address",
                    n + 1
                ))
            })?;
        nets.push(net);
    }
    Ok(nets)
}

/// `trusted_source`: the call came from one of the trusted ranges (the project's own egress).
fn mark_trusted(role_calls: &DataFrame, trusted: &[ipnet::IpNet]) -> PolarsResult<DataFrame> {
    let mut out = role_calls.clone();
    if trusted.is_empty() {
        // Every report runs this; without --trusted-cidrs, parsing each source IP is waste.
        let none = BooleanChunked::full("trusted_source".into(), false, out.height());
        out.with_column(none.into_column())?;
        return Ok(out);
    }
    let ips = role_calls.column("source_ip")?.str()?;
    let flags: BooleanChunked = ips
        .iter()
        .map(|ip| {
            Some(
                ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| trusted.iter().any(|n| n.contains(&ip))),
            )
        })
        .collect();
    out.with_column(flags.with_name("trusted_source".into()).into_column())?;
    Ok(out)
}

/// Ingest `opts.paths` and run `sql` over the result. `opts.needs` is widened to what the SQL reads.
pub fn run(
    sqls: &[Sql],
    queries: &Queries,
    mut opts: IngestOptions,
    params: Vec<(String, DataFrame)>,
    trusted: &[ipnet::IpNet],
    progress: Option<&ProgressBar>,
) -> Result<Outcome, ReportError> {
    let calls = queries.named("calls")?;
    opts.needs = Needs {
        events: opts.needs.events
            || sqls.iter().any(|s| query::mentions(&s.text, "events"))
            || query::mentions(&calls.text, "events"),
    };
    let ingested = ingest::ingest(&opts, progress)?;
    if ingested.files.is_empty() && !opts.empty_ok {
        return Err(ReportError::NoInput(opts.paths.clone()));
    }
    let tables = &ingested.tables;
    let role_calls = mark_trusted(&tables.role_calls, trusted)?;
    let frames = query::run(
        Registered {
            events: tables.events.as_ref(),
            role_calls: &role_calls,
            assumptions: &tables.assumptions,
            files: ingested.files_frame()?,
            params,
        },
        &calls,
        sqls,
    )?;
    Ok(Outcome {
        frames,
        ingested,
        calls,
    })
}
