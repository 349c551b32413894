//! Split one decoded log file into records, whatever envelope it came in:
//! `{"Records":[...]}` (S3 delivery), a bare JSON array (console "Event history" download),
//! NDJSON (one record per line), or a single pretty-printed record.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use crate::record::{Obj, Record};

/// Why a buffer is not a CloudTrail log at all.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("not a CloudTrail log: {}", crate::text::reason(.0))]
    NotCloudTrail(String),
    #[error("more than {0} records; raise --max-records-per-file to read this file")]
    TooManyRecords(u64),
}

/// How many unusable records a file lists by position; the rest are only counted.
pub const BAD_LISTED: usize = 20;

/// A record that could not be used, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// "record 3" (0-based index in an array) or "line 17" (NDJSON, 1-based).
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Split<'a> {
    pub records: Vec<Record<'a>>,
    /// The first [`BAD_LISTED`] unusable records.
    pub bad: Vec<BadRecord>,
    /// Every unusable record, listed or not.
    pub bad_count: u64,
    /// The buffer is a CloudTrail digest file; it holds no events.
    pub digest: bool,
    /// Records (usable or not) this split may hold.
    max_records: u64,
    over_limit: bool,
}

/// Deserialises a JSON array of records straight into a [`Split`], with no intermediate `Vec`:
/// a record is ~700 bytes, and moving a million of them twice shows up in profiles.
struct RecordsInto<'s, 'a>(&'s mut Split<'a>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for RecordsInto<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RecordsInto<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of CloudTrail records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(item) = seq.next_element::<Obj<Record<'de>>>()? {
            if !self.0.take(item, i) {
                return Err(serde::de::Error::custom("record limit"));
            }
            i += 1;
        }
        Ok(())
    }
}

