//! The activity heat strip: one row per instance, one cell per hour (or per few hours, so that a
//! long window still fits the page), darker for more calls, outlined red where a call came from a
//! foreign IP and with an orange corner where a call failed.
//!
//! Drawn as plain SVG rectangles here rather than with a charting crate: the chart is a grid of
//! rectangles with classes, and every byte matters at 1,500 instances.

use std::collections::HashMap;
use std::fmt::Write;

use maud::{Markup, PreEscaped, html};
use polars::prelude::*;

use crate::analyzer::render::html::details::Anchors;
use crate::analyzer::render::html::text::Text;
use crate::base::timefmt::Window;

const HOUR_MS: i64 = 3_600_000;
/// At most this many columns: a week of hours becomes 4-hour cells.
const MAX_COLUMNS: i64 = 48;
const LABEL_W: i64 = 230;
/// A cell's pitch; page.css draws each 1 px smaller (and the marks inside it) to match.
const CELL_W: i64 = 18;
const ROW_H: i64 = 13;
/// A time label's width: labels are at least this far apart.
const AXIS_LABEL_W: i64 = 80;
const TOP: i64 = 28;
/// Above this many drawn cells, cells carry no tooltip (each is ~80 bytes).
const MAX_TOOLTIPS: usize = 5_000;

#[derive(Default, Clone, Copy)]
struct Cell {
    calls: u64,
    errors: u64,
    foreign: u64,
}

/// The chart's section. `linked`: the page has a section per instance for its labels to lead to.
pub fn chart(
    activity: &DataFrame,
    instances: &Text,
    anchors: &Anchors,
    window: Window,
    linked: bool,
) -> PolarsResult<Markup> {
    let (
        grid,
        Span {
            first,
            per_cell,
            columns,
        },
    ) = bin(activity, anchors, window)?;
    let max = grid.values().map(|c| c.calls).max().unwrap_or(0);
    let mut cells: Vec<_> = grid.into_iter().collect();
    cells.sort_unstable_by_key(|(k, _)| *k);

    let width = LABEL_W + columns * CELL_W + 8;
    let height = TOP + instances.height() as i64 * ROW_H + 4;
    let label = |row: usize| {
        let name = match instances.get("instance", row) {
            "" => instances.get("session_name", row),
            i => i,
        };
        short(name)
    };
    let unit = match per_cell {
        1 => "hour".to_string(),
        n => format!("{n} hours"),
    };
    let grid_svg = cells_svg(&cells, max, (first, per_cell), &label);
    let step = (AXIS_LABEL_W + CELL_W - 1) / CELL_W;
    Ok(html! {
        section #activity {
            h2 { "Activity: API calls per " (unit) ", per instance" }
            p.legend.muted {
                span { i style="background:#dbe9f6" {} "few calls" }
                span { i style="background:#123f73" {} (max) " calls (the busiest cell)" }
                span { i style="outline:2px solid #b3261e" {} "a call from a foreign IP" }
                span { i style="background:#c26a00" {} "a failed call" }
            }
            div.scroll {
                svg #activity-chart xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
                    role="img" aria-label="API calls per instance over the window" {
                    @for c in (0..columns).step_by(step as usize) {
                        text.axis x=(LABEL_W + c * CELL_W) y="12" {
                            (hour_label((first + c * per_cell) * HOUR_MS))
                        }
                    }
                    @for row in 0..instances.height() {
                        @if linked {
                            a href={ "#i-" (row) } {
                                text x="2" y=(TOP + row as i64 * ROW_H + ROW_H - 3) { (label(row)) }
                            }
                        } @else {
                            text x="2" y=(TOP + row as i64 * ROW_H + ROW_H - 3) { (label(row)) }
                        }
                    }
                    (PreEscaped(grid_svg))
                }
            }
        }
    })
}

/// 1 to 5 on a log scale of the busiest cell, so that a quiet instance still shows.
/// The chart's cells by (instance row, column).
type Grid = HashMap<(usize, i64), Cell>;

/// The hours the chart spans: the first, how many per cell, and how many cells across.
struct Span {
    first: i64,
    per_cell: i64,
    columns: i64,
}

