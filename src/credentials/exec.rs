//! `janus-audit credentials exec -- COMMAND`: COMMAND runs with a private credential server
//! (loopback, random port, fresh token) as its only AWS credentials, so a child that outlives one
//! credential lifetime keeps working: its SDK refreshes from the server.

use std::ffi::OsString;

use super::secret::Secret;

/// Variables that would make the child's SDK pick other credentials before the container
/// provider, or point the container provider elsewhere, in the chains of botocore (boto3, the
/// AWS CLI), the Go SDK v1 and v2, the Java SDK v1 and v2, the JavaScript SDK v3 and the Rust
/// SDK:
/// - environment keys, under every name one of them reads (`AWS_ACCESS_KEY`/`AWS_SECRET_KEY`:
///   Go v1 and v2, Java v1; `AWS_SECURITY_TOKEN`: botocore, Go; `AWS_CREDENTIAL_EXPIRATION`:
///   botocore);
/// - a profile (`AWS_PROFILE`, `AWS_DEFAULT_PROFILE`: botocore), web identity
///   (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`: every SDK);
/// - botocore's legacy files, read before the container provider: `AWS_CREDENTIAL_FILE` (its
///   original EC2 provider) and `BOTO_CONFIG` (its boto2 provider);
/// - a relative container URI and a token file, which win over what is set here.
pub const REMOVED: [&str; 16] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CREDENTIAL_FILE",
    "BOTO_CONFIG",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot run {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("lost the child: {0}")]
    Wait(std::io::Error),
}

impl ExecError {
    /// As shells say it: 127 not found, 126 found but not runnable.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            ExecError::Spawn { .. } => 126,
            ExecError::Wait(_) => crate::base::exit::ERROR,
        }
    }
}

/// Run `command` (at least the program) with `uri` and `token`, forwarding signals, and return
/// its exit status (128 + N when signal N ended it).
pub async fn run(command: &[OsString], uri: &str, token: &Secret) -> Result<i32, ExecError> {
    use tokio::signal::unix::{SignalKind, signal};
    let (program, args) = command.split_first().expect("clap requires a command");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args);
    for v in REMOVED {
        cmd.env_remove(v);
    }
    cmd.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.expose());
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        name: crate::base::text::quoted(std::path::Path::new(program)),
        source,
    })?;
    let pid = child.id().map(|p| p as libc::pid_t);
    let kinds = [
        (SignalKind::terminate(), libc::SIGTERM),
        (SignalKind::hangup(), libc::SIGHUP),
        (SignalKind::interrupt(), libc::SIGINT),
        (SignalKind::quit(), libc::SIGQUIT),
        (SignalKind::user_defined1(), libc::SIGUSR1),
        (SignalKind::user_defined2(), libc::SIGUSR2),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (kind, number) in kinds {
        if let Ok(mut s) = signal(kind) {
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(number).is_err() {
                        return;
                    }
                }
            });
        }
    }
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(ExecError::Wait)?;
                use std::os::unix::process::ExitStatusExt;
                return Ok(status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(crate::base::exit::ERROR));
            }
            Some(number) = rx.recv() => {
                if let Some(pid) = pid && !from_terminal(number) {
                    // SAFETY: kill(2) with the child's pid, which we have not reaped yet.
                    unsafe { libc::kill(pid, number) };
                }
            }
        }
    }
}

/// Ctrl-C and Ctrl-\ at a terminal reach the whole foreground process group, the child
/// included: forwarding them too would deliver them twice.
fn from_terminal(number: libc::c_int) -> bool {
    // SAFETY: plain queries of this process's group and the terminal's foreground group.
    matches!(number, libc::SIGINT | libc::SIGQUIT)
        && unsafe { libc::tcgetpgrp(0) == libc::getpgrp() }
}
