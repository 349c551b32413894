//! Tables made one chunk, each repeated string held once.
//!
//! An assumption's role, session name, assumed-role ARN, audience and provider repeat across
//! every key an instance is issued (a key an hour, so hundreds per name over a long window),
//! and the lineage's columns are gathered from them. polars' strings are views: a column of
//! one chunk whose rows point at one copy of each distinct value holds 16 bytes a row for
//! them, where the rows as read (or rechunked) each carry their own bytes. At 30M events
//! (540,000 assumptions) that is about 90 MB of the assumptions and 35 MB of the lineage.

use polars::prelude::*;

type Fast = foldhash::fast::RandomState;

/// How many rows are looked at before a column with too many distinct values is given up as
/// not worth it (an event ID, a key): its strings are then only made one chunk. The rows come
/// in time order, and a fleet's names all show up only once each of its instances has been
/// issued a key: at 4,096 rows, 1,500 instances' session names and assumed-role ARNs (a key
/// an hour each) were given up and held once a row, 82 MB more live heap at `report`'s peak at
/// 30M events over the JSON (45 MB over a dataset). A fleet of more than 16,384 instances is
/// given up again at this bound.
const PROBE: usize = 1 << 16;

/// `df` as one chunk, each string column's repeated values held once where they repeat
/// enough (at most one distinct value in [`MOSTLY_REPEATED`] rows).
pub fn one_chunk(df: &mut DataFrame) -> PolarsResult<()> {
    made(df, Unshared::Rechunked)
}

/// `df` as [`one_chunk`] makes it, with the columns not shared copied into buffers of their
/// own: for a table held while the rest of the input is read. A table built a few hundred
/// rows at a time holds each string column in buffers that grow by doubling from 8 KiB, and
/// gathering such tables (or making them one chunk) keeps every one of those buffers: over
/// 30M events the assumptions of 3,000 parts took about 800 MB for 240 MB of values.
pub fn held(df: &mut DataFrame) -> PolarsResult<()> {
    made(df, Unshared::Copied)
}

/// What becomes of a string column whose values do not repeat enough to be shared.
#[derive(Clone, Copy)]
enum Unshared {
    /// Made one chunk of the buffers it has.
    Rechunked,
    /// Copied into new buffers.
    Copied,
}

fn made(df: &mut DataFrame, unshared: Unshared) -> PolarsResult<()> {
    use rayon::prelude::*;
    let columns: Vec<Column> = df
        .columns()
        .par_iter()
        .map(|c| match c.dtype() {
            DataType::String => Ok(strings(c.str()?, unshared).into_column()),
            _ => Ok(c.rechunk()),
        })
        .collect::<PolarsResult<_>>()?;
    *df = DataFrame::new(df.height(), columns)?;
    Ok(())
}

/// `df`'s string columns copied into buffers of their own. A few rows kept of a decoded part
/// (the calls a finding can be about) are views into the part's buffers, which they would
/// otherwise keep whole: at 30M events, every part's strings, about 350 MB for `findings`.
pub fn compacted(df: DataFrame) -> PolarsResult<DataFrame> {
    if !df.columns().iter().any(|c| c.dtype() == &DataType::String) {
        return Ok(df);
    }
    let columns: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| match c.dtype() {
            DataType::String => Ok(copied(c.str()?).into_column()),
            _ => Ok(c.clone()),
        })
        .collect::<PolarsResult<_>>()?;
    DataFrame::new(df.height(), columns)
}

