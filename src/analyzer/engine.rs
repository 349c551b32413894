//! The engine every report command shares: ingest, register the tables, run the SQL.

use std::path::PathBuf;

use polars::prelude::*;

use crate::analyzer::load::{self, IngestOptions, Ingested};
use crate::analyzer::model::{Needs, Table};
use crate::analyzer::query::{self, Queries, QueryError, Registered, Shipped, Sql};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--trusted-cidrs {}: {reason}", crate::base::text::quoted(path))]
    TrustedCidrs { path: PathBuf, reason: String },
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("--verify: {0}")]
    Verify(#[from] crate::analyzer::verify::gather::GatherError),
    #[error("cannot build the tables: {0}")]
    Model(#[from] PolarsError),
    #[error(transparent)]
    Dataset(#[from] crate::analyzer::dataset::DatasetError),
    #[error(transparent)]
    Spill(#[from] crate::analyzer::load::spill::SpillError),
    #[error(transparent)]
    GcpListing(#[from] crate::analyzer::gcp::read::ListingError),
    #[error(
        "no CloudTrail log files (.json, .json.gz, .jsonl) found in {}{}",
        list(paths),
        unread(walk_errors)
    )]
    NoInput {
        paths: Vec<PathBuf>,
        walk_errors: Vec<String>,
    },
}

fn unread(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        e => format!(" (not read: {})", e.join("; ")),
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| crate::base::text::quoted(p))
        .collect::<Vec<_>>()
        .join(", ")
}

pub struct Outcome {
    /// One frame per query, in the order given.
    pub frames: Vec<DataFrame>,
    pub ingested: Ingested,
    /// The `calls` query that ran (embedded or overridden), for a manifest to hash.
    pub calls: Sql,
    /// `--verify`: what log-file integrity validation found.
    pub verification: Option<crate::analyzer::verify::Verification>,
    /// `--gcp-logs` (or what the dataset stored of them).
    pub gcp: crate::analyzer::gcp::Gcp,
}

/// `--trusted-cidrs FILE`: the ranges, and the SHA-256 of exactly the bytes they were parsed from
/// (a manifest must describe what was used, not what the file holds by the time it is re-read).
#[derive(Debug, Clone, Default)]
pub struct TrustedCidrs {
    pub path: Option<PathBuf>,
    pub nets: Vec<ipnet::IpNet>,
    pub sha256: Option<String>,
}

impl TrustedCidrs {
    /// One CIDR or address per line; `#` starts a comment.
    pub fn read(path: &std::path::Path) -> Result<TrustedCidrs, ReportError> {
        let bad = |reason: String| ReportError::TrustedCidrs {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| bad(e.to_string()))?;
        let mut nets = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let net = line
                .parse::<ipnet::IpNet>()
                .or_else(|_| line.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    bad(format!(
                        "line {}: '{}' is not a CIDR or IP address",
                        n + 1,
                        crate::base::text::excerpt(line)
                    ))
                })?;
            nets.push(net);
        }
        Ok(TrustedCidrs {
            path: Some(path.to_path_buf()),
            nets,
            sha256: Some(crate::base::hash::sha256_hex(&bytes)),
        })
    }

    /// How a manifest records them.
    pub fn describe(&self) -> serde_json::Value {
        match &self.path {
            Some(p) => serde_json::json!({"path": p.display().to_string(), "sha256": self.sha256}),
            None => serde_json::Value::Null,
        }
    }
}

