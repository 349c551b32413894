//! The SQL in `queries/`: embedded in the binary, overridable from a directory, run by polars SQL
//! over the registered tables.

pub mod cte;
pub mod findings;
pub mod per_key;
pub mod sandbox;
pub mod timeline;
pub mod words;

use std::path::{Path, PathBuf};

use polars::prelude::*;
use polars::sql::SQLContext;

use crate::analyzer::model::Table;

/// Every query shipped in `queries/`, by name. The first four are special: they define the
/// derived tables of those names that the others read ([`DERIVED`]).
pub const EMBEDDED: &[(&str, &str)] = &[
    ("calls", include_str!("../../../queries/calls.sql")),
    (
        "call_groups",
        include_str!("../../../queries/call_groups.sql"),
    ),
    (
        "flagged_calls",
        include_str!("../../../queries/flagged_calls.sql"),
    ),
    (
        "orphan_calls",
        include_str!("../../../queries/orphan_calls.sql"),
    ),
    (
        "by_instance",
        include_str!("../../../queries/by_instance.sql"),
    ),
    ("sessions", include_str!("../../../queries/sessions.sql")),
    ("timeline", include_str!("../../../queries/timeline.sql")),
    ("activity", include_str!("../../../queries/activity.sql")),
    (
        "trust_assumptions",
        include_str!("../../../queries/trust_assumptions.sql"),
    ),
    (
        "sigma_hits",
        include_str!("../../../queries/sigma_hits.sql"),
    ),
    (
        "sigma_findings",
        include_str!("../../../queries/sigma_findings.sql"),
    ),
    (
        "findings/key_used_from_foreign_ip",
        include_str!("../../../queries/findings/key_used_from_foreign_ip.sql"),
    ),
    (
        "findings/use_after_expiry",
        include_str!("../../../queries/findings/use_after_expiry.sql"),
    ),
    (
        "findings/orphan_federated_key",
        include_str!("../../../queries/findings/orphan_federated_key.sql"),
    ),
    (
        "findings/session_name_sub_mismatch",
        include_str!("../../../queries/findings/session_name_sub_mismatch.sql"),
    ),
    (
        "findings/failed_assumption_burst",
        include_str!("../../../queries/findings/failed_assumption_burst.sql"),
    ),
    (
        "findings/recon_burst",
        include_str!("../../../queries/findings/recon_burst.sql"),
    ),
    (
        "findings/role_chain_to_new_role",
        include_str!("../../../queries/findings/role_chain_to_new_role.sql"),
    ),
    (
        "findings/key_id_reused",
        include_str!("../../../queries/findings/key_id_reused.sql"),
    ),
    (
        "findings/trust_any_google_identity",
        include_str!("../../../queries/findings/trust_any_google_identity.sql"),
    ),
    (
        "findings/trust_policy_widened",
        include_str!("../../../queries/findings/trust_policy_widened.sql"),
    ),
    (
        "findings/trust_session_name_free",
        include_str!("../../../queries/findings/trust_session_name_free.sql"),
    ),
    (
        "findings/session_names_unknown_instance",
        include_str!("../../../queries/findings/session_names_unknown_instance.sql"),
    ),
    (
        "findings/token_minted_outside_fleet",
        include_str!("../../../queries/findings/token_minted_outside_fleet.sql"),
    ),
    (
        "findings/service_account_key_created",
        include_str!("../../../queries/findings/service_account_key_created.sql"),
    ),
    (
        "findings/token_creator_granted",
        include_str!("../../../queries/findings/token_creator_granted.sql"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("--queries {}: not a directory", crate::base::text::quoted(.0))]
    NotADirectory(PathBuf),
    #[error("no query named '{name}' (known: {known}); pass a .sql file path to run your own")]
    Unknown { name: String, known: String },
    #[error("cannot read query {}: {source}", crate::base::text::quoted(path))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("query '{name}' refused: {reason}")]
    Refused {
        name: String,
        reason: crate::analyzer::query::sandbox::Refused,
    },
    // Only the first paragraph: polars appends the whole query plan to the message.
    #[error("query '{name}' failed: {}", unechoed(&first_paragraph(error)))]
    Sql { name: String, error: PolarsError },
    /// A column no table has. polars would list only the columns this run decoded (a report
    /// decodes what its queries name), so the nearest of every table's columns are named.
    #[error(
        "query '{name}': no column '{column}' in the tables it reads{}; every table and column: `janus-audit tables`",
        match nearest.is_empty() {
            true => String::new(),
            false => format!(" (nearest: {})", nearest.join(", ")),
        }
    )]
    UnknownColumn {
        name: String,
        column: String,
        nearest: Vec<String>,
    },
    #[error(
        "--queries: {} is a symbolic link out of {}: not read",
        crate::base::text::quoted(path),
        crate::base::text::quoted(dir)
    )]
    OutOfDir { path: PathBuf, dir: PathBuf },
}

