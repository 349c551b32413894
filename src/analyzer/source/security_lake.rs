//! Amazon Security Lake's CloudTrail sources (`CLOUD_TRAIL_MGMT`, `S3_DATA`: OCSF 1.1 API
//! Activity, class 6003, in Parquet) read back into CloudTrail records, so that every report,
//! the de-duplication and Sigma rules see what they see in CloudTrail's own JSON.
//!
//! The way back is AWS's published CloudTrail-to-OCSF mapping read in reverse (docs/GUIDE.md,
//! "Security Lake as a source", has the table): `api.operation` is `eventName`, `actor.user.uid`
//! `userIdentity.arn`, `api.request.data` `requestParameters`, and so on. What the mapping does
//! not name is in `unmapped`, a map of strings, by its CloudTrail path (`recipientAccountId`,
//! `userIdentity.sessionContext.sessionIssuer.type`); each entry is put back at its path, an
//! entry holding an object or array as that JSON. `actor.idp.name` is the web identity's
//! provider: `identityProvider` for a `WebIdentityUser` (the AssumeRoleWithWebIdentity itself),
//! else the session's `webIdFederationData.federatedProvider`.

use std::io::Cursor;

use polars::prelude::*;
use serde_json::{Map, Value, json};

/// What reading one Parquet file gave.
#[derive(Debug, Default)]
pub struct Read {
    /// One CloudTrail record a line.
    pub ndjson: Vec<u8>,
    /// Rows of another OCSF class than API Activity (6003), not CloudTrail's.
    pub other_classes: u64,
}

/// Whether the buffer is a Parquet file.
pub fn is_parquet(buf: &[u8]) -> bool {
    buf.starts_with(b"PAR1")
}

/// Stack for decoding one file: polars decodes nested columns recursively, and a report's
/// reading threads (rayon's) have 2 MiB, which OCSF's structs in structs in lists overflowed in
/// a debug build.
const DECODE_STACK: usize = 64 << 20;

/// The CloudTrail records of a Security Lake Parquet file; an error says, in words, why the
/// file is not one.
pub fn read(buf: &[u8]) -> Result<Read, String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("security-lake".into())
            .stack_size(DECODE_STACK)
            .spawn_scoped(s, || decode(buf))
            .map_err(|e| format!("cannot start a reader: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("the Parquet decoder failed on this file".into()))
    })
}

fn decode(buf: &[u8]) -> Result<Read, String> {
    let mut df = ParquetReader::new(Cursor::new(buf))
        .read_parallel(ParallelStrategy::None)
        .finish()
        .map_err(|e| {
            format!(
                "Parquet that cannot be read: {}",
                crate::base::text::excerpt(&e.to_string())
            )
        })?;
    for needed in ["class_uid", "api", "metadata"] {
        if df.column(needed).is_err() {
            return Err(format!(
                "Parquet without OCSF's `{needed}`: not a Security Lake source"
            ));
        }
    }
    let mut lines = Vec::new();
    JsonWriter::new(&mut lines)
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut df)
        .map_err(|e| {
            format!(
                "cannot read its rows: {}",
                crate::base::text::excerpt(&e.to_string())
            )
        })?;
    let mut out = Read::default();
    for line in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let row: Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        match record(&row) {
            Some(r) => {
                serde_json::to_writer(&mut out.ndjson, &r).map_err(|e| e.to_string())?;
                out.ndjson.push(b'\n');
            }
            None => out.other_classes += 1,
        }
    }
    Ok(out)
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

fn text(v: &Value, path: &str) -> Option<Value> {
    at(v, path).map(|x| match x {
        Value::String(_) => x.clone(),
        other => Value::String(other.to_string()),
    })
}

/// A time as OCSF's Parquet holds it (epoch ms, or the text a writer made of a timestamp),
/// as CloudTrail writes it.
fn time(v: &Value, path: &str) -> Option<Value> {
    let ms = match at(v, path)? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => parse_time(s)?,
        _ => return None,
    };
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    let fmt = match ms % 1000 {
        0 => "%Y-%m-%dT%H:%M:%SZ",
        _ => "%Y-%m-%dT%H:%M:%S%.3fZ",
    };
    Some(Value::String(t.format(fmt).to_string()))
}

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        return Some(t.timestamp_millis());
    }
    let s = s.trim().trim_end_matches(" UTC").trim_end_matches('Z');
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

