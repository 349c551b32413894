//! One Cloud Logging `LogEntry` of an audit log → the facts janus-audit keeps from it.
//!
//! Field names are Google's (`LogEntry`, `google.cloud.audit.AuditLog`); fixtures/gcp/SOURCES.md
//! says where each shape was taken from. Only what the derived tables need is kept: an entry of
//! another method still counts towards its project's coverage.

use serde_json::Value;

use crate::base::timefmt::{Millis, parse_event_time};

const AUDIT_LOG: &str = "type.googleapis.com/google.cloud.audit.AuditLog";
/// The two IAM roles whose holders can mint an ID token for a service account.
pub const TOKEN_CREATOR_ROLES: [&str; 2] = [
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountOpenIdTokenCreator",
];

/// Which audit log an entry is from (the tail of its `logName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogType {
    Activity,
    DataAccess,
    SystemEvent,
    /// `--gcp-instances` / `--gcp-service-accounts`: what a listing says, not a log.
    Listed,
}

impl LogType {
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Activity => "activity",
            LogType::DataAccess => "data_access",
            LogType::SystemEvent => "system_event",
            LogType::Listed => "listed",
        }
    }

    pub fn parse(s: &str) -> Option<LogType> {
        [
            LogType::Activity,
            LogType::DataAccess,
            LogType::SystemEvent,
            LogType::Listed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// From a `logName` such as `projects/P/logs/cloudaudit.googleapis.com%2Factivity` (the
    /// `/` may be escaped or not).
    fn of_log_name(name: &str) -> Option<LogType> {
        let tail = name.rsplit("cloudaudit.googleapis.com").next()?;
        let tail = tail.trim_start_matches("%2F").trim_start_matches("%2f");
        let tail = tail.trim_start_matches('/');
        match tail {
            "activity" => Some(LogType::Activity),
            "data_access" => Some(LogType::DataAccess),
            "system_event" => Some(LogType::SystemEvent),
            _ => None,
        }
    }
}

/// What a fact says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `compute.instances.insert` (one per operation entry; `failed` when it says so).
    InstanceInsert,
    InstanceDelete,
    /// `compute.instances.setServiceAccount`: `emails[0]` is the new account.
    InstanceSetServiceAccount,
    /// Any other compute entry naming an instance: it existed then.
    InstanceSeen,
    /// `gcloud compute instances list`: existed from `time` (its creationTimestamp).
    InstanceListed,
    /// `CreateServiceAccount`: created at `time`.
    ServiceAccountCreated,
    /// An email and unique ID seen together (labels, a listing).
    ServiceAccountKnown,
    KeyCreated,
    KeyDeleted,
    /// `SetIAMPolicy` on a service account adding a token-creator role: `emails` the members.
    TokenCreatorGranted,
    /// `GenerateIdToken`, `SignJwt`: an ID token (or a JWT signed as the account) minted.
    Mint,
    /// A project's number (`resourceName` `projects/NUMBER/...`): `detail` holds it.
    ProjectNumber,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::InstanceInsert,
        Kind::InstanceDelete,
        Kind::InstanceSetServiceAccount,
        Kind::InstanceSeen,
        Kind::InstanceListed,
        Kind::ServiceAccountCreated,
        Kind::ServiceAccountKnown,
        Kind::KeyCreated,
        Kind::KeyDeleted,
        Kind::TokenCreatorGranted,
        Kind::Mint,
        Kind::ProjectNumber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InstanceInsert => "instance_insert",
            Kind::InstanceDelete => "instance_delete",
            Kind::InstanceSetServiceAccount => "instance_set_service_account",
            Kind::InstanceSeen => "instance_seen",
            Kind::InstanceListed => "instance_listed",
            Kind::ServiceAccountCreated => "service_account_created",
            Kind::ServiceAccountKnown => "service_account_known",
            Kind::KeyCreated => "key_created",
            Kind::KeyDeleted => "key_deleted",
            Kind::TokenCreatorGranted => "token_creator_granted",
            Kind::Mint => "mint",
            Kind::ProjectNumber => "project_number",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing an entry says. The entry's `logName` and `insertId` identify it: a fact of an
/// entry delivered twice is the same fact.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fact {
    pub log_name: String,
    pub insert_id: String,
    pub time: Millis,
    pub log_type: Option<LogType>,
    pub kind: Option<Kind>,
    pub project: Option<String>,
    pub method: Option<String>,
    pub zone: Option<String>,
    pub instance: Option<String>,
    pub instance_id: Option<String>,
    /// The instance's service accounts; a grant's members.
    pub emails: Vec<String>,
    /// The service account the fact is about (a mint's target, a key's owner).
    pub sa_email: Option<String>,
    pub sa_unique_id: Option<String>,
    /// An operation's entries (its start and its end) are taken together.
    pub operation_id: Option<String>,
    /// `status.code` set (and not 0): the call failed or was denied.
    pub failed: bool,
    pub caller: Option<String>,
    pub caller_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `serviceAccountDelegationInfo`, the original caller first.
    pub delegation: Vec<String>,
    /// A key's ID, a granted role, a project's number.
    pub detail: Option<String>,
}

