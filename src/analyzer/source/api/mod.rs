//! The CloudTrail LookupEvents API as a source: fetch into the local store, within AWS limits,
//! resumably, and only what the store does not already hold.
//!
//! Plan (the default): AssumeRoleWithWebIdentity events in each region, then the events of each
//! key they issued to the selected providers (`AccessKeyId=`) in every region, then the events of
//! each key chained from those (an AssumeRole made with one of them), until no new key appears.
//! Where a region's whole window costs fewer requests than its keys' lookups (each key costs at
//! least one), that region is read whole instead: the whole window is tried first with that
//! many requests as its budget, and kept when it fits. `--full` reads every region whole;
//! `--by-key` never does. One lookup attribute per call, 50 events per page, at most 2 calls per
//! second per region: each region has its own limiter and runs concurrently with the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudtrail::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_smithy_types::DateTime as SmithyTime;
use tokio::sync::Mutex;

use crate::analyzer::source::s3::{AwsFailure, describe};

mod keys;
mod pace;
mod records;

use crate::analyzer::source::store::{Checkpoints, Store, StoreError};
use crate::base::timefmt::Millis;
use keys::{AFTER_EXPIRY, ARWWI, Keys, chained_keys, root_keys};
use pace::{Limiter, backoff};
use records::{KEY_LIFETIME, record_time, redact_session_token};

/// A region's first lookups: its assumptions from `start`, and in IAM's region, when asked, the
/// changes of trust policies in the window.
fn first_lookups(region: &str, start: Millis, opts: &ApiOptions) -> Vec<(String, Millis, Millis)> {
    let mut lookups = vec![(ARWWI.to_string(), start, opts.until)];
    if opts.policy_history && region == IAM_REGION {
        lookups.extend(POLICY_CHANGES.map(|e| (format!("EventName={e}"), opts.since, opts.until)));
    }
    lookups
}

/// IAM is global: CloudTrail logs its calls in us-east-1.
const IAM_REGION: &str = "us-east-1";
/// The calls that set a role's trust policy, looked up by name for `trust`.
const POLICY_CHANGES: [&str; 2] = ["CreateRole", "UpdateAssumeRolePolicy"];

/// Regions enabled in every AWS account; opt-in regions must be named in `--regions`.
pub const DEFAULT_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
];

/// LookupEvents keeps 90 days of management events.
pub const RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);
const PAGES_PER_FLUSH: u32 = 10;

pub struct ApiOptions {
    pub regions: Vec<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub full: bool,
    /// Never read a region whole, however cheaper it would be.
    pub by_key: bool,
    /// Follow the keys of every web identity provider, not only Google's.
    pub all_providers: bool,
    /// Also look up the trust policies' changes (IAM logs them in us-east-1).
    pub policy_history: bool,
    pub since: Millis,
    pub until: Millis,
    pub now: Millis,
    /// Events younger than this may not be in LookupEvents yet: never marked as fetched.
    pub settle: Millis,
    /// Spacing of calls per region: 500 ms would be exactly the 2-per-second limit.
    pub min_interval: Duration,
    pub retry_base: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot tell which AWS account the credentials belong to (sts:GetCallerIdentity): {0}")]
    Account(AwsFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("region {region}: {attribute}: {failure}")]
    Lookup {
        region: String,
        attribute: String,
        failure: AwsFailure,
    },
}

/// Live counters for a progress line.
#[derive(Default)]
pub struct Progress {
    pub requests: AtomicU64,
    pub pages: AtomicU64,
    pub events: AtomicU64,
    pub throttled: AtomicU64,
    pub retried: AtomicU64,
    pub lookups_done: AtomicU64,
    pub lookups_planned: AtomicU64,
    pub region: std::sync::Mutex<String>,
}

impl Progress {
    /// The closing line of a fetch: what it cost.
    pub fn summary(&self) -> String {
        format!(
            "LookupEvents: {} request(s), {} page(s), {} event(s), {} throttled and retried, {} other retries",
            self.requests.load(Ordering::Relaxed),
            self.pages.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
        )
    }

