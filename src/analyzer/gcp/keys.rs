//! `gcp_instance` for the reports' keys: per successful assumption (`gcp_verdicts`, which the
//! GCP findings read), per `sessions` row, and per `by-instance` row (its worst key).

use std::collections::HashMap;

use polars::prelude::*;

use crate::analyzer::gcp::model::Model;
use crate::analyzer::gcp::verdict::{self, Verdict};

fn strings(df: &DataFrame, name: &str) -> PolarsResult<StringChunked> {
    Ok(df.column(name)?.cast(&DataType::String)?.str()?.clone())
}

fn millis(df: &DataFrame, name: &str) -> PolarsResult<Int64Chunked> {
    Ok(df.column(name)?.cast(&DataType::Int64)?.i64()?.clone())
}

/// Each row's verdict, from its `session_name`, `sub` and issue time (`time` column).
fn judged(m: &Model, df: &DataFrame, time: &str) -> PolarsResult<Vec<Verdict>> {
    let (names, subs, at) = (
        strings(df, "session_name")?,
        strings(df, "sub")?,
        millis(df, time)?,
    );
    Ok((0..df.height())
        .map(|i| verdict::judge(m, names.get(i).unwrap_or(""), subs.get(i), at.get(i)))
        .collect())
}

/// `gcp_verdicts`: every successful assumption of the input with its class and what it rests
/// on (the instance found, the accounts it ran as, the reason).
pub fn verdicts(m: &Model, assumptions: &DataFrame) -> PolarsResult<DataFrame> {
    let ok = assumptions
        .clone()
        .lazy()
        .filter(
            col("error_code")
                .is_null()
                .and(col("access_key_id").is_not_null()),
        )
        .select([
            col("event_id"),
            col("event_time"),
            col("access_key_id"),
            col("role_arn"),
            col("session_name"),
            col("sub"),
            col("issuing_ip"),
            col("project"),
            col("instance"),
            col("in_window"),
        ])
        .collect()?;
    let v = judged(m, &ok, "event_time")?;
    let mut out = ok;
    out.with_column(Column::new(
        "gcp_instance".into(),
        v.iter().map(|v| v.class).collect::<Vec<_>>(),
    ))?;
    out.with_column(Column::new(
        "gcp_found".into(),
        v.iter().map(|v| v.instance.clone()).collect::<Vec<_>>(),
    ))?;
    out.with_column(crate::analyzer::gcp::tables::lists(
        "ran_as",
        v.iter().map(|x| x.ran_as.as_slice()),
    ))?;
    out.with_column(Column::new(
        "reason".into(),
        v.iter().map(|v| v.reason.clone()).collect::<Vec<_>>(),
    ))?;
    Ok(out)
}

/// `gcp_instance` of every `sessions` row: a root key's own, a chained key its root's (the
/// session name is the root's claim).
pub fn for_sessions(m: &Model, sessions: &DataFrame) -> PolarsResult<Vec<&'static str>> {
    let own = judged(m, sessions, "issued_at")?;
    let (keys, roots, names) = (
        strings(sessions, "access_key_id")?,
        strings(sessions, "root_key")?,
        strings(sessions, "session_name")?,
    );
    let depth = sessions.column("depth")?.cast(&DataType::Int64)?;
    let depth = depth.i64()?;
    let roots_of: HashMap<(Option<&str>, Option<&str>), &'static str> = (0..sessions.height())
        .filter(|&i| depth.get(i) == Some(0))
        .map(|i| ((keys.get(i), names.get(i)), own[i].class))
        .collect();
    Ok((0..sessions.height())
        .map(|i| match depth.get(i) {
            Some(0) => own[i].class,
            _ => roots_of
                .get(&(roots.get(i), names.get(i)))
                .copied()
                .unwrap_or(own[i].class),
        })
        .collect())
}

/// Each session name's worst class among its keys.
pub fn worst_by_name(
    sessions: &DataFrame,
    values: &[&'static str],
) -> PolarsResult<HashMap<String, &'static str>> {
    let names = strings(sessions, "session_name")?;
    let mut out: HashMap<String, &'static str> = HashMap::new();
    for (i, v) in values.iter().enumerate() {
        let Some(name) = names.get(i) else { continue };
        out.entry(name.to_string())
            .and_modify(|w| *w = verdict::worse(w, v))
            .or_insert(v);
    }
    Ok(out)
}

/// Append `gcp_instance` to a `sessions` frame (`keys` None: each row its key's) or to a
/// `by-instance` frame (`keys` its sessions: each row the worst of its session name's keys; a
/// name with no key is `not_covered`).
pub fn append(frame: &mut DataFrame, keys: Option<&DataFrame>, m: &Model) -> PolarsResult<()> {
    let values: Vec<&'static str> = match keys {
        None => for_sessions(m, frame)?,
        Some(k) => {
            let worst = worst_by_name(k, &for_sessions(m, k)?)?;
            strings(frame, "session_name")?
                .iter()
                .map(|n| {
                    n.and_then(|n| worst.get(n))
                        .copied()
                        .unwrap_or("not_covered")
                })
                .collect()
        }
    };
    frame.with_column(Column::new("gcp_instance".into(), values))?;
    Ok(())
}
