//! `s3://` input, `sync` and `verify` with the real binary against moto's S3 server (PyPI) and the
//! fake CloudTrail's `ListPublicKeys`, over a trail made from fixtures/cloudtrail with digest files
//! signed by an RSA key the test generates, as CloudTrail signs them.

#[path = "support/bin.rs"]
mod bin;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use bin::{Run, run_with};
use serde_json::{Value, json};
use sha2::Digest as _;
use support::cloudtrail::FakeCloudTrail;
use support::faulty::{Fault, Faulty};
use support::moto::Moto;

const BUCKET_PREFIX: &str = "pfx";
/// CloudTrail rotates its signing key: digests that end before this are signed with the trail's
/// first key, the others with its second (2026-10-05T12:00:00Z).
const ROTATION_MS: i64 = 1_791_201_600_000;

/// CloudTrail's fingerprint of a key: the MD5 of its DER (checked against the AWS CLI
/// documentation's `list-public-keys` examples in src/verify/keys.rs).
fn fingerprint(key: &KeyPair) -> String {
    md5_hex(key.public_key().as_ref())
}
/// The trail's home region: its digests are signed there, whatever region they cover, so that is
/// where the public keys must be asked for.
const HOME: &str = "eu-west-1";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(data), &mut out).unwrap();
    out
}

fn hex_sha(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

fn stamp(ms: i64, secs: bool) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    t.format(if secs {
        "%Y%m%dT%H%M%SZ"
    } else {
        "%Y%m%dT%H%MZ"
    })
    .to_string()
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One object of the trail: its key (below the bucket, prefix included) and bytes, and for a
/// digest its signature.
#[derive(Clone)]
struct Obj {
    key: String,
    body: Vec<u8>,
    signature: Option<String>,
}

struct Trail {
    objects: Vec<Obj>,
    /// The key before the rotation, and the key after it.
    keys: [KeyPair; 2],
}

impl Trail {
    /// The key that signs a digest ending at `end`.
    fn key_at(&self, end: i64) -> &KeyPair {
        &self.keys[usize::from(end >= ROTATION_MS)]
    }
}

fn sign(key: &KeyPair, msg: &[u8]) -> String {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &rng, msg, &mut sig).unwrap();
    hex::encode(sig)
}

#[allow(clippy::too_many_arguments)]
/// A digest for `logs` (keys and bodies) ending at `end`, chained to `prev` (key, signature,
/// decompressed content).
fn digest(
    key: &KeyPair,
    bucket: &str,
    scope_dir: &str,
    account: &str,
    region: &str,
    start: i64,
    end: i64,
    logs: &[&Obj],
    prev: Option<&(String, String, Vec<u8>)>,
) -> (Obj, Vec<u8>) {
    let day = chrono::DateTime::from_timestamp_millis(end)
        .unwrap()
        .format("%Y/%m/%d");
    let dkey = format!(
        "{BUCKET_PREFIX}/{scope_dir}/CloudTrail-Digest/{region}/{day}/{account}_CloudTrail-Digest_{region}_org-trail_{HOME}_{}.json.gz",
        stamp(end, true)
    );
    let content = json!({
        "awsAccountId": account,
        "digestStartTime": rfc(start),
        "digestEndTime": rfc(end),
        "digestS3Bucket": bucket,
        "digestS3Object": dkey,
        "digestPublicKeyFingerprint": fingerprint(key),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": rfc(end),
        "oldestEventTime": rfc(start),
        "previousDigestS3Bucket": prev.map(|_| bucket),
        "previousDigestS3Object": prev.map(|p| p.0.clone()),
        "previousDigestHashValue": prev.map(|p| hex_sha(&p.2)),
        "previousDigestHashAlgorithm": prev.map(|_| "SHA-256"),
        "previousDigestSignature": prev.map(|p| p.1.clone()),
        "logFiles": logs.iter().map(|l| json!({
            "s3Bucket": bucket,
            "s3Object": l.key,
            "hashValue": hex_sha(&gunzip(&l.body)),
            "hashAlgorithm": "SHA-256",
            "newestEventTime": rfc(end),
            "oldestEventTime": rfc(start),
        })).collect::<Vec<_>>(),
    });
    let text = serde_json::to_vec(&content).unwrap();
    let to_sign = format!(
        "{}\n{bucket}/{dkey}\n{}\n{}",
        rfc(end),
        hex_sha(&text),
        prev.map(|p| p.1.as_str()).unwrap_or("null")
    );
    let sig = sign(key, to_sign.as_bytes());
    (
        Obj {
            key: dkey,
            body: gz(&text),
            signature: Some(sig),
        },
        text,
    )
}

/// fixtures/cloudtrail's log files (not its sample digest) under `pfx/`, and per account and
/// region one digest per log file, each covering the hour up to its log file's delivery plus a
/// half hour, chained end to start, as CloudTrail delivers them.
fn trail(bucket: &str) -> Trail {
    let keys = [
        KeyPair::generate(KeySize::Rsa2048).unwrap(),
        KeyPair::generate(KeySize::Rsa2048).unwrap(),
    ];
    let base = root().join("fixtures/cloudtrail");
    let mut logs: Vec<Obj> = Vec::new();
    for e in walkdir::WalkDir::new(&base).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(&base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if e.file_type().is_file() && rel.contains("/CloudTrail/") {
            logs.push(Obj {
                key: format!("{BUCKET_PREFIX}/{rel}"),
                body: std::fs::read(e.path()).unwrap(),
                signature: None,
            });
        }
    }
    let mut groups: BTreeMap<String, Vec<&Obj>> = BTreeMap::new();
    for l in &logs {
        let scope = l.key.split("/CloudTrail/").next().unwrap().to_string();
        let region = l
            .key
            .split("/CloudTrail/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        groups
            .entry(format!("{scope}|{region}"))
            .or_default()
            .push(l);
    }
    let mut objects = logs.clone();
    let delivered = |o: &Obj| {
        let name = o.key.rsplit('/').next().unwrap();
        let s = name.split('_').nth(3).unwrap();
        chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%MZ")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    // CloudTrail delivers a digest every hour, log files or not: every chain goes on to the
    // end of the newest (here as one digest without log files after a trail's last one).
    let last_end = logs.iter().map(delivered).max().unwrap() + 1_800_000;
    for (g, mut files) in groups {
        let (scope, region) = g.split_once('|').unwrap();
        let scope_dir = scope.strip_prefix(&format!("{BUCKET_PREFIX}/")).unwrap();
        let account = scope.rsplit('/').next().unwrap();
        files.sort_by_key(|o| delivered(o));
        let mut prev: Option<(String, String, Vec<u8>)> = None;
        let mut start = delivered(files[0]) - 3_600_000;
        let ends: Vec<(i64, Option<&Obj>)> = files
            .iter()
            .map(|f| (delivered(f) + 1_800_000, Some(*f)))
            .chain(std::iter::once((last_end, None)))
            .collect();
        for (end, f) in ends {
            if end <= start {
                continue;
            }
            let (d, text) = digest(
                &keys[usize::from(end >= ROTATION_MS)],
                bucket,
                scope_dir,
                account,
                region,
                start,
                end,
                &f.into_iter().collect::<Vec<_>>(),
                prev.as_ref(),
            );
            prev = Some((d.key.clone(), d.signature.clone().unwrap(), text));
            objects.push(d);
            start = end;
        }
    }
    Trail { objects, keys }
}

fn s3_client(moto: &Moto) -> (tokio::runtime::Runtime, aws_sdk_s3::Client) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(&moto.url)
        .force_path_style(true)
        .build();
    (rt, aws_sdk_s3::Client::from_conf(conf))
}

fn upload(moto: &Moto, bucket: &str, objects: &[Obj]) {
    let (rt, c) = s3_client(moto);
    rt.block_on(async {
        c.create_bucket().bucket(bucket).send().await.unwrap();
        for o in objects {
            let mut put = c
                .put_object()
                .bucket(bucket)
                .key(&o.key)
                .body(o.body.clone().into());
            if let Some(s) = &o.signature {
                put = put
                    .metadata("signature", s)
                    .metadata("signature-algorithm", "SHA256withRSA");
            }
            put.send().await.unwrap();
        }
    });
}

fn put(moto: &Moto, bucket: &str, key: &str, body: Vec<u8>) {
    let (rt, c) = s3_client(moto);
    rt.block_on(async {
        c.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    });
}

/// The files as `aws s3 sync` leaves them: no metadata.
fn write_plain(dir: &Path, objects: &[Obj]) {
    for o in objects {
        let p = dir.join(o.key.strip_prefix(&format!("{BUCKET_PREFIX}/")).unwrap());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &o.body).unwrap();
    }
}

