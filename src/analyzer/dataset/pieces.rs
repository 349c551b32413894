//! The tables of a report over a dataset whose queries never read the window's calls whole:
//! the calls are read a few parts at a time (`calls`) and kept only as what the queries read of
//! them: their groups (`key_activity`) and the tables made a call at a time
//! (`query::PER_CALL`: `flagged_calls`, `orphan_calls`), each of which keeps few of the calls;
//! or, for a timeline, the calls it can show. No more than a few parts' calls are held at once,
//! whatever the window.

use polars::prelude::*;
use rayon::prelude::*;

use crate::analyzer::dataset::bursts::{Limits, Needed, Tally};
use crate::analyzer::dataset::calls::{
    Columns, Mark, ORDER, Parts, Source, as_whole, each_piece, in_order, later_as_null,
    match_columns, no_rows, owned, read_followed,
};
use crate::analyzer::dataset::{DatasetError, rollup};
use crate::analyzer::load::IngestOptions;
use crate::analyzer::model::activity;
use crate::analyzer::model::dedupe::Duplicates;
use crate::analyzer::model::follow::Follow;
use crate::analyzer::model::lineage::Matcher;
use crate::analyzer::model::schema::empty_raw;
use crate::analyzer::model::{Fed, Raw, Table, Tables};
use crate::analyzer::query::{self, Registered, Sql};

/// What a report over a dataset keeps of the window's calls when it does not read them whole.
#[derive(Clone, Copy)]
pub struct Keep<'a> {
    /// A timeline's entity: only the calls it can show (see `model::follow`).
    pub follow: Option<&'a Follow>,
    /// The `calls` query, which the tables of `per_call` may read.
    pub calls: &'a Sql,
    /// The tables made a call at a time that the queries read (`query::PER_CALL`), with their
    /// queries: made a part at a time, and only their rows kept.
    pub per_call: &'a [(Table, Sql)],
    /// `--trusted-cidrs`, marked on each part before `calls` runs over it.
    pub trusted: &'a [ipnet::IpNet],
    /// The words the reports' queries and those of `per_call` use (`query::words_read`;
    /// `None`: they may read every column): the columns of `per_call` no query can name are
    /// not kept.
    pub named: Option<&'a std::collections::BTreeSet<String>>,
    /// recon_burst's thresholds, when flagged_calls' rows marked only recon or denied may be
    /// counted instead of kept (see `bursts`).
    pub bursts: Option<Limits>,
}

/// The tables, with the calls read a few parts at a time (see `Tables::from_raw_grouped`): as
/// their groups and the tables made a call at a time, or, for a timeline, those it can show.
pub fn tables(
    raw: Raw,
    source: &Source<'_>,
    opts: &IngestOptions,
    keep: &Keep<'_>,
) -> Result<Tables, DatasetError> {
    let mut failed = None;
    let groups: crate::analyzer::model::GroupCalls<'_> = Box::new(|m, dups, assumptions| {
        let fed = match (opts.needs.piecewise, keep.follow, source) {
            (false, Some(f), Source::Parts(parts)) => {
                let keep = f.keys(assumptions, m)?;
                let columns = Columns::of(opts);
                read_followed(parts, &columns, m, dups, &keep).map(Fed::Calls)
            }
            _ => read(source, opts, keep, m, dups)
                .map(|(groups, per_call)| Fed::Pieces { groups, per_call }),
        };
        fed.map_err(|e| {
            failed = Some(e);
            PolarsError::ComputeError("the dataset's calls could not be read".into())
        })
    });
    let tables =
        Tables::from_raw_grouped(raw, &opts.providers, opts.lineage_columns.as_ref(), groups);
    match failed {
        Some(e) => Err(e),
        None => Ok(tables?),
    }
}