/// Ingest `opts.paths` and run `sql` over the result. `opts.needs` is widened to what the SQL reads.
///
/// `trust`: the `--policies` roles; with the input's own changes of trust policies they make the
/// `trust_versions` table the trust findings read, built when a query names it.
pub fn run(
    sqls: &[Sql],
    queries: &Queries,
    mut opts: IngestOptions,
    mut params: Vec<(Table, DataFrame)>,
    trusted: &[ipnet::IpNet],
    trust: &[crate::analyzer::trust::RolePolicy],
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
) -> Result<Outcome, ReportError> {
    let derived = queries.derived()?;
    let calls = derived
        .iter()
        .find(|(t, _)| *t == Table::Calls)
        .map(|(_, sql)| sql.clone())
        .expect("calls is a derived table");
    let call_groups = queries.shipped(Shipped::CallGroups)?;
    let reading = reading(sqls, &call_groups);
    let per_call = per_call(&derived, &reading);
    narrow(&mut opts, &calls, &per_call, &reading);
    let derived = needed(derived, sqls);
    named_columns(&mut opts, sqls, &derived, &per_call, &calls);
    let mut ingested = read_input(&opts, &calls, &per_call, sqls, &params, trusted, progress)?;
    let verification = checked(&opts, &mut ingested)?;
    // After parsing JSON on every core, or decoding a dataset's parts on every core (see
    // memory::give_back). Over a dataset it took 3 ms at 3M events and 20-70 ms at 30M, and
    // by-instance and sessions then peaked 4-5% lower at 3M and 15% lower at 30M (2026-12-06,
    // on glibc's malloc).
    crate::analyzer::memory::give_back();
    let tables = &ingested.tables;
    // Ingest fills `trusted_source` with false; parsing every source IP is only worth it here.
    let marked = (!trusted.is_empty())
        .then(|| crate::analyzer::model::trusted::mark(&tables.role_calls, trusted))
        .transpose()?;
    let key_activity = key_activity(
        &reading,
        tables,
        marked.as_ref().unwrap_or(&tables.role_calls),
        trusted,
    )?;
    params.extend(trust_versions(sqls, tables, trust)?);
    let gcp = load_gcp(&opts)?;
    params.extend(gcp_tables(sqls, tables, &gcp)?);
    params.extend(made(tables));
    let mut derived = unmade(&derived, &per_call, &tables.per_call);
    let (key_activity, own) = with_call_groups(
        (&mut derived, sqls),
        &mut ingested.tables,
        key_activity,
        &mut params,
    )?;
    let tables = &ingested.tables;
    let frames = query::run(
        Registered {
            events: tables.events.as_ref(),
            role_calls: marked.as_ref().unwrap_or(&tables.role_calls),
            assumptions: &tables.assumptions,
            hops: &tables.hops,
            policy_changes: &tables.policy_changes,
            key_lineage: &tables.key_lineage,
            key_activity,
            files: ingested.files_frame()?,
            params,
        },
        &derived,
        sqls,
        own,
    )?;
    // A timeline that came back empty asks the assumptions and the lineage why.
    let timeline = sqls.iter().any(|s| s.name == Shipped::Timeline.name());
    ingested.tables.release(timeline);
    crate::analyzer::memory::give_back();
    Ok(Outcome {
        frames,
        ingested,
        calls,
        verification,
        gcp,
    })
}

/// `--verify`'s verification of what was read, and a refusal of no input at all (unless
/// `empty_ok`).
fn checked(
    opts: &IngestOptions,
    ingested: &mut Ingested,
) -> Result<Option<crate::analyzer::verify::Verification>, ReportError> {
    let verification = match opts.verify {
        true => Some(verify_inputs(opts, ingested)?),
        false => None,
    };
    if ingested.files.is_empty() && !opts.empty_ok {
        return Err(ReportError::NoInput {
            paths: opts.paths.clone(),
            walk_errors: ingested.walk_errors.iter().map(|e| e.to_string()).collect(),
        });
    }
    Ok(verification)
}

/// The tables made while reading, registered as they are: those made piece by piece from a
/// dataset (not derived again; those no query names are not there at all: the calls were read
/// without the columns they need), and the Sigma rules' matches.
fn made(tables: &crate::analyzer::model::Tables) -> Vec<(Table, DataFrame)> {
    let mut out = tables.per_call.clone();
    if let Some(m) = &tables.sigma_matches {
        out.push((Table::SigmaMatches, m.clone()));
    }
    out
}

