//! The layer rules of `src/` (docs/CONTRIBUTING.md), read from the source: every `crate::` and
//! `super::` path outside test code, and every use of a file's own submodules, is an import of
//! the file that defines that module.
//!
//! - `base/` imports nothing else of the crate;
//! - `credentials/` and `analyzer/` never import each other;
//! - inside `analyzer/`, a layer imports only itself and the layers below it (`LAYERS`);
//! - no import circle between files, anywhere;
//! - only `main.rs` knows `cli/`;
//! - only the command layers (`analyzer/cmd/`, `credentials/cmd/`) and `main.rs` print or draw
//!   progress;
//! - `main.rs` stays under 150 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The analyzer's layers, bottom first. A module not listed here fails the test: a new module
/// takes a place deliberately.
const LAYERS: &[&[&str]] = &[
    &["memory", "notice"],
    &["source", "sigma"],
    &["model"],
    &["query"],
    &["load", "gcp"],
    &["verify", "trust"],
    &["dataset"],
    &["acquire"],
    &["render"],
    &["engine"],
    &["schedule"],
    &["cmd"],
];

/// Files allowed to write to stdout/stderr outside a command layer, and why.
const MAY_PRINT: &[(&str, &str)] = &[(
    "analyzer::memory",
    "the global allocator cannot return an error: over the cap it writes one line and exits",
)];

struct File {
    path: PathBuf,
    /// The non-test code.
    code: String,
}

/// Module path (`analyzer::load`) → file, for every file under `src/` but `lib.rs`/`main.rs`.
fn modules() -> BTreeMap<String, File> {
    let mut out = BTreeMap::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts == ["lib"] || parts == ["main"] || parts.last().unwrap() == "tests" {
                continue;
            }
            if parts.last().unwrap() == "mod" {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(
                parts.join("::"),
                File {
                    path,
                    code: strip_tests(&strip_comments(&text)),
                },
            );
        }
    }
    out
}

