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

/// What a column means where its name does not say it all: (table, column, note).
const NOTES: &[(&str, &str, &str)] = &[
    (
        "role_calls",
        "trusted_source",
        "the source IP is in a `--trusted-cidrs` range; always false without one",
    ),
    (
        "role_calls",
        "key_ref",
        "the `key_lineage` row of the key the call was made with; null when it is no key of the lineage",
    ),
    (
        "role_calls",
        "session_created_at",
        "the session's `creationDate`: with the key ID and session ARN, which issuance of a key ID made the call (temporary key IDs repeat)",
    ),
    (
        "assumptions",
        "in_window",
        "whether the assumption counts in the report; earlier ones still own later calls",
    ),
    (
        "assumptions",
        "instance_source",
        "how the instance was read from the session name (`instance-name`, `hostname`, `shortened`, `unrecognized`, ...)",
    ),
    (
        "hops",
        "parent_key",
        "with `parent_arn` and `parent_created_at`: the identity of the key that asked",
    ),
    (
        "hops",
        "access_key_id",
        "with `assumed_role_arn`: the key issued",
    ),
    (
        "key_lineage",
        "depth",
        "0 for the key AssumeRoleWithWebIdentity issued, one more per chained AssumeRole",
    ),
    (
        "key_lineage",
        "used_in_window",
        "a call in the window was made with the key, matched as `calls.sql` matches",
    ),
    (
        "key_lineage",
        "key_ref",
        "the row's number, in order of `issued_at`, key, then session ARN; depends on what was read, so join on it, don't keep it",
    ),
    ("key_lineage", "issuing_ip", "the IP that requested the key"),
    (
        "key_lineage",
        "shared_event_id",
        "set when the target account's copy of the issuing event is in the input",
    ),
    (
        "calls",
        "issued_session_no",
        "the number of `issued_session_name` in name order, equal for equal names",
    ),
    (
        "calls",
        "matched_by",
        "`access_key` or `session`: how the call was joined to its key",
    ),
    (
        "calls",
        "foreign_ip",
        "the source IP differs from the one that obtained the root key; never for calls AWS makes on the session's behalf",
    ),
    (
        "files",
        "status",
        "`read`, `partial`, `digest`, `outside-window` or `skipped`",
    ),
];

/// The listing as Markdown: docs/TABLES.md is exactly this, and a test keeps it so.
pub fn render_markdown(tables: &[Table]) -> String {
    let mut out = String::from(
        "# Tables\n\n\
         The tables every query reads, generated by `janus-audit tables --format markdown` from the \
         code that builds each one (a test fails when this file is stale). Times are \
         `datetime[ms, UTC]`; `file_id` joins to `files`. How the tables are joined, and why, is \
         in [DESIGN.md](DESIGN.md); which of them you may script against, in \
         [STABILITY.md](STABILITY.md).\n",
    );
    for t in tables {
        out.push_str(&format!(
            "\n## `{}`\n\n{}.\n\n",
            t.name,
            capitalise(t.about)
        ));
        out.push_str("| column | type | notes |\n|---|---|---|\n");
        for (col, dtype) in t.schema.iter() {
            let param = PARAMS.iter().find(|p| p.name == col.as_str());
            let note = match param.filter(|_| t.name == "findings_params") {
                Some(p) => format!("default {}: {}", p.default, p.doc),
                None => NOTES
                    .iter()
                    .find(|(table, c, _)| *table == t.name && *c == col.as_str())
                    .map_or(String::new(), |(_, _, n)| (*n).to_string()),
            };
            out.push_str(&format!(
                "| `{col}` | {dtype} | {} |\n",
                note.replace('|', "\\|")
            ));
        }
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `janus-audit tables`: the listing on `stdout`.
pub fn run(
    queries: Option<std::path::PathBuf>,
    markdown: bool,
    stdout: &mut dyn std::io::Write,
) -> Result<i32, crate::analyzer::cmd::error::AnalyzerError> {
    let queries = Queries::from_dir(queries)?;
    let tables = catalog(&queries)?;
    let text = if markdown {
        render_markdown(&tables)
    } else {
        render(&tables)
    };
    stdout.write_all(text.as_bytes())?;
    Ok(crate::base::exit::OK)
}