/// What was kept of the window's calls: their groups when `opts.needs.groups`, and the rows of
/// each of `keep.per_call`, in input order.
///
/// When both are wanted (`report`) and the parts have rollups, or are the calls of JSON files
/// kept on disk, the calls are read twice: the rows for the tables made a call at a time
/// first, then the groups (from the rollups where there are any), with the allocator's free
/// memory given back in between. Read once, the groups, those rows and the buckets recon_burst
/// counts were held together while every call was decoded with the groups' columns too; read
/// twice, `report` over a dataset of 30M events held at most about 825 MiB live while reading
/// (2026-12-07), less than its queries then do, and the groups' read takes 5 s of its 44. A
/// dataset's parts without rollups (written before them) are read once: a second read would
/// decode every call again, where the calls kept on disk cost little to read beside the JSON
/// they were parsed from.
#[allow(clippy::type_complexity)]
pub fn read(
    source: &Source<'_>,
    opts: &IngestOptions,
    keep: &Keep<'_>,
    matcher: &Matcher<'_, '_>,
    dups: &Duplicates,
) -> Result<(Option<DataFrame>, Vec<(Table, DataFrame)>), DatasetError> {
    let cheap_again = matches!(source, Source::Parts(p) if !p.rollups.is_empty() || p.spilled);
    let groups = opts.needs.groups;
    if !(groups && cheap_again && !keep.per_call.is_empty()) {
        let once = Pass {
            groups,
            counted: true,
        };
        let (groups, per_call, seen) = read_once(source, opts, keep, matcher, dups, once)?;
        tell(source, seen, groups.as_ref(), &per_call, false);
        return Ok((groups, per_call));
    }
    // Matched twice; counted into the match stats the second time, which reads every call.
    let first = Pass {
        groups: false,
        counted: false,
    };
    let (_, per_call, seen) = read_once(source, opts, keep, matcher, dups, first)?;
    crate::analyzer::memory::give_back();
    let only_groups = Keep {
        per_call: &[],
        ..*keep
    };
    let second = Pass {
        groups: true,
        counted: true,
    };
    let (groups, _, again) = read_once(source, opts, &only_groups, matcher, dups, second)?;
    tell(
        source,
        (seen.0, seen.1, again.2),
        groups.as_ref(),
        &per_call,
        true,
    );
    Ok((groups, per_call))
}

/// What one read of the calls makes besides the tables of its `Keep::per_call`.
#[derive(Clone, Copy)]
struct Pass {
    /// The calls' groups (`key_activity`).
    groups: bool,
    /// The calls' matches counted into the match stats (see `Matcher::key_refs_again`).
    counted: bool,
}

/// One read of the calls: their groups when `pass.groups`, the rows of each of
/// `keep.per_call`, and how many calls of how many pieces were read, of which how many parts
/// as their rollup.
#[allow(clippy::type_complexity)]
fn read_once(
    source: &Source<'_>,
    opts: &IngestOptions,
    keep: &Keep<'_>,
    matcher: &Matcher<'_, '_>,
    dups: &Duplicates,
    pass: Pass,
) -> Result<(Option<DataFrame>, Vec<(Table, DataFrame)>, Seen), DatasetError> {
    let columns = columns(opts, keep, pass.groups);
    let made = Made::new(keep, matcher)?;
    // One counter that every core's parts are counted into in turn: a counter per core held
    // nearly every group once per core (a key's calls fall in several parts), 250 MB more at
    // 30M events, for no gain in time (counting a part is quick beside decoding and matching
    // it).
    let counter = pass
        .groups
        .then(|| std::sync::Mutex::new(activity::Groups::new(matcher.keys())));
    let mut rows: Vec<Vec<DataFrame>> = vec![Vec::new(); keep.per_call.len()];
    let flagged = keep
        .per_call
        .iter()
        .position(|(t, _)| *t == Table::FlaggedCalls);
    let tally = keep.bursts.filter(|_| flagged.is_some()).map(Tally::new);
    let (mut calls, mut read, mut rolled, mut keyless) = (0, 0, 0, false);
    let mark = match keep.per_call.is_empty() {
        true => Mark::Nothing,
        false => Mark::Order,
    };
    // The tables made a call at a time need the calls themselves; groups and matching do not.
    let rollups = keep.per_call.is_empty().then_some(pass.groups);
    each_piece(source, &columns, dups, mark, rollups, |frames| {
        read += frames.len();
        for (_, df, _) in &frames {
            calls += rollup::calls_in(df)?;
            rolled += rollup::weights(df)?.is_some() as usize;
        }
        keyless |= frames.iter().any(|(_, _, k)| *k);
        // Each part matched, grouped and made into the tables made a call at a time on its own
        // core: a part's queries are small, and on one core at a time they left the others idle.
        let of_parts: Vec<Vec<DataFrame>> = frames
            .into_par_iter()
            .map(|(_, df, _)| -> Result<Vec<DataFrame>, DatasetError> {
                let df = matched_and_counted(df, matcher, counter.as_ref(), pass.counted)?;
                if keep.per_call.is_empty() || df.height() == 0 {
                    return Ok(Vec::new());
                }
                let mut tables = made.of(df, &columns)?;
                if let (Some(tally), Some(at)) = (&tally, flagged) {
                    let df = std::mem::take(&mut tables[at]);
                    tables[at] = tally.keep(df)?;
                }
                // Kept past the part: their own strings, not views into all of the part's.
                tables
                    .into_iter()
                    .map(|t| Ok(crate::analyzer::model::shared::compacted(t)?))
                    .collect()
            })
            .collect::<Result<_, _>>()?;
        for tables in of_parts {
            for (kept, part) in rows.iter_mut().zip(tables) {
                kept.push(part);
            }
        }
        Ok(())
    })?;
    if let (Some(tally), Some(at)) = (tally, flagged) {
        let again = read_again(tally, source, &columns, dups, keep, matcher, at)?;
        rows[at].extend(again);
    }
    let groups = match counter {
        Some(c) => Some(
            c.into_inner()
                .expect("not poisoned")
                .finish_with(opts.activity_sources)?,
        ),
        None => None,
    };
    let per_call = keep
        .per_call
        .iter()
        .zip(rows)
        .enumerate()
        .map(|(at, ((table, _), kept))| Ok((*table, stacked(kept, at, &made, &columns, keyless)?)))
        .collect::<Result<Vec<_>, DatasetError>>()?;
    Ok((groups, per_call, (calls, read, rolled)))
}