/// The activity's rows summed into the chart's cells (instance row, column), over the window's
/// hours (or the activity's, for a window without bounds), at most [`MAX_COLUMNS`] across.
fn bin(activity: &DataFrame, anchors: &Anchors, window: Window) -> PolarsResult<(Grid, Span)> {
    let col = |name: &str| -> PolarsResult<Column> { activity.column(name).cloned() };
    let session = col("session_name")?;
    let session = session.str()?;
    let hour = col("hour")?.cast(&DataType::Int64)?;
    let hour = hour.i64()?;
    let counts = |name: &str| -> PolarsResult<Vec<u64>> {
        let c = col(name)?.cast(&DataType::UInt64)?;
        Ok(c.u64()?.iter().map(|v| v.unwrap_or(0)).collect())
    };
    let (calls, errors, foreign) = (
        counts("calls")?,
        counts("errors")?,
        counts("foreign_calls")?,
    );

    let hours: Vec<i64> = hour.iter().flatten().collect();
    let first = window
        .since
        .map(|t| t.div_euclid(HOUR_MS))
        .or_else(|| hours.iter().min().copied())
        .unwrap_or(0);
    let last = window
        .until
        .map(|t| (t - 1).div_euclid(HOUR_MS))
        .or_else(|| hours.iter().max().copied())
        .unwrap_or(first);
    let span = (last - first + 1).max(1);
    let per_cell = (span + MAX_COLUMNS - 1) / MAX_COLUMNS;
    let columns = (span + per_cell - 1) / per_cell;

    let mut grid: HashMap<(usize, i64), Cell> = HashMap::new();
    for i in 0..activity.height() {
        let (Some(s), Some(h)) = (session.get(i), hour.get(i)) else {
            continue;
        };
        let Some(row) = anchors.get(s) else { continue };
        if h < first || h > last {
            continue;
        }
        let cell = grid.entry((row, (h - first) / per_cell)).or_default();
        cell.calls += calls[i];
        cell.errors += errors[i];
        cell.foreign += foreign[i];
    }
    Ok((
        grid,
        Span {
            first,
            per_cell,
            columns,
        },
    ))
}

/// The grid's cells as SVG: each shaded by its share of the busiest cell's calls, with a tooltip
/// (while there are few enough cells) and marks for foreign-IP and failed calls. `at`: the
/// first hour and the hours per cell.
fn cells_svg(
    cells: &[((usize, i64), Cell)],
    max: u64,
    at: (i64, i64),
    label: &dyn Fn(usize) -> String,
) -> String {
    // The numbers and class names below are this module's own; only `label` and tooltips come
    // from the log, and they go through maud's escaping.
    let (first, per_cell) = at;
    let tooltips = cells.len() <= MAX_TOOLTIPS;
    let mut grid_svg = String::with_capacity(cells.len() * 64);
    for ((row, c), cell) in cells {
        let (x, y) = (LABEL_W + c * CELL_W, TOP + *row as i64 * ROW_H);
        // A cell's size is in the page's CSS (`svg rect.cN`): at 50,000 cells the attributes
        // would be a megabyte.
        let _ = write!(
            grid_svg,
            r#"<rect x="{x}" y="{y}" class="c{}">"#,
            level(cell.calls, max)
        );
        if tooltips {
            let at = crate::base::timefmt::format_millis((first + c * per_cell) * HOUR_MS);
            let tip = html! { title { (label(*row)) " · " (at) ": " (cell.calls) " call(s), "
            (cell.errors) " error(s), " (cell.foreign) " from a foreign IP" } };
            grid_svg.push_str(&tip.into_string());
        }
        grid_svg.push_str("</rect>");
        if cell.foreign > 0 {
            let _ = write!(
                grid_svg,
                r#"<rect x="{}" y="{}" class="fx"/>"#,
                x + 1,
                y + 1
            );
        }
        if cell.errors > 0 {
            let _ = write!(
                grid_svg,
                r#"<rect x="{}" y="{y}" class="er"/>"#,
                x + CELL_W - 5
            );
        }
    }
    grid_svg
}

fn level(calls: u64, max: u64) -> u64 {
    if max <= 1 || calls <= 1 {
        return 1;
    }
    let f = (calls as f64).ln() / (max as f64).ln();
    1 + (f * 4.0).round().clamp(0.0, 4.0) as u64
}

/// A row label: 32 characters at most, so that the grid stays beside it.
fn short(s: &str) -> String {
    match s.char_indices().nth(32) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn hour_label(t: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t)
        .map(|d| d.format("%m-%d %H:00").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn levels_span_one_to_five() {
        assert_eq!(level(1, 1000), 1);
        assert_eq!(level(1000, 1000), 5);
        assert!((2..=4).contains(&level(30, 1000)));
        assert_eq!(level(5, 0), 1);
    }
}
