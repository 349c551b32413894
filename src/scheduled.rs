//! `report`: which windows a scheduled run owes, and how a window's directory is laid down:
//! every file written into a hidden temporary directory, a manifest with each output's SHA-256
//! last, then one rename, so a reader never sees a half-written window.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use indicatif::ProgressBar;
use polars::prelude::DataFrame;

use crate::ingest::{FileStatus, IngestOptions, Ingested};
use crate::model::{Needs, ProviderFilter};
use crate::output::{self, Format, OutputError};
use crate::query::{Queries, QueryError};
use crate::report::{self, ReportError};
use crate::timefmt::{Millis, Window};

/// A reporting window `[since, until)`, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub since: Millis,
    pub until: Millis,
}

impl Span {
    /// `2026-10-05T00-00Z_2026-10-06T00-00Z`: sortable, and free of `:` for every file system.
    pub fn dir_name(&self) -> String {
        format!("{}_{}", stamp(self.since), stamp(self.until))
    }
}

fn stamp(t: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(t)
        .map(|d| d.format("%Y-%m-%dT%H-%MZ").to_string())
        .unwrap_or_else(|| t.to_string())
}

pub fn rfc3339(t: Millis) -> String {
    crate::timefmt::format_millis(t)
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("--state {}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Output(#[from] OutputError),
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
    Ok(crate::output::write_atomic(path, |w| {
        Ok(w.write_all(text.as_bytes())?)
    })?)
}

/// The windows a run owes: every whole window of `width` (aligned to multiples of it since the
/// epoch, so `24h` is midnight to midnight UTC) that ended at least `settle` ago, starting after
/// the state's last completed window, or just the latest one when there is no state yet.
pub fn owed(width: Millis, settle: Millis, now: Millis, state: Option<&State>) -> Vec<Span> {
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
        out.push(Span {
            since,
            until: since + width,
        });
        since += width;
    }
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One output file of a window, already encoded.
pub struct Output {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Write `outputs` and then the manifest (built by `manifest` from each output's name, size and
/// SHA-256) into `dir/<span>/`, atomically: the directory appears complete or not at all. An
/// existing directory for the same window is replaced.
pub fn write_window(
    dir: &Path,
    span: &Span,
    outputs: &[Output],
    manifest: impl FnOnce(&[(String, u64, String)]) -> Vec<u8>,
) -> Result<PathBuf, ScheduleError> {
    let name = span.dir_name();
    let target = dir.join(&name);
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScheduleError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".janus-audit-{name}-"))
        .tempdir_in(dir)
        .map_err(err(dir))?;
    let mut listed = Vec::with_capacity(outputs.len());
    for out in outputs {
        let path = tmp.path().join(&out.name);
        write_synced(&path, &out.bytes).map_err(err(&path))?;
        failpoint(&out.name).map_err(err(&path))?;
        listed.push((
            out.name.clone(),
            out.bytes.len() as u64,
            sha256_hex(&out.bytes),
        ));
    }
    let path = tmp.path().join("manifest.json");
    write_synced(&path, &manifest(&listed)).map_err(err(&path))?;
    // The directory's own entries must be durable before it is published by name.
    std::fs::File::open(tmp.path())
        .and_then(|d| d.sync_all())
        .map_err(err(tmp.path()))?;
    let tmp = tmp.keep();
    let publish = || -> std::io::Result<()> {
        if target.exists() {
            // Rename the old copy aside first: rename(2) will not replace a non-empty directory.
            let old = tempfile::Builder::new()
                .prefix(&format!(".janus-audit-{name}-old-"))
                .tempdir_in(dir)?
                .keep();
            std::fs::remove_dir(&old)?;
            std::fs::rename(&target, &old)?;
            std::fs::rename(&tmp, &target)?;
            std::fs::remove_dir_all(&old)?;
        } else {
            std::fs::rename(&tmp, &target)?;
        }
        std::fs::File::open(dir)?.sync_all()
    };
    publish().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        ScheduleError::Write {
            path: target.clone(),
            source: e,
        }
    })?;
    Ok(target)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Debug builds only: `JANUS_AUDIT_FAILPOINT=write:NAME` fails right after writing output NAME,
