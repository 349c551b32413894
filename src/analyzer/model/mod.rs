//! Records → column builders → polars tables. The schemas here are the contract users write SQL
//! against (docs/TABLES.md, generated from `schema`); keep them stable.
//!
//! Tables:
//! - `events`: every unique record in the window (built only when a query reads it).
//! - `role_calls`: every record made inside an assumed-role session (temporary `ASIA` key or
//!   `AssumedRole` identity), in the window.
//! - `assumptions`: every `AssumeRoleWithWebIdentity`, successful or not, whatever its time, with
//!   `in_window` saying whether it counts in the report; earlier ones still own later calls.
//! - `policy_changes`: every CreateRole and UpdateAssumeRolePolicy, whatever its time (`trust`
//!   reads the trust policies' history from it).
//! - `files`: one row per input file and what became of it.

pub mod activity;
pub mod call_groups;
pub mod dedupe;
pub mod follow;
pub mod key_table;
pub mod lineage;
pub mod merged_groups;
pub mod schema;
pub mod shared;
pub mod sink;
pub mod trusted;

pub use sink::{Needs, Part, RecordStats, Sink, UNKNOWN};

use polars::prelude::*;

use crate::analyzer::model::dedupe::{Duplicates, EventIds};
pub use crate::analyzer::model::schema::Table;
use crate::analyzer::model::schema::{
    AssumptionCols, EventCols, HopCols, PolicyChangeCols, RoleCallCols,
};

use crate::analyzer::source::record::GOOGLE;
/// The tables after every file is read and duplicates are gone.
pub struct Tables {
    pub events: Option<DataFrame>,
    pub role_calls: DataFrame,
    pub assumptions: DataFrame,
    /// Every chained AssumeRole (and target-account copy), one copy each.
    pub hops: DataFrame,
    /// Every CreateRole and UpdateAssumeRolePolicy, one copy each: the trust policies' history.
    pub policy_changes: DataFrame,
    /// Every key that descends from a selected provider's assumption (see `lineage`).
    pub key_lineage: DataFrame,
    /// The window's calls grouped by key (see `activity`), when they were read as groups only
    /// (`role_calls` is then empty); otherwise made from `role_calls` when a query reads it.
    pub key_activity: Option<DataFrame>,
    /// The tables made a call at a time (`query::PER_CALL`), when the calls were read as
    /// pieces: their queries' rows only, made piece by piece (`role_calls` is then empty).
    pub per_call: Vec<(Table, DataFrame)>,
    /// How the window's calls were matched to their keys, beyond the matches themselves.
    pub key_match: crate::analyzer::model::lineage::MatchStats,
    pub stats: RecordStats,
    /// Repeated `eventID`s: copies dropped, and those whose content differed.
    pub duplicates: Duplicates,
    /// Which Sigma rule each record in the window held for (`sigma_matches`), when rules were
    /// given; one copy of each event.
    pub sigma_matches: Option<DataFrame>,
    /// Assumptions from other web identity providers left out by the Google filter.
    pub other_providers: u64,
}

/// Reads the window's calls piece by piece for [`Tables::from_raw_grouped`], given the keys
/// (`Matcher`), which copies survive, and the assumptions the keys were issued by.
pub type GroupCalls<'f> = Box<
    dyn FnOnce(
            &crate::analyzer::model::lineage::Matcher<'_, '_>,
            &Duplicates,
            &DataFrame,
        ) -> PolarsResult<Fed>
        + 'f,
>;

/// What [`GroupCalls`] read of the calls.
pub enum Fed {
    /// None of them: their groups (`key_activity`, when a query reads it) and the tables made
    /// a call at a time that queries read (`query::PER_CALL`), each with its rows only.
    Pieces {
        groups: Option<DataFrame>,
        per_call: Vec<(Table, DataFrame)>,
    },
    /// Those a report needs, already matched to their keys (with `key_ref`).
    Calls(DataFrame),
}

