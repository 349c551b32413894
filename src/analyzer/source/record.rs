//! One CloudTrail record, deserialised once into structs that borrow from the input buffer and read
//! only the fields the analysis uses. Everything else is skipped by serde without allocating.
//!
//! Fields are lenient: a field that is not of the expected JSON type reads as absent instead of
//! failing the record, because CloudTrail's schema varies by service and over the years.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The CloudTrail names the analyzer keys on.
pub const ARWWI: &str = "AssumeRoleWithWebIdentity";
pub const ASSUME_ROLE: &str = "AssumeRole";
pub const GOOGLE: &str = "accounts.google.com";

/// A string field that reads as `None` when it is null or of another JSON type.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The value; an empty string is no value. Exports and hand-edited trails write
    /// `"accessKeyId": ""` or `"errorCode": ""` where CloudTrail omits the field, and counting
    /// those as a key or an error would mis-attribute calls and count successes as failures.
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|v| !v.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object field that reads as `None` when it is null or not an object.
#[derive(Debug, Default)]
pub struct Obj<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(a)).map(|v| Obj(Some(v)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> Obj<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(rename = "eventID", borrow, default)]
    pub event_id: Text<'a>,
    #[serde(borrow, default)]
    pub event_time: Text<'a>,
    #[serde(borrow, default)]
    pub event_source: Text<'a>,
    #[serde(borrow, default)]
    pub event_name: Text<'a>,
    #[serde(borrow, default)]
    pub event_type: Text<'a>,
    #[serde(borrow, default)]
    pub aws_region: Text<'a>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    pub source_ip: Text<'a>,
    #[serde(borrow, default)]
    pub user_agent: Text<'a>,
    #[serde(borrow, default)]
    pub error_code: Text<'a>,
    #[serde(borrow, default)]
    pub error_message: Text<'a>,
    #[serde(borrow, default)]
    pub recipient_account_id: Text<'a>,
    /// One action logged in two accounts (a cross-account AssumeRole) has one sharedEventID.
    #[serde(rename = "sharedEventID", borrow, default)]
    pub shared_event_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_identity: Obj<UserIdentity<'a>>,
    /// Kept raw: AssumeRole* records have their parameters read, and `touched` keeps them as text.
    #[serde(borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub response_elements: Option<&'a RawValue>,
    /// Kept raw: read (by `touched`) only when a table that shows it is built.
    #[serde(borrow, default)]
    pub resources: Option<&'a RawValue>,
    /// Present only in digest files; lets a digest be told from a record by content.
    #[serde(default)]
    pub digest_start_time: Option<IgnoredAny>,
    /// Logstash and Elastic exports' own time: never read as the event's, only noticed where
    /// `eventTime` is missing.
    #[serde(rename = "@timestamp", default)]
    pub at_timestamp: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
    pub principal_id: Text<'a>,
    #[serde(borrow, default)]
    pub arn: Text<'a>,
    #[serde(borrow, default)]
    pub account_id: Text<'a>,
    #[serde(borrow, default)]
    pub access_key_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_name: Text<'a>,
    #[serde(borrow, default)]
    pub identity_provider: Text<'a>,
    #[serde(borrow, default)]
    pub invoked_by: Text<'a>,
    #[serde(borrow, default)]
    pub session_context: Obj<SessionContext<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow, default)]
    pub session_issuer: Obj<SessionIssuer<'a>>,
    #[serde(borrow, default)]
    pub web_id_federation_data: Obj<WebIdFederationData<'a>>,
    #[serde(borrow, default)]
    pub attributes: Obj<SessionAttributes<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default)]
    pub arn: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes<'a> {
    #[serde(borrow, default)]
    pub creation_date: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebIdFederationData<'a> {
    #[serde(borrow, default)]
    pub federated_provider: Text<'a>,
    /// `{"accounts.google.com:sub": "...", ...}` when the role's trust policy references claims.
    #[serde(borrow, default)]
    pub attributes: Obj<BTreeMap<Cow<'a, str>, Text<'a>>>,
}

/// The parts of `requestParameters` an AssumeRoleWithWebIdentity or a chained AssumeRole uses.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRequest<'a> {
    #[serde(borrow, default)]
    pub role_arn: Text<'a>,
    #[serde(borrow, default)]
    pub role_session_name: Text<'a>,
    #[serde(borrow, default)]
    pub duration_seconds: Text<'a>,
    #[serde(borrow, default)]
    pub source_identity: Text<'a>,
}

/// The parts of `responseElements` an AssumeRoleWithWebIdentity (or AssumeRole) uses.
/// `sessionToken` is never read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebIdentityResponse<'a> {
    #[serde(borrow, default)]
    pub credentials: Obj<IssuedCredentials<'a>>,
    #[serde(borrow, default)]
    pub subject_from_web_identity_token: Text<'a>,
    #[serde(borrow, default)]
    pub audience: Text<'a>,
    #[serde(borrow, default)]
    pub provider: Text<'a>,
    #[serde(borrow, default)]
    pub assumed_role_user: Obj<AssumedRoleUser<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedCredentials<'a> {
    #[serde(borrow, default)]
    pub access_key_id: Text<'a>,
    #[serde(borrow, default)]
    pub expiration: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AssumedRoleUser<'a> {
    #[serde(borrow, default)]
    pub arn: Text<'a>,
}

/// Parse a raw JSON object leniently: absent, null, or the wrong shape gives the default.
pub fn parse_raw<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    try_parse_raw(raw).unwrap_or_default()
}

