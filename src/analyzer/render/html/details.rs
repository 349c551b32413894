//! Each instance's own section: what it called, from where, its keys over time, and its
//! timeline, collapsed until opened.
//!
//! A page for 1,500 instances must stay small enough to open at once, so the keys and timeline
//! rows share a budget: each instance shows its share (the notable rows first: assumptions,
//! refusals, failed calls and calls from a foreign IP), and says how many it leaves to
//! `janus-audit timeline`.

use std::collections::HashMap;

use maud::{Markup, html};
use polars::prelude::*;

use crate::analyzer::render::html::text::Text;
use crate::base::timefmt::{Millis, Window};

/// Keys drawn on the whole page, and timeline rows listed, shared among the instances.
const KEY_BUDGET: usize = 4_000;
const TIMELINE_BUDGET: usize = 6_000;

/// Each instance's section number: its row in by-instance, found by session name.
pub struct Anchors(HashMap<String, usize>);

impl Anchors {
    pub fn of(by_instance: &Text) -> Anchors {
        Anchors(
            (0..by_instance.height())
                .map(|r| (by_instance.get("session_name", r).to_string(), r))
                .collect(),
        )
    }

    pub fn get(&self, session: &str) -> Option<usize> {
        self.0.get(session).copied()
    }
}

fn share(budget: usize, instances: usize, min: usize, max: usize) -> usize {
    (budget / instances.max(1)).clamp(min, max)
}

/// The rows of `df` for each instance (by `session_name`), at most `cap` each: the rows
/// `notable` marks first, then the rest in order; each instance's chosen rows in frame order.
/// Also how many rows each instance has in all.
fn pick(
    df: &DataFrame,
    anchors: &Anchors,
    cap: usize,
    notable: impl Fn(usize) -> bool,
) -> PolarsResult<(DataFrame, Vec<usize>, Vec<usize>)> {
    let sessions = df.column("session_name")?.str()?.clone();
    let n = anchors.0.len();
    let mut total = vec![0usize; n];
    let mut chosen: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut later: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, s) in sessions.iter().enumerate() {
        let Some(a) = s.and_then(|s| anchors.get(s)) else {
            continue;
        };
        total[a] += 1;
        if notable(i) {
            if chosen[a].len() < cap {
                chosen[a].push(i as u32);
            }
        } else if later[a].len() < cap {
            later[a].push(i as u32);
        }
    }
    let mut idx = Vec::new();
    let mut shown = vec![0usize; n];
    for a in 0..n {
        let room = cap - chosen[a].len();
        chosen[a].extend(later[a].iter().take(room));
        chosen[a].sort_unstable();
        shown[a] = chosen[a].len();
        idx.extend_from_slice(&chosen[a]);
    }
    let taken = df.take(&IdxCa::from_vec("i".into(), idx))?;
    Ok((taken, shown, total))
}

/// Where each instance's run of picked rows begins, from how many each has.
fn starts(shown: &[usize]) -> Vec<usize> {
    shown
        .iter()
        .scan(0, |at, n| {
            let s = *at;
            *at += n;
            Some(s)
        })
        .collect()
}

