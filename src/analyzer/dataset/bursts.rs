//! recon_burst's calls, read twice instead of held. Most rows of `flagged_calls` are marked only
//! `recon` or `denied` (87% on the benchmark's trail), and recon_burst
//! (queries/findings/recon_burst.sql) reads them only to count a key's calls in windows of W
//! seconds, of which few cross a threshold. While the calls are read a piece at a time, such
//! rows are counted, not kept: per key and bucket of W seconds, the distinct recon names and
//! the number of denials. A window that starts in bucket b ends before b + 2, so it can cross
//! only where buckets b and b + 1 together reach a threshold; the rows of those two buckets are
//! read again, and only they (`Needed`). recon_burst then sees, for every window that can
//! cross, every row it saw before, and elsewhere fewer, so it finds the same windows, counts
//! and evidence; the other shipped readers of flagged_calls read only rows marked `foreign_ip`
//! or `after_expiry`, which are always kept. The engine asks for this only when every query
//! that reads flagged_calls is one of those three, as shipped.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use polars::prelude::*;

use crate::analyzer::model::lineage::KEY_REF;

/// The shipped queries that read `flagged_calls`, which the counting above keeps exact.
pub const READERS: [&str; 3] = [
    "findings/recon_burst",
    "findings/use_after_expiry",
    "findings/key_used_from_foreign_ip",
];

/// recon_burst's thresholds (`findings_params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub window_s: i64,
    pub min_distinct: i64,
    pub min_denied: i64,
}

impl Limits {
    /// From the one-row `findings_params` table.
    pub fn of_params(df: &DataFrame) -> Option<Limits> {
        let get = |name: &str| df.column(name).ok()?.i64().ok()?.get(0);
        Some(Limits {
            window_s: get("recon_window_s").filter(|w| *w > 0)?,
            min_distinct: get("recon_min_distinct")?,
            min_denied: get("recon_min_denied")?,
        })
    }
}

/// What recon_burst's rows are told by: each row's key and bucket (`None` where either is
/// null), whether it is only a recon or denied call (`left_out`: no other mark a shipped reader
/// reads), and its marks. Before 1970 (`early`) recon_burst's whole seconds (truncated) and
/// buckets (floored) disagree, and a window may reach a third bucket: every such row's key is
/// read again whole.
struct Marks {
    place: Vec<Option<(u32, i64)>>,
    early: Vec<bool>,
    left_out: Vec<bool>,
    recon: Vec<bool>,
    denied: Vec<bool>,
}

/// The columns a piece's flagged_calls rows must have to be counted instead of kept.
const NEEDS: [&str; 5] = [KEY_REF, "event_time", "event_name", "recon", "denied"];

fn marks(df: &DataFrame, limits: &Limits) -> PolarsResult<Option<Marks>> {
    if NEEDS.iter().any(|c| df.get_column_index(c).is_none()) {
        return Ok(None);
    }
    let flag = |name: &str| -> PolarsResult<Vec<bool>> {
        Ok(match df.get_column_index(name) {
            Some(_) => df
                .column(name)?
                .bool()?
                .iter()
                .map(|v| v == Some(true))
                .collect(),
            None => vec![false; df.height()],
        })
    };
    let (recon, denied) = (flag("recon")?, flag("denied")?);
    let (foreign, expired) = (flag("foreign_ip")?, flag("after_expiry")?);
    // recon_burst's own bucket expression, so that a time with a fraction of a second falls in
    // the same bucket here as there.
    let bucket = polars::sql::sql_expr(format!(
        "CAST(FLOOR(EXTRACT(EPOCH FROM event_time) / {}) AS BIGINT)",
        limits.window_s
    ))?;
    let buckets = df
        .clone()
        .lazy()
        .select([
            bucket.alias("b"),
            col("event_time").lt(lit(0)).alias("early"),
        ])
        .collect()?;
    let b = buckets.column("b")?.i64()?;
    let early = buckets.column("early")?.bool()?;
    let keys = df.column(KEY_REF)?.u32()?;
    let place: Vec<_> = keys.iter().zip(b.iter()).map(|(k, b)| k.zip(b)).collect();
    let early = early.iter().map(|e| e == Some(true)).collect();
    let left_out = (0..df.height())
        .map(|i| (recon[i] || denied[i]) && !foreign[i] && !expired[i] && place[i].is_some())
        .collect();
    Ok(Some(Marks {
        place,
        early,
        left_out,
        recon,
        denied,
    }))
}

