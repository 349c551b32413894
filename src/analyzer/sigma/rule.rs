//! One Sigma rule, from its YAML document into what is evaluated: its search identifiers, each
//! a set of field tests, and its condition over them.

use serde_json::Value as Yaml;

use crate::analyzer::sigma::condition::{self, Cond};
use crate::analyzer::sigma::field::{Event, Value};
use crate::analyzer::sigma::pattern::{self, Anchor, Cmp, Glob, Test};

/// A rule janus-audit evaluates.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's `id`, else the name of its file.
    pub id: String,
    pub title: String,
    /// As the rule writes it (`informational` … `critical`); `None` when it has none.
    pub level: Option<String>,
    pub author: Option<String>,
    /// What decides the rule's matches (its `logsource` and `detection`), hashed: a dataset
    /// evaluated at ingest with a rule of the same id but another detection does not answer
    /// for this one.
    pub detection_hash: String,
    selections: Vec<Vec<Vec<Item>>>,
    cond: Cond,
}

/// What a document is.
#[derive(Debug)]
pub enum Loaded {
    Rule(Box<Rule>),
    /// A rule for another log source than CloudTrail.
    Other,
    /// A document janus-audit cannot evaluate, and why.
    Unsupported(String),
}

/// One field test: `field|modifiers: value(s)`.
#[derive(Debug, Clone)]
struct Item {
    field: String,
    tests: Vec<Test>,
    /// `|all`: every value must hold; otherwise any.
    all: bool,
}

impl Rule {
    /// Whether the record holds for this rule. `values` is scratch space.
    pub fn matches<'a>(&self, event: &Event<'a>, values: &mut Vec<Value<'a>>) -> bool {
        let mut other = Vec::new();
        self.cond.eval(&mut |i| {
            self.selections[i].iter().any(|group| {
                group
                    .iter()
                    .all(|item| item.holds(event, values, &mut other))
            })
        })
    }
}

impl Item {
    fn holds<'a>(
        &self,
        event: &Event<'a>,
        values: &mut Vec<Value<'a>>,
        other: &mut Vec<Value<'a>>,
    ) -> bool {
        event.values(&self.field, values);
        let mut one = |t: &Test| test(t, values, event, other);
        match self.all {
            true => self.tests.iter().all(&mut one),
            false => self.tests.iter().any(&mut one),
        }
    }
}

fn test<'a>(t: &Test, values: &[Value<'a>], event: &Event<'a>, other: &mut Vec<Value<'a>>) -> bool {
    let texts = || values.iter().filter_map(Value::text);
    match t {
        Test::Null => values.iter().all(|v| *v == Value::Null),
        Test::Exists(b) => values.is_empty() != *b,
        Test::Glob(g) => texts().any(|v| g.matches(v)),
        Test::Regex(r) => texts().any(|v| r.is_match(v)),
        Test::Cidr(net, bits) => texts().any(|v| pattern::in_cidr(v, *net, *bits)),
        Test::FieldRef { field, how, cased } => {
            event.values(field, other);
            texts().any(|v| {
                other
                    .iter()
                    .filter_map(Value::text)
                    .any(|o| pattern::compare_values(v, o, *how, *cased))
            })
        }
        Test::Compare(op, n) => texts().any(|v| {
            v.trim().parse::<f64>().is_ok_and(|x| match op {
                Cmp::Lt => x < *n,
                Cmp::Lte => x <= *n,
                Cmp::Gt => x > *n,
                Cmp::Gte => x >= *n,
            })
        }),
    }
}

/// Read one YAML document of a rule file named `name` (its stem stands in for a missing `id`).
pub fn load(doc: &Yaml, name: &str) -> Loaded {
    match load_rule(doc, name) {
        Ok(Some(rule)) => Loaded::Rule(Box::new(rule)),
        Ok(None) => Loaded::Other,
        Err(reason) => Loaded::Unsupported(reason),
    }
}

