//! CloudTrail's public keys, by fingerprint: from `ListPublicKeys` in a trail's home region, or
//! from the copy `sync` keeps beside a mirror (`.janus-sync/public-keys.json`), so validation
//! works offline.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::source::s3::describe;
use crate::timefmt::Millis;

/// The file `sync` writes the keys to, under the mirror's [`crate::source::files::SYNC_DIR`].
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

impl PublicKeys {
    pub fn get(&self, fingerprint: &str) -> Option<&[u8]> {
        self.keys.get(fingerprint).map(Vec::as_slice)
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
    pub fn load(path: &Path) -> Result<PublicKeys, String> {
        match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PublicKeys::default()),
            Err(e) => Err(format!("{}: {e}", crate::text::quoted(path))),
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("{}: not a public key file: {e}", crate::text::quoted(path))),
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
    ) -> Result<PublicKeys, String> {
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
                    .map_err(|e| format!("ListPublicKeys in {region}: {}", describe(&e)))?;
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
