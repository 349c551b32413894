//! The GCP tables SQL reads (`janus-audit tables` lists them): `gcp_instances`,
//! `gcp_service_accounts`, `gcp_mints`, `gcp_changes`, `gcp_coverage`, and `gcp_timeline` (the
//! Google-side events a timeline interleaves).

use polars::prelude::*;

use crate::analyzer::gcp::entry::Fact;
use crate::analyzer::gcp::model::Model;
use crate::base::timefmt::Millis;

fn times(name: &str, v: Vec<Option<Millis>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), v.into_iter())
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column()
}

fn text(name: &str, v: Vec<Option<String>>) -> Column {
    Column::new(name.into(), v)
}

/// A list-of-strings column, one list per row.
pub fn lists<'a>(name: &str, v: impl ExactSizeIterator<Item = &'a [String]>) -> Column {
    let mut b = ListStringChunkedBuilder::new(name.into(), v.len(), v.len() * 2);
    for l in v {
        b.append_values_iter(l.iter().map(String::as_str));
    }
    b.finish().into_column()
}

/// `gcp_instances`: one row per life of an instance.
pub fn instances(m: &Model) -> PolarsResult<DataFrame> {
    let i = &m.instances;
    let mut accounts = Vec::new();
    for life in i {
        let mut seen: Vec<String> = Vec::new();
        for (_, e) in &life.accounts {
            if !seen.contains(e) {
                seen.push(e.clone());
            }
        }
        accounts.push(seen);
    }
    DataFrame::new_infer_height(vec![
        text(
            "project",
            i.iter().map(|l| Some(l.project.clone())).collect(),
        ),
        text("zone", i.iter().map(|l| Some(l.zone.clone())).collect()),
        text("instance", i.iter().map(|l| Some(l.name.clone())).collect()),
        text(
            "instance_id",
            i.iter().map(|l| l.instance_id.clone()).collect(),
        ),
        lists("service_accounts", accounts.iter().map(Vec::as_slice)),
        times("created", i.iter().map(|l| l.created).collect()),
        times("deleted", i.iter().map(|l| l.deleted).collect()),
        times("first_seen", i.iter().map(|l| Some(l.first_seen)).collect()),
        times("last_seen", i.iter().map(|l| Some(l.last_seen)).collect()),
        text(
            "source",
            i.iter()
                .map(|l| Some(if l.listed { "listed" } else { "logs" }.to_string()))
                .collect(),
        ),
    ])
}

/// `gcp_service_accounts`: every account whose unique ID is known, by email.
pub fn service_accounts(m: &Model) -> PolarsResult<DataFrame> {
    let a: Vec<_> = m.accounts.values().collect();
    DataFrame::new_infer_height(vec![
        text("email", a.iter().map(|a| Some(a.email.clone())).collect()),
        text(
            "unique_id",
            a.iter().map(|a| Some(a.unique_id.clone())).collect(),
        ),
        text("project", a.iter().map(|a| a.project.clone()).collect()),
        times("created", a.iter().map(|a| a.created).collect()),
    ])
}

/// Who a caller is: `redacted` when the log hides it (a denied call from outside the
/// organization), `workload_identity` for a federated principal, `service_account`, `user`.
pub fn caller_type(who: Option<&str>) -> &'static str {
    match who {
        None => "redacted",
        Some(w) if w.starts_with("principal://") || w.starts_with("principalSet://") => {
            "workload_identity"
        }
        Some(w) if w.ends_with(".gserviceaccount.com") => "service_account",
        Some(_) => "user",
    }
}

/// The principal behind a mint: the first of its delegation chain, else the caller.
pub fn minter(f: &Fact) -> Option<&str> {
    f.delegation
        .first()
        .or(f.caller.as_ref())
        .map(String::as_str)
}

