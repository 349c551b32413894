//! Hostile and faulty input: every bound holds, every bad file is named (quoted, never echoed)
//! and counted, and the rest of the run is unaffected. Inputs are small and crafted here.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GOOD: &str = "fixtures/damaged/good.json.gz";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the binary; a run that outlives `limit` is killed and fails the test.
fn run_within(args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("JANUS_AUDIT_QUERIES")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("{args:?} hung for more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The one stderr line that names `file`.
fn line_about<'a>(r: &'a Run, file: &str) -> &'a str {
    r.stderr
        .lines()
        .find(|l| l.contains(file))
        .unwrap_or_else(|| panic!("no line names {file}: {}", r.stderr))
}

fn run(args: &[&str]) -> Run {
    run_within(args, Duration::from_secs(60))
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A trail directory holding the good fixture file and `extra` files.
fn trail(extra: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trail");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(GOOD, root.join("a-good.json.gz")).unwrap();
    for (name, bytes) in extra {
        std::fs::write(root.join(name), bytes).unwrap();
    }
    (dir, root)
}

/// `report` over `input` for the one day `since`..`until` into `out`, and that window's manifest.
fn report_of_day(input: &str, out: &Path, since: &str, until: &str) -> (Run, Vec<u8>) {
    let r = run(&[
        "report",
        input,
        "--output-dir",
        s(out),
        "--since",
        since,
        "--until",
        until,
    ]);
    let window = format!("{since}T00-00Z_{until}T00-00Z");
    let manifest = std::fs::read(out.join(&window).join("manifest.json"))
        .unwrap_or_else(|e| panic!("no manifest for {window}: {e}\n{}", r.stderr));
    (r, manifest)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The good file's instance, with its calls: the rest of the run is unaffected.
fn assert_good_file_read(r: &Run) {
    let spare = r
        .stdout
        .lines()
        .find(|l| l.contains("prod-data-1234.spare-1"))
        .unwrap_or_else(|| panic!("good file's instance missing:\n{}\n{}", r.stdout, r.stderr));
    assert!(spare.contains(",1,0,ASIADAMAGEDSETKEY001,1,0,"), "{spare}");
}

#[test]
fn a_gzip_bomb_is_skipped_at_the_size_limit() {
    // 64 MiB of zeros in about 64 KiB of gzip.
    let bomb = gz(&vec![0u8; 64 << 20]);
    let (_d, root) = trail(&[("bomb.json.gz", bomb)]);
    let r = run(&[
        "by-instance",
        s(&root),
        "--format",
        "csv",
        "--max-file-size",
        "8M",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let line = line_about(&r, "bomb.json.gz");
    assert!(
        line.contains("skipped") && line.contains("--max-file-size"),
        "{line}"
    );
    assert!(
        r.stderr
            .contains("1 file(s) skipped over a size or record limit"),
        "{}",
        r.stderr
    );
    assert_good_file_read(&r);
    // Under the default limit it is read, and zeros are no CloudTrail log.
    let r = run(&["by-instance", s(&root), "--format", "csv"]);
    assert!(
        r.stderr.contains("1 file(s) skipped as not CloudTrail"),
        "{}",
        r.stderr
    );
}

#[test]
fn too_many_records_is_skipped_and_unusable_records_are_counted_not_listed() {
    let mut many = String::from(r#"{"Records":["#);
    for i in 0..50_000 {
        if i > 0 {
            many.push(',');
        }
        many.push_str("{}");
    }
    many.push_str("]}");
    let (_d, root) = trail(&[("many.json.gz", gz(many.as_bytes()))]);
    let r = run(&[
        "by-instance",
        s(&root),
        "--format",
        "csv",
        "--max-records-per-file",
        "10000",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let line = line_about(&r, "many.json.gz");
    assert!(line.contains("more than 10000 records"), "{line}");
    assert_good_file_read(&r);
    // Under the limit: a file of 50,000 unusable records is not CloudTrail, and its reason is one
    // short line, not 50,000 reasons.
    let r = run(&["by-instance", s(&root), "--format", "csv"]);
    let line = line_about(&r, "many.json.gz");
    assert!(line.len() < 400, "{line}");
    assert!(line.contains("no usable record (50000 bad"), "{line}");
}

#[test]
fn a_partly_read_file_lists_a_bounded_number_of_bad_records() {
    let good = r#"{"eventVersion":"1.08","eventID":"e1","eventTime":"2026-10-05T08:00:00Z","eventName":"X"}"#;
    let mut body = format!(r#"{{"Records":[{good}"#);
    for _ in 0..5000 {
        body.push_str(",7");
    }
    body.push_str("]}");
    let (d, root) = trail(&[("partial.json", body.into_bytes())]);
    let out = d.path().join("reports");
    let (r, manifest) = report_of_day(s(&root), &out, "2026-10-05", "2026-10-06");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let line = line_about(&r, "partial.json");
    assert!(line.contains("5000 unusable record(s)"), "{line}");
    assert!(
        manifest.len() < 20_000,
        "manifest is {} bytes",
        manifest.len()
    );
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["counts"]["unusable_records"], 5000);
    let reasons = m["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("partial.json"))
        .unwrap()["reasons"]
        .as_array()
        .unwrap()
        .clone();
    assert!(reasons.len() <= 21, "{}", reasons.len());
    assert_eq!(reasons.last().unwrap(), "and 4980 more");
}

#[test]
fn file_content_is_never_echoed_in_full_and_names_cannot_forge_lines() {
    let secret = "AKIASECRET".repeat(100_000);
    let body = format!(r#"{{"Records":"{secret}"}}"#);
    let forged = "x\njanus-audit: read 99 file(s), 99 record(s).json";
    let (d, root) = trail(&[
        ("secret.json", body.into_bytes()),
        (forged, b"{broken".to_vec()),
    ]);
    let out = d.path().join("reports");
    let (r, manifest) = report_of_day(s(&root), &out, "2026-10-05", "2026-10-06");
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.len() < 4_000, "stderr is {} bytes", r.stderr.len());
    assert!(!r.stderr.contains(&"AKIASECRET".repeat(35)), "{}", r.stderr);
    assert!(
        !r.stderr
            .lines()
            .any(|l| l.starts_with("janus-audit: read 99")),
        "a file name forged a line:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains(r#"x\njanus-audit"#), "{}", r.stderr);
    let manifest = String::from_utf8(manifest).unwrap();
    assert!(
        manifest.len() < 20_000,
        "manifest is {} bytes",
        manifest.len()
    );
    assert!(!manifest.contains(&"AKIASECRET".repeat(35)));
    // The files table, as a user's query sees it.
    let r = run(&[
        "query",
        "SELECT problems FROM files WHERE problems IS NOT NULL",
        s(&root),
        "--format",
        "csv",
    ]);
    assert!(!r.stdout.contains(&"AKIASECRET".repeat(35)));
    assert!(r.stdout.len() < 2_000, "{}", r.stdout.len());
}

#[test]
fn empty_files_and_fifos_are_named_and_counted() {
    let (_d, root) = trail(&[("empty.json.gz", Vec::new())]);
    let fifo = root.join("pipe.json.gz");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let r = run_within(
        &["by-instance", s(&root), "--format", "csv"],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let empty = line_about(&r, "empty.json.gz");
    assert!(empty.contains("empty file"), "{empty}");
    let pipe = line_about(&r, "pipe.json.gz");
    assert!(pipe.contains("a FIFO"), "{pipe}");
    assert!(
        r.stderr.contains("2 file(s) skipped as damaged"),
        "{}",
        r.stderr
    );
    assert_good_file_read(&r);
    // A FIFO named on the command line is refused too, not read.
    let r = run_within(&["by-instance", s(&fifo)], Duration::from_secs(30));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("a FIFO"), "{}", r.stderr);
}

#[test]
fn files_that_are_not_cloudtrail_say_so() {
    let (_d, root) = trail(&[
        ("export.json", b"account,region\n1,us-east-1\n".to_vec()),
        ("config.json", b"key: value\nother: 2\n".to_vec()),
        ("archive.json", b"PK\x03\x04\x14\x00\x00\x00".to_vec()),
    ]);
    let r = run(&["by-instance", s(&root), "--format", "csv"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    for f in ["export.json", "config.json", "archive.json"] {
        let line = line_about(&r, f);
        assert!(line.contains("not a CloudTrail log"), "{line}");
    }
    assert!(
        r.stderr.contains("3 file(s) skipped as not CloudTrail"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("0 file(s) skipped as damaged"),
        "{}",
        r.stderr
    );
}

// --- fixtures/edge: shapes from real exports and incident datasets (see fixtures/README.md) ---

const EDGE: &str = "fixtures/edge";

/// Rows of an inline query over fixtures/edge, as CSV lines after the header.
fn edge_query(sql: &str, extra: &[&str]) -> (Vec<String>, Run) {
    let mut args = vec!["query", sql, EDGE, "--format", "csv"];
    args.extend(extra);
    let r = run(&args);
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    let rows = r.stdout.lines().skip(1).map(str::to_string).collect();
    (rows, r)
}

#[test]
fn a_keyless_call_is_one_key_s_when_its_session_names_two() {
    // same_second.json: vm-2's two keys share role, session name and second; its keyless call
    // names both sessions and is counted once, as the first key's.
    let (rows, _) = edge_query(
        "SELECT event_name, key_id, matched_by FROM calls WHERE issued_session_name = 'edge-proj.vm-2' ORDER BY event_time",
        &[],
    );
    assert_eq!(
        rows,
        [
            "DescribeInstances,ASIAEDGEVM2KEY000002,access_key",
            "DescribeTags,ASIAEDGEVM2KEY000001,session"
        ]
    );
    let (rows, _) = edge_query(
        "SELECT access_key_id, used_in_window FROM key_lineage WHERE session_name = 'edge-proj.vm-2' ORDER BY access_key_id",
        &[],
    );
    assert_eq!(
        rows,
        ["ASIAEDGEVM2KEY000001,true", "ASIAEDGEVM2KEY000002,true"]
    );
    let r = run(&["by-instance", EDGE, "--format", "csv"]);
    let vm2 = one_row(&r, "edge-proj,vm-2,");
    assert!(
        vm2.contains(",2,0,ASIAEDGEVM2KEY000001;ASIAEDGEVM2KEY000002,2,0,"),
        "2 assumptions, 2 calls: {vm2}"
    );
    // Each key's own row in `sessions` counts the one call made with it (issuing IP, then
    // api_calls and api_errors).
    let r = run(&["sessions", EDGE, "--format", "csv"]);
    for key in ["ASIAEDGEVM2KEY000001,", "ASIAEDGEVM2KEY000002,"] {
        let row = one_row(&r, key);
        assert!(row.contains(",35.1.1.2,1,0,"), "{row}");
    }
}

#[test]
fn one_unreadable_value_costs_that_value_not_its_file() {
    // A lone surrogate escape in one userAgent: all 18 calls of the file count, one UA is null.
    let (rows, r) = edge_query(
        "SELECT COUNT(*) AS n, COUNT(user_agent) AS with_ua FROM role_calls WHERE access_key_id = 'ASIAEDGEVM1KEY000001'",
        &[],
    );
    assert_eq!(rows, ["18,17"]);
    let line = line_about(&r, "surrogate.json");
    assert!(
        line.contains("partly read") && line.contains("1 unreadable value(s)"),
        "{line}"
    );
    assert_eq!(r.code, 3, "a partly read file makes the report incomplete");
    // 1e999 in awsRegion nulls the region only; in durationSeconds, the duration only.
    let (rows, _) = edge_query(
        "SELECT COUNT(*) AS n, COUNT(aws_region) AS with_region FROM role_calls WHERE access_key_id = 'ASIAEDGEVM1KEY000002'",
        &[],
    );
    assert_eq!(rows, ["3,2"]);
    let (rows, _) = edge_query(
        "SELECT role_arn, duration_seconds FROM assumptions WHERE access_key_id = 'ASIAEDGEVM1KEY000002'",
        &[],
    );
    assert_eq!(rows, ["arn:aws:iam::111122223333:role/gcp-edge,"]);
    assert!(
        r.stderr
            .contains("3 unreadable value(s) read as null (records kept)"),
        "{}",
        r.stderr
    );
}

#[test]
fn concatenated_delivery_files_are_read_whole() {
    let (rows, r) = edge_query(
        "SELECT event_name, COUNT(*) AS n FROM role_calls WHERE event_name IN ('DescribeSubnets', 'DescribeVpcs') GROUP BY 1 ORDER BY 1",
        &[],
    );
    assert_eq!(rows, ["DescribeSubnets,1", "DescribeVpcs,2"]);
    assert!(!r.stderr.contains("concatenated"), "{}", r.stderr);
}

#[test]
fn event_times_from_exports_are_read_and_the_rest_say_why() {
    let (rows, r) = edge_query(
        "SELECT event_time FROM events WHERE event_name = 'GetConsoleOutput' AND event_time IS NOT NULL ORDER BY event_time",
        &[],
    );
    assert_eq!(rows, ["2026-10-06T10:10:00Z", "2026-10-06T10:11:00Z"]);
    assert!(
        r.stderr.contains("1 record(s) without eventTime"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "1 record(s) with an eventTime that is not a time (e.g. 'last Tuesday at noon')"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn every_table_keeps_the_same_copy_of_a_repeated_event_id_and_collisions_are_named() {
    // The first copy of the colliding ID is an IAM user's StopActivityStream (dups/1.json); the
    // assumed role's DescribeDBClusterSnapshots under the same ID (dups/2.json) is in no table.
    let (rows, r) = edge_query(
        "SELECT event_name FROM events WHERE event_id = '8dd088cc-8414-5d9c-b2aa-509b17802b98'",
        &[],
    );
    assert_eq!(rows, ["StopActivityStream"]);
    let (rows, _) = edge_query(
        "SELECT COUNT(*) AS n FROM role_calls WHERE event_name = 'DescribeDBClusterSnapshots'",
        &[],
    );
    assert_eq!(rows, ["0"]);
    let (rows, _) = edge_query(
        "SELECT COUNT(event_id) AS n FROM calls WHERE event_id = 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'",
        &[],
    );
    assert_eq!(rows, ["1"]);
    assert!(
        r.stderr.contains("4 duplicate(s) dropped; 3 of them differ from the copy kept (eventID collision; events may be lost: 8dd088cc-8414-5d9c-b2aa-509b17802b98, xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
        "{}",
        r.stderr
    );
    // by-instance counts from the same surviving copies: 18 + 3 + 3 + 4 + 1 + 1.
    let r = run(&["by-instance", EDGE, "--format", "csv"]);
    let vm = one_row(&r, "edge-proj,vm-1,");
    assert!(
        vm.contains(",3,0,ASIAEDGEVM1KEY000001;ASIAEDGEVM1KEY000002;ASIAEDGEVM1KEY000003,30,0,"),
        "{vm}"
    );
}

#[test]
fn the_report_manifest_names_colliding_ids() {
    let d = tempfile::tempdir().unwrap();
    let (r, manifest) = report_of_day(EDGE, d.path(), "2026-10-06", "2026-10-07");
    assert_eq!(r.code, 3, "{}", r.stderr);
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let c = &m["counts"];
    assert_eq!(
        (
            c["duplicates_dropped"].as_u64(),
            c["duplicates_differing"].as_u64()
        ),
        (Some(4), Some(3))
    );
    assert_eq!(c["duplicate_ids_differing"].as_array().unwrap().len(), 2);
    assert_eq!(c["other_provider_assumptions"], 2);
    assert_eq!(c["values_read_as_null"], 3);
}

#[test]
fn other_providers_left_out_are_counted_with_the_hint() {
    let (rows, r) = edge_query(
        "SELECT COUNT(*) FROM assumptions WHERE error_code IS NULL",
        &[],
    );
    // vm-1's three and vm-2's two (same_second.json).
    assert_eq!(
        rows,
        ["5"],
        "an unaliased COUNT(*) reads as count: {}",
        r.stdout
    );
    assert!(r.stdout.starts_with("count\n"), "{}", r.stdout);
    assert!(
        r.stderr.contains("2 assumption(s) from other web identity providers (GitHub Actions, EKS, ...) not reported; --provider any includes them"),
        "{}",
        r.stderr
    );
    let (rows, r) = edge_query(
        "SELECT COUNT(*) FROM assumptions WHERE error_code IS NULL",
        &["--provider", "any"],
    );
    assert_eq!(rows, ["7"]);
    assert!(
        !r.stderr.contains("other web identity providers"),
        "{}",
        r.stderr
    );
}

#[test]
fn failures_without_a_provider_are_attributed_and_bursts_found_by_default() {
    let (rows, _) = edge_query(
        "SELECT provider, COUNT(*) AS n FROM assumptions WHERE error_code IS NOT NULL GROUP BY 1 ORDER BY 1",
        &[],
    );
    // A 21-digit userName is a Google sub; an EKS service account against a role with no
    // Google assumption stays unknown, and is kept because it failed.
    assert_eq!(rows, ["accounts.google.com,5", "unknown,5"]);
    let r = run(&["findings", EDGE, "--format", "csv"]);
    let bursts = rows_of(&r, "failed_assumption_burst,");
    assert_eq!(bursts.len(), 2, "{}", r.stdout);
    assert!(
        bursts[0].contains(",104857600000000000042,198.51.100.20,"),
        "{}",
        bursts[0]
    );
    assert!(
        bursts[1].contains(",system:serviceaccount:serverless:aws-sdk,198.51.100.21,"),
        "{}",
        bursts[1]
    );
}

#[test]
fn queries_cannot_read_files() {
    let d = tempfile::tempdir().unwrap();
    let secret = d.path().join("cache.json");
    std::fs::write(
        &secret,
        "{\"SecretAccessKey\":\"wJalrXUtnFEMI-SANDBOX-MUST-NOT-LEAK\"}\n",
    )
    .unwrap();
    let csv = d.path().join("secret.csv");
    std::fs::write(&csv, "k\nSANDBOX-MUST-NOT-LEAK\n").unwrap();
    for sql in [
        format!("SELECT * FROM read_json('{}')", s(&secret)),
        format!("SELECT * FROM read_csv('{}')", s(&csv)),
        format!(
            "SELECT event_id FROM calls WHERE event_id IN (SELECT k FROM read_csv('{}'))",
            s(&csv)
        ),
    ] {
        let r = run(&["query", &sql, EDGE, "--format", "csv"]);
        assert_eq!(r.code, 1, "{sql}: {}", r.stderr);
        assert!(r.stderr.contains("is not allowed"), "{}", r.stderr);
        assert!(!r.stdout.contains("MUST-NOT-LEAK") && !r.stderr.contains("MUST-NOT-LEAK"));
    }
    // A detection from a shared --queries directory is held to the same rule.
    let q = d.path().join("queries");
    std::fs::create_dir_all(q.join("findings")).unwrap();
    std::fs::write(
        q.join("findings/evil.sql"),
        format!("SELECT * FROM read_csv('{}')", s(&csv)),
    )
    .unwrap();
    let r = run(&["findings", EDGE, "--queries", s(&q), "--format", "csv"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("query 'findings/evil' refused"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("MUST-NOT-LEAK"));
}

#[test]
fn a_query_that_needs_too_much_memory_ends_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out.csv");
    let r = run(&[
        "query",
        "SELECT * FROM events a CROSS JOIN events b CROSS JOIN events c CROSS JOIN events d",
        EDGE,
        "--max-memory",
        "200M",
        "--format",
        "csv",
        "-o",
        s(&out),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("out of memory: this run needed more than --max-memory (200.0 MiB)"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "no half-written output");
    assert!(
        std::fs::read_dir(d.path()).unwrap().count() == 0,
        "no temp file left"
    );
    // The same limit is plenty for the report itself.
    let r = run(&[
        "by-instance",
        EDGE,
        "--max-memory",
        "200M",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
}

/// A trail file (gzipped) of `records`.
fn records_file(records: &[String]) -> Vec<u8> {
    gz(format!("{{\"Records\":[{}]}}", records.join(",")).as_bytes())
}

fn at(second: u32) -> String {
    format!("2026-10-08T13:{:02}:{:02}Z", 1 + second / 60, second % 60)
}

const FLOOD_SUB: &str = "171717171717171717171";

/// An AssumeRoleWithWebIdentity by `FLOOD_SUB` for session flood-proj.vm-1: the one that issued
/// `key`, or (no key) one refused for a bad token from 198.51.100.66.
fn assumption(i: u32, second: u32, key: Option<&str>) -> String {
    let sub = FLOOD_SUB;
    let outcome = match key {
        Some(key) => format!(
            r#""responseElements":{{"credentials":{{"accessKeyId":"{key}","sessionToken":"","expiration":"Oct 8, 2026, 2:00:00 PM"}},"subjectFromWebIdentityToken":"{sub}","provider":"accounts.google.com","audience":"https://aws.example.com/janus"}}"#
        ),
        None => r#""errorCode":"InvalidIdentityToken","responseElements":null"#.to_string(),
    };
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"WebIdentityUser","principalId":"accounts.google.com:https://aws.example.com/janus:{sub}","userName":"{sub}","identityProvider":"accounts.google.com"}},"eventTime":"{}","eventSource":"sts.amazonaws.com","eventName":"AssumeRoleWithWebIdentity","awsRegion":"us-east-1","sourceIPAddress":"{}","userAgent":"x","requestParameters":{{"roleArn":"arn:aws:iam::111122223333:role/gcp-flood","roleSessionName":"flood-proj.vm-1","durationSeconds":3600}},{outcome},"eventID":"00000000-0000-4000-8000-{i:012}","eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#,
        at(second),
        if key.is_some() {
            "34.10.9.9"
        } else {
            "198.51.100.66"
        },
    )
}

/// A GetObject refused with AccessDenied, made with `key` (issued at second 0).
fn denied_call(i: u32, key: &str, second: u32) -> String {
    format!(
        r#"{{"eventVersion":"1.10","userIdentity":{{"type":"AssumedRole","principalId":"AROAFLOOD:flood-proj.vm-1","arn":"arn:aws:sts::111122223333:assumed-role/gcp-flood/flood-proj.vm-1","accountId":"111122223333","sessionContext":{{"sessionIssuer":{{"type":"Role","arn":"arn:aws:iam::111122223333:role/gcp-flood"}},"attributes":{{"creationDate":"{}"}}}},"accessKeyId":"{key}"}},"eventTime":"{}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"34.10.9.9","userAgent":"x","errorCode":"AccessDenied","eventID":"00000000-0000-4000-9000-{i:012}","eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#,
        at(0),
        at(second),
    )
}

/// The output lines that start with `prefix` (a finding's kind and its comma).
fn rows_of<'a>(r: &'a Run, prefix: &str) -> Vec<&'a str> {
    r.stdout.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The one output line that starts with `prefix`.
fn one_row<'a>(r: &'a Run, prefix: &str) -> &'a str {
    let rows = rows_of(r, prefix);
    assert_eq!(rows.len(), 1, "one {prefix}:\n{}\n{}", r.stdout, r.stderr);
    rows[0]
}

/// Bursts are what an attacker makes: a key that keeps getting AccessDenied, a flood of bad
/// tokens from one IP (no AWS credentials needed for that). 20,000 of each in four minutes are
/// one finding each, with every event counted, within a heap of 256 MiB. Detections compared
/// every event with every other in a window: 8,000 denials took 9.7 GB and 26 s, and 20,000
/// ran out of any memory cap.
#[test]
fn a_flood_of_denials_or_bad_tokens_is_one_finding_each_in_bounded_memory() {
    const N: u32 = 20_000;
    let key = "ASIAFLOODKEY00000001";
    let mut records = vec![assumption(N, 0, Some(key))];
    records.extend((0..N).map(|i| denied_call(i, key, 1 + i * 239 / N)));
    records.extend((0..N).map(|i| assumption(i, 1 + i * 239 / N, None)));
    let (_d, root) = trail(&[("flood.json.gz", records_file(&records))]);
    let r = run(&[
        "findings",
        s(&root),
        "--max-memory",
        "256M",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let denied = one_row(&r, "recon_burst,");
    assert!(
        denied.contains(",ASIAFLOODKEY00000001,flood-proj.vm-1,"),
        "{denied}"
    );
    assert!(
        denied.contains(",20000,20000 access denials within 300s: GetObject"),
        "{denied}"
    );
    let tokens = one_row(&r, "failed_assumption_burst,");
    assert!(
        tokens.contains(&format!(
            "20000 failed AssumeRoleWithWebIdentity from sub {FLOOD_SUB}, up to 20000 within \
             600s (InvalidIdentityToken x20000)"
        )),
        "{tokens}"
    );
}

/// What a burst detection must report for events at `seconds`: the most events in any window
/// [t, t + w) that starts at an event, and how many events lie in a window that reaches `min`
/// (`None` when none does). Counted pair by pair, as the definition says.
fn burst_by_definition(seconds: &[u32], w: u32, min: usize) -> Option<(usize, usize)> {
    let count = |t: u32| seconds.iter().filter(|&&s| s >= t && s < t + w).count();
    let crossing: Vec<u32> = seconds
        .iter()
        .copied()
        .filter(|&t| count(t) >= min)
        .collect();
    let peak = crossing.iter().map(|&t| count(t)).max()?;
    let behind = seconds
        .iter()
        .filter(|&&s| crossing.iter().any(|&t| s >= t && s < t + w))
        .count();
    Some((peak, behind))
}

/// The counting that replaced the pairs gives what the definition gives, on clustered random
/// times (many ties, windows that overlap, touch and miss), for several keys and a token flood.
#[test]
fn bursts_are_counted_as_defined() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |below: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % u64::from(below)) as u32
    };
    for round in 0..8 {
        let mut records = Vec::new();
        let mut expected = Vec::new();
        let mut id = 0;
        for k in 0..4 {
            let key = format!("ASIAFLOODKEY{round:04}{k:04}");
            records.push(assumption(1_000_000 + round * 10 + k, 0, Some(&key)));
            let centre = 1 + next(3000);
            let spread = [3, 40, 200, 900][next(4) as usize];
            let seconds: Vec<u32> = (0..next(60))
                .map(|_| {
                    (centre + next(2 * spread + 1))
                        .saturating_sub(spread)
                        .clamp(1, 3400)
                })
                .collect();
            for &s in &seconds {
                records.push(denied_call(id, &key, s));
                id += 1;
            }
            expected.push((key, burst_by_definition(&seconds, 300, 5)));
        }
        let centre = 1 + next(3000);
        let failures: Vec<u32> = (0..next(40))
            .map(|_| (centre + next(1201)).saturating_sub(600).clamp(1, 3400))
            .collect();
        for &s in &failures {
            records.push(assumption(id, s, None));
            id += 1;
        }
        let (_d, root) = trail(&[("bursts.json.gz", records_file(&records))]);
        let r = run(&["findings", s(&root), "--format", "csv"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        for (key, want) in expected {
            let mut rows = rows_of(&r, "recon_burst,");
            rows.retain(|l| l.contains(&key));
            match want {
                None => assert!(rows.is_empty(), "round {round} {key}: {rows:?}"),
                Some((peak, behind)) => {
                    let want = format!(",{behind},{peak} access denials within 300s");
                    assert!(
                        rows.len() == 1 && rows[0].contains(&want),
                        "round {round} {key}: want {want} in {rows:?}"
                    );
                }
            }
        }
        let rows = rows_of(&r, "failed_assumption_burst,");
        match burst_by_definition(&failures, 600, 5) {
            None => assert!(rows.is_empty(), "round {round}: {rows:?}"),
            Some((peak, behind)) => {
                let want = format!(
                    "{behind} failed AssumeRoleWithWebIdentity from sub {FLOOD_SUB}, up to {peak} within 600s"
                );
                assert!(
                    rows.len() == 1 && rows[0].contains(&want),
                    "round {round}: want {want} in {rows:?}"
                );
            }
        }
    }
}

// --- fixtures/exports: the shapes users export (fixtures/exports/SOURCES.md) ---------------------

const EXPORTS: &str = "fixtures/exports";

#[test]
fn every_exported_envelope_is_read_and_everything_else_is_named() {
    let r = run(&["by-instance", EXPORTS, "--format", "csv"]);
    // Four files are not CloudTrail (SOURCES.md among them): named, counted, and the run says
    // it is incomplete.
    assert_eq!(r.code, 3, "{}", r.stderr);
    for (file, looks) in [
        ("SOURCES.md", "text that is not JSON"),
        ("findings.csv", "CSV"),
        ("finding.ocsf.json", "OCSF"),
        ("part-0.parquet", "Parquet"),
    ] {
        let line = line_about(&r, file);
        assert!(
            line.contains("not a CloudTrail log") && line.contains(looks),
            "{line}"
        );
    }
    assert!(
        r.stderr.contains("read 10 file(s)")
            && r.stderr.contains("4 file(s) skipped as not CloudTrail"),
        "{}",
        r.stderr
    );
    // 3 EventBridge (Firehose, no extension) + 2 lookup-events + 3 CloudWatch Logs + 3 Filebeat
    // + 2 sorted-key Records (their console copies are duplicates) + 1 with an empty key.
    let row = r.stdout.lines().nth(1).unwrap();
    let cols: Vec<&str> = r.stdout.lines().next().unwrap().split(',').collect();
    let get = |name: &str| {
        row.split(',')
            .nth(cols.iter().position(|c| *c == name).unwrap())
            .unwrap()
    };
    assert_eq!(
        (
            get("instance"),
            get("assumptions"),
            get("api_calls"),
            get("api_errors")
        ),
        ("vm-1", "1", "14", "0"),
        "{}",
        r.stdout
    );
    // The console download repeats two events with other whitespace and key order: plain
    // duplicates, not collisions; and the record without eventTime, delivered twice, is one.
    assert!(
        r.stderr.contains("3 duplicate(s) dropped;")
            && !r.stderr.contains("differ from the copy kept"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "1 record(s) without eventTime (1 of them with only a Logstash/Elastic @timestamp"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn an_empty_string_is_no_value() {
    // "accessKeyId": "" is matched by its session; "errorCode": "" is no error.
    let r = run(&[
        "query",
        "SELECT matched_by, error_code, instance FROM calls WHERE event_name = 'DescribeKeyPairs'",
        EXPORTS,
        "--format",
        "csv",
    ]);
    assert_eq!(
        r.stdout, "matched_by,error_code,instance\nsession,,vm-1\n",
        "{}",
        r.stderr
    );
}

#[test]
fn other_providers_fixed_session_names_are_no_instance_claims() {
    // Two GitHub Actions runs (two subs, both `GitHubActions`) are no session_name_sub_mismatch,
    // and a 19-digit SDK timestamp name (EKS) is no Google sub.
    let r = run(&["findings", EXPORTS, "--provider", "any", "--format", "csv"]);
    assert!(
        !r.stdout.contains("session_name_sub_mismatch"),
        "{}",
        r.stdout
    );
    let r = run(&[
        "query",
        "SELECT session_name, instance_source FROM assumptions ORDER BY session_name",
        EXPORTS,
        "--provider",
        "any",
        "--format",
        "csv",
    ]);
    assert!(
        r.stdout.contains("1722455550269043000,unrecognized\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("GitHubActions,unrecognized\n"),
        "{}",
        r.stdout
    );
}

// --- issue 30: the walk, the window, queries ---------------------------------------------------

#[test]
fn links_that_reach_one_folder_by_many_paths_are_walked_once() {
    // 16 levels of two links each to the level below: 65,536 paths to one file without the
    // visited set. Bounded: one file, 33 links, 30 s.
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::copy(GOOD, real.join("good.json.gz")).unwrap();
    let mut below = real.clone();
    for level in 1..=16 {
        let dir = d.path().join(format!("level-{level}"));
        std::fs::create_dir(&dir).unwrap();
        for name in ["a", "b"] {
            std::os::unix::fs::symlink(&below, dir.join(name)).unwrap();
        }
        below = dir;
    }
    let r = run_within(
        &["by-instance", s(&below), "--format", "csv"],
        Duration::from_secs(30),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("read 1 file(s)"), "{}", r.stderr);
}

#[test]
fn a_window_that_ends_before_it_starts_is_a_usage_error() {
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--since",
        "2026-10-06",
        "--until",
        "2026-10-05",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("is not before --until"), "{}", r.stderr);
    let r = run(&[
        "verify",
        "fixtures/cloudtrail",
        "--since",
        "2026-10-06",
        "--until",
        "2026-10-06",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn a_query_file_that_is_a_secret_is_never_echoed() {
    let d = tempfile::tempdir().unwrap();
    let secret = d.path().join("token");
    std::fs::write(&secret, "ghp_0123456789SECRETabcdefghijklmnop").unwrap();
    let queries = d.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    // A link out of the query folder is not read at all.
    std::os::unix::fs::symlink(&secret, queries.join("by_instance.sql")).unwrap();
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--queries",
        s(&queries),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link out of"), "{}", r.stderr);
    assert!(!r.stderr.contains("0123456789SECRET"), "{}", r.stderr);
    // A query file inside it that is no SQL: the parser's message keeps 4 characters of it.
    std::fs::remove_file(queries.join("by_instance.sql")).unwrap();
    std::fs::copy(&secret, queries.join("by_instance.sql")).unwrap();
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--queries",
        s(&queries),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("0123456789SECRET"), "{}", r.stderr);
}

#[test]
fn a_key_written_twice_or_a_byte_that_is_not_utf8_costs_one_record_at_most() {
    let d = tempfile::tempdir().unwrap();
    let rec = |id: &str, extra: &str| {
        format!(
            r#"{{"eventID":"{id}","eventTime":"2026-10-05T10:00:0{id}Z","eventName":"X"{extra}}}"#
        )
    };
    let mut records = Vec::new();
    for i in 0..100 {
        let id = format!("{}", i % 10);
        records.push(match i {
            50 => rec(&id, r#","eventName":"Y""#)
                .replace(&format!("\"eventID\":\"{id}\""), "\"eventID\":\"dup\""),
            _ => rec(&id, "").replace(
                &format!("\"eventID\":\"{id}\""),
                &format!("\"eventID\":\"e{i}\""),
            ),
        });
    }
    let dup = d.path().join("dup.json");
    std::fs::write(&dup, format!(r#"{{"Records":[{}]}}"#, records.join(","))).unwrap();
    let r = run(&[
        "query",
        "SELECT COUNT(*) AS n FROM events",
        s(&dup),
        "--format",
        "csv",
    ]);
    assert_eq!(r.stdout, "n\n99\n", "{}", r.stderr);
    assert!(
        line_about(&r, "dup.json").contains("record 50") && r.stderr.contains("duplicate field"),
        "{}",
        r.stderr
    );
    let mut bytes = format!(r#"{{"Records":[{}]}}"#, records[..3].join(",")).into_bytes();
    let at = bytes.windows(3).position(|w| w == b"\"X\"").unwrap() + 1;
    bytes.insert(at, 0xff);
    let bad = d.path().join("bad-utf8.json");
    std::fs::write(&bad, bytes).unwrap();
    let r = run(&[
        "query",
        "SELECT COUNT(*) AS n FROM events",
        s(&bad),
        "--format",
        "csv",
    ]);
    assert_eq!(r.stdout, "n\n3\n", "{}", r.stderr);
    assert!(
        line_about(&r, "bad-utf8.json").contains("not UTF-8"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_link_to_the_root_or_above_is_named_and_not_followed() {
    let (_d, root) = trail(&[]);
    std::os::unix::fs::symlink("/", root.join("slash")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("itself")).unwrap();
    let r = run_within(
        &["by-instance", s(&root), "--format", "csv"],
        Duration::from_secs(30),
    );
    // Named (a path that could not be walked: exit 3), never walked.
    assert_eq!(r.code, 3, "{}", r.stderr);
    let slash = line_about(&r, "slash");
    assert!(slash.contains("above the walked path"), "{slash}");
    // A link to the walked folder itself is a loop walkdir names on its own.
    let itself = line_about(&r, "itself");
    assert!(
        itself.contains("loop") || itself.contains("above the walked path"),
        "{itself}"
    );
    assert_good_file_read(&r);
}
