//! CloudTrail log file integrity validation, as AWS documents it and `aws cloudtrail
//! validate-logs` performs it: per account and region, walk the digest chain back from the
//! newest digest, check each digest's signature and its link to the previous one, then check
//! every log file a valid digest lists against the hash it records. Unlike `validate-logs` it
//! also names the log files in the input that no digest covers, and the time no valid digest
//! covers.

pub mod digest;
pub mod gather;
pub mod inputs;
pub mod judge;
pub mod keys;

use std::collections::{BTreeMap, HashMap, HashSet};

use polars::prelude::*;

use crate::base::timefmt::{Millis, Window};
use digest::{Digest, Scope};
use inputs::Node;
pub use inputs::{DigestFile, Inputs, LogSeen, Signature, Unreadable};
use judge::judge;
pub use keys::{KeySource, Keyring, PublicKeys};

/// How long after the hour it covers CloudTrail delivers a digest: the end of a window (or of
/// what the other trails cover) less this is the time a trail's digests must reach.
pub const DIGEST_DELIVERY: Millis = 3_600_000;

/// The scope of an input file outside CloudTrail's layout (`AWSLogs/<acct>/CloudTrail/<region>/`):
/// no digest can list it.
pub const OUTSIDE_LAYOUT: &str = "(outside the CloudTrail layout)";

/// What validation said of one account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeResult {
    pub account: String,
    pub region: String,
    pub digests_valid: u64,
    pub digests_unsigned: u64,
    pub digests_invalid: u64,
    pub digests_missing: u64,
    pub logs_valid: u64,
    pub logs_modified: u64,
    pub logs_deleted: u64,
    pub logs_uncovered: u64,
    pub covered_from: Option<Millis>,
    pub covered_until: Option<Millis>,
    /// Time in the range asked for that no valid (or unsigned) digest covers.
    pub gaps: Vec<(Millis, Millis)>,
    /// Where the keys that validated its signed digests came from.
    pub keys_sources: std::collections::BTreeSet<KeySource>,
}

impl ScopeResult {
    /// `aws`, `pinned`, `mirror`, or several joined with `;`; empty with no signed digest.
    pub fn keys_source(&self) -> String {
        joined(&self.keys_sources)
    }
}

fn joined(sources: &std::collections::BTreeSet<KeySource>) -> String {
    sources
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(";")
}

/// The outcome: per scope, each problem named, and each input file's status.
#[derive(Debug, Default)]
pub struct Verification {
    pub scopes: Vec<ScopeResult>,
    /// One line per problem, each naming the file (quoted) and what is wrong.
    pub problems: Vec<String>,
    /// Each input file's status by key tail: `valid`, `valid-unsigned`, `modified`,
    /// `uncovered`, `pending`, and `digest-valid`, `digest-unsigned`, `digest-invalid`.
    pub status: HashMap<String, &'static str>,
    /// Public keys available to check signatures with.
    pub public_keys: usize,
    /// The fingerprints of the keys that validated a digest (what `--public-keys` can pin).
    pub fingerprints_used: std::collections::BTreeSet<String>,
    /// Keys refused because they were filed under another key's fingerprint.
    pub misfiled_keys: usize,
}

impl Verification {
    /// A log file was modified or deleted, or a digest failed or is missing.
    pub fn tampered(&self) -> bool {
        self.misfiled_keys > 0
            || self.scopes.iter().any(|s| {
                s.logs_modified + s.logs_deleted + s.digests_invalid + s.digests_missing > 0
            })
    }

    /// Where the keys behind the verdict came from, over every scope.
    pub fn keys_sources(&self) -> std::collections::BTreeSet<KeySource> {
        self.scopes
            .iter()
            .flat_map(|s| s.keys_sources.iter().copied())
            .collect()
    }

    /// `keys_source` over every scope (see [`ScopeResult::keys_source`]).
    pub fn keys_source(&self) -> String {
        joined(&self.keys_sources())
    }

    /// Some verdict rests on keys read from the mirror, which prove nothing against whoever
    /// can write it.
    pub fn rests_on_mirror_keys(&self) -> bool {
        self.keys_sources().contains(&KeySource::Mirror)
    }

    /// Part of the input is not proven: uncovered files, gaps, or unsigned digests.
    pub fn gaps(&self) -> bool {
        self.scopes
            .iter()
            .any(|s| s.logs_uncovered + s.digests_unsigned > 0 || !s.gaps.is_empty())
    }

