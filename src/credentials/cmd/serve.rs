//! `credentials serve` and `credentials exec`: the container credentials endpoint, for a
//! service or for the life of one command.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::base::exit;
use crate::credentials::Options;
use crate::credentials::cmd::say::{fail, print_line};
use crate::credentials::exec;
use crate::credentials::format::sh;
use crate::credentials::serve::{self, ServeOptions, Server};

#[derive(Debug, Clone)]
pub struct Request {
    /// One per `--role-arn`, in order; never empty.
    pub roles: Vec<Options>,
    pub bind: IpAddr,
    pub port: u16,
    pub mode: Mode,
}

#[derive(Debug, Clone)]
pub enum Mode {
    /// Serve until SIGTERM or Ctrl-C.
    Serve {
        auth_token_file: Option<PathBuf>,
        print_env: bool,
    },
    /// Serve for the life of `command`, which gets the endpoint in its environment.
    Exec { command: Vec<OsString> },
}

/// A server answers many requests over hours: each STS attempt may take longer than a
/// credential_process's 4 s.
const BUDGET: Duration = Duration::from_secs(30);

pub fn run(req: Request) -> i32 {
    let Request {
        mut roles,
        bind,
        port,
        mode,
    } = req;
    for r in &mut roles {
        r.budget = BUDGET;
    }
    let margin = roles[0].min_remaining;
    let token = match &mode {
        Mode::Serve {
            auth_token_file: Some(p),
            ..
        } => serve::token_file(p),
        _ => serve::new_token(),
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
        bind,
        port,
        token: token.clone(),
        roles,
        margin,
    };
    rt.block_on(async {
        // Before anything is printed: a client may signal as soon as it has the exports.
        // (`exec` forwards these signals to its child instead.)
        if matches!(mode, Mode::Serve { .. }) {
            keep_serving_on_hangup();
        }
        let server = match Server::start(opts, log).await {
            Ok(s) => s,
            Err(e) => return fail(e.to_string(), e.exit_code()),
        };
        let urls = server.urls();
        match &mode {
            Mode::Serve {
                auth_token_file,
                print_env,
            } => {
                if *print_env
                    && let Err(e) = print_line(&exports(&urls, auth_token_file.as_deref(), &token))
                {
                    return fail(format!("cannot write the environment: {e}"), exit::ERROR);
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
            Mode::Exec { command } => match exec::run(command, &urls[0].1, &token).await {
                Ok(code) => code,
                Err(err) => fail(err.to_string(), err.exit_code()),
            },
        }
    })
}

/// `--print-env`: the two variables an SDK needs, for `eval`, and each further role's URL as a
/// comment.
fn exports(
    urls: &[(String, String)],
    token_file: Option<&std::path::Path>,
    token: &crate::credentials::secret::Secret,
) -> String {
    let mut lines = vec![
        format!(
            "export AWS_CONTAINER_CREDENTIALS_FULL_URI={}",
            sh(&urls[0].1)
        ),
        match token_file {
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
    lines.join("\n")
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
