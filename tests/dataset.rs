//! The Parquet dataset: `ingest` then `--dataset` gives the same answers as the JSON files, for
//! every report on every fixture trail; reruns are incremental and never duplicate an event; a
//! crashed batch is ignored and cleaned up.

#[path = "support/bin.rs"]
mod bin;

use std::path::Path;

use bin::{Run, run, run_with};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ingest(paths: &[&str], ds: &Path) -> Run {
    let mut args = vec!["ingest", "--events", "--dataset", s(ds)];
    args.extend(paths);
    run(&args)
}

const REPORTS: &[&[&str]] = &[
    &["by-instance"],
    &["sessions"],
    &["findings"],
    &["query", "calls"],
    &[
        "query",
        "SELECT * FROM events ORDER BY event_id, event_time",
    ],
    &[
        "query",
        "SELECT * FROM assumptions WHERE in_window ORDER BY event_id",
    ],
    &["query", "SELECT * FROM key_lineage WHERE in_window"],
    &["query", "SELECT * FROM key_activity"],
    &["timeline", "--instance", "app-1"],
    &["timeline", "--instance", "etl-1"],
    &["timeline", "--session-name", "edge-proj.vm-1"],
    &["timeline", "--sub", "104857600000000000042"],
];

const WINDOWS: &[&[&str]] = &[
    &[],
    &["--since", "2026-10-05", "--until", "2026-10-06"],
    &["--since", "2026-10-06T10:00:00Z"],
    &[
        "--since",
        "2026-10-08T09:00:00Z",
        "--until",
        "2026-10-08T15:00:00Z",
    ],
    &["--since", "2026-10-09T08:20:00Z"],
];

/// Every report, over `paths` and over the dataset, gives the same rows. `raw` adds queries of
/// the raw tables, whose `file_id` and row order follow the order files were read in: the same
/// only when the dataset was ingested from the same paths in one run.
fn assert_same_answers(paths: &[&str], ds: &Path, raw: bool) {
    let reports = if raw { REPORTS } else { &REPORTS[..3] };
    let timelines = &REPORTS[REPORTS.len() - 4..];
    for report in reports.iter().chain(timelines) {
        for window in WINDOWS {
            let mut a: Vec<&str> = report.to_vec();
            a.extend(paths);
            a.extend(*window);
            a.extend(["--format", "csv"]);
            let mut b: Vec<&str> = report.to_vec();
            b.extend(["--dataset", s(ds)]);
            b.extend(*window);
            b.extend(["--format", "csv"]);
            let (ra, rb) = (run(&a), run(&b));
            assert!(ra.code == 0 || ra.code == 3, "{a:?}: {}", ra.stderr);
            assert!(rb.code == 0 || rb.code == 3, "{b:?}: {}", rb.stderr);
            assert_eq!(ra.stdout, rb.stdout, "{report:?} {window:?} over {paths:?}");
            if window.is_empty() {
                assert_eq!(ra.code, rb.code, "{a:?}\n{}\n{}", ra.stderr, rb.stderr);
            }
        }
    }
}

#[test]
fn every_report_answers_the_same_from_the_dataset() {
    for trail in [
        "fixtures/cloudtrail",
        "fixtures/findings",
        "fixtures/edge",
        "fixtures/damaged",
        "fixtures/chains",
    ] {
        let d = tempfile::tempdir().unwrap();
        let ds = d.path().join("ds");
        let r = ingest(&[trail], &ds);
        assert!(r.code == 0 || r.code == 3, "{trail}: {}", r.stderr);
        assert_same_answers(&[trail], &ds, true);
    }
}

