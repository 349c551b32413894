#[cfg(feature = "analyzer")]
use std::io::IsTerminal;
use std::io::Write;
use std::process::ExitCode;

#[cfg(feature = "analyzer")]
use anyhow::{Context, bail};
use clap::Parser;
#[cfg(feature = "analyzer")]
use indicatif::{ProgressBar, ProgressStyle};
#[cfg(feature = "analyzer")]
use janus_audit::cli::ReportArgs;
use janus_audit::cli::{Cli, Command};
use janus_audit::exit;
#[cfg(feature = "analyzer")]
use janus_audit::ingest::{FileStatus, IngestOptions, Summary};
#[cfg(feature = "analyzer")]
use janus_audit::model::Needs;
#[cfg(feature = "analyzer")]
use janus_audit::output::{self, Format};
#[cfg(feature = "analyzer")]
use janus_audit::query::{Queries, Sql};
#[cfg(feature = "analyzer")]
use janus_audit::report;

/// A usage problem found after clap: same status as clap's own.
#[cfg_attr(not(feature = "analyzer"), allow(dead_code))]
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "janus-audit: error: {e:#}");
            if e.downcast_ref::<Usage>().is_some() {
                exit::USAGE
            } else {
                exit::ERROR
            }
        }
    };
    ExitCode::from(code as u8)
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("JANUS_AUDIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("janus_audit={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    match &cli.command {
        #[cfg(feature = "credentials")]
        Command::Credentials(args) => run_credentials(args),
        #[cfg(feature = "analyzer")]
        Command::ByInstance(args) => run_report(cli, args, vec![], None, |q| {
            Ok(vec![q.named("by_instance")?])
        }),
        #[cfg(feature = "analyzer")]
        Command::Sessions(args) => {
            run_report(cli, args, vec![], None, |q| Ok(vec![q.named("sessions")?]))
        }
        #[cfg(feature = "analyzer")]
        Command::Query {
            sql,
            report,
            thresholds,
        } => run_report(cli, report, thresholds_table(thresholds)?, None, |q| {
            Ok(vec![q.resolve(sql)?])
        }),
        #[cfg(feature = "analyzer")]
        Command::Findings {
            report,
            fail_on,
            trusted_cidrs,
            thresholds,
        } => {
            let finish = Finish {
                trusted_cidrs: trusted_cidrs.clone(),
                fail_on: *fail_on,
            };
            run_report(
                cli,
                report,
                thresholds_table(thresholds)?,
                Some(finish),
                |q| Ok(q.findings()?),
            )
        }
        #[cfg(feature = "analyzer")]
        Command::Timeline { entity, report } => {
            let filter = report::timeline_filter(
                entity.instance.as_deref(),
                entity.session_name.as_deref(),
                entity.access_key.as_deref(),
                entity.sub.as_deref(),
            )?;
            run_report(
                cli,
                report,
                vec![("timeline_filter".into(), filter)],
                None,
                |q| Ok(vec![q.named("timeline")?]),
            )
        }
        #[cfg(feature = "analyzer")]
        Command::Report(args) => run_scheduled(cli, args),
        #[cfg(feature = "analyzer")]
        Command::Tables => {
            let mut out = std::io::stdout().lock();
            for (name, schema) in janus_audit::model::schemas() {
                writeln!(out, "{name}")?;
                for (col, dtype) in schema.iter() {
                    writeln!(out, "  {col:<24} {dtype}")?;
                }
            }
            writeln!(
                out,
                "calls\n  role_calls joined to assumptions by queries/calls.sql (see README)\nfiles\n  file_id, path, bytes, records, status, problems\ntimeline_filter (timeline only)\n  instance, session_name, access_key_id, sub\nfindings_params (findings, query, report; --set NAME=VALUE)"
            )?;
            for p in janus_audit::findings::PARAMS {
                writeln!(out, "  {:<28} {:>6}  {}", p.name, p.default, p.doc)?;
            }
            Ok(exit::OK)
        }
    }
}

/// stdout carries the credential_process JSON and nothing else; every message goes to stderr.
#[cfg(feature = "credentials")]
fn run_credentials(args: &janus_audit::credentials_cli::CredentialsArgs) -> anyhow::Result<i32> {
    use janus_audit::credentials;
    let opts = args.options();
    let print = |value: &dyn erased::Json| -> anyhow::Result<i32> {
        let mut out = std::io::stdout().lock();
        out.write_all(value.json()?.as_bytes())?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(exit::OK)
    };
    if !args.explain
        && let Some(hit) = credentials::cached(&opts)
    {
        return print(&hit);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = if args.explain {
        rt.block_on(credentials::explain(&opts, args.pin_session_name))
            .map(|x| Box::new(x) as Box<dyn erased::Json>)
    } else {
        rt.block_on(credentials::fetch(&opts))
            .map(|c| Box::new(c) as Box<dyn erased::Json>)
    };
    match result {
        Ok(value) => print(value.as_ref()),
        Err(e) => {
            writeln!(std::io::stderr(), "janus-audit: error: {e}")?;
            Ok(e.exit_code())
        }
    }
}

#[cfg(feature = "credentials")]
mod erased {
    /// Credentials print compact (one line, as the AWS CLI reads them); explanations pretty.
    pub trait Json {
        fn json(&self) -> serde_json::Result<String>;
    }
    impl Json for janus_audit::credentials::ProcessCredentials {
        fn json(&self) -> serde_json::Result<String> {
            serde_json::to_string(self)
        }
    }
    impl Json for janus_audit::credentials::Explanation {
        fn json(&self) -> serde_json::Result<String> {
            serde_json::to_string_pretty(self)
        }
    }
}

/// The `findings_params` table, as a parameter table for the query context.
#[cfg(feature = "analyzer")]
fn thresholds_table(
    t: &janus_audit::cli::Thresholds,
) -> anyhow::Result<Vec<(String, polars::prelude::DataFrame)>> {
    let df = janus_audit::findings::params(&t.set).map_err(|e| Usage(e.to_string()))?;
    Ok(vec![("findings_params".into(), df)])
}

/// What `findings` adds around a report: trusted ranges in, a severity gate out.
#[cfg(feature = "analyzer")]
struct Finish {
    trusted_cidrs: Option<std::path::PathBuf>,
    fail_on: Option<janus_audit::findings::Severity>,
}

#[cfg(feature = "analyzer")]
fn run_report(
    cli: &Cli,
    args: &ReportArgs,
    params: Vec<(String, polars::prelude::DataFrame)>,
    findings: Option<Finish>,
    pick: impl FnOnce(&Queries) -> anyhow::Result<Vec<Sql>>,
) -> anyhow::Result<i32> {
    let window = args
        .window(chrono::Utc::now())
        .map_err(|e| Usage(e.to_string()))?;
    if args.format == Format::Parquet && args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(
            Usage("refusing to write Parquet to a terminal; use --output FILE".into()).into(),
        );
    }
    let queries = queries_from(&args.queries)?;
    let sqls = pick(&queries)?;
    let trusted = trusted_from(findings.as_ref().and_then(|f| f.trusted_cidrs.as_deref()))?;
    let input = match acquire_input(cli, &args.paths, &args.api, window)? {
        Input::Ready(i) => i,
        Input::Interrupted => return Ok(exit::INTERRUPTED),
    };
    let opts = IngestOptions {
        paths: input.paths,
        window,
        needs: Needs::default(),
        providers: args.provider.into(),
        hash_inputs: false,
        empty_ok: input.from_store,
    };
    let progress = progress_bar(cli, "{spinner} reading {pos}/{len} files {wide_bar} {eta}");
    let outcome = report::run(&sqls, &queries, opts, params, &trusted, progress.as_ref());
    if let Some(pb) = &progress {
        pb.finish_and_clear();
    }
    let outcome = outcome?;
    tell_inputs(cli, &outcome.ingested)?;
    let code = run_report_finish(args, findings, outcome)?;
    Ok(if code == exit::OK && !input.complete {
        exit::INCOMPLETE
    } else {
        code
    })
}

#[cfg(feature = "analyzer")]
struct ReadyInput {
    paths: Vec<std::path::PathBuf>,
    /// Every planned API lookup succeeded (always true for files).
    complete: bool,
    /// The API coverage statement, for a manifest.
    source: serde_json::Value,
    /// Reading the store: finding nothing there is an empty report, not a missing input.
    from_store: bool,
}

#[cfg(feature = "analyzer")]
enum Input {
    Ready(ReadyInput),
    Interrupted,
}

/// Fetch from the API into the store when asked (a spinner with pages, events, region and time
/// left on a terminal), then say on stderr what the report cannot see.
#[cfg(feature = "analyzer")]
fn acquire_input(
    cli: &Cli,
    paths: &[std::path::PathBuf],
    api: &janus_audit::cli::ApiArgs,
    window: janus_audit::timefmt::Window,
) -> anyhow::Result<Input> {
    use janus_audit::source::api::Progress;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let progress = Arc::new(Progress::default());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = (api.from_api && !cli.quiet && std::io::stderr().is_terminal()).then(|| {
        let (progress, done) = (progress.clone(), done.clone());
        std::thread::spawn(move || {
            let pb = ProgressBar::new_spinner();
            let started = std::time::Instant::now();
            while !done.load(Ordering::SeqCst) {
                let lookups = progress.lookups_done.load(Ordering::Relaxed);
                let planned = progress.lookups_planned.load(Ordering::Relaxed);
                let left = (lookups > 0 && planned > lookups)
                    .then(|| started.elapsed().as_secs() * (planned - lookups) / lookups);
                pb.set_message(format!(
                    "LookupEvents {}: {} page(s), {} event(s), lookup {lookups}/{planned}{}",
                    progress
                        .region
                        .lock()
                        .map(|r| r.clone())
                        .unwrap_or_default(),
                    progress.pages.load(Ordering::Relaxed),
                    progress.events.load(Ordering::Relaxed),
                    left.map(|s| format!(", ~{s}s left")).unwrap_or_default(),
                ));
                pb.tick();
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            pb.finish_and_clear();
        })
    });
    let now = chrono::Utc::now().timestamp_millis();
    let acquired = janus_audit::acquire::acquire(paths, api, window, now, progress.clone(), stop);
    done.store(true, Ordering::SeqCst);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    let acquired = acquired?;
    let Some(f) = &acquired.fetched else {
        return Ok(Input::Ready(ReadyInput {
            paths: acquired.paths,
            complete: true,
            source: serde_json::json!({"kind": if api.store.is_some() { "store" } else { "files" }}),
            from_store: api.store.is_some(),
        }));
    };
    let mut err = std::io::stderr().lock();
    for failure in &f.failures {
        writeln!(
            err,
            "janus-audit: not fetched: {failure} (what came before is kept; run again to resume)"
        )?;
    }
    if f.interrupted {
        writeln!(
            err,
            "janus-audit: interrupted: what was fetched is in the store; run the same command again to resume"
        )?;
        return Ok(Input::Interrupted);
    }
    let spots = janus_audit::acquire::blind_spots(f);
    if !cli.quiet {
        writeln!(
            err,
            "janus-audit: LookupEvents: {} request(s), {} page(s), {} event(s), {} throttled and retried, {} other retries",
            progress.requests.load(Ordering::Relaxed),
            progress.pages.load(Ordering::Relaxed),
            progress.events.load(Ordering::Relaxed),
            progress.throttled.load(Ordering::Relaxed),
            progress.retried.load(Ordering::Relaxed),
        )?;
        for s in &spots {
            writeln!(err, "janus-audit: {s}")?;
        }
    }
    Ok(Input::Ready(ReadyInput {
        complete: f.failures.is_empty(),
        source: serde_json::json!({
            "kind": "cloudtrail-lookup-events",
            "account": f.account,
            "regions": f.regions,
            "failed_lookups": f.failures.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            "coverage": spots,
        }),
        paths: acquired.paths,
        from_store: true,
    }))
}

/// `--trusted-cidrs FILE`: a bad line is a usage error that names it.
#[cfg(feature = "analyzer")]
fn trusted_from(path: Option<&std::path::Path>) -> anyhow::Result<Vec<ipnet::IpNet>> {
    match path {
        Some(path) => Ok(report::read_trusted_cidrs(path).map_err(|e| Usage(e.to_string()))?),
        None => Ok(Vec::new()),
    }
}

/// `--queries DIR`, checked: a typo must not silently fall back to the embedded SQL.
#[cfg(feature = "analyzer")]
fn queries_from(dir: &Option<std::path::PathBuf>) -> anyhow::Result<Queries> {
    if let Some(dir) = dir.as_ref().filter(|d| !d.is_dir()) {
        bail!(Usage(format!(
            "--queries {}: not a directory",
            dir.display()
        )));
    }
    Ok(Queries { dir: dir.clone() })
}

/// Each skipped or partly read input on stderr, then the summary line.
#[cfg(feature = "analyzer")]
fn tell_inputs(cli: &Cli, ingested: &janus_audit::ingest::Ingested) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    for w in &ingested.walk_errors {
        writeln!(err, "janus-audit: skipped {w}")?;
    }
    for f in &ingested.files {
        match f.status {
            FileStatus::Skipped => writeln!(
                err,
                "janus-audit: skipped {}: {}",
                f.path.display(),
                f.problems.join("; ")
            )?,
            FileStatus::Partial => writeln!(
                err,
                "janus-audit: partly read {}: {} unusable record(s): {}",
                f.path.display(),
                f.problems.len(),
                f.problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )?,
            _ => {}
        }
    }
    if !cli.quiet {
        writeln!(err, "janus-audit: {}", summary_line(&ingested.summary))?;
    }
    Ok(())
}

#[cfg(feature = "analyzer")]
fn progress_bar(cli: &Cli, template: &str) -> Option<ProgressBar> {
    (!cli.quiet && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::new(0);
        pb.set_style(ProgressStyle::with_template(template).expect("static template"));
        pb
    })
}

