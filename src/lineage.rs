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

use polars::prelude::*;

use crate::timefmt::Millis;

/// The columns of `key_lineage`, in order.
pub const COLUMNS: [&str; 15] = [
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
];

/// One key: where it came from. Borrowed from the two tables it is built from.
struct Key<'t> {
    key: &'t str,
    parent: Option<&'t str>,
    root: usize,
    depth: u32,
    role_arn: Option<&'t str>,
    account_id: Option<&'t str>,
    session_name: Option<&'t str>,
    source_identity: Option<&'t str>,
    issued_at: Option<Millis>,
    expires_at: Option<Millis>,
    issuing_ip: Option<&'t str>,
    event_id: Option<&'t str>,
    shared_event_id: Option<&'t str>,
    in_window: bool,
}

/// A table's string column as values, or all nulls when the table lacks it.
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

/// The lineage of every key issued by a successful assumption in `assumptions` (roots, depth
/// 0) through the successful chained AssumeRoles in `hops`. Both tables are de-duplicated.
pub fn build(assumptions: &DataFrame, hops: &DataFrame) -> PolarsResult<DataFrame> {
    let a_key = strs(assumptions, "access_key_id")?;
    let a_err = strs(assumptions, "error_code")?;
    let a_role = strs(assumptions, "role_arn")?;
    let a_account = strs(assumptions, "account_id")?;
    let a_session = strs(assumptions, "session_name")?;
    let a_source = strs(assumptions, "source_identity")?;
    let a_time = times(assumptions, "event_time")?;
    let a_expires = times(assumptions, "expires_at")?;
    let a_ip = strs(assumptions, "issuing_ip")?;
    let a_event = strs(assumptions, "event_id")?;
    let a_window = flags(assumptions, "in_window")?;

    let h_key = strs(hops, "access_key_id")?;
    let h_parent = strs(hops, "parent_key")?;
    let h_err = strs(hops, "error_code")?;
    let h_type = strs(hops, "identity_type")?;
    let h_shared = strs(hops, "shared_event_id")?;
    let h_role = strs(hops, "role_arn")?;
    let h_account = strs(hops, "account_id")?;
    let h_session = strs(hops, "session_name")?;
    let h_source = strs(hops, "source_identity")?;
    let h_time = times(hops, "event_time")?;
    let h_expires = times(hops, "expires_at")?;
    let h_ip = strs(hops, "source_ip")?;
    let h_event = strs(hops, "event_id")?;
    let h_window = flags(hops, "in_window")?;

    let mut by_time: Vec<usize> = (0..assumptions.height()).collect();
    by_time.sort_by_key(|&i| earliest(&a_time, &a_event, i));
    let mut reached: HashSet<&str> = HashSet::new();
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
            parent: None,
            root: keys.len(),
            depth: 0,
            role_arn: a_role[i],
            account_id: a_account[i],
            session_name: a_session[i],
            source_identity: a_source[i],
            issued_at: a_time[i],
            expires_at: a_expires[i],
            issuing_ip: a_ip[i],
            event_id: a_event[i],
            shared_event_id: None,
            in_window: a_window[i],
        });
    }

    // The event that issued each key (the earliest that claims it), and the sharedEventID of
    // each key whose target-account copy is in the input (the least, should there be several).
    let mut issued_by: HashMap<&str, usize> = HashMap::new();
    let mut target_copy: HashMap<&str, &str> = HashMap::new();
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
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    for &i in issued_by.values() {
        let parent = h_parent[i].expect("claims with a parent");
        children.entry(parent).or_default().push(i);
    }

    let mut level = 0..keys.len();
    while !level.is_empty() {
        let mut found: Vec<(usize, usize)> = level
            .clone()
            .flat_map(|k| {
                children
                    .get(keys[k].key)
                    .into_iter()
                    .flatten()
                    .map(move |&h| (h, k))
            })
            .collect();
        found.sort_by_key(|&(h, _)| earliest(&h_time, &h_event, h));
        let start = keys.len();
        for (h, parent) in found {
            let child = h_key[h].expect("hops with a key");
            if !reached.insert(child) {
                continue;
            }
            let p = &keys[parent];
            keys.push(Key {
                key: child,
                parent: Some(p.key),
                root: p.root,
                depth: p.depth + 1,
                role_arn: h_role[h],
                account_id: h_account[h],
                session_name: h_session[h],
                source_identity: h_source[h],
                issued_at: h_time[h],
                expires_at: h_expires[h],
                issuing_ip: h_ip[h],
                event_id: h_event[h],
                shared_event_id: target_copy.get(child).copied(),
                in_window: h_window[h],
            });
        }
        level = start..keys.len();
    }

    // An order that does not depend on the order of the input files.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (keys[i].issued_at.is_none(), keys[i].issued_at, keys[i].key));
    frame(&keys, &order)
}

