//! Which rows of `call_groups` the queries that read it cannot tell apart.
//!
//! A row of `call_groups` is one key's calls to one service from one IP, of one kind. The shipped
//! queries read it through a few columns (`by-instance`: the instance's session name, the
//! service, the kind of call, the depth; `sessions`: the key, the IP, the kind of call) and only
//! sum `calls`, take the least `first_call` and the greatest `last_call`, or collect distinct
//! values. Rows equal in every column those queries name give the same answers as one row that
//! carries their sum, least and greatest: at 30M events of the benchmark's trail, `by-instance`
//! then reads 27,000 rows, not 3.4M, and holds none of the columns it would have gathered for
//! them. A query of one's own may count rows, so the engine merges only when every query that
//! reads the table is shipped (see `engine`).

use std::collections::HashMap;

use polars::prelude::*;

type Fast = foldhash::fast::RandomState;

/// The most rows merged, in percent of the rows, for the merge to be worth its copy. Tests
/// raise it to merge wherever rows repeat.
fn share() -> usize {
    crate::base::debug_knob::number("JANUS_AUDIT_MERGE_SHARE", 50)
}

/// The columns merged over, not by.
pub const SUMMED: [&str; 3] = ["calls", "first_call", "last_call"];

/// Where a column's value for a row of `call_groups` is found: at that row's index into its
/// source column.
pub struct By<'a> {
    pub source: &'a Column,
    pub at: &'a [IdxSize],
}

/// The merged rows: for each, the first row it stands for (ascending), its calls' sum and the
/// least first and greatest last time of the rows it stands for.
pub struct Merged {
    pub rows: Vec<IdxSize>,
    pub calls: Vec<u32>,
    pub first: Vec<Option<i64>>,
    pub last: Vec<Option<i64>>,
}

/// The rows of `n` that agree on every column of `by` made one; `calls`, `first` and `last` are
/// the rows' own (`at` their index into them). `None` where a column is of a type not compared
/// here, a sum of calls leaves `u32` (the table's type), or the rows would not be halved (the
/// merged table copies the columns it keeps, where the rows as they are share them): the rows
/// are then left as they are.
pub fn merge(
    n: usize,
    by: &[By<'_>],
    (calls, first, last): (&Column, &Column, &Column),
    at: &[IdxSize],
) -> PolarsResult<Option<Merged>> {
    // Each row's group so far, refined a column at a time: the pairs (group, value) seen are
    // never more than the groups at the end.
    let mut ids = vec![0u32; n];
    for column in by {
        let Some(codes) = codes(column.source)? else {
            return Ok(None);
        };
        let mut seen: HashMap<(u32, u32), u32, Fast> = HashMap::default();
        for (id, &row) in ids.iter_mut().zip(column.at) {
            let next = seen.len() as u32;
            *id = *seen.entry((*id, codes[row as usize])).or_insert(next);
        }
        // More columns only tell more rows apart.
        if seen.len() * 100 > n * share() {
            return Ok(None);
        }
    }
    let groups = ids.iter().max().map_or(0, |&m| m as usize + 1);
    let mut out = Merged {
        rows: vec![IdxSize::MAX; groups],
        calls: vec![0; groups],
        first: vec![None; groups],
        last: vec![None; groups],
    };
    let calls = calls.as_materialized_series().rechunk();
    let calls = calls.u32()?;
    let times = |c: &Column| -> PolarsResult<Int64Chunked> {
        Ok(c.as_materialized_series()
            .to_physical_repr()
            .rechunk()
            .i64()?
            .clone())
    };
    let (first, last) = (times(first)?, times(last)?);
    for (row, (&id, &src)) in ids.iter().zip(at).enumerate() {
        let g = id as usize;
        if out.rows[g] == IdxSize::MAX {
            out.rows[g] = row as IdxSize;
        }
        let src = src as usize;
        let sum = out.calls[g].checked_add(calls.get(src).unwrap_or(0));
        let Some(sum) = sum else { return Ok(None) };
        out.calls[g] = sum;
        out.first[g] = least(out.first[g], first.get(src));
        out.last[g] = greatest(out.last[g], last.get(src));
    }
    Ok(Some(out))
}

fn least(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).min()
}

fn greatest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    a.into_iter().chain(b).max()
}