/// Column `name` as milliseconds (a datetime column), or nulls.
fn millis(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<Millis>>> {
    Ok(match df.column(name) {
        Ok(c) => c.cast(&DataType::Int64)?.i64()?.iter().collect(),
        Err(_) => vec![None; df.height()],
    })
}

pub fn sections(
    by_instance: &Text,
    anchors: &Anchors,
    sessions: Option<&DataFrame>,
    timeline: Option<&DataFrame>,
    window: Window,
) -> PolarsResult<Markup> {
    let n = by_instance.height();
    let keys = match sessions {
        Some(df) => {
            let cap = share(KEY_BUDGET, n, 2, 100);
            let foreign = df
                .column("foreign_ip_calls")?
                .cast(&DataType::UInt64)?
                .u64()?
                .clone();
            let (picked, shown, total) =
                pick(df, anchors, cap, |i| foreign.get(i).unwrap_or(0) > 0)?;
            Some(Keys::new(picked, shown, total)?)
        }
        None => None,
    };
    let timeline = match timeline {
        Some(df) => {
            let cap = share(TIMELINE_BUDGET, n, 4, 200);
            let kind = df.column("kind")?.str()?.clone();
            let foreign = df.column("foreign_ip")?.bool()?.clone();
            let error = df.column("error_code")?.str()?.clone();
            let (picked, shown, total) = pick(df, anchors, cap, |i| {
                kind.get(i) != Some("call")
                    || foreign.get(i).unwrap_or(false)
                    || error.get(i).is_some()
            })?;
            Some(Rows::new(&picked, shown, total)?)
        }
        None => None,
    };
    // Where keys are drawn: the window, or what the keys span when it is open.
    let (from, to) = match (&keys, window.since, window.until) {
        (_, Some(a), Some(b)) => (a, b),
        (Some(k), a, b) => (a.unwrap_or(k.earliest), b.unwrap_or(k.latest)),
        (None, a, b) => (a.unwrap_or(0), b.unwrap_or(1)),
    };
    Ok(html! {
        section #details {
            h2 { "Per instance" }
            p.muted {
                "Each instance's keys (issued to expiry in grey, used in blue, red when used from a foreign IP, "
                "violet when chained by AssumeRole), services, source IPs and timeline. Large windows show "
                "each instance's notable rows first; the whole story is `janus-audit timeline --session-name NAME`."
            }
            @for row in 0..n {
                details.instance id={ "i-" (row) } {
                    summary {
                        h3.mono { (by_instance.get("session_name", row)) }
                        span.muted {
                            " · " (by_instance.get("api_calls", row)) " call(s), "
                            (by_instance.get("foreign_ip_calls", row)) " from a foreign IP, "
                            (by_instance.get("api_errors", row)) " error(s)"
                        }
                    }
                    dl.mono {
                        dt { "project / instance" } dd { (by_instance.get("project", row)) " / " (by_instance.get("instance", row)) }
                        dt { "services" } dd { (by_instance.get("services", row)) }
                        dt { "source IPs" } dd { (by_instance.get("source_ips", row)) }
                        dt { "subs" } dd { (by_instance.get("subs", row)) }
                        dt { "roles" } dd { (by_instance.get("role_arns", row)) }
                        @if !by_instance.get("chained_roles", row).is_empty() {
                            dt { "chained roles" } dd { (by_instance.get("chained_roles", row)) }
                        }
                    }
                    @if let Some(k) = &keys { (k.chart(row, from, to)) }
                    @if let Some(t) = &timeline { (t.table(row)) }
                }
            }
        }
    })
}

/// The chosen keys of every instance, in order, and where each instance's run starts.
struct Keys {
    text: Text,
    issued: Vec<Option<Millis>>,
    expires: Vec<Option<Millis>>,
    first_call: Vec<Option<Millis>>,
    last_call: Vec<Option<Millis>>,
    starts: Vec<usize>,
    shown: Vec<usize>,
    total: Vec<usize>,
    earliest: Millis,
    latest: Millis,
}

const CHART_W: i64 = 900;
const KEY_LABEL_W: i64 = 190;
const KEY_ROW_H: i64 = 12;

impl Keys {
    fn new(df: DataFrame, shown: Vec<usize>, total: Vec<usize>) -> PolarsResult<Keys> {
        let issued = millis(&df, "issued_at")?;
        let expires = millis(&df, "expires_at")?;
        let all = issued.iter().chain(&expires).flatten();
        let earliest = all.clone().min().copied().unwrap_or(0);
        let latest = all.max().copied().unwrap_or(earliest + 1);
        let starts = starts(&shown);
        Ok(Keys {
            first_call: millis(&df, "first_call")?,
            last_call: millis(&df, "last_call")?,
            text: Text::of(&df)?,
            issued,
            expires,
            starts,
            shown,
            total,
            earliest,
            latest,
        })
    }

