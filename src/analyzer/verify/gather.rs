//! What validation reads: digests (with their signatures) and log-file hashes, from local trees
//! (a `sync` mirror with its sidecars, or an `aws s3 sync` copy without them), from `s3://`
//! directly, or from what a report has just read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analyzer::load::FileReport;
use crate::analyzer::source::files::{self, Buffers, Limits, Plan};
use crate::analyzer::source::layout::SYNC_DIR;
use crate::analyzer::source::s3::{self, S3, S3Error, S3Options, S3Uri};
use crate::analyzer::verify::{
    DigestFile, Inputs, KeySource, Keyring, LogSeen, PublicKeys, Signature, Unreadable, digest,
    keys,
};
use crate::base::timefmt::Window;

/// Why validation cannot gather what it needs: a listing or the public keys.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error(transparent)]
    Keys(#[from] keys::KeysError),
    #[error(transparent)]
    Connect(S3Error),
    #[error("cannot list digests under {uri}: {source}")]
    ListDigests { uri: S3Uri, source: S3Error },
    #[error("cannot list {uri}: {source}")]
    ListLogs { uri: S3Uri, source: S3Error },
}

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
        Sidecar::read_checked(file).ok().flatten()
    }

    /// The sidecar of `file`: `None` when there is none, an error when it cannot be read or is
    /// not one janus-audit wrote.
    pub fn read_checked(file: &Path) -> std::io::Result<Option<Sidecar>> {
        let path = Sidecar::path_for(file);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(Into::into),
        }
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

/// Whether `path` lies in a mirror `sync` wrote (a folder above it holds `.janus-sync/`): there
/// every digest has a sidecar, so a missing one is damage.
fn in_sync_mirror(path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .any(|dir| dir.join(SYNC_DIR).is_dir())
}

/// A local digest file, read and decompressed, with its sidecar's signature.
fn local_digest(path: &Path, limits: &Limits) -> Option<DigestFile> {
    let name = path.display().to_string();
    let tail = key_tail(&name)?;
    let (side, damaged) = match Sidecar::read_checked(path) {
        Ok(Some(s)) => (Some(s), None),
        Ok(None) if in_sync_mirror(path) => (
            None,
            Some(
                "its signature sidecar (.s3meta) is missing, in a mirror sync wrote (sync writes one for every digest)",
            ),
        ),
        Ok(None) => (None, None),
        Err(_) => (None, Some("its signature sidecar (.s3meta) cannot be read")),
    };
    let mut bufs = Buffers::default();
    let content = files::read_decoded(path, &mut bufs, limits.max_file_bytes)
        .map(|_| std::mem::take(&mut bufs.decoded))
        .map_err(|e| Unreadable::Read(e.into()));
    Some(DigestFile {
        name,
        tail,
        bucket: side.as_ref().map(|s| s.bucket.clone()),
        content,
        signature: match damaged {
            Some(why) => Signature::Damaged(why.to_string()),
            None => Sidecar::signature(side.as_ref()),
        },
    })
}

/// Which public keys a validation trusts, besides those fetched for `s3://` inputs.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// `--public-keys FILE`: only these keys (or the keys with these fingerprints).
    pub pinned: Option<PathBuf>,
    /// `verify --online`: fetch the keys for the digests' time range from AWS and use them
    /// instead of the mirror's.
    pub online: bool,
}

/// The keyring: pinned keys only when pinned; else the keys `fetched` from AWS (for `s3://`
/// inputs, or all with `online`), then the `mirror`'s unless online.
fn keyring(
    mirror: PublicKeys,
    fetched: Option<PublicKeys>,
    opts: &KeyOptions,
) -> Result<Keyring, GatherError> {
    let mut ring = Keyring::default();
    if let Some(aws) = &fetched {
        ring.add(aws, KeySource::Aws, "ListPublicKeys");
    }
    if opts.online {
        let aws = fetched.unwrap_or_default();
        for fp in mirror.fingerprints() {
            if aws.get(fp).is_none() {
                ring.problems.push(format!(
                    "public key {} in the mirror's {}: AWS does not list it for the digests' time range (not used)",
                    crate::base::text::excerpt(fp),
                    keys::FILE
                ));
            }
        }
    } else {
        ring.add(&mirror, KeySource::Mirror, keys::FILE);
    }
    if let Some(path) = &opts.pinned {
        let pinned = keys::Pinned::load(path)?;
        if pinned.keys.is_empty() {
            ring.keep_pinned(&pinned.fingerprints);
        } else {
            let problems = std::mem::take(&mut ring.problems);
            ring = Keyring::default();
            ring.problems = problems;
            ring.add(&pinned.keys, KeySource::Pinned, &path.display().to_string());
        }
    }
    Ok(ring)
}

