//! The report commands that answer on stdout or in one file: `by-instance`, `sessions`, `query`,
//! `findings` and `timeline`. Input (files, store, API) → engine → one frame → output → status.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::DataFrame;

use crate::analyzer::acquire::{self, ApiSource, Input};
use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::cmd::progress::{self, FetchSpinner};
use crate::analyzer::cmd::sigma_rules;
pub use crate::analyzer::cmd::sigma_rules::SigmaRules;
use crate::analyzer::cmd::ui::Ui;
pub use crate::analyzer::cmd::view::{self, View};
use crate::analyzer::engine::{self, TrustedCidrs};
use crate::analyzer::load::IngestOptions;
use crate::analyzer::model::Table;
use crate::analyzer::model::{Needs, ProviderFilter};
use crate::analyzer::notice::Notice;
use crate::analyzer::query::findings::{self, Severity, Thresholds};
use crate::analyzer::query::timeline::Entity;
use crate::analyzer::query::{Queries, Shipped, Sql};
use crate::analyzer::render::html;
use crate::analyzer::render::{self, Format};
use crate::analyzer::source::api::Progress;
use crate::analyzer::source::files::Limits;
use crate::base::exit;
use crate::base::timefmt::Window;

/// What a command reports.
#[derive(Debug, Clone)]
pub enum Command {
    /// `by-instance`: the shipped `by_instance` query, with its activity chart on a page.
    ByInstance,
    /// `sessions`: the shipped `sessions` query.
    Sessions,
    /// `query FILE|NAME|'SQL'`, with the thresholds registered for it.
    Query {
        sql: String,
        thresholds: Thresholds,
    },
    /// Every detection, stacked; `--fail-on` gates the exit status. With `--sigma`, a finding
    /// per (Sigma rule, key) too.
    Findings {
        thresholds: Thresholds,
        fail_on: Option<Severity>,
        sigma: Option<SigmaRules>,
    },
    Timeline(Entity),
    /// `sigma RULES`: every (rule, event) a Sigma rule holds for, attributed.
    Sigma(SigmaRules),
}

/// Where a report reads from and how it is written, common to every report command.
#[derive(Debug, Clone)]
pub struct Source {
    pub paths: Vec<PathBuf>,
    pub api: ApiSource,
    pub providers: ProviderFilter,
    pub queries: Option<PathBuf>,
    pub limits: Limits,
    /// `--dataset DIR`: read this Parquet dataset instead of paths.
    pub dataset: Option<PathBuf>,
    /// How `s3://` paths are reached and narrowed.
    pub s3: crate::analyzer::source::s3::S3Options,
    /// `--verify`: validate the inputs against their digests (log-file integrity validation).
    pub verify: bool,
    /// `--public-keys FILE`: the only keys `--verify` trusts.
    pub public_keys: Option<PathBuf>,
    /// `--gcp-logs` and the listings.
    pub gcp: crate::analyzer::gcp::Inputs,
}

