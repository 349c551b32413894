//! CloudTrail straight from its bucket: `s3://bucket/prefix` URIs, the listing of only the day
//! prefixes a window needs, and bounded, concurrent, retried fetches of object bodies.
//!
//! Credentials come from the standard AWS chain (`--profile`, environment, SSO, instance role);
//! a custom endpoint (`--endpoint-url`, `AWS_ENDPOINT_URL_S3`) is addressed path-style.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Duration as Days, NaiveDate, Utc};

use crate::base::timefmt::{Millis, Window};

/// `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    /// Without a leading or trailing `/`; empty for the whole bucket.
    pub prefix: String,
}

impl S3Uri {
    pub fn parse(s: &str) -> Option<S3Uri> {
        let rest = s.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        (!bucket.is_empty()).then(|| S3Uri {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// A positional path that names a bucket rather than a local file.
    pub fn of_path(p: &Path) -> Option<S3Uri> {
        p.to_str().and_then(S3Uri::parse)
    }

    fn under(&self, rest: &str) -> String {
        match self.prefix.is_empty() {
            true => rest.to_string(),
            false => format!("{}/{rest}", self.prefix),
        }
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// As S3 gives it, without the quotes.
    pub etag: Option<String>,
    pub last_modified: Option<Millis>,
}

impl Object {
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The path a report names the object by (and a `files` row carries).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.uri())
    }
}

/// How to reach S3, and which part of a trail to list.
#[derive(Debug, Clone)]
pub struct S3Options {
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    /// Objects fetched at once.
    pub concurrency: usize,
    /// Only these accounts (empty: every account found).
    pub accounts: Vec<String>,
    /// Only these regions (empty: every region found).
    pub regions: Vec<String>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint_url: None,
            profile: None,
            concurrency: 16,
            accounts: Vec::new(),
            regions: Vec::new(),
        }
    }
}

/// What went wrong with one request. Never carries a credential: the SDK's errors name codes and
/// the server's message (escaped and capped by the caller).
#[derive(Debug, Clone, thiserror::Error)]
pub enum S3Error {
    #[error("not found")]
    NotFound,
    #[error("{what} exceeds --max-file-size ({limit} bytes); raise it to read this object")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("{0}")]
    Request(AwsFailure),
    #[error("connection dropped while reading: {0}")]
    Dropped(AwsFailure),
    #[error("{0}")]
    Task(std::sync::Arc<tokio::task::JoinError>),
    #[error("fetch task failed")]
    FetchLost,
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::sync::Arc<std::io::Error>),
}

/// What AWS or the transport said about a failed request: the service's code and message, or
/// the transport's chain of reasons, escaped and capped. Text rather than the SDK's error,
/// because that one can carry the request, and with it a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsFailure(String);

impl AwsFailure {
    /// Any other failure's text, escaped and capped as AWS's is.
    pub fn of(text: &str) -> AwsFailure {
        AwsFailure(crate::base::text::reason(text))
    }
}

impl std::fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which half of a trail's layout to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Logs,
    Digests,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Kind::Logs => "CloudTrail",
            Kind::Digests => "CloudTrail-Digest",
        }
    }
}

/// An object's body and the metadata validation needs.
#[derive(Debug, Clone)]
pub struct Got {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub metadata: HashMap<String, String>,
}

/// A connected client with its own runtime; shared by the threads that fetch and parse.
pub struct S3 {
    client: aws_sdk_s3::Client,
    /// The loaded configuration (credentials, region), for other AWS clients alongside.
    pub shared: aws_config::SdkConfig,
    rt: tokio::runtime::Runtime,
    concurrency: usize,
    /// Requests made (list, get, head), for a summary and the tests.
    pub requests: std::sync::atomic::AtomicU64,
}

/// Attempts per request, the SDK's own retries included (throttling, 5xx, dropped connections).
const ATTEMPTS: u32 = 6;