    fn chart(&self, instance: usize, from: Millis, to: Millis) -> Markup {
        let (start, n) = (self.starts[instance], self.shown[instance]);
        let span = (to - from).max(1) as f64;
        let plot = (CHART_W - KEY_LABEL_W) as f64;
        let x =
            |t: Millis| KEY_LABEL_W + (((t - from) as f64 / span).clamp(0.0, 1.0) * plot) as i64;
        let t = &self.text;
        html! {
            @if n == 0 {
                p.muted { "No key of this instance was issued or used in the window." }
            } @else {
                p.muted {
                    "Keys over the window (" (n) " of " (self.total[instance]) "):"
                }
                svg.keys xmlns="http://www.w3.org/2000/svg" width=(CHART_W) height=(n as i64 * KEY_ROW_H + 2) {
                    @for (j, r) in (start..start + n).enumerate() {
                        @let y = j as i64 * KEY_ROW_H;
                        @let issued = self.issued[r].unwrap_or(from);
                        @let expires = self.expires[r].unwrap_or(issued);
                        @let depth = t.number("depth", r).unwrap_or(0.0);
                        @let foreign = t.number("foreign_ip_calls", r).unwrap_or(0.0) > 0.0;
                        @let used_class = if foreign { "used foreign" } else if depth > 0.0 { "used chained" } else { "used" };
                        g {
                            title {
                                (t.get("access_key_id", r)) " · " (t.get("role_arn", r))
                                " · issued " (t.get("issued_at", r)) " from " (t.get("issuing_ip", r))
                                " · expires " (t.get("expires_at", r))
                                " · " (t.get("api_calls", r)) " call(s) from " (t.get("source_ips", r))
                                @if depth > 0.0 { " · chained from " (t.get("parent_key", r)) }
                            }
                            text x=(2 + depth as i64 * 8) y=(y + KEY_ROW_H - 3) { (t.get("access_key_id", r)) }
                            rect.life x=(x(issued)) y=(y + 2) width=((x(expires) - x(issued)).max(1)) height=(KEY_ROW_H - 4) {}
                            @if let (Some(a), Some(b)) = (self.first_call[r], self.last_call[r]) {
                                rect class=(used_class) x=(x(a)) y=(y + 3) width=((x(b) - x(a)).max(2)) height=(KEY_ROW_H - 6) {}
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The chosen timeline rows of every instance.
struct Rows {
    text: Text,
    foreign: Vec<bool>,
    starts: Vec<usize>,
    shown: Vec<usize>,
    total: Vec<usize>,
}

const TIMELINE_COLUMNS: [&str; 9] = [
    "time",
    "kind",
    "event_source",
    "event_name",
    "aws_region",
    "source_ip",
    "error_code",
    "access_key_id",
    "detail",
];

/// What the page says a call touched: `s3://bucket/key` for S3, else its resources' ARNs.
const TOUCHED_COLUMNS: [&str; 4] = ["s3_bucket", "s3_key", "resources", "request_parameters"];

/// A request is shown up to this many characters: 6,000 rows of whole requests would make the
/// page too large to open; the timeline's CSV has them whole.
const REQUEST_CAP: usize = 160;

fn touched(t: &Text, r: usize) -> String {
    match (t.get("s3_bucket", r), t.get("s3_key", r)) {
        ("", _) => t.get("resources", r).to_string(),
        (bucket, "") => format!("s3://{bucket}"),
        (bucket, key) => format!("s3://{bucket}/{key}"),
    }
}

fn capped(text: &str, cap: usize) -> String {
    match text.char_indices().nth(cap) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

impl Rows {
    fn new(df: &DataFrame, shown: Vec<usize>, total: Vec<usize>) -> PolarsResult<Rows> {
        let foreign = df
            .column("foreign_ip")?
            .bool()?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect();
        let starts = starts(&shown);
        // What a call touched, where the timeline query gives it (an overridden one may not).
        let present: Vec<&str> = TIMELINE_COLUMNS
            .iter()
            .chain(&TOUCHED_COLUMNS)
            .copied()
            .filter(|c| df.schema().contains(c))
            .collect();
        Ok(Rows {
            text: Text::of(&df.select(present)?)?,
            foreign,
            starts,
            shown,
            total,
        })
    }

    fn table(&self, instance: usize) -> Markup {
        let (start, n) = (self.starts[instance], self.shown[instance]);
        let t = &self.text;
        html! {
            p.muted {
                "Timeline: " (n) " of " (self.total[instance]) " row(s)"
                @if n < self.total[instance] { " (the notable ones first)" }
            }
            // In its own scrolling box: a section's paint is contained, so a table wider than
            // the window would be cut off at its right edge, not scrolled to.
            @if n > 0 {
                div.scroll {
                    table.sortable {
                        thead {
                            tr {
                                @for c in TIMELINE_COLUMNS { th scope="col" { (c) } }
                                th scope="col" { "touched" }
                                th scope="col" { "request" }
                            }
                        }
                        tbody {
                            @for r in start..start + n {
                                tr class=[self.foreign[r].then_some("foreign")] {
                                    @for c in TIMELINE_COLUMNS { td { (t.get(c, r)) } }
                                    td { (touched(t, r)) }
                                    td.request { (capped(t.get("request_parameters", r), REQUEST_CAP)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
