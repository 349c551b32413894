//! Reading the window's calls from the dataset a few parts at a time, never all at once: each
//! part cut to the window, rid of the copies that do not survive, and matched to its keys; and
//! the calls a timeline can show (`model::follow`), read that way.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;

use crate::analyzer::dataset::{DatasetError, read_parquet, rollup};
use crate::analyzer::load::IngestOptions;
use crate::analyzer::model::dedupe::{Duplicates, SEQ};
use crate::analyzer::model::lineage::KEY_REF;
use crate::analyzer::model::schema::empty_raw;

use crate::base::timefmt::Window;

/// Which rows of `df` fall in the window, by `event_time`.
pub fn in_window(df: &DataFrame, w: &Window) -> Result<BooleanChunked, DatasetError> {
    let t = df.column("event_time")?.datetime()?;
    Ok(t.phys.iter().map(|t| Some(w.contains(t))).collect())
}

/// The columns of role_calls a report reads: all of them (`all`: `None`), or these, in the
/// table's order. The columns that match a call without an access key to its session
/// (`later`) are three of the widest, and most windows have no such call: they are decoded
/// after the rest, only where a call needs them.
pub struct Columns {
    pub all: Option<Vec<String>>,
    pub later: Vec<String>,
}

impl Columns {
    /// The columns the queries can name (`opts.role_call_columns`).
    pub fn of(opts: &IngestOptions) -> Columns {
        Columns {
            all: opts.role_call_columns.as_ref().map(|c| c.kept.clone()),
            later: opts
                .role_call_columns
                .as_ref()
                .map_or_else(Vec::new, |c| c.session_match.clone()),
        }
    }

    /// What is decoded first: all but `later`.
    pub fn first(&self) -> Option<Vec<String>> {
        self.all.as_ref().map(|all| {
            all.iter()
                .filter(|c| !self.later.contains(c))
                .cloned()
                .collect()
        })
    }

    /// `df`'s columns in the table's order (`all`), `later` among them where `df` has them.
    pub fn ordered(&self, df: DataFrame) -> Result<DataFrame, DatasetError> {
        self.ordered_with(df, &[])
    }

    /// [`Columns::ordered`], and `extra` (columns of janus-audit's own) after them.
    pub fn ordered_with(&self, df: DataFrame, extra: &[&str]) -> Result<DataFrame, DatasetError> {
        Ok(match &self.all {
            None => df,
            Some(all) => {
                let present = all
                    .iter()
                    .map(String::as_str)
                    .filter(|c| !extra.contains(c))
                    .chain(extra.iter().copied())
                    .filter(|c| df.get_column_index(c).is_some())
                    .collect::<Vec<_>>();
                df.select(present)?
            }
        })
    }
}

/// Where the window's calls are: the dataset's committed parts of role_calls that can hold
/// them, of which the rows in `window` count.
pub struct Parts<'a> {
    pub paths: Vec<PathBuf>,
    pub window: &'a Window,
    /// The committed parts of `call_rollup` in the window's days (see `rollup`).
    pub rollups: std::collections::BTreeSet<PathBuf>,
    /// The parts are a report's own, the calls of JSON files it kept on disk
    /// (`load::spill`), not a dataset's: not partitioned by day, never rolled up.
    pub spilled: bool,
}

impl<'a> Parts<'a> {
    /// The calls a report over JSON files wrote to `paths` (see [`Parts::spilled`]).
    pub fn spilled(paths: Vec<PathBuf>, window: &'a Window) -> Parts<'a> {
        Parts {
            paths,
            window,
            rollups: Default::default(),
            spilled: true,
        }
    }

    /// The rollup of the part of role_calls at `part`, if its batch wrote one.
    fn rollup_of(&self, part: &Path) -> Option<&Path> {
        let (file, date) = (part.file_name()?, part.parent()?.file_name()?);
        let dir = part.parent()?.parent()?.parent()?;
        let path = dir.join(rollup::TABLE).join(date).join(file);
        self.rollups.get(&path).map(PathBuf::as_path)
    }
}

/// Whether a part with a rollup is read as it (see `rollup`): `None`, never; `Some(groups)`,
/// with what `key_activity` is made of when `groups`, else only with what matching reads.
pub(super) type Rollups = Option<bool>;

/// Where [`read_part`] numbers each row of its part.
const ROW: &str = "__row";

/// Where each row's place in input order is kept, for the rows of many parts.
pub(super) const ORDER: &str = "__order";

/// What [`read_part`] marks each row with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    Nothing,
    /// Its place in the part, as [`ROW`].
    Row,
    /// Its place in input order, as [`ORDER`].
    Order,
}

