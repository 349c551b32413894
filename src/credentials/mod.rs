//! `janus-audit credentials`: a Google ID token → STS AssumeRoleWithWebIdentity → the
//! credential_process JSON, with the session named after the machine that asked.
//!
//! Flow: cache (fast path, no network) → lock → cache again → token → session name → STS (with
//! retries) → cache write. Every wait is bounded by one deadline under the SDK's 5-second limit.

pub mod cache;
pub mod claims;
pub mod cmd;
pub mod deadline;
pub mod env;
pub mod exec;
pub mod format;
pub mod metadata;
pub mod process;
pub mod secret;
pub mod serve;
pub mod sts;
pub mod token;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use crate::base::naming::{self, TemplateError};
use cache::{Cache, CacheKey};
use deadline::Deadline;
use env::first_env;
use metadata::{Metadata, MetadataError};
pub use process::ProcessCredentials;
use sts::{Failure, Issued, Sts, StsTarget};
use token::{IdToken, TokenError, TokenOptions, TokenSource};

#[derive(Debug, Clone)]
pub struct Options {
    pub token: TokenOptions,
    pub role_arn: String,
    pub session_template: String,
    pub duration_seconds: i32,
    pub sts: StsTarget,
    /// `None`: the user's cache directory.
    pub cache_dir: Option<PathBuf>,
    pub no_cache: bool,
    /// Serve from the cache only while at least this much validity remains.
    pub min_remaining: Duration,
    /// The whole run's budget.
    pub budget: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Denied(String),
    #[error("STS refused AssumeRoleWithWebIdentity on {role}: {code}: {message}{hint}")]
    Refused {
        role: String,
        code: String,
        message: String,
        /// What to check, where the refusal names it (an audience STS did not accept).
        hint: String,
    },
    #[error("STS at {endpoint} did not give credentials after {attempts} attempt(s): {last}")]
    Unavailable {
        attempts: u32,
        last: String,
        endpoint: String,
    },
    /// Waited the whole budget for another run fetching the same credentials.
    #[error("{0}; try again")]
    Busy(String),
}

impl CredentialsError {
    /// The documented exit status (see `crate::base::exit`).
    pub fn exit_code(&self) -> i32 {
        use crate::base::exit;
        match self {
            CredentialsError::Token(TokenError::Usage { .. }) | CredentialsError::Template(_) => {
                exit::USAGE
            }
            CredentialsError::Token(_) | CredentialsError::Metadata(_) => exit::NO_TOKEN,
            CredentialsError::Denied(_) | CredentialsError::Refused { .. } => exit::STS_REFUSED,
            CredentialsError::Unavailable { .. } | CredentialsError::Busy(_) => {
                exit::STS_UNAVAILABLE
            }
        }
    }
}

impl Options {
    fn endpoint(&self) -> Option<String> {
        self.sts
            .endpoint
            .clone()
            .or_else(|| first_env(&["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]))
    }

    fn token_identity(&self) -> String {
        let t = &self.token;
        match t.source {
            TokenSource::File => format!(
                "file:{}",
                t.token_file
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            ),
            TokenSource::Impersonate => format!(
                "impersonate:{}@{}",
                t.service_account.as_deref().unwrap_or(""),
                t.iam_endpoint
            ),
            other => format!(
                "{}:{}:{}",
                other.as_str(),
                std::env::var("GCE_METADATA_HOST").unwrap_or_default(),
                t.service_account.as_deref().unwrap_or("")
            ),
        }
    }

    fn open_cache(&self) -> Option<Cache> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(cache::default_dir)?;
        let endpoint = self.endpoint();
        let key = CacheKey {
            role_arn: &self.role_arn,
            audience: &self.token.audience,
            token_source: self.token_identity(),
            session_template: &self.session_template,
            duration_seconds: self.duration_seconds,
            region: &self.sts.region,
            endpoint: endpoint.as_deref(),
        };
        match Cache::open(&dir, &key) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("{e}; continuing without the cache");
                None
            }
        }
    }
}

/// The warm path: credentials from the cache, with no network and no async runtime.
pub fn cached(opts: &Options) -> Option<ProcessCredentials> {
    opts.open_cache()?.read(opts.min_remaining, Utc::now())
}

/// Values for the session-name template's placeholders.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Facts {
    pub project_id: Option<String>,
    pub instance: Option<String>,
    pub zone: Option<String>,
    pub sub: Option<String>,
    pub email: Option<String>,
    /// Where `instance` came from, for `--explain` and debug logs.
    pub instance_from: Option<&'static str>,
}

fn short_host(h: &str) -> String {
    h.split('.').next().unwrap_or(h).to_string()
}

fn local_hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| short_host(s.trim()))
        .filter(|s| !s.is_empty())
}