    /// What validation found, as an exit status: tampering, else unproven input, else success
    /// (a report combines it with its own, `base::exit::most_severe`).
    pub fn exit_status(&self) -> i32 {
        if self.tampered() {
            crate::base::exit::TAMPERED
        } else if self.gaps() {
            crate::base::exit::NOT_COVERED
        } else {
            crate::base::exit::OK
        }
    }

    /// One row per account and region, for `--format`.
    pub fn frame(&self) -> PolarsResult<DataFrame> {
        let s = &self.scopes;
        let n = |f: fn(&ScopeResult) -> u64| s.iter().map(f).collect::<Vec<_>>();
        let t = |name: &str, f: fn(&ScopeResult) -> Option<Millis>| {
            Int64Chunked::from_iter_options(name.into(), s.iter().map(f))
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                .into_column()
        };
        let gaps: Vec<Series> = s
            .iter()
            .map(|r| {
                Series::new(
                    "".into(),
                    r.gaps
                        .iter()
                        .map(|(a, b)| {
                            format!(
                                "{}/{}",
                                crate::base::timefmt::format_millis(*a),
                                crate::base::timefmt::format_millis(*b)
                            )
                        })
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        let mut df = df!(
            "account_id" => s.iter().map(|r| r.account.clone()).collect::<Vec<_>>(),
            "region" => s.iter().map(|r| r.region.clone()).collect::<Vec<_>>(),
            "digests_valid" => n(|r| r.digests_valid),
            "digests_unsigned" => n(|r| r.digests_unsigned),
            "digests_invalid" => n(|r| r.digests_invalid),
            "digests_missing" => n(|r| r.digests_missing),
            "log_files_valid" => n(|r| r.logs_valid),
            "log_files_modified" => n(|r| r.logs_modified),
            "log_files_deleted" => n(|r| r.logs_deleted),
            "log_files_uncovered" => n(|r| r.logs_uncovered),
        )?;
        df.with_column(t("covered_from", |r| r.covered_from))?;
        df.with_column(t("covered_until", |r| r.covered_until))?;
        let list = if gaps.is_empty() {
            Series::new_empty("gaps".into(), &DataType::List(Box::new(DataType::String)))
        } else {
            Series::new("gaps".into(), gaps)
        };
        df.with_column(list.into_column())?;
        df.with_column(Column::new(
            "keys_source".into(),
            s.iter().map(|r| r.keys_source()).collect::<Vec<_>>(),
        ))?;
        Ok(df)
    }
}

/// A day of delivery margin, as the readers use: a digest or log file in a folder farther out
/// was not listed, so its absence proves nothing.
pub(crate) fn in_scope(tail: &str, window: &Window) -> bool {
    !crate::analyzer::source::layout::s3_day(std::path::Path::new(tail))
        .is_some_and(|d| crate::analyzer::source::layout::outside(d, window))
}

/// Validate `inputs`.
pub fn validate(inputs: &Inputs) -> Verification {
    let mut v = Verification {
        public_keys: inputs.keys.len(),
        misfiled_keys: inputs.keys.misfiled,
        problems: inputs.keys.problems.clone(),
        ..Verification::default()
    };
    let mut results: BTreeMap<Scope, ScopeResult> = BTreeMap::new();
    let chains = chains(inputs, &mut v);
    let due = due(&chains, inputs);
    // Log tails each valid digest vouches for, with the hash it records and whether signed.
    let mut vouched: Vouched = HashMap::new();
    // Gaps are per chain: another trail writing the same account and region (an account's own
    // trail beside the organization's) does not vouch for what this one's missing digest held.
    let mut chain_gaps: HashMap<Scope, Vec<(Millis, Millis)>> = HashMap::new();
    for ((scope, trail), mut nodes) in chains {
        nodes.sort_by(|a, b| a.date.cmp(&b.date).then(a.file.tail.cmp(&b.file.tail)));
        let r = row(&mut results, &scope);
        let iv = walk(&nodes, inputs, r, &mut v, &mut vouched);
        let folder = trail.split('|').next().unwrap_or_default();
        let logs = format!("{folder}/CloudTrail/{}/", scope.region);
        let newest_log = newest_log(inputs, |t| t.starts_with(&logs));
        chain_gaps
            .entry(scope)
            .or_default()
            .extend(gaps(iv, newest_log.max(due), &inputs.window));
    }
    listed_logs(inputs, &vouched, &mut results, &mut v);
    unlisted_logs(inputs, &vouched, &mut results, &mut v);
    for (scope, r) in results.iter_mut() {
        if scope.account == OUTSIDE_LAYOUT {
            continue;
        }
        r.gaps = match chain_gaps.remove(scope) {
            Some(g) => merged(g),
            // Log files and no digest at all: the window up to the newest of them.
            None => {
                let newest = newest_log(inputs, |t| digest::scope(t).as_ref() == Some(scope));
                gaps(Vec::new(), newest, &inputs.window)
            }
        };
    }
    v.scopes = results.into_values().collect();
    v
}

/// Digest chains, by trail: its folder (an organization trail and an account's own trail both
/// write an account's folder), region and name.
type Chains<'a> = BTreeMap<(Scope, String), Vec<Node<'a>>>;

/// Log tails each valid digest vouches for, with the hash it records and whether it was signed.
type Vouched = HashMap<String, (String, bool)>;

/// Every digest of `inputs`, parsed and filed under its chain; a name that is no digest's is a
/// problem.
fn chains<'a>(inputs: &'a Inputs, v: &mut Verification) -> Chains<'a> {
    let mut chains: Chains<'a> = BTreeMap::new();
    for f in &inputs.digests {
        let (Some(scope), Some(name)) = (digest::scope(&f.tail), digest::digest_name(&f.tail))
        else {
            v.problems.push(format!(
                "digest {}: INVALID: not a digest file name",
                quoted(&f.name)
            ));
            continue;
        };
        let (parsed, content_sha256) = match &f.content {
            Ok(c) => (Digest::parse(c), Some(crate::base::hash::sha256_hex(c))),
            Err(_) => (None, None),
        };
        let folder = f
            .tail
            .split("/CloudTrail-Digest/")
            .next()
            .unwrap_or_default();
        chains
            .entry((scope, format!("{folder}|{}", name.trail)))
            .or_default()
            .push(Node {
                file: f,
                date: name.end,
                parsed,
                content_sha256,
            });
    }
    chains
}

/// The time every trail must be covered to: the window's end (or now, for a window with no end)
/// less a digest's delivery time; without a window, what the other trails' digests reach, less
/// the same. A trail whose newest digests were deleted, or a region that stopped while the
/// others went on, has a gap up to it.
fn due(chains: &Chains<'_>, inputs: &Inputs) -> Option<Millis> {
    let newest_digest = chains
        .values()
        .flatten()
        .filter_map(|n| n.parsed.as_ref().and_then(|d| d.end()))
        .max();
    let windowed = inputs.window.since.is_some() || inputs.window.until.is_some();
    let end = match windowed {
        true => inputs.window.until.into_iter().chain(inputs.now).min(),
        false => None,
    };
    end.or(newest_digest).map(|t| t - DIGEST_DELIVERY)
}

/// The log files the valid digests list: valid, modified, or deleted.
fn listed_logs(
    inputs: &Inputs,
    vouched: &Vouched,
    results: &mut BTreeMap<Scope, ScopeResult>,
    v: &mut Verification,
) {
    let mut deleted_seen = HashSet::new();
    for (tail, (hash, signed)) in vouched {
        let scope = digest::scope(tail).unwrap_or(Scope {
            account: String::new(),
            region: String::new(),
        });
        let r = row(results, &scope);
        match inputs.logs.get(tail) {
            Some(seen) if seen.content_sha256.as_deref() == Some(hash.as_str()) => {
                r.logs_valid += 1;
                v.status.insert(
                    tail.clone(),
                    if *signed { "valid" } else { "valid-unsigned" },
                );
            }
            Some(seen) => {
                r.logs_modified += 1;
                v.status.insert(tail.clone(), "modified");
                v.problems.push(format!(
                    "log file {}: MODIFIED: its content does not match the hash its digest records",
                    quoted(&seen.name)
                ));
            }
            None if in_scope(tail, &inputs.window) && deleted_seen.insert(tail.clone()) => {
                r.logs_deleted += 1;
                v.problems.push(format!(
                    "log file {}: DELETED: listed by a digest, not found",
                    quoted(tail)
                ));
            }
            None => {}
        }
    }
}

/// Log files no valid digest lists: uncovered, unless delivered after the newest digest's hour
/// (pending) or outside the window.
fn unlisted_logs(
    inputs: &Inputs,
    vouched: &Vouched,
    results: &mut BTreeMap<Scope, ScopeResult>,
    v: &mut Verification,
) {
    let newest: HashMap<Scope, Millis> = results
        .iter()
        .filter_map(|(s, r)| r.covered_until.map(|t| (s.clone(), t)))
        .collect();
    let mut uncovered: Vec<&String> = inputs
        .logs
        .keys()
        .filter(|t| !vouched.contains_key(*t))
        .collect();
    uncovered.sort();
    for tail in uncovered {
        // A file outside the layout is read by the reports all the same: nothing vouches for it.
        let Some(scope) = digest::scope(tail) else {
            let r = row(
                results,
                &Scope {
                    account: OUTSIDE_LAYOUT.into(),
                    region: String::new(),
                },
            );
            r.logs_uncovered += 1;
            v.status.insert(tail.clone(), "uncovered");
            v.problems.push(format!(
                "log file {}: UNCOVERED: outside the CloudTrail layout (AWSLogs/<account>/CloudTrail/<region>/), no digest can list it",
                quoted(&inputs.logs[tail].name)
            ));
            continue;
        };
        let delivered = digest::log_delivery(tail);
        let in_window = delivered.is_none_or(|t| inputs.window.contains(Some(t)));
        // Delivered after the newest digest's hour: not digested yet, not a gap.
        let pending = match (delivered, newest.get(&scope)) {
            (Some(t), Some(end)) => t >= *end,
            _ => false,
        };
        if !in_window {
            continue;
        }
        if pending {
            v.status.insert(tail.clone(), "pending");
            continue;
        }
        let r = row(results, &scope);
        r.logs_uncovered += 1;
        v.status.insert(tail.clone(), "uncovered");
        v.problems.push(format!(
            "log file {}: UNCOVERED: no digest lists it",
            quoted(&inputs.logs[tail].name)
        ));
    }
}

/// The result row of `scope`, made on first use.
fn row<'a>(results: &'a mut BTreeMap<Scope, ScopeResult>, scope: &Scope) -> &'a mut ScopeResult {
    results.entry(scope.clone()).or_insert_with(|| ScopeResult {
        account: scope.account.clone(),
        region: scope.region.clone(),
        ..Default::default()
    })
}

