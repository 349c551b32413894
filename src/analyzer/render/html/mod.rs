//! `--format html`: one self-contained page (inline style, inline script, SVG charts drawn here)
//! that needs no server, no network and no install, and reads whole without JavaScript.
//!
//! Attackers write session names, user agents and error messages, so every value goes through
//! maud's escaping (no string is ever pasted in as markup), and the page's Content-Security-Policy
//! allows no request and no script but its own (by hash): even a value that slipped through could
//! neither run nor call out.

mod activity;
mod details;
mod text;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::analyzer::load::Summary;
use crate::base::timefmt::Window;
use text::Text;

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// What the header says about a report: its window and what went into it.
#[derive(Debug, Clone)]
pub struct Context {
    /// The report's name: `by-instance`, `findings`, `window report`...
    pub title: String,
    pub window: Window,
    pub generated_at: String,
    pub summary: Summary,
    /// `--verify`: the validation verdict, when the inputs were validated.
    pub validation: Option<String>,
    /// What a report from the LookupEvents API cannot see.
    pub blind_spots: Vec<String>,
    /// Every input was read in full.
    pub complete: bool,
}

impl Context {
    /// The header of a report made from `ingested`; `source` is the input's description for a
    /// manifest (its `coverage` lists an API report's blind spots).
    pub fn new(
        title: &str,
        window: Window,
        ingested: &crate::analyzer::load::Ingested,
        verification: Option<&crate::analyzer::verify::Verification>,
        source: &serde_json::Value,
        complete: bool,
    ) -> Context {
        let blind_spots = source["coverage"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .filter(|s| s.starts_with("blind spot"))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let validation = verification.map(|v| {
            let verdict = if v.tampered() {
                "TAMPERED: a log file or digest does not match its digest (see the manifest)"
            } else if v.gaps() {
                "valid, with gaps: part of the window is not covered by digests"
            } else {
                "valid: every log file matches a signed digest, the window fully covered"
            };
            let keys = v.keys_source();
            match (keys.is_empty(), v.rests_on_mirror_keys()) {
                (true, _) => verdict.to_string(),
                (false, false) => format!("{verdict} (public keys: {keys})"),
                (false, true) => format!(
                    "{verdict} (public keys: {keys}; {})",
                    crate::analyzer::verify::keys::MIRROR_CAVEAT
                ),
            }
        });
        Context {
            title: title.to_string(),
            window,
            generated_at: crate::base::timefmt::format_utc(chrono::Utc::now()),
            summary: ingested.summary.clone(),
            validation,
            blind_spots,
            complete,
        }
    }
}

/// The sections of a page; each present one is drawn, in this order.
#[derive(Default)]
pub struct Sections<'a> {
    pub findings: Option<&'a DataFrame>,
    /// `queries/activity.sql`: calls per instance and hour.
    pub activity: Option<&'a DataFrame>,
    pub by_instance: Option<&'a DataFrame>,
    /// With `by_instance`: each instance's keys (the `sessions` rows)...
    pub sessions: Option<&'a DataFrame>,
    /// ...and its timeline (`queries/timeline.sql` over every entity).
    pub timeline: Option<&'a DataFrame>,
    /// Any other report, as one sortable table under this heading.
    pub table: Option<(&'a str, &'a DataFrame)>,
}