struct Env {
    moto: Moto,
    cloudtrail: FakeCloudTrail,
}

fn env(trail: &Trail) -> Env {
    let cloudtrail = FakeCloudTrail::start("111122223333", &[]);
    let rotation = (ROTATION_MS / 1000) as f64;
    for (key, from, until) in [
        (&trail.keys[0], 1.7e9, rotation),
        (&trail.keys[1], rotation, 1.9e9),
    ] {
        cloudtrail.public_keys.lock().unwrap().push((
            fingerprint(key),
            key.public_key().as_ref().to_vec(),
            from,
            until,
        ));
    }
    Env {
        moto: Moto::start(),
        cloudtrail,
    }
}

/// fixtures/cloudtrail signed as a trail (see [`trail`]) in `bucket` on a fresh moto, with the
/// fake CloudTrail holding its keys.
fn uploaded(bucket: &str) -> (Trail, Env) {
    let t = trail(bucket);
    let e = env(&t);
    upload(&e.moto, bucket, &t.objects);
    (t, e)
}

/// The binary with moto as S3 and the fake as CloudTrail, and test credentials.
fn run(env: &Env, args: &[&str]) -> Run {
    run_at(env, &env.moto.url, args)
}

/// The variables that point the binary at `s3` (moto, or a proxy in front of it) and the fake
/// CloudTrail, with test credentials.
fn vars(env: &Env, s3: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_ENDPOINT_URL_S3", s3),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", &env.cloudtrail.url),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// As [`run`], with S3 at `s3`.
fn run_at(env: &Env, s3: &str, args: &[&str]) -> Run {
    let vars = vars(env, s3);
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_with(args, &refs)
}