    /// The live line of a fetch: region, pages, events, lookups and a rough time left.
    pub fn status(&self, elapsed: Duration) -> String {
        let lookups = self.lookups_done.load(Ordering::Relaxed);
        let planned = self.lookups_planned.load(Ordering::Relaxed);
        let left = (lookups > 0 && planned > lookups)
            .then(|| elapsed.as_secs() * (planned - lookups) / lookups);
        format!(
            "LookupEvents {}: {} page(s), {} event(s), lookup {lookups}/{planned}{}",
            self.region.lock().map(|r| r.clone()).unwrap_or_default(),
            self.pages.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
            left.map(|s| format!(", ~{s}s left")).unwrap_or_default(),
        )
    }
}

pub struct Fetched {
    pub account: String,
    pub full: bool,
    pub regions: Vec<String>,
    /// Regions the default plan read whole, because that was cheaper than by key.
    pub read_whole: Vec<String>,
    /// What the plan decided and why, one line each.
    pub plan_notes: Vec<String>,
    /// Lookups that failed after their retries; what they fetched before failing is kept.
    pub failures: Vec<ApiError>,
    pub interrupted: bool,
    /// The window reached further back than LookupEvents keeps.
    pub before_retention: bool,
    /// The trust policies' changes were asked for, but IAM's region was not among those fetched.
    pub policy_history_missed: bool,
}

struct Region {
    name: String,
    client: aws_sdk_cloudtrail::Client,
    limiter: Limiter,
}

/// One region's lookups: (attribute, start, end).
/// One lookup: an attribute (`Name=value`, or `*` for every event) over `[start, end)`.
type Lookup = (String, Millis, Millis);
type Plan = (Arc<Region>, Vec<Lookup>);

/// The account the credentials belong to, and one client and limiter per region.
async fn connect(opts: &ApiOptions) -> Result<(String, Vec<Arc<Region>>), ApiError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // Retries are ours: each attempt must pass the limiter, and throttling is never fatal.
        .retry_config(RetryConfig::disabled());
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    let shared = loader
        .region(aws_config::Region::new(opts.regions[0].clone()))
        .load()
        .await;
    let account = aws_sdk_sts::Client::new(&shared)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| ApiError::Account(describe(&e)))?
        .account
        .ok_or_else(|| ApiError::Account(AwsFailure::of("no account in the answer")))?;
    let regions = opts
        .regions
        .iter()
        .map(|r| {
            let mut b = aws_sdk_cloudtrail::config::Builder::from(&shared)
                .region(aws_config::Region::new(r.clone()));
            if let Some(url) = &opts.endpoint_url {
                b = b.endpoint_url(url);
            }
            Arc::new(Region {
                name: r.clone(),
                client: aws_sdk_cloudtrail::Client::from_conf(b.build()),
                limiter: Limiter::new(opts.min_interval),
            })
        })
        .collect();
    Ok((account, regions))
}

pub async fn fetch(
    opts: &ApiOptions,
    store: &Store,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
) -> Result<Fetched, ApiError> {
    let (account, regions) = connect(opts).await?;
    let checkpoints = Arc::new(Mutex::new(store.checkpoints(&account)?));
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        account: account.clone(),
        checkpoints,
        progress,
        stop,
        settled_until: opts.now - opts.settle,
        retry_base: opts.retry_base,
    });
    let mut failures = Vec::new();
    let mut read_whole = Vec::new();
    let mut plan_notes = Vec::new();

    if opts.full {
        let plans = regions
            .iter()
            .map(|r| (r.clone(), vec![("*".to_string(), opts.since, opts.until)]))
            .collect();
        failures.extend(run_plans(&ctx, plans, None).await.0);
    } else {
        // Step 1: the assumptions, from up to a key's lifetime before the window.
        let start = opts.since - KEY_LIFETIME;
        let plans = regions
            .iter()
            .map(|r| (r.clone(), first_lookups(&r.name, start, opts)))
            .collect();
        failures.extend(run_plans(&ctx, plans, None).await.0);
        // Step 2: every key issued (now or in an earlier run) that could be used in the window,
        // then the keys chained from them, level by level.
        let mut keys = root_keys(store, &account, start, opts.until, opts.all_providers)?;
        let mut by_key: Vec<Arc<Region>> = regions.clone();
        if !opts.by_key && !ctx.stop.load(Ordering::SeqCst) {
            let needed = key_lookups(&keys, opts).len() as u32;
            let plan = choose(&ctx, &regions, opts, needed).await;
            failures.extend(plan.failures);
            by_key.retain(|r| plan.by_key.contains(&r.name));
            read_whole = plan.read_whole;
            plan_notes = plan.notes;
        }
        let mut looked = std::collections::BTreeSet::new();
        loop {
            let new: Keys = keys
                .iter()
                .filter(|(k, _)| !looked.contains(*k))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            if new.is_empty() || ctx.stop.load(Ordering::SeqCst) {
                break;
            }
            let plans = by_key
                .iter()
                .map(|r| (r.clone(), key_lookups(&new, opts)))
                .collect();
            failures.extend(run_plans(&ctx, plans, None).await.0);
            looked.extend(new.into_keys());
            for (k, v) in chained_keys(store, &account, start, opts.until, &keys)? {
                keys.entry(k).or_insert(v);
            }
        }
    }
    let retention_start = opts.now - RETENTION.as_millis() as Millis;
    Ok(Fetched {
        account,
        full: opts.full,
        regions: opts.regions.clone(),
        read_whole,
        plan_notes,
        failures,
        interrupted: ctx.stop.load(Ordering::SeqCst),
        before_retention: opts.since < retention_start,
        policy_history_missed: opts.policy_history && !opts.regions.iter().any(|r| r == IAM_REGION),
    })
}

