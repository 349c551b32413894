//! The roles' trust policies, read from where users keep them (`--policies`), judged by
//! `base::trust`, as one row per statement that names Google and one per role.

pub mod history;
pub mod iam;
pub mod name;
pub mod source;
pub mod tighten;
pub mod versions;

use polars::prelude::*;

use crate::base::text::{excerpt, quoted};
use crate::base::trust::judge::{self, Verdict, Who};

pub use source::{Loaded, RolePolicy};

/// Read every source, in order: `iam` is the live IAM API, anything else a file or directory.
/// A role given twice keeps its first document. Roles come out in ARN order, whatever order
/// the source listed them in, so that two nights' answers can be compared line by line.
pub fn load(
    sources: &[std::path::PathBuf],
    iam_opts: &iam::IamOptions,
) -> Result<Loaded, iam::IamError> {
    let mut out = Loaded::default();
    for src in sources {
        match src.as_os_str() == iam::SOURCE {
            true => {
                let (roles, problems) = iam::roles(iam_opts)?;
                out.roles.extend(roles);
                out.problems.extend(problems);
            }
            false => source::read_source(src, &mut out),
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.roles.retain(|r| seen.insert(r.role_arn.clone()));
    out.roles.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
    Ok(out)
}

/// The `statement` of a role's own row.
pub const ROLE_ROW: &str = "*";

/// One row: role ARN, statement, effect, verdict, source.
type Row<'a> = (&'a str, String, String, Verdict, &'a str);

/// Every role's rows: its statements that name Google, in document order, then its own.
pub fn frame(roles: &[RolePolicy]) -> PolarsResult<DataFrame> {
    let mut rows: Vec<Row> = Vec::new();
    for r in roles {
        let verdict = match &r.document {
            Ok(doc) => {
                let (judged, role) = judge::document(doc);
                for (s, v) in judged {
                    rows.push((&r.role_arn, s.id.clone(), s.effect.clone(), v, &r.origin));
                }
                role
            }
            Err(e) => Verdict {
                who: Who::Unknown,
                subjects: Vec::new(),
                audiences: Vec::new(),
                session_name: judge::FREE.into(),
                reason: e.clone(),
                malformed: true,
            },
        };
        rows.push((
            &r.role_arn,
            ROLE_ROW.into(),
            String::new(),
            verdict,
            &r.origin,
        ));
    }
    let list = |name: &str, f: &dyn Fn(&Verdict) -> &Vec<String>| -> Column {
        let mut b = ListStringChunkedBuilder::new(name.into(), rows.len(), rows.len() * 2);
        for (_, _, _, v, _) in &rows {
            b.append_values_iter(f(v).iter().map(String::as_str));
        }
        b.finish().into_column()
    };
    let text = |name: &str, f: &dyn Fn(&Row) -> Option<String>| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new_infer_height(vec![
        text("role_arn", &|r| Some(r.0.to_string())),
        text("statement", &|r| Some(r.1.clone())),
        text("effect", &|r| (!r.2.is_empty()).then(|| r.2.clone())),
        text("who", &|r| Some(r.3.who.as_str().to_string())),
        list("subjects", &|v| &v.subjects),
        list("audiences", &|v| &v.audiences),
        text("session_name", &|r| Some(r.3.session_name.clone())),
        text("reason", &|r| Some(r.3.reason.clone())),
        text("source", &|r| Some(r.4.to_string())),
    ])
}

/// Statements and roles that are bad input: named on stderr and counted.
pub fn malformed(roles: &[RolePolicy]) -> Vec<String> {
    let mut out = Vec::new();
    for r in roles {
        match &r.document {
            Err(e) => out.push(format!(
                "{} ({}): {e}",
                excerpt(&r.role_arn),
                quoted(std::path::Path::new(&r.origin))
            )),
            Ok(doc) => {
                for s in doc.statements.iter().filter(|s| judge::names_google(s)) {
                    let v = judge::statement(s);
                    if v.malformed {
                        out.push(format!(
                            "{} ({}), statement {}: {}",
                            excerpt(&r.role_arn),
                            quoted(std::path::Path::new(&r.origin)),
                            excerpt(&s.id),
                            v.reason
                        ));
                    }
                }
            }
        }
    }
    out
}
