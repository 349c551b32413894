//! A table that fits a terminal: which columns it shows, and how wide each may be. Headers are
//! never cut, and no column is narrower than its header or [`MIN_CELL`] (a time, an IP, an
//! instance name stay readable): the columns that do not fit so are left out from the right,
//! and named. Cells are cut with an ellipsis, the widest first, so that every column keeps as
//! much of its text as the width allows.
//! Like DuckDB's box mode and `xsv table`, only a terminal gets this: a table piped or written
//! to a file keeps every column at its full width.

use unicode_width::UnicodeWidthStr;

/// What a table keeps: its columns, in order, and the width each cell may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// Indexes into the frame's columns.
    pub columns: Vec<usize>,
    /// The widest a cell of each kept column may be, in terminal cells.
    pub widths: Vec<usize>,
    /// Columns left out because not even their header fits.
    pub dropped: Vec<usize>,
}

/// Terminal cells a table with these column widths takes: `│ a │ b │`.
pub fn table_width(widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + 3 * widths.len() + 1
}

/// Shown width of `s`.
pub fn shown(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// The narrowest a column is cut to (when its cells are wider): an RFC 3339 time whole.
pub const MIN_CELL: usize = 20;

/// Fit `headers` (with the widest cell of each column, `natural`) into `width` terminal cells.
pub fn fit(headers: &[&str], natural: &[usize], width: usize) -> Fitted {
    let floor: Vec<usize> = headers
        .iter()
        .zip(natural)
        .map(|(h, n)| shown(h).max((*n).min(MIN_CELL)).max(1))
        .collect();
    let full: Vec<usize> = natural
        .iter()
        .zip(&floor)
        .map(|(n, f)| (*n).max(*f))
        .collect();
    // Columns from the left while their headers fit; the rest are named as left out.
    let mut columns = Vec::new();
    let mut dropped = Vec::new();
    for i in 0..headers.len() {
        let with: Vec<usize> = columns.iter().chain([&i]).map(|&c| floor[c]).collect();
        if columns.is_empty() || table_width(&with) <= width {
            columns.push(i);
        } else {
            dropped.push(i);
        }
    }
    let room = width.saturating_sub(table_width(&vec![0; columns.len()]));
    // The widest cap under which every kept column fits: columns narrower than it keep their
    // width, wider ones are cut to it (never below their header).
    let take = |cap: usize| -> usize {
        columns
            .iter()
            .map(|&c| full[c].min(cap.max(floor[c])))
            .sum()
    };
    let most = columns.iter().map(|&c| full[c]).max().unwrap_or(0);
    let (mut lo, mut hi) = (0usize, most);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if take(mid) <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let widths = columns
        .iter()
        .map(|&c| full[c].min(lo.max(floor[c])))
        .collect();
    Fitted {
        columns,
        widths,
        dropped,
    }
}

/// `s` cut to `width` terminal cells, its last one an ellipsis when anything was cut. An ARN
/// keeps its end instead, where the resource's name is (`arn:aws:iam::1111…/gcp/app-role`).
pub fn cut(s: &str, width: usize) -> std::borrow::Cow<'_, str> {
    if shown(s) <= width {
        return std::borrow::Cow::Borrowed(s);
    }
    if s.starts_with("arn:") && width >= 8 {
        let head: String = take_cells(s.chars(), width / 3);
        let tail: String = take_cells(s.chars().rev(), width - shown(&head) - 1)
            .chars()
            .rev()
            .collect();
        return std::borrow::Cow::Owned(format!("{head}…{tail}"));
    }
    let mut out = take_cells(s.chars(), width - 1);
    out.push('…');
    std::borrow::Cow::Owned(out)
}

/// The leading characters of `chars` that fill at most `width` terminal cells.
fn take_cells(chars: impl Iterator<Item = char>, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for ch in chars {
        let w = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
        if used + w > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_arn_keeps_its_name() {
        let arn = "arn:aws:iam::111122223333:role/gcp/gcp-widened";
        let c = cut(arn, 30);
        assert_eq!(shown(&c), 30, "{c}");
        assert!(
            c.starts_with("arn:aws:i") && c.ends_with("/gcp/gcp-widened"),
            "{c}"
        );
        assert_eq!(cut("prod-data-1234.etl-1", 10), "prod-data…");
    }

    #[test]
    fn a_table_that_fits_is_left_whole() {
        let f = fit(&["a", "bb"], &[5, 7], 80);
        assert_eq!(f.columns, [0, 1]);
        assert_eq!(f.widths, [5, 7]);
        assert!(f.dropped.is_empty());
    }

    #[test]
    fn the_widest_columns_are_cut_first_and_headers_never() {
        // Room for 50 - 10 = 40 cells of content.
        let f = fit(&["project", "instance", "n"], &[10, 60, 3], 50);
        assert_eq!(table_width(&f.widths), 50);
        assert_eq!(f.widths, [10, 27, 3]);
        // A header wider than its cells keeps its width.
        let f = fit(&["foreign_ip_calls", "detail"], &[1, 200], 50);
        assert_eq!(f.widths[0], "foreign_ip_calls".len());
        assert_eq!(table_width(&f.widths), 50);
    }

    #[test]
    fn columns_whose_headers_do_not_fit_are_left_out_and_named() {
        let f = fit(
            &["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"],
            &[10, 10, 10],
            30,
        );
        assert_eq!(f.columns, [0, 1]);
        assert_eq!(f.dropped, [2]);
        assert!(table_width(&f.widths) <= 30);
        // A column is not cut below MIN_CELL: the next one is left out instead.
        let f = fit(&["a", "b"], &[100, 100], 30);
        assert_eq!(
            (f.columns, f.dropped, f.widths),
            (vec![0], vec![1], vec![26])
        );
    }

    #[test]
    fn a_cut_cell_ends_in_an_ellipsis_and_keeps_its_width() {
        assert_eq!(cut("prod-data-1234.etl-1", 10), "prod-data…");
        assert_eq!(shown(&cut("prod-data-1234.etl-1", 10)), 10);
        assert_eq!(cut("short", 10), "short");
        // Wide characters count as two cells.
        assert_eq!(shown(&cut("日本語のセッション名", 7)), 7);
    }
}