/// Put `value` at the dotted `path` of `out`, unless something is there already.
fn put(out: &mut Map<String, Value>, path: &str, value: Option<Value>) {
    let Some(value) = value else { return };
    let mut parts = path.split('.').peekable();
    let mut obj = out;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            obj.entry(p.to_string()).or_insert(value);
            return;
        }
        let next = obj
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(m) = next else { return };
        obj = m;
    }
}

/// A JSON text where CloudTrail has an object, read back as one (text that is not JSON stays
/// text).
fn json_text(v: &Value, path: &str) -> Option<Value> {
    let s = at(v, path)?;
    Some(match s.as_str() {
        Some(t) => serde_json::from_str(t).unwrap_or_else(|_| s.clone()),
        None => s.clone(),
    })
}

/// One OCSF API Activity row as the CloudTrail record it was made from; `None` for a row of
/// another class.
fn record(o: &Value) -> Option<Value> {
    if at(o, "class_uid").and_then(Value::as_i64) != Some(6003) {
        return None;
    }
    let mut r = Map::new();
    for (ct, value) in mapped(o) {
        put(&mut r, ct, value);
    }
    if let Some(Value::Array(res)) = at(o, "resources") {
        let back: Vec<Value> = res
            .iter()
            .map(|x| {
                let mut m = Map::new();
                put(&mut m, "ARN", text(x, "uid"));
                put(&mut m, "accountId", text(x, "owner.account.uid"));
                put(&mut m, "type", text(x, "type"));
                Value::Object(m)
            })
            .collect();
        r.insert("resources".into(), Value::Array(back));
    }
    for (key, value) in unmapped(o) {
        let value = match value.trim_start().as_bytes().first() {
            Some(b'{' | b'[') => serde_json::from_str(&value).unwrap_or(Value::String(value)),
            _ => Value::String(value),
        };
        put(&mut r, &key, Some(value));
    }
    Some(Value::Object(r))
}

/// Each CloudTrail field the mapping names, from its OCSF field.
fn mapped(o: &Value) -> Vec<(&'static str, Option<Value>)> {
    let web_identity = at(o, "actor.user.type").and_then(Value::as_str) == Some("WebIdentityUser");
    vec![
        ("eventVersion", text(o, "metadata.product.version")),
        ("eventID", text(o, "metadata.uid")),
        ("eventTime", time(o, "time")),
        ("eventType", text(o, "metadata.event_code")),
        ("eventSource", text(o, "api.service.name")),
        ("eventName", text(o, "api.operation")),
        ("awsRegion", text(o, "cloud.region")),
        (
            "sourceIPAddress",
            text(o, "src_endpoint.ip").or_else(|| text(o, "src_endpoint.domain")),
        ),
        ("vpcEndpointId", text(o, "src_endpoint.uid")),
        ("userAgent", text(o, "http_request.user_agent")),
        ("errorCode", text(o, "api.response.error")),
        ("errorMessage", text(o, "api.response.message")),
        ("requestID", text(o, "api.request.uid")),
        ("apiVersion", text(o, "api.version")),
        ("requestParameters", json_text(o, "api.request.data")),
        ("responseElements", json_text(o, "api.response.data")),
        ("userIdentity.type", text(o, "actor.user.type")),
        ("userIdentity.principalId", text(o, "actor.user.uid_alt")),
        ("userIdentity.arn", text(o, "actor.user.uid")),
        ("userIdentity.accountId", text(o, "actor.user.account.uid")),
        (
            "userIdentity.accessKeyId",
            text(o, "actor.user.credential_uid"),
        ),
        ("userIdentity.userName", text(o, "actor.user.name")),
        ("userIdentity.invokedBy", text(o, "actor.invoked_by")),
        (
            match web_identity {
                true => "userIdentity.identityProvider",
                false => "userIdentity.sessionContext.webIdFederationData.federatedProvider",
            },
            text(o, "actor.idp.name"),
        ),
        (
            "userIdentity.sessionContext.sessionIssuer.arn",
            text(o, "actor.session.issuer"),
        ),
        (
            "userIdentity.sessionContext.attributes.creationDate",
            time(o, "actor.session.created_time_dt")
                .or_else(|| time(o, "actor.session.created_time")),
        ),
        (
            "userIdentity.sessionContext.attributes.mfaAuthenticated",
            at(o, "actor.session.is_mfa").map(|b| json!(b.to_string())),
        ),
    ]
}