/// The shipped SQL also runs on polars' streaming engine (which reports do not use: see the
/// README) and gives the same rows there. `x IN (subquery)` under OR once made that engine
/// compare every pair of rows; by_instance and timeline now join instead.
#[test]
fn every_report_gives_the_same_rows_on_the_streaming_engine() {
    for trail in ["fixtures/findings", "fixtures/chains"] {
        let d = tempfile::tempdir().unwrap();
        let ds = d.path().join("ds");
        let r = ingest(&[trail], &ds);
        assert!(r.code == 0 || r.code == 3, "{trail}: {}", r.stderr);
        for report in REPORTS {
            let mut a: Vec<&str> = report.to_vec();
            a.extend(["--dataset", s(&ds), "--format", "csv"]);
            let (memory, streaming) = (run(&a), run_with(&a, &[("POLARS_FORCE_STREAMING", "1")]));
            assert!(
                memory.code == 0 || memory.code == 4,
                "{a:?}: {}",
                memory.stderr
            );
            assert_eq!(memory.code, streaming.code, "{a:?}: {}", streaming.stderr);
            // A query without ORDER BY has no order to keep (the engines join differently).
            let rows = |out: &str| {
                let mut rows: Vec<String> = out.lines().map(str::to_string).collect();
                if report[0] == "query" {
                    rows.sort();
                }
                rows
            };
            assert_eq!(
                rows(&memory.stdout),
                rows(&streaming.stdout),
                "{report:?} over {trail}"
            );
            assert!(memory.stdout.lines().count() > 1 || report[0] == "timeline");
        }
    }
}

/// `by-instance` and `sessions` over a dataset read the calls as their groups, a few parts at a
/// time, and never hold the calls: the groups are those of the whole window's calls (made from
/// `calls` by a query that reads them whole), with `--trusted-cidrs` and a window too, and with
/// repeated event IDs whose later copies must not count.
#[test]
fn a_dataset_report_reads_the_calls_as_groups_equal_to_the_whole_windows() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    // The trail twice under two names: every event repeated, every later copy dropped.
    let twice = d.path().join("twice");
    copy_dir(Path::new("fixtures/chains"), &twice.join("a"));
    copy_dir(Path::new("fixtures/chains"), &twice.join("b"));
    assert_eq!(ingest(&[s(&twice)], &ds).code, 0);
    let trusted = d.path().join("trusted.txt");
    std::fs::write(&trusted, "203.0.113.0/24\n").unwrap();
    let groups = "SELECT * FROM key_activity";
    let from_calls = "SELECT key_ref, event_source, source_ip, is_service, trusted_source, \
        error_code IS NOT NULL AS failed, COUNT(*) AS calls, MIN(event_time) AS first_call, \
        MAX(event_time) AS last_call FROM calls \
        GROUP BY key_ref, event_source, source_ip, is_service, trusted_source, failed \
        ORDER BY key_ref, event_source, source_ip, is_service, trusted_source, failed";
    for extra in [
        &[][..],
        &["--trusted-cidrs", s(&trusted)][..],
        &[
            "--since",
            "2026-10-09T09:00:00Z",
            "--until",
            "2026-10-09T13:00:00Z",
        ][..],
    ] {
        let query = |sql: &str| {
            let mut a = vec!["query", sql, "--dataset", s(&ds), "--format", "csv", "-v"];
            a.extend(extra);
            let r = run(&a);
            assert_eq!(r.code, 0, "{a:?}: {}", r.stderr);
            r
        };
        let (g, c) = (query(groups), query(from_calls));
        assert_eq!(g.stdout, c.stdout, "{extra:?}");
        assert!(g.stdout.lines().count() > 2, "{}", g.stdout);
        // Only the query that reads the groups alone had them made part by part.
        assert!(g.stderr.contains("group(s)"), "{}", g.stderr);
        assert!(!c.stderr.contains("group(s)"), "{}", c.stderr);
        // And the by-instance report does too.
        let mut a = vec!["by-instance", "--dataset", s(&ds), "--format", "csv", "-v"];
        a.extend(extra);
        let r = run(&a);
        assert!(r.stderr.contains("part(s) read as"), "{}", r.stderr);
    }
    // The range is one the trail's calls come from: the test sees it applied.
    let plain = run(&["query", groups, "--dataset", s(&ds), "--format", "csv"]);
    let marked = run(&[
        "query",
        groups,
        "--dataset",
        s(&ds),
        "--format",
        "csv",
        "--trusted-cidrs",
        s(&trusted),
    ]);
    assert_ne!(plain.stdout, marked.stdout);
}

/// `report` over the files at `trail` and over the dataset at `ds` (with `-v`), in `window`, as
/// CSV.
fn over_json_and_dataset(report: &[&str], window: &[&str], trail: &Path, ds: &Path) -> (Run, Run) {
    let mut a = report.to_vec();
    a.extend(window);
    a.extend(["--format", "csv"]);
    let mut b = a.clone();
    a.push(s(trail));
    b.extend(["--dataset", s(ds), "-v"]);
    (run(&a), run(&b))
}

