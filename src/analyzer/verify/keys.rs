//! CloudTrail's public keys, by fingerprint: from `ListPublicKeys` in a trail's home region, from
//! the copy `sync` keeps beside a mirror (`.janus-sync/public-keys.json`), so validation works
//! offline, or pinned by the user (`--public-keys FILE`).
//!
//! Where a key comes from is part of every verdict ([`KeySource`]): keys read from the mirror sit
//! in the evidence directory, so whoever can write the mirror can re-sign it with a key of their
//! own. They prove integrity against accidents, not against an attacker; keys fetched from AWS
//! or pinned do. Whatever the source, a key is used only under its own fingerprint, recomputed
//! from the key (CloudTrail's fingerprint is the MD5 of the key's DER, as `ListPublicKeys` gives
//! it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::analyzer::source::s3::describe;
use crate::base::timefmt::Millis;

/// Why a set of public keys cannot be had. Each names the file or the region it is about.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: crate::analyzer::source::files::ReadError,
    },
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not JSON ({source})")]
    NotJson {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: not a public key file: {source}")]
    NotKeyFile {
        file: String,
        source: serde_json::Error,
    },
    /// `--public-keys FILE` holds something that pins nothing, or pins it wrongly.
    #[error("{file}: {problem}")]
    Pinned { file: String, problem: PinProblem },
    #[error("ListPublicKeys in {region}: {failure}")]
    List {
        region: String,
        failure: crate::analyzer::source::s3::AwsFailure,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PinProblem {
    #[error("a PublicKeyList entry without Fingerprint and Value")]
    EntryIncomplete,
    #[error("the Value of {}: not base64 ({source})", crate::base::text::excerpt(.fingerprint))]
    NotBase64 {
        fingerprint: String,
        source: base64::DecodeError,
    },
    #[error("a fingerprint that is not a string")]
    FingerprintNotText,
    #[error(
        "neither `aws cloudtrail list-public-keys` output (PublicKeyList) nor a janus-audit report manifest (verification.public_key_fingerprints)"
    )]
    Unknown,
    #[error("pins no key")]
    Empty,
}

/// The file `sync` writes the keys to, under the mirror's [`crate::analyzer::source::layout::SYNC_DIR`].
pub const FILE: &str = "public-keys.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeys {
    /// Fingerprint → DER (PKCS #1 `RSAPublicKey`), hex-encoded in the file.
    #[serde(with = "hex_values")]
    keys: BTreeMap<String, Vec<u8>>,
}

mod hex_values {
    use super::*;
    pub fn serialize<S: serde::Serializer>(
        m: &BTreeMap<String, Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let h: BTreeMap<&String, String> = m.iter().map(|(k, v)| (k, hex::encode(v))).collect();
        h.serialize(s)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Vec<u8>>, D::Error> {
        let h: BTreeMap<String, String> = BTreeMap::deserialize(d)?;
        h.into_iter()
            .map(|(k, v)| {
                hex::decode(v)
                    .map(|v| (k, v))
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// CloudTrail's fingerprint of a public key: the MD5 of its DER (PKCS #1 `RSAPublicKey`), in hex.
pub fn fingerprint(der: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(der))
}

/// Where the keys a verdict rests on came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeySource {
    /// `ListPublicKeys`, this run.
    Aws,
    /// `--public-keys FILE`.
    Pinned,
    /// The mirror's own `.janus-sync/public-keys.json`: unauthenticated.
    Mirror,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Aws => "aws",
            KeySource::Pinned => "pinned",
            KeySource::Mirror => "mirror",
        }
    }
}

/// What a verdict whose keys came from the mirror says about them.
pub const MIRROR_CAVEAT: &str = "the public keys came from the mirror itself (.janus-sync/public-keys.json), which anyone who can write the mirror can change: they show the files were not damaged by accident, not that nobody altered and re-signed them; pin the keys with --public-keys FILE (the output of `aws cloudtrail list-public-keys`) or check them with verify --online";

/// The keys a validation uses, each with its source: only keys whose fingerprint is their own.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, (Vec<u8>, KeySource)>,
    /// One line per key refused or worth naming (quoted input never echoed in full).
    pub problems: Vec<String>,
    /// Keys refused because they are listed under another key's fingerprint.
    pub misfiled: usize,
}