/// `report`: every owed window, oldest first; the state advances after each completed one.
#[cfg(feature = "analyzer")]
fn run_scheduled(cli: &Cli, args: &janus_audit::cli::ScheduledArgs) -> anyhow::Result<i32> {
    use janus_audit::scheduled::{self, Span, State, WindowJob};
    use janus_audit::timefmt;
    let usage = |e: String| anyhow::Error::new(Usage(e));
    let now = match &args.as_of {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|e| usage(format!("--as-of {t}: {e}")))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let span_ms = |flag: &str, v: &str| -> anyhow::Result<i64> {
        timefmt::parse_span(v)
            .map(|d| d.num_milliseconds())
            .filter(|ms| *ms > 0)
            .ok_or_else(|| usage(format!("{flag} {v}: expected a span like 1h, 24h or 7d")))
    };
    let width = span_ms("--window", &args.window)?;
    let settle = timefmt::parse_span(&args.settle)
        .map(|d| d.num_milliseconds())
        .ok_or_else(|| {
            usage(format!(
                "--settle {}: expected a span like 30m",
                args.settle
            ))
        })?;
    let state = match &args.state {
        Some(p) => scheduled::read_state(p)?,
        None => None,
    };
    let spans = match (&args.since, &args.until) {
        (Some(since), Some(until)) => {
            let bound = |s: &str| {
                timefmt::parse_bound(s, now)
                    .map(|t| t.timestamp_millis())
                    .map_err(|e| usage(e.to_string()))
            };
            let span = Span {
                since: bound(since)?,
                until: bound(until)?,
            };
            if span.until <= span.since {
                return Err(usage(format!(
                    "--until {until} is not after --since {since}"
                )));
            }
            vec![span]
        }
        _ => scheduled::owed(width, settle, now.timestamp_millis(), state.as_ref()),
    };
    if args.formats.contains(&Format::Table) {
        return Err(usage(
            "--formats: table is for terminals; use csv, json or parquet".into(),
        ));
    }
    let mut formats = args.formats.clone();
    formats.dedup();
    let queries = queries_from(&args.queries)?;
    let trusted = trusted_from(args.trusted_cidrs.as_deref())?;
    let params = thresholds_table(&args.thresholds)?;
    let thresholds: serde_json::Map<String, serde_json::Value> = params[0]
        .1
        .columns()
        .iter()
        .map(|c| {
            let v = c.i64().ok().and_then(|v| v.get(0));
            (c.name().to_string(), v.into())
        })
        .collect();
    if spans.is_empty() {
        if !cli.quiet {
            writeln!(
                std::io::stderr(),
                "janus-audit: nothing owed: the last completed window ends {}",
                state
                    .as_ref()
                    .map(|s| s.last_completed_until.as_str())
                    .unwrap_or("(no state)")
            )?;
        }
        return Ok(exit::OK);
    }
    // The same for every window; each adds its own window and source.
    let base_parameters = serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>(),
        "paths": args.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "formats": formats.iter().map(|f| f.extension()).collect::<Vec<_>>(),
        "provider": format!("{:?}", args.provider).to_lowercase(),
        "queries_dir": args.queries.as_ref().map(|d| d.display().to_string()),
        "trusted_cidrs": args.trusted_cidrs.as_ref().map(|p| serde_json::json!({
            "path": p.display().to_string(),
            "sha256": std::fs::read(p).ok().map(|b| scheduled::sha256_hex(&b)),
        })),
        "thresholds": thresholds,
    });
    let mut code = exit::OK;
    for (i, span) in spans.iter().enumerate() {
        let window = janus_audit::timefmt::Window {
            since: Some(span.since),
            until: Some(span.until),
        };
        let input = match acquire_input(cli, &args.paths, &args.api, window)? {
            Input::Ready(i) => i,
            Input::Interrupted => return Ok(exit::INTERRUPTED),
        };
        let mut parameters = base_parameters.clone();
        parameters["source"] = input.source;
        parameters["window"] = serde_json::json!({
            "since": scheduled::rfc3339(span.since),
            "until": scheduled::rfc3339(span.until),
        });
        let job = WindowJob {
            span: *span,
            output_dir: &args.output_dir,
            formats: &formats,
            queries: &queries,
            paths: input.paths,
            providers: args.provider.into(),
            empty_ok: input.from_store,
            params: params.clone(),
            trusted: &trusted,
            parameters,
        };
        let progress = progress_bar(
            cli,
            &format!(
                "{{spinner}} window {}/{} {}: reading {{pos}}/{{len}} files {{wide_bar}} {{eta}}",
                i + 1,
                spans.len(),
                span.dir_name()
            ),
        );
        let done = scheduled::run_window(job, progress.as_ref());
        if let Some(pb) = &progress {
            pb.finish_and_clear();
        }
        let done = done.map_err(|e| anyhow::anyhow!("window {}: {e}", span.dir_name()))?;
        tell_inputs(cli, &done.ingested)?;
        if !cli.quiet {
            writeln!(
                std::io::stderr(),
                "janus-audit: wrote {} ({} finding(s))",
                done.dir.display(),
                done.findings.height()
            )?;
        }
        if let Some(path) = &args.state {
            scheduled::write_state(
                path,
                &State {
                    last_completed_until: scheduled::rfc3339(span.until),
                },
            )?;
        }
        if (!done.ingested.summary.complete() || !input.complete) && code == exit::OK {
            code = exit::INCOMPLETE;
        }
        if let Some(gate) = args.fail_on
            && janus_audit::findings::any_at_or_above(&done.findings, gate)?
        {
            code = exit::FINDINGS;
        }
    }
    Ok(code)
}

