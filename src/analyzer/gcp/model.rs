//! The facts, put together: each instance's lives (created, deleted, the service accounts it ran
//! as and when), the service accounts whose unique ID is known, the mints and the changes.

use std::collections::{BTreeMap, HashMap};

use crate::analyzer::gcp::entry::{Fact, Kind};
use crate::analyzer::gcp::read::Coverage;
use crate::base::timefmt::Millis;

/// One life of an instance: a name can be deleted and created again.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub project: String,
    pub zone: String,
    pub name: String,
    pub instance_id: Option<String>,
    /// None: created before the logs begin (or the listing) say.
    pub created: Option<Millis>,
    pub deleted: Option<Millis>,
    pub first_seen: Millis,
    pub last_seen: Millis,
    /// The service accounts it ran as, each from a time on (the first from its creation).
    pub accounts: Vec<(Millis, String)>,
    /// Known only from `--gcp-instances`.
    pub listed: bool,
}

impl Instance {
    /// It existed at `t`: created at or before (or before the logs), not yet deleted.
    pub fn existed_at(&self, t: Millis) -> bool {
        self.created.is_none_or(|c| c <= t) && self.deleted.is_none_or(|d| t < d)
    }

    /// The service accounts it ran as at `t`: the last change at or before it, else the first.
    pub fn accounts_at(&self, t: Millis) -> Vec<&str> {
        let from = self
            .accounts
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .or(self.accounts.first())
            .map(|(at, _)| *at);
        self.accounts
            .iter()
            .filter(|(at, _)| Some(*at) == from)
            .map(|(_, e)| e.as_str())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub email: String,
    pub unique_id: String,
    pub project: Option<String>,
    pub created: Option<Millis>,
}

/// Everything the GCP logs say, in the form the tables and verdicts use.
#[derive(Debug, Default)]
pub struct Model {
    /// In project order (then zone, name, creation): see [`Model::of_project`].
    pub instances: Vec<Instance>,
    /// By email (lower case).
    pub accounts: BTreeMap<String, Account>,
    pub mints: Vec<Fact>,
    pub changes: Vec<Fact>,
    pub coverage: Coverage,
    /// Project ID → number, for the compute default account.
    pub numbers: HashMap<String, String>,
}

impl Model {
    pub fn account(&self, email: &str) -> Option<&Account> {
        self.accounts.get(&email.to_ascii_lowercase())
    }

    /// The lives of `project`'s instances: a range of the sorted list, not a scan of it (every
    /// key of every report asks).
    pub fn of_project(&self, project: &str) -> &[Instance] {
        let start = self
            .instances
            .partition_point(|i| i.project.as_str() < project);
        let len = self.instances[start..].partition_point(|i| i.project == project);
        &self.instances[start..start + len]
    }

    /// The account whose unique ID is `id`.
    pub fn account_by_id(&self, id: &str) -> Option<&Account> {
        self.accounts.values().find(|a| a.unique_id == id)
    }

    /// The project's Admin Activity log covers `t`.
    pub fn covers(&self, project: &str, t: Millis) -> bool {
        self.coverage
            .get(&(
                project.to_string(),
                crate::analyzer::gcp::entry::LogType::Activity,
            ))
            .is_some_and(|(first, last)| *first <= t && t <= *last)
    }

