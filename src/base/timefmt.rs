//! Timestamps as CloudTrail writes them, and the `--since/--until` window.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Milliseconds since the Unix epoch, UTC: the unit of every time column.
pub type Millis = i64;

/// The one text form of a time this tool writes: RFC 3339, UTC, whole seconds, `Z`.
pub const RFC3339: &str = "%Y-%m-%dT%H:%M:%SZ";

/// `eventTime` and `creationDate`: ISO-8601 / RFC 3339, normally `2025-03-06T02:25:06Z`. The
/// forms exports write are read too where their meaning is plain: a space for the `T`, any
/// number of fractional digits, and no zone at all (Athena, Spark and spreadsheet exports drop
/// the `Z`; CloudTrail writes every time in UTC, so a time without a zone is UTC).
pub fn parse_event_time(s: &str) -> Option<Millis> {
    canonical(s).or_else(|| any_form(s))
}

/// [`parse_event_time`] for every form it reads.
fn any_form(s: &str) -> Option<Millis> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let s = s.trim();
    let t = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&t) {
        return Some(t.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Exactly CloudTrail's own spelling, `2025-03-06T02:25:06Z`, read field by field: a call has
/// two (its `eventTime` and its session's `creationDate`), and the general RFC 3339 parser was
/// a visible share of parsing. Anything else, a leap second included, is `None` and left to it.
fn canonical(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if !shape {
        return None;
    }
    let n = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let day = NaiveDate::from_ymd_opt(n(0, 4)? as i32, n(5, 7)?, n(8, 10)?)?;
    let t = day.and_hms_opt(n(11, 13)?, n(14, 16)?, n(17, 19)?)?;
    Some(t.and_utc().timestamp_millis())
}

/// `responseElements.credentials.expiration` of STS calls is not ISO-8601 but Java's
/// `DateFormat.MEDIUM` in UTC, in two real variants:
///   `Mar 23, 2016 2:39:51 AM`  (older JDKs)
///   `Apr 16, 2025, 3:46:56 AM` (JDK 9+ CLDR, often with U+202F before AM/PM)
/// RFC 3339 is accepted as well, in case AWS ever fixes this.
pub fn parse_expiration(s: &str) -> Option<Millis> {
    if let Some(t) = parse_event_time(s) {
        return Some(t);
    }
    // Normalise the CLDR variant to the old one: drop commas, fold exotic spaces into one ' '.
    let mut norm = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ',' => {}
            '\u{202F}' | '\u{00A0}' | '\t' => norm.push(' '),
            c => norm.push(c),
        }
    }
    let norm = norm.split_whitespace().collect::<Vec<_>>().join(" ");
    NaiveDateTime::parse_from_str(&norm, "%b %d %Y %I:%M:%S %p")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Why a `--since/--until` value was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "'{0}' is not a time: use RFC 3339 (2026-10-01T00:00:00Z), a date (2026-10-01, midnight UTC) or a span back from now (90m, 24h, 7d, 2w)"
)]
pub struct BadTime(pub String);

/// A window bound as written: a time, or a span back from whenever "now" turns out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    At(DateTime<Utc>),
    Ago { text: String, span: Duration },
}

