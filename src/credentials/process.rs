//! The credential_process contract: what the fetcher prints, caches and serves.

use serde::{Deserialize, Serialize};

use crate::credentials::secret::Secret;
use crate::credentials::sts::Issued;

/// The JSON a credential_process prints: exactly this, and nothing else, on stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    /// RFC 3339 with `Z`.
    pub expiration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

impl From<Issued> for ProcessCredentials {
    fn from(i: Issued) -> Self {
        ProcessCredentials {
            version: 1,
            account_id: i
                .assumed_role_arn
                .as_deref()
                .and_then(crate::base::arn::account_from_arn)
                .map(str::to_string),
            access_key_id: i.access_key_id,
            secret_access_key: i.secret_access_key,
            session_token: i.session_token,
            expiration: crate::base::timefmt::format_utc(i.expiration),
        }
    }
}