impl Source {
    /// How the engine reads this source's `paths` over `window`: the one place a report's
    /// options become ingest options. `from_store`: the paths are the API's store, where finding
    /// nothing is an empty report.
    pub fn ingest_options(
        &self,
        paths: Vec<PathBuf>,
        window: Window,
        from_store: bool,
    ) -> IngestOptions {
        IngestOptions {
            paths,
            window,
            needs: Needs::default(),
            providers: self.providers,
            hash_inputs: false,
            empty_ok: from_store || self.dataset.is_some(),
            limits: self.limits,
            dataset: self.dataset.clone(),
            role_call_columns: None,
            lineage_columns: None,
            base_columns: Default::default(),
            activity_sources: true,
            s3: self.s3.clone(),
            verify: self.verify,
            public_keys: self.public_keys.clone(),
            gcp: self.gcp.clone(),
            sigma: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    pub source: Source,
    pub window: Window,
    pub format: Format,
    /// Write here (atomically) instead of stdout.
    pub output: Option<PathBuf>,
    pub view: View,
    /// `--trusted-cidrs FILE`: source IPs in these ranges are never foreign, in every report.
    pub trusted_cidrs: Option<PathBuf>,
    /// `--policies SOURCE...`: the roles' trust policies; `name_trust` is appended.
    pub policies: Vec<PathBuf>,
}

impl Command {
    /// The columns a table on a terminal shows unless asked for more: the ones a reader scans
    /// first. The rest are named under the table.
    fn usual_columns(&self) -> Option<&'static [&'static str]> {
        Some(match self {
            Command::ByInstance => &[
                "project",
                "instance",
                "api_calls",
                "foreign_ip_calls",
                "api_errors",
                "first_seen",
                "last_seen",
                "assumptions",
                "failed_assumptions",
                "access_keys",
            ],
            Command::Sessions => &[
                "instance",
                "access_key_id",
                "issued_at",
                "api_calls",
                "foreign_ip_calls",
                "api_errors",
                "issuing_ip",
                "depth",
                "last_call",
            ],
            Command::Findings { .. } => &[
                "severity",
                "kind",
                "instance",
                "source_ip",
                "first_seen",
                "events",
                "access_key_id",
                "detail",
            ],
            Command::Timeline(_) => &[
                "time",
                "instance",
                "event_name",
                "kind",
                "source_ip",
                "foreign_ip",
                "error_code",
                "detail",
            ],
            Command::Sigma(_) => &[
                "event_time",
                "level",
                "title",
                "instance",
                "session_name",
                "depth",
                "event_id",
            ],
            Command::Query { .. } => return None,
        })
    }

    fn sqls(&self, queries: &Queries) -> Result<Vec<Sql>, AnalyzerError> {
        Ok(match self {
            Command::ByInstance => vec![queries.shipped(Shipped::ByInstance)?],
            Command::Sessions => vec![queries.shipped(Shipped::Sessions)?],
            Command::Query { sql, .. } => vec![queries.resolve(sql)?],
            Command::Findings { sigma, .. } => {
                let mut all = queries.findings()?;
                if sigma.is_some() {
                    all.push(queries.shipped(Shipped::SigmaFindings)?);
                }
                all
            }
            Command::Timeline(_) => vec![queries.shipped(Shipped::Timeline)?],
            Command::Sigma(_) => vec![queries.shipped(Shipped::SigmaHits)?],
        })
    }

    /// How a page names the report.
    fn title(&self) -> &'static str {
        match self {
            Command::ByInstance => "by-instance",
            Command::Sessions => "sessions",
            Command::Query { .. } => "query",
            Command::Findings { .. } => "findings",
            Command::Timeline(_) => "timeline",
            Command::Sigma(_) => "sigma",
        }
    }

    /// What the command's page shows: its own frame, and the extra frames asked for above.
    fn sections<'a>(&self, frame: &'a DataFrame, extra: &'a [DataFrame]) -> html::Sections<'a> {
        match self {
            Command::ByInstance => html::Sections {
                by_instance: Some(frame),
                activity: extra.first(),
                ..Default::default()
            },
            Command::Findings { .. } => html::Sections {
                findings: Some(frame),
                ..Default::default()
            },
            Command::Sessions => table("Sessions (one row per key)", frame),
            Command::Query { .. } => table("Rows", frame),
            Command::Timeline(_) => table("Timeline", frame),
            Command::Sigma(_) => table("Sigma rule hits", frame),
        }
    }

    /// `findings`' `--fail-on` gate; none for the others.
    fn gate(&self) -> Option<Severity> {
        match self {
            Command::Findings { fail_on, .. } => *fail_on,
            _ => None,
        }
    }

    /// The Sigma rules the command evaluates.
    fn sigma(&self) -> Option<&SigmaRules> {
        match self {
            Command::Sigma(rules) => Some(rules),
            Command::Findings { sigma, .. } => sigma.as_ref(),
            _ => None,
        }
    }

    /// The parameter tables the command's SQL reads.
    fn params(&self) -> Vec<(Table, DataFrame)> {
        match self {
            Command::ByInstance | Command::Sessions | Command::Sigma(_) => vec![],
            Command::Query { thresholds, .. } | Command::Findings { thresholds, .. } => {
                vec![(Table::FindingsParams, thresholds.frame())]
            }
            Command::Timeline(entity) => vec![(Table::TimelineFilter, entity.frame())],
        }
    }
}

