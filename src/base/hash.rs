//! SHA-256 as lowercase hex: how manifests, caches and verdicts name content.

use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