/// Which web-identity providers the reports cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderFilter {
    Google,
    Any,
}

impl ProviderFilter {
    /// Every choice, with the name `--provider` takes and what it covers.
    pub const ALL: [(ProviderFilter, &'static str, &'static str); 2] = [
        (
            ProviderFilter::Google,
            "google",
            "Only sessions federated from accounts.google.com",
        ),
        (
            ProviderFilter::Any,
            "any",
            "Every web identity provider (GitHub Actions, EKS, ...)",
        ),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderFilter::Google => "google",
            ProviderFilter::Any => "any",
        }
    }
}

/// The columns of `role_calls` a report keeps (see [`role_call_columns`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallColumns {
    /// In the table's order.
    pub kept: Vec<String>,
    /// Those of `kept` that no query names and janus-audit reads only to match a call made
    /// without an access key to its session (`lineage::SESSION_MATCH`): a dataset decodes them
    /// only when its window has such a call.
    pub session_match: Vec<String>,
}

/// The columns of `role_calls` a report keeps: those its queries can name (`words`, see
/// `query::words_read`) and those janus-audit reads itself (de-duplication, the window,
/// `--trusted-cidrs`, each call's key: `lineage::KEY_REF`). `None` (keep all) when `words` is.
/// `event_id` only when a query names it: repeated IDs are resolved by each copy's place in the
/// input (`__seq`, see `dedupe`), and it is the widest column of a call.
pub fn role_call_columns(
    words: Option<&std::collections::BTreeSet<String>>,
) -> Option<CallColumns> {
    // With the access key, the session's ARN and creation time: which issuance of a key ID a
    // call was made with (`lineage`).
    const OWN: [&str; 7] = [
        "event_time",
        dedupe::SEQ,
        "source_ip",
        "trusted_source",
        "access_key_id",
        crate::analyzer::model::lineage::KEY_MATCH[0],
        crate::analyzer::model::lineage::KEY_MATCH[1],
    ];
    let words = words?;
    let session_match =
        |c: &str| crate::analyzer::model::lineage::SESSION_MATCH.contains(&c) && !OWN.contains(&c);
    let kept: Vec<String> = RoleCallCols::new(0)
        .finish()
        .get_column_names()
        .into_iter()
        .filter(|c| OWN.contains(&c.as_str()) || session_match(c) || words.contains(c.as_str()))
        .map(|c| c.to_string())
        .collect();
    let session_match = kept
        .iter()
        .filter(|c| session_match(c) && !words.contains(c.as_str()))
        .cloned()
        .collect();
    Some(CallColumns {
        kept,
        session_match,
    })
}

/// The columns of `assumptions` and `hops` a report over a dataset decodes (`None`: all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseColumns {
    pub assumptions: Option<Vec<String>>,
    pub hops: Option<Vec<String>>,
}

impl BaseColumns {
    /// Those the queries can name (`words` of each table, see `query::table_words`) and those
    /// janus-audit reads itself; all of a table whose words are `None`.
    pub fn of(
        assumptions: Option<&std::collections::BTreeSet<String>>,
        hops: Option<&std::collections::BTreeSet<String>>,
    ) -> BaseColumns {
        // Read by janus-audit whatever the queries name: the key lineage and the columns of
        // key_lineage taken from these tables (`lineage`, `key_table`), which copy of a repeated
        // eventID survives (`dedupe`), the provider of each assumption (`attribute_providers`),
        // and, for the commands that use them, a timeline's entity (`follow`), the trust
        // history and policies (`trust`) and the GCP verdicts (`gcp::keys`).
        // Of both tables: the key, its issuance and its role session.
        const BOTH: [&str; 11] = [
            "event_id",
            dedupe::SEQ,
            "event_time",
            "error_code",
            "access_key_id",
            "assumed_role_arn",
            "role_arn",
            "session_name",
            "expires_at",
            "account_id",
            "source_identity",
        ];
        const OWN_ASSUMPTIONS: [&str; 6] = [
            "issuing_ip",
            "provider",
            "sub",
            "aud",
            "project",
            "instance",
        ];
        const OWN_HOPS: [&str; 6] = [
            "source_ip",
            "identity_type",
            "parent_key",
            "parent_arn",
            "parent_created_at",
            "shared_event_id",
        ];
        let kept =
            |all: DataFrame, own: &[&str], words: Option<&std::collections::BTreeSet<String>>| {
                let words = words?;
                Some(
                    all.get_column_names()
                        .into_iter()
                        .filter(|c| {
                            let c = c.as_str();
                            BOTH.contains(&c) || own.contains(&c) || words.contains(c)
                        })
                        .map(|c| c.to_string())
                        .collect(),
                )
            };
        BaseColumns {
            assumptions: kept(
                AssumptionCols::new(0).finish(),
                &OWN_ASSUMPTIONS,
                assumptions,
            ),
            hops: kept(HopCols::new(0).finish(), &OWN_HOPS, hops),
        }
    }

