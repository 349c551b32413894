//! A value judged per issued key (`name_trust`, `gcp_instance`), carried the way the reports
//! read it: a chained key takes its root's (its session name is its root's claim), and a
//! `by-instance` row takes the worst of its session name's keys. One home for both judgements.

use std::collections::HashMap;

use polars::prelude::*;

fn strings(df: &DataFrame, name: &str) -> PolarsResult<StringChunked> {
    Ok(df.column(name)?.cast(&DataType::String)?.str()?.clone())
}

/// Each `sessions` row's value: a root key's (depth 0) its own from `own`; a chained key its
/// root's, found by root key and session name, else `orphan` (or its own, when None).
pub fn from_roots(
    sessions: &DataFrame,
    own: &[&'static str],
    orphan: Option<&'static str>,
) -> PolarsResult<Vec<&'static str>> {
    let (keys, roots, names) = (
        strings(sessions, "access_key_id")?,
        strings(sessions, "root_key")?,
        strings(sessions, "session_name")?,
    );
    let depth = sessions.column("depth")?.cast(&DataType::Int64)?;
    let depth = depth.i64()?;
    let roots_of: HashMap<(Option<&str>, Option<&str>), &'static str> = (0..sessions.height())
        .filter(|&i| depth.get(i) == Some(0))
        .map(|i| ((keys.get(i), names.get(i)), own[i]))
        .collect();
    Ok((0..sessions.height())
        .map(|i| match depth.get(i) {
            Some(0) => own[i],
            _ => roots_of
                .get(&(roots.get(i), names.get(i)))
                .copied()
                .unwrap_or(orphan.unwrap_or(own[i])),
        })
        .collect())
}

/// For each row of `frame` (by-instance), the worst of `values` (one per `sessions` row) among
/// the keys of its session name, worst first in `order`; `missing` for a name with no key.
pub fn worst_by_name(
    frame: &DataFrame,
    sessions: &DataFrame,
    values: &[&'static str],
    order: &[&str],
    missing: &'static str,
) -> PolarsResult<Vec<&'static str>> {
    let rank = |v: &str| order.iter().position(|o| *o == v).unwrap_or(0);
    let names = strings(sessions, "session_name")?;
    let mut worst: HashMap<&str, &'static str> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let Some(name) = names.get(i) else { continue };
        worst
            .entry(name)
            .and_modify(|w| {
                if rank(v) < rank(w) {
                    *w = v;
                }
            })
            .or_insert(v);
    }
    Ok(strings(frame, "session_name")?
        .iter()
        .map(|n| n.and_then(|n| worst.get(n)).copied().unwrap_or(missing))
        .collect())
}