/// Up to five of `known`, closest to `asked` first: those that contain it or that it contains,
/// then by Jaro-Winkler similarity (0.7 or more).
pub fn nearest(asked: &str, known: &[String]) -> Vec<String> {
    let asked_l = asked.to_lowercase();
    let mut scored: Vec<(f64, &String)> = known
        .iter()
        .map(|k| {
            let l = k.to_lowercase();
            let contains = !asked_l.is_empty() && (l.contains(&asked_l) || asked_l.contains(&l));
            let score = strsim::jaro_winkler(&asked_l, &l) + if contains { 1.0 } else { 0.0 };
            (score, k)
        })
        .filter(|(s, _)| *s >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut out: Vec<String> = Vec::new();
    for (_, k) in scored {
        if !out.contains(k) {
            out.push(k.clone());
        }
        if out.len() == 5 {
            break;
        }
    }
    out
}

/// A parser's message without the text it quotes from the query beyond a few characters: a
/// query file that is not SQL (a secret behind a planted link, say) must not reach stderr.
/// `found: TOKEN` keeps the token's first 4 characters.
pub fn unechoed(message: &str) -> String {
    const KEEP: usize = 4;
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("found: ") {
        let (head, tail) = rest.split_at(at + "found: ".len());
        out.push_str(head);
        // polars' "not found: unable to find column ..." is its own text, not the parser's
        // echo of the query.
        if head.ends_with("not found: ") {
            rest = tail;
            continue;
        }
        let end = tail
            .find(" at Line")
            .or_else(|| tail.find(char::is_whitespace))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        out.extend(token.chars().take(KEEP));
        if token.chars().count() > KEEP {
            out.push('…');
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    crate::base::text::reason(&out)
}

/// Polars appends the whole query plan to SQL errors; the first paragraph is the message.
pub fn first_paragraph(e: &PolarsError) -> String {
    let text = e.to_string();
    text.split("\n\nResolved plan")
        .next()
        .unwrap_or(&text)
        .trim()
        .to_string()
}

/// The shipped queries a command runs by name (the findings are found by their folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shipped {
    /// Defines the derived `calls` table the others read.
    Calls,
    /// Defines the derived `call_groups` table: `key_activity` given each key's root.
    CallGroups,
    /// Defines the derived `flagged_calls` table: the calls a finding can be about, marked.
    FlaggedCalls,
    /// Defines the derived `orphan_calls` table: federated calls no key of the input matched.
    OrphanCalls,
    ByInstance,
    Sessions,
    Timeline,
    /// The page's hourly activity chart.
    Activity,
    /// `trust`: the assumptions to judge (the policies' history is `policy_changes` itself).
    TrustAssumptions,
    /// `sigma`: each (rule, event) a Sigma rule held for, attributed as `calls` attributes.
    SigmaHits,
    /// `findings --sigma`: a finding per (rule, key).
    SigmaFindings,
}

impl Shipped {
    pub const fn name(self) -> &'static str {
        match self {
            Shipped::Calls => "calls",
            Shipped::CallGroups => "call_groups",
            Shipped::FlaggedCalls => "flagged_calls",
            Shipped::OrphanCalls => "orphan_calls",
            Shipped::ByInstance => "by_instance",
            Shipped::Sessions => "sessions",
            Shipped::Timeline => "timeline",
            Shipped::Activity => "activity",
            Shipped::TrustAssumptions => "trust_assumptions",
            Shipped::SigmaHits => "sigma_hits",
            Shipped::SigmaFindings => "sigma_findings",
        }
    }
}

/// The tables the shipped queries derive from the others, in the order they are registered (a
/// later one may read an earlier one).
pub const DERIVED: [(Table, Shipped); 4] = [
    (Table::Calls, Shipped::Calls),
    (Table::CallGroups, Shipped::CallGroups),
    (Table::FlaggedCalls, Shipped::FlaggedCalls),
    (Table::OrphanCalls, Shipped::OrphanCalls),
];

/// The derived tables whose every row is one call, decided from that call and its key alone:
/// over a dataset they are made a part of the window at a time (`dataset::pieces`), so that
/// the window's calls are never held, only their rows.
pub const PER_CALL: [Table; 2] = [Table::FlaggedCalls, Table::OrphanCalls];

/// Whether `sql` is the embedded query of its name, as shipped (not overridden).
pub fn is_embedded(sql: &Sql) -> bool {
    EMBEDDED
        .iter()
        .any(|(name, text)| *name == sql.name && *text == sql.text)
}

/// Where query text comes from: the override directory first, then the embedded copy.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    pub dir: Option<PathBuf>,
}

