//! `tables`: every table a query can read, with its columns, taken from the code that builds
//! each one (so the listing cannot drift from what the SQL sees).

use polars::prelude::*;

use crate::analyzer::model::Table;
use crate::analyzer::query::findings::{PARAMS, Thresholds};
use crate::analyzer::query::timeline::Entity;
use crate::analyzer::query::{self, Queries, QueryError, Registered};

/// One table: which, what it is, and its columns with their types.
pub struct Listed {
    pub table: Table,
    pub about: &'static str,
    pub schema: Schema,
}

/// The base tables, `calls` and `call_groups` as their queries (embedded or overridden) derive
/// them, and the parameter tables.
pub fn catalog(queries: &Queries) -> Result<Vec<Listed>, QueryError> {
    let mut out: Vec<Listed> = crate::analyzer::model::schemas()
        .into_iter()
        .map(|(table, about, schema)| Listed {
            table,
            about,
            schema,
        })
        .collect();
    let files = crate::analyzer::load::report_files_frame(&[]).expect("static columns");
    let derived = derived(queries, &out, &files)?;
    out.extend(derived);
    let assumptions = empty(&out, Table::Assumptions);
    let params = [
        (
            Table::Files,
            "one row per input file and what became of it",
            files,
        ),
        (
            Table::TimelineFilter,
            "timeline only: the entity followed",
            Entity::default().frame(),
        ),
        (
            Table::FindingsParams,
            "findings, query, report: detection thresholds (--set NAME=VALUE)",
            Thresholds::default().frame(),
        ),
        (
            Table::TrustVersions,
            "each role's trust policy over time (the input's CreateRole and UpdateAssumeRolePolicy, else --policies), judged as `trust` judges it",
            crate::analyzer::trust::versions::empty(),
        ),
        (
            Table::SigmaRules,
            "sigma, findings --sigma: the Sigma rules evaluated (rule_no is sigma_matches')",
            crate::analyzer::sigma::RuleSet::default()
                .frame()
                .expect("static columns"),
        ),
        (
            Table::SigmaMatches,
            "sigma, findings --sigma: each (rule, event in the window) a Sigma rule held for, one copy of each eventID",
            crate::analyzer::model::sigma_matches_empty(),
        ),
    ];
    let params = params.into_iter().chain(gcp_listed(&assumptions));
    for (table, about, df) in params {
        out.push(Listed {
            table,
            about,
            schema: df.schema().as_ref().clone(),
        });
    }
    Ok(out)
}

/// An empty table of `table`'s columns, as listed in `out`.
fn empty(out: &[Listed], table: Table) -> DataFrame {
    out.iter()
        .find(|t| t.table == table)
        .map(|t| DataFrame::empty_with_schema(&t.schema))
        .expect("a base table")
}

/// The derived tables (`query::DERIVED`), with the columns their queries (embedded or
/// overridden) derive over the base tables `base`.
fn derived(
    queries: &Queries,
    base: &[Listed],
    files: &DataFrame,
) -> Result<Vec<Listed>, QueryError> {
    let (events, role_calls, assumptions, hops, key_lineage, policy_changes) = (
        empty(base, Table::Events),
        empty(base, Table::RoleCalls),
        empty(base, Table::Assumptions),
        empty(base, Table::Hops),
        empty(base, Table::KeyLineage),
        empty(base, Table::PolicyChanges),
    );
    let derived = queries.derived()?;
    let schemas = query::derived_schemas(
        Registered {
            events: Some(&events),
            role_calls: &role_calls,
            assumptions: &assumptions,
            hops: &hops,
            policy_changes: &policy_changes,
            key_lineage: &key_lineage,
            key_activity: crate::analyzer::model::activity::empty(),
            files: files.clone(),
            params: vec![],
        },
        &derived.iter().map(|(t, sql)| (*t, sql)).collect::<Vec<_>>(),
    )?;
    Ok(derived
        .iter()
        .zip(schemas)
        .map(|((table, _), schema)| match schema {
            Ok(schema) => Listed {
                table: *table,
                about: about(*table),
                schema,
            },
            Err(e) => {
                tracing::debug!("{e}");
                Listed {
                    table: *table,
                    about: "not derived: its query fails over the tables the others give it (a report that reads it says why)",
                    schema: Schema::default(),
                }
            }
        })
        .collect())
}

