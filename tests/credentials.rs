//! `janus-audit credentials` against loopback fakes of the GCE metadata server and STS, through
//! the real binary and the real AWS SDK. No cloud is ever called.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::metadata::{self, FakeMetadata};
use support::sts::{self, FakeSts};

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-ro-from-gcp";
const AUD: &str = "https://aws.example.com/janus";

struct Env {
    meta: FakeMetadata,
    sts: FakeSts,
    cache: tempfile::TempDir,
    /// An empty PATH directory, so no real gcloud is ever found.
    bin: tempfile::TempDir,
}

fn env() -> Env {
    Env {
        meta: FakeMetadata::start(),
        sts: FakeSts::start(AUD),
        cache: tempfile::tempdir().unwrap(),
        bin: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    /// `n` runs at once, each started `stagger` after the one before; their outputs.
    fn run_together(&self, n: usize, stagger: Duration) -> Vec<Output> {
        let children: Vec<_> = (0..n)
            .map(|i| {
                if i > 0 {
                    std::thread::sleep(stagger);
                }
                self.cmd(&[])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect()
    }

    fn cmd(&self, extra: &[&str]) -> std::process::Command {
        self.cmd_for(AUD, extra)
    }

    /// The command asking Google for `audience` (the fake STS accepts only `AUD`).
    fn cmd_for(&self, audience: &str, extra: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_janus-audit"));
        c.args(["credentials", "--role-arn", ROLE, "--audience", audience])
            .args(["--sts-endpoint", &self.sts.url])
            .args(["--cache-dir", self.cache.path().to_str().unwrap()])
            .args(extra)
            .env_clear()
            .env("PATH", self.bin.path())
            .env("HOME", self.cache.path())
            .env("GCE_METADATA_HOST", &self.meta.host)
            // A proxy must never see metadata traffic.
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("NO_PROXY", "127.0.0.2")
            .env("no_proxy", "127.0.0.2")
            .env("JANUS_AUDIT_LOG", "janus_audit=debug");
        c
    }

    fn run(&self, extra: &[&str]) -> Output {
        self.cmd(extra).output().unwrap()
    }

    /// A fake `gcloud` on PATH that prints `out` (or fails with `err`).
    fn fake_gcloud(&self, script: &str) {
        let p = self.bin.path().join("gcloud");
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A token file holding a freshly minted token (`full`: with `google.compute_engine` claims).
fn token_file(full: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, metadata::mint(&metadata::signing_key(), AUD, full)).unwrap();
    (dir, path)
}

fn stdout_json(o: &Output) -> serde_json::Value {
    let text = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "stdout is exactly one JSON line: {text:?}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No secret or token may appear on stderr at any log level.
fn assert_no_leak(text: &str) {
    for secret in [sts::SECRET_KEY, sts::SESSION_TOKEN, "eyJ", "ya29."] {
        assert!(!text.contains(secret), "leaked {secret}: {text}");
    }
}

#[test]
fn metadata_token_to_credential_process_json() {
    let e = env();
    let o = e.run(&["--token-source", "metadata"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(v["Version"], 1);
    assert_eq!(v["AccessKeyId"], "ASIAFAKE000000000001");
    assert_eq!(v["SecretAccessKey"], sts::SECRET_KEY);
    assert_eq!(v["SessionToken"], sts::SESSION_TOKEN);
    assert_eq!(v["AccountId"], "123456789012");
    let exp = v["Expiration"].as_str().unwrap();
    assert!(
        exp.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(exp).is_ok(),
        "{exp}"
    );
    let calls = e.sts.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].token_ok,
        "the fake STS verified the RS256 signature and audience"
    );
    // Named from the signed token claims: project-id.instance.
    assert_eq!(calls[0].session_name, "prod-data-1234.etl-1");
    assert_eq!(calls[0].role_arn, ROLE);
    assert_eq!(calls[0].duration, "3600");
    assert_eq!(e.meta.count("format=full"), 1);
    assert_no_leak(&stderr(&o));
}

#[test]
fn cache_serves_repeats_and_is_private() {
    let e = env();
    let first = e.run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = e.run(&[]);
    assert!(second.status.success());
    assert_eq!(stdout_json(&first), stdout_json(&second));
    assert_eq!(e.sts.count(), 1, "the second run came from the cache");
    let dir_mode = std::fs::metadata(e.cache.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    let mut files = 0;
    for f in std::fs::read_dir(e.cache.path()).unwrap() {
        let f = f.unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.path().display());
        files += 1;
    }
    assert!(files >= 1);
    assert_no_leak(&stderr(&first));
    assert_no_leak(&stderr(&second));
    // --no-cache always calls STS.
    assert!(e.run(&["--no-cache"]).status.success());
    assert_eq!(e.sts.count(), 2);
    // A refresh window longer than the credentials' life forces a refresh.
    assert!(e.run(&["--refresh-before", "2h"]).status.success());
    assert_eq!(e.sts.count(), 3);
}

#[test]
fn twenty_concurrent_invocations_make_one_sts_call() {
    let e = env();
    e.sts.knobs.lag_ms.store(200, Ordering::SeqCst);
    let outs = e.run_together(20, Duration::ZERO);
    for o in &outs {
        assert!(o.status.success(), "{}", stderr(o));
        assert_eq!(stdout_json(o)["AccessKeyId"], "ASIAFAKE000000000001");
        assert_no_leak(&stderr(o));
    }
    assert_eq!(e.sts.count(), 1);
}

#[test]
fn damaged_or_foreign_cache_is_replaced() {
    let e = env();
    assert!(e.run(&[]).status.success());
    let file = std::fs::read_dir(e.cache.path())
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    std::fs::write(&file, b"{ not json").unwrap();
    let o = e.run(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ignoring damaged cache file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(e.sts.count(), 2);
    // A well-formed entry for another key is not trusted either.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["key"] = serde_json::json!("0000");
    std::fs::write(&file, v.to_string()).unwrap();
    let o = e.run(&[]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("ignoring foreign cache file"),
        "{}",
        stderr(&o)
    );
    assert_eq!(e.sts.count(), 3);
    // And the replacement is valid again.
    assert!(e.run(&[]).status.success());
    assert_eq!(e.sts.count(), 3);
    // Another user's file, even 0600 and well-formed, holds credentials that user chose: not
    // served (only root can make one).
    if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
        // SAFETY: chown(2) on the cache file this test made.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        let o = e.run(&[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("owned by uid 65534"), "{}", stderr(&o));
        assert_eq!(e.sts.count(), 4);
    }
}

#[test]
fn access_denied_explains_the_trust_policy() {
    let e = env();
    e.sts.knobs.access_denied.store(true, Ordering::SeqCst);
    let o = e.run(&[]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    for needle in [
        "AccessDenied",
        &format!("aud={AUD}"),
        &format!("azp={}", metadata::SA_ID),
        &format!("sub={}", metadata::SA_ID),
        &format!("email={}", metadata::SA_EMAIL),
        &format!("accounts.google.com:aud  = {}", metadata::SA_ID),
        &format!("accounts.google.com:oaud = {AUD}"),
        &format!("accounts.google.com:sub  = {}", metadata::SA_ID),
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    assert_no_leak(&err);
}

#[test]
fn an_audience_sts_refuses_is_named_with_where_it_came_from() {
    let e = env();
    let o = e
        .cmd_for("not-the-role's-audience", &["--no-cache"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("Incorrect token audience"), "{err}");
    assert!(
        err.contains("The token was asked for audience 'not-the-role's-audience' (--audience)"),
        "{err}"
    );
    assert!(err.contains("accounts.google.com:oaud"), "{err}");
    assert_no_leak(&err);
}

#[test]
fn transient_sts_errors_are_retried() {
    let e = env();
    e.sts.knobs.idp_errors.store(1, Ordering::SeqCst);
    e.sts.knobs.throttles.store(1, Ordering::SeqCst);
    let o = e.run(&["--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(e.sts.count(), 3);
    // Endless throttling ends within the budget with status 7.
    e.sts.knobs.throttles.store(1000, Ordering::SeqCst);
    let start = Instant::now();
    let o = e.run(&["--no-cache"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(stderr(&o).contains("Throttling"), "{}", stderr(&o));
    // It names the endpoint it could not get credentials from.
    assert!(
        stderr(&o).contains(&format!("STS at {} did not give credentials", e.sts.url)),
        "{}",
        stderr(&o)
    );
}

#[test]
fn invalid_token_gets_one_fresh_token() {
    let e = env();
    e.sts.knobs.invalid_token.store(1, Ordering::SeqCst);
    let o = e.run(&["--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(e.sts.count(), 2);
    assert_eq!(e.meta.count("service-accounts/default/identity"), 2);
    e.sts.knobs.invalid_token.store(5, Ordering::SeqCst);
    let o = e.run(&["--no-cache"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("InvalidIdentityToken"));
}

#[test]
fn metadata_down_or_slow_fails_clearly_and_fast() {
    let e = env();
    // Down: nothing listens there.
    let start = Instant::now();
    let o = e
        .cmd(&["--token-source", "metadata"])
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("metadata server 127.0.0.1:9 is unreachable"),
        "{}",
        stderr(&o)
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // Slow: every answer takes 3 s; the run still ends inside the 5 s budget.
    e.meta.knobs.lag_ms.store(3000, Ordering::SeqCst);
    let start = Instant::now();
    let o = e.run(&["--token-source", "metadata"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.sts.count(), 0);
}

#[test]
fn metadata_5xx_at_pod_start_is_retried() {
    let e = env();
    e.meta.knobs.fail_next.store(2, Ordering::SeqCst);
    let o = e.run(&["--token-source", "metadata", "--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn auto_says_why_each_source_failed() {
    let e = env();
    // gcloud's own message when no account is selected, as it prints it (several lines).
    e.fake_gcloud("printf 'ERROR: (gcloud.auth.print-identity-token) You do not currently have an active account selected.\\nPlease run:\\n\\n  $ gcloud auth login\\n\\nto obtain new credentials.\\n\\nIf you have already logged in with a different account, run:\\n\\n  $ gcloud config set account ACCOUNT\\n\\nto select an already authenticated account to use.\\n' >&2; exit 1");
    let o = e
        .cmd(&[])
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("no token source worked"), "{err}");
    assert!(
        err.contains("metadata: metadata server 127.0.0.1:9 is unreachable"),
        "{err}"
    );
    assert!(err.contains("gcloud: exited with"), "{err}");
    // The whole message, not its last line: the advice is in the middle.
    assert!(
        err.contains("You do not currently have an active account selected. Please run: $ gcloud auth login to obtain new credentials."),
        "{err}"
    );
    assert!(err.contains("--token-source gcloud"), "{err}");
}

#[test]
fn auto_falls_back_to_gcloud_on_a_laptop() {
    let e = env();
    let token = metadata::mint(&metadata::signing_key(), AUD, false);
    e.fake_gcloud(&format!(
        "case \"$*\" in\n  *print-identity-token*--audiences={AUD}*) echo '{token}';;\n  'config get-value project') echo laptop-proj-1;;\n  *) exit 2;;\nesac"
    ));
    let o = e
        .cmd(&["--no-cache"])
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("token source: gcloud"),
        "{}",
        stderr(&o)
    );
    let name = e.sts.calls.lock().unwrap()[0].session_name.clone();
    assert!(name.starts_with("laptop-proj-1."), "{name}");
    assert_no_leak(&stderr(&o));
}

#[test]
fn auto_asks_the_metadata_probe_once_per_run() {
    let e = env();
    // The probe meets a 500 (one try, by design): auto falls back to gcloud, and naming must
    // not ask again and get a different answer.
    e.meta.knobs.fail_next.store(1, Ordering::SeqCst);
    let token = metadata::mint(&metadata::signing_key(), AUD, false);
    e.fake_gcloud(&format!(
        "case \"$*\" in\n  *print-identity-token*) echo '{token}';;\n  'config get-value project') echo laptop-proj-1;;\n  *) exit 2;;\nesac"
    ));
    let o = e.run(&["--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(e.meta.count("project/project-id"), 1);
    let name = e.sts.calls.lock().unwrap()[0].session_name.clone();
    assert!(name.starts_with("laptop-proj-1."), "{name}");
}

#[test]
fn token_file_is_read_each_run() {
    let e = env();
    let (_dir, path) = token_file(true);
    let p = path.to_str().unwrap();
    let o = e.run(&["--token-source", "file", "--token-file", p, "--no-cache"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(&path, "not-a-jwt").unwrap();
    let o = e.run(&["--token-source", "file", "--token-file", p, "--no-cache"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("malformed ID token"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not-a-jwt"));
    let o = e.run(&["--token-source", "file", "--no-cache"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn impersonation(e: &Env, metadata_host: &str, expected_bearer: &str) {
    let iam = tiny_http::Server::http("127.0.0.2:0").unwrap();
    let iam_url = format!("http://{}", iam.server_addr().to_ip().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for mut req in iam.incoming_requests() {
            let mut body = String::new();
            req.as_reader().read_to_string(&mut body).unwrap();
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            s2.lock()
                .unwrap()
                .push((req.url().to_string(), auth, body.clone()));
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let token = metadata::mint(
                &metadata::signing_key(),
                v["audience"].as_str().unwrap(),
                false,
            );
            let _ = req.respond(tiny_http::Response::from_string(format!(
                r#"{{"token":"{token}"}}"#
            )));
        }
    });
    let o = e
        .cmd(&[
            "--token-source",
            "impersonate",
            "--service-account",
            "deployer@other-proj.iam.gserviceaccount.com",
            "--iam-endpoint",
            &iam_url,
            "--session-name",
            "{email}",
            "--no-cache",
        ])
        .env("GCE_METADATA_HOST", metadata_host)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].0,
        "/v1/projects/-/serviceAccounts/deployer@other-proj.iam.gserviceaccount.com:generateIdToken"
    );
    assert_eq!(seen[0].1, expected_bearer);
    assert!(seen[0].2.contains(AUD) && seen[0].2.contains("\"includeEmail\":true"));
    assert_no_leak(&stderr(&o));
}

#[test]
fn impersonation_calls_iam_credentials() {
    let e = env();
    let host = e.meta.host.clone();
    impersonation(&e, &host, "Bearer ya29.fake-access-token");
}

#[test]
fn impersonation_off_gcp_takes_gcloud_access_token() {
    let e = env();
    e.fake_gcloud(
        "case \"$*\" in\n  'auth print-access-token') echo ya29.from-gcloud;;\n  *) exit 2;;\nesac",
    );
    impersonation(&e, "127.0.0.1:9", "Bearer ya29.from-gcloud");
}

#[test]
fn session_name_falls_back_when_claims_lack_the_instance() {
    let e = env();
    // Token without google.compute_engine (file source), metadata without instance/name: the
    // GKE pod name is next.
    let (_dir, path) = token_file(false);
    e.meta.knobs.hide_instance.store(true, Ordering::SeqCst);
    let from_file = || {
        let p = path.to_str().unwrap();
        e.cmd(&["--token-source", "file", "--token-file", p, "--no-cache"])
    };
    let o = from_file()
        .env("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        .env("HOSTNAME", "api-7d9f8-x2x4q")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        e.sts.calls.lock().unwrap()[0].session_name,
        "prod-data-1234.api-7d9f8-x2x4q"
    );
    // Cloud Run: K_SERVICE plus a short hash of the instance id.
    let o = from_file()
        .env("K_SERVICE", "billing-api")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let name = e.sts.calls.lock().unwrap()[1].session_name.clone();
    assert!(
        name.starts_with("prod-data-1234.billing-api-")
            && name.len() == "prod-data-1234.billing-api-".len() + 6,
        "{name}"
    );
    // A template that overflows 64 characters is shortened with a hash, and parses back.
    let o = e.run(&[
        "--session-name",
        "{project_id}.{instance}-{zone}-{sub}-{sub}",
        "--no-cache",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let name = e.sts.calls.lock().unwrap()[2].session_name.clone();
    assert_eq!(name.len(), 64);
    assert!(janus_audit::base::naming::is_valid_session_name(&name));
    let p = janus_audit::base::naming::parse_session_name(&name);
    assert_eq!(p.project, Some("prod-data-1234"));
    assert!(
        p.instance.unwrap().starts_with("etl-1-us-central1-a-"),
        "{name}"
    );
    assert_eq!(
        p.source,
        janus_audit::base::naming::InstanceSource::Shortened
    );
}

#[test]
fn explain_prints_claims_name_and_policy_without_sts() {
    let e = env();
    let o = e.run(&["--explain", "--pin-session-name"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["session_name"], "prod-data-1234.etl-1");
    assert_eq!(v["claims"]["sub"], metadata::SA_ID);
    assert_eq!(
        v["claims"]["google"]["compute_engine"]["instance_name"],
        "etl-1"
    );
    let cond = &v["trust_policy"]["Statement"][0]["Condition"];
    assert_eq!(
        cond["StringEquals"]["accounts.google.com:aud"],
        metadata::SA_ID
    );
    assert_eq!(cond["StringEquals"]["accounts.google.com:oaud"], AUD);
    assert_eq!(
        cond["StringEquals"]["accounts.google.com:sub"],
        metadata::SA_ID
    );
    assert_eq!(
        cond["StringEquals"]["sts:RoleSessionName"],
        "prod-data-1234.etl-1"
    );
    assert_eq!(cond["Null"]["accounts.google.com:sub"], "false");
    assert_eq!(
        v["trust_policy"]["Statement"][0]["Principal"]["Federated"],
        "accounts.google.com"
    );
    assert_eq!(e.sts.count(), 0);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains("eyJ"), "the raw token is never printed");
}

#[test]
fn sdk_endpoint_environment_is_honoured() {
    let e = env();
    for var in ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_janus-audit"));
        let o = c
            .args([
                "credentials",
                "--role-arn",
                ROLE,
                "--audience",
                AUD,
                "--no-cache",
            ])
            .env_clear()
            .env("PATH", e.bin.path())
            .env("HOME", e.cache.path())
            .env("GCE_METADATA_HOST", &e.meta.host)
            .env(var, &e.sts.url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{var}: {}", stderr(&o));
    }
    assert_eq!(e.sts.count(), 2);
}

#[test]
fn usage_errors() {
    let e = env();
    assert_eq!(e.run(&["--duration", "60"]).status.code(), Some(2));
    assert_eq!(e.run(&["--session-name", "{nope}"]).status.code(), Some(2));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(["credentials"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(Path::new(env!("CARGO_BIN_EXE_janus-audit")).exists());
}

/// A server that echoes the request puts the ID token in its error text: it must never reach
/// stderr, whichever path reports it.
#[test]
fn server_error_text_is_scrubbed_of_tokens() {
    let e = env();
    e.sts.knobs.echo.store(true, Ordering::SeqCst);
    e.sts.knobs.access_denied.store(true, Ordering::SeqCst);
    let o = e.run(&["--no-cache"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("request was"),
        "the echo is shown: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("<redacted"), "{}", stderr(&o));
    assert_no_leak(&stderr(&o));
    e.sts.knobs.access_denied.store(false, Ordering::SeqCst);
    e.sts.knobs.fail_500.store(true, Ordering::SeqCst);
    let o = e.run(&["--no-cache"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("<redacted"), "{}", stderr(&o));
    assert_no_leak(&stderr(&o));
}

/// Logs carry no colour codes when stderr is not a terminal (cron, CI, a pipe).
#[test]
fn no_colour_codes_off_a_terminal() {
    let e = env();
    let o = e.run(&["--no-cache", "-vv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("DEBUG"), "{}", stderr(&o));
    assert!(!stderr(&o).contains('\x1b'), "{:?}", stderr(&o));
}

/// A 200 that is not STS's answer (a captive portal, a misrouted proxy) is a failure to retry
/// later (7), not a refusal (6).
#[test]
fn a_garbage_answer_is_unavailable_not_refused() {
    let e = env();
    e.sts.knobs.garbage.store(true, Ordering::SeqCst);
    let o = e.run(&["--no-cache"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_no_leak(&stderr(&o));
}

/// Every STS attempt fits in what is left of the 4 s budget: a hanging STS ends the run by then
/// (and one that takes 3 s is waited for: see the test below).
#[test]
fn a_slow_sts_cannot_overrun_the_budget() {
    let e = env();
    e.sts.knobs.lag_ms.store(6000, Ordering::SeqCst);
    let start = Instant::now();
    let o = e.run(&["--no-cache"]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(took < Duration::from_millis(4500), "took {took:?}");
    assert!(stderr(&o).contains("STS"), "{}", stderr(&o));
}

/// 30 runs against an STS that takes 3 s: one STS call; every run either gets the winner's
/// credentials or says it gave up waiting for the lock, never blames the metadata server.
#[test]
fn waiters_get_the_winners_result_or_say_what_they_waited_for() {
    let e = env();
    // A second of the 4 s budget left for the winner to start, among 30 processes starting on
    // two cores, and fetch its token: with half a second it ran out on a loaded machine.
    e.sts.knobs.lag_ms.store(3000, Ordering::SeqCst);
    let outs = e.run_together(30, Duration::from_millis(10));
    assert_eq!(e.sts.count(), 1, "one STS call in all");
    let mut served = 0;
    for o in &outs {
        let err = stderr(o);
        assert_no_leak(&err);
        let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
        assert!(errors.iter().all(|l| !l.contains("metadata")), "{err}");
        match o.status.code() {
            Some(0) => {
                served += 1;
                assert_eq!(stdout_json(o)["AccessKeyId"], "ASIAFAKE000000000001");
            }
            Some(7) => assert!(err.contains("waiting for another janus-audit"), "{err}"),
            other => panic!("{other:?}: {err}"),
        }
    }
    assert!(served >= 1, "at least the winner is served");
}

/// A FIFO (or anything but a regular file) at the cache path is ignored, never read.
#[test]
fn a_fifo_in_the_cache_cannot_hang_the_run() {
    let e = env();
    assert!(e.run(&[]).status.success());
    let entry = std::fs::read_dir(e.cache.path())
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    std::fs::remove_file(&entry).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&entry)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = e
        .cmd(&[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(6) {
            child.kill().unwrap();
            panic!("the run hung on a FIFO in the cache");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}