/// The counts of the rows left out so far, over every piece read (pieces are read on many
/// cores at once).
pub struct Tally {
    limits: Limits,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    names: HashMap<String, u32>,
    /// (key, bucket, name): made distinct when compacted.
    recon: Vec<(u32, i64, u32)>,
    /// (key, bucket, denials): summed when compacted.
    denied: Vec<(u32, i64, u64)>,
    compacted: usize,
    left_out: usize,
    /// Keys with a left-out row before 1970: read again whole.
    early: HashSet<u32>,
}

impl Counts {
    /// Distinct recon names and summed denials, so that what is held is a row per key, bucket
    /// and name, not per call.
    fn compact(&mut self) {
        self.recon.sort_unstable();
        self.recon.dedup();
        self.denied.sort_unstable();
        let mut summed: Vec<(u32, i64, u64)> = Vec::with_capacity(self.denied.len());
        for &(k, b, n) in &self.denied {
            match summed.last_mut() {
                Some(last) if (last.0, last.1) == (k, b) => last.2 += n,
                _ => summed.push((k, b, n)),
            }
        }
        self.denied = summed;
        self.compacted = self.recon.len() + self.denied.len();
    }
}

impl Tally {
    pub fn new(limits: Limits) -> Tally {
        Tally {
            limits,
            state: Mutex::new(Counts::default()),
        }
    }

    /// Of one piece's flagged_calls rows, those kept: the rows marked only recon or denied
    /// are counted and left out (all rows are kept when the table lacks a column to count).
    pub fn keep(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        let Some(m) = marks(&df, &self.limits)? else {
            return Ok(df);
        };
        let names = df.column("event_name")?.str()?;
        let mut local: HashMap<&str, Vec<(u32, i64)>> = HashMap::new();
        let (mut denied, mut early) = (Vec::new(), Vec::new());
        for (i, place) in m.place.iter().enumerate() {
            let (Some(p), true) = (place, m.left_out[i]) else {
                continue;
            };
            if m.recon[i]
                && let Some(name) = names.get(i)
            {
                local.entry(name).or_default().push(*p);
            }
            if m.denied[i] {
                denied.push((p.0, p.1, 1));
            }
            if m.early[i] {
                early.push(p.0);
            }
        }
        let left_out = m.left_out.iter().filter(|l| **l).count();
        {
            let mut c = self.state.lock().expect("not poisoned");
            for (name, places) in local {
                let next = c.names.len() as u32;
                let id = *c.names.entry(name.to_string()).or_insert(next);
                c.recon.extend(places.into_iter().map(|(k, b)| (k, b, id)));
            }
            c.denied.extend(denied);
            c.early.extend(early);
            c.left_out += left_out;
            if c.recon.len() + c.denied.len() > 2 * c.compacted + 65_536 {
                c.compact();
            }
        }
        let kept: BooleanChunked = m.left_out.iter().map(|l| Some(!l)).collect();
        df.filter(&kept)
    }

