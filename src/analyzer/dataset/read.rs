//! Reading the dataset for a report: only the date partitions the window needs (plus a day of
//! margin for the assumptions that issued keys used in it, as the JSON reader's day pruning
//! keeps), then the same decisions as for JSON input, so a report answers the same.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;

use crate::analyzer::dataset::calls::{Columns, Parts, in_window};
use crate::analyzer::dataset::pieces::Keep;
use crate::analyzer::dataset::{Dataset, DatasetError, read_parquet, rollup};
use crate::analyzer::load::{self, FileReport, FileStatus, IngestOptions, Ingested, Skip};
use crate::analyzer::model::dedupe::{Duplicates, EventIds, HASH, SEQ, SavedDuplicates, UUID};
use crate::analyzer::model::schema::empty_raw;
use crate::analyzer::model::{Raw, RecordStats, Tables};
use crate::base::timefmt::{Millis, Window};

/// Inclusive date bounds; `None` is unbounded.
#[derive(Debug, Clone, Copy)]
struct Dates {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// The partition of records without a time.
    undated: bool,
}

impl Dates {
    fn holds(&self, d: Option<NaiveDate>) -> bool {
        match d {
            None => self.undated,
            Some(d) => self.from.is_none_or(|f| d >= f) && self.to.is_none_or(|t| d <= t),
        }
    }
}

fn day(ms: Millis) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

/// The dates a window's events fall on, and the wider range its assumptions are read from.
fn ranges(w: &Window) -> (Dates, Dates) {
    let calls = Dates {
        from: w.since.and_then(day),
        to: w.until.map(|u| u - 1).and_then(day),
        undated: w.is_open(),
    };
    // The JSON reader's day pruning (files::outside): a day of margin on both sides of the
    // window's first and last dates.
    let margin = Duration::days(1);
    let wide = Dates {
        from: calls.from.map(|d| d - margin),
        to: w.until.and_then(day).map(|d| d + margin),
        undated: true,
    };
    (calls, wide)
}

/// Every committed part of `table` in `dates`, decoded.
fn load(
    ds: &Dataset,
    table: &str,
    dates: Dates,
    committed: &BTreeSet<u32>,
    columns: Option<&[String]>,
) -> Result<Vec<DataFrame>, DatasetError> {
    use rayon::prelude::*;
    let parts = part_paths(ds, table, dates, committed)?;
    // Parts are small and many (one per batch and day): decoding them on every core is most of
    // what a report over a dataset costs.
    parts.par_iter().map(|p| read_parquet(p, columns)).collect()
}

/// The paths of every committed part of `table` in `dates`.
fn part_paths(
    ds: &Dataset,
    table: &str,
    dates: Dates,
    committed: &BTreeSet<u32>,
) -> Result<Vec<std::path::PathBuf>, DatasetError> {
    let mut parts = Vec::new();
    for p in ds.partitions(table)? {
        if dates.holds(p.date) {
            parts.extend(ds.parts(&p.path, committed)?);
        }
    }
    // Every part a committed batch recorded for this table in these dates must be there: one
    // that is not would silently take its rows out of the report.
    let have: BTreeSet<&std::path::Path> = parts.iter().map(|p| p.as_path()).collect();
    for &b in committed {
        for partition in ds.batch_parts(b)?.unwrap_or_default() {
            let Some(date) = partition
                .strip_prefix(table)
                .and_then(|r| r.strip_prefix("/date="))
            else {
                continue;
            };
            let Some(date) = crate::analyzer::dataset::partition_date(date) else {
                continue;
            };
            let path = ds
                .dir
                .join(&partition)
                .join(crate::analyzer::dataset::part_name(b));
            if dates.holds(date) && !have.contains(path.as_path()) {
                return Err(DatasetError::MissingPart(path));
            }
        }
    }
    Ok(parts)
}

