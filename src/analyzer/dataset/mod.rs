//! The Parquet dataset: CloudTrail parsed once, by `janus-audit ingest`, and read by every
//! report with `--dataset DIR` in memory that follows the window, not the dataset.
//!
//! Layout (hive-style, so Spark, Athena, DuckDB and polars read it as partitioned tables):
//!
//! ```text
//! DIR/_janus/schema.json                       format, version, every table's columns
//! DIR/files/part-<batch>.parquet               one row per source file; a batch's commit
//! DIR/<table>/date=YYYY-MM-DD/part-<batch>.parquet   role_calls, assumptions, hops, ids, events
//! DIR/<table>/date=__HIVE_DEFAULT_PARTITION__/…      records without a readable eventTime
//! DIR/call_rollup/date=YYYY-MM-DD/part-<batch>.parquet  each part of role_calls as its groups
//! DIR/sigma_matches/date=YYYY-MM-DD/part-<batch>.parquet  with `ingest --sigma` (see `sigma`)
//! DIR/sigma_rules/part-<batch>.parquet          the Sigma rules a batch was evaluated with
//! ```
//!
//! `date` is the event's date (UTC). Every file is written beside its final name and renamed
//! into place; a batch counts only once its `files` part exists, which is written last, so a
//! crash leaves parts of an uncommitted batch that readers ignore and the next `ingest`
//! removes. Tables keep every copy of a repeated eventID with its input position (`__seq`) and
//! the `ids` table records every eventID read; which copy survives is decided when a report
//! reads the dataset, by the same rule as for JSON input (see `dedupe`).

pub mod bursts;
pub mod calls;
pub mod ddl;
pub mod files;
pub mod gcp;
pub mod pieces;
pub mod read;
pub mod rollup;
pub mod sigma;
pub mod sigma_coverage;
pub mod write;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;

