//! Split one decoded log file into records, whatever envelope it came in:
//! `{"Records":[...]}` (S3 delivery; `Records` in any place among the keys), a bare JSON array
//! (console "Event history" download), NDJSON (one record per line), or a single pretty-printed
//! record; and the envelopes users export ([`unwrap_exports`]): EventBridge events, `aws
//! cloudtrail lookup-events` output, CloudWatch Logs subscription and Firehose records, and
//! Logstash/Elastic documents that carry the record as text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;

use crate::analyzer::source::record::{Obj, Record};

/// Why a buffer is not a CloudTrail log at all.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("not a CloudTrail log: {}", crate::base::text::reason(.0))]
    NotCloudTrail(String),
    #[error("more than {0} records; raise --max-records-per-file to read this file")]
    TooManyRecords(u64),
}

/// How many unusable records a file lists by position; the rest are only counted.
pub const BAD_LISTED: usize = 20;

/// What a buffer that is no CloudTrail log looks like, for the message that names it.
pub fn looks_like(buf: &[u8]) -> &'static str {
    let body = skip_ws(buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf));
    let head = &body[..body.len().min(64 << 10)];
    let has = |needle: &[u8]| memchr::memmem::find(head, needle).is_some();
    if body.starts_with(b"PAR1") {
        "Parquet"
    } else if has(b"\"class_uid\"") && has(b"\"metadata\"") {
        "OCSF"
    } else if body.starts_with(b"{") || body.starts_with(b"[") {
        "JSON without CloudTrail records"
    } else if head.contains(&0) {
        "binary data"
    } else if std::str::from_utf8(head.split(|&b| b == b'\n').next().unwrap_or_default())
        .is_ok_and(|line| line.contains(',') || line.contains('\t'))
    {
        "CSV or other delimited text"
    } else {
        "text that is not JSON"
    }
}

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
    /// Each record's own JSON text, beside `records`, when asked for ([`split_with_texts`]).
    pub texts: Option<Vec<&'a str>>,
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
        if self.0.texts.is_some() {
            // Each record's text is kept (for Sigma rules, which may name any field): found
            // whole first, then read; a record that cannot be read is counted, as one by one.
            use serde_json::value::RawValue;
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                if !self.0.take_text(raw.get(), i) {
                    return Err(serde::de::Error::custom("record limit"));
                }
                i += 1;
            }
            return Ok(());
        }
        while let Some(item) = seq.next_element::<Obj<Record<'de>>>()? {
            if !self.0.take(item, i, None) {
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

/// Whether an object has a top-level `"Records"` key, wherever it stands among the others.
fn has_records_key(v: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Keys {
        #[serde(rename = "Records")]
        records: Option<IgnoredAny>,
    }
    serde_json::from_slice::<Keys>(v).is_ok_and(|k| k.records.is_some())
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
    fn new(max_records: u64, texts: bool) -> Self {
        Split {
            max_records,
            texts: texts.then(Vec::new),
            ..Split::default()
        }
    }

    fn push(&mut self, r: Record<'a>, text: Option<&'a str>) {
        self.records.push(r);
        if let Some(t) = self.texts.as_mut() {
            t.push(text.unwrap_or_default());
        }
    }

    /// [`Split::take`] of a record's text, read here.
    fn take_text(&mut self, text: &'a str, i: usize) -> bool {
        match serde_json::from_str::<Obj<Record<'a>>>(text) {
            Ok(item) => self.take(item, i, Some(text)),
            Err(e) => {
                self.add_bad(BadRecord {
                    at: format!("record {i}"),
                    reason: e.to_string(),
                });
                true
            }
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
    fn take(&mut self, item: Obj<Record<'a>>, i: usize, text: Option<&'a str>) -> bool {
        if self.held() >= self.max_records {
            self.over_limit = true;
            return false;
        }
        match item.0 {
            Some(r) if r.digest_start_time.is_some() => self.digest = true,
            Some(r) if looks_like_record(&r) => self.push(r, text),
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

    /// Where a parse of many records that failed as a whole may be taken up again one record at
    /// a time: what it held before that parse began.
    fn mark(&self) -> (usize, usize, u64, bool) {
        (
            self.records.len(),
            self.bad.len(),
            self.bad_count,
            self.digest,
        )
    }

    fn undo(&mut self, m: (usize, usize, u64, bool)) {
        self.records.truncate(m.0);
        if let Some(t) = self.texts.as_mut() {
            t.truncate(m.0);
        }
        self.bad.truncate(m.1);
        self.bad_count = m.2;
        self.digest = m.3;
    }

    /// A records array that did not parse as a whole because of one record (a key written twice,
    /// which JSON readers resolve differently, so no reading of it can be trusted): each record
    /// parsed on its own, the ones that cannot be used counted and named, the rest kept. `None`
    /// when the array itself cannot be found (the file's own error stands).
    fn one_by_one(&mut self, v: &'a [u8], envelope: bool) -> Option<()> {
        use serde_json::value::RawValue;
        #[derive(serde::Deserialize)]
        struct Env<'r> {
            #[serde(rename = "Records", borrow)]
            records: Vec<&'r RawValue>,
        }
        let text = std::str::from_utf8(v).ok()?;
        let items: Vec<&'a RawValue> = match envelope {
            true => serde_json::from_str::<Env<'a>>(text).ok()?.records,
            false => serde_json::from_str(text).ok()?,
        };
        for (i, raw) in items.into_iter().enumerate() {
            if !self.take_text(raw.get(), i) {
                return None;
            }
        }
        Some(())
    }

    /// The records of `{"Records": [...]}` (`envelope`) or of a bare array: parsed as a whole,
    /// and when one record spoils that, one record at a time ([`Split::one_by_one`]).
    fn array(&mut self, v: &'a [u8], envelope: bool) -> Result<(), EnvelopeError> {
        // ~1 KB per record: reserve once instead of regrowing.
        self.records.reserve(v.len() / 1024);
        let m = self.mark();
        let parsed = match envelope {
            true => parse_with(
                v,
                EnvelopeSeed(self),
                "\"Records\" is not an array of records",
            ),
            false => parse_with(v, RecordsInto(self), "array of records expected"),
        };
        match parsed {
            Err(EnvelopeError::NotCloudTrail(_))
                if !self.over_limit && {
                    self.undo(m);
                    self.one_by_one(v, envelope).is_some()
                } =>
            {
                Ok(())
            }
            other => other.map_err(|e| self.limit_or(e)),
        }
    }

    /// One JSON value: an envelope, an array of records, or one record.
    fn value(&mut self, v: &'a [u8]) -> Result<(), EnvelopeError> {
        match v.first() {
            Some(b'{') if starts_with_records_key(v) => self.array(v, true)?,
            Some(b'[') => self.array(v, false)?,
            Some(b'{') => {
                let r: Record = parse_with(v, std::marker::PhantomData, "record")?;
                if r.digest_start_time.is_some() {
                    self.digest = true;
                } else if looks_like_record(&r) {
                    self.push(r, std::str::from_utf8(v).ok());
                } else if has_records_key(v) {
                    // `{"Count": 2, "Records": [...]}`, or keys sorted when re-serialised.
                    self.array(v, true)?;
                } else {
                    return Err(EnvelopeError::NotCloudTrail(format!(
                        "{}: neither a \"Records\" array nor CloudTrail record fields",
                        looks_like(v)
                    )));
                }
            }
            Some(_) => {
                return Err(EnvelopeError::NotCloudTrail(format!(
                    "{}: expected a JSON object or array",
                    looks_like(v)
                )));
            }
            None => {}
        }
        Ok(())
    }
}

/// The records of exported envelopes, as NDJSON (each record compact on its line), when `buf`
/// holds at least one; `None` leaves `buf` to [`split`] as it is. Read: EventBridge events
/// (`{"detail-type": …, "detail": {record}}`, one per file or one per line, as archives and S3
/// targets store them); `aws cloudtrail lookup-events` output (`{"Events": [{"CloudTrailEvent":
/// "<record as text>"}]}`); CloudWatch Logs subscription and Firehose records (`{"messageType":
/// "DATA_MESSAGE", "logEvents": [{"message": "<record as text>"}]}`, concatenated when several
/// were gzipped together; `CONTROL_MESSAGE`s hold no events); Logstash/Elastic documents that
/// carry the record as text (`message`, or `event.original`). Every other value is passed on as
/// it is. Only the rare files that name one of these envelopes' keys near their start are parsed
/// here, so S3 deliveries, arrays and plain NDJSON pay one short scan.
pub fn unwrap_exports(buf: &[u8]) -> Option<Vec<u8>> {
    let body = skip_ws(buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf));
    if !looks_exported(body) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut unwrapped = false;
    // One value per line where the first line is one (NDJSON: a broken line costs only that
    // line), else every value of the buffer in turn.
    let first = body.split(|&b| b == b'\n').next().unwrap_or_default();
    if serde_json::from_slice::<serde::de::IgnoredAny>(first).is_ok() {
        for line in body.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(v) => unwrapped |= unwrap_one(v, &mut out),
                // Passed on for the splitter to count and name.
                Err(_) => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
        }
    } else {
        for v in serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>() {
            match v {
                Ok(v) => unwrapped |= unwrap_one(v, &mut out),
                Err(_) => return None,
            }
        }
    }
    unwrapped.then_some(out)
}

