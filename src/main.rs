//! The binary: parse the command line, call the library, print what it says, exit with the
//! documented status. Every command's work lives in the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use janus_audit::base::exit;
use janus_audit::cli::{Cli, Command};

/// Counted, so that a runaway query ends with a message instead of an abort (see `memory`).
#[cfg(feature = "analyzer")]
#[global_allocator]
static ALLOCATOR: janus_audit::analyzer::memory::Capped =
    janus_audit::analyzer::memory::Capped::new();

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The fetcher starts often and allocates little: only the analyzer is worth an exec.
    #[cfg(feature = "analyzer")]
    let huge_pages = match &cli.command {
        #[cfg(feature = "credentials")]
        Command::Credentials(_) => Ok(()),
        _ => janus_audit::analyzer::memory::on_huge_pages(),
    };
    init_logging(cli.verbose, cli.quiet);
    #[cfg(feature = "analyzer")]
    match huge_pages {
        Err(e) => tracing::debug!("malloc: not on huge pages: {e}"),
        Ok(()) => {
            if let Some(tunables) = janus_audit::analyzer::memory::huge_pages() {
                tracing::info!("malloc: on transparent huge pages (GLIBC_TUNABLES={tunables})");
            }
        }
    }
    #[cfg(feature = "analyzer")]
    if let Some(limit) = cli
        .max_memory
        .or_else(janus_audit::analyzer::memory::default_limit)
    {
        ALLOCATOR.set_limit(limit);
    }
    let code = match &cli.command {
        #[cfg(feature = "credentials")]
        Command::Credentials(args) => credentials(args),
        #[cfg(feature = "analyzer")]
        other => analyzer::dispatch(&cli, other),
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
    // Colour only for a person at a terminal who has not asked for none (no-color.org); logs
    // under cron get plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}

/// One error line on stderr, and the status that goes with it.
fn fail(message: impl std::fmt::Display, code: i32) -> i32 {
    let _ = writeln!(std::io::stderr(), "janus-audit: error: {message}");
    code
}

/// stdout carries what was asked for (the credential_process JSON, shell variables, or serve's
/// export lines) and nothing else; every message goes to stderr.
#[cfg(feature = "credentials")]
fn credentials(args: &janus_audit::cli::CredentialsArgs) -> i32 {
    use janus_audit::credentials::{self, format};
    if let Some(mode) = &args.mode {
        return serve::run(args, mode);
    }
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => return fail(e, exit::USAGE),
    };
    let print = |text: serde_json::Result<String>| match text
        .map_err(std::io::Error::other)
        .and_then(|t| print_line(&t))
    {
        Ok(()) => exit::OK,
        Err(e) => fail(format!("cannot write the credentials: {e}"), exit::ERROR),
    };
    if !args.explain
        && let Some(hit) = credentials::cached(&opts)
    {
        return print(format::render(&hit, args.format));
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}"), exit::ERROR),
    };
    let result = if args.explain {
        rt.block_on(credentials::explain(&opts, args.pin_session_name))
            .map(|x| serde_json::to_string_pretty(&x))
    } else {
        rt.block_on(credentials::fetch(&opts))
            .map(|c| format::render(&c, args.format))
    };
    match result {
        Ok(text) => print(text),
        // Whatever a server sent back (an echo of the request, say) is scrubbed of secrets.
        Err(e) => fail(credentials::secret::scrub(&e.to_string()), e.exit_code()),
    }
}

#[cfg(feature = "credentials")]
fn print_line(text: &str) -> std::io::Result<()> {
    // One write with its newline: stdout flushes at each newline, so text and newline written
    // apart were two writes, and a reader that had what it needed (`serve --print-env`'s two
    // exports) and closed the pipe in between made the second fail, and serve exit.
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{text}\n").as_bytes())?;
    out.flush()
}

/// `credentials serve` and `credentials exec`.
#[cfg(feature = "credentials")]
mod serve {
    use std::io::Write;
    use std::sync::Arc;
    use std::time::Duration;

    use janus_audit::base::exit;
    use janus_audit::cli::{CredentialsArgs, Mode};
    use janus_audit::credentials::exec;
    use janus_audit::credentials::format::sh;
    use janus_audit::credentials::serve::{self, ServeOptions, Server};

    use super::{fail, print_line};

    /// A server answers many requests over hours: each STS attempt may take longer than a
    /// credential_process's 4 s.
    const BUDGET: Duration = Duration::from_secs(30);

