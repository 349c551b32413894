//! `call_rollup`: a dataset's parts of role_calls as their groups, written by `ingest`. A report
//! that reads the calls only as groups or to mark the keys used reads a part as its rollup
//! where the rollup stands for the part's calls in the window, and as its calls where it cannot
//! (the window cuts a group; a dropped copy of a repeated event may be among them). Either way
//! it answers as over the JSON, and the matching's counts of calls count every call a group
//! stands for.

#[path = "support/bin.rs"]
mod bin;

use std::path::Path;

use bin::{Run, run};
use serde_json::{Value, json};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const ROLE: &str = "arn:aws:iam::111122223333:role/gcp";

fn session_arn(session: &str) -> String {
    format!("arn:aws:sts::111122223333:assumed-role/gcp/{session}")
}

fn assume(id: &str, at: &str, session: &str, key: &str) -> Value {
    json!({
        "eventVersion": "1.08", "eventID": id, "eventTime": at,
        "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithWebIdentity",
        "awsRegion": "us-east-1", "sourceIPAddress": "35.1.1.1",
        "userIdentity": {"type": "WebIdentityUser", "identityProvider": "accounts.google.com",
            "principalId": "accounts.google.com:aud:1040", "userName": "1040"},
        "requestParameters": {"roleArn": ROLE, "roleSessionName": session},
        "responseElements": {"credentials": {"accessKeyId": key,
            "expiration": "Oct 10, 2026, 12:00:00\u{202f}AM"}},
    })
}

/// A call by the session `session` created at `created`: with `key` (`None`: no key, matched by
/// the session), and its ARN unless `arn` is false.
struct Call<'a> {
    key: Option<&'a str>,
    session: &'a str,
    created: &'a str,
    arn: bool,
    source: &'a str,
    ip: &'a str,
    error: bool,
}

fn call(id: String, at: String, c: &Call<'_>) -> Value {
    let mut who = json!({"type": "AssumedRole", "accountId": "111122223333"});
    if c.arn {
        who["arn"] = json!(session_arn(c.session));
        who["sessionContext"] = json!({
            "sessionIssuer": {"type": "Role", "arn": ROLE, "userName": "gcp"},
            "attributes": {"creationDate": c.created, "mfaAuthenticated": "false"},
        });
    }
    if let Some(k) = c.key {
        who["accessKeyId"] = json!(k);
    }
    json!({
        "eventVersion": "1.10", "eventID": id, "eventTime": at, "userIdentity": who,
        "eventSource": c.source, "eventName": "Describe", "awsRegion": "us-east-1",
        "sourceIPAddress": c.ip,
        "errorCode": if c.error { json!("AccessDenied") } else { Value::Null },
    })
}

/// `n` calls as `c`, a minute apart from `from` (RFC 3339), with IDs from `tag`.
fn calls(tag: &str, from: &str, n: i64, c: &Call<'_>) -> Vec<Value> {
    let start = chrono::DateTime::parse_from_rfc3339(from).unwrap();
    (0..n)
        .map(|i| {
            let at = start + chrono::Duration::minutes(i);
            let id = format!("{tag}-{i:04}");
            call(id, at.format("%Y-%m-%dT%H:%M:%SZ").to_string(), c)
        })
        .collect()
}

fn write(path: &Path, records: &[Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, json!({ "Records": records }).to_string()).unwrap();
}

/// Three keys over two days: vm-1's calls on 10-08 (some failed, some from a foreign IP, three
/// with another session's ARN (a key ID reused by an issuance not in the input), two without
/// the ARN and creation time, two without a key); vm-2's across midnight; vm-3's on 10-09.
/// `a.json` holds vm-1's and vm-2's, `b.json` vm-3's, and `c/c.json` copies of five of vm-3's.
fn trail(dir: &Path) {
    let k1 = "2026-10-08T10:00:00Z";
    let vm1 = |source, ip, error, key, arn| Call {
        key,
        session: "p.vm-1",
        created: k1,
        arn,
        source,
        ip,
        error,
    };
    let mut a = vec![assume("a-1", k1, "p.vm-1", "ASIAROLLUPKEY0000001")];
    let key = Some("ASIAROLLUPKEY0000001");
    a.extend(calls(
        "s3",
        "2026-10-08T10:01:00Z",
        40,
        &vm1("s3.amazonaws.com", "35.1.1.1", false, key, true),
    ));
    a.extend(calls(
        "s3-denied",
        "2026-10-08T10:03:00Z",
        8,
        &vm1("s3.amazonaws.com", "35.1.1.1", true, key, true),
    ));
    a.extend(calls(
        "ec2",
        "2026-10-08T10:10:00Z",
        10,
        &vm1("ec2.amazonaws.com", "198.51.100.7", false, key, true),
    ));
    a.extend(calls(
        "no-arn",
        "2026-10-08T10:30:00Z",
        2,
        &vm1("ec2.amazonaws.com", "35.1.1.1", false, key, false),
    ));
    a.extend(calls(
        "no-key",
        "2026-10-08T10:45:00Z",
        2,
        &vm1("ec2.amazonaws.com", "35.1.1.1", false, None, true),
    ));
    let other = Call {
        session: "p.other",
        ..vm1("ec2.amazonaws.com", "35.1.1.1", false, key, true)
    };
    a.extend(calls("other", "2026-10-08T10:20:00Z", 3, &other));
    let k2 = "2026-10-08T23:30:00Z";
    a.push(assume("a-2", k2, "p.vm-2", "ASIAROLLUPKEY0000002"));
    let vm2 = Call {
        key: Some("ASIAROLLUPKEY0000002"),
        session: "p.vm-2",
        created: k2,
        ..vm1("sts.amazonaws.com", "35.1.1.2", false, None, true)
    };
    a.extend(calls("vm2", "2026-10-08T23:31:00Z", 58, &vm2));
    let k3 = "2026-10-09T08:00:00Z";
    let mut b = vec![assume("a-3", k3, "p.vm-3", "ASIAROLLUPKEY0000003")];
    let vm3 = Call {
        key: Some("ASIAROLLUPKEY0000003"),
        session: "p.vm-3",
        created: k3,
        ..vm1("s3.amazonaws.com", "35.1.1.3", false, None, true)
    };
    b.extend(calls("vm3", "2026-10-09T08:01:00Z", 20, &vm3));
    write(&dir.join("a.json"), &a);
    write(&dir.join("b.json"), &b);
    write(&dir.join("c").join("c.json"), &b[6..11]);
}