/// The target's email, from the account's unique ID when the entry names only that.
fn target_email(m: &Model, f: &Fact) -> Option<String> {
    f.sa_email.clone().or_else(|| {
        f.sa_unique_id
            .as_deref()
            .and_then(|id| m.account_by_id(id))
            .map(|a| a.email.clone())
    })
}

fn target_id(m: &Model, f: &Fact) -> Option<String> {
    f.sa_unique_id.clone().or_else(|| {
        f.sa_email
            .as_deref()
            .and_then(|e| m.account(e))
            .map(|a| a.unique_id.clone())
    })
}

/// `gcp_mints`: GenerateIdToken and SignJwt, granted or denied.
pub fn mints(m: &Model) -> PolarsResult<DataFrame> {
    let f = &m.mints;
    DataFrame::new_infer_height(vec![
        times("time", f.iter().map(|f| Some(f.time)).collect()),
        text("method", f.iter().map(|f| f.method.clone()).collect()),
        text("project", f.iter().map(|f| f.project.clone()).collect()),
        text(
            "target_email",
            f.iter().map(|f| target_email(m, f)).collect(),
        ),
        text(
            "target_unique_id",
            f.iter().map(|f| target_id(m, f)).collect(),
        ),
        text("caller", f.iter().map(|f| f.caller.clone()).collect()),
        lists("delegation", f.iter().map(|f| f.delegation.as_slice())),
        text(
            "minter",
            f.iter().map(|f| minter(f).map(str::to_string)).collect(),
        ),
        text(
            "caller_type",
            f.iter()
                .map(|f| Some(caller_type(minter(f)).to_string()))
                .collect(),
        ),
        text("caller_ip", f.iter().map(|f| f.caller_ip.clone()).collect()),
        text(
            "user_agent",
            f.iter().map(|f| f.user_agent.clone()).collect(),
        ),
        Column::new(
            "granted".into(),
            f.iter().map(|f| !f.failed).collect::<Vec<_>>(),
        ),
        text(
            "operation_id",
            f.iter().map(|f| f.operation_id.clone()).collect(),
        ),
    ])
}

/// `gcp_changes`: keys created and deleted, token-creator roles granted on an account.
pub fn changes(m: &Model) -> PolarsResult<DataFrame> {
    let f = &m.changes;
    DataFrame::new_infer_height(vec![
        times("time", f.iter().map(|f| Some(f.time)).collect()),
        text(
            "change",
            f.iter()
                .map(|f| f.kind.map(|k| k.as_str().to_string()))
                .collect(),
        ),
        text("project", f.iter().map(|f| f.project.clone()).collect()),
        text(
            "service_account",
            f.iter().map(|f| target_email(m, f)).collect(),
        ),
        text("unique_id", f.iter().map(|f| target_id(m, f)).collect()),
        text("detail", f.iter().map(|f| f.detail.clone()).collect()),
        lists("members", f.iter().map(|f| f.emails.as_slice())),
        text("caller", f.iter().map(|f| f.caller.clone()).collect()),
        text("caller_ip", f.iter().map(|f| f.caller_ip.clone()).collect()),
        text(
            "user_agent",
            f.iter().map(|f| f.user_agent.clone()).collect(),
        ),
    ])
}

/// `gcp_coverage`: per project and log, the first and last entry read.
pub fn coverage(m: &Model) -> PolarsResult<DataFrame> {
    let c: Vec<_> = m.coverage.iter().collect();
    DataFrame::new_infer_height(vec![
        text(
            "project",
            c.iter().map(|((p, _), _)| Some(p.clone())).collect(),
        ),
        text(
            "log_type",
            c.iter()
                .map(|((_, t), _)| Some(t.as_str().to_string()))
                .collect(),
        ),
        times(
            "first_entry",
            c.iter().map(|(_, (f, _))| Some(*f)).collect(),
        ),
        times("last_entry", c.iter().map(|(_, (_, l))| Some(*l)).collect()),
    ])
}

