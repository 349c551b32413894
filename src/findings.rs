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
            // Down to `detail`, so that no two rows tie and reruns give identical bytes.
            [
                "__rank",
                "first_seen",
                "kind",
                "access_key_id",
                "source_ip",
                "sub",
                "session_name",
                "detail",
            ],
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

/// A detection threshold: registered as a column of the one-row `findings_params` table, so the
/// SQL in `queries/findings/` reads it and `--set NAME=VALUE` tunes it without editing SQL.
pub struct Param {
    pub name: &'static str,
    pub default: i64,
    pub doc: &'static str,
}

/// Every threshold the shipped detections read, with its default. Durations are in seconds;
/// `--set` also takes them as `90s`, `10m`, `1h`.
pub const PARAMS: &[Param] = &[
    Param {
        name: "failed_assumption_min",
        default: 5,
        doc: "failed AssumeRoleWithWebIdentity calls from one sub or one IP that make a burst",
    },
    Param {
        name: "failed_assumption_window_s",
        default: 600,
        doc: "...within this many seconds",
    },
    Param {
        name: "recon_min_distinct",
        default: 8,
        doc: "distinct List*/Describe*/Get*Account*/GetCallerIdentity calls by one key that make a burst",
    },
    Param {
        name: "recon_min_denied",
        default: 5,
        doc: "...or this many access-denied errors by one key",
    },
    Param {
        name: "recon_window_s",
        default: 300,
        doc: "...within this many seconds",
    },
];

#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error("--set {0}: expected NAME=VALUE")]
    Shape(String),
    #[error("--set {name}: no such parameter (known: {known})")]
    Unknown { name: String, known: String },
    #[error("--set {name}={value}: expected a positive whole number{unit}")]
    Value {
        name: String,
        value: String,
        unit: &'static str,
    },
}

/// The `findings_params` table: the defaults with each `NAME=VALUE` override applied.
pub fn params(overrides: &[String]) -> Result<DataFrame, ParamError> {
    let mut values: Vec<i64> = PARAMS.iter().map(|p| p.default).collect();
    for o in overrides {
        let (name, value) = o
            .split_once('=')
            .ok_or_else(|| ParamError::Shape(o.clone()))?;
        let (name, value) = (name.trim(), value.trim());
        let i = PARAMS
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ParamError::Unknown {
                name: name.to_string(),
                known: PARAMS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
            })?;
        let seconds = name.ends_with("_s");
        let parsed = if seconds {
            crate::timefmt::parse_span(value).map(|d| d.num_seconds())
        } else {
            value.parse::<i64>().ok()
        };
        values[i] = parsed.filter(|v| *v > 0).ok_or_else(|| ParamError::Value {
            name: name.to_string(),
            value: value.to_string(),
            unit: if seconds {
                " of seconds, or a span like 10m"
            } else {
                ""
            },
        })?;
    }
    let columns = PARAMS
        .iter()
        .zip(values)
        .map(|(p, v)| Column::new(p.name.into(), [v]))
        .collect();
    Ok(DataFrame::new(1, columns).expect("one row per column"))
}
