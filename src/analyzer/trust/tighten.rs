//! `trust --tighten`: for each role whose policy admits more than listed identities, the policy
//! that admits only the identities the trail shows assuming it, in the shape `trust --policies`
//! reads back (`RoleDetailList`), so the result can be judged before it is applied.

use std::collections::BTreeSet;

use polars::prelude::*;
use serde_json::{Value, json};

use crate::analyzer::trust::history::verdict;
use crate::analyzer::trust::source::RolePolicy;
use crate::base::trust::judge::Who;

/// The tightened policies, and a sentence for each loose role that cannot be tightened.
pub fn tighten(
    assumptions: &DataFrame,
    current: &[RolePolicy],
) -> PolarsResult<(Value, Vec<String>)> {
    let col = |n: &str| -> PolarsResult<StringChunked> {
        Ok(assumptions
            .column(n)?
            .cast(&DataType::String)?
            .str()?
            .clone())
    };
    let (roles, subs, auds, errors) = (
        col("role_arn")?,
        col("sub")?,
        col("aud")?,
        col("error_code")?,
    );
    let mut out = Vec::new();
    let mut untouched = Vec::new();
    for p in current {
        let Some(v) = verdict(p) else { continue };
        if matches!(v.who, Who::ListedIdentities | Who::None) {
            continue;
        }
        let (mut seen_subs, mut seen_auds) = (BTreeSet::new(), BTreeSet::new());
        for i in 0..assumptions.height() {
            if roles.get(i) != Some(p.role_arn.as_str()) || errors.get(i).is_some() {
                continue;
            }
            if let Some(s) = subs.get(i) {
                seen_subs.insert(s);
            }
            if let Some(a) = auds.get(i) {
                seen_auds.insert(a);
            }
        }
        if seen_subs.is_empty() {
            untouched.push(format!(
                "{} admits {} but the trail shows no one assuming it: nothing to pin it to",
                crate::base::text::excerpt(&p.role_arn),
                v.who.as_str()
            ));
            continue;
        }
        let oaud: Vec<&str> = v.audiences.iter().map(String::as_str).collect();
        let sub: Vec<&str> = seen_subs.into_iter().collect();
        let aud: Vec<&str> = seen_auds.into_iter().collect();
        let name = p.role_arn.rsplit('/').next().unwrap_or_default();
        out.push(json!({
            "Arn": p.role_arn,
            "RoleName": name,
            "AssumeRolePolicyDocument": crate::base::trust::pinned_to(&aud, &oaud, &sub, None),
            "Replaces": v.who.as_str(),
            "Review": "pins every sub and aud the trail shows assuming the role: drop any you do not recognise before applying it",
        }));
    }
    Ok((json!({ "RoleDetailList": out }), untouched))
}