/// The derived tables to register: of the tables made a call at a time, only those named
/// (`per_call`), and none already `made` from a dataset piece by piece.
fn unmade<'a>(
    derived: &'a [(Table, Sql)],
    per_call: &[(Table, Sql)],
    made: &[(Table, DataFrame)],
) -> Vec<(Table, &'a Sql)> {
    derived
        .iter()
        .filter(|(t, _)| !query::PER_CALL.contains(t) || per_call.iter().any(|(p, _)| p == t))
        .filter(|(t, _)| !made.iter().any(|(m, _)| m == t))
        .map(|(t, sql)| (*t, sql))
        .collect()
}

/// What the queries that run (`sqls` and the derived tables registered) name of the tables
/// built or read with only the columns named: the columns of `key_lineage` to build, and of a
/// dataset's `assumptions` and `hops` to decode. Over a dataset, the tables made a call at a
/// time (`per_call`) are made with `calls` registered beside them, whether they read it or not.
fn named_columns(
    opts: &mut IngestOptions,
    sqls: &[Sql],
    derived: &[(Table, Sql)],
    per_call: &[(Table, Sql)],
    calls: &Sql,
) {
    let texts: Vec<&Sql> = sqls
        .iter()
        .chain(derived.iter().map(|(_, s)| s))
        .chain(per_call.first().map(|_| calls))
        .collect();
    opts.lineage_columns = query::table_words(&texts, Table::KeyLineage);
    opts.base_columns = crate::analyzer::model::BaseColumns::of(
        query::table_words(&texts, Table::Assumptions).as_ref(),
        query::table_words(&texts, Table::Hops).as_ref(),
    );
    // Read through call_groups too, which passes every column of key_activity on (the embedded
    // query is made without running it; an override reads `g.*`).
    let made = |s: &Sql| s.name == Table::CallGroups.name() && query::is_embedded(s);
    let texts: Vec<&Sql> = texts.into_iter().filter(|s| !made(s)).collect();
    let reads = |t: Table| query::table_words(&texts, t);
    opts.activity_sources = match (reads(Table::KeyActivity), reads(Table::CallGroups)) {
        (Some(a), Some(g)) => a.contains("event_source") || g.contains("event_source"),
        _ => true,
    };
}

/// Of `derived`, those that `sqls` read, or that a table they read is derived from: the others
/// are not registered, so what only they name of the lineage is not built.
fn needed(derived: Vec<(Table, Sql)>, sqls: &[Sql]) -> Vec<(Table, Sql)> {
    let mut reading: Vec<&Sql> = sqls.iter().collect();
    let mut keep = vec![false; derived.len()];
    // A derived table reads only those before it.
    for (i, (table, sql)) in derived.iter().enumerate().rev() {
        keep[i] = reading
            .iter()
            .any(|s| query::sandbox::reads_table(&s.text, table.name()) != Some(false));
        if keep[i] {
            reading.push(sql);
        }
    }
    derived
        .into_iter()
        .zip(keep)
        .filter_map(|(d, k)| k.then_some(d))
        .collect()
}

