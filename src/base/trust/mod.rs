//! A role's trust policy, as IAM reads it, for the one question janus-audit asks of it: which
//! Google identities can assume the role with `AssumeRoleWithWebIdentity`, and so how far a
//! session name can be believed. The fetcher writes a policy (`credentials --explain`) and the
//! analyzer judges them (`trust`): both from this one model.
//!
//! The semantics (IAM User Guide: "Available keys for AWS web identity federation", "IAM JSON
//! policy elements: Condition operators", "Conditions with multiple context keys or values"):
//! `accounts.google.com:aud` is the token's `azp` when it has one (for a service account's token,
//! the account's unique ID), else its `aud`; `accounts.google.com:oaud` is its `aud`, the audience
//! the caller chose; `accounts.google.com:sub` is the identity's unique ID.

pub mod judge;

use serde_json::Value;

pub const GOOGLE: &str = "accounts.google.com";
pub const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
pub const KEY_AUD: &str = "accounts.google.com:aud";
pub const KEY_OAUD: &str = "accounts.google.com:oaud";
pub const KEY_SUB: &str = "accounts.google.com:sub";
pub const KEY_SESSION_NAME: &str = "sts:RoleSessionName";

/// A trust policy's statements, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The Sid, else the statement's index from 0.
    pub id: String,
    pub effect: String,
    pub principal: Principal,
    /// `NotPrincipal` is not allowed in a trust policy; kept to be named.
    pub not_principal: bool,
    pub action: Option<Vec<String>>,
    pub not_action: Option<Vec<String>>,
    pub conditions: Vec<Condition>,
}

/// What a statement's `Principal` says about web identities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// `"Principal": "*"`: everyone, Google's tokens included.
    pub everyone: bool,
    /// `Federated` names `accounts.google.com`.
    pub google: bool,
    /// The other `Federated` principals (OIDC and SAML providers' ARNs, Cognito, ...).
    pub other_federated: Vec<String>,
}

/// One key's test: `{"StringEquals": {"accounts.google.com:sub": ["1", "2"]}}` is one condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a policy document (no Statement)")]
    NoStatement,
    #[error("statement {0} is not an object")]
    StatementNotObject(usize),
    #[error("statement {0}: its Condition is not an object of operators to objects of keys")]
    BadCondition(usize),
}

/// Parse a policy document's JSON text. What IAM accepts in several shapes (a string or a list,
/// one statement or a list) is accepted in each; what is not a policy is an error.
pub fn parse(text: &str) -> Result<Document, PolicyError> {
    let v: Value = serde_json::from_str(text).map_err(|e| PolicyError::NotJson(e.to_string()))?;
    parse_value(&v)
}

pub fn parse_value(v: &Value) -> Result<Document, PolicyError> {
    let list = match v.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => return Err(PolicyError::NoStatement),
    };
    let statements = list
        .into_iter()
        .enumerate()
        .map(|(i, s)| statement(i, s))
        .collect::<Result<_, _>>()?;
    Ok(Document { statements })
}

fn statement(index: usize, v: &Value) -> Result<Statement, PolicyError> {
    let Value::Object(o) = v else {
        return Err(PolicyError::StatementNotObject(index));
    };
    let conditions = match o.get("Condition") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(ops)) => {
            let mut out = Vec::new();
            for (operator, keys) in ops {
                let Value::Object(keys) = keys else {
                    return Err(PolicyError::BadCondition(index));
                };
                for (key, values) in keys {
                    out.push(Condition {
                        operator: operator.clone(),
                        key: key.clone(),
                        values: strings(values),
                    });
                }
            }
            out
        }
        Some(_) => return Err(PolicyError::BadCondition(index)),
    };
    Ok(Statement {
        id: match o.get("Sid").and_then(Value::as_str) {
            Some(sid) if !sid.is_empty() => sid.to_string(),
            _ => index.to_string(),
        },
        effect: o
            .get("Effect")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        principal: principal(o.get("Principal")),
        not_principal: o.contains_key("NotPrincipal"),
        action: o.get("Action").map(strings),
        not_action: o.get("NotAction").map(strings),
        conditions,
    })
}

/// A value IAM reads as one string or a list of them; numbers and booleans as their text.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn principal(v: Option<&Value>) -> Principal {
    let mut p = Principal::default();
    match v {
        Some(Value::String(s)) if s == "*" => p.everyone = true,
        Some(Value::Object(o)) => {
            for f in o.get("Federated").map(strings).unwrap_or_default() {
                match f.eq_ignore_ascii_case(GOOGLE) {
                    true => p.google = true,
                    false => p.other_federated.push(f),
                }
            }
        }
        _ => {}
    }
    p
}