/// The line of `stderr` that says `marker`, and the numbers in it.
fn numbers_in(stderr: &str, marker: &str) -> (String, Vec<u64>) {
    let line = stderr
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no '{marker}' in: {stderr}"));
    let numbers = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (line.to_string(), numbers)
}

/// A report over a dataset decodes of the assumptions and hops only the columns its queries can
/// name and those janus-audit reads itself, and answers as over the JSON; a query that selects
/// all of a table, or names a column janus-audit never reads itself, gets it.
#[test]
fn a_dataset_report_decodes_the_assumption_columns_its_queries_name() {
    let d = tempfile::tempdir().unwrap();
    let (trail, ds) = (Path::new("fixtures/chains"), d.path().join("ds"));
    assert_eq!(ingest(&[s(trail)], &ds).code, 0);
    let decoded = |report: &[&str]| {
        let (json, dataset) = over_json_and_dataset(report, &[], trail, &ds);
        assert_eq!(dataset.code, 0, "{}", dataset.stderr);
        assert_eq!(dataset.stdout, json.stdout, "{report:?}");
        let (line, n) = numbers_in(&dataset.stderr, "assumptions with");
        assert_eq!(n.len(), 4, "{line}");
        (n[0], n[1], n[2], n[3])
    };
    for report in [&["by-instance"][..], &["sessions"], &["findings"]] {
        let (a, all_a, h, all_h) = decoded(report);
        assert!(
            a < all_a && h < all_h,
            "{report:?}: {a}/{all_a}, {h}/{all_h}"
        );
    }
    let (a, all_a, h, all_h) = decoded(&["query", "SELECT * FROM assumptions ORDER BY event_id"]);
    assert_eq!((a, h < all_h), (all_a, true));
    let (a, all_a, _, _) = decoded(&[
        "query",
        "SELECT r.* FROM assumptions r JOIN key_lineage l ON l.root_event_id = r.event_id \
         ORDER BY r.event_id, l.key_ref",
    ]);
    assert_eq!(a, all_a);
    let (a, _, h, all_h) = decoded(&["query", "SELECT * FROM hops ORDER BY event_id"]);
    assert_eq!(h, all_h);
    let (b, _, _, _) = decoded(&[
        "query",
        "SELECT user_agent, COUNT(*) AS n FROM assumptions GROUP BY 1 ORDER BY 1",
    ]);
    assert_eq!(b, a + 1, "user_agent is decoded when named, and only then");
}

/// A timeline over a dataset reads only the calls that entity's timeline can show (those made
/// with a key whose root the entity names, and those made with the asked key ID), a few parts
/// at a time, and shows the rows it shows over the JSON: for an instance, a session, a root key,
/// a chained key, key IDs AWS issued twice (to two sessions, and down two chains), and a key
/// whose issuing event is not in the input; over the whole trail and from a time on; with every
/// event delivered twice.
#[test]
fn a_timeline_over_a_dataset_reads_only_the_calls_its_entity_can_show() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let twice = d.path().join("twice");
    for copy in ["a", "b"] {
        copy_dir(
            Path::new("fixtures/chains"),
            &twice.join(copy).join("chains"),
        );
        copy_dir(Path::new("fixtures/reuse"), &twice.join(copy).join("reuse"));
    }
    assert_eq!(ingest(&[s(&twice)], &ds).code, 0);
    let entities: &[&[&str]] = &[
        &["--instance", "app-1"],
        &["--instance", "vm-5"],
        &["--session-name", "chain-proj.deep-3"],
        &["--access-key", "ASIACHAINAPP1ROOT001"],
        &["--access-key", "ASIACHAINDEEP3HOP201"],
        &["--access-key", "ASIAREUSEDKEY0000001"],
        &["--access-key", "ASIAREUSEDCHAIN00001"],
        &["--access-key", "ASIAEC2CHAINAPP00001"],
    ];
    let windows: &[&[&str]] = &[&[], &["--since", "2026-10-09T10:00:00Z"]];
    for entity in entities {
        for window in windows {
            let mut report = vec!["timeline"];
            report.extend(*entity);
            let (ra, rb) = over_json_and_dataset(&report, window, &twice, &ds);
            assert_eq!(ra.code, 0, "{report:?}: {}", ra.stderr);
            assert_eq!(rb.code, 0, "{report:?}: {}", rb.stderr);
            assert_eq!(ra.stdout, rb.stdout, "{entity:?} {window:?}");
            if window.is_empty() {
                assert!(ra.stdout.lines().count() > 1, "{entity:?}: {}", ra.stdout);
            }
            // "dataset: K of N call(s) read for the timeline": some of the window's, not all.
            let (line, numbers) = numbers_in(&rb.stderr, "read for the timeline");
            assert!(numbers[0] < numbers[1], "{line}");
        }
    }
}

