//! The Google side of the evidence: GCP Cloud Audit Logs (`--gcp-logs`), and the listings of
//! instances and service accounts that existed before the logs begin. From them: which
//! instances existed where, running as which service account, when (`gcp_instance`), and who
//! minted tokens for the service accounts that reached AWS.

pub mod entry;
pub mod keys;
pub mod model;
pub mod read;
pub mod store;
pub mod tables;
pub mod verdict;

use std::path::PathBuf;

use polars::prelude::*;

use crate::analyzer::model::Table;
use crate::analyzer::source::files::Limits;

/// What the command line gave.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--gcp-logs PATH...`
    pub logs: Vec<PathBuf>,
    /// `--gcp-instances FILE`: `gcloud compute instances list --format=json`.
    pub instances: Option<PathBuf>,
    /// `--gcp-service-accounts FILE`: `gcloud iam service-accounts list --format=json`.
    pub service_accounts: Option<PathBuf>,
}

impl Inputs {
    pub fn given(&self) -> bool {
        !self.logs.is_empty() || self.instances.is_some() || self.service_accounts.is_some()
    }
}

/// What was read, and the model made of it.
#[derive(Debug, Default)]
pub struct Gcp {
    /// The facts kept (de-duplicated, in input order): what a dataset stores.
    pub facts: Vec<entry::Fact>,
    pub read: read::Read,
    pub model: model::Model,
    /// Listing elements that name no instance or account.
    pub unusable_listed: u64,
    /// Whether any GCP input was given (or stored): the columns and the summary say so.
    pub present: bool,
    /// Read from a dataset, where `ingest` stored the facts: no file was read this time.
    pub stored: bool,
}

/// How one element of a listing becomes a fact.
type ToFact = fn(&serde_json::Value) -> Option<entry::Fact>;

/// Read every input.
pub fn load(inputs: &Inputs, limits: &Limits) -> Result<Gcp, read::ListingError> {
    let mut r = read::read(&inputs.logs, limits);
    let mut unusable = 0;
    let listings: [(&'static str, &Option<PathBuf>, ToFact); 2] = [
        ("--gcp-instances", &inputs.instances, entry::listed_instance),
        (
            "--gcp-service-accounts",
            &inputs.service_accounts,
            entry::listed_account,
        ),
    ];
    for (flag, path, fact) in listings {
        if let Some(path) = path {
            let (facts, bad, sha256) = read::listing(flag, path, limits, fact)?;
            r.facts.extend(facts);
            r.listings.push((flag, path.clone(), sha256));
            unusable += bad;
        }
    }
    let facts = std::mem::take(&mut r.facts);
    Ok(from_facts(facts, r, unusable))
}

/// The model of `facts` (`read` says how they were read; its coverage is taken).
pub fn from_facts(facts: Vec<entry::Fact>, mut read: read::Read, unusable: u64) -> Gcp {
    let coverage = std::mem::take(&mut read.coverage);
    let model = model::build(&facts, coverage);
    Gcp {
        facts,
        read,
        model,
        unusable_listed: unusable,
        present: true,
        stored: false,
    }
}

impl Gcp {
    /// The GCP tables, for SQL (empty when no GCP input was given).
    pub fn frames(&self) -> PolarsResult<Vec<(Table, DataFrame)>> {
        let m = &self.model;
        Ok(vec![
            (Table::GcpInstances, tables::instances(m)?),
            (Table::GcpServiceAccounts, tables::service_accounts(m)?),
            (Table::GcpMints, tables::mints(m)?),
            (Table::GcpChanges, tables::changes(m)?),
            (Table::GcpCoverage, tables::coverage(m)?),
            (Table::GcpTimeline, tables::timeline(m)?),
        ])
    }

    /// Every input read whole.
    pub fn complete(&self) -> bool {
        self.read.complete()
    }

    /// What could not be read, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .read
            .walk_errors
            .iter()
            .map(|w| format!("--gcp-logs: skipped {w}"))
            .collect();
        out.extend(self.read.files.iter().filter_map(read::FileRead::problem));
        out
    }

    /// What a report's manifest records of the GCP input: every file with its SHA-256 and what
    /// became of it, the counts, and what the logs cover.
    pub fn describe(&self) -> Option<serde_json::Value> {
        if !self.present {
            return None;
        }
        let r = &self.read;
        let files: Vec<serde_json::Value> = r
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": f.path.display().to_string(),
                    "sha256": f.sha256,
                    "entries": f.entries,
                    "unusable_entries": f.unusable,
                    "skipped": f.skipped,
                    "problems": f.problems,
                })
            })
            .collect();
        let listings: Vec<serde_json::Value> = r
            .listings
            .iter()
            .map(|(flag, path, sha)| {
                serde_json::json!({"option": flag, "path": path.display().to_string(), "sha256": sha})
            })
            .collect();
        let coverage: Vec<serde_json::Value> = self
            .model
            .coverage
            .iter()
            .map(|((p, t), (first, last))| {
                serde_json::json!({
                    "project": p,
                    "log_type": t.as_str(),
                    "first_entry": crate::base::timefmt::format_millis(*first),
                    "last_entry": crate::base::timefmt::format_millis(*last),
                })
            })
            .collect();
        Some(serde_json::json!({
            "complete": self.complete(),
            "files": files,
            "listings": listings,
            "paths_unreadable": r.walk_errors,
            "facts": self.facts.len(),
            "duplicates": r.duplicates,
            "other_methods": r.other_method,
            "not_audit_logs": r.not_audit,
            "listing_elements_unusable": self.unusable_listed,
            "coverage": coverage,
            "data_access_found": self.model.has_data_access(),
        }))
    }

    /// The summary line: what the GCP logs cover, so that "not seen" can be read.
    pub fn summary(&self) -> Option<String> {
        if !self.present {
            return None;
        }
        let r = &self.read;
        let projects: Vec<&str> = self
            .model
            .coverage
            .keys()
            .filter(|(_, t)| *t == entry::LogType::Activity)
            .map(|(p, _)| p.as_str())
            .collect();
        let covered = match projects.as_slice() {
            [] => "no project's Admin Activity log".to_string(),
            p => format!("Admin Activity of {}", p.join(", ")),
        };
        let data_access = match self.model.has_data_access() {
            true => "IAM Credentials (Data Access) entries found",
            false => "no Data Access entries (off by default in GCP): token mints cannot be seen",
        };
        if self.stored {
            return Some(format!(
                "GCP facts stored in the dataset: {}; covers {covered}; {data_access}",
                self.facts.len()
            ));
        }
        let damaged = r
            .files
            .iter()
            .filter(|f| f.skipped || f.unusable > 0)
            .count();
        Some(format!(
            "GCP logs: {} file(s) ({damaged} damaged), {} fact(s) kept, {} duplicate(s), {} of other methods, {} not audit logs; covers {covered}; {data_access}",
            r.files.len(),
            self.facts.len(),
            r.duplicates,
            r.other_method,
            r.not_audit,
        ))
    }
}