/// The dataset format's version; a reader refuses another. 2 added `hops` (role chains) and
/// `assumptions.source_identity`; 3 stored CloudTrail's eventIDs as UUID bytes; 4 added
/// `hops.parent_created_at` and `hops.assumed_role_arn` (a key is an issuance, not a key ID);
/// 5 added what each call touched to `role_calls` and `events` (`request_parameters`,
/// `resources`, `s3_bucket`, `s3_key`).
/// 6 added `policy_changes` (the trust policies' history). A batch may have `call_rollup`
/// parts beside its `role_calls` ones (see `rollup`) with no new version: a batch without
/// them is read from its calls, and a reader that does not know them reads the calls.
pub const VERSION: u32 = 6;
/// The partition of records without a readable eventTime (Hive's and Spark's name for null).
pub const NO_DATE: &str = "__HIVE_DEFAULT_PARTITION__";
/// The date-partitioned tables.
pub const TABLES: [&str; 8] = [
    "role_calls",
    rollup::TABLE,
    "assumptions",
    "hops",
    "policy_changes",
    "events",
    "ids",
    sigma::MATCHES,
];
const META: &str = "_janus";

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("dataset {}: {source}", crate::base::text::quoted(path))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "dataset {}: not a janus-audit dataset ({reason})",
        crate::base::text::quoted(path)
    )]
    NotADataset { path: PathBuf, reason: String },
    #[error("dataset {}: another janus-audit ingest is writing to it", crate::base::text::quoted(.0))]
    Busy(PathBuf),
    #[error("dataset: {0}")]
    Polars(#[from] PolarsError),
    /// The event IDs outgrew memory and could not be kept on disk (`load::spill`).
    #[error(transparent)]
    Spill(#[from] crate::analyzer::load::spill::SpillError),
    #[error(
        "dataset part {}: damaged ({}); re-ingest",
        crate::base::text::quoted(path),
        crate::base::text::reason(why)
    )]
    Damaged { path: PathBuf, why: String },
    #[error("dataset part {}: missing, though its batch was committed with it; the dataset is damaged, re-ingest", crate::base::text::quoted(.0))]
    MissingPart(PathBuf),
    /// A query reads `events`, which only `ingest --events` writes: an empty answer would
    /// look like a quiet trail.
    #[error(
        "dataset {}: no events table (it was ingested without --events); re-ingest with `janus-audit ingest --events --dataset DIR ...`, or run the query over the log files",
        crate::base::text::quoted(.0)
    )]
    NoEvents(PathBuf),
    /// A query of a table made a call at a time failed over one part of the calls.
    #[error(transparent)]
    Query(Box<crate::analyzer::query::QueryError>),
    #[error("dataset {}: a symbolic link; a dataset's folders are its own, never followed out of it", crate::base::text::quoted(.0))]
    Symlink(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Dataset {
    pub dir: PathBuf,
}

/// The date a partition's value (`date=VALUE`) names: `Some(None)` for the records without a
/// readable eventTime ([`NO_DATE`]), `None` for a value that is no date (no partition).
pub fn partition_date(value: &str) -> Option<Option<NaiveDate>> {
    match value {
        NO_DATE => Some(None),
        v => NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().map(Some),
    }
}

/// A partition directory: its date (None for [`NO_DATE`]) and path.
pub struct Partition {
    pub date: Option<NaiveDate>,
    pub path: PathBuf,
}

impl Dataset {
    /// Open an existing dataset for reading.
    pub fn open(dir: &Path) -> Result<Dataset, DatasetError> {
        let schema = dir.join(META).join("schema.json");
        let bad = |reason: String| DatasetError::NotADataset {
            path: dir.to_path_buf(),
            reason,
        };
        let text = std::fs::read(&schema).map_err(|e| bad(format!("{}: {e}", META)))?;
        let v: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| bad(format!("schema.json: {e}")))?;
        if v["format"] != "janus-audit-dataset" {
            return Err(bad("schema.json names another format".into()));
        }
        if v["version"] != VERSION {
            return Err(bad(format!(
                "format version {} where this janus-audit reads {VERSION}; re-ingest",
                v["version"]
            )));
        }
        Ok(Dataset {
            dir: dir.to_path_buf(),
        })
    }

    /// `_janus/schema.json`, as the dataset was written.
    pub fn schema(&self) -> Result<serde_json::Value, DatasetError> {
        let path = self.dir.join(META).join("schema.json");
        let text = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&text).map_err(|e| DatasetError::NotADataset {
            path: self.dir.clone(),
            reason: format!("schema.json: {e}"),
        })
    }

    /// Open a dataset for writing, creating it (with its schema) if it does not exist.
    pub fn create(dir: &Path) -> Result<Dataset, DatasetError> {
        let meta = dir.join(META);
        crate::base::atomic::create_private_dirs(&meta).map_err(io(&meta))?;
        // Every table's directory, rows or not: another engine's table over an empty one is an
        // empty table, over a missing one an error (a trail may hold no chained AssumeRole, or
        // no change of a trust policy).
        // Not the tables only some ingests write (`--events`, `--sigma`).
        for table in TABLES
            .iter()
            .filter(|t| !matches!(**t, "events" | sigma::MATCHES))
        {
            let d = dir.join(table);
            crate::base::atomic::create_private_dirs(&d).map_err(io(&d))?;
        }
        let schema = meta.join("schema.json");
        if !schema.exists() {
            let text = serde_json::to_vec_pretty(&schema_json())
                .expect("json values")
                .into_iter()
                .chain(*b"\n")
                .collect::<Vec<u8>>();
            write_aside(&schema, &text)?;
        }
        Dataset::open(dir)
    }

    /// Hold the dataset's write lock (flock on `_janus`) until the returned file is dropped.
    pub fn lock(&self) -> Result<std::fs::File, DatasetError> {
        let meta = self.dir.join(META);
        let f = std::fs::File::open(&meta).map_err(io(&meta))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => Err(DatasetError::Busy(self.dir.clone())),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&meta)(e)),
        }
    }

    /// Whether any ingest wrote the `events` table (`ingest --events`).
    pub fn has_events(&self) -> bool {
        self.dir.join("events").is_dir()
    }

    fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// Batches whose `files` part exists: only their parts count.
    pub fn committed(&self) -> Result<BTreeSet<u32>, DatasetError> {
        let dir = self.files_dir();
        let mut out = BTreeSet::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in entries {
            let e = e.map_err(io(&dir))?;
            if let Some(b) = batch_of(&e.file_name().to_string_lossy()) {
                out.insert(b);
            }
        }
        Ok(out)
    }

    /// The `files` table: every committed source file.
    pub fn files(&self) -> Result<DataFrame, DatasetError> {
        let mut frames = Vec::new();
        for b in self.committed()? {
            frames.push(read_parquet(&self.files_dir().join(part_name(b)), None)?);
        }
        match frames.into_iter().reduce(|mut a, b| {
            a.vstack_mut_owned(b).expect("one schema");
            a
        }) {
            Some(df) => Ok(df),
            None => Ok(files::files_frame(&[])?),
        }
    }

    /// The date partitions of `table`, in date order (the null-date one last).
    pub fn partitions(&self, table: &str) -> Result<Vec<Partition>, DatasetError> {
        let dir = self.dir.join(table);
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in entries {
            let e = e.map_err(io(&dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(value) = name.strip_prefix("date=") else {
                continue;
            };
            // A partition that is a link could be another dataset's: refused, not read. A file
            // with a partition's name is no partition.
            let kind = e.file_type().map_err(io(&dir))?;
            if kind.is_symlink() {
                return Err(DatasetError::Symlink(e.path()));
            }
            if !kind.is_dir() {
                continue;
            }
            let Some(date) = partition_date(value) else {
                continue;
            };
            out.push(Partition {
                date,
                path: e.path(),
            });
        }
        out.sort_by_key(|p| (p.date.is_none(), p.date));
        Ok(out)
    }

    /// The committed part files of one partition directory, in batch order.
    pub fn parts(
        &self,
        partition: &Path,
        committed: &BTreeSet<u32>,
    ) -> Result<Vec<PathBuf>, DatasetError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(partition).map_err(io(partition))? {
            let e = e.map_err(io(partition))?;
            if batch_of(&e.file_name().to_string_lossy()).is_some_and(|b| committed.contains(&b)) {
                out.push(e.path());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// `part-00000007.parquet`
pub fn part_name(batch: u32) -> String {
    format!("part-{batch:08}.parquet")
}

fn batch_of(name: &str) -> Option<u32> {
    name.strip_prefix("part-")?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// One part, whole or only `columns`.
pub fn read_parquet(path: &Path, columns: Option<&[String]>) -> Result<DataFrame, DatasetError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    ParquetReader::new(f)
        .with_columns(columns.map(<[String]>::to_vec))
        .finish()
        .map_err(|e| DatasetError::Damaged {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
}

/// That the part at `path` is whole as far as its footer tells (the footer is its last bytes,
/// so a truncated part has none): what a report checks of a part it reads through its rollup.
pub fn check_footer(path: &Path) -> Result<(), DatasetError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    match ParquetReader::new(f).get_metadata() {
        Ok(_) => Ok(()),
        Err(e) => Err(DatasetError::Damaged {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

/// `_janus/parts/part-N.json`: every part (`table/date=D`) batch N wrote, written before the
/// batch is committed, so that a reader can tell a part that went missing from one never made.
pub fn parts_manifest(dir: &Path, batch: u32) -> PathBuf {
    dir.join(META)
        .join("parts")
        .join(format!("part-{batch:08}.json"))
}

impl Dataset {
    /// The parts batch `batch` wrote, as `table/date=D`; `None` when it recorded none.
    pub fn batch_parts(&self, batch: u32) -> Result<Option<Vec<String>>, DatasetError> {
        let path = parts_manifest(&self.dir, batch);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| DatasetError::Damaged {
                    path,
                    why: e.to_string(),
                }),
        }
    }

    /// Write the list of a batch's parts (see [`parts_manifest`]).
    pub fn record_parts(&self, batch: u32, parts: &[String]) -> Result<(), DatasetError> {
        let path = parts_manifest(&self.dir, batch);
        if let Some(d) = path.parent() {
            crate::base::atomic::create_private_dirs(d).map_err(io(d))?;
        }
        write_aside(
            &path,
            &serde_json::to_vec(parts).map_err(|e| io(&path)(std::io::Error::other(e)))?,
        )
    }
}

/// Write `bytes` beside `path`, fsync, and rename into place: readers see all or nothing.
fn write_aside(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    crate::base::atomic::write_bytes(path, bytes).map_err(DatasetError::from)
}

/// As [`write_aside`], with the content written by `body` as it is made.
pub(crate) fn write_aside_with(
    path: &Path,
    body: impl FnOnce(&mut dyn std::io::Write) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    crate::base::atomic::write_atomic(path, body)
}

impl From<crate::base::atomic::WriteError> for DatasetError {
    fn from(e: crate::base::atomic::WriteError) -> Self {
        DatasetError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// `_janus/schema.json`: the format, its version, the partitioning, and every table's columns
/// as the code that writes them declares them.
fn schema_json() -> serde_json::Value {
    let mut tables = serde_json::Map::new();
    let cols = |df: &DataFrame| -> serde_json::Value {
        df.schema()
            .iter()
            .map(|(n, t)| serde_json::json!([n.as_str(), t.to_string()]))
            .collect()
    };
    for t in [
        "events",
        "role_calls",
        "assumptions",
        "hops",
        "policy_changes",
    ] {
        let df = crate::analyzer::model::schema::empty_raw(t).expect("a model table");
        tables.insert(t.into(), cols(&df));
    }
    let ids = crate::analyzer::model::dedupe::EventIds::default()
        .to_frame()
        .expect("static columns");
    tables.insert("ids".into(), cols(&ids));
    tables.insert(rollup::TABLE.into(), cols(&rollup::empty()));
    tables.insert(sigma::MATCHES.into(), cols(&sigma::empty_matches()));
    tables.insert(
        sigma::RULES.into(),
        cols(&sigma::rules_frame(&Default::default()).expect("static columns")),
    );
    tables.insert(
        "files".into(),
        cols(&files::files_frame(&[]).expect("static columns")),
    );
    serde_json::json!({
        "format": "janus-audit-dataset",
        "version": VERSION,
        "partitioning": "role_calls, call_rollup, assumptions, hops, policy_changes, events, ids and sigma_matches: date=YYYY-MM-DD, the event's UTC date (date=__HIVE_DEFAULT_PARTITION__ without one); files and sigma_rules: unpartitioned",
        "commit": "a batch's parts count once files/part-<batch>.parquet exists",
        "tables": tables,
    })
}