/// `unmapped` as written to JSON from Parquet's map (a list of key/value pairs), or as an
/// object.
fn unmapped(o: &Value) -> Vec<(String, String)> {
    let entry = |k: &Value, v: &Value| {
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Null => return None,
            other => other.to_string(),
        };
        Some((k.as_str()?.to_string(), v))
    };
    match at(o, "unmapped") {
        Some(Value::Array(pairs)) => pairs
            .iter()
            .filter_map(|p| entry(p.get("key")?, p.get("value")?))
            .collect(),
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| entry(&Value::String(k.clone()), v))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_web_identity_assumption_and_a_federated_call_come_back_as_cloudtrail_wrote_them() {
        let assume = json!({
            "class_uid": 6003, "time": 1_791_446_400_000i64,
            "metadata": {"uid": "e-1", "product": {"version": "1.08"}, "event_code": "AwsApiCall"},
            "api": {"operation": "AssumeRoleWithWebIdentity", "service": {"name": "sts.amazonaws.com"},
                    "request": {"data": "{\"roleArn\":\"arn:aws:iam::1:role/r\",\"roleSessionName\":\"p.vm-1\"}"},
                    "response": {"data": "{\"credentials\":{\"accessKeyId\":\"ASIAX\"}}"}},
            "actor": {"user": {"type": "WebIdentityUser", "name": "1234", "uid_alt": "accounts.google.com:aud:1234"},
                      "idp": {"name": "accounts.google.com"}},
            "src_endpoint": {"ip": "34.1.2.3"}, "cloud": {"region": "us-east-1"},
            "unmapped": [{"key": "recipientAccountId", "value": "012345678901"}],
        });
        let r = record(&assume).unwrap();
        assert_eq!(r["eventTime"], "2026-10-08T08:00:00Z");
        assert_eq!(r["userIdentity"]["identityProvider"], "accounts.google.com");
        assert_eq!(r["userIdentity"]["userName"], "1234");
        assert_eq!(r["requestParameters"]["roleSessionName"], "p.vm-1");
        assert_eq!(r["responseElements"]["credentials"]["accessKeyId"], "ASIAX");
        // An account ID keeps its leading zero: unmapped values stay text.
        assert_eq!(r["recipientAccountId"], "012345678901");
        let call = json!({
            "class_uid": 6003, "time": "2026-10-08T08:01:00.500+00:00",
            "metadata": {"uid": "e-2"},
            "api": {"operation": "GetObject", "service": {"name": "s3.amazonaws.com"}},
            "actor": {"user": {"type": "AssumedRole", "credential_uid": "ASIAX", "uid": "arn:aws:sts::1:assumed-role/r/p.vm-1"},
                      "session": {"created_time_dt": 1_791_446_400_000i64, "issuer": "arn:aws:iam::1:role/r", "is_mfa": false},
                      "idp": {"name": "accounts.google.com"}},
            "src_endpoint": {"domain": "s3.amazonaws.com"},
            "unmapped": {"userIdentity.sessionContext.sessionIssuer.type": "Role",
                         "userIdentity.sessionContext.webIdFederationData.attributes": "{\"accounts.google.com:sub\":\"1234\"}",
                         "additionalEventData": "{\"MFAUsed\":\"No\"}"},
        });
        let r = record(&call).unwrap();
        assert_eq!(r["eventTime"], "2026-10-08T08:01:00.500Z");
        assert_eq!(r["sourceIPAddress"], "s3.amazonaws.com");
        let ctx = &r["userIdentity"]["sessionContext"];
        assert_eq!(ctx["attributes"]["creationDate"], "2026-10-08T08:00:00Z");
        assert_eq!(ctx["attributes"]["mfaAuthenticated"], "false");
        assert_eq!(ctx["sessionIssuer"]["type"], "Role");
        assert_eq!(
            ctx["webIdFederationData"]["federatedProvider"],
            "accounts.google.com"
        );
        assert_eq!(
            ctx["webIdFederationData"]["attributes"]["accounts.google.com:sub"],
            "1234"
        );
        assert_eq!(r["additionalEventData"]["MFAUsed"], "No");
        assert!(record(&json!({"class_uid": 3002})).is_none());
    }
}
