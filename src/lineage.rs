//! `key_lineage`: every key that descends from a federated root, found by following chained
//! `AssumeRole` calls from the keys `AssumeRoleWithWebIdentity` issued.
//!
//! polars SQL has no recursive CTE, so the transitive closure is computed here and registered
//! as a table; the joins and aggregations that use it stay in `queries/`. The walk goes level by
//! level (breadth first), so every key gets its shortest chain, and keeps a set of keys already
//! reached, so a loop (A → B → A, or hostile records that make a key its own ancestor) ends.
//! It reads whole tables, never files in order: a child's issuing event may come before its
//! parent's in the input. Where two events claim to issue one key (only a forged or damaged trail
//! does that), the earliest by (eventTime, eventID) is its issuing event and the others are
//! ignored: a rule that no order of files can change, and the one the views of `dataset ddl`
//! follow. Each key then has one parent, and its depth is the number of steps up to the first
//! root.

use std::collections::{HashMap, HashSet};

/// Hash maps probed once per call of the window: foldhash, not SipHash (keys are not secret).
type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

use polars::prelude::*;

use crate::timefmt::Millis;

/// A key's row in `key_lineage`, and in `role_calls` the row of the key each call was made
/// with: what `queries/calls.sql` joins on (an integer join, where the access key was a string
/// one). Rows are numbered in `key_lineage`'s order, so the number depends on what was read.
pub const KEY_REF: &str = "key_ref";

/// The columns of `key_lineage`, in order.
pub const COLUMNS: [&str; 17] = [
    "access_key_id",
    "parent_key",
    "root_key",
    "depth",
    "role_arn",
    "account_id",
    "session_name",
    "source_identity",
    "issued_at",
    "expires_at",
    "issuing_ip",
    "event_id",
    "shared_event_id",
    "root_event_id",
    "in_window",
    "used_in_window",
    KEY_REF,
];

/// Where a key's row comes from: an assumption's row (a root) or a hop's.
#[derive(Clone, Copy)]
enum Src {
    Root(IdxSize),
    Hop(IdxSize),
}

/// One key: where it came from. Its other columns are taken from its source row when the table
/// is made, as views into the source tables' strings, never copied.
struct Key<'t> {
    key: &'t str,
    root: usize,
    depth: u32,
    src: Src,
    issued_at: Option<Millis>,
    in_window: bool,
    used_in_window: bool,
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