/// Run one report command; its frame goes to `--output` or to `stdout`. Returns the exit status.
pub fn run(
    req: Request,
    ui: Ui<'_>,
    stdout: &mut dyn Write,
    stdout_is_terminal: bool,
) -> Result<i32, AnalyzerError> {
    refuse_parquet_on_a_terminal(&req, stdout_is_terminal)?;
    let queries = Queries::from_dir(req.source.queries.clone())?;
    let (sqls, own, keys_too) = all_sqls(&req, &queries)?;
    let (trusted, fail_on) = (
        read_trusted(req.trusted_cidrs.as_deref())?,
        req.command.gate(),
    );
    let Ui {
        progress,
        interrupt,
        tell,
    } = ui;
    let (policies, policies_read) = load_policies(&req, tell)?;
    let sigma = sigma_for(&req, tell)?;
    let mut source = req.source.clone();
    sigma_rules::fetch_every_event(&mut source.api, sigma.is_some());
    let input = fetch_input(&source, req.window, progress, interrupt, tell)?;
    if input.interrupted {
        return Ok(exit::INTERRUPTED);
    }
    let (opts, params) = ingest(&req, input.paths, input.from_store, sigma.as_ref())?;
    let bar = progress::files_bar(progress, "");
    let outcome = engine::run(
        &sqls,
        &queries,
        opts,
        params,
        &trusted.nets,
        &policies,
        bar.count(),
    );
    bar.finish();
    let mut outcome = outcome.map_err(|e| unknown_column(e, &queries))?;
    outcome.ingested.tell(tell);
    tell_gcp(&outcome.gcp, tell);
    if let Some(v) = &outcome.verification {
        crate::analyzer::cmd::verify::tell(v, tell);
    }
    let mut frames = std::mem::take(&mut outcome.frames);
    let keys = match keys_too {
        true => frames.pop(),
        false => None,
    };
    let extra = frames.split_off(own);
    let mut frame = match &req.command {
        Command::Findings { .. } => findings::combine_with(frames, req.format == Format::Ocsf)?,
        _ => frames.into_iter().next().unwrap_or_default(),
    };
    tell_why_empty(&req, &outcome, &frame, tell)?;
    if matches!(req.command, Command::ByInstance | Command::Sessions) {
        judge_names(&req, &mut frame, keys.as_ref(), &outcome, &policies)?;
    }
    let complete = outcome.ingested.summary.complete()
        && input.complete
        && policies_read
        && outcome.gcp.complete()
        && sigma.as_ref().is_none_or(|s| s.skipped.is_empty());
    write_out(
        &req,
        &frame,
        &extra,
        &outcome,
        &input.source,
        complete,
        stdout,
    )?;
    let gate_hit = match fail_on {
        Some(gate) => findings::any_at_or_above(&frame, gate)?,
        None => false,
    };
    Ok(status(outcome.verification.as_ref(), complete, gate_hit))
}

fn refuse_parquet_on_a_terminal(req: &Request, terminal: bool) -> Result<(), AnalyzerError> {
    match req.format == Format::Parquet && req.output.is_none() && terminal {
        true => Err(AnalyzerError::Usage(
            "refusing to write Parquet to a terminal; use --output FILE".into(),
        )),
        false => Ok(()),
    }
}

/// The Sigma rules the command evaluates, if any.
fn sigma_for(
    req: &Request,
    tell: &mut dyn FnMut(Notice),
) -> Result<Option<Arc<crate::analyzer::sigma::RuleSet>>, AnalyzerError> {
    req.command
        .sigma()
        .map(|spec| sigma_rules::load(spec, req.source.dataset.as_deref(), &req.window, tell))
        .transpose()
}

/// How the input is read, and the parameter tables the command's SQL reads.
fn ingest(
    req: &Request,
    paths: Vec<PathBuf>,
    from_store: bool,
    sigma: Option<&Arc<crate::analyzer::sigma::RuleSet>>,
) -> Result<(IngestOptions, Vec<(Table, DataFrame)>), AnalyzerError> {
    let mut opts = req.source.ingest_options(paths, req.window, from_store);
    let mut params = req.command.params();
    if let Some(set) = sigma {
        sigma_rules::attach(set, &mut opts, &mut params)?;
    }
    Ok((opts, params))
}