impl Keyring {
    pub fn get(&self, fingerprint: &str) -> Option<(&[u8], KeySource)> {
        self.keys
            .get(&fingerprint.to_ascii_lowercase())
            .map(|(k, s)| (k.as_slice(), *s))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Add `keys` from `source`, each only under its own fingerprint; keys already held are
    /// kept (add the more trusted source first).
    pub fn add(&mut self, keys: &PublicKeys, source: KeySource, from: &str) {
        for (listed, der) in &keys.keys {
            let own = fingerprint(der);
            if !own.eq_ignore_ascii_case(listed) {
                self.misfiled += 1;
                self.problems.push(format!(
                    "public key listed under fingerprint {} in {from} is another key (its fingerprint is {own}): not used",
                    crate::base::text::excerpt(listed)
                ));
                continue;
            }
            self.keys
                .entry(own)
                .or_insert_with(|| (der.clone(), source));
        }
    }

    /// Keep only the keys whose fingerprints are in `pinned`, as pinned keys.
    pub fn keep_pinned(&mut self, pinned: &BTreeSet<String>) {
        self.keys.retain(|fp, _| pinned.contains(fp));
        for v in self.keys.values_mut() {
            v.1 = KeySource::Pinned;
        }
    }
}

/// What `--public-keys FILE` pins: keys (from `aws cloudtrail list-public-keys`), or only
/// fingerprints (from a report manifest's `verification.public_key_fingerprints`).
#[derive(Debug, Clone, Default)]
pub struct Pinned {
    pub keys: PublicKeys,
    pub fingerprints: BTreeSet<String>,
}

impl Pinned {
    /// Read `path`: the JSON `aws cloudtrail list-public-keys` prints (`PublicKeyList`, each
    /// `Fingerprint` and base64 `Value`), or a janus-audit report manifest.
    pub fn load(path: &Path) -> Result<Pinned, KeysError> {
        use base64::Engine as _;
        let file = crate::base::text::quoted(path);
        let pin = |problem| KeysError::Pinned {
            file: file.clone(),
            problem,
        };
        let mut bufs = crate::analyzer::source::files::Buffers::default();
        crate::analyzer::source::files::read_decoded(path, &mut bufs, 64 << 20).map_err(
            |source| KeysError::Read {
                file: file.clone(),
                source,
            },
        )?;
        let v: serde_json::Value =
            serde_json::from_slice(&bufs.decoded).map_err(|source| KeysError::NotJson {
                file: file.clone(),
                source,
            })?;
        let mut out = Pinned::default();
        let list = v.get("PublicKeyList").or_else(|| v.get("publicKeyList"));
        if let Some(list) = list.and_then(|l| l.as_array()) {
            for k in list {
                let (Some(fp), Some(value)) = (
                    k.get("Fingerprint").and_then(|f| f.as_str()),
                    k.get("Value").and_then(|f| f.as_str()),
                ) else {
                    return Err(pin(PinProblem::EntryIncomplete));
                };
                let der = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map_err(|source| {
                        pin(PinProblem::NotBase64 {
                            fingerprint: fp.to_string(),
                            source,
                        })
                    })?;
                out.keys.keys.insert(fp.to_ascii_lowercase(), der);
                out.fingerprints.insert(fp.to_ascii_lowercase());
            }
        } else if let Some(fps) = v
            .pointer("/verification/public_key_fingerprints")
            .and_then(|f| f.as_array())
        {
            for f in fps {
                let Some(f) = f.as_str() else {
                    return Err(pin(PinProblem::FingerprintNotText));
                };
                out.fingerprints.insert(f.to_ascii_lowercase());
            }
        } else {
            return Err(pin(PinProblem::Unknown));
        }
        if out.fingerprints.is_empty() {
            return Err(pin(PinProblem::Empty));
        }
        Ok(out)
    }
}

impl PublicKeys {
    pub fn get(&self, fingerprint: &str) -> Option<&[u8]> {
        self.keys.get(fingerprint).map(Vec::as_slice)
    }

    pub fn fingerprints(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn extend(&mut self, other: PublicKeys) {
        self.keys.extend(other.keys);
    }

    /// The keys in a mirror's sync directory; none when it has no such file.
    pub fn load(path: &Path) -> Result<PublicKeys, KeysError> {
        let file = || crate::base::text::quoted(path);
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PublicKeys::default()),
            Err(source) => Err(KeysError::Io {
                file: file(),
                source,
            }),
            Ok(b) => serde_json::from_slice(&b).map_err(|source| KeysError::NotKeyFile {
                file: file(),
                source,
            }),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("plain data")
    }

