//! How a trail lays out its files: which names are log files, digests, or janus-audit's own,
//! and which delivery day a path holds.

use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::base::timefmt::Window;

/// Where `sync` keeps what validation needs beside a trail: never read as a log file.
pub const SYNC_DIR: &str = ".janus-sync";

/// Files janus-audit writes beside a trail: `sync`'s sidecars and the temporary files of its
/// atomic writes.
pub fn is_own_file(name: &str) -> bool {
    name.ends_with(".s3meta") || (name.starts_with(".janus-audit-") && name.ends_with(".tmp"))
}

pub fn is_log_name(name: &str) -> bool {
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

pub fn is_digest(path: &Path) -> bool {
    path.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_some_and(|s| s == "CloudTrail-Digest")
    }) || path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("_CloudTrail-Digest_"))
}

/// The day of an S3-layout path: three consecutive folders `YYYY/MM/DD` (CloudTrail's delivery
/// day), or a Security Lake `eventDay=YYYYMMDD` partition.
pub fn s3_day(path: &Path) -> Option<NaiveDate> {
    let parts: Vec<&str> = path
        .parent()?
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect();
    // Amazon Security Lake's partition: `eventDay=YYYYMMDD`, the events' own day.
    let event_day = parts.iter().rev().find_map(|p| {
        let d = p.strip_prefix("eventDay=")?;
        NaiveDate::parse_from_str(d, "%Y%m%d").ok()
    });
    if event_day.is_some() {
        return event_day;
    }
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
pub fn outside(day: NaiveDate, window: &Window) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_days() {
        let p = Path::new("t/AWSLogs/o-abc/111122223333/CloudTrail/us-east-1/2026/10/05/x.json.gz");
        assert_eq!(s3_day(p), NaiveDate::from_ymd_opt(2026, 10, 5));
        assert_eq!(s3_day(Path::new("loose/file.json")), None);
        let lake = "lake/aws/CLOUD_TRAIL_MGMT/2.0/region=us-east-1/accountId=1/eventDay=20261008/p.gz.parquet";
        assert_eq!(
            s3_day(Path::new(lake)),
            NaiveDate::from_ymd_opt(2026, 10, 8)
        );
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
        let ms = |s: &str| crate::base::timefmt::parse_event_time(s);
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
