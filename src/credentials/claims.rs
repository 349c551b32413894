//! The claims of a Google ID token, decoded without verifying the signature: STS verifies it; we
//! only read the claims to name the session and to explain a refusal.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("malformed ID token: expected three '.'-separated parts, found {0}")]
    Parts(usize),
    #[error("malformed ID token: the payload is not base64url")]
    Base64,
    #[error("malformed ID token: the payload is not a JSON object of claims ({0})")]
    Json(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<GoogleClaims>,
}

/// Present with `format=full`: signed by Google, so preferred over unsigned metadata values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_engine: Option<ComputeEngine>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeEngine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
}

impl Claims {
    pub fn compute_engine(&self) -> Option<&ComputeEngine> {
        self.google.as_ref()?.compute_engine.as_ref()
    }
}

/// Decode the claims of a JWT (`header.payload.signature`). Error messages never quote the token.
pub fn decode(jwt: &str) -> Result<Claims, ClaimsError> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(ClaimsError::Parts(parts.len()));
    }
    let payload = URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .map_err(|_| ClaimsError::Base64)?;
    serde_json::from_slice(&payload).map_err(|e| ClaimsError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn full_format_claims() {
        let c = decode(&jwt(
            r#"{"aud":"sts.amazonaws.com","azp":"1049","sub":"1049","email":"a@p.iam.gserviceaccount.com",
               "google":{"compute_engine":{"project_id":"prod-data-1234","instance_name":"etl-1","zone":"us-central1-a","project_number":42}}}"#,
        ))
        .unwrap();
        assert_eq!(c.azp.as_deref(), Some("1049"));
        let ce = c.compute_engine().unwrap();
        assert_eq!(ce.instance_name.as_deref(), Some("etl-1"));
        assert_eq!(ce.project_id.as_deref(), Some("prod-data-1234"));
    }

    #[test]
    fn malformed_tokens_say_why_without_echoing() {
        assert_eq!(decode("abc"), Err(ClaimsError::Parts(1)));
        assert_eq!(decode("a.%%%.c"), Err(ClaimsError::Base64));
        let e = decode(&jwt("[1]")).unwrap_err();
        assert!(matches!(e, ClaimsError::Json(_)));
        assert!(!e.to_string().contains("eyJ"));
    }
}