/// `findings` over a dataset never holds the window's calls: the tables the findings about
/// single calls read (flagged_calls, orphan_calls) are made a part at a time and only their rows
/// kept. Its findings, and those tables themselves, are those over the JSON: with every event
/// delivered twice, with `--trusted-cidrs` (marked on each part before the foreign-IP rule runs)
/// and thresholds that make more calls count, and over several windows; `issued_session_no`,
/// numbered over every session of the window, is the same too.
#[test]
fn findings_over_a_dataset_keep_only_the_calls_a_finding_can_be_about() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let twice = d.path().join("twice");
    for copy in ["a", "b"] {
        for trail in ["findings", "chains", "reuse"] {
            copy_dir(
                &Path::new("fixtures").join(trail),
                &twice.join(copy).join(trail),
            );
        }
    }
    assert_eq!(ingest(&[s(&twice)], &ds).code, 0);
    // web-4's foreign IP (fixtures/README.md): trusted, its finding goes.
    let trusted = d.path().join("trusted.txt");
    std::fs::write(&trusted, "198.51.100.0/24\n").unwrap();
    let reports: &[&[&str]] = &[
        &["findings"],
        &["findings", "--trusted-cidrs", s(&trusted)],
        &[
            "findings",
            "--set",
            "recon_min_distinct=2",
            "--set",
            "recon_min_denied=1",
        ],
        &["query", "SELECT * FROM flagged_calls"],
        &["query", "SELECT * FROM orphan_calls"],
        // A number over every session of the window, not only a part's.
        &[
            "query",
            "SELECT event_id, issued_session_name, issued_session_no FROM flagged_calls",
        ],
    ];
    let windows: &[&[&str]] = &[&[], &["--since", "2026-10-08T12:00:00Z"]];
    let mut outputs = Vec::new();
    for report in reports {
        for window in windows {
            let (ra, rb) = over_json_and_dataset(report, window, &twice, &ds);
            assert!(ra.code == 0 || ra.code == 4, "{report:?}: {}", ra.stderr);
            assert_eq!(ra.code, rb.code, "{report:?}: {}", rb.stderr);
            assert_eq!(ra.stdout, rb.stdout, "{report:?} {window:?}");
            assert!(ra.stdout.lines().count() > 1, "{report:?}: {}", ra.stdout);
            outputs.push(ra.stdout);
            // "dataset: N call(s) of P part(s) read as K row(s) of flagged_calls, ...": some of
            // the window's calls kept, not all.
            let (line, numbers) = numbers_in(&rb.stderr, "part(s) read as");
            assert!(numbers.len() >= 3, "{line}");
            assert!(numbers[2..].iter().all(|k| *k < numbers[0]), "{line}");
            assert!(!line.contains("group(s)"), "{line}");
        }
    }
    // The range and the thresholds change the findings: the test sees them applied.
    assert_ne!(outputs[0], outputs[2]);
    assert_ne!(outputs[0], outputs[4]);
}

#[test]
fn ingest_is_incremental_and_never_duplicates_an_event() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let org = "fixtures/cloudtrail/AWSLogs/o-exampleorg1";
    // Part of the trail first, then all of it: only new files are read.
    let r = ingest(&[org], &ds);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = ingest(&["fixtures/cloudtrail"], &ds);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("file(s) already in the dataset"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(" 0 file(s) already"), "{}", r.stderr);
    let r = ingest(&["fixtures/cloudtrail"], &ds);
    assert!(r.stderr.contains("ingested 0 new file(s)"), "{}", r.stderr);
    // The same delivery files again under another path (a colleague's copy): no event twice.
    let copy = d.path().join("copy");
    copy_dir(Path::new("fixtures/cloudtrail"), &copy);
    let r = ingest(&[s(&copy)], &ds);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_same_answers(&["fixtures/cloudtrail"], &ds, false);
}

