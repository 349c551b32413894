//! A frame's cells as text, as CSV shows them (times RFC 3339) but with one list item per line
//! (the page shows cells with `white-space: pre-line`), by name or position.

use polars::prelude::*;

pub struct Text {
    names: Vec<String>,
    cols: Vec<StringChunked>,
    numeric: Vec<bool>,
    height: usize,
}

impl Text {
    pub fn of(df: &DataFrame) -> PolarsResult<Text> {
        let flat = crate::analyzer::render::flat::as_text(df, Some("\n"))?;
        let mut names = Vec::new();
        let mut cols = Vec::new();
        let mut numeric = Vec::new();
        for c in flat.columns() {
            names.push(c.name().to_string());
            numeric.push(c.dtype().is_primitive_numeric());
            cols.push(c.cast(&DataType::String)?.str()?.rechunk().into_owned());
        }
        Ok(Text {
            names,
            cols,
            numeric,
            height: flat.height(),
        })
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn numeric(&self, col: usize) -> bool {
        self.numeric[col]
    }

    /// The cell; a null is empty.
    pub fn cell(&self, col: usize, row: usize) -> &str {
        self.cols[col].get(row).unwrap_or("")
    }

    /// The cell of the column named `name`; empty when the frame has no such column (an
    /// overridden query may leave one out).
    pub fn get(&self, name: &str, row: usize) -> &str {
        match self.names.iter().position(|n| n == name) {
            Some(c) => self.cell(c, row),
            None => "",
        }
    }

    /// The cell as a number, when it is one.
    pub fn number(&self, name: &str, row: usize) -> Option<f64> {
        self.get(name, row).parse().ok()
    }
}
