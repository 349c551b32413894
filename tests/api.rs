//! `--from-api`: the real AWS SDK in the real binary against the fake CloudTrail in
//! tests/support/cloudtrail.rs, serving account 111122223333 of fixtures/cloudtrail.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::cloudtrail::{FakeCloudTrail, gunzip_text, walk};

const ACCOUNT: &str = "111122223333";
const REGIONS: &str = "us-east-1,eu-west-1";
const SINCE: &str = "2026-10-05";
const UNTIL: &str = "2026-10-08";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn account_dirs() -> Vec<PathBuf> {
    let t = root().join("fixtures/cloudtrail/AWSLogs");
    vec![t.join("o-exampleorg1").join(ACCOUNT), t.join(ACCOUNT)]
}

fn chain_dirs() -> Vec<PathBuf> {
    vec![
        root()
            .join("fixtures/chains/AWSLogs/o-exampleorg1")
            .join(ACCOUNT),
    ]
}

fn fake() -> FakeCloudTrail {
    fake_of(&account_dirs())
}

fn fake_of(dirs: &[PathBuf]) -> FakeCloudTrail {
    FakeCloudTrail::start(
        ACCOUNT,
        &dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>(),
    )
}

fn command(fake: &FakeCloudTrail) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("janus-audit"));
    c.current_dir(root())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", "AKIDFAKEAUDITOR00001")
        .env("AWS_SECRET_ACCESS_KEY", "fake-secret-never-used-for-real")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_STS", &fake.url);
    c
}