/// Whether `body` (white space skipped) can be an export: an object that is not CloudTrail's own
/// `{"Records": ...}` and names, near its start, a field only an export's wrapper has.
fn looks_exported(body: &[u8]) -> bool {
    if !body.starts_with(b"{") || starts_with_records_key(body) {
        return false;
    }
    let head = &body[..body.len().min(64 << 10)];
    const MARKS: [&[u8]; 5] = [
        b"\"detail-type\"",
        b"\"logEvents\"",
        b"\"CloudTrailEvent\"",
        b"\"@timestamp\"",
        b"\"original\"",
    ];
    MARKS
        .iter()
        .any(|m| memchr::memmem::find(head, m).is_some())
}

/// One value written to `out` as a line.
fn emit(v: &serde_json::Value, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, v).expect("a value");
    out.push(b'\n');
}

/// A record carried as text: parsed when it is JSON, else passed on as the string it is (a line
/// the splitter counts as unusable).
fn text(s: &str, out: &mut Vec<u8>) {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) if v.is_object() => serde_json::to_writer(&mut *out, &v),
        _ => serde_json::to_writer(&mut *out, s),
    }
    .expect("a value");
    out.push(b'\n');
}

/// The records of one exported value, as lines of `out`: an EventBridge event's `detail`,
/// `lookup-events`' `Events`, a CloudWatch Logs subscription's `logEvents` (not its control
/// messages), an Elastic/Logstash document's original, a CloudTrail file's `Records`, else the
/// value itself. True when it was a wrapper.
fn unwrap_one(v: serde_json::Value, out: &mut Vec<u8>) -> bool {
    use serde_json::Value;
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    if let (Some(detail), true) = (v.get("detail"), v.get("detail-type").is_some()) {
        emit(detail, out);
    } else if let Some(events) = v.get("Events").and_then(Value::as_array) {
        for e in events {
            match str_of(e, "CloudTrailEvent") {
                Some(s) => text(&s, out),
                None => emit(e, out),
            }
        }
    } else if let Some(logs) = v.get("logEvents").and_then(Value::as_array) {
        if str_of(&v, "messageType").as_deref() != Some("CONTROL_MESSAGE") {
            for e in logs {
                match str_of(e, "message") {
                    Some(s) => text(&s, out),
                    None => emit(e, out),
                }
            }
        }
    } else if let Some(s) = v
        .get("event")
        .and_then(|e| e.get("original"))
        .and_then(Value::as_str)
        .or_else(|| {
            (v.get("eventVersion").is_none() && v.get("eventTime").is_none())
                .then(|| v.get("message").and_then(Value::as_str))
                .flatten()
        })
    {
        text(s, out);
    } else {
        if let Some(records) = v.get("Records").and_then(Value::as_array) {
            for r in records {
                emit(r, out);
            }
        } else {
            emit(&v, out);
        }
        return false;
    }
    true
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
    split_with_texts(buf, max_records, false)
}