    pub fn run(args: &CredentialsArgs, mode: &Mode) -> i32 {
        if args.explain {
            return fail("--explain is for the credential_process form", exit::USAGE);
        }
        let mut roles = match args.options_per_role() {
            Ok(r) => r,
            Err(e) => return fail(e, exit::USAGE),
        };
        if roles.is_empty() {
            return fail("--role-arn (or JANUS_ROLE_ARN) is required", exit::USAGE);
        }
        for r in &mut roles {
            r.budget = BUDGET;
        }
        let margin = roles[0].min_remaining;
        let (server_args, token) = match mode {
            Mode::Serve(s) => (
                &s.server,
                match &s.auth_token_file {
                    Some(p) => serve::token_file(p),
                    None => serve::new_token(),
                },
            ),
            Mode::Exec(e) => (&e.server, serve::new_token()),
        };
        let token = match token {
            Ok(t) => t,
            Err(e) => return fail(e.to_string(), e.exit_code()),
        };
        // One thread: a loopback endpoint answering in microseconds needs no more, and each
        // worker thread would add its own heap arena to the idle footprint.
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return fail(format!("cannot start the async runtime: {e}"), exit::ERROR),
        };
        let log: serve::Log = Arc::new(|line: String| {
            let _ = writeln!(std::io::stderr(), "janus-audit: {line}");
        });
        let opts = ServeOptions {
            bind: server_args.bind,
            port: server_args.port,
            token: token.clone(),
            roles,
            margin,
        };
        rt.block_on(async {
            // Before anything is printed: a client may signal as soon as it has the exports.
            // (`exec` forwards these signals to its child instead.)
            if matches!(mode, Mode::Serve(_)) {
                keep_serving_on_hangup();
            }
            let server = match Server::start(opts, log).await {
                Ok(s) => s,
                Err(e) => return fail(e.to_string(), e.exit_code()),
            };
            let urls = server.urls();
            match mode {
                Mode::Serve(s) => {
                    if s.print_env {
                        let mut lines = vec![
                            format!(
                                "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
                                sh(&urls[0].1)
                            ),
                            match &s.auth_token_file {
                                Some(p) => format!(
                                    "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}",
                                    sh(&p.display().to_string())
                                ),
                                None => format!(
                                    "export AWS_CONTAINER_AUTHORIZATION_TOKEN={}",
                                    sh(token.expose())
                                ),
                            },
                        ];
                        for (arn, url) in &urls[1..] {
                            lines.push(format!("# {arn}: {url}"));
                        }
                        if let Err(e) = print_line(&lines.join("\n")) {
                            return fail(format!("cannot write the environment: {e}"), exit::ERROR);
                        }
                    }
                    for (arn, url) in &urls {
                        let _ = writeln!(std::io::stderr(), "janus-audit: serving {arn} at {url}");
                    }
                    // Under systemd (Type=notify): ready once the port is bound and the first
                    // credentials are in. Elsewhere NOTIFY_SOCKET is unset and this does nothing.
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
                    stopped().await;
                    exit::OK
                }
                Mode::Exec(e) => match exec::run(&e.command, &urls[0].1, &token).await {
                    Ok(code) => code,
                    Err(err) => fail(err.to_string(), err.exit_code()),
                },
            }
        })
    }

    /// SIGHUP (a closed terminal, a `systemctl reload`) and SIGUSR1 would end the process by
    /// default: from now on they are logged, and serving goes on.
    fn keep_serving_on_hangup() {
        use tokio::signal::unix::{SignalKind, signal};
        for (kind, name) in [
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::user_defined1(), "SIGUSR1"),
        ] {
            if let Ok(mut s) = signal(kind) {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        let _ = writeln!(
                            std::io::stderr(),
                            "janus-audit: {name} received; still serving (SIGTERM or Ctrl-C stops)"
                        );
                    }
                });
            }
        }
    }

    /// Until SIGTERM or Ctrl-C.
    async fn stopped() {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let term = async {
            match &mut term {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
}

#[cfg(feature = "analyzer")]
mod analyzer {
    use std::io::{IsTerminal, Write};
    use std::sync::Arc;

    use janus_audit::analyzer::acquire::Interrupt;
    use janus_audit::analyzer::cmd::answer::{self, Command as Report};
    use janus_audit::analyzer::cmd::error::AnalyzerError;
    use janus_audit::analyzer::cmd::ui::Ui;
    use janus_audit::analyzer::notice::Notice;
    use janus_audit::base::exit;
    use janus_audit::cli::{Cli, Command, UsageError};
    use janus_audit::{analyzer::cmd::report, analyzer::cmd::tables, analyzer::query};

    use super::fail;

    pub fn dispatch(cli: &Cli, command: &Command) -> i32 {
        let result = match command {
            Command::ByInstance(args) => adhoc(cli, args.request(Report::Named("by_instance"))),
            Command::Sessions(args) => adhoc(cli, args.request(Report::Named("sessions"))),
            Command::Query {
                sql,
                report,
                thresholds,
            } => adhoc(
                cli,
                thresholds.thresholds().and_then(|thresholds| {
                    report.request(Report::Query {
                        sql: sql.clone(),
                        thresholds,
                    })
                }),
            ),
            Command::Findings {
                report,
                fail_on,
                trusted_cidrs,
                thresholds,
            } => adhoc(
                cli,
                thresholds.thresholds().and_then(|thresholds| {
                    report.request(Report::Findings {
                        thresholds,
                        trusted_cidrs: trusted_cidrs.clone(),
                        fail_on: *fail_on,
                    })
                }),
            ),
            Command::Timeline { entity, report } => {
                adhoc(cli, report.request(Report::Timeline(entity.entity())))
            }
            Command::Report(args) => match args.request() {
                Ok(req) => {
                    let from_api = req.source.api.from_api;
                    with_ui(cli, from_api, |ui| report::run(req, ui))
                }
                Err(e) => Err(usage(e)),
            },
            Command::Ingest(args) => {
                let req = args.request();
                let from_api = req.source.api.from_api;
                with_ui(cli, from_api, |ui| {
                    janus_audit::analyzer::cmd::ingest::run(req, ui)
                })
            }
            Command::Dataset(janus_audit::cli::DatasetCommand::Ddl {
                dataset,
                engine,
                location,
            }) => ddl(dataset, *engine, location.as_deref()),
            Command::Tables { queries } => list_tables(queries.clone()),
            Command::Sync(args) => match args.request() {
                Ok(req) => with_ui(cli, false, |ui| {
                    janus_audit::analyzer::cmd::sync::run(req, ui)
                }),
                Err(e) => Err(usage(e)),
            },
            Command::Verify(args) => match args.request() {
                Ok(req) => with_ui(cli, false, |ui| {
                    janus_audit::analyzer::cmd::verify::run(req, ui, &mut std::io::stdout().lock())
                }),
                Err(e) => Err(usage(e)),
            },
            #[cfg(feature = "credentials")]
            Command::Credentials(_) => unreachable!("dispatched by main"),
        };
        result.unwrap_or_else(|e| fail(&e, e.exit_code()))
    }

    fn usage(e: UsageError) -> AnalyzerError {
        AnalyzerError::Usage(e.0)
    }

    fn adhoc(cli: &Cli, req: Result<answer::Request, UsageError>) -> Result<i32, AnalyzerError> {
        let req = req.map_err(usage)?;
        let from_api = req.source.api.from_api;
        with_ui(cli, from_api, |ui| {
            let stdout = std::io::stdout();
            let terminal = stdout.is_terminal();
            answer::run(req, ui, &mut stdout.lock(), terminal)
        })
    }

    /// Notices to stderr (`--quiet` keeps only problems), progress on a terminal, and while an
    /// API fetch may run, a Ctrl-C handler: the first Ctrl-C stops the fetch cleanly, any other
    /// ends the process as Ctrl-C always does.
    fn with_ui<T>(cli: &Cli, from_api: bool, f: impl FnOnce(Ui<'_>) -> T) -> T {
        let interrupt = Arc::new(Interrupt::default());
        if from_api {
            let interrupt = interrupt.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a signal runtime");
                rt.block_on(async {
                    while tokio::signal::ctrl_c().await.is_ok() {
                        if !interrupt.request() {
                            std::process::exit(exit::INTERRUPTED);
                        }
                    }
                });
            });
        }
        let quiet = cli.quiet;
        let mut tell = |n: Notice| {
            let line = match n {
                Notice::Problem(s) => s,
                Notice::Info(_) if quiet => return,
                Notice::Info(s) => s,
            };
            let _ = writeln!(std::io::stderr(), "janus-audit: {line}");
        };
        f(Ui {
            progress: !quiet && std::io::stderr().is_terminal(),
            interrupt: &interrupt,
            tell: &mut tell,
        })
    }

    fn ddl(
        dir: &std::path::Path,
        engine: janus_audit::analyzer::dataset::ddl::Engine,
        location: Option<&str>,
    ) -> Result<i32, AnalyzerError> {
        let ds = janus_audit::analyzer::dataset::Dataset::open(dir)?;
        let absolute = std::path::absolute(dir)?;
        let location = location.map_or_else(|| absolute.display().to_string(), str::to_string);
        let text = janus_audit::analyzer::dataset::ddl::ddl(&ds, engine, &location)?;
        std::io::stdout().lock().write_all(text.as_bytes())?;
        Ok(exit::OK)
    }

    fn list_tables(queries: Option<std::path::PathBuf>) -> Result<i32, AnalyzerError> {
        let queries = query::Queries::from_dir(queries)?;
        let text = tables::render(&tables::catalog(&queries)?);
        std::io::stdout().lock().write_all(text.as_bytes())?;
        Ok(exit::OK)
    }
}
