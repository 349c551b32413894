//! GCP log files in the three shapes users have them: a Cloud Logging sink's newline-delimited
//! `LogEntry` JSON, `gcloud logging read --format=json` (one JSON array, newest first), and
//! NDJSON, gzipped or not, from files and directory trees. Each file is read whole within
//! `--max-file-size` (as a CloudTrail file is) and its entries one at a time.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use crate::analyzer::gcp::entry::{self, Fact, Kind, LogType, Skipped};
use crate::analyzer::source::files::{self, Buffers, Limits, Plan};
use crate::base::text::{quoted, reason};
use crate::base::timefmt::Millis;

/// What became of one GCP input file.
#[derive(Debug, Clone)]
pub struct FileRead {
    pub path: PathBuf,
    /// Entries parsed (duplicates and skipped ones included).
    pub entries: u64,
    /// Entries that could not be parsed.
    pub unusable: u64,
    /// Not read at all (damaged, over the limit).
    pub skipped: bool,
    pub problems: Vec<String>,
    /// Of the bytes on disk, for a report's manifest.
    pub sha256: Option<String>,
}

impl FileRead {
    /// The line a report prints about it, if anything was lost.
    pub fn problem(&self) -> Option<String> {
        match (self.skipped, self.unusable) {
            (true, _) => Some(format!(
                "--gcp-logs: skipped {}: {}",
                quoted(&self.path),
                self.problems.join("; ")
            )),
            (false, 0) => None,
            (false, n) => Some(format!(
                "--gcp-logs: partly read {}: {n} unusable entr{}: {}",
                quoted(&self.path),
                if n == 1 { "y" } else { "ies" },
                self.problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    }
}

/// First and last entry time of one project's log of one type.
pub type Coverage = BTreeMap<(String, LogType), (Millis, Millis)>;

/// Everything read from `--gcp-logs`.
#[derive(Debug, Default)]
pub struct Read {
    pub facts: Vec<Fact>,
    pub coverage: Coverage,
    pub files: Vec<FileRead>,
    /// Paths that could not be walked.
    pub walk_errors: Vec<String>,
    /// Entries whose `logName` and `insertId` came before: counted once.
    pub duplicates: u64,
    pub not_audit: u64,
    pub other_method: u64,
    /// The listings read (`--gcp-instances`, `--gcp-service-accounts`): flag, path, SHA-256.
    pub listings: Vec<(&'static str, PathBuf, String)>,
}

impl Read {
    /// Every input read whole.
    pub fn complete(&self) -> bool {
        self.walk_errors.is_empty() && self.files.iter().all(|f| !f.skipped && f.unusable == 0)
    }
}

/// Read every file under `paths`, in name order; the first copy of an entry in that order counts.
pub fn read(paths: &[PathBuf], limits: &Limits) -> Read {
    let (found, errors) = files::discover(paths, &crate::base::timefmt::Window::default());
    let mut out = Read {
        walk_errors: errors.iter().map(|e| e.to_string()).collect(),
        ..Read::default()
    };
    let mut seen = Seen::default();
    let mut bufs = Buffers::hashing(true);
    // In a walked folder, only log files' names (`.json`, `.jsonl`, `.ndjson`, gzipped or
    // not); a file named on the command line is read whatever its name.
    let named = |f: &files::Found| paths.contains(&f.path);
    let log = |f: &files::Found| {
        f.path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(crate::analyzer::source::layout::is_log_name)
    };
    for f in found
        .iter()
        .filter(|f| f.plan == Plan::Read && (named(f) || log(f)))
    {
        let mut file = FileRead {
            path: f.path.clone(),
            entries: 0,
            unusable: 0,
            skipped: false,
            problems: Vec::new(),
            sha256: None,
        };
        let read = files::read_decoded(&f.path, &mut bufs, limits.max_file_bytes);
        file.sha256 = bufs.sha256.map(hex::encode);
        match read {
            Err(e) => {
                file.skipped = true;
                file.problems.push(reason(&e.to_string()));
            }
            Ok(_) => {
                let mut take = |v: Value| {
                    file.entries += 1;
                    keep(&mut out, &mut seen, v);
                };
                let (bad, why) = entries(&bufs.decoded, limits.max_records, &mut take);
                file.unusable = bad;
                file.problems.extend(why);
                if file.entries == 0 && bad > 0 {
                    file.skipped = true;
                }
            }
        }
        out.files.push(file);
    }
    // Nothing to read where logs were promised is not an answer of "no such instance".
    if !paths.is_empty() && out.files.is_empty() && out.walk_errors.is_empty() {
        out.walk_errors.push(format!(
            "{}: no log files (.json, .jsonl, .ndjson, gzipped or not) found",
            paths
                .iter()
                .map(|p| quoted(p))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

/// What reading has met: entries that gave facts (`logName`, `insertId`), and the pairs learnt
/// in passing (account email and unique ID; project and number).
#[derive(Default)]
struct Seen {
    entries: HashSet<(String, String)>,
    pairs: HashSet<(String, String)>,
}

/// One entry: counted, de-duplicated, and its facts and coverage kept.
fn keep(out: &mut Read, seen: &mut Seen, v: Value) {
    let mut r = entry::read(&v);
    if let Some(Skipped::NotAuditLog) = r.skipped {
        out.not_audit += 1;
        return;
    }
    if let (Some(project), Some(log_type), Some(t)) = (&r.project, r.log_type, r.time) {
        let span = out
            .coverage
            .entry((project.clone(), log_type))
            .or_insert((t, t));
        span.0 = span.0.min(t);
        span.1 = span.1.max(t);
    }
    // A pair learnt in passing (an account's ID from the labels of each of its many token
    // requests, a project's number) is kept once: what those entries cost is their count.
    r.facts.retain(|f| match f.kind {
        Some(Kind::ServiceAccountKnown | Kind::ProjectNumber) => seen.pairs.insert((
            f.sa_email.clone().or(f.project.clone()).unwrap_or_default(),
            f.sa_unique_id
                .clone()
                .or(f.detail.clone())
                .unwrap_or_default(),
        )),
        _ => true,
    });
    if r.skipped == Some(Skipped::OtherMethod) && r.facts.is_empty() {
        out.other_method += 1;
        return;
    }
    // Only entries that give facts are remembered: what other methods' entries cost is their
    // count, whatever their number.
    if !r.key.1.is_empty() && !seen.entries.insert(r.key.clone()) {
        out.duplicates += 1;
        return;
    }
    if r.skipped == Some(Skipped::OtherMethod) {
        out.other_method += 1;
    }
    out.facts.extend(r.facts);
}

/// Whether `bytes` is NDJSON: its first line holds a whole JSON value. Each line is then read on
/// its own, so that a broken line cannot swallow the line after it (an object left open would
/// take the next line's object as a value).
fn one_per_line(bytes: &[u8]) -> bool {
    let first = bytes
        .split(|&b| b == b'\n')
        .find(|l| l.iter().any(|b| !b.is_ascii_whitespace()));
    first.is_some_and(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
}

/// Each line of NDJSON to `give`; returns the damaged lines' count and why (the first few).
fn lines(bytes: &[u8], give: &mut dyn FnMut(Value)) -> (u64, Vec<String>) {
    let (mut bad, mut why) = (0, Vec::new());
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(v) => give(v),
            Err(e) => {
                bad += 1;
                if why.len() < 3 {
                    why.push(format!(
                        "line {}: not JSON ({:?} error at column {})",
                        n + 1,
                        e.classify(),
                        e.column()
                    ));
                }
            }
        }
    }
    (bad, why)
}

/// Each JSON value of `bytes` to `take`: the elements of a top-level array, each line of NDJSON,
/// else each value of a stream (pretty-printed objects one after another). A damaged value is
/// counted and reading goes on (at the next line of a stream); returns how many were damaged
/// and why (the first few).
fn entries(bytes: &[u8], max: u64, take: &mut dyn FnMut(Value)) -> (u64, Vec<String>) {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let mut bad = 0u64;
    let mut why = Vec::new();
    let mut count = 0u64;
    let mut give = |v: Value| {
        count += 1;
        if count <= max {
            take(v);
        }
    };
    if start.map(|i| bytes[i]) == Some(b'[') {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        if let Err(e) = de.deserialize_seq(Each(&mut give)).and_then(|_| de.end()) {
            bad += 1;
            why.push(reason(&format!("the JSON array is damaged: {e}")));
        }
    } else if one_per_line(bytes) {
        (bad, why) = lines(bytes, &mut give);
    } else {
        let mut at = 0;
        while at < bytes.len() {
            let mut stream =
                serde_json::Deserializer::from_slice(&bytes[at..]).into_iter::<Value>();
            match stream.next() {
                None => break,
                Some(Ok(v)) => {
                    at += stream.byte_offset();
                    give(v);
                }
                Some(Err(e)) => {
                    bad += 1;
                    if why.len() < 3 {
                        why.push(reason(&format!("entry not JSON: {e}")));
                    }
                    let failed_at = at + stream.byte_offset().max(1);
                    at = match bytes[failed_at.min(bytes.len())..]
                        .iter()
                        .position(|&b| b == b'\n')
                    {
                        Some(nl) => failed_at + nl + 1,
                        None => bytes.len(),
                    };
                }
            }
        }
    }
    if count > max {
        bad += count - max;
        why.push(format!("more than --max-records ({max}) entries"));
    }
    (bad, why)
}

/// Hands each element of a JSON array to a callback as it is parsed, never holding the array.
struct Each<'a>(&'a mut dyn FnMut(Value));

impl<'de> Visitor<'de> for Each<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of log entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element_seed(One)? {
            (self.0)(v);
        }
        Ok(())
    }
}

struct One;

impl<'de> DeserializeSeed<'de> for One {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// A listing (`--gcp-instances`, `--gcp-service-accounts`): the JSON array gcloud prints.
#[derive(Debug, thiserror::Error)]
#[error("{flag} {}: {reason}", quoted(path))]
pub struct ListingError {
    pub flag: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

/// Each element of a listing's array, through `fact` (None: the element is unusable, counted).
pub fn listing(
    flag: &'static str,
    path: &Path,
    limits: &Limits,
    fact: fn(&Value) -> Option<Fact>,
) -> Result<(Vec<Fact>, u64, String), ListingError> {
    let bad = |reason: String| ListingError {
        flag,
        path: path.to_path_buf(),
        reason,
    };
    let mut bufs = Buffers::hashing(true);
    files::read_decoded(path, &mut bufs, limits.max_file_bytes)
        .map_err(|e| bad(reason(&e.to_string())))?;
    let sha256 = bufs.sha256.map(hex::encode).unwrap_or_default();
    let mut facts = Vec::new();
    let mut unusable = 0;
    let (damaged, why) = entries(&bufs.decoded, limits.max_records, &mut |v| match fact(&v) {
        Some(f) => facts.push(f),
        None => unusable += 1,
    });
    if damaged > 0 {
        return Err(bad(why.join("; ")));
    }
    Ok((facts, unusable, sha256))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> (Vec<Value>, u64) {
        let mut got = Vec::new();
        let (bad, _) = entries(text.as_bytes(), 100, &mut |v| got.push(v));
        (got, bad)
    }

    #[test]
    fn arrays_streams_and_pretty_objects_give_every_entry() {
        assert_eq!(values(r#"[{"a":1}, {"a":2}]"#).0.len(), 2);
        assert_eq!(values("{\"a\":1}\n{\"a\":2}\n").0.len(), 2);
        assert_eq!(values("{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}").0.len(), 2);
    }

    #[test]
    fn a_broken_line_is_counted_and_the_next_lines_still_read() {
        let (got, bad) = values("{\"a\":1}\n{\"a\": tru\n{\"a\":3}\n");
        assert_eq!((got.len(), bad), (2, 1));
        assert_eq!(got[1]["a"], 3);
    }

    #[test]
    fn a_line_left_open_does_not_swallow_the_next() {
        let (got, bad) = values("{\"a\":1}\n{\"a\": \n{\"a\":3}\n");
        assert_eq!((got.len(), bad), (2, 1));
        assert_eq!(got[1]["a"], 3);
    }

    #[test]
    fn a_cut_array_keeps_what_came_before_the_cut() {
        let (got, bad) = values(r#"[{"a":1}, {"a":2}, {"a":"#);
        assert_eq!((got.len(), bad), (2, 1));
    }
}