    /// The buckets whose rows recon_burst needs: of each bucket b where b and b + 1 together
    /// hold `min_distinct` recon names or `min_denied` denials, b and b + 1.
    pub fn needed(self) -> Needed {
        let limits = self.limits;
        let mut c = self.state.into_inner().expect("not poisoned");
        c.compact();
        let recon = &c.recon;
        // Each (key, bucket)'s names: a run of `recon`, sorted by name.
        let names_of = |kb: (u32, i64)| -> &[(u32, i64, u32)] {
            let from = recon.partition_point(|r| (r.0, r.1) < kb);
            let to = recon.partition_point(|r| (r.0, r.1) <= kb);
            &recon[from..to]
        };
        let denied_of = |kb: (u32, i64)| -> u64 {
            match c.denied.binary_search_by(|d| (d.0, d.1).cmp(&kb)) {
                Ok(at) => c.denied[at].2,
                Err(_) => 0,
            }
        };
        let mut places: Vec<(u32, i64)> = recon
            .iter()
            .map(|r| (r.0, r.1))
            .chain(c.denied.iter().map(|d| (d.0, d.1)))
            .collect();
        places.sort_unstable();
        places.dedup();
        let mut buckets = HashSet::new();
        for &(k, b) in &places {
            let Some(next) = b.checked_add(1).map(|n| (k, n)) else {
                continue;
            };
            let names = distinct(names_of((k, b)), names_of(next));
            let denials = denied_of((k, b)) + denied_of(next);
            if names as i64 >= limits.min_distinct || denials as i64 >= limits.min_denied {
                buckets.insert((k, b));
                buckets.insert(next);
            }
        }
        Needed {
            limits,
            keys: buckets
                .iter()
                .map(|(k, _)| *k)
                .chain(c.early.iter().copied())
                .collect(),
            buckets,
            early: c.early,
            left_out: c.left_out,
        }
    }
}

/// How many names two sorted runs hold together.
fn distinct(a: &[(u32, i64, u32)], b: &[(u32, i64, u32)]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() || j < b.len() {
        n += 1;
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.2 == y.2 => (i, j) = (i + 1, j + 1),
            (Some(x), Some(y)) if x.2 < y.2 => i += 1,
            (Some(_), None) => i += 1,
            _ => j += 1,
        }
    }
    n
}

/// The (key, bucket) pairs whose left-out rows are read again.
pub struct Needed {
    limits: Limits,
    keys: HashSet<u32>,
    buckets: HashSet<(u32, i64)>,
    early: HashSet<u32>,
    /// How many rows were left out in the first read.
    pub left_out: usize,
}

