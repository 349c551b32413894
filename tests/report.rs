//! `janus-audit report`: the window directory, its manifest, atomicity, byte-identical reruns and
//! catch-up with `--state`, all through the real binary over fixtures/findings (2026-10-08).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const FINDINGS: &str = "fixtures/findings";
const DAY: &str = "2026-10-08T00-00Z_2026-10-09T00-00Z";
const DATA_FILES: [&str; 6] = [
    "by_instance.csv",
    "by_instance.parquet",
    "findings.csv",
    "findings.parquet",
    "sessions.csv",
    "sessions.parquet",
];

struct Run {
    code: i32,
    stderr: String,
}

fn report(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::cargo_bin("janus-audit").unwrap();
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("JANUS_AUDIT_QUERIES")
        .env_remove("JANUS_AUDIT_FAILPOINT")
        .args(["report", "--output-dir", out.to_str().unwrap(), FINDINGS])
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn one_day(out: &Path) -> Run {
    report(
        out,
        &["--since", "2026-10-08", "--until", "2026-10-09"],
        &[],
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// `sha256sum`, an implementation independent of the one under test.
fn sha256sum(path: &Path) -> String {
    let o = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap()[..64].to_string()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn window_directory_layout_and_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let r = one_day(tmp.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Nothing but the window directory: no temporary leftovers.
    assert_eq!(names(tmp.path()), [DAY]);
    let win = tmp.path().join(DAY);
    let mut expected: Vec<&str> = DATA_FILES.to_vec();
    expected.push("manifest.json");
    expected.sort();
    assert_eq!(names(&win), expected);
    // No progress bar when stderr is not a terminal: every line is a message.
    assert!(
        r.stderr.lines().all(|l| l.starts_with("janus-audit: ")),
        "{}",
        r.stderr
    );

    let m = manifest(&win);
    assert_eq!(m["tool"]["name"], "janus-audit");
    assert_eq!(m["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["window"]["since"], "2026-10-08T00:00:00Z");
    assert_eq!(m["window"]["until"], "2026-10-09T00:00:00Z");
    assert_eq!(m["complete"], true);
    assert_eq!(m["parameters"]["thresholds"]["recon_min_distinct"], 8);
    assert_eq!(
        m["parameters"]["formats"],
        serde_json::json!(["csv", "parquet"])
    );
    // Every input, with its size and a SHA-256 that sha256sum agrees with.
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 9);
    for i in inputs {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(i["path"].as_str().unwrap());
        assert_eq!(i["sha256"].as_str().unwrap(), sha256sum(&path), "{i}");
        assert_eq!(i["bytes"], std::fs::metadata(&path).unwrap().len());
        assert_eq!(i["status"], "read");
    }
    assert_eq!(
        inputs
            .iter()
            .map(|i| i["records"].as_u64().unwrap())
            .sum::<u64>(),
        68
    );
    assert_eq!(m["skipped"], serde_json::json!([]));
    assert_eq!(m["counts"]["records"], 68);
    assert_eq!(m["counts"]["rows"]["findings"], 6);
    // api-1, worker-7, batch-2, web-4 (old-9's key has no assumption in the input).
    assert_eq!(m["counts"]["rows"]["by_instance"], 4);
    // Every output, with the SHA-256 of its bytes on disk.
    let outputs = m["outputs"].as_array().unwrap();
    let mut listed: Vec<&str> = outputs
        .iter()
        .map(|o| o["file"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, DATA_FILES);
    for o in outputs {
        let path = win.join(o["file"].as_str().unwrap());
        assert_eq!(o["sha256"].as_str().unwrap(), sha256sum(&path));
        assert_eq!(o["bytes"], std::fs::metadata(&path).unwrap().len());
    }
    // The CSV is the findings report, six planted kinds.
    let csv = std::fs::read_to_string(win.join("findings.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    assert!(csv.starts_with("kind,severity,access_key_id,session_name,project,instance,sub,source_ip,first_seen,last_seen,events,detail\n"));
}

#[test]
fn parquet_reads_back_with_polars_and_matches_the_csv() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(one_day(tmp.path()).code, 0);
    let win = tmp.path().join(DAY);
    for (name, time_col) in [
        ("by_instance", "first_seen"),
        ("sessions", "issued_at"),
        ("findings", "first_seen"),
    ] {
        let pq =
            ParquetReader::new(std::fs::File::open(win.join(format!("{name}.parquet"))).unwrap())
                .finish()
                .unwrap();
        let csv = std::fs::read_to_string(win.join(format!("{name}.csv"))).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        assert_eq!(
            pq.get_column_names()
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>(),
            header,
            "{name}"
        );
        assert_eq!(pq.height(), csv.lines().count() - 1, "{name}");
        assert!(
            matches!(
                pq.column(time_col).unwrap().dtype(),
                DataType::Datetime(_, _)
            ),
            "{name}"
        );
    }
}

#[test]
fn rerun_gives_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(one_day(tmp.path()).code, 0);
    let win = tmp.path().join(DAY);
    let first: Vec<Vec<u8>> = DATA_FILES
        .iter()
        .map(|f| std::fs::read(win.join(f)).unwrap())
        .collect();
    let m1 = manifest(&win);
    assert_eq!(one_day(tmp.path()).code, 0);
    for (f, before) in DATA_FILES.iter().zip(&first) {
        assert_eq!(&std::fs::read(win.join(f)).unwrap(), before, "{f} changed");
    }
    let m2 = manifest(&win);
    assert_eq!(m1["outputs"], m2["outputs"]);
    assert_eq!(m1["inputs"], m2["inputs"]);
    assert_eq!(names(tmp.path()), [DAY]);
}

#[test]
fn an_interrupted_write_leaves_no_window_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let r = report(
        tmp.path(),
        &["--since", "2026-10-08", "--until", "2026-10-09"],
        &[("JANUS_AUDIT_FAILPOINT", "write:sessions.csv")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("simulated failure"), "{}", r.stderr);
    // No window directory, and no half-written temporary one either.
    assert_eq!(names(tmp.path()), Vec::<String>::new());

    // Over an existing complete window, a failed rerun keeps the old one intact.
    assert_eq!(one_day(tmp.path()).code, 0);
    let before = std::fs::read(tmp.path().join(DAY).join("findings.parquet")).unwrap();
    let r = report(
        tmp.path(),
        &["--since", "2026-10-08", "--until", "2026-10-09"],
        &[("JANUS_AUDIT_FAILPOINT", "write:by_instance.parquet")],
    );
    assert_eq!(r.code, 1);
    assert_eq!(names(tmp.path()), [DAY]);
    assert_eq!(
        std::fs::read(tmp.path().join(DAY).join("findings.parquet")).unwrap(),
        before
    );
    assert_eq!(names(&tmp.path().join(DAY)).len(), 7);
}

#[test]
fn state_catches_up_missed_windows_and_then_owes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("reports");
    let state = tmp.path().join("state.json");
    std::fs::write(
        &state,
        r#"{"last_completed_until": "2026-10-06T00:00:00Z", "window_seconds": 86400}"#,
    )
    .unwrap();
    let s = state.to_str().unwrap();
    // Two nights missed: at 02:00 on 10-09 the 10-06, 10-07 and 10-08 windows are owed.
    let r = report(
        &out,
        &["--state", s, "--as-of", "2026-10-09T02:00:00Z"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        names(&out),
        [
            "2026-10-06T00-00Z_2026-10-07T00-00Z",
            "2026-10-07T00-00Z_2026-10-08T00-00Z",
            DAY
        ]
    );
    let st: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(st["last_completed_until"], "2026-10-09T00:00:00Z");
    // The empty days are reported as empty, the planted day in full.
    assert_eq!(
        manifest(&out.join("2026-10-07T00-00Z_2026-10-08T00-00Z"))["counts"]["rows"]["findings"],
        0
    );
    assert_eq!(manifest(&out.join(DAY))["counts"]["rows"]["findings"], 6);
    // Same night again: nothing owed, nothing rewritten.
    let mtime = std::fs::metadata(out.join(DAY).join("manifest.json"))
        .unwrap()
        .modified()
        .unwrap();
    let r = report(
        &out,
        &["--state", s, "--as-of", "2026-10-09T05:00:00Z"],
        &[],
    );
    assert_eq!(r.code, 0);
    assert!(r.stderr.contains("nothing owed"), "{}", r.stderr);
    assert_eq!(names(&out).len(), 3);
    assert_eq!(
        std::fs::metadata(out.join(DAY).join("manifest.json"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    // Before the settle time a just-ended window is not yet owed.
    let r = report(
        &out,
        &["--state", s, "--as-of", "2026-10-10T00:30:00Z"],
        &[],
    );
    assert!(r.stderr.contains("nothing owed"), "{}", r.stderr);
    // A fresh state file: only the latest whole window.
    let fresh = tmp.path().join("fresh.json");
    let out2 = tmp.path().join("fresh");
    let r = report(
        &out2,
        &[
            "--state",
            fresh.to_str().unwrap(),
            "--as-of",
            "2026-10-09T01:00:00Z",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(names(&out2), [DAY]);
}

#[test]
fn report_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let s = tmp.path().join("s.json");
    for args in [
        vec!["--since", "2026-10-08"],
        vec!["--window", "soon"],
        vec!["--formats", "table"],
        vec![
            "--state",
            s.to_str().unwrap(),
            "--since",
            "2026-10-08",
            "--until",
            "2026-10-09",
        ],
        vec!["--since", "2026-10-09", "--until", "2026-10-08"],
    ] {
        let r = report(tmp.path(), &args, &[]);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
    std::fs::write(&s, "not json").unwrap();
    let r = report(tmp.path(), &["--state", s.to_str().unwrap()], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("not a janus-audit state file"),
        "{}",
        r.stderr
    );
}

/// A kill between the two renames of a replacement (the fallback where the file system cannot
/// exchange directories) leaves the old window aside; the next run restores it before anything
/// else, even when that run fails, and clears what killed runs left half-written.
#[test]
fn a_killed_rerun_loses_no_window() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(one_day(tmp.path()).code, 0);
    let before = std::fs::read(tmp.path().join(DAY).join("manifest.json")).unwrap();
    let r = report(
        tmp.path(),
        &["--since", "2026-10-08", "--until", "2026-10-09"],
        &[
            ("JANUS_AUDIT_NO_EXCHANGE", "1"),
            ("JANUS_AUDIT_FAILPOINT", "kill:publish"),
        ],
    );
    assert_eq!(r.code, 137, "{}", r.stderr);
    // The kill came between the renames: no window under its name, the old copy aside, and the
    // new one in its temporary directory.
    assert!(!tmp.path().join(DAY).exists());
    assert_eq!(names(tmp.path()).len(), 2, "{:?}", names(tmp.path()));
    // A half-written directory from another killed run, for good measure.
    std::fs::create_dir(tmp.path().join(format!(".janus-audit-{DAY}-zz9zz9"))).unwrap();
    let r = report(
        tmp.path(),
        &["--since", "2026-10-08", "--until", "2026-10-09"],
        &[("JANUS_AUDIT_FAILPOINT", "write:sessions.csv")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("restored window"), "{}", r.stderr);
    assert_eq!(names(tmp.path()), [DAY]);
    assert_eq!(
        std::fs::read(tmp.path().join(DAY).join("manifest.json")).unwrap(),
        before
    );
    // And a clean rerun replaces it in one exchange, leaving nothing else.
    assert_eq!(one_day(tmp.path()).code, 0);
    assert_eq!(names(tmp.path()), [DAY]);
}

/// Every file a report writes is the owner's only, like --output files.
#[test]
fn window_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(one_day(tmp.path()).code, 0);
    let win = tmp.path().join(DAY);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&win), 0o700);
    for f in names(&win) {
        assert_eq!(mode(&win.join(&f)), 0o600, "{f}");
    }
}
