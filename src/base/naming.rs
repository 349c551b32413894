//! Role session names: `project-id.instance`, built by the credential fetcher and parsed back by the
//! analyzer. Both halves use this one module so that what one writes the other can always read.
//!
//! AWS allows 2–64 characters from `[\w+=,.@-]`. GCP project IDs are `[a-z][a-z0-9-]{4,28}[a-z0-9]`
//! and instance names are `[a-z]([-a-z0-9]*[a-z0-9])?`, so a '+' can never occur in either: the
//! fetcher uses `+` followed by 8 hex digits of a hash to mark a name it had to shorten.

use sha2::{Digest, Sha256};

/// AWS's limit on `RoleSessionName`.
pub const MAX_SESSION_NAME: usize = 64;
const MIN_SESSION_NAME: usize = 2;
/// `+` and 8 hex digits.
const HASH_SUFFIX_LEN: usize = 9;

/// How the analyzer arrived at a session's project and instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceSource {
    /// `project-id.name.zone.c.project.internal` (the GCE hostname, possibly cut at 64 characters).
    Hostname,
    /// `project-id.instance-name`.
    InstanceName,
    /// `project-id.instance…+hash`: the fetcher shortened an over-long name; the instance is a prefix.
    Shortened,
    /// A bare numeric Google `sub`: the instance is unknown and the `sub` is the key.
    NumericSub,
    /// Anything else: kept under its session name, project and instance unknown.
    Unrecognized,
}

impl InstanceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceSource::Hostname => "hostname",
            InstanceSource::InstanceName => "instance-name",
            InstanceSource::Shortened => "shortened",
            InstanceSource::NumericSub => "numeric-sub",
            InstanceSource::Unrecognized => "unrecognized",
        }
    }
}

/// The parts recovered from a session name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName<'a> {
    pub project: Option<&'a str>,
    pub instance: Option<&'a str>,
    pub zone: Option<&'a str>,
    pub source: InstanceSource,
}

