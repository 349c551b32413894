//! What a timeline follows, as the calls a report over a dataset has to read for it. A timeline
//! shows the calls of one instance, session, sub or key: reading the window's other calls only to
//! have `queries/timeline.sql` leave them out held every call of the window for a few hundred.
//!
//! The rule here keeps a superset of what the SQL shows, and the SQL still decides: the calls
//! made with a key whose root assumption is followed (the root's instance, session name or sub
//! is the one asked; for a key ID, the root's key ID is the asked key's or the root of a key
//! issued with that ID, so every issuance of a reused ID is kept), and every call made with the
//! asked key ID, matched or not (the timeline shows the unmatched ones as unattributed).

use std::collections::HashSet;

use polars::prelude::*;

use crate::analyzer::model::lineage::Matcher;

/// The entity a timeline follows: one field set, as `timeline_filter` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Follow {
    pub instance: Option<String>,
    pub session_name: Option<String>,
    pub access_key_id: Option<String>,
    pub sub: Option<String>,
}

/// Which keys' calls, and which key ID's, a timeline of one entity can show.
pub struct Followed {
    /// Per key (`key_lineage` row): its root assumption is followed.
    keys: Vec<bool>,
    asked: Option<String>,
}

impl Follow {
    /// The `timeline_filter` table.
    pub fn frame(&self) -> DataFrame {
        df!(
            "instance" => [self.instance.as_deref()],
            "session_name" => [self.session_name.as_deref()],
            "access_key_id" => [self.access_key_id.as_deref()],
            "sub" => [self.sub.as_deref()],
        )
        .expect("four one-row columns")
    }

    /// The entity a `timeline_filter` table holds (see [`Follow::frame`]).
    pub fn from_frame(df: &DataFrame) -> PolarsResult<Follow> {
        let value = |name: &str| -> PolarsResult<Option<String>> {
            Ok(df.column(name)?.str()?.get(0).map(str::to_string))
        };
        Ok(Follow {
            instance: value("instance")?,
            session_name: value("session_name")?,
            access_key_id: value("access_key_id")?,
            sub: value("sub")?,
        })
    }

    /// The keys of `matcher`'s lineage whose calls the timeline can show; `assumptions` is the
    /// table the lineage was built from.
    pub fn keys(
        &self,
        assumptions: &DataFrame,
        matcher: &Matcher<'_, '_>,
    ) -> PolarsResult<Followed> {
        let column = |name: &str| -> PolarsResult<Vec<Option<&str>>> {
            Ok(assumptions.column(name)?.str()?.iter().collect())
        };
        let key_ids = column("access_key_id")?;
        // The key IDs whose assumptions are followed: the asked one, and its keys' roots'.
        let ids: Option<HashSet<&str>> = self.access_key_id.as_deref().map(|asked| {
            (0..matcher.keys())
                .filter(|&k| matcher.key_id(k) == asked)
                .filter_map(|k| key_ids[matcher.root_row(k)? as usize])
                .chain([asked])
                .collect()
        });
        let mut conditions: Vec<(Vec<Option<&str>>, &str)> = Vec::new();
        for (name, wanted) in [
            ("instance", &self.instance),
            ("session_name", &self.session_name),
            ("sub", &self.sub),
        ] {
            if let Some(w) = wanted {
                conditions.push((column(name)?, w.as_str()));
            }
        }
        let followed = |row: usize| {
            conditions.iter().all(|(values, w)| values[row] == Some(*w))
                && ids
                    .as_ref()
                    .is_none_or(|ids| key_ids[row].is_some_and(|k| ids.contains(k)))
        };
        let roots: Vec<bool> = (0..assumptions.height()).map(followed).collect();
        Ok(Followed {
            keys: (0..matcher.keys())
                .map(|k| matcher.root_row(k).is_some_and(|r| roots[r as usize]))
                .collect(),
            asked: self.access_key_id.clone(),
        })
    }
}

impl Followed {
    /// Which of `calls`, whose keys are `refs` (see `Matcher::key_refs`), the timeline can show.
    pub fn mask(&self, calls: &DataFrame, refs: &UInt32Chunked) -> PolarsResult<BooleanChunked> {
        let asked = self.asked.as_deref();
        let keys = calls.column("access_key_id")?.str()?;
        Ok(refs
            .iter()
            .zip(keys.iter())
            .map(|(r, k)| {
                Some(r.is_some_and(|r| self.keys[r as usize]) || (asked.is_some() && k == asked))
            })
            .collect())
    }
}