fn load_rule(doc: &Yaml, name: &str) -> Result<Option<Rule>, String> {
    let Some(map) = doc.as_object() else {
        return Err("the document is not a map of rule attributes".into());
    };
    if map.contains_key("correlation") {
        return Err("a correlation rule (janus-audit evaluates single-event rules)".into());
    }
    if map.contains_key("filter") && !map.contains_key("detection") {
        return Err("a Sigma filter, not a rule".into());
    }
    if let Some(action) = map.get("action") {
        return Err(format!(
            "a rule collection's '{}' document; give each rule as a document of its own",
            action.as_str().unwrap_or("action")
        ));
    }
    let title = map
        .get("title")
        .and_then(Yaml::as_str)
        .ok_or("the rule has no title")?;
    let logsource = map.get("logsource").and_then(Yaml::as_object);
    let source = |k: &str| {
        logsource
            .and_then(|l| l.get(k))
            .and_then(Yaml::as_str)
            .map(str::to_ascii_lowercase)
    };
    if source("product").as_deref() != Some("aws")
        || source("service").as_deref() != Some("cloudtrail")
    {
        return Ok(None);
    }
    let detection = map
        .get("detection")
        .and_then(Yaml::as_object)
        .ok_or("the rule has no detection")?;
    let mut names = Vec::new();
    let mut selections = Vec::new();
    for (key, value) in detection {
        if key == "condition" || key == "timeframe" {
            if key == "timeframe" {
                return Err("'timeframe' belongs to aggregations, which are not supported".into());
            }
            continue;
        }
        names.push(key.clone());
        selections.push(selection(key, value)?);
    }
    let conditions: Vec<&str> = match detection.get("condition") {
        Some(Yaml::String(s)) => vec![s.as_str()],
        Some(Yaml::Array(list)) if !list.is_empty() => list
            .iter()
            .map(|c| c.as_str().ok_or("a condition that is not text"))
            .collect::<Result<_, _>>()?,
        _ => return Err("the detection has no condition".into()),
    };
    let mut conds = Vec::new();
    for c in conditions {
        conds.push(condition::parse(c, &names)?);
    }
    let cond = match conds.len() {
        1 => conds.pop().unwrap(),
        _ => Cond::Or(conds),
    };
    let text = |k: &str| map.get(k).and_then(Yaml::as_str).map(str::to_string);
    Ok(Some(Rule {
        id: text("id").unwrap_or_else(|| name.to_string()),
        title: title.to_string(),
        level: text("level"),
        author: text("author"),
        detection_hash: detection_hash(map.get("logsource"), map.get("detection")),
        selections,
        cond,
    }))
}

/// The first 16 bytes of the SHA-256 of `logsource` and `detection` written as JSON with every
/// map's keys in order: the same for the same rule however its YAML is laid out.
fn detection_hash(logsource: Option<&Yaml>, detection: Option<&Yaml>) -> String {
    fn canonical(v: &Yaml, out: &mut String) {
        match v {
            Yaml::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Yaml::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&map[k], out);
                }
                out.push('}');
            }
            Yaml::Array(list) => {
                out.push('[');
                for (i, x) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    for part in [logsource, detection] {
        canonical(part.unwrap_or(&Yaml::Null), &mut text);
        text.push('\n');
    }
    crate::base::hash::sha256_hex(text.as_bytes())[..32].to_string()
}

/// A search identifier: a map (its items and-ed) or a list of maps (or-ed).
fn selection(name: &str, value: &Yaml) -> Result<Vec<Vec<Item>>, String> {
    match value {
        Yaml::Object(map) => Ok(vec![items(name, map)?]),
        Yaml::Array(list) if list.iter().all(Yaml::is_object) && !list.is_empty() => list
            .iter()
            .map(|m| items(name, m.as_object().unwrap()))
            .collect(),
        Yaml::Array(_) | Yaml::String(_) | Yaml::Number(_) => Err(format!(
            "'{name}' is a keyword search, which has no one meaning over JSON records; name the field"
        )),
        _ => Err(format!(
            "'{name}' is neither a map of fields nor a list of maps"
        )),
    }
}

fn items(name: &str, map: &serde_json::Map<String, Yaml>) -> Result<Vec<Item>, String> {
    map.iter().map(|(k, v)| item(name, k, v)).collect()
}

fn item(name: &str, key: &str, value: &Yaml) -> Result<Item, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().to_string();
    if field.is_empty() {
        return Err(format!(
            "'{name}' is a keyword search ('{key}'), which has no one meaning over JSON records"
        ));
    }
    let mut m = Modifiers::default();
    for modifier in parts {
        m.add(modifier)?;
    }
    let values: Vec<&Yaml> = match value {
        Yaml::Array(list) if list.is_empty() => {
            return Err(format!("'{key}' in '{name}' has an empty list of values"));
        }
        Yaml::Array(list) => list.iter().collect(),
        v => vec![v],
    };
    let tests = values
        .into_iter()
        .map(|v| m.test(v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("'{key}' in '{name}': {e}"))?;
    Ok(Item {
        field,
        tests,
        all: m.all,
    })
}