/// The SQL a report runs: its own (the first `own`), what its page draws besides, and for
/// by-instance with `--policies` the sessions report last (`true`), whose keys give name_trust.
fn all_sqls(req: &Request, queries: &Queries) -> Result<(Vec<Sql>, usize, bool), AnalyzerError> {
    let mut sqls = req.command.sqls(queries)?;
    let own = sqls.len();
    // A page draws more than the report's own rows: by-instance's page has its activity chart.
    if req.format == Format::Html && matches!(req.command, Command::ByInstance) {
        sqls.push(queries.shipped(Shipped::Activity)?);
    }
    // A dataset may hold GCP facts: its by-instance needs the keys to judge them.
    let gcp = req.source.gcp.given()
        || req
            .source
            .dataset
            .as_deref()
            .is_some_and(crate::analyzer::dataset::gcp::stored);
    let keys_too = (!req.policies.is_empty() || gcp) && matches!(req.command, Command::ByInstance);
    if keys_too {
        sqls.push(queries.shipped(Shipped::Sessions)?);
    }
    Ok((sqls, own, keys_too))
}

/// `--policies`' roles, and whether they were read whole (what could not be is named).
fn load_policies(
    req: &Request,
    tell: &mut dyn FnMut(Notice),
) -> Result<(Vec<crate::analyzer::trust::RolePolicy>, bool), AnalyzerError> {
    use crate::analyzer::trust;
    if req.policies.is_empty() {
        return Ok((Vec::new(), true));
    }
    let iam = trust::iam::IamOptions {
        profile: req.source.s3.profile.clone(),
        endpoint_url: None,
    };
    let loaded = trust::load(&req.policies, &iam).map_err(|e| AnalyzerError::Trust(Box::new(e)))?;
    let bad: Vec<String> = loaded
        .problems
        .iter()
        .cloned()
        .chain(trust::malformed(&loaded.roles))
        .collect();
    for p in &bad {
        tell(Notice::Problem(format!("--policies: {p}")));
    }
    Ok((loaded.roles, bad.is_empty()))
}

/// Append `name_trust` (see `trust::name`).
fn name_trust(
    frame: &mut DataFrame,
    keys: Option<&DataFrame>,
    policies: &[crate::analyzer::trust::RolePolicy],
    changes: &[crate::analyzer::trust::history::Change],
) -> Result<(), AnalyzerError> {
    use crate::analyzer::trust::name;
    let values = match keys {
        None => name::for_sessions(frame, policies, changes)?,
        Some(keys) => crate::analyzer::query::per_key::worst_by_name(
            frame,
            keys,
            &name::for_sessions(keys, policies, changes)?,
            &name::ORDER,
            "unknown",
        )?,
    };
    name::append(frame, values)?;
    Ok(())
}

/// by-instance and sessions: `name_trust` with `--policies`, then `gcp_instance` with GCP logs.
fn judge_names(
    req: &Request,
    frame: &mut DataFrame,
    keys: Option<&DataFrame>,
    outcome: &engine::Outcome,
    policies: &[crate::analyzer::trust::RolePolicy],
) -> Result<(), AnalyzerError> {
    if !req.policies.is_empty() {
        let changes = crate::analyzer::trust::history::succeeded(
            &outcome.ingested.tables.policy_changes,
            policies,
        )?;
        name_trust(frame, keys, policies, &changes)?;
    }
    if outcome.gcp.present {
        crate::analyzer::gcp::keys::append(frame, keys, &outcome.gcp.model)?;
    }
    Ok(())
}

/// What the GCP logs could not give, then what they cover.
pub(crate) fn tell_gcp(gcp: &crate::analyzer::gcp::Gcp, tell: &mut dyn FnMut(Notice)) {
    for p in gcp.problems() {
        tell(Notice::Problem(p));
    }
    if let Some(line) = gcp.summary() {
        tell(Notice::Info(line));
    }
}

/// A query naming a column no table has: the nearest columns of every table, not the few this
/// run decoded.
fn unknown_column(e: engine::ReportError, queries: &Queries) -> AnalyzerError {
    use crate::analyzer::query::QueryError;
    let engine::ReportError::Query(QueryError::Sql {
        name,
        error: polars::prelude::PolarsError::ColumnNotFound(msg),
    }) = &e
    else {
        return e.into();
    };
    let (Some(column), Ok(catalog)) = (
        msg.split('"').nth(1),
        crate::analyzer::cmd::tables::catalog(queries),
    ) else {
        return e.into();
    };
    let mut all: Vec<String> = catalog
        .iter()
        .flat_map(|t| t.schema.iter_names().map(|n| n.to_string()))
        .collect();
    all.sort();
    all.dedup();
    // A column some table has, missing where the query looks for it (a union's other side, a
    // CTE that does not select it): polars' own words say more than a list of near names.
    if all.iter().any(|c| c == column) {
        return e.into();
    }
    QueryError::UnknownColumn {
        name: name.clone(),
        column: crate::base::text::excerpt(column),
        nearest: crate::analyzer::query::nearest(column, &all),
    }
    .into()
}

