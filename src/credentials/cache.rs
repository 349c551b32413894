//! The credential cache. The AWS CLI runs a credential_process on every command, so a warm cache
//! is the common path and must be fast; and N processes starting at once must make one STS call.
//!
//! One file per key, `<sha256>.json`, in a 0700 directory, written 0600 via a temporary file and a
//! rename. A file that does not parse, names another key, is readable by others or is about to
//! expire is ignored and replaced: a cache entry is never trusted for more than it proves.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::deadline::Deadline;
use super::process::ProcessCredentials;

const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("credential cache {}: {source}", crate::base::text::quoted(path))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "gave up after {:.1} s waiting for another janus-audit fetching the same credentials (it holds {})",
        waited.as_secs_f64(),
        crate::base::text::quoted(path)
    )]
    LockTimeout { path: PathBuf, waited: Duration },
}

/// Everything that makes two requests interchangeable. Hashing it names the file.
#[derive(Debug, Serialize)]
pub struct CacheKey<'a> {
    pub role_arn: &'a str,
    pub audience: &'a str,
    /// e.g. `metadata:metadata.google.internal`, `file:/path`, `impersonate:sa@…`.
    pub token_source: String,
    /// The template, not the resolved name: resolving it costs metadata calls, and the cache is
    /// per machine anyway.
    pub session_template: &'a str,
    pub duration_seconds: i32,
    pub region: &'a str,
    pub endpoint: Option<&'a str>,
}

impl CacheKey<'_> {
    pub fn digest(&self) -> String {
        let json = serde_json::to_vec(self).expect("plain struct serialises");
        crate::base::hash::sha256_hex(&json)
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    format: u32,
    key: String,
    credentials: ProcessCredentials,
}

pub struct Cache {
    dir: PathBuf,
    key: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `$XDG_CACHE_HOME/janus-audit/credentials` or the platform's equivalent.
pub fn default_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("janus-audit").join("credentials"))
}

impl Cache {
    /// Open (creating 0700 if needed) the cache directory. An existing directory that others can
    /// read is tightened to 0700.
    pub fn open(dir: &Path, key: &CacheKey<'_>) -> Result<Cache, CacheError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let mode = fs::metadata(dir).map_err(io(dir))?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        }
        Ok(Cache {
            dir: dir.to_path_buf(),
            key: key.digest(),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.key))
    }

    /// Credentials from the cache if they are ours and valid for at least `min_remaining`.
    pub fn read(&self, min_remaining: Duration, now: DateTime<Utc>) -> Option<ProcessCredentials> {
        let path = self.path();
        let meta = fs::metadata(&path).ok()?;
        // A FIFO would block the read forever, a device could be endless.
        if !meta.is_file() {
            tracing::warn!(
                "ignoring {}: not a regular file; it will be replaced",
                crate::base::text::quoted(&path)
            );
            return None;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "ignoring {}: readable by others; it will be replaced",
                crate::base::text::quoted(&path)
            );
            return None;
        }
        // Another user's file, even 0600, holds credentials that user chose.
        {
            use std::os::unix::fs::MetadataExt;
            // SAFETY: geteuid(2) cannot fail.
            let me = unsafe { libc::geteuid() };
            if meta.uid() != me {
                tracing::warn!(
                    "ignoring {}: owned by uid {}, not by this user; it will be replaced",
                    crate::base::text::quoted(&path),
                    meta.uid()
                );
                return None;
            }
        }
        let text = fs::read(&path).ok()?;
        let entry: Entry = match serde_json::from_slice(&text) {
            Ok(e) => e,
            Err(_) => {
                tracing::warn!(
                    "ignoring damaged cache file {}; it will be replaced",
                    crate::base::text::quoted(&path)
                );
                return None;
            }
        };
        if entry.format != FORMAT || entry.key != self.key {
            tracing::warn!(
                "ignoring foreign cache file {}; it will be replaced",
                crate::base::text::quoted(&path)
            );
            return None;
        }
        let expires = DateTime::parse_from_rfc3339(&entry.credentials.expiration).ok()?;
        let left = expires.with_timezone(&Utc) - now;
        let fresh = left.to_std().is_ok_and(|left| left >= min_remaining);
        if !fresh {
            tracing::debug!("cached credentials expire at {expires}: refreshing");
            return None;
        }
        tracing::debug!(
            "serving credentials from {}",
            crate::base::text::quoted(&path)
        );
        Some(entry.credentials)
    }

    /// Write atomically: readers see the old file or the new one, never half of one.
    pub fn write(&self, creds: &ProcessCredentials) -> Result<(), CacheError> {
        let entry = Entry {
            format: FORMAT,
            key: self.key.clone(),
            credentials: creds.clone(),
        };
        let path = self.path();
        let json = serde_json::to_vec(&entry).map_err(|e| io(&path)(std::io::Error::other(e)))?;
        crate::base::atomic::replace_bytes(&path, &json).map_err(|e| io(&path)(e.source))
    }

    /// Take the cross-process lock for this key, waiting for another holder at most until the
    /// deadline. Released when the returned file is dropped.
    pub async fn lock(&self, deadline: &Deadline) -> Result<File, CacheError> {
        let path = self.dir.join(format!("{}.lock", self.key));
        if fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            // Opening a FIFO for writing blocks until a reader comes.
            return Err(io(&path)(std::io::Error::other("not a regular file")));
        }
        let started = std::time::Instant::now();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(fs::TryLockError::WouldBlock) => {
                    if deadline.remaining() < Duration::from_millis(20) {
                        return Err(CacheError::LockTimeout {
                            path,
                            waited: started.elapsed(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(5 + fastrand::u64(0..10))).await;
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
            }
        }
    }
}
