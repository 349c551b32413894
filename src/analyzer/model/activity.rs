//! `key_activity`: the window's calls that were made with a key of the lineage, grouped by that
//! key and by what the reports count calls by (service, source IP, service-made or not, trusted
//! range or not, failed or not), with how many there were and the first and last of them.
//!
//! It is what `by-instance` and `sessions` read instead of `calls`: every count they give is a
//! sum, every time a minimum or maximum, every list a set, so groups counted piece by piece (a
//! dataset's parts) give the answer the whole window would, and a report holds the groups, a
//! few per key, never the calls. Its rows follow from `role_calls` (with `key_ref`)
//! by one `GROUP BY`, which is how `dataset ddl` defines it for Spark and Athena ([`SQL`]).

use polars::prelude::*;

use crate::analyzer::model::lineage::KEY_REF;

/// The columns of `role_calls` a group is made from (with `key_ref`).
pub const READS: [&str; 6] = [
    "event_time",
    "event_source",
    "source_ip",
    "is_service",
    "trusted_source",
    "error_code",
];

/// What a group is made of, in the table's order (the order [`Groups::finish`] makes them in).
#[cfg(test)]
const BY: [&str; 6] = [
    KEY_REF,
    "event_source",
    "source_ip",
    "is_service",
    "trusted_source",
    "failed",
];

/// The same table over the `role_calls` view of `dataset ddl` (Spark and Athena).
pub const SQL: &str = "SELECT key_ref, event_source, source_ip, is_service, trusted_source, \
     error_code IS NOT NULL AS failed, COUNT(*) AS calls, MIN(event_time) AS first_call, \
     MAX(event_time) AS last_call\nFROM role_calls\nWHERE key_ref IS NOT NULL\n\
     GROUP BY key_ref, event_source, source_ip, is_service, trusted_source, error_code IS NOT NULL";

/// One group of one key: its service's and IP's numbers (0: null), [`flags`], how many calls,
/// the first and the last ([`NO_FIRST`] and [`NO_LAST`] when no call had a time). 32 bytes: a
/// long window holds millions of them (3.4M at 30M events), where `Option`s took 48.
#[derive(Clone, Copy)]
struct Slot {
    first: i64,
    last: i64,
    source: u32,
    ip: u32,
    calls: u32,
    flags: u8,
}

/// No first or last time. An event time is at most chrono's range (262,000 years of
/// milliseconds), so these are never one.
const NO_FIRST: i64 = i64::MAX;
const NO_LAST: i64 = i64::MIN;

impl Slot {
    fn add(&mut self, calls: u32, first: Option<i64>, last: Option<i64>) {
        self.calls += calls;
        self.first = self.first.min(first.unwrap_or(NO_FIRST));
        self.last = self.last.max(last.unwrap_or(NO_LAST));
    }
}

fn flags(service: bool, trusted: bool, failed: bool) -> u8 {
    service as u8 | (trusted as u8) << 1 | (failed as u8) << 2
}

type Fast = foldhash::fast::RandomState;

/// Strings numbered in order of first sight; 0 is null. The last one is remembered: calls come
/// in runs from one service and IP.
#[derive(Default)]
struct Names {
    numbers: std::collections::HashMap<String, u32, Fast>,
    names: Vec<String>,
    last: u32,
}

impl Names {
    fn number(&mut self, s: Option<&str>) -> u32 {
        let Some(s) = s else { return 0 };
        if self.last != 0 && self.names[self.last as usize - 1] == s {
            return self.last;
        }
        let n = match self.numbers.get(s) {
            Some(&n) => n,
            None => {
                self.names.push(s.to_string());
                let n = self.names.len() as u32;
                self.numbers.insert(s.to_string(), n);
                n
            }
        };
        self.last = n;
        n
    }

    /// The column of the names numbered `numbers` (0: null), each row's string shared, not
    /// copied: a long window has millions of groups and a few hundred names.
    fn column(&self, name: &str, numbers: Vec<u32>) -> PolarsResult<Column> {
        let names = std::iter::once(None).chain(self.names.iter().map(|n| Some(n.as_str())));
        Ok(crate::analyzer::model::shared::numbered(name, names, numbers)?.into_column())
    }
}

/// The groups of calls as they are read, by key row: a key has a few groups (a service or two,
/// an IP or two), found by a scan of its own short list. Nothing is held per call, and no table
/// of every group is hashed or merged: a report over a long window holds the keys and their
/// groups, which it needs, and does the least work per call.
pub struct Groups {
    keys: Vec<Vec<Slot>>,
    sources: Names,
    ips: Names,
}

impl Groups {
    /// For calls made with the keys of a lineage of `keys` rows.
    pub fn new(keys: usize) -> Groups {
        Groups {
            keys: vec![Vec::new(); keys],
            sources: Names::default(),
            ips: Names::default(),
        }
    }

