//! `janus-audit dataset ddl`: the statements that make a dataset queryable by another engine:
//! one table per stored table (over the same Parquet, partitioned by `date`), and views that
//! make the decisions a janus-audit report makes when it reads (the first copy of a repeated
//! eventID, the provider of an assumption that names none, `--provider google`), so that the
//! files in `queries/` read what they read in janus-audit. Views are for a whole dataset (no
//! window): every assumption and hop is `in_window`. `key_lineage`, which janus-audit computes
//! in Rust, is a view here that follows chains level by level up to [`MAX_DEPTH`] hops, by the
//! same rules (`lineage`).

/// The deepest chain the `key_lineage` view follows (janus-audit itself has no limit): a role
/// chain that deep is far beyond what workloads do, and each level is one more join.
pub const MAX_DEPTH: usize = 8;

use crate::analyzer::dataset::{Dataset, DatasetError, sigma};

/// The engine the statements are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Spark,
    Athena,
}

impl Engine {
    pub const ALL: [(Engine, &'static str, &'static str); 2] = [
        (
            Engine::Spark,
            "spark",
            "Spark SQL (spark-sql -f, or spark.sql in PySpark)",
        ),
        (
            Engine::Athena,
            "athena",
            "Amazon Athena (Trino) over the dataset in S3, with partition projection on date",
        ),
    ];
}

/// A column type as the engine spells it, from the polars type `schema.json` records.
fn sql_type(polars: &str) -> &'static str {
    match polars {
        "str" => "STRING",
        "bool" => "BOOLEAN",
        "i64" | "u32" => "BIGINT",
        "u64" => "DECIMAL(20,0)",
        "binary" => "BINARY",
        t if t.starts_with("datetime") => "TIMESTAMP",
        "list[str]" => "ARRAY<STRING>",
        _ => "STRING",
    }
}

/// The string type in a query (Trino has no STRING outside DDL).
fn text_type(engine: Engine) -> &'static str {
    match engine {
        Engine::Spark => "STRING",
        Engine::Athena => "VARCHAR",
    }
}