/// Why an entry gave no fact: counted, never an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// No `protoPayload` of type AuditLog.
    NotAuditLog,
    /// An audit log entry of a method janus-audit does not read (it still shows coverage).
    OtherMethod,
}

/// What one entry gave.
pub struct Read {
    /// Its identity (`logName`, `insertId`): the same twice is one entry.
    pub key: (String, String),
    pub project: Option<String>,
    pub log_type: Option<LogType>,
    pub time: Option<Millis>,
    pub facts: Vec<Fact>,
    pub skipped: Option<Skipped>,
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut at = v;
    for p in path {
        at = at.get(p)?;
    }
    at.as_str().filter(|s| !s.is_empty())
}

fn owned(v: &Value, path: &[&str]) -> Option<String> {
    s(v, path).map(str::to_string)
}

/// The short method name: `v1.compute.instances.insert` → `compute.instances.insert`,
/// `google.iam.credentials.v1.IAMCredentials.GenerateIdToken` → `GenerateIdToken`.
fn method_of(full: &str) -> &str {
    let m = full
        .strip_prefix("v1.")
        .or_else(|| full.strip_prefix("beta."))
        .or_else(|| full.strip_prefix("alpha."))
        .unwrap_or(full);
    match m.starts_with("compute.") {
        true => m,
        false => m.rsplit('.').next().unwrap_or(m),
    }
}