    fn slot(&mut self, key: u32, by: (u32, u32, u8)) -> &mut Slot {
        let key = key as usize;
        if key >= self.keys.len() {
            self.keys.resize(key + 1, Vec::new());
        }
        let slots = &mut self.keys[key];
        let at = match slots.iter().position(|g| (g.source, g.ip, g.flags) == by) {
            Some(at) => at,
            None => {
                slots.push(Slot {
                    source: by.0,
                    ip: by.1,
                    flags: by.2,
                    calls: 0,
                    first: NO_FIRST,
                    last: NO_LAST,
                });
                slots.len() - 1
            }
        };
        &mut slots[at]
    }

    /// Count `role_calls`' matched rows (it must have `key_ref` and [`READS`]).
    pub fn add(&mut self, role_calls: &DataFrame) -> PolarsResult<()> {
        let failed = one(role_calls, "error_code")?;
        let time = one(role_calls, "event_time")?;
        let (Some(failed), Some(time)) = (
            failed.str()?.downcast_iter().next(),
            time.datetime()?.phys.downcast_iter().next(),
        ) else {
            return Ok(());
        };
        let failed = failed.iter().map(|e| e.is_some());
        let times = time.iter().map(|t| (1, t.copied(), t.copied()));
        self.count(role_calls, failed, times)
    }

    /// Count groups of calls already made (a dataset's `call_rollup`, matched: `key_ref`,
    /// `event_source`, `source_ip`, `is_service`, `failed`, `calls`, `first_call`,
    /// `last_call`); none from a --trusted-cidrs range (that is marked on the groups after).
    pub fn add_counted(&mut self, groups: &DataFrame) -> PolarsResult<()> {
        let failed = one(groups, "failed")?;
        let (calls, first, last) = (
            one(groups, "calls")?,
            one(groups, "first_call")?,
            one(groups, "last_call")?,
        );
        let (Some(failed), Some(calls), Some(first), Some(last)) = (
            failed.bool()?.downcast_iter().next(),
            calls.u32()?.downcast_iter().next(),
            first.datetime()?.phys.downcast_iter().next(),
            last.datetime()?.phys.downcast_iter().next(),
        ) else {
            return Ok(());
        };
        let failed = failed.iter().map(|f| f.unwrap_or(false));
        let times = calls
            .iter()
            .zip(first.iter().zip(last.iter()))
            .map(|(n, (f, l))| (n.copied().unwrap_or(0), f.copied(), l.copied()));
        self.count(groups, failed, times)
    }

    /// Count rows of `df` (`key_ref`, `event_source`, `source_ip`, `is_service`, and
    /// `trusted_source` where it has one), each `failed` or not and standing for `times`: how
    /// many calls, the first and the last.
    fn count(
        &mut self,
        df: &DataFrame,
        failed: impl Iterator<Item = bool>,
        times: impl Iterator<Item = (u32, Option<i64>, Option<i64>)>,
    ) -> PolarsResult<()> {
        // One chunk per column, walked by the arrays' own iterators: polars' chunked iterators
        // cost a dynamic call per value, most of the time here.
        let (refs, source, ip) = (
            one(df, KEY_REF)?,
            one(df, "event_source")?,
            one(df, "source_ip")?,
        );
        let service = one(df, "is_service")?;
        let trusted = match df.column("trusted_source") {
            Ok(c) => c.as_materialized_series().rechunk(),
            Err(_) => Series::full_null("".into(), df.height(), &DataType::Boolean),
        };
        let (Some(refs), Some(source), Some(ip), Some(service), Some(trusted)) = (
            refs.u32()?.downcast_iter().next(),
            source.str()?.downcast_iter().next(),
            ip.str()?.downcast_iter().next(),
            service.bool()?.downcast_iter().next(),
            trusted.bool()?.downcast_iter().next(),
        ) else {
            return Ok(());
        };
        let rows = refs
            .iter()
            .zip(source.iter())
            .zip(ip.iter())
            .zip(service.iter())
            .zip(trusted.iter())
            .zip(failed)
            .zip(times);
        for ((((((key, source), ip), service), trusted), failed), (n, first, last)) in rows {
            let Some(&key) = key else { continue };
            let f = flags(service.unwrap_or(false), trusted.unwrap_or(false), failed);
            let by = (self.sources.number(source), self.ips.number(ip), f);
            self.slot(key, by).add(n, first, last);
        }
        Ok(())
    }

    /// The table in [`sorted`]'s order (a key's groups sorted, the keys in order), so that it
    /// need not be sorted again: a sort copied every group. Each key's groups are freed as soon
    /// as they are in the columns, so the groups and the table are not both held whole.
    pub fn finish(self) -> PolarsResult<DataFrame> {
        self.finish_with(true)
    }

