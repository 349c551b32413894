//! `call_rollup`: each part of `role_calls` as its groups, written beside it by `ingest`, so
//! that a report that reads the calls only as their groups (`key_activity`) or only to mark
//! the keys used decodes a row per group of a part instead of a row per call.
//!
//! A group is what a call is matched to its key by (`lineage::KEY_MATCH` with the access key
//! ID; for a call without a key, `lineage::SESSION_MATCH`) and what `key_activity` groups by
//! (service, source IP, made by a service or not, failed or not), with how many calls, the
//! first and last time and the first and last input place (`__seq`). Matching depends on
//! nothing else, so a group is matched as each of its calls would be.
//!
//! A part's rollup stands for its calls only where every group lies wholly inside the window
//! or wholly outside it, and no dropped copy of a repeated event ID (`dedupe`) can be among its
//! calls (no dropped place falls between a group's first and last). Otherwise the part's calls
//! are read, as for a batch written before rollups existed (it has none).

use std::hash::BuildHasher;

use polars::prelude::*;

use crate::analyzer::model::dedupe::{Duplicates, SEQ};
use crate::analyzer::model::lineage::{KEY_MATCH, SESSION_MATCH};
use crate::base::timefmt::Window;

/// The table's name in the dataset.
pub const TABLE: &str = "call_rollup";

/// How many calls a group stands for.
pub const CALLS: &str = "calls";
const FIRST: &str = "first_call";
const LAST: &str = "last_call";
const FIRST_SEQ: &str = "first_seq";
const LAST_SEQ: &str = "last_seq";

/// What a group is made of, in the table's order: columns of `role_calls` but the last, which
/// is whether its `error_code` is set.
const BY: [&str; 9] = [
    "access_key_id",
    KEY_MATCH[0],
    KEY_MATCH[1],
    SESSION_MATCH[0],
    SESSION_MATCH[1],
    "event_source",
    "source_ip",
    "is_service",
    "failed",
];

/// What a group is made of ([`BY`]), of one call.
type Id<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<bool>,
    bool,
);

/// A group: its first row in the part, and its calls, first and last time and place.
struct Group {
    row: IdxSize,
    calls: u32,
    time: (Option<i64>, Option<i64>),
    seq: (u64, u64),
}

/// The rollup of one part of `role_calls` (every copy of a repeated ID counted: which survives
/// is decided when a report reads), its groups in order of first sight. The session's role
/// and name are kept only for calls without a key, the only ones matched by them. Grouped by
/// a hash of borrowed values rather than by polars' group-by, which encoded every row's nine
/// columns and took a quarter of ingest's time.
pub fn of(role_calls: &DataFrame) -> PolarsResult<DataFrame> {
    let ids = Ids::of(role_calls)?;
    let time = role_calls.column("event_time")?.datetime()?;
    let seq = role_calls.column(SEQ)?.u64()?;
    // A table of group numbers, hashed and compared through each group's first row: sized for
    // a group per call (growing it rehashed every group's strings, time after time), it holds
    // 8 bytes per call where a map of the values held 144.
    let state = foldhash::fast::RandomState::default();
    let mut table: hashbrown::HashTable<u32> = hashbrown::HashTable::with_capacity(ids.len());
    let mut groups: Vec<Group> = Vec::new();
    for (i, (t, seq)) in time.phys.iter().zip(seq.iter()).enumerate() {
        let id = ids.at(i);
        let hash = state.hash_one(id);
        let seq = seq.unwrap_or(0);
        let found = table.find(hash, |&g| ids.at(groups[g as usize].row as usize) == id);
        let at = match found {
            Some(&g) => g as usize,
            None => {
                groups.push(Group {
                    row: i as IdxSize,
                    calls: 0,
                    time: (t, t),
                    seq: (seq, seq),
                });
                let g = (groups.len() - 1) as u32;
                let rehash = |&g: &u32| state.hash_one(ids.at(groups[g as usize].row as usize));
                table.insert_unique(hash, g, rehash);
                g as usize
            }
        };
        let g = &mut groups[at];
        g.calls += 1;
        g.time = (min(g.time.0, t), g.time.1.max(t));
        g.seq = (g.seq.0.min(seq), g.seq.1.max(seq));
    }
    // In key order: a report then looks each key up once for all its groups (see
    // `lineage::probe`), and the part compresses better.
    groups.sort_unstable_by(|a, b| ids.at(a.row as usize).cmp(&ids.at(b.row as usize)));
    finish(role_calls, &groups)
}