/// Which key each of the window's calls (`role_calls`) was made with, as its row in the
/// lineage (`key_ref`), matched as `queries/calls.sql` documents: by access key, or for a record
/// without one by role ARN, session name and session creation time. `pos[i]` is key i's row.
/// Where one session matches several keys (two issued in the same second), the first row
/// takes the call: one rule, which the Spark and Athena views follow too. The calls are probed
/// against the keys (a few per instance and hour), never gathered into a set of their own (a
/// trail's noise can hold a key per call). A table without the key columns matches nothing.
fn match_calls(
    keys: &[Key<'_>],
    sessions: &[(Option<&str>, Option<&str>)],
    pos: &[u32],
    role_calls: &DataFrame,
) -> PolarsResult<UInt32Chunked> {
    let col = |name: &str| role_calls.column(name).ok();
    let Some(call_keys) = col("access_key_id") else {
        return Ok(UInt32Chunked::full_null(
            KEY_REF.into(),
            role_calls.height(),
        ));
    };
    let call_keys = call_keys.str()?;
    let by_key: Fast<&str, u32> = keys.iter().zip(pos).map(|(k, &p)| (k.key, p)).collect();
    // No key: a sentinel rather than an Option, half the bytes per call until the column is made.
    const NONE: u32 = u32::MAX;
    let keyless = call_keys.null_count() > 0;
    // Probed on every core, a share of the column's chunks each.
    let mut refs: Vec<u32> = {
        use rayon::prelude::*;
        let chunks: Vec<_> = call_keys.downcast_iter().collect();
        let parts: Vec<Vec<u32>> = chunks
            .par_iter()
            .map(|arr| {
                let find = |k: &str| by_key.get(k).copied().unwrap_or(NONE);
                match keyless {
                    false => arr.values_iter().map(find).collect(),
                    true => arr.iter().map(|k| k.map_or(NONE, find)).collect(),
                }
            })
            .collect();
        parts.concat()
    };
    if keyless && SESSION_MATCH.iter().all(|c| col(c).is_some()) {
        let mut by_session: Fast<(&str, &str, Millis), u32> = Fast::default();
        for ((k, s), &p) in keys.iter().zip(sessions).zip(pos) {
            if let (Some(r), Some(n), Some(t)) = (s.0, s.1, k.issued_at) {
                let first = by_session.entry((r, n, t)).or_insert(p);
                *first = (*first).min(p);
            }
        }
        // The few calls without a key, matched by their session.
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
    }
    // Most trails match every call: then the values are the column as they are.
    Ok(match refs.contains(&NONE) {
        false => UInt32Chunked::from_vec(KEY_REF.into(), refs),
        true => UInt32Chunked::from_iter_options(
            KEY_REF.into(),
            refs.into_iter().map(|r| (r != NONE).then_some(r)),
        ),
    })
}

/// The lineage of every key issued by a successful assumption in `assumptions` (roots, depth
/// 0) through the successful chained AssumeRoles in `hops`, and whether one of the window's
/// calls in `role_calls` was made with it; and for each of those calls, its key's row
/// (`key_ref`, null for a call made with no key of the lineage). The tables are de-duplicated.
pub fn build(
    assumptions: &DataFrame,
    hops: &DataFrame,
    role_calls: &DataFrame,
) -> PolarsResult<(DataFrame, UInt32Chunked)> {
    let a_key = strs(assumptions, "access_key_id")?;
    let a_err = strs(assumptions, "error_code")?;
    let a_time = times(assumptions, "event_time")?;
    let a_event = strs(assumptions, "event_id")?;
    let a_window = flags(assumptions, "in_window")?;

    let h_key = strs(hops, "access_key_id")?;
    let h_parent = strs(hops, "parent_key")?;
    let h_err = strs(hops, "error_code")?;
    let h_type = strs(hops, "identity_type")?;
    let h_shared = strs(hops, "shared_event_id")?;
    let h_time = times(hops, "event_time")?;
    let h_event = strs(hops, "event_id")?;
    let h_window = flags(hops, "in_window")?;

    let mut by_time: Vec<usize> = (0..assumptions.height()).collect();
    by_time.sort_by_key(|&i| earliest(&a_time, &a_event, i));
    let mut reached: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
    let mut keys: Vec<Key> = Vec::new();
    for i in by_time {
        let Some(key) = a_key[i].filter(|_| a_err[i].is_none()) else {
            continue;
        };
        if !reached.insert(key) {
            continue;
        }
        keys.push(Key {
            key,
            root: keys.len(),
            depth: 0,
            src: Src::Root(i as IdxSize),
            issued_at: a_time[i],
            in_window: a_window[i],
            used_in_window: false,
        });
    }

    // The event that issued each key (the earliest that claims it), and the sharedEventID of
    // each key whose target-account copy is in the input (the least, should there be several).
    let mut issued_by: Fast<&str, usize> = Fast::default();
    let mut target_copy: Fast<&str, &str> = Fast::default();
    for i in 0..hops.height() {
        let (Some(child), None) = (h_key[i], h_err[i]) else {
            continue;
        };
        if h_type[i] == Some("AWSAccount") {
            if let Some(shared) = h_shared[i] {
                let least = target_copy.entry(child).or_insert(shared);
                *least = (*least).min(shared);
            }
        } else if h_parent[i].is_some() {
            let first = issued_by.entry(child).or_insert(i);
            if earliest(&h_time, &h_event, i) < earliest(&h_time, &h_event, *first) {
                *first = i;
            }
        }
    }
    let mut children: Fast<&str, Vec<usize>> = Fast::default();
    for &i in issued_by.values() {
        let parent = h_parent[i].expect("claims with a parent");
        children.entry(parent).or_default().push(i);
    }

    let mut level = 0..keys.len();
    while !level.is_empty() {
        // Each key has one issuing event, so a level names each child once.
        let found: Vec<(usize, usize)> = level
            .clone()
            .flat_map(|k| {
                children
                    .get(keys[k].key)
                    .into_iter()
                    .flatten()
                    .map(move |&h| (h, k))
            })
            .collect();
        let start = keys.len();
        for (h, parent) in found {
            let child = h_key[h].expect("hops with a key");
            if !reached.insert(child) {
                continue;
            }
            let p = &keys[parent];
            keys.push(Key {
                key: child,
                root: p.root,
                depth: p.depth + 1,
                src: Src::Hop(h as IdxSize),
                issued_at: h_time[h],
                in_window: h_window[h],
                used_in_window: false,
            });
        }
        level = start..keys.len();
    }

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
    // An order that does not depend on the order of the input files; a key's row is its place
    // in it.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (keys[i].issued_at.is_none(), keys[i].issued_at, keys[i].key));
    let mut pos = vec![0u32; keys.len()];
    for (row, &i) in order.iter().enumerate() {
        pos[i] = row as u32;
    }
    let refs = match_calls(&keys, &sessions, &pos, role_calls)?;
    let mut used = vec![false; keys.len()];
    for r in refs.downcast_iter().flat_map(|a| a.iter().flatten()) {
        used[*r as usize] = true;
    }
    for (i, k) in keys.iter_mut().enumerate() {
        k.used_in_window = used[pos[i] as usize];
    }
    let shared: Vec<Option<&str>> = order
        .iter()
        .map(|&i| match keys[i].src {
            Src::Hop(_) => target_copy.get(keys[i].key).copied(),
            Src::Root(_) => None,
        })
        .collect();
    Ok((frame(assumptions, hops, &keys, &order, &shared)?, refs))
}

/// The table, in `order`. Each string column is views into the source tables' strings.
fn frame(
    assumptions: &DataFrame,
    hops: &DataFrame,
    keys: &[Key<'_>],
    order: &[usize],
    shared: &[Option<&str>],
) -> PolarsResult<DataFrame> {
    let rows: Vec<Src> = order.iter().map(|&i| keys[i].src).collect();
    let roots: Vec<Src> = order.iter().map(|&i| keys[keys[i].root].src).collect();
    // A column from either source table, row by row: the roots' rows, then the hops', then put
    // in order. Every step takes views of the source strings; none copies them. A table without
    // the column (a root has no parent) gives nulls.
    let pick =
        |name: &str, a: Option<&str>, h: Option<&str>, rows: &[Src]| -> PolarsResult<Column> {
            let (mut ia, mut ih) = (Vec::new(), Vec::new());
            // Each row's place: (a root's, its index among the roots' rows), else the hops'.
            let at: Vec<(bool, IdxSize)> = rows
                .iter()
                .map(|r| match *r {
                    Src::Root(i) => {
                        ia.push(i);
                        (true, ia.len() as IdxSize - 1)
                    }
                    Src::Hop(i) => {
                        ih.push(i);
                        (false, ih.len() as IdxSize - 1)
                    }
                })
                .collect();
            let dtype = match (a, h) {
                (Some(c), _) => assumptions.column(c)?.dtype().clone(),
                (None, Some(c)) => hops.column(c)?.dtype().clone(),
                (None, None) => unreachable!("a column has a source"),
            };
            let part = |table: &DataFrame, col: Option<&str>, idx: Vec<IdxSize>| match col {
                Some(c) => table.column(c)?.take(&IdxCa::from_vec("".into(), idx)),
                None => Ok(Column::full_null("".into(), idx.len(), &dtype)),
            };
            let mut both = part(assumptions, a, ia)?.as_materialized_series().clone();
            let roots = both.len() as IdxSize;
            both.append(part(hops, h, ih)?.as_materialized_series())?;
            let perm = IdxCa::from_iter_values(
                "".into(),
                at.iter().map(|&(root, i)| if root { i } else { roots + i }),
            );
            Ok(both.take(&perm)?.with_name(name.into()).into_column())
        };
    let columns = vec![
        pick(
            "access_key_id",
            Some("access_key_id"),
            Some("access_key_id"),
            &rows,
        )?,
        pick("parent_key", None, Some("parent_key"), &rows)?,
        pick("root_key", Some("access_key_id"), None, &roots)?,
        UInt32Chunked::from_iter_values("depth".into(), order.iter().map(|&i| keys[i].depth))
            .into_column(),
        pick("role_arn", Some("role_arn"), Some("role_arn"), &rows)?,
        pick("account_id", Some("account_id"), Some("account_id"), &rows)?,
        pick(
            "session_name",
            Some("session_name"),
            Some("session_name"),
            &rows,
        )?,
        pick(
            "source_identity",
            Some("source_identity"),
            Some("source_identity"),
            &rows,
        )?,
        pick("issued_at", Some("event_time"), Some("event_time"), &rows)?,
        pick("expires_at", Some("expires_at"), Some("expires_at"), &rows)?,
        pick("issuing_ip", Some("issuing_ip"), Some("source_ip"), &rows)?,
        pick("event_id", Some("event_id"), Some("event_id"), &rows)?,
        StringChunked::from_iter_options("shared_event_id".into(), shared.iter().copied())
            .into_column(),
        pick("root_event_id", Some("event_id"), None, &roots)?,
        BooleanChunked::from_iter_values(
            "in_window".into(),
            order.iter().map(|&i| keys[i].in_window),
        )
        .into_column(),
        BooleanChunked::from_iter_values(
            "used_in_window".into(),
            order.iter().map(|&i| keys[i].used_in_window),
        )
        .into_column(),
        UInt32Chunked::from_iter_values(KEY_REF.into(), 0..order.len() as u32).into_column(),
    ];
    debug_assert!(columns.iter().map(|c| c.name().as_str()).eq(COLUMNS));
    DataFrame::new(order.len(), columns)
}

/// `key_lineage` with no rows: its schema.
pub fn empty() -> DataFrame {
    let table = |name: &str| {
        let mut df = crate::model::empty_raw(name).expect("a model table");
        let _ = df.drop_in_place(crate::dedupe::SEQ);
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

    fn roots(keys: &[&str]) -> DataFrame {
        let n = keys.len();
        let df = df!(
            "access_key_id" => keys,
            "error_code" => vec![None::<&str>; n],
            "role_arn" => vec!["arn:aws:iam::1:role/root"; n],
            "account_id" => vec!["1"; n],
            "session_name" => vec!["p.i"; n],
            "source_identity" => vec![None::<&str>; n],
            "event_time" => (0..n as i64).collect::<Vec<_>>(),
            "expires_at" => vec![3_600_000i64; n],
            "issuing_ip" => vec!["10.0.0.1"; n],
            "event_id" => keys.iter().map(|k| format!("ev-{k}")).collect::<Vec<_>>(),
            "in_window" => vec![true; n],
        )
        .unwrap();
        with_times(df, &["event_time", "expires_at"])
    }

    /// Hops as (parent key, child key, identity type), in input order.
    fn hops(rows: &[(Option<&str>, &str, &str)]) -> DataFrame {
        let n = rows.len();
        let df = df!(
            "access_key_id" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "parent_key" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "error_code" => vec![None::<&str>; n],
            "identity_type" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "shared_event_id" => rows.iter().map(|r| (r.2 == "AWSAccount").then_some("shared")).collect::<Vec<_>>(),
            "role_arn" => rows.iter().map(|r| format!("arn:aws:iam::2:role/{}", r.1)).collect::<Vec<_>>(),
            "account_id" => vec!["2"; n],
            "session_name" => vec!["s"; n],
            "source_identity" => vec![None::<&str>; n],
            "event_time" => (10..10 + n as i64).collect::<Vec<_>>(),
            "expires_at" => vec![3_600_000i64; n],
            "source_ip" => vec!["10.0.0.1"; n],
            "event_id" => (0..n).map(|i| format!("hop-{i}")).collect::<Vec<_>>(),
            "in_window" => vec![true; n],
        )
        .unwrap();
        with_times(df, &["event_time", "expires_at"])
    }

    /// (key, parent, root, depth, issuing event) of every row, by key.
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

    #[test]
    fn chains_are_followed_to_any_depth_and_loops_end() {
        // R -> A -> B -> R' (a hostile record makes the root's own key a child) -> A again.
        let h = hops(&[
            (Some("B"), "R", "AssumedRole"),
            (Some("A"), "B", "AssumedRole"),
            (Some("R"), "A", "AssumedRole"),
            (Some("R"), "A", "AssumedRole"),
            (Some("X"), "Y", "AssumedRole"),
        ]);
        let got = rows(&build(&roots(&["R"]), &h, &DataFrame::empty()).unwrap().0);
        assert_eq!(
            got,
            vec![
                ("A".into(), Some("R".into()), "R".into(), 1, "hop-2".into()),
                ("B".into(), Some("A".into()), "R".into(), 2, "hop-1".into()),
                ("R".into(), None, "R".into(), 0, "ev-R".into()),
            ]
        );
    }

    #[test]
    fn a_key_claimed_twice_keeps_its_earliest_issuing_event() {
        let h = hops(&[
            (Some("A"), "C", "AssumedRole"),
            (Some("R"), "A", "AssumedRole"),
            (Some("R"), "C", "AssumedRole"),
            (Some("S"), "C", "AssumedRole"),
            (Some("R"), "D", "AssumedRole"),
            (Some("Q"), "D", "AssumedRole"),
        ]);
        let got = rows(
            &build(&roots(&["R", "S"]), &h, &DataFrame::empty())
                .unwrap()
                .0,
        );
        let c = got.iter().find(|r| r.0 == "C").unwrap();
        // hop-0 (A -> C) is the earliest claim: C is two hops below R, whatever R and S claim.
        assert_eq!(
            c,
            &("C".into(), Some("A".into()), "R".into(), 2, "hop-0".into())
        );
        let d = got.iter().find(|r| r.0 == "D").unwrap();
        assert_eq!(
            d,
            &("D".into(), Some("R".into()), "R".into(), 1, "hop-4".into())
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
            (Some("R"), "A", "AssumedRole"),
            (Some("R"), "B", "AssumedRole"),
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
        let (df, refs) = build(&roots(&["R"]), &h, &calls).unwrap();
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
            (Some("R"), "B", "AssumedRole"),
            (Some("R"), "A", "AssumedRole"),
        ]);
        let same = |df: &mut DataFrame, name: &str, v: Column| {
            df.with_column(v.with_name(name.into())).unwrap();
        };
        let n = h.height();
        same(
            &mut h,
            "role_arn",
            Column::new("".into(), vec!["arn:aws:iam::2:role/x"; n]),
        );
        let t = h
            .column("event_time")
            .unwrap()
            .head(Some(1))
            .new_from_index(0, n);
        same(&mut h, "event_time", t);
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
        let (df, refs) = build(&roots(&["R"]), &h, &calls).unwrap();
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
        let h = hops(&[(None, "A", "AWSAccount"), (Some("R"), "A", "AssumedRole")]);
        let df = build(&roots(&["R"]), &h, &DataFrame::empty()).unwrap().0;
        assert_eq!(df.height(), 2);
        let shared: Vec<Option<&str>> = strs(&df, "shared_event_id").unwrap();
        let keys: Vec<Option<&str>> = strs(&df, "access_key_id").unwrap();
        let a = keys.iter().position(|k| *k == Some("A")).unwrap();
        assert_eq!(shared[a], Some("shared"));
        assert_eq!(shared[1 - a], None);
        assert_eq!(df.schema().len(), COLUMNS.len());
    }
}
