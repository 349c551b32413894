//! janus-audit: short-lived AWS credentials for Google Cloud workloads, and the CloudTrail
//! forensics that say which GCP instance did what with them.
//!
//! Data flows one way: sources → records → model (tables) → queries/*.sql → reports → outputs.

pub mod arn;
pub mod cli;
#[cfg(feature = "credentials")]
pub mod credentials;
pub mod exit;
pub mod naming;
pub mod text;
pub mod timefmt;

#[cfg(feature = "analyzer")]
pub mod acquire;
#[cfg(feature = "analyzer")]
pub mod analyze;
#[cfg(feature = "analyzer")]
pub mod cte;
#[cfg(feature = "analyzer")]
pub mod dataset;
#[cfg(feature = "analyzer")]
pub mod dedupe;
#[cfg(feature = "analyzer")]
pub mod engine;
#[cfg(feature = "analyzer")]
pub mod error;
#[cfg(feature = "analyzer")]
pub mod findings;
#[cfg(feature = "analyzer")]
pub mod html;
#[cfg(feature = "analyzer")]
pub mod ingest;
#[cfg(feature = "analyzer")]
pub mod lineage;
#[cfg(feature = "analyzer")]
pub mod memory;
#[cfg(feature = "analyzer")]
pub mod model;
#[cfg(feature = "analyzer")]
pub mod notice;
#[cfg(feature = "analyzer")]
pub mod output;
#[cfg(feature = "analyzer")]
pub mod progress;
#[cfg(feature = "analyzer")]
pub mod query;
#[cfg(feature = "analyzer")]
pub mod record;
#[cfg(feature = "analyzer")]
pub mod report;
#[cfg(feature = "analyzer")]
pub mod sandbox;
#[cfg(feature = "analyzer")]
pub mod source;
#[cfg(feature = "analyzer")]
pub mod sync;
#[cfg(feature = "analyzer")]
pub mod tables;
#[cfg(feature = "analyzer")]
pub mod timeline;
#[cfg(feature = "analyzer")]
pub mod verify;
