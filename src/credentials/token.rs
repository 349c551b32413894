//! Where the Google ID token comes from: `--token-source auto|metadata|gcloud|file|impersonate`.

use std::path::PathBuf;
use std::time::Duration;

use super::claims::{self, Claims, ClaimsError};
use super::deadline::Deadline;
use super::metadata::{Metadata, MetadataError};
use super::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The metadata server if it answers quickly, else gcloud.
    Auto,
    /// The GCE/GKE/Cloud Run metadata server (GCE_METADATA_HOST overrides the host).
    Metadata,
    /// `gcloud auth print-identity-token`.
    Gcloud,
    /// A file holding the token, re-read on every run (--token-file).
    File,
    /// IAM Credentials generateIdToken for --service-account.
    Impersonate,
}

impl TokenSource {
    /// Every source, with the name `--token-source` takes and what it means.
    pub const ALL: [(TokenSource, &'static str, &'static str); 5] = [
        (
            TokenSource::Auto,
            "auto",
            "The metadata server if it answers quickly, else gcloud",
        ),
        (
            TokenSource::Metadata,
            "metadata",
            "The GCE/GKE/Cloud Run metadata server (GCE_METADATA_HOST overrides the host)",
        ),
        (
            TokenSource::Gcloud,
            "gcloud",
            "`gcloud auth print-identity-token`",
        ),
        (
            TokenSource::File,
            "file",
            "A file holding the token, re-read on every run (--token-file)",
        ),
        (
            TokenSource::Impersonate,
            "impersonate",
            "IAM Credentials generateIdToken for --service-account",
        ),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Auto => "auto",
            TokenSource::Metadata => "metadata",
            TokenSource::Gcloud => "gcloud",
            TokenSource::File => "file",
            TokenSource::Impersonate => "impersonate",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TokenOptions {
    pub source: TokenSource,
    pub audience: String,
    /// Where the audience came from (`--audience`, `JANUS_AUDIENCE`, or the default), for an
    /// error that must say which audience was asked for and why.
    pub audience_from: &'static str,
    pub token_file: Option<PathBuf>,
    /// For `impersonate`, and passed to gcloud as --impersonate-service-account.
    pub service_account: Option<String>,
    pub iam_endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("gcloud: {0}")]
    Gcloud(String),
    #[error("token file {}: {reason}", crate::base::text::quoted(path))]
    File { path: PathBuf, reason: String },
    #[error("impersonation of {account}: {reason}")]
    Impersonate { account: String, reason: String },
    #[error("{what}")]
    Usage { what: String },
    #[error("{source_name} gave a {err}")]
    Malformed {
        source_name: &'static str,
        err: ClaimsError,
    },
    #[error(
        "no token source worked: {}. Not on GCE? Choose the source: --token-source gcloud (a laptop with `gcloud auth login`), file (--token-file PATH), or impersonate (--service-account EMAIL)",
        .0.iter().map(|(s, e)| format!("{s}: {e}")).collect::<Vec<_>>().join("; ")
    )]
    AllFailed(Vec<(&'static str, String)>),
}

/// A Google ID token with its (unverified) claims and the source that gave it.
pub struct IdToken {
    pub raw: Secret,
    pub claims: Claims,
    pub source: TokenSource,
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdToken")
            .field("claims", &self.claims)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn with_claims(raw: Secret, source: TokenSource) -> Result<IdToken, TokenError> {
    let claims = claims::decode(raw.expose()).map_err(|err| TokenError::Malformed {
        source_name: source.as_str(),
        err,
    })?;
    Ok(IdToken {
        raw,
        claims,
        source,
    })
}

/// Run gcloud with a deadline; its stdout is the value, its stderr the reason when it fails.
pub async fn gcloud(args: &[String], deadline: &Deadline) -> Result<String, TokenError> {
    let mut cmd = tokio::process::Command::new("gcloud");
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(deadline.remaining(), cmd.output())
        .await
        .map_err(|_| TokenError::Gcloud("timed out".into()))?
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TokenError::Gcloud("not found on PATH".into()),
            _ => TokenError::Gcloud(e.to_string()),
        })?;
    if !out.status.success() {
        return Err(TokenError::Gcloud(format!(
            "exited with {}: {}",
            out.status,
            gcloud_says(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// gcloud's whole complaint on one line: its advice ("Please run: $ gcloud auth login ... to
/// obtain new credentials") spans lines, and the last one alone ("to select an already
/// authenticated account to use.") says nothing. Scrubbed of anything token-shaped, escaped and
/// capped, as every reason is.
fn gcloud_says(stderr: &str) -> String {
    let joined = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    crate::base::text::reason(&crate::credentials::secret::scrub(&joined))
}

async fn from_gcloud(opts: &TokenOptions, deadline: &Deadline) -> Result<IdToken, TokenError> {
    let mut args = vec![
        "auth".to_string(),
        "print-identity-token".to_string(),
        format!("--audiences={}", opts.audience),
    ];
    if let Some(sa) = &opts.service_account {
        args.push(format!("--impersonate-service-account={sa}"));
    }
    let raw = gcloud(&args, deadline).await?;
    with_claims(Secret::new(raw), TokenSource::Gcloud)
}

async fn from_file(opts: &TokenOptions) -> Result<IdToken, TokenError> {
    let path = opts.token_file.clone().ok_or_else(|| TokenError::Usage {
        what: "--token-source file needs --token-file PATH".into(),
    })?;
    let raw = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| TokenError::File {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    with_claims(Secret::new(raw.trim()), TokenSource::File)
}

async fn from_impersonation(
    opts: &TokenOptions,
    meta: &Metadata,
    deadline: &Deadline,
) -> Result<IdToken, TokenError> {
    let account = opts
        .service_account
        .clone()
        .ok_or_else(|| TokenError::Usage {
            what: "--token-source impersonate needs --service-account EMAIL".into(),
        })?;
    let fail = |reason: String| TokenError::Impersonate {
        account: account.clone(),
        reason,
    };
    let access = match meta.probe(deadline).await {
        Ok(()) => meta.access_token(deadline).await?,
        Err(_) => {
            Secret::new(gcloud(&["auth".into(), "print-access-token".into()], deadline).await?)
        }
    };
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{account}:generateIdToken",
        opts.iam_endpoint.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .timeout(deadline.cap(Duration::from_secs(3)))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let resp = client
        .post(url)
        .bearer_auth(access.expose())
        .json(&serde_json::json!({"audience": opts.audience, "includeEmail": true}))
        .send()
        .await
        .map_err(|e| fail(e.without_url().to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct GErr {
            error: GErrBody,
        }
        #[derive(serde::Deserialize)]
        struct GErrBody {
            message: String,
        }
        let msg = serde_json::from_str::<GErr>(&body)
            .map(|e| e.error.message)
            .unwrap_or_default();
        return Err(fail(format!(
            "IAM Credentials answered HTTP {status}: {msg}"
        )));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Secret,
    }
    let answer: Answer = resp
        .json()
        .await
        .map_err(|_| fail("IAM Credentials sent no token".into()))?;
    with_claims(answer.token, TokenSource::Impersonate)
}

/// Fetch a token from the configured source. `auto` tries the metadata server with a quick probe
/// (so a laptop fails fast), then gcloud, and says why each one failed.
pub async fn fetch(
    opts: &TokenOptions,
    meta: &Metadata,
    deadline: &Deadline,
) -> Result<IdToken, TokenError> {
    match opts.source {
        TokenSource::Metadata => with_claims(
            meta.identity(&opts.audience, deadline).await?,
            TokenSource::Metadata,
        ),
        TokenSource::Gcloud => from_gcloud(opts, deadline).await,
        TokenSource::File => from_file(opts).await,
        TokenSource::Impersonate => from_impersonation(opts, meta, deadline).await,
        TokenSource::Auto => {
            let mut reasons = Vec::new();
            match meta.probe(deadline).await {
                Ok(()) => match meta.identity(&opts.audience, deadline).await {
                    Ok(raw) => {
                        tracing::debug!("token source: metadata server {}", meta.host());
                        return with_claims(raw, TokenSource::Metadata);
                    }
                    Err(e) => reasons.push(("metadata", e.to_string())),
                },
                Err(e) => reasons.push(("metadata", e.to_string())),
            }
            match from_gcloud(opts, deadline).await {
                Ok(t) => {
                    tracing::debug!("token source: gcloud");
                    Ok(t)
                }
                Err(e) => {
                    reasons.push(("gcloud", e.to_string()));
                    Err(TokenError::AllFailed(reasons))
                }
            }
        }
    }
}