fn quoted(s: &str) -> String {
    crate::base::text::quoted(std::path::Path::new(s))
}

/// Walk one trail's chain back from its newest digest.
fn walk(
    nodes: &[Node<'_>],
    inputs: &Inputs,
    r: &mut ScopeResult,
    v: &mut Verification,
    vouched: &mut Vouched,
) -> Vec<(Millis, Millis)> {
    let by_tail: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.file.tail.as_str(), i))
        .collect();
    let mut visited = vec![false; nodes.len()];
    let mut intervals: Vec<(Millis, Millis)> = Vec::new();
    // The newer digest's record of this one: (its previousDigestSignature, previousDigestHashValue).
    let mut expected: Option<(Option<String>, Option<String>)> = None;
    let mut at = nodes.len().checked_sub(1);
    while let Some(i) = at {
        if visited[i] {
            break;
        }
        visited[i] = true;
        let n = &nodes[i];
        let verdict = judge(n, inputs, expected.take());
        // The next older digest in the listing, when the chain cannot be followed.
        let older = (0..i).rev().find(|j| !visited[*j]);
        match verdict {
            Err(why) => {
                r.digests_invalid += 1;
                v.status.insert(n.file.tail.clone(), "digest-invalid");
                v.problems
                    .push(format!("digest {}: INVALID: {why}", quoted(&n.file.name)));
                at = older;
                continue;
            }
            Ok(signed) => {
                let d = n.parsed.as_ref().expect("judged valid");
                accept(n, d, signed, r, v, vouched);
                if let (Some(s), Some(e)) = (d.start(), d.end()) {
                    intervals.push((s, e));
                }
                let prev = d
                    .previous_digest_s3_object
                    .as_deref()
                    .and_then(digest::tail);
                match prev {
                    None => at = older,
                    Some(p) => match by_tail.get(p) {
                        Some(j) => {
                            expected = Some((
                                d.previous_digest_signature.clone(),
                                d.previous_digest_hash_value.clone(),
                            ));
                            at = Some(*j);
                        }
                        None if in_scope(p, &inputs.window) => {
                            r.digests_missing += 1;
                            v.problems.push(format!(
                                "digest {}: MISSING: the chain names it, not found",
                                quoted(p)
                            ));
                            at = older;
                        }
                        // Before the listed days: the chain goes on outside the range.
                        None => at = None,
                    },
                }
            }
        }
    }
    unreached(nodes, &visited, r, v);
    intervals.sort();
    let from = intervals.iter().map(|i| i.0).min();
    let until = intervals.iter().map(|i| i.1).max();
    r.covered_from = min_opt(r.covered_from, from);
    r.covered_until = r.covered_until.max(until);
    intervals
}