/// Parts in input order, as the JSON reader builds its tables. Each part is already in `__seq`
/// order (a batch is written in input order) and parts of one batch split it by day, so the
/// order is a merge of sorted runs: the output is assembled from zero-copy slices of the parts,
/// one per stretch that no other part interleaves. Sorting the stacked rows instead moved every
/// value and was as slow as decoding them. Parts that interleave row by row (a file whose
/// records alternate between days) fall back to the sort.
fn in_input_order(parts: Vec<DataFrame>) -> Result<Option<DataFrame>, DatasetError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    const MAX_SLICES: usize = 4096;
    let seqs: Vec<UInt64Chunked> = parts
        .iter()
        .map(|p| Ok(p.column(SEQ)?.u64()?.rechunk().into_owned()))
        .collect::<Result<_, DatasetError>>()?;
    let slices: Vec<&[u64]> = seqs.iter().filter_map(|s| s.cont_slice().ok()).collect();
    let sorted = slices.len() == parts.len() && slices.iter().all(|s| s.is_sorted());
    let mut pieces = Vec::new();
    if sorted {
        let mut at = vec![0usize; parts.len()];
        let mut heads: BinaryHeap<Reverse<(u64, usize)>> = slices
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some(Reverse((*s.first()?, i))))
            .collect();
        while let Some(Reverse((_, i))) = heads.pop() {
            let rest = &slices[i][at[i]..];
            let len = match heads.peek() {
                Some(Reverse((next, _))) => rest.partition_point(|s| s < next).max(1),
                None => rest.len(),
            };
            pieces.push(parts[i].slice(at[i] as i64, len));
            at[i] += len;
            if let Some(&s) = slices[i].get(at[i]) {
                heads.push(Reverse((s, i)));
            }
            if pieces.len() > MAX_SLICES {
                break;
            }
        }
    }
    if !sorted || pieces.len() > MAX_SLICES {
        return crate::analyzer::model::stack(parts.into_iter())?
            .map(|df| Ok(df.sort([SEQ], SortMultipleOptions::default())?))
            .transpose();
    }
    // Left in slices: rechunking here copied every value again, for nothing the queries need.
    Ok(crate::analyzer::model::stack(pieces.into_iter())?)
}

/// Which copy of each repeated eventID survives, over the `ids` of `dates`. Reading `ids` (every
/// eventID, most of a report's reading) is done once per set of committed batches and dates: the
/// answer is kept in `_janus/cache/`, named by both, and is valid until the next `ingest` commits
/// a batch. A cache that cannot be written (a read-only dataset) costs only the time.
fn duplicates(
    ds: &Dataset,
    dates: Dates,
    committed: &BTreeSet<u32>,
) -> Result<Duplicates, DatasetError> {
    use std::hash::BuildHasher;
    let key = foldhash::quality::FixedState::with_seed(0x6475_7073).hash_one((
        crate::analyzer::dataset::VERSION,
        committed,
        dates.from,
        dates.to,
        dates.undated,
    ));
    let dir = ds.dir.join(crate::analyzer::dataset::META).join("cache");
    let path = dir.join(format!("duplicates-{key:016x}.json"));
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(saved) = serde_json::from_slice::<SavedDuplicates>(&bytes)
    {
        return Ok(Duplicates::restore(saved)?);
    }
    let dups = resolve_ids(ds, dates, committed)?;
    let saved = serde_json::to_vec(&dups.save()?).expect("plain data");
    if crate::base::atomic::create_private_dirs(&dir).is_ok() {
        match crate::analyzer::dataset::write_aside(&path, &saved) {
            Ok(()) => prune_cache(&dir),
            Err(e) => tracing::debug!("dataset: duplicates not cached: {e}"),
        }
    }
    Ok(dups)
}

/// Which copies of the IDs of `dates` survive, reading `ids` a few parts at a time and keeping
/// what outgrows the spill budget on disk (`load::spill::IdSpill`): every eventID of a month
/// does not fit in memory.
fn resolve_ids(
    ds: &Dataset,
    dates: Dates,
    committed: &BTreeSet<u32>,
) -> Result<Duplicates, DatasetError> {
    use rayon::prelude::*;
    let columns: Vec<String> = ["event_id", UUID, SEQ, HASH].map(String::from).to_vec();
    let mut ids = load::spill::IdSpill::new(load::spill::budget());
    let parts = part_paths(ds, "ids", dates, committed)?;
    for chunk in parts.chunks(rayon::current_num_threads().max(1) * 2) {
        let read: Vec<EventIds> = chunk
            .par_iter()
            .map(|p| Ok(EventIds::from_frame(&read_parquet(p, Some(&columns))?)?))
            .collect::<Result<_, DatasetError>>()?;
        for part in read {
            ids.add(part)?;
        }
    }
    ids.resolve()
}