/// The statements, separated by `;` and a blank line.
pub fn ddl(ds: &Dataset, engine: Engine, location: &str) -> Result<String, DatasetError> {
    let schema = ds.schema()?;
    let location = location.trim_end_matches('/');
    let header = format!(
        "-- janus-audit dataset (format version {}) at {location}\n",
        schema["version"]
    );
    // `events` exists only when some ingest ran with --events.
    let has_events = ds.dir.join("events").is_dir();
    let mut out = Vec::new();
    for table in [
        "role_calls",
        "assumptions",
        "hops",
        "policy_changes",
        "ids",
        "events",
        "files",
        sigma::MATCHES,
        sigma::RULES,
    ] {
        let Some(cols) = schema["tables"][table].as_array() else {
            continue;
        };
        // `events` and the Sigma tables exist only when some ingest wrote them.
        let written = match table {
            "events" => has_events,
            sigma::MATCHES | sigma::RULES => ds.dir.join(table).is_dir(),
            _ => true,
        };
        if !written {
            continue;
        }
        let cols: Vec<(String, &'static str)> = cols
            .iter()
            .filter_map(|c| Some((c[0].as_str()?.to_string(), sql_type(c[1].as_str()?))))
            .collect();
        out.push(create(engine, table, &cols, location));
        if engine == Engine::Spark && partitioned(table) {
            out.push(format!("MSCK REPAIR TABLE janus_{table}"));
        }
    }
    out.extend(views(&schema, has_events, engine));
    Ok(header + &out.join(";\n\n") + ";\n")
}

/// Every table but the two written one part per batch is partitioned by date.
fn partitioned(table: &str) -> bool {
    !matches!(table, "files" | sigma::RULES)
}

fn create(engine: Engine, table: &str, cols: &[(String, &str)], location: &str) -> String {
    let partitioned = partitioned(table);
    // Both engines take Hive DDL here, which quotes with backticks (`date` is a keyword).
    let name = |c: &str| format!("`{c}`");
    let mut defs: Vec<String> = cols
        .iter()
        .map(|(c, t)| format!("    {} {t}", name(c)))
        .collect();
    let path = format!("{location}/{table}");
    match engine {
        Engine::Spark => {
            if partitioned {
                defs.push(format!("    {} DATE", name("date")));
            }
            format!(
                "CREATE TABLE IF NOT EXISTS janus_{table} (\n{}\n) USING parquet{}\nLOCATION '{path}'",
                defs.join(",\n"),
                if partitioned {
                    " PARTITIONED BY (date)"
                } else {
                    ""
                }
            )
        }
        Engine::Athena => {
            let projection = if partitioned {
                format!(
                    "\nPARTITIONED BY (`date` string)\nSTORED AS PARQUET\nLOCATION '{path}/'\nTBLPROPERTIES (\n    'projection.enabled' = 'true',\n    'projection.date.type' = 'date',\n    'projection.date.format' = 'yyyy-MM-dd',\n    'projection.date.range' = '2013-01-01,NOW',\n    'projection.date.interval' = '1',\n    'projection.date.interval.unit' = 'DAYS',\n    'storage.location.template' = '{path}/date=${{date}}/'\n)"
                )
            } else {
                format!("\nSTORED AS PARQUET\nLOCATION '{path}/'")
            };
            format!(
                "CREATE EXTERNAL TABLE IF NOT EXISTS janus_{table} (\n{}\n){projection}",
                defs.join(",\n")
            )
        }
    }
}

/// The tables `queries/` read, as janus-audit builds them from what it stored.
// Reads better whole: the views in the order the script creates them, each beside the SQL it
// emits; the closures above them are the vocabulary they share.
fn views(schema: &serde_json::Value, has_events: bool, engine: Engine) -> Vec<String> {
    // In queries Trino quotes with double quotes, and wants them on a name that starts with '_'.
    let seq = match engine {
        Engine::Spark => format!("`{}`", crate::analyzer::model::dedupe::SEQ),
        Engine::Athena => format!("\"{}\"", crate::analyzer::model::dedupe::SEQ),
    };
    let google_sub = match engine {
        Engine::Spark => "a.sub RLIKE '^[0-9]{21}$'",
        Engine::Athena => "regexp_like(a.sub, '^[0-9]{21}$')",
    };
    let cols = |table: &str| -> Vec<String> {
        schema["tables"][table]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c[0].as_str())
            .filter(|c| *c != crate::analyzer::model::dedupe::SEQ)
            .map(str::to_string)
            .collect()
    };
    // Only repeated IDs can drop a row. `ids` keeps a canonical UUID as its 16 bytes: those are
    // spelled again, as the tables spell them, once they are known to repeat.
    let uuid = crate::analyzer::model::dedupe::UUID;
    let uuid_text = format!(
        "regexp_replace(lower({}(i.{})), '^(.{{8}})(.{{4}})(.{{4}})(.{{4}})(.{{12}})$', '$1-$2-$3-$4-$5')",
        match engine {
            Engine::Spark => "hex",
            Engine::Athena => "to_hex",
        },
        uuid
    );
    let first_copy = |table: &str, select: &str| {
        format!(
            "SELECT {select}\nFROM janus_{table} t\nLEFT JOIN (\n    SELECT COALESCE(i.event_id, {uuid_text}) AS event_id, i.first_seq\n    FROM (\n        SELECT event_id, {uuid}, MIN({seq}) AS first_seq FROM janus_ids\n        GROUP BY event_id, {uuid} HAVING COUNT(*) > 1\n    ) i\n) f\n    ON t.event_id = f.event_id\nWHERE f.first_seq IS NULL OR t.{seq} = f.first_seq"
        )
    };
    let list = |table: &str, alias: &str| {
        cols(table)
            .iter()
            .map(|c| format!("{alias}.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Each call's key is matched on one string (the access key, or for a call without one its
    // session), so that role_calls joins the lineage once: a view is inlined wherever it is
    // read, and Spark's analyzer runs out of memory on a plan that holds the lineage's walk many
    // times over. role_calls itself, with each call's key_ref, comes after the keys.
    let text = text_type(engine);
    let call_match = format!(
        "CASE WHEN t.access_key_id IS NULL THEN concat('session|', t.session_issuer_arn, '|', \
         t.session_name, '|', CAST(t.session_created_at AS {text})) ELSE {} END AS janus_match",
        key_match(
            "t.access_key_id",
            "t.identity_arn",
            "t.session_created_at",
            text
        )
    );
    let mut out = vec![format!(
        "CREATE OR REPLACE VIEW janus_call_matches AS\n{}",
        first_copy(
            "role_calls",
            &format!("{}, {call_match}", list("role_calls", "t"))
        )
    )];
    if has_events {
        out.push(format!(
            "CREATE OR REPLACE VIEW events AS\n{}",
            first_copy("events", &list("events", "t"))
        ));
    }
    // A table's columns through `alias`, for a view with no window (every row `in_window`);
    // `special` rewrites the columns it names.
    let whole = |table: &str, alias: &str, special: &dyn Fn(&str) -> Option<String>| {
        cols(table)
            .iter()
            .map(|c| match c.as_str() {
                "in_window" => "TRUE AS in_window".to_string(),
                other => special(other).unwrap_or_else(|| format!("{alias}.{other}")),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Provider attribution and --provider google, as model::attribute_providers does them.
    let provider = |c: &str| {
        (c == "provider").then(|| format!("CASE WHEN a.provider IS NOT NULL THEN a.provider WHEN {google_sub} OR a.role_arn IN (SELECT role_arn FROM janus_assumptions WHERE provider = 'accounts.google.com') THEN 'accounts.google.com' ELSE 'unknown' END AS provider"))
    };
    out.push(format!(
        "CREATE OR REPLACE VIEW assumptions_all_providers AS\nSELECT {}\nFROM ({}) a",
        whole("assumptions", "a", &provider),
        first_copy("assumptions", &list("assumptions", "t"))
    ));
    out.push(
        "CREATE OR REPLACE VIEW assumptions AS\nSELECT * FROM assumptions_all_providers\nWHERE provider = 'accounts.google.com' OR (provider = 'unknown' AND error_code IS NOT NULL)"
            .into(),
    );
    out.push(format!(
        "CREATE OR REPLACE VIEW hops AS\nSELECT {}\nFROM ({}) h",
        whole("hops", "h", &|_| None),
        first_copy("hops", &list("hops", "t"))
    ));
    out.push(format!(
        "CREATE OR REPLACE VIEW policy_changes AS\n{}",
        first_copy("policy_changes", &list("policy_changes", "t"))
    ));
    out.extend(lineage_views(engine, &list("role_calls", "c")));
    out.push(format!(
        "CREATE OR REPLACE VIEW key_activity AS\n{}",
        crate::analyzer::model::activity::SQL
    ));
    let files = cols("files")
        .into_iter()
        .take(6)
        .collect::<Vec<_>>()
        .join(", ");
    out.push(format!(
        "CREATE OR REPLACE VIEW files AS\nSELECT {files} FROM janus_files"
    ));
    out.push(format!(
        "CREATE OR REPLACE VIEW findings_params AS\nSELECT {}",
        crate::analyzer::query::findings::PARAMS
            .iter()
            .map(|p| format!("{} AS {}", p.default, p.name))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for (table, query) in crate::analyzer::query::DERIVED {
        let sql = crate::analyzer::query::EMBEDDED
            .iter()
            .find(|(n, _)| *n == query.name())
            .map(|(_, sql)| sql.trim().trim_end_matches(';'))
            .unwrap_or_default();
        out.push(format!("CREATE OR REPLACE VIEW {table} AS\n{sql}"));
    }
    out
}

/// The string a record that carries a key (`key`, its session's ARN `arn` and creation time
/// `created`) is matched on: all three where it has them, else those it has, as
/// `lineage::ByKey::find` matches. [`key_matches`] gives each key the strings it answers to.
fn key_match(key: &str, arn: &str, created: &str, text: &str) -> String {
    format!(
        "CASE WHEN {arn} IS NOT NULL AND {created} IS NOT NULL \
         THEN concat('key|', {key}, '|', {arn}, '|', CAST({created} AS {text})) \
         WHEN {arn} IS NOT NULL THEN concat('keyarn|', {key}, '|', {arn}) \
         WHEN {created} IS NOT NULL THEN concat('keytime|', {key}, '|', CAST({created} AS {text})) \
         ELSE concat('keyonly|', {key}) END"
    )
}

/// The match strings a key answers to, as columns `janus_by_<form>` of a row with `key`, `arn`
/// and `at` (issue time) whose place in row order is `order`: its whole identity, and for each
/// form that leaves a field out, that form where it is the first such key (a record that lacks
/// a field takes the first key that fits, as `lineage::ByKey::find` does).
fn key_matches(key: &str, arn: &str, at: &str, order: &str, text: &str) -> String {
    let first = |part: &str, value: String| {
        format!(
            "CASE WHEN ROW_NUMBER() OVER (PARTITION BY {part} ORDER BY {order}) = 1 THEN {value} END"
        )
    };
    [
        format!("concat('key|', {key}, '|', {arn}, '|', CAST({at} AS {text})) AS janus_by_key"),
        format!(
            "{} AS janus_by_keyarn",
            first(
                &format!("{key}, {arn}"),
                format!("concat('keyarn|', {key}, '|', {arn})")
            )
        ),
        format!(
            "{} AS janus_by_keytime",
            first(
                &format!("{key}, {at}"),
                format!("concat('keytime|', {key}, '|', CAST({at} AS {text}))")
            )
        ),
        format!(
            "{} AS janus_by_keyonly",
            first(key, format!("concat('keyonly|', {key})"))
        ),
    ]
    .join(",\n    ")
}

/// The forms of [`key_matches`], and the session's.
const MATCH_FORMS: [&str; 5] = ["key", "keyarn", "keytime", "keyonly", "session"];

/// `key_lineage` and `role_calls` as views, by the rules of `lineage`: the roots
/// (`janus_lineage_roots`, one per identity: key ID, session ARN, issue time), each chained
/// key's issuing event (`janus_lineage_edges`, the earliest claim of an identity no root holds)
/// with the identity of the key its AssumeRole was made with, for each chained key a
/// walk up its parents to the first root (it joins the two views once per level, so the plan
/// grows with [`MAX_DEPTH`], not with the power of it); then the keys numbered (`janus_keys`),
/// each call given its key's number (`role_calls`), and each key marked used by a call
/// (`key_lineage`).
// Reads better whole: one SQL script, view after view in dependency order, as an engine reads
// it; split, the views would lose the order that makes the walk readable.
fn lineage_views(engine: Engine, call_cols: &str) -> Vec<String> {
    let text = text_type(engine);
    let earliest = "ORDER BY event_time IS NULL, event_time, event_id";
    let identity = |key: &str, arn: &str, at: &str| {
        format!("concat({key}, '|', COALESCE({arn}, ''), '|', COALESCE(CAST({at} AS {text}), ''))")
    };
    let cols = "access_key_id, parent_key, root_key, depth, role_arn, account_id, session_name, \
                assumed_role_arn, source_identity, issued_at, expires_at, issuing_ip, event_id, \
                shared_event_id, root_event_id, in_window";
    let rank = "issued_at IS NULL, issued_at, access_key_id, assumed_role_arn";
    let mut out = vec![
        format!(
            "CREATE OR REPLACE VIEW janus_lineage_roots AS\n\
             SELECT access_key_id, CAST(NULL AS {text}) AS parent_key, access_key_id AS root_key, \
             0 AS depth, role_arn, account_id, session_name, assumed_role_arn, source_identity, \
             event_time AS issued_at, expires_at, issuing_ip, event_id, \
             CAST(NULL AS {text}) AS shared_event_id, event_id AS root_event_id, in_window, \
             {} AS janus_id\n\
             FROM (\n    SELECT *, ROW_NUMBER() OVER (PARTITION BY access_key_id, assumed_role_arn, \
             event_time {earliest}) AS n\n    \
             FROM assumptions\n    WHERE error_code IS NULL AND access_key_id IS NOT NULL\n) r\nWHERE n = 1",
            identity("access_key_id", "assumed_role_arn", "event_time")
        ),
        format!(
            "CREATE OR REPLACE VIEW janus_lineage_claims AS\n\
             SELECT e.*, {claim} AS janus_id FROM (\n    \
             SELECT *, ROW_NUMBER() OVER (PARTITION BY access_key_id, assumed_role_arn, event_time \
             {earliest}) AS n\n    \
             FROM hops\n    WHERE error_code IS NULL AND access_key_id IS NOT NULL AND parent_key IS NOT NULL\n        \
             AND COALESCE(identity_type, '') <> 'AWSAccount'\n) e\nWHERE n = 1\n    \
             AND {claim} NOT IN (SELECT janus_id FROM janus_lineage_roots)",
            claim = identity("e.access_key_id", "e.assumed_role_arn", "e.event_time"),
        ),
        // A chained key's parent is named by its whole identity (lineage::build): a record
        // without the parent's ARN or creation time links to nothing.
        format!(
            "CREATE OR REPLACE VIEW janus_lineage_edges AS\n\
             SELECT e.*, CASE WHEN e.parent_arn IS NOT NULL AND e.parent_created_at IS NOT NULL \
             THEN {} END AS janus_parent_id\nFROM janus_lineage_claims e",
            identity("e.parent_key", "e.parent_arn", "e.parent_created_at")
        ),
        format!(
            "CREATE OR REPLACE VIEW janus_target_copies AS\n\
             SELECT {} AS janus_id, MIN(shared_event_id) AS shared_event_id\nFROM hops\n\
             WHERE identity_type = 'AWSAccount' AND error_code IS NULL AND access_key_id IS NOT NULL \
             AND shared_event_id IS NOT NULL\nGROUP BY access_key_id, assumed_role_arn, event_time",
            identity("access_key_id", "assumed_role_arn", "event_time")
        ),
    ];
    // e1 is the key's own issuing event; e2.. its parent's, and so on; rN is the root that the
    // N-th ancestor is, if it is one.
    let mut joins = String::new();
    let mut depth = Vec::new();
    for n in 1..=MAX_DEPTH {
        if n > 1 {
            joins.push_str(&format!(
                "\nLEFT JOIN janus_lineage_edges e{n} ON e{n}.janus_id = e{prev}.janus_parent_id",
                prev = n - 1
            ));
        }
        joins.push_str(&format!(
            "\nLEFT JOIN janus_lineage_roots r{n} ON r{n}.janus_id = e{n}.janus_parent_id"
        ));
        depth.push(format!("WHEN r{n}.janus_id IS NOT NULL THEN {n}"));
    }
    let root = |col: &str| {
        let arms: Vec<String> = (1..=MAX_DEPTH)
            .map(|n| format!("WHEN {n} THEN r{n}.{col}"))
            .collect();
        format!("CASE w.depth {} END", arms.join(" "))
    };
    out.push(format!(
        "CREATE OR REPLACE VIEW janus_lineage_walk AS\n\
         SELECT e1.*, CASE {} END AS depth,\n    {} AS root_key,\n    {} AS root_event_id\n\
         FROM janus_lineage_edges e1{joins}",
        depth.join(" "),
        root("access_key_id").replace("w.depth", &format!("CASE {} END", depth.join(" "))),
        root("event_id").replace("w.depth", &format!("CASE {} END", depth.join(" "))),
    ));
    // Rows numbered in lineage::build's order; a call's key_ref is its key's row, chosen by
    // lineage::match_calls' rules: by its key's identity (or as much of it as the record
    // carries), and a call without a key by its session, to the first row where the session
    // names several keys. Session names and role ARNs hold no '|'.
    out.push(format!(
        "CREATE OR REPLACE VIEW janus_keys AS\n\
         SELECT n.*,\n    {},\n    \
         CASE WHEN ROW_NUMBER() OVER (PARTITION BY n.role_arn, n.session_name, n.issued_at ORDER BY n.key_ref) = 1 \
         THEN concat('session|', n.role_arn, '|', n.session_name, '|', CAST(n.issued_at AS {text})) END \
         AS janus_by_session\nFROM (\n\
         SELECT x.*, ROW_NUMBER() OVER (ORDER BY x.{}) - 1 \
         AS key_ref\nFROM (\n\
         SELECT {cols} FROM janus_lineage_roots\nUNION ALL\n\
         SELECT w.access_key_id, w.parent_key, w.root_key, w.depth, w.role_arn, w.account_id, \
         w.session_name, w.assumed_role_arn, w.source_identity, w.event_time AS issued_at, \
         w.expires_at, w.source_ip AS issuing_ip, w.event_id, t.shared_event_id, w.root_event_id, \
         w.in_window\n\
         FROM janus_lineage_walk w\n\
         LEFT JOIN janus_target_copies t ON t.janus_id = w.janus_id\n\
         WHERE w.depth IS NOT NULL\n) x\n) n",
        key_matches("n.access_key_id", "n.assumed_role_arn", "n.issued_at", "n.key_ref", text),
        rank.replace(", ", ", x."),
    ));
    out.push(format!(
        "CREATE OR REPLACE VIEW role_calls AS\n\
         SELECT {call_cols}, m.key_ref\n\
         FROM janus_call_matches c\n\
         LEFT JOIN (SELECT key_ref, janus_match FROM janus_keys {}) m ON m.janus_match = c.janus_match",
        explode(engine, &MATCH_FORMS)
    ));
    let used: Vec<String> = MATCH_FORMS
        .iter()
        .enumerate()
        .map(|(i, f)| {
            format!(
                "\nLEFT JOIN (SELECT DISTINCT janus_match AS m FROM janus_call_matches) u{i} ON u{i}.m = x.janus_by_{f}"
            )
        })
        .collect();
    out.push(format!(
        "CREATE OR REPLACE VIEW key_lineage AS\n\
         SELECT {x}, ({used_any}) AS used_in_window, x.key_ref\n\
         FROM janus_keys x{joins}",
        x = cols
            .split(", ")
            .map(|c| format!("x.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        used_any = (0..MATCH_FORMS.len())
            .map(|i| format!("u{i}.m IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" OR "),
        joins = used.concat(),
    ));
    out
}

/// One row per match string of each row: `janus_by_<form>` for each form, as `janus_match`.
fn explode(engine: Engine, forms: &[&str]) -> String {
    let list = forms
        .iter()
        .map(|f| format!("janus_by_{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    match engine {
        Engine::Spark => format!("LATERAL VIEW explode(array({list})) e AS janus_match"),
        Engine::Athena => format!("CROSS JOIN UNNEST(ARRAY[{list}]) AS e(janus_match)"),
    }
}