/// The input: the dataset, or the files. Over a dataset a timeline reads only the calls its
/// entity's timeline can show, and the tables made a call at a time (`per_call`) are made piece
/// by piece when no query reads the calls whole.
fn read_input(
    opts: &IngestOptions,
    calls: &Sql,
    per_call: &[(Table, Sql)],
    sqls: &[Sql],
    params: &[(Table, DataFrame)],
    trusted: &[ipnet::IpNet],
    progress: Option<&dyn crate::analyzer::notice::FileCount>,
) -> Result<load::Ingested, ReportError> {
    let texts: Vec<&Sql> = per_call.iter().map(|(_, s)| s).collect();
    let named = query::words_read(&texts, sqls);
    let keep = |follow| crate::analyzer::dataset::pieces::Keep {
        follow,
        calls,
        per_call,
        trusted,
        named: named.as_ref(),
        bursts: bursts(sqls, per_call, params),
    };
    let follow = match params.iter().find(|(t, _)| *t == Table::TimelineFilter) {
        Some((_, df)) => Some(crate::analyzer::model::follow::Follow::from_frame(df)?),
        None => None,
    };
    let Some(dir) = &opts.dataset else {
        if !opts.needs.piecewise && follow.is_none() {
            return Ok(load::ingest(opts, progress)?);
        }
        // The files' calls are read, kept on disk once they outgrow memory's budget, then made
        // into what the queries read of them a slice or a part at a time, as from a dataset:
        // the tables made a call at a time never hold every call's keys and root, and a
        // timeline keeps only the calls its entity's timeline can show.
        let budget = load::spill::budget();
        return load::ingest_spilling(opts, progress, budget, |mut raw, spilled| {
            use crate::analyzer::dataset::{calls, pieces};
            if let Some(spilled) = spilled {
                let parts = calls::Parts::spilled(spilled.paths.clone(), &opts.window);
                let source = calls::Source::Parts(&parts);
                return Ok(pieces::tables(raw, &source, opts, &keep(follow.as_ref()))?);
            }
            if follow.is_some() {
                let named = opts.lineage_columns.as_ref();
                let tables = crate::analyzer::model::Tables::from_raw(raw, &opts.providers, named);
                return Ok(tables?);
            }
            // A new empty table: a slice of the calls, even of no row, would keep them all.
            let none = DataFrame::empty_with_schema(raw.role_calls.schema());
            let calls = std::mem::replace(&mut raw.role_calls, none);
            let source = calls::Source::Memory(&calls);
            Ok(pieces::tables(raw, &source, opts, &keep(None))?)
        });
    };
    let reads_events = std::iter::once(calls)
        .chain(per_call.iter().map(|(_, s)| s))
        .chain(sqls)
        .any(|s| query::sandbox::reads_table(&s.text, Table::Events.name()) == Some(true));
    if reads_events && !crate::analyzer::dataset::Dataset::open(dir)?.has_events() {
        return Err(crate::analyzer::dataset::DatasetError::NoEvents(dir.clone()).into());
    }
    Ok(crate::analyzer::dataset::read::read(
        dir,
        opts,
        &keep(follow.as_ref()),
    )?)
}

/// recon_burst's thresholds when flagged_calls' rows marked only recon or denied can be counted
/// instead of kept (`dataset::bursts`): when every query that reads flagged_calls is one of the
/// shipped readers it keeps exact, as shipped.
fn bursts(
    sqls: &[Sql],
    per_call: &[(Table, Sql)],
    params: &[(Table, DataFrame)],
) -> Option<crate::analyzer::dataset::bursts::Limits> {
    use crate::analyzer::dataset::bursts::{Limits, READERS};
    let shipped = |s: &Sql| {
        query::EMBEDDED
            .iter()
            .any(|(name, text)| READERS.contains(name) && *text == s.text)
    };
    let others = per_call.iter().filter(|(t, _)| *t != Table::FlaggedCalls);
    let readers: Vec<&Sql> = sqls
        .iter()
        .chain(others.map(|(_, s)| s))
        .filter(|s| query::sandbox::reads_table(&s.text, Table::FlaggedCalls.name()) != Some(false))
        .collect();
    if readers.is_empty() || !readers.into_iter().all(shipped) {
        return None;
    }
    let (_, findings) = params.iter().find(|(t, _)| *t == Table::FindingsParams)?;
    Limits::of_params(findings)
}