/// One part's calls in the window with `columns`, less the copies that do not survive, each
/// row marked by `mark`; whether one of them has no access key (and so `columns.later`, which
/// are then read too).
pub(super) fn read_part(
    path: &Path,
    columns: &Columns,
    parts: &Parts<'_>,
    dups: &Duplicates,
    mark: Mark,
) -> Result<(DataFrame, bool), DatasetError> {
    let df = marked(read_parquet(path, columns.first().as_deref())?, mark)?;
    let window = in_window(&df, parts.window)?;
    let mut df = df.filter(&window)?;
    let keyless = df.column("access_key_id")?.null_count() > 0;
    if keyless && columns.all.is_some() && !columns.later.is_empty() {
        let more = read_parquet(path, Some(&columns.later))?.filter(&window)?;
        for c in more.columns() {
            df.with_column(c.clone())?;
        }
    }
    Ok((dups.apply(df)?, keyless))
}

/// What matching a call to its key reads (with the window and each copy's place): the
/// columns for a call without a key only in the parts that have one.
pub(super) fn match_columns() -> Columns {
    use crate::analyzer::model::lineage;
    let mut all: Vec<String> = [SEQ, "event_time", "access_key_id"]
        .into_iter()
        .chain(lineage::KEY_MATCH)
        .map(String::from)
        .collect();
    let later: Vec<String> = lineage::SESSION_MATCH
        .iter()
        .filter(|c| !all.iter().any(|k| k == *c))
        .map(|c| c.to_string())
        .collect();
    all.extend(later.iter().cloned());
    Columns {
        all: Some(all),
        later,
    }
}

/// `df`, each row marked as `mark` says.
fn marked(mut df: DataFrame, mark: Mark) -> Result<DataFrame, DatasetError> {
    match mark {
        Mark::Nothing => {}
        Mark::Row => df = df.with_row_index(ROW.into(), None)?,
        Mark::Order => {
            let seq = df.column(SEQ)?.clone().with_name(ORDER.into());
            df.with_column(seq)?;
        }
    }
    Ok(df)
}

/// Where a report over the window's calls a few at a time finds them.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// The dataset's parts.
    Parts(&'a Parts<'a>),
    /// Calls already read into memory (from the JSON files): the window's, every copy of a
    /// repeated event ID with its `__seq`, in input order.
    Memory(&'a DataFrame),
}

/// Rows of calls in memory handed on at a time: what the tables made a call at a time hold of
/// them while they are made is that many rows', not the window's. Debug builds only:
/// `JANUS_AUDIT_SLICE_ROWS=N` makes slices of N, so that tests over small trails cross the
/// seams between slices.
fn slice_rows() -> usize {
    crate::base::debug_knob::number("JANUS_AUDIT_SLICE_ROWS", 131_072).max(1)
}

/// Every piece of `source` (a part, or a slice of the calls in memory), a few at a time, with
/// `columns` (in memory: those it has), less the copies that do not survive, each row marked
/// by `mark`, and whether one has no access key. A part is its rollup's groups in the window
/// instead where `rollups` says so and the rollup can stand for its calls (see
/// [`rollup::answer`]).
pub(super) fn each_piece(
    source: &Source<'_>,
    columns: &Columns,
    dups: &Duplicates,
    mark: Mark,
    rollups: Rollups,
    each: impl FnMut(Vec<(&Path, DataFrame, bool)>) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let calls = match source {
        Source::Parts(parts) => return each_chunk(parts, columns, dups, mark, rollups, each),
        Source::Memory(calls) => calls,
    };
    let rows = slice_rows();
    let starts: Vec<usize> = (0..calls.height()).step_by(rows).collect();
    by_chunks(&starts, each, |&at| {
        let df = marked(calls.slice(at as i64, rows), mark)?;
        let keyless = df.column("access_key_id")?.null_count() > 0;
        Ok((Path::new(""), dups.apply(df)?, keyless))
    })
}

