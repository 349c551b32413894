//! What a fetch reads out of the records LookupEvents returns: the keys an assumption issued
//! (to look their calls up next), a record's time; and what the store must not keep of them.

use crate::analyzer::source::record::{self, Record, WebIdentityResponse};
use crate::base::timefmt::{Millis, parse_event_time, parse_expiration};

/// A key is valid at most 12 hours; assumptions this long before the window can still matter.
pub(super) const KEY_LIFETIME: Millis = 12 * 3600 * 1000;

/// The key an AssumeRoleWithWebIdentity record issued, when, and until when, unless it was
/// issued to a provider other than Google's and `all_providers` is off (a record that names no
/// provider is followed: it may be Google's). Read by the same parser as every record a report
/// reads.
pub(super) fn issued_key(json: &str, all_providers: bool) -> Option<(String, Millis, Millis)> {
    let r: Record = serde_json::from_str(json).ok()?;
    let resp: WebIdentityResponse = record::parse_raw(r.response_elements);
    if !all_providers {
        let ui = r.user_identity.get();
        let who = record::web_identity(
            ui.and_then(|u| u.principal_id.get()),
            ui.and_then(|u| u.identity_provider.get()),
            ui.and_then(|u| u.user_name.get()),
            &resp,
        );
        if who
            .provider
            .is_some_and(|p| p != crate::analyzer::source::record::GOOGLE)
        {
            return None;
        }
    }
    credentials(&r, &resp)
}

/// The key an AssumeRole* record's response carries, when it was issued and until when (a key's
/// longest life when the expiration cannot be read).
pub(super) fn credentials(
    r: &Record<'_>,
    resp: &WebIdentityResponse<'_>,
) -> Option<(String, Millis, Millis)> {
    let creds = resp.credentials.get()?;
    let issued = r.event_time.get().and_then(parse_event_time)?;
    let expires = creds
        .expiration
        .get()
        .and_then(parse_expiration)
        .unwrap_or(issued + KEY_LIFETIME);
    Some((creds.access_key_id.get()?.to_string(), issued, expires))
}

/// The parent key, the key, and when it was issued and expires, of a successful AssumeRole
/// record.
pub(super) fn chained_key(json: &str) -> Option<(String, String, Millis, Millis)> {
    let r: Record = serde_json::from_str(json).ok()?;
    if r.event_name.get() != Some(crate::analyzer::source::record::ASSUME_ROLE)
        || r.error_code.get().is_some()
    {
        return None;
    }
    let parent = r.user_identity.get()?.access_key_id.get()?.to_string();
    let resp: WebIdentityResponse = record::parse_raw(r.response_elements);
    let (key, issued, expires) = credentials(&r, &resp)?;
    Some((parent, key, issued, expires))
}

/// CloudTrail logs the session token an assumption returned. The store never keeps it: no report
/// reads it, and a cache of live credentials is a liability.
pub(super) fn redact_session_token(json: String) -> String {
    if !json.contains("\"sessionToken\"") {
        return json;
    }
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&json) else {
        return json;
    };
    if let Some(t) = v
        .pointer_mut("/responseElements/credentials/sessionToken")
        .filter(|t| t.is_string())
    {
        *t = serde_json::Value::from("(redacted by janus-audit)");
        return v.to_string();
    }
    json
}

pub(super) fn record_time(json: &str) -> Option<Millis> {
    let r: Record = serde_json::from_str(json).ok()?;
    r.event_time.get().and_then(parse_event_time)
}
