//! The binary: parse the command line, set up logging and the allocator, and hand the request
//! to its half's `cmd::run`, whose exit status the process ends with.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use janus_audit::base::exit;
use janus_audit::cli::{Cli, Request};

/// Counted, so that a runaway query ends with a message instead of an abort (see `memory`).
#[cfg(feature = "analyzer")]
#[global_allocator]
static ALLOCATOR: janus_audit::analyzer::memory::Capped =
    janus_audit::analyzer::memory::Capped::new();

fn main() -> ExitCode {
    // Linked in, so that jemalloc reads it (nothing else names it).
    #[cfg(feature = "analyzer")]
    std::hint::black_box(&janus_audit::analyzer::memory::_rjem_malloc_conf);
    let cli = Cli::parse();
    let request = cli.command.request();
    init_logging(cli.verbose, cli.quiet);
    #[cfg(feature = "analyzer")]
    if let Some(limit) = cli
        .max_memory
        .or_else(janus_audit::analyzer::memory::default_limit)
    {
        ALLOCATOR.set_limit(limit);
    }
    let code = match request {
        Err(usage) => {
            let _ = std::io::stderr().write_all(exit::error_line(usage).as_bytes());
            exit::USAGE
        }
        Ok(Request::Generate(what)) => {
            match janus_audit::cli::generate::write(
                &what,
                Cli::command(),
                &mut std::io::stdout().lock(),
            ) {
                Ok(()) => exit::OK,
                Err(e) => {
                    let _ = std::io::stderr().write_all(exit::error_line(e).as_bytes());
                    exit::ERROR
                }
            }
        }
        #[cfg(feature = "credentials")]
        Ok(Request::Credentials(req)) => janus_audit::credentials::cmd::run(*req),
        #[cfg(feature = "analyzer")]
        Ok(Request::Analyzer(req)) => janus_audit::analyzer::cmd::run(*req, cli.quiet),
    };
    #[cfg(feature = "analyzer")]
    tracing::debug!(
        "heap: at most {} MiB live",
        ALLOCATOR.peak() / (1024 * 1024)
    );
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
