//! Sigma rules over a dataset: `ingest --sigma` keeps the matches, and `sigma --dataset` and
//! `findings --sigma --dataset` answer exactly as over the log files, but only for rules every
//! batch of the window was ingested with.

#[path = "support/bin.rs"]
mod bin;

use std::path::Path;

const TRAIL: &str = "fixtures/sigma/trail";
const RULES: &str = "fixtures/sigma/rules";

fn ok(args: &[&str]) -> String {
    let run = bin::run(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.stdout
}

fn ingest(from: &str, dataset: &Path, extra: &[&str]) -> bin::Run {
    let mut args = vec!["ingest", from, "--dataset", dataset.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    bin::run(&args)
}

/// The trail's files under a new folder, `which` of them (by name order).
fn some_files(which: std::ops::Range<usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut files = bin::files_under(Path::new(TRAIL));
    files.sort();
    for f in &files[which] {
        let to = dir.path().join(f.strip_prefix(TRAIL).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, to).unwrap();
    }
    dir
}

#[test]
fn the_dataset_answers_as_the_files_do() {
    let ds = tempfile::tempdir().unwrap();
    let d = ds.path().to_str().unwrap();
    // A file a batch: the pretty-printed copy of StopLogging is in another batch than the
    // first, and one copy survives across batches as across files.
    let run = ingest(TRAIL, ds.path(), &["--sigma", "--batch-files", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(ds.path().join("sigma_rules").is_dir());
    let run = ingest(TRAIL, ds.path(), &[&format!("--sigma={RULES}")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for window in [
        &[][..],
        &["--since", "2026-10-10T11:00:00Z"][..],
        &[
            "--since",
            "2026-10-10T10:30:00Z",
            "--until",
            "2026-10-10T12:00:00Z",
        ][..],
    ] {
        let files = |cmd: &[&str]| ok(&[cmd, &[TRAIL, "-q"], window].concat());
        let dataset = |cmd: &[&str]| ok(&[cmd, &["--dataset", d, "-q"], window].concat());
        let hits = ["sigma", "shipped", "--format", "csv"];
        let want = files(&hits);
        assert!(want.lines().count() > 1 || !window.is_empty(), "{want}");
        assert_eq!(dataset(&hits), want, "{window:?}");
        let findings = ["findings", "--sigma", "--format", "json"];
        assert_eq!(dataset(&findings), files(&findings), "{window:?}");
        let ocsf = ["findings", "--sigma", "--format", "ocsf"];
        assert_eq!(dataset(&ocsf), files(&ocsf), "{window:?}");
    }
    // Other engines are told of both tables; the rules one part per batch, unpartitioned.
    let ddl = ok(&["dataset", "ddl", "--dataset", d, "--engine", "spark"]);
    let rules = ddl
        .split(";\n\n")
        .find(|s| s.contains("janus_sigma_rules ("))
        .unwrap();
    assert!(!rules.contains("PARTITIONED"), "{rules}");
    assert!(
        ddl.contains("janus_sigma_matches")
            && ddl.contains("MSCK REPAIR TABLE janus_sigma_matches")
    );
    assert!(
        !ddl.contains("MSCK REPAIR TABLE janus_sigma_rules"),
        "{ddl}"
    );
    // Only the first ingest evaluated the shipped rules, and only the second the fixture
    // rules; the second read no new file, so no batch was evaluated with the fixture rules.
    let run = bin::run(&["sigma", RULES, "--dataset", d, "--format", "csv"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("were not ingested with this rule"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
}

#[test]
fn a_rule_is_answered_only_where_every_batch_was_ingested_with_it() {
    let ds = tempfile::tempdir().unwrap();
    let d = ds.path().to_str().unwrap();
    // The first file without rules (batch 0), then the trail with them: its two other files
    // and that first one again under its own path (batch 1).
    let first = some_files(0..1);
    assert_eq!(
        ingest(first.path().to_str().unwrap(), ds.path(), &[]).code,
        0
    );
    let run = ingest(TRAIL, ds.path(), &[&format!("--sigma={RULES}")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut want_rules = std::fs::read_dir(RULES).unwrap().count();
    // Over all of it: not one rule can be answered.
    let run = bin::run(&["sigma", RULES, "--dataset", d, "--format", "csv"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("1 of the 2 dataset batch(es)"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("skipped Sigma rule").count(), want_rules);
    // After the first file's events: every rule, with the files' answer.
    let later = ["--since", "2026-10-10T11:00:00Z", "--format", "csv", "-q"];
    let over_files = ok(&[&["sigma", RULES, TRAIL][..], &later].concat());
    let over_dataset = ok(&[&["sigma", RULES, "--dataset", d][..], &later].concat());
    assert_eq!(over_dataset, over_files);
    assert!(over_files.lines().count() > 1, "{over_files}");
    // A rule of the same id with another detection is not the rule that was evaluated.
    let changed = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(RULES).unwrap() {
        let p = e.unwrap().path();
        let mut text = std::fs::read_to_string(&p).unwrap();
        if p.ends_with("regex_insensitive.yml") {
            text = text.replace(
                "    condition: selection",
                "    extra:\n        eventName: Nothing\n    condition: selection or extra",
            );
        }
        std::fs::write(changed.path().join(p.file_name().unwrap()), text).unwrap();
    }
    want_rules -= 1;
    let run = bin::run(
        &[
            &["sigma", changed.path().to_str().unwrap(), "--dataset", d][..],
            &later[..4],
        ]
        .concat(),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("skipped Sigma rule").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("{want_rules} Sigma rule(s) answered")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stray_rules_part_of_an_uncommitted_batch_is_removed_not_believed() {
    let ds = tempfile::tempdir().unwrap();
    let d = ds.path().to_str().unwrap();
    assert_eq!(ingest(TRAIL, ds.path(), &[]).code, 0);
    // What a killed `ingest --sigma` of batch 1 leaves: its rules part, never committed.
    let other = tempfile::tempdir().unwrap();
    assert_eq!(ingest(TRAIL, other.path(), &["--sigma"]).code, 0);
    std::fs::create_dir_all(ds.path().join("sigma_rules")).unwrap();
    std::fs::copy(
        other.path().join("sigma_rules/part-00000000.parquet"),
        ds.path().join("sigma_rules/part-00000001.parquet"),
    )
    .unwrap();
    // The next ingest (a file not seen before) removes it and writes batch 1 without rules.
    let more = tempfile::tempdir().unwrap();
    let copy = more.path().join("extra.json");
    std::fs::write(
        &copy,
        r#"{"Records":[{"eventVersion":"1.08","eventTime":"2026-10-10T13:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"00000000-0000-4000-8000-0000000000ee","userIdentity":{"type":"IAMUser"},"awsRegion":"us-east-1"}]}"#,
    )
    .unwrap();
    let run = ingest(more.path().to_str().unwrap(), ds.path(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.is_empty() || run.stderr.contains("removed"),
        "{}",
        run.stderr
    );
    assert!(!ds.path().join("sigma_rules/part-00000001.parquet").exists());
    let run = bin::run(&["sigma", "shipped", "--dataset", d, "--format", "csv"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 of the 2 dataset batch(es)"),
        "{}",
        run.stderr
    );
}

/// The one window directory `report` wrote under `dir`.
fn window_dir(dir: &Path) -> std::path::PathBuf {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

#[test]
fn the_scheduled_report_carries_the_sigma_findings_from_files_and_from_a_dataset() {
    let window = ["--since", "2026-10-10", "--until", "2026-10-11"];
    let want = ok(&[
        &["findings", TRAIL, "--sigma", "--format", "csv", "-q"][..],
        &window,
    ]
    .concat());
    assert!(want.contains("\nsigma,"), "{want}");
    let ds = tempfile::tempdir().unwrap();
    assert_eq!(ingest(TRAIL, ds.path(), &["--sigma"]).code, 0);
    for input in [&[TRAIL][..], &["--dataset", ds.path().to_str().unwrap()]] {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_str().unwrap();
        let args = [
            &["report"][..],
            input,
            &[
                "--output-dir",
                dir,
                "--formats",
                "csv,ocsf",
                "--sigma",
                "-q",
            ],
            &window,
        ];
        ok(&args.concat());
        let w = window_dir(out.path());
        assert_eq!(
            std::fs::read_to_string(w.join("findings.csv")).unwrap(),
            want,
            "{input:?}"
        );
        let ocsf = std::fs::read_to_string(w.join("findings.ocsf.jsonl")).unwrap();
        assert!(ocsf.contains("Sigma rule"), "{input:?}");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(w.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["complete"], true);
        assert_eq!(manifest["parameters"]["sigma"]["complete"], true);
        assert!(
            manifest["parameters"]["sigma"]["evaluated"]
                .as_u64()
                .unwrap()
                >= 50
        );
    }
    // A rule that cannot be evaluated leaves the window incomplete: exit 3, and said so.
    let out = tempfile::tempdir().unwrap();
    let run = bin::run(
        &[
            &[
                "report",
                TRAIL,
                "--output-dir",
                out.path().to_str().unwrap(),
            ][..],
            &["--sigma=fixtures/sigma/unsupported", "--formats", "csv"],
            &window,
        ]
        .concat(),
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(window_dir(out.path()).join("manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["complete"], false);
    assert!(
        !manifest["parameters"]["sigma"]["skipped"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
