//! The docs stay true to the code: docs/TABLES.md is what `janus-audit tables --format markdown`
//! prints, every relative link in README.md and docs/ resolves (file and heading), and the man
//! page and completions are generated from the same definitions `--help` shows.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn janus(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(args)
        .env_remove("JANUS_AUDIT_QUERIES")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tables_md_is_generated_from_the_code() {
    let generated = janus(&["tables", "--format", "markdown"]);
    let checked_in = std::fs::read_to_string(root().join("docs/TABLES.md")).unwrap();
    assert!(
        generated == checked_in,
        "docs/TABLES.md is stale: run `cargo run -- tables --format markdown > docs/TABLES.md`"
    );
}

/// GitHub's heading anchors: lower case, spaces to `-`, punctuation other than `-`/`_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            !in_code
        })
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

/// `[text](target)` links outside code spans and blocks.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || line.starts_with("    ") {
            continue;
        }
        // Drop inline code, whose brackets are not links.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_link_in_the_docs_resolves() {
    let mut pages = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for link in links(&text) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let (file, frag) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", page.display()));
                continue;
            }
            if let Some(frag) = frag
                && target.extension().is_some_and(|x| x == "md")
            {
                let text = std::fs::read_to_string(&target).unwrap();
                if !anchors(&text).contains(frag) {
                    broken.push(format!("{}: {link}: no such heading", page.display()));
                }
            }
        }
    }
    assert!(checked > 20, "the link reader found only {checked} links");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_reader_reads_links_and_anchors() {
    assert_eq!(
        links("see [a](x.md#the-page) and `[not](a link)` [b](../c)"),
        ["x.md#the-page", "../c"]
    );
    assert_eq!(
        anchor(" The page: `--format html`"),
        "the-page---format-html"
    );
    assert!(!Path::new("docs/NO-SUCH.md").exists());
}

#[test]
fn man_page_and_completions_come_from_the_definitions() {
    let man = janus(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH janus-audit 1"),
        "{man}"
    );
    for sub in [
        "by\\-instance",
        "report",
        "verify",
        "credentials",
        "completions",
    ] {
        assert!(man.contains(sub), "the man page lacks {sub}");
    }
    let dir = tempfile::tempdir().unwrap();
    janus(&["man", "--dir", dir.path().to_str().unwrap()]);
    for page in [
        "janus-audit.1",
        "janus-audit-by-instance.1",
        "janus-audit-credentials-serve.1",
    ] {
        assert!(dir.path().join(page).exists(), "no {page}");
    }
    for (shell, needle) in [
        ("bash", "by-instance"),
        ("zsh", "by-instance"),
        ("fish", "by-instance"),
    ] {
        let script = janus(&["completions", shell]);
        assert!(script.contains(needle), "{shell} completions lack {needle}");
        assert!(
            script.contains("--since"),
            "{shell} completions lack --since"
        );
    }
}

/// Split a command line as a shell would for the examples: words, and "double-quoted" or
/// 'single-quoted' strings as one word.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every example in the docs, an indented block that starts `$ janus-audit ...`: the command,
/// the exit status it shows (`# exit N`, else 0) and the lines it shows of its output.
fn examples() -> Vec<(String, Vec<String>, i32, Vec<String>)> {
    let mut out = Vec::new();
    let mut files = vec![root().join("README.md")];
    files.extend(
        std::fs::read_dir(root().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            // An indented block, at the top level or in a list item.
            let indent = lines[i].len() - lines[i].trim_start().len();
            let Some(cmd) = lines[i]
                .trim_start()
                .strip_prefix("$ janus-audit ")
                .filter(|_| indent >= 4)
            else {
                i += 1;
                continue;
            };
            let pad = " ".repeat(indent);
            let (cmd, status) = match cmd.split_once("# exit ") {
                Some((c, s)) => (c.trim(), s.trim().parse().unwrap()),
                None => (cmd.trim(), 0),
            };
            let mut shown = Vec::new();
            i += 1;
            while i < lines.len()
                && lines[i].starts_with(&pad)
                && !lines[i][indent..].starts_with("$ ")
            {
                shown.push(lines[i][indent..].to_string());
                i += 1;
            }
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, words(cmd), status, shown));
        }
    }
    out
}

#[test]
fn every_example_in_the_docs_is_what_the_binary_prints() {
    let all = examples();
    assert!(all.len() >= 3, "the docs' examples were not found: {all:?}");
    for (file, args, status, shown) in all {
        let out = Command::new(env!("CARGO_BIN_EXE_janus-audit"))
            .args(&args)
            .current_dir(root())
            .env_remove("JANUS_AUDIT_QUERIES")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(status), "{file}: {args:?}\n{text}");
        let printed: Vec<&str> = text.lines().map(str::trim_end).collect();
        for line in shown {
            assert!(
                printed.contains(&line.trim_end()),
                "{file}: `janus-audit {}` does not print\n  {line}\nIt prints:\n{text}",
                args.join(" ")
            );
        }
    }
}

#[test]
fn example_commands_split_as_a_shell_splits_them() {
    assert_eq!(
        words(r#"query "SELECT a, b FROM calls" fixtures/x --format csv"#),
        [
            "query",
            "SELECT a, b FROM calls",
            "fixtures/x",
            "--format",
            "csv"
        ]
    );
    assert_eq!(words("a '' b"), ["a", "", "b"]);
}
