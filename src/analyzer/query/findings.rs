//! Findings: the rows every `queries/findings/*.sql` produces, stacked and ordered, and the
//! `--fail-on` severity gate.

use polars::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    /// Least severe first, with the label the SQL writes and `--fail-on` takes.
    pub const ALL: [(Severity, &'static str); 4] = [
        (Severity::Info, "info"),
        (Severity::Low, "low"),
        (Severity::Medium, "medium"),
        (Severity::High, "high"),
    ];

    /// A label, in any case; `None` for a label no shipped detection uses.
    pub fn parse(label: &str) -> Option<Severity> {
        Self::ALL
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(label))
            .map(|(s, _)| *s)
    }
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

/// The column a detection may add to the contract's: the events behind each finding, each as
/// its time and eventID (`2026-10-08T13:30:00Z 1f0e…`), in time order: a list, or for a
/// detection of one event per finding that event as text (null: none). Only `--format ocsf`
/// shows it; a detection without it has none there.
pub const EVIDENCE: &str = "evidence";

/// Stack every detection's rows (each checked for the contract's columns) and order them:
/// most severe first, then by time, kind and key, so reruns give identical output.
pub fn combine(frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    combine_with(frames, false)
}

/// [`combine`], keeping each finding's [`EVIDENCE`] as the last column when `evidence`.
pub fn combine_with(frames: Vec<DataFrame>, evidence: bool) -> PolarsResult<DataFrame> {
    let mut select: Vec<Expr> = COLUMNS.iter().map(|c| col(*c)).collect();
    if evidence {
        select.push(col(EVIDENCE));
    }
    let mut parts = Vec::with_capacity(frames.len());
    for df in frames {
        for c in COLUMNS {
            df.column(c).map_err(|_| {
                polars_err!(ColumnNotFound: "a findings query returned no column '{c}' (every detection must return: {})", COLUMNS.join(", "))
            })?;
        }
        let mut df = df;
        // A detection of one event per finding may return it as text: a list of it here.
        if evidence
            && df
                .column(EVIDENCE)
                .is_ok_and(|c| c.dtype() == &DataType::String)
        {
            df = df
                .lazy()
                .with_column(concat_list([col(EVIDENCE)])?.alias(EVIDENCE))
                .collect()?;
        }
        if evidence && df.column(EVIDENCE).is_err() {
            let none = Series::full_null(
                EVIDENCE.into(),
                df.height(),
                &DataType::List(Box::new(DataType::String)),
            );
            df.with_column(none.into_column())?;
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
    Ok(sev
        .iter()
        .flatten()
        .any(|s| Severity::parse(s).unwrap_or(Severity::Info) >= gate))
}

/// A detection threshold's name, default and meaning, for `janus-audit tables` and docs/TABLES.md.
pub struct Param {
    pub name: &'static str,
    pub default: i64,
    pub doc: &'static str,
}

/// Declares the thresholds once: the typed struct, its defaults, and the [`PARAMS`] listing.
macro_rules! thresholds {
    ($($name:ident = $default:expr, $doc:expr;)*) => {
        /// The thresholds the shipped detections read. Registered as the one-row
        /// `findings_params` table (so the SQL in `queries/findings/` reads them and `--set
        /// NAME=VALUE` tunes them without editing SQL) and recorded as JSON in a manifest.
        /// Durations are in seconds.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        pub struct Thresholds {
            $(pub $name: i64,)*
        }

        impl Default for Thresholds {
            fn default() -> Self {
                Thresholds { $($name: $default,)* }
            }
        }

        pub const PARAMS: &[Param] = &[$(Param {
            name: stringify!($name),
            default: $default,
            doc: $doc,
        },)*];

        impl Thresholds {
            fn slot(&mut self, name: &str) -> Option<&mut i64> {
                match name {
                    $(stringify!($name) => Some(&mut self.$name),)*
                    _ => None,
                }
            }

            /// The `findings_params` table.
            pub fn frame(&self) -> DataFrame {
                let columns = vec![$(Column::new(stringify!($name).into(), [self.$name]),)*];
                DataFrame::new(1, columns).expect("one row per column")
            }
        }
    };
}

thresholds! {
    failed_assumption_min = 5,
        "failed AssumeRoleWithWebIdentity calls from one sub or one IP that make a burst";
    failed_assumption_window_s = 600, "...within this many seconds";
    recon_min_distinct = 8,
        "distinct List*/Describe*/Get*Account*/GetCallerIdentity calls by one key that make a burst";
    recon_min_denied = 5, "...or this many access-denied errors by one key";
    recon_window_s = 300, "...within this many seconds";
}

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

impl Thresholds {
    /// Apply one `NAME=VALUE` override. Durations (`*_s`) also take `90s`, `10m`, `1h`.
    pub fn set(&mut self, assignment: &str) -> Result<(), ParamError> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| ParamError::Shape(assignment.to_string()))?;
        let (name, value) = (name.trim(), value.trim());
        let seconds = name.ends_with("_s");
        let slot = self.slot(name).ok_or_else(|| ParamError::Unknown {
            name: name.to_string(),
            known: PARAMS.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
        })?;
        let parsed = if seconds {
            crate::base::timefmt::parse_span(value).map(|d| d.num_seconds())
        } else {
            value.parse::<i64>().ok()
        };
        *slot = parsed.filter(|v| *v > 0).ok_or_else(|| ParamError::Value {
            name: name.to_string(),
            value: value.to_string(),
            unit: if seconds {
                " of seconds, or a span like 10m"
            } else {
                ""
            },
        })?;
        Ok(())
    }

    /// The defaults with each `NAME=VALUE` override applied in order.
    pub fn with_overrides(overrides: &[String]) -> Result<Thresholds, ParamError> {
        let mut t = Thresholds::default();
        for o in overrides {
            t.set(o)?;
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_views_agree() {
        let t = Thresholds::with_overrides(&["recon_window_s=10m".into()]).unwrap();
        assert_eq!(t.recon_window_s, 600);
        let df = t.frame();
        let json = serde_json::to_value(&t).unwrap();
        for p in PARAMS {
            let v = df.column(p.name).unwrap().i64().unwrap().get(0).unwrap();
            assert_eq!(json[p.name], v, "{}", p.name);
        }
        assert_eq!(df.width(), PARAMS.len());
    }

    #[test]
    fn severity_labels() {
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse("critical"), None);
    }
}