/// Read one entry.
pub fn read(entry: &Value) -> Read {
    let key = (
        owned(entry, &["logName"]).unwrap_or_default(),
        owned(entry, &["insertId"]).unwrap_or_default(),
    );
    let project = owned(entry, &["resource", "labels", "project_id"]);
    let log_type = s(entry, &["logName"]).and_then(LogType::of_log_name);
    let time = s(entry, &["timestamp"])
        .or_else(|| s(entry, &["receiveTimestamp"]))
        .and_then(parse_event_time);
    let mut out = Read {
        key,
        project,
        log_type,
        time,
        facts: Vec::new(),
        skipped: None,
    };
    let p = match entry.get("protoPayload") {
        Some(p) if s(p, &["@type"]) == Some(AUDIT_LOG) => p,
        _ => {
            out.skipped = Some(Skipped::NotAuditLog);
            return out;
        }
    };
    let Some(time) = time else {
        out.skipped = Some(Skipped::OtherMethod);
        return out;
    };
    let base = Fact {
        log_name: out.key.0.clone(),
        insert_id: out.key.1.clone(),
        time,
        log_type,
        project: out.project.clone(),
        method: s(p, &["methodName"]).map(|m| method_of(m).to_string()),
        operation_id: owned(entry, &["operation", "id"]),
        failed: p["status"]["code"].as_i64().is_some_and(|c| c != 0),
        caller: owned(p, &["authenticationInfo", "principalEmail"])
            .or_else(|| owned(p, &["authenticationInfo", "principalSubject"])),
        caller_ip: owned(p, &["requestMetadata", "callerIp"]),
        user_agent: owned(p, &["requestMetadata", "callerSuppliedUserAgent"]),
        ..Fact::default()
    };
    project_number(p, &base, &mut out.facts);
    let service = s(p, &["serviceName"]).unwrap_or("");
    let method = base.method.clone().unwrap_or_default();
    let before = out.facts.len();
    match service {
        "compute.googleapis.com" => compute(entry, p, &method, base, &mut out.facts),
        "iam.googleapis.com" | "iamcredentials.googleapis.com" => {
            iam(entry, p, &method, base, &mut out.facts)
        }
        _ => {}
    }
    // A fact learnt in passing (a project's number, an account's ID) does not make a method read.
    let read_method = out.facts[before..].iter().any(|f| {
        !matches!(
            f.kind,
            Some(Kind::ServiceAccountKnown | Kind::ProjectNumber)
        )
    });
    if !read_method {
        out.skipped = Some(Skipped::OtherMethod);
    }
    out
}

/// `projects/NUMBER/...` in a `resourceName` beside the project's ID: how the compute default
/// account `default` is resolved to `NUMBER-compute@developer.gserviceaccount.com`.
fn project_number(p: &Value, base: &Fact, out: &mut Vec<Fact>) {
    let Some(number) = s(p, &["resourceName"])
        .and_then(|r| r.strip_prefix("projects/"))
        .and_then(|r| r.split('/').next())
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    else {
        return;
    };
    if base.project.is_some() {
        out.push(Fact {
            kind: Some(Kind::ProjectNumber),
            detail: Some(number.to_string()),
            ..base.clone()
        });
    }
}

/// `projects/P/zones/Z/instances/NAME` → (P, Z, NAME).
fn instance_path(r: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = r.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "zones", z, "instances", name] => Some((p, z, name)),
        _ => None,
    }
}