/// Gather only what the template uses. Signed token claims win over the metadata server, which
/// wins over the environment; a laptop falls back to gcloud's project and the host name.
pub async fn facts(template: &str, token: &IdToken, meta: &Metadata, deadline: &Deadline) -> Facts {
    let needs = |p: &str| template.contains(&format!("{{{p}}}"));
    let ce = token.claims.compute_engine().cloned().unwrap_or_default();
    let mut f = Facts {
        sub: token.claims.sub.clone(),
        email: token.claims.email.clone(),
        project_id: ce.project_id.clone(),
        zone: ce.zone.clone(),
        instance: ce.instance_name.clone(),
        instance_from: ce
            .instance_name
            .as_ref()
            .map(|_| "token claim instance_name"),
    };
    let wanted = (needs("project_id") && f.project_id.is_none())
        || (needs("instance") && f.instance.is_none())
        || (needs("zone") && f.zone.is_none());
    if !wanted {
        return f;
    }
    let on_gcp = token.source == TokenSource::Metadata || meta.probe(deadline).await.is_ok();
    let attr = |p: &'static str| async move {
        if on_gcp {
            meta.attribute(p, deadline).await.ok().flatten()
        } else {
            None
        }
    };
    if f.project_id.is_none() {
        f.project_id = attr("project/project-id").await;
    }
    if f.zone.is_none() && needs("zone") {
        f.zone = attr("instance/zone")
            .await
            .map(|z| z.rsplit('/').next().unwrap_or(&z).to_string());
    }
    if f.instance.is_none() {
        if let Some(name) = attr("instance/name").await {
            f.instance = Some(name);
            f.instance_from = Some("metadata instance/name");
        } else if let Some(host) = attr("instance/hostname").await {
            f.instance = Some(short_host(&host));
            f.instance_from = Some("metadata instance/hostname");
        } else if let (Ok(_), Ok(pod)) = (
            std::env::var("KUBERNETES_SERVICE_HOST"),
            std::env::var("HOSTNAME"),
        ) {
            f.instance = Some(pod);
            f.instance_from = Some("GKE pod name (HOSTNAME)");
        } else if let Ok(service) = std::env::var("K_SERVICE") {
            let id = attr("instance/id").await.unwrap_or_default();
            f.instance = Some(format!("{service}-{}", &naming::short_hash(&id)[..6]));
            f.instance_from = Some("Cloud Run K_SERVICE + instance hash");
        } else {
            f.instance = local_hostname();
            f.instance_from = Some("local host name");
        }
    }
    if f.project_id.is_none() && !on_gcp {
        f.project_id = token::gcloud(
            &["config".into(), "get-value".into(), "project".into()],
            deadline,
        )
        .await
        .ok()
        .filter(|p| !p.is_empty() && p != "(unset)");
    }
    if f.project_id.is_none() {
        f.project_id = first_env(&["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"]);
    }
    f
}

pub fn render(template: &str, f: &Facts) -> Result<String, TemplateError> {
    naming::render_template(template, |k| match k {
        "project_id" => f.project_id.clone(),
        "instance" => f.instance.clone(),
        "zone" => f.zone.clone(),
        "sub" => f.sub.clone(),
        "email" => f.email.clone(),
        _ => None,
    })
}

/// What the role's trust policy must say for this token, as `StringEquals` conditions. For
/// Google, `accounts.google.com:aud` is the token's `azp` (the service account's unique ID) and
/// `accounts.google.com:oaud` its `aud` (the requested audience).
pub fn trust_policy(claims: &claims::Claims, session_name: Option<&str>) -> serde_json::Value {
    let aud = claims.aud.clone().unwrap_or_default();
    let azp = claims.azp.clone().unwrap_or_else(|| aud.clone());
    let sub = claims.sub.clone().unwrap_or_default();
    crate::base::trust::pinned_policy(&azp, &aud, &sub, session_name)
}

/// A refusal other than AccessDenied; one that names the audience says which one the token was
/// asked for, where that came from, and what the trust policy must say.
fn refused(opts: &Options, token: &IdToken, code: String, message: String) -> CredentialsError {
    let hint = match message.to_ascii_lowercase().contains("audience") {
        true => format!(
            ". The token was asked for audience '{}' ({}); its aud claim is '{}'. The role's trust policy must accept it as accounts.google.com:oaud (`janus-audit credentials --explain` prints one that does), or pass the audience it names with --audience",
            crate::base::text::excerpt(&opts.token.audience),
            opts.token.audience_from,
            crate::base::text::excerpt(token.claims.aud.as_deref().unwrap_or("(absent)")),
        ),
        false => String::new(),
    };
    CredentialsError::Refused {
        role: opts.role_arn.clone(),
        code,
        message,
        hint,
    }
}

fn denied(opts: &Options, token: &IdToken, message: &str) -> CredentialsError {
    let c = &token.claims;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
    CredentialsError::Denied(format!(
        "STS denied AssumeRoleWithWebIdentity on {role} (AccessDenied: {message})\n\
         The ID token has aud={aud}, azp={azp}, sub={sub}, email={email}.\n\
         The role's trust policy must allow Principal {{\"Federated\": \"accounts.google.com\"}} with StringEquals:\n  \
         accounts.google.com:aud  = {azp}\n  \
         accounts.google.com:oaud = {aud}\n  \
         accounts.google.com:sub  = {sub}\n\
         `janus-audit credentials --explain` with the same options prints a ready policy.",
        role = opts.role_arn,
        aud = show(&c.aud),
        azp = show(&c.azp.clone().or_else(|| c.aud.clone())),
        sub = show(&c.sub),
        email = show(&c.email),
    ))
}