/// A query ready to run, with the name it is reported under.
#[derive(Debug, Clone)]
pub struct Sql {
    pub name: String,
    pub text: String,
}

impl Queries {
    /// `--queries DIR`, checked: a typo must not silently fall back to the embedded SQL.
    pub fn from_dir(dir: Option<PathBuf>) -> Result<Queries, QueryError> {
        match dir {
            Some(d) if !d.is_dir() => Err(QueryError::NotADirectory(d)),
            dir => Ok(Queries { dir }),
        }
    }

    /// The queries of the derived tables ([`DERIVED`]), in order, each embedded or overridden.
    pub fn derived(&self) -> Result<Vec<(Table, Sql)>, QueryError> {
        DERIVED
            .iter()
            .map(|(table, query)| Ok((*table, self.shipped(*query)?)))
            .collect()
    }

    /// A shipped query, or the file overriding it.
    pub fn shipped(&self, query: Shipped) -> Result<Sql, QueryError> {
        self.named(query.name())
    }

    pub fn named(&self, name: &str) -> Result<Sql, QueryError> {
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{name}.sql"));
            if path.is_file() {
                // A link may point inside the directory, never out of it.
                let inside = match (std::fs::canonicalize(&path), std::fs::canonicalize(dir)) {
                    (Ok(p), Ok(d)) => p.starts_with(d),
                    _ => false,
                };
                if !inside {
                    return Err(QueryError::OutOfDir {
                        path,
                        dir: dir.clone(),
                    });
                }
                return read(&path, name);
            }
        }
        EMBEDDED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Sql {
                name: n.to_string(),
                text: text.to_string(),
            })
            .ok_or_else(|| QueryError::Unknown {
                name: name.to_string(),
                known: EMBEDDED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Every detection: the embedded `findings/*`, each overridable, plus any other
    /// `DIR/findings/*.sql` a user added.
    pub fn findings(&self) -> Result<Vec<Sql>, QueryError> {
        let mut names: Vec<String> = EMBEDDED
            .iter()
            .filter(|(n, _)| n.starts_with("findings/"))
            .map(|(n, _)| n.to_string())
            .collect();
        if let Some(dir) = &self.dir
            && let Ok(entries) = std::fs::read_dir(dir.join("findings"))
        {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "sql")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    names.push(format!("findings/{stem}"));
                }
            }
        }
        names.sort();
        names.dedup();
        names.iter().map(|n| self.named(n)).collect()
    }

    /// `query FILE.sql|NAME|'SELECT …'`: an existing file path wins, then inline SQL (anything with
    /// white space in it), else a query name.
    pub fn resolve(&self, file_or_name: &str) -> Result<Sql, QueryError> {
        let path = Path::new(file_or_name);
        if !path.is_file() && file_or_name.trim().contains(char::is_whitespace) {
            return Ok(Sql {
                name: "inline".into(),
                text: file_or_name.to_string(),
            });
        }
        if path.is_file() {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| file_or_name.to_string());
            return read(path, &name);
        }
        self.named(file_or_name.trim_end_matches(".sql"))
    }
}

fn read(path: &Path, name: &str) -> Result<Sql, QueryError> {
    std::fs::read_to_string(path)
        .map(|text| Sql {
            name: name.to_string(),
            text,
        })
        .map_err(|source| QueryError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// True when `sql` mentions `table` as a whole word, outside `--` comments.
pub fn mentions(sql: &str, table: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .any(|line| {
            line.match_indices(table).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + table.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            })
        })
}

/// The words of `derived` (the queries of derived tables made of calls) and `sqls` that can
/// name a column of `role_calls` ([`words::read`]).
pub fn words_read(derived: &[&Sql], sqls: &[Sql]) -> Option<std::collections::BTreeSet<String>> {
    let of_calls: Vec<&str> = [Table::Calls, Table::RoleCalls]
        .into_iter()
        .chain(PER_CALL)
        .map(Table::name)
        .collect();
    let derived: Vec<&str> = derived.iter().map(|s| s.text.as_str()).collect();
    let sqls: Vec<&str> = sqls.iter().map(|s| s.text.as_str()).collect();
    words::read(&derived, &sqls, &of_calls)
}

