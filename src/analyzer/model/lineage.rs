//! `key_lineage`: every key that descends from a federated root, found by following chained
//! `AssumeRole` calls from the keys `AssumeRoleWithWebIdentity` issued.
//!
//! **A key is an issuance, not a key ID.** AWS reuses temporary (`ASIA…`) access key IDs: two
//! sessions can hold credentials with one key ID at the same time, and CloudTrail never logs the
//! session token that tells them apart. A key's identity is therefore (access key ID, the
//! session's ARN, issue time): an assumption carries all three (`credentials.accessKeyId`,
//! `assumedRoleUser.arn`, `eventTime`), and so does every call made with the key
//! (`userIdentity.accessKeyId`, `userIdentity.arn`, `sessionContext.attributes.creationDate`,
//! which is the issuing event's time to the second). A call is matched on all three; on fewer
//! only where its record lacks one (those matches are counted), and never to an issuance whose
//! ARN or time differs from the record's: that call was made with another issuance of the key
//! ID, one the input does not hold. A chained AssumeRole's parent is matched on all three only:
//! one whose record lacks the parent's ARN or creation time is linked to no key (counted).
//!
//! polars SQL has no recursive CTE, so the transitive closure is computed here and registered
//! as a table; the joins and aggregations that use it stay in `queries/`. The walk goes level by
//! level (breadth first), so every key gets its shortest chain, and keeps a set of keys already
//! reached, so a loop (A → B → A, or hostile records that make a key its own ancestor) ends.
//! It reads whole tables, never files in order: a child's issuing event may come before its
//! parent's in the input. Where two events claim to issue one key (same key ID, ARN and time:
//! only a forged or damaged trail does that), a root's claim wins over a hop's and otherwise the
//! earliest by (eventTime, eventID) is its issuing event: a rule that no order of files can
//! change, and the one the views of `dataset ddl` follow. Each key then has one parent, and its
//! depth is the number of steps up to the first root.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Hash maps probed once per call of the window: foldhash, not SipHash (keys are not secret).
type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use polars::prelude::*;

use crate::base::timefmt::Millis;

use crate::analyzer::model::key_table::{self, Rows, Src};
pub use crate::analyzer::model::key_table::{COLUMNS, KEY_REF, Named};

/// A key's identity: access key ID, the ARN of the session it was issued to, issue time.
type Identity<'t> = (&'t str, Option<&'t str>, Option<Millis>);

/// One issuance of a key. Its other columns are taken from its source row when the table is
/// made, as views into the source tables' strings, never copied.
struct Key<'t> {
    key: &'t str,
    arn: Option<&'t str>,
    issued_at: Option<Millis>,
    src: Src,
    in_window: bool,
    /// Set by the walk for the keys that descend from a root.
    root: usize,
    depth: u32,
}

impl Key<'_> {
    /// The order of `key_lineage`'s rows: one that does not depend on the order of the files.
    fn order(&self) -> (bool, Option<Millis>, &str, Option<&str>) {
        (self.issued_at.is_none(), self.issued_at, self.key, self.arn)
    }
}

/// A table's string column as values.
fn strs<'t>(df: &'t DataFrame, name: &str) -> PolarsResult<Vec<Option<&'t str>>> {
    Ok(df.column(name)?.str()?.iter().collect())
}