/// The lookups that fetch each key's calls in the window: from its issue (or the window's start)
/// to a while after it expires (or the window's end).
fn key_lookups(keys: &Keys, opts: &ApiOptions) -> Vec<Lookup> {
    keys.iter()
        .filter_map(|((key, issued), expires)| {
            let s = (*issued).max(opts.since);
            let e = (expires + AFTER_EXPIRY).min(opts.until);
            (s < e).then(|| (format!("AccessKeyId={key}"), s, e))
        })
        .collect()
}

/// Which regions to read whole and which by key.
struct Choice {
    failures: Vec<ApiError>,
    /// The regions to read by key.
    by_key: std::collections::BTreeSet<String>,
    read_whole: Vec<String>,
    notes: Vec<String>,
}

/// Each region read whole, with a budget of one request per key lookup it needs (`needed`): one
/// that finishes within it is read; one that does not is read by key.
async fn choose(ctx: &Arc<Ctx>, regions: &[Arc<Region>], opts: &ApiOptions, needed: u32) -> Choice {
    let plans = regions
        .iter()
        .map(|r| (r.clone(), vec![("*".to_string(), opts.since, opts.until)]))
        .collect();
    let (failures, over) = run_plans(ctx, plans, Some(needed.max(1))).await;
    let mut choice = Choice {
        failures,
        by_key: over,
        read_whole: Vec::new(),
        notes: Vec::new(),
    };
    for r in regions {
        let whole = !choice.by_key.contains(&r.name);
        if whole {
            choice.read_whole.push(r.name.clone());
        }
        choice.notes.push(format!(
            "plan: {}: {}",
            r.name,
            if whole {
                format!("the whole window took at most {needed} request(s), no more than its keys' {needed} lookup(s): read whole")
            } else {
                format!("the whole window needs more than its keys' {needed} lookup(s): read by key")
            }
        ));
    }
    choice
}

struct Ctx {
    store: Store,
    account: String,
    checkpoints: Arc<Mutex<Checkpoints>>,
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    settled_until: Millis,
    retry_base: Duration,
}