/// `ca`'s values in one new buffer of their size, shared with no other column. polars'
/// builders grow a buffer by doubling and keep its spare capacity: the assumptions of 157
/// batches of files, each column copied so, held about 110 MB more at 30M events than the
/// same values decoded from a dataset.
fn copied(ca: &StringChunked) -> StringChunked {
    use polars_arrow::array::{Utf8ViewArray, View};
    use polars_arrow::bitmap::MutableBitmap;
    let inline = View::MAX_INLINE_SIZE as usize;
    let long: usize = ca
        .iter()
        .flatten()
        .map(str::len)
        .filter(|&n| n > inline)
        .sum();
    // Arrow's bound on one buffer: more is left to polars' builder, in buffers of 16 MiB.
    if long > i32::MAX as usize {
        return StringChunked::from_iter_options(ca.name().clone(), ca.iter());
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(long);
    let mut views: Vec<View> = Vec::with_capacity(ca.len());
    let mut valid = MutableBitmap::with_capacity(ca.len());
    let mut total = 0;
    for value in ca.iter() {
        let Some(s) = value.map(str::as_bytes) else {
            views.push(View::default());
            valid.push(false);
            continue;
        };
        total += s.len();
        views.push(match s.len() > inline {
            true => {
                let offset = bytes.len() as u32;
                bytes.extend_from_slice(s);
                View::new_from_bytes(s, 0, offset)
            }
            false => View::new_inline(s),
        });
        valid.push(true);
    }
    let validity = (valid.unset_bits() > 0).then(|| valid.into());
    // SAFETY: every view is of a whole `&str` (valid UTF-8), inline or at its offset in the one
    // buffer, which holds exactly the bytes of the views that are not inline; `validity` has a
    // bit per view, and the lengths are those summed here.
    let array = unsafe {
        Utf8ViewArray::new_unchecked(
            ArrowDataType::Utf8View,
            views.into(),
            vec![bytes.into()].into(),
            validity,
            Some(total),
            long,
        )
    };
    StringChunked::with_chunk(ca.name().clone(), array)
}

/// A column is worth sharing when it has at most one distinct value in this many rows.
const MOSTLY_REPEATED: usize = 4;

/// `ca` as one chunk, its strings shared when they repeat enough.
fn strings(ca: &StringChunked, unshared: Unshared) -> StringChunked {
    let unshared = || match unshared {
        Unshared::Rechunked => ca.rechunk().into_owned(),
        Unshared::Copied => copied(ca),
    };
    let mut numbers: std::collections::HashMap<&str, IdxSize, Fast> = Default::default();
    // Number 0 is null.
    let mut distinct: Vec<Option<&str>> = vec![None];
    let mut rows: Vec<IdxSize> = Vec::with_capacity(ca.len());
    for (i, value) in ca.iter().enumerate() {
        let n = match value {
            None => 0,
            Some(s) => *numbers.entry(s).or_insert_with(|| {
                distinct.push(Some(s));
                (distinct.len() - 1) as IdxSize
            }),
        };
        rows.push(n);
        if (i + 1 == PROBE || i + 1 == ca.len()) && distinct.len() * MOSTLY_REPEATED > i + 1 {
            return unshared();
        }
    }
    match numbered(ca.name().as_str(), distinct.into_iter(), rows) {
        Ok(shared) => shared,
        Err(_) => unshared(),
    }
}

/// The column whose row `i` is `values[numbers[i]]` (the values counted from 0). Gathered from
/// one chunk of the values, each row points at its value's bytes there: nothing is copied.
pub fn numbered<'a>(
    name: &str,
    values: impl Iterator<Item = Option<&'a str>>,
    numbers: Vec<IdxSize>,
) -> PolarsResult<StringChunked> {
    let values = StringChunked::from_iter_options(name.into(), values);
    values.take(&IdxCa::from_vec("".into(), numbers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer_bytes(ca: &StringChunked) -> usize {
        ca.downcast_iter().map(|a| a.total_buffer_len()).sum()
    }

    #[test]
    fn repeated_strings_are_held_once_and_read_the_same() {
        let long = "arn:aws:iam::111122223333:role/a-role-with-a-long-name";
        let values: Vec<Option<String>> = (0..10_000)
            .map(|i| match i % 7 {
                0 => None,
                r => Some(format!("{long}-{}", r % 3)),
            })
            .collect();
        // Read in many chunks, as a dataset's parts come.
        let mut ca =
            StringChunked::from_iter_options("role_arn".into(), values[..5000].iter().cloned());
        ca.append(&StringChunked::from_iter_options(
            "role_arn".into(),
            values[5000..].iter().cloned(),
        ))
        .unwrap();
        let before = buffer_bytes(&ca.rechunk());
        let shared = strings(&ca, Unshared::Rechunked);
        assert_eq!(shared.chunks().len(), 1);
        assert_eq!(shared.name().as_str(), "role_arn");
        let got: Vec<Option<String>> = shared.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(got, values);
        // Three distinct values held, not one per row.
        assert!(
            buffer_bytes(&shared) < 3 * (long.len() + 2) + 64,
            "{}",
            buffer_bytes(&shared)
        );
        assert!(before > 8000 * long.len());
    }

    /// Names that all repeat, but each only once an hour: in time order, the first few
    /// thousand rows hold a name apiece.
    #[test]
    fn names_of_a_fleet_in_time_order_are_held_once() {
        let name = |i: usize| format!("a-project-id.an-instance-name-{:05}", i % 2000);
        let values: Vec<String> = (0..40 * 2000).map(name).collect();
        let ca = StringChunked::from_iter_values(
            "session_name".into(),
            values.iter().map(String::as_str),
        );
        let shared = strings(&ca, Unshared::Copied);
        let got: Vec<&str> = shared.iter().map(Option::unwrap).collect();
        assert_eq!(got, values.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            buffer_bytes(&shared) < 2000 * (name(0).len() + 1),
            "{}",
            buffer_bytes(&shared)
        );
    }

    #[test]
    fn a_column_of_distinct_values_is_only_made_one_chunk() {
        let values: Vec<String> = (0..10_000)
            .map(|i| format!("event-id-{i:08}-long-enough"))
            .collect();
        let mut ca = StringChunked::from_iter_values(
            "event_id".into(),
            values[..10].iter().map(String::as_str),
        );
        ca.append(&StringChunked::from_iter_values(
            "event_id".into(),
            values[10..].iter().map(String::as_str),
        ))
        .unwrap();
        for unshared in [Unshared::Rechunked, Unshared::Copied] {
            let out = strings(&ca, unshared);
            assert_eq!(out.chunks().len(), 1);
            let got: Vec<&str> = out.iter().map(Option::unwrap).collect();
            assert_eq!(got, values.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_copied_column_is_one_buffer_of_its_long_values_and_reads_the_same() {
        // Distinct values of 40 bytes, some short enough to be inline, some null: 800 KB, where
        // a builder doubling from 8 KiB makes seven buffers, the last one partly spare.
        let values: Vec<Option<String>> = (0..20_000)
            .map(|i| match i % 10 {
                0 => None,
                1 => Some(format!("k{i}")),
                _ => Some(format!("arn:aws:sts::1111:assumed-role/r/{i:08}")),
            })
            .collect();
        let ca = StringChunked::from_iter_options("v".into(), values.iter().cloned());
        let out = copied(&ca);
        let got: Vec<Option<String>> = out.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(got, values);
        assert_eq!(out.null_count(), 2000);
        let long: usize = values
            .iter()
            .flatten()
            .map(String::len)
            .filter(|&n| n > 12)
            .sum();
        let array = out.downcast_iter().next().unwrap();
        assert_eq!(out.chunks().len(), 1);
        assert_eq!(array.data_buffers().len(), 1);
        assert_eq!(array.data_buffers()[0].len(), long);
        assert_eq!(array.total_buffer_len(), long);
    }

    /// A table gathered from many small ones holds buffers of its own, not each one's (each
    /// at least 8 KiB as the builders make them).
    #[test]
    fn a_held_frame_keeps_no_buffer_of_the_frames_it_was_made_of() {
        let buffers = |df: &DataFrame| -> usize {
            let ca = df.column("id").unwrap().str().unwrap();
            ca.downcast_iter().map(|a| a.data_buffers().len()).sum()
        };
        let part = |i: usize| {
            let ids: Vec<String> = (0..3)
                .map(|j| format!("an-access-key-{i:04}-{j}"))
                .collect();
            df!("id" => ids).unwrap()
        };
        let mut df = part(0);
        for i in 1..200 {
            df.vstack_mut_owned(part(i)).unwrap();
        }
        let want = df.clone();
        let mut chunked = df.clone();
        one_chunk(&mut chunked).unwrap();
        assert_eq!(
            buffers(&chunked),
            200,
            "one_chunk keeps every part's buffer"
        );
        held(&mut df).unwrap();
        assert!(df.equals_missing(&want));
        assert!(buffers(&df) <= 2, "{}", buffers(&df));
    }

    #[test]
    fn a_frame_is_made_one_chunk_with_every_value_kept() {
        let mut a =
            df!("s" => ["x-long-string-value", "x-long-string-value"], "n" => [1u32, 2]).unwrap();
        a.vstack_mut_owned(df!("s" => [None::<&str>, Some("y")], "n" => [3u32, 4]).unwrap())
            .unwrap();
        let want = a.clone();
        one_chunk(&mut a).unwrap();
        assert!(a.columns().iter().all(|c| c.n_chunks() == 1));
        assert!(a.equals_missing(&want));
    }

    #[test]
    fn rows_kept_of_a_frame_hold_only_their_own_strings() {
        let values: Vec<String> = (0..10_000)
            .map(|i| format!("a request parameter {i:08}"))
            .collect();
        let df = df!("s" => values.clone(), "n" => (0..10_000u32).collect::<Vec<_>>()).unwrap();
        // Two rows kept: still views into every row's bytes.
        let kept = df.slice(5000, 2);
        assert!(buffer_bytes(kept.column("s").unwrap().str().unwrap()) > 100_000);
        let own = compacted(kept.clone()).unwrap();
        assert!(own.equals_missing(&kept));
        assert!(buffer_bytes(own.column("s").unwrap().str().unwrap()) < 100);
    }
}
