//! `gcp_instance` for the reports' keys: per successful assumption (`gcp_verdicts`, which the
//! GCP findings read), per `sessions` row, and per `by-instance` row (its worst key).

use polars::prelude::*;

use crate::analyzer::gcp::model::Model;
use crate::analyzer::gcp::verdict::{self, Verdict};
use crate::analyzer::query::per_key;

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
    let own: Vec<&'static str> = judged(m, sessions, "issued_at")?
        .iter()
        .map(|v| v.class)
        .collect();
    per_key::from_roots(sessions, &own, None)
}

/// Append `gcp_instance` to a `sessions` frame (`keys` None: each row its key's) or to a
/// `by-instance` frame (`keys` its sessions: each row the worst of its session name's keys; a
/// name with no key is `not_covered`).
pub fn append(frame: &mut DataFrame, keys: Option<&DataFrame>, m: &Model) -> PolarsResult<()> {
    let values: Vec<&'static str> = match keys {
        None => for_sessions(m, frame)?,
        Some(k) => per_key::worst_by_name(
            frame,
            k,
            &for_sessions(m, k)?,
            &verdict::ORDER,
            "not_covered",
        )?,
    };
    frame.with_column(Column::new("gcp_instance".into(), values))?;
    Ok(())
}
