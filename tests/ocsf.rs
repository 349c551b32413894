//! `findings --format ocsf`: one OCSF Detection Finding per finding, each with the events behind
//! it where its detection names them (the same events the tables hold), and the format refused
//! where it means nothing. tests/interop/ocsf.sh validates the records against OCSF's schema.

#[path = "support/bin.rs"]
mod bin;

use std::collections::BTreeSet;

use serde_json::Value;

fn ocsf(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["findings"];
    all.extend_from_slice(args);
    all.extend(["--format", "ocsf", "-q"]);
    let run = bin::run(&all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn related(f: &Value) -> BTreeSet<String> {
    f["finding_info"]["related_events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["uid"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_finding_is_one_record_and_its_events_are_the_flagged_calls() {
    let records = ocsf(&["fixtures/findings"]);
    let csv = bin::run(&["findings", "fixtures/findings", "--format", "csv", "-q"]);
    assert_eq!(records.len(), csv.stdout.lines().count() - 1);
    // The findings CSV keeps its columns: the evidence is OCSF's alone.
    assert!(!csv.stdout.lines().next().unwrap().contains("evidence"));
    let foreign = records
        .iter()
        .find(|f| f["finding_info"]["types"][0] == "key_used_from_foreign_ip")
        .unwrap();
    let flagged = bin::run(&[
        "query",
        "SELECT event_id FROM flagged_calls WHERE foreign_ip",
        "fixtures/findings",
        "--format",
        "csv",
        "-q",
    ]);
    let expected: BTreeSet<String> = flagged.stdout.lines().skip(1).map(String::from).collect();
    assert!(!expected.is_empty());
    assert_eq!(related(foreign), expected);
    assert_eq!(foreign["count"], expected.len());
    assert_eq!(foreign["severity_id"], 4);
    assert_eq!(foreign["device"]["name"], "web-4");
    assert_eq!(
        foreign["evidences"][0]["src_endpoint"]["ip"],
        "198.51.100.23"
    );
    assert_eq!(foreign["actor"]["user"]["name"], "shop-prod-1.web-4");
    assert_eq!(
        foreign["evidences"].as_array().unwrap().len(),
        expected.len()
    );
}

#[test]
fn sigma_findings_name_each_hit() {
    let records = ocsf(&["fixtures/sigma/trail", "--sigma"]);
    let misuse = records
        .iter()
        .find(|f| {
            f["message"].as_str().unwrap().contains("AssumeRole Misuse")
                && f["actor"]["session"]["credential_uid"] == "ASIASIGMAWEB7ADMIN01"
        })
        .unwrap();
    assert_eq!(related(misuse).len(), 2);
    assert_eq!(misuse["severity_id"], 2);
    let times: Vec<&str> = misuse["evidences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"]["event_time"].as_str().unwrap())
        .collect();
    assert_eq!(times, ["2026-10-10T10:21:00Z", "2026-10-10T10:22:00Z"]);
}

#[test]
fn ocsf_is_for_findings_only() {
    let run = bin::run(&["by-instance", "fixtures/cloudtrail", "--format", "ocsf"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("use it with `findings`"),
        "{}",
        run.stderr
    );
}
