//! Drives the real `janus-audit` binary over the fixtures. Expected numbers are worked out by hand
//! in fixtures/README.md from the scenario in fixtures/make_fixtures.py.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};

const TRAIL: &str = "fixtures/cloudtrail";
const DAMAGED: &str = "fixtures/damaged";
const SAMPLES: &str = "fixtures/samples";
const FINDINGS: &str = "fixtures/findings";
const LEAKED_TOKEN: &str = "MUST-NOT-LEAK";

const ETL: &str = "prod-data-1234.etl-1.us-central1-a.c.prod-data-1234.internal";
const LONG: &str = "analytics-prod-77.etl-runner-0042.europe-west4-b.c.analytics-pro";
const SHORT: &str = "ml-platform-prod.very-long-training-job-instance-name-t+8da59bdc";

fn bin() -> Command {
    let mut c = Command::cargo_bin("janus-audit").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env_remove("JANUS_AUDIT_QUERIES");
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = bin().args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json_rows(args: &[&str]) -> (Vec<Value>, Run) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let r = run(&all);
    let rows: Vec<Value> = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout={} stderr={}", r.stdout, r.stderr));
    (rows, r)
}

fn row<'a>(rows: &'a [Value], session: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["session_name"] == session)
        .unwrap_or_else(|| panic!("no row for {session} in {rows:#?}"))
}

/// Keep only the listed columns of a row, for exact comparison.
fn pick(row: &Value, cols: &[&str]) -> Value {
    Value::Object(
        cols.iter()
            .map(|c| (c.to_string(), row[*c].clone()))
            .collect(),
    )
}

/// The first 16 keep their names and order release to release; the lineage appended two.
const BY_INSTANCE_COLUMNS: [&str; 18] = [
    "project",
    "instance",
    "session_name",
    "subs",
    "role_arns",
    "assumptions",
    "failed_assumptions",
    "access_keys",
    "api_calls",
    "api_errors",
    "source_ips",
    "foreign_ip_calls",
    "services",
    "first_seen",
    "last_seen",
    "instance_source",
    "chained_roles",
    "chained_calls",
];

#[test]
fn by_instance_every_column_on_the_fixture_trail() {
    let (rows, r) = json_rows(&["by-instance", TRAIL]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(rows.len(), 6, "{rows:#?}");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["session_name"].as_str().unwrap())
        .collect();
    // Sorted by project, instance (unknown last); GitHub's session is not Google's.
    assert_eq!(
        names,
        [
            LONG,
            "batch-jobs-555.nightly-1",
            SHORT,
            ETL,
            "web-frontend-01.web-3",
            "333333333333333333333"
        ]
    );
    let expected = [
        json!({
            "project": "prod-data-1234", "instance": "etl-1", "session_name": ETL,
            "subs": ["111111111111111111111"],
            "role_arns": ["arn:aws:iam::111122223333:role/gcp-etl-reader"],
            "assumptions": 2, "failed_assumptions": 0,
            "access_keys": ["ASIAETLWORKER1KEY001", "ASIAETLWORKER1KEY002"],
            "api_calls": 8, "api_errors": 1, "source_ips": ["34.123.10.1"], "foreign_ip_calls": 1,
            "services": ["kms.amazonaws.com", "s3.amazonaws.com", "sts.amazonaws.com"],
            "first_seen": "2026-10-05T10:00:00Z", "last_seen": "2026-10-05T11:30:00Z",
            "instance_source": "hostname",
        }),
        json!({
            "project": "web-frontend-01", "instance": "web-3", "session_name": "web-frontend-01.web-3",
            "subs": ["222222222222222222222", "999999999999999999999"],
            "role_arns": ["arn:aws:iam::111122223333:role/gcp-web-writer"],
            "assumptions": 1, "failed_assumptions": 1,
            "access_keys": ["ASIAWEB3KEY000000001"],
            "api_calls": 3, "api_errors": 0, "source_ips": ["35.200.1.3"], "foreign_ip_calls": 0,
            "services": ["dynamodb.amazonaws.com"],
            "first_seen": "2026-10-05T12:00:00Z", "last_seen": "2026-10-05T12:30:00Z",
            "instance_source": "instance-name",
        }),
        json!({
            "project": null, "instance": null, "session_name": "333333333333333333333",
            "subs": ["333333333333333333333"],
            "role_arns": ["arn:aws:iam::444455556666:role/gcp-blog-role"],
            "assumptions": 1, "failed_assumptions": 0,
            "access_keys": ["ASIABLOGSUBKEY000001"],
            "api_calls": 3, "api_errors": 0, "source_ips": ["34.90.0.9"], "foreign_ip_calls": 1,
            "services": ["sqs.amazonaws.com"],
            "first_seen": "2026-10-06T08:00:00Z", "last_seen": "2026-10-06T08:07:00Z",
            "instance_source": "numeric-sub",
        }),
        json!({
            "project": "analytics-prod-77", "instance": "etl-runner-0042", "session_name": LONG,
            "subs": ["444444444444444444444"],
            "role_arns": ["arn:aws:iam::111122223333:role/gcp-analytics"],
            "assumptions": 1, "failed_assumptions": 0,
            "access_keys": ["ASIALONGHOSTKEY00001"],
            "api_calls": 1, "api_errors": 0, "source_ips": ["34.141.0.4"], "foreign_ip_calls": 0,
            "services": ["s3.amazonaws.com"],
            "first_seen": "2026-10-06T09:00:00Z", "last_seen": "2026-10-06T09:01:00Z",
            "instance_source": "hostname",
        }),
        json!({
            "project": "batch-jobs-555", "instance": "nightly-1", "session_name": "batch-jobs-555.nightly-1",
            "subs": ["555555555555555555555"],
            "role_arns": ["arn:aws:iam::111122223333:role/gcp-batch"],
            "assumptions": 1, "failed_assumptions": 0,
            "access_keys": ["ASIANIGHTLYKEY000001"],
            "api_calls": 1, "api_errors": 0, "source_ips": ["34.5.6.7"], "foreign_ip_calls": 0,
            "services": ["s3.amazonaws.com"],
            "first_seen": "2026-10-04T23:30:00Z", "last_seen": "2026-10-05T00:10:00Z",
            "instance_source": "instance-name",
        }),
        json!({
            "project": "ml-platform-prod", "instance": "very-long-training-job-instance-name-t",
            "session_name": SHORT,
            "subs": ["666666666666666666666"],
            "role_arns": ["arn:aws:iam::111122223333:role/gcp-ml"],
            "assumptions": 1, "failed_assumptions": 0,
            "access_keys": ["ASIASHORTENEDKEY0001"],
            "api_calls": 0, "api_errors": 0, "source_ips": ["34.1.2.3"], "foreign_ip_calls": 0,
            // No call, no service: an empty list, not null (JSON writes lists as lists).
            "services": [],
            "first_seen": "2026-10-07T01:00:00Z", "last_seen": "2026-10-07T01:00:00Z",
            "instance_source": "shortened",
        }),
    ];
    for want in expected {
        let got = row(&rows, want["session_name"].as_str().unwrap());
        assert_eq!(pick(got, &BY_INSTANCE_COLUMNS[..16]), want);
        // Nothing in this trail chains.
        assert_eq!(
            (&got["chained_roles"], &got["chained_calls"]),
            (&json!([]), &json!(0))
        );
    }
}

#[test]
fn by_instance_csv_header_and_joined_lists() {
    let r = run(&["by-instance", TRAIL, "--format", "csv"]);
    assert_eq!(r.code, 0);
    let mut lines = r.stdout.lines();
    assert_eq!(lines.next().unwrap(), BY_INSTANCE_COLUMNS.join(","));
    let etl = r.stdout.lines().find(|l| l.contains(ETL)).unwrap();
    assert!(
        etl.contains(",ASIAETLWORKER1KEY001;ASIAETLWORKER1KEY002,"),
        "{etl}"
    );
    assert!(
        etl.contains(",kms.amazonaws.com;s3.amazonaws.com;sts.amazonaws.com,"),
        "{etl}"
    );
}

