//! What `ingest --gcp-logs` stores: the GCP facts and coverage, unpartitioned (they are few:
//! one row per instance event, account, key, grant and mint), from which a report with
//! `--dataset` derives the GCP tables as from the logs themselves.
//!
//! ```text
//! DIR/gcp/facts.parquet      one row per fact (see gcp::store), first copy of an entry first
//! DIR/gcp/coverage.parquet   per project and log: first and last entry time
//! ```

use std::path::Path;

use crate::analyzer::dataset::{Dataset, DatasetError, read_parquet, write_aside_with};
use crate::analyzer::gcp::{self, Gcp, store};

const DIR: &str = "gcp";

/// Whether an ingest stored GCP facts in the dataset at `dir`.
pub fn stored(dir: &Path) -> bool {
    dir.join(DIR).join("facts.parquet").exists()
}

/// The stored facts (none when no ingest was given `--gcp-logs`).
pub fn read(dir: &Path) -> Result<Gcp, DatasetError> {
    let facts_path = dir.join(DIR).join("facts.parquet");
    let coverage_path = dir.join(DIR).join("coverage.parquet");
    if !stored(dir) {
        return Ok(Gcp::default());
    }
    let facts = store::facts_from(&read_parquet(&facts_path, None)?)?;
    let mut read = gcp::read::Read::default();
    if coverage_path.exists() {
        store::merge_coverage(&read_parquet(&coverage_path, None)?, &mut read.coverage)?;
    }
    Ok(Gcp {
        stored: true,
        ..gcp::from_facts(facts, read, 0)
    })
}

/// Add what `new` read to what the dataset holds: an entry already stored (its `logName` and
/// `insertId`) is not stored twice, so re-ingesting the same logs changes nothing.
pub fn write(ds: &Dataset, new: &Gcp) -> Result<u64, DatasetError> {
    let before = read(&ds.dir)?;
    let known: std::collections::HashSet<(&str, &str)> = before
        .facts
        .iter()
        .map(|f| (f.log_name.as_str(), f.insert_id.as_str()))
        .collect();
    let added: Vec<&gcp::entry::Fact> = new
        .facts
        .iter()
        .filter(|f| !known.contains(&(f.log_name.as_str(), f.insert_id.as_str())))
        .collect();
    let mut facts = before.facts.clone();
    facts.extend(added.iter().map(|f| (*f).clone()));
    let mut coverage = before.model.coverage.clone();
    for (k, (first, last)) in &new.model.coverage {
        let span = coverage.entry(k.clone()).or_insert((*first, *last));
        span.0 = span.0.min(*first);
        span.1 = span.1.max(*last);
    }
    let dir = ds.dir.join(DIR);
    crate::base::atomic::create_private_dirs(&dir).map_err(|source| DatasetError::Io {
        path: dir.clone(),
        source,
    })?;
    // Coverage first: facts without their coverage would make a covered project look
    // uncovered, never the reverse.
    let mut coverage = store::coverage_frame(&coverage)?;
    write_aside_with(&dir.join("coverage.parquet"), |w| {
        polars::prelude::ParquetWriter::new(w).finish(&mut coverage)?;
        Ok(())
    })?;
    let mut facts = store::facts_frame(&facts)?;
    write_aside_with(&dir.join("facts.parquet"), |w| {
        polars::prelude::ParquetWriter::new(w).finish(&mut facts)?;
        Ok(())
    })?;
    Ok(added.len() as u64)
}