    /// The same columns of a part parsed from the JSON, whose rows already say whether they
    /// are in the window: what a report over the files holds of each assumption and hop while
    /// it reads the rest (591,000 assumptions over 30M events of the benchmarks' fleet).
    pub fn narrow(&self, part: &mut Part) {
        let keep = |df: &mut DataFrame, columns: &Option<Vec<String>>| {
            if let Some(c) = columns {
                let window = (!c.iter().any(|c| c == "in_window")).then_some("in_window");
                *df = df
                    .select(c.iter().map(String::as_str).chain(window))
                    .expect("columns of the table");
            }
        };
        keep(&mut part.assumptions, &self.assumptions);
        keep(&mut part.hops, &self.hops);
    }
}

impl Part {
    /// `parts`, read one after the other, as one part (their chunks kept, not copied).
    fn stacked(parts: Vec<Part>) -> PolarsResult<Option<Part>> {
        let mut parts = parts.into_iter();
        let Some(mut one) = parts.next() else {
            return Ok(None);
        };
        let both = |a: Option<DataFrame>, b: Option<DataFrame>| stack(a.into_iter().chain(b));
        for p in parts {
            one.stats.add(&p.stats);
            one.events = both(one.events.take(), p.events)?;
            one.calls.vstack_mut_owned(p.calls)?;
            one.assumptions.vstack_mut_owned(p.assumptions)?;
            one.hops.vstack_mut_owned(p.hops)?;
            one.policy_changes.vstack_mut_owned(p.policy_changes)?;
            one.ids.append(p.ids);
            one.sigma_matches = both(one.sigma_matches.take(), p.sigma_matches)?;
        }
        Ok(Some(one))
    }

    /// [`Part::stacked`], with what is held until every file is read (the assumptions and
    /// hops) in buffers of its own (see `shared::held`).
    pub fn merged(parts: Vec<Part>) -> PolarsResult<Option<Part>> {
        let Some(mut one) = Part::stacked(parts)? else {
            return Ok(None);
        };
        shared::held(&mut one.assumptions)?;
        shared::held(&mut one.hops)?;
        Ok(Some(one))
    }
}

/// Frames of one schema, one after the other (their chunks are kept, not copied).
pub fn stack(frames: impl Iterator<Item = DataFrame>) -> PolarsResult<Option<DataFrame>> {
    let mut out: Option<DataFrame> = None;
    for df in frames {
        match out.as_mut() {
            None => out = Some(df),
            Some(acc) => {
                acc.vstack_mut_owned(df)?;
            }
        }
    }
    Ok(out)
}

/// The tables as read, before anything is decided across records: every copy of a repeated
/// eventID (each row keeps its `__seq`), every provider. This is what a dataset stores; the
/// decisions are made when the tables are built, over whatever was read.
pub struct Raw {
    pub events: Option<DataFrame>,
    pub role_calls: DataFrame,
    pub assumptions: DataFrame,
    pub hops: DataFrame,
    pub policy_changes: DataFrame,
    pub sigma_matches: Option<DataFrame>,
    pub ids: EventIds,
    /// What `ids` resolves to, when that is already known (a dataset's cached answer).
    pub resolved: Option<Duplicates>,
    pub stats: RecordStats,
}