/// `{"Records": [...]}`: the array goes through [`RecordsInto`]; other keys are skipped.
struct EnvelopeSeed<'s, 'a>(&'s mut Split<'a>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for EnvelopeSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for EnvelopeSeed<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a {\"Records\": [...]} object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "Records" {
                map.next_value_seed(RecordsInto(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Parse one JSON value with `seed`. A buffer that is valid UTF-8 (checked once, quickly) goes
/// through serde_json's `&str` reader, which then skips re-validating every string it meets;
/// that per-string check was the largest single cost in profiles. Invalid UTF-8 takes the slice
/// reader, which names the offending position.
fn parse_with<'a, T>(
    v: &'a [u8],
    seed: impl DeserializeSeed<'a, Value = T>,
    what: &str,
) -> Result<T, EnvelopeError> {
    fn run<'a, R: serde_json::de::Read<'a>, T>(
        mut de: serde_json::Deserializer<R>,
        seed: impl DeserializeSeed<'a, Value = T>,
    ) -> serde_json::Result<T> {
        let value = seed.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
    match std::str::from_utf8(v) {
        Ok(s) => run(serde_json::Deserializer::from_str(s), seed),
        Err(_) => run(serde_json::Deserializer::from_slice(v), seed),
    }
    .map_err(|e| json_error(e, what))
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    &b[start..]
}

/// S3 delivery always writes `{"Records":[` first; checking the first key avoids a trial parse.
fn starts_with_records_key(b: &[u8]) -> bool {
    let b = skip_ws(&b[1..]);
    b.starts_with(b"\"Records\"")
}

fn looks_like_record(r: &Record<'_>) -> bool {
    r.event_time.get().is_some()
        || r.event_name.get().is_some()
        || r.event_id.get().is_some()
        || r.event_source.get().is_some()
}

fn json_error(e: serde_json::Error, what: &str) -> EnvelopeError {
    match e.classify() {
        Category::Data => EnvelopeError::NotCloudTrail(format!("{what}: {e}")),
        _ => EnvelopeError::Json(e),
    }
}

impl<'a> Split<'a> {
    fn new(max_records: u64) -> Self {
        Split {
            max_records,
            ..Split::default()
        }
    }

    fn held(&self) -> u64 {
        self.records.len() as u64 + self.bad_count
    }

    fn add_bad(&mut self, bad: BadRecord) {
        self.bad_count += 1;
        if self.bad.len() < BAD_LISTED {
            self.bad.push(bad);
        }
    }

    /// Keep one item of a records array; false once the file holds more than it may.
    fn take(&mut self, item: Obj<Record<'a>>, i: usize) -> bool {
        if self.held() >= self.max_records {
            self.over_limit = true;
            return false;
        }
        match item.0 {
            Some(r) if r.digest_start_time.is_some() => self.digest = true,
            Some(r) if looks_like_record(&r) => self.records.push(r),
            Some(_) => self.add_bad(BadRecord {
                at: format!("record {i}"),
                reason: "object has no CloudTrail record fields".into(),
            }),
            None => self.add_bad(BadRecord {
                at: format!("record {i}"),
                reason: "not a JSON object".into(),
            }),
        }
        true
    }

    /// A parse error, unless it was the record limit that stopped the parse.
    fn limit_or(&self, e: EnvelopeError) -> EnvelopeError {
        if self.over_limit {
            EnvelopeError::TooManyRecords(self.max_records)
        } else {
            e
        }
    }

    /// One JSON value: an envelope, an array of records, or one record.
    fn value(&mut self, v: &'a [u8]) -> Result<(), EnvelopeError> {
        match v.first() {
            Some(b'{') if starts_with_records_key(v) => {
                // ~1 KB per record: reserve once instead of regrowing.
                self.records.reserve(v.len() / 1024);
                let what = "\"Records\" is not an array of records";
                parse_with(v, EnvelopeSeed(self), what).map_err(|e| self.limit_or(e))?;
            }
            Some(b'[') => {
                self.records.reserve(v.len() / 1024);
                let what = "array of records expected";
                parse_with(v, RecordsInto(self), what).map_err(|e| self.limit_or(e))?;
            }
            Some(b'{') => {
                let r: Record = parse_with(v, std::marker::PhantomData, "record")?;
                if r.digest_start_time.is_some() {
                    self.digest = true;
                } else if looks_like_record(&r) {
                    self.records.push(r);
                } else {
                    return Err(EnvelopeError::NotCloudTrail(
                        "a JSON object with neither a \"Records\" array nor CloudTrail record fields"
                            .into(),
                    ));
                }
            }
            Some(_) => {
                return Err(EnvelopeError::NotCloudTrail(
                    "expected a JSON object or array".into(),
                ));
            }
            None => {}
        }
        Ok(())
    }
}

/// True when a parse error names a value `repair::null_unreadable` can turn into null.
pub fn repairable(message: &str) -> bool {
    [
        "surrogate",
        "hex escape",
        "unicode code point",
        "number out of range",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Split a decoded file into records, at most `max_records` of them. A syntax error in a
/// single-value file fails the file; in NDJSON each line stands alone, so a damaged line costs
/// only that line.
pub fn split(buf: &[u8], max_records: u64) -> Result<Split<'_>, EnvelopeError> {
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    let body = skip_ws(buf);
    let mut out = Split::new(max_records);
    if body.is_empty() {
        return Ok(out);
    }
    let first_line_end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let first_line = body[..first_line_end].trim_ascii();
    let more_after = !skip_ws(&body[first_line_end..]).is_empty();
    let ndjson = more_after && first_line.starts_with(b"{") && first_line.ends_with(b"}");
    if !ndjson {
        match out.value(body) {
            // Concatenated documents (`cat a.json.gz b.json.gz` is a valid gzip of two members,
            // each a whole `{"Records":[…]}`): read each one.
            Err(EnvelopeError::Json(e)) if e.to_string().starts_with("trailing characters") => {
                out = Split::new(max_records);
                let docs = serde_json::Deserializer::from_slice(body)
                    .into_iter::<&serde_json::value::RawValue>();
                for doc in docs {
                    out.value(doc.map_err(EnvelopeError::Json)?.get().as_bytes())?;
                }
            }
            other => other?,
        }
    } else {
        for (n, line) in body.split(|&c| c == b'\n').enumerate() {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            if out.held() >= max_records {
                return Err(EnvelopeError::TooManyRecords(max_records));
            }
            let mut one = Split::new(max_records - out.held());
            match one.value(line) {
                Ok(()) => {
                    out.records.append(&mut one.records);
                    out.digest |= one.digest;
                    for b in one.bad {
                        out.add_bad(BadRecord {
                            at: format!("line {} {}", n + 1, b.at),
                            ..b
                        });
                    }
                    out.bad_count += one.bad_count - one.bad_count.min(BAD_LISTED as u64);
                }
                Err(e @ EnvelopeError::TooManyRecords(_)) => return Err(e),
                Err(e) => out.add_bad(BadRecord {
                    at: format!("line {}", n + 1),
                    reason: e.to_string(),
                }),
            }
        }
    }
    if out.records.is_empty() && !out.bad.is_empty() && !out.digest {
        let first = &out.bad[0];
        return Err(EnvelopeError::NotCloudTrail(format!(
            "no usable record ({} bad; first at {}: {})",
            out.bad_count, first.at, first.reason
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: &str = r#"{"eventVersion":"1.08","eventID":"a","eventTime":"2025-01-01T00:00:00Z","eventName":"X"}"#;

    #[test]
    fn s3_envelope() {
        let s = format!(r#"{{"Records":[{REC},{REC}]}}"#);
        let out = split(s.as_bytes(), u64::MAX).unwrap();
        assert_eq!(out.records.len(), 2);
        assert!(out.bad.is_empty());
    }

    #[test]
    fn bare_array_and_pretty_single_record() {
        let s = format!("[{REC}]");
        assert_eq!(split(s.as_bytes(), u64::MAX).unwrap().records.len(), 1);
        let pretty = "{\n  \"eventID\": \"a\",\n  \"eventName\": \"X\"\n}\n";
        assert_eq!(split(pretty.as_bytes(), u64::MAX).unwrap().records.len(), 1);
    }

    #[test]
    fn ndjson_keeps_good_lines() {
        let s = format!("{REC}\n{{broken\n\n{REC}\n");
        let out = split(s.as_bytes(), u64::MAX).unwrap();
        assert_eq!(out.records.len(), 2);
        assert_eq!(out.bad.len(), 1);
        assert_eq!(out.bad[0].at, "line 2");
    }

    #[test]
    fn not_cloudtrail() {
        for bad in [
            r#"{"Records":"x"}"#,
            r#"{"hello":"world"}"#,
            r#"[1,2,3]"#,
            r#""just a string""#,
        ] {
            match split(bad.as_bytes(), u64::MAX) {
                Err(EnvelopeError::NotCloudTrail(_)) => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_json() {
        match split(br#"{"Records":[{"eventID":"a""#, u64::MAX) {
            Err(EnvelopeError::Json(_)) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn digest_by_content() {
        let out = split(
            br#"{"awsAccountId":"1","digestStartTime":"2020-09-11T18:36:49Z","logFiles":[]}"#,
            u64::MAX,
        )
        .unwrap();
        assert!(out.digest);
        assert!(out.records.is_empty());
    }

    #[test]
    fn empty_envelope_is_fine() {
        assert!(
            split(br#"{"Records":[]}"#, u64::MAX)
                .unwrap()
                .records
                .is_empty()
        );
        assert!(split(b"  \n", u64::MAX).unwrap().records.is_empty());
    }

    #[test]
    fn concatenated_documents_are_all_read() {
        let s = format!(r#"{{"Records":[{REC}]}}{{"Records":[{REC},{REC}]}}"#);
        assert_eq!(split(s.as_bytes(), u64::MAX).unwrap().records.len(), 3);
        let bad = format!(r#"{{"Records":[{REC}]}} junk"#);
        assert!(matches!(
            split(bad.as_bytes(), u64::MAX),
            Err(EnvelopeError::Json(_))
        ));
    }

    /// True when the error (or a bad record's reason) is one `repair::null_unreadable` fixes.
    #[test]
    fn repairable_errors_are_recognised() {
        let e = split(
            br#"{"Records":[{"eventID":"a","userAgent":"\ud83d"}]}"#,
            u64::MAX,
        )
        .unwrap_err();
        assert!(repairable(&e.to_string()), "{e}");
        let e = split(
            br#"{"Records":[{"eventID":"a","awsRegion":1e999}]}"#,
            u64::MAX,
        )
        .unwrap_err();
        assert!(repairable(&e.to_string()), "{e}");
    }

    #[test]
    fn record_limit_and_listed_bad_records() {
        let s = format!(r#"{{"Records":[{REC},{REC},{REC}]}}"#);
        assert_eq!(split(s.as_bytes(), 3).unwrap().records.len(), 3);
        assert!(matches!(
            split(s.as_bytes(), 2),
            Err(EnvelopeError::TooManyRecords(2))
        ));
        let nd = format!("{REC}\n{REC}\n{REC}\n");
        assert!(matches!(
            split(nd.as_bytes(), 2),
            Err(EnvelopeError::TooManyRecords(2))
        ));
        // 1000 unusable records: all counted, the first few listed.
        let mut many = format!(r#"{{"Records":[{REC}"#);
        for _ in 0..1000 {
            many.push_str(",{}");
        }
        many.push_str("]}");
        let out = split(many.as_bytes(), u64::MAX).unwrap();
        assert_eq!(out.bad_count, 1000);
        assert_eq!(out.bad.len(), BAD_LISTED);
    }
}