#[test]
fn sessions_one_row_per_issued_key() {
    let (rows, r) = json_rows(&["sessions", TRAIL]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| r["access_key_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "ASIANIGHTLYKEY000001",
            "ASIAETLWORKER1KEY001",
            "ASIAETLWORKER1KEY002",
            "ASIAWEB3KEY000000001",
            "ASIABLOGSUBKEY000001",
            "ASIALONGHOSTKEY00001",
            "ASIASHORTENEDKEY0001",
        ]
    );
    let cols = [
        "access_key_id",
        "session_name",
        "project",
        "instance",
        "sub",
        "role_arn",
        "issued_at",
        "expires_at",
        "issuing_ip",
        "api_calls",
        "api_errors",
        "source_ips",
        "foreign_ip_calls",
        "first_call",
        "last_call",
    ];
    let by_key = |k: &str| rows.iter().find(|r| r["access_key_id"] == k).unwrap();
    assert_eq!(
        pick(by_key("ASIAETLWORKER1KEY001"), &cols),
        json!({
            "access_key_id": "ASIAETLWORKER1KEY001", "session_name": ETL,
            "project": "prod-data-1234", "instance": "etl-1", "sub": "111111111111111111111",
            "role_arn": "arn:aws:iam::111122223333:role/gcp-etl-reader",
            // "Oct 5, 2026 11:00:00 AM": the pre-JDK 9 form
            "issued_at": "2026-10-05T10:00:00Z", "expires_at": "2026-10-05T11:00:00Z",
            "issuing_ip": "34.123.10.1", "api_calls": 5, "api_errors": 1,
            // the KMS call made by S3 for the session has no client IP
            "source_ips": ["34.123.10.1"], "foreign_ip_calls": 0,
            "first_call": "2026-10-05T10:05:00Z", "last_call": "2026-10-05T10:20:00Z",
        })
    );
    assert_eq!(
        pick(by_key("ASIAETLWORKER1KEY002"), &cols),
        json!({
            "access_key_id": "ASIAETLWORKER1KEY002", "session_name": ETL,
            "project": "prod-data-1234", "instance": "etl-1", "sub": "111111111111111111111",
            "role_arn": "arn:aws:iam::111122223333:role/gcp-etl-reader",
            // "Oct 5, 2026, 12:00:00\u{202f}PM": the CLDR form with a narrow no-break space
            "issued_at": "2026-10-05T11:00:00Z", "expires_at": "2026-10-05T12:00:00Z",
            "issuing_ip": "34.123.10.1", "api_calls": 3, "api_errors": 0,
            "source_ips": ["198.51.100.77", "34.123.10.1"], "foreign_ip_calls": 1,
            "first_call": "2026-10-05T11:05:00Z", "last_call": "2026-10-05T11:30:00Z",
        })
    );
    let web = by_key("ASIAWEB3KEY000000001");
    assert_eq!(
        web["api_calls"], 3,
        "the keyless call joins by role+session+creationDate"
    );
    let short = by_key("ASIASHORTENEDKEY0001");
    assert_eq!(short["api_calls"], 0);
    assert_eq!(short["first_call"], Value::Null);
}