fn times(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<Millis>>> {
    Ok(df.column(name)?.datetime()?.phys.iter().collect())
}

fn flags(df: &DataFrame, name: &str) -> PolarsResult<Vec<bool>> {
    Ok(df
        .column(name)?
        .bool()?
        .iter()
        .map(|b| b.unwrap_or(false))
        .collect())
}

/// The order in which events that claim one key are taken: earliest first, without a time last.
fn earliest<'t>(
    time: &[Option<Millis>],
    event: &[Option<&'t str>],
    i: usize,
) -> (bool, Option<Millis>, Option<&'t str>) {
    (time[i].is_none(), time[i], event[i])
}

/// The columns of `role_calls` that match a call made without an access key to its session: the
/// role, the role session name and the session's creation time (see [`match_calls`]).
pub const SESSION_MATCH: [&str; 3] = ["session_issuer_arn", "session_name", "session_created_at"];

/// The columns of `role_calls` that, with the access key ID, tell which issuance of a key ID a
/// call was made with: read for every call.
pub const KEY_MATCH: [&str; 2] = ["identity_arn", "session_created_at"];

/// The issuances of each key ID, in row order: where a record's key, ARN and creation time
/// are looked up.
struct ByKey<'t> {
    ranges: Fast<&'t str, (u32, u32)>,
    /// (row, ARN, issue time) grouped by key ID, each group in row order.
    rows: Vec<(u32, Option<&'t str>, Option<Millis>)>,
}

impl<'t> ByKey<'t> {
    /// `keys` in row order, with their rows.
    fn new(keys: impl Iterator<Item = (u32, Identity<'t>)>) -> Self {
        let mut all: Vec<(&str, u32, Option<&str>, Option<Millis>)> =
            keys.map(|(row, (k, a, t))| (k, row, a, t)).collect();
        all.sort_unstable_by_key(|e| (e.0, e.1));
        let mut ranges: Fast<&str, (u32, u32)> = Fast::default();
        for (i, e) in all.iter().enumerate() {
            let r = ranges.entry(e.0).or_insert((i as u32, i as u32));
            r.1 = i as u32 + 1;
        }
        ByKey {
            ranges,
            rows: all.into_iter().map(|e| (e.1, e.2, e.3)).collect(),
        }
    }

    /// The first row (in row order) of an issuance of `key` whose ARN and issue time are the
    /// record's, where the record has them; and whether the record lacked one (a weaker match).
    fn find(&self, key: &str, arn: Option<&str>, created: Option<Millis>) -> Option<(u32, bool)> {
        let &(from, to) = self.ranges.get(key)?;
        self.rows[from as usize..to as usize]
            .iter()
            .find(|(_, a, t)| {
                arn.is_none_or(|arn| *a == Some(arn)) && created.is_none_or(|c| *t == Some(c))
            })
            .map(|&(row, _, _)| (row, arn.is_none() || created.is_none()))
    }
}

/// What matching the window's calls to their keys found beyond the matches themselves.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MatchStats {
    /// Calls matched on their access key ID with fewer than its ARN and session creation time,
    /// because the record lacks one of them.
    pub by_fewer_fields: u64,
    /// Calls whose access key ID was issued in the input, but never to their session (ARN) at
    /// their session's creation time: made with another issuance of a repeated key ID.
    pub other_issuance: u64,
    /// Chained AssumeRoles whose record lacks the parent session's ARN or creation time: their
    /// keys are linked to no parent.
    pub hops_unlinked: u64,
}

/// No key: a sentinel rather than an Option, half the bytes per call until the column is made.
const NONE: u32 = u32::MAX;

/// Each call's key row by its key ID, session ARN and creation time ([`NONE`] when no key
/// matches), probed on every core, a slice of the rows each (slices of the three columns are
/// views).
fn probe(
    by_key: &ByKey<'_>,
    call_keys: &StringChunked,
    arns: &StringChunked,
    created: &DatetimeChunked,
    weights: Option<&UInt32Chunked>,
) -> (Vec<u32>, MatchStats) {
    use rayon::prelude::*;
    let n = call_keys.len();
    let step = n
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(1 << 14);
    let parts: Vec<(Vec<u32>, MatchStats)> = (0..n)
        .step_by(step)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|&at| {
            let len = step.min(n - at);
            let (k, a, c) = (
                call_keys.slice(at as i64, len),
                arns.slice(at as i64, len),
                created.phys.slice(at as i64, len),
            );
            let mut stats = MatchStats::default();
            let w = weights.map(|w| w.slice(at as i64, len));
            let mut w = w.iter().flat_map(|w| w.iter());
            // The last identity looked up and what it found: a dataset's rollup lists a key's
            // groups one after another, and each lookup is a few cache misses into the keys.
            let mut last = None;
            let out = k
                .iter()
                .zip(a.iter())
                .zip(c.iter())
                .map(|((k, a), c)| {
                    let calls = w.next().flatten().unwrap_or(1) as u64;
                    let Some(k) = k else { return NONE };
                    let found = match last {
                        Some((id, found)) if id == (k, a, c) => found,
                        _ => {
                            let found = match by_key.find(k, a, c) {
                                Some((row, weaker)) => (row, weaker, false),
                                None => (NONE, false, by_key.ranges.contains_key(k)),
                            };
                            last = Some(((k, a, c), found));
                            found
                        }
                    };
                    let (row, weaker, other) = found;
                    stats.by_fewer_fields += weaker as u64 * calls;
                    stats.other_issuance += other as u64 * calls;
                    row
                })
                .collect();
            (out, stats)
        })
        .collect();
    let mut stats = MatchStats::default();
    let mut refs = Vec::with_capacity(n);
    for (r, s) in parts {
        refs.extend(r);
        stats.by_fewer_fields += s.by_fewer_fields;
        stats.other_issuance += s.other_issuance;
    }
    (refs, stats)
}

