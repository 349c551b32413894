//! A record's fields as Sigma rules name them: `userIdentity.sessionContext.sessionIssuer.type`,
//! a dotted path through the record's JSON, read from the record's own text only as far as a
//! rule asks.
//!
//! What a path yields:
//! - a string is its text; a number or `true`/`false` the JSON text of it; `null` is null (a
//!   `null` value matches it, as it matches an absent field);
//! - an object or array at the end of the path is its JSON text without insignificant
//!   whitespace (`requestParameters|contains: 'Suspended'`);
//! - an array met along the path is walked into: each element gives its values, and a test
//!   holds when it holds for any of them (`requestParameters.layers|contains: '*'`, as SIEMs
//!   treat multi-valued fields);
//! - a key written twice in one object gives both values, so a repeated key cannot hide one;
//! - a member whose own name has dots (`"a.b": 1`) is found when no `a` member is there.

use std::borrow::Cow;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::analyzer::source::touched::compact;

/// One value a path yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
}

impl Value<'_> {
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Null => None,
            Value::Text(t) => Some(t),
        }
    }
}

/// A record, its top-level members read once.
pub struct Event<'a> {
    top: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Event<'a> {
    /// `None` when the text is not a JSON object.
    pub fn parse(record: &'a str) -> Option<Event<'a>> {
        members(record).map(|top| Event { top })
    }

    /// Every value `path` yields, in record order (none when the field is absent).
    pub fn values(&self, path: &str, out: &mut Vec<Value<'a>>) {
        out.clear();
        let segments: Vec<&str> = path.split('.').collect();
        walk_members(&self.top, &segments, out, 0);
    }
}

/// Deep enough for any CloudTrail record; a hostile one nested deeper reads as absent there.
const MAX_DEPTH: usize = 64;

fn walk_members<'a>(
    members: &[(Cow<'a, str>, &'a RawValue)],
    segments: &[&str],
    out: &mut Vec<Value<'a>>,
    depth: usize,
) {
    if depth > MAX_DEPTH || segments.is_empty() {
        return;
    }
    // The shortest name first: `a` before `a.b`, which only a member named with a dot has
    // (the dotted names are made only when the plain one is not there: a name per lookup was
    // most of the cost of evaluating rules).
    for take in 1..=segments.len() {
        let mut found = false;
        for (key, raw) in members {
            let is = match take {
                1 => key == segments[0],
                _ => *key == segments[..take].join("."),
            };
            if is {
                found = true;
                walk(raw, &segments[take..], out, depth + 1);
            }
        }
        if found {
            return;
        }
    }
}

fn walk<'a>(raw: &'a RawValue, rest: &[&str], out: &mut Vec<Value<'a>>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'[') => {
            if let Ok(items) = serde_json::from_str::<Vec<&'a RawValue>>(text) {
                for item in items {
                    walk(item, rest, out, depth + 1);
                }
            }
        }
        Some(b'{') if !rest.is_empty() => {
            if let Some(m) = members(text) {
                walk_members(&m, rest, out, depth);
            }
        }
        _ if !rest.is_empty() => {}
        Some(b'{') => out.push(Value::Text(Cow::Owned(compact(text).into_owned()))),
        Some(b'"') => {
            if let Ok(s) = serde_json::from_str::<&'a str>(text) {
                out.push(Value::Text(Cow::Borrowed(s)));
            } else if let Ok(s) = serde_json::from_str::<String>(text) {
                out.push(Value::Text(Cow::Owned(s)));
            }
        }
        Some(b'n') => out.push(Value::Null),
        Some(_) => out.push(Value::Text(Cow::Borrowed(text))),
        None => {}
    }
}

/// An object's members in order, duplicates kept; `None` when the text is not an object.
fn members(text: &str) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);
    impl<'de> serde::Deserialize<'de> for Members<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some(k) = m.next_key::<Key<'de>>()? {
                        out.push((k.0, m.next_value::<&'de RawValue>()?));
                    }
                    Ok(Members(out))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                    Err(serde::de::Error::custom("not an object"))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Members>(text).ok().map(|m| m.0)
}

/// A member name, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(e: &Event<'a>, path: &str) -> Vec<Value<'a>> {
        let mut out = Vec::new();
        e.values(path, &mut out);
        out
    }

    fn text(s: &str) -> Value<'_> {
        Value::Text(Cow::Borrowed(s))
    }

    #[test]
    fn paths_through_objects_and_arrays() {
        let rec = r#"{"eventName":"RunTask","errorCode":null,"n":12,"ok":true,
            "userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"type":"Role"}}},
            "requestParameters":{"containerDefinitions":[{"command":["a","b"]},{"command":["c"]}],
                "layers":[], "policy": {"b": 1, "a": "x y"}},
            "a.b":"dotted","esc":"q\"uote"}"#;
        let e = Event::parse(rec).unwrap();
        assert_eq!(values(&e, "eventName"), vec![text("RunTask")]);
        assert_eq!(values(&e, "errorCode"), vec![Value::Null]);
        assert_eq!(values(&e, "missing"), vec![]);
        assert_eq!(values(&e, "n"), vec![text("12")]);
        assert_eq!(values(&e, "ok"), vec![text("true")]);
        assert_eq!(
            values(&e, "userIdentity.sessionContext.sessionIssuer.type"),
            vec![text("Role")]
        );
        assert_eq!(
            values(&e, "requestParameters.containerDefinitions.command"),
            vec![text("a"), text("b"), text("c")]
        );
        assert_eq!(values(&e, "requestParameters.layers"), vec![]);
        assert_eq!(
            values(&e, "requestParameters.policy"),
            vec![Value::Text(Cow::Owned(r#"{"b":1,"a":"x y"}"#.into()))]
        );
        assert_eq!(values(&e, "a.b"), vec![text("dotted")]);
        assert_eq!(
            values(&e, "esc"),
            vec![Value::Text(Cow::Owned("q\"uote".into()))]
        );
        assert_eq!(values(&e, "eventName.x"), vec![]);
    }

    #[test]
    fn a_repeated_key_gives_both_values() {
        let e = Event::parse(r#"{"userAgent":"benign","userAgent":"TruffleHog"}"#).unwrap();
        assert_eq!(
            values(&e, "userAgent"),
            vec![text("benign"), text("TruffleHog")]
        );
    }

    #[test]
    fn not_an_object() {
        assert!(Event::parse("[1]").is_none());
        assert!(Event::parse("{").is_none());
    }
}