/// The -v line that says how the calls were read, and the numbers in it.
fn read_line(stderr: &str) -> (String, Vec<u64>) {
    let line = stderr
        .lines()
        .find(|l| l.contains("call(s) of"))
        .unwrap_or_else(|| panic!("no read line in: {stderr}"))
        .to_string();
    let numbers = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (line, numbers)
}

/// The summary's lines about how calls were matched to their keys.
fn matching(stderr: &str) -> Vec<String> {
    stderr
        .split(';')
        .filter(|p| p.contains("call(s) m"))
        .map(|p| p.trim().to_string())
        .collect()
}

fn ok(r: Run, what: &[&str]) -> Run {
    assert_eq!(r.code, 0, "{what:?}: {}", r.stderr);
    r
}

#[test]
fn a_dataset_report_reads_each_part_as_its_rollup_where_it_stands_for_the_calls() {
    let d = tempfile::tempdir().unwrap();
    let (files, ds) = (d.path().join("trail"), d.path().join("ds"));
    trail(&files);
    let (a, b, c) = (files.join("a.json"), files.join("b.json"), files.join("c"));
    // Two ingests: the copies in c.json come in a later batch and are dropped.
    ok(
        run(&["ingest", s(&a), s(&b), "--dataset", s(&ds)]),
        &["ingest"],
    );
    ok(run(&["ingest", s(&c), "--dataset", s(&ds)]), &["ingest"]);
    // (window, how many of the parts are read as their rollup, of how many).
    let windows: [(&[&str], u64, u64); 5] = [
        // vm-1's and vm-2's 10-08 part and 10-09 part stand; the later batch's does not.
        (&[], 2, 3),
        // The window cuts vm-1's groups: only the 10-09 part of the first batch stands.
        (&["--since", "2026-10-08T10:25:00Z"], 1, 3),
        // vm-2's calls before midnight stand, vm-1's are out; vm-3's 10-09 calls are in.
        (
            &[
                "--since",
                "2026-10-08T23:00:00Z",
                "--until",
                "2026-10-09T09:00:00Z",
            ],
            2,
            3,
        ),
        // It cuts vm-3's calls (08:01 to 08:20): the 10-09 parts are read as calls.
        (
            &[
                "--since",
                "2026-10-09T00:00:00Z",
                "--until",
                "2026-10-09T08:10:00Z",
            ],
            0,
            2,
        ),
        (
            &[
                "--since",
                "2026-10-08T00:00:00Z",
                "--until",
                "2026-10-08T10:05:00Z",
            ],
            0,
            1,
        ),
    ];
    let reports: [&[&str]; 4] = [
        &["by-instance"],
        &["sessions"],
        &["query", "SELECT * FROM key_activity"],
        &[
            "query",
            "SELECT key_ref, used_in_window FROM key_lineage ORDER BY key_ref",
        ],
    ];
    for (window, rolled, parts) in windows {
        for report in reports {
            let mut json = report.to_vec();
            json.extend([s(&a), s(&b), s(&c), "--format", "csv", "-v"]);
            json.extend(window);
            let mut dataset = report.to_vec();
            dataset.extend(["--dataset", s(&ds), "--format", "csv", "-v"]);
            dataset.extend(window);
            let (j, t) = (ok(run(&json), &json), ok(run(&dataset), &dataset));
            assert_eq!(j.stdout, t.stdout, "{dataset:?}");
            assert!(j.stdout.lines().count() > 1, "{dataset:?}: {}", j.stdout);
            assert_eq!(matching(&j.stderr), matching(&t.stderr), "{dataset:?}");
            // As many calls read, whether as calls or as the groups standing for them.
            let ((_, jn), (line, tn)) = (read_line(&j.stderr), read_line(&t.stderr));
            assert_eq!(jn[0], tn[0], "{line}");
            let used = match line.contains("rollup") {
                true => tn[tn.len() - 1],
                false => 0,
            };
            assert_eq!((used, tn[1]), (rolled, parts), "{dataset:?}: {line}");
        }
    }
    // Over the whole trail the matching counted every call of a group: three made with another
    // issuance of vm-1's key ID, two matched without the ARN and creation time.
    let r = ok(run(&["by-instance", "--dataset", s(&ds)]), &["by-instance"]);
    let m = matching(&r.stderr);
    assert!(
        m.iter()
            .any(|l| l.starts_with("3 call(s) made with a key ID")),
        "{m:?}"
    );
    assert!(
        m.iter().any(|l| l.starts_with("2 call(s) matched")),
        "{m:?}"
    );
    // findings read the calls themselves: no part is read as its rollup.
    let f = ok(run(&["findings", "--dataset", s(&ds), "-v"]), &["findings"]);
    assert!(!read_line(&f.stderr).0.contains("rollup"), "{}", f.stderr);
}