/// The public keys a mirror under `roots` carries (`.janus-sync/public-keys.json` at a root).
pub fn local_keys(roots: &[PathBuf]) -> Result<PublicKeys, GatherError> {
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
        .filter(|p| crate::analyzer::verify::in_scope(&p.display().to_string(), window))
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
        // A file outside the layout is named by its path: reports read it too.
        .map(|(name, sha)| {
            (
                key_tail(&name).unwrap_or_else(|| name.clone()),
                LogSeen {
                    name,
                    content_sha256: sha,
                },
            )
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
) -> Result<(Vec<DigestFile>, Vec<Hashed>), GatherError> {
    let mut digests = Vec::new();
    let mut logs = Vec::new();
    for uri in uris {
        let listed = s3
            .list_trail(uri, window, s3::Kind::Digests, opts)
            .map_err(|source| GatherError::ListDigests {
                uri: uri.clone(),
                source,
            })?;
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
                        .map_err(|e| Unreadable::Read(e.into()));
                    (c, sig)
                }
                Err(e) => (Err(Unreadable::Fetch(e)), Signature::Missing),
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
                .map_err(|source| GatherError::ListLogs {
                    uri: uri.clone(),
                    source,
                })?;
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

/// The time range the digests named `digest_keys` cover, from their names (each ends at the
/// time its name gives, an hour after it starts), with two hours either side: `ListPublicKeys`
/// without a range answers only the current key, and one asked for a range that ends just after
/// a rotation can miss the key before it (as `aws cloudtrail validate-logs` learned).
pub fn key_range<'a>(digest_keys: impl Iterator<Item = &'a str>) -> Option<(i64, i64)> {
    const HOUR: i64 = 3_600_000;
    let ends: Vec<i64> = digest_keys
        .filter_map(|k| digest::digest_name(k).map(|n| n.end))
        .collect();
    Some((
        *ends.iter().min()? - 3 * HOUR,
        *ends.iter().max()? + 2 * HOUR,
    ))
}

/// The keys for the digests whose keys are `digest_keys`: `ListPublicKeys` in their home regions
/// over the time those digests cover (whatever the window).
pub fn s3_keys<'a>(
    s3: &S3,
    digest_keys: impl Iterator<Item = &'a str> + Clone,
) -> Result<PublicKeys, GatherError> {
    let regions = home_regions(digest_keys.clone());
    let Some((start, end)) = key_range(digest_keys) else {
        return Ok(PublicKeys::default());
    };
    if regions.is_empty() {
        return Ok(PublicKeys::default());
    }
    Ok(s3.block_on(PublicKeys::fetch(
        &s3.shared,
        &regions,
        Some(start),
        Some(end),
    ))?)
}

/// Everything `janus-audit verify` reads for `paths` (local trees and `s3://` URIs).
pub fn inputs(
    paths: &[PathBuf],
    window: &Window,
    opts: &S3Options,
    limits: &Limits,
    key_opts: &KeyOptions,
) -> Result<(Inputs, Vec<files::WalkError>), GatherError> {
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
        window: *window,
        now: Some(chrono::Utc::now().timestamp_millis()),
        ..Inputs::default()
    };
    let mut s3 = None;
    if !buckets.is_empty() {
        let uris: Vec<S3Uri> = buckets.iter().filter_map(|p| S3Uri::of_path(p)).collect();
        let conn = S3::connect(opts).map_err(GatherError::Connect)?;
        let (d, l) = from_s3(&conn, &uris, window, opts, limits, true)?;
        ins.digests.extend(d);
        ins.logs.extend(l);
        s3 = Some(conn);
    }
    ins.keys = keys_for(&ins, s3.as_ref(), &local, opts, key_opts)?;
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
    key_opts: &KeyOptions,
) -> Result<Inputs, GatherError> {
    let mut ins = Inputs {
        window: *window,
        now: Some(chrono::Utc::now().timestamp_millis()),
        ..Inputs::default()
    };
    for f in files {
        let name = f.path.display().to_string();
        // A file outside the layout is named by its path: it was read, and nothing vouches for
        // it. Files the walk named as not CloudTrail were not read.
        let tail = key_tail(&name).unwrap_or_else(|| name.clone());
        if f.status == crate::analyzer::load::FileStatus::Skipped
            && f.skip == Some(crate::analyzer::load::Skip::NotCloudTrail)
        {
            continue;
        }
        if f.status == crate::analyzer::load::FileStatus::Digest {
            if f.path.to_str().is_some_and(|p| p.starts_with("s3://")) {
                continue;
            }
            if !crate::analyzer::verify::in_scope(&name, window) {
                continue;
            }
            if let Some(d) = local_digest(&f.path, limits) {
                ins.digests.push(d);
            }
        } else if f.status != crate::analyzer::load::FileStatus::OutsideWindow {
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
    let uris: Vec<S3Uri> = paths.iter().filter_map(|p| S3Uri::of_path(p)).collect();
    let mut s3 = None;
    if !uris.is_empty() {
        let conn = S3::connect(opts).map_err(GatherError::Connect)?;
        let (d, _) = from_s3(&conn, &uris, window, opts, limits, false)?;
        ins.digests.extend(d);
        s3 = Some(conn);
    }
    ins.keys = keys_for(&ins, s3.as_ref(), &local, opts, key_opts)?;
    Ok(ins)
}

/// The keyring for the digests of `ins`: fetched from AWS when some input is in S3 (`s3` is
/// its connection) or with `--online`, from the mirrors under `local` unless `--online`,
/// narrowed to `--public-keys`.
fn keys_for(
    ins: &Inputs,
    s3: Option<&S3>,
    local: &[PathBuf],
    opts: &S3Options,
    key_opts: &KeyOptions,
) -> Result<Keyring, GatherError> {
    let mirror = local_keys(local)?;
    let tails = ins.digests.iter().map(|d| d.tail.as_str());
    let fetched = match (s3, key_opts.online) {
        _ if ins.digests.is_empty() => None,
        (Some(conn), _) => Some(s3_keys(conn, tails)?),
        (None, true) => Some(s3_keys(
            &S3::connect(opts).map_err(GatherError::Connect)?,
            tails,
        )?),
        (None, false) => None,
    };
    keyring(mirror, fetched, key_opts)
}