    /// [`Groups::finish`], with `event_source` only if `sources` (no query names it: the
    /// groups are still told apart by service, but the table does not carry it).
    pub fn finish_with(self, with_sources: bool) -> PolarsResult<DataFrame> {
        let n: usize = self.keys.iter().map(Vec::len).sum();
        let (mut key, mut source, mut ip) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut flag = Vec::with_capacity(n);
        let (mut calls, mut first, mut last) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let Groups { keys, sources, ips } = self;
        for (k, mut slots) in keys.into_iter().enumerate() {
            slots.sort_unstable_by(|a, b| in_order((&sources, &ips), a, b));
            for g in slots {
                key.push(k as u32);
                source.push(g.source);
                ip.push(g.ip);
                flag.push(g.flags);
                calls.push(g.calls);
                first.push(g.first);
                last.push(g.last);
            }
        }
        // A key's groups are a few hundred bytes each, freed to the allocator, which keeps them
        // a while unless asked: the string columns made next would be held beside them (at 30M
        // events, 3.4M groups in 591,000 lists: by-instance peaked here, 932 MiB on glibc).
        crate::analyzer::memory::give_back();
        let bit = |name: &str, mask: u8| {
            BooleanChunked::from_iter_values(name.into(), flag.iter().map(|f| f & mask != 0))
                .into_column()
        };
        let (service, trusted, failed) = (
            bit("is_service", 1),
            bit("trusted_source", 2),
            bit("failed", 4),
        );
        drop(flag);
        let mut columns = vec![UInt32Chunked::from_vec(KEY_REF.into(), key).into_column()];
        if with_sources {
            columns.push(sources.column("event_source", source)?);
        }
        columns.extend([
            ips.column("source_ip", ip)?,
            service,
            trusted,
            failed,
            UInt32Chunked::from_vec("calls".into(), calls).into_column(),
            time("first_call", first, NO_FIRST),
            time("last_call", last, NO_LAST),
        ]);
        DataFrame::new(n, columns)
    }
}

/// [`sorted`]'s order of two groups of one key: by service, then IP (nulls last), then made by
/// a service, from a trusted range and failed, false first.
fn in_order((sources, ips): (&Names, &Names), a: &Slot, b: &Slot) -> std::cmp::Ordering {
    fn name(names: &Names, n: u32) -> (bool, Option<&str>) {
        let name = n.checked_sub(1).map(|i| names.names[i as usize].as_str());
        (name.is_none(), name)
    }
    let bits = |f: u8| (f & 1, f & 2, f & 4);
    (name(sources, a.source), name(ips, a.ip), bits(a.flags)).cmp(&(
        name(sources, b.source),
        name(ips, b.ip),
        bits(b.flags),
    ))
}

/// A time column from `values`, null where a value is `none` (rare: a call without a time).
fn time(name: &str, values: Vec<i64>, none: i64) -> Column {
    let ca = match values.contains(&none) {
        false => Int64Chunked::from_vec(name.into(), values),
        true => Int64Chunked::from_iter_options(
            name.into(),
            values.into_iter().map(|v| (v != none).then_some(v)),
        ),
    };
    ca.into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column()
}

/// `name` of `df` as one chunk.
fn one(df: &DataFrame, name: &str) -> PolarsResult<Series> {
    Ok(df.column(name)?.as_materialized_series().rechunk())
}

/// The groups of `role_calls`' matched rows (it must have `key_ref` and [`READS`]).
pub fn group(role_calls: &DataFrame) -> PolarsResult<DataFrame> {
    let keys = role_calls
        .column(KEY_REF)?
        .u32()?
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut groups = Groups::new(keys);
    groups.add(role_calls)?;
    groups.finish()
}

/// Its rows in an order that does not depend on how the groups were made, for a frame a user
/// reads (a query over the table itself) to come out the same from the JSON and the dataset.
/// [`Groups::finish`] makes them in this order already.
#[cfg(test)]
pub fn sorted(df: DataFrame) -> PolarsResult<DataFrame> {
    df.sort(
        BY.to_vec(),
        SortMultipleOptions::default().with_nulls_last(true),
    )
}