/// The words of `sqls` that can name a column of `table` ([`words::of_table`]).
pub fn table_words(sqls: &[&Sql], table: Table) -> Option<std::collections::BTreeSet<String>> {
    words::of_table(
        &sqls.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
        table,
    )
}

/// The tables a query runs over.
pub struct Registered<'a> {
    pub events: Option<&'a DataFrame>,
    pub role_calls: &'a DataFrame,
    pub assumptions: &'a DataFrame,
    pub hops: &'a DataFrame,
    pub policy_changes: &'a DataFrame,
    pub key_lineage: &'a DataFrame,
    /// `key_activity` (see `model::activity`): empty unless a query reads it.
    pub key_activity: DataFrame,
    pub files: DataFrame,
    /// Parameter tables a query reads (`timeline_filter`, `findings_params`).
    pub params: Vec<(Table, DataFrame)>,
}

fn wrap(name: &str) -> impl FnOnce(PolarsError) -> QueryError + use<> {
    let name = name.to_string();
    move |error| QueryError::Sql { name, error }
}

/// Refuse a query that reads anything but the registered tables (see `sandbox`).
fn allowed(sql: &Sql) -> Result<(), QueryError> {
    crate::analyzer::query::sandbox::check(&sql.text).map_err(|reason| QueryError::Refused {
        name: sql.name.clone(),
        reason,
    })
}

/// A table a query derives from the others (`calls`, `call_groups`), and that query.
pub type Derived<'a> = (Table, &'a Sql);