/// The few calls without a key, matched by their session: role ARN, session name and creation
/// time.
fn match_sessions(
    keys: &[&Key<'_>],
    sessions: &[(Option<&str>, Option<&str>)],
    role_calls: &DataFrame,
    refs: &mut [u32],
) -> PolarsResult<()> {
    let mut by_session: Fast<(&str, &str, Millis), u32> = Fast::default();
    for (row, (k, s)) in keys.iter().zip(sessions).enumerate() {
        if let (Some(r), Some(n), Some(t)) = (s.0, s.1, k.issued_at) {
            by_session.entry((r, n, t)).or_insert(row as u32);
        }
    }
    let call_keys = role_calls.column("access_key_id")?.str()?;
    let created = role_calls.column("session_created_at")?.datetime()?;
    let rows = call_keys
        .iter()
        .zip(role_calls.column("session_issuer_arn")?.str()?.iter())
        .zip(role_calls.column("session_name")?.str()?.iter())
        .zip(created.phys.iter());
    for (slot, (((k, r), n), c)) in refs.iter_mut().zip(rows) {
        if k.is_none()
            && let (Some(r), Some(n), Some(c)) = (r, n, c)
        {
            *slot = by_session.get(&(r, n, c)).copied().unwrap_or(NONE);
        }
    }
    Ok(())
}

/// Which key each of the window's calls (`role_calls`) was made with, as its row in the
/// lineage (`key_ref`), matched as `queries/calls.sql` documents: by access key ID, the
/// session's ARN and creation time (see the module's documentation), or for a record without a
/// key by role ARN, session name and session creation time. Where one session matches several
/// keys (two issued in the same second), the first row takes the call: one rule, which the
/// Spark and Athena views follow too. The calls are probed against the keys (a few per
/// instance and hour), never gathered into a set of their own (a trail's noise can hold a key
/// per call). A table without the key columns matches nothing.
fn match_calls(
    by_key: &ByKey<'_>,
    keys: &[&Key<'_>],
    sessions: &[(Option<&str>, Option<&str>)],
    role_calls: &DataFrame,
    weights: Option<&UInt32Chunked>,
) -> PolarsResult<(UInt32Chunked, MatchStats)> {
    let col = |name: &str| role_calls.column(name).ok();
    let Some(call_keys) = col("access_key_id") else {
        let none = UInt32Chunked::full_null(KEY_REF.into(), role_calls.height());
        return Ok((none, MatchStats::default()));
    };
    let call_keys = call_keys.str()?;
    let empty_arn = StringChunked::full_null("".into(), role_calls.height());
    let arns = match col(KEY_MATCH[0]) {
        Some(c) => c.str()?,
        None => &empty_arn,
    };
    let no_time = Int64Chunked::full_null("".into(), role_calls.height())
        .into_datetime(TimeUnit::Milliseconds, None);
    let created = match col(KEY_MATCH[1]) {
        Some(c) => c.datetime()?,
        None => &no_time,
    };
    let keyless = call_keys.null_count() > 0;
    let (mut refs, stats) = probe(by_key, call_keys, arns, created, weights);
    if keyless && SESSION_MATCH.iter().all(|c| col(c).is_some()) {
        match_sessions(keys, sessions, role_calls, &mut refs)?;
    }
    // Most trails match every call: then the values are the column as they are.
    let refs = match refs.contains(&NONE) {
        false => UInt32Chunked::from_vec(KEY_REF.into(), refs),
        true => UInt32Chunked::from_iter_options(
            KEY_REF.into(),
            refs.into_iter().map(|r| (r != NONE).then_some(r)),
        ),
    };
    Ok((refs, stats))
}

/// `key` joins the issuances unless an earlier one holds its identity.
fn claim<'t>(claimed: &mut Fast<Identity<'t>, usize>, all: &mut Vec<Key<'t>>, key: Key<'t>) {
    if let Entry::Vacant(slot) = claimed.entry((key.key, key.arn, key.issued_at)) {
        slot.insert(all.len());
        all.push(key);
    }
}

/// The keys successful assumptions issued, earliest first, each identity once.
fn root_issuances<'t>(
    assumptions: &'t DataFrame,
    claimed: &mut Fast<Identity<'t>, usize>,
    all: &mut Vec<Key<'t>>,
) -> PolarsResult<()> {
    let a_key = strs(assumptions, "access_key_id")?;
    let a_arn = strs(assumptions, "assumed_role_arn")?;
    let a_err = strs(assumptions, "error_code")?;
    let a_time = times(assumptions, "event_time")?;
    let a_event = strs(assumptions, "event_id")?;
    let a_window = flags(assumptions, "in_window")?;
    let mut by_time: Vec<usize> = (0..assumptions.height()).collect();
    by_time.sort_by_key(|&i| earliest(&a_time, &a_event, i));
    for i in by_time {
        let Some(key) = a_key[i].filter(|_| a_err[i].is_none()) else {
            continue;
        };
        claim(
            claimed,
            all,
            Key {
                key,
                arn: a_arn[i],
                issued_at: a_time[i],
                src: Src::Root(i as IdxSize),
                in_window: a_window[i],
                root: usize::MAX,
                depth: 0,
            },
        );
    }
    Ok(())
}

/// The keys successful chained AssumeRoles issued (earliest first, each identity no earlier
/// claim holds), and the sharedEventID of each key whose target-account copy is in the input
/// (the least, should there be several).
fn chained_issuances<'t>(
    hops: &'t DataFrame,
    claimed: &mut Fast<Identity<'t>, usize>,
    all: &mut Vec<Key<'t>>,
) -> PolarsResult<Fast<Identity<'t>, &'t str>> {
    let h_key = strs(hops, "access_key_id")?;
    let h_arn = strs(hops, "assumed_role_arn")?;
    let h_parent = strs(hops, "parent_key")?;
    let h_err = strs(hops, "error_code")?;
    let h_type = strs(hops, "identity_type")?;
    let h_shared = strs(hops, "shared_event_id")?;
    let h_time = times(hops, "event_time")?;
    let h_event = strs(hops, "event_id")?;
    let h_window = flags(hops, "in_window")?;
    let mut target_copy: Fast<Identity, &str> = Fast::default();
    let mut by_time: Vec<usize> = Vec::new();
    for i in 0..hops.height() {
        let (Some(child), None) = (h_key[i], h_err[i]) else {
            continue;
        };
        if h_type[i] == Some("AWSAccount") {
            if let Some(shared) = h_shared[i] {
                let least = target_copy
                    .entry((child, h_arn[i], h_time[i]))
                    .or_insert(shared);
                *least = (*least).min(shared);
            }
        } else if h_parent[i].is_some() {
            by_time.push(i);
        }
    }
    by_time.sort_by_key(|&i| earliest(&h_time, &h_event, i));
    for i in by_time {
        let key = h_key[i].expect("hops with a key");
        claim(
            claimed,
            all,
            Key {
                key,
                arn: h_arn[i],
                issued_at: h_time[i],
                src: Src::Hop(i as IdxSize),
                in_window: h_window[i],
                root: usize::MAX,
                depth: 0,
            },
        );
    }
    Ok(target_copy)
}

/// Each key's chained children: a chained AssumeRole names its parent by its whole identity, so
/// one whose record lacks the parent session's ARN or creation time is linked to no key
/// (counted), rather than to the first issuance of a key ID that AWS may have given another
/// session.
fn link(
    all: &[Key<'_>],
    roots: usize,
    claimed: &Fast<Identity<'_>, usize>,
    hops: &DataFrame,
) -> PolarsResult<(Vec<Vec<usize>>, u64)> {
    let h_parent = strs(hops, "parent_key")?;
    let h_parent_arn = strs(hops, "parent_arn")?;
    let h_parent_created = times(hops, "parent_created_at")?;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); all.len()];
    let mut unlinked = 0u64;
    for (i, k) in all.iter().enumerate().skip(roots) {
        let Src::Hop(h) = k.src else { continue };
        let h = h as usize;
        let (Some(p), Some(arn), Some(at)) = (h_parent[h], h_parent_arn[h], h_parent_created[h])
        else {
            unlinked += 1;
            continue;
        };
        if let Some(&parent) = claimed.get(&(p, Some(arn), Some(at))) {
            children[parent].push(i);
        }
    }
    Ok((children, unlinked))
}