fn compute(entry: &Value, p: &Value, method: &str, base: Fact, out: &mut Vec<Fact>) {
    let Some((_, zone, name)) = s(p, &["resourceName"]).and_then(instance_path) else {
        return;
    };
    let kind = match method {
        "compute.instances.insert" => Kind::InstanceInsert,
        "compute.instances.delete" => Kind::InstanceDelete,
        "compute.instances.setServiceAccount" => Kind::InstanceSetServiceAccount,
        _ => Kind::InstanceSeen,
    };
    let emails = match kind {
        Kind::InstanceInsert => p["request"]["serviceAccounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|sa| s(sa, &["email"]).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        Kind::InstanceSetServiceAccount => owned(p, &["request", "email"]).into_iter().collect(),
        _ => Vec::new(),
    };
    out.push(Fact {
        kind: Some(kind),
        zone: Some(zone.to_string()),
        instance: Some(name.to_string()),
        instance_id: owned(entry, &["resource", "labels", "instance_id"]),
        emails,
        ..base
    });
}

/// The service account a `resourceName` names: `projects/-/serviceAccounts/EMAIL_OR_ID[/keys/K]`.
fn account_in(r: &str) -> Option<&str> {
    let mut parts = r.split('/');
    while let Some(part) = parts.next() {
        if part == "serviceAccounts" {
            return parts.next().filter(|a| !a.is_empty());
        }
    }
    None
}

fn iam(entry: &Value, p: &Value, method: &str, base: Fact, out: &mut Vec<Fact>) {
    let labels = &entry["resource"]["labels"];
    let mut email = s(labels, &["email_id"]).map(str::to_string);
    let mut unique_id = s(labels, &["unique_id"]).map(str::to_string);
    let named = s(p, &["resourceName"]).and_then(account_in);
    match named {
        Some(a) if a.contains('@') => email = email.or(Some(a.to_string())),
        Some(a) if a.bytes().all(|b| b.is_ascii_digit()) => {
            unique_id = unique_id.or(Some(a.to_string()))
        }
        _ => {}
    }
    if method == "CreateServiceAccount" && !base.failed {
        email = email.or_else(|| owned(p, &["response", "email"]));
        unique_id = unique_id
            .or_else(|| owned(p, &["response", "unique_id"]))
            .or_else(|| owned(p, &["response", "uniqueId"]));
    }
    let fact = Fact {
        sa_email: email.clone(),
        sa_unique_id: unique_id.clone(),
        ..base
    };
    if email.is_some() && unique_id.is_some() && !fact.failed {
        out.push(Fact {
            kind: Some(Kind::ServiceAccountKnown),
            ..fact.clone()
        });
    }
    match method {
        "CreateServiceAccount" if !fact.failed => out.push(Fact {
            kind: Some(Kind::ServiceAccountCreated),
            ..fact
        }),
        "CreateServiceAccountKey" | "DeleteServiceAccountKey" if !fact.failed => {
            let key = s(p, &["response", "name"])
                .or_else(|| s(p, &["resourceName"]))
                .and_then(|n| n.rsplit_once("/keys/").map(|(_, k)| k.to_string()));
            let kind = match method {
                "CreateServiceAccountKey" => Kind::KeyCreated,
                _ => Kind::KeyDeleted,
            };
            out.push(Fact {
                kind: Some(kind),
                detail: key,
                ..fact
            });
        }
        // IAM's own spelling, and the one Google's other APIs log.
        "SetIAMPolicy" | "SetIamPolicy" if !fact.failed => grants(p, fact, out),
        // An access token is not an identity token: its entries teach the account's ID only.
        "GenerateIdToken" | "SignJwt" => out.push(Fact {
            kind: Some(Kind::Mint),
            delegation: delegation(p),
            ..fact
        }),
        _ => {}
    }
}

/// Each ADD of a token-creator role in `serviceData.policyDelta` (the IAM API's audit data).
fn grants(p: &Value, fact: Fact, out: &mut Vec<Fact>) {
    let deltas = p["serviceData"]["policyDelta"]["bindingDeltas"]
        .as_array()
        .or_else(|| p["metadata"]["policyDelta"]["bindingDeltas"].as_array());
    for role in TOKEN_CREATOR_ROLES {
        let members: Vec<String> = deltas
            .into_iter()
            .flatten()
            .filter(|d| s(d, &["action"]) == Some("ADD") && s(d, &["role"]) == Some(role))
            .filter_map(|d| owned(d, &["member"]))
            .collect();
        if !members.is_empty() {
            out.push(Fact {
                kind: Some(Kind::TokenCreatorGranted),
                emails: members,
                detail: Some(role.to_string()),
                ..fact.clone()
            });
        }
    }
}

/// `serviceAccountDelegationInfo`: each hop's principal, the original caller first.
fn delegation(p: &Value) -> Vec<String> {
    p["authenticationInfo"]["serviceAccountDelegationInfo"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            owned(d, &["firstPartyPrincipal", "principalEmail"])
                .or_else(|| owned(d, &["principalSubject"]))
                .or_else(|| owned(d, &["thirdPartyPrincipal", "thirdPartyClaims", "sub"]))
        })
        .collect()
}

