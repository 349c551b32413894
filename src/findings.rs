//! Findings: the rows every `queries/findings/*.sql` produces, stacked and ordered, and the
//! `--fail-on` severity gate.

use polars::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

/// The columns every detection returns, in this order.
pub const COLUMNS: [&str; 12] = [
    "kind",
    "severity",
    "access_key_id",
    "session_name",
    "project",
    "instance",
    "sub",
    "source_ip",
    "first_seen",
    "last_seen",
    "events",
    "detail",
];

/// Stack every detection's rows (each checked for the contract's columns) and order them:
/// most severe first, then by time, kind and key, so reruns give identical output.
pub fn combine(frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let select: Vec<Expr> = COLUMNS.iter().map(|c| col(*c)).collect();
    let mut parts = Vec::with_capacity(frames.len());
    for df in frames {
        for c in COLUMNS {
            df.column(c).map_err(|_| {
                polars_err!(ColumnNotFound: "a findings query returned no column '{c}' (every detection must return: {})", COLUMNS.join(", "))
            })?;
        }
        parts.push(
            df.lazy()
                .select(select.clone())
                .with_column(col("events").cast(DataType::UInt32)),
        );
    }
    if parts.is_empty() {
        return Ok(DataFrame::empty());
    }
    let rank = when(col("severity").eq(lit("high")))
        .then(lit(0))
        .when(col("severity").eq(lit("medium")))
        .then(lit(1))
        .when(col("severity").eq(lit("low")))
        .then(lit(2))
        .otherwise(lit(3))
        .alias("__rank");
    concat(parts, UnionArgs::default())?
        .with_column(rank)
        .sort(
            ["__rank", "first_seen", "kind", "access_key_id", "source_ip"],
            SortMultipleOptions::default().with_nulls_last(true),
        )
        .drop(cols(["__rank"]))
        .collect()
}

/// True when some finding is at least `gate` severe.
pub fn any_at_or_above(df: &DataFrame, gate: Severity) -> PolarsResult<bool> {
    if df.height() == 0 {
        return Ok(false);
    }
    let sev = df.column("severity")?.str()?;
    // The same spelling as --fail-on; a label a user's query invents counts as info.
    Ok(sev.iter().flatten().any(|s| {
        <Severity as clap::ValueEnum>::from_str(s, true).unwrap_or(Severity::Info) >= gate
    }))
}