/// so the tests can show an interrupted window leaves nothing behind.
fn failpoint(name: &str) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    if std::env::var("JANUS_AUDIT_FAILPOINT").is_ok_and(|v| v == format!("write:{name}")) {
        return Err(std::io::Error::other(
            "simulated failure (JANUS_AUDIT_FAILPOINT)",
        ));
    }
    let _ = name;
    Ok(())
}

/// Everything a window's report is made from, for `run_window`.
pub struct WindowJob<'a> {
    pub span: Span,
    pub output_dir: &'a Path,
    pub formats: &'a [Format],
    pub queries: &'a Queries,
    /// What to read (the window, and hashing for the manifest, are this module's to set).
    pub paths: Vec<PathBuf>,
    pub providers: ProviderFilter,
    /// No input file at all is an empty window (the store had nothing), not an error.
    pub empty_ok: bool,
    pub params: Vec<(String, DataFrame)>,
    pub trusted: &'a [ipnet::IpNet],
    /// The exact parameters, recorded verbatim in the manifest.
    pub parameters: serde_json::Value,
}

pub struct WindowDone {
    pub dir: PathBuf,
    pub ingested: Ingested,
    pub findings: DataFrame,
}

#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Write(#[from] ScheduleError),
    #[error("cannot encode {name}: {source}")]
    Encode { name: String, source: OutputError },
}

/// The three reports of one window, in each format, with a manifest, in `DIR/<span>/`.
pub fn run_window(
    job: WindowJob<'_>,
    progress: Option<&ProgressBar>,
) -> Result<WindowDone, WindowError> {
    let mut sqls = vec![
        job.queries.named("by_instance")?,
        job.queries.named("sessions")?,
    ];
    sqls.extend(job.queries.findings()?);
    let opts = IngestOptions {
        paths: job.paths,
        window: Window {
            since: Some(job.span.since),
            until: Some(job.span.until),
        },
        needs: Needs::default(),
        providers: job.providers,
        hash_inputs: true,
        empty_ok: job.empty_ok,
    };
    let outcome = report::run(&sqls, job.queries, opts, job.params, job.trusted, progress)?;
    let mut frames = outcome.frames.into_iter();
    let by_instance = frames.next().unwrap_or_default();
    let sessions = frames.next().unwrap_or_default();
    let findings = crate::findings::combine(frames.collect()).map_err(|e| {
        ReportError::Query(QueryError::Sql {
            name: "findings".into(),
            error: e,
        })
    })?;
    let reports = [
        ("by_instance", &by_instance),
        ("sessions", &sessions),
        ("findings", &findings),
    ];
    let mut outputs = Vec::new();
    for (name, df) in reports {
        for f in job.formats {
            let file = format!("{name}.{}", f.extension());
            let mut bytes = Vec::new();
            output::write(df, *f, &mut bytes).map_err(|source| WindowError::Encode {
                name: file.clone(),
                source,
            })?;
            outputs.push(Output { name: file, bytes });
        }
    }
    let ingested = outcome.ingested;
    let rows: serde_json::Map<String, serde_json::Value> = reports
        .iter()
        .map(|(n, df)| (n.to_string(), df.height().into()))
        .collect();
    let queries: serde_json::Map<String, serde_json::Value> = std::iter::once(&outcome.calls)
        .chain(sqls.iter())
        .map(|q| (q.name.clone(), sha256_hex(q.text.as_bytes()).into()))
        .collect();
    let span = job.span;
    let parameters = job.parameters;
    let dir = write_window(job.output_dir, &span, &outputs, |listed| {
        manifest(&span, &ingested, parameters, queries, rows, listed)
    })?;
    Ok(WindowDone {
        dir,
        ingested,
        findings,
    })
}

