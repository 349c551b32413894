//! Findings as OCSF Detection Findings (class 2004), one JSON object a line, in OCSF 1.1.0: the
//! version Amazon Security Lake writes, so that one version serves both directions. The
//! `cloud` and `host` profiles: the instance is the `device` (and a resource), the role session
//! the `actor`, the source IP each evidence's `src_endpoint`, and each event behind the finding
//! a related event and an evidence (OCSF 1.1's related events have no time: the time is in
//! the evidence's `data`).

use std::io::Write;

use polars::prelude::*;
use serde_json::{Value, json};

use crate::analyzer::query::findings::EVIDENCE;

pub const VERSION: &str = "1.1.0";
const CLASS_UID: u32 = 2004;
const CREATE: u32 = 1;
/// Evidence listed per finding; `count` still says how many events there were.
pub const MAX_EVIDENCE: usize = 100;

/// One finding row, as the findings contract has it.
struct Row<'a> {
    kind: Option<&'a str>,
    severity: Option<&'a str>,
    key: Option<&'a str>,
    session: Option<&'a str>,
    project: Option<&'a str>,
    instance: Option<&'a str>,
    sub: Option<&'a str>,
    ip: Option<&'a str>,
    first: Option<i64>,
    last: Option<i64>,
    events: Option<u32>,
    detail: Option<&'a str>,
    evidence: Vec<String>,
}