/// One Google-side event of an instance or of a service account.
struct Event {
    time: Millis,
    kind: &'static str,
    event_name: String,
    event_source: &'static str,
    project: String,
    instance: Option<String>,
    unique_id: Option<String>,
    source_ip: Option<String>,
    detail: String,
}

/// Each instance's creation, change of account and deletion.
fn instance_events(m: &Model, ev: &mut Vec<Event>) {
    for life in &m.instances {
        let place = |kind, name: &str, t, detail: String| Event {
            time: t,
            kind,
            event_name: name.to_string(),
            event_source: "compute.googleapis.com",
            project: life.project.clone(),
            instance: Some(life.name.clone()),
            unique_id: None,
            source_ip: None,
            detail,
        };
        let mut accounts = life.accounts.iter().peekable();
        if let Some(t) = life.created {
            let first: Vec<&str> = life.accounts_at(t);
            ev.push(place(
                "gcp_instance_created",
                "compute.instances.insert",
                t,
                format!("created in {} running as {}", life.zone, or_none(&first)),
            ));
            while accounts.peek().is_some_and(|(at, _)| *at == t) {
                accounts.next();
            }
        }
        for (t, email) in accounts {
            ev.push(place(
                "gcp_service_account_changed",
                "compute.instances.setServiceAccount",
                *t,
                format!("now runs as {email}"),
            ));
        }
        if let Some(t) = life.deleted {
            ev.push(place(
                "gcp_instance_deleted",
                "compute.instances.delete",
                t,
                format!("deleted from {}", life.zone),
            ));
        }
    }
}

/// Each mint, granted or denied, for the account it was for.
fn mint_events(m: &Model, ev: &mut Vec<Event>) {
    for f in &m.mints {
        ev.push(Event {
            time: f.time,
            kind: "gcp_mint",
            event_name: f.method.clone().unwrap_or_default(),
            event_source: "iamcredentials.googleapis.com",
            project: f.project.clone().unwrap_or_default(),
            instance: None,
            unique_id: target_id(m, f),
            source_ip: f.caller_ip.clone(),
            detail: format!(
                "for {} by {}{}",
                target_email(m, f).as_deref().unwrap_or("?"),
                match minter(f) {
                    Some(who) => format!("{who} ({})", caller_type(Some(who))),
                    None => "a caller the log does not name (redacted)".into(),
                },
                if f.failed { ", denied" } else { "" }
            ),
        });
    }
}

/// `gcp_timeline`: each instance's creation, change of account and deletion, and each mint
/// for an account, as rows `timeline` interleaves with the AWS calls.
pub fn timeline(m: &Model) -> PolarsResult<DataFrame> {
    let mut ev: Vec<Event> = Vec::new();
    instance_events(m, &mut ev);
    mint_events(m, &mut ev);
    ev.sort_by_key(|e| e.time);
    DataFrame::new_infer_height(vec![
        times("time", ev.iter().map(|e| Some(e.time)).collect()),
        text(
            "kind",
            ev.iter().map(|e| Some(e.kind.to_string())).collect(),
        ),
        text(
            "event_name",
            ev.iter().map(|e| Some(e.event_name.clone())).collect(),
        ),
        text(
            "event_source",
            ev.iter()
                .map(|e| Some(e.event_source.to_string()))
                .collect(),
        ),
        text(
            "project",
            ev.iter().map(|e| Some(e.project.clone())).collect(),
        ),
        text("instance", ev.iter().map(|e| e.instance.clone()).collect()),
        text(
            "unique_id",
            ev.iter().map(|e| e.unique_id.clone()).collect(),
        ),
        text(
            "source_ip",
            ev.iter().map(|e| e.source_ip.clone()).collect(),
        ),
        text(
            "detail",
            ev.iter().map(|e| Some(e.detail.clone())).collect(),
        ),
    ])
}

fn or_none(v: &[&str]) -> String {
    match v {
        [] => "no service account".into(),
        v => v.join(", "),
    }
}
