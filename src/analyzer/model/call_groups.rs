//! `call_groups` as `queries/call_groups.sql` defines it, made without its join.
//!
//! The query joins every group of `key_activity` to its key's root assumption. polars does that
//! with a hash join that gathers every column of both sides for every group: at 30M events
//! (3.4M groups) about 650 MB for `by-instance`, most of its peak. But `key_ref` is the row of
//! the key in `key_lineage`, so each group's key is found by position, the groups' own columns
//! are kept as they are (no row is dropped unless its key has no root), and only the columns
//! the queries name are gathered. The embedded query is still what defines the table: the
//! engine makes it this way only when `call_groups.sql` is not overridden, and a test holds the
//! two to the same rows.

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;

use crate::analyzer::model::lineage::KEY_REF;

type Fast = foldhash::fast::RandomState;

/// The columns the query adds to `key_activity`'s, in its order.
const ADDED: [&str; 6] = [
    "key_event_id",
    "depth",
    "assumption_event_id",
    "issued_session_name",
    "issuing_ip",
    "foreign_ip",
];

/// The table, with only the added columns in `named` (all when `None`); `None` when the
/// tables are not as the query's shortcut needs (a `key_ref` that is not its row, a root
/// assumption's eventID held twice), for the query to be run instead.
pub fn make(
    key_activity: &DataFrame,
    key_lineage: &DataFrame,
    assumptions: &DataFrame,
    named: Option<&BTreeSet<String>>,
) -> PolarsResult<Option<DataFrame>> {
    let Some(roots) = roots(key_lineage, assumptions)? else {
        return Ok(None);
    };
    // Each group's row in the lineage and in the assumptions, when its key has a root.
    let refs = key_activity.column(KEY_REF)?.u32()?;
    let (mut kept, mut keys, mut issued) = (Vec::new(), Vec::new(), Vec::new());
    for (row, key) in refs.iter().enumerate() {
        if let Some(&Some(root)) = key.and_then(|k| roots.get(k as usize)) {
            kept.push(row as IdxSize);
            keys.push(key.unwrap_or_default() as IdxSize);
            issued.push(root);
        }
    }
    let mut out = match kept.len() == key_activity.height() {
        true => key_activity.clone(),
        false => key_activity.take(&IdxCa::from_vec("".into(), kept))?,
    };
    let keys = IdxCa::from_vec("".into(), keys);
    let issued = IdxCa::from_vec("".into(), issued);
    let wanted = |c: &str| named.is_none_or(|n| n.contains(c));
    let from = |df: &DataFrame, at: &IdxCa, column: &str, name: &str| -> PolarsResult<Column> {
        Ok(df.column(column)?.take(at)?.with_name(name.into()))
    };
    let mut added = Vec::new();
    for name in ADDED {
        if !wanted(name) {
            continue;
        }
        added.push(match name {
            "key_event_id" => from(key_lineage, &keys, "event_id", name)?,
            "depth" => from(key_lineage, &keys, "depth", name)?,
            "assumption_event_id" => from(assumptions, &issued, "event_id", name)?,
            "issued_session_name" => from(assumptions, &issued, "session_name", name)?,
            "issuing_ip" => from(assumptions, &issued, "issuing_ip", name)?,
            _ => foreign_ip(&out, assumptions.column("issuing_ip")?, &issued)?,
        });
    }
    for c in added {
        out.with_column(c)?;
    }
    Ok(Some(out))
}

/// For each row of `key_lineage` (its `key_ref`), the row of the assumption at its root when
/// the query's join finds one: no error, a key issued. `None` when a `key_ref` is not its row
/// or a root's eventID is held by two such assumptions (the join would repeat the group).
fn roots(
    key_lineage: &DataFrame,
    assumptions: &DataFrame,
) -> PolarsResult<Option<Vec<Option<IdxSize>>>> {
    let refs = key_lineage.column(KEY_REF)?.u32()?;
    if refs
        .iter()
        .enumerate()
        .any(|(row, key)| key != Some(row as u32))
    {
        return Ok(None);
    }
    let ids = assumptions.column("event_id")?.str()?;
    let failed = assumptions.column("error_code")?.str()?;
    let keys = assumptions.column("access_key_id")?.str()?;
    let mut by_id: HashMap<&str, IdxSize, Fast> = HashMap::default();
    let rows = ids.iter().zip(failed.iter().zip(keys.iter())).enumerate();
    for (row, (id, (failed, key))) in rows {
        if let (Some(id), None, Some(_)) = (id, failed, key)
            && by_id.insert(id, row as IdxSize).is_some()
        {
            return Ok(None);
        }
    }
    let roots = key_lineage.column("root_event_id")?.str()?;
    Ok(Some(
        roots
            .iter()
            .map(|r| r.and_then(|r| by_id.get(r).copied()))
            .collect(),
    ))
}

/// The query's `foreign_ip`: `COALESCE(NOT is_service AND source_ip <> issuing_ip AND NOT
/// trusted_source, FALSE)`, true only where each part is true (SQL's AND is then true). Each
/// group's issuing IP is looked up at its assumption's row (`issued`), not gathered first.
fn foreign_ip(groups: &DataFrame, issuing_ip: &Column, issued: &IdxCa) -> PolarsResult<Column> {
    let service = groups.column("is_service")?.bool()?;
    let trusted = groups.column("trusted_source")?.bool()?;
    let source = groups.column("source_ip")?.str()?;
    let issuing = issuing_ip.as_materialized_series().rechunk();
    let issuing = issuing.str()?;
    let flags: BooleanChunked = service
        .iter()
        .zip(trusted.iter())
        .zip(source.iter().zip(issued.into_no_null_iter()))
        .map(|((service, trusted), (source, at))| {
            let issuing = issuing.get(at as usize);
            let differs = matches!((source, issuing), (Some(s), Some(i)) if s != i);
            Some(service == Some(false) && differs && trusted == Some(false))
        })
        .collect();
    Ok(flags.with_name("foreign_ip".into()).into_column())
}
