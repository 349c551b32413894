//! `--gcp-logs`: the exact `gcp_instance` of every key and instance, the exact rows of each GCP
//! table, the exact GCP findings, the Google side of a timeline, the three file shapes read
//! once each, damaged files named and counted, and the dataset keeping what it was given.
//! fixtures/README.md works out every expected value from fixtures/gcp (written by
//! make_fixtures.py, shapes from fixtures/gcp/SOURCES.md).

use std::collections::BTreeMap;

use assert_cmd::Command;
use serde_json::Value;

const TRAIL: [&str; 2] = ["fixtures/cloudtrail", "fixtures/gcp/trail"];
const GCP: [&str; 6] = [
    "--gcp-logs",
    "fixtures/gcp/logs",
    "--gcp-instances",
    "fixtures/gcp/instances.json",
    "--gcp-service-accounts",
    "fixtures/gcp/service-accounts.json",
];

fn janus(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A report as JSON rows, with the exit status and stderr.
fn report(command: &[&str], gcp: &[&str]) -> (i32, Vec<Value>, String) {
    let mut args: Vec<&str> = command.to_vec();
    args.extend(TRAIL);
    args.extend(gcp);
    args.extend(["--format", "json"]);
    let (code, out, err) = janus(&args);
    let rows = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    (code, rows, err)
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(s).collect::<Vec<_>>().join(";"),
        other => other.to_string(),
    }
}

