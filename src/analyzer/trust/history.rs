//! The trail's side of `trust`: each role's trust policy over time (CreateRole and
//! UpdateAssumeRolePolicy in CloudTrail, and the `--policies` document), and each Google
//! assumption judged against the policy in force when it happened.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Deserialize;

use crate::analyzer::trust::source::RolePolicy;
use crate::analyzer::trust::source::decoded;
use crate::base::timefmt::Millis;
use crate::base::trust::judge::{self, Verdict, Who};
use crate::base::trust::{self, wildcard_match};

/// One version of a role's trust policy that the trail records.
#[derive(Debug, Clone)]
pub struct Change {
    pub at: Millis,
    pub policy: RolePolicy,
    pub event_id: Option<String>,
    pub event_name: String,
    pub caller_arn: Option<String>,
    pub source_ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    role_name: Option<String>,
    path: Option<String>,
    assume_role_policy_document: Option<String>,
    policy_document: Option<String>,
}

fn texts(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn millis(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<Millis>>> {
    Ok(df
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .collect())
}

/// The path of a role ARN (`arn:aws:iam::1:role/gcp/x` → `/gcp/`), keyed by account and name.
fn path_of(arn: &str) -> Option<((String, String), String)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("role")?;
    let cut = rest.rfind('/')?;
    Some((
        (account.to_string(), rest[cut + 1..].to_string()),
        rest[..=cut].to_string(),
    ))
}

/// The changes a `policy_changes` table's rows record, in time order. An
/// UpdateAssumeRolePolicy names only the role: its path comes from the trail's CreateRole, else
/// from the `--policies` ARN of that name in that account, else `/`.
pub fn changes(df: &DataFrame, current: &[RolePolicy]) -> PolarsResult<Vec<Change>> {
    let mut paths: BTreeMap<(String, String), String> = current
        .iter()
        .filter_map(|r| path_of(&r.role_arn))
        .collect();
    let ids = texts(df, "event_id")?;
    let times = millis(df, "event_time")?;
    let names = texts(df, "event_name")?;
    let accounts = texts(df, "account_id")?;
    let callers = texts(df, "caller_arn")?;
    let ips = texts(df, "source_ip")?;
    let requests = texts(df, "request_parameters")?;
    let mut out = Vec::new();
    for i in 0..df.height() {
        let (Some(at), Some(account)) = (times[i], accounts[i].clone()) else {
            continue;
        };
        let req: Request = requests[i]
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default();
        let Some(name) = req.role_name else { continue };
        let event = names[i].clone().unwrap_or_default();
        let key = (account.clone(), name.clone());
        if event == "CreateRole" {
            paths.insert(key.clone(), req.path.clone().unwrap_or_else(|| "/".into()));
        }
        let path = paths.get(&key).cloned().unwrap_or_else(|| "/".into());
        let text = req.assume_role_policy_document.or(req.policy_document);
        let document = match text {
            Some(t) => trust::parse(&decoded(&t))
                .map_err(|e| format!("the document {event} set cannot be read: {e}")),
            None => Err(format!("{event} without a policy document")),
        };
        out.push(Change {
            at,
            event_id: ids[i].clone(),
            event_name: event.clone(),
            caller_arn: callers[i].clone(),
            source_ip: ips[i].clone(),
            policy: RolePolicy {
                role_arn: format!("arn:aws:iam::{account}:role{path}{name}"),
                document,
                origin: format!(
                    "CloudTrail {event} {} by {} from {} (event {})",
                    crate::base::timefmt::format_millis(at),
                    callers[i].as_deref().unwrap_or("?"),
                    ips[i].as_deref().unwrap_or("?"),
                    ids[i].as_deref().unwrap_or("?")
                ),
            },
        });
    }
    out.sort_by_key(|c| c.at);
    Ok(out)
}

/// The changes in a `policy_changes` table that took effect (an event with an error changed
/// nothing), in time order.
pub fn succeeded(policy_changes: &DataFrame, current: &[RolePolicy]) -> PolarsResult<Vec<Change>> {
    let ok = policy_changes
        .clone()
        .lazy()
        .filter(col("error_code").is_null())
        .collect()?;
    changes(&ok, current)
}

/// Each role's policy as it stands: the trail's last change of it, else its `--policies`
/// document (which has no time to be ordered by).
pub fn latest(current: &[RolePolicy], changes: &[Change]) -> Vec<RolePolicy> {
    let mut out: Vec<RolePolicy> = current
        .iter()
        .filter(|r| !changes.iter().any(|c| c.policy.role_arn == r.role_arn))
        .cloned()
        .collect();
    let mut last: BTreeMap<&str, &RolePolicy> = BTreeMap::new();
    for c in changes {
        last.insert(&c.policy.role_arn, &c.policy);
    }
    out.extend(last.into_values().cloned());
    out
}

/// The role-level verdict of a policy (or why it has none).
pub fn verdict(p: &RolePolicy) -> Option<Verdict> {
    Some(judge::document(p.document.as_ref().ok()?).1)
}

/// Whether a verdict admits `sub`: `yes`, `no` or `unknown`.
pub fn admits(v: &Verdict, sub: &str) -> &'static str {
    match v.who {
        Who::AnyGoogleIdentity => "yes",
        Who::ListedIdentities if v.subjects.iter().any(|s| s == sub) => "yes",
        Who::Pattern if v.subjects.iter().any(|p| wildcard_match(p, sub, false)) => "yes",
        Who::Unknown => "unknown",
        _ => "no",
    }
}

