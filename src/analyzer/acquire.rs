//! Where a report's input comes from: the paths given, the local store, and what the
//! LookupEvents API adds to the store first.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::analyzer::notice::Notice;
use crate::analyzer::source::api::{self, ApiError, ApiOptions, Fetched, Progress};
use crate::analyzer::source::store::{Store, StoreError};
use crate::base::timefmt::{Millis, Window};

/// The LookupEvents API as a source, and the local store it fills.
#[derive(Debug, Clone, Default)]
pub struct ApiSource {
    /// Fetch into the store first (else, with `store`, report from the store alone).
    pub from_api: bool,
    /// Regions, or `all` for every region enabled by default.
    pub regions: Vec<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    /// Every event in the window, not just assumptions and the issued keys' calls.
    pub full: bool,
    /// Always by key, even where reading a region whole would cost less.
    pub by_key: bool,
    /// Follow every web identity provider's keys (`--provider any`), not only Google's.
    pub all_providers: bool,
    /// Fetch the trust policies' history too (CreateRole, UpdateAssumeRolePolicy): `trust`.
    pub policy_history: bool,
    /// `None`: the default store under the cache directory.
    pub store: Option<PathBuf>,
}

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

/// Ctrl-C during a fetch. The process's signal handler (the binary's) asks [`Interrupt::request`]
/// whether a fetch took the request; if none is under way, the handler ends the process itself.
#[derive(Debug, Default)]
pub struct Interrupt {
    armed: AtomicBool,
    stop: Arc<AtomicBool>,
}

impl Interrupt {
    /// True when a fetch under way will stop cleanly (what it fetched is kept); false when no
    /// fetch is listening, or one was already asked to stop.
    pub fn request(&self) -> bool {
        self.armed.load(Ordering::SeqCst) && !self.stop.swap(true, Ordering::SeqCst)
    }
}

/// A report's input, ready to ingest.
pub struct Input {
    /// What to ingest: the given paths, then the store (or the fetched account's part of it).
    pub paths: Vec<PathBuf>,
    /// Every planned API lookup succeeded (always true for files).
    pub complete: bool,
    /// Where the input came from and, for the API, what it cannot see: for a manifest.
    pub source: serde_json::Value,
    /// Reading the store: finding nothing there is an empty report, not a missing input.
    pub from_store: bool,
    /// A fetch was interrupted: nothing should be reported from a partial store.
    pub interrupted: bool,
}

/// CloudTrail delivers to LookupEvents within about 15 minutes: younger ranges are fetched but
/// not marked fetched, so the next run asks again.
const SETTLE: Millis = 15 * 60 * 1000;

/// The paths, and the store when asked for, after fetching into it from the API (with `progress`
/// counting as it goes). What the fetch could not do, and what the API cannot see, is told.
pub fn acquire(
    paths: &[PathBuf],
    api: &ApiSource,
    window: Window,
    progress: Arc<Progress>,
    interrupt: &Interrupt,
    tell: &mut dyn FnMut(Notice),
) -> Result<Input, AcquireError> {
    let mut input = Input {
        paths: paths.to_vec(),
        complete: true,
        source: serde_json::json!({"kind": if api.store.is_some() { "store" } else { "files" }}),
        from_store: api.store.is_some(),
        interrupted: false,
    };
    if !api.from_api && api.store.is_none() {
        return Ok(input);
    }
    let root = match &api.store {
        Some(d) => d.clone(),
        None => Store::default_root().ok_or(AcquireError::NoStore)?,
    };
    let store = Store::open(root)?;
    if !api.from_api {
        input.paths.push(store.trail_dir(None)?);
        return Ok(input);
    }
    let fetched = fetch(api, &store, window, progress.clone(), interrupt)?;
    input.paths.push(store.trail_dir(Some(&fetched.account))?);
    input.from_store = true;
    input.complete = fetched.failures.is_empty();
    for failure in &fetched.failures {
        tell(Notice::Problem(format!(
            "not fetched: {failure} (what came before is kept; run again to resume)"
        )));
    }
    if fetched.interrupted {
        tell(Notice::Problem(
            "interrupted: what was fetched is in the store; run the same command again to resume"
                .into(),
        ));
        input.interrupted = true;
        return Ok(input);
    }
    let spots = blind_spots(&fetched);
    tell(Notice::Info(progress.summary()));
    for note in &fetched.plan_notes {
        tell(Notice::Info(note.clone()));
    }
    for s in &spots {
        tell(Notice::Info(s.clone()));
    }
    input.source = serde_json::json!({
        "kind": "cloudtrail-lookup-events",
        "account": fetched.account,
        "regions": fetched.regions,
        "read_whole": fetched.read_whole,
        "plan": fetched.plan_notes,
        "failed_lookups": fetched.failures.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "coverage": spots,
    });
    Ok(input)
}

fn fetch(
    api: &ApiSource,
    store: &Store,
    window: Window,
    progress: Arc<Progress>,
    interrupt: &Interrupt,
) -> Result<Fetched, AcquireError> {
    let now = chrono::Utc::now().timestamp_millis();
    let regions: Vec<String> = if api.regions.iter().any(|r| r == "all") {
        api::DEFAULT_REGIONS.iter().map(|r| r.to_string()).collect()
    } else if api.regions.is_empty() {
        vec!["us-east-1".to_string()]
    } else {
        api.regions.clone()
    };
    let opts = ApiOptions {
        regions,
        profile: api.profile.clone(),
        endpoint_url: api.endpoint_url.clone(),
        full: api.full,
        by_key: api.by_key,
        all_providers: api.all_providers,
        policy_history: api.policy_history,
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AcquireError::Runtime)?;
    interrupt.armed.store(true, Ordering::SeqCst);
    let fetched = rt.block_on(api::fetch(&opts, store, progress, interrupt.stop.clone()));
    interrupt.armed.store(false, Ordering::SeqCst);
    Ok(fetched?)
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
    let by_key: Vec<&str> = f
        .regions
        .iter()
        .filter(|r| !f.read_whole.contains(r))
        .map(String::as_str)
        .collect();
    if !f.full && !by_key.is_empty() {
        v.push(format!("blind spot: calls are fetched by access key in {}; a call whose record carries no accessKeyId is only fetched with --full", by_key.join(", ")));
    }
    if f.policy_history_missed {
        v.push(
            "blind spot: IAM logs the trust policies' changes (CreateRole, UpdateAssumeRolePolicy) in us-east-1, which was not fetched: no policy history from the API (add us-east-1 to --regions)"
                .into(),
        );
    }
    if f.before_retention {
        v.push(
            "blind spot: the window starts more than 90 days ago; the part before that is not available from the API".into(),
        );
    }
    v
}
