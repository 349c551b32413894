//! Over JSON files, a report whose calls outgrow memory's budget keeps them on disk (a private
//! temporary directory under TMPDIR) and reads them back a part at a time: the same answer,
//! byte for byte, as with the calls in memory, and nothing left behind. Debug builds take the
//! budget from `JANUS_AUDIT_SPILL_BYTES`, so that these small trails spill (0: from the first
//! call).

#[path = "support/bin.rs"]
mod bin;

use std::path::Path;

use bin::{Run, files_under, run_with};

const TRAILS: [&str; 10] = [
    "fixtures/chains",
    "fixtures/reuse",
    "fixtures/findings",
    "fixtures/edge",
    "fixtures/damaged",
    "fixtures/exports",
    "fixtures/hostile",
    "fixtures/samples",
    "fixtures/sigma",
    "fixtures/cloudtrail",
];

/// `args` with the calls in memory, and with them kept on disk under `tmp`, `rows` calls a
/// file at most.
fn both(args: &[&str], tmp: &Path, rows: &str) -> (Run, Run) {
    let tmpdir = tmp.to_str().unwrap();
    let held = run_with(args, &[("TMPDIR", tmpdir)]);
    let spilled = run_with(
        args,
        &[
            ("TMPDIR", tmpdir),
            ("JANUS_AUDIT_SPILL_BYTES", "0"),
            ("JANUS_AUDIT_SPILL_ROWS", rows),
        ],
    );
    (held, spilled)
}

/// The run with the calls in memory answered, and the one with them on disk answered alike:
/// the same exit, output and messages.
fn alike(args: &[&str], held: &Run, spilled: &Run) {
    assert!(
        held.code == 0 || held.code == 3,
        "{args:?}: {}",
        held.stderr
    );
    assert_eq!(
        (spilled.code, &spilled.stdout, &spilled.stderr),
        (held.code, &held.stdout, &held.stderr),
        "{args:?}"
    );
}

/// Whether a run with `-v` said it kept the calls on disk.
fn kept_on_disk(run: &Run) -> bool {
    run.stderr.contains("the window's calls were kept in")
        && run.stderr.contains("part(s) kept on disk read as")
}

#[test]
fn reports_over_calls_kept_on_disk_answer_as_with_the_calls_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, trail) in TRAILS.into_iter().enumerate() {
        for report in ["by-instance", "sessions", "findings"] {
            let args = [report, trail, "--format", "csv"];
            // Every other trail in files of 3 calls: reports read across the seams between
            // files, as they do between a dataset's parts.
            let rows = if i % 2 == 0 { "3" } else { "262144" };
            let (held, spilled) = both(&args, tmp.path(), rows);
            alike(&args, &held, &spilled);
            let told = run_with(
                &[report, trail, "--format", "csv", "-v"],
                &[
                    ("TMPDIR", tmp.path().to_str().unwrap()),
                    ("JANUS_AUDIT_SPILL_BYTES", "0"),
                ],
            );
            assert!(
                kept_on_disk(&told),
                "{report} over {trail}: {}",
                told.stderr
            );
            assert_eq!(told.stdout, held.stdout, "{report} over {trail} with -v");
        }
    }
    // The default budget holds these trails in memory: nothing is written.
    let held = run_with(&["by-instance", "fixtures/findings", "-v"], &[]);
    assert!(!held.stderr.contains("kept on disk"), "{}", held.stderr);
    assert!(
        files_under(tmp.path()).is_empty(),
        "left behind: {:?}",
        files_under(tmp.path())
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

/// A report's first read of a dataset resolves every eventID of the window's dates: past the
/// budget they go to buckets on disk (3 GB in memory over 30M events before), with the same
/// answer, and the directory is removed.
#[test]
fn a_datasets_event_ids_kept_on_disk_resolve_as_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let tmpdir = scratch.to_str().unwrap();
    // Trails with repeated eventIDs (with the same content, and with another).
    for trail in ["fixtures/cloudtrail", "fixtures/edge", "fixtures/exports"] {
        let ds = tmp.path().join(trail.replace('/', "-"));
        let ds = ds.to_str().unwrap();
        let ingest = run_with(&["ingest", trail, "--dataset", ds], &[]);
        // 3: a file partly read (fixtures/edge), kept.
        assert!(ingest.code == 0 || ingest.code == 3, "{}", ingest.stderr);
        let cache = Path::new(ds).join("_janus").join("cache");
        for report in ["by-instance", "sessions", "findings"] {
            let args = [report, "--dataset", ds, "--format", "csv", "-v"];
            let _ = std::fs::remove_dir_all(&cache);
            let held = run_with(&args, &[("TMPDIR", tmpdir)]);
            let _ = std::fs::remove_dir_all(&cache);
            let spilled = run_with(
                &args,
                &[("TMPDIR", tmpdir), ("JANUS_AUDIT_SPILL_BYTES", "0")],
            );
            let on_disk = |r: &Run| r.stderr.contains("event IDs kept on disk");
            assert!(!on_disk(&held), "{}", held.stderr);
            assert!(
                on_disk(&spilled),
                "{report} over {trail}: {}",
                spilled.stderr
            );
            assert_eq!(spilled.code, held.code, "{}", spilled.stderr);
            assert_eq!(spilled.stdout, held.stdout, "{report} over {trail}");
            let summary = |r: &Run| r.stderr.lines().last().map(str::to_string);
            assert_eq!(summary(&spilled), summary(&held), "{report} over {trail}");
            assert!(
                held.stderr.contains("duplicate(s) dropped"),
                "{}",
                held.stderr
            );
        }
    }
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}