#[derive(Default)]
struct Modifiers {
    anchor: Option<Anchor>,
    all: bool,
    cased: bool,
    kind: Option<&'static str>,
    re_flags: (bool, bool, bool),
    cmp: Option<Cmp>,
}

impl Modifiers {
    fn add(&mut self, m: &str) -> Result<(), String> {
        let anchor = match m {
            "contains" => Some(Anchor::Anywhere),
            "startswith" => Some(Anchor::Start),
            "endswith" => Some(Anchor::End),
            _ => None,
        };
        if let Some(a) = anchor {
            if self.anchor.is_some() {
                return Err(format!("two of contains/startswith/endswith ('{m}')"));
            }
            self.anchor = Some(a);
            return Ok(());
        }
        match (m, self.kind) {
            ("all", _) => self.all = true,
            ("cased", _) => self.cased = true,
            ("i", Some("re")) => self.re_flags.0 = true,
            ("m", Some("re")) => self.re_flags.1 = true,
            ("s", Some("re")) => self.re_flags.2 = true,
            ("re" | "cidr" | "exists" | "fieldref", None) => {
                self.kind = Some(match m {
                    "re" => "re",
                    "cidr" => "cidr",
                    "exists" => "exists",
                    _ => "fieldref",
                })
            }
            ("lt" | "lte" | "gt" | "gte", None) => {
                self.kind = Some("compare");
                self.cmp = Some(match m {
                    "lt" => Cmp::Lt,
                    "lte" => Cmp::Lte,
                    "gt" => Cmp::Gt,
                    _ => Cmp::Gte,
                });
            }
            _ => {
                return Err(format!(
                    "the modifier '{}' is not supported",
                    crate::base::text::excerpt(m)
                ));
            }
        }
        Ok(())
    }

    fn test(&self, v: &Yaml) -> Result<Test, String> {
        let text = match v {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Number(n) => Some(n.to_string()),
            Yaml::Bool(b) => Some(b.to_string()),
            Yaml::Null => None,
            _ => return Err("a value that is a map".into()),
        };
        let anchor = self.anchor.unwrap_or(Anchor::Whole);
        let need_text = || {
            text.clone()
                .ok_or_else(|| "null with a modifier".to_string())
        };
        Ok(match self.kind {
            None => match &text {
                None if self.anchor.is_none() => Test::Null,
                _ => Test::Glob(Glob::new(&need_text()?, anchor, self.cased)),
            },
            Some("re") => {
                let (i, m, s) = self.re_flags;
                let re = regex::RegexBuilder::new(&need_text()?)
                    .case_insensitive(i)
                    .multi_line(m)
                    .dot_matches_new_line(s)
                    .size_limit(1 << 20)
                    .dfa_size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        format!(
                            "a regular expression Rust's regex cannot run: {}",
                            first_line(&e.to_string())
                        )
                    })?;
                Test::Regex(re)
            }
            Some("cidr") => {
                let (net, bits) =
                    pattern::parse_cidr(&need_text()?).ok_or("a value that is not a CIDR range")?;
                Test::Cidr(net, bits)
            }
            Some("exists") => match v {
                Yaml::Bool(b) => Test::Exists(*b),
                _ => return Err("'exists' takes true or false".into()),
            },
            Some("fieldref") => Test::FieldRef {
                field: need_text()?,
                how: anchor,
                cased: self.cased,
            },
            _ => {
                let n = match v {
                    Yaml::Number(n) => n.as_f64(),
                    _ => None,
                };
                Test::Compare(
                    self.cmp.unwrap(),
                    n.ok_or("a comparison with a value that is not a number")?,
                )
            }
        })
    }
}

