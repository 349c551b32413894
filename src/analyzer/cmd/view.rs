//! How an answer is shown: `--columns`, and a table fitted to a terminal with each command's
//! usual columns (`--wide`, `--width`). One home for both the reports and `verify`.

use std::path::PathBuf;

use polars::prelude::DataFrame;

use crate::analyzer::cmd::error::AnalyzerError;
use crate::analyzer::render::{self, Format};

/// Which columns an answer shows, and how wide a terminal table may be.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// `--columns`: only these, in this order (every format but a page).
    pub columns: Option<Vec<String>>,
    /// `--wide`: a table on a terminal shows every column, not the report's usual few.
    pub wide: bool,
    /// `--width`: fit a table to this many terminal cells (else a terminal's own width; a table
    /// piped or written to a file keeps its full width).
    pub width: Option<usize>,
}

/// A fitted table's width, the columns it shows and the names of those it leaves out: `None`
/// for any format but a table, and for a table piped or written to a file.
pub type Fitted = Option<(usize, (DataFrame, Vec<String>))>;

pub fn fitted(
    format: Format,
    view: &View,
    output: Option<&PathBuf>,
    usual: Option<&[&str]>,
    frame: &DataFrame,
) -> Result<Fitted, AnalyzerError> {
    let width = view.width.or_else(|| match output {
        None => crate::analyzer::cmd::ui::terminal_width(),
        Some(_) => None,
    });
    Ok(match (format, width) {
        (Format::Table, Some(width)) => Some((width, usual_of(usual, view, frame)?)),
        _ => None,
    })
}

/// `--columns LIST`: only those columns, in that order; a name the answer does not have is a
/// usage error that lists the ones it has.
pub fn select_columns(frame: DataFrame, view: &View) -> Result<DataFrame, AnalyzerError> {
    let Some(columns) = &view.columns else {
        return Ok(frame);
    };
    if let Some(unknown) = columns.iter().find(|c| frame.get_column_index(c).is_none()) {
        return Err(AnalyzerError::Usage(format!(
            "--columns: no column '{}' in this answer; its columns: {}",
            crate::base::text::excerpt(unknown),
            frame
                .get_column_names()
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(frame.select(columns.iter().map(String::as_str))?)
}

/// A terminal table's columns: the command's usual few unless `--wide` or `--columns`, and the
/// names of the others.
fn usual_of(
    usual: Option<&[&str]>,
    view: &View,
    frame: &DataFrame,
) -> Result<(DataFrame, Vec<String>), AnalyzerError> {
    let usual = match (view.wide || view.columns.is_some(), usual) {
        (false, Some(usual)) => usual,
        _ => return Ok((frame.clone(), Vec::new())),
    };
    let keep: Vec<&str> = usual
        .iter()
        .copied()
        .filter(|c| frame.get_column_index(c).is_some())
        .collect();
    let hidden = frame
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .filter(|n| !keep.contains(n))
        .map(str::to_string)
        .collect();
    Ok((frame.select(keep)?, hidden))
}

/// Write `frame` as a command without a page of its own does: `--columns`, then to `output`
/// (atomically) or to `stdout`, a table fitted to a terminal with `usual` first.
pub fn write(
    frame: DataFrame,
    format: Format,
    title: &str,
    view: &View,
    output: Option<&PathBuf>,
    usual: &[&str],
    stdout: &mut dyn std::io::Write,
) -> Result<(), AnalyzerError> {
    let frame = select_columns(frame, view)?;
    let fitted = fitted(format, view, output, Some(usual), &frame)?;
    let write = |w: &mut dyn std::io::Write| match &fitted {
        Some((width, (shown, hidden))) => render::write_fitted(shown, *width, hidden, w),
        None => render::write(&frame, format, title, w),
    };
    match output {
        Some(path) => crate::base::atomic::write_atomic(path, write)?,
        None => write(stdout)?,
    }
    Ok(())
}
