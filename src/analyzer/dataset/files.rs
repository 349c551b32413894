//! The dataset's `files` table: what every ingested file became, and what incremental runs
//! (path, size, modification time) and readers (batch, event time range) need of it.

use polars::prelude::*;

use crate::analyzer::load::{self, FileReport};
use crate::base::timefmt::Millis;

/// What the dataset records of a source file beside its report.
#[derive(Debug, Clone, Default)]
pub struct FileMeta {
    pub mtime: Option<Millis>,
    pub batch: u32,
    pub first_event: Option<Millis>,
    pub last_event: Option<Millis>,
}

fn times(name: &str, v: Vec<Option<Millis>>) -> Column {
    Int64Chunked::from_iter_options(name.into(), v.into_iter())
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column()
}

/// The dataset's `files` table: the report's `files` columns, then what incremental runs and
/// readers need.
pub fn files_frame(rows: &[(FileReport, FileMeta)]) -> PolarsResult<DataFrame> {
    let reports: Vec<FileReport> = rows.iter().map(|(r, _)| r.clone()).collect();
    let mut df = load::files_frame(&reports)?;
    let meta = |f: fn(&FileMeta) -> Option<Millis>| rows.iter().map(|(_, m)| f(m)).collect();
    let extra = vec![
        Column::new(
            "kind".into(),
            rows.iter()
                .map(|(r, _)| r.skip.map(|k| k.as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "unusable".into(),
            rows.iter().map(|(r, _)| r.unusable).collect::<Vec<_>>(),
        ),
        Column::new(
            "values_nulled".into(),
            rows.iter()
                .map(|(r, _)| r.values_nulled)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "sha256".into(),
            rows.iter()
                .map(|(r, _)| r.sha256.clone())
                .collect::<Vec<_>>(),
        ),
        times("mtime", meta(|m| m.mtime)),
        Column::new(
            "batch".into(),
            rows.iter().map(|(_, m)| m.batch).collect::<Vec<_>>(),
        ),
        times("first_event", meta(|m| m.first_event)),
        times("last_event", meta(|m| m.last_event)),
    ];
    for c in extra {
        df.with_column(c)?;
    }
    Ok(df)
}
