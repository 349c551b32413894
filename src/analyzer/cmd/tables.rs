//! `tables`: every table a query can read, with its columns, taken from the code that builds
//! each one (so the listing cannot drift from what the SQL sees).

use polars::prelude::*;

use crate::analyzer::query::findings::{PARAMS, Thresholds};
use crate::analyzer::query::timeline::Entity;
use crate::analyzer::query::{self, Queries, QueryError, Registered};

/// One table: its name, what it is, and its columns with their types.
pub struct Table {
    pub name: &'static str,
    pub about: &'static str,
    pub schema: Schema,
}

/// The base tables, `calls` as `queries/calls.sql` (embedded or overridden) derives it, and the
/// parameter tables.
pub fn catalog(queries: &Queries) -> Result<Vec<Table>, QueryError> {
    let mut out: Vec<Table> = crate::analyzer::model::schemas()
        .into_iter()
        .map(|(name, about, schema)| Table {
            name,
            about,
            schema,
        })
        .collect();
    let files = crate::analyzer::load::report_files_frame(&[]).expect("static columns");
    let empty = |name: &str| {
        out.iter()
            .find(|t| t.name == name)
            .map(|t| DataFrame::empty_with_schema(&t.schema))
            .expect("a base table")
    };
    let (events, role_calls, assumptions, hops, key_lineage) = (
        empty("events"),
        empty("role_calls"),
        empty("assumptions"),
        empty("hops"),
        empty("key_lineage"),
    );
    let calls = query::calls_schema(
        Registered {
            events: Some(&events),
            role_calls: &role_calls,
            assumptions: &assumptions,
            hops: &hops,
            key_lineage: &key_lineage,
            files: files.clone(),
            params: vec![],
        },
        &queries.named("calls")?,
    )?;
    out.push(Table {
        name: "calls",
        about: "role_calls joined, through key_lineage, to the assumption at the root of each key (queries/calls.sql)",
        schema: calls,
    });
    let params = [
        (
            "files",
            "one row per input file and what became of it",
            files,
        ),
        (
            "timeline_filter",
            "timeline only: the entity followed",
            Entity::default().frame(),
        ),
        (
            "findings_params",
            "findings, query, report: detection thresholds (--set NAME=VALUE)",
            Thresholds::default().frame(),
        ),
    ];
    for (name, about, df) in params {
        out.push(Table {
            name,
            about,
            schema: df.schema().as_ref().clone(),
        });
    }
    Ok(out)
}

/// The listing `janus-audit tables` prints.
pub fn render(tables: &[Table]) -> String {
    let mut out = String::new();
    for t in tables {
        out.push_str(&format!("{}\n  -- {}\n", t.name, t.about));
        for (col, dtype) in t.schema.iter() {
            let param = PARAMS.iter().find(|p| p.name == col.as_str());
            match param.filter(|_| t.name == "findings_params") {
                Some(p) => out.push_str(&format!(
                    "  {col:<28} {dtype:<6} default {:>4}  {}\n",
                    p.default, p.doc
                )),
                None => out.push_str(&format!("  {col:<28} {dtype}\n")),
            }
        }
    }
    out
}
