//! `sigma` and `findings --sigma` over fixtures/sigma (written by fixtures/sigma_fixtures.py;
//! SOURCES.md there says what each record is for): which rule hits which event, how each hit is
//! attributed, the near misses, the rules that cannot be evaluated, and the findings.

#[path = "support/bin.rs"]
mod bin;

use std::collections::BTreeSet;

use serde_json::Value;

const TRAIL: &str = "fixtures/sigma/trail";

fn rows(args: &[&str]) -> Vec<Value> {
    let run = bin::run(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn hits(rule_dir: &str) -> Vec<Value> {
    rows(&["sigma", rule_dir, TRAIL, "--format", "json", "-q"])
}

fn text<'a>(row: &'a Value, col: &str) -> Option<&'a str> {
    row[col].as_str()
}

/// (title, event time) of every hit.
fn pairs(hits: &[Value]) -> BTreeSet<(String, String)> {
    hits.iter()
        .map(|h| {
            (
                text(h, "title").unwrap().to_string(),
                text(h, "event_time").unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_shipped_rules_hit_what_they_describe_and_nothing_else() {
    let all = hits("shipped");
    let got = pairs(&all);
    let expected: BTreeSet<(String, String)> = [
        (
            "AWS STS GetCallerIdentity Enumeration Via TruffleHog",
            "10:01:00",
        ),
        ("PUA - AWS TruffleHog Execution", "10:01:00"),
        ("AWS CloudTrail Important Change", "10:05:00"),
        ("AWS S3 Bucket Versioning Disable", "10:06:00"),
        ("AWS EC2 Startup Shell Script Change", "10:07:00"),
        (
            "AWS ECS Task Definition That Queries The Credential Endpoint",
            "10:08:00",
        ),
        ("AWS New Lambda Layer Attached", "10:09:00"),
        ("AWS Bucket Deleted", "10:10:00"),
        ("AWS GuardDuty Detector Deleted Or Updated", "10:13:00"),
        ("AWS CloudTrail Important Change", "10:14:00"),
        ("AWS KMS Imported Key Material Usage", "10:21:00"),
        ("Restore Public AWS RDS Instance", "10:22:00"),
        ("AWS Successful Console Login Without MFA", "11:00:00"),
        ("AWS Root Credentials", "11:05:00"),
        ("AWS IAM Backdoor Users Keys", "11:10:00"),
        ("AWS User Login Profile Was Modified", "11:12:00"),
        (
            "Malicious Usage Of IMDS Credentials Outside Of AWS Infrastructure",
            "11:20:00",
        ),
        ("AWS Console GetSigninToken Potential Abuse", "11:31:00"),
    ]
    .into_iter()
    .map(|(t, hms)| (t.to_string(), format!("2026-10-10T{hms}Z")))
    .collect();
    let misuse = "AWS STS AssumeRole Misuse";
    let others: BTreeSet<_> = got.iter().filter(|(t, _)| t != misuse).cloned().collect();
    assert_eq!(others, expected);
    // Every call made in an assumed-role session: the federated key's 14 calls (the hop among
    // them), the chained key's two, and the EC2 instance role's two.
    assert_eq!(
        all.iter()
            .filter(|h| text(h, "title") == Some(misuse))
            .count(),
        18
    );
    // StopLogging was delivered twice (once pretty-printed): one event, one hit.
    let stop = all
        .iter()
        .filter(|h| text(h, "title") == Some("AWS CloudTrail Important Change"))
        .count();
    assert_eq!(stop, 2);
}

#[test]
fn each_hit_on_a_federated_key_names_its_instance_and_root_and_the_others_are_left_unattributed() {
    let all = hits("shipped");
    let find = |title: &str| {
        all.iter()
            .find(|h| text(h, "title") == Some(title))
            .unwrap_or_else(|| panic!("no hit of {title}"))
    };
    let kms = find("AWS KMS Imported Key Material Usage");
    assert_eq!(text(kms, "instance"), Some("web-7"));
    assert_eq!(text(kms, "session_name"), Some("prod-web-1234.web-7"));
    assert_eq!(text(kms, "sub"), Some("330000000000000000007"));
    assert_eq!(text(kms, "root_key"), Some("ASIASIGMAWEB7KEY0001"));
    assert_eq!(text(kms, "access_key_id"), Some("ASIASIGMAWEB7ADMIN01"));
    assert_eq!(kms["depth"], 1);
    let stop = find("AWS CloudTrail Important Change");
    assert_eq!(stop["depth"], 0);
    assert_eq!(text(stop, "instance"), Some("web-7"));
    assert_eq!(text(stop, "level"), Some("medium"));
    for title in [
        "AWS Successful Console Login Without MFA",
        "AWS Root Credentials",
        "Malicious Usage Of IMDS Credentials Outside Of AWS Infrastructure",
    ] {
        let h = find(title);
        assert!(h["instance"].is_null() && h["root_key"].is_null(), "{h}");
        assert!(text(h, "event_id").is_some());
    }
}

#[test]
fn every_feature_of_the_fixture_rules_hits_as_the_specification_says() {
    let got = pairs(&hits("fixtures/sigma/rules"));
    let t = |hms: &str| format!("2026-10-10T{hms}Z");
    let expected: BTreeSet<(String, String)> = [
        ("DescribeInstances from the web fleet's range", "10:15:00"),
        ("TruffleHog by regular expression, without case", "10:01:00"),
        ("Versioning suspended on the orders bucket", "10:06:00"),
        ("Console sign-in with the MFA field present", "11:00:00"),
        ("Trail changes by pattern", "10:05:00"),
        ("Trail changes by pattern", "10:14:00"),
        // 'python_' is no prefix of python-requests: `_` is a plain character to Sigma.
        (
            "Agents whose names start with python_ (an underscore, not any character)",
            "11:40:00",
        ),
        // Not denied: the record without an errorCode is not excluded by the negation.
        ("EC2 calls that were not denied", "10:07:00"),
        ("EC2 calls that were not denied", "10:15:00"),
        ("EC2 calls that were not denied", "11:20:00"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), t(b)))
    .collect();
    assert_eq!(got, expected);
}

#[test]
fn a_rule_that_cannot_be_evaluated_is_named_and_the_run_exits_3() {
    let run = bin::run(&[
        "sigma",
        "fixtures/sigma/unsupported",
        TRAIL,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    for (file, why) in [
        ("keywords.yml", "keyword search"),
        ("base64offset.yml", "'base64offset' is not supported"),
        ("correlation.yml", "correlation rule"),
    ] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains("skipped Sigma rule") && l.contains(file) && l.contains(why)),
            "{file}: {}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("1 Sigma rule(s) for other log sources"));
    // The one rule that can be evaluated still is.
    let rows: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        text(&rows[0], "title"),
        Some("DescribeInstances from the web fleet's range")
    );
}

#[test]
fn findings_give_one_per_rule_and_key_with_the_author_and_the_level_as_severity() {
    let all = rows(&["findings", TRAIL, "--sigma", "--format", "json", "-q"]);
    let sigma: Vec<&Value> = all
        .iter()
        .filter(|f| text(f, "kind") == Some("sigma"))
        .collect();
    let misuse: Vec<&&Value> = sigma
        .iter()
        .filter(|f| {
            text(f, "detail")
                .unwrap()
                .contains("AWS STS AssumeRole Misuse")
        })
        .collect();
    // The root key, the chained key, and the events of no federated key.
    assert_eq!(misuse.len(), 3);
    let by_key = |k: Option<&str>| {
        misuse
            .iter()
            .find(|f| text(f, "access_key_id") == k)
            .unwrap_or_else(|| panic!("{k:?}"))
    };
    assert_eq!(by_key(Some("ASIASIGMAWEB7KEY0001"))["events"], 14);
    assert_eq!(by_key(Some("ASIASIGMAWEB7ADMIN01"))["events"], 2);
    assert_eq!(by_key(None)["events"], 2);
    assert!(
        text(by_key(None), "detail")
            .unwrap()
            .contains("not made with a Google-federated key")
    );
    let kms = sigma
        .iter()
        .find(|f| text(f, "detail").unwrap().contains("Imported Key Material"))
        .unwrap();
    assert_eq!(text(kms, "severity"), Some("high"));
    assert_eq!(text(kms, "instance"), Some("web-7"));
    assert!(text(kms, "detail").unwrap().contains("by toopricey"));
    // The other detections still run beside them.
    assert!(
        all.iter()
            .any(|f| text(f, "kind") == Some("role_chain_to_new_role"))
    );
}

#[test]
fn levels_map_to_severities() {
    let dir = tempfile::tempdir().unwrap();
    for (level, name) in [("critical", "c"), ("informational", "i"), ("low", "l")] {
        std::fs::write(
            dir.path().join(format!("{name}.yml")),
            format!(
                "title: {level} rule\nlevel: {level}\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  s:\n    eventName: StopLogging\n  condition: s\n"
            ),
        )
        .unwrap();
    }
    let arg = format!("--sigma={}", dir.path().display());
    let all = rows(&["findings", TRAIL, &arg, "--format", "json", "-q"]);
    let severity = |title: &str| {
        all.iter()
            .find(|f| text(f, "detail").unwrap().contains(title))
            .and_then(|f| text(f, "severity"))
            .map(str::to_string)
    };
    assert_eq!(severity("critical rule").as_deref(), Some("high"));
    assert_eq!(severity("informational rule").as_deref(), Some("info"));
    assert_eq!(severity("low rule").as_deref(), Some("low"));
}

#[test]
fn the_window_bounds_the_hits() {
    let in_window = rows(&[
        "sigma",
        "shipped",
        TRAIL,
        "--since",
        "2026-10-10T11:00:00Z",
        "--format",
        "json",
        "-q",
    ]);
    assert!(!in_window.is_empty());
    assert!(
        in_window
            .iter()
            .all(|h| text(h, "event_time").unwrap() >= "2026-10-10T11:00:00Z")
    );
    let none = rows(&[
        "sigma",
        "shipped",
        TRAIL,
        "--since",
        "2026-10-11",
        "--format",
        "json",
        "-q",
    ]);
    assert!(none.is_empty());
}

#[test]
fn a_hostile_rule_file_is_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    // An alias bomb: a billion strings from a few lines.
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i", "j"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{i}: &{i} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
        ));
    }
    std::fs::write(dir.path().join("bomb.yml"), bomb).unwrap();
    std::fs::write(dir.path().join("big.yml"), "# x\n".repeat(400_000)).unwrap();
    let run = bin::run(&[
        "sigma",
        dir.path().to_str().unwrap(),
        TRAIL,
        "--format",
        "csv",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("bomb.yml"), "{}", run.stderr);
    assert!(run.stderr.contains("big.yml") && run.stderr.contains("larger than"));
}