/// Keep the few newest answers: older ones are for batch sets that no longer exist.
fn prune_cache(dir: &Path) {
    const KEEP: usize = 8;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, p) in files.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(p);
    }
}

/// `table` without rows, with `columns` (all: `None`).
fn empty(table: &str, columns: Option<&[String]>) -> Result<DataFrame, DatasetError> {
    let all = match table {
        crate::analyzer::dataset::sigma::MATCHES => {
            crate::analyzer::dataset::sigma::empty_matches()
        }
        _ => empty_raw(table).expect("a model table"),
    };
    Ok(match columns {
        Some(c) => all.select(c.iter().map(String::as_str))?,
        None => all,
    })
}

/// Reads a table's parts for some dates, with some columns (all: `None`).
type TableReader<'a> =
    dyn Fn(&str, Dates, Option<&[String]>) -> Result<DataFrame, DatasetError> + 'a;

/// The window's role_calls, with `columns`, in the table's order.
fn read_role_calls(
    table: &TableReader<'_>,
    columns: &Columns,
    w: &Window,
    calls_dates: Dates,
) -> Result<DataFrame, DatasetError> {
    let role_calls = table("role_calls", calls_dates, columns.first().as_deref())?;
    let window = in_window(&role_calls, w)?;
    let mut role_calls = role_calls.filter(&window)?;
    if columns.all.is_some()
        && !columns.later.is_empty()
        && role_calls.column("access_key_id")?.null_count() > 0
    {
        // The same parts in the same order: the same rows, which the same mask selects.
        let mut later = columns.later.clone();
        later.push(SEQ.to_string());
        let extra = table("role_calls", calls_dates, Some(&later))?.filter(&window)?;
        for name in &columns.later {
            role_calls.with_column(extra.column(name)?.clone())?;
        }
    }
    // In the table's order either way, as a report over the JSON files has them.
    columns.ordered(role_calls)
}

/// The tables a report over `opts.window` reads, from the dataset at `dir`; of `role_calls`,
/// only `opts.role_call_columns` are decoded, and, where no query reads them whole, only what
/// `keep` says is kept of them: the calls a timeline can show (see `model::follow`), or their
/// groups and the tables made a call at a time (see `dataset::pieces`).
pub fn read(dir: &Path, opts: &IngestOptions, keep: &Keep<'_>) -> Result<Ingested, DatasetError> {
    let started = std::time::Instant::now();
    let ds = Dataset::open(dir)?;
    let committed = ds.committed()?;
    let w = opts.window;
    let (calls_dates, wide) = ranges(&w);
    let table = |name: &str, dates: Dates, columns: Option<&[String]>| {
        Ok::<_, DatasetError>(
            match in_input_order(load(&ds, name, dates, &committed, columns)?)? {
                Some(df) => df,
                None => empty(name, columns)?,
            },
        )
    };
    // Which copy of a repeated eventID survives is known before anything is decoded; only then
    // does role_calls' event_id have to be (when no query names it).
    let resolved = duplicates(&ds, wide, &committed)?;
    tracing::info!("dataset: duplicates resolved in {:.2?}", started.elapsed());
    let piecewise = opts.needs.piecewise || keep.follow.is_some();
    let role_calls = match piecewise {
        true => empty_raw("role_calls").expect("a model table"),
        false => read_role_calls(&table, &Columns::of(opts), &w, calls_dates)?,
    };
    let events = if opts.needs.events {
        let ev = table("events", calls_dates, None)?;
        Some(ev.filter(&in_window(&ev, &w)?)?)
    } else {
        None
    };
    // Assumptions and chained AssumeRoles before the window may own keys used in it: read with
    // the margin, each row told whether it is in the window.
    let with_margin = |name: &str, columns: &Option<Vec<String>>| {
        let mut df = table(name, wide, columns.as_deref())?;
        let flags = in_window(&df, &w)?.with_name("in_window".into());
        df.with_column(flags.into_column())?;
        Ok::<_, DatasetError>(df)
    };
    let assumptions = with_margin("assumptions", &opts.base_columns.assumptions)?;
    let hops = with_margin("hops", &opts.base_columns.hops)?;
    // A policy's history has no window: every change the dataset holds.
    let policy_changes = table("policy_changes", ranges(&Window::default()).1, None)?;
    tell_read(started, opts);
    let (files, stats) = source_files(&ds, &wide)?;
    let raw = Raw {
        events,
        role_calls,
        assumptions,
        hops,
        policy_changes,
        sigma_matches: sigma_matches(&table, opts, calls_dates)?,
        ids: EventIds::default(),
        resolved: Some(resolved),
        stats,
    };
    let tables = match piecewise {
        false => Tables::from_raw(raw, &opts.providers, opts.lineage_columns.as_ref())?,
        true => {
            let parts = Parts {
                paths: part_paths(&ds, "role_calls", calls_dates, &committed)?,
                window: &w,
                rollups: part_paths(&ds, rollup::TABLE, calls_dates, &committed)?
                    .into_iter()
                    .collect(),
                spilled: false,
            };
            let source = crate::analyzer::dataset::calls::Source::Parts(&parts);
            crate::analyzer::dataset::pieces::tables(raw, &source, opts, keep)?
        }
    };
    tracing::info!("dataset: tables built in {:.2?}", started.elapsed());
    let summary = load::summarize(&files, &[], &tables);
    Ok(Ingested {
        tables,
        files,
        walk_errors: Vec::new(),
        summary,
    })
}