fn first_line(s: &str) -> String {
    crate::base::text::excerpt(s.lines().last().unwrap_or(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Loaded {
        let doc: Yaml = serde_saphyr::from_str(yaml).unwrap();
        load(&doc, "file")
    }

    const HEAD: &str = "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\n";

    fn hits(detection: &str, record: &str) -> bool {
        let Loaded::Rule(r) = rule(&format!("{HEAD}detection:\n{detection}")) else {
            panic!("not loaded: {detection}")
        };
        r.matches(&Event::parse(record).unwrap(), &mut Vec::new())
    }

    #[test]
    fn maps_and_lists() {
        let d = "  selection:\n    eventSource: cloudtrail.amazonaws.com\n    eventName:\n      - StopLogging\n      - DeleteTrail\n  condition: selection\n";
        assert!(hits(
            d,
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"stoplogging"}"#
        ));
        assert!(!hits(
            d,
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StartLogging"}"#
        ));
        assert!(!hits(d, r#"{"eventName":"StopLogging"}"#));
        let d = "  filter:\n    - eventSource: ssm.amazonaws.com\n    - sourceIPAddress: AWS Internal\n  condition: filter\n";
        assert!(hits(d, r#"{"sourceIPAddress":"AWS Internal"}"#));
        assert!(!hits(d, r#"{"sourceIPAddress":"10.0.0.1"}"#));
    }

    #[test]
    fn null_exists_and_all() {
        let d = "  a:\n    errorCode: null\n  condition: a\n";
        assert!(hits(d, r#"{"eventName":"x"}"#));
        assert!(hits(d, r#"{"errorCode":null}"#));
        assert!(!hits(d, r#"{"errorCode":""}"#));
        let d = "  a:\n    errorCode|exists: true\n  condition: a\n";
        assert!(hits(d, r#"{"errorCode":null}"#));
        assert!(!hits(d, r#"{"x":1}"#));
        let d = "  a:\n    requestParameters|contains|all:\n      - '\"Allow\"'\n      - s3:GetObject\n  condition: a\n";
        assert!(hits(
            d,
            r#"{"requestParameters":{"e":"Allow","a":"s3:GetObject"}}"#
        ));
        assert!(!hits(
            d,
            r#"{"requestParameters":{"e":"Deny","a":"s3:GetObject"}}"#
        ));
    }

    #[test]
    fn regex_fieldref_cidr_and_numbers() {
        let d = "  a:\n    userIdentity.arn|re: '.+:assumed-role/aws:.+'\n  condition: a\n";
        assert!(hits(
            d,
            r#"{"userIdentity":{"arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}}"#
        ));
        assert!(!hits(
            d,
            r#"{"userIdentity":{"arn":"arn:aws:sts::1:assumed-role/AWS:x/i"}}"#
        ));
        let d =
            "  a:\n    userIdentity.arn|fieldref: requestParameters.userName\n  condition: not a\n";
        assert!(!hits(
            d,
            r#"{"userIdentity":{"arn":"Bob"},"requestParameters":{"userName":"bob"}}"#
        ));
        assert!(hits(
            d,
            r#"{"userIdentity":{"arn":"arn:aws:iam::1:user/bob"},"requestParameters":{"userName":"bob"}}"#
        ));
        let d = "  a:\n    sourceIPAddress|cidr: 10.0.0.0/8\n  condition: a\n";
        assert!(hits(d, r#"{"sourceIPAddress":"10.9.9.9"}"#));
        assert!(!hits(d, r#"{"sourceIPAddress":"AWS Internal"}"#));
        let d = "  a:\n    requestParameters.durationSeconds|gt: 3600\n  condition: a\n";
        assert!(hits(
            d,
            r#"{"requestParameters":{"durationSeconds":43200}}"#
        ));
        assert!(!hits(d, r#"{"requestParameters":{"durationSeconds":900}}"#));
        let d = "  a:\n    responseElements.publiclyAccessible: 'true'\n  condition: a\n";
        assert!(hits(
            d,
            r#"{"responseElements":{"publiclyAccessible":true}}"#
        ));
    }

    #[test]
    fn what_cannot_be_evaluated_is_said() {
        let unsupported = |d: &str| match rule(&format!("{HEAD}detection:\n{d}")) {
            Loaded::Unsupported(why) => why,
            other => panic!("{other:?}"),
        };
        assert!(
            unsupported("  a:\n    x|base64offset|contains: y\n  condition: a\n")
                .contains("base64offset")
        );
        assert!(unsupported("  a:\n    - evil\n  condition: a\n").contains("keyword"));
        assert!(
            unsupported("  a:\n    x|re: '(?<=a)b'\n  condition: a\n")
                .contains("regular expression")
        );
        assert!(
            unsupported("  a:\n    x: y\n  condition: a | count() > 3\n").contains("aggregation")
        );
        assert!(unsupported("  a:\n    x: y\n  condition: b\n").contains("\"b\""));
        assert!(matches!(
            rule("title: c\ncorrelation:\n  type: event_count\n"),
            Loaded::Unsupported(_)
        ));
        assert!(matches!(
            rule(
                "title: w\nlogsource:\n  product: windows\ndetection:\n  a:\n    x: 1\n  condition: a\n"
            ),
            Loaded::Other
        ));
    }
}
