//! CloudTrail digest files: their names, their content, and the string CloudTrail signs.
//!
//! A digest `AWSLogs/[o-id/]<acct>/CloudTrail-Digest/<region>/YYYY/MM/DD/
//! <acct>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHMMSSZ>.json.gz` lists the
//! log files delivered in its hour with the SHA-256 of each one's decompressed content; its own
//! SHA256withRSA signature (hex, in the object's `x-amz-meta-signature`) covers its end time, its
//! location, the SHA-256 of its decompressed content and the previous digest's signature.

use serde::Deserialize;

use crate::base::timefmt::{Millis, parse_event_time};

/// The part of a key from `AWSLogs/` on: what a local copy and the bucket have in common
/// whatever prefix or directory they sit under.
pub fn tail(key: &str) -> Option<&str> {
    let i = key.find("AWSLogs/")?;
    (i == 0 || key.as_bytes()[i - 1] == b'/').then(|| &key[i..])
}

/// Where a trail file belongs: account, region, and for a digest its trail.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

/// The account and region folders of a log or digest key (`AWSLogs/[o-id/]acct/<kind>/region/`).
pub fn scope(tail: &str) -> Option<Scope> {
    let parts: Vec<&str> = tail.split('/').collect();
    let at = parts
        .iter()
        .position(|p| *p == "CloudTrail" || *p == "CloudTrail-Digest")?;
    Some(Scope {
        account: parts.get(at.checked_sub(1)?)?.to_string(),
        region: parts.get(at + 1)?.to_string(),
    })
}

/// What a digest's file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName {
    pub trail: String,
    pub home_region: String,
    /// The end of the hour it covers, from the name (`YYYYMMDDTHHMMSSZ`).
    pub end: Millis,
}

pub fn digest_name(key: &str) -> Option<DigestName> {
    let name = key.rsplit('/').next()?.strip_suffix(".json.gz")?;
    let (_, rest) = name.split_once("_CloudTrail-Digest_")?;
    let (rest, stamp) = rest.rsplit_once('_')?;
    let (rest, home) = rest.rsplit_once('_')?;
    let (_, trail) = rest.split_once('_')?;
    Some(DigestName {
        trail: trail.to_string(),
        home_region: home.to_string(),
        end: compact_time(stamp)?,
    })
}

/// When a log file was delivered, from its name (`<acct>_CloudTrail_<region>_YYYYMMDDTHHMMZ_x`).
pub fn log_delivery(key: &str) -> Option<Millis> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(compact_time)
}

/// `20261005T1030Z` or `20261005T103000Z`.
fn compact_time(s: &str) -> Option<Millis> {
    let s = s.strip_suffix('Z')?;
    let (d, t) = s.split_once('T')?;
    if d.len() != 8
        || !(t.len() == 4 || t.len() == 6)
        || !s.bytes().all(|b| b.is_ascii_digit() || b == b'T')
    {
        return None;
    }
    let secs = if t.len() == 6 { &t[4..6] } else { "00" };
    parse_event_time(&format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &t[0..2],
        &t[2..4],
        secs
    ))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    /// Required, and `null` in the first digest of a chain.
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
}

impl Digest {
    /// Every required field present (`previousDigestSignature` may be null but not absent).
    pub fn parse(content: &[u8]) -> Option<Digest> {
        let v: serde_json::Value = serde_json::from_slice(content).ok()?;
        v.as_object()?.get("previousDigestSignature")?;
        serde_json::from_value(v).ok()
    }

    pub fn start(&self) -> Option<Millis> {
        parse_event_time(&self.digest_start_time)
    }

    pub fn end(&self) -> Option<Millis> {
        parse_event_time(&self.digest_end_time)
    }

    /// What CloudTrail signs, as `aws cloudtrail validate-logs` rebuilds it.
    pub fn string_to_sign(&self, content_sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            content_sha256_hex,
            self.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }
}

/// SHA256withRSA (PKCS #1 v1.5) over `message` with a DER public key (PKCS #1 `RSAPublicKey`,
/// as ListPublicKeys gives it, or X.509 SubjectPublicKeyInfo).
pub fn signature_ok(public_key_der: &[u8], message: &[u8], signature_hex: &str) -> bool {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    let Ok(sig) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(message, &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let k = "p/AWSLogs/o-x/111122223333/CloudTrail-Digest/us-east-1/2026/10/05/111122223333_CloudTrail-Digest_us-east-1_my_trail_eu-west-1_20261005T110000Z.json.gz";
        let n = digest_name(k).unwrap();
        assert_eq!(n.trail, "my_trail");
        assert_eq!(n.home_region, "eu-west-1");
        assert_eq!(n.end, parse_event_time("2026-10-05T11:00:00Z").unwrap());
        let t = tail(k).unwrap();
        assert!(t.starts_with("AWSLogs/o-x/"));
        assert_eq!(
            scope(t),
            Some(Scope {
                account: "111122223333".into(),
                region: "us-east-1".into()
            })
        );
        assert_eq!(tail("xAWSLogs/1"), None);
        assert_eq!(
            log_delivery(
                "AWSLogs/1/CloudTrail/r/2026/10/05/1_CloudTrail_r_20261005T1030Z_AbC.json.gz"
            ),
            parse_event_time("2026-10-05T10:30:00Z")
        );
    }

    #[test]
    fn the_string_to_sign_of_a_first_digest_ends_in_null() {
        let d = Digest::parse(br#"{"digestStartTime":"a","digestEndTime":"2026-10-05T11:00:00Z","digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"f","previousDigestSignature":null}"#).unwrap();
        assert_eq!(
            d.string_to_sign("00ff"),
            "2026-10-05T11:00:00Z\nb/k\n00ff\nnull"
        );
        assert!(Digest::parse(br#"{"digestStartTime":"a","digestEndTime":"e","digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"f"}"#).is_none());
    }
}