/// The walk from every root (the first `roots` keys) down its children, level by level: each
/// key reached gets its root and depth. Which keys were reached.
fn descend(all: &mut [Key<'_>], roots: usize, children: &[Vec<usize>]) -> Vec<bool> {
    let mut reached = vec![false; all.len()];
    let mut level: Vec<usize> = (0..roots).collect();
    for (i, k) in all.iter_mut().enumerate().take(roots) {
        reached[i] = true;
        k.root = i;
    }
    while !level.is_empty() {
        let mut next = Vec::new();
        for p in level {
            for &c in &children[p] {
                if !reached[c] {
                    reached[c] = true;
                    let (root, depth) = (all[p].root, all[p].depth + 1);
                    all[c].root = root;
                    all[c].depth = depth;
                    next.push(c);
                }
            }
        }
        level = next;
    }
    reached
}

/// The lineage of every key issued by a successful assumption in `assumptions` (roots, depth
/// 0) through the successful chained AssumeRoles in `hops`, and whether one of the window's
/// calls in `role_calls` was made with it; and for each of those calls, its key's row
/// (`key_ref`, null for a call made with no key of the lineage). The tables are de-duplicated.
pub fn build(
    assumptions: &DataFrame,
    hops: &DataFrame,
    role_calls: &DataFrame,
) -> PolarsResult<(DataFrame, UInt32Chunked, MatchStats)> {
    let mut refs = None;
    let (lineage, stats) = build_by(assumptions, hops, None, |m| {
        refs = Some(m.key_refs(role_calls)?);
        Ok(())
    })?;
    let refs = refs.expect("matched once");
    Ok((lineage, refs, stats))
}

/// [`build`], with the window's calls given by `feed` in as many pieces as it likes (a
/// dataset's parts): each piece is matched by [`Matcher::key_refs`], and a key is
/// `used_in_window` when a call of any piece was made with it.
pub fn build_by(
    assumptions: &DataFrame,
    hops: &DataFrame,
    named: Option<&Named>,
    feed: impl FnOnce(&Matcher<'_, '_>) -> PolarsResult<()>,
) -> PolarsResult<(DataFrame, MatchStats)> {
    // Every issuance, one per identity, by identity: the roots', then the chained keys' (the
    // earliest claim of each identity no root holds).
    let mut claimed: Fast<Identity, usize> = Fast::default();
    // At most a key per row: a vector grown by doubling held up to twice its keys (72 bytes
    // each) while the window's calls were read.
    let mut all: Vec<Key> = Vec::with_capacity(assumptions.height() + hops.height());
    root_issuances(assumptions, &mut claimed, &mut all)?;
    let roots = all.len();
    let target_copy = chained_issuances(hops, &mut claimed, &mut all)?;
    let (children, unlinked) = link(&all, roots, &claimed, hops)?;
    // What only the linking needs is freed before the table is built: the peak of a report
    // over a long window is reached while it is (130 MB of identities at 30M events).
    drop(claimed);
    let reached = descend(&mut all, roots, &children);
    drop(children);

    // The lineage's rows, in row order (`Key::order`).
    let mut order: Vec<usize> = (0..all.len()).filter(|&i| reached[i]).collect();
    order.sort_by(|&a, &b| all[a].order().cmp(&all[b].order()));
    let keys: Vec<&Key> = order.iter().map(|&i| &all[i]).collect();
    // Read whole, not row by row: a dataset's tables come in thousands of chunks.
    let (a_role, a_session) = (
        strs(assumptions, "role_arn")?,
        strs(assumptions, "session_name")?,
    );
    let (h_role, h_session) = (strs(hops, "role_arn")?, strs(hops, "session_name")?);
    let sessions: Vec<(Option<&str>, Option<&str>)> = keys
        .iter()
        .map(|k| match k.src {
            Src::Root(i) => (a_role[i as usize], a_session[i as usize]),
            Src::Hop(h) => (h_role[h as usize], h_session[h as usize]),
        })
        .collect();
    let rows = rows(&keys, &all, &target_copy);
    drop(target_copy);
    let matcher = Matcher {
        tables: (assumptions, hops),
        rows: &rows,
        by_key: ByKey::new(
            keys.iter()
                .enumerate()
                .map(|(row, k)| (row as u32, (k.key, k.arn, k.issued_at))),
        ),
        keys: &keys,
        sessions: &sessions,
        used: (0..keys.len()).map(|_| Default::default()).collect(),
        by_fewer_fields: Default::default(),
        other_issuance: Default::default(),
        named,
    };
    feed(&matcher)?;
    let Matcher {
        used,
        by_fewer_fields,
        other_issuance,
        by_key,
        ..
    } = matcher;
    drop((by_key, sessions));
    let used: Vec<bool> = used.into_iter().map(|u| u.into_inner()).collect();
    let stats = MatchStats {
        by_fewer_fields: by_fewer_fields.into_inner(),
        other_issuance: other_issuance.into_inner(),
        hops_unlinked: unlinked,
    };
    let table = key_table::frame((assumptions, hops), &rows, Some(&used), named)?;
    Ok((table, stats))
}

/// What the table is made of, per key of `keys` (rows of `all`): its source row, its root's (the
/// matcher answers with it, and the table names it), and its target-account copy.
fn rows<'t>(
    keys: &[&Key<'t>],
    all: &[Key<'t>],
    target_copy: &Fast<Identity<'t>, &'t str>,
) -> Rows<'t> {
    Rows {
        src: keys.iter().map(|k| k.src).collect(),
        roots: keys.iter().map(|k| all[k.root].src).collect(),
        depth: keys.iter().map(|k| k.depth).collect(),
        in_window: keys.iter().map(|k| k.in_window).collect(),
        shared: keys
            .iter()
            .map(|k| match k.src {
                Src::Hop(_) => target_copy.get(&(k.key, k.arn, k.issued_at)).copied(),
                Src::Root(_) => None,
            })
            .collect(),
    }
}

/// Matches calls to the lineage's keys, piece by piece, remembering which keys were used and
/// what the matching found.
pub struct Matcher<'k, 't> {
    /// The assumptions and hops the keys were issued by.
    tables: (&'t DataFrame, &'t DataFrame),
    /// What the table is made of.
    rows: &'k Rows<'t>,
    keys: &'k [&'k Key<'t>],
    sessions: &'k [(Option<&'t str>, Option<&'t str>)],
    by_key: ByKey<'t>,
    used: Vec<std::sync::atomic::AtomicBool>,
    by_fewer_fields: std::sync::atomic::AtomicU64,
    other_issuance: std::sync::atomic::AtomicU64,
    /// The columns of the table to build (all when `None`).
    named: Option<&'k Named>,
}

impl Matcher<'_, '_> {
    /// The assumptions and hops the keys were issued by.
    pub fn sources(&self) -> (&DataFrame, &DataFrame) {
        self.tables
    }

    /// The lineage's table as it will be, but for `used_in_window` (null: not known until every
    /// call is matched).
    pub fn table(&self) -> PolarsResult<DataFrame> {
        key_table::frame(self.tables, self.rows, None, self.named)
    }

    /// The rows of [`Matcher::table`] of the keys (rows) `keys`, in that order, made for them
    /// alone: a piece of the calls joins to its own keys' rows, and the whole table held while
    /// every piece is read was 81 MB at 30M events.
    pub fn table_of(&self, keys: &[IdxSize]) -> PolarsResult<DataFrame> {
        let rows = self.rows.of(keys);
        let mut df = key_table::frame(self.tables, &rows, None, self.named)?;
        let refs = UInt32Chunked::from_iter_values(KEY_REF.into(), keys.iter().copied());
        df.with_column(refs.into_column())?;
        Ok(df)
    }

    /// How many keys (rows) the lineage has.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// The access key ID of key (row) `key`.
    pub fn key_id(&self, key: usize) -> &str {
        self.keys[key].key
    }

    /// The row of the assumptions that issued the root of key (row) `key`.
    pub fn root_row(&self, key: usize) -> Option<IdxSize> {
        match self.rows.roots[key] {
            Src::Root(i) => Some(i),
            Src::Hop(_) => None,
        }
    }

    /// Each call's `key_ref` (see [`match_calls`]); the keys they name are marked used. Pieces
    /// can be matched on every core at once.
    pub fn key_refs(&self, role_calls: &DataFrame) -> PolarsResult<UInt32Chunked> {
        self.key_refs_counted(role_calls, None)
    }

    /// [`Matcher::key_refs`] of calls that are (or will be) matched once more, counted then:
    /// the same answer, not counted into the stats the notices and the manifest report.
    pub fn key_refs_again(&self, role_calls: &DataFrame) -> PolarsResult<UInt32Chunked> {
        let (refs, _) = match_calls(&self.by_key, self.keys, self.sessions, role_calls, None)?;
        Ok(refs)
    }

    /// [`Matcher::key_refs`] of rows that stand for `weights` calls each (groups of calls
    /// alike in what matching reads; `None`: one each), counted as that many calls.
    pub fn key_refs_counted(
        &self,
        role_calls: &DataFrame,
        weights: Option<&UInt32Chunked>,
    ) -> PolarsResult<UInt32Chunked> {
        use std::sync::atomic::Ordering::Relaxed;
        let (refs, stats) =
            match_calls(&self.by_key, self.keys, self.sessions, role_calls, weights)?;
        for r in refs.downcast_iter().flat_map(|a| a.iter().flatten()) {
            self.used[*r as usize].store(true, Relaxed);
        }
        self.by_fewer_fields
            .fetch_add(stats.by_fewer_fields, Relaxed);
        self.other_issuance.fetch_add(stats.other_issuance, Relaxed);
        Ok(refs)
    }
}

/// `key_lineage` with no rows: its schema.
pub fn empty() -> DataFrame {
    let table = |name: &str| {
        let mut df = crate::analyzer::model::schema::empty_raw(name).expect("a model table");
        let _ = df.drop_in_place(crate::analyzer::model::dedupe::SEQ);
        df
    };
    build(&table("assumptions"), &table("hops"), &DataFrame::empty())
        .expect("static columns")
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_times(mut df: DataFrame, cols: &[&str]) -> DataFrame {
        for c in cols {
            let t = df
                .column(c)
                .unwrap()
                .cast(&DataType::Datetime(
                    TimeUnit::Milliseconds,
                    Some(TimeZone::UTC),
                ))
                .unwrap();
            df.with_column(t).unwrap();
        }
        df
    }

    fn session_arn(acct: &str, role: &str, session: &str) -> String {
        format!("arn:aws:sts::{acct}:assumed-role/{role}/{session}")
    }

    /// Roots as (key, session name, issue time).
    fn roots_at(rows: &[(&str, &str, i64)]) -> DataFrame {
        let n = rows.len();
        let df = df!(
            "access_key_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "error_code" => vec![None::<&str>; n],
            "role_arn" => vec!["arn:aws:iam::1:role/root"; n],
            "account_id" => vec!["1"; n],
            "session_name" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "assumed_role_arn" => rows.iter().map(|r| session_arn("1", "root", r.1)).collect::<Vec<_>>(),
            "source_identity" => vec![None::<&str>; n],
            "event_time" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "expires_at" => vec![3_600_000i64; n],
            "issuing_ip" => vec!["10.0.0.1"; n],
            "event_id" => rows.iter().map(|r| format!("ev-{}-{}", r.0, r.1)).collect::<Vec<_>>(),
            "in_window" => vec![true; n],
        )
        .unwrap();
        with_times(df, &["event_time", "expires_at"])
    }

    /// Roots issued at 0, 1, 2, ... to session "p.i".
    fn roots(keys: &[&str]) -> DataFrame {
        let rows: Vec<(&str, &str, i64)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, "p.i", i as i64))
            .collect();
        roots_at(&rows)
    }

    /// A chained AssumeRole: made with `parent` (key, its session's ARN, its creation time),
    /// issuing `child` to a session of role `child` named `session`, at `at`.
    struct Hop<'a> {
        parent: Option<(&'a str, Option<String>, Option<i64>)>,
        child: &'a str,
        kind: &'a str,
        session: &'a str,
        at: i64,
    }

    fn hop<'a>(
        parent: Option<(&'a str, Option<String>, Option<i64>)>,
        child: &'a str,
        at: i64,
    ) -> Hop<'a> {
        Hop {
            parent,
            child,
            kind: "AssumedRole",
            session: "s",
            at,
        }
    }

    /// The parent identity of a key issued by [`roots_at`] or [`hop`].
    fn of_root<'a>(
        key: &'a str,
        session: &str,
        at: i64,
    ) -> Option<(&'a str, Option<String>, Option<i64>)> {
        Some((key, Some(session_arn("1", "root", session)), Some(at)))
    }

    fn of_hop<'a>(
        key: &'a str,
        role: &str,
        at: i64,
    ) -> Option<(&'a str, Option<String>, Option<i64>)> {
        Some((key, Some(session_arn("2", role, "s")), Some(at)))
    }

    fn hops(rows: &[Hop<'_>]) -> DataFrame {
        let n = rows.len();
        let df = df!(
            "access_key_id" => rows.iter().map(|r| r.child).collect::<Vec<_>>(),
            "parent_key" => rows.iter().map(|r| r.parent.as_ref().map(|p| p.0)).collect::<Vec<_>>(),
            "parent_arn" => rows.iter().map(|r| r.parent.as_ref().and_then(|p| p.1.clone())).collect::<Vec<_>>(),
            "parent_created_at" => rows.iter().map(|r| r.parent.as_ref().and_then(|p| p.2)).collect::<Vec<_>>(),
            "error_code" => vec![None::<&str>; n],
            "identity_type" => rows.iter().map(|r| r.kind).collect::<Vec<_>>(),
            "shared_event_id" => rows.iter().map(|r| (r.kind == "AWSAccount").then_some("shared")).collect::<Vec<_>>(),
            "role_arn" => rows.iter().map(|r| format!("arn:aws:iam::2:role/{}", r.child)).collect::<Vec<_>>(),
            "account_id" => vec!["2"; n],
            "session_name" => rows.iter().map(|r| r.session).collect::<Vec<_>>(),
            "assumed_role_arn" => rows.iter().map(|r| session_arn("2", r.child, r.session)).collect::<Vec<_>>(),
            "source_identity" => vec![None::<&str>; n],
            "event_time" => rows.iter().map(|r| r.at).collect::<Vec<_>>(),
            "expires_at" => vec![3_600_000i64; n],
            "source_ip" => vec!["10.0.0.1"; n],
            "event_id" => (0..n).map(|i| format!("hop-{i}")).collect::<Vec<_>>(),
            "in_window" => vec![true; n],
        )
        .unwrap();
        with_times(df, &["event_time", "expires_at", "parent_created_at"])
    }

    /// (key, parent, root, depth, issuing event) of every row, sorted.
    fn rows(df: &DataFrame) -> Vec<(String, Option<String>, String, u32, String)> {
        let s = |c: &str| -> Vec<Option<String>> {
            df.column(c)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect()
        };
        let (k, p, r, e) = (
            s("access_key_id"),
            s("parent_key"),
            s("root_key"),
            s("event_id"),
        );
        let d: Vec<u32> = df
            .column("depth")
            .unwrap()
            .u32()
            .unwrap()
            .iter()
            .flatten()
            .collect();
        let mut out: Vec<_> = (0..df.height())
            .map(|i| {
                (
                    k[i].clone().unwrap(),
                    p[i].clone(),
                    r[i].clone().unwrap(),
                    d[i],
                    e[i].clone().unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    fn no_calls() -> DataFrame {
        DataFrame::empty()
    }

    #[test]
    fn the_table_shares_the_strings_of_the_tables_it_is_made_from() {
        // Roots and hops are two sources: their rows, put together, are gathered from one chunk,
        // which polars does without copying a string (from two, it copies each).
        let r = roots(&["R1", "R2", "R3", "R4"]);
        let h = hops(&[
            hop(of_root("R1", "p.i", 0), "A1", 10),
            hop(of_root("R2", "p.i", 1), "A2", 11),
            hop(of_root("R3", "p.i", 2), "A3", 12),
        ]);
        let (df, _, _) = build(&r, &h, &no_calls()).unwrap();
        assert_eq!(df.height(), 7);
        let buffers = |c: &Column| -> Vec<*const u8> {
            c.str()
                .unwrap()
                .downcast_iter()
                .flat_map(|a| a.data_buffers().iter().map(|b| b.as_ptr()))
                .collect()
        };
        let sources = [
            buffers(r.column("role_arn").unwrap()),
            buffers(h.column("role_arn").unwrap()),
        ]
        .concat();
        let made = buffers(df.column("role_arn").unwrap());
        assert!(!made.is_empty(), "the ARNs are longer than a view holds");
        assert!(
            made.iter().all(|b| sources.contains(b)),
            "{made:?} {sources:?}"
        );
    }

    #[test]
    fn chains_are_followed_to_any_depth_and_loops_end() {
        // R -> A -> B, then B claims R's own issuance and A's again (a loop), and an orphan.
        let h = hops(&[
            hop(of_hop("B", "B", 11), "R", 0),
            hop(of_hop("A", "A", 10), "B", 11),
            hop(of_hop("R", "R", 0), "A", 10),
            hop(of_hop("B", "B", 11), "A", 10),
            hop(Some(("X", None, None)), "Y", 12),
        ]);
        let mut r = roots(&["R"]);
        // The hostile claim of R names R's own session and time: one identity, the root's.
        let same = Column::new("".into(), [session_arn("2", "R", "s")]);
        r.with_column(same.with_name("assumed_role_arn".into()))
            .unwrap();
        let (df, _, stats) = build(&r, &h, &no_calls()).unwrap();
        // X -> Y names its parent by key ID alone: linked to nothing, and counted.
        assert_eq!(stats.hops_unlinked, 1);
        let got = rows(&df);
        assert_eq!(
            got,
            vec![
                ("A".into(), Some("R".into()), "R".into(), 1, "hop-2".into()),
                ("B".into(), Some("A".into()), "R".into(), 2, "hop-1".into()),
                ("R".into(), None, "R".into(), 0, "ev-R-p.i".into()),
            ]
        );
    }

    #[test]
    fn an_issuance_claimed_twice_keeps_its_earliest_issuing_event() {
        // C (one identity: key, session, time) is claimed by hop-0 (from A) and hop-2 (from R):
        // both at time 20, so the earliest by event ID, hop-0, is its issuing event.
        let h = hops(&[
            hop(of_hop("A", "A", 10), "C", 20),
            hop(of_root("R", "p.i", 0), "A", 10),
            hop(of_root("R", "p.i", 0), "C", 20),
        ]);
        let got = rows(&build(&roots(&["R"]), &h, &no_calls()).unwrap().0);
        let c = got.iter().find(|r| r.0 == "C").unwrap();
        assert_eq!(
            c,
            &("C".into(), Some("A".into()), "R".into(), 2, "hop-0".into())
        );
        assert_eq!(got.len(), 3);
    }

    /// Calls as (key, session ARN, session creation time).
    fn calls(rows: &[(Option<&str>, Option<String>, Option<i64>)]) -> DataFrame {
        let n = rows.len();
        with_times(
            df!(
                "access_key_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                "identity_arn" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
                "session_issuer_arn" => vec![None::<&str>; n],
                "session_name" => vec![None::<&str>; n],
                "session_created_at" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )
            .unwrap(),
            &["session_created_at"],
        )
    }

    /// Each row's (key, session name, issue time) as the lineage orders them.
    fn identities(df: &DataFrame) -> Vec<(String, String, i64)> {
        let k = strs(df, "access_key_id").unwrap();
        let a = strs(df, "assumed_role_arn").unwrap();
        let t = times(df, "issued_at").unwrap();
        (0..df.height())
            .map(|i| {
                let arn = a[i].unwrap();
                (
                    k[i].unwrap().to_string(),
                    arn.rsplit('/').next().unwrap().to_string(),
                    t[i].unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn a_key_id_issued_twice_is_two_keys_and_each_call_finds_its_own() {
        // K issued to vm-1 at 100 and to vm-2 at 200, both alive at once; and K to vm-3 in the
        // same second as vm-2's: the ARN tells them apart.
        let r = roots_at(&[
            ("K", "p.vm-1", 100),
            ("K", "p.vm-2", 200),
            ("K", "p.vm-3", 200),
        ]);
        let c = calls(&[
            (
                Some("K"),
                Some(session_arn("1", "root", "p.vm-2")),
                Some(200),
            ),
            (
                Some("K"),
                Some(session_arn("1", "root", "p.vm-1")),
                Some(100),
            ),
            (
                Some("K"),
                Some(session_arn("1", "root", "p.vm-3")),
                Some(200),
            ),
            // Lacks its creation time: matched on key and ARN, and counted.
            (Some("K"), Some(session_arn("1", "root", "p.vm-3")), None),
            // Lacks both: the first issuance of K, counted.
            (Some("K"), None, None),
            // Another session's issuance of K, not in the input: nobody's.
            (
                Some("K"),
                Some(session_arn("1", "root", "p.vm-9")),
                Some(300),
            ),
            // vm-1's ARN at vm-2's time: no issuance is both.
            (
                Some("K"),
                Some(session_arn("1", "root", "p.vm-1")),
                Some(200),
            ),
        ]);
        let (df, refs, stats) = build(&r, &hops(&[]), &c).unwrap();
        let ids = identities(&df);
        assert_eq!(
            ids,
            vec![
                ("K".into(), "p.vm-1".into(), 100),
                ("K".into(), "p.vm-2".into(), 200),
                ("K".into(), "p.vm-3".into(), 200),
            ]
        );
        assert_eq!(
            refs.iter().collect::<Vec<_>>(),
            [Some(1), Some(0), Some(2), Some(2), Some(0), None, None]
        );
        assert_eq!(
            stats,
            MatchStats {
                by_fewer_fields: 2,
                other_issuance: 2,
                hops_unlinked: 0,
            }
        );
    }

    #[test]
    fn a_chained_key_id_issued_twice_descends_from_each_of_its_parents() {
        // Two instances' sessions chain into one role and are given the same key ID C.
        let r = roots_at(&[("R1", "p.vm-1", 0), ("R2", "p.vm-2", 5)]);
        let mut h1 = hop(of_root("R1", "p.vm-1", 0), "C", 10);
        h1.session = "a";
        let mut h2 = hop(of_root("R2", "p.vm-2", 5), "C", 20);
        h2.session = "b";
        let c = calls(&[
            (Some("C"), Some(session_arn("2", "C", "b")), Some(20)),
            (Some("C"), Some(session_arn("2", "C", "a")), Some(10)),
        ]);
        let (df, refs, _) = build(&r, &hops(&[h1, h2]), &c).unwrap();
        let roots = strs(&df, "root_key").unwrap();
        let ids = identities(&df);
        let row = |s: &str| ids.iter().position(|i| i.0 == "C" && i.1 == s).unwrap();
        assert_eq!(roots[row("a")], Some("R1"));
        assert_eq!(roots[row("b")], Some("R2"));
        assert_eq!(
            refs.iter().collect::<Vec<_>>(),
            [Some(row("b") as u32), Some(row("a") as u32)]
        );
    }

    /// Each row's key, and whether a call was made with it.
    fn keys_used(df: &DataFrame) -> (Vec<Option<&str>>, Vec<Option<bool>>) {
        let used = df.column("used_in_window").unwrap().bool().unwrap();
        (strs(df, "access_key_id").unwrap(), used.iter().collect())
    }

    #[test]
    fn a_key_is_used_by_its_own_calls_or_a_keyless_call_of_its_session() {
        let h = hops(&[
            hop(of_root("R", "p.i", 0), "A", 10),
            hop(of_root("R", "p.i", 0), "B", 11),
        ]);
        // A keyless call of B's session (its role, session name and creation time), one of R.
        let calls = with_times(
            df!(
                "access_key_id" => [Some("R"), None, None],
                "session_issuer_arn" => ["x", "arn:aws:iam::2:role/B", "arn:aws:iam::2:role/A"],
                "session_name" => ["x", "s", "other"],
                "session_created_at" => [0i64, 11, 10],
            )
            .unwrap(),
            &["session_created_at"],
        );
        let (df, refs, _) = build(&roots(&["R"]), &h, &calls).unwrap();
        let (keys, used) = keys_used(&df);
        let of = |k: &str| used[keys.iter().position(|x| *x == Some(k)).unwrap()];
        assert_eq!(
            (of("R"), of("A"), of("B")),
            (Some(true), Some(false), Some(true))
        );
        // Each call names its key's row; the keyless call of no key's session names none.
        let row = |k: &str| keys.iter().position(|x| *x == Some(k)).map(|i| i as u32);
        assert_eq!(refs.iter().collect::<Vec<_>>(), [row("R"), row("B"), None]);
        let own: Vec<Option<u32>> = df.column(KEY_REF).unwrap().u32().unwrap().iter().collect();
        assert_eq!(own, (0..df.height() as u32).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn a_keyless_call_whose_session_two_keys_share_is_the_first_keys_alone() {
        // R issues A and B under one role, session name and second: a call of that session
        // without a key belongs to one of them (the first row), never to both.
        let mut h = hops(&[
            hop(of_root("R", "p.i", 0), "B", 10),
            hop(of_root("R", "p.i", 0), "A", 10),
        ]);
        let n = h.height();
        h.with_column(Column::new(
            "role_arn".into(),
            vec!["arn:aws:iam::2:role/x"; n],
        ))
        .unwrap();
        let calls = with_times(
            df!(
                "access_key_id" => [None::<&str>],
                "session_issuer_arn" => ["arn:aws:iam::2:role/x"],
                "session_name" => ["s"],
                "session_created_at" => [10i64],
            )
            .unwrap(),
            &["session_created_at"],
        );
        let (df, refs, _) = build(&roots(&["R"]), &h, &calls).unwrap();
        let (keys, used) = keys_used(&df);
        // Rows in (issued_at, key) order: A before B.
        let a = keys.iter().position(|k| *k == Some("A")).unwrap();
        let b = keys.iter().position(|k| *k == Some("B")).unwrap();
        assert!(a < b);
        assert_eq!(refs.get(0), Some(a as u32));
        assert_eq!((used[a], used[b]), (Some(true), Some(false)));
    }

    #[test]
    fn the_target_accounts_copy_marks_the_hop_and_is_no_edge() {
        let mut copy = hop(None, "A", 10);
        copy.kind = "AWSAccount";
        let h = hops(&[copy, hop(of_root("R", "p.i", 0), "A", 10)]);
        let df = build(&roots(&["R"]), &h, &no_calls()).unwrap().0;
        assert_eq!(df.height(), 2);
        let shared: Vec<Option<&str>> = strs(&df, "shared_event_id").unwrap();
        let keys: Vec<Option<&str>> = strs(&df, "access_key_id").unwrap();
        let a = keys.iter().position(|k| *k == Some("A")).unwrap();
        assert_eq!(shared[a], Some("shared"));
        assert_eq!(shared[1 - a], None);
        assert_eq!(df.schema().len(), COLUMNS.len());
    }
}
