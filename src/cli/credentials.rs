//! `janus-audit credentials`: its arguments, and the request they make.

use crate::cli::values::UsageError;
use std::path::PathBuf;

use crate::credentials::cmd;

use clap::Args;

use clap::Subcommand;

use std::time::Duration;

use crate::base::naming::DEFAULT_TEMPLATE;
use crate::cli::values::choice;
use crate::credentials::Options;
use crate::credentials::format::Format;
use crate::credentials::sts::StsTarget;
use crate::credentials::token::{TokenOptions, TokenSource};

/// The audience when none is given. It must match the role's trust policy
/// (`accounts.google.com:oaud`); see docs/CREDENTIALS.md.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";

fn duration_range(s: &str) -> Result<i32, String> {
    let n: i32 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if (900..=43200).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is outside 900..=43200 seconds (STS's limits)"))
    }
}

fn span(s: &str) -> Result<Duration, String> {
    crate::base::timefmt::parse_span(s)
        .and_then(|d| d.to_std().ok())
        .ok_or_else(|| format!("'{s}' is not a duration like 15m"))
}

fn token_sources() -> impl clap::builder::TypedValueParser<Value = TokenSource> {
    choice(TokenSource::ALL.to_vec())
}

fn output_formats() -> impl clap::builder::TypedValueParser<Value = Format> {
    choice(
        Format::ALL
            .iter()
            .map(|f| {
                let help = match f {
                    Format::Process => "the credential_process JSON, one line",
                    Format::Env => "export lines for sh, bash, zsh",
                    Format::Fish => "set -gx lines for fish",
                    Format::Powershell => "$Env: lines for PowerShell",
                    Format::Json => "the same JSON, pretty",
                };
                (*f, f.as_str(), help)
            })
            .collect(),
    )
}

#[derive(Debug, Subcommand)]
pub enum Mode {
    /// Serve the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) on
    /// loopback, renewing in the background.
    #[command(after_long_help = crate::cli::examples::SERVE)]
    Serve(ServeArgs),
    /// Run COMMAND with a private credential server as its only AWS credentials.
    #[command(after_long_help = crate::cli::examples::EXEC)]
    Exec(ExecArgs),
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The loopback address to listen on (127.0.0.1 or ::1); nothing else is accepted.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub bind: std::net::IpAddr,
    /// The port; 0 picks a free one.
    #[arg(long, default_value = "0")]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Read the token clients must send (Authorization) from this file instead of making
    /// one for this run: yours, 0600, no newline; created with a fresh token when missing.
    /// Not --token-file, which is the Google ID token's file for --token-source file.
    #[arg(long, value_name = "PATH")]
    pub auth_token_file: Option<PathBuf>,
    /// Print the export lines a client needs (the token is a secret: stdout only).
    #[arg(long)]
    pub print_env: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct CredentialsArgs {
    #[command(subcommand)]
    pub mode: Option<Mode>,
    /// What to print: the credential_process JSON, or shell variables (a secret on stdout).
    #[arg(long, default_value = "process", value_parser = output_formats())]
    pub format: Format,
    /// The IAM role to assume (`serve` and `exec`: give it again for more roles).
    #[arg(global = true, long, env = "JANUS_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Vec<String>,
    /// The ID token's audience; the trust policy's accounts.google.com:oaud.
    #[arg(global = true, long, env = "JANUS_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub audience: String,
    /// Where the Google ID token comes from.
    #[arg(global = true, long, default_value = "auto", value_parser = token_sources())]
    pub token_source: TokenSource,
    /// For --token-source file: the token file (re-read on every run).
    #[arg(global = true, long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// For impersonate (and gcloud --impersonate-service-account): the service account email.
    #[arg(global = true, long, value_name = "EMAIL")]
    pub service_account: Option<String>,
    /// IAM Credentials API base URL (tests point it at 127.0.0.1).
    #[arg(
        long,
        env = "JANUS_IAM_ENDPOINT",
        default_value = "https://iamcredentials.googleapis.com"
    )]
    pub iam_endpoint: String,
    /// Session name template; placeholders {project_id} {instance} {zone} {sub} {email}.
    #[arg(global = true, long, value_name = "TEMPLATE", default_value = DEFAULT_TEMPLATE)]
    pub session_name: String,
    /// Credential lifetime in seconds (900-43200; the role's maximum applies).
    #[arg(global = true, long, default_value = "3600", value_parser = duration_range)]
    pub duration: i32,
    /// STS region (regional endpoint); else AWS_REGION, AWS_DEFAULT_REGION, then us-east-1.
    #[arg(global = true, long)]
    pub region: Option<String>,
    /// STS endpoint URL; else AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL as the SDK reads them.
    #[arg(global = true, long, value_name = "URL")]
    pub sts_endpoint: Option<String>,
    /// Cache directory (default: the user's cache dir, janus-audit/credentials).
    #[arg(global = true, long, value_name = "DIR", env = "JANUS_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Always call STS; never read or write the cache.
    #[arg(global = true, long)]
    pub no_cache: bool,
    /// Serve cached credentials only while at least this much validity remains; it must be
    /// below --duration. Default: 15m, or a third of --duration when that is shorter.
    #[arg(global = true, long, value_parser = span, value_name = "SPAN")]
    pub refresh_before: Option<Duration>,
    /// Print the token's claims, the session name and a ready trust policy; no STS call.
    #[arg(long)]
    pub explain: bool,
    /// With --explain: also pin sts:RoleSessionName in the policy.
    #[arg(long, requires = "explain")]
    pub pin_session_name: bool,
}

