//! janus-audit: short-lived AWS credentials for Google Cloud workloads, and the CloudTrail
//! forensics that say which GCP instance did what with them.
//!
//! Layers import downward only (`tests/layers.rs` checks it): `base` imports nothing of the
//! crate; `credentials` and `analyzer` never import each other; only `main.rs` knows `cli`.

pub mod base;
pub mod cli;

#[cfg(feature = "credentials")]
pub mod credentials;

#[cfg(feature = "analyzer")]
pub mod analyzer;