/// An answer with nothing in it says why, where the input can tell: a window that holds none of
/// its records, or a timeline of a name the window does not hold.
fn tell_why_empty(
    req: &Request,
    outcome: &engine::Outcome,
    frame: &DataFrame,
    tell: &mut dyn FnMut(Notice),
) -> Result<(), AnalyzerError> {
    let ingested = &outcome.ingested;
    if let Some(missed) = ingested.summary.missed(&req.window, &ingested.files) {
        tell(Notice::Problem(missed));
    }
    if let Command::Timeline(entity) = &req.command
        && frame.height() == 0
        && let Some(why) = entity.unmatched(&ingested.tables)?
    {
        tell(Notice::Problem(why));
    }
    Ok(())
}

/// One report's exit status: the most severe of a matched `--fail-on` gate, what `--verify`
/// found, and whether every input was read.
pub fn status(
    verification: Option<&crate::analyzer::verify::Verification>,
    complete: bool,
    gate_hit: bool,
) -> i32 {
    [
        if gate_hit { exit::FINDINGS } else { exit::OK },
        verification.map_or(exit::OK, |v| v.exit_status()),
        if complete { exit::OK } else { exit::INCOMPLETE },
    ]
    .into_iter()
    .fold(exit::OK, exit::most_severe)
}

/// The frame, or the page with its extra frames, to `--output` (atomically) or to `stdout`.
fn write_out(
    req: &Request,
    frame: &DataFrame,
    extra: &[DataFrame],
    outcome: &engine::Outcome,
    source: &serde_json::Value,
    complete: bool,
    stdout: &mut dyn Write,
) -> Result<(), AnalyzerError> {
    let selected = match req.format {
        Format::Html | Format::Ocsf => None,
        _ => Some(view::select_columns(frame.clone(), &req.view)?),
    };
    let frame = selected.as_ref().unwrap_or(frame);
    let fitted = view::fitted(
        req.format,
        &req.view,
        req.output.as_ref(),
        req.command.usual_columns(),
        frame,
    )?;
    let write = |w: &mut dyn Write| match req.format {
        Format::Html => {
            let ctx = html::Context::new(
                req.command.title(),
                req.window,
                &outcome.ingested,
                outcome.verification.as_ref(),
                source,
                complete,
            );
            let page = html::render(&ctx, &req.command.sections(frame, extra))?;
            Ok(w.write_all(page.as_bytes())?)
        }
        Format::Table => match &fitted {
            Some((width, (shown, hidden))) => render::write_fitted(shown, *width, hidden, w),
            None => render::write(frame, Format::Table, req.command.title(), w),
        },
        f => render::write(frame, f, req.command.title(), w),
    };
    match &req.output {
        Some(path) => crate::base::atomic::write_atomic(path, write)?,
        None => write(stdout)?,
    }
    Ok(())
}

fn table<'a>(name: &'a str, frame: &'a DataFrame) -> html::Sections<'a> {
    html::Sections {
        table: Some((name, frame)),
        ..Default::default()
    }
}

/// `--trusted-cidrs FILE`, read once (an absent option is no ranges).
pub(crate) fn read_trusted(path: Option<&std::path::Path>) -> Result<TrustedCidrs, AnalyzerError> {
    Ok(path
        .map(TrustedCidrs::read)
        .transpose()?
        .unwrap_or_default())
}

/// The input for `window`: fetched from the API first when asked, with a spinner on a terminal.
pub(crate) fn fetch_input(
    source: &Source,
    window: Window,
    progress: bool,
    interrupt: &acquire::Interrupt,
    tell: &mut dyn FnMut(crate::analyzer::notice::Notice),
) -> Result<Input, AnalyzerError> {
    let counters = Arc::new(Progress::default());
    let spinner = FetchSpinner::start(progress && source.api.from_api, counters.clone());
    // Held until the spinner is gone, so that no line is drawn through it.
    let mut told = Vec::new();
    let input = acquire::acquire(
        &source.paths,
        &source.api,
        window,
        counters,
        interrupt,
        &mut |n| told.push(n),
    );
    drop(spinner);
    told.into_iter().for_each(&mut *tell);
    Ok(input?)
}