/// The tables made a call at a time (`query::PER_CALL`) that one of `sqls` names, with their
/// queries.
fn per_call(derived: &[(Table, Sql)], sqls: &[Sql]) -> Vec<(Table, Sql)> {
    derived
        .iter()
        .filter(|(t, _)| query::PER_CALL.contains(t))
        .filter(|(t, _)| sqls.iter().any(|s| query::mentions(&s.text, t.name())))
        .cloned()
        .collect()
}

/// `sqls`, and `call_groups` when one reads it: what a query reads through call_groups, it reads
/// of key_activity and the lineage.
fn reading(sqls: &[Sql], call_groups: &Sql) -> Vec<Sql> {
    match sqls
        .iter()
        .any(|s| query::mentions(&s.text, Table::CallGroups.name()))
    {
        true => sqls.iter().chain([call_groups]).cloned().collect(),
        false => sqls.to_vec(),
    }
}

/// The `gcp_*` tables, and `gcp_verdicts` when one of `sqls` reads it.
fn gcp_tables(
    sqls: &[Sql],
    tables: &crate::analyzer::model::Tables,
    gcp: &crate::analyzer::gcp::Gcp,
) -> PolarsResult<Vec<(Table, DataFrame)>> {
    let mut out = gcp.frames()?;
    if sqls
        .iter()
        .any(|s| query::mentions(&s.text, Table::GcpVerdicts.name()))
    {
        // Without GCP input nothing is judged: an empty table, not every key `not_covered`.
        let assumptions = match gcp.present {
            true => tables.assumptions.clone(),
            false => tables.assumptions.head(Some(0)),
        };
        let verdicts = crate::analyzer::gcp::keys::verdicts(&gcp.model, &assumptions)?;
        out.push((Table::GcpVerdicts, verdicts));
    }
    Ok(out)
}

/// The Google side: the `--gcp-*` inputs when given, else what the dataset stored, else none.
fn load_gcp(opts: &IngestOptions) -> Result<crate::analyzer::gcp::Gcp, ReportError> {
    if opts.gcp.given() {
        return Ok(crate::analyzer::gcp::load(&opts.gcp, &opts.limits)?);
    }
    match &opts.dataset {
        Some(dir) => Ok(crate::analyzer::dataset::gcp::read(dir)?),
        None => Ok(crate::analyzer::gcp::Gcp::default()),
    }
}

/// What the queries need read: `events` only when one names it; of role_calls only what they
/// can name (or decode, from a dataset); and the calls themselves only when one reads `calls`
/// or `role_calls`, not just their groups (`key_activity`) or the tables made a call at a time
/// (`per_call`, whose queries are read for the columns they name).
fn narrow(opts: &mut IngestOptions, calls: &Sql, per_call: &[(Table, Sql)], sqls: &[Sql]) {
    let reads = |table: Table| {
        sqls.iter()
            .any(|s| query::sandbox::reads_table(&s.text, table.name()) != Some(false))
    };
    let groups = sqls
        .iter()
        .any(|s| query::mentions(&s.text, Table::KeyActivity.name()));
    let derived: Vec<&Sql> = std::iter::once(calls)
        .chain(per_call.iter().map(|(_, s)| s))
        .collect();
    opts.needs = Needs {
        events: opts.needs.events || reads_events(&derived, sqls),
        id_times: opts.needs.id_times,
        touched: opts.needs.touched,
        piecewise: !reads(Table::Calls)
            && !reads(Table::RoleCalls)
            && derived.iter().all(|s| query::reads_per_piece(s)),
        groups,
    };
    let mut words = query::words_read(&derived, sqls);
    if groups && let Some(w) = words.as_mut() {
        w.extend(crate::analyzer::model::activity::READS.map(String::from));
    }
    opts.role_call_columns = crate::analyzer::model::role_call_columns(words.as_ref());
    match &opts.role_call_columns {
        Some(c) => tracing::debug!("role_calls: keeping {}", c.kept.join(", ")),
        None => tracing::debug!("role_calls: keeping every column"),
    }
    opts.needs.touched |= opts.role_call_columns.as_ref().is_none_or(|c| {
        c.kept
            .iter()
            .any(|k| crate::analyzer::model::schema::TOUCHED.contains(&k.as_str()))
    });
}