/// The whole page.
pub fn render(ctx: &Context, s: &Sections<'_>) -> PolarsResult<String> {
    let by_instance = s.by_instance.map(Text::of).transpose()?;
    // The anchor of each instance's section: its row in by-instance (a row number, so that no
    // value from the log ever lands in an id or a URL).
    let anchors = by_instance.as_ref().map(details::Anchors::of);
    let findings = s.findings.map(Text::of).transpose()?;
    let table = s
        .table
        .map(|(name, df)| Text::of(df).map(|t| (name, t)))
        .transpose()?;
    let details = match (&by_instance, &anchors) {
        (Some(b), Some(a)) if s.sessions.is_some() || s.timeline.is_some() => {
            Some(details::sections(b, a, s.sessions, s.timeline, ctx.window)?)
        }
        _ => None,
    };
    // An instance's name leads to its section only where the page has one.
    let linked = details.is_some();
    let activity = match (s.activity, &by_instance, &anchors) {
        (Some(a), Some(b), Some(anchors)) => {
            Some(activity::chart(a, b, anchors, ctx.window, linked)?)
        }
        _ => None,
    };
    let nav: Vec<(&str, &str)> = [
        (findings.is_some(), "#findings", "Findings"),
        (activity.is_some(), "#activity", "Activity"),
        (by_instance.is_some(), "#instances", "Instances"),
        (details.is_some(), "#details", "Per instance"),
    ]
    .into_iter()
    .filter(|(shown, _, _)| *shown)
    .map(|(_, href, name)| (href, name))
    .collect();
    let script_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
         script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'"
    );
    let title = format!("janus-audit: {} {}", ctx.title, span(ctx.window));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(csp);
                meta name="referrer" content="no-referrer";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (header(ctx))
                @if nav.len() > 1 {
                    nav.muted {
                        @for (i, (href, name)) in nav.iter().enumerate() {
                            @if i > 0 { " · " }
                            a href=(href) { (name) }
                        }
                    }
                }
                @if let Some(f) = &findings {
                    (findings_section(f, anchors.as_ref().filter(|_| linked)))
                }
                @if let Some(a) = activity { (a) }
                @if let Some(b) = &by_instance { (instances_section(b, linked)) }
                @if let Some(d) = details { (d) }
                @if let Some((name, t)) = &table {
                    section #report {
                        h2 { (name) " (" span #row-count { (t.height()) } " rows)" }
                        (filter("report-table"))
                        (table_markup("report-table", t, &[]))
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    Ok(page.into_string())
}

/// A report that is only a table (`query --format html`): the table under a bare header.
pub fn table_page(df: &DataFrame, title: &str) -> PolarsResult<String> {
    let ctx = Context {
        title: title.into(),
        window: Window::default(),
        generated_at: crate::base::timefmt::format_utc(chrono::Utc::now()),
        summary: Summary::default(),
        validation: None,
        blind_spots: vec![],
        complete: true,
    };
    render(
        &ctx,
        &Sections {
            table: Some(("Rows", df)),
            ..Default::default()
        },
    )
}

/// The window as a reader says it; no window is the whole input, not "open to open".
fn span(w: Window) -> String {
    let t = crate::base::timefmt::format_millis;
    match (w.since, w.until) {
        (None, None) => "the whole input (no --since or --until)".to_string(),
        (Some(s), None) => format!("from {} on", t(s)),
        (None, Some(u)) => format!("up to {}", t(u)),
        (Some(s), Some(u)) => format!("{} to {}", t(s), t(u)),
    }
}

fn header(ctx: &Context) -> Markup {
    let s = &ctx.summary;
    html! {
        header {
            h1 { "janus-audit · " (ctx.title) }
            dl {
                dt { "window" } dd { (span(ctx.window)) }
                dt { "inputs" } dd #inputs {
                    (s.files_read) " file(s) read, " (s.records) " record(s); "
                    (s.files_skipped) " skipped as damaged, " (s.files_partial) " partly read, "
                    (s.bad_records) " unusable record(s), " (s.duplicates) " duplicate(s) dropped"
                    @if s.digests > 0 { ", " (s.digests) " digest file(s)" }
                    @if s.outside_window > 0 { ", " (s.outside_window) " outside the window" }
                }
                @if !ctx.complete {
                    dt { "completeness" }
                    dd.warn { "incomplete: some input was not read in full (see the manifest or stderr)" }
                }
                @if let Some(v) = &ctx.validation {
                    dt { "validation" } dd #validation { (v) }
                }
                dt { "generated" } dd { (ctx.generated_at) }
                dt { "tool" } dd { (env!("CARGO_PKG_NAME")) " " (env!("CARGO_PKG_VERSION")) }
            }
            @if !ctx.blind_spots.is_empty() {
                ul.spots { @for b in &ctx.blind_spots { li { (b) } } }
            }
        }
    }
}

fn findings_section(f: &Text, anchors: Option<&details::Anchors>) -> Markup {
    html! {
        section #findings {
            h2 { "Findings (" span #findings-count { (f.height()) } ")" }
            @if f.height() == 0 { p.muted { "No finding in this window." } }
            @for row in 0..f.height() {
                @let sev = f.get("severity", row);
                @let session = f.get("session_name", row);
                div class={ "finding sev-" (severity_class(sev)) } {
                    p {
                        span class={ "sev sev-" (severity_class(sev)) } { (sev) } " "
                        strong.mono { (f.get("kind", row)) } " · "
                        (f.get("events", row)) " event(s), " (f.get("first_seen", row)) " to " (f.get("last_seen", row))
                    }
                    p { (f.get("detail", row)) }
                    p.muted.mono {
                        "instance: "
                        @match anchors.and_then(|a| a.get(session)) {
                            Some(n) => a href={ "#i-" (n) } { (session) },
                            None => (session),
                        }
                        " · key " (f.get("access_key_id", row))
                        " · sub " (f.get("sub", row))
                        " · source IP " (f.get("source_ip", row))
                    }
                }
            }
        }
    }
}

/// The class for a severity label (the label itself is shown as text; only these four classes
/// ever reach an attribute).
fn severity_class(label: &str) -> &'static str {
    match label {
        "high" => "high",
        "medium" => "medium",
        "low" => "low",
        _ => "info",
    }
}

fn instances_section(b: &Text, linked: bool) -> Markup {
    html! {
        section #instances {
            h2 { "Instances (" span #instance-count { (b.height()) } ")" }
            p.muted {
                "Click a column to sort"
                @if linked { "; an instance's name leads to its section" }
                "."
            }
            (filter("by-instance"))
            (table_markup("by-instance", b, if linked { &["session_name"] } else { &[] }))
        }
    }
}

/// A search box for a table; hidden until the script shows it, since it does nothing without.
fn filter(table: &str) -> Markup {
    html! {
        input.filter type="search" placeholder="filter rows" data-table=(table) hidden;
    }
}

/// A sortable table of every column; the columns in `linked` link to the row's instance section.
fn table_markup(id: &str, t: &Text, linked: &[&str]) -> Markup {
    html! {
        div.scroll {
            table.sortable id=(id) {
                thead { tr { @for name in t.names() { th scope="col" tabindex="0" { (name) } } } }
                tbody {
                    @for row in 0..t.height() {
                        tr {
                            @for (c, name) in t.names().iter().enumerate() {
                                @let v = t.cell(c, row);
                                @if linked.contains(&name.as_str()) {
                                    td { a href={ "#i-" (row) } { (v) } }
                                } @else if t.numeric(c) {
                                    td.num { (v) }
                                } @else {
                                    td { (v) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
