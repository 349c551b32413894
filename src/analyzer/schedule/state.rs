//! Which windows a run owes: `--since/--until`, or every whole window since `--state`'s last
//! completed one; the state file; how a window's directory is named.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::analyzer::render::OutputError;
use crate::base::timefmt::{Millis, Window};

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

/// `2026-10-05T00-00Z_2026-10-06T00-00Z`: sortable, and free of `:` for every file system.
pub fn dir_name(w: &Window) -> String {
    let stamp = |t: Option<Millis>| {
        t.and_then(DateTime::<Utc>::from_timestamp_millis)
            .map(|d| d.format("%Y-%m-%dT%H-%MZ").to_string())
            .unwrap_or_else(|| "open".into())
    };
    format!("{}_{}", stamp(w.since), stamp(w.until))
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
