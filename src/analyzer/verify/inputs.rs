//! What validation reads: the digests (with their signatures) and the log files' hashes, and
//! each digest as the chain walk sees it.

use std::collections::HashMap;

use crate::analyzer::verify::digest::Digest;
use crate::analyzer::verify::keys::Keyring;
use crate::base::timefmt::{Millis, Window};

/// A digest's signature as the input carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signature {
    /// `x-amz-meta-signature` (hex) and `x-amz-meta-signature-algorithm`.
    Present { hex: String, algorithm: String },
    /// An S3 object (or a synced one) without the metadata: it fails, as in `validate-logs`.
    Missing,
    /// A copy made without the metadata (`aws s3 sync`): nothing to check it with.
    Unavailable,
    /// In a mirror `sync` wrote (which writes a sidecar for every digest), the sidecar is
    /// missing or unreadable: damage to the evidence, not a copy without metadata.
    Damaged(String),
}

/// One digest file of the input.
#[derive(Debug, Clone)]
pub struct DigestFile {
    /// How messages name it: its `s3://` URI or its path.
    pub name: String,
    /// Its key from `AWSLogs/` on.
    pub tail: String,
    /// Its bucket, when known (S3, or a synced copy's sidecar).
    pub bucket: Option<String>,
    /// Decompressed content, or why it could not be read.
    pub content: Result<Vec<u8>, Unreadable>,
    pub signature: Signature,
}

/// Why a digest's bytes could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unreadable {
    #[error(transparent)]
    Read(std::sync::Arc<crate::analyzer::source::files::ReadError>),
    #[error(transparent)]
    Fetch(crate::analyzer::source::s3::S3Error),
}

/// A log file of the input: how it is named, and the SHA-256 of its decompressed content
/// (`None`: it could not be read).
#[derive(Debug, Clone)]
pub struct LogSeen {
    pub name: String,
    pub content_sha256: Option<String>,
}

/// Everything validation looks at.
#[derive(Debug, Default)]
pub struct Inputs {
    pub digests: Vec<DigestFile>,
    /// By key tail (`AWSLogs/...`).
    pub logs: HashMap<String, LogSeen>,
    pub keys: Keyring,
    pub window: Window,
    /// When the run started: a window without an end ends here.
    pub now: Option<Millis>,
}

/// A digest as the walk sees it.
pub struct Node<'a> {
    pub file: &'a DigestFile,
    pub date: Millis,
    pub parsed: Option<Digest>,
    pub content_sha256: Option<String>,
}
