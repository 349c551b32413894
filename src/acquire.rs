//! Where a report's input comes from: the paths given, the local store, and what the
//! LookupEvents API adds to the store first.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::cli::ApiArgs;
use crate::source::api::{self, ApiError, ApiOptions, Fetched, Progress};
use crate::source::store::{Store, StoreError};
use crate::timefmt::{Millis, Window};

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("no store directory: pass --store DIR (no cache directory is known here)")]
    NoStore,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

pub struct Acquired {
    /// What to ingest: the given paths, then the store (or the fetched account's part of it).
    pub paths: Vec<PathBuf>,
    pub fetched: Option<Fetched>,
}

/// CloudTrail delivers to LookupEvents within about 15 minutes: younger ranges are fetched but
/// not marked fetched, so the next run asks again.
const SETTLE: Millis = 15 * 60 * 1000;

static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
/// The stop flag of the fetch under way, if any.
static FETCH_STOP: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// One runtime for the process. Once a Ctrl-C handler is installed it stays installed, so the
/// runtime serving it must stay too: the first Ctrl-C during a fetch stops it cleanly (what was
/// fetched is kept); any other ends the process, as Ctrl-C always does.
fn runtime() -> Result<&'static tokio::runtime::Runtime, AcquireError> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AcquireError::Runtime)?;
    let rt = RUNTIME.get_or_init(|| rt);
    rt.spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            let stop = FETCH_STOP.lock().expect("not poisoned").clone();
            if stop.is_some_and(|s| !s.swap(true, Ordering::SeqCst)) {
                continue;
            }
            std::process::exit(crate::exit::INTERRUPTED);
        }
    });
    Ok(rt)
}

pub fn acquire(
    paths: &[PathBuf],
    api: &ApiArgs,
    window: Window,
    now: Millis,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Acquired, AcquireError> {
    let mut out = Acquired {
        paths: paths.to_vec(),
        fetched: None,
    };
    if !api.from_api && api.store.is_none() {
        return Ok(out);
    }
    let root = match &api.store {
        Some(d) => d.clone(),
        None => Store::default_root().ok_or(AcquireError::NoStore)?,
    };
    let store = Store::open(root)?;
    if !api.from_api {
        out.paths.push(store.trail_dir(None)?);
        return Ok(out);
    }
    let regions: Vec<String> = if api.regions.iter().any(|r| r == "all") {
        api::DEFAULT_REGIONS.iter().map(|r| r.to_string()).collect()
    } else {
        api.regions.clone()
    };
    let opts = ApiOptions {
        regions,
        profile: api.profile.clone(),
        endpoint_url: api.endpoint_url.clone(),
        full: api.full,
        since: window
            .since
            .unwrap_or(now - api::RETENTION.as_millis() as Millis),
        until: window.until.unwrap_or(now),
        now,
        settle: SETTLE,
        // 2 calls per second is the limit; 600 ms apart keeps any three starts 1.2 s apart, so
        // up to 200 ms of network jitter cannot put three into one second at AWS's end.
        min_interval: Duration::from_millis(600),
        retry_base: Duration::from_millis(100),
    };
    let rt = runtime()?;
    *FETCH_STOP.lock().expect("not poisoned") = Some(stop.clone());
    let fetched = rt.block_on(api::fetch(&opts, &store, progress, stop));
    *FETCH_STOP.lock().expect("not poisoned") = None;
    let fetched = fetched?;
    out.paths.push(store.trail_dir(Some(&fetched.account))?);
    out.fetched = Some(fetched);
    Ok(out)
}

/// What a report made from the API cannot see, for stderr and the manifest.
pub fn blind_spots(f: &Fetched) -> Vec<String> {
    let mut v = vec![
        format!(
            "source: CloudTrail LookupEvents, account {}, regions fetched: {}",
            f.account,
            f.regions.join(", ")
        ),
        "blind spot: LookupEvents holds management events only; S3 object reads and writes, Lambda invokes and other data events are not in this report".into(),
        "blind spot: LookupEvents keeps the last 90 days only".into(),
        "blind spot: regions not fetched are not covered (calls to the global STS endpoint are logged in us-east-1)".into(),
    ];
    if !f.full {
        v.push("blind spot: calls are fetched by access key; a call whose record carries no accessKeyId is only fetched with --full".into());
    }
    if f.before_retention {
        v.push(
            "blind spot: the window starts more than 90 days ago; the part before that is not available from the API".into(),
        );
    }
    v
}
