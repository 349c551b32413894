//! `janus-audit credentials` options, turned into [`crate::credentials::Options`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::credentials::Options;
use crate::credentials::sts::StsTarget;
use crate::credentials::token::{TokenOptions, TokenSource};
use crate::naming::DEFAULT_TEMPLATE;

/// The audience when none is given. It must match the role's trust policy
/// (`accounts.google.com:oaud`); see the README.
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
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 15m"))?;
    Ok(Duration::from_secs(match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{s}': use s, m or h")),
    }))
}

#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// The IAM role to assume.
    #[arg(long, env = "JANUS_ROLE_ARN")]
    pub role_arn: String,
    /// The ID token's audience; the trust policy's accounts.google.com:oaud.
    #[arg(long, env = "JANUS_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub audience: String,
    /// Where the Google ID token comes from.
    #[arg(long, value_enum, default_value_t = TokenSource::Auto)]
    pub token_source: TokenSource,
    /// For --token-source file: the token file (re-read on every run).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// For impersonate (and gcloud --impersonate-service-account): the service account email.
    #[arg(long, value_name = "EMAIL")]
    pub service_account: Option<String>,
    /// IAM Credentials API base URL (tests point it at 127.0.0.1).
    #[arg(
        long,
        env = "JANUS_IAM_ENDPOINT",
        default_value = "https://iamcredentials.googleapis.com"
    )]
    pub iam_endpoint: String,
    /// Session name template; placeholders {project_id} {instance} {zone} {sub} {email}.
    #[arg(long, value_name = "TEMPLATE", default_value = DEFAULT_TEMPLATE)]
    pub session_name: String,
    /// Credential lifetime in seconds (900-43200; the role's maximum applies).
    #[arg(long, default_value = "3600", value_parser = duration_range)]
    pub duration: i32,
    /// STS region (regional endpoint); else AWS_REGION, AWS_DEFAULT_REGION, then us-east-1.
    #[arg(long)]
    pub region: Option<String>,
    /// STS endpoint URL; else AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL as the SDK reads them.
    #[arg(long, value_name = "URL")]
    pub sts_endpoint: Option<String>,
    /// Cache directory (default: the user's cache dir, janus-audit/credentials).
    #[arg(long, value_name = "DIR", env = "JANUS_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Always call STS; never read or write the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Serve cached credentials only while at least this much validity remains.
    #[arg(long, default_value = "15m", value_parser = span, value_name = "SPAN")]
    pub refresh_before: Duration,
    /// Print the token's claims, the session name and a ready trust policy; no STS call.
    #[arg(long)]
    pub explain: bool,
    /// With --explain: also pin sts:RoleSessionName in the policy.
    #[arg(long, requires = "explain")]
    pub pin_session_name: bool,
}

impl CredentialsArgs {
    pub fn options(&self) -> Options {
        let region = self
            .region
            .clone()
            .or_else(|| crate::credentials::first_env(&["AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_else(|| "us-east-1".to_string());
        Options {
            token: TokenOptions {
                source: self.token_source,
                audience: self.audience.clone(),
                token_file: self.token_file.clone(),
                service_account: self.service_account.clone(),
                iam_endpoint: self.iam_endpoint.clone(),
            },
            role_arn: self.role_arn.clone(),
            session_template: self.session_name.clone(),
            duration_seconds: self.duration,
            sts: StsTarget {
                region,
                endpoint: self.sts_endpoint.clone(),
            },
            cache_dir: self.cache_dir.clone(),
            no_cache: self.no_cache,
            min_remaining: self.refresh_before,
            // Under the Rust SDK's 5 s limit for a credential_process, with room to print.
            budget: Duration::from_millis(4000),
        }
    }
}