/// What a derived table is.
fn about(table: Table) -> &'static str {
    match table {
        Table::Calls => {
            "role_calls joined, through key_lineage, to the assumption at the root of each key (queries/calls.sql)"
        }
        Table::CallGroups => {
            "key_activity's groups, each given the assumption at the root of its key as calls gives each call (queries/call_groups.sql)"
        }
        Table::FlaggedCalls => {
            "the calls a finding about single calls can be about, with the marks that say why: foreign_ip, after_expiry, recon, denied (queries/flagged_calls.sql)"
        }
        Table::OrphanCalls => {
            "the calls made with a Google-federated key that no key of the input matched (queries/orphan_calls.sql)"
        }
        _ => "",
    }
}

/// The GCP tables, as a run without `--gcp-logs` registers them.
fn gcp_listed(assumptions: &DataFrame) -> Vec<(Table, &'static str, DataFrame)> {
    let gcp = crate::analyzer::gcp::Gcp::default();
    let mut tables = gcp.frames().expect("static columns");
    tables.push((
        Table::GcpVerdicts,
        crate::analyzer::gcp::keys::verdicts(&gcp.model, assumptions).expect("static columns"),
    ));
    tables
        .into_iter()
        .map(|(table, df)| (table, gcp_about(table), df))
        .collect()
}

/// What each GCP table holds (see `gcp`): empty without `--gcp-logs`.
fn gcp_about(table: Table) -> &'static str {
    match table {
        Table::GcpInstances => {
            "--gcp-logs: each life of each Compute Engine instance (created, deleted, the service accounts it ran as), from the Admin Activity logs and --gcp-instances"
        }
        Table::GcpServiceAccounts => {
            "--gcp-logs: every service account whose unique ID (the sub CloudTrail shows) is known, from the logs and --gcp-service-accounts"
        }
        Table::GcpMints => {
            "--gcp-logs: each GenerateIdToken and SignJwt (IAM Credentials, Data Access), granted or denied; not SignBlob or GenerateAccessToken"
        }
        Table::GcpChanges => {
            "--gcp-logs: service account keys created and deleted, token-creator roles granted on a service account"
        }
        Table::GcpCoverage => {
            "--gcp-logs: per project and log, the first and last entry read; a project is covered from its first to its last Admin Activity entry"
        }
        Table::GcpTimeline => {
            "--gcp-logs: the Google-side events `timeline` interleaves (instances' creation, change of account and deletion; mints)"
        }
        _ => {
            "--gcp-logs: each successful assumption's gcp_instance, the instance found, the accounts it ran as then, and why"
        }
    }
}

