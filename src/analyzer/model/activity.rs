//! `key_activity`: the window's calls that were made with a key of the lineage, grouped by that
//! key and by what the reports count calls by (service, source IP, service-made or not, trusted
//! range or not, failed or not), with how many there were and the first and last of them.
//!
//! It is what `by-instance` and `sessions` read instead of `calls`: every count they give is a
//! sum, every time a minimum or maximum, every list a set, so groups made piece by piece (a
//! dataset's parts) and merged give the answer the whole window would, and a report holds the
//! groups, a few per key, never the calls. Its rows follow from `role_calls` (with `key_ref`)
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

/// What a group is made of, in the table's order.
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

/// How many calls, the first and the last.
type Tally = (u32, Option<i64>, Option<i64>);

/// The groups of `role_calls`' matched rows (it must have `key_ref` and [`READS`]). Counted in a
/// hash map over the columns' values, not by polars' group-by: a dataset's report groups its
/// parts on every core at once, where polars' own pool would contend with them (and its
/// group-by over two string columns was slower than this).
pub fn group(role_calls: &DataFrame) -> PolarsResult<DataFrame> {
    // One chunk per column, walked by the arrays' own iterators: polars' chunked iterators cost
    // a dynamic call per value, most of the time here.
    let one = |name: &str| -> PolarsResult<Series> {
        Ok(role_calls.column(name)?.as_materialized_series().rechunk())
    };
    let (refs, source, ip) = (one(KEY_REF)?, one("event_source")?, one("source_ip")?);
    let (service, trusted, failed) = (
        one("is_service")?,
        one("trusted_source")?,
        one("error_code")?,
    );
    let time = one("event_time")?;
    let time = time.datetime()?;
    let (Some(refs), Some(source), Some(ip)) = (
        refs.u32()?.downcast_iter().next(),
        source.str()?.downcast_iter().next(),
        ip.str()?.downcast_iter().next(),
    ) else {
        return Ok(empty());
    };
    let (Some(service), Some(trusted), Some(failed), Some(time)) = (
        service.bool()?.downcast_iter().next(),
        trusted.bool()?.downcast_iter().next(),
        failed.str()?.downcast_iter().next(),
        time.phys.downcast_iter().next(),
    ) else {
        return Ok(empty());
    };
    // Strings are numbered once per distinct value (a few services, a few IPs per part), so that
    // a group is found by integers.
    let (mut sources, mut ips) = (Names::default(), Names::default());
    // One table per thread, emptied and reused part after part: a fresh one grew by doubling,
    // and every allocation it made was zeroed memory (most of the time, measured with perf).
    thread_local! {
        static GROUPS: std::cell::RefCell<Groups> = Default::default();
    }
    GROUPS.with_borrow_mut(|groups| {
        groups.clear();
        let rows = refs
            .iter()
            .zip(source.iter())
            .zip(ip.iter())
            .zip(service.iter())
            .zip(trusted.iter())
            .zip(failed.iter())
            .zip(time.iter());
        for ((((((key, source), ip), service), trusted), failed), t) in rows {
            let Some(&key) = key else { continue };
            let flags = flags(
                service.unwrap_or(false),
                trusted.unwrap_or(false),
                failed.is_some(),
            );
            let by = (key, sources.number(source), ips.number(ip), flags);
            let t = t.copied();
            add(groups, by, (1, t, t));
        }
        frame(groups.drain(), &sources, &ips)
    })
}

/// Groups by integers: key row, service's and IP's numbers, [`flags`].
type Groups = std::collections::HashMap<(u32, u32, u32, u8), Tally, Fast>;

fn flags(service: bool, trusted: bool, failed: bool) -> u8 {
    service as u8 | (trusted as u8) << 1 | (failed as u8) << 2
}

fn add(groups: &mut Groups, by: (u32, u32, u32, u8), (calls, first, last): Tally) {
    let g = groups.entry(by).or_insert((0, None, None));
    g.0 += calls;
    g.1 = g.1.into_iter().chain(first).min();
    g.2 = g.2.into_iter().chain(last).max();
}

type Fast = foldhash::fast::RandomState;

/// Strings numbered in order of first sight; 0 is null. The last one is remembered: calls
/// come in runs from one source and IP.
#[derive(Default)]
struct Names<'a> {
    numbers: std::collections::HashMap<&'a str, u32, Fast>,
    names: Vec<&'a str>,
    last: Option<(&'a str, u32)>,
}