/// `sigma_matches` with no row, as queries see it (without its input-order column).
pub fn sigma_matches_empty() -> DataFrame {
    let mut df = schema::SigmaMatchCols::new(0).finish();
    let _ = df.drop_in_place(dedupe::SEQ);
    df
}

impl Raw {
    pub fn from_parts(parts: Vec<Part>) -> PolarsResult<Raw> {
        let Some(p) = Part::stacked(parts)? else {
            return Ok(Raw {
                events: None,
                role_calls: RoleCallCols::new(0).finish(),
                assumptions: AssumptionCols::new(0).finish(),
                hops: HopCols::new(0).finish(),
                policy_changes: PolicyChangeCols::new(0).finish(),
                sigma_matches: None,
                ids: EventIds::default(),
                resolved: None,
                stats: RecordStats::default(),
            });
        };
        Ok(Raw {
            events: p.events,
            role_calls: p.calls,
            assumptions: p.assumptions,
            hops: p.hops,
            policy_changes: p.policy_changes,
            sigma_matches: p.sigma_matches,
            ids: p.ids,
            resolved: None,
            stats: p.stats,
        })
    }
}

impl Tables {
    /// What only the queries read, released once they have run and before their answers are
    /// written (at 30M events, `report` held 0.4 GB of it while writing): the calls and what
    /// was made of them, and, unless `keys` (a timeline may still ask why it is empty), the
    /// assumptions and the lineage. The trust policies' history is kept for the reports.
    pub fn release(&mut self, keys: bool) {
        self.events = None;
        self.role_calls = DataFrame::empty();
        self.hops = DataFrame::empty();
        self.key_activity = None;
        self.per_call.clear();
        self.sigma_matches = None;
        if !keys {
            self.assumptions = DataFrame::empty();
            self.key_lineage = DataFrame::empty();
        }
    }

    pub fn from_parts(
        parts: Vec<Part>,
        providers: &ProviderFilter,
        named: Option<&lineage::Named>,
    ) -> PolarsResult<Tables> {
        Tables::from_raw(Raw::from_parts(parts)?, providers, named)
    }

    /// Keep one copy of each repeated eventID, attribute and filter providers. Of
    /// `key_lineage`, only the columns `named` are built (all when `None`).
    pub fn from_raw(
        raw: Raw,
        providers: &ProviderFilter,
        named: Option<&lineage::Named>,
    ) -> PolarsResult<Tables> {
        Tables::build(raw, providers, named, None)
    }

    /// [`Tables::from_raw`] for a `raw` without its calls: `groups` reads them piece by piece,
    /// matching each piece to its keys and dropping the copies that do not survive, and returns
    /// their groups (`key_activity`; `role_calls` is left empty) or the calls a report needs.
    pub fn from_raw_grouped(
        raw: Raw,
        providers: &ProviderFilter,
        named: Option<&lineage::Named>,
        groups: GroupCalls<'_>,
    ) -> PolarsResult<Tables> {
        Tables::build(raw, providers, named, Some(groups))
    }