/// As [`parse_raw`], but `None` when an object is there and serde_json cannot read it (so the
/// caller can repair it rather than lose every field in it).
pub fn try_parse_raw<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> Option<T> {
    match raw {
        Some(r) => try_parse_raw_str(r.get()),
        None => Some(T::default()),
    }
}

/// As [`try_parse_raw`], over text.
pub fn try_parse_raw_str<'a, T: Deserialize<'a> + Default>(text: &'a str) -> Option<T> {
    if !text.starts_with('{') {
        return Some(T::default());
    }
    serde_json::from_str(text).ok()
}

/// Provider, audience and subject of a web identity, derived without splitting on ':'.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WebIdentity<'a> {
    pub provider: Option<&'a str>,
    pub aud: Option<&'a str>,
    pub sub: Option<&'a str>,
}

/// `principalId` is `<provider>:<aud>:<sub>`, and both the provider (an IAM OIDC provider ARN) and
/// the sub (`repo:org/x:ref:refs/heads/main`) may themselves contain ':'. So the provider and sub
/// are taken from their own fields and the audience is what lies between them.
pub fn web_identity<'a>(
    principal_id: Option<&'a str>,
    identity_provider: Option<&'a str>,
    user_name: Option<&'a str>,
    response: &'a WebIdentityResponse<'a>,
) -> WebIdentity<'a> {
    let provider = identity_provider.or(response.provider.get());
    let sub = response.subject_from_web_identity_token.get().or(user_name);
    let aud = response.audience.get().or_else(|| {
        let rest = principal_id?.strip_prefix(provider?)?.strip_prefix(':')?;
        let aud = rest.strip_suffix(sub?)?.strip_suffix(':')?;
        (!aud.is_empty()).then_some(aud)
    });
    WebIdentity { provider, aud, sub }
}

pub use crate::base::arn::{account_from_arn, session_name_from_arn};

/// Calls made by an AWS service on a principal's behalf carry a service name or `AWS Internal`
/// where a client IP would be. Such calls never make a key "foreign".
pub fn is_service_source(source_ip: &str) -> bool {
    if source_ip == "AWS Internal" {
        return true;
    }
    // IPv6 holds hex letters but always ':'; a dotted name with letters is a service host.
    !source_ip.contains(':') && source_ip.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_with_colons_in_sub_and_provider() {
        let resp = WebIdentityResponse::default();
        let provider =
            "arn:aws:iam::774305579662:oidc-provider/token.actions.githubusercontent.com";
        let sub = "repo:ccbrown/cloud-snitch:ref:refs/heads/main";
        let principal = format!("{provider}:sts.amazonaws.com:{sub}");
        let w = web_identity(Some(&principal), Some(provider), Some(sub), &resp);
        assert_eq!(w.provider, Some(provider));
        assert_eq!(w.aud, Some("sts.amazonaws.com"));
        assert_eq!(w.sub, Some(sub));
    }

    #[test]
    fn google_principal() {
        let resp = WebIdentityResponse::default();
        let w = web_identity(
            Some("accounts.google.com:1234567890.apps.googleusercontent.com:1122334455"),
            Some("accounts.google.com"),
            Some("1122334455"),
            &resp,
        );
        assert_eq!(w.aud, Some("1234567890.apps.googleusercontent.com"));
        assert_eq!(w.sub, Some("1122334455"));
    }

    #[test]
    fn response_fields_win() {
        let resp: WebIdentityResponse = serde_json::from_str(
            r#"{"subjectFromWebIdentityToken":"s","audience":"a","provider":"p","credentials":null}"#,
        )
        .unwrap();
        let w = web_identity(None, None, None, &resp);
        assert_eq!(
            (w.provider, w.aud, w.sub),
            (Some("p"), Some("a"), Some("s"))
        );
    }

    #[test]
    fn lenient_fields() {
        let r: Record = serde_json::from_str(
            r#"{"eventID":"e1","eventName":{"odd":1},"errorCode":null,"userIdentity":"x",
                "requestParameters":null,"awsRegion":7,"userAgent":"a\"b"}"#,
        )
        .unwrap();
        assert_eq!(r.event_id.get(), Some("e1"));
        assert_eq!(r.event_name.get(), None);
        assert_eq!(r.error_code.get(), None);
        assert!(r.user_identity.get().is_none());
        assert!(r.request_parameters.is_none());
        assert_eq!(r.aws_region.get(), Some("7"));
        assert_eq!(r.user_agent.get(), Some("a\"b"));
    }

    #[test]
    fn web_id_attributes() {
        let s: SessionContext = serde_json::from_str(
            r#"{"webIdFederationData":{"federatedProvider":"accounts.google.com",
                "attributes":{"accounts.google.com:sub":"42","accounts.google.com:aud":"x"}}}"#,
        )
        .unwrap();
        let w = s.web_id_federation_data.get().unwrap();
        assert_eq!(w.federated_provider.get(), Some("accounts.google.com"));
        let attrs = w.attributes.get().unwrap();
        assert_eq!(attrs.len(), 2);
    }

    #[test]
    fn service_sources() {
        assert!(is_service_source("AWS Internal"));
        assert!(is_service_source("s3.amazonaws.com"));
        assert!(!is_service_source("203.0.113.9"));
        assert!(!is_service_source("2001:db8::1"));
        assert!(!is_service_source("255.18.064.253"));
    }
}