/// Whether a query reads the events table (which holds every record of the input): reads it,
/// not names it, as `COUNT(*) AS events`, a finding's column, does. One that does not parse may.
fn reads_events(derived: &[&Sql], sqls: &[Sql]) -> bool {
    derived
        .iter()
        .copied()
        .chain(sqls)
        .any(|s| query::sandbox::reads_table(&s.text, Table::Events.name()) != Some(false))
}

/// `key_activity`, when one of `sqls` names it: as read in groups, or made from `role_calls`;
/// `--trusted-cidrs` marked either way (ingest stores `trusted_source` false).
fn key_activity(
    sqls: &[Sql],
    tables: &crate::analyzer::model::Tables,
    role_calls: &DataFrame,
    trusted: &[ipnet::IpNet],
) -> PolarsResult<DataFrame> {
    use crate::analyzer::model::activity;
    if !sqls
        .iter()
        .any(|s| query::mentions(&s.text, Table::KeyActivity.name()))
    {
        return Ok(activity::empty());
    }
    // In the table's order as made (`activity::Groups::finish`); marking a trusted range changes
    // no row's place, as the mark follows from the source IP, which sorts before it.
    match &tables.key_activity {
        Some(g) if trusted.is_empty() => Ok(g.clone()),
        Some(g) => crate::analyzer::model::trusted::mark(g, trusted),
        None => activity::group(role_calls),
    }
}

/// `call_groups` made (see [`joinless_call_groups`]) into `params`, and out of `derived`, or,
/// when several of the shipped queries read it, one for each of them with the rows that query
/// cannot tell apart merged (the second value, by position in `sqls`); then `key_activity`, or
/// an empty table in its place where only call_groups read it: its groups need not be held
/// while the queries run (183 MB at 30M events for by-instance).
#[allow(clippy::type_complexity)]
fn with_call_groups(
    (derived, sqls): (&mut Vec<(Table, &Sql)>, &[Sql]),
    tables: &mut crate::analyzer::model::Tables,
    key_activity: DataFrame,
    params: &mut Vec<(Table, DataFrame)>,
) -> PolarsResult<(DataFrame, Vec<Option<(Table, DataFrame)>>)> {
    let own = own_call_groups((derived, sqls), tables, &key_activity)?;
    if own.is_empty() {
        let Some(groups) = joinless_call_groups(derived, sqls, tables, &key_activity)? else {
            return Ok((key_activity, own));
        };
        params.push((Table::CallGroups, groups));
    }
    derived.retain(|(t, _)| *t != Table::CallGroups);
    let reads = |s: &Sql| query::mentions(&s.text, Table::KeyActivity.name());
    if sqls
        .iter()
        .chain(derived.iter().map(|(_, s)| *s))
        .any(reads)
    {
        return Ok((key_activity, own));
    }
    tables.key_activity = None;
    Ok((crate::analyzer::model::activity::empty(), own))
}

