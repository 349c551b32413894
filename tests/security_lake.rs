//! Amazon Security Lake as a source: fixtures/security_lake/lake is fixtures/findings converted by
//! AWS's CloudTrail-to-OCSF mapping (fixtures/security_lake/SOURCES.md); every report over it
//! must be the one over the CloudTrail JSON, byte for byte. A Parquet file that is not OCSF is
//! named and skipped.

#[path = "support/bin.rs"]
mod bin;

fn csv(args: &[&str]) -> String {
    let run = bin::run(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.stdout
}

#[test]
fn every_report_is_the_same_from_security_lake_as_from_cloudtrail() {
    for report in [
        &["by-instance"][..],
        &["sessions"],
        &["findings"],
        &["timeline", "--instance", "web-4"],
        &["timeline", "--instance", "api-1"],
        &["sigma", "shipped"],
        // Every column but the input file's number, which the layouts number differently.
        &[
            "query",
            "SELECT * EXCLUDE (file_id) FROM calls ORDER BY event_id",
        ],
    ] {
        let run = |trail: &str| {
            let mut args = report.to_vec();
            args.extend([trail, "--format", "csv", "-q"]);
            csv(&args)
        };
        let (json, lake) = (run("fixtures/findings"), run("fixtures/security_lake/lake"));
        assert!(json.lines().count() > 1, "{report:?} found nothing");
        assert_eq!(json, lake, "{report:?}");
    }
}

#[test]
fn a_parquet_file_that_is_not_ocsf_is_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    csv(&[
        "ingest",
        "fixtures/cloudtrail",
        "--dataset",
        ds.to_str().unwrap(),
        "-q",
    ]);
    let parquet = bin::files_under(&ds)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let run = bin::run(&[
        "by-instance",
        parquet.to_str().unwrap(),
        "fixtures/security_lake/lake",
        "--format",
        "csv",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("Parquet without OCSF's `class_uid`"),
        "{}",
        run.stderr
    );
    // The Security Lake files beside it are still read.
    assert!(run.stdout.lines().count() > 1);
}

#[test]
fn files_of_event_days_outside_the_window_are_not_opened() {
    let run = bin::run(&[
        "by-instance",
        "fixtures/security_lake/lake",
        "--since",
        "2026-10-20",
        "--format",
        "csv",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("15 file(s) outside the window not opened"),
        "{}",
        run.stderr
    );
    // A day's margin: the window's day and the day before are read.
    let near = bin::run(&[
        "by-instance",
        "fixtures/security_lake/lake",
        "--since",
        "2026-10-09",
        "--format",
        "csv",
    ]);
    assert!(near.stderr.contains("read 15 file(s)"), "{}", near.stderr);
}