/// `key_activity` with no rows: its schema.
pub fn empty() -> DataFrame {
    let calls = crate::analyzer::model::schema::empty_raw("role_calls").expect("a model table");
    let mut calls = calls
        .select(READS)
        .expect("role_calls has the columns a group reads");
    calls
        .with_column(UInt32Chunked::full_null(KEY_REF.into(), 0).into_column())
        .expect("same height");
    group(&calls).expect("static columns")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// key_ref, event_source, source_ip, error_code, event_time.
    type Row<'a> = (Option<u32>, &'a str, &'a str, Option<&'a str>, i64);

    fn calls(rows: &[Row<'_>]) -> DataFrame {
        let t: Vec<i64> = rows.iter().map(|r| r.4).collect();
        df!(
            KEY_REF => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "event_source" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "source_ip" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "is_service" => vec![false; rows.len()],
            "trusted_source" => vec![false; rows.len()],
            "error_code" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            "event_time" => Int64Chunked::from_vec("".into(), t)
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
        )
        .unwrap()
    }

    fn calls_of(groups: &DataFrame) -> Vec<u32> {
        let calls = groups.column("calls").unwrap().u32().unwrap();
        calls.into_no_null_iter().collect()
    }

    #[test]
    fn groups_counted_in_pieces_are_the_groups_of_the_whole() {
        let rows = [
            (Some(0), "s3", "10.0.0.1", None, 5),
            (Some(0), "s3", "10.0.0.1", None, 1),
            (Some(0), "s3", "10.0.0.1", Some("AccessDenied"), 9),
            (Some(1), "sts", "10.0.0.2", None, 3),
            (None, "s3", "10.0.0.1", None, 2),
            (Some(0), "s3", "10.0.0.1", None, 7),
        ];
        let whole = sorted(group(&calls(&rows)).unwrap()).unwrap();
        // Counted in two pieces into one counter made for fewer keys than it is given.
        let mut a = Groups::new(1);
        a.add(&calls(&rows[..2])).unwrap();
        a.add(&calls(&rows[2..])).unwrap();
        let merged = sorted(a.finish().unwrap()).unwrap();
        assert_eq!(whole, merged);
        // The unmatched call is in no group; key 0's successes are one group of three.
        assert_eq!(whole.height(), 3);
        assert_eq!(calls_of(&whole), vec![3, 1, 1]);
        assert_eq!(
            whole
                .column("first_call")
                .unwrap()
                .datetime()
                .unwrap()
                .phys
                .get(0),
            Some(1)
        );
        assert_eq!(
            whole
                .column("last_call")
                .unwrap()
                .datetime()
                .unwrap()
                .phys
                .get(0),
            Some(7)
        );
        assert_eq!(Groups::new(0).finish().unwrap().schema(), empty().schema());
    }

    #[test]
    fn a_group_whose_calls_have_no_time_has_no_first_or_last() {
        let times = Int64Chunked::from_iter_options("".into(), [None, None, Some(5)].into_iter())
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC));
        let df = df!(
            KEY_REF => [0u32, 0, 1],
            "event_source" => ["s3"; 3],
            "source_ip" => ["10.0.0.1"; 3],
            "is_service" => [false; 3],
            "trusted_source" => [false; 3],
            "error_code" => [None::<&str>; 3],
            "event_time" => times,
        )
        .unwrap();
        let groups = sorted(group(&df).unwrap()).unwrap();
        let times = |name: &str| -> Vec<Option<i64>> {
            groups
                .column(name)
                .unwrap()
                .datetime()
                .unwrap()
                .phys
                .iter()
                .collect()
        };
        assert_eq!(times("first_call"), vec![None, Some(5)]);
        assert_eq!(times("last_call"), vec![None, Some(5)]);
        assert_eq!(calls_of(&groups), vec![2, 1]);
    }

    #[test]
    fn groups_are_made_in_the_tables_order() {
        // Seen in an order that is not the table's: later services and IPs first, a null
        // service, failures before successes, a service's own call.
        let df = df!(
            KEY_REF => [1u32, 1, 1, 1, 0, 1, 1, 1],
            "event_source" => [Some("sts"), None, Some("s3"), Some("s3"), Some("s3"), Some("s3"), Some("ec2"), Some("s3")],
            "source_ip" => [Some("10.0.0.2"), Some("10.0.0.1"), Some("10.0.0.2"), None, Some("10.0.0.9"), Some("10.0.0.1"), Some("10.0.0.1"), Some("10.0.0.1")],
            "is_service" => [false, false, false, false, false, true, false, false],
            "trusted_source" => [false; 8],
            "error_code" => [None, None, None, None, None, None, None, Some("AccessDenied")],
            "event_time" => Int64Chunked::from_vec("".into(), (0..8).collect())
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
        )
        .unwrap();
        let made = group(&df).unwrap();
        assert_eq!(made.height(), 8);
        assert_eq!(made, sorted(made.clone()).unwrap());
    }

    #[test]
    fn groups_made_without_their_service_are_still_told_apart_by_it() {
        let rows = [
            (Some(0), "s3", "10.0.0.1", None, 5),
            (Some(0), "sts", "10.0.0.1", None, 6),
        ];
        let mut groups = Groups::new(1);
        groups.add(&calls(&rows)).unwrap();
        let made = groups.finish_with(false).unwrap();
        assert!(made.column("event_source").is_err());
        assert_eq!(calls_of(&made), vec![1, 1]);
        let whole = group(&calls(&rows)).unwrap();
        assert_eq!(made, whole.drop("event_source").unwrap());
    }
}