/// The standard credential chain (with `profile`), retrying each request up to [`ATTEMPTS`]
/// times: what the S3 and IAM clients are built from.
pub(crate) async fn retrying_config(profile: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(
        RetryConfig::standard()
            .with_max_attempts(ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(50)),
    );
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// A service's custom endpoint: the one given, else `AWS_ENDPOINT_URL_<SERVICE>`, else
/// `AWS_ENDPOINT_URL`, as the AWS SDKs read them.
pub(crate) fn custom_endpoint(given: Option<&str>, service: &str) -> Option<String> {
    given.map(str::to_string).or_else(|| {
        std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
            .ok()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
    })
}

impl S3 {
    pub fn connect(opts: &S3Options) -> Result<S3, S3Error> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| S3Error::Runtime(std::sync::Arc::new(e)))?;
        let (client, shared) = rt.block_on(async {
            let shared = retrying_config(opts.profile.as_deref()).await;
            let mut b = aws_sdk_s3::config::Builder::from(&shared);
            if shared.region().is_none() {
                b = b.region(aws_config::Region::new("us-east-1"));
            }
            if let Some(url) = &custom_endpoint(opts.endpoint_url.as_deref(), "S3") {
                // A custom endpoint (MinIO, moto, a VPC endpoint) has no bucket subdomains.
                b = b.endpoint_url(url).force_path_style(true);
            }
            (aws_sdk_s3::Client::from_conf(b.build()), shared)
        });
        Ok(S3 {
            client,
            shared,
            rt,
            concurrency: opts.concurrency.max(1),
            requests: Default::default(),
        })
    }

    fn count(&self) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The trail's objects of `kind` under `uri` that `window` can need, in path order.
    ///
    /// Under `[prefix/]AWSLogs/[o-id/]<account>/<CloudTrail|CloudTrail-Digest>/<region>/`
    /// accounts and regions are discovered with `/`-delimited listings, then only the day
    /// prefixes of the window (a day of margin each side: folder dates are delivery dates) are
    /// listed. A prefix that is not above a trail's `AWSLogs/` is listed whole.
    pub fn list_trail(
        &self,
        uri: &S3Uri,
        window: &Window,
        kind: Kind,
        opts: &S3Options,
    ) -> Result<Vec<Object>, S3Error> {
        self.rt
            .block_on(self.list_trail_async(uri, window, kind, opts))
    }

    async fn list_trail_async(
        &self,
        uri: &S3Uri,
        window: &Window,
        kind: Kind,
        opts: &S3Options,
    ) -> Result<Vec<Object>, S3Error> {
        let bucket = &uri.bucket;
        let inside = uri.prefix.split('/').any(|c| c == "AWSLogs");
        if inside {
            let all = self.list_all(bucket, &format!("{}/", uri.prefix)).await?;
            return Ok(trail_files(all, kind));
        }
        let root = uri.under("AWSLogs/");
        let mut accounts = Vec::new();
        for dir in self.list_dirs(bucket, &root).await? {
            let name = last(&dir);
            if name.starts_with("o-") {
                accounts.extend(self.list_dirs(bucket, &dir).await?);
            } else {
                accounts.push(dir);
            }
        }
        if accounts.is_empty() {
            // Not a trail's layout: whatever log files are under the prefix.
            let start = if uri.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", uri.prefix)
            };
            let all = self.list_all(bucket, &start).await?;
            return Ok(trail_files(all, kind));
        }
        let mut prefixes = Vec::new();
        for acct in accounts {
            if !opts.accounts.is_empty() && !opts.accounts.iter().any(|a| a == last(&acct)) {
                continue;
            }
            let regions = self
                .list_dirs(bucket, &format!("{acct}{}/", kind.folder()))
                .await?;
            for region in regions {
                if !opts.regions.is_empty() && !opts.regions.iter().any(|r| r == last(&region)) {
                    continue;
                }
                match days(window) {
                    Some(days) => prefixes.extend(
                        days.iter()
                            .map(|d| format!("{region}{}/", d.format("%Y/%m/%d"))),
                    ),
                    None => prefixes.push(region),
                }
            }
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut set = tokio::task::JoinSet::new();
        for (i, p) in prefixes.into_iter().enumerate() {
            let sem = sem.clone();
            let client = self.client.clone();
            let bucket = bucket.clone();
            set.spawn(async move {
                let _permit = sem.acquire_owned().await;
                (i, list_all(&client, &bucket, &p).await)
            });
        }
        let mut parts = Vec::new();
        while let Some(done) = set.join_next().await {
            let (i, listed) = done.map_err(|e| S3Error::Task(std::sync::Arc::new(e)))?;
            let (objects, requests) = listed?;
            self.requests
                .fetch_add(requests, std::sync::atomic::Ordering::Relaxed);
            parts.push((i, objects));
        }
        parts.sort_by_key(|(i, _)| *i);
        Ok(trail_files(
            parts.into_iter().flat_map(|(_, o)| o).collect(),
            kind,
        ))
    }

    async fn list_dirs(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            self.count();
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| S3Error::Request(describe(&e)))?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(url_decoded)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn list_all(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>, S3Error> {
        let (objects, requests) = list_all(&self.client, bucket, prefix).await?;
        self.requests
            .fetch_add(requests, std::sync::atomic::Ordering::Relaxed);
        Ok(objects)
    }

    /// The bodies of `objects`, fetched `concurrency` at a time, each at most `limit` bytes, in
    /// the order given.
    pub fn fetch(&self, objects: &[&Object], limit: u64) -> Vec<Result<Got, S3Error>> {
        let mut out: Vec<Option<Result<Got, S3Error>>> = vec![None; objects.len()];
        self.fetch_each(objects, limit, |i, got| out[i] = Some(got));
        out.into_iter()
            .map(|g| g.unwrap_or_else(|| Err(S3Error::FetchLost)))
            .collect()
    }

    /// Like [`S3::fetch`], but hands each body (with its index in `objects`) to `done` as soon as
    /// it has arrived, so that a caller that is stopped keeps everything finished before.
    pub fn fetch_each(
        &self,
        objects: &[&Object],
        limit: u64,
        mut done: impl FnMut(usize, Result<Got, S3Error>),
    ) {
        self.rt.block_on(async {
            let sem = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
            let mut set = tokio::task::JoinSet::new();
            for (i, o) in objects.iter().enumerate() {
                let sem = sem.clone();
                let client = self.client.clone();
                let (bucket, key, size) = (o.bucket.clone(), o.key.clone(), o.size);
                set.spawn(async move {
                    let _permit = sem.acquire_owned().await;
                    if size > limit {
                        return (
                            i,
                            Err(S3Error::TooLarge {
                                what: "the object",
                                limit,
                            }),
                            0,
                        );
                    }
                    let (got, requests) = get(&client, &bucket, &key, limit).await;
                    (i, got, requests)
                });
            }
            while let Some(joined) = set.join_next().await {
                if let Ok((i, got, requests)) = joined {
                    self.requests
                        .fetch_add(requests, std::sync::atomic::Ordering::Relaxed);
                    done(i, got);
                }
            }
        })
    }

    /// Run `f` on this client's runtime (for the callers that call other AWS APIs alongside).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

async fn list_all(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<(Vec<Object>, u64), S3Error> {
    let mut out = Vec::new();
    let mut token = None;
    let mut requests = 0;
    loop {
        requests += 1;
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| S3Error::Request(describe(&e)))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            out.push(Object {
                bucket: bucket.to_string(),
                key: url_decoded(key),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().map(unquote),
                last_modified: o.last_modified().and_then(|t| t.to_millis().ok()),
            });
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok((out, requests))
}

/// A key or prefix from a listing asked for with `EncodingType=url`: S3 then encodes every
/// character XML 1.0 cannot carry (a key may hold any Unicode, control characters included, and
/// one such key would otherwise make the whole page unreadable), as botocore decodes it:
/// `+` is a space, `%XX` a byte.
fn url_decoded(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// GET with the body read to the end; a connection dropped while reading the body is retried
/// (the SDK retries only until the response starts).
async fn get(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    limit: u64,
) -> (Result<Got, S3Error>, u64) {
    let mut requests = 0;
    let mut last = S3Error::FetchLost;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
        }
        requests += 1;
        let resp = match client.get_object().bucket(bucket).key(key).send().await {
            Ok(r) => r,
            Err(SdkError::ServiceError(s)) if s.err().is_no_such_key() => {
                return (Err(S3Error::NotFound), requests);
            }
            Err(e) => return (Err(S3Error::Request(describe(&e))), requests),
        };
        let etag = resp.e_tag().map(unquote);
        let metadata = resp.metadata().cloned().unwrap_or_default();
        if resp.content_length().unwrap_or(0).max(0) as u64 > limit {
            return (
                Err(S3Error::TooLarge {
                    what: "the object",
                    limit,
                }),
                requests,
            );
        }
        let mut body = resp.body;
        let mut buf =
            Vec::with_capacity(resp.content_length.unwrap_or(0).clamp(0, 64 << 20) as usize);
        let mut failed = None;
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if buf.len() as u64 + chunk.len() as u64 > limit {
                        return (
                            Err(S3Error::TooLarge {
                                what: "the object",
                                limit,
                            }),
                            requests,
                        );
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(AwsFailure::of(&e.to_string()));
                    break;
                }
            }
        }
        match failed {
            None => {
                return (
                    Ok(Got {
                        body: buf,
                        etag,
                        metadata,
                    }),
                    requests,
                );
            }
            Some(e) => last = S3Error::Dropped(e),
        }
    }
    (Err(last), requests)
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

