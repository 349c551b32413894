//! The GCE metadata server (also GKE's and Cloud Run's): ID tokens and the facts that name a
//! session. `GCE_METADATA_HOST` points it elsewhere (tests use 127.0.0.1). Never through a proxy.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::deadline::Deadline;
use super::secret::Secret;

const DEFAULT_HOST: &str = "metadata.google.internal";
/// The GKE metadata server can lag for a few seconds at pod start.
const ATTEMPTS: u32 = 4;
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata server {host} is unreachable: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("metadata server {host} answered HTTP {status} for {path}")]
    Status {
        host: String,
        path: String,
        status: u16,
    },
    #[error("{host} did not answer as a GCE metadata server (no 'Metadata-Flavor: Google' header)")]
    NotMetadata { host: String },
    #[error("metadata server {host} sent an unreadable answer for {path}")]
    BadBody { host: String, path: String },
    #[error("cannot set up an HTTP client: {0}")]
    Client(String),
}

#[derive(Clone)]
pub struct Metadata {
    host: String,
    client: reqwest::Client,
    /// The probe's answer, asked once per run: `auto` and the session naming both want it, and
    /// on a laptop asking twice means waiting for a dead host twice.
    probed: Arc<OnceCell<Result<(), Arc<MetadataError>>>>,
}

impl Metadata {
    pub fn from_env() -> Result<Self, MetadataError> {
        let host = super::env::first_env(&["GCE_METADATA_HOST"])
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| MetadataError::Client(e.to_string()))?;
        Ok(Metadata {
            host,
            client,
            probed: Arc::default(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/computeMetadata/v1/{path}", self.host)
    }

    /// One GET, retried on connection errors and 5xx with jittered backoff. `Ok(None)` is a 404:
    /// the attribute does not exist here (e.g. `instance/name` under Cloud Run).
    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        attempts: u32,
        deadline: &Deadline,
    ) -> Result<Option<String>, MetadataError> {
        let mut attempt = 0;
        loop {
            let cap = deadline.cap(REQUEST_TIMEOUT);
            let result = self
                .client
                .get(self.url(path))
                .query(query)
                .header("Metadata-Flavor", "Google")
                .timeout(cap)
                .send()
                .await;
            let retry_err = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let flavor_ok = resp
                        .headers()
                        .get("metadata-flavor")
                        .is_some_and(|v| v == "Google");
                    if status.is_success() && !flavor_ok {
                        return Err(MetadataError::NotMetadata {
                            host: self.host.clone(),
                        });
                    }
                    if status.as_u16() == 404 {
                        return Ok(None);
                    }
                    let err = MetadataError::Status {
                        host: self.host.clone(),
                        path: path.to_string(),
                        status: status.as_u16(),
                    };
                    if status.is_success() {
                        return resp.text().await.map(Some).map_err(|e| {
                            MetadataError::Unreachable {
                                host: self.host.clone(),
                                reason: e.without_url().to_string(),
                            }
                        });
                    }
                    if !status.is_server_error() {
                        return Err(err);
                    }
                    err
                }
                // Say so when it was the run's budget, not the server, that ran out.
                Err(e) if e.is_timeout() && cap < REQUEST_TIMEOUT => MetadataError::Unreachable {
                    host: self.host.clone(),
                    reason: format!(
                        "no answer in the {:.2} s left of the run's budget",
                        cap.as_secs_f64()
                    ),
                },
                Err(e) => MetadataError::Unreachable {
                    host: self.host.clone(),
                    reason: describe(&e),
                },
            };
            attempt += 1;
            if attempt >= attempts || !deadline.backoff(BACKOFF, attempt - 1).await {
                return Err(retry_err);
            }
            tracing::debug!("metadata {path}: {retry_err}; retrying");
        }
    }

    /// A quick "is there a metadata server at all" check, for `--token-source auto` on a laptop.
    pub async fn probe(&self, deadline: &Deadline) -> Result<(), Arc<MetadataError>> {
        self.probed
            .get_or_init(|| async {
                self.get("project/project-id", &[], 1, deadline)
                    .await
                    .map(|_| ())
                    .map_err(Arc::new)
            })
            .await
            .clone()
    }

    /// A Google-signed ID token for the instance's default service account.
    pub async fn identity(
        &self,
        audience: &str,
        deadline: &Deadline,
    ) -> Result<Secret, MetadataError> {
        let query = [
            ("audience", audience),
            ("format", "full"),
            ("licenses", "FALSE"),
        ];
        self.get(
            "instance/service-accounts/default/identity",
            &query,
            ATTEMPTS,
            deadline,
        )
        .await?
        .map(|t| Secret::new(t.trim()))
        .ok_or_else(|| MetadataError::Status {
            host: self.host.clone(),
            path: "instance/service-accounts/default/identity".into(),
            status: 404,
        })
    }

    /// An OAuth access token for the default service account (for `--token-source impersonate`).
    pub async fn access_token(&self, deadline: &Deadline) -> Result<Secret, MetadataError> {
        #[derive(serde::Deserialize)]
        struct Token {
            access_token: Secret,
        }
        let path = "instance/service-accounts/default/token";
        let body = self
            .get(path, &[], ATTEMPTS, deadline)
            .await?
            .unwrap_or_default();
        serde_json::from_str::<Token>(&body)
            .map(|t| t.access_token)
            .map_err(|_| MetadataError::BadBody {
                host: self.host.clone(),
                path: path.into(),
            })
    }

    /// A plain attribute (`project/project-id`, `instance/name`, …); `None` where it does not exist.
    pub async fn attribute(
        &self,
        path: &str,
        deadline: &Deadline,
    ) -> Result<Option<String>, MetadataError> {
        Ok(self
            .get(path, &[], 2, deadline)
            .await?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        // The source chain says "connection refused" or "dns error": the useful part.
        let mut s = "cannot connect".to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s = format!("cannot connect: {inner}");
            src = inner.source();
        }
        s
    } else {
        e.to_string()
    }
}