/// `report` writes the same window files (its manifest differs only in when and where).
#[test]
fn a_report_window_from_calls_kept_on_disk_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("held"), tmp.path().join("spilled"));
    let scratch = tmp.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let mut told = Vec::new();
    for (out, budget) in [(&one, None), (&two, Some("0"))] {
        let mut vars = vec![("TMPDIR", scratch.to_str().unwrap())];
        vars.extend(budget.map(|b| ("JANUS_AUDIT_SPILL_BYTES", b)));
        let args = [
            "report",
            "--output-dir",
            out.to_str().unwrap(),
            "fixtures/findings",
            "--since",
            "2026-10-08",
            "--until",
            "2026-10-09",
            "-v",
        ];
        let r = run_with(&args, &vars);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(kept_on_disk(&r), budget.is_some(), "{}", r.stderr);
        // Kept on disk, the calls are read twice: the findings' rows, then the groups alone,
        // so that the two are never held while every call is decoded.
        assert_eq!(
            r.stderr.contains("; the groups read again"),
            budget.is_some(),
            "{}",
            r.stderr
        );
        told.push(notices(&r.stderr));
    }
    // Read twice, the calls are matched and counted once: the same notices either way.
    assert_eq!(told[0], told[1]);
    let day = "2026-10-08T00-00Z_2026-10-09T00-00Z";
    let mut files: Vec<_> = std::fs::read_dir(one.join(day))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "manifest.json")
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for f in files {
        assert_eq!(
            std::fs::read(one.join(day).join(&f)).unwrap(),
            std::fs::read(two.join(day).join(&f)).unwrap(),
            "{f:?}"
        );
    }
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}

/// What a run told of its input and answers: its lines less the log's (`-v`) and the one that
/// names the directory it wrote.
fn notices(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| !l.starts_with(" INFO") && !l.starts_with("DEBUG") && !l.contains("wrote"))
        .map(str::to_string)
        .collect()
}

/// A temporary directory that cannot be written is named, with what to do, and the run fails
/// (exit 1) rather than answering without the calls.
#[test]
fn calls_that_cannot_be_kept_on_disk_are_an_error_that_names_where() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir");
    let r = run_with(
        &["by-instance", "fixtures/findings", "--format", "csv"],
        &[
            ("TMPDIR", missing.to_str().unwrap()),
            ("JANUS_AUDIT_SPILL_BYTES", "0"),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("cannot keep the window's calls in a temporary directory under")
            && r.stderr.contains("no-such-dir")
            && r.stderr.contains("TMPDIR"),
        "{}",
        r.stderr
    );
}

/// A trail big enough that a debug build is still reading it well after its first batch:
/// `files` files of 200 calls each, with distinct event IDs.
fn big_trail(dir: &Path, files: usize) {
    for f in 0..files {
        let records: Vec<String> = (0..200)
            .map(|r| {
                format!(
                    r#"{{"eventVersion":"1.08","eventTime":"2026-10-08T01:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","eventID":"{:08x}-0000-4000-8000-{:012x}","userIdentity":{{"type":"AssumedRole","accessKeyId":"ASIAEXAMPLE{:09}","arn":"arn:aws:sts::111122223333:assumed-role/app/proj.vm-{}"}}}}"#,
                    f % 60,
                    r % 60,
                    f,
                    r,
                    f,
                    f % 50
                )
            })
            .collect();
        let body = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        std::fs::write(dir.join(format!("f{f:05}.json")), body).unwrap();
    }
}

