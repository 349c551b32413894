//! One role's credentials in a long-running server: fetched through the same path as
//! `credentials` (cache, lock, token, session name, STS with retries), renewed in the background
//! before they come within the margin of expiry, and never handed out inside that margin.
//! One refresh at a time per role, whoever asks: 50 clients arriving together cause one STS call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::credentials::process::ProcessCredentials;
use crate::credentials::{self, Options};

use super::log::Log;

pub struct Role {
    /// Where it is served: `/role/<account>/<name>`.
    pub path: String,
    opts: Options,
    margin: Duration,
    current: RwLock<Option<(ProcessCredentials, DateTime<Utc>)>>,
    refresh: tokio::sync::Mutex<()>,
    /// Why the last renewal failed, until one succeeds.
    failing: RwLock<Option<String>>,
    /// When the last [`STS_CALLS`] renewals started.
    started: Mutex<VecDeque<Instant>>,
    log: Log,
}

/// At most this many renewals (each at most one STS call per attempt) start in any
/// [`STS_WINDOW`], whatever STS answers: a server must never flood STS (and CloudTrail) when
/// it hands out credentials that are no use.
pub const STS_CALLS: usize = 5;
pub const STS_WINDOW: Duration = Duration::from_secs(10);

/// Why a renewal gave no credentials to hand out. Its text is what a client is told (503) and
/// the log says, so it holds nothing secret: STS's and the token source's messages are scrubbed.
#[derive(Debug, Clone, thiserror::Error)]
enum RenewError {
    #[error("{0}")]
    Fetch(String),
    #[error("STS gave an unreadable expiration")]
    Expiration,
    #[error(
        "STS issued credentials with {left}s of validity left, less than the refresh margin ({margin}s)"
    )]
    TooShort { left: u64, margin: u64 },
}

/// What a request for the role gets.
pub enum Answer {
    Credentials {
        creds: ProcessCredentials,
        remaining: Duration,
    },
    /// No credentials with the margin left: why (scrubbed of secrets).
    Unavailable(String),
}

/// `/role/<account>/<name>` for `arn:aws:iam::<account>:role/[path/]<name>`.
pub fn path_of(role_arn: &str) -> String {
    let account = crate::base::arn::account_from_arn(role_arn).unwrap_or("unknown");
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    format!("/role/{account}/{name}")
}

impl Role {
    pub fn new(opts: Options, margin: Duration, log: Log) -> Role {
        Role {
            path: path_of(&opts.role_arn),
            opts,
            margin,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            failing: RwLock::new(None),
            started: Mutex::new(VecDeque::with_capacity(STS_CALLS)),
            log,
        }
    }

    pub fn role_arn(&self) -> &str {
        &self.opts.role_arn
    }

    /// The current credentials while at least the margin of validity remains.
    fn usable(&self) -> Option<(ProcessCredentials, Duration)> {
        let now = Utc::now();
        let cur = self.current.read().unwrap_or_else(|e| e.into_inner());
        let (creds, expires) = cur.as_ref()?;
        let remaining = (*expires - now).to_std().ok()?;
        (remaining >= self.margin).then(|| (creds.clone(), remaining))
    }

    fn expires(&self) -> Option<DateTime<Utc>> {
        let cur = self.current.read().unwrap_or_else(|e| e.into_inner());
        cur.as_ref().map(|(_, e)| *e)
    }

    pub async fn answer(&self) -> Answer {
        if let Some((creds, remaining)) = self.usable() {
            return Answer::Credentials { creds, remaining };
        }
        // While STS is failing, a renewal in progress (retrying for up to its budget) is not
        // waited for: the answer is 503 now, with the last failure.
        let _one = match self.refresh.try_lock() {
            Ok(g) => g,
            Err(_) => {
                let failing = self
                    .failing
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                match failing {
                    Some(why) => return Answer::Unavailable(why),
                    None => self.refresh.lock().await,
                }
            }
        };
        // While renewals fail and STS has been asked as often as it may be, say why now
        // rather than hold the client until STS may be asked again.
        if let Some(why) = self
            .failing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            && self.saturated()
        {
            return Answer::Unavailable(why);
        }
        // Whoever held the lock may have renewed them meanwhile.
        if let Some((creds, remaining)) = self.usable() {
            return Answer::Credentials { creds, remaining };
        }
        match self.renew().await {
            Ok(()) => match self.usable() {
                Some((creds, remaining)) => Answer::Credentials { creds, remaining },
                None => Answer::Unavailable(
                    "STS issued credentials that expire within the refresh margin".into(),
                ),
            },
            Err(why) => Answer::Unavailable(why.to_string()),
        }
    }

