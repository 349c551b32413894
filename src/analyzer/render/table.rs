//! Terminal tables, laid out a block of rows at a time.
//!
//! comfy-table lays a table out whole: every cell a `String` in a cell of its own, and the text
//! of the whole table made before a byte of it is written. An answer of 591,000 sessions (30M
//! events) took 4.9 GB that way. Here the widths of the columns are measured first, a block of
//! rows at a time, as comfy-table measures them; then each block is laid out by comfy-table at
//! those widths and written before the next is made: the same text, byte for byte, with one
//! block's cells held.

use std::borrow::Cow;
use std::io::Write;

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};
use polars::prelude::*;

use crate::analyzer::render::error::OutputError;
use crate::analyzer::render::fit;
use crate::analyzer::render::flat::as_text;

/// Rows laid out at once: a block's cells are a few MB at most for the widest answers.
fn block_rows() -> usize {
    crate::base::debug_knob::number("JANUS_AUDIT_TABLE_ROWS", 4096).max(1)
}

/// The cells of `len` rows of `df` from `offset`, by column, as a terminal shows them (lists
/// joined, times RFC 3339, control characters escaped).
fn cells(df: &DataFrame, offset: usize, len: usize) -> PolarsResult<Vec<Vec<String>>> {
    let flat = as_text(&df.slice(offset as i64, len), Some(";"))?;
    flat.columns()
        .iter()
        .map(|c| {
            let s = c.cast(&DataType::String)?;
            Ok(s.str()?
                .iter()
                .map(|v| terminal_safe(v.unwrap_or("")).into_owned())
                .collect())
        })
        .collect()
}

/// The blocks of `df`'s rows: (offset, length), at least one (a table without rows still has
/// its header).
fn blocks(rows: usize) -> impl Iterator<Item = (usize, usize)> {
    let size = block_rows();
    (0..rows.div_ceil(size).max(1)).map(move |b| (b * size, size.min(rows - b * size)))
}

/// Column `c`'s cell `v` as shown: cut to `caps[c]` terminal cells, if there are caps.
fn shaped<'v>(caps: Option<&[usize]>, c: usize, v: &'v str) -> Cow<'v, str> {
    match caps {
        Some(caps) => fit::cut(v, caps[c]),
        None => Cow::Borrowed(v),
    }
}