/// The cold path: token, name, STS, cache. Call [`cached`] first for the warm path.
pub async fn fetch(opts: &Options) -> Result<ProcessCredentials, CredentialsError> {
    let deadline = Deadline::after(opts.budget);
    let cache = opts.open_cache();
    // Held until we return: concurrent invocations wait here, then find the cache filled.
    let _lock = match &cache {
        Some(c) => match c.lock(&deadline).await {
            Ok(l) => Some(l),
            // Another run holds the lock and is fetching the same credentials: a second STS call
            // with what little budget is left would only add load to a struggling STS.
            Err(e @ cache::CacheError::LockTimeout { .. }) => {
                return Err(CredentialsError::Busy(e.to_string()));
            }
            Err(e) => {
                tracing::warn!("{e}; fetching without the lock");
                None
            }
        },
        None => None,
    };
    if let Some(hit) = cache
        .as_ref()
        .and_then(|c| c.read(opts.min_remaining, Utc::now()))
    {
        return Ok(hit);
    }
    let meta = Metadata::from_env()?;
    let token = token::fetch(&opts.token, &meta, &deadline).await?;
    tracing::debug!("token source used: {}", token.source.as_str());
    let facts = facts(&opts.session_template, &token, &meta, &deadline).await;
    let session_name = render(&opts.session_template, &facts)?;
    tracing::debug!(
        "session name {session_name} (instance from {})",
        facts.instance_from.unwrap_or("-")
    );
    let sts = Sts::new(&opts.sts, &deadline).await;
    let issued = assume(opts, &sts, &session_name, token, &meta, &deadline).await?;
    let creds = ProcessCredentials::from(issued);
    if let Some(c) = &cache
        && let Err(e) = c.write(&creds)
    {
        tracing::warn!("{e}; the credentials were not cached");
    }
    Ok(creds)
}

/// STS with retries: a fresh token once if STS calls it bad, and jittered backoff on transient
/// failures while the budget lasts.
async fn assume(
    opts: &Options,
    sts: &Sts,
    session_name: &str,
    mut token: IdToken,
    meta: &Metadata,
    deadline: &Deadline,
) -> Result<Issued, CredentialsError> {
    let mut refreshed = false;
    let mut attempt = 0;
    loop {
        // The client's own attempt timeout was fixed when it was built; no attempt may run past
        // what is left of the budget.
        let call = sts.assume(
            &opts.role_arn,
            session_name,
            &token.raw,
            opts.duration_seconds,
        );
        let answer = tokio::time::timeout(deadline.remaining(), call)
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Transient(format!(
                    "no answer within the {:.1} s budget",
                    opts.budget.as_secs_f64()
                )))
            });
        match answer {
            Ok(issued) => return Ok(issued),
            Err(Failure::BadToken { code, message }) if !refreshed => {
                tracing::info!("STS rejected the token ({code}: {message}); fetching a fresh one");
                refreshed = true;
                token = token::fetch(&opts.token, meta, deadline).await?;
            }
            Err(Failure::BadToken { code, message }) => {
                return Err(refused(opts, &token, code, message));
            }
            Err(Failure::Refused { code, message }) if code == "AccessDenied" => {
                return Err(denied(opts, &token, &message));
            }
            Err(Failure::Refused { code, message }) => {
                return Err(refused(opts, &token, code, message));
            }
            Err(Failure::Transient(why)) => {
                attempt += 1;
                tracing::info!("STS attempt {attempt} failed: {why}");
                if attempt >= 4
                    || !deadline
                        .backoff(Duration::from_millis(150), attempt - 1)
                        .await
                {
                    return Err(CredentialsError::Unavailable {
                        attempts: attempt,
                        last: why,
                        endpoint: opts.endpoint().unwrap_or_else(|| {
                            format!("https://sts.{}.amazonaws.com", opts.sts.region)
                        }),
                    });
                }
            }
        }
    }
}

/// `--explain`: the decoded (unverified) claims, the session name that would be used, and a
/// ready trust policy. Makes no STS call.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub token_source: &'static str,
    pub claims: claims::Claims,
    pub session_name: String,
    pub facts: Facts,
    pub role_arn: String,
    pub trust_policy: serde_json::Value,
}

pub async fn explain(
    opts: &Options,
    pin_session_name: bool,
) -> Result<Explanation, CredentialsError> {
    let deadline = Deadline::after(opts.budget);
    let meta = Metadata::from_env()?;
    let token = token::fetch(&opts.token, &meta, &deadline).await?;
    let facts = facts(&opts.session_template, &token, &meta, &deadline).await;
    let session_name = render(&opts.session_template, &facts)?;
    Ok(Explanation {
        token_source: token.source.as_str(),
        trust_policy: trust_policy(&token.claims, pin_session_name.then_some(&*session_name)),
        claims: token.claims,
        session_name,
        facts,
        role_arn: opts.role_arn.clone(),
    })
}