/// One string per row of the named columns.
fn pick(rows: &[Value], cols: &[&str]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            cols.iter()
                .map(|c| s(&r[*c]))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// access_key_id → gcp_instance of `sessions`.
fn by_key(rows: &[Value]) -> BTreeMap<String, String> {
    rows.iter()
        .map(|r| (s(&r["access_key_id"]), s(&r["gcp_instance"])))
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_key_gets_its_gcp_instance() {
    let (code, rows, err) = report(&["sessions"], &GCP);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        by_key(&rows),
        expected(&[
            ("ASIANIGHTLYKEY000001", "verified"),
            ("ASIAETLWORKER1KEY001", "verified"),
            ("ASIAETLWORKER1KEY002", "verified"),
            ("ASIAWEB3KEY000000001", "other_service_account"),
            ("ASIABLOGSUBKEY000001", "not_instance_name"),
            ("ASIALONGHOSTKEY00001", "verified"),
            ("ASIAETL9GHOSTKEY0001", "no_such_instance"),
            ("ASIAIMPERSONATED0001", "verified"),
            ("ASIASHORTENEDKEY0001", "not_covered"),
        ])
    );
    // Appended after the existing columns.
    let cols: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(cols.last().unwrap().as_str(), "gcp_instance");
    assert!(
        err.contains("IAM Credentials (Data Access) entries found"),
        "{err}"
    );
}

#[test]
fn without_the_listings_what_rests_on_them_is_not_covered() {
    let (code, rows, _) = report(&["sessions"], &GCP[..2]);
    assert_eq!(code, 0);
    let got = by_key(&rows);
    // nightly-1's project has no logs at all; etl-runner's account's unique ID came only
    // from the service-account listing.
    assert_eq!(got["ASIANIGHTLYKEY000001"], "not_covered");
    assert_eq!(got["ASIALONGHOSTKEY00001"], "not_covered");
    assert_eq!(got["ASIAETL9GHOSTKEY0001"], "no_such_instance");
    assert_eq!(got["ASIAWEB3KEY000000001"], "other_service_account");
}

#[test]
fn by_instance_takes_the_worst_of_its_keys() {
    let (code, rows, err) = report(&["by-instance"], &GCP);
    assert_eq!(code, 0, "{err}");
    let got: BTreeMap<String, String> = rows
        .iter()
        .map(|r| (s(&r["session_name"]), s(&r["gcp_instance"])))
        .collect();
    let etl = "prod-data-1234.etl-1.us-central1-a.c.prod-data-1234.internal";
    assert_eq!(got[etl], "verified");
    assert_eq!(got["web-frontend-01.web-3"], "other_service_account");
    assert_eq!(got["prod-data-1234.etl-9"], "no_such_instance");
    assert_eq!(got["333333333333333333333"], "not_instance_name");
    assert_eq!(got["batch-jobs-555.nightly-1"], "verified");
    assert_eq!(got.len(), 7, "{got:?}");
    // Without --gcp-logs the column is not there at all.
    let (_, plain, _) = report(&["by-instance"], &[]);
    assert!(plain[0].get("gcp_instance").is_none());
}

#[test]
fn each_gcp_table_has_exactly_its_rows() {
    let query = |sql: &str, cols: &[&str]| {
        let (code, rows, err) = report(&["query", sql], &GCP);
        assert_eq!(code, 0, "{err}");
        pick(&rows, cols)
    };
    assert_eq!(
        query(
            "SELECT * FROM gcp_instances",
            &[
                "project",
                "instance",
                "service_accounts",
                "created",
                "deleted",
                "last_seen",
                "source"
            ]
        ),
        [
            "analytics-prod-77 | etl-runner-0042 | etl-runner@analytics-prod-77.iam.gserviceaccount.com | 2026-10-02T07:00:00Z | 2026-10-06T09:31:10Z | 2026-10-06T09:31:10Z | logs",
            "batch-jobs-555 | nightly-1 | 555000555000-compute@developer.gserviceaccount.com | 2026-09-20T10:00:00Z |  | 2026-09-20T10:00:00Z | listed",
            "ml-platform-prod | very-long-training-job-instance-name-that-goes-on-and-on-forever | 777000777000-compute@developer.gserviceaccount.com | 2026-10-03T12:00:00Z |  | 2026-10-03T12:00:44Z | logs",
            "prod-data-1234 | etl-1 | etl-reader@prod-data-1234.iam.gserviceaccount.com | 2026-09-28T09:10:00Z |  | 2026-09-28T09:10:41Z | logs",
            "web-frontend-01 | web-3 | web-writer@web-frontend-01.iam.gserviceaccount.com;web-new@web-frontend-01.iam.gserviceaccount.com | 2026-10-01T08:00:00Z |  | 2026-10-05T11:40:02Z | logs",
        ]
    );
    assert_eq!(
        query(
            "SELECT * FROM gcp_service_accounts",
            &["email", "unique_id", "project", "created"]
        ),
        [
            "555000555000-compute@developer.gserviceaccount.com | 555555555555555555555 | batch-jobs-555 | ",
            "etl-reader@prod-data-1234.iam.gserviceaccount.com | 111111111111111111111 | prod-data-1234 | 2026-09-28T09:00:00Z",
            "etl-runner@analytics-prod-77.iam.gserviceaccount.com | 444444444444444444444 | analytics-prod-77 | ",
            "web-new@web-frontend-01.iam.gserviceaccount.com | 242424242424242424242 | web-frontend-01 | 2026-10-05T11:20:00Z",
            "web-writer@web-frontend-01.iam.gserviceaccount.com | 222222222222222222222 | web-frontend-01 | ",
        ]
    );
    assert_eq!(
        query(
            "SELECT * FROM gcp_mints",
            &[
                "time",
                "method",
                "target_unique_id",
                "minter",
                "caller_type",
                "caller_ip",
                "granted"
            ]
        ),
        [
            "2026-10-06T14:00:00Z | GenerateIdToken | 111111111111111111111 | alice@example.com | user | 203.0.113.10 | true",
            "2026-10-06T15:00:00Z | GenerateIdToken | 111111111111111111111 |  | redacted | 192.0.2.66 | false",
        ]
    );
    assert_eq!(
        query(
            "SELECT * FROM gcp_changes",
            &[
                "time",
                "change",
                "service_account",
                "detail",
                "members",
                "caller",
                "caller_ip"
            ]
        ),
        [
            "2026-10-05T09:00:00Z | token_creator_granted | web-writer@web-frontend-01.iam.gserviceaccount.com | roles/iam.serviceAccountOpenIdTokenCreator | user:mallory@example.com | admin@example.com | 198.51.100.9",
            "2026-10-05T15:00:00Z | key_created | etl-reader@prod-data-1234.iam.gserviceaccount.com | 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 |  | bob@example.com | 198.51.100.5",
            "2026-10-06T16:00:00Z | key_deleted | etl-reader@prod-data-1234.iam.gserviceaccount.com | 0a1b2c3d4e5f60718293a4b5c6d7e8f901234567 |  | bob@example.com | 198.51.100.5",
        ]
    );
    assert_eq!(
        query(
            "SELECT * FROM gcp_coverage",
            &["project", "log_type", "first_entry", "last_entry"]
        ),
        [
            "analytics-prod-77 | activity | 2026-10-02T07:00:00Z | 2026-10-07T06:30:00Z",
            "ml-platform-prod | activity | 2026-10-03T11:00:00Z | 2026-10-03T12:00:44Z",
            "prod-data-1234 | activity | 2026-09-28T09:00:00Z | 2026-10-07T06:00:00Z",
            "prod-data-1234 | data_access | 2026-10-06T13:59:58Z | 2026-10-06T15:00:00Z",
            "web-frontend-01 | activity | 2026-10-01T08:00:00Z | 2026-10-05T11:40:02Z",
        ]
    );
}

#[test]
fn the_gcp_findings_are_exactly_the_planted_ones() {
    let (code, rows, err) = report(&["findings"], &GCP);
    assert_eq!(code, 0, "{err}");
    let gcp_kinds = [
        "session_names_unknown_instance",
        "token_minted_outside_fleet",
        "service_account_key_created",
        "token_creator_granted",
    ];
    let got: Vec<String> = rows
        .iter()
        .filter(|r| gcp_kinds.contains(&r["kind"].as_str().unwrap()))
        .map(|r| {
            pick(
                std::slice::from_ref(r),
                &[
                    "kind",
                    "severity",
                    "access_key_id",
                    "source_ip",
                    "first_seen",
                    "events",
                ],
            )
            .remove(0)
        })
        .collect();
    assert_eq!(
        got,
        [
            "session_names_unknown_instance | high | ASIAWEB3KEY000000001 | 35.200.1.3 | 2026-10-05T12:00:00Z | 1",
            "session_names_unknown_instance | high | ASIAETL9GHOSTKEY0001 | 34.123.10.9 | 2026-10-06T10:00:00Z | 1",
            "token_minted_outside_fleet | high | ASIAIMPERSONATED0001 | 203.0.113.10 | 2026-10-06T14:00:00Z | 2",
            "token_creator_granted | medium | ASIAWEB3KEY000000001 | 198.51.100.9 | 2026-10-05T09:00:00Z | 2",
            "service_account_key_created | medium | ASIAETL9GHOSTKEY0001 | 198.51.100.5 | 2026-10-05T15:00:00Z | 2",
        ]
    );
    let minted = rows
        .iter()
        .find(|r| r["kind"] == "token_minted_outside_fleet")
        .unwrap();
    let detail = s(&minted["detail"]);
    assert!(
        detail.contains("by alice@example.com (user) from 203.0.113.10")
            && detail.contains("2026-10-06T14:02:00Z ASIAIMPERSONATED0001 from 203.0.113.10"),
        "{detail}"
    );
    // Without GCP logs nothing is judged, and none of them is found.
    let (_, plain, _) = report(&["findings"], &[]);
    assert!(
        plain
            .iter()
            .all(|r| !gcp_kinds.contains(&r["kind"].as_str().unwrap()))
    );
}

#[test]
fn a_timeline_interleaves_the_google_side() {
    let (code, rows, err) = report(&["timeline", "--instance", "web-3"], &GCP);
    assert_eq!(code, 0, "{err}");
    let gcp: Vec<String> = rows
        .iter()
        .filter(|r| s(&r["kind"]).starts_with("gcp_"))
        .map(|r| pick(std::slice::from_ref(r), &["time", "kind", "detail"]).remove(0))
        .collect();
    assert_eq!(
        gcp,
        [
            "2026-10-01T08:00:00Z | gcp_instance_created | created in us-east1-b running as web-writer@web-frontend-01.iam.gserviceaccount.com",
            "2026-10-05T11:40:00Z | gcp_service_account_changed | now runs as web-new@web-frontend-01.iam.gserviceaccount.com",
        ]
    );
    // In time order with the AWS side: the change comes before the 12:00 assumption.
    let kinds: Vec<String> = rows.iter().map(|r| s(&r["kind"])).collect();
    let change = kinds
        .iter()
        .position(|k| k == "gcp_service_account_changed");
    let assumed = kinds.iter().position(|k| k == "assumption");
    assert!(change < assumed, "{kinds:?}");
    // The mints for etl-1's account, the denied one marked.
    let (_, etl, _) = report(&["timeline", "--instance", "etl-1"], &GCP);
    let mints = pick(&etl, &["kind", "event_name", "detail"])
        .into_iter()
        .filter(|r| r.starts_with("gcp_mint"))
        .collect::<Vec<_>>();
    assert_eq!(mints.len(), 2, "{mints:?}");
    assert!(mints[1].ends_with("a caller the log does not name (redacted), denied"));
}

#[test]
fn each_shape_is_read_and_an_entry_delivered_twice_counts_once() {
    let table = |logs: &[&str]| {
        let mut gcp = vec!["--gcp-logs"];
        gcp.extend(logs);
        let (code, rows, err) = report(&["query", "SELECT * FROM gcp_timeline"], &gcp);
        assert_eq!(code, 0, "{err}");
        (pick(&rows, &["time", "kind", "project", "detail"]), err)
    };
    // The gcloud array alone (newest first) holds web-3's operations of 10-05 and alice's two
    // requests, of which the ID token is a mint.
    let (alone, _) = table(&["fixtures/gcp/logs/gcloud/read-2026-10-06.json"]);
    assert_eq!(alone.len(), 2, "{alone:?}");
    assert!(alone[0].contains("gcp_service_account_changed"));
    // Every entry of it is in the sink or the NDJSON too: with or without it, the same rows.
    let (all, err) = table(&["fixtures/gcp/logs"]);
    let (without, _) = table(&[
        "fixtures/gcp/logs/sink",
        "fixtures/gcp/logs/ndjson/data-access.ndjson.gz",
    ]);
    assert_eq!(all, without);
    assert!(
        err.contains(
            "13 file(s) (0 damaged), 26 fact(s) kept, 5 duplicate(s), 6 of other methods, 1 not audit logs"
        ),
        "{err}"
    );
}

#[test]
fn a_damaged_gcp_file_is_named_counted_and_the_rest_still_read() {
    let mut gcp = GCP.to_vec();
    gcp.insert(2, "fixtures/gcp/damaged");
    let (code, damaged, err) = report(&["sessions"], &gcp);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(
            "--gcp-logs: partly read \"fixtures/gcp/damaged/broken-line.jsonl\": 1 unusable entry"
        ),
        "{err}"
    );
    assert!(
        err.contains("--gcp-logs: partly read \"fixtures/gcp/damaged/cut.json\""),
        "{err}"
    );
    let (_, whole, _) = report(&["sessions"], &GCP);
    assert_eq!(by_key(&damaged), by_key(&whole));
    // The line after the broken one (etl-1's insert) is still read: the broken line's open
    // object does not take it as a value.
    let (code, rows, err) = report(
        &["query", "SELECT instance FROM gcp_instances"],
        &["--gcp-logs", "fixtures/gcp/damaged/broken-line.jsonl"],
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(pick(&rows, &["instance"]), ["etl-1"]);
    assert!(err.contains("line 2: not JSON"), "{err}");
}

#[test]
fn gcp_logs_that_hold_no_log_file_are_said_and_the_answer_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a log").unwrap();
    let (code, _, err) = janus(&[
        "sessions",
        "fixtures/cloudtrail",
        "--gcp-logs",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no log files"), "{err}");
    assert!(!err.contains("notes.txt"), "{err}");
}

#[test]
fn a_listing_that_is_not_json_is_named() {
    let (code, _, err) = janus(&[
        "sessions",
        "fixtures/cloudtrail",
        "--gcp-instances",
        "fixtures/gcp/damaged/cut.json",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("--gcp-instances \"fixtures/gcp/damaged/cut.json\""),
        "{err}"
    );
}

#[test]
fn the_dataset_keeps_what_ingest_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let ds = ds.to_str().unwrap();
    let ingest = |gcp: &[&str]| {
        let mut args = vec!["ingest", "--dataset", ds];
        args.extend(TRAIL);
        args.extend(gcp);
        janus(&args)
    };
    let (code, _, err) = ingest(&GCP);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stored 29 new GCP fact(s)"), "{err}");
    // The same logs again: nothing new.
    let (code, _, err) = ingest(&GCP);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stored 0 new GCP fact(s)"), "{err}");
    let from = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--dataset", ds, "--format", "json"]);
        let (code, out, err) = janus(&a);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Vec<Value>>(&out).unwrap()
    };
    let (_, json, _) = report(&["sessions"], &GCP);
    assert_eq!(by_key(&from(&["sessions"])), by_key(&json));
    let (_, _, err) = janus(&["sessions", "--dataset", ds]);
    assert!(
        err.contains("GCP facts stored in the dataset: 29;"),
        "{err}"
    );
    // GCP logs alone can be added to a dataset.
    let (code, _, err) = janus(&["ingest", "--dataset", ds, "--gcp-logs", "fixtures/gcp/logs"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("stored 0 new GCP fact(s)"), "{err}");
    let (_, json_findings, _) = report(&["findings"], &GCP);
    assert_eq!(from(&["findings"]), json_findings);
}

#[test]
fn a_scheduled_report_judges_its_keys_and_finds_the_gcp_findings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let mut args = vec!["report"];
    args.extend(TRAIL);
    args.extend(GCP);
    args.extend([
        "--output-dir",
        out.to_str().unwrap(),
        "--since",
        "2026-10-01",
        "--until",
        "2026-11-01",
        "--formats",
        "json",
    ]);
    let (code, _, err) = janus(&args);
    assert_eq!(code, 0, "{err}");
    let window = out.join("2026-10-01T00-00Z_2026-11-01T00-00Z");
    let read = |name: &str| -> Vec<Value> {
        serde_json::from_slice(&std::fs::read(window.join(name)).unwrap()).unwrap()
    };
    let sessions = read("sessions.json");
    assert_eq!(
        by_key(&sessions)["ASIAETL9GHOSTKEY0001"],
        "no_such_instance"
    );
    let by_instance = read("by_instance.json");
    assert!(
        by_instance
            .iter()
            .any(|r| r["gcp_instance"] == "other_service_account")
    );
    let findings = read("findings.json");
    assert!(
        findings
            .iter()
            .any(|r| r["kind"] == "token_minted_outside_fleet")
    ); // The manifest records what was read of the Google side, each file with its hash.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(window.join("manifest.json")).unwrap()).unwrap();
    let gcp = &manifest["gcp"];
    assert_eq!(gcp["complete"], true);
    assert_eq!(gcp["files"].as_array().unwrap().len(), 13);
    let sink = gcp["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| s(&f["path"]).ends_with("2026/10/05/09:00:00_09:59:59_S0.json"))
        .unwrap();
    let bytes = std::fs::read(
        "fixtures/gcp/logs/sink/cloudaudit.googleapis.com/activity/2026/10/05/09:00:00_09:59:59_S0.json",
    )
    .unwrap();
    use sha2::Digest;
    assert_eq!(
        s(&sink["sha256"]),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    assert_eq!(gcp["listings"].as_array().unwrap().len(), 2);
    assert_eq!(gcp["data_access_found"], true);
}

#[test]
fn without_gcp_input_nothing_is_judged() {
    let (code, out, err) = janus(&[
        "query",
        "SELECT COUNT(*) AS n FROM gcp_verdicts",
        "fixtures/cloudtrail",
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "n\n0\n");
    assert!(!err.contains("GCP logs"), "{err}");
}