/// The columns of each of `derived` over `tables`, as its query derives them, or why it
/// cannot (an override of one it reads may lack a column it names).
pub fn derived_schemas(
    tables: Registered<'_>,
    derived: &[Derived<'_>],
) -> Result<Vec<Result<Schema, QueryError>>, QueryError> {
    let mut ctx = context(tables);
    derived
        .iter()
        .map(|(table, sql)| {
            allowed(sql)?;
            Ok(match ctx.execute(&sql.text) {
                Ok(mut lf) => {
                    ctx.register(table.name(), lf.clone());
                    lf.collect_schema()
                        .map(|s| s.as_ref().clone())
                        .map_err(wrap(&sql.name))
                }
                Err(e) => Err(wrap(&sql.name)(e)),
            })
        })
        .collect()
}

/// Register each of `derived`, in order (a later one may read an earlier one), as a lazy frame.
fn register(ctx: &mut SQLContext, derived: &[Derived<'_>]) -> Result<Vec<LazyFrame>, QueryError> {
    let mut frames = Vec::with_capacity(derived.len());
    for (table, sql) in derived {
        allowed(sql)?;
        let lf = ctx.execute(&sql.text).map_err(wrap(&sql.name))?;
        ctx.register(table.name(), lf.clone());
        frames.push(lf);
    }
    Ok(frames)
}

fn context(tables: Registered<'_>) -> SQLContext {
    let ctx = SQLContext::new();
    if let Some(ev) = tables.events {
        ctx.register(Table::Events.name(), ev.clone().lazy());
    }
    ctx.register(Table::RoleCalls.name(), tables.role_calls.clone().lazy());
    ctx.register(Table::Assumptions.name(), tables.assumptions.clone().lazy());
    ctx.register(Table::Hops.name(), tables.hops.clone().lazy());
    ctx.register(
        Table::PolicyChanges.name(),
        tables.policy_changes.clone().lazy(),
    );
    ctx.register(Table::KeyLineage.name(), tables.key_lineage.clone().lazy());
    ctx.register(Table::KeyActivity.name(), tables.key_activity.lazy());
    ctx.register(Table::Files.name(), tables.files.lazy());
    for (table, df) in tables.params {
        ctx.register(table.name(), df.lazy());
    }
    ctx
}

/// Run each of `sqls` with the base tables and the `derived` tables registered once.
/// `own`: for each of `sqls` (by position), a table registered for it alone, which it reads in
/// place of one of `tables` of that name; each is dropped once its query has run.
pub fn run(
    tables: Registered<'_>,
    derived: &[Derived<'_>],
    sqls: &[Sql],
    mut own: Vec<Option<(Table, DataFrame)>>,
) -> Result<Vec<DataFrame>, QueryError> {
    for sql in sqls {
        allowed(sql)?;
    }
    let mut ctx = context(tables);
    register(&mut ctx, derived)?;
    own.resize_with(sqls.len(), || None);
    sqls.iter()
        .zip(own)
        .map(|(sql, own)| {
            let own = own.map(|(table, df)| {
                ctx.register(table.name(), df.lazy());
                table
            });
            let started = std::time::Instant::now();
            let df = crate::analyzer::query::cte::execute(&mut ctx, &sql.text)
                .and_then(|df| count_as_count(df, &sql.text))
                .map_err(wrap(&sql.name))?;
            if let Some(table) = own {
                ctx.unregister(table.name());
            }
            tracing::info!(
                "query {}: {} row(s) in {:.2?}",
                sql.name,
                df.height(),
                started.elapsed()
            );
            Ok(df)
        })
        .collect()
}

/// `derived` registered in order over `tables`, and the rows of those of them in `wanted`, in
/// that order, each with only the columns `keep` keeps of it (planned so: what no kept column
/// needs is never computed).
pub fn derive(
    tables: Registered<'_>,
    derived: &[Derived<'_>],
    wanted: &[Table],
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<DataFrame>, QueryError> {
    let mut ctx = context(tables);
    let frames = register(&mut ctx, derived)?;
    wanted
        .iter()
        .map(|w| {
            let at = derived.iter().position(|(t, _)| t == w);
            let at = at.expect("a wanted table is one of those derived");
            let mut lf = frames[at].clone();
            let schema = lf.collect_schema().map_err(wrap(&derived[at].1.name))?;
            let kept: Vec<Expr> = schema
                .iter_names()
                .filter(|c| keep(c.as_str()))
                .map(|c| col(c.clone()))
                .collect();
            lf.select(kept).collect().map_err(wrap(&derived[at].1.name))
        })
        .collect()
}

/// The tables that the queries of the tables made a call at a time ([`PER_CALL`]) and `calls`
/// may read for those to be made a piece of the calls at a time (over a dataset, these are all
/// that is registered for each piece; `key_lineage`'s `used_in_window` is null there).
pub const PIECE_TABLES: [Table; 5] = [
    Table::RoleCalls,
    Table::Assumptions,
    Table::Hops,
    Table::KeyLineage,
    Table::Calls,
];

/// Whether `sql` reads only [`PIECE_TABLES`] (by the words it uses outside comments).
pub fn reads_per_piece(sql: &Sql) -> bool {
    Table::ALL
        .into_iter()
        .filter(|t| !PIECE_TABLES.contains(t))
        .all(|t| !mentions(&sql.text, t.name()))
}

/// polars names an unaliased `COUNT(*)` `len`; a SQL user expects `count`. A query that says
/// `len` itself keeps it.
fn count_as_count(mut df: DataFrame, sql: &str) -> PolarsResult<DataFrame> {
    if df.get_column_index("len").is_some()
        && df.get_column_index("count").is_none()
        && !mentions(&sql.to_ascii_lowercase(), "len")
    {
        df.rename("len", "count".into())?;
    }
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_mentions() {
        assert!(mentions("SELECT * FROM events", "events"));
        assert!(mentions("select *\nfrom events e", "events"));
        assert!(!mentions(
            "SELECT * FROM role_calls -- not events",
            "events"
        ));
        assert!(!mentions("SELECT my_events FROM x", "events"));
        assert!(!mentions("SELECT events_x FROM x", "events"));
    }

    #[test]
    fn unaliased_count_is_count() {
        let df = df!("x" => [1, 2, 3]).unwrap();
        let mut ctx = SQLContext::new();
        ctx.register("t", df.lazy());
        let mut run = |sql: &str| {
            let out = ctx.execute(sql).unwrap().collect().unwrap();
            count_as_count(out, sql).unwrap()
        };
        assert_eq!(run("SELECT COUNT(*) FROM t").get_column_names(), ["count"]);
        assert_eq!(
            run("SELECT COUNT(*) AS len FROM t").get_column_names(),
            ["len"]
        );
        assert_eq!(run("SELECT COUNT(*) AS n FROM t").get_column_names(), ["n"]);
    }

    #[test]
    fn embedded_and_unknown() {
        let q = Queries::default();
        assert!(q.named("by_instance").unwrap().text.contains("GROUP BY"));
        assert!(matches!(q.named("nope"), Err(QueryError::Unknown { .. })));
    }

    #[test]
    fn override_dir_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sessions.sql"), "SELECT 1 AS x").unwrap();
        let q = Queries {
            dir: Some(dir.path().to_path_buf()),
        };
        assert_eq!(q.named("sessions").unwrap().text, "SELECT 1 AS x");
        assert!(q.named("by_instance").unwrap().text.contains("GROUP BY"));
    }
}