#[test]
fn an_uncommitted_batch_is_ignored_and_then_removed() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    assert_eq!(ingest(&["fixtures/findings"], &ds).code, 0);
    // A crash after a batch's parts but before its files part: parts of batch 7 with no commit.
    let mut planted = Vec::new();
    for table in ["role_calls", "assumptions", "ids"] {
        for e in std::fs::read_dir(ds.join(table)).unwrap() {
            let dir = e.unwrap().path();
            let part = dir.join("part-00000007.parquet");
            std::fs::copy(dir.join("part-00000000.parquet"), &part).unwrap();
            planted.push(part);
        }
    }
    assert_same_answers(&["fixtures/findings"], &ds, true);
    let r = ingest(&["fixtures/findings"], &ds);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("never committed"), "{}", r.stderr);
    assert!(planted.iter().all(|p| !p.exists()));
}

#[test]
fn a_batch_that_cannot_be_written_stops_the_ingest_and_the_next_one_completes_it() {
    let d = tempfile::tempdir().unwrap();
    // The trail's last day, whose role_calls part a late batch writes.
    let reference = d.path().join("reference");
    let file_by_file = |ds: &Path| {
        run(&[
            "ingest",
            "--dataset",
            s(ds),
            "--batch-files",
            "1",
            "fixtures/cloudtrail",
        ])
    };
    assert_eq!(file_by_file(&reference).code, 0);
    let mut days: Vec<_> = std::fs::read_dir(reference.join("role_calls"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    days.sort();
    let last = days.last().unwrap().clone();
    let ds = d.path().join("ds");
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(ingest(&[s(&empty)], &ds).code, 0);
    // A file where that partition's folder would go: only the batch writer, while later batches
    // are still being read, finds out. (A link there is refused before anything is read.)
    let blocker = ds.join("role_calls").join(&last);
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, b"not a folder").unwrap();
    let r = file_by_file(&ds);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("role_calls"), "{}", r.stderr);
    let committed = || std::fs::read_dir(ds.join("files")).unwrap().count();
    let total = std::fs::read_dir(reference.join("files")).unwrap().count();
    assert!(
        committed() < total,
        "{} of {total}: {}",
        committed(),
        r.stderr
    );
    std::fs::remove_file(&blocker).unwrap();
    let r = file_by_file(&ds);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_same_answers(&["fixtures/cloudtrail"], &ds, false);
}

