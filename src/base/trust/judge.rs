//! Who a trust policy admits: for each statement that names Google, and for the role (its
//! statements OR'ed, minus what its Deny statements match).
//!
//! On `aud`, `oaud` and `sub`, which every Google token carries with one value, `ForAllValues:`,
//! `ForAnyValue:` and `...IfExists` test that value as the plain operator does. On a key a Google
//! token never carries (another provider's, a misspelt one), a condition is decided without
//! knowing the token: plain and `ForAnyValue:` operators are false, negated ones (`StringNot...`)
//! true, `ForAllValues:` and `...IfExists` true, `Null` true only for `"true"`.

use std::collections::BTreeSet;

use crate::base::trust::{
    ACTION, Condition, GOOGLE, KEY_AUD, KEY_OAUD, KEY_SESSION_NAME, KEY_SUB, Statement,
    wildcard_match,
};

/// Who a statement or a role admits, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    /// Any Google identity: whoever asks Google for a token with the audience it checks.
    AnyGoogleIdentity,
    /// Identities matching wildcard patterns.
    Pattern,
    /// A construct this cannot decide (the reason says which).
    Unknown,
    /// Only the listed unique IDs.
    ListedIdentities,
    /// No Google token can match.
    None,
}

impl Who {
    pub fn as_str(self) -> &'static str {
        match self {
            Who::AnyGoogleIdentity => "any_google_identity",
            Who::Pattern => "pattern",
            Who::Unknown => "unknown",
            Who::ListedIdentities => "listed_identities",
            Who::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub who: Who,
    /// The unique IDs (or patterns) admitted.
    pub subjects: Vec<String>,
    /// The `oaud` audiences a token must have been asked for, when pinned.
    pub audiences: Vec<String>,
    /// `free`, or the condition on the session name.
    pub session_name: String,
    /// One sentence: what decides it.
    pub reason: String,
    /// The statement is not a valid trust-policy statement (bad input, to be counted).
    pub malformed: bool,
}

impl Verdict {
    fn of(who: Who, reason: impl Into<String>) -> Verdict {
        Verdict {
            who,
            subjects: Vec::new(),
            audiences: Vec::new(),
            session_name: FREE.into(),
            reason: reason.into(),
            malformed: false,
        }
    }

    fn bad(reason: impl Into<String>) -> Verdict {
        Verdict {
            malformed: true,
            ..Verdict::of(Who::Unknown, reason)
        }
    }
}

pub const FREE: &str = "free";

/// Whether a statement is about Google tokens at all (`Principal` names `accounts.google.com`
/// or is `*`); only those are judged.
pub fn names_google(s: &Statement) -> bool {
    s.principal.google || s.principal.everyone || s.not_principal
}

/// Which of Google's keys a condition tests, or how a key a Google token never carries reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Sub,
    Aud,
    Oaud,
    SessionName,
    /// Never in a Google token's request: decided without the token.
    Absent,
    /// In the request but not about who (`aws:SourceIp`, `aws:CurrentTime`, ...).
    Undecided,
}

fn key_of(key: &str) -> Key {
    let k = key.to_ascii_lowercase();
    match k.as_str() {
        _ if k == KEY_SUB => Key::Sub,
        _ if k == KEY_AUD => Key::Aud,
        _ if k == KEY_OAUD => Key::Oaud,
        _ if k == KEY_SESSION_NAME.to_ascii_lowercase() => Key::SessionName,
        // Tags and source identity come from claims a Google token does not have; ExternalId
        // only from AssumeRole.
        _ if k.starts_with("aws:requesttag/")
            || k == "aws:tagkeys"
            || k == "sts:sourceidentity"
            || k == "sts:externalid"
            || k == "sts:transitivetagkeys" =>
        {
            Key::Absent
        }
        _ if k.starts_with("aws:") || k.starts_with("sts:") => Key::Undecided,
        // Another provider's key, or one Google does not have under its own prefix.
        _ => Key::Absent,
    }
}

/// An operator's parts: `ForAllValues:StringLikeIfExists` is (ForAll, StringLike, if_exists).
struct Operator<'a> {
    for_all: bool,
    for_any: bool,
    base: &'a str,
    if_exists: bool,
}