impl CredentialsArgs {
    /// The request: the credential_process form, or `serve`/`exec`.
    pub fn request(&self) -> Result<cmd::Request, UsageError> {
        let Some(mode) = &self.mode else {
            return Ok(cmd::Request::Fetch(Box::new(cmd::Fetch {
                opts: self.options()?,
                format: self.format,
                explain: self.explain,
                pin_session_name: self.pin_session_name,
            })));
        };
        if self.explain {
            return Err(UsageError(
                "--explain is for the credential_process form".into(),
            ));
        }
        let roles = self.options_per_role()?;
        if roles.is_empty() {
            return Err(UsageError(
                "--role-arn (or JANUS_ROLE_ARN) is required".into(),
            ));
        }
        let (server, mode) = match mode {
            Mode::Serve(s) => (
                &s.server,
                cmd::serve::Mode::Serve {
                    auth_token_file: s.auth_token_file.clone(),
                    print_env: s.print_env,
                },
            ),
            Mode::Exec(e) => (
                &e.server,
                cmd::serve::Mode::Exec {
                    command: e.command.clone(),
                },
            ),
        };
        Ok(cmd::Request::Serve(cmd::serve::Request {
            roles,
            bind: server.bind,
            port: server.port,
            mode,
        }))
    }

    /// The options for each `--role-arn` (in order).
    pub fn options_per_role(&self) -> Result<Vec<Options>, UsageError> {
        let margin = self.refresh_margin()?;
        Ok(self
            .role_arn
            .iter()
            .map(|r| self.options_for(r, margin))
            .collect())
    }

    /// The options for the one role a credential_process fetches. A margin at or past the
    /// duration only means the cache is never used: each run calls STS, once.
    pub fn options(&self) -> Result<Options, UsageError> {
        let margin = self.refresh_before.unwrap_or_else(|| self.default_margin());
        match self.role_arn.as_slice() {
            [one] => Ok(self.options_for(one, margin)),
            [] => Err(UsageError(
                "--role-arn (or JANUS_ROLE_ARN) is required".into(),
            )),
            _ => Err(UsageError(
                "give one --role-arn (more than one is for serve and exec)".into(),
            )),
        }
    }

    /// 15 minutes, or a third of the duration when that is less.
    fn default_margin(&self) -> Duration {
        Duration::from_secs(15 * 60).min(Duration::from_secs(self.duration.max(0) as u64) / 3)
    }

    /// How much validity must remain for a server (`serve`, `exec`) to hand credentials out:
    /// below the duration STS issues them for, or no credential is ever fresh enough (it
    /// would answer 503 and call STS without end).
    pub fn refresh_margin(&self) -> Result<Duration, UsageError> {
        let duration = Duration::from_secs(self.duration.max(0) as u64);
        match self.refresh_before {
            None => Ok(self.default_margin()),
            Some(m) if m >= duration => Err(UsageError(format!(
                "--refresh-before ({}s) must be below --duration ({}s): credentials that never have more validity left than the margin are never handed out",
                m.as_secs(),
                duration.as_secs()
            ))),
            Some(m) => Ok(m),
        }
    }

    fn options_for(&self, role_arn: &str, margin: Duration) -> Options {
        let region = self
            .region
            .clone()
            .or_else(|| crate::credentials::env::first_env(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| "us-east-1".to_string());
        Options {
            token: TokenOptions {
                source: self.token_source,
                audience: self.audience.clone(),
                audience_from: match std::env::var("JANUS_AUDIENCE") {
                    Ok(v) if v == self.audience => "JANUS_AUDIENCE",
                    _ if self.audience == DEFAULT_AUDIENCE => "the default",
                    _ => "--audience",
                },
                token_file: self.token_file.clone(),
                service_account: self.service_account.clone(),
                iam_endpoint: self.iam_endpoint.clone(),
            },
            role_arn: role_arn.to_string(),
            session_template: self.session_name.clone(),
            duration_seconds: self.duration,
            sts: StsTarget {
                region,
                endpoint: self.sts_endpoint.clone(),
            },
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
            min_remaining: margin,
            // Under the Rust SDK's 5 s limit for a credential_process, with room to print.
            budget: Duration::from_millis(4000),
        }
    }
}
