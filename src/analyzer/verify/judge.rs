//! One digest's verdict: whether it can be read and parsed, sits where it was written, carries a
//! signature that a known key verifies, and is what the next digest in its chain records.

use crate::analyzer::verify::digest;
use crate::analyzer::verify::inputs::{Inputs, Node, Signature, Unreadable};
use crate::analyzer::verify::keys::KeySource;

/// Why a digest does not vouch for what it lists: each is a verdict's text in the report.
#[derive(Debug, thiserror::Error)]
pub enum DigestFault {
    #[error("cannot be read: {0}")]
    Unreadable(Unreadable),
    #[error("invalid format")]
    InvalidFormat,
    #[error("has been moved from its original location")]
    Moved,
    #[error("no signature metadata")]
    NoSignature,
    /// The sidecar that holds the signature is missing or damaged: the reason.
    #[error("{0}")]
    SignatureDamaged(String),
    #[error("unsupported signature algorithm {}", crate::base::text::excerpt(.0))]
    Algorithm(String),
    #[error("public key not found for fingerprint {}", crate::base::text::excerpt(.0))]
    NoKey(String),
    #[error("signature verification failed")]
    BadSignature,
    #[error("its signature is not the one the next digest records (chain broken)")]
    ChainSignature,
    #[error("its content is not what the next digest records (chain broken)")]
    ChainContent,
}

/// One digest: `Ok(Some(source))` valid, with the key's source; `Ok(None)` unsigned but
/// well-formed and in place; `Err` why not.
pub(super) fn judge(
    n: &Node<'_>,
    inputs: &Inputs,
    expected: Option<(Option<String>, Option<String>)>,
) -> Result<Option<KeySource>, DigestFault> {
    let f = n.file;
    if let Err(e) = &f.content {
        return Err(DigestFault::Unreadable(e.clone()));
    }
    let d = n.parsed.as_ref().ok_or(DigestFault::InvalidFormat)?;
    if digest::tail(&d.digest_s3_object) != Some(f.tail.as_str())
        || f.bucket.as_ref().is_some_and(|b| *b != d.digest_s3_bucket)
    {
        return Err(DigestFault::Moved);
    }
    let sha = n.content_sha256.as_deref().unwrap_or_default();
    // The signature first: a forged digest says so, whatever its link.
    let signed = match &f.signature {
        Signature::Unavailable => None,
        Signature::Missing => return Err(DigestFault::NoSignature),
        Signature::Damaged(why) => return Err(DigestFault::SignatureDamaged(why.clone())),
        Signature::Present { hex, algorithm } => {
            if !algorithm.eq_ignore_ascii_case("SHA256withRSA") {
                return Err(DigestFault::Algorithm(algorithm.clone()));
            }
            let (key, source) = inputs
                .keys
                .get(&d.digest_public_key_fingerprint)
                .ok_or_else(|| DigestFault::NoKey(d.digest_public_key_fingerprint.clone()))?;
            if digest::signature_ok(key, d.string_to_sign(sha).as_bytes(), hex) {
                Some(source)
            } else {
                return Err(DigestFault::BadSignature);
            }
        }
    };
    if let Some((sig, hash)) = expected {
        let own = match &f.signature {
            Signature::Present { hex, .. } => Some(hex.to_ascii_lowercase()),
            _ => None,
        };
        if let (Some(recorded), Some(own)) = (sig.as_deref(), own.as_deref())
            && recorded.to_ascii_lowercase() != own
        {
            return Err(DigestFault::ChainSignature);
        }
        if let Some(h) = hash
            && !h.eq_ignore_ascii_case(sha)
        {
            return Err(DigestFault::ChainContent);
        }
    }
    Ok(signed)
}