/// Each call's [`Id`], by row.
struct Ids<'a> {
    key: Vec<Option<&'a str>>,
    arn: Vec<Option<&'a str>>,
    created: Vec<Option<i64>>,
    issuer: Vec<Option<&'a str>>,
    name: Vec<Option<&'a str>>,
    source: Vec<Option<&'a str>>,
    ip: Vec<Option<&'a str>>,
    service: Vec<Option<bool>>,
    failed: Vec<bool>,
}

impl<'a> Ids<'a> {
    fn of(role_calls: &'a DataFrame) -> PolarsResult<Ids<'a>> {
        let str_col = |c: &str| -> PolarsResult<Vec<Option<&'a str>>> {
            Ok(role_calls.column(c)?.str()?.iter().collect())
        };
        Ok(Ids {
            key: str_col(BY[0])?,
            arn: str_col(BY[1])?,
            created: role_calls.column(BY[2])?.datetime()?.phys.iter().collect(),
            issuer: str_col(BY[3])?,
            name: str_col(BY[4])?,
            source: str_col(BY[5])?,
            ip: str_col(BY[6])?,
            service: role_calls.column(BY[7])?.bool()?.iter().collect(),
            failed: str_col("error_code")?.iter().map(Option::is_some).collect(),
        })
    }

    fn len(&self) -> usize {
        self.key.len()
    }

    /// Row `i`'s: the session's role and name only for a call without a key.
    fn at(&self, i: usize) -> Id<'a> {
        let keyless = self.key[i].is_none();
        (
            self.key[i],
            self.arn[i],
            self.created[i],
            self.issuer[i].filter(|_| keyless),
            self.name[i].filter(|_| keyless),
            self.source[i],
            self.ip[i],
            self.service[i],
            self.failed[i],
        )
    }
}

/// The earlier of two times, a missing one never.
fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

/// The table of `groups` of `role_calls`.
fn finish(role_calls: &DataFrame, groups: &[Group]) -> PolarsResult<DataFrame> {
    let rows = IdxCa::from_vec("".into(), groups.iter().map(|g| g.row).collect());
    let mut df = role_calls.select(BY[..8].iter().copied())?.take(&rows)?;
    let keyless = df.column(BY[0])?.is_null();
    for c in &SESSION_MATCH[..2] {
        let kept = df
            .column(c)?
            .str()?
            .zip_with(&keyless, &StringChunked::full_null("".into(), df.height()))?;
        df.with_column(kept.with_name((*c).into()).into_column())?;
    }
    let failed = role_calls
        .column("error_code")?
        .str()?
        .take(&rows)?
        .is_not_null();
    df.with_column(failed.with_name("failed".into()).into_column())?;
    let time = |name: &str, pick: fn(&Group) -> Option<i64>| {
        Int64Chunked::from_iter_options(name.into(), groups.iter().map(pick))
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column()
    };
    let seq = |name: &str, pick: fn(&Group) -> u64| {
        UInt64Chunked::from_vec(name.into(), groups.iter().map(pick).collect()).into_column()
    };
    let calls: Vec<u32> = groups.iter().map(|g| g.calls).collect();
    df.with_column(UInt32Chunked::from_vec(CALLS.into(), calls).into_column())?;
    df.with_column(time(FIRST, |g| g.time.0))?;
    df.with_column(time(LAST, |g| g.time.1))?;
    df.with_column(seq(FIRST_SEQ, |g| g.seq.0))?;
    df.with_column(seq(LAST_SEQ, |g| g.seq.1))?;
    df.select(
        BY.iter()
            .copied()
            .chain([CALLS, FIRST, LAST, FIRST_SEQ, LAST_SEQ]),
    )
}