/// The binary offline: no endpoint reachable.
fn local_bin(args: &[&str]) -> Run {
    run_with(args, &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")])
}

const REPORTS: &[&str] = &["by-instance", "sessions", "findings"];

#[test]
fn s3_input_gives_the_local_reports_and_lists_only_the_window_days() {
    let bucket = "same";
    let (t, e) = uploaded(bucket);
    let local = tempfile::tempdir().unwrap();
    write_plain(local.path(), &t.objects);
    let uri = format!("s3://{bucket}/{BUCKET_PREFIX}");
    let windows: [&[&str]; 2] = [&[], &["--since", "2026-10-06", "--until", "2026-10-07"]];
    for w in windows {
        for r in REPORTS {
            let mut a = vec![*r, local.path().to_str().unwrap(), "--format", "csv"];
            a.extend(w);
            let from_disk = run(&e, &a);
            let mut b = vec![*r, uri.as_str(), "--format", "csv"];
            b.extend(w);
            let from_s3 = run(&e, &b);
            assert_eq!(from_disk.code, 0, "{}", from_disk.stderr);
            assert_eq!(from_s3.code, 0, "{}", from_s3.stderr);
            assert!(
                from_disk.stdout.lines().count() > 1,
                "{r}: {}",
                from_disk.stdout
            );
            assert_eq!(from_s3.stdout, from_disk.stdout, "{r} {w:?}");
            // Batches fetched from S3 whose calls are kept on disk (debug builds: a budget
            // of 0 bytes) give the same answer.
            let mut vars = vars(&e, &e.moto.url);
            vars.push(("JANUS_AUDIT_SPILL_BYTES".into(), "0".into()));
            let refs: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            b.push("-v");
            let spilled = run_with(&b, &refs);
            assert!(
                spilled.stderr.contains("kept on disk"),
                "{}",
                spilled.stderr
            );
            assert_eq!(
                (spilled.code, &spilled.stdout),
                (0, &from_disk.stdout),
                "{r} {w:?} with the calls kept on disk"
            );
        }
    }
    // Only the window's day prefixes (a day of margin each side) were listed, and no digests.
    let before = e.moto.requests().len();
    let out = run(
        &e,
        &[
            "by-instance",
            &uri,
            "--since",
            "2026-10-06",
            "--until",
            "2026-10-07",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lists: Vec<String> = e.moto.requests()[before..]
        .iter()
        .filter(|(m, u)| m == "GET" && u.contains("list-type=2"))
        .map(|(_, u)| u.clone())
        .collect();
    let day = |d: &str| {
        lists
            .iter()
            .any(|u| u.contains(&format!("%2F{d}%2F")) || u.contains(&format!("/{d}/")))
    };
    assert!(day("2026%2F10%2F06") || day("2026/10/06"), "{lists:#?}");
    assert!(day("2026%2F10%2F07") || day("2026/10/07"), "{lists:#?}");
    assert!(
        !day("2026%2F10%2F04") && !day("2026/10/04"),
        "a day outside the margin was listed: {lists:#?}"
    );
    assert!(
        !lists
            .iter()
            .any(|u| u.contains("CloudTrail-Digest%2F2") || u.contains("CloudTrail-Digest/2")),
        "{lists:#?}"
    );
    // The manifest of a scheduled report names each object by URI, with size, ETag and SHA-256.
    let reports = tempfile::tempdir().unwrap();
    let out = run(
        &e,
        &[
            "report",
            &uri,
            "--output-dir",
            reports.path().to_str().unwrap(),
            "--since",
            "2026-10-06",
            "--until",
            "2026-10-07",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let m = window_manifest(reports.path());
    let inputs = m["inputs"].as_array().unwrap();
    let read: Vec<&Value> = inputs.iter().filter(|i| i["status"] == "read").collect();
    assert!(!read.is_empty());
    for i in read {
        let path = i["path"].as_str().unwrap();
        assert!(
            path.starts_with(&format!("s3://{bucket}/{BUCKET_PREFIX}/AWSLogs/")),
            "{path}"
        );
        let obj = t.objects.iter().find(|o| path.ends_with(&o.key)).unwrap();
        assert_eq!(i["sha256"], hex_sha(&obj.body));
        assert_eq!(i["bytes"], obj.body.len());
        assert_eq!(i["etag"].as_str().unwrap(), md5_hex(&obj.body));
    }
}

/// The manifest of the one window `report` wrote under `out`.
fn window_manifest(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(window_dir(out).join("manifest.json")).unwrap()).unwrap()
}

/// The one window directory a report wrote into `out`.
fn window_dir(out: &Path) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

/// The validation verdict in the header of a window's page.
fn page_verdict(out: &Path) -> String {
    let page = std::fs::read_to_string(window_dir(out).join("index.html")).unwrap();
    let open = r#"<dd id="validation">"#;
    let at = page.find(open).expect("a validation verdict") + open.len();
    page[at..].split('<').next().unwrap().to_string()
}

/// moto's ETag of a single-part upload is the body's MD5, as S3's is.
fn md5_hex(body: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(body))
}

fn dir_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn sync_then_offline_verify_equals_online_verify_and_a_rerun_fetches_nothing() {
    let bucket = "synced";
    let (t, e) = uploaded(bucket);
    let uri = format!("s3://{bucket}/{BUCKET_PREFIX}");
    let online = run(&e, &["verify", &uri, "--format", "csv"]);
    assert_eq!(online.code, 0, "{}", online.stderr);
    assert!(
        online.stdout.contains("111122223333,us-east-1"),
        "{}",
        online.stdout
    );
    // The keys were asked for in the trail's home region, not in the region the digests cover.
    let asked = e.cloudtrail.key_requests.lock().unwrap().clone();
    assert!(!asked.is_empty());
    assert!(asked.iter().all(|r| r == HOME), "{asked:?}");
    let rows: Vec<&str> = online.stdout.lines().collect();
    // Every digest valid, every log file valid, nothing else.
    let header: Vec<&str> = rows[0].split(',').collect();
    let col = |row: &str, name: &str| -> String {
        let i = header.iter().position(|h| *h == name).unwrap();
        row.split(',').nth(i).unwrap().to_string()
    };
    let logs_total: u64 = rows[1..]
        .iter()
        .map(|r| col(r, "log_files_valid").parse::<u64>().unwrap())
        .sum();
    let expected_logs = t.objects.iter().filter(|o| o.signature.is_none()).count() as u64;
    assert_eq!(logs_total, expected_logs, "{}", online.stdout);
    for r in &rows[1..] {
        for c in [
            "digests_invalid",
            "digests_missing",
            "log_files_modified",
            "log_files_deleted",
            "log_files_uncovered",
            "digests_unsigned",
        ] {
            assert_eq!(col(r, c), "0", "{c}: {}", online.stdout);
        }
    }

    let mirror = tempfile::tempdir().unwrap();
    let first = run(&e, &["sync", &uri, dir_str(mirror.path())]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains(&format!("synced {} new or changed", t.objects.len())),
        "{}",
        first.stderr
    );
    assert!(mirror.path().join(".janus-sync/public-keys.json").exists());
    let offline = local_bin(&["verify", dir_str(mirror.path()), "--format", "csv"]);
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    // The same verdicts; the keys came from AWS online and from the mirror offline, which the
    // offline verdict says with its caveat.
    assert_eq!(
        keys_source_swapped(&offline.stdout, "mirror", "aws"),
        online.stdout
    );
    assert!(
        offline.stderr.contains("keys_source mirror"),
        "{}",
        offline.stderr
    );
    assert!(
        !online.stderr.contains("keys_source mirror"),
        "{}",
        online.stderr
    );
    // The mirror is a trail every command reads.
    let a = local_bin(&["by-instance", dir_str(mirror.path()), "--format", "csv"]);
    let b = run(&e, &["by-instance", &uri, "--format", "csv"]);
    assert_eq!((a.code, &a.stdout), (0, &b.stdout), "{}", a.stderr);
    // A rerun downloads nothing.
    let gets_before = moto_object_gets(&e.moto);
    let again = run(&e, &["sync", &uri, dir_str(mirror.path())]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("synced 0 new or changed"),
        "{}",
        again.stderr
    );
    let gets_after = moto_object_gets(&e.moto);
    assert_eq!(gets_before, gets_after);
    // A changed object is fetched again, and only it.
    let changed = t.objects.iter().find(|o| o.signature.is_none()).unwrap();
    put(&e.moto, bucket, &changed.key, gz(b"{\"Records\":[]}"));
    let third = run(&e, &["sync", &uri, dir_str(mirror.path())]);
    assert!(
        third.stderr.contains("synced 1 new or changed"),
        "{}",
        third.stderr
    );
    // ... and both verifies now name it as modified (exit 8).
    let online = run(&e, &["verify", &uri, "--format", "csv"]);
    let offline = local_bin(&["verify", dir_str(mirror.path()), "--format", "csv"]);
    assert_eq!(
        (online.code, offline.code),
        (8, 8),
        "{}\n{}",
        online.stderr,
        offline.stderr
    );
    assert_eq!(
        online.stdout,
        keys_source_swapped(&offline.stdout, "mirror", "aws")
    );
    let name = changed.key.rsplit('/').next().unwrap();
    assert!(
        online.stderr.contains("MODIFIED") && online.stderr.contains(name),
        "{}",
        online.stderr
    );

    // A copy made by `aws s3 sync` has no signatures: digests unsigned, log files still checked.
    let plain = tempfile::tempdir().unwrap();
    write_plain(plain.path(), &t.objects);
    let out = local_bin(&["verify", dir_str(plain.path()), "--format", "csv"]);
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(out.stderr.contains("UNSIGNED"), "{}", out.stderr);
    assert!(!out.stderr.contains("MODIFIED"), "{}", out.stderr);
}

/// A verify CSV with its `keys_source` values `from` spelled `to`.
fn keys_source_swapped(csv: &str, from: &str, to: &str) -> String {
    csv.lines()
        .map(|l| match l.strip_suffix(&format!(",{from}")) {
            Some(rest) => format!("{rest},{to}\n"),
            None => format!("{l}\n"),
        })
        .collect()
}

/// A copy of `golden` to tamper with.
fn copy(golden: &Path) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for e in walkdir::WalkDir::new(golden) {
        let e = e.unwrap();
        let to = d.path().join(e.path().strip_prefix(golden).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
    d
}

fn files_under(dir: &Path, part: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| p.to_string_lossy().contains(part) && p.to_string_lossy().ends_with(".json.gz"))
        .collect();
    v.sort();
    v
}

#[test]
fn each_tamper_case_is_caught_and_named() {
    let bucket = "tamper";
    let (t, e) = uploaded(bucket);
    let golden = tempfile::tempdir().unwrap();
    let out = run(
        &e,
        &[
            "sync",
            &format!("s3://{bucket}/{BUCKET_PREFIX}"),
            dir_str(golden.path()),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let scope = "AWSLogs/o-exampleorg1/111122223333";
    let logs = |d: &Path| files_under(d, &format!("{scope}/CloudTrail/"));
    let digests = |d: &Path| files_under(d, &format!("{scope}/CloudTrail-Digest/"));
    assert!(digests(golden.path()).len() >= 3);
    let verify = |d: &Path| local_bin(&["verify", dir_str(d), "--format", "csv"]);
    assert_eq!(verify(golden.path()).code, 0);

    // A log file modified.
    let d = copy(golden.path());
    let f = &logs(d.path())[0];
    let mut text = gunzip(&std::fs::read(f).unwrap());
    text.extend(b"\n");
    std::fs::write(f, gz(&text)).unwrap();
    caught(&verify(d.path()), 8, "MODIFIED", f);

    // A log file deleted.
    let d = copy(golden.path());
    let f = logs(d.path())[1].clone();
    std::fs::remove_file(&f).unwrap();
    caught(&verify(d.path()), 8, "DELETED", &f);

    // A digest in the middle of the chain deleted: a gap in the chain.
    let d = copy(golden.path());
    let f = digests(d.path())[1].clone();
    let gone: Value = serde_json::from_slice(&gunzip(&std::fs::read(&f).unwrap())).unwrap();
    std::fs::remove_file(&f).unwrap();
    caught(&verify(d.path()), 8, "MISSING", &f);
    // ... and the time it covered is named as not covered, exactly.
    let out = local_bin(&["verify", dir_str(d.path()), "--format", "json"]);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["account_id"] == "111122223333" && r["region"] == "us-east-1")
        .unwrap();
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let gaps: Vec<(_, _)> = row["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let (a, b) = g.as_str().unwrap().split_once('/').unwrap();
            (at(&json!(a)), at(&json!(b)))
        })
        .collect();
    assert_eq!(
        gaps,
        [(at(&gone["digestStartTime"]), at(&gone["digestEndTime"]))],
        "{}",
        out.stdout
    );

    // A digest modified (its signature no longer matches).
    let d = copy(golden.path());
    let f = digests(d.path())[0].clone();
    let mut v: Value = serde_json::from_slice(&gunzip(&std::fs::read(&f).unwrap())).unwrap();
    v["logFiles"] = json!([]);
    std::fs::write(&f, gz(&serde_json::to_vec(&v).unwrap())).unwrap();
    caught(&verify(d.path()), 8, "INVALID", &f);

    // A digest re-signed with another key (the forger's).
    let d = copy(golden.path());
    let f = digests(d.path())[0].clone();
    let content = gunzip(&std::fs::read(&f).unwrap());
    let v: Value = serde_json::from_slice(&content).unwrap();
    let other = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let to_sign = format!(
        "{}\n{}/{}\n{}\nnull",
        v["digestEndTime"].as_str().unwrap(),
        v["digestS3Bucket"].as_str().unwrap(),
        v["digestS3Object"].as_str().unwrap(),
        hex_sha(&content)
    );
    resign(&f, &sign(&other, to_sign.as_bytes()));
    let out = verify(d.path());
    assert_eq!(out.code, 8);
    assert!(
        out.stderr.contains("signature verification failed"),
        "{}",
        out.stderr
    );

    // A chain whose previous signature does not match: the middle digest replaced by a validly
    // signed one with other content, so the next digest's record of it is wrong.
    let d = copy(golden.path());
    let f = digests(d.path())[1].clone();
    let mut v: Value = serde_json::from_slice(&gunzip(&std::fs::read(&f).unwrap())).unwrap();
    v["newestEventTime"] = json!("2026-10-05T00:00:00Z");
    let content = serde_json::to_vec(&v).unwrap();
    let to_sign = format!(
        "{}\n{}/{}\n{}\n{}",
        v["digestEndTime"].as_str().unwrap(),
        v["digestS3Bucket"].as_str().unwrap(),
        v["digestS3Object"].as_str().unwrap(),
        hex_sha(&content),
        v["previousDigestSignature"].as_str().unwrap()
    );
    std::fs::write(&f, gz(&content)).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(v["digestEndTime"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    resign(&f, &sign(t.key_at(end), to_sign.as_bytes()));
    caught(&verify(d.path()), 8, "chain broken", &f);

    // A log file that no digest lists: not proven, and named (exit 9).
    let d = copy(golden.path());
    let extra = logs(d.path())[0]
        .with_file_name("111122223333_CloudTrail_us-east-1_20261005T1045Z_XtRa.json.gz");
    std::fs::write(&extra, gz(b"{\"Records\":[]}")).unwrap();
    let out = verify(d.path());
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(
        out.stderr.contains("UNCOVERED") && out.stderr.contains("XtRa"),
        "{}",
        out.stderr
    );

    // Truncation: the newest digests of one trail and the log files they list deleted. Nothing
    // names them any more, but the time they covered is not covered: a gap to the window's
    // end less an hour (a digest's delivery), and without a window to where the other trails'
    // digests reach, less the same.
    let d = copy(golden.path());
    let chain = digests(d.path());
    let end_of = |f: &Path| -> i64 {
        let v: Value = serde_json::from_slice(&gunzip(&std::fs::read(f).unwrap())).unwrap();
        chrono::DateTime::parse_from_rfc3339(v["digestEndTime"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let newest = end_of(chain.last().unwrap());
    let kept = end_of(&chain[chain.len() - 3]);
    for f in &chain[chain.len() - 2..] {
        let v: Value = serde_json::from_slice(&gunzip(&std::fs::read(f).unwrap())).unwrap();
        for l in v["logFiles"].as_array().unwrap() {
            let tail = l["s3Object"]
                .as_str()
                .unwrap()
                .split_once("AWSLogs/")
                .unwrap()
                .1;
            let log = logs(d.path())
                .into_iter()
                .find(|p| p.to_string_lossy().ends_with(tail))
                .unwrap();
            std::fs::remove_file(log).unwrap();
        }
        std::fs::remove_file(f).unwrap();
        std::fs::remove_file(format!("{}.s3meta", f.display())).unwrap();
    }
    let rfc_ms = |ms: i64| rfc(ms);
    let gaps_of = |out: &Run| -> Vec<String> {
        let rows: Value = serde_json::from_str(&out.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["account_id"] == "111122223333" && r["region"] == "us-east-1")
            .flat_map(|r| r["gaps"].as_array().unwrap().clone())
            .map(|g| g.as_str().unwrap().to_string())
            .collect()
    };
    let until = rfc_ms(newest + 3 * 3_600_000);
    let out = local_bin(&[
        "verify",
        dir_str(d.path()),
        "--format",
        "json",
        "--since",
        "2026-10-04",
        "--until",
        &until,
    ]);
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(
        gaps_of(&out).contains(&format!(
            "{}/{}",
            rfc_ms(kept),
            rfc_ms(newest + 2 * 3_600_000)
        )),
        "{:?}\n{}",
        gaps_of(&out),
        out.stdout
    );
    let out = local_bin(&["verify", dir_str(d.path()), "--format", "json"]);
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(
        gaps_of(&out).contains(&format!("{}/{}", rfc_ms(kept), rfc_ms(newest - 3_600_000))),
        "{:?}",
        gaps_of(&out)
    );

    // A forged file under AWSLogs/ but outside <account>/CloudTrail/<region>/: every report
    // reads it, so verify and --verify name it as uncovered (exit 9).
    let d = copy(golden.path());
    let first_log = logs(golden.path())[0].clone();
    let root = first_log
        .to_string_lossy()
        .split("/AWSLogs/")
        .next()
        .unwrap()
        .to_string();
    let notes = d
        .path()
        .join(Path::new(&root).strip_prefix(golden.path()).unwrap())
        .join("AWSLogs/notes.json");
    std::fs::write(&notes, gunzip(&std::fs::read(&first_log).unwrap())).unwrap();
    let out = verify(d.path());
    assert_eq!(out.code, 9, "{}", out.stderr);
    assert!(
        out.stderr.contains("notes.json") && out.stderr.contains("outside the CloudTrail layout"),
        "{}",
        out.stderr
    );
    let out = local_bin(&["by-instance", dir_str(d.path()), "--verify"]);
    assert_eq!(out.code, 9, "{}", out.stderr);

    // --verify on a report: the files table says which file is which, and the status follows.
    let out = local_bin(&[
        "query",
        "SELECT path, validation FROM files ORDER BY path",
        dir_str(golden.path()),
        "--verify",
        "--format",
        "csv",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(",valid\n") && out.stdout.contains(",digest-valid\n"),
        "{}",
        out.stdout
    );
    let d = copy(golden.path());
    let f = &logs(d.path())[0];
    std::fs::write(f, gz(b"{\"Records\":[]}")).unwrap();
    let out = local_bin(&["by-instance", dir_str(d.path()), "--verify"]);
    assert_eq!(out.code, 8, "{}", out.stderr);

    // `report --verify`: the manifest says per input how it was validated, and sums it up.
    let manifest = |input: &Path| {
        let out_dir = tempfile::tempdir().unwrap();
        let out = local_bin(&[
            "report",
            dir_str(input),
            "--verify",
            "--output-dir",
            dir_str(out_dir.path()),
            // Inside the span every chain covers: a window reaching before a trail's first
            // digest is not fully covered.
            "--since",
            "2026-10-05T11:00:00Z",
            "--until",
            "2026-10-05T14:00:00Z",
            "--formats",
            "csv,html",
        ]);
        let verdict = page_verdict(out_dir.path());
        (out.code, window_manifest(out_dir.path()), verdict)
    };
    let (code, m, verdict) = manifest(golden.path());
    assert_eq!(code, 0);
    assert!(verdict.starts_with("valid: "), "{verdict}");
    assert_eq!(m["verification"]["tampered"], false, "{m:#}");
    assert_eq!(m["verification"]["fully_covered"], true, "{m:#}");
    let logs_read: Vec<&Value> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "read")
        .collect();
    assert!(!logs_read.is_empty());
    for i in logs_read {
        assert_eq!(i["validation"], "valid", "{i}");
    }
    let (code, m, verdict) = manifest(d.path());
    assert_eq!(code, 8);
    assert!(verdict.starts_with("TAMPERED"), "{verdict}");
    assert_eq!(m["verification"]["tampered"], true, "{m:#}");
    let name = f.file_name().unwrap().to_str().unwrap();
    assert!(
        m["verification"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("MODIFIED") && p.as_str().unwrap().contains(name)),
        "{m:#}"
    );
    let input = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with(name))
        .unwrap();
    assert_eq!(input["validation"], "modified", "{input}");

    // Several windows in one run: the status is the most severe of theirs, whatever order they
    // come in. Every window reads the modified file (tampered, 8); only 11:00-12:00 has a high
    // finding (--fail-on high, 4, which wins). Windows [10-11, 11-12], then [11-12, 12-13].
    for (done_until, as_of) in [
        ("2026-10-05T10:00:00Z", "2026-10-05T13:00:00Z"),
        ("2026-10-05T11:00:00Z", "2026-10-05T14:00:00Z"),
    ] {
        let out_dir = tempfile::tempdir().unwrap();
        let state = out_dir.path().join("state.json");
        std::fs::write(
            &state,
            format!(r#"{{"last_completed_until":"{done_until}"}}"#),
        )
        .unwrap();
        let out = local_bin(&[
            "report",
            dir_str(d.path()),
            "--verify",
            "--output-dir",
            dir_str(out_dir.path()),
            "--window",
            "1h",
            "--state",
            state.to_str().unwrap(),
            "--as-of",
            as_of,
            "--fail-on",
            "high",
            "--formats",
            "csv",
        ]);
        assert_eq!(out.code, 4, "windows after {done_until}: {}", out.stderr);
        assert_eq!(
            out.stderr.matches(": MODIFIED: ").count(),
            2,
            "{}",
            out.stderr
        );
    }
}

/// `out` has status `code` and names `file` with `word` on stderr.
fn caught(out: &Run, code: i32, word: &str, file: &Path) {
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(out.code, code, "{}", out.stderr);
    assert!(
        out.stderr.contains(word) && out.stderr.contains(name),
        "{word} {name}: {}",
        out.stderr
    );
}

/// Replace a synced digest's signature in its sidecar.
fn resign(file: &Path, sig: &str) {
    let side = PathBuf::from(format!("{}.s3meta", file.display()));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&side).unwrap()).unwrap();
    v["signature"] = json!(sig);
    std::fs::write(&side, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// How many objects (not listings) moto has served.
fn moto_object_gets(m: &Moto) -> usize {
    m.requests()
        .iter()
        .filter(|(m, u)| m == "GET" && !u.contains("list-type"))
        .count()
}

/// GETs of objects (not listings) in a proxy's log.
fn object_gets(log: &[support::faulty::Logged]) -> Vec<&support::faulty::Logged> {
    log.iter()
        .filter(|l| l.method == "GET" && !l.target.contains("list-type"))
        .collect()
}

#[test]
fn throttling_errors_and_dropped_connections_are_retried_and_ingest_reads_the_bucket() {
    let bucket = "faulty";
    let (t, e) = uploaded(bucket);
    let uri = format!("s3://{bucket}/{BUCKET_PREFIX}");
    let local = tempfile::tempdir().unwrap();
    write_plain(local.path(), &t.objects);
    // Every listing's first attempt is throttled; every object's first attempt meets one of the
    // faults in turn (each kind more than once).
    const KINDS: [Fault; 4] = [
        Fault::SlowDown,
        Fault::InternalError,
        Fault::Drop,
        Fault::Truncate,
    ];
    let faulty = || {
        let next = std::sync::atomic::AtomicUsize::new(0);
        Faulty::start(
            &e.moto.url,
            Box::new(move |method, target, attempt| {
                if method != "GET" || attempt > 1 {
                    None
                } else if target.contains("list-type") {
                    Some(Fault::SlowDown)
                } else {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Some(KINDS[i % KINDS.len()])
                }
            }),
        )
    };
    let proxy = faulty();
    for r in REPORTS {
        let want = local_bin(&[r, dir_str(local.path()), "--format", "csv"]);
        let got = run_at(&e, &proxy.url, &[r, &uri, "--format", "csv"]);
        assert_eq!(got.code, 0, "{r}: {}", got.stderr);
        assert_eq!(got.stdout, want.stdout, "{r}");
        assert!(
            got.stderr.contains("0 file(s) skipped as damaged"),
            "{}",
            got.stderr
        );
    }
    let log = proxy.log();
    let gets = object_gets(&log);
    for k in KINDS {
        assert!(
            gets.iter().filter(|l| l.fault == Some(k)).count() >= 2,
            "{k:?} never injected: {log:#?}"
        );
    }
    assert!(
        log.iter()
            .any(|l| l.target.contains("list-type") && l.fault == Some(Fault::SlowDown))
    );
    // Every object met its fault once, and the next attempt fetched it whole.
    let mut tries: BTreeMap<&str, Vec<Option<Fault>>> = BTreeMap::new();
    for l in &gets {
        tries.entry(l.target.as_str()).or_default().push(l.fault);
    }
    let logs = t.objects.iter().filter(|o| o.signature.is_none()).count();
    assert_eq!(tries.len(), logs, "{tries:#?}");
    for (target, t) in &tries {
        assert!(t.len() >= 2, "{target}: {t:?}");
        assert!(
            t[0].is_some() && t[1..].iter().all(|f| f.is_none()),
            "{target}: {t:?}"
        );
    }

    // `ingest s3://…` through the same faults builds the dataset that local files build, and a
    // rerun fetches nothing.
    let from_s3 = tempfile::tempdir().unwrap();
    let from_disk = tempfile::tempdir().unwrap();
    let proxy = faulty();
    let a = run_at(
        &e,
        &proxy.url,
        &["ingest", &uri, "--dataset", dir_str(from_s3.path())],
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(
        a.stderr.contains(&format!("ingested {logs} new file(s)")),
        "{}",
        a.stderr
    );
    let b = local_bin(&[
        "ingest",
        dir_str(local.path()),
        "--dataset",
        dir_str(from_disk.path()),
    ]);
    assert_eq!(b.code, 0, "{}", b.stderr);
    for r in REPORTS {
        let x = local_bin(&[r, "--dataset", dir_str(from_s3.path()), "--format", "csv"]);
        let y = local_bin(&[r, "--dataset", dir_str(from_disk.path()), "--format", "csv"]);
        assert_eq!((x.code, y.code), (0, 0), "{}{}", x.stderr, y.stderr);
        assert!(x.stdout.lines().count() > 1 || *r == "findings", "{r}");
        assert_eq!(x.stdout, y.stdout, "{r}");
    }
    let files = local_bin(&[
        "query",
        "SELECT path FROM files ORDER BY path",
        "--dataset",
        dir_str(from_s3.path()),
        "--format",
        "csv",
    ]);
    assert!(
        files
            .stdout
            .lines()
            .skip(1)
            .all(|p| p.starts_with(&format!("{uri}/AWSLogs/"))),
        "{}",
        files.stdout
    );
    let before = object_gets(&proxy.log()).len();
    let again = run_at(
        &e,
        &proxy.url,
        &["ingest", &uri, "--dataset", dir_str(from_s3.path())],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("ingested 0 new file(s)"),
        "{}",
        again.stderr
    );
    assert_eq!(object_gets(&proxy.log()).len(), before);
}

#[test]
fn an_interrupted_sync_keeps_what_it_finished_and_resumes_without_fetching_it_again() {
    let bucket = "resume";
    let (t, e) = uploaded(bucket);
    let uri = format!("s3://{bucket}/{BUCKET_PREFIX}");
    // One log file's GET never answers, so the sync is killed while it waits for it.
    let stalled = t
        .objects
        .iter()
        .filter(|o| o.signature.is_none())
        .nth(1)
        .unwrap()
        .key
        .clone();
    let name = stalled.rsplit('/').next().unwrap().to_string();
    let proxy = Faulty::start(
        &e.moto.url,
        Box::new(move |method, target, _| {
            (method == "GET" && target.contains(&name)).then_some(Fault::Stall)
        }),
    );
    let mirror = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(["sync", &uri, dir_str(mirror.path())])
        .envs(vars(&e, &proxy.url))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sidecars = || {
        walkdir::WalkDir::new(mirror.path())
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().to_string_lossy().ends_with(".s3meta"))
            .count()
    };
    let started = std::time::Instant::now();
    while sidecars() < t.objects.len() - 1 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync ended while a GET was stalled"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the other objects were not written while one was stalled"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Everything finished is there, whole; the stalled object is not there under its name.
    let rel = |k: &str| {
        mirror
            .path()
            .join(k.strip_prefix(&format!("{BUCKET_PREFIX}/")).unwrap())
    };
    for o in &t.objects {
        let p = rel(&o.key);
        if o.key == stalled {
            assert!(!p.exists(), "{}", p.display());
        } else {
            assert_eq!(std::fs::read(&p).unwrap(), o.body, "{}", p.display());
        }
    }
    // The rerun fetches the one object left, and the mirror then verifies.
    let before = moto_object_gets(&e.moto);
    let out = run(&e, &["sync", &uri, dir_str(mirror.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "synced 1 new or changed object(s) ({} bytes)",
            t.objects
                .iter()
                .find(|o| o.key == stalled)
                .unwrap()
                .body
                .len()
        )),
        "{}",
        out.stderr
    );
    assert_eq!(moto_object_gets(&e.moto) - before, 1);
    let verified = local_bin(&["verify", dir_str(mirror.path())]);
    assert_eq!(verified.code, 0, "{}", verified.stderr);
}

/// Every digest of `scope`'s chain in the mirror `dir` re-signed with `key` under `fp`, each
/// recording the one before it as CloudTrail does; `edit` changes each digest's content first.
fn resign_chain(dir: &Path, scope: &str, key: &KeyPair, fp: &str, edit: &dyn Fn(&mut Value)) {
    let mut prev: Option<(String, Vec<u8>)> = None;
    for f in files_under(dir, &format!("{scope}/CloudTrail-Digest/")) {
        let mut v: Value = serde_json::from_slice(&gunzip(&std::fs::read(&f).unwrap())).unwrap();
        edit(&mut v);
        v["digestPublicKeyFingerprint"] = json!(fp);
        if let Some((sig, content)) = &prev {
            v["previousDigestSignature"] = json!(sig);
            v["previousDigestHashValue"] = json!(hex_sha(content));
        }
        let content = serde_json::to_vec(&v).unwrap();
        let to_sign = format!(
            "{}\n{}/{}\n{}\n{}",
            v["digestEndTime"].as_str().unwrap(),
            v["digestS3Bucket"].as_str().unwrap(),
            v["digestS3Object"].as_str().unwrap(),
            hex_sha(&content),
            v["previousDigestSignature"].as_str().unwrap_or("null")
        );
        let sig = sign(key, to_sign.as_bytes());
        std::fs::write(&f, gz(&content)).unwrap();
        resign(&f, &sig);
        prev = Some((sig, content));
    }
}

/// The mirror's key file with `der` under `fp` added (or replacing the key filed there).
fn plant_key(dir: &Path, fp: &str, der: &[u8]) {
    let path = dir.join(".janus-sync/public-keys.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["keys"][fp] = json!(hex::encode(der));
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// The JSON `aws cloudtrail list-public-keys` prints for the trail's two keys.
fn list_public_keys_json(t: &Trail) -> String {
    use base64::Engine;
    json!({"PublicKeyList": t.keys.iter().map(|k| json!({
        "Value": base64::engine::general_purpose::STANDARD.encode(k.public_key().as_ref()),
        "ValidityStartTime": 1.7e9,
        "ValidityEndTime": 1.9e9,
        "Fingerprint": fingerprint(k),
    })).collect::<Vec<_>>()})
    .to_string()
}

#[test]
fn a_mirror_re_signed_by_whoever_can_write_it_is_caught_with_pinned_or_online_keys() {
    let bucket = "forged";
    let (t, e) = uploaded(bucket);
    let golden = tempfile::tempdir().unwrap();
    let uri = format!("s3://{bucket}/{BUCKET_PREFIX}");
    let out = run(&e, &["sync", &uri, dir_str(golden.path())]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pins = tempfile::tempdir().unwrap();
    let pinned = pins.path().join("keys.json");
    std::fs::write(&pinned, list_public_keys_json(&t)).unwrap();
    let pinned = dir_str(&pinned).to_string();
    fn verify<'a>(d: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["verify", dir_str(d), "--format", "csv"];
        args.extend(extra);
        args
    }

    // The honest mirror: valid with the mirror's keys (said so), the pinned ones, and AWS's.
    let offline = local_bin(&verify(golden.path(), &[]));
    assert_eq!(offline.code, 0, "{}", offline.stderr);
    assert!(offline.stdout.contains(",mirror\n"), "{}", offline.stdout);
    let out = local_bin(&verify(golden.path(), &["--public-keys", &pinned]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(",pinned\n") && !out.stdout.contains(",mirror\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("keys_source mirror"), "{}", out.stderr);
    let out = run(&e, &verify(golden.path(), &["--online"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(",aws\n"), "{}", out.stdout);

    // An attacker who can write the mirror removes an event from a log file, re-hashes it,
    // re-signs the chain with a key of their own and adds that key to the mirror's key file.
    let scope = "AWSLogs/o-exampleorg1/111122223333";
    let forged = copy(golden.path());
    let log = files_under(forged.path(), &format!("{scope}/CloudTrail/"))[0].clone();
    let mut records: Value =
        serde_json::from_slice(&gunzip(&std::fs::read(&log).unwrap())).unwrap();
    records["Records"].as_array_mut().unwrap().remove(0);
    let text = serde_json::to_vec(&records).unwrap();
    std::fs::write(&log, gz(&text)).unwrap();
    let name = log.file_name().unwrap().to_str().unwrap().to_string();
    let attacker = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let fp = fingerprint(&attacker);
    let new_hash = hex_sha(&text);
    resign_chain(forged.path(), scope, &attacker, &fp, &|v| {
        for l in v["logFiles"].as_array_mut().unwrap() {
            if l["s3Object"].as_str().unwrap().ends_with(&name) {
                l["hashValue"] = json!(new_hash);
            }
        }
    });
    plant_key(forged.path(), &fp, attacker.public_key().as_ref());
    // Unpinned and offline, nothing can tell: valid, but only on the mirror's word, and said so.
    let out = local_bin(&verify(forged.path(), &[]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(",mirror\n"), "{}", out.stdout);
    assert!(
        out.stderr.contains("keys_source mirror") && out.stderr.contains("re-signed"),
        "{}",
        out.stderr
    );
    // Pinned keys, or AWS's: every re-signed digest fails (exit 8).
    let out = local_bin(&verify(forged.path(), &["--public-keys", &pinned]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains("public key not found"),
        "{}",
        out.stderr
    );
    let out = run(&e, &verify(forged.path(), &["--online"]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains(&fp) && out.stderr.contains("AWS does not list it"),
        "{}",
        out.stderr
    );
    // A report's --verify takes the same pin.
    let out = local_bin(&[
        "by-instance",
        dir_str(forged.path()),
        "--verify",
        "--public-keys",
        &pinned,
    ]);
    assert_eq!(out.code, 8, "{}", out.stderr);
    let out = local_bin(&["by-instance", dir_str(forged.path()), "--verify"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("keys_source mirror"), "{}", out.stderr);
    // A report manifest of the honest mirror records the fingerprints its verdict rested on:
    // pinned by it, the forged mirror fails too.
    let reports = tempfile::tempdir().unwrap();
    let out = local_bin(&[
        "report",
        dir_str(golden.path()),
        "--verify",
        "--output-dir",
        dir_str(reports.path()),
        "--since",
        "2026-10-05T11:00:00Z",
        "--until",
        "2026-10-05T14:00:00Z",
        "--formats",
        "csv,html",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let verdict = page_verdict(reports.path());
    assert!(
        verdict.starts_with("valid: ")
            && verdict.contains("public keys: mirror; the public keys came from the mirror itself"),
        "{verdict}"
    );
    let m = window_manifest(reports.path());
    assert_eq!(m["verification"]["keys_source"], "mirror", "{m:#}");
    assert!(
        m["verification"]["keys_caveat"]
            .as_str()
            .unwrap()
            .contains("re-signed")
    );
    let fps: Vec<String> = t.keys.iter().map(fingerprint).collect();
    let mut recorded: Vec<String> =
        serde_json::from_value(m["verification"]["public_key_fingerprints"].clone()).unwrap();
    recorded.sort();
    let mut want = fps.clone();
    want.sort();
    assert_eq!(recorded, want);
    let manifest = window_dir(reports.path()).join("manifest.json");
    let out = local_bin(&verify(
        forged.path(),
        &["--public-keys", dir_str(&manifest)],
    ));
    assert_eq!(out.code, 8, "{}", out.stderr);

    // The attacker's key filed under a real key's fingerprint is not that key: refused (exit 8)
    // even unpinned.
    let misfiled = copy(golden.path());
    let real = fingerprint(&t.keys[0]);
    resign_chain(misfiled.path(), scope, &attacker, &real, &|_| {});
    plant_key(misfiled.path(), &real, attacker.public_key().as_ref());
    let out = local_bin(&verify(misfiled.path(), &[]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(out.stderr.contains("is another key"), "{}", out.stderr);

    // Sidecars deleted or garbled in a mirror sync wrote are damage (exit 8), not "unsigned".
    let stripped = copy(golden.path());
    let digest = files_under(stripped.path(), &format!("{scope}/CloudTrail-Digest/"))[1].clone();
    std::fs::remove_file(format!("{}.s3meta", digest.display())).unwrap();
    caught(
        &local_bin(&verify(stripped.path(), &[])),
        8,
        "sidecar",
        &digest,
    );
    let garbled = copy(golden.path());
    let digest = files_under(garbled.path(), &format!("{scope}/CloudTrail-Digest/"))[1].clone();
    std::fs::write(format!("{}.s3meta", digest.display()), b"{not json").unwrap();
    caught(
        &local_bin(&verify(garbled.path(), &[])),
        8,
        "sidecar",
        &digest,
    );
}

#[test]
fn a_hostile_bucket_or_mirror_costs_only_the_objects_at_fault() {
    use std::os::unix::fs::PermissionsExt;
    let bucket = "hostile";
    let t = trail(bucket);
    let e = env(&t);
    // Beside the trail, in one of its day folders: three keys S3 keeps apart that would be one
    // file, a key with a control character, a name too long for the file system, and a file
    // where another object's folder should be.
    let day = t.objects.iter().find(|o| o.signature.is_none()).unwrap();
    let dir = day.key.rsplit_once('/').unwrap().0.to_string();
    let body = gz(b"{\"Records\":[]}");
    let extra = [
        format!("{dir}/./alias.json.gz"),
        format!("{dir}//alias.json.gz"),
        format!("{dir}/ctl\u{1}name.json.gz"),
        format!("{dir}/{}.json.gz", "a".repeat(300)),
        format!("{dir}/x.json"),
        format!("{dir}/x.json/y.json.gz"),
    ];
    let mut objects: Vec<Obj> = t
        .objects
        .iter()
        .map(|o| Obj {
            key: o.key.clone(),
            body: o.body.clone(),
            signature: o.signature.clone(),
        })
        .collect();
    objects.extend(extra.iter().map(|k| Obj {
        key: k.clone(),
        body: body.clone(),
        signature: None,
    }));
    upload(&e.moto, bucket, &objects);
    // A mirror with a folder of the trail planted as a link to somewhere else, and a temporary
    // file a killed sync left.
    let mirror = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let link_at = mirror.path().join("AWSLogs/444455556666");
    std::fs::create_dir_all(link_at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), &link_at).unwrap();
    std::fs::write(mirror.path().join(".janus-audit-killed.tmp"), b"half").unwrap();
    let uri = format!("s3://{bucket}/{BUCKET_PREFIX}");
    let out = run(&e, &["sync", &uri, dir_str(mirror.path())]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let named = |part: &str| {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains("not synced") && l.contains(part)),
            "{part}: {}",
            out.stderr
        )
    };
    named("/./alias.json.gz");
    named("//alias.json.gz");
    named("aaaaaaaa");
    named("symbolic link");
    // One of x.json and x.json/y.json.gz cannot be written beside the other.
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("not synced") && l.contains("x.json")),
        "{}",
        out.stderr
    );
    // Nothing written through the link; everything else synced, the control character too.
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    let synced = |suffix: &str| {
        walkdir::WalkDir::new(mirror.path())
            .into_iter()
            .filter_map(|e| e.ok())
            .any(|e| e.path().to_string_lossy().ends_with(suffix))
    };
    assert!(synced("ctl\u{1}name.json.gz"), "{}", out.stderr);
    let local_trail: Vec<&Obj> = t
        .objects
        .iter()
        .filter(|o| !o.key.contains("/444455556666/"))
        .collect();
    for o in local_trail {
        assert!(synced(o.key.rsplit('/').next().unwrap()), "{}", o.key);
    }
    // No temporary file left, and every folder sync made is the owner's only.
    assert!(!synced(".tmp"), "a temporary file is left");
    for d in walkdir::WalkDir::new(mirror.path())
        .follow_links(false)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir() && e.depth() > 0 && e.path() != link_at)
    {
        let mode = d.metadata().unwrap().permissions().mode() & 0o777;
        if d.path() != link_at.parent().unwrap() {
            assert_eq!(mode, 0o700, "{}", d.path().display());
        }
    }
}

/// Amazon Security Lake's layout in a bucket (fixtures/security_lake/lake: fixtures/findings as
/// OCSF Parquet): `s3://` reads it as the local copy, the reports and the Sigma rules alike.
#[test]
fn security_lake_in_a_bucket_gives_the_local_lake_reports_and_sigma_hits() {
    let env = Env {
        moto: Moto::start(),
        cloudtrail: FakeCloudTrail::start("111122223333", &[]),
    };
    let lake = root().join("fixtures/security_lake/lake");
    let objects: Vec<Obj> = bin::files_under(&lake)
        .iter()
        .map(|p| Obj {
            key: p
                .strip_prefix(&lake)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
            body: std::fs::read(p).unwrap(),
            signature: None,
        })
        .collect();
    assert!(objects.iter().any(|o| o.key.ends_with(".parquet")));
    upload(&env.moto, "lake-bucket", &objects);
    for report in [&["by-instance"][..], &["findings"], &["sigma", "shipped"]] {
        let args = |input: &'static str| [report, &[input, "--format", "csv", "-q"]].concat();
        let local = local_bin(&args("fixtures/security_lake/lake"));
        assert_eq!(local.code, 0, "{}", local.stderr);
        let remote = run(&env, &args("s3://lake-bucket/aws"));
        assert_eq!(remote.code, 0, "{report:?}: {}", remote.stderr);
        assert!(local.stdout.lines().count() > 1, "{report:?}");
        assert_eq!(remote.stdout, local.stdout, "{report:?}");
    }
}