impl<'a> Names<'a> {
    fn number(&mut self, s: Option<&'a str>) -> u32 {
        let Some(s) = s else { return 0 };
        if let Some((l, n)) = self.last
            && l == s
        {
            return n;
        }
        let next = self.names.len() as u32 + 1;
        let n = *self.numbers.entry(s).or_insert_with(|| {
            self.names.push(s);
            next
        });
        self.last = Some((s, n));
        n
    }

    fn name(&self, n: u32) -> Option<&'a str> {
        n.checked_sub(1).map(|i| self.names[i as usize])
    }
}

/// The table from its groups, in any order, their strings named by `sources` and `ips`.
fn frame(
    groups: impl ExactSizeIterator<Item = ((u32, u32, u32, u8), Tally)>,
    sources: &Names<'_>,
    ips: &Names<'_>,
) -> PolarsResult<DataFrame> {
    let n = groups.len();
    let (mut key, mut source, mut ip) = (Vec::with_capacity(n), Vec::new(), Vec::new());
    let (mut service, mut trusted, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let (mut calls, mut first, mut last) = (Vec::new(), Vec::new(), Vec::new());
    for ((k, s, i, f), (c, a, b)) in groups {
        key.push(k);
        source.push(sources.name(s));
        ip.push(ips.name(i));
        service.push(f & 1 != 0);
        trusted.push(f & 2 != 0);
        failed.push(f & 4 != 0);
        calls.push(c);
        first.push(a);
        last.push(b);
    }
    let time = |name: &str, v: Vec<Option<i64>>| {
        Int64Chunked::from_iter_options(name.into(), v.into_iter())
            .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
            .into_column()
    };
    DataFrame::new(
        n,
        vec![
            UInt32Chunked::from_vec(KEY_REF.into(), key).into_column(),
            StringChunked::from_iter_options("event_source".into(), source.into_iter())
                .into_column(),
            StringChunked::from_iter_options("source_ip".into(), ip.into_iter()).into_column(),
            BooleanChunked::from_iter_values("is_service".into(), service.into_iter())
                .into_column(),
            BooleanChunked::from_iter_values("trusted_source".into(), trusted.into_iter())
                .into_column(),
            BooleanChunked::from_iter_values("failed".into(), failed.into_iter()).into_column(),
            UInt32Chunked::from_vec("calls".into(), calls).into_column(),
            time("first_call", first),
            time("last_call", last),
        ],
    )
}

/// Groups made piece by piece, as one set of groups: their counts summed, the first of the
/// first and the last of the last. By polars' group-by, on its own pool: this runs once per
/// many parts, on the main thread, where a hash map of every group was slower (a million
/// groups miss the cache on every probe).
pub fn merge(pieces: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut pieces = pieces.into_iter();
    let Some(mut all) = pieces.next() else {
        return Ok(empty());
    };
    for p in pieces {
        all.vstack_mut_owned(p)?;
    }
    all.lazy()
        .group_by(BY.map(col))
        .agg([
            col("calls").sum(),
            col("first_call").min(),
            col("last_call").max(),
        ])
        .collect()
}

/// Its rows in an order that does not depend on how the groups were made, for a frame a user
/// reads (a query over the table itself) to come out the same from the JSON and the dataset.
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

    #[test]
    fn groups_made_in_pieces_merge_to_the_groups_of_the_whole() {
        let rows = [
            (Some(0), "s3", "10.0.0.1", None, 5),
            (Some(0), "s3", "10.0.0.1", None, 1),
            (Some(0), "s3", "10.0.0.1", Some("AccessDenied"), 9),
            (Some(1), "sts", "10.0.0.2", None, 3),
            (None, "s3", "10.0.0.1", None, 2),
            (Some(0), "s3", "10.0.0.1", None, 7),
        ];
        let whole = sorted(group(&calls(&rows)).unwrap()).unwrap();
        let pieces = vec![
            group(&calls(&rows[..2])).unwrap(),
            group(&calls(&rows[2..])).unwrap(),
        ];
        let merged = sorted(merge(pieces).unwrap()).unwrap();
        assert_eq!(whole, merged);
        // The unmatched call is in no group; key 0's successes are one group of three.
        assert_eq!(whole.height(), 3);
        let counts: Vec<u32> = whole
            .column("calls")
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(counts, vec![3, 1, 1]);
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
        assert_eq!(merge(Vec::new()).unwrap().schema(), empty().schema());
    }
}