#[test]
fn a_scheduled_report_from_the_dataset_writes_the_same_files() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    assert_eq!(ingest(&["fixtures/findings"], &ds).code, 0);
    let window = [
        "--since",
        "2026-10-08",
        "--until",
        "2026-10-09",
        "--formats",
        "csv",
    ];
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let mut args = vec!["report", "fixtures/findings", "--output-dir", s(&a)];
    args.extend(window);
    assert_eq!(run(&args).code, 0);
    let mut args = vec!["report", "--dataset", s(&ds), "--output-dir", s(&b), "-v"];
    args.extend(window);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The findings' rows read first, then the groups from the rollups (pieces::read).
    assert!(
        r.stderr.contains("; the groups read again, "),
        "{}",
        r.stderr
    );
    let day = "2026-10-08T00-00Z_2026-10-09T00-00Z";
    for f in ["by_instance.csv", "sessions.csv", "findings.csv"] {
        assert_eq!(
            std::fs::read(a.join(day).join(f)).unwrap(),
            std::fs::read(b.join(day).join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_directory_that_is_not_a_dataset_is_named() {
    let r = run(&["by-instance", "--dataset", "fixtures/cloudtrail"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("not a janus-audit dataset"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_query_of_events_on_a_dataset_without_them_says_so() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let r = run(&["ingest", "--dataset", s(&ds), "fixtures/cloudtrail"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["query", "SELECT COUNT(*) FROM events", "--dataset", s(&ds)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no events table") && r.stderr.contains("ingest --events"),
        "{}",
        r.stderr
    );
    // The reports that do not read events are unaffected.
    let r = run(&["by-instance", "--dataset", s(&ds), "--format", "csv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.lines().count() > 1, "{}", r.stdout);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn ddl_names_every_stored_table_for_spark_and_athena() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    assert_eq!(ingest(&["fixtures/findings"], &ds).code, 0);

    let spark = run(&["dataset", "ddl", "--dataset", s(&ds), "--engine", "spark"]);
    assert_eq!(spark.code, 0, "{}", spark.stderr);
    let root = std::path::absolute(&ds).unwrap();
    for table in ["role_calls", "assumptions", "ids", "events"] {
        assert!(
            spark
                .stdout
                .contains(&format!("CREATE TABLE IF NOT EXISTS janus_{table} ("))
                && spark.stdout.contains(&format!(
                    "PARTITIONED BY (date)\nLOCATION '{}/{table}'",
                    root.display()
                ))
                && spark
                    .stdout
                    .contains(&format!("MSCK REPAIR TABLE janus_{table};")),
            "{table}:\n{}",
            spark.stdout
        );
    }
    // The views the shipped SQL reads, calls made from queries/calls.sql itself.
    for view in [
        "role_calls",
        "events",
        "assumptions",
        "files",
        "findings_params",
        "calls",
    ] {
        assert!(
            spark
                .stdout
                .contains(&format!("CREATE OR REPLACE VIEW {view} AS\n")),
            "{view}"
        );
    }
    assert!(spark.stdout.contains("'access_key' END AS matched_by"));

    let athena = run(&[
        "dataset",
        "ddl",
        "--dataset",
        s(&ds),
        "--engine",
        "athena",
        "--location",
        "s3://bucket/janus/",
    ]);
    assert_eq!(athena.code, 0, "{}", athena.stderr);
    assert!(athena.stdout.contains(
        "CREATE EXTERNAL TABLE IF NOT EXISTS janus_role_calls (\n    `event_id` STRING,"
    ));
    assert!(
        athena.stdout.contains(
            "'storage.location.template' = 's3://bucket/janus/assumptions/date=${date}/'"
        )
    );
    assert!(athena.stdout.contains("'projection.date.type' = 'date'"));
    assert!(athena.stdout.contains("regexp_like(a.sub, '^[0-9]{21}$')"));
    // ids keeps canonical UUIDs as bytes: each engine spells them again with its own function
    // before they are matched to the tables' event_id.
    for (ddl, hex) in [(&spark.stdout, "hex"), (&athena.stdout, "to_hex")] {
        assert!(ddl.contains("`event_uuid` BINARY"), "{ddl}");
        assert!(
            ddl.contains(&format!(
                "COALESCE(i.event_id, regexp_replace(lower({hex}(i.event_uuid)), "
            )),
            "{ddl}"
        );
    }
    assert!(!spark.stdout.contains("to_hex("));
    assert!(
        !athena.stdout.contains("MSCK"),
        "projection needs no repair"
    );

    let none = run(&[
        "dataset",
        "ddl",
        "--dataset",
        "fixtures",
        "--engine",
        "spark",
    ]);
    assert_eq!(none.code, 1);
    assert!(
        none.stderr.contains("not a janus-audit dataset"),
        "{}",
        none.stderr
    );
}

#[test]
fn a_report_after_a_new_ingest_never_uses_an_old_answer_about_duplicates() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    assert_eq!(ingest(&["fixtures/cloudtrail"], &ds).code, 0);
    let before = run(&["by-instance", "--dataset", s(&ds), "--format", "csv"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    // The answer about repeated eventIDs is kept beside the dataset, named by the batches read.
    let cache = ds.join("_janus/cache");
    let cached = std::fs::read_dir(&cache).unwrap().count();
    assert_eq!(cached, 1);
    let again = run(&["by-instance", "--dataset", s(&ds), "--format", "csv"]);
    assert_eq!(again.stdout, before.stdout);
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "reused, not rewritten"
    );

    // Every event again under another path: a new batch, so a new answer, and no event twice.
    let copy = d.path().join("copy");
    copy_dir(Path::new("fixtures/cloudtrail"), &copy);
    assert_eq!(ingest(&[s(&copy)], &ds).code, 0);
    let after = run(&["by-instance", "--dataset", s(&ds), "--format", "csv"]);
    assert_eq!(after.stdout, before.stdout, "{}", after.stderr);
    let dropped = |stderr: &str| -> u64 {
        let at = stderr.find(" duplicate(s) dropped").expect("summary line");
        stderr[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(
        dropped(&after.stderr) > dropped(&before.stderr),
        "{}",
        after.stderr
    );

    // A damaged answer is not trusted: it is worked out again.
    for e in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(e.unwrap().path(), b"{").unwrap();
    }
    let damaged = run(&["by-instance", "--dataset", s(&ds), "--format", "csv"]);
    assert_eq!(damaged.stdout, before.stdout);
    assert_eq!(dropped(&damaged.stderr), dropped(&after.stderr));
}

#[test]
fn a_dataset_of_another_format_version_is_refused_with_a_way_out() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    assert_eq!(ingest(&["fixtures/chains"], &ds).code, 0);
    let schema = ds.join("_janus/schema.json");
    let text = std::fs::read_to_string(&schema).unwrap();
    assert!(text.contains("\"version\": 6"), "{text}");
    assert!(
        text.contains("\"hops\"")
            && text.contains("\"event_uuid\"")
            && text.contains("\"parent_created_at\"")
            && text.contains("\"request_parameters\"")
            && text.contains("\"list[str]\"")
            && text.contains("\"policy_changes\""),
        "{text}"
    );
    // A version 1 dataset has no hops: its reports would silently miss every chained call. A
    // version 2 one spells every ID in `ids`, where this one reads UUIDs as bytes. A version 3
    // one cannot tell two issuances of one chained key ID apart. A version 4 one has no record
    // of what each call touched; a version 5 one none of the trust policies' history.
    for old in [1, 2, 3, 4, 5] {
        std::fs::write(
            &schema,
            text.replace("\"version\": 6", &format!("\"version\": {old}")),
        )
        .unwrap();
        let r = run(&["by-instance", "--dataset", s(&ds)]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("format version {old}")) && r.stderr.contains("re-ingest"),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_missing_or_damaged_part_and_a_linked_partition_are_named_never_read_around() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    assert_eq!(ingest(&["fixtures/chains"], &ds).code, 0);
    let parts = |table: &str| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = walkdir::WalkDir::new(ds.join(table))
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        v.sort();
        v
    };
    let report = || run(&["by-instance", "--dataset", s(&ds), "--format", "csv"]);
    assert_eq!(report().code, 0);
    // Every folder ingest made is the owner's only, whatever the umask (the test's is 022).
    for e in walkdir::WalkDir::new(&ds)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_dir() {
            use std::os::unix::fs::PermissionsExt;
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", e.path().display());
        }
    }
    // A committed batch's part deleted: the report fails and names it, where it used to exit 0
    // with fewer calls; damaged, named too. The same of the part's rollup (call_rollup), which
    // by-instance reads in its place, and of a role_calls part behind its rollup.
    for table in ["role_calls", "call_rollup"] {
        let part = parts(table)[0].clone();
        let names = |r: &Run, what: &str| {
            assert_eq!(r.code, 1, "{}", r.stderr);
            let date = part
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy();
            for word in [what, table, &*date] {
                assert!(r.stderr.contains(word), "{word}: {}", r.stderr);
            }
        };
        let saved = std::fs::read(&part).unwrap();
        std::fs::remove_file(&part).unwrap();
        names(&report(), "missing");
        std::fs::write(&part, &saved[..saved.len() / 2]).unwrap();
        names(&report(), "damaged");
        std::fs::write(&part, &saved).unwrap();
        assert_eq!(report().code, 0);
    }
    // A date= partition that is a link to another dataset's: refused, named.
    let other = d.path().join("other");
    assert_eq!(ingest(&["fixtures/cloudtrail"], &other).code, 0);
    let theirs = std::fs::read_dir(other.join("role_calls"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let link = ds.join("role_calls").join("date=2026-10-05");
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    let r = report();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("symbolic link") && r.stderr.contains("date=2026-10-05"),
        "{}",
        r.stderr
    );
    // And ingest never writes through a link planted in the dataset.
    std::fs::remove_file(&link).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let planted = ds.join("role_calls").join("date=2026-10-05");
    std::os::unix::fs::symlink(outside.path(), &planted).unwrap();
    let r = ingest(&["fixtures/cloudtrail"], &ds);
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}
