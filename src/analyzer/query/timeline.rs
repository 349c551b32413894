//! `timeline`: which entity a timeline follows, as the one-row `timeline_filter` table that
//! `queries/timeline.sql` reads (unset columns are null).

use polars::prelude::*;

use crate::analyzer::model::Tables;
use crate::base::naming;

/// Exactly one of its fields is set by the command line.
pub use crate::analyzer::model::follow::Follow as Entity;

impl Entity {
    /// What the timeline follows, as the command line named it: its kind and value.
    pub fn asked(&self) -> Option<(&'static str, &str)> {
        [
            ("instance", &self.instance),
            ("session name", &self.session_name),
            ("access key", &self.access_key_id),
            ("sub", &self.sub),
        ]
        .into_iter()
        .find_map(|(kind, v)| v.as_deref().map(|v| (kind, v)))
    }

    /// A timeline that matched nothing, said: the values of that kind the input does hold
    /// that are nearest the one asked for (or that it holds none).
    pub fn unmatched(&self, tables: &Tables) -> PolarsResult<Option<String>> {
        let Some((kind, asked)) = self.asked() else {
            return Ok(None);
        };
        let column = |df: &DataFrame, name: &str| -> PolarsResult<Vec<String>> {
            Ok(df
                .column(name)?
                .str()?
                .iter()
                .flatten()
                .map(str::to_string)
                .collect())
        };
        let known: Vec<String> = match kind {
            "instance" => column(&tables.assumptions, "session_name")?
                .iter()
                .filter_map(|n| naming::parse_session_name(n).instance.map(str::to_string))
                .collect(),
            "session name" => column(&tables.assumptions, "session_name")?,
            "access key" => column(&tables.key_lineage, "access_key_id")?,
            _ => column(&tables.assumptions, "sub")?,
        };
        let shown = crate::base::text::excerpt(asked);
        if known.iter().any(|k| k == asked) {
            return Ok(Some(format!(
                "the {kind} '{shown}' has nothing in the window (its keys were issued, but not used in it)"
            )));
        }
        let near = crate::analyzer::query::nearest(asked, &known);
        Ok(Some(match near.is_empty() {
            true if known.is_empty() => {
                format!("no {kind} '{shown}' in the window, which holds none at all")
            }
            true => format!("no {kind} '{shown}' in the window, nor any close to it"),
            false => format!(
                "no {kind} '{shown}' in the window; the nearest it holds: {}",
                near.iter()
                    .map(|n| crate::base::text::excerpt(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::analyzer::query::nearest;

    #[test]
    fn the_nearest_names_come_first_and_far_ones_not_at_all() {
        let known: Vec<String> = ["web-3", "web-1", "etl-1", "nightly-1", "web-3"]
            .map(String::from)
            .to_vec();
        assert_eq!(nearest("web-9", &known), ["web-1", "web-3"]);
        assert_eq!(nearest("etl", &known)[0], "etl-1");
        assert!(nearest("zzzzzz", &known).is_empty());
    }
}