/// The chain-of-custody record: what went in (with hashes), what was skipped and why, the
/// counts, the tool and its exact parameters, and the hash of every file that came out.
fn manifest(
    span: &Span,
    ingested: &Ingested,
    parameters: serde_json::Value,
    queries: serde_json::Map<String, serde_json::Value>,
    rows: serde_json::Map<String, serde_json::Value>,
    listed: &[(String, u64, String)],
) -> Vec<u8> {
    use serde_json::json;
    let inputs: Vec<_> = ingested
        .files
        .iter()
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "bytes": f.bytes,
                "sha256": f.sha256,
                "status": f.status.as_str(),
                "records": f.records,
            })
        })
        .collect();
    let mut skipped: Vec<_> = ingested
        .files
        .iter()
        .filter(|f| matches!(f.status, FileStatus::Skipped | FileStatus::Partial))
        .map(|f| {
            json!({
                "path": f.path.display().to_string(),
                "status": f.status.as_str(),
                "reasons": f.problems,
            })
        })
        .collect();
    skipped.extend(ingested.walk_errors.iter().map(|w| {
        json!({"path": w.path.display().to_string(), "status": "unreadable", "reasons": [w.reason.clone()]})
    }));
    let s = &ingested.summary;
    let m = json!({
        "tool": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")},
        "window": {"since": rfc3339(span.since), "until": rfc3339(span.until)},
        "generated_at": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "complete": s.complete(),
        "parameters": parameters,
        "queries_sha256": queries,
        "inputs": inputs,
        "skipped": skipped,
        "counts": {
            "files_read": s.files_read,
            "files_partial": s.files_partial,
            "files_skipped": s.files_skipped,
            "paths_unreadable": s.paths_unreadable,
            "digests": s.digests,
            "outside_window_not_opened": s.outside_window,
            "records": s.records,
            "unusable_records": s.bad_records,
            "duplicates_dropped": s.duplicates,
            "records_without_event_id": s.without_event_id,
            "records_without_time": s.without_time,
            "rows": rows,
        },
        "outputs": listed.iter().map(|(name, bytes, sha)| json!({
            "file": name, "bytes": bytes, "sha256": sha,
        })).collect::<Vec<_>>(),
    });
    let mut out = serde_json::to_vec_pretty(&m).expect("json values");
    out.push(b'\n');
    out
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
        let s = Span {
            since: at("2026-10-05T00:00:00Z"),
            until: at("2026-10-06T00:00:00Z"),
        };
        assert_eq!(s.dir_name(), "2026-10-05T00-00Z_2026-10-06T00-00Z");
    }

    #[test]
    fn owed_windows() {
        let now = at("2026-10-08T00:30:00Z");
        // No state: the latest whole day is 10-06; 10-07 ended only 30 minutes ago, less than
        // the hour it is given to settle.
        let latest = owed(D, H, now, None);
        assert_eq!(
            latest,
            [Span {
                since: at("2026-10-06T00:00:00Z"),
                until: at("2026-10-07T00:00:00Z")
            }]
        );
        let later = owed(D, H, at("2026-10-08T01:00:00Z"), None);
        assert_eq!(later[0].since, at("2026-10-07T00:00:00Z"));
        // Two missed nights are caught up, oldest first.
        let state = State {
            last_completed_until: "2026-10-05T00:00:00Z".into(),
        };
        let owed_now = owed(D, H, at("2026-10-08T01:00:00Z"), Some(&state));
        assert_eq!(
            owed_now.iter().map(|s| s.dir_name()).collect::<Vec<_>>(),
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

    #[test]
    fn window_directory_replaces_and_never_half_exists() {
        let dir = tempfile::tempdir().unwrap();
        let span = Span { since: 0, until: D };
        let outs = [Output {
            name: "a.csv".into(),
            bytes: b"x\n1\n".to_vec(),
        }];
        let made = write_window(dir.path(), &span, &outs, |l| {
            serde_json::to_vec(&l.iter().map(|x| x.2.clone()).collect::<Vec<_>>()).unwrap()
        })
        .unwrap();
        assert_eq!(std::fs::read(made.join("a.csv")).unwrap(), b"x\n1\n");
        let outs2 = [Output {
            name: "b.csv".into(),
            bytes: b"y\n".to_vec(),
        }];
        write_window(dir.path(), &span, &outs2, |_| b"{}".to_vec()).unwrap();
        assert!(!made.join("a.csv").exists());
        assert!(made.join("b.csv").exists());
        // Nothing but the window directory is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [span.dir_name()]);
    }
}