impl Bound {
    /// RFC 3339, a bare date (midnight UTC), or a span back from now (`24h`, `7d`).
    pub fn parse(s: &str) -> Result<Bound, BadTime> {
        let bad = || BadTime(s.to_string());
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Bound::At(t.with_timezone(&Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let midnight = d.and_hms_opt(0, 0, 0).ok_or_else(bad)?;
            return Ok(Bound::At(Utc.from_utc_datetime(&midnight)));
        }
        // A bare number could be a year as easily as seconds: a bound needs its unit.
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let span = parse_span(s).ok_or_else(bad)?;
        Ok(Bound::Ago {
            text: s.to_string(),
            span,
        })
    }

    pub fn resolve(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, BadTime> {
        match self {
            Bound::At(t) => Ok(*t),
            Bound::Ago { text, span } => now
                .checked_sub_signed(*span)
                .ok_or_else(|| BadTime(text.clone())),
        }
    }
}

/// A window bound: RFC 3339, a bare date (midnight UTC), or a span back from `now` (`24h`, `7d`).
pub fn parse_bound(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, BadTime> {
    Bound::parse(s)?.resolve(now)
}

/// A span: a whole number with a unit (`90s`, `10m`, `24h`, `7d`, `2w`); a bare number is seconds.
pub fn parse_span(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    match unit {
        "" | "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    }
}

/// A span as a person reads it, to the second: `1h05m00s`, `14m59s`, `42s`.
pub fn format_span(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, sec) => format!("{h}h{m:02}m{sec:02}s"),
    }
}

/// The half-open reporting window `[since, until)`; an open end counts every event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<Millis>,
    pub until: Option<Millis>,
}

impl Window {
    pub fn contains(&self, t: Option<Millis>) -> bool {
        match t {
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u),
            // An event without a readable time can only be placed in an unbounded window.
            None => self.since.is_none() && self.until.is_none(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// `[since, until)` with both ends given.
    pub fn between(since: Millis, until: Millis) -> Self {
        Window {
            since: Some(since),
            until: Some(until),
        }
    }
}

/// Format milliseconds as RFC 3339 with `Z`, second precision.
pub fn format_millis(t: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(t)
        .map(format_utc)
        .unwrap_or_else(|| t.to_string())
}

/// Format a time as [`RFC3339`].
pub fn format_utc(t: DateTime<Utc>) -> String {
    t.format(RFC3339).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrails_own_spelling_reads_as_every_other_form_does() {
        // Every second-of-day shape, month ends, leap days, and what is not a time.
        let mut cases: Vec<String> = Vec::new();
        for (y, m, d) in [
            (2024, 2, 29),
            (2023, 2, 29),
            (2025, 12, 31),
            (1970, 1, 1),
            (2026, 4, 31),
        ] {
            for (h, mi, sec) in [(0, 0, 0), (23, 59, 59), (23, 59, 60), (24, 0, 0), (7, 5, 9)] {
                cases.push(format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{sec:02}Z"));
            }
        }
        cases.extend(
            [
                "2025-03-06T02:25:06z",
                "2025-03-06 02:25:06Z",
                "2025-03-06T02:25:0xZ",
                "+025-03-06T02:25:06Z",
                "2025-13-06T02:25:06Z",
                "2025-00-06T02:25:06Z",
            ]
            .map(String::from),
        );
        for s in &cases {
            assert_eq!(parse_event_time(s), any_form(s), "{s}");
        }
        assert_eq!(canonical("2024-02-29T23:59:59Z"), Some(1_709_251_199_000));
        assert_eq!(canonical("2023-02-29T00:00:00Z"), None);
        // A leap second is left to the general parser, which reads it.
        assert_eq!(canonical("2016-12-31T23:59:60Z"), None);
        assert!(parse_event_time("2016-12-31T23:59:60Z").is_some());
    }

    fn ms(s: &str) -> Millis {
        parse_event_time(s).unwrap()
    }

    #[test]
    fn both_java_expiration_forms() {
        assert_eq!(
            parse_expiration("Mar 23, 2016 2:39:51 AM"),
            Some(ms("2016-03-23T02:39:51Z"))
        );
        assert_eq!(
            parse_expiration("Apr 16, 2025, 3:46:56 AM"),
            Some(ms("2025-04-16T03:46:56Z"))
        );
        assert_eq!(
            parse_expiration("Nov 30, 2024, 8:43:17\u{202F}PM"),
            Some(ms("2024-11-30T20:43:17Z"))
        );
        assert_eq!(
            parse_expiration("Jul 31, 2024, 12:07:33 PM"),
            Some(ms("2024-07-31T12:07:33Z"))
        );
        assert_eq!(
            parse_expiration("Jul 31, 2024, 12:07:33 AM"),
            Some(ms("2024-07-31T00:07:33Z"))
        );
        assert_eq!(
            parse_expiration("2025-04-16T03:46:56Z"),
            Some(ms("2025-04-16T03:46:56Z"))
        );
        assert_eq!(parse_expiration("tomorrow"), None);
        assert_eq!(parse_expiration(""), None);
    }

    #[test]
    fn export_forms_of_event_time() {
        let z = ms("2023-01-01T12:00:00Z");
        for s in [
            "2023-01-01 12:00:00.000000000",
            "2023-01-01 12:00:00Z",
            "2023-01-01T12:00:00.000+00:00",
            "2023-01-01T12:00:00",
            "2023-01-01 12:00:00+00:00",
        ] {
            assert_eq!(parse_event_time(s), Some(z), "{s}");
        }
        assert_eq!(
            parse_event_time("2023-01-01 14:00:00+02:00"),
            Some(z),
            "a zone is honoured"
        );
        for bad in ["yesterday", "2023-01-01", "12:00:00", "2023-13-01 12:00:00"] {
            assert_eq!(parse_event_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn bounds() {
        let now = Utc.with_ymd_and_hms(2026, 10, 8, 12, 0, 0).unwrap();
        assert_eq!(
            parse_bound("24h", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 7, 12, 0, 0).unwrap()
        );
        assert_eq!(
            parse_bound("7d", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap()
        );
        assert_eq!(
            parse_bound("2026-10-01", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            parse_bound("2026-10-01T05:00:00+02:00", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 10, 1, 3, 0, 0).unwrap()
        );
        for bad in [
            "",
            "h",
            "2026",
            "7y",
            "-3d",
            "yesterday",
            "99999999999999999999d",
        ] {
            assert!(parse_bound(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("90"), Some(Duration::seconds(90)));
        assert_eq!(parse_span("10m"), Some(Duration::minutes(10)));
        assert_eq!(parse_span("24h"), Some(Duration::hours(24)));
        for bad in ["", "m", "1.5h", "-3m", "10 m"] {
            assert_eq!(parse_span(bad), None, "{bad}");
        }
    }

    #[test]
    fn window_is_half_open() {
        let w = Window {
            since: Some(10),
            until: Some(20),
        };
        assert!(w.contains(Some(10)));
        assert!(!w.contains(Some(20)));
        assert!(!w.contains(None));
        assert!(Window::default().contains(None));
    }
}