/// The statement the fetcher's token needs, pinned to its identity: `aud` (the token's `azp`,
/// the service account's unique ID), `oaud` (the audience asked for) and `sub`, and the session
/// name when given. `credentials --explain` prints it; `trust` judges it `listed_identities`.
pub fn pinned_policy(azp: &str, aud: &str, sub: &str, session_name: Option<&str>) -> Value {
    pinned_to(&[azp], &[aud], &[sub], session_name)
}

/// A policy that admits only tokens whose `aud` (`azp`), `oaud` and `sub` are among the values
/// given (one value is written as a string, several as a list): what `credentials --explain`
/// prints for one identity and `trust --tighten` for the identities a trail shows.
pub fn pinned_to(aud: &[&str], oaud: &[&str], sub: &[&str], session_name: Option<&str>) -> Value {
    let mut equals = serde_json::Map::new();
    let mut present = serde_json::Map::new();
    // A key with no value to pin (no audience known) is left out, not pinned to nothing.
    for (key, values) in [(KEY_AUD, aud), (KEY_OAUD, oaud), (KEY_SUB, sub)] {
        let v = match values {
            [] => continue,
            [one] => Value::from(*one),
            many => Value::from(many.to_vec()),
        };
        equals.insert(key.into(), v);
        present.insert(key.into(), "false".into());
    }
    if let Some(name) = session_name {
        equals.insert(KEY_SESSION_NAME.into(), name.into());
    }
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": GOOGLE},
            "Action": ACTION,
            "Condition": {
                "StringEquals": equals,
                "Null": present,
            },
        }],
    })
}

/// IAM's wildcard match (`*` any run, `?` one character), as `StringLike` and `Action` use it.
pub fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| match ignore_case {
        true => s.to_lowercase().chars().collect::<Vec<_>>(),
        false => s.chars().collect(),
    };
    let (p, t) = (fold(pattern), fold(text));
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_iam_accepts_are_read() {
        let d = parse(
            r#"{"Statement": {"Sid": "", "Effect": "Allow", "Principal": {"Federated": ["accounts.google.com", "arn:aws:iam::1:oidc-provider/x"]},
               "Action": "sts:AssumeRoleWithWebIdentity",
               "Condition": {"StringEquals": {"accounts.google.com:sub": ["1", 2], "accounts.google.com:oaud": "a"}, "Null": {"accounts.google.com:aud": false}}}}"#,
        )
        .unwrap();
        let s = &d.statements[0];
        assert_eq!(s.id, "0");
        assert!(s.principal.google && !s.principal.everyone);
        assert_eq!(
            s.principal.other_federated,
            ["arn:aws:iam::1:oidc-provider/x"]
        );
        assert_eq!(s.conditions.len(), 3);
        assert!(
            s.conditions
                .iter()
                .any(|c| c.key == KEY_SUB && c.values == ["1", "2"])
        );
        assert!(s.conditions.iter().any(|c| c.values == ["false"]));
        assert_eq!(parse("{}"), Err(PolicyError::NoStatement));
        assert!(matches!(parse("{"), Err(PolicyError::NotJson(_))));
        assert_eq!(
            parse(r#"{"Statement": [{"Condition": "x"}]}"#),
            Err(PolicyError::BadCondition(0))
        );
    }

    #[test]
    fn wildcards_match_as_iam_matches() {
        assert!(wildcard_match(
            "sts:*",
            "sts:AssumeRoleWithWebIdentity",
            true
        ));
        assert!(wildcard_match("STS:assumerole*", ACTION, true));
        assert!(!wildcard_match("sts:AssumeRole", ACTION, true));
        assert!(wildcard_match("1234?", "12345", false));
        assert!(!wildcard_match("1234?", "123456", false));
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("a*b*c", "axxbyyc", false));
        assert!(!wildcard_match("a*b*c", "axxbyy", false));
    }
}

#[cfg(test)]
mod explain_tests {
    use super::*;

    /// `credentials --explain` and `trust` share this model: what the fetcher prints is judged
    /// as admitting exactly its own identity, with the session name pinned when asked.
    #[test]
    fn the_policy_the_fetcher_prints_admits_only_its_identity() {
        let sa = "111111111111111111111";
        let doc = parse_value(&pinned_policy(sa, "https://aud", sa, Some("p.vm-1"))).unwrap();
        let v = judge::statement(&doc.statements[0]);
        assert_eq!(v.who, judge::Who::ListedIdentities, "{}", v.reason);
        assert_eq!(v.subjects, [sa]);
        assert_eq!(v.audiences, ["https://aud"]);
        assert_eq!(v.session_name, "StringEquals p.vm-1");
        let doc = parse_value(&pinned_policy(sa, "https://aud", sa, None)).unwrap();
        assert_eq!(
            judge::statement(&doc.statements[0]).session_name,
            judge::FREE
        );
    }
}