fn last(dir: &str) -> &str {
    dir.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// The log (or digest) files of a listing, in path order.
fn trail_files(mut all: Vec<Object>, kind: Kind) -> Vec<Object> {
    all.retain(|o| wanted(&o.key, kind));
    sort_keys(&mut all);
    all
}

fn wanted(key: &str, kind: Kind) -> bool {
    let p = Path::new(key);
    let digest = crate::analyzer::source::layout::is_digest(p);
    let name = key.rsplit('/').next().unwrap_or("");
    // Amazon Security Lake's OCSF sources are `*.gz.parquet` (see `security_lake`).
    (crate::analyzer::source::layout::is_log_name(name) || name.ends_with(".parquet"))
        && match kind {
            Kind::Logs => !digest,
            Kind::Digests => digest,
        }
}

/// Keys in the order a walk of the same tree on disk visits them (component by component), so
/// that an S3 trail and its local copy give the same first copy of a repeated event.
fn sort_keys(objects: &mut [Object]) {
    objects.sort_by(|a, b| a.key.split('/').cmp(b.key.split('/')));
}

/// The delivery days a window needs, with a day of margin each side; `None` when the window
/// is open at its start (then every day is listed).
pub fn days(window: &Window) -> Option<Vec<NaiveDate>> {
    let day = |ms: Millis| DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.date_naive());
    let first = day(window.since?)? - Days::days(1);
    let end = match window.until {
        Some(u) => day(u)?,
        None => Utc::now().date_naive(),
    } + Days::days(1);
    // A mistyped year should not become a million requests.
    if (end - first).num_days() > 3660 {
        return None;
    }
    Some(first.iter_days().take_while(|d| *d <= end).collect())
}