/// The widest cell of each column of `df` (in terminal cells, as [`shaped`]), at least 1.
fn widest(df: &DataFrame, caps: Option<&[usize]>) -> PolarsResult<Vec<usize>> {
    let mut widths = vec![1; df.width()];
    for (offset, len) in blocks(df.height()) {
        for (c, column) in cells(df, offset, len)?.iter().enumerate() {
            let most = column.iter().map(|v| fit::shown(&shaped(caps, c, v))).max();
            widths[c] = widths[c].max(most.unwrap_or(0));
        }
    }
    Ok(widths)
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// `df` as a table with every column at its full width (piped, or written to a file).
pub fn write_whole(df: &DataFrame, w: &mut dyn Write) -> Result<(), OutputError> {
    let names = names(df);
    let widths = widest(df, None)?;
    let columns: Vec<usize> = (0..df.width()).collect();
    write_blocks(df, (&names, &columns, &widths), None, w)
}

/// `df` as a table fitted to `width` terminal cells (see `fit`), with a line after it naming
/// the columns not shown: `hidden` (left out by the caller) and those whose header did not fit.
pub fn write_fitted(
    df: &DataFrame,
    width: usize,
    hidden: &[String],
    w: &mut dyn Write,
) -> Result<(), OutputError> {
    let names = names(df);
    let natural = widest(df, None)?;
    let headers: Vec<&str> = names.iter().map(String::as_str).collect();
    let fitted = fit::fit(&headers, &natural, width);
    let mut cap = vec![usize::MAX; df.width()];
    for (&c, &w) in fitted.columns.iter().zip(&fitted.widths) {
        cap[c] = w;
    }
    let widths = widest(df, Some(&cap))?;
    write_blocks(df, (&names, &fitted.columns, &widths), Some(&cap), w)?;
    let unshown: Vec<&str> = fitted
        .dropped
        .iter()
        .map(|&c| headers[c])
        .chain(hidden.iter().map(String::as_str))
        .collect();
    if !unshown.is_empty() {
        writeln!(
            w,
            "{} more column(s): {} (--wide or --columns LIST shows them; --format csv has all)",
            unshown.len(),
            unshown.join(", ")
        )?;
    }
    Ok(())
}

/// The `columns` of `df` (named `names`, each cell [`shaped`] by `caps`, each column as wide as `widths`
/// says or its header) laid out a block at a time: each block is a whole table of its own,
/// written without the lines the table before or after it already has (the top border and
/// header after the first block, the bottom border before the last).
fn write_blocks(
    df: &DataFrame,
    (names, columns, widths): (&[String], &[usize], &[usize]),
    caps: Option<&[usize]>,
    w: &mut dyn Write,
) -> Result<(), OutputError> {
    let rows = df.height();
    let width = |c: usize| widths[c].max(fit::shown(&names[c])).max(1);
    // comfy-table's widths are u16: a wider cell is left to it, as a table of its own.
    let fixed = columns.iter().all(|&c| width(c) + 2 <= u16::MAX as usize);
    let blocks: Vec<(usize, usize)> = match fixed {
        true => blocks(rows).collect(),
        false => vec![(0, rows)],
    };
    for (offset, len) in blocks.iter().copied() {
        let cells = cells(df, offset, len)?;
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(columns.iter().map(|&c| names[c].as_str()));
        if fixed {
            let fixed = columns
                .iter()
                .map(|&c| ColumnConstraint::Absolute(Width::Fixed((width(c) + 2) as u16)));
            table.set_constraints(fixed);
        }
        table.add_rows((0..len).map(|row| {
            columns
                .iter()
                .map(|&c| shaped(caps, c, &cells[c][row]).into_owned())
                .collect::<Vec<String>>()
        }));
        drop(cells);
        let text = table.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let from = if offset == 0 { 0 } else { 3.min(lines.len()) };
        let to = match offset + len == rows {
            true => lines.len(),
            false => lines.len().saturating_sub(1),
        };
        for line in &lines[from..to.max(from)] {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// A cell of a terminal table: control characters escaped (`\u{1b}`, `\n`), so that text from a
/// record (a session name is the caller's to choose) cannot retitle the terminal, move the
/// cursor or hide lines.
fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table laid out whole by comfy-table, as it was before blocks.
    fn whole(df: &DataFrame) -> String {
        let cells = cells(df, 0, df.height()).unwrap();
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(df.get_column_names().iter().map(|n| n.as_str()));
        for row in 0..df.height() {
            table.add_row(cells.iter().map(|c| c[row].as_str()));
        }
        format!("{table}\n")
    }

    fn frame(rows: usize) -> DataFrame {
        let names: Vec<String> = (0..rows)
            .map(|i| format!("proj.instance-{}{}", i, "é".repeat(i % 17)))
            .collect();
        let ips: Vec<Series> = (0..rows)
            .map(|i| {
                Series::new(
                    "".into(),
                    vec![format!("10.0.{}.{}", i % 7, i % 251); i % 3],
                )
            })
            .collect();
        let t = Int64Chunked::from_iter_options(
            "first_seen".into(),
            (0..rows).map(|i| (i % 5 != 0).then_some(1_700_000_000_000 + i as i64)),
        )
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC));
        DataFrame::new(
            rows,
            vec![
                Column::new("session_name".into(), names),
                Series::new("source_ips".into(), ips).into(),
                t.into_column(),
                Column::new("calls".into(), (0..rows as u32).collect::<Vec<_>>()),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_table_laid_out_in_blocks_is_the_table_laid_out_whole() {
        // The block size is 4096 rows: 10,000 rows are three blocks, the last a short one.
        for rows in [0, 1, 4095, 4096, 4097, 10_000] {
            let df = frame(rows);
            let mut out = Vec::new();
            write_whole(&df, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), whole(&df), "{rows} rows");
        }
    }

    #[test]
    fn a_fitted_table_laid_out_in_blocks_cuts_every_block_alike() {
        let df = frame(9000);
        let mut out = Vec::new();
        write_fitted(&df, 60, &[], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // One border, header and rule, every row, one border, and what was left out.
        assert_eq!(lines.len(), 3 + 9000 + 1 + 1, "{}", &text[..400]);
        let widths: std::collections::BTreeSet<usize> = lines[..lines.len() - 1]
            .iter()
            .map(|l| fit::shown(l))
            .collect();
        assert_eq!(widths.len(), 1, "{widths:?}");
        assert!(widths.iter().all(|&w| w <= 60), "{widths:?}");
        assert!(lines[lines.len() - 1].contains("more column(s)"), "{text}");
    }
}
