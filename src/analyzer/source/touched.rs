//! What a call touched: its `requestParameters` as JSON text, the ARNs of its `resources`, and
//! for S3 the bucket and object key, so that "which bucket and object did this instance read" is
//! a column, not a jq pipeline.
//!
//! Shapes (CloudTrail User Guide, "CloudTrail record contents"; the S3 User Guide's data-event
//! examples): `resources` is a list of `{"ARN", "accountId", "type"}`, for an S3 object
//! `[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::BUCKET/KEY"}, {"type": "AWS::S3::Bucket",
//! "ARN": "arn:aws:s3:::BUCKET", ...}]`; an S3 call's `requestParameters` carries `bucketName`
//! and, for an object, `key`. Both are written by whoever makes the call: they are kept as text
//! and never interpreted beyond that.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::analyzer::source::record::{Obj, Text, try_parse_raw_str};

pub const S3: &str = "s3.amazonaws.com";
const S3_ARN: &str = "arn:aws:s3:::";

/// One call's targets, borrowed from its record where they can be.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Touched<'a> {
    pub request_parameters: Option<Cow<'a, str>>,
    /// `None` when the record has no `resources` list; each entry's `ARN` where it has one.
    pub resources: Option<Vec<Cow<'a, str>>>,
    pub s3_bucket: Option<Cow<'a, str>>,
    pub s3_key: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
struct Resource<'a> {
    #[serde(rename = "ARN", borrow, default)]
    arn: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Request<'a> {
    #[serde(borrow, default)]
    bucket_name: Text<'a>,
    #[serde(borrow, default)]
    key: Text<'a>,
}

/// What a record with these fields touched. Never fails: a field of the wrong shape is absent.
pub fn of<'a>(
    event_source: Option<&str>,
    request: Option<&'a RawValue>,
    resources: Option<&'a RawValue>,
) -> Touched<'a> {
    let resources: Option<Vec<Cow<'a, str>>> = resources.and_then(|raw| {
        let list: Vec<Obj<Resource<'a>>> = serde_json::from_str(raw.get()).ok()?;
        Some(
            list.into_iter()
                .filter_map(|r| r.0?.arn.0.filter(|a| !a.is_empty()))
                .collect(),
        )
    });
    let (mut s3_bucket, mut s3_key) = (None, None);
    if event_source == Some(S3) {
        if let Some(p) = request.and_then(|r| try_parse_raw_str::<S3Request<'a>>(r.get())) {
            s3_bucket = p.bucket_name.0.filter(|b| !b.is_empty());
            s3_key = p.key.0.filter(|k| !k.is_empty());
        }
        // What the request leaves out, the resources' ARNs give: the object's first.
        for arn in resources.iter().flatten() {
            let Some(rest) = arn.strip_prefix(S3_ARN) else {
                continue;
            };
            match rest.split_once('/') {
                Some((bucket, key)) if s3_key.is_none() && !key.is_empty() => {
                    s3_bucket.get_or_insert_with(|| Cow::Owned(bucket.to_string()));
                    s3_key = Some(Cow::Owned(key.to_string()));
                }
                None if s3_bucket.is_none() && !rest.is_empty() => {
                    s3_bucket = Some(Cow::Owned(rest.to_string()));
                }
                _ => {}
            }
        }
    }
    Touched {
        request_parameters: request.map(|r| compact(r.get())),
        resources,
        s3_bucket,
        s3_key,
    }
}

/// JSON text without the whitespace between its tokens, so that a pretty-printed export and
/// CloudTrail's own compact file give one value. Strings are copied byte for byte.
pub fn compact(json: &str) -> Cow<'_, str> {
    let b = json.as_bytes();
    let (mut in_string, mut escaped) = (false, false);
    let mut first_space = None;
    for (i, &c) in b.iter().enumerate() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if c == b'"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            first_space = Some(i);
            break;
        }
    }
    let Some(start) = first_space else {
        return Cow::Borrowed(json);
    };
    let mut out = String::with_capacity(json.len());
    out.push_str(&json[..start]);
    // `in_string` is false here: the scan stopped outside a string.
    let mut escaped = false;
    for ch in json[start..].chars() {
        if in_string {
            out.push(ch);
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            in_string = ch == '"';
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn an_s3_object_read_names_its_bucket_key_and_resources() {
        let req = raw(
            r#"{"bucketName":"logs","Host":"logs.s3.us-east-1.amazonaws.com","key":"a b/c.txt"}"#,
        );
        let res = raw(
            r#"[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::logs/a b/c.txt"},
                {"accountId":"1","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::logs"}]"#,
        );
        let t = of(Some(S3), Some(&req), Some(&res));
        assert_eq!(t.s3_bucket.as_deref(), Some("logs"));
        assert_eq!(t.s3_key.as_deref(), Some("a b/c.txt"));
        assert_eq!(
            t.resources.unwrap(),
            vec!["arn:aws:s3:::logs/a b/c.txt", "arn:aws:s3:::logs"]
        );
        assert_eq!(t.request_parameters.as_deref(), Some(req.get()));
    }

    #[test]
    fn the_resources_give_what_the_request_leaves_out() {
        let res = raw(r#"[{"ARN":"arn:aws:s3:::b"},{"ARN":"arn:aws:s3:::b/k/1"}]"#);
        let t = of(Some(S3), None, Some(&res));
        assert_eq!(
            (t.s3_bucket.as_deref(), t.s3_key.as_deref()),
            (Some("b"), Some("k/1"))
        );
        // Only S3 calls have a bucket: another service's resources are only listed.
        let t = of(Some("kms.amazonaws.com"), None, Some(&res));
        assert_eq!((t.s3_bucket, t.s3_key), (None, None));
    }

    #[test]
    fn fields_of_the_wrong_shape_are_absent_not_fatal() {
        let (text, object) = (raw(r#""text""#), raw(r#"{"ARN":"x"}"#));
        let t = of(Some(S3), Some(&text), Some(&object));
        assert_eq!(t.resources, None);
        assert_eq!((t.s3_bucket, t.s3_key), (None, None));
        assert_eq!(t.request_parameters.as_deref(), Some(r#""text""#));
        let mixed = raw(r#"[1, null, {"ARN": {"x": 7}}, {"type": "x"}, {"ARN": "a"}]"#);
        let t = of(None, None, Some(&mixed));
        assert_eq!(t.resources.unwrap(), vec!["a"]);
        let odd = raw(r#"{"bucketName": {"x": 1}, "key": ""}"#);
        let t = of(Some(S3), Some(&odd), None);
        assert_eq!((t.s3_bucket, t.s3_key), (None, None));
    }

    #[test]
    fn compact_drops_whitespace_between_tokens_only() {
        assert!(matches!(compact(r#"{"a":1}"#), Cow::Borrowed(_)));
        assert_eq!(
            compact("{ \"a b\" : [1,\n 2],\t\"c\\\" d\": \"e\\\\\" , \"f\":\"é x\" }"),
            "{\"a b\":[1,2],\"c\\\" d\":\"e\\\\\",\"f\":\"é x\"}"
        );
        assert_eq!(compact(r#"{"k":"v" }"#), r#"{"k":"v"}"#);
    }
}