/// `call_rollup` with no rows: its schema (`_janus/schema.json`).
pub fn empty() -> DataFrame {
    let calls = crate::analyzer::model::schema::empty_raw("role_calls").expect("a model table");
    let mut cols: Vec<&str> = BY[..8].to_vec();
    cols.extend(["error_code", "event_time"]);
    cols.push(SEQ);
    of(&calls.select(cols).expect("role_calls has them")).expect("static columns")
}

/// What a part's rollup says of the window's calls.
pub enum Answer {
    /// Its groups in the window: they stand for the part's calls in it.
    Groups(DataFrame),
    /// It cannot stand for them (a group the window cuts, or a dropped copy among its calls):
    /// the calls must be read.
    Calls,
}

/// Whether `rollup` (a part's, whole) stands for its calls in `window` with `dups` dropped.
pub fn answer(rollup: DataFrame, window: &Window, dups: &Duplicates) -> PolarsResult<Answer> {
    let first = rollup.column(FIRST)?.datetime()?.phys.clone();
    let last = rollup.column(LAST)?.datetime()?.phys.clone();
    let mut inside = Vec::with_capacity(rollup.height());
    for (f, l) in first.iter().zip(last.iter()) {
        let (fi, li) = (window.contains(f), window.contains(l));
        // A group whose ends are both out may still hold the window, from before its start to
        // after its end.
        let spans = matches!((f, l, window.since, window.until),
            (Some(f), Some(l), Some(s), Some(u)) if f < s && l >= u);
        if fi != li || spans {
            return Ok(Answer::Calls);
        }
        inside.push(fi);
    }
    if dups.dropped() > 0 {
        let lo = rollup.column(FIRST_SEQ)?.u64()?;
        let hi = rollup.column(LAST_SEQ)?.u64()?;
        let cut = lo
            .iter()
            .zip(hi.iter())
            .any(|(lo, hi)| dups.drops_between(lo.unwrap_or(0), hi.unwrap_or(u64::MAX)));
        if cut {
            return Ok(Answer::Calls);
        }
    }
    let inside = BooleanChunked::from_iter_values("".into(), inside.into_iter());
    Ok(Answer::Groups(rollup.filter(&inside)?))
}

/// How many calls each row of `piece` stands for, when it is a rollup's groups (see
/// [`answer`]); `None` for calls, one each.
pub fn weights(piece: &DataFrame) -> PolarsResult<Option<UInt32Chunked>> {
    match piece.column(CALLS) {
        Ok(c) => Ok(Some(c.u32()?.clone())),
        Err(_) => Ok(None),
    }
}

/// How many calls `piece` (calls, or a rollup's groups) stands for.
pub fn calls_in(piece: &DataFrame) -> PolarsResult<usize> {
    Ok(match weights(piece)? {
        Some(w) => w.sum().unwrap_or(0) as usize,
        None => piece.height(),
    })
}