/// Run each region's lookups in order, regions concurrently; the gaps of each lookup only. With
/// a `budget`, a region stops after that many pages (what it fetched is kept) and is named in
/// the second part of the answer.
async fn run_plans(
    ctx: &Arc<Ctx>,
    plans: Vec<Plan>,
    budget: Option<u32>,
) -> (Vec<ApiError>, std::collections::BTreeSet<String>) {
    let mut tasks = Vec::new();
    for (region, lookups) in plans {
        let mut todo = Vec::new();
        {
            let c = ctx.checkpoints.lock().await;
            for (attr, s, e) in lookups {
                let covered = c
                    .covered
                    .get(&Checkpoints::key(&region.name, &attr))
                    .cloned()
                    .unwrap_or_default();
                for (gs, ge) in covered.gaps(s, e) {
                    todo.push((attr.clone(), gs, ge));
                }
            }
        }
        ctx.progress
            .lookups_planned
            .fetch_add(todo.len() as u64, Ordering::Relaxed);
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut pages_left = budget;
            let mut over = false;
            for (attr, s, e) in todo {
                if ctx.stop.load(Ordering::SeqCst) {
                    break;
                }
                *ctx.progress.region.lock().expect("not poisoned") = region.name.clone();
                match lookup(&ctx, &region, &attr, s, e, &mut pages_left).await {
                    Ok(true) => {}
                    Ok(false) => over = true,
                    Err(err) => errors.push(err),
                }
                ctx.progress.lookups_done.fetch_add(1, Ordering::Relaxed);
                if over {
                    break;
                }
            }
            (errors, over.then(|| region.name.clone()))
        }));
    }
    let mut errors = Vec::new();
    let mut over = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await {
            Ok((e, o)) => {
                errors.extend(e);
                over.extend(o);
            }
            Err(e) => errors.push(ApiError::Lookup {
                region: "?".into(),
                attribute: "?".into(),
                failure: AwsFailure::of(&e.to_string()),
            }),
        }
    }
    (errors, over)
}

/// One lookup over `[start, end)`, newest events first (as LookupEvents returns them). Every few
/// pages what was fetched is written to the store and `[oldest + 1 s, end)` marked as fetched:
/// every event newer than the oldest one seen has been returned already, while more events in
/// the oldest one's second may still follow. An interruption therefore resumes from there.
/// With `pages_left`, it stops when they run out: `Ok(false)`, what was fetched kept.
async fn lookup(
    ctx: &Ctx,
    region: &Region,
    attr: &str,
    start: Millis,
    end: Millis,
    pages_left: &mut Option<u32>,
) -> Result<bool, ApiError> {
    let fail = |failure: AwsFailure| ApiError::Lookup {
        region: region.name.clone(),
        attribute: attr.to_string(),
        failure,
    };
    let attribute = match attr.split_once('=') {
        Some((k, v)) => Some(
            LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::from(k))
                .attribute_value(v)
                .build()
                .map_err(|e| fail(AwsFailure::of(&e.to_string())))?,
        ),
        None => None,
    };
    let mut buffer: Vec<(Millis, String)> = Vec::new();
    let mut oldest: Option<Millis> = None;
    let mut token: Option<String> = None;
    let mut pages = 0u32;
    loop {
        if *pages_left == Some(0) {
            flush(ctx, region, attr, &mut buffer, resume_from(oldest), end).await?;
            return Ok(false);
        }
        let next = if ctx.stop.load(Ordering::SeqCst) {
            Err(None)
        } else {
            page(
                ctx,
                region,
                attribute.as_ref(),
                start,
                end,
                token.as_deref(),
            )
            .await
            .map_err(Some)
        };
        let page = match next {
            Ok(p) => p,
            Err(why) => {
                // Interrupted or failed: keep what was fetched; the next run resumes from it.
                flush(ctx, region, attr, &mut buffer, resume_from(oldest), end).await?;
                return why.map_or(Ok(true), |failure| Err(fail(failure)));
            }
        };
        pages += 1;
        if let Some(left) = pages_left.as_mut() {
            *left -= 1;
        }
        ctx.progress.pages.fetch_add(1, Ordering::Relaxed);
        for (t, json) in page_records(page.events.unwrap_or_default(), start) {
            oldest = Some(oldest.map_or(t, |o| o.min(t)));
            buffer.push((t, json));
            ctx.progress.events.fetch_add(1, Ordering::Relaxed);
        }
        token = page.next_token.filter(|t| !t.is_empty());
        if token.is_none() {
            flush(ctx, region, attr, &mut buffer, Some(start), end).await?;
            return Ok(true);
        }
        if pages.is_multiple_of(PAGES_PER_FLUSH) {
            flush(ctx, region, attr, &mut buffer, resume_from(oldest), end).await?;
        }
    }
}