/// When more than one of `sqls` reads `call_groups`, all of them shipped (`report` runs
/// by_instance and sessions), a `call_groups` for each, merged by the columns it names alone:
/// one table named by both merges less than either (at 30M events, none of 3.4M groups, where
/// by_instance alone reads 27,000 rows and sessions a third of them). Empty otherwise.
#[allow(clippy::type_complexity)]
fn own_call_groups(
    (derived, sqls): (&[(Table, &Sql)], &[Sql]),
    tables: &crate::analyzer::model::Tables,
    key_activity: &DataFrame,
) -> PolarsResult<Vec<Option<(Table, DataFrame)>>> {
    // Only the reports' own queries: a derived table that read it would see neither.
    let readers: Vec<&Sql> = call_groups_readers(sqls, derived).collect();
    let of_sqls = sqls.iter().filter(|s| reads_call_groups(s)).count();
    if of_sqls < 2 || readers.len() > of_sqls || !readers.iter().all(|s| query::is_embedded(s)) {
        return Ok(Vec::new());
    }
    let mut own = Vec::with_capacity(sqls.len());
    for sql in sqls {
        if !reads_call_groups(sql) {
            own.push(None);
            continue;
        }
        let one = std::slice::from_ref(sql);
        match joinless_call_groups(derived, one, tables, key_activity)? {
            Some(df) => own.push(Some((Table::CallGroups, df))),
            None => return Ok(Vec::new()),
        }
    }
    Ok(own)
}

fn reads_call_groups(sql: &Sql) -> bool {
    query::mentions(&sql.text, Table::CallGroups.name())
}

/// The queries that read `call_groups`: of `sqls` and of the derived tables but its own.
fn call_groups_readers<'s>(
    sqls: &'s [Sql],
    derived: &'s [(Table, &Sql)],
) -> impl Iterator<Item = &'s Sql> {
    let derived = derived.iter().filter(|(t, _)| *t != Table::CallGroups);
    sqls.iter()
        .chain(derived.map(|(_, s)| *s))
        .filter(|s| reads_call_groups(s))
}

/// `call_groups` made without its query's join (see `model::call_groups`), when it is to be
/// registered and its query is the embedded one.
fn joinless_call_groups(
    derived: &[(Table, &Sql)],
    sqls: &[Sql],
    tables: &crate::analyzer::model::Tables,
    key_activity: &DataFrame,
) -> PolarsResult<Option<DataFrame>> {
    let Some((_, sql)) = derived.iter().find(|(t, _)| *t == Table::CallGroups) else {
        return Ok(None);
    };
    if !query::is_embedded(sql) {
        return Ok(None);
    }
    // A word qualified by another table's alias (`l.issuing_ip` in sessions.sql) is not one of
    // its columns: each one gathered is 16 bytes a group.
    let texts: Vec<&str> = sqls.iter().map(|s| s.text.as_str()).collect();
    let named = query::words::read(&[], &texts, &[Table::CallGroups.name()]);
    // Rows are merged only for the shipped queries, which sum, take extremes and collect
    // distinct values over them (see `model::merged_groups`); one's own may count them.
    let merged = call_groups_readers(sqls, derived).all(query::is_embedded);
    let made = crate::analyzer::model::call_groups::make(
        key_activity,
        &tables.key_lineage,
        &tables.assumptions,
        named.as_ref(),
        merged,
    )?;
    if let Some(groups) = made.as_ref().filter(|_| merged) {
        match groups.height() < key_activity.height() {
            true => tracing::info!(
                "call_groups: {} group(s) read as {} row(s), those the shipped queries cannot tell apart made one",
                key_activity.height(),
                groups.height()
            ),
            false => tracing::info!(
                "call_groups: {} group(s), not merged: the shipped queries tell most of them apart",
                key_activity.height()
            ),
        }
    }
    Ok(made)
}

/// `trust_versions` (see `trust::versions`), when one of `sqls` reads it.
fn trust_versions(
    sqls: &[Sql],
    tables: &crate::analyzer::model::Tables,
    trust: &[crate::analyzer::trust::RolePolicy],
) -> PolarsResult<Option<(Table, DataFrame)>> {
    let named = |s: &Sql| query::mentions(&s.text, Table::TrustVersions.name());
    if !sqls.iter().any(named) {
        return Ok(None);
    }
    let versions = crate::analyzer::trust::versions::frame(
        &tables.policy_changes,
        &tables.assumptions,
        trust,
    )?;
    Ok(Some((Table::TrustVersions, versions)))
}