    /// Whether [`STS_CALLS`] renewals started within the last [`STS_WINDOW`].
    fn saturated(&self) -> bool {
        let started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        started.len() >= STS_CALLS && started.front().is_some_and(|t| t.elapsed() < STS_WINDOW)
    }

    /// Fetch credentials newer than the current ones (the cache may hold some another process
    /// renewed; STS otherwise). The caller holds `refresh`.
    async fn renew(&self) -> Result<(), RenewError> {
        // Wait for the oldest of the last few renewals to leave the window.
        loop {
            let wait = {
                let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while started
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= STS_WINDOW)
                {
                    started.pop_front();
                }
                if started.len() < STS_CALLS {
                    started.push_back(now);
                    None
                } else {
                    started.front().map(|t| STS_WINDOW - now.duration_since(*t))
                }
            };
            match wait {
                None => break,
                Some(w) => tokio::time::sleep(w).await,
            }
        }
        let mut opts = self.opts.clone();
        let held = self
            .expires()
            .and_then(|e| (e - Utc::now()).to_std().ok())
            .unwrap_or_default();
        opts.min_remaining = self.margin.max(held + Duration::from_secs(1));
        let fetched = credentials::fetch(&opts).await;
        // A renewal builds and drops HTTP clients and TLS roots; give the freed heap back, so an
        // idle server stays small (glibc keeps it otherwise). A build with the analyzer
        // allocates through jemalloc, whose background thread returns it within a second.
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only releases free memory.
        unsafe {
            libc::malloc_trim(0);
        }
        match fetched {
            Ok(c) => {
                let expires = DateTime::parse_from_rfc3339(&c.expiration)
                    .map_err(|_| RenewError::Expiration)?
                    .with_timezone(&Utc);
                (self.log)(format!(
                    "{}: credentials {} until {}",
                    self.path, c.access_key_id, c.expiration
                ));
                let left = (expires - Utc::now()).to_std().unwrap_or_default();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((c, expires));
                if left < self.margin {
                    // Already expired, or too close to it to hand out: a failure, retried with
                    // backoff, not at once.
                    let why = RenewError::TooShort {
                        left: left.as_secs(),
                        margin: self.margin.as_secs(),
                    };
                    (self.log)(format!("{}: refresh failed: {why}", self.path));
                    *self.failing.write().unwrap_or_else(|e| e.into_inner()) =
                        Some(why.to_string());
                    return Err(why);
                }
                *self.failing.write().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(())
            }
            Err(e) => {
                let why = RenewError::Fetch(credentials::secret::scrub(&e.to_string()));
                (self.log)(format!("{}: refresh failed: {why}", self.path));
                *self.failing.write().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
                Err(why)
            }
        }
    }

    /// Renew in the background at the margin (plus jitter, so that servers started together do
    /// not call STS together) before expiry; after a failure, try again with backoff.
    pub async fn keep_fresh(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let wait = match (failures, self.expires()) {
                (0, Some(exp)) => {
                    let lifetime_left = (exp - Utc::now()).to_std().unwrap_or_default();
                    let jitter = self
                        .margin
                        .min(lifetime_left / 5)
                        .mul_f64(fastrand::f64() * 0.5);
                    lifetime_left.saturating_sub(self.margin + jitter)
                }
                _ => Duration::from_millis(500)
                    .saturating_mul(1 << failures.min(6))
                    .mul_f64(0.5 + fastrand::f64() * 0.5),
            };
            // Never spin, whatever lifetime STS hands out.
            tokio::time::sleep(wait.max(Duration::from_millis(200))).await;
            let _one = self.refresh.lock().await;
            let due = self.expires().is_none_or(|exp| {
                (exp - Utc::now()).to_std().unwrap_or_default() <= self.margin.mul_f64(1.5)
            });
            if !due && failures == 0 {
                continue;
            }
            failures = match self.renew().await {
                Ok(()) => 0,
                Err(_) => failures + 1,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_role_has_its_own_path() {
        assert_eq!(
            super::path_of("arn:aws:iam::123456789012:role/service-role/etl"),
            "/role/123456789012/etl"
        );
    }
}
