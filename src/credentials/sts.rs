//! STS `AssumeRoleWithWebIdentity`: unsigned, one attempt at a time; the caller owns retries
//! because an expired token calls for a fresh token, not a resend.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError as E;
use chrono::{DateTime, Utc};

use super::deadline::Deadline;
use super::secret::Secret;

/// Where STS is.
#[derive(Debug, Clone)]
pub struct StsTarget {
    pub region: String,
    /// `--sts-endpoint`; without it the SDK's own resolution applies, including
    /// `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
}

/// Temporary credentials as STS issued them.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: DateTime<Utc>,
    pub assumed_role_arn: Option<String>,
}

/// What one attempt's failure calls for.
#[derive(Debug)]
pub enum Failure {
    /// IDPCommunicationError, throttling, a network error or a timeout: try again later.
    Transient(String),
    /// InvalidIdentityToken or ExpiredToken: fetch a fresh token and try once more.
    BadToken { code: String, message: String },
    /// AccessDenied and every other refusal: final.
    Refused { code: String, message: String },
}

pub struct Sts {
    client: aws_sdk_sts::Client,
}

impl Sts {
    pub async fn new(target: &StsTarget, deadline: &Deadline) -> Sts {
        // No credentials: the call is unsigned, and loading a profile's credential_process here
        // could be this very program, recursively.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .no_credentials()
            .region(aws_config::Region::new(target.region.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_millis(1000))
                    // The whole budget: an STS that takes 3.5 s must be waited for, since a retry
                    // after a timeout would have no time left anyway. The caller also caps each
                    // attempt at what is left when it starts.
                    .operation_attempt_timeout(deadline.remaining())
                    .build(),
            );
        if let Some(url) = &target.endpoint {
            loader = loader.endpoint_url(url);
        }
        let conf = loader.load().await;
        Sts {
            client: aws_sdk_sts::Client::new(&conf),
        }
    }

    pub async fn assume(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &Secret,
        duration_seconds: i32,
    ) -> Result<Issued, Failure> {
        let out = self
            .client
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .web_identity_token(token.expose())
            .duration_seconds(duration_seconds)
            .send()
            .await
            .map_err(classify)?;
        let creds = out
            .credentials()
            .ok_or_else(|| Failure::Transient("STS answered without credentials".into()))?;
        let expiration =
            DateTime::<Utc>::from_timestamp(creds.expiration().secs(), 0).unwrap_or_default();
        Ok(Issued {
            access_key_id: creds.access_key_id().to_string(),
            secret_access_key: Secret::new(creds.secret_access_key()),
            session_token: Secret::new(creds.session_token()),
            expiration,
            assumed_role_arn: out.assumed_role_user().map(|u| u.arn().to_string()),
        })
    }
}

fn classify(err: SdkError<E, aws_sdk_sts::config::http::HttpResponse>) -> Failure {
    use super::secret::scrub;
    match &err {
        // A 2xx that is not STS's answer (a captive portal, a proxy page): not a refusal.
        SdkError::ServiceError(se) if se.raw().status().is_success() => {
            Failure::Transient(format!(
                "STS answered HTTP {} with a body that is not an STS response",
                se.raw().status().as_u16()
            ))
        }
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = scrub(e.code().unwrap_or("Unknown"));
            // Servers (and proxies in front of them) may echo the request, token and all.
            let message = scrub(e.message().unwrap_or(""));
            match e {
                E::IdpCommunicationErrorException(_) => {
                    Failure::Transient(format!("{code}: {message}"))
                }
                E::InvalidIdentityTokenException(_) | E::ExpiredTokenException(_) => {
                    Failure::BadToken { code, message }
                }
                _ if matches!(
                    code.as_str(),
                    "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
                ) || se.raw().status().is_server_error() =>
                {
                    Failure::Transient(format!("{code}: {message}"))
                }
                _ => Failure::Refused { code, message },
            }
        }
        SdkError::TimeoutError(_) => Failure::Transient("timed out".into()),
        SdkError::DispatchFailure(d) => Failure::Transient(scrub(&format!(
            "cannot connect{}",
            d.as_connector_error()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        ))),
        other => Failure::Transient(scrub(&other.to_string())),
    }
}