/// A page's records with their times (the event's, else the record's own, else the lookup's
/// start), session tokens redacted before anything keeps them.
fn page_records(
    events: Vec<aws_sdk_cloudtrail::types::Event>,
    start: Millis,
) -> impl Iterator<Item = (Millis, String)> {
    events.into_iter().filter_map(move |ev| {
        let json = redact_session_token(ev.cloud_trail_event?);
        let t = ev
            .event_time
            .and_then(|t| t.to_millis().ok())
            .or_else(|| record_time(&json))
            .unwrap_or(start);
        Some((t, json))
    })
}

/// Where a partly read lookup is complete from: events come newest first, so everything after the
/// oldest event's second has been seen; that second itself may continue on the next page.
fn resume_from(oldest: Option<Millis>) -> Option<Millis> {
    oldest.map(|o| o + 1000)
}

/// Persist the buffer, then mark `[from, end)` fetched (never past what has settled).
async fn flush(
    ctx: &Ctx,
    region: &Region,
    attr: &str,
    buffer: &mut Vec<(Millis, String)>,
    from: Option<Millis>,
    end: Millis,
) -> Result<(), ApiError> {
    if !buffer.is_empty() {
        ctx.store
            .write_chunk(&ctx.account, &region.name, attr, buffer)?;
        buffer.clear();
    }
    if let Some(from) = from {
        let mut c = ctx.checkpoints.lock().await;
        c.covered
            .entry(Checkpoints::key(&region.name, attr))
            .or_default()
            .add(from, end.min(ctx.settled_until));
        ctx.store.save_checkpoints(&c)?;
    }
    Ok(())
}

/// One page, retried: throttling with backoff until it passes (bounded, then an error, never a
/// silent gap), connection failures and 5xx a few times.
async fn page(
    ctx: &Ctx,
    region: &Region,
    attribute: Option<&LookupAttribute>,
    start: Millis,
    end: Millis,
    token: Option<&str>,
) -> Result<aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput, AwsFailure> {
    let mut throttles = 0u32;
    let mut failures = 0u32;
    loop {
        region.limiter.wait().await;
        ctx.progress.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = region
            .client
            .lookup_events()
            .start_time(SmithyTime::from_millis(start))
            .end_time(SmithyTime::from_millis(end))
            .max_results(50)
            .set_next_token(token.map(str::to_string));
        if let Some(a) = attribute {
            req = req.lookup_attributes(a.clone());
        }
        let err = match req.send().await {
            Ok(out) => return Ok(out),
            Err(e) => e,
        };
        let throttled = matches!(&err, SdkError::ServiceError(s)
            if matches!(s.err().code(), Some("ThrottlingException" | "Throttling" | "TooManyRequestsException")));
        let transient = match &err {
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(s) => s.raw().status().as_u16() >= 500,
            _ => false,
        };
        let wait = if throttled && throttles < 12 {
            throttles += 1;
            ctx.progress.throttled.fetch_add(1, Ordering::Relaxed);
            backoff(ctx.retry_base * 4, throttles)
        } else if transient && failures < 5 {
            failures += 1;
            ctx.progress.retried.fetch_add(1, Ordering::Relaxed);
            backoff(ctx.retry_base, failures)
        } else {
            return Err(describe(&err));
        };
        tracing::info!("{}: retrying in {wait:?}: {}", region.name, describe(&err));
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::records::issued_key;
    use super::*;

    #[test]
    fn issued_keys_from_assumption_records() {
        let rec = r#"{"eventTime":"2026-10-05T10:00:00Z","responseElements":{"credentials":
            {"accessKeyId":"ASIAX","sessionToken":"secret","expiration":"Oct 5, 2026, 11:00:00\u202fAM"}}}"#;
        let (key, issued, expires) = issued_key(rec, true).unwrap();
        assert_eq!(key, "ASIAX");
        assert_eq!(expires - issued, 3_600_000);
        assert!(
            issued_key(
                r#"{"eventTime":"2026-10-05T10:00:00Z","errorCode":"AccessDenied"}"#,
                true
            )
            .is_none()
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(100);
        assert!(backoff(b, 1) >= Duration::from_millis(100));
        assert!(backoff(b, 3) >= Duration::from_millis(400));
        assert!(backoff(b, 30) <= Duration::from_secs(20));
    }
}