/// How many calls of how many pieces were read, of which how many parts as their rollup.
type Seen = (usize, usize, usize);

/// `piece` (calls, or a rollup's groups) with each row's `key_ref`, counted into `counter`'s
/// groups.
fn matched_and_counted(
    mut piece: DataFrame,
    matcher: &Matcher<'_, '_>,
    counter: Option<&std::sync::Mutex<activity::Groups>>,
    counted: bool,
) -> Result<DataFrame, DatasetError> {
    let weights = rollup::weights(&piece)?;
    let refs = match counted {
        true => matcher.key_refs_counted(&piece, weights.as_ref())?,
        false => matcher.key_refs_again(&piece)?,
    };
    piece.with_column(refs.into_column())?;
    if let Some(counter) = counter {
        let mut counter = counter.lock().expect("not poisoned");
        match weights {
            Some(_) => counter.add_counted(&piece)?,
            None => counter.add(&piece)?,
        }
    }
    Ok(piece)
}

/// The rows of flagged_calls the first read counted instead of keeping (see `bursts`) that
/// recon_burst's windows need: the calls of their keys read again (from a dataset, only the
/// parts of their days) and made into flagged_calls alone.
fn read_again(
    tally: Tally,
    source: &Source<'_>,
    columns: &Columns,
    dups: &Duplicates,
    keep: &Keep<'_>,
    matcher: &Matcher<'_, '_>,
    at: usize,
) -> Result<Vec<DataFrame>, DatasetError> {
    let needed = tally.needed();
    let again = match needed.is_empty() {
        true => Vec::new(),
        false => rows_needed(source, columns, dups, keep, matcher, &needed, at)?,
    };
    tracing::info!(
        "flagged_calls: {} call(s) marked only recon or denied counted, not kept; {} of them \
         read again, of {} key bucket(s) where recon_burst's windows can cross",
        needed.left_out,
        again.iter().map(DataFrame::height).sum::<usize>(),
        needed.buckets()
    );
    Ok(again)
}

