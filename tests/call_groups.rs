//! `call_groups` is defined by `queries/call_groups.sql`, but made without that query's join
//! when the query is not overridden (`model::call_groups`). Both ways must give the same table,
//! and so the same reports: here the table is made both ways (the query is forced by an override
//! that differs from the embedded text by a comment only) over every fixture, from the JSON and
//! from a dataset, with and without trusted ranges.

#[path = "support/bin.rs"]
mod bin;

use bin::{run, run_with};

const FIXTURES: [&str; 9] = [
    "chains",
    "cloudtrail",
    "edge",
    "exports",
    "findings",
    "hostile",
    "keys",
    "reuse",
    "trust",
];

fn answer(args: &[&str], queries: Option<&str>) -> String {
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["--format", "csv"]);
    if let Some(dir) = queries {
        args.extend(["--queries", dir]);
    }
    // Groups made one wherever they repeat, not only where that halves them.
    let out = run_with(&args, &[("JANUS_AUDIT_MERGE_SHARE", "100")]);
    assert!(out.code == 0 || out.code == 3, "{args:?}: {}", out.stderr);
    out.stdout
}

/// The header, then the rows sorted.
fn lines(csv: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = csv.lines().collect();
    if lines.len() > 1 {
        lines[1..].sort_unstable();
    }
    lines
}

/// A `--queries` folder under `dir` whose call_groups.sql differs from the embedded one by a
/// comment only, so that the query is run as written.
fn run_as_written(dir: &std::path::Path) -> std::path::PathBuf {
    let queries = dir.join("queries");
    std::fs::create_dir(&queries).unwrap();
    let sql = std::fs::read_to_string("queries/call_groups.sql").unwrap();
    std::fs::write(
        queries.join("call_groups.sql"),
        format!("{sql}\n-- run as written\n"),
    )
    .unwrap();
    queries
}

#[test]
fn call_groups_made_without_the_join_are_the_querys_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let queries = run_as_written(tmp.path());
    let queries = queries.to_str().unwrap();
    let trusted = tmp.path().join("trusted.txt");
    std::fs::write(&trusted, "10.0.0.0/8\n203.0.113.0/24\n35.0.0.0/8\n").unwrap();
    let trusted = trusted.to_str().unwrap();
    let (mut rows, mut chained, mut foreign) = (0, 0, 0);
    for fixture in FIXTURES {
        let dataset = tmp.path().join(format!("ds-{fixture}"));
        let dir = format!("fixtures/{fixture}");
        let ingest = run(&["ingest", &dir, "--dataset", dataset.to_str().unwrap()]);
        assert!(ingest.code == 0 || ingest.code == 3, "{}", ingest.stderr);
        let dataset = dataset.to_str().unwrap();
        for input in [vec![dir.as_str()], vec!["--dataset", dataset]] {
            for cidrs in [None, Some(trusted)] {
                let mut reports: Vec<Vec<&str>> = vec![
                    vec!["query", "SELECT * FROM call_groups"],
                    vec![
                        "query",
                        "SELECT issued_session_name, foreign_ip, depth, calls FROM call_groups",
                    ],
                    vec!["by-instance"],
                    vec!["sessions"],
                ];
                for report in &mut reports {
                    report.extend(&input);
                    if let Some(file) = cidrs {
                        report.extend(["--trusted-cidrs", file]);
                    }
                    let made = answer(report, None);
                    let queried = answer(report, Some(queries));
                    match report[0] {
                        // No ORDER BY: the same rows, in whatever order the join left them.
                        "query" => assert_eq!(lines(&made), lines(&queried), "{report:?}"),
                        _ => assert_eq!(made, queried, "{report:?}"),
                    }
                    if report[1] == "SELECT * FROM call_groups" && cidrs.is_none() {
                        let mut lines = made.lines();
                        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
                        let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
                        let (depth, far) = (at("depth"), at("foreign_ip"));
                        for line in lines {
                            let cells: Vec<&str> = line.split(',').collect();
                            rows += 1;
                            chained += (cells.get(depth) != Some(&"0")) as usize;
                            foreign += (cells.get(far) == Some(&"true")) as usize;
                        }
                    }
                }
            }
        }
    }
    // The fixtures hold chained keys and calls from foreign IPs: the comparison covers both.
    assert!(
        rows > 0 && chained > 0 && foreign > 0,
        "{rows} {chained} {foreign}"
    );
}

/// The rows the shipped reports cannot tell apart are made one (the test above holds their
/// answers to the query's): by-instance names neither the key nor the IP, so it reads fewer
/// rows than there are groups; a query of one's own reads every group.
#[test]
fn only_the_shipped_reports_read_groups_made_one() {
    let merged = |args: &[&str]| -> Option<(usize, usize)> {
        let mut args = args.to_vec();
        args.extend(["fixtures/edge", "-v", "--format", "csv"]);
        let out = run(&args);
        assert!(out.code == 0 || out.code == 3, "{args:?}: {}", out.stderr);
        let line = out.stderr.lines().find(|l| l.contains("call_groups: "))?;
        let numbers: Vec<usize> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        Some((numbers[0], numbers[1]))
    };
    let (groups, rows) = merged(&["by-instance"]).expect("by-instance says what it merged");
    assert!(rows < groups, "{rows} of {groups}");
    assert_eq!(
        merged(&["query", "SELECT SUM(calls) AS n FROM call_groups"]),
        None
    );
}

/// `report` runs by_instance and sessions over one input: each reads a call_groups of its own,
/// merged by the columns it names alone, and writes what the query's rows give.
#[test]
fn a_report_gives_each_report_its_own_groups_and_the_querys_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let queries = run_as_written(tmp.path());
    for fixture in ["findings", "chains", "edge"] {
        let dir = format!("fixtures/{fixture}");
        let written = |name: &str, extra: &[&str]| -> (String, Vec<String>) {
            let out = tmp.path().join(format!("{fixture}-{name}"));
            let mut args = vec![
                "report",
                dir.as_str(),
                "--output-dir",
                out.to_str().unwrap(),
                "--since",
                "2000-01-01",
                "--until",
                "2100-01-01",
                "--formats",
                "csv",
                "-v",
            ];
            args.extend(extra);
            let run = run_with(&args, &[("JANUS_AUDIT_MERGE_SHARE", "100")]);
            assert!(run.code == 0 || run.code == 3, "{args:?}: {}", run.stderr);
            let window = std::fs::read_dir(&out)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            let text = ["by_instance.csv", "sessions.csv", "findings.csv"]
                .iter()
                .map(|f| std::fs::read_to_string(window.join(f)).unwrap())
                .collect();
            let said = run
                .stderr
                .lines()
                .filter(|l| l.contains("call_groups: "))
                .map(str::to_string)
                .collect();
            (text, said)
        };
        let (made, said) = written("made", &[]);
        let (queried, _) = written("queried", &["--queries", queries.to_str().unwrap()]);
        assert_eq!(made, queried, "{fixture}");
        assert_eq!(
            said.len(),
            2,
            "one call_groups each for by_instance and sessions: {said:?}"
        );
    }
}
