//! CloudTrail log files on disk: find them, decide which to read, decompress them.
//!
//! Layouts: `AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`, organization trails
//! `AWSLogs/<o-id>/<acct>/CloudTrail/...`, and any loose `.json`, `.json.gz`, `.jsonl` file.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use flate2::read::MultiGzDecoder;

use crate::timefmt::Window;

/// Why a file could not be read. The path is carried by the caller's report.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("damaged gzip (truncated or corrupt): {0}")]
    Gzip(std::io::Error),
}

/// What discovery decided about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Read,
    /// A `CloudTrail-Digest` file: counted, never parsed as events.
    Digest,
    /// Its S3 date folder is more than a day outside the window, so it cannot hold a relevant event.
    OutsideWindow,
}

#[derive(Debug, Clone)]
pub struct Found {
    pub path: PathBuf,
    pub plan: Plan,
}

/// A positional path that could not be walked.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    pub reason: String,
}

fn is_log_name(name: &str) -> bool {
    [
        ".json.gz",
        ".json",
        ".jsonl",
        ".ndjson",
        ".jsonl.gz",
        ".ndjson.gz",
    ]
    .iter()
    .any(|ext| name.ends_with(ext))
}

fn is_digest(path: &Path) -> bool {
    path.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|s| s == "CloudTrail-Digest")
    }) || path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("_CloudTrail-Digest_"))
}

/// The delivery day of an S3-layout path: three consecutive folders `YYYY/MM/DD`.
pub fn s3_day(path: &Path) -> Option<NaiveDate> {
    let parts: Vec<&str> = path
        .parent()?
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect();
    parts.windows(3).rev().find_map(|w| {
        let ok = w[0].len() == 4 && w[1].len() == 2 && w[2].len() == 2;
        if !ok {
            return None;
        }
        NaiveDate::from_ymd_opt(w[0].parse().ok()?, w[1].parse().ok()?, w[2].parse().ok()?)
    })
}

/// Files are delivered up to ~15 minutes after their events, and a key lives at most 12 hours, so
/// one day of margin on both sides keeps every event that can matter to the window.
fn outside(day: NaiveDate, window: &Window) -> bool {
    let to_day = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.date_naive());
    let margin = Duration::days(1);
    let early = window
        .since
        .and_then(to_day)
        .is_some_and(|s| day < s - margin);
    let late = window
        .until
        .and_then(to_day)
        .is_some_and(|u| day > u + margin);
    early || late
}

fn plan_for(path: &Path, window: &Window) -> Plan {
    if is_digest(path) {
        Plan::Digest
    } else if s3_day(path).is_some_and(|d| outside(d, window)) {
        Plan::OutsideWindow
    } else {
        Plan::Read
    }
}

/// Walk the positional paths. Directories are walked recursively in name order so that every
/// run sees files in the same order; a file named directly is always read.
pub fn discover(paths: &[PathBuf], window: &Window) -> (Vec<Found>, Vec<WalkError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        match std::fs::metadata(root) {
            Err(e) => errors.push(WalkError {
                path: root.clone(),
                reason: e.to_string(),
            }),
            Ok(m) if m.is_file() => found.push(Found {
                plan: plan_for(root, window),
                path: root.clone(),
            }),
            Ok(_) => {
                for entry in walkdir::WalkDir::new(root)
                    .follow_links(true)
                    .sort_by_file_name()
                {
                    match entry {
                        Err(e) => errors.push(WalkError {
                            path: e.path().map(Path::to_path_buf).unwrap_or(root.clone()),
                            reason: e.to_string(),
                        }),
                        Ok(e) if e.file_type().is_file() => {
                            let name = e.file_name().to_string_lossy();
                            if is_log_name(&name) {
                                found.push(Found {
                                    plan: plan_for(e.path(), window),
                                    path: e.into_path(),
                                });
                            }
                        }
                        Ok(_) => {}
                    }
                }
            }
        }
    }
    (found, errors)
}

/// Read a file and gunzip it if it is gzip (by its magic bytes, not its name).
pub fn read_decoded(path: &Path) -> Result<(Vec<u8>, u64), ReadError> {
    let raw = std::fs::read(path)?;
    let size = raw.len() as u64;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok((raw, size));
    }
    // ISIZE, the last 4 bytes, is the uncompressed size mod 2^32: a near-exact capacity.
    let hint = raw
        .len()
        .checked_sub(4)
        .map(|i| u32::from_le_bytes(raw[i..].try_into().expect("4 bytes")) as usize)
        .unwrap_or(0)
        .min(1 << 30);
    let mut out = Vec::with_capacity(hint.max(raw.len() * 4));
    MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(ReadError::Gzip)?;
    Ok((out, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_days() {
        let p = Path::new("t/AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/2026/10/05/x.json.gz");
        assert_eq!(s3_day(p), NaiveDate::from_ymd_opt(2026, 10, 5));
        assert_eq!(s3_day(Path::new("loose/file.json")), None);
    }

    #[test]
    fn digests_by_path() {
        assert!(is_digest(Path::new(
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/10/05/1_CloudTrail-Digest_us-east-1_t_us-east-1_20261005T0000Z.json.gz"
        )));
        assert!(!is_digest(Path::new(
            "AWSLogs/1/CloudTrail/us-east-1/2026/10/05/x.json.gz"
        )));
    }

    #[test]
    fn window_pruning_keeps_a_day_of_margin() {
        let ms = |s: &str| crate::timefmt::parse_event_time(s);
        let w = Window {
            since: ms("2026-10-05T00:00:00Z"),
            until: ms("2026-10-06T00:00:00Z"),
        };
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert!(outside(d(2026, 10, 3), &w));
        assert!(!outside(d(2026, 10, 4), &w));
        assert!(!outside(d(2026, 10, 7), &w));
        assert!(outside(d(2026, 10, 8), &w));
    }
}
