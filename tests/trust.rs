//! `janus-audit trust`: the exact verdict for every statement and role of the fixture cases
//! (fixtures/README.md says why each is what it is), and bad input named and counted.

use std::collections::BTreeMap;

use assert_cmd::Command;
use serde_json::Value;

fn run(args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rows = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    (out.status.code().unwrap_or(-1), rows, stderr)
}

/// (role name, statement) → "effect who subjects session_name".
fn verdicts(rows: &[Value]) -> BTreeMap<(String, String), String> {
    rows.iter()
        .map(|r| {
            let role = r["role_arn"].as_str().unwrap().rsplit('/').next().unwrap();
            let list = |c: &str| {
                r[c].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            (
                (
                    role.to_string(),
                    r["statement"].as_str().unwrap().to_string(),
                ),
                format!(
                    "{} {} [{}] {}",
                    r["effect"].as_str().unwrap_or("-"),
                    r["who"].as_str().unwrap(),
                    list("subjects"),
                    r["session_name"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

const ETL: &str = "111111111111111111111";
const WEB: &str = "222222222222222222222";

#[test]
fn every_case_gets_its_verdict_per_statement_and_per_role() {
    let (code, rows, stderr) = run(&["trust", "--policies", "fixtures/trust/roles"]);
    assert_eq!(code, 0, "{stderr}");
    let any = "any_google_identity";
    let expected: Vec<(&str, &str, String)> = vec![
        ("oaud-only", "0", format!("Allow {any} [] free")),
        ("oaud-only", "*", format!("- {any} [] free")),
        (
            "aud-pinned",
            "0",
            format!("Allow listed_identities [{ETL},{WEB}] free"),
        ),
        (
            "aud-pinned",
            "*",
            format!("- listed_identities [{ETL},{WEB}] free"),
        ),
        (
            "sub-pinned",
            "0",
            format!("Allow listed_identities [{ETL}] free"),
        ),
        (
            "sub-pinned",
            "*",
            format!("- listed_identities [{ETL}] free"),
        ),
        (
            "explain",
            "0",
            format!("Allow listed_identities [{ETL}] free"),
        ),
        ("explain", "*", format!("- listed_identities [{ETL}] free")),
        ("sub-wildcard", "0", "Allow pattern [1111*] free".into()),
        ("sub-wildcard", "*", "- pattern [1111*] free".into()),
        ("forallvalues-trap", "0", format!("Allow {any} [] free")),
        ("forallvalues-trap", "*", format!("- {any} [] free")),
        ("other-provider-key", "0", "Allow none [] free".into()),
        ("other-provider-key", "*", "- none [] free".into()),
        (
            "one-loose-statement",
            "Tight",
            format!("Allow listed_identities [{ETL}] free"),
        ),
        (
            "one-loose-statement",
            "Loose",
            format!("Allow {any} [] free"),
        ),
        ("one-loose-statement", "*", format!("- {any} [] free")),
        (
            "deny-one",
            "0",
            format!("Allow listed_identities [{ETL},{WEB}] free"),
        ),
        (
            "deny-one",
            "NotWeb",
            format!("Deny listed_identities [{WEB}] free"),
        ),
        ("deny-one", "*", format!("- listed_identities [{ETL}] free")),
        ("deny-all", "0", format!("Allow {any} [] free")),
        ("deny-all", "Nobody", format!("Deny {any} [] free")),
        ("deny-all", "*", "- none [] free".into()),
        ("github-only", "*", "- none [] free".into()),
        ("wrong-action", "0", "Allow none [] free".into()),
        ("wrong-action", "*", "- none [] free".into()),
        ("sts-star", "0", format!("Allow {any} [] free")),
        ("sts-star", "*", format!("- {any} [] free")),
        (
            "gcloud-client",
            "0",
            format!("Allow {any} [32555940559.apps.googleusercontent.com] free"),
        ),
        (
            "gcloud-client",
            "*",
            format!("- {any} [32555940559.apps.googleusercontent.com] free"),
        ),
        (
            "session-pinned",
            "0",
            format!("Allow listed_identities [{ETL}] StringLike prod-data-1234.*"),
        ),
        (
            "session-pinned",
            "*",
            format!("- listed_identities [{ETL}] StringLike prod-data-1234.*"),
        ),
        ("principal-star", "0", format!("Allow {any} [] free")),
        ("principal-star", "*", format!("- {any} [] free")),
        ("source-ip", "0", "Allow unknown [] free".into()),
        ("source-ip", "*", "- unknown [] free".into()),
    ];
    let expected: BTreeMap<(String, String), String> = expected
        .into_iter()
        .map(|(r, s, v)| ((r.to_string(), s.to_string()), v))
        .collect();
    assert_eq!(verdicts(&rows), expected);
    // Each verdict says what decides it.
    let reason = |role: &str| {
        rows.iter()
            .find(|r| r["role_arn"].as_str().unwrap().ends_with(role) && r["statement"] == "*")
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        reason("/oaud-only").contains("checks only oaud"),
        "{}",
        reason("/oaud-only")
    );
    assert!(reason("/gcloud-client").contains("anyone who signs in through it"));
    assert!(reason("/other-provider-key").contains("never carries that key"));
    assert!(reason("/wrong-action").contains("sts:AssumeRole"));
    assert!(reason("/deny-all").contains("Deny statement Nobody"));
    assert!(reason("/source-ip").contains("aws:SourceIp"));
    assert!(reason("/one-loose-statement").contains("loosest decides"));
}

#[test]
fn bad_input_is_named_counted_and_never_judged_safe() {
    let (code, rows, stderr) = run(&["trust", "--policies", "fixtures/trust/bad"]);
    assert_eq!(code, 3, "{stderr}");
    for named in [
        "bare-policy.json\": a policy document alone names no role",
        "not-json.json\": not JSON",
        "not-principal (\"fixtures/trust/bad/roles.json\"), statement 0: NotPrincipal is not allowed",
        "odd-operator (\"fixtures/trust/bad/roles.json\"), statement 0: unknown condition operator",
        "no-policy (\"fixtures/trust/bad/roles.json\"): the role has no trust policy",
        "broken-text (\"fixtures/trust/bad/roles.json\"): its trust policy cannot be read",
    ] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
    assert!(
        stderr
            .contains("4 role(s) judged, 0 change(s) of a trust policy in the trail; 6 problem(s)"),
        "{stderr}"
    );
    // Every role the input names has a row that says it cannot be decided.
    let roles: Vec<&Value> = rows.iter().filter(|r| r["statement"] == "*").collect();
    assert_eq!(roles.len(), 4);
    assert!(roles.iter().all(|r| r["who"] == "unknown"), "{rows:?}");
}

/// The trail's history: CreateRole pinned `gcp-widened` to etl, alice widened it to any Google
/// identity, and a sub no one listed assumed it after; a refused update changed nothing; a
/// service account that `aud-pinned` does not list was admitted, which its policy would refuse.
#[test]
fn assumptions_are_judged_against_the_policy_in_force_when_they_happened() {
    let (code, rows, stderr) = run(&[
        "trust",
        "fixtures/trust/trail",
        "--policies",
        "fixtures/trust/roles",
        "--observed",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("2 change(s) of a trust policy in the trail"),
        "{stderr}"
    );
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}/{} {}",
                r["role_arn"].as_str().unwrap(),
                r["sub"].as_str().unwrap(),
                r["admitted"].as_str().unwrap(),
                r["assumptions"],
                r["failed"],
                r["who"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    let role = "arn:aws:iam::111122223333:role";
    assert_eq!(
        got,
        [
            format!("{role}/aud-pinned 777777777777777777777 no 1/0 listed_identities"),
            format!("{role}/gcp/gcp-widened {ETL} yes 1/0 listed_identities"),
            format!("{role}/gcp/gcp-widened 999999999999999999999 yes 1/0 any_google_identity"),
        ]
    );
    let policy = |i: usize| rows[i]["policy"].as_str().unwrap().to_string();
    assert!(
        policy(0).ends_with("account-authorization-details.json"),
        "{}",
        policy(0)
    );
    assert!(
        policy(1).starts_with("CloudTrail CreateRole 2026-10-12T09:00:00Z"),
        "{}",
        policy(1)
    );
    assert!(
        policy(2).starts_with(
            "CloudTrail UpdateAssumeRolePolicy 2026-10-12T10:00:00Z by arn:aws:iam::111122223333:user/alice from 198.51.100.23"
        ),
        "{}",
        policy(2)
    );
    assert!(
        rows[0]["note"]
            .as_str()
            .unwrap()
            .contains("input is incomplete")
    );

    // Each version the trail records is judged like the --policies documents.
    let (code, rows, stderr) = run(&[
        "trust",
        "fixtures/trust/trail",
        "--policies",
        "fixtures/trust/roles",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let widened: Vec<(String, String)> = rows
        .iter()
        .filter(|r| {
            r["role_arn"]
                .as_str()
                .unwrap()
                .ends_with("/gcp/gcp-widened")
                && r["statement"] == "*"
        })
        .map(|r| {
            (
                r["who"].as_str().unwrap().to_string(),
                r["source"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect();
    assert_eq!(
        widened,
        [
            (
                "listed_identities".to_string(),
                "CloudTrail CreateRole".to_string()
            ),
            (
                "any_google_identity".to_string(),
                "CloudTrail UpdateAssumeRolePolicy".to_string()
            ),
        ]
    );
    // Without a trail there is nothing to observe.
    let out = Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["trust", "--policies", "fixtures/trust/roles", "--observed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--policies` on the reports: each key's name_trust from its role's policy and its sub, and a
/// by-instance row takes its weakest key's.
#[test]
fn reports_say_how_far_each_session_name_can_be_believed() {
    let policies = "fixtures/trust/cloudtrail-roles.json";
    let (code, rows, stderr) = run(&["by-instance", "fixtures/cloudtrail", "--policies", policies]);
    assert_eq!(code, 0, "{stderr}");
    let got: BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            (
                r["instance"].as_str().unwrap_or("-").to_string(),
                r["name_trust"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got.get("etl-1").map(String::as_str),
        Some("pinned"),
        "{got:?}"
    );
    assert_eq!(
        got.get("web-3").map(String::as_str),
        Some("any_google_identity")
    );
    // gcp-batch lists another sub; the other roles are in no source.
    assert_eq!(got.get("nightly-1").map(String::as_str), Some("unknown"));
    assert_eq!(
        got.values().filter(|v| *v == "unknown").count(),
        4,
        "{got:?}"
    );
    // The column is appended after the existing ones.
    let last = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .next_back()
        .unwrap()
        .clone();
    assert_eq!(last, "name_trust");
    let (code, rows, stderr) = run(&["sessions", "fixtures/cloudtrail", "--policies", policies]);
    assert_eq!(code, 0, "{stderr}");
    let etl: Vec<&str> = rows
        .iter()
        .filter(|r| r["instance"] == "etl-1")
        .map(|r| r["name_trust"].as_str().unwrap())
        .collect();
    assert_eq!(etl, ["pinned", "pinned"]);
    // Only where a key's name is reported.
    let out = Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "timeline",
            "fixtures/cloudtrail",
            "--instance",
            "etl-1",
            "--policies",
            policies,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--tighten` pins each loose role to what the trail shows, in a shape `trust` reads back and
/// judges `listed_identities`.
#[test]
fn a_loose_role_is_tightened_to_the_identities_the_trail_shows() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("tight.json");
    let r = Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "trust",
            "fixtures/trust/trail",
            "--policies",
            "fixtures/trust/roles",
            "--tighten",
        ])
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{stderr}");
    // Loose roles nobody assumed are named, not pinned to nothing.
    assert!(
        stderr.contains("oaud-only admits any_google_identity but the trail shows no one"),
        "{stderr}"
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let roles = doc["RoleDetailList"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "{doc:#}");
    assert_eq!(
        roles[0]["Arn"],
        "arn:aws:iam::111122223333:role/gcp/gcp-widened"
    );
    assert_eq!(roles[0]["Replaces"], "any_google_identity");
    let cond = &roles[0]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(
        cond["accounts.google.com:sub"],
        serde_json::json!([ETL, "999999999999999999999"])
    );
    assert_eq!(
        cond["accounts.google.com:oaud"],
        "https://aws.example.com/janus"
    );
    let (code, rows, stderr) = run(&["trust", "--policies", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let role = rows.iter().find(|r| r["statement"] == "*").unwrap();
    assert_eq!(role["who"], "listed_identities");
    assert_eq!(
        role["subjects"],
        serde_json::json!([ETL, "999999999999999999999"])
    );
}

/// A dataset keeps the policies' history (`policy_changes`, without `--events`): `trust --dataset`
/// gives what `trust` over the JSON gives.
#[test]
fn a_dataset_holds_the_policies_history() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let out = Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["ingest", "fixtures/trust/trail", "--dataset"])
        .arg(&ds)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policies = ["--policies", "fixtures/trust/roles", "--observed"];
    let (code, from_json, stderr) =
        run(&[&["trust", "fixtures/trust/trail"][..], &policies].concat());
    assert_eq!(code, 0, "{stderr}");
    let (code, from_dataset, stderr) =
        run(&[&["trust", "--dataset", ds.to_str().unwrap()][..], &policies].concat());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(from_dataset, from_json);
    assert_eq!(from_json.len(), 3);
    // Spark and Athena see the history too; a dataset without any has the table, empty.
    let ddl = |dir: &std::path::Path| {
        let out = Command::cargo_bin("janus-audit")
            .unwrap()
            .args(["dataset", "ddl", "--engine", "spark", "--dataset"])
            .arg(dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = ddl(&ds);
    assert!(text.contains("janus_policy_changes") && text.contains("VIEW policy_changes AS"));
    let bare = d.path().join("bare");
    Command::cargo_bin("janus-audit")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["ingest", "fixtures/chains", "--dataset"])
        .arg(&bare)
        .assert()
        .success();
    assert!(ddl(&bare).contains("VIEW policy_changes AS"));
    assert!(bare.join("policy_changes").is_dir());
}

/// The trust findings, from the trail's own history and from --policies.
#[test]
fn findings_name_a_widened_policy_and_roles_anyone_can_assume() {
    let (code, rows, stderr) = run(&["findings", "fixtures/trust/trail"]);
    assert_eq!(code, 0, "{stderr}");
    let of = |kind: &str| -> Vec<&Value> { rows.iter().filter(|r| r["kind"] == kind).collect() };
    let widened = of("trust_policy_widened");
    assert_eq!(widened.len(), 1, "{rows:#?}");
    let w = widened[0];
    assert_eq!(w["severity"], "high");
    assert_eq!(w["sub"], "999999999999999999999");
    assert_eq!(w["source_ip"], "198.51.100.23");
    assert_eq!(w["first_seen"], "2026-10-12T10:00:00Z");
    assert_eq!(w["last_seen"], "2026-10-12T10:30:00Z");
    let detail = w["detail"].as_str().unwrap();
    for part in [
        "role arn:aws:iam::111122223333:role/gcp/gcp-widened widened from listed_identities to any_google_identity",
        "by arn:aws:iam::111122223333:user/alice from 198.51.100.23",
        "first assumption by a newly admitted sub: 999999999999999999999 from 203.0.113.66",
    ] {
        assert!(detail.contains(part), "{detail}");
    }
    // Assumed while it admitted anyone: high, counting that one assumption.
    let any = of("trust_any_google_identity");
    assert_eq!(any.len(), 1, "{rows:#?}");
    assert_eq!(
        (any[0]["severity"].as_str(), any[0]["events"].as_u64()),
        (Some("high"), Some(1))
    );
    assert_eq!(of("trust_session_name_free").len(), 1);

    // With --policies, the roles the files hold too: the loose ones nobody assumed are medium.
    let (code, rows, stderr) = run(&[
        "findings",
        "fixtures/trust/trail",
        "--policies",
        "fixtures/trust/roles",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut any: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["kind"] == "trust_any_google_identity")
        .map(|r| {
            let d = r["detail"].as_str().unwrap();
            let role = d.split(' ').nth(1).unwrap().rsplit('/').next().unwrap();
            (
                role.to_string(),
                r["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    any.sort();
    let medium = |r: &str| (r.to_string(), "medium".to_string());
    assert_eq!(
        any,
        [
            medium("forallvalues-trap"),
            medium("gcloud-client"),
            ("gcp-widened".to_string(), "high".to_string()),
            medium("oaud-only"),
            medium("one-loose-statement"),
            medium("principal-star"),
            medium("sts-star"),
        ]
    );
    // Every role that admits someone and leaves the session name free: all but session-pinned
    // and the four that admit no Google token.
    let free = rows
        .iter()
        .filter(|r| r["kind"] == "trust_session_name_free")
        .count();
    assert_eq!(free, 18 - 1 - 4, "{rows:#?}");
}

/// name_trust judges each key by the policy in force when it was issued: etl's key on
/// gcp-widened came while the role listed only etl (pinned); the rogue's after it admitted
/// anyone.
#[test]
fn name_trust_follows_the_policy_in_force_when_the_key_was_issued() {
    let (code, rows, stderr) = run(&[
        "sessions",
        "fixtures/trust/trail",
        "--policies",
        "fixtures/trust/roles",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let got: BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            (
                r["sub"].as_str().unwrap().to_string(),
                r["name_trust"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got.get(ETL).map(String::as_str), Some("pinned"), "{got:?}");
    assert_eq!(
        got.get("999999999999999999999").map(String::as_str),
        Some("any_google_identity")
    );
    // aud-pinned does not list the service account that assumed it.
    assert_eq!(
        got.get("777777777777777777777").map(String::as_str),
        Some("unknown")
    );
}