    /// Whether any IAM Credentials (Data Access) entry was read at all.
    pub fn has_data_access(&self) -> bool {
        self.coverage
            .keys()
            .any(|(_, t)| *t == crate::analyzer::gcp::entry::LogType::DataAccess)
    }
}

const COMPUTE_DEFAULT: &str = "-compute@developer.gserviceaccount.com";

/// Build the model from the facts (in input order, de-duplicated) and the coverage.
pub fn build(facts: &[Fact], coverage: Coverage) -> Model {
    let mut order: Vec<&Fact> = facts.iter().collect();
    order.sort_by_key(|f| f.time);
    let mut m = Model {
        coverage,
        ..Model::default()
    };
    for f in &order {
        match f.kind {
            Some(Kind::ProjectNumber) => {
                if let (Some(p), Some(n)) = (&f.project, &f.detail) {
                    m.numbers.entry(p.clone()).or_insert(n.clone());
                }
            }
            Some(Kind::ServiceAccountKnown | Kind::ServiceAccountCreated) => learn(&mut m, f),
            Some(Kind::Mint) => m.mints.push((*f).clone()),
            Some(Kind::KeyCreated | Kind::KeyDeleted | Kind::TokenCreatorGranted) => {
                m.changes.push((*f).clone())
            }
            _ => {}
        }
    }
    // One mint per operation: IAM Credentials may log an operation's start and end.
    let mut ops = std::collections::HashSet::new();
    m.mints.retain(|f| {
        f.operation_id
            .as_ref()
            .is_none_or(|o| ops.insert(o.clone()))
    });
    m.instances = lives(&order);
    listed(&mut m, &order);
    for i in &mut m.instances {
        for (_, email) in &mut i.accounts {
            if email == "default"
                && let Some(n) = m.numbers.get(&i.project)
            {
                *email = format!("{n}{COMPUTE_DEFAULT}");
            }
        }
    }
    m.instances.sort_by(|a, b| {
        (&a.project, &a.zone, &a.name, a.created).cmp(&(&b.project, &b.zone, &b.name, b.created))
    });
    m
}

fn learn(m: &mut Model, f: &Fact) {
    let (Some(email), Some(id)) = (&f.sa_email, &f.sa_unique_id) else {
        return;
    };
    let project = f.project.clone().or_else(|| {
        email
            .split_once('@')
            .and_then(|(_, d)| d.strip_suffix(".iam.gserviceaccount.com"))
            .map(str::to_string)
    });
    // `NUMBER-compute@developer.gserviceaccount.com` says its project's number.
    if let (Some(p), Some(n)) = (&project, email.strip_suffix(COMPUTE_DEFAULT)) {
        m.numbers.entry(p.clone()).or_insert(n.to_string());
    }
    let a = m
        .accounts
        .entry(email.to_ascii_lowercase())
        .or_insert(Account {
            email: email.clone(),
            unique_id: id.clone(),
            project: project.clone(),
            created: None,
        });
    if f.kind == Some(Kind::ServiceAccountCreated) {
        a.created = a.created.or(Some(f.time));
    }
    a.project = a.project.clone().or(project);
}

/// When a step took effect, when its operation ended, the step, and the instance's ID.
type Timed = (Millis, Millis, Step, Option<String>);

/// An instance event, after an operation's entries are taken together.
enum Step {
    Create(Vec<String>),
    Delete,
    SetAccount(String),
    Seen,
}

/// Each instance's lives, from its compute entries in time order.
fn lives(order: &[&Fact]) -> Vec<Instance> {
    let mut by_name: BTreeMap<(String, String, String), Vec<Timed>> = BTreeMap::new();
    let mut ops: HashMap<(&str, Kind), Vec<&Fact>> = HashMap::new();
    for f in order {
        let (Some(kind), Some(project), Some(zone), Some(name)) =
            (f.kind, &f.project, &f.zone, &f.instance)
        else {
            continue;
        };
        let key = (project.clone(), zone.clone(), name.clone());
        match (kind, f.operation_id.as_deref()) {
            (
                Kind::InstanceInsert | Kind::InstanceDelete | Kind::InstanceSetServiceAccount,
                Some(op),
            ) => ops.entry((op, kind)).or_default().push(f),
            (
                Kind::InstanceInsert | Kind::InstanceDelete | Kind::InstanceSetServiceAccount,
                None,
            )
            | (Kind::InstanceSeen, _) => {
                if let Some(step) = step(&[f]) {
                    by_name.entry(key).or_default().push(step);
                }
            }
            _ => {}
        }
    }
    for entries in ops.values() {
        let f = entries[0];
        let key = (
            f.project.clone().unwrap_or_default(),
            f.zone.clone().unwrap_or_default(),
            f.instance.clone().unwrap_or_default(),
        );
        if let Some(step) = step(entries) {
            by_name.entry(key).or_default().push(step);
        }
    }
    let mut out = Vec::new();
    for ((project, zone, name), mut steps) in by_name {
        steps.sort_by_key(|s| s.0);
        let mut mine: Vec<Instance> = Vec::new();
        for (t, end, step, id) in steps {
            let open = mine.last().is_some_and(|i| i.deleted.is_none());
            if matches!(step, Step::Create(_)) || !open {
                mine.push(Instance {
                    project: project.clone(),
                    zone: zone.clone(),
                    name: name.clone(),
                    instance_id: None,
                    created: None,
                    deleted: None,
                    first_seen: t,
                    last_seen: t,
                    accounts: Vec::new(),
                    listed: false,
                });
            }
            let life = mine.last_mut().expect("pushed above");
            life.first_seen = life.first_seen.min(t);
            life.last_seen = life.last_seen.max(end);
            life.instance_id = life.instance_id.take().or(id);
            match step {
                Step::Create(emails) => {
                    life.created = Some(t);
                    life.accounts.extend(emails.into_iter().map(|e| (t, e)));
                }
                Step::Delete => life.deleted = Some(t),
                Step::SetAccount(e) => life.accounts.push((t, e)),
                Step::Seen => {}
            }
        }
        out.extend(mine);
    }
    out
}

/// One operation's entries as one step: nothing when any of them failed. An insert takes
/// effect when its operation starts; a delete when it ends.
fn step(entries: &[&Fact]) -> Option<Timed> {
    if entries.iter().any(|f| f.failed) {
        return None;
    }
    let first = entries.iter().map(|f| f.time).min()?;
    let last = entries.iter().map(|f| f.time).max()?;
    let id = entries.iter().find_map(|f| f.instance_id.clone());
    let emails = entries
        .iter()
        .find(|f| !f.emails.is_empty())
        .map(|f| f.emails.clone())
        .unwrap_or_default();
    Some(match entries[0].kind? {
        Kind::InstanceInsert => (first, last, Step::Create(emails), id),
        Kind::InstanceDelete => (last, last, Step::Delete, id),
        Kind::InstanceSetServiceAccount => {
            (first, last, Step::SetAccount(emails.first()?.clone()), id)
        }
        _ => (first, last, Step::Seen, id),
    })
}

/// `--gcp-instances`: an instance the logs never name is taken from the listing; one they name
/// without its creation gets the listing's creation time and ID.
fn listed(m: &mut Model, order: &[&Fact]) {
    for f in order
        .iter()
        .filter(|f| f.kind == Some(Kind::InstanceListed))
    {
        let (Some(project), Some(zone), Some(name)) = (&f.project, &f.zone, &f.instance) else {
            continue;
        };
        let same = |i: &Instance| {
            &i.project == project
                && &i.zone == zone
                && &i.name == name
                && (i.instance_id.is_none()
                    || f.instance_id.is_none()
                    || i.instance_id == f.instance_id)
        };
        match m.instances.iter_mut().find(|i| same(i)) {
            Some(i) => {
                i.instance_id = i.instance_id.take().or(f.instance_id.clone());
                if i.created.is_none() {
                    i.created = Some(f.time);
                    i.first_seen = i.first_seen.min(f.time);
                }
            }
            None => m.instances.push(Instance {
                project: project.clone(),
                zone: zone.clone(),
                name: name.clone(),
                instance_id: f.instance_id.clone(),
                created: Some(f.time),
                deleted: None,
                first_seen: f.time,
                last_seen: f.time,
                accounts: f.emails.iter().map(|e| (f.time, e.clone())).collect(),
                listed: true,
            }),
        }
    }
}
