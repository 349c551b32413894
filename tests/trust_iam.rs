//! `trust --policies iam` against moto's IAM server (PyPI) on 127.0.0.1: the bundled trust-policy
//! cases are created as roles with boto3, and the live source must give the same rows as the
//! `aws iam get-account-authorization-details` JSON the real AWS CLI prints for that account.

mod support;

use std::process::Command;

use serde_json::Value;
use support::moto::Moto;

fn venv_bin(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("HOME").unwrap())
        .join(".cache/janus-audit-interop-venv/bin")
        .join(name)
}

fn aws_env(c: &mut Command, moto: &Moto) {
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env_remove("AWS_PROFILE");
}

/// The fixture roles as (name, path, document text).
fn fixture_roles() -> Vec<(String, String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trust/roles");
    let mut out = Vec::new();
    for f in [
        "account-authorization-details.json",
        "get-role.json",
        "role-file.json",
    ] {
        let v: Value = serde_json::from_slice(&std::fs::read(dir.join(f)).unwrap()).unwrap();
        let entries: Vec<Value> = match (v.get("RoleDetailList"), v.get("Role")) {
            (Some(list), _) => list.as_array().unwrap().clone(),
            (_, Some(role)) => vec![role.clone()],
            _ => vec![v.clone()],
        };
        for e in entries {
            let arn = e.get("Arn").or(e.get("RoleArn")).unwrap().as_str().unwrap();
            let name = arn.rsplit('/').next().unwrap().to_string();
            let doc = match &e["AssumeRolePolicyDocument"] {
                Value::String(s) => janus_audit::analyzer::trust::source::decoded(s),
                other => other.to_string(),
            };
            out.push((name, "/".to_string(), doc));
        }
    }
    out
}

fn trust_rows(args: &[&str], moto: &Moto) -> Vec<Value> {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("janus-audit"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["trust", "--format", "json"])
        .args(args);
    aws_env(&mut c, moto);
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    // The source column names where each came from; everything else must agree.
    rows.into_iter()
        .map(|mut r| {
            r.as_object_mut().unwrap().remove("source");
            r
        })
        .collect()
}

#[test]
fn the_live_iam_api_gives_the_rows_the_cli_export_gives() {
    let moto = Moto::start();
    let roles = fixture_roles();
    assert_eq!(roles.len(), 17);
    let script = r#"
import json, sys, boto3
iam = boto3.client("iam")
for name, path, doc in json.load(sys.stdin):
    iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=doc)
"#;
    let mut c = Command::new(venv_bin("python"));
    c.args(["-c", script]).stdin(std::process::Stdio::piped());
    aws_env(&mut c, &moto);
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        serde_json::to_string(&roles).unwrap().as_bytes(),
    )
    .unwrap();
    drop(child.stdin.take());
    assert!(
        child.wait().unwrap().success(),
        "boto3 could not create the roles"
    );

    let d = tempfile::tempdir().unwrap();
    let export = d.path().join("details.json");
    let mut c = Command::new(venv_bin("aws"));
    c.args([
        "iam",
        "get-account-authorization-details",
        "--filter",
        "Role",
        "--output",
        "json",
    ]);
    aws_env(&mut c, &moto);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&export, &out.stdout).unwrap();

    let live = trust_rows(
        &["--policies", "iam", "--iam-endpoint-url", &moto.url],
        &moto,
    );
    // AWS_ENDPOINT_URL_IAM points it there too (aws_env sets AWS_ENDPOINT_URL).
    assert_eq!(trust_rows(&["--policies", "iam"], &moto), live);
    let file = trust_rows(&["--policies", export.to_str().unwrap()], &moto);
    assert_eq!(live, file);
    // And both judge the cases as the fixture files do, role by role.
    let by_name = |rows: &[Value]| -> std::collections::BTreeMap<String, String> {
        rows.iter()
            .filter(|r| r["statement"] == "*")
            .map(|r| {
                let arn = r["role_arn"].as_str().unwrap();
                (
                    arn.rsplit('/').next().unwrap().to_string(),
                    r["who"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let fixtures = trust_rows(&["--policies", "fixtures/trust/roles"], &moto);
    assert_eq!(by_name(&live), by_name(&fixtures));
    assert_eq!(by_name(&live).len(), 17);
}

/// An IAM that cannot be reached is an error that says which call failed (exit 1), never a
/// silent empty answer, and it never echoes the credentials.
#[test]
fn an_unreachable_iam_is_an_error_not_an_empty_answer() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(assert_cmd::cargo::cargo_bin("janus-audit"))
        .args(["trust", "--policies", "iam", "--iam-endpoint-url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLESECRETKEY")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--policies iam: iam:ListRoles failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("wJalrXUtnFEMI") && !stderr.contains("AKIAEXAMPLESECRETKEY"));
    assert!(out.stdout.is_empty());
}