fn api_args<'a>(
    report: &'a str,
    store: &'a Path,
    fake: &'a FakeCloudTrail,
    since: &'a str,
    until: &'a str,
) -> Vec<String> {
    [
        report,
        "--from-api",
        "--regions",
        REGIONS,
        "--endpoint-url",
        &fake.url,
        "--store",
        store.to_str().unwrap(),
        "--since",
        since,
        "--until",
        until,
        "--format",
        "json",
        // The per-key plan, which these tests are about; the default may read a small region
        // whole instead (the_default_plan_picks_the_cheaper_per_region).
        "--by-key",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn rows(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: status {:?}, stderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The accounts' log files in `dirs`, minus the data events LookupEvents never has.
fn management_only_files_of(dirs: &[PathBuf], dir: &Path) {
    use std::io::Write;
    for (n, d) in dirs.iter().enumerate() {
        for p in walk(d, ".json.gz") {
            if p.to_string_lossy().contains("Digest") {
                continue;
            }
            let mut v: Value = serde_json::from_str(&gunzip_text(&p)).unwrap();
            v["Records"]
                .as_array_mut()
                .unwrap()
                .retain(|r| r["managementEvent"] != false && r["recipientAccountId"] == ACCOUNT);
            let out = dir.join(format!("{n}")).join(p.strip_prefix(d).unwrap());
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(out).unwrap(),
                flate2::Compression::default(),
            );
            gz.write_all(v.to_string().as_bytes()).unwrap();
            gz.finish().unwrap();
        }
    }
}

/// `by-instance` and `sessions` from the files, as the reference.
fn from_files(since: &str, until: &str) -> (Value, Value) {
    from_files_of(&account_dirs(), since, until)
}

fn from_files_of(dirs: &[PathBuf], since: &str, until: &str) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    management_only_files_of(dirs, dir.path());
    let run = |report: &str| {
        let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("janus-audit"))
            .args([
                report,
                dir.path().to_str().unwrap(),
                "--since",
                since,
                "--until",
                until,
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        rows(&o)
    };
    (run("by-instance"), run("sessions"))
}

fn from_api(
    fake: &FakeCloudTrail,
    store: &Path,
    since: &str,
    until: &str,
) -> (Value, Value, String) {
    from_api_with(fake, store, since, until, &[])
}

fn from_api_with(
    fake: &FakeCloudTrail,
    store: &Path,
    since: &str,
    until: &str,
    extra: &[&str],
) -> (Value, Value, String) {
    let mut args = api_args("by-instance", store, fake, since, until);
    if extra.contains(&"--full") {
        args.retain(|a| a != "--by-key");
    }
    let o = command(fake).args(args).args(extra).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let by_instance = rows(&o);
    let err = stderr(&o);
    // The second report reads the store offline: no API call needed.
    let o = command(fake)
        .args([
            "sessions",
            "--store",
            store.to_str().unwrap(),
            "--since",
            since,
            "--until",
            until,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (by_instance, rows(&o), err)
}

/// No region ever saw more than 2 requests within one second.
fn assert_within_rate(fake: &FakeCloudTrail) {
    let log = fake.log();
    for (i, a) in log.iter().enumerate() {
        let within = log
            .iter()
            .skip(i)
            .filter(|b| b.region == a.region && b.at.duration_since(a.at) < Duration::from_secs(1))
            .count();
        assert!(
            within <= 2,
            "{within} requests in one second in {}",
            a.region
        );
    }
    assert!(
        log.iter().all(|l| l.outcome != "throttled"),
        "throttled: {log:#?}"
    );
}

/// What the default plan cannot see, exactly: web-3's DescribeTable at 12:03 carries no
/// accessKeyId, so no `AccessKeyId=` lookup returns it (the coverage statement says so; `--full`
/// gets it). The files' reports with that one call taken out.
fn expected_default_plan(files_bi: &Value, files_s: &Value) -> (Value, Value) {
    let (mut bi, mut s) = (files_bi.clone(), files_s.clone());
    for row in bi.as_array_mut().unwrap() {
        if row["session_name"] == "web-frontend-01.web-3" {
            assert_eq!(row["api_calls"], 3);
            row["api_calls"] = 2.into();
        }
    }
    for row in s.as_array_mut().unwrap() {
        if row["access_key_id"] == "ASIAWEB3KEY000000001" {
            assert_eq!(row["api_calls"], 3);
            assert_eq!(row["last_call"], "2026-10-05T12:03:00Z");
            row["api_calls"] = 2.into();
            row["last_call"] = "2026-10-05T12:02:00Z".into();
        }
    }
    (bi, s)
}

fn expected() -> (Value, Value) {
    let (bi, s) = from_files(SINCE, UNTIL);
    expected_default_plan(&bi, &s)
}

#[test]
fn api_and_files_give_identical_reports_within_the_rate_limit() {
    let (files_bi, files_s) = from_files(SINCE, UNTIL);
    assert_eq!(files_bi.as_array().unwrap().len(), 4, "{files_bi:#}");

    // --full: every management event, so exactly what the files say.
    let fake_full = fake();
    let store = tempfile::tempdir().unwrap();
    let (bi, s, err) = from_api_with(&fake_full, store.path(), SINCE, UNTIL, &["--full"]);
    assert_eq!(bi, files_bi);
    assert_eq!(s, files_s);
    assert_within_rate(&fake_full);
    assert!(!err.contains("no accessKeyId"), "{err}");

    // The default plan: assumptions, then each key.
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    let (api_bi, api_s, err) = from_api(&fake, store.path(), SINCE, UNTIL);
    let (want_bi, want_s) = expected_default_plan(&files_bi, &files_s);
    assert_eq!(api_bi, want_bi);
    assert_eq!(api_s, want_s);
    assert_within_rate(&fake);
    // Both regions were asked, for assumptions and then per key.
    let log = fake.log();
    for region in ["us-east-1", "eu-west-1"] {
        assert!(log.iter().any(|l| l.region == region
            && l.attribute == Some(("EventName".into(), "AssumeRoleWithWebIdentity".into()))));
        assert!(log.iter().any(|l| l.region == region
            && l.attribute == Some(("AccessKeyId".into(), "ASIAETLWORKER1KEY001".into()))));
    }
    // The store keeps no session token (the fixture logs one for etl-1) and is the owner's only.
    let stored: String = walk(store.path(), ".jsonl.gz")
        .iter()
        .map(|p| gunzip_text(p))
        .collect();
    assert!(stored.contains("ASIAETLWORKER1KEY001"));
    assert!(
        !stored.contains("MUST-NOT-LEAK"),
        "a session token was stored"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // Never an unfiltered lookup: only assumptions and the issued keys are asked for.
    assert!(log.iter().all(|l| l.attribute.is_some()), "{log:#?}");
    // The coverage statement.
    assert!(
        err.contains("account 111122223333, regions fetched: us-east-1, eu-west-1"),
        "{err}"
    );
    assert!(err.contains("management events only"), "{err}");
    assert!(err.contains("last 90 days"), "{err}");
    assert!(
        err.contains("no accessKeyId is only fetched with --full"),
        "{err}"
    );
}

#[test]
fn throttling_and_a_dropped_connection_lose_nothing() {
    let fake = fake();
    let (files_bi, files_s) = expected();
    fake.knobs
        .throttle_next
        .store(3, std::sync::atomic::Ordering::SeqCst);
    fake.knobs
        .drop_next
        .store(2, std::sync::atomic::Ordering::SeqCst);
    let store = tempfile::tempdir().unwrap();
    let (bi, s, err) = from_api(&fake, store.path(), SINCE, UNTIL);
    let log = fake.log();
    assert_eq!(log.iter().filter(|l| l.outcome == "throttled").count(), 3);
    assert_eq!(log.iter().filter(|l| l.outcome == "dropped").count(), 2);
    assert!(
        err.contains("3 throttled and retried, 2 other retries"),
        "{err}"
    );
    assert_eq!(bi, files_bi);
    assert_eq!(s, files_s);
}

#[test]
fn an_interrupted_fetch_resumes_to_the_same_result() {
    let (files_bi, files_s) = expected();
    let clean = fake();
    let clean_store = tempfile::tempdir().unwrap();
    from_api(&clean, clean_store.path(), SINCE, UNTIL);
    let clean_requests = clean.log().len();

    // Ctrl-C after a few requests.
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    let child = command(&fake)
        .args(api_args("by-instance", store.path(), &fake, SINCE, UNTIL))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while fake.log().len() < 6 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let first = fake.log().len();
    assert!(
        first < clean_requests,
        "{first} of {clean_requests}: not interrupted"
    );

    // Then the network goes away mid-run: the lookups fail after their retries, exit 3.
    fake.knobs
        .drop_next
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let before = fake.log().len();
    let child = command(&fake)
        .args(api_args("by-instance", store.path(), &fake, SINCE, UNTIL))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while fake.log().len() < before + 2 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    fake.knobs
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not fetched"), "{}", stderr(&out));
    fake.knobs
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);

    // Resumed: the same reports as one clean run, and not everything asked again.
    let before = fake.log().len();
    let (bi, s, _) = from_api(&fake, store.path(), SINCE, UNTIL);
    assert_eq!(bi, files_bi);
    assert_eq!(s, files_s);
    let resumed = fake.log().len() - before;
    assert!(
        resumed < clean_requests,
        "resumed with {resumed} requests, a clean run takes {clean_requests}"
    );
}

#[test]
fn a_second_run_asks_only_for_the_new_interval() {
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    from_api(&fake, store.path(), "2026-10-05", "2026-10-06");
    fake.clear_log();
    let (bi, s, _) = from_api(&fake, store.path(), "2026-10-05", "2026-10-07");
    let t1 = chrono::DateTime::parse_from_rfc3339("2026-10-06T00:00:00Z")
        .unwrap()
        .timestamp() as f64;
    let log = fake.log();
    assert!(!log.is_empty());
    for l in &log {
        assert!(
            l.start.unwrap() >= t1,
            "asked again for what was fetched: {l:?}"
        );
    }
    // And the result is what a single run over the whole window gives.
    let fresh = tempfile::tempdir().unwrap();
    let (bi2, s2, _) = from_api(&fake, fresh.path(), "2026-10-05", "2026-10-07");
    assert_eq!(bi, bi2);
    assert_eq!(s, s2);
    // A third run over the same window has nothing left to ask.
    fake.clear_log();
    from_api(&fake, store.path(), "2026-10-05", "2026-10-07");
    assert_eq!(fake.log().len(), 0, "{:#?}", fake.log());
}

#[test]
fn the_endpoint_comes_from_the_environment_too() {
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    let o = command(&fake)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &fake.url)
        .args([
            "sessions",
            "--from-api",
            "--regions",
            "us-east-1",
            "--store",
            store.path().to_str().unwrap(),
            "--since",
            SINCE,
            "--until",
            UNTIL,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        fake.log().iter().all(|l| l.region == "us-east-1"),
        "{:#?}",
        fake.log()
    );
    assert_eq!(rows(&o).as_array().unwrap().len(), 5);
    assert!(!fake.log().is_empty());
}

#[test]
fn a_refused_api_is_a_clear_error() {
    // Nothing listens here: the account lookup fails and says so.
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    let o = command(&fake)
        .env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
        .args(api_args("by-instance", store.path(), &fake, SINCE, UNTIL))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("sts:GetCallerIdentity"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("fake-secret"), "{}", stderr(&o));
}

#[test]
fn a_report_from_the_api_records_its_blind_spots_in_the_manifest() {
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = command(&fake)
        .args([
            "report",
            "--output-dir",
            out.path().to_str().unwrap(),
            "--from-api",
            "--regions",
            REGIONS,
            "--endpoint-url",
            &fake.url,
            "--store",
            store.path().to_str().unwrap(),
            "--since",
            "2026-10-05",
            "--until",
            "2026-10-06",
            "--formats",
            "csv,html",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir = out.path().join("2026-10-05T00-00Z_2026-10-06T00-00Z");
    // The page's header says what the API cannot see, as the manifest does.
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let spots = &page[page.find(r#"<ul class="spots">"#).expect("blind spots")..];
    let spots = &spots[..spots.find("</ul>").unwrap()];
    assert!(spots.contains("management events only"), "{spots}");
    assert!(spots.contains("last 90 days"), "{spots}");
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let source = &m["parameters"]["source"];
    assert_eq!(source["kind"], "cloudtrail-lookup-events");
    assert_eq!(source["account"], ACCOUNT);
    assert_eq!(
        source["regions"],
        serde_json::json!(["us-east-1", "eu-west-1"])
    );
    let coverage = source["coverage"].to_string();
    assert!(coverage.contains("management events only"), "{coverage}");
    assert!(coverage.contains("last 90 days"), "{coverage}");
    // The inputs are the store's files, hashed like any other input.
    assert!(
        m["inputs"].as_array().unwrap().iter().all(|i| i["path"]
            .as_str()
            .unwrap()
            .contains("_LookupEvents_")
            && i["sha256"].as_str().unwrap().len() == 64),
        "{:#}",
        m["inputs"]
    );
    // And the findings are those of the same events read from files.
    let findings = std::fs::read_to_string(dir.join("findings.csv")).unwrap();
    assert!(
        findings.contains("key_used_from_foreign_ip,high,ASIAETLWORKER1KEY002"),
        "{findings}"
    );
}

fn looked_up(fake: &FakeCloudTrail, key: &str) -> bool {
    fake.log()
        .iter()
        .any(|l| l.attribute == Some(("AccessKeyId".into(), key.into())))
}

#[test]
fn the_per_key_plan_follows_role_chains_and_only_the_selected_providers_keys() {
    let (since, until) = ("2026-10-09", "2026-10-10");
    let (files_bi, files_s) = from_files_of(&chain_dirs(), since, until);
    let chains = fake_of(&chain_dirs());
    let store = tempfile::tempdir().unwrap();
    let (bi, s, _) = from_api(&chains, store.path(), since, until);
    assert_eq!(bi, files_bi);
    assert_eq!(s, files_s);
    // 16 keys, the deepest three hops down, each found in its parent's lookup.
    assert_eq!(s.as_array().unwrap().len(), 16, "{s:#}");
    for key in [
        "ASIACHAINAPP1HOP1B01",
        "ASIACHAINDEEP3HOP301",
        "ASIACHAINLOOP4HOP201",
        "ASIACHAINXACCT2HOP01",
    ] {
        assert!(looked_up(&chains, key), "{key} not looked up");
    }
    // Chains that start from no federated key are not followed.
    for key in ["ASIAUSERCHAINOPS0001", "ASIAEC2CHAINAPP00001"] {
        assert!(!looked_up(&chains, key), "{key} looked up");
    }
    // The default plan reads this small region whole, and gives the same reports.
    let whole = fake_of(&chain_dirs());
    let store = tempfile::tempdir().unwrap();
    let mut args = api_args("by-instance", store.path(), &whole, since, until);
    args.retain(|a| a != "--by-key");
    let o = command(&whole).args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(rows(&o), files_bi);
    assert!(stderr(&o).contains("read whole"), "{}", stderr(&o));

    // Only the selected providers' keys: GitHub's key is looked up with --provider any only.
    let cloudtrail = fake();
    let store = tempfile::tempdir().unwrap();
    from_api(&cloudtrail, store.path(), SINCE, UNTIL);
    assert!(looked_up(&cloudtrail, "ASIAETLWORKER1KEY001"));
    assert!(!looked_up(&cloudtrail, "ASIAGITHUBKEY0000001"));
    let store = tempfile::tempdir().unwrap();
    from_api_with(
        &cloudtrail,
        store.path(),
        SINCE,
        UNTIL,
        &["--provider", "any"],
    );
    assert!(looked_up(&cloudtrail, "ASIAGITHUBKEY0000001"));
}

/// A trail of one instance's key and `noise` IAM-user events in us-east-1, 2026-10-05.
fn noisy_trail(dir: &Path, noise: usize) {
    let key = "ASIANOISYINSTANCEK01";
    let mut records = vec![serde_json::json!({
        "eventVersion": "1.08", "eventTime": "2026-10-05T10:00:00Z",
        "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithWebIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "34.1.1.1", "userAgent": "janus-audit",
        "eventID": "noisy-assume", "eventType": "AwsApiCall", "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "WebIdentityUser", "userName": "100000000000000000001",
            "identityProvider": "accounts.google.com",
            "principalId": "accounts.google.com:aud:100000000000000000001"},
        "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/r", "roleSessionName": "p.noisy-1"},
        "responseElements": {"credentials": {"accessKeyId": key, "expiration": "Oct 5, 2026, 11:00:00 AM"},
            "provider": "accounts.google.com", "subjectFromWebIdentityToken": "100000000000000000001"}
    })];
    for i in 0..noise {
        records.push(serde_json::json!({
            "eventVersion": "1.08", "eventTime": format!("2026-10-05T10:{:02}:{:02}Z", 1 + i / 60, i % 60),
            "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.5", "eventID": format!("noise-{i}"),
            "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIANOISYUSER0000001", "userName": "bob"}
        }));
    }
    records.push(serde_json::json!({
        "eventVersion": "1.08", "eventTime": "2026-10-05T10:30:00Z",
        "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
        "awsRegion": "us-east-1", "sourceIPAddress": "34.1.1.1", "eventID": "noisy-call",
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT,
        "userIdentity": {"type": "AssumedRole", "accessKeyId": key,
            "arn": "arn:aws:sts::111122223333:assumed-role/r/p.noisy-1"}
    }));
    let path = dir.join("AWSLogs/111122223333/CloudTrail/us-east-1/2026/10/05/noisy.json.gz");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(
        serde_json::json!({ "Records": records })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    gz.finish().unwrap();
}

/// The default plan, without --by-key or --full.
fn from_api_default(fake: &FakeCloudTrail, store: &Path) -> (Value, String) {
    let mut args = api_args("by-instance", store, fake, SINCE, UNTIL);
    args.retain(|a| a != "--by-key");
    let o = command(fake).args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (rows(&o), stderr(&o))
}

#[test]
fn the_default_plan_picks_the_cheaper_per_region() {
    // The fixture is small: each region's whole window is one request, fewer than its keys'
    // lookups, so both are read whole, and the report is --full's (web-3's keyless call too).
    let (files_bi, _) = from_files(SINCE, UNTIL);
    let fake = fake();
    let store = tempfile::tempdir().unwrap();
    let (bi, err) = from_api_default(&fake, store.path());
    assert_eq!(bi, files_bi);
    assert!(
        err.contains("plan: us-east-1: the whole window took at most"),
        "{err}"
    );
    assert!(
        err.contains("plan: eu-west-1:") && err.contains("read whole"),
        "{err}"
    );
    assert!(!err.contains("fetched by access key"), "{err}");
    let log = fake.log();
    assert!(
        log.iter()
            .all(|l| !matches!(&l.attribute, Some((k, _)) if k == "AccessKeyId")),
        "{log:#?}"
    );
    assert_within_rate(&fake);

    // 150 events of an IAM user beside one key: the whole window is 4 pages of 50, the key's
    // lookup 1. The probe stops after its budget of 1 and the region is read by key.
    let dir = tempfile::tempdir().unwrap();
    noisy_trail(dir.path(), 150);
    let fake = fake_of(&[dir.path().join("AWSLogs/111122223333")]);
    let store = tempfile::tempdir().unwrap();
    let mut args = api_args("by-instance", store.path(), &fake, SINCE, UNTIL);
    args.retain(|a| a != "--by-key");
    args.iter_mut()
        .filter(|a| *a == REGIONS)
        .for_each(|a| *a = "us-east-1".into());
    let o = command(&fake).args(args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "plan: us-east-1: the whole window needs more than its keys' 1 lookup(s): read by key"
        ),
        "{err}"
    );
    let bi = rows(&o);
    assert_eq!(bi[0]["api_calls"], 1, "{bi:#}");
    let log = fake.log();
    let whole = log.iter().filter(|l| l.attribute.is_none()).count();
    assert_eq!(whole, 1, "the probe's budget is one request: {log:#?}");
    assert!(looked_up(&fake, "ASIANOISYINSTANCEK01"));
    // 1 (assumptions) + 1 (probe) + 1 (the key) requests, where --full would take 4.
    assert_eq!(log.len(), 3, "{log:#?}");
}

#[test]
fn a_reused_key_id_is_looked_up_over_the_lifetime_of_each_issuance() {
    // fixtures/reuse: one key ID issued to vm-1 at 08:00 and to vm-2 at 08:20, one to two
    // sessions in one second, one chained key ID issued from two instances' keys. Looked up per
    // key, each issuance's calls are fetched: the reports equal those over the files.
    let dirs = vec![root().join("fixtures/reuse/AWSLogs").join(ACCOUNT)];
    let (since, until) = ("2026-10-11", "2026-10-12");
    let (files_bi, files_s) = from_files_of(&dirs, since, until);
    assert_eq!(files_s.as_array().unwrap().len(), 8, "{files_s:#}");
    let fake = fake_of(&dirs);
    let store = tempfile::tempdir().unwrap();
    let (bi, s, _) = from_api(&fake, store.path(), since, until);
    assert_eq!(bi, files_bi);
    assert_eq!(s, files_s);
    assert!(looked_up(&fake, "ASIAREUSEDCHAIN00001"));
}

/// `trust --from-api` looks up the trust policies' changes (IAM logs them in us-east-1) beside
/// the assumptions, and judges as it does over the same files.
#[test]
fn trust_reads_the_policies_history_from_the_api() {
    let dirs = vec![root().join("fixtures/trust/trail/AWSLogs").join(ACCOUNT)];
    let fake = fake_of(&dirs);
    let store = tempfile::tempdir().unwrap();
    let common = [
        "--since",
        "2026-10-12",
        "--until",
        "2026-10-13",
        "--policies",
        "fixtures/trust/roles",
        "--observed",
        "--format",
        "json",
    ];
    let from_api_in = |region: &str, store: &std::path::Path| {
        command(&fake)
            .args(["trust", "--from-api", "--regions", region, "--endpoint-url"])
            .arg(&fake.url)
            .arg("--store")
            .arg(store)
            .args(common)
            .output()
            .unwrap()
    };
    let api = from_api_in("us-east-1", store.path());
    assert_eq!(api.status.code(), Some(0), "{}", stderr(&api));
    let from_api = rows(&api);
    let o = command(&fake)
        .args(["trust", "fixtures/trust/trail"])
        .args(common)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut from_files = rows(&o);
    // Only where each policy came from differs: the store's file, not the fixture's.
    for r in from_files.as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("policy");
    }
    let mut from_api = from_api;
    for r in from_api.as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("policy");
    }
    assert_eq!(from_api, from_files);
    assert_eq!(from_api.as_array().unwrap().len(), 3);
    for name in ["CreateRole", "UpdateAssumeRolePolicy"] {
        assert!(
            fake.log()
                .iter()
                .any(|l| l.attribute == Some(("EventName".into(), name.into()))),
            "{name} not looked up"
        );
    }
    assert!(!stderr(&api).contains("no policy history from the API"));
    // Without IAM's region the history cannot be fetched: said, not an empty history.
    let store = tempfile::tempdir().unwrap();
    let o = from_api_in("eu-west-1", store.path());
    assert!(
        stderr(&o).contains("blind spot: IAM logs the trust policies' changes (CreateRole, UpdateAssumeRolePolicy) in us-east-1, which was not fetched"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sigma_over_the_api_fetches_every_event_and_answers_as_the_files_do() {
    let dirs = vec![root().join("fixtures/sigma/trail/AWSLogs").join(ACCOUNT)];
    let fake = fake_of(&dirs);
    let store = tempfile::tempdir().unwrap();
    let common = [
        "--since",
        "2026-10-10",
        "--until",
        "2026-10-11",
        "--format",
        "json",
    ];
    let api = command(&fake)
        .args(["sigma", "shipped", "--from-api", "--regions", "us-east-1"])
        .arg("--endpoint-url")
        .arg(&fake.url)
        .arg("--store")
        .arg(store.path())
        .args(common)
        .output()
        .unwrap();
    assert_eq!(api.status.code(), Some(0), "{}", stderr(&api));
    // What LookupEvents holds: the management events.
    let files = tempfile::tempdir().unwrap();
    management_only_files_of(&dirs, files.path());
    let o = command(&fake)
        .args(["sigma", "shipped"])
        .arg(files.path())
        .args(common)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hits = rows(&api);
    assert_eq!(hits, rows(&o));
    // Not only the federated keys' calls: a console sign-in by an IAM user too.
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .any(|h| h["instance"].is_null()),
        "{hits}"
    );
    assert!(
        !stderr(&api).contains("fetched by access key"),
        "{}",
        stderr(&api)
    );
}
