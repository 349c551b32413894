//! What validation reads: digests (with their signatures) and log-file hashes, from local trees
//! (a `sync` mirror with its sidecars, or an `aws s3 sync` copy without them), from `s3://`
//! directly, or from what a report has just read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DigestFile, Inputs, LogSeen, PublicKeys, Signature, digest, keys};
use crate::ingest::FileReport;
use crate::source::files::{self, Buffers, Limits, Plan, SYNC_DIR};
use crate::source::s3::{self, S3, S3Options, S3Uri};
use crate::timefmt::Window;

/// What `sync` keeps beside each object (`<file>.s3meta`): where it came from, and for a digest
/// the signature S3 held in the object's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub bucket: String,
    pub key: String,
    pub etag: Option<String>,
    pub size: u64,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub signature_algorithm: Option<String>,
}

pub const SIDECAR_SUFFIX: &str = ".s3meta";

impl Sidecar {
    pub fn path_for(file: &Path) -> PathBuf {
        let mut s = file.as_os_str().to_owned();
        s.push(SIDECAR_SUFFIX);
        PathBuf::from(s)
    }

    pub fn read(file: &Path) -> Option<Sidecar> {
        serde_json::from_slice(&std::fs::read(Sidecar::path_for(file)).ok()?).ok()
    }

    /// The signature as validation sees it: metadata a synced digest lacked in S3 too is
    /// missing; a copy with no sidecar at all has none available.
    fn signature(me: Option<&Sidecar>) -> Signature {
        match me {
            None => Signature::Unavailable,
            Some(Sidecar {
                signature: Some(hex),
                signature_algorithm: Some(algorithm),
                ..
            }) => Signature::Present {
                hex: hex.clone(),
                algorithm: algorithm.clone(),
            },
            Some(_) => Signature::Missing,
        }
    }
}

/// The metadata of an S3 object as a [`Signature`].
pub fn signature_of(metadata: &HashMap<String, String>) -> Signature {
    match (
        metadata.get("signature"),
        metadata.get("signature-algorithm"),
    ) {
        (Some(hex), Some(algorithm)) => Signature::Present {
            hex: hex.clone(),
            algorithm: algorithm.clone(),
        },
        _ => Signature::Missing,
    }
}

fn key_tail(name: &str) -> Option<String> {
    digest::tail(name).map(str::to_string)
}

/// A local digest file, read and decompressed, with its sidecar's signature.
fn local_digest(path: &Path, limits: &Limits) -> Option<DigestFile> {
    let name = path.display().to_string();
    let tail = key_tail(&name)?;
    let side = Sidecar::read(path);
    let mut bufs = Buffers::default();
    let content = files::read_decoded(path, &mut bufs, limits.max_file_bytes)
        .map(|_| std::mem::take(&mut bufs.decoded))
        .map_err(|e| e.to_string());
    Some(DigestFile {
        name,
        tail,
        bucket: side.as_ref().map(|s| s.bucket.clone()),
        content,
        signature: Sidecar::signature(side.as_ref()),
    })
}

/// The public keys a mirror under `roots` carries (`.janus-sync/public-keys.json` at a root).
pub fn local_keys(roots: &[PathBuf]) -> Result<PublicKeys, String> {
    let mut keys = PublicKeys::default();
    for r in roots {
        keys.extend(PublicKeys::load(&r.join(SYNC_DIR).join(keys::FILE))?);
    }
    Ok(keys)
}

/// Digests of local trees (those `discover` found).
pub fn local_digests(paths: &[PathBuf], window: &Window, limits: &Limits) -> Vec<DigestFile> {
    paths
        .par_iter()
        .filter(|p| super::in_scope(&p.display().to_string(), window))
        .filter_map(|p| local_digest(p, limits))
        .collect()
}

/// A log file by key tail, with its content hash.
type Hashed = (String, LogSeen);

/// Log files of local trees, hashed (decompressed) on every core.
fn local_logs(paths: &[PathBuf], limits: &Limits) -> Vec<Hashed> {
    paths
        .par_iter()
        .map_init(
            || {
                let mut b = Buffers::default();
                b.hash_content = true;
                b
            },
            |bufs, p| {
                let name = p.display().to_string();
                let sha = files::read_decoded(p, bufs, limits.max_file_bytes)
                    .ok()
                    .and(bufs.content_sha256)
                    .map(hex::encode);
                (name, sha)
            },
        )
        .filter_map(|(name, sha)| {
            Some((
                key_tail(&name)?,
                LogSeen {
                    name,
                    content_sha256: sha,
                },
            ))
        })
        .collect()
}

