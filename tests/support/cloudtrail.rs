//! A fake CloudTrail (and just enough STS) on 127.0.0.1, speaking AWS JSON 1.1:
//! `POST /` with `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`.
//!
//! It serves the management events of one account from trail files, per region (the region is
//! read from the SigV4 credential scope, as the real endpoints are per region), newest first,
//! 50 per page with `NextToken`, honouring `StartTime`/`EndTime` (both inclusive, as AWS does)
//! and the one lookup attribute. More than 2 requests in any second of one region get a
//! `ThrottlingException`. Knobs inject throttles and dropped connections; every request is logged.
//!
//! It also answers `ListPublicKeys` with the keys set in [`FakeCloudTrail::public_keys`] (DER,
//! base64 in the JSON as the real API sends a blob), for log-file integrity validation.
//!
//! It is a raw HTTP/1.1 server (keep-alive, Content-Length) so that a connection can really be
//! dropped without an answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub region: String,
    pub attribute: Option<(String, String)>,
    pub start: Option<f64>,
    pub end: Option<f64>,
    pub paged: bool,
    /// "ok", "throttled", "dropped", "down".
    pub outcome: &'static str,
}

#[derive(Default)]
pub struct Knobs {
    /// Answer the next N LookupEvents with ThrottlingException.
    pub throttle_next: AtomicU32,
    /// Close the connection without an answer on the next N LookupEvents.
    pub drop_next: AtomicU32,
    /// Drop every LookupEvents (the network is gone) while set.
    pub down: AtomicBool,
}

struct Event {
    time: f64,
    id: String,
    region: String,
    name: String,
    access_key: Option<String>,
    json: String,
}

/// A public key as `ListPublicKeys` lists it: fingerprint, DER, and the seconds (since the
/// epoch) from which and until which it signs.
pub type PublicKey = (String, Vec<u8>, f64, f64);

/// The keys served, and the region of each request for them.
type Keys = (Arc<Mutex<Vec<PublicKey>>>, Arc<Mutex<Vec<String>>>);