/// True for a syntactically valid GCP project ID (6–30 chars, lowercase letter first, no trailing '-').
pub fn is_project_id(s: &str) -> bool {
    let b = s.as_bytes();
    (6..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// A GCE zone such as `us-central1-a` or `europe-west4-b`.
fn is_zone(s: &str) -> bool {
    let mut parts = s.rsplitn(2, '-');
    let (Some(letter), Some(region)) = (parts.next(), parts.next()) else {
        return false;
    };
    letter.len() == 1
        && letter.as_bytes()[0].is_ascii_lowercase()
        && region.contains('-')
        && region.as_bytes()[region.len() - 1].is_ascii_digit()
        && is_label(region)
}

fn is_hash_suffix(s: &str) -> bool {
    s.len() == HASH_SUFFIX_LEN
        && s.as_bytes()[0] == b'+'
        && s.bytes()
            .skip(1)
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Recover project and instance from a role session name. Never fails: names it cannot read are
/// `Unrecognized` and keep their session name as the key.
///
/// ```
/// use janus_audit::base::naming::{parse_session_name, InstanceSource};
/// let p = parse_session_name("prod-data-1234.etl-1.us-central1-a.c.prod-data-1234.internal");
/// assert_eq!((p.project, p.instance, p.zone), (Some("prod-data-1234"), Some("etl-1"), Some("us-central1-a")));
/// assert_eq!(p.source, InstanceSource::Hostname);
/// assert_eq!(parse_session_name("GitHubActions").source, InstanceSource::Unrecognized);
/// ```
pub fn parse_session_name(name: &str) -> ParsedName<'_> {
    let unrecognized = ParsedName {
        project: None,
        instance: None,
        zone: None,
        source: InstanceSource::Unrecognized,
    };
    // A Google subject is 21 digits; other all-digit names (the AWS SDKs' default session name
    // is a 19-digit nanosecond timestamp, as EKS workloads send it) say nothing of a sub.
    if name.len() == 21 && name.bytes().all(|c| c.is_ascii_digit()) {
        return ParsedName {
            source: InstanceSource::NumericSub,
            ..unrecognized
        };
    }
    let (body, shortened) = match name.len().checked_sub(HASH_SUFFIX_LEN) {
        Some(cut) if name.is_char_boundary(cut) && is_hash_suffix(&name[cut..]) => {
            (&name[..cut], true)
        }
        _ => (name, false),
    };
    let Some((project, rest)) = body.split_once('.') else {
        return unrecognized;
    };
    if !is_project_id(project) || rest.is_empty() {
        return unrecognized;
    }
    let mut labels = rest.split('.');
    let instance = labels.next().unwrap_or_default();
    // A shortened name may end mid-label; an empty or partial trailing label is expected there.
    if instance.is_empty()
        || !instance
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        return unrecognized;
    }
    let second = labels.next();
    let source = if shortened {
        InstanceSource::Shortened
    } else if second.is_some() {
        InstanceSource::Hostname
    } else {
        InstanceSource::InstanceName
    };
    ParsedName {
        project: Some(project),
        instance: Some(instance),
        zone: second.filter(|z| is_zone(z)),
        source,
    }
}

/// Replace every character AWS does not accept in a session name with '-'.
pub fn sanitize(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// 8 hex digits of SHA-256: enough that two different long names never meet in practice.
pub fn short_hash(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex::encode(&digest[..4])
}

/// Make any string a valid AWS role session name.
///
/// ```
/// use janus_audit::base::naming::{to_session_name, is_valid_session_name};
/// assert_eq!(to_session_name("my-project-1.vm 1"), "my-project-1.vm-1");
/// let long = to_session_name(&format!("my-project-1.{}", "x".repeat(100)));
/// assert!(is_valid_session_name(&long) && long.len() == 64);
/// ```
///
/// Invalid characters become '-'. A name over 64 characters keeps its start (project first, then
/// the instance, which is what an investigator reads) and ends in `+` and a hash of the *full* name,
/// so two long names that share a prefix still differ. A name under 2 characters is padded.
pub fn to_session_name(raw: &str) -> String {
    let clean = sanitize(raw);
    if clean.len() > MAX_SESSION_NAME {
        let keep = MAX_SESSION_NAME - HASH_SUFFIX_LEN;
        // sanitize() emits ASCII only, so any byte index is a char boundary.
        let mut head = clean[..keep].trim_end_matches(['.', '-']).to_string();
        if head.is_empty() {
            head.push('x');
        }
        return format!("{head}+{}", short_hash(raw));
    }
    if clean.len() < MIN_SESSION_NAME {
        return format!("{clean:-<width$}", width = MIN_SESSION_NAME);
    }
    clean
}

/// True when `s` satisfies AWS's rules for a role session name.
pub fn is_valid_session_name(s: &str) -> bool {
    (MIN_SESSION_NAME..=MAX_SESSION_NAME).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
}

/// The default `--session-name` template: the analyzer's `by-instance` report depends on it.
pub const DEFAULT_TEMPLATE: &str = "{project_id}.{instance}";

/// A `--session-name` template that names a placeholder it does not know, or is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}} in the session-name template (known: {1})")]
    Unknown(String, String),
    #[error("unclosed '{{' in the session-name template")]
    Unclosed,
    #[error("placeholder {{{0}}} has no value here")]
    Missing(String),
}

/// Placeholders a template may use, and their values where known.
pub const PLACEHOLDERS: [&str; 5] = ["project_id", "instance", "zone", "sub", "email"];

/// Fill a template such as `{project_id}.{instance}` and make the result a valid session name.
/// `{{` and `}}` stand for literal braces.
pub fn render_template(
    template: &str,
    value: impl Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(64);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{{") {
            out.push('{');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("}}") {
            out.push('}');
            rest = t;
        } else if let Some(t) = tail.strip_prefix('{') {
            let end = t.find('}').ok_or(TemplateError::Unclosed)?;
            let name = &t[..end];
            if !PLACEHOLDERS.contains(&name) {
                return Err(TemplateError::Unknown(
                    name.to_string(),
                    PLACEHOLDERS.join(", "),
                ));
            }
            out.push_str(&value(name).ok_or_else(|| TemplateError::Missing(name.to_string()))?);
            rest = &t[end + 1..];
        } else {
            out.push('}');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(to_session_name(&out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_hostname_form() {
        let p =
            parse_session_name("prod-data-1234.worker-7.us-central1-a.c.prod-data-1234.internal");
        assert_eq!(p.project, Some("prod-data-1234"));
        assert_eq!(p.instance, Some("worker-7"));
        assert_eq!(p.zone, Some("us-central1-a"));
        assert_eq!(p.source, InstanceSource::Hostname);
    }

    #[test]
    fn parses_hostname_cut_at_64() {
        let full = "analytics-prod-77.etl-runner-0042.europe-west4-b.c.analytics-prod-77.internal";
        let cut = &full[..64];
        let p = parse_session_name(cut);
        assert_eq!(p.project, Some("analytics-prod-77"));
        assert_eq!(p.instance, Some("etl-runner-0042"));
        assert_eq!(p.zone, Some("europe-west4-b"));
        assert_eq!(p.source, InstanceSource::Hostname);
    }

    #[test]
    fn parses_instance_name_form() {
        let p = parse_session_name("web-frontend-01.web-3");
        assert_eq!(
            (p.project, p.instance, p.zone, p.source),
            (
                Some("web-frontend-01"),
                Some("web-3"),
                None,
                InstanceSource::InstanceName
            )
        );
    }

    #[test]
    fn numeric_sub_has_no_instance() {
        let p = parse_session_name("106589373748273945123");
        assert_eq!(p.source, InstanceSource::NumericSub);
        assert_eq!(p.instance, None);
        // An AWS SDK's nanosecond-timestamp session name is no Google sub.
        for other in ["1722455550269043000", "12", "1065893737482739451234"] {
            assert_eq!(
                parse_session_name(other).source,
                InstanceSource::Unrecognized,
                "{other}"
            );
        }
    }

    #[test]
    fn other_names_are_unrecognized() {
        for n in [
            "GitHubActions",
            "botocore-session-1675698641",
            "i-06125b883c50e9d63",
            "MyAssignedRoleSessionName",
            "alice.smith",            // 'alice' is too short for a project ID
            "Project-X.instance",     // upper case is not a project ID
            "my-project.",            // nothing after the dot
            "my-project.bad_label.x", // '_' never occurs in an instance name
            "",
        ] {
            assert_eq!(
                parse_session_name(n).source,
                InstanceSource::Unrecognized,
                "{n}"
            );
        }
    }

    #[test]
    fn long_names_stay_readable_and_unique() {
        let a = to_session_name(&format!("my-project-123.{}", "a".repeat(80)));
        let b = to_session_name(&format!("my-project-123.{}b", "a".repeat(80)));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let p = parse_session_name(&a);
        assert_eq!(p.project, Some("my-project-123"));
        assert_eq!(p.source, InstanceSource::Shortened);
        assert!(p.instance.unwrap().starts_with("aaaa"));
    }

    #[test]
    fn invalid_characters_are_replaced() {
        assert_eq!(to_session_name("proj-123456.vm 1/x"), "proj-123456.vm-1-x");
        assert_eq!(to_session_name("a"), "a-");
        assert_eq!(to_session_name(""), "--");
        assert_eq!(to_session_name("ü"), "--");
    }

    #[test]
    fn templates() {
        let v = |k: &str| match k {
            "project_id" => Some("prod-data-1234".to_string()),
            "instance" => Some("etl-1".to_string()),
            "email" => Some("etl@prod-data-1234.iam.gserviceaccount.com".to_string()),
            _ => None,
        };
        assert_eq!(
            render_template(DEFAULT_TEMPLATE, v).unwrap(),
            "prod-data-1234.etl-1"
        );
        assert_eq!(
            render_template("{email}", v).unwrap(),
            "etl@prod-data-1234.iam.gserviceaccount.com"
        );
        assert_eq!(render_template("x{{y}}", v).unwrap(), "x-y-");
        assert!(matches!(
            render_template("{nope}", v),
            Err(TemplateError::Unknown(..))
        ));
        assert_eq!(
            render_template("{zone}", v),
            Err(TemplateError::Missing("zone".into()))
        );
        assert_eq!(
            render_template("{project_id", v),
            Err(TemplateError::Unclosed)
        );
        let name = render_template(DEFAULT_TEMPLATE, v).unwrap();
        let p = parse_session_name(&name);
        assert_eq!(
            (p.project, p.instance),
            (Some("prod-data-1234"), Some("etl-1"))
        );
    }

    #[test]
    fn matches_the_fixture_generator() {
        // fixtures/make_fixtures.py computes the same shortened name independently in Python.
        assert_eq!(
            to_session_name(
                "ml-platform-prod.very-long-training-job-instance-name-that-goes-on-and-on-forever"
            ),
            "ml-platform-prod.very-long-training-job-instance-name-t+8da59bdc"
        );
    }

    proptest! {
        #[test]
        fn templates_always_give_valid_names(t in "[a-z{}._ -]{0,80}", val in "\\PC{0,90}") {
            if let Ok(n) = render_template(&t, |_| Some(val.clone())) {
                prop_assert!(is_valid_session_name(&n), "{n:?}");
            }
        }

        #[test]
        fn any_input_gives_a_valid_name(s in "\\PC{0,200}") {
            let n = to_session_name(&s);
            prop_assert!(is_valid_session_name(&n), "{n:?}");
        }

        #[test]
        fn distinct_long_inputs_never_collide(a in "[a-z0-9.-]{65,120}", b in "[a-z0-9.-]{65,120}") {
            prop_assume!(a != b);
            prop_assert_ne!(to_session_name(&a), to_session_name(&b));
        }

        #[test]
        fn valid_short_names_pass_through(s in "[A-Za-z0-9_+=,.@-]{2,64}") {
            prop_assert_eq!(to_session_name(&s), s);
        }

        #[test]
        fn janus_names_round_trip(
            project in "[a-z][a-z0-9-]{4,28}[a-z0-9]",
            instance in "[a-z]([a-z0-9-]{0,40}[a-z0-9])?",
        ) {
            let name = to_session_name(&format!("{project}.{instance}"));
            let p = parse_session_name(&name);
            prop_assert_eq!(p.project, Some(project.as_str()));
            let got = p.instance.unwrap();
            prop_assert!(instance.starts_with(got), "{got} is not a prefix of {instance}");
            if p.source != InstanceSource::Shortened {
                prop_assert_eq!(got, instance.as_str());
            }
        }
    }
}