/// `gcloud compute instances list --format=json`: one listing.
pub fn listed_instance(v: &Value) -> Option<Fact> {
    let name = s(v, &["name"])?;
    // `zone` and `selfLink` are URLs: .../projects/P/zones/Z[/instances/NAME].
    let link = s(v, &["selfLink"]).or_else(|| s(v, &["zone"]))?;
    let tail = link.split("/projects/").nth(1)?;
    let mut parts = tail.split('/');
    let (project, _, zone) = (parts.next()?, parts.next()?, parts.next()?);
    let created = s(v, &["creationTimestamp"]).and_then(parse_event_time)?;
    let id = match &v["id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(Fact {
        log_name: "gcloud compute instances list".into(),
        insert_id: format!("{project}/{zone}/{name}/{}", id.as_deref().unwrap_or("")),
        time: created,
        log_type: Some(LogType::Listed),
        kind: Some(Kind::InstanceListed),
        project: Some(project.to_string()),
        zone: Some(zone.to_string()),
        instance: Some(name.to_string()),
        instance_id: id,
        emails: v["serviceAccounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|sa| owned(sa, &["email"]))
            .collect(),
        ..Fact::default()
    })
}

/// `gcloud iam service-accounts list --format=json`: one account.
pub fn listed_account(v: &Value) -> Option<Fact> {
    let email = s(v, &["email"])?;
    let id = s(v, &["uniqueId"])?;
    let project = owned(v, &["projectId"]).or_else(|| {
        s(v, &["name"])
            .and_then(|n| n.strip_prefix("projects/"))
            .and_then(|n| n.split('/').next())
            .map(str::to_string)
    });
    Some(Fact {
        log_name: "gcloud iam service-accounts list".into(),
        insert_id: email.to_string(),
        time: 0,
        log_type: Some(LogType::Listed),
        kind: Some(Kind::ServiceAccountKnown),
        project,
        sa_email: Some(email.to_string()),
        sa_unique_id: Some(id.to_string()),
        ..Fact::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_shortened_the_same_whichever_form_the_log_writes() {
        assert_eq!(
            method_of("v1.compute.instances.insert"),
            "compute.instances.insert"
        );
        assert_eq!(
            method_of("beta.compute.instances.insert"),
            "compute.instances.insert"
        );
        assert_eq!(method_of("GenerateIdToken"), "GenerateIdToken");
        assert_eq!(
            method_of("google.iam.credentials.v1.IAMCredentials.GenerateIdToken"),
            "GenerateIdToken"
        );
        assert_eq!(
            method_of("google.iam.admin.v1.CreateServiceAccountKey"),
            "CreateServiceAccountKey"
        );
    }

    #[test]
    fn log_types_are_read_escaped_or_not() {
        assert_eq!(
            LogType::of_log_name("projects/p/logs/cloudaudit.googleapis.com%2Factivity"),
            Some(LogType::Activity)
        );
        assert_eq!(
            LogType::of_log_name("projects/p/logs/cloudaudit.googleapis.com/data_access"),
            Some(LogType::DataAccess)
        );
        assert_eq!(LogType::of_log_name("projects/p/logs/syslog"), None);
    }

    #[test]
    fn a_mint_through_a_delegation_chain_names_its_original_caller() {
        let e = serde_json::json!({
            "insertId": "m1",
            "logName": "projects/p-123456/logs/cloudaudit.googleapis.com%2Fdata_access",
            "timestamp": "2026-10-06T14:00:00.5Z",
            "resource": {"type": "service_account", "labels": {
                "email_id": "sa@p-123456.iam.gserviceaccount.com",
                "project_id": "p-123456", "unique_id": "111111111111111111111"}},
            "operation": {"id": "op-1", "first": true},
            "protoPayload": {
                "@type": AUDIT_LOG,
                "serviceName": "iamcredentials.googleapis.com",
                "methodName": "SignJwt",
                "resourceName": "projects/-/serviceAccounts/111111111111111111111",
                "authenticationInfo": {
                    "principalEmail": "deployer@ci-9.iam.gserviceaccount.com",
                    "serviceAccountDelegationInfo": [
                        {"principalSubject": "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/subject/repo:x"},
                    ]
                },
                "requestMetadata": {"callerIp": "192.0.2.1"}
            }
        });
        let r = read(&e);
        assert_eq!(r.skipped, None);
        let mint = r.facts.iter().find(|f| f.kind == Some(Kind::Mint)).unwrap();
        assert_eq!(mint.method.as_deref(), Some("SignJwt"));
        assert_eq!(mint.sa_unique_id.as_deref(), Some("111111111111111111111"));
        assert_eq!(mint.operation_id.as_deref(), Some("op-1"));
        let who = crate::analyzer::gcp::tables::minter(mint);
        assert!(who.unwrap().starts_with("principal://"));
        assert_eq!(
            crate::analyzer::gcp::tables::caller_type(who),
            "workload_identity"
        );
        assert_eq!(
            crate::analyzer::gcp::tables::caller_type(mint.caller.as_deref()),
            "service_account"
        );
        assert!(
            r.facts
                .iter()
                .any(|f| f.kind == Some(Kind::ServiceAccountKnown))
        );
    }

    #[test]
    fn a_gke_node_is_an_instance_like_any_other() {
        let e = serde_json::json!({
            "insertId": "g1",
            "logName": "projects/p-123456/logs/cloudaudit.googleapis.com%2Factivity",
            "timestamp": "2026-10-06T14:00:00Z",
            "resource": {"type": "gce_instance", "labels": {"project_id": "p-123456", "instance_id": "9"}},
            "protoPayload": {
                "@type": AUDIT_LOG,
                "serviceName": "compute.googleapis.com",
                "methodName": "v1.compute.instances.insert",
                "resourceName": "projects/p-123456/zones/us-central1-c/instances/gke-prod-default-pool-1a2b3c4d-x9z8",
                "request": {"serviceAccounts": [{"email": "default"}]}
            }
        });
        let r = read(&e);
        let f = &r.facts[0];
        assert_eq!(f.kind, Some(Kind::InstanceInsert));
        assert_eq!(
            f.instance.as_deref(),
            Some("gke-prod-default-pool-1a2b3c4d-x9z8")
        );
        assert_eq!(f.zone.as_deref(), Some("us-central1-c"));
        assert_eq!(f.emails, ["default"]);
    }

    #[test]
    fn a_grant_on_a_service_account_is_read_in_either_spelling_of_the_method() {
        for method in [
            "google.iam.admin.v1.SetIAMPolicy",
            "google.iam.admin.v1.SetIamPolicy",
        ] {
            let e = serde_json::json!({
                "insertId": "s1",
                "logName": "projects/p-123456/logs/cloudaudit.googleapis.com%2Factivity",
                "timestamp": "2026-10-05T09:00:00Z",
                "resource": {"type": "service_account", "labels": {
                    "email_id": "sa@p-123456.iam.gserviceaccount.com",
                    "project_id": "p-123456", "unique_id": "222222222222222222222"}},
                "protoPayload": {
                    "@type": AUDIT_LOG,
                    "serviceName": "iam.googleapis.com",
                    "methodName": method,
                    "resourceName": "projects/-/serviceAccounts/222222222222222222222",
                    "serviceData": {"policyDelta": {"bindingDeltas": [
                        {"action": "ADD", "role": "roles/iam.serviceAccountTokenCreator", "member": "user:m@example.com"},
                        {"action": "REMOVE", "role": "roles/iam.serviceAccountOpenIdTokenCreator", "member": "user:n@example.com"},
                        {"action": "ADD", "role": "roles/viewer", "member": "user:o@example.com"}
                    ]}}
                }
            });
            let grants: Vec<Fact> = read(&e)
                .facts
                .into_iter()
                .filter(|f| f.kind == Some(Kind::TokenCreatorGranted))
                .collect();
            assert_eq!(grants.len(), 1, "{method}");
            assert_eq!(grants[0].emails, ["user:m@example.com"]);
            assert_eq!(
                grants[0].detail.as_deref(),
                Some("roles/iam.serviceAccountTokenCreator")
            );
        }
    }
}