pub struct FakeCloudTrail {
    pub url: String,
    pub account: String,
    pub knobs: Arc<Knobs>,
    /// What `ListPublicKeys` answers (with every request's region appended to `key_requests`).
    pub public_keys: Arc<Mutex<Vec<PublicKey>>>,
    pub key_requests: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl FakeCloudTrail {
    /// Serve every management event of `account` found in the `.json.gz` trail files under `dirs`.
    pub fn start(account: &str, dirs: &[&Path]) -> FakeCloudTrail {
        let mut events = Vec::new();
        for d in dirs {
            for path in walk(d, ".json.gz") {
                let v: Value = serde_json::from_str(&gunzip_text(&path)).unwrap();
                let Some(records) = v["Records"].as_array() else {
                    continue; // a digest
                };
                for r in records {
                    if r["recipientAccountId"] != account || r["managementEvent"] == false {
                        continue;
                    }
                    let time =
                        chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap())
                            .unwrap()
                            .timestamp() as f64;
                    events.push(Event {
                        time,
                        id: r["eventID"].as_str().unwrap().to_string(),
                        region: r["awsRegion"].as_str().unwrap().to_string(),
                        name: r["eventName"].as_str().unwrap().to_string(),
                        access_key: r["userIdentity"]["accessKeyId"]
                            .as_str()
                            .map(str::to_string),
                        json: r.to_string(),
                    });
                }
            }
        }
        // The same event from an org trail and an account trail is one event in the API.
        events.sort_by(|a, b| b.time.total_cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
        events.dedup_by(|a, b| a.id == b.id);
        let events = Arc::new(events);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let knobs = Arc::new(Knobs::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let recent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let public_keys: Arc<Mutex<Vec<PublicKey>>> = Arc::default();
        let key_requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (k, l, acct) = (knobs.clone(), log.clone(), account.to_string());
        let (pk, kr) = (public_keys.clone(), key_requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (events, k, l, recent, acct) = (
                    events.clone(),
                    k.clone(),
                    l.clone(),
                    recent.clone(),
                    acct.clone(),
                );
                let keys = (pk.clone(), kr.clone());
                std::thread::spawn(move || serve(conn, &events, &k, &l, &recent, &acct, &keys));
            }
        });
        FakeCloudTrail {
            url,
            account: account.to_string(),
            knobs,
            public_keys,
            key_requests,
            log,
        }
    }

    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

/// Every file under `d` whose name ends with `suffix`, in path order.
pub fn walk(d: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if p.to_string_lossy().ends_with(suffix) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A gzipped file's text (every member).
pub fn gunzip_text(path: &Path) -> String {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request { headers, body })
}

fn respond(s: &mut TcpStream, status: &str, content_type: &str, body: &str, extra: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: fake-0000{extra}\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}

fn serve(
    conn: TcpStream,
    events: &[Event],
    knobs: &Knobs,
    log: &Mutex<Vec<Logged>>,
    recent: &Mutex<Vec<(String, Instant)>>,
    account: &str,
    keys: &Keys,
) {
    let mut out = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    while let Some(req) = read_request(&mut reader) {
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let target = header("x-amz-target").unwrap_or("");
        if target.is_empty() {
            // STS, Query protocol: the account the credentials belong to.
            let form = String::from_utf8_lossy(&req.body);
            if form.contains("Action=GetCallerIdentity") {
                let xml = format!(
                    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{account}:user/auditor</Arn><UserId>AIDAFAKEAUDITOR</UserId><Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
                );
                respond(&mut out, "200 OK", "text/xml", &xml, "");
            } else {
                respond(
                    &mut out,
                    "400 Bad Request",
                    "text/xml",
                    "<ErrorResponse/>",
                    "",
                );
            }
            continue;
        }
        // Credential=AKID/20261122/us-east-1/cloudtrail/aws4_request
        let region = header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').nth(2))
            .unwrap_or("?")
            .to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let attribute = body["LookupAttributes"][0]["AttributeKey"]
            .as_str()
            .map(|k| {
                (
                    k.to_string(),
                    body["LookupAttributes"][0]["AttributeValue"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
            });
        let mut entry = Logged {
            at: Instant::now(),
            region: region.clone(),
            attribute: attribute.clone(),
            start: body["StartTime"].as_f64(),
            end: body["EndTime"].as_f64(),
            paged: body["NextToken"].is_string(),
            outcome: "ok",
        };
        if target.ends_with("CloudTrail_20131101.ListPublicKeys") {
            use base64::Engine;
            keys.1.lock().unwrap().push(region.clone());
            // As AWS answers: without StartTime only the current key (the newest); with a
            // range, every key valid at some time in it (EndTime defaults to now).
            let all = keys.0.lock().unwrap().clone();
            let newest = all.iter().map(|k| k.2).fold(f64::MIN, f64::max);
            let (from, until) = (entry.start, entry.end.unwrap_or(f64::MAX));
            let list: Vec<Value> = all
                .iter()
                .filter(|k| match from {
                    None => k.2 == newest,
                    Some(from) => k.2 <= until && k.3 >= from,
                })
                .map(|(fp, der, start, end)| {
                    json!({
                        "Fingerprint": fp,
                        "Value": base64::engine::general_purpose::STANDARD.encode(der),
                        "ValidityStartTime": start,
                        "ValidityEndTime": end,
                    })
                })
                .collect();
            let body = json!({ "PublicKeyList": list }).to_string();
            respond(&mut out, "200 OK", "application/x-amz-json-1.1", &body, "");
            continue;
        }
        if !target.ends_with("CloudTrail_20131101.LookupEvents") {
            respond(
                &mut out,
                "400 Bad Request",
                "application/x-amz-json-1.1",
                r#"{"__type":"UnknownOperationException","message":"not faked"}"#,
                "",
            );
            continue;
        }
        let take = |n: &AtomicU32| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                .is_ok()
        };
        if knobs.down.load(Ordering::SeqCst) || take(&knobs.drop_next) {
            entry.outcome = if knobs.down.load(Ordering::SeqCst) {
                "down"
            } else {
                "dropped"
            };
            log.lock().unwrap().push(entry);
            let _ = out.shutdown(Shutdown::Both);
            return;
        }
        // The limit AWS enforces: 2 requests per second per account per region.
        let over = {
            let mut r = recent.lock().unwrap();
            let now = Instant::now();
            r.retain(|(_, t)| now.duration_since(*t) < Duration::from_secs(1));
            r.push((region.clone(), now));
            r.iter().filter(|(reg, _)| *reg == region).count() > 2
        };
        if over || take(&knobs.throttle_next) {
            entry.outcome = "throttled";
            log.lock().unwrap().push(entry);
            respond(
                &mut out,
                "400 Bad Request",
                "application/x-amz-json-1.1",
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                "\r\nx-amzn-ErrorType: ThrottlingException",
            );
            continue;
        }
        log.lock().unwrap().push(entry);
        let start = body["StartTime"].as_f64().unwrap_or(f64::MIN);
        let end = body["EndTime"].as_f64().unwrap_or(f64::MAX);
        let matching: Vec<&Event> = events
            .iter()
            .filter(|e| e.region == region && e.time >= start && e.time <= end)
            .filter(|e| match &attribute {
                None => true,
                Some((k, v)) if k == "EventName" => &e.name == v,
                Some((k, v)) if k == "AccessKeyId" => e.access_key.as_deref() == Some(v),
                Some(_) => false,
            })
            .collect();
        let max = body["MaxResults"].as_u64().unwrap_or(50).min(50) as usize;
        let offset: usize = body["NextToken"]
            .as_str()
            .and_then(|t| t.strip_prefix("page-"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(max)
            .map(|e| {
                json!({
                    "EventId": e.id, "EventName": e.name, "EventTime": e.time,
                    "EventSource": "fake", "ReadOnly": "true",
                    "AccessKeyId": e.access_key, "Resources": [],
                    "CloudTrailEvent": e.json,
                })
            })
            .collect();
        let mut answer = json!({ "Events": page });
        if offset + max < matching.len() {
            answer["NextToken"] = json!(format!("page-{}", offset + max));
        }
        respond(
            &mut out,
            "200 OK",
            "application/x-amz-json-1.1",
            &answer.to_string(),
            "",
        );
    }
}