/// The window's stored Sigma matches of the rules asked for (`opts.sigma`), in input order;
/// whether the window's batches were evaluated with those rules is the caller's to check
/// (`dataset::sigma::coverage`).
fn sigma_matches(
    table: &TableReader<'_>,
    opts: &IngestOptions,
    dates: Dates,
) -> Result<Option<DataFrame>, DatasetError> {
    use crate::analyzer::dataset::sigma;
    let Some(rules) = &opts.sigma else {
        return Ok(None);
    };
    let stored = table(sigma::MATCHES, dates, None)?;
    let stored = stored.filter(&in_window(&stored, &opts.window)?)?;
    Ok(Some(sigma::for_rules(stored, rules)?))
}

/// How long the tables other than the calls took to read, and with how many columns (`-v`).
fn tell_read(started: std::time::Instant, opts: &IngestOptions) {
    let a = decoded("assumptions", &opts.base_columns.assumptions);
    let h = decoded("hops", &opts.base_columns.hops);
    tracing::info!(
        "dataset: tables read in {:.2?}; assumptions with {} of their {} columns, hops with {} of {}",
        started.elapsed(),
        a.0,
        a.1,
        h.0,
        h.1,
    );
}

/// How many of `table`'s stored columns are decoded, of how many.
fn decoded(table: &str, columns: &Option<Vec<String>>) -> (usize, usize) {
    let all = empty_raw(table).map_or(0, |t| t.width());
    (columns.as_ref().map_or(all, Vec::len), all)
}

/// Whether a file whose events run from `first` to `last` can hold events of `dates` (one
/// without a known range can).
fn overlaps(first: Option<Millis>, last: Option<Millis>, dates: &Dates) -> bool {
    match (first.and_then(day), last.and_then(day)) {
        (Some(f), Some(l)) => {
            dates.from.is_none_or(|from| l >= from) && dates.to.is_none_or(|to| f <= to)
        }
        _ => true,
    }
}