/// `by-instance` over `trail` with every call kept on disk under `tmp`, once its spill directory
/// is there (the report is then still reading the trail).
fn spilling(trail: &Path, tmp: &Path, env: &[(&str, &str)]) -> std::process::Child {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(["by-instance", trail.to_str().unwrap()])
        .env("TMPDIR", tmp)
        .env("JANUS_AUDIT_SPILL_BYTES", "0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_dir(tmp).unwrap().count() == 0 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the report ended before it kept anything on disk"
        );
        assert!(started.elapsed().as_secs() < 60, "nothing kept on disk");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child
}

/// Ctrl-C (exit 130) or SIGTERM (exit 143) while a report has calls on disk removes them before
/// the process ends: nothing of an interrupted run is left under TMPDIR. The report, which
/// fails to write its next calls once they are being removed, neither ends the process first
/// (exit 1) nor says so: shown by holding the removal open for 1.5 s (a debug knob).
#[test]
fn an_interrupted_report_leaves_no_calls_on_disk() {
    let trail = tempfile::tempdir().unwrap();
    big_trail(trail.path(), 1_500);
    for (signal, code, pause) in [
        ("-INT", 130, "0"),
        ("-TERM", 143, "0"),
        ("-INT", 130, "1500"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let child = spilling(
            trail.path(),
            tmp.path(),
            &[("JANUS_AUDIT_REMOVAL_PAUSE_MS", pause)],
        );
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{signal}: {stderr}");
        assert!(!stderr.contains("error"), "{signal}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{signal} left {left:?}");
    }
}

/// Calls on disk that vanish mid-run (a cleaner sweeping TMPDIR) end the report with the
/// directory named and exit 1, never an answer without them.
#[test]
fn calls_lost_from_disk_mid_run_are_an_error_that_names_where() {
    let trail = tempfile::tempdir().unwrap();
    big_trail(trail.path(), 1_500);
    let tmp = tempfile::tempdir().unwrap();
    let child = spilling(trail.path(), tmp.path(), &[]);
    let spill = std::fs::read_dir(tmp.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // Moved aside first, as the writer may still be adding files to it.
    let swept = tempfile::tempdir().unwrap();
    std::fs::rename(&spill, swept.path().join("gone")).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot keep the window's calls in a temporary directory under")
            && stderr.contains(spill.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left {left:?}");
}

/// A timeline over JSON whose calls are kept on disk reads back only the calls its entity's
/// timeline can show, as over a dataset: the same rows as with every call in memory.
#[test]
fn a_timeline_over_calls_kept_on_disk_answers_as_with_the_calls_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let mut shown = 0;
    for trail in [
        "fixtures/findings",
        "fixtures/chains",
        "fixtures/cloudtrail",
    ] {
        let instances = run_with(&["by-instance", trail, "--format", "csv"], &[]);
        let rows: Vec<Vec<String>> = instances
            .stdout
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        // A key of a session, and one whose issuing event is not in the input (its calls are
        // shown as unattributed).
        let first = |sql: &str| {
            let out = run_with(&["query", sql, trail, "--format", "csv"], &[]).stdout;
            out.lines().nth(1).unwrap_or("ASIANONE").to_string()
        };
        let key = first("SELECT access_key_id FROM key_lineage ORDER BY access_key_id LIMIT 1");
        let orphan = first(
            "SELECT access_key_id FROM orphan_calls WHERE access_key_id IS NOT NULL \
             ORDER BY access_key_id LIMIT 1",
        );
        for row in rows.iter().take(3) {
            let (instance, session) = (&row[1], &row[2]);
            for entity in [
                ["--instance", instance.as_str()],
                ["--session-name", session.as_str()],
                ["--access-key", key.as_str()],
                ["--access-key", orphan.as_str()],
            ] {
                let mut args = vec!["timeline", trail, "--format", "csv"];
                args.extend(entity);
                let (held, spilled) = both(&args, tmp.path(), "3");
                alike(&args, &held, &spilled);
                shown += held.stdout.lines().count().saturating_sub(1);
                args.push("-v");
                let told = run_with(
                    &args,
                    &[
                        ("TMPDIR", tmp.path().to_str().unwrap()),
                        ("JANUS_AUDIT_SPILL_BYTES", "0"),
                    ],
                );
                assert!(
                    told.stderr.contains("the window's calls were kept in"),
                    "{args:?}: {}",
                    told.stderr
                );
            }
        }
    }
    assert!(shown > 0, "the timelines showed no row");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