/// The listing `janus-audit tables` prints.
pub fn render(tables: &[Listed]) -> String {
    let mut out = String::new();
    for t in tables {
        out.push_str(&format!("{}\n  -- {}\n", t.table, t.about));
        for (col, dtype) in t.schema.iter() {
            let param = PARAMS.iter().find(|p| p.name == col.as_str());
            match param.filter(|_| t.table == Table::FindingsParams) {
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

/// `events` and `calls` carry what a call touched as `role_calls` does, under one note.
fn touched(column: &str) -> bool {
    crate::analyzer::model::schema::TOUCHED.contains(&column)
}

/// What a column means where its name does not say it all: (table, column, note).
const NOTES: &[(Table, &str, &str)] = &[
    (
        Table::RoleCalls,
        "trusted_source",
        "the source IP is in a `--trusted-cidrs` range; always false without one",
    ),
    (
        Table::RoleCalls,
        "key_ref",
        "the `key_lineage` row of the key the call was made with; null when it is no key of the lineage",
    ),
    (
        Table::RoleCalls,
        "session_created_at",
        "the session's `creationDate`: with the key ID and session ARN, which issuance of a key ID made the call (temporary key IDs repeat)",
    ),
    (
        Table::RoleCalls,
        "request_parameters",
        "the record's `requestParameters` as JSON text, whitespace between tokens dropped; as the caller sent it, so never trust it as more than that",
    ),
    (
        Table::RoleCalls,
        "resources",
        "the `ARN` of each entry of the record's `resources`; null when it has none",
    ),
    (
        Table::RoleCalls,
        "s3_bucket",
        "for `s3.amazonaws.com`: `requestParameters.bucketName`, else the bucket of an S3 ARN in `resources`",
    ),
    (
        Table::RoleCalls,
        "s3_key",
        "for `s3.amazonaws.com`: `requestParameters.key`, else the key of an `AWS::S3::Object` ARN in `resources`",
    ),
    (
        Table::Assumptions,
        "in_window",
        "whether the assumption counts in the report; earlier ones still own later calls",
    ),
    (
        Table::Assumptions,
        "instance_source",
        "how the instance was read from the session name (`instance-name`, `hostname`, `shortened`, `unrecognized`, ...)",
    ),
    (
        Table::Hops,
        "parent_key",
        "with `parent_arn` and `parent_created_at`: the identity of the key that asked",
    ),
    (
        Table::Hops,
        "access_key_id",
        "with `assumed_role_arn`: the key issued",
    ),
    (
        Table::KeyLineage,
        "depth",
        "0 for the key AssumeRoleWithWebIdentity issued, one more per chained AssumeRole",
    ),
    (
        Table::KeyLineage,
        "used_in_window",
        "a call in the window was made with the key, matched as `calls.sql` matches",
    ),
    (
        Table::KeyLineage,
        "key_ref",
        "the row's number, in order of `issued_at`, key, then session ARN; depends on what was read, so join on it, don't keep it",
    ),
    (
        Table::KeyLineage,
        "issuing_ip",
        "the IP that requested the key",
    ),
    (
        Table::KeyLineage,
        "shared_event_id",
        "set when the target account's copy of the issuing event is in the input",
    ),
    (
        Table::KeyActivity,
        "calls",
        "how many calls the group holds; `first_call` and `last_call` are the earliest and latest of them",
    ),
    (
        Table::KeyActivity,
        "failed",
        "the calls returned an error (`error_code` is set)",
    ),
    (
        Table::CallGroups,
        "key_event_id",
        "the event that issued the group's key (key_lineage.event_id)",
    ),
    (
        Table::CallGroups,
        "foreign_ip",
        "the group's source IP differs from the one that obtained the root key, as in `calls`",
    ),
    (
        Table::Calls,
        "issued_session_no",
        "the number of `issued_session_name` in name order, equal for equal names",
    ),
    (
        Table::Calls,
        "matched_by",
        "`access_key` or `session`: how the call was joined to its key",
    ),
    (
        Table::Calls,
        "foreign_ip",
        "the source IP differs from the one that obtained the root key; never for calls AWS makes on the session's behalf, nor from a `--trusted-cidrs` range",
    ),
    (
        Table::FlaggedCalls,
        "after_expiry",
        "the call was made after its key's expiration (a chained key's own, not its root's)",
    ),
    (
        Table::FlaggedCalls,
        "recon",
        "a `List*`, `Describe*`, `Get*Account*` or `GetCallerIdentity` call, not made by an AWS service on the session's behalf",
    ),
    (
        Table::FlaggedCalls,
        "denied",
        "refused as access denied, not a call made by an AWS service on the session's behalf",
    ),
    (
        Table::Files,
        "status",
        "`read`, `partial`, `digest`, `outside-window` or `skipped`",
    ),
];

/// The listing as Markdown: docs/TABLES.md is exactly this, and a test keeps it so.
pub fn render_markdown(tables: &[Listed]) -> String {
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
            t.table,
            capitalise(t.about)
        ));
        out.push_str("| column | type | notes |\n|---|---|---|\n");
        for (col, dtype) in t.schema.iter() {
            let param = PARAMS.iter().find(|p| p.name == col.as_str());
            let note = match param.filter(|_| t.table == Table::FindingsParams) {
                Some(p) => format!("default {}: {}", p.default, p.doc),
                None => NOTES
                    .iter()
                    .find(|(table, c, _)| {
                        *c == col.as_str()
                            && (*table == t.table
                                || (touched(c) && matches!(t.table, Table::Events | Table::Calls)))
                    })
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
