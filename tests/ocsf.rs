//! `findings --format ocsf`: one OCSF Detection Finding per finding, each with the events behind
//! it where its detection names them (the same events the tables hold), and the format refused
//! where it means nothing. tests/interop/ocsf.sh validates the records against OCSF's schema.

#[path = "support/bin.rs"]
mod bin;

use std::collections::BTreeSet;

use serde_json::Value;

fn ocsf(args: &[&str]) -> Vec<Value> {
    ocsf_exiting(args, 0)
}

/// [`ocsf`] of a run that exits `code` (3: an input partly read).
fn ocsf_exiting(args: &[&str], code: i32) -> Vec<Value> {
    let mut all = vec!["findings"];
    all.extend_from_slice(args);
    all.extend(["--format", "ocsf", "-q"]);
    let run = bin::run(&all);
    assert_eq!(run.code, code, "{}", run.stderr);
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

/// Every eventID in the records of the `.json`/`.json.gz` files under `dir`.
fn event_ids(dir: &str) -> BTreeSet<String> {
    use std::io::Read;
    let mut out = BTreeSet::new();
    for f in bin::files_under(std::path::Path::new(dir)) {
        let name = f.to_string_lossy().into_owned();
        let bytes = std::fs::read(&f).unwrap();
        let text = if name.ends_with(".gz") {
            let mut s = String::new();
            if flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .is_err()
            {
                continue;
            }
            s
        } else if name.ends_with(".json") {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for r in v["Records"].as_array().into_iter().flatten() {
            if let Some(id) = r["eventID"].as_str() {
                out.insert(id.to_string());
            }
        }
    }
    out
}

#[test]
fn every_detection_names_the_cloudtrail_events_behind_its_findings() {
    // kind -> how many events a finding lists, from its `count` (`events`).
    let listed = |kind: &str, count: u64| -> u64 {
        match kind {
            // The mint (a GCP entry) is counted, not listed.
            "token_minted_outside_fleet" => count - 1,
            // The change is GCP's; the next assumption is listed.
            "service_account_key_created" | "token_creator_granted" => count - 1,
            // The change; its first use by a newly admitted sub is in `message`.
            "trust_policy_widened" => 1,
            _ => count.min(100),
        }
    };
    let runs: [&[&str]; 6] = [
        &["fixtures/findings"],
        &["fixtures/reuse"],
        &["fixtures/chains"],
        &["fixtures/edge"],
        &["fixtures/trust/trail", "--policies", "fixtures/trust/roles"],
        &[
            "fixtures/cloudtrail",
            "fixtures/gcp/trail",
            "--gcp-logs",
            "fixtures/gcp/logs",
            "--gcp-instances",
            "fixtures/gcp/instances.json",
            "--gcp-service-accounts",
            "fixtures/gcp/service-accounts.json",
        ],
    ];
    let mut kinds = BTreeSet::new();
    for args in runs {
        let ids: BTreeSet<String> = args
            .iter()
            .take_while(|a| !a.starts_with("--"))
            .flat_map(|d| event_ids(d))
            .collect();
        // fixtures/edge holds records with values read as null: partly read files, exit 3.
        let code = if args[0] == "fixtures/edge" { 3 } else { 0 };
        for f in ocsf_exiting(args, code) {
            let kind = f["finding_info"]["types"][0].as_str().unwrap().to_string();
            let events = related(&f);
            let count = f["count"].as_u64().unwrap_or(0);
            // A policy read from --policies has no event behind it.
            if kind.starts_with("trust_") && count == 0 {
                continue;
            }
            assert_eq!(events.len() as u64, listed(&kind, count), "{kind}: {f}");
            assert!(events.is_subset(&ids), "{kind}: {events:?}");
            kinds.insert(kind);
        }
    }
    for kind in [
        "failed_assumption_burst",
        "key_id_reused",
        "recon_burst",
        "role_chain_to_new_role",
        "session_name_sub_mismatch",
        "session_names_unknown_instance",
        "token_minted_outside_fleet",
        "service_account_key_created",
        "token_creator_granted",
        "trust_policy_widened",
        "trust_any_google_identity",
    ] {
        assert!(
            kinds.contains(kind),
            "no {kind} finding in the fixtures: {kinds:?}"
        );
    }
}