/// Drops `//` comments (doc comments name modules without importing them) and string contents
/// are kept: an `#[error("{}", crate::base::text::quoted(p))]` is an import.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Everything from the first `#[cfg(test)]` on: test modules sit at the end of their file.
fn strip_tests(code: &str) -> String {
    match code.find("#[cfg(test)]") {
        Some(i) => code[..i].to_string(),
        None => code.to_string(),
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path that starts at `prefix::` in `code`, with `{a, b::{c, d}}` groups expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find(prefix) {
        let start = from + i;
        from = start + prefix.len();
        let before = code[..start].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        expand(&code[from..], Vec::new(), &mut out);
    }
    out
}

/// Reads one path (or group) at the start of `rest`, below `base`.
fn expand(rest: &str, base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = base;
    let mut rest = rest.trim_start();
    loop {
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            let body = &inner[..end];
            let mut depth = 0;
            let mut item_start = 0;
            for (i, c) in body.char_indices().chain([(body.len(), ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        let item = body[item_start..i.min(body.len())].trim();
                        if !item.is_empty() && item != "self" {
                            expand(item, path.clone(), out);
                        } else if item == "self" {
                            out.push(path.clone());
                        }
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        path.push(rest[..len].to_string());
        rest = &rest[len..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    out.push(path);
}

/// The file an absolute path lands in: its longest prefix that is a module.
fn resolve(path: &[String], mods: &BTreeMap<String, File>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

/// Submodules a file declares (`mod x;`), which it may reach as `x::`.
fn declared(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            l.strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(';'))
                .map(str::to_string)
        })
        .collect()
}

fn imports(mods: &BTreeMap<String, File>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, file) in mods {
        let own: Vec<String> = name.split("::").map(str::to_string).collect();
        let is_dir_module = file.path.ends_with("mod.rs");
        // The module `super` names: the parent of this file's module.
        let parent: Vec<String> = own[..own.len() - 1].to_vec();
        let mut targets = BTreeSet::new();
        for p in paths_after(&file.code, "crate::") {
            targets.extend(resolve(&p, mods));
        }
        for p in paths_after(&file.code, "super::") {
            // `use super::*` in an inline module names this very file.
            if p.is_empty() {
                continue;
            }
            let mut abs = parent.clone();
            abs.extend(p);
            targets.extend(resolve(&abs, mods));
        }
        for sub in declared(&file.code) {
            for p in paths_after(&file.code, &format!("{sub}::")) {
                let mut abs = own.clone();
                if !is_dir_module {
                    continue;
                }
                abs.push(sub.clone());
                abs.extend(p);
                targets.extend(resolve(&abs, mods));
            }
        }
        targets.remove(name);
        edges.insert(name.clone(), targets);
    }
    edges
}

fn top(name: &str) -> &str {
    name.split("::").next().unwrap()
}

fn layer(name: &str) -> Option<usize> {
    let second = name.strip_prefix("analyzer::")?.split("::").next()?;
    LAYERS.iter().position(|l| l.contains(&second))
}

#[test]
fn layers_import_downward_only() {
    let mods = modules();
    let edges = imports(&mods);
    let mut broken = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            let rule = match (top(from), top(to)) {
                ("base", t) if t != "base" => Some("base/ imports nothing else of the crate"),
                ("credentials", "analyzer") | ("analyzer", "credentials") => {
                    Some("credentials/ and analyzer/ never import each other")
                }
                (f, "cli") if f != "cli" => Some("only main.rs knows cli/"),
                ("analyzer", "analyzer") => match (layer(from), layer(to)) {
                    (Some(a), Some(b)) if b > a => Some("an analyzer layer imports only below it"),
                    _ => None,
                },
                _ => None,
            };
            if let Some(rule) = rule {
                broken.push(format!("{from} -> {to}: {rule}"));
            }
        }
    }
    for name in mods.keys() {
        if name.starts_with("analyzer::") && name != "analyzer" && layer(name).is_none() {
            broken.push(format!("{name}: not in any layer of LAYERS"));
        }
    }
    assert!(
        broken.is_empty(),
        "layer rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_import_circles() {
    let mods = modules();
    let edges = imports(&mods);
    // Tarjan's strongly connected components: any with more than one file is a circle.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.edges[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut circle = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                circle.push(w);
                if w == v {
                    break;
                }
            }
            if circle.len() > 1 {
                circle.sort();
                s.circles.push(circle);
            }
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        circles: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    let text: Vec<String> = s.circles.iter().map(|c| c.join(" <-> ")).collect();
    assert!(text.is_empty(), "import circles:\n{}", text.join("\n"));
}

#[test]
fn only_commands_print_or_draw_progress() {
    let mods = modules();
    let mut broken = Vec::new();
    for (name, file) in &mods {
        let command = name.starts_with("analyzer::cmd") || name.starts_with("credentials::cmd");
        if command || MAY_PRINT.iter().any(|(m, _)| m == name) {
            continue;
        }
        for needle in [
            "println!",
            "print!(",
            "eprintln!",
            "eprint!(",
            "stdout()",
            "stderr()",
            "indicatif",
        ] {
            if file.code.contains(needle) {
                broken.push(format!("{name}: {needle}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "printing outside a command:\n{}",
        broken.join("\n")
    );
}

#[test]
fn main_rs_only_dispatches() {
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    let lines = main.lines().count();
    assert!(
        lines < 150,
        "src/main.rs has {lines} lines; it parses and dispatches, no more"
    );
}

#[test]
fn the_reader_sees_what_rustc_sees() {
    // The parser above, on the shapes it must read; if it misread them, the rules would pass
    // vacuously.
    let code = "use crate::{analyzer::{load, model::Tables}, base::text};\n\
                fn f() { crate::base::exit::OK; super::x::y(); }";
    let crate_paths = paths_after(code, "crate::");
    let joined: Vec<String> = crate_paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "analyzer::load",
            "analyzer::model::Tables",
            "base::text",
            "base::exit::OK"
        ]
    );
    assert_eq!(paths_after(code, "super::"), [vec!["x", "y"]]);
    let mods = modules();
    let edges = imports(&mods);
    assert!(edges["analyzer::load"].contains("analyzer::model"));
    assert!(edges.values().map(BTreeSet::len).sum::<usize>() > 100);
}

/// Code lines (neither blank nor comment) before a file's tests.
fn code_lines(lines: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with("//")
        })
        .count()
}

/// Files and functions over the limits that are still to be split: the list may only shrink
/// (a file or function that fits is taken off it, and the test says so).
const STILL_LONG: &[&str] = &[];

/// No file over about 600 lines of code (tests aside) and no function over about 80, unless a
/// comment just above it says why it reads better whole.
#[test]
fn files_and_functions_stay_short() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut over = Vec::new();
    for file in modules().values() {
        let text = std::fs::read_to_string(&file.path).unwrap();
        let all: Vec<&str> = text.lines().collect();
        let end = all
            .iter()
            .position(|l| l.starts_with("#[cfg(test)]"))
            .unwrap_or(all.len());
        let lines = &all[..end];
        let rel = file.path.strip_prefix(root).unwrap().display().to_string();
        if code_lines(lines) > 600 {
            over.push(rel.clone());
        }
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let indent = line.len() - line.trim_start().len();
            let head = line.trim_start();
            let head = head.strip_prefix("pub(crate) ").unwrap_or(head);
            let head = head.strip_prefix("pub ").unwrap_or(head);
            let head = head.strip_prefix("async ").unwrap_or(head);
            let Some(sig) = head.strip_prefix("fn ") else {
                i += 1;
                continue;
            };
            let name: String = sig.chars().take_while(|c| is_ident(*c)).collect();
            let close = format!("{}}}", " ".repeat(indent));
            let Some(len) = lines[i..].iter().position(|l| l.trim_end() == close) else {
                i += 1;
                continue;
            };
            let why = lines[i.saturating_sub(4)..i]
                .iter()
                .any(|l| l.to_ascii_lowercase().contains("reads better whole"));
            if code_lines(&lines[i..=i + len]) > 80 && !why {
                over.push(format!("{rel}::{name}"));
            }
            i += len + 1;
        }
    }
    let new: Vec<&String> = over
        .iter()
        .filter(|o| !STILL_LONG.contains(&o.as_str()))
        .collect();
    let fixed: Vec<&&str> = STILL_LONG
        .iter()
        .filter(|s| !over.iter().any(|o| o == *s))
        .collect();
    assert!(
        new.is_empty(),
        "too long (split it, or say above it why it reads better whole): {new:?}"
    );
    assert!(
        fixed.is_empty(),
        "short now, take off STILL_LONG: {fixed:?}"
    );
}
