//! `trust_versions`, the table the trust findings read: each role's trust policy over time (the
//! trail's changes of it, else its `--policies` document), judged, with whether a version admits
//! identities the one before it did not, and the first assumption by such an identity after it.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::analyzer::trust::history::{self, Change, admits, verdict};
use crate::analyzer::trust::source::RolePolicy;
use crate::base::timefmt::Millis;
use crate::base::trust::judge::{Verdict, Who};

/// One row of `trust_versions`.
struct Row {
    role_arn: String,
    from: Option<Millis>,
    to: Option<Millis>,
    verdict: Option<Verdict>,
    source: String,
    change: Option<Change>,
    previous: Option<Who>,
    widened: bool,
    /// The first successful assumption after a widening by a sub the version before refused:
    /// (time, sub, session name, source IP).
    first_new: Option<(Millis, String, Option<String>, Option<String>)>,
}

/// Whether `now` admits an identity `before` did not.
fn widened(before: &Verdict, now: &Verdict) -> bool {
    match (before.who, now.who) {
        (b, n) if n < b => true,
        (Who::ListedIdentities, Who::ListedIdentities) | (Who::Pattern, Who::Pattern) => {
            now.subjects.iter().any(|s| !before.subjects.contains(s))
        }
        _ => false,
    }
}

/// Assumptions as (role, time, sub, session, source IP), successful ones only, in time order.
type Assumed = Vec<(String, Millis, String, Option<String>, Option<String>)>;

fn successful(assumptions: &DataFrame) -> PolarsResult<Assumed> {
    let text = |n: &str| -> PolarsResult<StringChunked> {
        Ok(assumptions
            .column(n)?
            .cast(&DataType::String)?
            .str()?
            .clone())
    };
    let (roles, subs, names, ips, errors) = (
        text("role_arn")?,
        text("sub")?,
        text("session_name")?,
        text("issuing_ip")?,
        text("error_code")?,
    );
    let times = assumptions.column("event_time")?.cast(&DataType::Int64)?;
    let times = times.i64()?;
    let mut out: Assumed = (0..assumptions.height())
        .filter(|&i| errors.get(i).is_none())
        .filter_map(|i| {
            Some((
                roles.get(i)?.to_string(),
                times.get(i)?,
                subs.get(i).unwrap_or_default().to_string(),
                names.get(i).map(str::to_string),
                ips.get(i).map(str::to_string),
            ))
        })
        .collect();
    out.sort_by_key(|a| a.1);
    Ok(out)
}

/// The table, from the input's `policy_changes`, its `assumptions` and the `--policies` roles.
pub fn frame(
    policy_changes: &DataFrame,
    assumptions: &DataFrame,
    current: &[RolePolicy],
) -> PolarsResult<DataFrame> {
    let changes = history::succeeded(policy_changes, current)?;
    let assumed = successful(assumptions)?;
    let mut by_role: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for c in changes {
        by_role
            .entry(c.policy.role_arn.clone())
            .or_default()
            .push(c);
    }
    let mut rows = Vec::new();
    for p in current
        .iter()
        .filter(|p| !by_role.contains_key(&p.role_arn))
    {
        rows.push(Row {
            role_arn: p.role_arn.clone(),
            from: None,
            to: None,
            verdict: verdict(p),
            source: p.origin.clone(),
            change: None,
            previous: None,
            widened: false,
            first_new: None,
        });
    }
    for (role, changes) in by_role {
        let mut before: Option<Verdict> = None;
        for (i, c) in changes.iter().enumerate() {
            let now = verdict(&c.policy);
            let to = changes.get(i + 1).map(|n| n.at);
            let wide = matches!((&before, &now), (Some(b), Some(n)) if widened(b, n));
            let first_new = match (wide, &before) {
                (true, Some(b)) => assumed
                    .iter()
                    .find(|a| {
                        a.0 == role
                            && a.1 >= c.at
                            && to.is_none_or(|t| a.1 < t)
                            && admits(b, &a.2) != "yes"
                    })
                    .map(|a| (a.1, a.2.clone(), a.3.clone(), a.4.clone())),
                _ => None,
            };
            rows.push(Row {
                role_arn: role.clone(),
                from: Some(c.at),
                to,
                previous: before.as_ref().map(|b| b.who),
                verdict: now.clone(),
                source: c.policy.origin.clone(),
                change: Some(c.clone()),
                widened: wide,
                first_new,
            });
            before = now;
        }
    }
    to_frame(&rows)
}

fn to_frame(rows: &[Row]) -> PolarsResult<DataFrame> {
    let text = |name: &str, f: &dyn Fn(&Row) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let time = |name: &str, f: &dyn Fn(&Row) -> Option<Millis>| {
        Int64Chunked::from_iter_options(name.into(), rows.iter().map(f))
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column()
    };
    let who = |r: &Row| r.verdict.as_ref().map_or(Who::Unknown, |v| v.who);
    let mut subjects = ListStringChunkedBuilder::new("subjects".into(), rows.len(), rows.len() * 2);
    for r in rows {
        let list = r
            .verdict
            .as_ref()
            .map(|v| v.subjects.as_slice())
            .unwrap_or_default();
        subjects.append_values_iter(list.iter().map(String::as_str));
    }
    DataFrame::new_infer_height(vec![
        text("role_arn", &|r| Some(r.role_arn.clone())),
        time("version_from", &|r| r.from),
        time("version_to", &|r| r.to),
        text("who", &|r| Some(who(r).as_str().to_string())),
        subjects.finish().into_column(),
        text("session_name", &|r| {
            r.verdict.as_ref().map(|v| v.session_name.clone())
        }),
        text("source", &|r| Some(r.source.clone())),
        text("event_id", &|r| {
            r.change.as_ref().and_then(|c| c.event_id.clone())
        }),
        text("event_name", &|r| {
            r.change.as_ref().map(|c| c.event_name.clone())
        }),
        text("caller_arn", &|r| {
            r.change.as_ref().and_then(|c| c.caller_arn.clone())
        }),
        text("caller_ip", &|r| {
            r.change.as_ref().and_then(|c| c.source_ip.clone())
        }),
        text("previous_who", &|r| {
            r.previous.map(|w| w.as_str().to_string())
        }),
        Column::new(
            "widened".into(),
            rows.iter().map(|r| r.widened).collect::<Vec<_>>(),
        ),
        time("first_new_at", &|r| r.first_new.as_ref().map(|f| f.0)),
        text("first_new_sub", &|r| {
            r.first_new.as_ref().map(|f| f.1.clone())
        }),
        text("first_new_session", &|r| {
            r.first_new.as_ref().and_then(|f| f.2.clone())
        }),
        text("first_new_ip", &|r| {
            r.first_new.as_ref().and_then(|f| f.3.clone())
        }),
    ])
}

/// The table's columns, with no rows (for `janus-audit tables` and a run without it).
pub fn empty() -> DataFrame {
    to_frame(&[]).expect("static columns")
}