/// [`read_again`]'s second read: only the calls of a key with a needed bucket are made into
/// flagged_calls, and of its rows only those the first read left out in a needed bucket kept.
fn rows_needed(
    source: &Source<'_>,
    columns: &Columns,
    dups: &Duplicates,
    keep: &Keep<'_>,
    matcher: &Matcher<'_, '_>,
    needed: &Needed,
    at: usize,
) -> Result<Vec<DataFrame>, DatasetError> {
    let only = Keep {
        per_call: &keep.per_call[at..=at],
        ..*keep
    };
    let made = Made::new(&only, matcher)?;
    let fewer;
    let source = match (source, needed.days()) {
        (Source::Parts(parts), Some(days)) if !parts.spilled => {
            fewer = Parts {
                paths: parts
                    .paths
                    .iter()
                    .filter(|p| day_of(p).is_some_and(|d| days.contains(&d)))
                    .cloned()
                    .collect(),
                window: parts.window,
                rollups: Default::default(),
                spilled: false,
            };
            Source::Parts(&fewer)
        }
        (source, _) => *source,
    };
    let mut again = Vec::new();
    each_piece(&source, columns, dups, Mark::Order, None, |frames| {
        let made: Vec<Option<DataFrame>> = frames
            .into_par_iter()
            .map(|(_, mut df, _)| -> Result<_, DatasetError> {
                let refs = matcher.key_refs_again(&df)?;
                let may = needed.may_need(&refs);
                if !may.any() {
                    return Ok(None);
                }
                df.with_column(refs.into_column())?;
                let df = df.filter(&may)?;
                let flagged = made.of(df, columns)?.swap_remove(0);
                Ok(Some(needed.rows(flagged)?))
            })
            .collect::<Result<_, _>>()?;
        again.extend(made.into_iter().flatten().filter(|df| df.height() > 0));
        Ok(())
    })?;
    Ok(again)
}

/// The UTC day of a dataset's part, from its partition (`date=YYYY-MM-DD`).
fn day_of(path: &std::path::Path) -> Option<chrono::NaiveDate> {
    let partition = path.parent()?.file_name()?.to_str()?;
    crate::analyzer::dataset::partition_date(partition.strip_prefix("date=")?)?
}

/// What was read, and kept as what (`-v`).
fn tell(
    source: &Source<'_>,
    (calls, read, rolled): Seen,
    groups: Option<&DataFrame>,
    per_call: &[(Table, DataFrame)],
    twice: bool,
) {
    let kept: Vec<String> = groups
        .into_iter()
        .map(|g| format!("{} group(s)", g.height()))
        .chain(
            per_call
                .iter()
                .map(|(t, df)| format!("{} row(s) of {t}", df.height())),
        )
        .collect();
    let (of, unit) = match source {
        Source::Parts(p) if p.spilled => ("files", "part(s) kept on disk"),
        Source::Parts(_) => ("dataset", "part(s)"),
        Source::Memory(_) => ("files", "slice(s)"),
    };
    tracing::info!(
        "{of}: {calls} call(s) of {read} {unit} read {}{}",
        match kept.is_empty() {
            true => "only to match them to their keys".to_string(),
            false => format!("as {}", kept.join(", ")),
        },
        match (rolled, twice) {
            (0, false) => String::new(),
            (0, true) => "; the groups read again".to_string(),
            (n, false) => format!("; {n} of the parts read as their rollup (call_rollup)"),
            (n, true) =>
                format!("; the groups read again, {n} of the parts as their rollup (call_rollup)"),
        }
    );
}

/// The rows of every part of the `at`-th table, in input order, as a whole read has them.
fn stacked(
    kept: Vec<DataFrame>,
    at: usize,
    made: &Made<'_>,
    columns: &Columns,
    keyless: bool,
) -> Result<DataFrame, DatasetError> {
    let df = match crate::analyzer::model::stack(kept.into_iter())? {
        Some(df) => df,
        None => made.of(no_rows(columns)?, columns)?.swap_remove(at),
    };
    as_whole(in_order(df)?, columns, keyless)
}

/// What each part is read with: what matching needs, what grouping needs, and what the
/// queries can name.
fn columns(opts: &IngestOptions, keep: &Keep<'_>, groups: bool) -> Columns {
    let matching = match_columns();
    let mut columns = match keep.per_call.is_empty() {
        true => match_columns(),
        false => Columns::of(opts),
    };
    if let Some(all) = columns.all.as_mut() {
        let more = matching.all.iter().flatten().map(String::as_str);
        let groups = activity::READS.iter().filter(|_| groups);
        for c in more.chain(groups.copied()) {
            if !all.iter().any(|k| k == c) {
                all.push(c.to_string());
            }
        }
    }
    columns
}

