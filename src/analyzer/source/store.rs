//! The local store of events fetched from the LookupEvents API: gzipped NDJSON laid out like an
//! S3 trail (`AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`), so the file reader reads it with
//! the same parser, day pruning included, and the checkpoints that say which time ranges of
//! which lookup are already in it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::timefmt::Millis;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {}: {source}", crate::base::text::quoted(path))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Write(#[from] crate::base::atomic::WriteError),
}

pub(crate) fn at(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Half-open `[start, end)` ranges in milliseconds, sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranges(pub Vec<(Millis, Millis)>);

impl Ranges {
    pub fn add(&mut self, start: Millis, end: Millis) {
        if end <= start {
            return;
        }
        self.0.push((start, end));
        self.0.sort_unstable();
        let mut merged: Vec<(Millis, Millis)> = Vec::with_capacity(self.0.len());
        for &(s, e) in &self.0 {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.0 = merged;
    }

    /// The parts of `[start, end)` not yet covered.
    pub fn gaps(&self, start: Millis, end: Millis) -> Vec<(Millis, Millis)> {
        let mut out = Vec::new();
        let mut at = start;
        for &(s, e) in &self.0 {
            if e <= at {
                continue;
            }
            if s >= end {
                break;
            }
            if s > at {
                out.push((at, s.min(end)));
            }
            at = at.max(e);
            if at >= end {
                break;
            }
        }
        if at < end {
            out.push((at, end));
        }
        out
    }
}

/// What has been fetched, per `region|attribute` (`EventName=AssumeRoleWithWebIdentity`,
/// `AccessKeyId=ASIA…`, or `*` for `--full`), for one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    pub account: String,
    pub covered: BTreeMap<String, Ranges>,
}

impl Checkpoints {
    pub fn key(region: &str, attribute: &str) -> String {
        format!("{region}|{attribute}")
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    /// The default store: `$XDG_CACHE_HOME/janus-audit/store` (or the platform's cache dir).
    pub fn default_root() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("janus-audit").join("store"))
    }

    /// Open (creating it owner-only) the store at `root`.
    pub fn open(root: PathBuf) -> Result<Store, StoreError> {
        crate::base::atomic::create_private_dirs(&root).map_err(at(&root))?;
        // The events say who did what from where: for the owner's eyes, like the trail bucket.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
                .map_err(at(&root))?;
        }
        Ok(Store { root })
    }

    /// Where one account's events are, as a trail directory any report can read.
    pub fn account_dir(&self, account: &str) -> PathBuf {
        self.root.join("AWSLogs").join(account)
    }

    /// The trail directory a report reads (one account's, or every account's), created if the
    /// store holds nothing yet: an empty store is an empty report, not an unreadable path.
    pub fn trail_dir(&self, account: Option<&str>) -> Result<PathBuf, StoreError> {
        let dir = match account {
            Some(a) => self.account_dir(a),
            None => self.root.join("AWSLogs"),
        };
        crate::base::atomic::create_private_dirs(&dir).map_err(at(&dir))?;
        Ok(dir)
    }

    fn checkpoint_path(&self, account: &str) -> PathBuf {
        self.root
            .join("checkpoints")
            .join(format!("{account}.json"))
    }

    pub fn checkpoints(&self, account: &str) -> Result<Checkpoints, StoreError> {
        let path = self.checkpoint_path(account);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoints {
                account: account.to_string(),
                ..Checkpoints::default()
            }),
            Err(e) => Err(at(&path)(e)),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| at(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e))),
        }
    }

    pub fn save_checkpoints(&self, c: &Checkpoints) -> Result<(), StoreError> {
        let path = self.checkpoint_path(&c.account);
        let bytes = serde_json::to_vec_pretty(c).expect("plain data");
        write_atomic(&path, &bytes)
    }

    /// Persist fetched records (`(event time, record JSON)`), one file per day they fall on.
    /// The name carries a hash of the content, so writing the same events twice is harmless and
    /// distinct chunks never collide; duplicates across chunks are dropped by eventID on read.
    pub fn write_chunk(
        &self,
        account: &str,
        region: &str,
        attribute: &str,
        records: &[(Millis, String)],
    ) -> Result<usize, StoreError> {
        let mut by_day: BTreeMap<String, Vec<&(Millis, String)>> = BTreeMap::new();
        for r in records {
            let day = DateTime::<Utc>::from_timestamp_millis(r.0)
                .map(|t| t.format("%Y/%m/%d").to_string())
                .unwrap_or_else(|| "0000/00/00".into());
            by_day.entry(day).or_default().push(r);
        }
        let slug: String = attribute
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let mut files = 0;
        for (day, mut recs) in by_day {
            recs.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            let mut body = String::new();
            for (_, json) in &recs {
                body.push_str(json);
                body.push('\n');
            }
            let hash = hex::encode(&Sha256::digest(body.as_bytes())[..8]);
            let stamp = |t: Millis| {
                DateTime::<Utc>::from_timestamp_millis(t)
                    .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
                    .unwrap_or_default()
            };
            let (first, last) = (recs[0].0, recs[recs.len() - 1].0);
            let dir = self
                .account_dir(account)
                .join("CloudTrail")
                .join(region)
                .join(&day);
            let path = dir.join(format!(
                "{account}_LookupEvents_{region}_{slug}_{}_{}_{hash}.jsonl.gz",
                stamp(first),
                stamp(last)
            ));
            if path.exists() {
                continue;
            }
            let mut gz = GzEncoder::new(Vec::new(), Compression::default());
            gz.write_all(body.as_bytes()).map_err(at(&path))?;
            let bytes = gz.finish().map_err(at(&path))?;
            write_atomic(&path, &bytes)?;
            files += 1;
        }
        Ok(files)
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::base::atomic::create_private_dirs(dir).map_err(at(dir))?;
    Ok(crate::base::atomic::write_bytes(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_gaps() {
        let mut r = Ranges::default();
        r.add(10, 20);
        r.add(30, 40);
        r.add(20, 25);
        assert_eq!(r.0, [(10, 25), (30, 40)]);
        assert_eq!(r.gaps(0, 50), [(0, 10), (25, 30), (40, 50)]);
        assert_eq!(r.gaps(12, 24), Vec::<(Millis, Millis)>::new());
        assert_eq!(r.gaps(22, 35), [(25, 30)]);
        r.add(0, 100);
        assert_eq!(r.0, [(0, 100)]);
        assert!(r.gaps(0, 100).is_empty());
    }

    #[test]
    fn chunks_land_in_day_folders_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_path_buf()).unwrap();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        let recs = vec![
            (t("2026-10-05T23:59:59Z"), r#"{"eventID":"a"}"#.to_string()),
            (t("2026-10-06T00:00:00Z"), r#"{"eventID":"b"}"#.to_string()),
        ];
        let n = store
            .write_chunk("111122223333", "us-east-1", "AccessKeyId=ASIAX", &recs)
            .unwrap();
        assert_eq!(n, 2);
        // The same events again: no new file.
        assert_eq!(
            store
                .write_chunk("111122223333", "us-east-1", "AccessKeyId=ASIAX", &recs)
                .unwrap(),
            0
        );
        let day = store
            .account_dir("111122223333")
            .join("CloudTrail/us-east-1/2026/10/06");
        let files: Vec<_> = std::fs::read_dir(&day).unwrap().collect();
        assert_eq!(files.len(), 1);
        let mut c = store.checkpoints("111122223333").unwrap();
        c.covered
            .entry(Checkpoints::key("us-east-1", "*"))
            .or_default()
            .add(1, 2);
        store.save_checkpoints(&c).unwrap();
        assert_eq!(store.checkpoints("111122223333").unwrap(), c);
    }
}