/// The service's code and message, or the transport's reason; never the request.
pub(crate) fn describe<
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
>(
    e: &SdkError<E, R>,
) -> AwsFailure {
    let text = match e {
        SdkError::ServiceError(s) => format!(
            "{}: {}",
            s.err().code().unwrap_or("error"),
            s.err().message().unwrap_or("(no message)")
        ),
        other => {
            let mut text = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                text.push_str(": ");
                text.push_str(&s.to_string());
                src = s.source();
            }
            text
        }
    };
    AwsFailure::of(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            S3Uri::parse("s3://b/p/q/"),
            Some(S3Uri {
                bucket: "b".into(),
                prefix: "p/q".into()
            })
        );
        assert_eq!(S3Uri::parse("s3://b").unwrap().prefix, "");
        assert_eq!(S3Uri::parse("s3:///x"), None);
        assert_eq!(S3Uri::parse("/tmp/x"), None);
        assert_eq!(
            S3Uri::parse("s3://b").unwrap().under("AWSLogs/"),
            "AWSLogs/"
        );
        assert_eq!(
            S3Uri::parse("s3://b/p").unwrap().under("AWSLogs/"),
            "p/AWSLogs/"
        );
    }

    #[test]
    fn window_days_with_margin() {
        let ms = |s: &str| crate::base::timefmt::parse_event_time(s);
        let w = Window {
            since: ms("2026-10-05T10:00:00Z"),
            until: ms("2026-10-06T00:00:00Z"),
        };
        let d = days(&w).unwrap();
        assert_eq!(d.first().unwrap().to_string(), "2026-10-04");
        assert_eq!(d.last().unwrap().to_string(), "2026-10-07");
        assert_eq!(d.len(), 4);
        assert!(days(&Window::default()).is_none());
    }

    #[test]
    fn keys_sort_like_a_walk() {
        let o = |k: &str| Object {
            bucket: "b".into(),
            key: k.into(),
            size: 0,
            etag: None,
            last_modified: None,
        };
        let mut v = vec![o("a/x.json"), o("a.json"), o("a/b/y.json")];
        sort_keys(&mut v);
        let keys: Vec<&str> = v.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a/b/y.json", "a/x.json", "a.json"]);
    }
}
