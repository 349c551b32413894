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
use crate::analyzer::model::merged_groups;

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
/// assumption's eventID held twice), for the query to be run instead. `merged`: with only the
/// columns `named`, rows equal in all of them made one (see `merged_groups`).
pub fn make(
    key_activity: &DataFrame,
    key_lineage: &DataFrame,
    assumptions: &DataFrame,
    named: Option<&BTreeSet<String>>,
    merged: bool,
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
    let issuing = assumptions.column("issuing_ip")?;
    let sources = (key_activity, key_lineage, assumptions);
    let merge = match (merged, named) {
        (true, Some(named)) => merge(sources, named, (&kept, &keys, &issued))?,
        _ => None,
    };
    let mut out = match &merge {
        Some(m) => {
            let pick = |v: &[IdxSize]| m.rows.iter().map(|&r| v[r as usize]).collect();
            (kept, keys, issued) = (pick(&kept), pick(&keys), pick(&issued));
            summed(key_activity, named, &kept, m)?
        }
        None if kept.len() == key_activity.height() => key_activity.clone(),
        None => key_activity.take(&IdxCa::from_vec("".into(), kept.clone()))?,
    };
    let wanted = |c: &str| named.is_none_or(|n| n.contains(c));
    let foreign = match wanted("foreign_ip") {
        true => Some(foreign_ip(key_activity, &kept, issuing, &issued)?),
        false => None,
    };
    let keys = IdxCa::from_vec("".into(), keys);
    let issued = IdxCa::from_vec("".into(), issued);
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
            _ => match &foreign {
                Some(f) => f.clone(),
                None => continue,
            },
        });
    }
    for c in added {
        out.with_column(c)?;
    }
    Ok(Some(out))
}

/// The rows of the table that no query can tell apart (equal in every column `named` but the
/// summed ones), found where each column comes from: `kept` rows of `key_activity`, `keys`
/// rows of the lineage, `issued` rows of the assumptions.
fn merge(
    (key_activity, key_lineage, assumptions): (&DataFrame, &DataFrame, &DataFrame),
    named: &BTreeSet<String>,
    (kept, keys, issued): (&[IdxSize], &[IdxSize], &[IdxSize]),
) -> PolarsResult<Option<merged_groups::Merged>> {
    let foreign = match named.contains("foreign_ip") {
        true => foreign_ip(
            key_activity,
            kept,
            assumptions.column("issuing_ip")?,
            issued,
        )?,
        false => Column::new_empty("foreign_ip".into(), &DataType::Boolean),
    };
    // The flags are made for the rows themselves, in their order.
    let all: Vec<IdxSize> = match named.contains("foreign_ip") {
        true => (0..kept.len() as IdxSize).collect(),
        false => Vec::new(),
    };
    let mut by = Vec::new();
    for name in key_activity.get_column_names() {
        if named.contains(name.as_str()) && !merged_groups::SUMMED.contains(&name.as_str()) {
            let source = key_activity.column(name)?;
            by.push(merged_groups::By { source, at: kept });
        }
    }
    for name in ADDED.into_iter().filter(|n| named.contains(*n)) {
        let (source, at) = match name {
            "key_event_id" => (key_lineage.column("event_id")?, keys),
            "depth" => (key_lineage.column("depth")?, keys),
            "assumption_event_id" => (assumptions.column("event_id")?, issued),
            "issued_session_name" => (assumptions.column("session_name")?, issued),
            "issuing_ip" => (assumptions.column("issuing_ip")?, issued),
            _ => (&foreign, all.as_slice()),
        };
        by.push(merged_groups::By { source, at });
    }
    let column = |c: &str| key_activity.column(c);
    let sums = (
        column("calls")?,
        column("first_call")?,
        column("last_call")?,
    );
    merged_groups::merge(kept.len(), &by, sums, kept)
}

/// `key_activity`'s columns `named` at `rows`, with the merged rows' sums in place of their own.
fn summed(
    key_activity: &DataFrame,
    named: Option<&BTreeSet<String>>,
    rows: &[IdxSize],
    m: &merged_groups::Merged,
) -> PolarsResult<DataFrame> {
    let names: Vec<PlSmallStr> = key_activity
        .get_column_names()
        .into_iter()
        .filter(|c| named.is_none_or(|n| n.contains(c.as_str())))
        .cloned()
        .collect();
    let mut out = key_activity
        .select(names)?
        .take(&IdxCa::from_vec("".into(), rows.to_vec()))?;
    let like = |name: &str, values: Series| -> PolarsResult<Column> {
        Ok(values
            .cast(key_activity.column(name)?.dtype())?
            .into_column())
    };
    for (name, values) in [
        ("calls", Series::new("calls".into(), &m.calls)),
        ("first_call", Series::new("first_call".into(), &m.first)),
        ("last_call", Series::new("last_call".into(), &m.last)),
    ] {
        if out.get_column_index(name).is_some() {
            out.with_column(like(name, values)?)?;
        }
    }
    Ok(out)
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

/// The query's `foreign_ip` for the groups at `rows` of `key_activity`: `COALESCE(NOT
/// is_service AND source_ip <> issuing_ip AND NOT trusted_source, FALSE)`, true only where
/// each part is true (SQL's AND is then true). Each group's issuing IP is looked up at its
/// assumption's row (`issued`), not gathered first.
fn foreign_ip(
    key_activity: &DataFrame,
    rows: &[IdxSize],
    issuing_ip: &Column,
    issued: &[IdxSize],
) -> PolarsResult<Column> {
    let one = |c: &str| -> PolarsResult<Series> {
        Ok(key_activity.column(c)?.as_materialized_series().rechunk())
    };
    let (service, trusted, source) = (
        one("is_service")?,
        one("trusted_source")?,
        one("source_ip")?,
    );
    let (service, trusted, source) = (service.bool()?, trusted.bool()?, source.str()?);
    let issuing = issuing_ip.as_materialized_series().rechunk();
    let issuing = issuing.str()?;
    let flags: BooleanChunked = rows
        .iter()
        .zip(issued)
        .map(|(&row, &at)| {
            let row = row as usize;
            let differs = matches!(
                (source.get(row), issuing.get(at as usize)),
                (Some(s), Some(i)) if s != i
            );
            Some(service.get(row) == Some(false) && differs && trusted.get(row) == Some(false))
        })
        .collect();
    Ok(flags.with_name("foreign_ip".into()).into_column())
}