    /// `ListPublicKeys` in each home region for `[start, end]` (all pages).
    pub async fn fetch(
        shared: &aws_config::SdkConfig,
        home_regions: &[String],
        start: Option<Millis>,
        end: Option<Millis>,
    ) -> Result<PublicKeys, KeysError> {
        let mut out = PublicKeys::default();
        let t = |ms: Millis| aws_smithy_types::DateTime::from_millis(ms);
        for region in home_regions {
            let conf = aws_sdk_cloudtrail::config::Builder::from(shared)
                .region(aws_config::Region::new(region.clone()))
                .build();
            let client = aws_sdk_cloudtrail::Client::from_conf(conf);
            let mut token = None;
            loop {
                let page = client
                    .list_public_keys()
                    .set_start_time(start.map(t))
                    .set_end_time(end.map(t))
                    .set_next_token(token)
                    .send()
                    .await
                    .map_err(|e| KeysError::List {
                        region: region.clone(),
                        failure: describe(&e),
                    })?;
                for k in page.public_key_list() {
                    if let (Some(fp), Some(v)) = (k.fingerprint(), k.value()) {
                        out.keys.insert(fp.to_string(), v.as_ref().to_vec());
                    }
                }
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    /// The two keys of the `aws cloudtrail list-public-keys` examples in the AWS CLI's and the
    /// CloudTrail user guide's documentation, with the fingerprints AWS printed for them.
    const AWS_EXAMPLES: [(&str, &str); 2] = [
        (
            "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB",
            "7f3f401420072e50a65a141430817ab3",
        ),
        (
            "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB",
            "8eba5db5bea9b640d1c96a77256fe7f2",
        ),
    ];

    fn der(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    #[test]
    fn a_fingerprint_is_the_md5_of_the_keys_der_as_aws_prints_it() {
        for (value, fp) in AWS_EXAMPLES {
            assert_eq!(fingerprint(&der(value)), fp);
        }
    }

    #[test]
    fn a_key_filed_under_another_keys_fingerprint_is_refused() {
        let (a, fa) = AWS_EXAMPLES[0];
        let (_, fb) = AWS_EXAMPLES[1];
        let mut keys = PublicKeys::default();
        keys.keys.insert(fa.to_string(), der(a));
        keys.keys.insert(fb.to_string(), der(a));
        let mut ring = Keyring::default();
        ring.add(&keys, KeySource::Mirror, FILE);
        assert_eq!(ring.get(fa).map(|k| k.1), Some(KeySource::Mirror));
        assert!(ring.get(fb).is_none());
        assert_eq!(ring.misfiled, 1);
        assert!(
            ring.problems[0].contains("is another key"),
            "{:?}",
            ring.problems
        );
    }

    #[test]
    fn pinning_reads_list_public_keys_output_and_manifests() {
        let d = tempfile::tempdir().unwrap();
        let cli = d.path().join("keys.json");
        let (a, fa) = AWS_EXAMPLES[0];
        std::fs::write(
            &cli,
            format!(r#"{{"PublicKeyList":[{{"ValidityStartTime":1453076702.0,"ValidityEndTime":1455668702.0,"Value":"{a}","Fingerprint":"{fa}"}}]}}"#),
        )
        .unwrap();
        let p = Pinned::load(&cli).unwrap();
        assert_eq!(p.keys.get(fa), Some(der(a).as_slice()));
        let manifest = d.path().join("manifest.json");
        std::fs::write(
            &manifest,
            r#"{"verification":{"public_key_fingerprints":["7F3F401420072E50A65A141430817AB3"]}}"#,
        )
        .unwrap();
        let p = Pinned::load(&manifest).unwrap();
        assert!(p.keys.is_empty());
        assert!(p.fingerprints.contains(fa));
        let other = d.path().join("other.json");
        std::fs::write(&other, r#"{"Records":[]}"#).unwrap();
        assert!(matches!(
            Pinned::load(&other),
            Err(KeysError::Pinned {
                problem: PinProblem::Unknown,
                ..
            })
        ));
    }
}