/// A number for each row of `column`, equal where the values are (nulls are one value).
fn codes(column: &Column) -> PolarsResult<Option<Vec<u32>>> {
    let s = column.as_materialized_series();
    Ok(Some(match s.dtype() {
        DataType::String => numbered(s.str()?.iter()),
        DataType::Boolean => s.bool()?.iter().map(|b| b.map_or(2, u32::from)).collect(),
        dt if dt.to_physical().is_integer() => {
            numbered(s.to_physical_repr().cast(&DataType::Int64)?.i64()?.iter())
        }
        _ => return Ok(None),
    }))
}

/// Values numbered in order of first sight; runs of one value are the common case.
fn numbered<T: std::hash::Hash + Eq + Copy>(values: impl Iterator<Item = T>) -> Vec<u32> {
    let mut numbers: HashMap<T, u32, Fast> = HashMap::default();
    let mut last: Option<(T, u32)> = None;
    values
        .map(|v| match last {
            Some((l, n)) if l == v => n,
            _ => {
                let next = numbers.len() as u32;
                let n = *numbers.entry(v).or_insert(next);
                last = Some((v, n));
                n
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column<T: Into<Column>>(c: T) -> Column {
        c.into()
    }

    #[test]
    fn rows_equal_in_every_column_named_are_one_with_their_sums() {
        let source = column(Series::new(
            "event_source".into(),
            [
                Some("s3"),
                Some("ec2"),
                Some("s3"),
                None,
                Some("s3"),
                None,
                Some("s3"),
                Some("ec2"),
            ],
        ));
        let failed = column(Series::new(
            "failed".into(),
            [false, false, false, false, true, false, false, false],
        ));
        let calls = column(Series::new("calls".into(), [1u32, 2, 3, 4, 5, 6, 7, 8]));
        let time = |v: [Option<i64>; 8]| column(Series::new("t".into(), v));
        let first = time([
            Some(5),
            Some(1),
            None,
            Some(9),
            Some(2),
            Some(7),
            Some(3),
            None,
        ]);
        let last = time([
            Some(6),
            Some(1),
            Some(8),
            Some(9),
            Some(2),
            None,
            Some(4),
            Some(20),
        ]);
        let at: Vec<IdxSize> = (0..8).collect();
        let by = [
            By {
                source: &source,
                at: &at,
            },
            By {
                source: &failed,
                at: &at,
            },
        ];
        let m = merge(8, &by, (&calls, &first, &last), &at)
            .unwrap()
            .unwrap();
        // s3 ok (rows 0, 2, 6), ec2 (1, 7), null (3, 5), s3 failed.
        assert_eq!(m.rows, [0, 1, 3, 4]);
        assert_eq!(m.calls, [11, 10, 10, 5]);
        assert_eq!(m.first, [Some(3), Some(1), Some(7), Some(2)]);
        assert_eq!(m.last, [Some(8), Some(20), Some(9), Some(2)]);
        let apart = column(Series::new("k".into(), [1u32, 2, 3, 4, 5, 6, 7, 7]));
        let by_key = [By {
            source: &apart,
            at: &at,
        }];
        assert!(
            merge(8, &by_key, (&calls, &first, &last), &at)
                .unwrap()
                .is_none(),
            "seven groups of eight rows are left as they are"
        );
    }

    #[test]
    fn rows_are_found_at_their_index_into_each_source() {
        // Two keys (rows of a lineage) with one session each; four groups point at them.
        let sessions = column(Series::new("session".into(), ["p.a", "p.a", "p.b"]));
        let keys: Vec<IdxSize> = vec![0, 1, 2, 1];
        let calls = column(Series::new("calls".into(), [1u32, 1, 1, 1]));
        let none = column(Series::new("t".into(), [None::<i64>; 4]));
        let at: Vec<IdxSize> = (0..4).collect();
        let by = [By {
            source: &sessions,
            at: &keys,
        }];
        let m = merge(4, &by, (&calls, &none, &none), &at).unwrap().unwrap();
        assert_eq!(m.rows, [0, 2]);
        assert_eq!(m.calls, [3, 1]);
        assert_eq!(m.first, [None, None]);
    }

    #[test]
    fn a_sum_past_the_tables_type_leaves_the_rows_as_they_are() {
        let one = column(Series::new("k".into(), [1u32, 1]));
        let calls = column(Series::new("calls".into(), [u32::MAX, 1]));
        let none = column(Series::new("t".into(), [None::<i64>; 2]));
        let at: Vec<IdxSize> = vec![0, 1];
        let by = [By {
            source: &one,
            at: &at,
        }];
        assert!(
            merge(2, &by, (&calls, &none, &none), &at)
                .unwrap()
                .is_none()
        );
    }
}