fn frame(keys: &[Key<'_>], order: &[usize]) -> PolarsResult<DataFrame> {
    let s = |name: &str, f: &dyn Fn(&Key) -> Option<String>| -> Column {
        StringChunked::from_iter_options(name.into(), order.iter().map(|&i| f(&keys[i])))
            .into_column()
    };
    let own = |v: Option<&str>| v.map(str::to_owned);
    let t = |name: &str, f: &dyn Fn(&Key) -> Option<Millis>| -> Column {
        Int64Chunked::from_iter_options(name.into(), order.iter().map(|&i| f(&keys[i])))
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column()
    };
    let root = |k: &Key| &keys[k.root];
    let columns = vec![
        s(COLUMNS[0], &|k| Some(k.key.to_owned())),
        s(COLUMNS[1], &|k| own(k.parent)),
        s(COLUMNS[2], &|k| Some(root(k).key.to_owned())),
        UInt32Chunked::from_iter_values(COLUMNS[3].into(), order.iter().map(|&i| keys[i].depth))
            .into_column(),
        s(COLUMNS[4], &|k| own(k.role_arn)),
        s(COLUMNS[5], &|k| own(k.account_id)),
        s(COLUMNS[6], &|k| own(k.session_name)),
        s(COLUMNS[7], &|k| own(k.source_identity)),
        t(COLUMNS[8], &|k| k.issued_at),
        t(COLUMNS[9], &|k| k.expires_at),
        s(COLUMNS[10], &|k| own(k.issuing_ip)),
        s(COLUMNS[11], &|k| own(k.event_id)),
        s(COLUMNS[12], &|k| own(k.shared_event_id)),
        s(COLUMNS[13], &|k| own(root(k).event_id)),
        BooleanChunked::from_iter_values(
            COLUMNS[14].into(),
            order.iter().map(|&i| keys[i].in_window),
        )
        .into_column(),
    ];
    DataFrame::new(order.len(), columns)
}

/// `key_lineage` with no rows: its schema.
pub fn empty() -> DataFrame {
    frame(&[], &[]).expect("static columns")
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
        let got = rows(&build(&roots(&["R"]), &h).unwrap());
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
        let got = rows(&build(&roots(&["R", "S"]), &h).unwrap());
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

    #[test]
    fn the_target_accounts_copy_marks_the_hop_and_is_no_edge() {
        let h = hops(&[(None, "A", "AWSAccount"), (Some("R"), "A", "AssumedRole")]);
        let df = build(&roots(&["R"]), &h).unwrap();
        assert_eq!(df.height(), 2);
        let shared: Vec<Option<&str>> = df
            .column("shared_event_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        let keys: Vec<Option<&str>> = df
            .column("access_key_id")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        let a = keys.iter().position(|k| *k == Some("A")).unwrap();
        assert_eq!(shared[a], Some("shared"));
        assert_eq!(shared[1 - a], None);
        assert_eq!(df.schema().len(), COLUMNS.len());
    }
}