/// The source files whose events can fall in `dates`, and every file that gave no event (a
/// damaged one could have held some): what the report says it read.
fn source_files(
    ds: &Dataset,
    dates: &Dates,
) -> Result<(Vec<FileReport>, RecordStats), DatasetError> {
    let df = ds.files()?;
    let col_str =
        |n: &str| -> Result<StringChunked, DatasetError> { Ok(df.column(n)?.str()?.clone()) };
    let (paths, statuses, kinds, problems, shas) = (
        col_str("path")?,
        col_str("status")?,
        col_str("kind")?,
        col_str("problems")?,
        col_str("sha256")?,
    );
    let u64s =
        |n: &str| -> Result<UInt64Chunked, DatasetError> { Ok(df.column(n)?.u64()?.clone()) };
    let (bytes, records, unusable, nulled) = (
        u64s("bytes")?,
        u64s("records")?,
        u64s("unusable")?,
        u64s("values_nulled")?,
    );
    let ids = df.column("file_id")?.u32()?.clone();
    let first = df.column("first_event")?.datetime()?.phys.clone();
    let last = df.column("last_event")?.datetime()?.phys.clone();
    let mut out = Vec::new();
    let mut stats = RecordStats::default();
    for i in 0..df.height() {
        if !overlaps(first.get(i), last.get(i), dates) {
            continue;
        }
        let status = match statuses.get(i).unwrap_or("read") {
            "partial" => FileStatus::Partial,
            "skipped" => FileStatus::Skipped,
            "digest" => FileStatus::Digest,
            "outside-window" => FileStatus::OutsideWindow,
            _ => FileStatus::Read,
        };
        let report = FileReport {
            file_id: ids.get(i).unwrap_or(0),
            path: paths.get(i).unwrap_or("").into(),
            bytes: bytes.get(i).unwrap_or(0),
            records: records.get(i).unwrap_or(0),
            status,
            skip: match kinds.get(i) {
                Some("not-cloudtrail") => Some(Skip::NotCloudTrail),
                Some("over-limit") => Some(Skip::OverLimit),
                Some(_) => Some(Skip::Damaged),
                None => None,
            },
            problems: problems
                .get(i)
                .map(|p| p.split("; ").map(str::to_string).collect())
                .unwrap_or_default(),
            unusable: unusable.get(i).unwrap_or(0),
            values_nulled: nulled.get(i).unwrap_or(0),
            sha256: shas.get(i).map(str::to_string),
            etag: None,
            content_sha256: None,
            validation: None,
        };
        stats.records += report.records;
        out.push(report);
    }
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(seqs: &[u64]) -> DataFrame {
        let vals: Vec<String> = seqs.iter().map(|s| format!("v{s}")).collect();
        df!(SEQ => seqs, "v" => vals).unwrap()
    }

    fn order(parts: Vec<DataFrame>) -> Vec<u64> {
        let df = in_input_order(parts).unwrap().unwrap();
        let seq: Vec<u64> = df
            .column(SEQ)
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let vals: Vec<String> = df
            .column("v")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect();
        // Every row keeps its own values.
        assert_eq!(
            vals,
            seq.iter().map(|s| format!("v{s}")).collect::<Vec<_>>()
        );
        seq
    }

    #[test]
    fn parts_come_back_in_input_order() {
        // Two days of one batch (files 1-3 on day 1, a file spanning both, files 5-6 on day 2)
        // and a second batch: sorted runs that interleave.
        let day1 = part(&[10, 11, 20, 21, 40]);
        let day2 = part(&[41, 42, 50, 60]);
        let batch2 = part(&[30, 31, 70]);
        let want = vec![10, 11, 20, 21, 30, 31, 40, 41, 42, 50, 60, 70];
        assert_eq!(
            order(vec![day1.clone(), day2.clone(), batch2.clone()]),
            want
        );
        assert_eq!(order(vec![batch2, day2, day1]), want);
        // A part out of order (not something ingest writes) is sorted instead.
        assert_eq!(order(vec![part(&[5, 3]), part(&[4])]), vec![3, 4, 5]);
        // Parts that interleave row by row give the same order, through the sort.
        let odd: Vec<u64> = (0..10_000).map(|i| 2 * i + 1).collect();
        let even: Vec<u64> = (0..10_000).map(|i| 2 * i).collect();
        assert_eq!(
            order(vec![part(&odd), part(&even)]),
            (0..20_000).collect::<Vec<_>>()
        );
        assert!(in_input_order(Vec::new()).unwrap().is_none());
    }
}