/// Digests and log-file hashes of S3 trails, with the public keys for their home regions.
/// Log files are fetched `concurrency` at a time, in bounded batches, and hashed as they come.
pub fn from_s3(
    s3: &S3,
    uris: &[S3Uri],
    window: &Window,
    opts: &S3Options,
    limits: &Limits,
    with_logs: bool,
) -> Result<(Vec<DigestFile>, Vec<Hashed>), String> {
    let mut digests = Vec::new();
    let mut logs = Vec::new();
    for uri in uris {
        let listed = s3
            .list_trail(uri, window, s3::Kind::Digests, opts)
            .map_err(|e| format!("cannot list digests under {uri}: {e}"))?;
        let refs: Vec<&s3::Object> = listed.iter().collect();
        for (o, got) in listed.iter().zip(s3.fetch(&refs, limits.max_file_bytes)) {
            let Some(tail) = key_tail(&o.key) else {
                continue;
            };
            let (content, signature) = match got {
                Ok(g) => {
                    let sig = signature_of(&g.metadata);
                    let mut bufs = Buffers::default();
                    let c = files::decode_fetched(g.body, &mut bufs, limits.max_file_bytes)
                        .map(|_| std::mem::take(&mut bufs.decoded))
                        .map_err(|e| e.to_string());
                    (c, sig)
                }
                Err(e) => (Err(e.to_string()), Signature::Missing),
            };
            digests.push(DigestFile {
                name: o.uri(),
                tail,
                bucket: Some(o.bucket.clone()),
                content,
                signature,
            });
        }
        if with_logs {
            let objects = s3
                .list_trail(uri, window, s3::Kind::Logs, opts)
                .map_err(|e| format!("cannot list {uri}: {e}"))?;
            for batch in objects.chunks(256) {
                let refs: Vec<&s3::Object> = batch.iter().collect();
                let got = s3.fetch(&refs, limits.max_file_bytes);
                let hashed: Vec<Hashed> = batch
                    .par_iter()
                    .zip(got.into_par_iter())
                    .filter_map(|(o, g)| {
                        let mut bufs = Buffers::default();
                        bufs.hash_content = true;
                        let sha = g.ok().and_then(|g| {
                            files::decode_fetched(g.body, &mut bufs, limits.max_file_bytes)
                                .ok()
                                .and(bufs.content_sha256)
                                .map(hex::encode)
                        });
                        Some((
                            key_tail(&o.key)?,
                            LogSeen {
                                name: o.uri(),
                                content_sha256: sha,
                            },
                        ))
                    })
                    .collect();
                logs.extend(hashed);
            }
        }
    }
    Ok((digests, logs))
}

/// The home regions the digest keys name (where their public keys live).
pub fn home_regions<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = keys
        .filter_map(|k| digest::digest_name(k).map(|n| n.home_region))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The keys for the digests whose keys are `digest_keys`: `ListPublicKeys` in their home regions
/// over the window (with the readers' day of margin).
pub fn s3_keys<'a>(
    s3: &S3,
    digest_keys: impl Iterator<Item = &'a str>,
    window: &Window,
) -> Result<PublicKeys, String> {
    let regions = home_regions(digest_keys);
    if regions.is_empty() {
        return Ok(PublicKeys::default());
    }
    const DAY: i64 = 86_400_000;
    s3.block_on(PublicKeys::fetch(
        &s3.shared,
        &regions,
        window.since.map(|t| t - DAY),
        window.until.map(|t| t + DAY),
    ))
}

/// Everything `janus-audit verify` reads for `paths` (local trees and `s3://` URIs).
pub fn inputs(
    paths: &[PathBuf],
    window: &Window,
    opts: &S3Options,
    limits: &Limits,
) -> Result<(Inputs, Vec<files::WalkError>), String> {
    let (local, buckets): (Vec<PathBuf>, Vec<PathBuf>) = paths
        .iter()
        .cloned()
        .partition(|p| S3Uri::of_path(p).is_none());
    let (found, errors) = files::discover(&local, window);
    let digest_paths: Vec<PathBuf> = found
        .iter()
        .filter(|f| f.plan == Plan::Digest)
        .map(|f| f.path.clone())
        .collect();
    let log_paths: Vec<PathBuf> = found
        .iter()
        .filter(|f| f.plan == Plan::Read)
        .map(|f| f.path.clone())
        .collect();
    let mut ins = Inputs {
        digests: local_digests(&digest_paths, window, limits),
        logs: local_logs(&log_paths, limits).into_iter().collect(),
        keys: local_keys(&local)?,
        window: *window,
    };
    if !buckets.is_empty() {
        let uris: Vec<S3Uri> = buckets.iter().filter_map(|p| S3Uri::of_path(p)).collect();
        let s3 = S3::connect(opts).map_err(|e| e.to_string())?;
        let (d, l) = from_s3(&s3, &uris, window, opts, limits, true)?;
        ins.keys
            .extend(s3_keys(&s3, d.iter().map(|d| d.tail.as_str()), window)?);
        ins.digests.extend(d);
        ins.logs.extend(l);
    }
    Ok((ins, errors))
}

/// What a report validates: the log files it has just read (hashed as they were parsed), and
/// the digests beside them (local) or in their bucket.
pub fn for_report(
    paths: &[PathBuf],
    files: &[FileReport],
    window: &Window,
    opts: &S3Options,
    limits: &Limits,
) -> Result<Inputs, String> {
    let mut ins = Inputs {
        window: *window,
        ..Inputs::default()
    };
    for f in files {
        let name = f.path.display().to_string();
        let Some(tail) = key_tail(&name) else {
            continue;
        };
        if f.status == crate::ingest::FileStatus::Digest {
            if f.path.to_str().is_some_and(|p| p.starts_with("s3://")) {
                continue;
            }
            if !super::in_scope(&name, window) {
                continue;
            }
            if let Some(d) = local_digest(&f.path, limits) {
                ins.digests.push(d);
            }
        } else if f.status != crate::ingest::FileStatus::OutsideWindow {
            ins.logs.insert(
                tail,
                LogSeen {
                    name,
                    content_sha256: f.content_sha256.clone(),
                },
            );
        }
    }
    let local: Vec<PathBuf> = paths
        .iter()
        .filter(|p| S3Uri::of_path(p).is_none())
        .cloned()
        .collect();
    ins.keys = local_keys(&local)?;
    let uris: Vec<S3Uri> = paths.iter().filter_map(|p| S3Uri::of_path(p)).collect();
    if !uris.is_empty() {
        let s3 = S3::connect(opts).map_err(|e| e.to_string())?;
        let (d, _) = from_s3(&s3, &uris, window, opts, limits, false)?;
        ins.keys
            .extend(s3_keys(&s3, d.iter().map(|d| d.tail.as_str()), window)?);
        ins.digests.extend(d);
    }
    Ok(ins)
}