/// Validate what was just read against its digests, and mark each file with the result.
fn verify_inputs(
    opts: &IngestOptions,
    ingested: &mut load::Ingested,
) -> Result<crate::analyzer::verify::Verification, ReportError> {
    use crate::analyzer::verify::{gather, validate};
    let inputs = gather::for_report(
        &opts.paths,
        &ingested.files,
        &opts.window,
        &opts.s3,
        &opts.limits,
        &gather::KeyOptions {
            pinned: opts.public_keys.clone(),
            online: false,
        },
    )
    .map_err(ReportError::Verify)?;
    let v = validate(&inputs);
    for f in &mut ingested.files {
        let name = f.path.display().to_string();
        // Files outside the layout are known by their path (gather::for_report).
        let key = crate::analyzer::verify::digest::tail(&name).unwrap_or(&name);
        let status = v.status.get(key);
        f.validation = match (status, f.status) {
            (Some(s), _) => Some(s.to_string()),
            (None, load::FileStatus::OutsideWindow) => None,
            (None, load::FileStatus::Digest) => Some("digest-not-checked".into()),
            (None, _) => Some("not-checked".into()),
        };
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_cidrs_hash_the_bytes_they_were_parsed_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("egress.txt");
        let text = "# office\n203.0.113.0/24\n198.51.100.7\n";
        std::fs::write(&path, text).unwrap();
        let t = TrustedCidrs::read(&path).unwrap();
        assert_eq!(t.nets.len(), 2);
        assert_eq!(
            t.sha256.as_deref(),
            Some(crate::base::hash::sha256_hex(text.as_bytes()).as_str())
        );
        assert_eq!(t.describe()["path"], path.display().to_string());
    }

    #[test]
    fn flagged_calls_are_counted_not_kept_only_for_the_shipped_readers() {
        let shipped = |name: &str| Sql {
            name: name.into(),
            text: query::EMBEDDED
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .into(),
        };
        let flagged = shipped("flagged_calls");
        let per_call = [(Table::FlaggedCalls, flagged)];
        let params = [(
            Table::FindingsParams,
            crate::analyzer::query::findings::Thresholds::default().frame(),
        )];
        let findings = [
            shipped("findings/recon_burst"),
            shipped("findings/use_after_expiry"),
            shipped("findings/orphan_federated_key"),
        ];
        let limits = bursts(&findings, &per_call, &params).expect("the shipped readers");
        assert_eq!((limits.window_s, limits.min_distinct), (300, 8));
        let mut edited = findings.clone();
        edited[0].text.push_str("\n-- my copy");
        assert!(bursts(&edited, &per_call, &params).is_none());
        let mut mine = findings.to_vec();
        mine.push(Sql {
            name: "q".into(),
            text: "SELECT COUNT(*) FROM flagged_calls".into(),
        });
        assert!(bursts(&mine, &per_call, &params).is_none());
        assert!(
            bursts(&findings[2..], &per_call, &params).is_none(),
            "no reader"
        );
        assert!(bursts(&findings, &per_call, &[]).is_none(), "no thresholds");
    }

    #[test]
    fn the_events_table_is_built_for_a_query_that_reads_it_not_one_that_names_a_column_so() {
        let sql = |text: &str| Sql {
            name: "q".into(),
            text: text.into(),
        };
        let calls = sql("SELECT * FROM role_calls");
        let events = |text: &str| reads_events(&[&calls], &[sql(text)]);
        assert!(!events(
            "SELECT session_name, COUNT(*) AS events FROM calls GROUP BY 1"
        ));
        assert!(!events("SELECT 1 AS n FROM assumptions -- not from events"));
        assert!(events("SELECT event_name, COUNT(*) FROM events GROUP BY 1"));
        assert!(events(
            "WITH e AS (SELECT * FROM events) SELECT COUNT(*) FROM e"
        ));
        assert!(
            events("SELECT 'unclosed"),
            "what does not parse may read it"
        );
    }
}