/// Each of `items` made into a piece by `piece`, handed to `each` a few at a time: one per
/// core, which `each` then works on at once. Two per core held twice the parts' calls and what
/// was made of them, for no gain in time: on 2026-12-07, `findings` over a dataset of 30M
/// events (245 parts of about 130,000 calls), four runs each, peaked at 965-1,003 MiB (median
/// 971) against 997-1,058 MiB (median 1,008), in 31-37 s against 34-38 s.
fn by_chunks<'i, T>(
    items: &'i [T],
    mut each: impl FnMut(Vec<(&'i Path, DataFrame, bool)>) -> Result<(), DatasetError>,
    piece: impl Fn(&'i T) -> Result<(&'i Path, DataFrame, bool), DatasetError>,
) -> Result<(), DatasetError> {
    let cores = rayon::current_num_threads().max(1);
    for chunk in items.chunks(cores) {
        each(chunk.iter().map(&piece).collect::<Result<_, _>>()?)?;
    }
    Ok(())
}

/// Every part of `parts`, read by [`read_part`] (or as its rollup, see [`each_piece`]) a few
/// at a time and handed to `each` with its path. Parts are decoded one at a time (polars
/// decodes a part on its own pool: parts decoded on every core at once only waited for each
/// other); `each` then has every core for them.
pub(super) fn each_chunk(
    parts: &Parts<'_>,
    columns: &Columns,
    dups: &Duplicates,
    mark: Mark,
    rollups: Rollups,
    each: impl FnMut(Vec<(&Path, DataFrame, bool)>) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    by_chunks(&parts.paths, each, |p| {
        if let (Some(groups), Some(r)) = (rollups, parts.rollup_of(p)) {
            let read = read_parquet(r, Some(&rollup::columns(groups)))?;
            if let rollup::Answer::Groups(df) = rollup::answer(read, parts.window, dups)? {
                // The part stood for is still checked: a damaged dataset is said to be.
                crate::analyzer::dataset::check_footer(p)?;
                return Ok((p.as_path(), df, false));
            }
        }
        let (df, keyless) = read_part(p, columns, parts, dups, mark)?;
        Ok((p.as_path(), df, keyless))
    })
}

/// The window's calls that a timeline of one entity can show (`keep`), matched to their keys,
/// in input order, with `columns`: the same rows a whole read gives, less the others, with the
/// same columns. Each part is read twice: what matching needs, to choose its rows, then the
/// rest of `columns` for the rows chosen only, a part at a time, so that neither the window's
/// other calls nor more than one part's whole calls are ever held.
pub(super) fn read_followed(
    parts: &Parts<'_>,
    columns: &Columns,
    matcher: &crate::analyzer::model::lineage::Matcher<'_, '_>,
    dups: &Duplicates,
    keep: &crate::analyzer::model::follow::Followed,
) -> Result<DataFrame, DatasetError> {
    let (mut kept, mut keyless, mut calls) = (Vec::new(), false, 0);
    each_chunk(parts, &match_columns(), dups, Mark::Row, None, |frames| {
        keyless |= frames.iter().any(|(_, _, k)| *k);
        calls += frames.iter().map(|(_, df, _)| df.height()).sum::<usize>();
        let chosen: Vec<_> = frames
            .into_par_iter()
            .map(|(path, df, part_keyless)| -> Result<_, DatasetError> {
                let refs = matcher.key_refs(&df)?;
                let mask = keep.mask(&df, &refs)?;
                let rows = df.column(ROW)?.idx()?.filter(&mask)?;
                Ok((path, rows, refs.filter(&mask)?, part_keyless))
            })
            .collect::<Result<_, _>>()?;
        for (path, rows, refs, part_keyless) in chosen {
            if !rows.is_empty() {
                let mut df = rows_of(path, columns, &rows, part_keyless)?;
                df.with_column(refs.with_name(KEY_REF.into()).into_column())?;
                kept.push(df);
            }
        }
        Ok(())
    })?;
    let out = match crate::analyzer::model::stack(kept.into_iter())? {
        Some(df) => in_order(df)?,
        None => in_order(no_rows(columns)?)?,
    };
    let out = as_whole(out, columns, keyless)?;
    tracing::info!(
        "dataset: {} of {calls} call(s) read for the timeline",
        out.height()
    );
    Ok(out)
}

/// `rows` of the part at `path`, with `columns` in the table's order, each row's place in input
/// order as [`ORDER`], less the part's own order column, as a whole read has them. `later` is
/// read where the part has a call without a key and is null elsewhere, where a whole read has
/// the values: no query can tell, since `later` holds only columns no query names (they are
/// read to match calls, which [`read_followed`] did with every value), and decoding them for
/// every part would cost every timeline their width.
fn rows_of(
    path: &Path,
    columns: &Columns,
    rows: &IdxCa,
    keyless: bool,
) -> Result<DataFrame, DatasetError> {
    let mut df = read_parquet(path, columns.first().as_deref())?.take(rows)?;
    if columns.all.is_some() && !columns.later.is_empty() {
        if keyless {
            let more = read_parquet(path, Some(&columns.later))?.take(rows)?;
            for c in more.columns() {
                df.with_column(c.clone())?;
            }
        } else {
            df = later_as_null(df, columns)?;
        }
    }
    let mut df = columns.ordered(df)?;
    let seq = df.column(SEQ)?.clone().with_name(ORDER.into());
    df.with_column(seq)?;
    owned(df.drop(SEQ)?)
}

/// A part with no rows, matched and with each row's place, as the part readers have them: for
/// a window without parts.
pub(super) fn no_rows(columns: &Columns) -> Result<DataFrame, DatasetError> {
    let empty = empty_raw("role_calls").expect("a model table");
    let mut df = columns.ordered(empty)?.drop(SEQ)?;
    df.with_column(UInt32Chunked::from_vec(KEY_REF.into(), Vec::new()).into_column())?;
    df.with_column(Column::new(ORDER.into(), Vec::<u64>::new()))?;
    Ok(df)
}

/// The rows of many parts in input order, where they kept their place ([`ORDER`], then
/// dropped).
pub(super) fn in_order(df: DataFrame) -> Result<DataFrame, DatasetError> {
    Ok(match df.get_column_index(ORDER) {
        Some(_) => df
            .sort([ORDER], SortMultipleOptions::default())?
            .drop(ORDER)?,
        None => df,
    })
}

/// `df` with the columns of `columns.later` it lacks, as nulls: a part without a call that has
/// no key is not read for them, and no query names them (they are read only to match such
/// calls).
pub(super) fn later_as_null(
    mut df: DataFrame,
    columns: &Columns,
) -> Result<DataFrame, DatasetError> {
    let blank = empty_raw("role_calls").expect("a model table");
    for name in &columns.later {
        if df.get_column_index(name).is_none() {
            let dtype = blank.column(name)?.dtype().clone();
            df.with_column(Column::full_null(name.into(), df.height(), &dtype))?;
        }
    }
    Ok(df)
}

/// `df` as a whole read has the window's calls: the columns for calls without a key only if
/// one of them (`keyless`) has none.
pub(super) fn as_whole(
    mut df: DataFrame,
    columns: &Columns,
    keyless: bool,
) -> Result<DataFrame, DatasetError> {
    if !keyless {
        for name in &columns.later {
            if df.get_column_index(name).is_some() {
                df = df.drop(name)?;
            }
        }
    }
    Ok(df)
}

/// `df`, with values of its own. Rows taken from a decoded part share its string buffers
/// (polars' string views point into them), so a few rows kept from each part held every part's
/// strings, most of the window's calls: 1.1 GB for a timeline of 4,764 calls at 10M events.
/// A copy through an in-memory Parquet file owns exactly its rows, whatever their types.
pub(super) fn owned(mut df: DataFrame) -> Result<DataFrame, DatasetError> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Uncompressed)
        .finish(&mut df)?;
    Ok(ParquetReader::new(std::io::Cursor::new(buf)).finish()?)
}
