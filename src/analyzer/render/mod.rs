//! Report writers: a terminal table, CSV, JSON, Parquet and HTML, to stdout or atomically to a
//! file. (A report command's HTML is a whole page with its context, see `html`; here, a frame
//! alone becomes a page with just its table.)
//!
//! Multi-valued columns stay lists in Parquet and JSON and are `;`-joined in CSV and tables.
//! Times are RFC 3339 UTC (`2026-10-05T12:00:00Z`) in text formats and UTC timestamps in Parquet.

mod error;
pub mod fit;
pub mod flat;
pub mod html;
pub mod ocsf;
mod table;

pub use error::OutputError;
pub use table::write_fitted;

use std::io::Write;

use crate::analyzer::render::flat::as_text;
use polars::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
    Html,
    /// OCSF Detection Findings, JSON Lines (findings only; see `ocsf`).
    Ocsf,
}

impl Format {
    /// Every format, by the name `--format` takes.
    pub const ALL: [(Format, &'static str); 6] = [
        (Format::Table, "table"),
        (Format::Csv, "csv"),
        (Format::Json, "json"),
        (Format::Parquet, "parquet"),
        (Format::Html, "html"),
        (Format::Ocsf, "ocsf"),
    ];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
            Format::Html => "html",
            Format::Ocsf => "ocsf.jsonl",
        }
    }
}

/// The characters that make a spreadsheet read a CSV cell as a formula (OWASP, "CSV
/// Injection"): a cell that starts with one is prefixed with `'`, which spreadsheets show and do
/// not evaluate. Session names like `=1+2` are legal, and a failed assumption's `sub` is
/// whatever an unauthenticated caller sent.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Every text column of `df` with its formula-starting cells neutralised.
fn spreadsheet_safe(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::String)
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let ca = df.column(&name)?.str()?.clone();
        if !ca.iter().flatten().any(|v| v.starts_with(FORMULA_START)) {
            continue;
        }
        let safe = StringChunked::from_iter_options(
            name.clone(),
            ca.iter().map(|v| {
                v.map(|v| match v.starts_with(FORMULA_START) {
                    true => format!("'{v}"),
                    false => v.to_string(),
                })
            }),
        );
        df.with_column(safe.into_column())?;
    }
    Ok(df)
}

/// A list column's nulls as empty lists: a session that chained no role has `[]` chained roles
/// in JSON, not `null`.
fn empty_lists(mut df: DataFrame) -> PolarsResult<DataFrame> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::List(_)) && c.null_count() > 0)
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let column = df.column(&name)?.clone();
        let DataType::List(inner) = column.dtype() else {
            continue;
        };
        let empty = Series::new_empty(PlSmallStr::EMPTY, inner);
        let list = column.list()?;
        let filled: ListChunked = (0..list.len())
            .map(|i| Some(list.get_as_series(i).unwrap_or_else(|| empty.clone())))
            .collect();
        df.with_column(filled.with_name(name).into_column())?;
    }
    Ok(df)
}

/// Write `df` in `format` to `w`. `title` names what made it, on an HTML page.
pub fn write(
    df: &DataFrame,
    format: Format,
    title: &str,
    w: &mut dyn Write,
) -> Result<(), OutputError> {
    match format {
        Format::Table => table::write_whole(df, w)?,
        Format::Csv => {
            let mut flat = spreadsheet_safe(as_text(df, Some(";"))?)?;
            CsvWriter::new(&mut *w)
                .include_header(true)
                .finish(&mut flat)?;
        }
        Format::Json => {
            let mut out = empty_lists(as_text(df, None)?)?;
            JsonWriter::new(&mut *w)
                .with_json_format(JsonFormat::Json)
                .finish(&mut out)?;
            w.write_all(b"\n")?;
        }
        Format::Html => {
            w.write_all(crate::analyzer::render::html::table_page(df, title)?.as_bytes())?
        }
        Format::Ocsf => ocsf::write(df, chrono::Utc::now().timestamp_millis(), w)?,
        Format::Parquet => {
            let mut out = df.clone();
            ParquetWriter::new(&mut *w)
                .with_compression(ParquetCompression::Zstd(None))
                .finish(&mut out)?;
        }
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::atomic::write_atomic;

    #[test]
    fn csv_cells_that_start_a_formula_are_neutralised_and_tables_escape_control_characters() {
        let df = DataFrame::new(
            5,
            vec![
                Column::new("s".into(), ["=1+2", "+x", "-y", "@SUM(A1)", "plain-=-text"]),
                Column::new("n".into(), [-1i64, 2, 3, 4, 5]),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        write(&df, Format::Csv, "t", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "s,n\n'=1+2,-1\n'+x,2\n'-y,3\n'@SUM(A1),4\nplain-=-text,5\n"
        );
        let tab = DataFrame::new(
            1,
            vec![Column::new("s".into(), ["evil\u{1b}]0;pwned\u{7}\nline"])],
        )
        .unwrap();
        let mut out = Vec::new();
        write(&tab, Format::Table, "t", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
    }

    #[test]
    fn an_output_onto_a_fifo_or_device_writes_to_it_and_never_replaces_it() {
        use std::os::unix::fs::FileTypeExt;
        // A FIFO stands in for a device (`/dev/null`, `/dev/stdout`): renaming over either would
        // put a regular file in its place.
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("out");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo(3) on a path in our own temporary folder.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, |w| Ok::<_, OutputError>(w.write_all(b"report")?)).unwrap();
        assert_eq!(reader.join().unwrap(), b"report");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    fn sample() -> DataFrame {
        let ips = Series::new(
            "ips".into(),
            [
                Series::new("".into(), ["10.0.0.1", "10.0.0.2"]),
                Series::new("".into(), ["10.0.0.3"]),
            ],
        );
        let t = Int64Chunked::from_vec("t".into(), vec![1_700_000_000_000, 0])
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC));
        DataFrame::new(
            2,
            vec![
                Column::new("name".into(), ["a", "b"]),
                ips.into(),
                t.into_column(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn csv_joins_lists_and_formats_times() {
        let mut out = Vec::new();
        write(&sample(), Format::Csv, "test", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "name,ips,t\na,10.0.0.1;10.0.0.2,2023-11-14T22:13:20Z\nb,10.0.0.3,1970-01-01T00:00:00Z\n"
        );
    }

    #[test]
    fn json_keeps_lists() {
        let mut out = Vec::new();
        write(&sample(), Format::Json, "test", &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v[0]["ips"], serde_json::json!(["10.0.0.1", "10.0.0.2"]));
        assert_eq!(v[0]["t"], "2023-11-14T22:13:20Z");
    }

    #[test]
    fn parquet_round_trips() {
        let mut out = Vec::new();
        write(&sample(), Format::Parquet, "test", &mut out).unwrap();
        let back = ParquetReader::new(std::io::Cursor::new(out))
            .finish()
            .unwrap();
        assert!(back.equals_missing(&sample()));
    }

    #[test]
    fn atomic_write_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let err = write_atomic(&path, |w| {
            w.write_all(b"half")?;
            Err(OutputError::Io(std::io::Error::other("boom")))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&path, |w| Ok::<_, OutputError>(w.write_all(b"whole")?)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
    }
}
