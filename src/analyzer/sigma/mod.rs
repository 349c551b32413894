//! Sigma rules (the vendor-neutral detection format) evaluated on CloudTrail records as they
//! are read: which rules a record holds for. Only single-event rules for
//! `logsource: {product: aws, service: cloudtrail}` are evaluated; a rule for another log
//! source is counted, and a rule that cannot be evaluated as the specification means it (an
//! unsupported modifier, a correlation rule, a keyword search) is named with the reason and
//! never evaluated.

use std::path::{Path, PathBuf};

pub mod condition;
pub mod field;
pub mod pattern;
pub mod rule;
mod shipped;

pub use field::Event;
pub use rule::Rule;

/// A rule file larger than this is refused: a rule is a few kilobytes.
const MAX_RULE_FILE: u64 = 1 << 20;
/// More rules than any rule set holds.
const MAX_RULES: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    #[error("cannot read Sigma rules at {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("more than {MAX_RULES} Sigma rules")]
    TooMany,
}

/// A rule not evaluated, where it came from, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file, and the document's number when the file holds several.
    pub source: String,
    pub title: Option<String>,
    pub reason: String,
}

/// The rules to evaluate, and what was left out.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub skipped: Vec<Skipped>,
    /// Rules for other log sources (Windows, GCP, ...): not for CloudTrail, so not evaluated.
    pub other_sources: usize,
}

impl RuleSet {
    /// The rules shipped with janus-audit (`rules/sigma/`, SigmaHQ's CloudTrail rules).
    pub fn shipped() -> RuleSet {
        let mut set = RuleSet::default();
        for (name, text) in shipped::RULES {
            set.add_text(name, text);
        }
        set
    }

    /// Every `.yml`/`.yaml` file under each path (a file, or a directory walked in name
    /// order). A file that cannot be read or parsed is a skipped rule, not an error; a path
    /// that is not there is.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, SigmaError> {
        let mut set = RuleSet::default();
        for path in paths {
            let mut files = Vec::new();
            collect(path, &mut files)?;
            files.sort();
            for file in files {
                let name = crate::base::text::quoted(&file);
                match read_capped(&file) {
                    Ok(text) => set.add_text(&name, &text),
                    Err(reason) => set.skipped.push(Skipped {
                        source: name,
                        title: None,
                        reason,
                    }),
                }
                if set.rules.len() > MAX_RULES {
                    return Err(SigmaError::TooMany);
                }
            }
        }
        Ok(set)
    }

    /// The documents of one rule file's text.
    pub fn add_text(&mut self, name: &str, text: &str) {
        let docs: Vec<serde_json::Value> = match serde_saphyr::from_multiple(text) {
            Ok(d) => d,
            Err(e) => {
                self.skipped.push(Skipped {
                    source: name.to_string(),
                    title: None,
                    reason: format!(
                        "not YAML a rule can be read from: {}",
                        crate::base::text::excerpt(e.to_string().lines().next().unwrap_or(""))
                    ),
                });
                return;
            }
        };
        let many = docs.len() > 1;
        let stem = Path::new(name.trim_matches('"'))
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, doc) in docs.iter().enumerate() {
            let source = match many {
                true => format!("{name} (document {})", i + 1),
                false => name.to_string(),
            };
            match rule::load(doc, &stem) {
                rule::Loaded::Rule(r) => self.rules.push(*r),
                rule::Loaded::Other => self.other_sources += 1,
                rule::Loaded::Unsupported(reason) => self.skipped.push(Skipped {
                    source,
                    title: doc
                        .get("title")
                        .and_then(|t| t.as_str())
                        .map(crate::base::text::excerpt),
                    reason,
                }),
            }
        }
    }

    /// `sigma_rules`: each rule's number (`sigma_matches.rule_no`), id, title, level and author.
    pub fn frame(&self) -> polars::prelude::PolarsResult<polars::prelude::DataFrame> {
        use polars::prelude::*;
        let texts = |f: fn(&Rule) -> Option<&str>| -> Column {
            StringChunked::from_iter(self.rules.iter().map(f)).into_column()
        };
        DataFrame::new(
            self.rules.len(),
            vec![
                UInt32Chunked::from_iter_values("rule_no".into(), 0..self.rules.len() as u32)
                    .into_column(),
                texts(|r| Some(r.id.as_str())).with_name("rule_id".into()),
                texts(|r| Some(r.title.as_str())).with_name("title".into()),
                texts(|r| r.level.as_deref()).with_name("level".into()),
                texts(|r| r.author.as_deref()).with_name("author".into()),
            ],
        )
    }

    /// The rules (by index) that `record`, one record's JSON text, holds for, into `out`.
    /// A text that is not a JSON object holds for none.
    pub fn matching(&self, record: &str, out: &mut Vec<u32>) {
        out.clear();
        let Some(event) = Event::parse(record) else {
            return;
        };
        let mut values = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if r.matches(&event, &mut values) {
                out.push(i as u32);
            }
        }
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), SigmaError> {
    let err = |e: std::io::Error| SigmaError::Read {
        path: crate::base::text::quoted(path),
        reason: e.kind().to_string(),
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(path).map_err(err)? {
        let p = entry.map_err(err)?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
        {
            out.push(p);
        }
    }
    Ok(())
}

fn read_capped(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(file).map_err(|e| e.kind().to_string())?;
    let mut text = String::new();
    f.take(MAX_RULE_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.kind().to_string())?;
    if text.len() as u64 > MAX_RULE_FILE {
        return Err(format!("larger than {} KiB", MAX_RULE_FILE >> 10));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_all_load() {
        let set = RuleSet::shipped();
        assert!(set.rules.len() >= 50, "{}", set.rules.len());
        assert_eq!(set.other_sources, 0);
        assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    }

    #[test]
    fn a_file_of_several_documents_and_a_broken_one() {
        let mut set = RuleSet::default();
        let head = "logsource:\n  product: aws\n  service: cloudtrail\n";
        set.add_text(
            "\"r.yml\"",
            &format!(
                "title: a\n{head}detection:\n  s:\n    eventName: X\n  condition: s\n---\ntitle: b\n{head}detection:\n  s:\n    eventName|windash: X\n  condition: s\n"
            ),
        );
        set.add_text("\"bad.yml\"", "title: [unclosed\n");
        assert_eq!(set.rules.len(), 1);
        assert_eq!(set.rules[0].id, "r");
        assert_eq!(set.skipped.len(), 2);
        assert!(set.skipped[0].source.contains("document 2"));
        assert!(set.skipped[0].reason.contains("windash"));
        assert!(set.skipped[1].reason.contains("YAML"));
        let mut out = Vec::new();
        set.matching(r#"{"eventName":"x"}"#, &mut out);
        assert_eq!(out, vec![0]);
        set.matching("not json", &mut out);
        assert!(out.is_empty());
    }
}