    fn build(
        raw: Raw,
        providers: &ProviderFilter,
        named: Option<&lineage::Named>,
        groups: Option<GroupCalls<'_>>,
    ) -> PolarsResult<Tables> {
        let Raw {
            events,
            role_calls,
            assumptions,
            hops,
            policy_changes,
            sigma_matches,
            ids,
            resolved,
            stats,
        } = raw;
        let dups = match resolved {
            Some(d) => d,
            None => ids.resolve()?,
        };
        let mut stats = stats;
        stats.recount_timeless(&dups);
        let events = events.map(|df| dups.apply(df)).transpose()?;
        let mut role_calls = dups.apply(role_calls)?;
        let hops = dups.apply(hops)?;
        let policy_changes = dups.apply(policy_changes)?;
        let sigma_matches = sigma_matches.map(|df| dups.apply(df)).transpose()?;
        let assumptions = attribute_providers(dups.apply(assumptions)?)?;
        let other_providers = assumptions
            .column("provider")?
            .str()?
            .iter()
            .filter(|p| !matches!(*p, Some(GOOGLE) | Some(UNKNOWN)))
            .count() as u64;
        let assumptions = match providers {
            ProviderFilter::Any => assumptions,
            // A failure whose provider is unknown stays: it may be a forged or stolen token
            // against a Google role, and an investigator would rather see a burst than miss one.
            ProviderFilter::Google => assumptions
                .lazy()
                .filter(
                    col("provider").eq(lit(GOOGLE)).or(col("provider")
                        .eq(lit(UNKNOWN))
                        .and(col("error_code").is_not_null())),
                )
                .collect()?,
        };
        // One chunk each: a dataset's parts or the files' come as thousands, and polars gathers
        // rows of a string column of many chunks by copying each string, where it shares the
        // strings of one (the lineage's columns are gathered from these two: 100 MB less at 30M
        // events). Each repeated string is held once (see `shared`).
        let (mut assumptions, mut hops) = (assumptions, hops);
        shared::one_chunk(&mut assumptions)?;
        shared::one_chunk(&mut hops)?;
        let started = std::time::Instant::now();
        let (key_lineage, key_match, fed) =
            match_keys((&assumptions, &hops), named, &mut role_calls, groups, &dups)?;
        let (key_activity, per_call) = fed.unwrap_or_default();
        tracing::info!(
            "key lineage: {} key(s) in {:.2?}, {} of its {} columns built",
            key_lineage.height(),
            started.elapsed(),
            key_lineage.width(),
            lineage::COLUMNS.len()
        );
        Ok(Tables {
            events,
            role_calls,
            assumptions,
            hops,
            policy_changes,
            key_lineage,
            key_activity,
            per_call,
            key_match,
            stats,
            duplicates: dups,
            sigma_matches,
            other_providers: match providers {
                ProviderFilter::Google => other_providers,
                ProviderFilter::Any => 0,
            },
        })
    }
}

/// The key lineage, with each of `role_calls`' calls given its key (`key_ref`); or, when the
/// calls are read as pieces, what was kept of them (their groups, the tables made a call at a
/// time), and `role_calls` left empty with the column.
#[allow(clippy::type_complexity)]
fn match_keys(
    (assumptions, hops): (&DataFrame, &DataFrame),
    named: Option<&lineage::Named>,
    role_calls: &mut DataFrame,
    groups: Option<GroupCalls<'_>>,
    dups: &Duplicates,
) -> PolarsResult<(
    DataFrame,
    lineage::MatchStats,
    Option<(Option<DataFrame>, Vec<(Table, DataFrame)>)>,
)> {
    let mut pieces = None;
    let (key_lineage, key_match) = match groups {
        None => lineage::build_by(assumptions, hops, named, |m| {
            let refs = m.key_refs(role_calls)?;
            role_calls.with_column(refs.into_column())?;
            Ok(())
        })?,
        Some(groups) => lineage::build_by(assumptions, hops, named, |m| {
            match groups(m, dups, assumptions)? {
                Fed::Calls(calls) => *role_calls = calls,
                Fed::Pieces { groups, per_call } => {
                    pieces = Some((groups, per_call));
                    // Still a table the calls query can be planned over, with no rows.
                    *role_calls = role_calls.head(Some(0));
                    role_calls.with_column(
                        UInt32Chunked::from_vec(lineage::KEY_REF.into(), Vec::new()).into_column(),
                    )?;
                }
            }
            Ok(())
        })?,
    };
    Ok((key_lineage, key_match, pieces))
}

