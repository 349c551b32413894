//! janus-audit: short-lived AWS credentials for Google Cloud workloads, and the CloudTrail
//! forensics that say which GCP instance did what with them.
//!
//! Data flows one way: sources → records → model (tables) → queries/*.sql → reports → outputs.

pub mod arn;
pub mod cli;
#[cfg(feature = "credentials")]
pub mod credentials;
#[cfg(feature = "credentials")]
pub mod credentials_cli;
pub mod exit;
pub mod naming;
pub mod timefmt;

#[cfg(feature = "analyzer")]
pub mod acquire;
#[cfg(feature = "analyzer")]
pub mod findings;
#[cfg(feature = "analyzer")]
pub mod ingest;
#[cfg(feature = "analyzer")]
pub mod model;
#[cfg(feature = "analyzer")]
pub mod output;
#[cfg(feature = "analyzer")]
pub mod query;
#[cfg(feature = "analyzer")]
pub mod record;
#[cfg(feature = "analyzer")]
pub mod report;
#[cfg(feature = "analyzer")]
pub mod scheduled;
#[cfg(feature = "analyzer")]
pub mod source;