/// The columns of a rollup a report reads: what matching reads, and with `groups`, what
/// `key_activity` is made of.
pub fn columns(groups: bool) -> Vec<String> {
    let mut out: Vec<&str> = BY[..5].to_vec();
    if groups {
        out.extend(&BY[5..]);
    }
    out.extend([CALLS, FIRST, LAST, FIRST_SEQ, LAST_SEQ]);
    out.into_iter().map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::model::dedupe::EventIds;

    /// key, service, error, time, seq.
    type Row<'a> = (Option<&'a str>, &'a str, Option<&'a str>, i64, u64);

    fn calls(rows: &[Row<'_>]) -> DataFrame {
        let n = rows.len();
        let time = |v: Vec<i64>| {
            Int64Chunked::from_vec("".into(), v)
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        };
        df!(
            "access_key_id" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "identity_arn" => vec!["arn:aws:sts::1:assumed-role/r/p.i"; n],
            "session_created_at" => time(vec![0; n]),
            "session_issuer_arn" => vec!["arn:aws:iam::1:role/r"; n],
            "session_name" => vec!["p.i"; n],
            "event_source" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "source_ip" => vec!["10.0.0.1"; n],
            "is_service" => vec![false; n],
            "error_code" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "event_time" => time(rows.iter().map(|r| r.3).collect()),
            SEQ => rows.iter().map(|r| r.4).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    const ROWS: [Row<'static>; 5] = [
        (Some("K1"), "s3", None, 10, 1),
        (Some("K1"), "s3", None, 30, 5),
        (Some("K1"), "s3", Some("AccessDenied"), 20, 3),
        (None, "s3", None, 40, 7),
        (Some("K2"), "ec2", None, 50, 9),
    ];

    fn counts(df: &DataFrame) -> Vec<u32> {
        df.column(CALLS)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect()
    }

    #[test]
    fn a_group_is_its_calls_by_what_matching_and_key_activity_read() {
        let r = of(&calls(&ROWS)).unwrap();
        assert_eq!(r.schema(), empty().schema());
        // A piece is known for a rollup's by its count (`weights`): no call has that column.
        let role_calls = crate::analyzer::model::schema::empty_raw("role_calls").unwrap();
        assert!(weights(&role_calls).unwrap().is_none());
        assert!(weights(&r).unwrap().is_some());
        // In key order: the call without a key, K1's two successes, K1's failure, K2's call.
        assert_eq!(counts(&r), vec![1, 2, 1, 1]);
        let f = r.column(FIRST).unwrap().datetime().unwrap().phys.get(1);
        let l = r.column(LAST).unwrap().datetime().unwrap().phys.get(1);
        assert_eq!((f, l), (Some(10), Some(30)));
        // The session's name is kept for the call without a key only.
        let names = r.column("session_name").unwrap().str().unwrap();
        assert_eq!(names.null_count(), 3);
        let keyless = r.column("access_key_id").unwrap().is_null();
        assert_eq!(names.filter(&keyless).unwrap().get(0), Some("p.i"));
    }

    #[test]
    fn a_rollup_stands_for_its_calls_only_where_the_window_and_the_copies_allow() {
        let none = Duplicates::default();
        let rollup = || of(&calls(&ROWS)).unwrap();
        let groups = |a: Answer| match a {
            Answer::Groups(df) => Some(counts(&df)),
            Answer::Calls => None,
        };
        let open = Window::default();
        assert_eq!(
            groups(answer(rollup(), &open, &none).unwrap()),
            Some(vec![1, 2, 1, 1])
        );
        // [35, 60): the call without a key and K2's; none cut.
        let late = Window::between(35, 60);
        assert_eq!(
            groups(answer(rollup(), &late, &none).unwrap()),
            Some(vec![1, 1])
        );
        // [25, 60) cuts K1's successes (10 and 30).
        let cuts = Window::between(25, 60);
        assert_eq!(groups(answer(rollup(), &cuts, &none).unwrap()), None);
        // [15, 25) lies inside K1's successes, whose ends are both out.
        let within = Window::between(15, 25);
        assert_eq!(groups(answer(rollup(), &within, &none).unwrap()), None);
        // A dropped copy at place 3 (between K1's first and last) or 7 (the keyless call's).
        for dropped in [3u64, 7] {
            let mut ids = EventIds::default();
            ids.push("E", 0, 1);
            ids.push("E", dropped, 1);
            let dups = ids.resolve().unwrap();
            assert_eq!(groups(answer(rollup(), &open, &dups).unwrap()), None);
        }
        // A dropped place in no group's range (8, between 7 and 9) leaves the rollup standing.
        let mut ids = EventIds::default();
        ids.push("E", 0, 1);
        ids.push("E", 8, 1);
        let dups = ids.resolve().unwrap();
        assert!(groups(answer(rollup(), &open, &dups).unwrap()).is_some());
    }
}