impl Needed {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many (key, bucket) pairs are read again.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The UTC days the needed buckets touch: a dataset's parts of other days are not read
    /// again. `None`: every day (a key is read again whole, or a bucket's days are past
    /// counting: a window of `--set recon_window_s` years).
    pub fn days(&self) -> Option<BTreeSet<chrono::NaiveDate>> {
        if !self.early.is_empty() {
            return None;
        }
        let w = self.limits.window_s;
        let day = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.date_naive());
        let mut days = BTreeSet::new();
        for &(_, b) in &self.buckets {
            let from = b.checked_mul(w).and_then(day)?;
            let last = b.checked_add(1)?.checked_mul(w).and_then(|t| day(t - 1))?;
            if (last - from).num_days() > 366 {
                return None;
            }
            days.extend(from.iter_days().take_while(|d| *d <= last));
        }
        Some(days)
    }

    /// Which calls of a matched piece can be among the rows read again: those of a key with a
    /// needed bucket.
    pub fn may_need(&self, refs: &UInt32Chunked) -> BooleanChunked {
        refs.iter()
            .map(|k| Some(k.is_some_and(|k| self.keys.contains(&k))))
            .collect()
    }

    /// Of a piece's flagged_calls rows made again, those the first read left out and that a
    /// needed bucket holds.
    pub fn rows(&self, df: DataFrame) -> PolarsResult<DataFrame> {
        let Some(m) = marks(&df, &self.limits)? else {
            return Ok(df.head(Some(0)));
        };
        let needed = |p: &(u32, i64)| self.early.contains(&p.0) || self.buckets.contains(p);
        let kept: BooleanChunked = m
            .place
            .iter()
            .zip(&m.left_out)
            .map(|(p, l)| Some(*l && p.as_ref().is_some_and(needed)))
            .collect();
        df.filter(&kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(rows: &[(u32, i64, &str, bool, bool, bool)]) -> DataFrame {
        let t: Vec<i64> = rows.iter().map(|r| r.1 * 1_000_000).collect();
        df!(
            KEY_REF => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "event_time" => t,
            "event_name" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "recon" => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            "denied" => rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            "foreign_ip" => rows.iter().map(|r| r.5).collect::<Vec<_>>(),
        )
        .unwrap()
        .lazy()
        .with_column(col("event_time").cast(DataType::Datetime(TimeUnit::Microseconds, None)))
        .collect()
        .unwrap()
    }

    #[test]
    fn only_buckets_that_can_cross_are_read_again() {
        let limits = Limits {
            window_s: 100,
            min_distinct: 3,
            min_denied: 2,
        };
        let tally = Tally::new(limits);
        // Key 1: names A, B in bucket 10 and C in 11 (three together: 10 and 11 needed), and a
        // lone name in bucket 20. Key 2: one denial in 30 and one in 31 (two: needed); a
        // foreign recon call is kept, not counted as left out.
        let first = frame(&[
            (1, 1_000, "A", true, false, false),
            (1, 1_050, "B", true, false, false),
            (1, 2_000, "A", true, false, false),
            (2, 3_010, "X", false, true, false),
            (2, 3_020, "Y", true, false, true),
        ]);
        let second = frame(&[
            (1, 1_150, "C", true, false, false),
            (1, 1_160, "C", true, false, false),
            (2, 3_150, "X", false, true, false),
        ]);
        assert_eq!(tally.keep(first).unwrap().height(), 1);
        assert_eq!(tally.keep(second).unwrap().height(), 0);
        let needed = tally.needed();
        assert_eq!(needed.left_out, 7);
        let mut got: Vec<_> = needed.buckets.iter().copied().collect();
        got.sort();
        assert_eq!(got, vec![(1, 10), (1, 11), (2, 30), (2, 31)]);
        let again = needed.rows(frame(&[
            (1, 1_000, "A", true, false, false),
            (1, 2_000, "A", true, false, false),
            (2, 3_020, "Y", true, false, true),
        ]));
        assert_eq!(again.unwrap().height(), 1, "bucket 20 is not needed");
        assert_eq!(
            needed.days().unwrap().into_iter().collect::<Vec<_>>(),
            vec![chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()]
        );
    }

    #[test]
    fn a_key_with_a_call_before_1970_is_read_again_whole() {
        let tally = Tally::new(Limits {
            window_s: 300,
            min_distinct: 5,
            min_denied: 5,
        });
        let first = frame(&[
            (1, -10, "A", true, false, false),
            (1, 5_000, "B", true, false, false),
            (2, 5_000, "B", true, false, false),
        ]);
        assert_eq!(tally.keep(first.clone()).unwrap().height(), 0);
        let needed = tally.needed();
        assert!(needed.days().is_none(), "every day is read again");
        let again = needed.rows(first).unwrap();
        let keys: Vec<_> = again
            .column(KEY_REF)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(keys, vec![1, 1]);
    }

    #[test]
    fn a_bucket_whose_days_cannot_be_counted_reads_every_day() {
        let tally = Tally::new(Limits {
            window_s: i64::MAX / 2,
            min_distinct: 1,
            min_denied: 1,
        });
        let df = frame(&[(1, 10, "A", true, false, false)]);
        assert_eq!(tally.keep(df).unwrap().height(), 0);
        let needed = tally.needed();
        assert!(!needed.is_empty());
        assert!(needed.days().is_none());
    }

    #[test]
    fn a_table_without_the_marks_is_kept_whole() {
        let tally = Tally::new(Limits {
            window_s: 60,
            min_distinct: 1,
            min_denied: 1,
        });
        let df = frame(&[(1, 10, "A", true, false, false)])
            .drop("recon")
            .unwrap();
        assert_eq!(tally.keep(df).unwrap().height(), 1);
        assert!(tally.needed().is_empty());
    }

    #[test]
    fn two_runs_of_names_count_each_name_once() {
        let run = |names: &[u32]| names.iter().map(|n| (0, 0, *n)).collect::<Vec<_>>();
        assert_eq!(distinct(&run(&[1, 3, 5]), &run(&[2, 3, 6])), 5);
        assert_eq!(distinct(&run(&[]), &run(&[2])), 1);
        assert_eq!(distinct(&run(&[1, 2]), &run(&[])), 2);
    }
}
