//! `--format html` and `report --formats html`, through the real binary: the window page is in
//! the manifest like every output, its counts are the CSVs', and nothing an attacker wrote in a
//! log (fixtures/hostile) becomes markup. tests/browser/check_pages.py loads the same pages in
//! Chromium.

#[path = "support/bin.rs"]
mod bin;

use std::path::Path;

use bin::run;

const HOSTILE: &str = "fixtures/hostile";
const HOSTILE_SESSION: &str =
    r#"evil-proj.<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;
const HOSTILE_UA: &str = r#""><img src=x onerror=alert(3)><script>alert(4)</script>"#;

fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The tags of a page: no value from a log may open one.
fn tags(page: &str) -> Vec<&str> {
    page.split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""))
        .collect()
}

fn assert_inert(page: &str, what: &str) {
    let tags = tags(page);
    let scripts = tags.iter().filter(|t| t.starts_with("script")).count();
    assert_eq!(scripts, 1, "{what}: only the page's own script");
    assert!(
        !tags
            .iter()
            .any(|t| t.starts_with("img") || t.contains("onerror")),
        "{what}: a tag from the log"
    );
    assert!(
        page.contains(&escaped("<script>alert(1)</script>")),
        "{what}: the session name is shown, as text"
    );
}

fn csv_rows(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    csv_records(&text) - 1
}

/// Records in CSV text (quoted fields may hold newlines).
fn csv_records(text: &str) -> usize {
    let mut quoted = false;
    let mut n = 0;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => n += 1,
            _ => {}
        }
    }
    n
}

/// The number in `<span id="ID">N</span>`.
fn count(page: &str, id: &str) -> usize {
    let open = format!(r#"<span id="{id}">"#);
    let at = page.find(&open).unwrap_or_else(|| panic!("no #{id}")) + open.len();
    page[at..].split('<').next().unwrap().parse().unwrap()
}

fn window_report(trail: &str, since: &str, until: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let r = run(&[
        "report",
        "--output-dir",
        out.path().to_str().unwrap(),
        trail,
        "--since",
        since,
        "--until",
        until,
        "--formats",
        "csv,html",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    (out, dir)
}

#[test]
fn the_window_page_is_an_output_like_the_others_and_counts_what_the_csvs_hold() {
    let (_out, dir) = window_report(
        "fixtures/findings",
        "2026-10-08T00:00:00Z",
        "2026-10-09T00:00:00Z",
    );
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let findings = csv_rows(&dir.join("findings.csv"));
    let instances = csv_rows(&dir.join("by_instance.csv"));
    assert_eq!(findings, 6, "fixtures/README.md: six findings that day");
    assert_eq!(count(&page, "findings-count"), findings);
    assert_eq!(count(&page, "instance-count"), instances);
    assert_eq!(
        page.matches(r#"<div class="finding sev-"#).count(),
        findings
    );
    // Most severe first.
    let first_medium = page.find("finding sev-medium").unwrap();
    assert!(page.rfind("finding sev-high").unwrap() < first_medium);
    // One section per instance, each linked from its row and its findings.
    for n in 0..instances {
        assert!(page.contains(&format!(r#"<details class="instance" id="i-{n}">"#)));
        assert!(page.contains(&format!(r##"href="#i-{n}""##)));
    }
    // The chart marks the foreign-IP call and the failures.
    assert!(page.contains(r#"class="fx""#) && page.contains(r#"class="er""#));
    // The manifest lists it with its SHA-256, like every output.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let listed = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["file"] == "index.html")
        .expect("index.html in the manifest");
    let bytes = std::fs::read(dir.join("index.html")).unwrap();
    use sha2::Digest;
    assert_eq!(listed["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
    assert_eq!(listed["bytes"], bytes.len() as u64);
    // No request can leave the page: nothing refers outside it, and the policy forbids it. (Text
    // may name URLs: an S3 object is shown as `s3://bucket/key`.)
    assert!(
        page.contains("s3://"),
        "the timeline shows what calls touched"
    );
    assert!(!page.contains("src=") && !page.contains("url(") && !page.contains("@import"));
    let links: Vec<&str> = page.split("href=\"").skip(1).collect();
    assert!(!links.is_empty());
    assert!(
        links.iter().all(|l| l.starts_with('#')),
        "only links within the page"
    );
    assert!(page.contains("default-src 'none'"));
}

#[test]
fn nothing_from_a_hostile_log_becomes_markup() {
    let (_out, dir) = window_report(HOSTILE, "2026-10-10T00:00:00Z", "2026-10-11T00:00:00Z");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_inert(&page, "report");
    assert_eq!(count(&page, "findings-count"), 1);
    assert!(page.contains(&escaped(HOSTILE_SESSION)));
    for cmd in [
        &["by-instance", HOSTILE][..],
        &["sessions", HOSTILE],
        &["findings", HOSTILE],
        &["timeline", HOSTILE, "--session-name", HOSTILE_SESSION],
        &[
            "query",
            "SELECT issued_session_name, user_agent FROM calls",
            HOSTILE,
        ],
    ] {
        let r = run(&[cmd, &["--format", "html"]].concat());
        assert_eq!(r.code, 0, "{cmd:?}: {}", r.stderr);
        assert!(r.stdout.starts_with("<!DOCTYPE html>"), "{cmd:?}");
        assert_inert(&r.stdout, &cmd.join(" "));
    }
    let r = run(&[
        "query",
        "SELECT user_agent, error_message FROM events WHERE error_message IS NOT NULL",
        HOSTILE,
        "--format",
        "html",
    ]);
    assert!(r.stdout.contains(&escaped(HOSTILE_UA)));
    assert!(
        r.stdout
            .contains(&escaped("<script>alert(5)</script> denied"))
    );
}

#[test]
fn each_command_draws_its_own_page() {
    let by_instance = run(&["by-instance", "fixtures/cloudtrail", "--format", "html"]);
    let csv = run(&["by-instance", "fixtures/cloudtrail", "--format", "csv"]);
    assert_eq!(
        count(&by_instance.stdout, "instance-count"),
        csv_records(&csv.stdout) - 1
    );
    assert!(by_instance.stdout.contains(r#"<svg id="activity-chart""#));
    let findings = run(&["findings", "fixtures/findings", "--format", "html"]);
    let csv = run(&["findings", "fixtures/findings", "--format", "csv"]);
    assert_eq!(
        count(&findings.stdout, "findings-count"),
        csv_records(&csv.stdout) - 1
    );
    let timeline = run(&[
        "timeline",
        "fixtures/cloudtrail",
        "--instance",
        "etl-1",
        "--format",
        "html",
    ]);
    let csv = run(&[
        "timeline",
        "fixtures/cloudtrail",
        "--instance",
        "etl-1",
        "--format",
        "csv",
    ]);
    assert_eq!(
        count(&timeline.stdout, "row-count"),
        csv_records(&csv.stdout) - 1
    );
    // Each page says which command made it, `verify`'s too (it once said "query").
    assert!(
        by_instance
            .stdout
            .contains("<h1>janus-audit · by-instance</h1>")
    );
    let verify = run(&["verify", "fixtures/cloudtrail", "--format", "html"]);
    assert!(
        verify.stdout.contains("<h1>janus-audit · verify</h1>"),
        "{}",
        verify.stderr
    );
    // A table is for terminals; a page is an output like the others.
    let out = tempfile::tempdir().unwrap();
    let refused = run(&[
        "report",
        "--output-dir",
        out.path().to_str().unwrap(),
        "fixtures/findings",
        "--formats",
        "table",
    ]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("html"));
}