/// [`split`], keeping each record's own JSON text (`texts`) when `texts`.
pub fn split_with_texts(
    buf: &[u8],
    max_records: u64,
    texts: bool,
) -> Result<Split<'_>, EnvelopeError> {
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    let body = skip_ws(buf);
    let mut out = Split::new(max_records, texts);
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
                out = Split::new(max_records, texts);
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
            let mut one = Split::new(max_records - out.held(), texts);
            match one.value(line) {
                Ok(()) => {
                    out.records.append(&mut one.records);
                    if let (Some(all), Some(these)) = (out.texts.as_mut(), one.texts.as_mut()) {
                        all.append(these);
                    }
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
    fn records_anywhere_among_the_keys() {
        let s = format!(r#"{{"Count":2,"Records":[{REC},{REC}],"Z":1}}"#);
        assert_eq!(split(s.as_bytes(), u64::MAX).unwrap().records.len(), 2);
    }

    #[test]
    fn exported_envelopes_become_records() {
        let text = serde_json::to_string(REC).unwrap();
        for (shape, n) in [
            (
                format!(r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{REC}}}"#),
                1,
            ),
            (
                format!(
                    r#"{{"Events":[{{"CloudTrailEvent":{text}}},{{"CloudTrailEvent":{text}}}]}}"#
                ),
                2,
            ),
            (
                format!(
                    r#"{{"messageType":"CONTROL_MESSAGE","logEvents":[{{"message":"CWL CONTROL MESSAGE"}}]}}{{"messageType":"DATA_MESSAGE","logEvents":[{{"message":{text}}}]}}"#
                ),
                1,
            ),
            (
                format!(r#"{{"@timestamp":"x","event":{{"original":{text}}}}}"#),
                1,
            ),
        ] {
            let flat = unwrap_exports(shape.as_bytes()).unwrap_or_else(|| panic!("{shape}"));
            assert_eq!(split(&flat, u64::MAX).unwrap().records.len(), n, "{shape}");
        }
        // An S3 delivery, an array and plain records are left to split as they are.
        for plain in [
            format!(r#"{{"Records":[{REC}]}}"#),
            format!("[{REC}]"),
            REC.to_string(),
        ] {
            assert!(unwrap_exports(plain.as_bytes()).is_none(), "{plain}");
        }
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