const STRING_OPS: [&str; 6] = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
];
const OTHER_OPS: [&str; 21] = [
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

fn operator(raw: &str) -> Option<Operator<'_>> {
    let (for_all, for_any, rest) = match raw.split_once(':') {
        Some(("ForAllValues", r)) => (true, false, r),
        Some(("ForAnyValue", r)) => (false, true, r),
        Some(_) => return None,
        None => (false, false, raw),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) if b != "Null" => (b, true),
        _ => (rest, false),
    };
    (STRING_OPS.contains(&base) || OTHER_OPS.contains(&base)).then_some(Operator {
        for_all,
        for_any,
        base,
        if_exists,
    })
}

fn negated(base: &str) -> bool {
    base.contains("Not")
}

/// What one statement's conditions leave of the Google identities.
#[derive(Default)]
struct Limits {
    sub: Vec<(Vec<String>, Test)>,
    aud: Vec<(Vec<String>, Test)>,
    audiences: Vec<String>,
    session: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Test {
    Equals,
    Like,
    Not,
}

/// Judge one statement that names Google (see [`names_google`]).
pub fn statement(s: &Statement) -> Verdict {
    if s.not_principal {
        return Verdict::bad("NotPrincipal is not allowed in a trust policy");
    }
    if s.effect != "Allow" && s.effect != "Deny" {
        return Verdict::bad(format!(
            "Effect {} is neither Allow nor Deny",
            crate::base::text::excerpt(&s.effect)
        ));
    }
    if let Some(v) = action_refuses(s) {
        return v;
    }
    let mut limits = Limits::default();
    for c in &s.conditions {
        if let Some(v) = condition(c, &mut limits) {
            return v;
        }
    }
    let mut v = identities(&limits, s.principal.everyone);
    v.audiences = limits.audiences;
    if !limits.session.is_empty() {
        v.session_name = limits.session.join("; ");
    }
    v
}

fn action_refuses(s: &Statement) -> Option<Verdict> {
    let matches = |list: &[String]| list.iter().any(|a| wildcard_match(a, ACTION, true));
    let allowed = match (&s.action, &s.not_action) {
        (Some(a), None) => matches(a),
        (None, Some(n)) => !matches(n),
        _ => {
            return Some(Verdict::bad(
                "a statement needs exactly one of Action and NotAction",
            ));
        }
    };
    (!allowed).then(|| {
        Verdict::of(
            Who::None,
            format!(
                "its actions do not include {ACTION}, the only one a Google token can call (a federated principal cannot use sts:AssumeRole)"
            ),
        )
    })
}

/// Fold one condition into `limits`; a verdict when the condition alone decides the statement.
fn condition(c: &Condition, limits: &mut Limits) -> Option<Verdict> {
    let Some(op) = operator(&c.operator) else {
        return Some(Verdict::bad(format!(
            "unknown condition operator {}",
            crate::base::text::excerpt(&c.operator)
        )));
    };
    let key = key_of(&c.key);
    let named = || {
        format!(
            "{} on {}",
            crate::base::text::excerpt(&c.operator),
            crate::base::text::excerpt(&c.key)
        )
    };
    if op.base == "Null" {
        let wants_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        let present = !matches!(key, Key::Absent);
        return match (key, wants_absent == present) {
            (Key::Undecided, _) => Some(Verdict::of(
                Who::Unknown,
                format!("{} cannot be decided from the policy alone", named()),
            )),
            (_, true) => Some(Verdict::of(
                Who::None,
                format!("{} can never hold for a Google token", named()),
            )),
            _ => None,
        };
    }
    match key {
        Key::Absent => {
            let holds = op.for_all || op.if_exists || (negated(op.base) && !op.for_any);
            (!holds).then(|| {
                Verdict::of(
                    Who::None,
                    format!(
                        "{}: a Google token never carries that key, so the condition is always false",
                        named()
                    ),
                )
            })
        }
        Key::Undecided => Some(Verdict::of(
            Who::Unknown,
            format!("{} cannot be decided from the policy alone", named()),
        )),
        _ if !STRING_OPS.contains(&op.base) => Some(Verdict::of(
            Who::Unknown,
            format!("{}: not a string comparison", named()),
        )),
        Key::Oaud => {
            if !negated(op.base) {
                limits.audiences.extend(c.values.iter().cloned());
            }
            None
        }
        Key::SessionName => {
            limits
                .session
                .push(format!("{} {}", op.base, c.values.join(", ")));
            None
        }
        Key::Sub | Key::Aud => {
            let test = match op.base {
                b if negated(b) => Test::Not,
                "StringLike" => Test::Like,
                _ => Test::Equals,
            };
            let list = match key {
                Key::Sub => &mut limits.sub,
                _ => &mut limits.aud,
            };
            list.push((c.values.clone(), test));
            None
        }
    }
}

/// A service account's unique ID: 21 digits, the `sub` and `azp` of its tokens.
fn unique_id(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// An OAuth client's ID: the `azp` of a user's token signed in through that client.
fn client_id(v: &str) -> bool {
    v.ends_with(".apps.googleusercontent.com")
}

/// The values every test of one key admits, when one of them lists values: the listed ones that
/// pass every other test. `None` when no test lists values.
fn listed(tests: &[(Vec<String>, Test)]) -> Option<BTreeSet<String>> {
    let mut out: Option<BTreeSet<String>> = None;
    for (values, test) in tests {
        let like = *test == Test::Like && values.iter().any(|v| v.contains(['*', '?']));
        if *test == Test::Equals || (*test == Test::Like && !like) {
            let set: BTreeSet<String> = values.iter().cloned().collect();
            out = Some(match out {
                None => set,
                Some(o) => o.intersection(&set).cloned().collect(),
            });
        }
    }
    let out = out?;
    Some(
        out.into_iter()
            .filter(|v| {
                tests.iter().all(|(values, test)| match test {
                    Test::Equals => values.contains(v),
                    Test::Like => values.iter().any(|p| wildcard_match(p, v, false)),
                    Test::Not => !values.contains(v),
                })
            })
            .collect(),
    )
}

fn patterns(tests: &[(Vec<String>, Test)]) -> Vec<String> {
    tests
        .iter()
        .filter(|(_, t)| *t == Test::Like)
        .flat_map(|(v, _)| v.iter().cloned())
        .collect()
}

fn identities(l: &Limits, everyone: bool) -> Verdict {
    let principal = match everyone {
        true => "Principal \"*\" admits Google's tokens; ",
        false => "",
    };
    let auds = listed(&l.aud);
    if let Some(subs) = listed(&l.sub) {
        return by_sub(subs, auds.as_ref(), principal);
    }
    if let Some(auds) = auds {
        return by_aud(auds, principal);
    }
    let like: Vec<String> = patterns(&l.sub)
        .into_iter()
        .chain(patterns(&l.aud))
        .collect();
    if !like.is_empty() && like.iter().all(|p| p.chars().any(|c| c != '*')) {
        return Verdict {
            subjects: like,
            ..Verdict::of(
                Who::Pattern,
                format!("{principal}sub or aud is matched with wildcards (StringLike)"),
            )
        };
    }
    let why = match (l.sub.is_empty() && l.aud.is_empty(), l.audiences.is_empty()) {
        (false, _) => "its conditions on sub and aud only exclude identities or match everything",
        (true, false) => {
            "it checks only oaud, the audience the caller asks Google for, which any Google identity can ask for"
        }
        (true, true) => "no condition limits the Google identity",
    };
    Verdict::of(Who::AnyGoogleIdentity, format!("{principal}{why}"))
}

/// `sub` pinned to `subs`; `aud` pinned too when `auds` is given.
fn by_sub(subs: BTreeSet<String>, auds: Option<&BTreeSet<String>>, principal: &str) -> Verdict {
    // A service account's token has azp = sub; a user's has azp = an OAuth client.
    let subs: Vec<String> = match auds {
        Some(a) if a.iter().all(|v| unique_id(v)) => subs.intersection(a).cloned().collect(),
        _ => subs.into_iter().collect(),
    };
    match subs.is_empty() {
        true => Verdict::of(
            Who::None,
            format!("{principal}its conditions on sub and aud admit no identity"),
        ),
        false => Verdict {
            subjects: subs,
            ..Verdict::of(
                Who::ListedIdentities,
                format!("{principal}sub is pinned to unique IDs with a string equality"),
            )
        },
    }
}

/// `aud` (the token's `azp`) pinned to `auds`, `sub` not.
fn by_aud(auds: BTreeSet<String>, principal: &str) -> Verdict {
    if auds.is_empty() {
        return Verdict::of(
            Who::None,
            format!("{principal}its conditions on aud admit no value"),
        );
    }
    if let Some(client) = auds.iter().find(|v| client_id(v)) {
        return Verdict {
            subjects: auds.iter().cloned().collect(),
            ..Verdict::of(
                Who::AnyGoogleIdentity,
                format!(
                    "{principal}aud is pinned to the OAuth client {client}: anyone who signs in through it has a token it admits"
                ),
            )
        };
    }
    if let Some(odd) = auds.iter().find(|v| !unique_id(v)) {
        return Verdict::of(
            Who::Unknown,
            format!(
                "{principal}aud is pinned to {}, neither a service account's unique ID nor an OAuth client ID",
                crate::base::text::excerpt(odd)
            ),
        );
    }
    Verdict {
        subjects: auds.into_iter().collect(),
        ..Verdict::of(
            Who::ListedIdentities,
            format!("{principal}aud (the token's azp) is pinned to service accounts' unique IDs"),
        )
    }
}

/// The role's verdict from its statements' (those that name Google): Allow statements OR'ed,
/// Deny statements subtracted.
pub fn role(statements: &[(&Statement, &Verdict)]) -> Verdict {
    let allows: Vec<&Verdict> = statements
        .iter()
        .filter(|(s, v)| s.effect == "Allow" && v.who != Who::None)
        .map(|(_, v)| *v)
        .collect();
    let Some(loosest) = allows.iter().map(|v| v.who).min() else {
        let why = statements
            .iter()
            .find(|(s, _)| s.effect == "Allow")
            .map(|(s, v)| format!("statement {} admits no Google token: {}", s.id, v.reason));
        return Verdict::of(
            Who::None,
            why.unwrap_or_else(|| format!("no statement allows {ACTION} for {GOOGLE}")),
        );
    };
    let mut out = Verdict::of(loosest, "");
    // The identities the loosest statements admit: a tight statement beside a loose one lists
    // no one who could not also come through the loose one.
    for v in allows.iter().filter(|v| v.who == loosest) {
        out.subjects.extend(v.subjects.iter().cloned());
    }
    for v in &allows {
        out.audiences.extend(v.audiences.iter().cloned());
    }
    out.subjects.sort();
    out.subjects.dedup();
    out.audiences.sort();
    out.audiences.dedup();
    out.session_name = match allows.iter().any(|v| v.session_name == FREE) {
        true => FREE.into(),
        false => allows
            .iter()
            .map(|v| v.session_name.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    };
    let decisive = allows
        .iter()
        .find(|v| v.who == loosest)
        .map(|v| v.reason.clone());
    out.reason = match allows.len() {
        1 => decisive.unwrap_or_default(),
        n => format!(
            "{n} statements allow it and the loosest decides: {}",
            decisive.unwrap_or_default()
        ),
    };
    for (s, deny) in statements
        .iter()
        .filter(|(s, v)| s.effect == "Deny" && v.who != Who::None)
    {
        match deny.who {
            Who::AnyGoogleIdentity if deny.subjects.is_empty() => {
                return Verdict::of(
                    Who::None,
                    format!("Deny statement {} matches every Google token", s.id),
                );
            }
            Who::ListedIdentities if out.who == Who::ListedIdentities => {
                out.subjects.retain(|x| !deny.subjects.contains(x));
                if out.subjects.is_empty() {
                    return Verdict::of(
                        Who::None,
                        format!("Deny statement {} removes every identity allowed", s.id),
                    );
                }
            }
            Who::ListedIdentities => {}
            _ => {
                out.who = Who::Unknown;
                out.reason = format!(
                    "Deny statement {} matches identities that cannot be listed: {}",
                    s.id, deny.reason
                );
            }
        }
    }
    out
}

/// A document's statements that name Google, each judged, and the role's verdict from them.
pub fn document(doc: &crate::base::trust::Document) -> (Vec<(&Statement, Verdict)>, Verdict) {
    let judged: Vec<(&Statement, Verdict)> = doc
        .statements
        .iter()
        .filter(|s| names_google(s))
        .map(|s| (s, statement(s)))
        .collect();
    let pairs: Vec<_> = judged.iter().map(|(s, v)| (*s, v)).collect();
    let role = role(&pairs);
    (judged, role)
}
