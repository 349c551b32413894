//! Role chains: every key chained from a federated root is attributed to the root's instance, in
//! every report, whatever order the files come in. The numbers are worked out by hand in
//! fixtures/README.md (`chains/`) from fixtures/make_fixtures.py.

#[path = "support/bin.rs"]
mod bin;

use std::path::Path;

use bin::{run, run_with};

use serde_json::{Value, json};

const CHAINS: &str = "fixtures/chains";
const A1: &str = "arn:aws:iam::111122223333:role/";

fn rows(args: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let r = run(&all);
    assert!(r.code == 0 || r.code == 4, "{all:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn find<'a>(rows: &'a [Value], col: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[col] == value)
        .unwrap_or_else(|| panic!("no row with {col}={value} in {rows:#?}"))
}

fn pick(row: &Value, cols: &[&str]) -> Value {
    Value::Object(
        cols.iter()
            .map(|c| (c.to_string(), row[*c].clone()))
            .collect(),
    )
}

fn roles(names: &[&str]) -> Value {
    json!(
        names
            .iter()
            .map(|n| if n.starts_with("arn:") {
                n.to_string()
            } else {
                format!("{A1}{n}")
            })
            .collect::<Vec<_>>()
    )
}

#[test]
fn by_instance_counts_every_call_of_every_chained_key() {
    let got = rows(&["by-instance", CHAINS]);
    assert_eq!(got.len(), 6, "only federated roots have rows: {got:#?}");
    let cols = [
        "api_calls",
        "chained_calls",
        "api_errors",
        "foreign_ip_calls",
        "services",
        "chained_roles",
        "first_seen",
        "last_seen",
    ];
    let want = [
        (
            "chain-proj.app-1",
            json!([
                6,
                3,
                0,
                0,
                [
                    "ec2.amazonaws.com",
                    "iam.amazonaws.com",
                    "s3.amazonaws.com",
                    "sts.amazonaws.com"
                ],
                roles(&["admin", "deployer"]),
                "2026-10-09T08:00:00Z",
                "2026-10-09T08:30:00Z"
            ]),
        ),
        (
            "chain-proj.xacct-2",
            json!([
                3,
                2,
                0,
                0,
                ["s3.amazonaws.com", "sts.amazonaws.com"],
                roles(&["arn:aws:iam::777788889999:role/reader"]),
                "2026-10-09T09:00:00Z",
                "2026-10-09T09:07:00Z"
            ]),
        ),
        (
            "chain-proj.deep-3",
            json!([
                4,
                3,
                0,
                0,
                ["secretsmanager.amazonaws.com", "sts.amazonaws.com"],
                roles(&["r1", "r2", "r3"]),
                "2026-10-09T10:00:00Z",
                "2026-10-09T10:20:00Z"
            ]),
        ),
        (
            "chain-proj.loop-4",
            json!([
                3,
                2,
                0,
                0,
                ["s3.amazonaws.com", "sts.amazonaws.com"],
                roles(&["gcp-loop", "loop-b"]),
                "2026-10-09T11:00:00Z",
                "2026-10-09T11:12:00Z"
            ]),
        ),
        (
            "chain-proj.leak-5",
            json!([
                4,
                3,
                0,
                2,
                ["s3.amazonaws.com", "sts.amazonaws.com"],
                roles(&["exfil"]),
                "2026-10-09T12:00:00Z",
                "2026-10-09T12:31:00Z"
            ]),
        ),
        (
            "chain-proj.deny-6",
            json!([
                1,
                0,
                1,
                0,
                ["sts.amazonaws.com"],
                // Its chain was refused: no chained role, an empty list in JSON.
                [],
                "2026-10-09T13:00:00Z",
                "2026-10-09T13:05:00Z"
            ]),
        ),
    ];
    for (session, values) in want {
        let row = find(&got, "session_name", session);
        let want: serde_json::Map<String, Value> = cols
            .iter()
            .map(|c| c.to_string())
            .zip(values.as_array().unwrap().iter().cloned())
            .collect();
        assert_eq!(pick(row, &cols), Value::Object(want), "{session}");
        // The instance's own keys stay the roots only.
        assert_eq!(row["access_keys"].as_array().unwrap().len(), 1, "{session}");
    }
}

#[test]
fn sessions_and_key_lineage_have_one_row_per_key_with_its_ancestry() {
    let got = rows(&["sessions", CHAINS]);
    assert_eq!(got.len(), 16, "{got:#?}");
    let lineage = rows(&["query", "SELECT * FROM key_lineage", CHAINS]);
    assert_eq!(lineage.len(), 16);
    // key, parent, root, depth, role.
    let want = [
        (
            "ASIACHAINAPP1HOP1A01",
            "ASIACHAINAPP1ROOT001",
            "ASIACHAINAPP1ROOT001",
            1,
            "deployer",
        ),
        (
            "ASIACHAINAPP1HOP1B01",
            "ASIACHAINAPP1HOP1A01",
            "ASIACHAINAPP1ROOT001",
            2,
            "admin",
        ),
        (
            "ASIACHAINAPP1HOP1C01",
            "ASIACHAINAPP1ROOT001",
            "ASIACHAINAPP1ROOT001",
            1,
            "deployer",
        ),
        (
            "ASIACHAINDEEP3HOP101",
            "ASIACHAINDEEP3ROOT01",
            "ASIACHAINDEEP3ROOT01",
            1,
            "r1",
        ),
        (
            "ASIACHAINDEEP3HOP201",
            "ASIACHAINDEEP3HOP101",
            "ASIACHAINDEEP3ROOT01",
            2,
            "r2",
        ),
        (
            "ASIACHAINDEEP3HOP301",
            "ASIACHAINDEEP3HOP201",
            "ASIACHAINDEEP3ROOT01",
            3,
            "r3",
        ),
        (
            "ASIACHAINLOOP4HOP101",
            "ASIACHAINLOOP4ROOT01",
            "ASIACHAINLOOP4ROOT01",
            1,
            "loop-b",
        ),
        (
            "ASIACHAINLOOP4HOP201",
            "ASIACHAINLOOP4HOP101",
            "ASIACHAINLOOP4ROOT01",
            2,
            "gcp-loop",
        ),
        (
            "ASIACHAINLEAK5HOP101",
            "ASIACHAINLEAK5ROOT01",
            "ASIACHAINLEAK5ROOT01",
            1,
            "exfil",
        ),
    ];
    for (key, parent, root, depth, role) in want {
        for table in [&got, &lineage] {
            let r = find(table, "access_key_id", key);
            assert_eq!(
                pick(r, &["parent_key", "root_key", "depth", "role_arn"]),
                json!({"parent_key": parent, "root_key": root, "depth": depth, "role_arn": format!("{A1}{role}")}),
            );
        }
    }
    let x = find(&got, "access_key_id", "ASIACHAINXACCT2HOP01");
    assert_eq!(x["role_arn"], "arn:aws:iam::777788889999:role/reader");
    assert_eq!(
        x["session_name"], "chain-proj.xacct-2",
        "the root's instance"
    );
    let leak = find(&got, "access_key_id", "ASIACHAINLEAK5HOP101");
    assert_eq!(
        pick(leak, &["api_calls", "foreign_ip_calls", "issuing_ip"]),
        json!({"api_calls": 3, "foreign_ip_calls": 2, "issuing_ip": "34.20.0.5"})
    );
    assert_eq!(
        find(&got, "access_key_id", "ASIACHAINAPP1HOP1C01")["api_calls"],
        0
    );
    for root in got.iter().filter(|r| r["depth"] == 0) {
        assert_eq!(root["parent_key"], Value::Null);
        assert_eq!(root["root_key"], root["access_key_id"]);
    }
    // Only the cross-account hop has its target account's copy in the input.
    let shared: Vec<&Value> = lineage
        .iter()
        .filter(|r| !r["shared_event_id"].is_null())
        .collect();
    assert_eq!(shared.len(), 1);
    assert_eq!(shared[0]["access_key_id"], "ASIACHAINXACCT2HOP01");
    // Chains that no federated key started are in no report.
    for out in [
        &run(&["sessions", CHAINS]).stdout,
        &run(&["findings", CHAINS]).stdout,
    ] {
        for key in ["ASIAUSERCHAINOPS", "ASIAEC2CHAINAPP", "ASIAEC2INSTANCEROLE"] {
            assert!(!out.contains(key), "{key} in {out}");
        }
    }
    let secret = std::fs::read_to_string("fixtures/make_fixtures.py").unwrap();
    assert!(secret.contains("MUST-NOT-LEAK"));
    for out in [
        &run(&["query", "calls", CHAINS]).stdout,
        &run(&["query", "SELECT * FROM hops", CHAINS]).stdout,
    ] {
        assert!(!out.contains("MUST-NOT-LEAK"), "a session token in {out}");
    }
}

#[test]
fn findings_judge_chained_keys_and_new_roles() {
    let got = rows(&["findings", CHAINS]);
    assert_eq!(got.len(), 10, "{got:#?}");
    let foreign: Vec<&Value> = got
        .iter()
        .filter(|r| r["kind"] == "key_used_from_foreign_ip")
        .collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!(
        pick(
            foreign[0],
            &["access_key_id", "session_name", "source_ip", "events"]
        ),
        json!({"access_key_id": "ASIACHAINLEAK5HOP101", "session_name": "chain-proj.leak-5",
               "source_ip": "203.0.113.99", "events": 2})
    );
    let mut new_roles: Vec<(String, String, i64)> = got
        .iter()
        .filter(|r| r["kind"] == "role_chain_to_new_role")
        .map(|r| {
            assert_eq!(r["severity"], "medium");
            let role = r["detail"]
                .as_str()
                .unwrap()
                .split(' ')
                .nth(6)
                .unwrap()
                .to_string();
            (
                r["instance"].as_str().unwrap().to_string(),
                role.rsplit('/').next().unwrap().to_string(),
                r["events"].as_i64().unwrap(),
            )
        })
        .collect();
    new_roles.sort();
    let want: Vec<(String, String, i64)> = [
        ("app-1", "admin", 1),
        ("app-1", "deployer", 2),
        ("deep-3", "r1", 1),
        ("deep-3", "r2", 1),
        ("deep-3", "r3", 1),
        ("leak-5", "exfil", 1),
        ("loop-4", "gcp-loop", 1),
        ("loop-4", "loop-b", 1),
        ("xacct-2", "reader", 1),
    ]
    .iter()
    .map(|(i, r, n)| (i.to_string(), r.to_string(), *n))
    .collect();
    assert_eq!(new_roles, want);

    // 08:05 is earlier in the input than the window: app-1's chain into deployer at 08:30 is
    // not new, and its chain into admin (08:10) is outside the window.
    let later = rows(&["findings", CHAINS, "--since", "2026-10-09T08:20:00Z"]);
    assert!(
        !later.iter().any(|r| r["instance"] == "app-1"),
        "{later:#?}"
    );
    assert_eq!(later.len(), 8);

    // A refused chained AssumeRole is an access denial of the key that asked.
    let denied = rows(&["findings", CHAINS, "--set", "recon_min_denied=1"]);
    let burst: Vec<&Value> = denied
        .iter()
        .filter(|r| r["kind"] == "recon_burst")
        .collect();
    assert_eq!(burst.len(), 1, "{denied:#?}");
    assert_eq!(burst[0]["access_key_id"], "ASIACHAINDENY6ROOT01");
    assert_eq!(burst[0]["events"], 1);
}

#[test]
fn the_timeline_follows_a_chain_and_marks_each_hop() {
    let got = rows(&["timeline", CHAINS, "--instance", "app-1"]);
    let story: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r["access_key_id"].as_str().unwrap().to_string(),
                r["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let chain = |p: &str, c: &str, role: &str| format!("chain: {p} -> {c} ({A1}{role})");
    let via = |role: &str| format!("via {A1}{role}");
    let (root, a, b, c) = (
        "ASIACHAINAPP1ROOT001",
        "ASIACHAINAPP1HOP1A01",
        "ASIACHAINAPP1HOP1B01",
        "ASIACHAINAPP1HOP1C01",
    );
    let want = vec![
        (root.to_string(), format!("new key {root}")),
        (root.to_string(), String::new()),
        (root.to_string(), chain(root, a, "deployer")),
        (a.to_string(), via("deployer")),
        (
            a.to_string(),
            format!("{}; {}", chain(a, b, "admin"), via("deployer")),
        ),
        (b.to_string(), via("admin")),
        (root.to_string(), chain(root, c, "deployer")),
    ];
    assert_eq!(story, want);
    // A chained key's timeline is its root session's.
    let by_key = rows(&["timeline", CHAINS, "--access-key", "ASIACHAINDEEP3HOP201"]);
    assert_eq!(by_key.len(), 5);
    assert_eq!(by_key[4]["detail"], via("r3"));
}

/// Copy `from`'s files into one flat directory, named so that they are read in the reverse of
/// their original order.
fn reversed_copy(from: &str, to: &Path) {
    let mut files: Vec<std::path::PathBuf> = bin::files_under(Path::new(from));
    files.sort();
    for (i, f) in files.iter().rev().enumerate() {
        let name = f.file_name().unwrap().to_str().unwrap();
        std::fs::copy(f, to.join(format!("{i:02}-{name}"))).unwrap();
    }
}

#[test]
fn the_lineage_does_not_depend_on_the_order_of_the_files() {
    let d = tempfile::tempdir().unwrap();
    reversed_copy(CHAINS, d.path());
    let flat = d.path().to_str().unwrap();
    for report in [
        &["by-instance"][..],
        &["sessions"],
        &["findings"],
        &["query", "SELECT * FROM key_lineage"],
        &["timeline", "--instance", "deep-3"],
    ] {
        let args = |input: &str| {
            let mut a = report.to_vec();
            a.push(input);
            a.extend(["--format", "csv"]);
            a.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let a = args(CHAINS);
        let b = args(flat);
        let ra = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
        let rb = run(&b.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(ra.code, rb.code, "{}", rb.stderr);
        assert_eq!(ra.stdout, rb.stdout, "{report:?}");
    }
}

#[test]
fn a_chain_issued_before_the_window_counts_by_the_use_of_its_key_in_it() {
    // HOP1B (admin) was issued at 08:10 and used at 08:12; HOP1A (deployer) was issued at 08:05
    // and last used at 08:10; HOP1C (deployer again) comes at 08:30.
    let got = rows(&[
        "by-instance",
        CHAINS,
        "--since",
        "2026-10-09T08:11:00Z",
        "--until",
        "2026-10-09T08:20:00Z",
    ]);
    let app = find(&got, "session_name", "chain-proj.app-1");
    assert_eq!(
        pick(
            app,
            &["api_calls", "chained_calls", "chained_roles", "assumptions"]
        ),
        json!({"api_calls": 1, "chained_calls": 1, "chained_roles": roles(&["admin"]), "assumptions": 0})
    );
}

#[test]
fn tables_lists_hops_and_key_lineage_with_their_columns() {
    let r = run(&["tables"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for table in ["hops", "key_lineage"] {
        let at = r
            .stdout
            .find(&format!("\n{table}\n"))
            .unwrap_or_else(|| panic!("{table}"));
        let listing = &r.stdout[at..];
        for col in ["access_key_id", "role_arn", "in_window"] {
            assert!(listing.contains(col), "{table}.{col}");
        }
    }
    assert!(r.stdout.contains("used_in_window") && r.stdout.contains("shared_event_id"));
    // calls carries the key's own lineage columns.
    let calls = &r.stdout[r.stdout.find("\ncalls\n").unwrap()..];
    for col in [
        "key_id",
        "depth",
        "parent_key",
        "key_role_arn",
        "key_expires_at",
    ] {
        assert!(calls.contains(col), "calls.{col}");
    }
}

// --- reused key IDs: fixtures/reuse, worked out in fixtures/README.md --------------------------

const REUSE: &str = "fixtures/reuse";

/// (instance, api_calls, foreign_ip_calls, chained_calls) of every by-instance row.
fn per_instance(dir: &str) -> Vec<(String, i64, i64, i64)> {
    let mut got: Vec<_> = rows(&["by-instance", dir])
        .iter()
        .map(|r| {
            (
                r["instance"].as_str().unwrap().to_string(),
                r["api_calls"].as_i64().unwrap(),
                r["foreign_ip_calls"].as_i64().unwrap(),
                r["chained_calls"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    got
}

#[test]
fn a_reused_key_id_gives_each_instance_its_own_calls_and_accuses_no_one() {
    let want: Vec<(String, i64, i64, i64)> = [
        ("vm-1", 3, 0, 0),
        ("vm-2", 5, 1, 0),
        ("vm-3", 2, 0, 0),
        ("vm-4", 1, 0, 0),
        ("vm-5", 3, 0, 2),
        ("vm-6", 4, 0, 3),
    ]
    .into_iter()
    .map(|(i, a, f, c)| (i.to_string(), a, f, c))
    .collect();
    assert_eq!(per_instance(REUSE), want);

    // The one real foreign use, on vm-2's own key; and each reuse named once, as info.
    let findings = rows(&["findings", REUSE]);
    let of = |kind: &str| -> Vec<(String, String)> {
        findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| {
                (
                    f["access_key_id"].as_str().unwrap().to_string(),
                    f["instance"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        of("key_used_from_foreign_ip"),
        [("ASIAREUSEDKEY0000001".to_string(), "vm-2".to_string())]
    );
    let mut reused = of("key_id_reused");
    reused.sort();
    assert_eq!(
        reused,
        [
            ("ASIAREUSEDCHAIN00001", "vm-6"),
            ("ASIAREUSEDKEY0000001", "vm-2"),
            ("ASIAREUSEDKEY0000002", "vm-4"),
        ]
        .map(|(k, i)| (k.to_string(), i.to_string()))
    );
    assert!(
        findings
            .iter()
            .filter(|f| f["kind"] == "key_id_reused")
            .all(|f| f["severity"] == "info")
    );
    assert!(
        !findings.iter().any(|f| f["kind"] == "use_after_expiry"),
        "{findings:#?}"
    );
}

#[test]
fn sessions_has_a_row_per_issued_key_never_a_merge_of_two() {
    let got = rows(&["sessions", REUSE]);
    let mut keys: Vec<(String, String, i64)> = got
        .iter()
        .map(|r| {
            (
                r["access_key_id"].as_str().unwrap().to_string(),
                r["instance"].as_str().unwrap().to_string(),
                r["api_calls"].as_i64().unwrap(),
            )
        })
        .collect();
    keys.sort();
    let want = [
        ("ASIAREUSEDCHAIN00001", "vm-5", 2),
        ("ASIAREUSEDCHAIN00001", "vm-6", 3),
        ("ASIAREUSEDKEY0000001", "vm-1", 3),
        ("ASIAREUSEDKEY0000001", "vm-2", 5),
        ("ASIAREUSEDKEY0000002", "vm-3", 2),
        ("ASIAREUSEDKEY0000002", "vm-4", 1),
        ("ASIAREUSEROOT0000005", "vm-5", 1),
        ("ASIAREUSEROOT0000006", "vm-6", 1),
    ]
    .map(|(k, i, n)| (k.to_string(), i.to_string(), n));
    assert_eq!(keys, want);
}

#[test]
fn the_timeline_of_a_reused_key_id_follows_each_session_it_was_issued_to() {
    let got = rows(&["timeline", REUSE, "--access-key", "ASIAREUSEDKEY0000002"]);
    // Both assumptions and the three calls, each once, each under its own session.
    let mut per: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r["instance"].as_str().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    per.sort();
    assert_eq!(
        per,
        [
            ("vm-3", "assumption"),
            ("vm-3", "call"),
            ("vm-3", "call"),
            ("vm-4", "assumption"),
            ("vm-4", "call"),
        ],
        "{got:#?}"
    );
}

/// A report builds only the columns of key_lineage its queries can name (the rest of each key's
/// strings are never gathered), and a query that asks for all of them, by `*` or `l.*`, gets all.
#[test]
fn the_lineage_is_built_with_the_columns_the_queries_name() {
    let built = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([CHAINS, "-v", "--format", "csv"]);
        let r = run(&all);
        assert_eq!(r.code, 0, "{all:?}: {}", r.stderr);
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains("key lineage:"))
            .unwrap_or_else(|| panic!("{}", r.stderr))
            .to_string();
        let n: usize = line
            .split(", ")
            .last()
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        (n, r.stdout)
    };
    let (by_instance, _) = built(&["by-instance"]);
    let (sessions, _) = built(&["sessions"]);
    assert!(
        by_instance < 18 && sessions < 18,
        "{by_instance}, {sessions}"
    );
    for all in [
        "SELECT * FROM key_lineage ORDER BY key_ref",
        "SELECT l.* FROM key_lineage l JOIN assumptions a ON l.root_event_id = a.event_id",
    ] {
        let (n, out) = built(&["query", all]);
        assert_eq!(n, 18, "{all}");
        assert!(
            out.starts_with("access_key_id,parent_key,root_key,depth,"),
            "{out}"
        );
    }
    // One column named: that one (with key_ref and the key ID) is built, and answers.
    let (n, out) = built(&[
        "query",
        "SELECT DISTINCT parent_key FROM key_lineage ORDER BY 1",
    ]);
    assert_eq!(n, 3);
    assert!(out.contains("ASIACHAINAPP1HOP1A01"), "{out}");
}

/// Over the JSON files, a report that reads no call whole (by-instance, sessions, findings)
/// makes its groups and the tables made a call at a time from slices of the calls (debug builds:
/// `JANUS_AUDIT_SLICE_ROWS`), as a report over a dataset does from its parts: the same rows as
/// a query that reads the calls whole, wherever the slices are cut.
#[test]
fn the_files_calls_read_a_slice_at_a_time_answer_as_read_whole() {
    // Reading `calls` too (joined, but for no row) makes the query read every call whole.
    let whole = |table: &str| {
        format!(
            "SELECT t.* FROM {table} t LEFT JOIN \
             (SELECT key_ref AS k FROM calls WHERE 1 = 0) c ON t.key_ref = c.k"
        )
    };
    let ordered = " ORDER BY 1, 2, 3, 4, 5";
    for trail in [
        "fixtures/chains",
        "fixtures/reuse",
        "fixtures/keys",
        "fixtures/findings",
        "fixtures/edge",
        "fixtures/damaged",
        "fixtures/exports",
    ] {
        for table in ["flagged_calls", "orphan_calls", "key_activity"] {
            let sql = format!("SELECT * FROM {table}");
            let read_whole = run(&[
                "query",
                &format!("{}{ordered}", whole(table)),
                trail,
                "--format",
                "csv",
                "-v",
            ]);
            assert!(
                !read_whole.stderr.contains("slice(s) read as"),
                "{}",
                read_whole.stderr
            );
            assert!(
                read_whole.code == 0 || read_whole.code == 3,
                "{}",
                read_whole.stderr
            );
            for n in ["1", "7", "131072"] {
                let args = [
                    "query",
                    &format!("{sql}{ordered}"),
                    trail,
                    "--format",
                    "csv",
                    "-v",
                ];
                let sliced = run_with(&args, &[("JANUS_AUDIT_SLICE_ROWS", n)]);
                assert_eq!(sliced.code, read_whole.code, "{args:?}: {}", sliced.stderr);
                assert!(
                    sliced.stderr.contains("slice(s) read as"),
                    "{}",
                    sliced.stderr
                );
                assert_eq!(
                    sliced.stdout, read_whole.stdout,
                    "{table} over {trail} in slices of {n}"
                );
            }
        }
        for report in ["by-instance", "sessions", "findings"] {
            let one = run(&[report, trail, "--format", "csv"]);
            let sliced = run_with(
                &[report, trail, "--format", "csv"],
                &[("JANUS_AUDIT_SLICE_ROWS", "3")],
            );
            assert_eq!(
                (sliced.code, &sliced.stdout),
                (one.code, &one.stdout),
                "{report} over {trail}"
            );
        }
    }
}