#[cfg(feature = "analyzer")]
fn run_report_finish(
    args: &ReportArgs,
    findings: Option<Finish>,
    outcome: report::Outcome,
) -> anyhow::Result<i32> {
    let ingested = &outcome.ingested;
    let frame = match &findings {
        Some(_) => janus_audit::findings::combine(outcome.frames)
            .map_err(|e| anyhow::anyhow!(janus_audit::query::first_paragraph(&e)))?,
        None => outcome.frames.into_iter().next().unwrap_or_default(),
    };
    match &args.output {
        Some(path) => output::write_atomic(path, |w| output::write(&frame, args.format, w))
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            output::write(&frame, args.format, &mut out)?;
        }
    }
    if let Some(gate) = findings.and_then(|f| f.fail_on)
        && janus_audit::findings::any_at_or_above(&frame, gate)?
    {
        return Ok(exit::FINDINGS);
    }
    Ok(if ingested.summary.complete() {
        exit::OK
    } else {
        exit::INCOMPLETE
    })
}

#[cfg(feature = "analyzer")]
fn summary_line(s: &Summary) -> String {
    let mut parts = vec![format!(
        "read {} file(s), {} record(s)",
        s.files_read, s.records
    )];
    parts.push(format!("{} duplicate(s) dropped", s.duplicates));
    parts.push(format!("{} digest file(s) skipped", s.digests));
    parts.push(format!(
        "{} file(s) skipped as damaged",
        s.files_skipped + s.paths_unreadable
    ));
    if s.files_partial > 0 {
        parts.push(format!(
            "{} file(s) partly read ({} unusable record(s))",
            s.files_partial, s.bad_records
        ));
    }
    if s.outside_window > 0 {
        parts.push(format!(
            "{} file(s) outside the window not opened",
            s.outside_window
        ));
    }
    if s.without_time > 0 {
        parts.push(format!("{} record(s) without eventTime", s.without_time));
    }
    if s.without_event_id > 0 {
        parts.push(format!(
            "{} record(s) without eventID kept",
            s.without_event_id
        ));
    }
    if s.incomplete_assumptions > 0 {
        parts.push(format!(
            "{} successful assumption(s) without a readable key or expiration",
            s.incomplete_assumptions
        ));
    }
    parts.join("; ")
}