/// What makes the tables of `keep.per_call` from one matched part: their queries (after
/// `calls`) over it, with the lineage's rows of its keys and their roots' assumptions (see
/// [`Made::cut`]), and the hops.
struct Made<'k> {
    keep: &'k Keep<'k>,
    matcher: &'k Matcher<'k, 'k>,
    hops: &'k DataFrame,
    /// The whole of `key_lineage`, where each part is not [`Made::cut`] to its keys.
    key_lineage: DataFrame,
    policy_changes: DataFrame,
    /// Register for each part only its keys' rows of `key_lineage` and their roots' of the
    /// assumptions: the same rows of every table made a call at a time, at the cost of the
    /// part's keys instead of all of them, unless a query names `issued_session_no`, the one
    /// value `calls.sql` computes over every assumption.
    cut: bool,
}

impl<'k> Made<'k> {
    fn new(keep: &'k Keep<'k>, matcher: &'k Matcher<'k, 'k>) -> Result<Made<'k>, DatasetError> {
        let (_, hops) = matcher.sources();
        let cut = keep.named.is_some_and(|n| !n.contains("issued_session_no"));
        Ok(Made {
            keep,
            matcher,
            hops,
            key_lineage: match keep.per_call.is_empty() || cut {
                true => DataFrame::empty(),
                false => matcher.table()?,
            },
            policy_changes: empty_raw("policy_changes").expect("a model table"),
            cut,
        })
    }

    /// The rows of `key_lineage` and of the assumptions that the calls of `df` can join to:
    /// those of its keys and of their roots (all of them, unless [`Made::cut`]).
    fn keys_of(&self, df: &DataFrame) -> Result<(DataFrame, DataFrame), DatasetError> {
        let (assumptions, _) = self.matcher.sources();
        if !self.cut {
            return Ok((self.key_lineage.clone(), assumptions.clone()));
        }
        let refs = df.column(crate::analyzer::model::lineage::KEY_REF)?.u32()?;
        let mut keys: Vec<IdxSize> = refs.iter().flatten().map(|k| k as IdxSize).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut roots: Vec<IdxSize> = keys
            .iter()
            .filter_map(|&k| self.matcher.root_row(k as usize))
            .collect();
        roots.sort_unstable();
        roots.dedup();
        Ok((
            self.matcher.table_of(&keys)?,
            assumptions.take(&IdxCa::from_vec("".into(), roots))?,
        ))
    }

    /// Each table's rows over the part `df` (matched, marked with its place), with values of
    /// their own: rows kept from a part must not hold the whole part's strings.
    fn of(&self, df: DataFrame, columns: &Columns) -> Result<Vec<DataFrame>, DatasetError> {
        // Every part with the same columns: those for calls without a key, null where it has
        // none (`stacked` drops them where no part has one, as a whole read does).
        let df = later_as_null(df, columns)?;
        let mut df =
            columns.ordered_with(df, &[ORDER, crate::analyzer::model::lineage::KEY_REF])?;
        if !self.keep.trusted.is_empty() {
            df = crate::analyzer::model::trusted::mark(&df, self.keep.trusted)?;
        }
        let mut derived = vec![(Table::Calls, self.keep.calls)];
        derived.extend(self.keep.per_call.iter().map(|(t, sql)| (*t, sql)));
        let wanted: Vec<Table> = self.keep.per_call.iter().map(|(t, _)| *t).collect();
        // Only the columns a query names (and each row's place), so that what no query reads
        // of the calls' keys is never computed for a part.
        let named = |c: &str| c == ORDER || self.keep.named.is_none_or(|n| n.contains(c));
        let (key_lineage, assumptions) = self.keys_of(&df)?;
        let frames = query::derive(
            Registered {
                events: None,
                role_calls: &df,
                assumptions: &assumptions,
                hops: self.hops,
                policy_changes: &self.policy_changes,
                key_lineage: &key_lineage,
                key_activity: activity::empty(),
                files: DataFrame::empty(),
                params: Vec::new(),
            },
            &derived,
            &wanted,
            named,
        )
        .map_err(|e| DatasetError::Query(Box::new(e)))?;
        frames.into_iter().map(owned).collect()
    }
}