#[derive(Default)]
struct Seen {
    assumptions: u64,
    failed: u64,
    first: Option<Millis>,
    last: Option<Millis>,
}

/// Per role, `sub` and the policy in force: how many assumptions (and refusals), and whether that
/// policy admits the `sub`. An assumption before the trail's first change of its role is judged
/// by no policy (`not covered`); a role the trail never changes, by its `--policies` document.
pub fn observed(
    assumptions: &DataFrame,
    current: &[RolePolicy],
    changes: &[Change],
) -> PolarsResult<DataFrame> {
    let roles = texts(assumptions, "role_arn")?;
    let subs = texts(assumptions, "sub")?;
    let times = millis(assumptions, "event_time")?;
    let errors = texts(assumptions, "error_code")?;
    let mut groups: Groups = BTreeMap::new();
    for i in 0..assumptions.height() {
        let (Some(role), Some(t)) = (roles[i].as_deref(), times[i]) else {
            continue;
        };
        let sub = subs[i].clone().unwrap_or_default();
        let of_role: Vec<&Change> = changes
            .iter()
            .filter(|c| c.policy.role_arn == role)
            .collect();
        let policy = match of_role.iter().rev().find(|c| c.at <= t) {
            Some(c) => Some(&c.policy),
            None if of_role.is_empty() => current.iter().find(|r| r.role_arn == role),
            None => None,
        };
        let (origin, who, admitted) = match policy.map(|p| (p, verdict(p))) {
            Some((p, Some(v))) => (
                p.origin.clone(),
                v.who.as_str().to_string(),
                admits(&v, &sub),
            ),
            Some((p, None)) => (p.origin.clone(), Who::Unknown.as_str().into(), "unknown"),
            None => (String::new(), String::new(), "not covered"),
        };
        let g = groups
            .entry((role.to_string(), sub, origin))
            .or_insert_with(|| (who, admitted.to_string(), Seen::default()));
        match errors[i] {
            None => g.2.assumptions += 1,
            Some(_) => g.2.failed += 1,
        }
        g.2.first = Some(g.2.first.map_or(t, |f| f.min(t)));
        g.2.last = Some(g.2.last.map_or(t, |l| l.max(t)));
    }
    observed_frame(groups)
}

/// (role, sub, policy origin) → (who, admitted, counts).
type Groups = BTreeMap<(String, String, String), (String, String, Seen)>;
type Group = ((String, String, String), (String, String, Seen));

fn observed_frame(groups: Groups) -> PolarsResult<DataFrame> {
    let rows: Vec<_> = groups.into_iter().collect();
    let text = |name: &str, f: &dyn Fn(&Group) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    let count = |name: &str, f: &dyn Fn(&Seen) -> u64| {
        Column::new(
            name.into(),
            rows.iter().map(|r| f(&r.1.2)).collect::<Vec<_>>(),
        )
    };
    let time = |name: &str, f: &dyn Fn(&Seen) -> Option<Millis>| -> PolarsResult<Column> {
        Ok(
            Int64Chunked::from_iter_options(name.into(), rows.iter().map(|r| f(&r.1.2)))
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                .into_column(),
        )
    };
    DataFrame::new_infer_height(vec![
        text("role_arn", &|r| Some(r.0.0.clone())),
        text("sub", &|r| Some(r.0.1.clone())),
        text("admitted", &|r| Some(r.1.1.clone())),
        count("assumptions", &|s| s.assumptions),
        count("failed", &|s| s.failed),
        time("first_seen", &|s| s.first)?,
        time("last_seen", &|s| s.last)?,
        text("who", &|r| (!r.1.0.is_empty()).then(|| r.1.0.clone())),
        text("policy", &|r| (!r.0.2.is_empty()).then(|| r.0.2.clone())),
        text("note", &|r| note(&r.1.1, r.1.2.assumptions)),
    ])
}

fn note(admitted: &str, succeeded: u64) -> Option<String> {
    match (admitted, succeeded > 0) {
        ("no", true) => Some(
            "the policy in force would refuse this sub, yet it was admitted: the input is incomplete or the policy was different".into(),
        ),
        ("not covered", _) => Some(
            "before the trail's first change of this role: the policy then in force is not in the input".into(),
        ),
        _ => None,
    }
}
