//! `--help` as a reader meets it: each command's long help against its snapshot in
//! `tests/help/` (regenerate with `JANUS_AUDIT_BLESS=1 cargo test --test help` and read the
//! diff), and the rules the snapshots must keep: examples at the end of every command, option
//! groups under headings, no text about another command, no value offered that is refused.

use std::path::PathBuf;
use std::process::Command;

const COMMANDS: &[&[&str]] = &[
    &[],
    &["by-instance"],
    &["sessions"],
    &["query"],
    &["findings"],
    &["timeline"],
    &["sigma"],
    &["report"],
    &["ingest"],
    &["sync"],
    &["verify"],
    &["trust"],
    &["dataset", "ddl"],
    &["tables"],
    &["credentials"],
    &["credentials", "serve"],
    &["credentials", "exec"],
    &["man"],
    &["completions"],
];

fn help(cmd: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(cmd)
        .arg("--help")
        .env("COLUMNS", "100")
        .env_remove("JANUS_AUDIT_QUERIES")
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn snapshot(cmd: &[&str]) -> PathBuf {
    let name = match cmd {
        [] => "janus-audit".to_string(),
        c => c.join("-"),
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/help/{name}.txt"))
}

#[test]
fn every_help_is_its_snapshot() {
    let bless = std::env::var_os("JANUS_AUDIT_BLESS").is_some();
    let mut stale = Vec::new();
    for cmd in COMMANDS {
        let text = help(cmd);
        let path = snapshot(cmd);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "--help differs from its snapshot (JANUS_AUDIT_BLESS=1 cargo test --test help rewrites them; read the diff): {stale:?}"
    );
}

#[test]
fn every_command_ends_with_examples() {
    for cmd in &COMMANDS[1..] {
        let text = help(cmd);
        let examples = text
            .rfind("\nExamples:\n")
            .unwrap_or_else(|| panic!("{cmd:?}: no examples"));
        let named = format!("janus-audit {}", cmd.join(" "));
        assert!(
            text[examples..].contains(&named),
            "{cmd:?}: no example of {named}"
        );
    }
}

#[test]
fn options_come_in_groups_with_the_window_and_the_output_first() {
    let text = help(&["by-instance"]);
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    for heading in ["\nInput:\n", "\nAPI:\n", "\nAWS:\n", "\nLimits:\n"] {
        assert!(at("--until") < at(heading), "{heading}");
        assert!(at("--output") < at(heading), "{heading}");
    }
    assert!(at("\nLimits:\n") < at("--max-memory"));
    let findings = help(&["findings"]);
    assert!(findings.find("\nFindings:\n").unwrap() < findings.find("--fail-on").unwrap());
}

#[test]
fn no_help_describes_another_command_or_offers_a_refused_value() {
    for cmd in [&["sync"][..], &["verify"]] {
        assert!(!help(cmd).contains("--from-api"), "{cmd:?}");
    }
    assert!(!help(&["ingest"]).contains("report from"));
    assert!(!help(&["credentials"]).contains("Reports:"));
    let ddl = help(&["dataset", "ddl"]);
    let engine = &ddl[ddl.find("\n      --engine").unwrap() + 1..];
    assert!(
        engine.lines().nth(1).is_some_and(|l| l.contains("engine")),
        "{ddl}"
    );
    let report = help(&["report"]);
    let formats = &report[report.find("\n      --formats").unwrap()..];
    let values = formats
        .lines()
        .find(|l| l.contains("possible values"))
        .unwrap();
    assert!(!values.contains("table"), "{values}");
    let findings = help(&["findings"]);
    let values = findings[findings.find("\n      --fail-on").unwrap()..]
        .lines()
        .find(|l| l.contains("possible values"))
        .unwrap();
    // Sigma findings are low when their rule is.
    assert!(values.contains("low"), "{values}");
}
