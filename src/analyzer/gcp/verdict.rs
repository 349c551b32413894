//! `gcp_instance`: what the GCP logs say of the instance a key's session name claims, at the
//! time the key was issued.

use crate::analyzer::gcp::model::{Instance, Model};
use crate::base::naming::{InstanceSource, parse_session_name, short_hash};
use crate::base::timefmt::Millis;

/// The classes, worst first: a `by-instance` row takes its worst key's.
pub const ORDER: [&str; 5] = [
    "no_such_instance",
    "other_service_account",
    "not_covered",
    "not_instance_name",
    "verified",
];

/// One key's class, and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub class: &'static str,
    /// The instance found (`project/zone/name`), if any.
    pub instance: Option<String>,
    /// The service accounts it ran as then.
    pub ran_as: Vec<String>,
    pub reason: String,
}

fn verdict(class: &'static str, reason: String) -> Verdict {
    Verdict {
        class,
        instance: None,
        ran_as: Vec::new(),
        reason,
    }
}

/// The instances of `project` a session name can mean: its name exactly (and its zone, when
/// the name carries one), or for a name the fetcher shortened, those whose full session name
/// starts with what was kept and hashes to the suffix.
fn candidates<'m>(m: &'m Model, name: &str) -> Option<(String, Vec<&'m Instance>)> {
    let p = parse_session_name(name);
    let (Some(project), Some(instance)) = (p.project, p.instance) else {
        return None;
    };
    let of_project = m.of_project(project).iter();
    let found = match p.source {
        InstanceSource::Shortened => {
            let (kept, hash) = name.split_at(name.len() - 9);
            of_project
                .filter(|i| {
                    let hostname = format!("{project}.{}.{}.c.{project}.internal", i.name, i.zone);
                    [format!("{project}.{}", i.name), hostname]
                        .iter()
                        .any(|full| full.starts_with(kept) && short_hash(full) == hash[1..])
                })
                .collect()
        }
        _ => of_project
            .filter(|i| i.name == instance && p.zone.is_none_or(|z| z == i.zone))
            .collect(),
    };
    Some((project.to_string(), found))
}

/// The class of a key issued at `issued` to `sub` under `session_name`.
pub fn judge(m: &Model, session_name: &str, sub: Option<&str>, issued: Option<Millis>) -> Verdict {
    let Some((project, found)) = candidates(m, session_name) else {
        return verdict(
            "not_instance_name",
            "the session name carries no project and instance".into(),
        );
    };
    let Some(t) = issued else {
        return verdict("not_covered", "the key's issue time is unknown".into());
    };
    let alive: Vec<&Instance> = found.into_iter().filter(|i| i.existed_at(t)).collect();
    if alive.is_empty() {
        return match m.covers(&project, t) {
            true => verdict(
                "no_such_instance",
                format!(
                    "project {project}'s Admin Activity log covers that time and shows no such instance then (one created before the logs begin and untouched since is known only from --gcp-instances)"
                ),
            ),
            false => verdict(
                "not_covered",
                format!("no Admin Activity log of project {project} covers that time"),
            ),
        };
    }
    // One name can live in several zones of a project, and a name without its zone claims any
    // of them: the best-supported life decides (verified, else unknown, else another account).
    alive
        .iter()
        .map(|life| judge_life(m, life, sub, t))
        .min_by_key(|v| {
            ["verified", "not_covered", "other_service_account"]
                .iter()
                .position(|c| *c == v.class)
        })
        .expect("at least one life")
}

/// What one life of the claimed instance says of a key issued at `t` to `sub`.
fn judge_life(m: &Model, life: &Instance, sub: Option<&str>, t: Millis) -> Verdict {
    let ran_as: Vec<String> = life.accounts_at(t).iter().map(|s| s.to_string()).collect();
    let ids: Vec<Option<&str>> = ran_as
        .iter()
        .map(|e| m.account(e).map(|a| a.unique_id.as_str()))
        .collect();
    let place = format!("{}/{}/{}", life.project, life.zone, life.name);
    let with = |class: &'static str, reason: String| Verdict {
        class,
        instance: Some(place.clone()),
        ran_as: ran_as.clone(),
        reason,
    };
    match sub {
        Some(sub) if ids.contains(&Some(sub)) => with(
            "verified",
            format!("{place} ran as the sub's service account"),
        ),
        _ if ran_as.is_empty() => with(
            "not_covered",
            format!("{place} existed; which service account it ran as is not in the input"),
        ),
        _ if ids.iter().any(Option::is_none) => with(
            "not_covered",
            format!(
                "{place} existed; the unique ID of {} is not known (add --gcp-service-accounts)",
                ran_as.join(", ")
            ),
        ),
        _ => with(
            "other_service_account",
            format!("{place} existed but ran as {}", ran_as.join(", ")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::gcp::model::Account;

    fn life(zone: &str, account: &str) -> Instance {
        Instance {
            project: "prod-data-1234".into(),
            zone: zone.into(),
            name: "etl-1".into(),
            instance_id: None,
            created: Some(0),
            deleted: None,
            first_seen: 0,
            last_seen: 0,
            accounts: vec![(0, account.into())],
            listed: false,
        }
    }

    #[test]
    fn a_name_in_two_zones_is_verified_by_the_one_that_ran_as_the_sub() {
        let mut m = Model::default();
        for (email, id) in [
            ("a@x", "111111111111111111111"),
            ("b@x", "222222222222222222222"),
        ] {
            m.accounts.insert(
                email.into(),
                Account {
                    email: email.into(),
                    unique_id: id.into(),
                    project: None,
                    created: None,
                },
            );
        }
        m.instances = vec![life("us-central1-b", "a@x"), life("us-central1-a", "b@x")];
        let v = judge(
            &m,
            "prod-data-1234.etl-1",
            Some("111111111111111111111"),
            Some(5),
        );
        assert_eq!(v.class, "verified");
        assert_eq!(
            v.instance.as_deref(),
            Some("prod-data-1234/us-central1-b/etl-1")
        );
        // A name that carries its zone is judged in that zone only.
        let v = judge(
            &m,
            "prod-data-1234.etl-1.us-central1-a.c.prod-data-1234.internal",
            Some("111111111111111111111"),
            Some(5),
        );
        assert_eq!(v.class, "other_service_account");
    }
}
