//! `name_trust`: how far each key's session name can be believed, from its role's trust policy
//! and its `sub`, for `sessions` and `by-instance --policies`.

use std::collections::HashMap;

use polars::prelude::*;

use crate::analyzer::trust::history::{Change, admits, verdict};
use crate::analyzer::trust::source::RolePolicy;
use crate::base::timefmt::Millis;
use crate::base::trust::judge::{Verdict, Who};

/// The values, weakest first: a `by-instance` row takes its weakest key's.
pub const ORDER: [&str; 4] = ["any_google_identity", "pattern", "unknown", "pinned"];

/// One key's value: `pinned` when the role admits only listed identities and this `sub` is one of
/// them; `any_google_identity` when it admits any; `pattern` when a wildcard admits this `sub`;
/// `unknown` otherwise (a policy that cannot be decided, a role no source gives, or a `sub` the
/// policy would refuse: the input is then incomplete or the policy was different).
fn judge(v: Option<&Verdict>, sub: Option<&str>) -> &'static str {
    let (Some(v), Some(sub)) = (v, sub) else {
        return "unknown";
    };
    // Whether the policy admits this sub is `history::admits`'s answer; how far that makes the
    // name believable depends on whom else it admits.
    match (admits(v, sub), v.who) {
        ("yes", Who::AnyGoogleIdentity) => "any_google_identity",
        ("yes", Who::ListedIdentities) => "pinned",
        ("yes", Who::Pattern) => "pattern",
        _ => "unknown",
    }
}

/// `name_trust` for every row of a `sessions` frame, judged by the policy in force when the key
/// was issued: the input's last change of its role before then, else (for a role the input never
/// changes) its `--policies` document; a key issued before the input's first change of its role
/// is judged by no policy (`unknown`). A chained key's name is its root's: it takes the value of
/// the key its chain started from.
pub fn for_sessions(
    sessions: &DataFrame,
    policies: &[RolePolicy],
    changes: &[Change],
) -> PolarsResult<Vec<&'static str>> {
    let verdicts: HashMap<&str, Option<Verdict>> = policies
        .iter()
        .map(|p| (p.role_arn.as_str(), verdict(p)))
        .collect();
    let versions: Vec<(&str, Millis, Option<Verdict>)> = changes
        .iter()
        .map(|c| (c.policy.role_arn.as_str(), c.at, verdict(&c.policy)))
        .collect();
    let issued = sessions.column("issued_at")?.cast(&DataType::Int64)?;
    let issued = issued.i64()?;
    let in_force = |role: &str, at: Option<Millis>| -> Option<&Verdict> {
        let of_role: Vec<_> = versions.iter().filter(|v| v.0 == role).collect();
        match of_role.is_empty() {
            true => verdicts.get(role).and_then(Option::as_ref),
            false => of_role
                .iter()
                .rev()
                .find(|v| at.is_some_and(|t| v.1 <= t))
                .and_then(|v| v.2.as_ref()),
        }
    };
    let col = |n: &str| -> PolarsResult<StringChunked> {
        Ok(sessions.column(n)?.cast(&DataType::String)?.str()?.clone())
    };
    let (roles, subs) = (col("role_arn")?, col("sub")?);
    let own: Vec<&'static str> = (0..sessions.height())
        .map(|i| {
            let v = roles.get(i).and_then(|r| in_force(r, issued.get(i)));
            judge(v, subs.get(i))
        })
        .collect();
    crate::analyzer::query::per_key::from_roots(sessions, &own, Some("unknown"))
}

/// `frame` with `name_trust` appended: per row from `values`.
pub fn append(frame: &mut DataFrame, values: Vec<&'static str>) -> PolarsResult<()> {
    frame.with_column(Column::new("name_trust".into(), values))?;
    Ok(())
}
