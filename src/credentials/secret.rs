//! A value that must never reach a log, stderr or a report.

use std::fmt;

/// Secret keys, session tokens and ID tokens. `Debug` and `Display` show only the length, so a
/// stray `{:?}` in an error or a trace cannot leak one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value itself, for the one place that needs it (the STS call, the JSON on stdout).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// `text` with every secret-shaped run replaced, for any message that leaves the process:
/// JWTs (a Google ID token: `eyJ…` in three base64url parts) and long base64 runs that mix
/// upper case, lower case and digits (secret keys, session tokens, access tokens). Names,
/// ARNs, host names and prose have none of that shape and pass through.
pub fn scrub(text: &str) -> String {
    let is_token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '.');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_token_char) {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let end = run.find(|c: char| !is_token_char(c)).unwrap_or(run.len());
        let word = &run[..end];
        if secret_shaped(word) {
            out.push_str(&format!("<redacted {} chars>", word.len()));
        } else {
            out.push_str(word);
        }
        rest = &run[end..];
    }
    out.push_str(rest);
    out
}

fn secret_shaped(word: &str) -> bool {
    if word.starts_with("eyJ") && word.matches('.').count() >= 2 {
        return true;
    }
    // Each dot-separated part on its own: a long mixed-case-and-digit run is key material.
    word.split('.').any(|part| {
        part.len() >= 32
            && part.bytes().any(|b| b.is_ascii_uppercase())
            && part.bytes().any(|b| b.is_ascii_lowercase())
            && part.bytes().any(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_tokens_and_keys_and_keeps_names() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl";
        let text = format!(
            "AccessDenied: Not authorized; request was: Action=AssumeRoleWithWebIdentity&WebIdentityToken={jwt}&RoleArn=arn:aws:iam::123456789012:role/s3-ro-from-gcp&RoleSessionName=ml-platform-prod.very-long-training-job-instance-name-t+8da59bdc secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY token=FwoGZXIvYXdzEFAKE9sessionTokenABCdef123456"
        );
        let out = scrub(&text);
        for secret in [jwt, "wJalrXUtnFEMI", "FwoGZXIvYXdzEFAKE"] {
            assert!(!out.contains(secret), "{out}");
        }
        for kept in [
            "arn:aws:iam::123456789012:role/s3-ro-from-gcp",
            "ml-platform-prod.very-long-training-job-instance-name-t+8da59bdc",
            "AssumeRoleWithWebIdentity",
        ] {
            assert!(out.contains(kept), "{kept}: {out}");
        }
    }

    #[test]
    fn never_formatted() {
        let s = Secret::new("AKIA-very-secret");
        assert_eq!(
            format!("{s:?} {s}"),
            "<redacted 16 bytes> <redacted 16 bytes>"
        );
        assert_eq!(s.expose(), "AKIA-very-secret");
    }
}
