//! The facts and coverage as frames, for the dataset: `ingest --gcp-logs` stores what it read,
//! and a later report with `--dataset` derives the GCP tables from it as from the logs.

use polars::prelude::*;

use crate::analyzer::gcp::entry::{Fact, Kind, LogType};
use crate::analyzer::gcp::read::Coverage;
use crate::analyzer::gcp::tables::lists;

fn strings(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn string_lists(df: &DataFrame, name: &str) -> PolarsResult<Vec<Vec<String>>> {
    let col = df.column(name)?.list()?.clone();
    let mut out = Vec::with_capacity(df.height());
    for v in col.amortized_iter() {
        let items = match v {
            Some(s) => s
                .as_ref()
                .str()?
                .iter()
                .flatten()
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        };
        out.push(items);
    }
    Ok(out)
}

/// One row per fact.
pub fn facts_frame(facts: &[Fact]) -> PolarsResult<DataFrame> {
    let t = |name: &str, f: &dyn Fn(&Fact) -> Option<String>| {
        Column::new(name.into(), facts.iter().map(f).collect::<Vec<_>>())
    };
    let b = |name: &str, f: &dyn Fn(&Fact) -> bool| {
        Column::new(name.into(), facts.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new_infer_height(vec![
        t("log_name", &|f| Some(f.log_name.clone())),
        t("insert_id", &|f| Some(f.insert_id.clone())),
        Column::new(
            "time".into(),
            facts.iter().map(|f| f.time).collect::<Vec<_>>(),
        ),
        t("log_type", &|f| f.log_type.map(|l| l.as_str().to_string())),
        t("kind", &|f| f.kind.map(|k| k.as_str().to_string())),
        t("project", &|f| f.project.clone()),
        t("method", &|f| f.method.clone()),
        t("zone", &|f| f.zone.clone()),
        t("instance", &|f| f.instance.clone()),
        t("instance_id", &|f| f.instance_id.clone()),
        lists("emails", facts.iter().map(|f| f.emails.as_slice())),
        t("sa_email", &|f| f.sa_email.clone()),
        t("sa_unique_id", &|f| f.sa_unique_id.clone()),
        t("operation_id", &|f| f.operation_id.clone()),
        b("failed", &|f| f.failed),
        t("caller", &|f| f.caller.clone()),
        t("caller_ip", &|f| f.caller_ip.clone()),
        t("user_agent", &|f| f.user_agent.clone()),
        lists("delegation", facts.iter().map(|f| f.delegation.as_slice())),
        t("detail", &|f| f.detail.clone()),
    ])
}

/// The facts a [`facts_frame`] holds, in its order.
pub fn facts_from(df: &DataFrame) -> PolarsResult<Vec<Fact>> {
    let s = |n: &str| strings(df, n);
    let bools = |n: &str| -> PolarsResult<Vec<bool>> {
        Ok(df
            .column(n)?
            .bool()?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect())
    };
    let (log_name, insert_id, log_type, kind, project, method) = (
        s("log_name")?,
        s("insert_id")?,
        s("log_type")?,
        s("kind")?,
        s("project")?,
        s("method")?,
    );
    let (zone, instance, instance_id, sa_email, sa_unique_id, operation_id) = (
        s("zone")?,
        s("instance")?,
        s("instance_id")?,
        s("sa_email")?,
        s("sa_unique_id")?,
        s("operation_id")?,
    );
    let (caller, caller_ip, user_agent, detail) = (
        s("caller")?,
        s("caller_ip")?,
        s("user_agent")?,
        s("detail")?,
    );
    let failed = bools("failed")?;
    let (emails, delegation) = (string_lists(df, "emails")?, string_lists(df, "delegation")?);
    let time = df.column("time")?.cast(&DataType::Int64)?;
    let time = time.i64()?;
    Ok((0..df.height())
        .map(|i| Fact {
            log_name: log_name[i].clone().unwrap_or_default(),
            insert_id: insert_id[i].clone().unwrap_or_default(),
            time: time.get(i).unwrap_or(0),
            log_type: log_type[i].as_deref().and_then(LogType::parse),
            kind: kind[i].as_deref().and_then(Kind::parse),
            project: project[i].clone(),
            method: method[i].clone(),
            zone: zone[i].clone(),
            instance: instance[i].clone(),
            instance_id: instance_id[i].clone(),
            emails: emails[i].clone(),
            sa_email: sa_email[i].clone(),
            sa_unique_id: sa_unique_id[i].clone(),
            operation_id: operation_id[i].clone(),
            failed: failed[i],
            caller: caller[i].clone(),
            caller_ip: caller_ip[i].clone(),
            user_agent: user_agent[i].clone(),
            delegation: delegation[i].clone(),
            detail: detail[i].clone(),
        })
        .collect())
}

/// One row per project and log.
pub fn coverage_frame(c: &Coverage) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        Column::new(
            "project".into(),
            c.keys().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "log_type".into(),
            c.keys().map(|(_, t)| t.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "first".into(),
            c.values().map(|(f, _)| *f).collect::<Vec<_>>(),
        ),
        Column::new(
            "last".into(),
            c.values().map(|(_, l)| *l).collect::<Vec<_>>(),
        ),
    ])
}

/// Add a [`coverage_frame`]'s spans to `c`.
pub fn merge_coverage(df: &DataFrame, c: &mut Coverage) -> PolarsResult<()> {
    let (p, t) = (strings(df, "project")?, strings(df, "log_type")?);
    let (f, l) = (df.column("first")?.i64()?, df.column("last")?.i64()?);
    for i in 0..df.height() {
        let (Some(p), Some(t), Some(f), Some(l)) = (
            p[i].clone(),
            t[i].as_deref().and_then(LogType::parse),
            f.get(i),
            l.get(i),
        ) else {
            continue;
        };
        let span = c.entry((p, t)).or_insert((f, l));
        span.0 = span.0.min(f);
        span.1 = span.1.max(l);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_come_back_from_their_frame_unchanged() {
        let facts = vec![
            Fact {
                log_name: "projects/p/logs/cloudaudit.googleapis.com%2Factivity".into(),
                insert_id: "x1".into(),
                time: 1_790_000_000_000,
                log_type: Some(LogType::Activity),
                kind: Some(Kind::InstanceInsert),
                project: Some("prod-data-1234".into()),
                zone: Some("us-central1-a".into()),
                instance: Some("etl-1".into()),
                emails: vec!["a@b".into(), "c@d".into()],
                operation_id: Some("operation-1".into()),
                ..Fact::default()
            },
            Fact {
                kind: Some(Kind::Mint),
                failed: true,
                delegation: vec!["user@example.com".into()],
                ..Fact::default()
            },
        ];
        let back = facts_from(&facts_frame(&facts).unwrap()).unwrap();
        assert_eq!(back, facts);
    }
}