#[test]
fn window_counts_calls_inside_and_keeps_earlier_keys() {
    let (rows, r) = json_rows(&[
        "by-instance",
        TRAIL,
        "--since",
        "2026-10-05",
        "--until",
        "2026-10-06T00:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["session_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["batch-jobs-555.nightly-1", ETL, "web-frontend-01.web-3"]
    );
    // Issued at 23:30 the day before, used at 00:10: the call counts, the assumption does not.
    let nightly = row(&rows, "batch-jobs-555.nightly-1");
    assert_eq!(nightly["assumptions"], 0);
    assert_eq!(nightly["api_calls"], 1);
    assert_eq!(nightly["access_keys"], json!(["ASIANIGHTLYKEY000001"]));
    assert_eq!(nightly["first_seen"], "2026-10-05T00:10:00Z");
    assert_eq!(row(&rows, ETL)["api_calls"], 8);
}

#[test]
fn a_key_issued_before_the_window_counts_when_only_a_keyless_call_uses_it() {
    // web-3's key is issued at 12:00; in the window its one call (12:03) carries no access key
    // and is matched by role, session and creationDate. The row is there for that call alone.
    let (rows, r) = json_rows(&[
        "by-instance",
        TRAIL,
        "--since",
        "2026-10-05T12:02:30Z",
        "--until",
        "2026-10-05T12:10:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let web = row(&rows, "web-frontend-01.web-3");
    assert_eq!(web["assumptions"], 0);
    assert_eq!(web["api_calls"], 1);
    assert_eq!(web["access_keys"], json!(["ASIAWEB3KEY000000001"]));
    assert_eq!(web["first_seen"], "2026-10-05T12:03:00Z");
}

#[test]
fn window_prunes_day_folders_far_outside() {
    let r = run(&["by-instance", TRAIL, "--since", "2026-10-07T00:00:00Z"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // 10-04 and 10-05 are more than a day before the window; 10-06 is kept as margin.
    assert!(
        r.stderr.contains("6 file(s) outside the window not opened"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains(SHORT));
    assert!(!r.stdout.contains(ETL));
}

#[test]
fn summary_counts_duplicates_and_digests() {
    let r = run(&["by-instance", TRAIL]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.contains(
            "read 9 file(s), 37 record(s); 4 duplicate(s) dropped; 49 digest file(s) skipped; 0 file(s) skipped as damaged"
        ),
        "{}",
        r.stderr
    );
    // Each unique record once: 37 read - 4 duplicates.
    let (rows, _) = json_rows(&[
        "query",
        "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS u FROM events",
        TRAIL,
    ]);
    assert_eq!(rows, vec![json!({"n": 33, "u": 33})]);
}

#[test]
fn other_providers_only_on_request() {
    let (rows, _) = json_rows(&["by-instance", TRAIL, "--provider", "any"]);
    let gh = row(&rows, "GitHubActions");
    assert_eq!(
        gh["subs"],
        json!(["repo:example-org/deploy:ref:refs/heads/main"])
    );
    assert_eq!(gh["api_calls"], 1);
    assert_eq!(gh["instance_source"], "unrecognized");
    let (rows, _) = json_rows(&[
        "query",
        "SELECT provider, aud, sub FROM assumptions WHERE session_name = 'GitHubActions'",
        TRAIL,
        "--provider",
        "any",
    ]);
    assert_eq!(
        rows,
        vec![json!({
            "provider": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com",
            "aud": "sts.amazonaws.com",
            "sub": "repo:example-org/deploy:ref:refs/heads/main",
        })]
    );
}

#[test]
fn real_samples_parse() {
    let (rows, r) = json_rows(&[
        "query",
        "SELECT session_name, provider, aud, sub, expires_at, access_key_id FROM assumptions ORDER BY event_time",
        SAMPLES,
        "--provider",
        "any",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        rows,
        vec![
            json!({"session_name": "MyAssignedRoleSessionName", "provider": "accounts.google.com",
                   "aud": "<id of application>.apps.googleusercontent.com", "sub": "<id of user>",
                   "expires_at": "2016-03-23T02:39:51Z", "access_key_id": "ASIACQRSTUVWRAOEXAMPLE"}),
            json!({"session_name": "GitHubActions",
                   "provider": "arn:aws:iam::774305579662:oidc-provider/token.actions.githubusercontent.com",
                   "aud": "sts.amazonaws.com", "sub": "repo:ccbrown/cloud-snitch:ref:refs/heads/main",
                   "expires_at": "2025-04-16T03:46:56Z", "access_key_id": "ASIA3ISBVQKHJOCMRQJH"}),
        ]
    );
    // The bare-array download and the org-trail file: 19 + 20 records, plus 3 single records.
    let (rows, _) = json_rows(&["query", "SELECT COUNT(*) AS n FROM events", SAMPLES]);
    assert_eq!(rows, vec![json!({"n": 42})]);
    // The stratus AssumeRole chain: its key is reused by 15 DescribeInstanceAttribute calls.
    let (rows, _) = json_rows(&[
        "query",
        "SELECT COUNT(*) AS n FROM role_calls WHERE access_key_id = 'ASIA4URVX2JM5MT0ZGK8'",
        SAMPLES,
    ]);
    assert_eq!(rows, vec![json!({"n": 15})]);
}

#[test]
fn damaged_files_are_named_and_the_rest_is_read() {
    let r = run(&["by-instance", DAMAGED, "--format", "csv"]);
    assert_eq!(
        r.code, 3,
        "exit 3: complete except for named files\n{}",
        r.stderr
    );
    for (file, reason) in [
        ("truncated.json.gz", "damaged gzip"),
        ("invalid.json", "invalid JSON"),
        (
            "not-cloudtrail.json",
            "not a CloudTrail log: \"Records\" is not an array",
        ),
        ("unknown-envelope.json", "not a CloudTrail log"),
    ] {
        let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains(file)).collect();
        assert_eq!(lines.len(), 1, "one line for {file}: {}", r.stderr);
        assert!(
            lines[0].contains("skipped") && lines[0].contains(reason),
            "{}",
            lines[0]
        );
    }
    let mixed: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("mixed.jsonl"))
        .collect();
    assert_eq!(mixed.len(), 1);
    assert!(
        mixed[0].contains("1 unusable record(s): line 2"),
        "{}",
        mixed[0]
    );
    assert!(
        r.stderr.contains("read 2 file(s), 4 record(s)")
            && r.stderr.contains("2 file(s) skipped as damaged")
            && r.stderr.contains("2 file(s) skipped as not CloudTrail")
            && r.stderr
                .contains("1 file(s) partly read (1 unusable record(s))"),
        "{}",
        r.stderr
    );
    // good.json.gz (assumption + 1 call) and the two good NDJSON lines are all there.
    let spare = r
        .stdout
        .lines()
        .find(|l| l.contains("prod-data-1234.spare-1"))
        .unwrap();
    assert!(spare.contains(",1,0,ASIADAMAGEDSETKEY001,3,0,"), "{spare}");
}

#[cfg(unix)]
#[test]
fn unreadable_path_is_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json.gz");
    std::fs::copy(Path::new(DAMAGED).join("good.json.gz"), &good).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("dangling.json")).unwrap();
    let d = dir.path().to_str().unwrap();
    let r = run(&["by-instance", d, "--format", "csv"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("dangling.json") && l.contains("skipped")),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("prod-data-1234.spare-1"));
}

#[test]
fn exit_codes() {
    assert_eq!(
        run(&["by-instance", TRAIL, "--since", "last tuesday"]).code,
        2
    );
    assert_eq!(run(&["by-instance"]).code, 2);
    assert_eq!(run(&["no-such-command"]).code, 2);
    assert_eq!(run(&["by-instance", TRAIL, "--format", "xml"]).code, 2);
    let empty = tempfile::tempdir().unwrap();
    let r = run(&["by-instance", empty.path().to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no CloudTrail log files"), "{}", r.stderr);
    let r = run(&["query", "no_such_query", TRAIL]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("no query named 'no_such_query'"),
        "{}",
        r.stderr
    );
    let r = run(&["query", "SELECT nope FROM assumptions", TRAIL]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("query 'inline': no column 'nope'"),
        "{}",
        r.stderr
    );
    let r = run(&["query", "SELECT FROM FROM calls", TRAIL]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("query 'inline' failed"), "{}", r.stderr);
}

#[test]
fn output_file_is_written_atomically_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/out.csv");
    let r = run(&[
        "sessions",
        TRAIL,
        "--format",
        "csv",
        "-o",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("out.csv"), "{}", r.stderr);
    let out = dir.path().join("sessions.csv");
    let r = run(&[
        "sessions",
        TRAIL,
        "--format",
        "csv",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 8);
    let leftovers: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".janus-audit-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn parquet_keeps_lists_and_types() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("by_instance.parquet");
    let r = run(&[
        "query",
        "queries/by_instance.sql",
        TRAIL,
        "--format",
        "parquet",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let df = ParquetReader::new(std::fs::File::open(&out).unwrap())
        .finish()
        .unwrap();
    assert_eq!(df.height(), 6);
    assert_eq!(
        df.get_column_names()
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        BY_INSTANCE_COLUMNS
    );
    assert!(matches!(
        df.column("access_keys").unwrap().dtype(),
        DataType::List(_)
    ));
    assert!(matches!(
        df.column("first_seen").unwrap().dtype(),
        DataType::Datetime(_, _)
    ));
    assert_eq!(
        df.column("api_calls")
            .unwrap()
            .as_materialized_series()
            .sum::<i64>()
            .unwrap(),
        16
    );
}

#[test]
fn queries_dir_overrides_embedded_sql() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sessions.sql"),
        "SELECT access_key_id FROM assumptions WHERE error_code IS NULL ORDER BY access_key_id LIMIT 2",
    )
    .unwrap();
    let (rows, r) = json_rows(&["sessions", TRAIL, "--queries", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        rows,
        vec![
            json!({"access_key_id": "ASIABLOGSUBKEY000001"}),
            json!({"access_key_id": "ASIAETLWORKER1KEY001"})
        ]
    );
    // by_instance is not overridden there, so the embedded one runs.
    let (rows, _) = json_rows(&[
        "by-instance",
        TRAIL,
        "--queries",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(rows.len(), 6);
    // query by name runs the same embedded SQL as the report.
    let (by_name, _) = json_rows(&["query", "by_instance", TRAIL]);
    assert_eq!(by_name, rows);
}

#[test]
fn no_secret_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["table", "csv", "json", "parquet"] {
        for args in [
            vec!["by-instance", TRAIL],
            vec!["sessions", TRAIL],
            vec!["query", "SELECT * FROM events", TRAIL],
            vec![
                "query",
                "SELECT * FROM assumptions",
                TRAIL,
                "--provider",
                "any",
            ],
            vec!["query", "SELECT * FROM calls", TRAIL, "-vv"],
        ] {
            let out = dir.path().join(format!("out.{format}"));
            let mut a = args.clone();
            a.extend(["--format", format, "-o", out.to_str().unwrap()]);
            let r = run(&a);
            assert_eq!(r.code, 0, "{a:?}: {}", r.stderr);
            let bytes = std::fs::read(&out).unwrap();
            let hay = String::from_utf8_lossy(&bytes);
            assert!(!hay.contains(LEAKED_TOKEN), "{a:?}");
            assert!(!r.stderr.contains(LEAKED_TOKEN), "{a:?}");
            assert!(!hay.contains("sessionToken") && !hay.contains("session_token"));
        }
    }
}

#[test]
fn tables_lists_schemas() {
    let r = run(&["tables"]);
    assert_eq!(r.code, 0);
    for t in ["events", "role_calls", "assumptions", "calls", "files"] {
        assert!(r.stdout.lines().any(|l| l == t), "{t}: {}", r.stdout);
    }
    assert!(r.stdout.contains("expires_at"));
}

/// The columns listed under `table` in `janus-audit tables` output.
fn listed_columns(listing: &str, table: &str) -> Vec<String> {
    listing
        .lines()
        .skip_while(|l| *l != table)
        .skip(2)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn tables_come_from_the_code_that_builds_them() {
    let r = run(&["tables"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // trusted_source is a role_calls column like any other, so calls (SELECT c.*) has it too.
    assert!(listed_columns(&r.stdout, "role_calls").contains(&"trusted_source".into()));
    let calls = listed_columns(&r.stdout, "calls");
    for c in ["trusted_source", "issued_key", "foreign_ip", "matched_by"] {
        assert!(calls.iter().any(|x| x == c), "{c}: {calls:?}");
    }
    let params = listed_columns(&r.stdout, "findings_params");
    assert!(params.contains(&"recon_window_s".into()), "{params:?}");
    let filter = listed_columns(&r.stdout, "timeline_filter");
    assert_eq!(filter, ["instance", "session_name", "access_key_id", "sub"]);
    // `calls` is described as the SQL that would run derives it: an override changes the listing.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("calls.sql"),
        "SELECT event_id, 1 AS my_extra FROM role_calls",
    )
    .unwrap();
    let r = run(&["tables", "--queries", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(listed_columns(&r.stdout, "calls"), ["event_id", "my_extra"]);
}

fn timeline(entity: &[&str]) -> Vec<(String, String, String, Value)> {
    let mut args = vec!["timeline", TRAIL];
    args.extend(entity);
    let (rows, r) = json_rows(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    rows.iter()
        .map(|r| {
            (
                r["time"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
                r["event_name"].as_str().unwrap().to_string(),
                r["detail"].clone(),
            )
        })
        .collect()
}

fn row4(t: &str, k: &str, e: &str, d: Value) -> (String, String, String, Value) {
    (t.into(), k.into(), e.into(), d)
}

#[test]
fn timeline_of_an_instance_shows_refresh_and_foreign_ip() {
    let t = timeline(&["--instance", "etl-1"]);
    let arwwi = "AssumeRoleWithWebIdentity";
    assert_eq!(
        t,
        vec![
            row4(
                "2026-10-05T10:00:00Z",
                "assumption",
                arwwi,
                json!("new key ASIAETLWORKER1KEY001")
            ),
            row4("2026-10-05T10:05:00Z", "call", "GetObject", Value::Null),
            row4(
                "2026-10-05T10:05:01Z",
                "call",
                "Decrypt",
                json!("by s3.amazonaws.com on the session's behalf")
            ),
            row4("2026-10-05T10:10:00Z", "call", "GetObject", Value::Null),
            row4("2026-10-05T10:15:00Z", "call", "GetObject", Value::Null),
            row4("2026-10-05T10:20:00Z", "call", "ListBuckets", Value::Null),
            row4(
                "2026-10-05T11:00:00Z",
                "assumption",
                arwwi,
                json!("key change: ASIAETLWORKER1KEY001 -> ASIAETLWORKER1KEY002")
            ),
            row4("2026-10-05T11:05:00Z", "call", "GetObject", Value::Null),
            row4("2026-10-05T11:06:00Z", "call", "GetObject", Value::Null),
            row4(
                "2026-10-05T11:30:00Z",
                "call",
                "GetCallerIdentity",
                json!("FOREIGN IP: key obtained from 34.123.10.1")
            ),
        ]
    );
    // Issuing IP and expiry ride along on the assumption rows.
    let (rows, _) = json_rows(&["timeline", TRAIL, "--instance", "etl-1"]);
    assert_eq!(rows[0]["issuing_ip"], "34.123.10.1");
    assert_eq!(rows[0]["expires_at"], "2026-10-05T11:00:00Z");
    assert_eq!(rows[9]["foreign_ip"], true);
    assert_eq!(rows[9]["source_ip"], "198.51.100.77");
    assert_eq!(rows[5]["error_code"], "AccessDenied");
}

#[test]
fn timeline_of_a_session_name_includes_failed_assumptions() {
    let t = timeline(&["--session-name", "web-frontend-01.web-3"]);
    let kinds: Vec<&str> = t.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        kinds,
        ["assumption", "call", "call", "call", "failed_assumption"]
    );
    assert_eq!(
        t[3].2, "DescribeTable",
        "the keyless call joined by session"
    );
    assert_eq!(t[4].3, json!("refused: AccessDenied"));
}

#[test]
fn timeline_of_an_access_key_reaches_before_the_window_and_outside_the_input() {
    let t = timeline(&[
        "--access-key",
        "ASIANIGHTLYKEY000001",
        "--since",
        "2026-10-05",
    ]);
    assert_eq!(
        t.iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect::<Vec<_>>(),
        [
            ("2026-10-04T23:30:00Z", "assumption"),
            ("2026-10-05T00:10:00Z", "call")
        ]
    );
    let t = timeline(&["--access-key", "ASIAEC2INSTANCEROLE1"]);
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|r| r.1 == "unattributed_call"));
}

#[test]
fn timeline_of_a_sub() {
    let t = timeline(&["--sub", "333333333333333333333"]);
    assert_eq!(t.len(), 4);
    assert_eq!(t[3].3, json!("FOREIGN IP: key obtained from 34.90.0.9"));
    // Exactly one entity is required.
    assert_eq!(run(&["timeline", TRAIL]).code, 2);
    assert_eq!(
        run(&["timeline", TRAIL, "--sub", "1", "--instance", "x"]).code,
        2
    );
}

fn findings(args: &[&str]) -> (Vec<Value>, Run) {
    let mut all = vec!["findings"];
    all.extend(args);
    json_rows(&all)
}

fn kinds_and_keys(rows: &[Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["access_key_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn findings_on_the_fixture_trail_are_exactly_the_planted_ones() {
    let (rows, r) = findings(&[TRAIL]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The hourly refresh of etl-1 and KMS called by S3 for it stay silent.
    assert_eq!(
        kinds_and_keys(&rows),
        [
            (
                "key_used_from_foreign_ip".into(),
                "ASIAETLWORKER1KEY002".into()
            ),
            (
                "key_used_from_foreign_ip".into(),
                "ASIABLOGSUBKEY000001".into()
            ),
        ]
    );
    assert_eq!(
        rows[0],
        json!({
            "kind": "key_used_from_foreign_ip", "severity": "high",
            "access_key_id": "ASIAETLWORKER1KEY002", "session_name": ETL,
            "project": "prod-data-1234", "instance": "etl-1", "sub": "111111111111111111111",
            "source_ip": "198.51.100.77",
            "first_seen": "2026-10-05T11:30:00Z", "last_seen": "2026-10-05T11:30:00Z", "events": 1,
            "detail": "key obtained from 34.123.10.1, used from 198.51.100.77: GetCallerIdentity",
        })
    );
}

#[test]
fn findings_fail_on_and_trusted_cidrs() {
    assert_eq!(run(&["findings", TRAIL, "--fail-on", "high", "-q"]).code, 4);
    assert_eq!(run(&["findings", TRAIL, "--fail-on", "info", "-q"]).code, 4);
    let dir = tempfile::tempdir().unwrap();
    let cidrs = dir.path().join("egress.txt");
    std::fs::write(&cidrs, "# our egress\n198.51.100.0/24\n34.90.0.10  # NAT\n").unwrap();
    let c = cidrs.to_str().unwrap();
    let (rows, r) = findings(&[TRAIL, "--trusted-cidrs", c]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(rows.is_empty(), "{rows:#?}");
    assert_eq!(
        run(&["findings", TRAIL, "--trusted-cidrs", c, "--fail-on", "info"]).code,
        0
    );
    // One answer to "foreign IP": every report counts and marks with the same ranges.
    let foreign = |args: &[&str]| -> u64 {
        let (rows, r) = json_rows(args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        rows.iter()
            .map(|r| r["foreign_ip_calls"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(foreign(&["by-instance", TRAIL]), 2);
    assert_eq!(foreign(&["by-instance", TRAIL, "--trusted-cidrs", c]), 0);
    assert_eq!(foreign(&["sessions", TRAIL, "--trusted-cidrs", c]), 0);
    let (rows, _) = json_rows(&[
        "timeline",
        TRAIL,
        "--instance",
        "etl-1",
        "--trusted-cidrs",
        c,
    ]);
    assert!(
        rows.iter().all(|r| r["foreign_ip"] == json!(false)),
        "{rows:#?}"
    );
    std::fs::write(&cidrs, "10.0.0.0/8\nnot-a-range\n").unwrap();
    let r = run(&["findings", TRAIL, "--trusted-cidrs", c]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("line 2: 'not-a-range'"), "{}", r.stderr);
}

#[test]
fn findings_orphan_key_is_a_coverage_gap() {
    // Only the 10-05 folder: the nightly key's issuing event (10-04) is not in the input.
    let day =
        "fixtures/cloudtrail/AWSLogs/o-exampleorg1/111122223333/CloudTrail/us-east-1/2026/10/05";
    let (rows, _) = findings(&[day]);
    let orphan: Vec<&Value> = rows
        .iter()
        .filter(|r| r["kind"] == "orphan_federated_key")
        .collect();
    assert_eq!(orphan.len(), 1);
    assert_eq!(orphan[0]["access_key_id"], "ASIANIGHTLYKEY000001");
    assert_eq!(orphan[0]["severity"], "info");
    // With the whole trail the key is attributed and the gap disappears.
    let (rows, _) = findings(&[TRAIL]);
    assert!(rows.iter().all(|r| r["kind"] != "orphan_federated_key"));
}

#[test]
fn findings_use_after_expiry() {
    // good.json.gz issues ASIADAMAGEDSETKEY001 at 08:00, expiring 09:00; replay one of its calls
    // at 09:30.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(DAMAGED).join("good.json.gz"),
        dir.path().join("good.json.gz"),
    )
    .unwrap();
    let first = std::fs::read_to_string(Path::new(DAMAGED).join("mixed.jsonl")).unwrap();
    let mut late: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    late["eventTime"] = json!("2026-10-05T09:30:00Z");
    late["eventID"] = json!("0b4e7a55-1111-4222-8333-944455556666");
    std::fs::write(dir.path().join("late.jsonl"), late.to_string() + "\n").unwrap();
    let (rows, r) = findings(&[dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        kinds_and_keys(&rows),
        [("use_after_expiry".into(), "ASIADAMAGEDSETKEY001".into())]
    );
    assert_eq!(
        rows[0]["detail"],
        "key expired at 2026-10-05T09:00:00Z, still used: HeadObject"
    );
}

#[test]
fn findings_every_kind_planted_once_and_nothing_else() {
    let (rows, r) = findings(&[FINDINGS]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let api = |inst: &str| format!("shop-prod-1.{inst}");
    let expected = [
        json!({
            "kind": "session_name_sub_mismatch", "severity": "high",
            "access_key_id": "ASIASHOPINTRUDERKEY1", "session_name": api("api-1"),
            "project": "shop-prod-1", "instance": "api-1", "sub": "171717171717171717171",
            "source_ip": "203.0.113.66",
            "first_seen": "2026-10-08T10:30:00Z", "last_seen": "2026-10-08T10:45:00Z", "events": 2,
            "detail": "session name shop-prod-1.api-1 belongs to sub 121212121212121212121 but was assumed by sub 171717171717171717171 (2 time(s), from 203.0.113.66)",
        }),
        json!({
            "kind": "use_after_expiry", "severity": "high",
            "access_key_id": "ASIASHOPBATCHKEY0001", "session_name": api("batch-2"),
            "project": "shop-prod-1", "instance": "batch-2", "sub": "141414141414141414141",
            "source_ip": "34.10.0.9",
            "first_seen": "2026-10-08T12:20:00Z", "last_seen": "2026-10-08T12:20:00Z", "events": 1,
            "detail": "key expired at 2026-10-08T12:00:00Z, still used: PutObject",
        }),
        json!({
            "kind": "key_used_from_foreign_ip", "severity": "high",
            "access_key_id": "ASIASHOPWEBKEY000001", "session_name": api("web-4"),
            "project": "shop-prod-1", "instance": "web-4", "sub": "151515151515151515151",
            "source_ip": "198.51.100.23",
            "first_seen": "2026-10-08T13:30:00Z", "last_seen": "2026-10-08T13:31:00Z", "events": 2,
            "detail": "key obtained from 34.10.0.4, used from 198.51.100.23: GetObject",
        }),
        json!({
            "kind": "recon_burst", "severity": "medium",
            "access_key_id": "ASIASHOPWORKERKEY001", "session_name": api("worker-7"),
            "project": "shop-prod-1", "instance": "worker-7", "sub": "131313131313131313131",
            "source_ip": "34.10.0.7",
            "first_seen": "2026-10-08T09:20:00Z", "last_seen": "2026-10-08T09:22:00Z", "events": 9,
            "detail": "9 distinct recon calls and 5 access denials within 300s: DescribeInstances, DescribeRegions, DescribeSecurityGroups, GetAccountAuthorizationDetails, GetCallerIdentity, ListAttachedRolePolicies, ListBuckets, ListRoles, ListUsers",
        }),
        json!({
            "kind": "failed_assumption_burst", "severity": "medium",
            "access_key_id": null, "session_name": api("worker-7"),
            "project": "shop-prod-1", "instance": "worker-7", "sub": null,
            "source_ip": "192.0.2.44",
            "first_seen": "2026-10-08T14:00:00Z", "last_seen": "2026-10-08T14:06:00Z", "events": 6,
            "detail": "6 failed AssumeRoleWithWebIdentity from ip 192.0.2.44, up to 6 within 600s (AccessDenied x3, ExpiredTokenException x1, IDPRejectedClaim x1, InvalidIdentityToken x1); session names: shop-prod-1.worker-7",
        }),
        json!({
            "kind": "orphan_federated_key", "severity": "info",
            "access_key_id": "ASIASHOPORPHANKEY001", "session_name": api("old-9"),
            "project": null, "instance": null, "sub": null, "source_ip": "34.10.0.20",
            "first_seen": "2026-10-08T16:00:00Z", "last_seen": "2026-10-08T16:05:00Z", "events": 2,
            "detail": "coverage gap: the AssumeRoleWithWebIdentity that issued this key is not in the input",
        }),
    ];
    assert_eq!(rows, expected);
}

/// (kind, key, source_ip, events) of the burst findings under some `--set` overrides.
fn bursts(set: &[&str]) -> Vec<(String, String, String, u64)> {
    let mut args = vec![FINDINGS];
    for s in set {
        args.extend(["--set", s]);
    }
    let (rows, r) = findings(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    rows.iter()
        .filter(|r| r["kind"].as_str().unwrap().ends_with("_burst"))
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["access_key_id"].as_str().unwrap_or("").to_string(),
                r["source_ip"].as_str().unwrap_or("").to_string(),
                r["events"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn b(kind: &str, key: &str, ip: &str, events: u64) -> (String, String, String, u64) {
    (kind.into(), key.into(), ip.into(), events)
}

#[test]
fn burst_thresholds_are_parameters_and_the_near_misses_are_near() {
    let worker = b("recon_burst", "ASIASHOPWORKERKEY001", "34.10.0.7", 9);
    let ip_burst = b("failed_assumption_burst", "", "192.0.2.44", 6);
    // 7 distinct recon calls by api-1's second key: one short of the default 8.
    assert_eq!(
        bursts(&["recon_min_distinct=7"]),
        [
            b("recon_burst", "ASIASHOPAPIKEY000002", "34.10.0.1", 7),
            worker.clone(),
            ip_burst.clone()
        ]
    );
    // 4 denied writes by the third key: one short of the default 5.
    assert_eq!(
        bursts(&["recon_min_denied=4"]),
        [
            worker.clone(),
            b("recon_burst", "ASIASHOPAPIKEY000003", "34.10.0.1", 4),
            ip_burst.clone()
        ]
    );
    // The denials alone still make worker-7 a burst: 5 events, not 9.
    assert_eq!(
        bursts(&["recon_min_distinct=100"]),
        [
            b("recon_burst", "ASIASHOPWORKERKEY001", "34.10.0.7", 5),
            ip_burst.clone()
        ]
    );
    // 9 distinct calls exactly 5 minutes apart: never two in one [t, t+5m) window, all in 1h.
    assert_eq!(
        bursts(&["recon_window_s=1h"])[0],
        b("recon_burst", "ASIASHOPAPIKEY000001", "34.10.0.1", 9)
    );
    // Four failures of one sub from 192.0.2.99: reported once, by sub, not again by IP.
    let (rows, _) = findings(&[FINDINGS, "--set", "failed_assumption_min=4"]);
    let failed: Vec<&Value> = rows
        .iter()
        .filter(|r| r["kind"] == "failed_assumption_burst")
        .collect();
    assert_eq!(failed.len(), 2, "{failed:#?}");
    assert_eq!(failed[1]["sub"], "232323232323232323232");
    assert_eq!(failed[1]["source_ip"], "192.0.2.99");
    assert!(
        failed[1]["detail"]
            .as_str()
            .unwrap()
            .starts_with("4 failed AssumeRoleWithWebIdentity from sub 232323232323232323232"),
        "{}",
        failed[1]["detail"]
    );
    // Five failures of one sub 15 minutes apart: [15:00, 16:00) holds only four of them.
    assert_eq!(
        bursts(&["failed_assumption_window_s=3600"]),
        [worker, ip_burst]
    );
    assert_eq!(
        bursts(&["failed_assumption_window_s=3601"])[2],
        b("failed_assumption_burst", "", "", 5)
    );
}

#[test]
fn bad_threshold_settings_are_usage_errors() {
    for (set, says) in [
        ("recon_min_distinct", "expected NAME=VALUE"),
        ("nope=3", "no such parameter"),
        ("recon_min_denied=-1", "positive whole number"),
        ("recon_window_s=5x", "span like 10m"),
    ] {
        let r = run(&["findings", FINDINGS, "--set", set]);
        assert_eq!(r.code, 2, "{set}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{set}: {}", r.stderr);
    }
}

#[test]
fn a_single_detection_runs_through_query_with_its_parameters() {
    let (rows, r) = json_rows(&[
        "query",
        "findings/recon_burst",
        FINDINGS,
        "--set",
        "recon_min_denied=4",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(rows.len(), 2, "{rows:#?}");
}

/// A trail of recon and denied calls at random times for a few keys (a fixed seed: the same
/// trail on every run), with each call as (key, time, name, denied).
#[allow(clippy::type_complexity)]
fn random_recon_trail() -> (Vec<Value>, Vec<(String, i64, &'static str, bool)>) {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let names = [
        "ListBuckets",
        "ListUsers",
        "ListRoles",
        "DescribeInstances",
        "DescribeRegions",
        "GetCallerIdentity",
        "GetAccountSummary",
        "PutObject",
    ];
    let base = 1_791_446_400i64; // 2026-10-08T00:00:00Z
    let iso = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let mut lines = Vec::new();
    let mut calls = Vec::new();
    for k in 0..6 {
        let key = format!("ASIARANDOMKEY{k:07}");
        let session = format!("rand-proj.inst-{k}");
        let created = iso(base);
        lines.push(json!({
            "eventTime": created, "eventName": "AssumeRoleWithWebIdentity",
            "eventSource": "sts.amazonaws.com", "sourceIPAddress": "34.1.1.1",
            "eventID": format!("00000000-0000-4000-8000-{k:012}"),
            "userIdentity": {"type": "WebIdentityUser", "identityProvider": "accounts.google.com",
                "principalId": format!("accounts.google.com:aud:{k}"), "userName": format!("{k}")},
            "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/r",
                "roleSessionName": session},
            "responseElements": {"credentials": {"accessKeyId": key,
                "expiration": "Oct 9, 2026, 12:00:00\u{202f}AM"}},
        }));
        // Dense keys and sparse keys: spans from 10 minutes to 8 hours.
        let span = [600, 3600, 7200, 14400, 28800, 1800][k];
        for i in 0..(20 + next(40)) {
            let t = base + 60 + next(span) as i64;
            let name = names[next(names.len() as u64) as usize];
            let denied = next(3) == 0;
            lines.push(json!({
                "eventTime": iso(t), "eventName": name, "eventSource": "x.amazonaws.com",
                "sourceIPAddress": "34.1.1.1",
                "eventID": format!("00000000-0000-4000-9000-{:06}{i:06}", k),
                "errorCode": if denied { json!("AccessDenied") } else { Value::Null },
                "userIdentity": {"type": "AssumedRole", "accessKeyId": key,
                    "arn": format!("arn:aws:sts::111122223333:assumed-role/r/{session}")},
            }));
            calls.push((key.clone(), t, name, denied));
        }
    }
    (lines, calls)
}

/// recon_burst's answer by brute force: every window [t, t + w) anchored at a call, per key,
/// and the number of calls behind the key's finding.
fn recon_bursts_by_brute_force(
    calls: &[(String, i64, &str, bool)],
    (n_distinct, n_denied, w): (i64, i64, i64),
) -> Vec<(String, u64)> {
    let is_recon = |n: &str| {
        n.starts_with("List")
            || n.starts_with("Describe")
            || (n.starts_with("Get") && n.contains("Account"))
            || n == "GetCallerIdentity"
    };
    let mut expected: Vec<(String, u64)> = Vec::new();
    let mut keys: Vec<&String> = calls.iter().map(|c| &c.0).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let mine: Vec<_> = calls.iter().filter(|c| &c.0 == key).collect();
        let mut behind = std::collections::BTreeSet::new();
        for a in &mine {
            let inside: Vec<_> = mine
                .iter()
                .enumerate()
                .filter(|(_, c)| c.1 >= a.1 && c.1 < a.1 + w)
                .collect();
            if is_recon(a.2) {
                let recon: Vec<_> = inside.iter().filter(|(_, c)| is_recon(c.2)).collect();
                let distinct: std::collections::BTreeSet<_> =
                    recon.iter().map(|(_, c)| c.2).collect();
                if distinct.len() as i64 >= n_distinct {
                    behind.extend(recon.iter().map(|(i, _)| *i));
                }
            }
            if a.3 {
                let denied: Vec<_> = inside.iter().filter(|(_, c)| c.3).collect();
                if denied.len() as i64 >= n_denied {
                    behind.extend(denied.iter().map(|(i, _)| *i));
                }
            }
        }
        if !behind.is_empty() {
            expected.push((key.clone(), behind.len() as u64));
        }
    }
    expected
}

/// The bucketed sliding window in recon_burst.sql against a brute-force count over every window,
/// on random call times for a few keys. Over the files (read whole, and a few calls at a time)
/// and over a dataset, the calls marked only recon or denied are counted, not kept, and read
/// again only where a window can cross: the answer must be the brute force's all the same.
#[test]
fn recon_burst_windows_match_brute_force() {
    let (lines, calls) = random_recon_trail();
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("random.jsonl");
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(&trail, text).unwrap();
    let trail = trail.to_str().unwrap();
    let ds = dir.path().join("ds");
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", trail, "--dataset", ds]).code, 0);
    for limits @ (n_distinct, n_denied, w) in [(4i64, 4i64, 300i64), (5, 3, 120), (6, 5, 900)] {
        let expected = recon_bursts_by_brute_force(&calls, limits);
        assert!(
            !expected.is_empty() && expected.len() < 6,
            "a weak seed: {expected:?}"
        );
        let sources: [(&[&str], &str); 3] = [
            (&[trail], "131072"),
            (&[trail], "7"),
            (&["--dataset", ds], "131072"),
        ];
        for (source, slice) in sources {
            let mut args = vec!["query", "findings/recon_burst", "--format", "json", "-v"];
            args.extend(source);
            let settings = [
                format!("recon_min_distinct={n_distinct}"),
                format!("recon_min_denied={n_denied}"),
                format!("recon_window_s={w}"),
            ];
            for s in &settings {
                args.extend(["--set", s.as_str()]);
            }
            let out = bin()
                .args(&args)
                .env("JANUS_AUDIT_SLICE_ROWS", slice)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{stderr}");
            assert!(
                stderr.contains("counted, not kept") && !stderr.contains(" 0 of them read again"),
                "{stderr}"
            );
            // No record has the session's creation time; the calls read again are not counted
            // again.
            let fewer = format!(
                "{} call(s) matched to their key by key ID without",
                calls.len()
            );
            assert!(stderr.contains(&fewer), "{fewer}: {stderr}");
            let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
            let mut got: Vec<(String, u64)> = rows
                .iter()
                .map(|r| {
                    let key = r["access_key_id"].as_str().unwrap().to_string();
                    (key, r["events"].as_u64().unwrap())
                })
                .collect();
            got.sort();
            assert_eq!(
                got, expected,
                "{limits:?} over {source:?} in slices of {slice}"
            );
        }
    }
}

#[test]
fn minus_vv_ends_with_the_most_heap_the_run_held() {
    let r = run(&["by-instance", TRAIL, "-vv", "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("heap: at most"))
        .unwrap_or_else(|| panic!("no heap line: {}", r.stderr));
    let mib: u64 = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    // Small fixtures, but polars and the tables take a few MiB at least.
    assert!((1..4096).contains(&mib), "{line}");
    let quiet = run(&["by-instance", TRAIL, "-v", "--format", "csv"]);
    assert!(!quiet.stderr.contains("heap: at most"), "{}", quiet.stderr);
}

#[test]
fn counting_the_rows_of_a_union_works() {
    // calls.sql is a UNION ALL (joined by key, and by name for records without one); polars
    // counts a union's rows by summing its parts' lengths as UInt128, which failed ("casting
    // from UInt32 to UInt128 not supported") until polars had dtype-u128.
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", TRAIL, "--dataset", ds]).code, 0);
    for source in [&[TRAIL][..], &["--dataset", ds][..]] {
        let count = |sql: &str| {
            let mut args = vec!["query", sql];
            args.extend(source);
            let (rows, r) = json_rows(&args);
            assert_eq!(r.code, 0, "{sql} over {source:?}: {}", r.stderr);
            rows[0]["n"].as_u64().unwrap()
        };
        let mut args = vec!["query", "SELECT event_name FROM calls"];
        args.extend(source);
        let rows = json_rows(&args).0.len() as u64;
        assert!(rows > 0);
        assert_eq!(count("SELECT COUNT(*) AS n FROM calls"), rows, "{source:?}");
        assert_eq!(
            count(
                "SELECT COUNT(*) AS n FROM (SELECT event_id FROM role_calls UNION ALL SELECT event_id FROM role_calls)"
            ),
            2 * count("SELECT COUNT(*) AS n FROM role_calls"),
        );
    }
}

#[test]
fn a_query_sees_every_call_column_it_names_or_stars() {
    // Reports keep only the call columns their SQL names; a query that names one, or selects
    // `*`, must still get it, from the JSON and from a dataset alike.
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let ds = ds.to_str().unwrap();
    assert_eq!(run(&["ingest", TRAIL, "--dataset", ds]).code, 0);
    for source in [&[TRAIL][..], &["--dataset", ds][..]] {
        let mut args = vec![
            "query",
            "SELECT DISTINCT user_agent FROM calls WHERE user_agent LIKE 'aws-cli%'",
        ];
        args.extend(source);
        let (rows, r) = json_rows(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(!rows.is_empty(), "{source:?}");
        let mut args = vec!["query", "SELECT COLUMNS('^user_.*') FROM calls LIMIT 1"];
        args.extend(source);
        let (rows, r) = json_rows(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            rows[0].get("user_agent").is_some(),
            "{rows:?} over {source:?}"
        );
        let mut args = vec!["query", "SELECT * FROM role_calls LIMIT 1"];
        args.extend(source);
        let (rows, r) = json_rows(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let row = rows[0].as_object().unwrap();
        for c in [
            "user_agent",
            "identity_arn",
            "account_id",
            "web_id_provider",
            "invoked_by",
        ] {
            assert!(row.contains_key(c), "{c} missing over {source:?}: {row:?}");
        }
    }
}

/// The header line of a terminal table: its column names.
fn headers(table: &str) -> Vec<String> {
    table
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split(['│', '┆'])
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

/// The columns named under a fitted table as not shown.
fn named_as_more(table: &str) -> Vec<String> {
    table
        .lines()
        .find_map(|l| l.split_once(" more column(s): "))
        .map(|(_, rest)| {
            rest.split(" (")
                .next()
                .unwrap()
                .split(", ")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_table_fits_its_width_never_cuts_a_header_and_names_what_it_leaves_out() {
    for width in [60usize, 80, 120] {
        let r = run(&[
            "by-instance",
            "fixtures/cloudtrail",
            "--width",
            &width.to_string(),
        ]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let table: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| !l.contains("more column(s)"))
            .collect();
        for line in &table {
            assert!(line.chars().count() <= width, "{width}: {line}");
        }
        let shown = headers(&r.stdout);
        let more = named_as_more(&r.stdout);
        // Every column is either shown, its header whole, or named.
        assert_eq!(
            shown.len() + more.len(),
            BY_INSTANCE_COLUMNS.len(),
            "{}",
            r.stdout
        );
        for h in &shown {
            assert!(!h.contains('…'), "a header cut: {h}");
        }
        assert_eq!(shown[..2], ["project", "instance"]);
        // Cut cells end in an ellipsis; whole ones are as the CSV has them.
        assert!(r.stdout.contains("etl-runner-0042"), "{}", r.stdout);
    }
    // Every column when asked, still within the width: those that do not fit are named.
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--width",
        "100",
        "--wide",
    ]);
    assert!(
        r.stdout
            .lines()
            .all(|l| l.chars().count() <= 100 || l.contains("more column(s)"))
    );
    assert_eq!(
        headers(&r.stdout)[..3],
        ["project", "instance", "session_name"]
    );
    // Piped without --width: the whole table, every column at full width, nothing said under it.
    let r = run(&["by-instance", "fixtures/cloudtrail"]);
    assert_eq!(headers(&r.stdout), BY_INSTANCE_COLUMNS, "{}", r.stdout);
    assert!(!r.stdout.contains("more column(s)"));
}

#[test]
fn on_a_terminal_the_table_takes_the_terminals_width() {
    // A pseudo-terminal of 90 columns (util-linux `script`): stdout is a terminal there.
    let bin = assert_cmd::cargo::cargo_bin("janus-audit");
    let cmd = format!(
        "stty cols 90 rows 50; {} by-instance fixtures/cloudtrail 2>/dev/null",
        bin.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("util-linux `script` runs a command on a pseudo-terminal");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let table: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(['┌', '│', '╞', '└']))
        .collect();
    assert!(table.len() >= 8, "{text}");
    for line in &table {
        assert!(line.chars().count() <= 90, "{line}");
    }
    assert!(text.contains("more column(s)"), "{text}");
}

#[test]
fn columns_selects_and_orders_and_names_the_ones_there_are() {
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--columns",
        "instance,api_calls",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().next(), Some("instance,api_calls"));
    assert!(r.stdout.contains("etl-1,8\n"), "{}", r.stdout);
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--columns",
        "instance,nope",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("no column 'nope'") && r.stderr.contains("foreign_ip_calls"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--columns",
        "instance",
        "--format",
        "html",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn json_writes_an_empty_list_as_an_empty_list() {
    let (rows, r) = json_rows(&["by-instance", "fixtures/cloudtrail"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let etl = rows.iter().find(|r| r["instance"] == "etl-1").unwrap();
    assert_eq!(etl["chained_roles"], json!([]), "{etl:#?}");
    // CSV keeps writing it as an empty cell.
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--columns",
        "instance,chained_roles",
        "--format",
        "csv",
    ]);
    assert!(r.stdout.contains("etl-1,\n"), "{}", r.stdout);
}

#[test]
fn an_empty_answer_says_why() {
    // A window the input's day folders are all outside of: not even opened, and said.
    let r = run(&[
        "by-instance",
        "fixtures/cloudtrail",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-02",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "nothing in the window [2026-11-01T00:00:00Z, 2026-11-02T00:00:00Z): the input's day folders run from 2026-10-04 to 2026-10-07"
        ),
        "{}",
        r.stderr
    );
    // A window inside the days read, between the records: their span is said.
    let r = run(&[
        "sessions",
        "fixtures/cloudtrail",
        "--since",
        "2026-10-05T15:00:00Z",
        "--until",
        "2026-10-05T16:00:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("record(s) read run from 2026-10-04T23:30:00Z to 2026-10-06T09:02:00Z"),
        "{}",
        r.stderr
    );
    // A window with records in it says nothing of the kind.
    let r = run(&["by-instance", "fixtures/cloudtrail", "--format", "csv"]);
    assert!(!r.stderr.contains("nothing in the window"), "{}", r.stderr);
    // A timeline of a name the input does not hold names the nearest ones it does.
    let r = run(&[
        "timeline",
        "fixtures/cloudtrail",
        "--instance",
        "web-9",
        "--format",
        "csv",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no instance 'web-9' in the window; the nearest it holds: web-3"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "timeline",
        "fixtures/cloudtrail",
        "--instance",
        "etl-1",
        "--format",
        "csv",
    ]);
    assert!(!r.stderr.contains("no instance"), "{}", r.stderr);
}

#[test]
fn a_misspelled_column_names_the_nearest_of_every_tables_columns() {
    let r = run(&[
        "query",
        "SELECT instanse, COUNT(*) FROM calls GROUP BY 1",
        "fixtures/cloudtrail",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no column 'instanse' in the tables it reads (nearest: instance"),
        "{}",
        r.stderr
    );
    // Not the few columns this run decoded: user_agent is one no query named.
    let r = run(&[
        "query",
        "SELECT user_agnt FROM calls",
        "fixtures/cloudtrail",
    ]);
    assert!(r.stderr.contains("nearest: user_agent"), "{}", r.stderr);
    // A real column that one side of a union lacks is not "misspelled": polars says which.
    let r = run(&[
        "query",
        "SELECT event_name, NULL AS resources FROM assumptions UNION ALL SELECT event_name, resources FROM calls",
        "fixtures/cloudtrail",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("nearest"), "{}", r.stderr);
    assert!(
        r.stderr.contains("unable to find column \"event_name\""),
        "{}",
        r.stderr
    );
}

/// The bundled trail's digests are real: signed with the test key in fixtures/keys, so that the
/// tour can show `verify` proving a day, and failing when a byte of a log file changes.
#[test]
fn the_bundled_trail_verifies_with_its_pinned_key_and_fails_once_altered() {
    let keys = "fixtures/keys/cloudtrail-public-keys.json";
    let day = ["--since", "2026-10-05", "--until", "2026-10-06"];
    let mut args = vec!["verify", "fixtures/cloudtrail", "--public-keys", keys];
    args.extend(day);
    let (rows, r) = json_rows(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        pick(
            &rows[0],
            &[
                "account_id",
                "digests_valid",
                "digests_invalid",
                "log_files_valid",
                "log_files_uncovered",
                "gaps",
                "keys_source"
            ]
        ),
        json!({"account_id": "111122223333", "digests_valid": 49, "digests_invalid": 0,
               "log_files_valid": 6, "log_files_uncovered": 0, "gaps": [], "keys_source": "pinned"})
    );
    // One record changed in a copy: the digest's hash no longer matches.
    let d = tempfile::tempdir().unwrap();
    for e in walkdir::WalkDir::new("fixtures/cloudtrail") {
        let e = e.unwrap();
        let to = d.path().join(e.path());
        match e.file_type().is_dir() {
            true => std::fs::create_dir_all(&to).unwrap(),
            false => {
                std::fs::copy(e.path(), &to).unwrap();
            }
        }
    }
    let victim = d.path().join("fixtures/cloudtrail/AWSLogs/o-exampleorg1/111122223333/CloudTrail/us-east-1/2026/10/05/111122223333_CloudTrail_us-east-1_20261005T1130Z_0rGb.json.gz");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&victim).unwrap()),
        &mut text,
    )
    .unwrap();
    assert!(text.contains("198.51.100.77"));
    let altered = text.replace("198.51.100.77", "34.123.10.1");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, altered.as_bytes()).unwrap();
    std::fs::write(&victim, gz.finish().unwrap()).unwrap();
    let copy = d.path().join("fixtures/cloudtrail");
    let mut args = vec!["verify", copy.to_str().unwrap(), "--public-keys", keys];
    args.extend(day);
    let (rows, r) = json_rows(&args);
    assert_eq!(r.code, 8, "{}", r.stderr);
    assert_eq!(rows[0]["log_files_modified"], 1);
    assert!(r.stderr.contains("0rGb.json.gz"), "{}", r.stderr);
}

/// "Which bucket and object did this instance read" is a column, from the JSON and the same
/// from what a report keeps: the fixture's GetObject calls name their objects.
#[test]
fn calls_say_which_bucket_object_and_resources_they_touched() {
    let (rows, r) = json_rows(&[
        "query",
        "SELECT event_id, event_name, s3_bucket, s3_key, resources, request_parameters FROM calls WHERE instance = 'etl-1' ORDER BY event_time",
        "fixtures/cloudtrail",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let get = rows
        .iter()
        .find(|r| r["event_name"] == "GetObject")
        .unwrap();
    assert_eq!(get["s3_bucket"], "gcp-etl-reader-111122223333");
    assert_eq!(get["s3_key"], "exports/2026/10/etl-get-1.parquet");
    assert_eq!(
        get["resources"],
        json!([
            "arn:aws:s3:::gcp-etl-reader-111122223333/exports/2026/10/etl-get-1.parquet",
            "arn:aws:s3:::gcp-etl-reader-111122223333"
        ])
    );
    let params: Value = serde_json::from_str(get["request_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["key"], "exports/2026/10/etl-get-1.parquet");
    let kms = rows.iter().find(|r| r["event_name"] == "Decrypt").unwrap();
    assert_eq!(kms["s3_bucket"], Value::Null);
    assert!(
        kms["resources"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:kms:")
    );
    // The timeline shows them too.
    let (tl, r) = json_rows(&["timeline", "fixtures/cloudtrail", "--instance", "etl-1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let keys: Vec<&str> = tl.iter().filter_map(|r| r["s3_key"].as_str()).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
}

#[test]
fn verify_fits_a_terminal_like_the_reports() {
    let r = run(&[
        "verify",
        "fixtures/cloudtrail",
        "--since",
        "2026-10-05",
        "--until",
        "2026-10-06",
        "--public-keys",
        "fixtures/keys/cloudtrail-public-keys.json",
        "--width",
        "80",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.chars().count() <= 80),
        "{}",
        r.stdout
    );
    assert!(
        lines.last().unwrap().contains("keys_source"),
        "{}",
        r.stdout
    );
    let r = run(&[
        "verify",
        "fixtures/cloudtrail",
        "--public-keys",
        "fixtures/keys/cloudtrail-public-keys.json",
        "--columns",
        "region,gaps",
        "--format",
        "csv",
    ]);
    assert_eq!(r.stdout.lines().next(), Some("region,gaps"), "{}", r.stdout);
}

/// A reader that stops reading (`| head`) ends the run quietly with 0, as ripgrep does.
#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("janus-audit"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "query",
            "SELECT * FROM calls",
            "fixtures/chains",
            "--format",
            "csv",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