/// The provider of an assumption whose record names none (CloudTrail often writes only `type`
/// and `userName` for a failure): Google when the evidence says so, that is, its `sub` has the
/// form of a Google subject (21 digits) or its role has had Google assumptions in the input;
/// `unknown` otherwise.
fn attribute_providers(assumptions: DataFrame) -> PolarsResult<DataFrame> {
    let google_roles = col("role_arn").is_in(
        col("role_arn")
            .filter(col("provider").eq(lit(GOOGLE)))
            .implode(false),
        false,
    );
    let google_sub = col("sub").str().contains(lit(r"^[0-9]{21}$"), true);
    assumptions
        .lazy()
        .with_column(
            when(col("provider").is_not_null())
                .then(col("provider"))
                .when(google_sub.or(google_roles).fill_null(lit(false)))
                .then(lit(GOOGLE))
                .otherwise(lit(UNKNOWN))
                .alias("provider"),
        )
        .collect()
}

/// Every table built here: name, what it holds, and its schema, for `janus-audit tables`.
pub fn schemas() -> Vec<(Table, &'static str, Schema)> {
    let s = |df: DataFrame| {
        let mut schema = df.schema().as_ref().clone();
        schema.shift_remove(dedupe::SEQ);
        schema
    };
    vec![
        (
            Table::Events,
            "every unique record in the window (built only when a query names it)",
            s(EventCols::new(0).finish()),
        ),
        (
            Table::RoleCalls,
            "records made in an assumed-role session, in the window",
            {
                let mut schema = s(RoleCallCols::new(0).finish());
                schema.insert(
                    crate::analyzer::model::lineage::KEY_REF.into(),
                    DataType::UInt32,
                );
                schema
            },
        ),
        (
            Table::Assumptions,
            "every AssumeRoleWithWebIdentity of the selected providers, whatever its time",
            s(AssumptionCols::new(0).finish()),
        ),
        (
            Table::Hops,
            "every AssumeRole made with a session's key, and the target account's copy of one, whatever its time",
            s(HopCols::new(0).finish()),
        ),
        (
            Table::PolicyChanges,
            "every CreateRole and UpdateAssumeRolePolicy, refused ones too, whatever its time: the roles' trust policies over time",
            s(PolicyChangeCols::new(0).finish()),
        ),
        (
            Table::KeyActivity,
            "the window's calls made with a key of key_lineage, grouped by key, service, source IP, whether AWS made them, whether from a trusted range, and whether they failed: what by-instance and sessions count",
            crate::analyzer::model::activity::empty()
                .schema()
                .as_ref()
                .clone(),
        ),
        (
            Table::KeyLineage,
            "every key that descends from an assumption of the selected providers: the root (depth 0) and the keys chained from it",
            crate::analyzer::model::lineage::empty()
                .schema()
                .as_ref()
                .clone(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_decodes_what_the_queries_name_and_what_janus_audit_reads() {
        assert_eq!(BaseColumns::of(None, None), BaseColumns::default());
        let words: std::collections::BTreeSet<String> =
            ["user_agent", "select", "zone_x"].map(String::from).into();
        let cols = BaseColumns::of(Some(&words), None);
        let a = cols.assumptions.unwrap();
        assert!(a.contains(&"user_agent".to_string()));
        for own in [
            "event_id",
            dedupe::SEQ,
            "access_key_id",
            "provider",
            "sub",
            "aud",
        ] {
            assert!(a.contains(&own.to_string()), "{own}");
        }
        for never in ["zone", "expiration_raw", "error_message", "select"] {
            assert!(!a.contains(&never.to_string()), "{never}");
        }
        assert_eq!(cols.hops, None);
        // In the table's order: a frame read with them is the table less some columns.
        let all = AssumptionCols::new(0).finish();
        let order: Vec<&str> = all
            .get_column_names()
            .into_iter()
            .map(|c| c.as_str())
            .filter(|c| a.iter().any(|k| k == c))
            .collect();
        assert_eq!(order, a.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