/// Digests the walk never reached are not part of the chain the newest one vouches for.
fn unreached(nodes: &[Node<'_>], visited: &[bool], r: &mut ScopeResult, v: &mut Verification) {
    for (n, _) in nodes.iter().zip(visited).filter(|(_, seen)| !**seen) {
        r.digests_invalid += 1;
        v.status.insert(n.file.tail.clone(), "digest-invalid");
        v.problems.push(format!(
            "digest {}: INVALID: not in the chain of digests",
            quoted(&n.file.name)
        ));
    }
}

/// A digest judged valid (`signed` by a key from that source) or unsigned but in place: counted,
/// and the log files it lists vouched for.
fn accept(
    n: &Node<'_>,
    d: &Digest,
    signed: Option<KeySource>,
    r: &mut ScopeResult,
    v: &mut Verification,
    vouched: &mut Vouched,
) {
    if let Some(source) = signed {
        r.digests_valid += 1;
        r.keys_sources.insert(source);
        v.fingerprints_used
            .insert(d.digest_public_key_fingerprint.to_ascii_lowercase());
        v.status.insert(n.file.tail.clone(), "digest-valid");
    } else {
        r.digests_unsigned += 1;
        v.status.insert(n.file.tail.clone(), "digest-unsigned");
        v.problems.push(format!(
            "digest {}: UNSIGNED: signature metadata not available (a copy made without it); its log files are checked against it anyway",
            quoted(&n.file.name)
        ));
    }
    for l in &d.log_files {
        if let Some(t) = digest::tail(&l.s3_object) {
            vouched.insert(
                t.to_string(),
                (l.hash_value.to_ascii_lowercase(), signed.is_some()),
            );
        }
    }
}

fn min_opt(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The parts of the range asked for (the window, else the span the chain's digests cover, up
/// to its newest log file) that no digest of the chain covers. Digests meet end to start; a
/// minute of slack is allowed.
fn gaps(
    mut iv: Vec<(Millis, Millis)>,
    newest_log: Option<Millis>,
    window: &Window,
) -> Vec<(Millis, Millis)> {
    iv.sort();
    let start = window.since.or(iv.first().map(|i| i.0)).or(newest_log);
    let end_seen = iv.iter().map(|i| i.1).max().max(newest_log);
    let end = match window.until {
        Some(u) => end_seen.map(|e| e.min(u)),
        None => end_seen,
    };
    let (Some(start), Some(end)) = (start, end) else {
        return Vec::new();
    };
    const SLACK: Millis = 60_000;
    let mut out = Vec::new();
    let mut cursor = start;
    for (s, e) in iv {
        if s > cursor + SLACK && s < end {
            out.push((cursor, s));
        }
        cursor = cursor.max(e);
    }
    if cursor + SLACK < end {
        out.push((cursor, end));
    }
    out
}

/// The latest delivery time among the input's log files that `which` picks.
fn newest_log(inputs: &Inputs, which: impl Fn(&str) -> bool) -> Option<Millis> {
    inputs
        .logs
        .keys()
        .filter(|t| which(t))
        .filter_map(|t| digest::log_delivery(t))
        .max()
}

/// Ranges sorted, with overlapping and touching ones joined.
fn merged(mut g: Vec<(Millis, Millis)>) -> Vec<(Millis, Millis)> {
    g.sort();
    let mut out: Vec<(Millis, Millis)> = Vec::with_capacity(g.len());
    for (a, b) in g {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