/// Write every finding of `df` (the findings contract's columns, and [`EVIDENCE`] when there)
/// as a line. `now` (ms) is the time of a finding no event dates (a trust policy's).
pub fn write(df: &DataFrame, now: i64, w: &mut dyn Write) -> PolarsResult<()> {
    let text = |c: &str| -> PolarsResult<StringChunked> {
        Ok(df.column(c)?.cast(&DataType::String)?.str()?.clone())
    };
    let ms = |c: &str| -> PolarsResult<Int64Chunked> {
        let t = df
            .column(c)?
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?;
        Ok(t.cast(&DataType::Int64)?.i64()?.clone())
    };
    let (kind, severity, key, session) = (
        text("kind")?,
        text("severity")?,
        text("access_key_id")?,
        text("session_name")?,
    );
    let (project, instance, sub, ip, detail) = (
        text("project")?,
        text("instance")?,
        text("sub")?,
        text("source_ip")?,
        text("detail")?,
    );
    let (first, last) = (ms("first_seen")?, ms("last_seen")?);
    let events = df.column("events")?.cast(&DataType::UInt32)?;
    let events = events.u32()?;
    let evidence = df
        .column(EVIDENCE)
        .ok()
        .map(|c| c.list().cloned())
        .transpose()?;
    for i in 0..df.height() {
        let listed = evidence
            .as_ref()
            .and_then(|l| l.get_as_series(i))
            .map(|s| {
                s.str()
                    .map(|s| s.iter().flatten().map(str::to_string).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let row = Row {
            kind: kind.get(i),
            severity: severity.get(i),
            key: key.get(i),
            session: session.get(i),
            project: project.get(i),
            instance: instance.get(i),
            sub: sub.get(i),
            ip: ip.get(i),
            first: first.get(i),
            last: last.get(i),
            events: events.get(i),
            detail: detail.get(i),
            evidence: listed,
        };
        serde_json::to_writer(&mut *w, &record(&row, now)).map_err(to_polars)?;
        w.write_all(b"\n").map_err(to_polars)?;
    }
    Ok(())
}

fn to_polars(e: impl std::fmt::Display) -> PolarsError {
    PolarsError::ComputeError(e.to_string().into())
}

/// OCSF's severity: its id and caption.
fn severity(label: Option<&str>) -> (u32, String) {
    match label {
        Some("info") => (1, "Informational".into()),
        Some("low") => (2, "Low".into()),
        Some("medium") => (3, "Medium".into()),
        Some("high") => (4, "High".into()),
        Some(other) => (99, other.to_string()),
        None => (0, "Unknown".into()),
    }
}

/// A stable id: the same finding from the same input has the same uid on every run.
fn uid(r: &Row) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [r.kind, r.key, r.session, r.instance, r.sub, r.ip, r.detail] {
        h.update(part.unwrap_or("").as_bytes());
        h.update([0]);
    }
    h.update(r.first.unwrap_or(0).to_le_bytes());
    hex::encode(&h.finalize()[..16])
}

fn record(r: &Row, now: i64) -> Value {
    let (severity_id, severity) = severity(r.severity);
    let events: Vec<(&str, &str)> = r
        .evidence
        .iter()
        .take(MAX_EVIDENCE)
        .map(|e| e.split_once(' ').unwrap_or(("", e.as_str())))
        .collect();
    let finding = finding_info(r, &events);
    let actor = actor(r);
    let mut out = json!({
        "activity_id": CREATE,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "time": r.first.or(r.last).unwrap_or(now),
        "finding_info": finding,
        "metadata": {
            "version": VERSION,
            "product": {
                "name": "janus-audit",
                "vendor_name": "janus-audit",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "profiles": ["cloud", "host"],
            "log_name": "findings",
        },
        "cloud": {"provider": "AWS"},
    });
    put(&mut out, "start_time", r.first);
    put(&mut out, "end_time", r.last);
    if let Some(n) = r.events {
        out["count"] = json!(n);
    }
    if let Some(d) = r.detail {
        out["message"] = json!(d);
    }
    if let Some(a) = &actor {
        out["actor"] = a.clone();
    }
    if let Some(instance) = r.instance {
        instance_fields(r, instance, &mut out);
    }
    let evidences = evidences(r, &events, actor.as_ref());
    if !evidences.is_empty() {
        out["evidences"] = Value::Array(evidences);
    }
    out
}

/// What was found: its stable uid, its kind as title and type, and the events behind it.
fn finding_info(r: &Row, events: &[(&str, &str)]) -> Value {
    let kind = r.kind.unwrap_or("finding");
    let mut finding = json!({
        "uid": uid(r),
        "title": kind,
        "types": [kind],
        "analytic": {"type_id": 1, "type": "Rule", "name": kind},
    });
    if let Some(d) = r.detail {
        finding["desc"] = json!(d);
    }
    put(&mut finding, "first_seen_time", r.first);
    put(&mut finding, "last_seen_time", r.last);
    if !events.is_empty() {
        finding["related_events"] = events
            .iter()
            .filter(|(_, id)| !id.is_empty())
            .map(|(_, id)| json!({"uid": id, "product_uid": "aws-cloudtrail"}))
            .collect();
    }
    finding
}

/// The instance as the device that acted and the resource the finding is about.
fn instance_fields(r: &Row, instance: &str, out: &mut Value) {
    out["device"] =
        json!({"type_id": 6, "type": "Virtual", "name": instance, "hostname": instance});
    let mut res = json!({"type": "Google Cloud instance", "name": instance});
    if let Some(p) = r.project {
        res["namespace"] = json!(p);
    }
    if let Some(s) = r.session {
        res["uid"] = json!(s);
    }
    out["resources"] = json!([res]);
}

fn put(v: &mut Value, key: &str, ms: Option<i64>) {
    if let Some(t) = ms {
        v[key] = json!(t);
    }
}

/// The role session that acted: its name, the Google `sub` that assumed it, the key.
fn actor(r: &Row) -> Option<Value> {
    if r.session.is_none() && r.key.is_none() && r.sub.is_none() {
        return None;
    }
    let mut user = json!({});
    if let Some(s) = r.session {
        user["name"] = json!(s);
    }
    if let Some(s) = r.sub {
        user["uid"] = json!(s);
    }
    if let Some(k) = r.key {
        user["credential_uid"] = json!(k);
    }
    let mut actor = json!({ "user": user });
    if let Some(k) = r.key {
        actor["session"] = json!({"credential_uid": k});
    }
    if r.sub.is_some() {
        actor["idp"] = json!({"name": crate::analyzer::source::record::GOOGLE});
    }
    Some(actor)
}

/// One evidence per event behind the finding (its eventID and time in `data`), else one for
/// the finding as a whole; each with the actor and the source IP.
fn evidences(r: &Row, events: &[(&str, &str)], actor: Option<&Value>) -> Vec<Value> {
    let base = || {
        let mut e = json!({});
        if let Some(a) = actor {
            e["actor"] = a.clone();
        }
        if let Some(ip) = r.ip {
            e["src_endpoint"] = json!({ "ip": ip });
        }
        e
    };
    if events.is_empty() {
        let e = base();
        return match e.as_object().is_some_and(|o| o.is_empty()) {
            true => Vec::new(),
            false => vec![e],
        };
    }
    events
        .iter()
        .map(|(time, id)| {
            let mut e = base();
            e["data"] = json!({"event_uid": id, "event_time": time});
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(evidence: bool) -> DataFrame {
        let t = |v: [Option<i64>; 2], name: &str| {
            Int64Chunked::from_iter_options(name.into(), v.into_iter())
                .into_datetime(TimeUnit::Milliseconds, Some(polars::prelude::TimeZone::UTC))
                .into_column()
        };
        let mut cols = vec![
            Column::new(
                "kind".into(),
                ["key_used_from_foreign_ip", "trust_session_name_free"],
            ),
            Column::new("severity".into(), ["high", "info"]),
            Column::new("access_key_id".into(), [Some("ASIAKEY"), None]),
            Column::new("session_name".into(), [Some("p.vm-1"), None]),
            Column::new("project".into(), [Some("p"), None]),
            Column::new("instance".into(), [Some("vm-1"), None]),
            Column::new("sub".into(), [Some("1234"), None]),
            Column::new("source_ip".into(), [Some("198.51.100.23"), None]),
            t([Some(1_760_000_000_000), None], "first_seen"),
            t([Some(1_760_000_060_000), None], "last_seen"),
            Column::new("events".into(), [2u32, 0]),
            Column::new("detail".into(), ["used from elsewhere", "any session name"]),
        ];
        if evidence {
            let list: ListChunked = [
                Some(Series::new(
                    "".into(),
                    ["2025-10-09T08:53:20Z e-1", "2025-10-09T08:54:20Z e-2"],
                )),
                None,
            ]
            .into_iter()
            .collect();
            cols.push(list.with_name(EVIDENCE.into()).into_column());
        }
        DataFrame::new(2, cols).unwrap()
    }

    fn lines(df: &DataFrame) -> Vec<Value> {
        let mut out = Vec::new();
        write(df, 42, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_finding_with_its_events_names_each_as_a_related_event_and_an_evidence() {
        let out = lines(&findings(true));
        assert_eq!(out.len(), 2);
        let f = &out[0];
        assert_eq!(f["class_uid"], 2004);
        assert_eq!(f["type_uid"], 200401);
        assert_eq!(f["severity_id"], 4);
        assert_eq!(f["metadata"]["version"], "1.1.0");
        assert_eq!(f["time"], 1_760_000_000_000i64);
        assert_eq!(f["count"], 2);
        assert_eq!(f["device"]["name"], "vm-1");
        assert_eq!(f["actor"]["user"]["uid"], "1234");
        assert_eq!(f["actor"]["session"]["credential_uid"], "ASIAKEY");
        let related: Vec<&str> = f["finding_info"]["related_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_str().unwrap())
            .collect();
        assert_eq!(related, ["e-1", "e-2"]);
        assert_eq!(
            f["evidences"][1]["data"]["event_time"],
            "2025-10-09T08:54:20Z"
        );
        assert_eq!(f["evidences"][1]["src_endpoint"]["ip"], "198.51.100.23");
        // No event dates a policy's finding: the time it was made.
        let p = &out[1];
        assert_eq!(p["time"], 42);
        assert_eq!(p["severity_id"], 1);
        assert!(p.get("actor").is_none() && p.get("evidences").is_none());
    }

    #[test]
    fn the_uid_is_the_same_on_every_run_and_differs_between_findings() {
        let (a, b) = (lines(&findings(false)), lines(&findings(true)));
        assert_eq!(a[0]["finding_info"]["uid"], b[0]["finding_info"]["uid"]);
        assert_ne!(a[0]["finding_info"]["uid"], a[1]["finding_info"]["uid"]);
        assert!(a[0]["finding_info"].get("related_events").is_none());
        // Without its events, one evidence for the finding as a whole.
        assert_eq!(a[0]["evidences"].as_array().unwrap().len(), 1);
    }
}
