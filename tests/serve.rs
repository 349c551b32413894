//! `credentials serve`, `credentials exec` and `--format` with the real binary against the loopback
//! metadata and STS fakes, and the Rust SDK's default credential chain as a client (this test
//! binary runs itself as the client, with only the container variables set).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::metadata::FakeMetadata;
use support::sts::{self, FakeSts};

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-ro-from-gcp";
const OTHER: &str = "arn:aws:iam::210987654321:role/audit-reader";
const AUD: &str = "https://aws.example.com/janus";

struct Peers {
    meta: FakeMetadata,
    sts: FakeSts,
    home: tempfile::TempDir,
}

fn peers() -> Peers {
    Peers {
        meta: FakeMetadata::start(),
        sts: FakeSts::start(AUD),
        home: tempfile::tempdir().unwrap(),
    }
}

impl Peers {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_janus-audit"));
        // The shared options first: after `exec`'s `--` everything is the child's.
        c.arg("credentials")
            .args(["--audience", AUD, "--token-source", "metadata"])
            .args(["--sts-endpoint", &self.sts.url, "--no-cache"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap())
            .env("HOME", self.home.path())
            .env("GCE_METADATA_HOST", &self.meta.host);
        c
    }

    /// `serve` with `--auth-token-file f`, run to its end (for the refusals).
    fn serve_with_token_file(&self, f: &std::path::Path) -> std::process::Output {
        self.cmd(&[
            "serve",
            "--role-arn",
            ROLE,
            "--auth-token-file",
            f.to_str().unwrap(),
        ])
        .output()
        .unwrap()
    }

    /// `serve --print-env` with `args`; the server, its URI, token and stderr file.
    fn serve(&self, args: &[&str]) -> Served {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut a = vec!["serve", "--print-env"];
        a.extend(args);
        let mut child = self
            .cmd(&a)
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut vars = Vec::new();
        for _ in 0..2 {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let (k, v) = line
                .trim()
                .strip_prefix("export ")
                .unwrap_or_else(|| panic!("not an export line: {line:?}"))
                .split_once('=')
                .unwrap();
            vars.push((k.to_string(), v.trim_matches('\'').to_string()));
        }
        assert_eq!(vars[0].0, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
        assert_eq!(vars[1].0, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        Served {
            child,
            uri: vars[0].1.clone(),
            token: vars[1].1.clone(),
            log,
        }
    }
}

struct Served {
    child: Child,
    uri: String,
    token: String,
    log: tempfile::NamedTempFile,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap()
    }

    /// The authority (`127.0.0.1:PORT`) and path of the URI.
    fn parts(&self) -> (String, String) {
        let rest = self.uri.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        (host.to_string(), path.to_string())
    }

    /// GET the role with the right token and Host.
    fn get(&self) -> (u16, serde_json::Value) {
        let (host, path) = self.parts();
        let (status, body) = http(
            &host,
            &path,
            &[("Host", &host), ("Authorization", &self.token)],
        );
        (status, serde_json::from_str(&body).unwrap())
    }
}

/// The first two lines `serve --print-env` prints (the URI's and the token's exports, trimmed),
/// and its stdout, to keep open while it serves.
fn export_lines(child: &mut Child) -> (String, String, BufReader<std::process::ChildStdout>) {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut uri, mut auth) = (String::new(), String::new());
    out.read_line(&mut uri).unwrap();
    out.read_line(&mut auth).unwrap();
    (uri.trim().to_string(), auth.trim().to_string(), out)
}

/// One HTTP/1.1 GET with exactly these headers; status and body.
fn http(addr: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

fn assert_no_secret(text: &str, token: &str) {
    for s in [sts::SECRET_KEY, sts::SESSION_TOKEN, token, "eyJ"] {
        assert!(!text.contains(s), "leaked {s}: {text}");
    }
}

/// Seconds from now to an RFC 3339 expiration.
fn left(expiration: &serde_json::Value) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(expiration.as_str().unwrap()).unwrap();
    (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).as_seconds_f64()
}

/// The client half: when `JANUS_SDK_CLIENT` is set this test is the Rust SDK resolving
/// credentials through `aws-config`'s default chain `JANUS_SDK_CLIENT` times, `JANUS_SDK_GAP_MS`
/// apart, printing each access key; otherwise it does nothing.
#[test]
fn sdk_client() {
    let Ok(times) = std::env::var("JANUS_SDK_CLIENT") else {
        return;
    };
    let gap = std::env::var("JANUS_SDK_GAP_MS")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use aws_sdk_sts::config::ProvideCredentials;
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await;
        let provider = conf.credentials_provider().unwrap();
        for _ in 0..times.parse::<u32>().unwrap() {
            let c = provider.provide_credentials().await.unwrap();
            println!("KEY {}", c.access_key_id());
            tokio::time::sleep(Duration::from_millis(gap)).await;
        }
    });
}

/// This binary as the SDK client, with `vars` its only AWS settings.
fn sdk(times: u32, gap_ms: u64, vars: &[(&str, &str)]) -> Vec<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sdk_client",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("JANUS_SDK_CLIENT", times.to_string())
        .env("JANUS_SDK_GAP_MS", gap_ms.to_string())
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    sdk_keys(&out)
}

/// The access keys an [`sdk_client`] run printed; it must have succeeded.
fn sdk_keys(out: &std::process::Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness may print its own `test sdk_client ... ` on the same line.
    text.lines()
        .filter_map(|l| l.split_once("KEY ").map(|(_, k)| k))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_rust_sdk_gets_credentials_from_serve_and_each_role_has_its_path() {
    let p = peers();
    let s = p.serve(&["--role-arn", ROLE, "--role-arn", OTHER]);
    let keys = sdk(
        2,
        0,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &s.uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", &s.token),
        ],
    );
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with("ASIAFAKE"), "{keys:?}");
    // The first role is the one the printed URI names; the other has its own path.
    assert!(
        s.uri.ends_with("/role/123456789012/s3-ro-from-gcp"),
        "{}",
        s.uri
    );
    let (status, body) = s.get();
    assert_eq!(status, 200);
    assert_eq!(body["AccountId"], "123456789012");
    for f in ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"] {
        assert!(body[f].is_string(), "{f}: {body}");
    }
    let (host, _) = s.parts();
    let (status, other) = http(
        &host,
        "/role/210987654321/audit-reader",
        &[("Host", &host), ("Authorization", &s.token)],
    );
    assert_eq!(status, 200, "{other}");
    let other: serde_json::Value = serde_json::from_str(&other).unwrap();
    assert_eq!(other["AccountId"], "210987654321");
    assert_ne!(other["AccessKeyId"], body["AccessKeyId"]);
    // Every role's session is named by the same template.
    let calls = p.sts.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.session_name == "prod-data-1234.etl-1")
    );
    assert_no_secret(&s.stderr(), &s.token);
}

#[test]
fn refusals_name_the_rule_and_give_nothing() {
    let p = peers();
    let s = p.serve(&["--role-arn", ROLE]);
    assert_eq!(s.get().0, 200);
    let (host, path) = s.parts();
    let cases: [(&[(&str, &str)], u16); 5] = [
        (&[("Host", &host), ("Authorization", "wrong")], 403),
        (&[("Host", &host)], 401),
        (
            &[("Host", "evil.example"), ("Authorization", &s.token)],
            403,
        ),
        (
            &[
                ("Host", &host),
                ("Authorization", &s.token),
                ("X-Forwarded-For", "203.0.113.9"),
            ],
            403,
        ),
        (&[("Authorization", &s.token)], 403),
    ];
    for (headers, want) in cases {
        let (status, body) = http(&host, &path, headers);
        assert_eq!(status, want, "{headers:?}: {body}");
        assert!(!body.contains("ASIA") && !body.contains(sts::SECRET_KEY));
    }
    let (status, _) = http(
        &host,
        "/role/999999999999/nope",
        &[("Host", &host), ("Authorization", &s.token)],
    );
    assert_eq!(status, 404);
    // The token is 256 bits of hex, generated for the run.
    assert_eq!(s.token.len(), 64);
    assert!(s.token.bytes().all(|b| b.is_ascii_hexdigit()));
    let log = s.stderr();
    assert!(log.contains(" 403 wrong Authorization token"), "{log}");
    assert!(log.contains(" 401 no Authorization token"), "{log}");
    assert!(log.contains(" 200 valid for "), "{log}");
    assert_no_secret(&log, &s.token);
    // Nothing but loopback is ever bound.
    for bind in ["0.0.0.0", "192.0.2.1", "::"] {
        let out = p
            .cmd(&["serve", "--role-arn", ROLE, "--bind", bind])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bind}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    }
}

#[test]
fn a_token_file_must_be_private_and_is_created_when_missing() {
    use std::os::unix::fs::PermissionsExt;
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let mut first = p
        .cmd(&[
            "serve",
            "--role-arn",
            ROLE,
            "--auth-token-file",
            file.to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !file.exists() {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = first.kill();
    let _ = first.wait();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        token.len(),
        64,
        "no newline: the SDKs send the bytes as they are"
    );
    // The file's token is the one the server wants; the SDK reads it from the file.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = p
        .cmd(&[
            "serve",
            "--role-arn",
            ROLE,
            "--auth-token-file",
            file.to_str().unwrap(),
            "--print-env",
        ])
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut uri, mut tf) = (String::new(), String::new());
    out.read_line(&mut uri).unwrap();
    out.read_line(&mut tf).unwrap();
    let uri = uri.trim().split_once('=').unwrap().1.trim_matches('\'');
    assert_eq!(
        tf.trim(),
        format!(
            "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE='{}'",
            file.display()
        )
    );
    let keys = sdk(
        1,
        0,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                file.to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(keys.len(), 1);
    let _ = child.kill();
    let _ = child.wait();
    // Readable by others: refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = |f: &std::path::Path| {
        let out = p.serve_with_token_file(f);
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&file);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(&token));
    // A FIFO in its place (0600, so only its type is wrong) is refused at once, not read forever.
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let started = Instant::now();
    let err = refused(&fifo);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn renewal_comes_before_the_margin_with_one_sts_call_for_fifty_clients() {
    let p = peers();
    // Credentials live 8 s; none may be handed out with less than 3 s left.
    p.sts.knobs.lifetime_secs.store(8, Ordering::SeqCst);
    let s = p.serve(&["--role-arn", ROLE, "--refresh-before", "3s"]);
    assert_eq!(p.sts.count(), 1);
    let burst = || {
        let (host, path) = s.parts();
        let token = s.token.clone();
        let threads: Vec<_> = (0..50)
            .map(|_| {
                let (host, path, token) = (host.clone(), path.clone(), token.clone());
                std::thread::spawn(move || {
                    http(&host, &path, &[("Host", &host), ("Authorization", &token)])
                })
            })
            .collect();
        let answers: Vec<(u16, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(answers.iter().all(|(s, _)| *s == 200), "{answers:?}");
        answers
    };
    burst();
    assert_eq!(p.sts.count(), 1, "50 clients, still one STS call");
    // The background renewal comes between 3 and 4.5 s before expiry, on its own.
    let started = Instant::now();
    while p.sts.count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(8), "no renewal");
        std::thread::sleep(Duration::from_millis(50));
    }
    burst();
    assert_eq!(p.sts.count(), 2);
    // A client calling every 300 ms for 12 s (past two expiries) never gets an error or a
    // credential inside the margin, and sees the key change.
    let mut keys = Vec::new();
    let until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < until {
        let (status, body) = s.get();
        assert_eq!(status, 200, "{body}");
        assert!(left(&body["Expiration"]) >= 2.9, "{body}");
        keys.push(body["AccessKeyId"].as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(300));
    }
    keys.dedup();
    assert!(keys.len() >= 3, "{keys:?}");
    assert_no_secret(&s.stderr(), &s.token);
}

#[test]
fn while_sts_fails_the_current_credentials_serve_until_the_margin_then_503() {
    let p = peers();
    p.sts.knobs.lifetime_secs.store(6, Ordering::SeqCst);
    let s = p.serve(&["--role-arn", ROLE, "--refresh-before", "3s"]);
    let (status, first) = s.get();
    assert_eq!(status, 200);
    p.sts.knobs.fail_500.store(true, Ordering::SeqCst);
    p.sts.knobs.echo.store(true, Ordering::SeqCst);
    let mut saw_503 = false;
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let (status, body) = s.get();
        match status {
            200 => {
                assert!(!saw_503, "credentials after a 503: {body}");
                assert_eq!(body["AccessKeyId"], first["AccessKeyId"]);
                assert!(left(&body["Expiration"]) >= 2.9, "{body}");
            }
            503 => {
                saw_503 = true;
                assert_eq!(body["Code"], "CredentialsUnavailable", "{body}");
                assert!(body.get("AccessKeyId").is_none());
                assert_no_secret(&body.to_string(), &s.token);
            }
            other => panic!("{other}: {body}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saw_503);
    // STS back: served again, with no restart.
    p.sts.knobs.fail_500.store(false, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        let (status, body) = s.get();
        if status == 200 {
            assert_ne!(body["AccessKeyId"], first["AccessKeyId"]);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // STS echoed the request (the Google ID token in it) into its errors: scrubbed.
    assert_no_secret(&s.stderr(), &s.token);
}

#[test]
fn exec_gives_the_child_only_the_server_and_its_status_comes_back() {
    let p = peers();
    // The child sees the two container variables, and none of the static ones.
    let out = p
        .cmd(&["exec", "--role-arn", ROLE, "--", "sh", "-c", "env; exit 7"])
        .env("AWS_ACCESS_KEY_ID", "AKIASTATICWRONG")
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .env("AWS_PROFILE", "wrong")
        .env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/wrong")
        // Read ahead of the container provider by the Go and Java v1 SDKs (the first two) and
        // by botocore (its legacy credential file and boto2 config).
        .env("AWS_ACCESS_KEY", "AKIASTATICWRONG")
        .env("AWS_SECRET_KEY", "wrong")
        .env("AWS_CREDENTIAL_FILE", "/tmp/wrong")
        .env("BOTO_CONFIG", "/tmp/wrong")
        .env("AWS_ROLE_SESSION_NAME", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:"));
    assert!(env.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN="));
    for gone in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "AWS_CREDENTIAL_FILE",
        "BOTO_CONFIG",
        "AWS_ROLE_SESSION_NAME",
    ] {
        assert!(
            !env.lines().any(|l| l.starts_with(&format!("{gone}="))),
            "{gone}: {env}"
        );
    }
    // The Rust SDK inside exec, running past two credential lifetimes, keeps working.
    p.sts.knobs.lifetime_secs.store(5, Ordering::SeqCst);
    let me = std::env::current_exe().unwrap();
    let out = p
        .cmd(&[
            "exec",
            "--role-arn",
            ROLE,
            "--refresh-before",
            "2s",
            "--",
            me.to_str().unwrap(),
            "--exact",
            "sdk_client",
            "--nocapture",
        ])
        .env("JANUS_SDK_CLIENT", "24")
        .env("JANUS_SDK_GAP_MS", "500")
        .output()
        .unwrap();
    let mut keys = sdk_keys(&out);
    assert_eq!(keys.len(), 24, "{keys:?}");
    keys.dedup();
    assert!(keys.len() >= 3, "{keys:?}");
    // Not found: 127, as a shell says.
    let out = p
        .cmd(&["exec", "--role-arn", ROLE, "--", "/nonexistent/cmd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn exec_forwards_a_termination_and_returns_the_childs_answer() {
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("got-term");
    let script = format!(
        "trap 'echo term > {}; exit 42' TERM; while true; do sleep 0.1; done",
        mark.display()
    );
    let mut child = p
        .cmd(&["exec", "--role-arn", ROLE, "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert_eq!(std::fs::read_to_string(&mark).unwrap().trim(), "term");
}

#[test]
fn format_env_fish_and_powershell_quote_every_value() {
    let p = peers();
    let env = p
        .cmd(&["--role-arn", ROLE, "--format", "env"])
        .output()
        .unwrap();
    assert!(env.status.success());
    let text = String::from_utf8(env.stdout).unwrap();
    // sh reads back exactly the values.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{text}\nprintf '%s\\n' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" \"$AWS_SESSION_TOKEN\" \"$AWS_CREDENTIAL_EXPIRATION\""
        ))
        .output()
        .unwrap();
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(got[1], sts::SECRET_KEY);
    assert_eq!(got[2], sts::SESSION_TOKEN);
    assert!(got[0].starts_with("ASIAFAKE"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(&got[3]).is_ok(),
        "{got:?}"
    );
    let printed = |format: &str| {
        let out = p
            .cmd(&["--role-arn", ROLE, "--format", format])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let fish = printed("fish");
    assert!(fish.contains(&format!(
        "set -gx AWS_SECRET_ACCESS_KEY '{}'",
        sts::SECRET_KEY
    )));
    let ps = printed("powershell");
    assert!(ps.contains(&format!(
        "$Env:AWS_SESSION_TOKEN = '{}'",
        sts::SESSION_TOKEN
    )));
    assert_eq!(ps.lines().count(), 4);
}

#[test]
fn under_systemd_serve_says_ready_once_it_can_answer() {
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = p
        .cmd(&["serve", "--role-arn", ROLE])
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf);
    let calls = p.sts.count();
    let _ = child.kill();
    let _ = child.wait();
    let msg = String::from_utf8_lossy(&buf[..n.expect("no readiness notification")]).to_string();
    assert!(msg.lines().any(|l| l == "READY=1"), "{msg:?}");
    // Ready means the first credentials are in.
    assert_eq!(calls, 1);
}

#[test]
fn the_shortest_duration_is_served_and_a_margin_not_below_it_is_refused() {
    let p = peers();
    // --duration 900, the least STS allows, with the default margin: a third of it (5 min), so
    // the 15-minute credentials are handed out, and STS is asked once.
    let s = p.serve(&["--role-arn", ROLE, "--duration", "900"]);
    let (status, body) = s.get();
    assert_eq!(status, 200, "{body}");
    assert!(left(&body["Expiration"]) > 800.0, "{body}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(p.sts.count(), 1);
    // A margin the credentials can never have left is a usage error, before anything starts.
    let out = p
        .cmd(&[
            "serve",
            "--role-arn",
            ROLE,
            "--duration",
            "900",
            "--refresh-before",
            "15m",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--refresh-before") && err.contains("below --duration"),
        "{err}"
    );
    assert_eq!(p.sts.count(), 1);
}

#[test]
fn credentials_sts_issues_already_expired_never_make_serve_call_it_more_than_5_times_in_10_s() {
    let p = peers();
    // Every answer expires a second after issue, inside any margin.
    p.sts.knobs.lifetime_secs.store(1, Ordering::SeqCst);
    let s = p.serve(&["--role-arn", ROLE]);
    let started = Instant::now();
    let mut counts = Vec::new();
    // A client asking 10 times a second: every answer is a quick 503, never credentials.
    while started.elapsed() < Duration::from_millis(9_500) {
        let asked = Instant::now();
        let (status, body) = s.get();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["Code"], "CredentialsUnavailable", "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "a client held {:?}",
            asked.elapsed()
        );
        counts.push(p.sts.count());
        std::thread::sleep(Duration::from_millis(100));
    }
    let calls = p.sts.count();
    assert!(calls <= 5, "{calls} STS calls in under 10 s");
    assert!(
        s.stderr().contains("less than the refresh margin"),
        "{}",
        s.stderr()
    );
    // And it keeps asking, slowly: by 20 s at most 10.
    std::thread::sleep(Duration::from_millis(10_000));
    assert!(p.sts.count() <= 10, "{} STS calls in 20 s", p.sts.count());
    assert_no_secret(&s.stderr(), &s.token);
}

#[test]
fn four_hundred_half_open_connections_without_the_token_do_not_starve_a_real_client() {
    let p = peers();
    let s = p.serve(&["--role-arn", ROLE]);
    let (host, path) = s.parts();
    // A local process without the token opens 400 connections and sends half a request line on
    // each, reopening whatever the server closes, for 15 s (bounded: 400 sockets, 15 s, loopback).
    let half = |host: &str| {
        let c = TcpStream::connect(host).ok()?;
        c.set_nonblocking(true).ok()?;
        let mut c = c;
        c.write_all(b"GET /role/123456789012/s3-ro HTT").ok()?;
        Some(c)
    };
    let mut flood: Vec<Option<TcpStream>> = (0..400).map(|_| half(&host)).collect();
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(15) {
        let asked = Instant::now();
        let mut c = TcpStream::connect(&host).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            s.token
        )
        .unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap_or_else(|e| {
            panic!(
                "a real client was not served within 5 s ({e}); {:?}",
                asked.elapsed()
            )
        });
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{:?}",
            asked.elapsed()
        );
        served += 1;
        // The flood reopens what was shed.
        for c in flood.iter_mut() {
            // Still open and unanswered: a read would block. Closed, or answered (the server
            // then closes it): reopened.
            let alive = c.as_mut().is_some_and(|c| {
                let mut b = [0u8; 512];
                matches!(c.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            if !alive {
                *c = half(&host);
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(served >= 20, "{served}");
    assert_no_secret(&s.stderr(), &s.token);
}

#[test]
fn the_id_token_file_is_never_the_servers_token() {
    // --token-source file --token-file G: G is the Google ID token, which STS accepts. serve
    // makes its own token and never hands out G's path or bytes.
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("google-id-token");
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
    std::fs::write(&g, jwt).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_janus-audit"))
        .args(["credentials", "--audience", AUD, "--token-source", "file"])
        .args(["--token-file", g.to_str().unwrap()])
        .args(["--sts-endpoint", &p.sts.url, "--no-cache"])
        .args(["serve", "--role-arn", ROLE, "--print-env"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", p.home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_uri, auth, _out) = export_lines(&mut child);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        auth.starts_with("export AWS_CONTAINER_AUTHORIZATION_TOKEN="),
        "{auth}"
    );
    assert!(
        !auth.contains(jwt) && !auth.contains("google-id-token"),
        "{auth}"
    );
}

#[test]
fn a_token_file_of_another_user_with_a_newline_or_huge_is_refused_and_a_race_serves_one_token() {
    use std::os::unix::fs::PermissionsExt;
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let refused = |f: &std::path::Path, why: &str| {
        let started = Instant::now();
        let out = p.serve_with_token_file(f);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    };
    let private = |name: &str, body: &[u8]| {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        f
    };
    // `openssl rand -hex 32 > F`: a newline no client can send.
    refused(
        &private("newline", b"0123456789abcdef0123456789abcdef\n"),
        "newline",
    );
    // 1 GB (sparse): refused after a bounded read.
    let huge = private("huge", b"");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    refused(&huge, "larger than");
    // Planted by another user, 0600: that user knows the token (only root can chown).
    if unsafe { libc::geteuid() } == 0 {
        let theirs = private("theirs", b"0123456789abcdef0123456789abcdef");
        let c = std::ffi::CString::new(theirs.to_str().unwrap()).unwrap();
        // SAFETY: chown(2) on a path we made.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        refused(&theirs, "owned by uid 65534");
    }
    // Two servers create the same missing file at once: both serve the token it holds.
    for round in 0..5 {
        let f = dir.path().join(format!("race-{round}"));
        let spawn = || {
            let mut c = p
                .cmd(&[
                    "serve",
                    "--role-arn",
                    ROLE,
                    "--auth-token-file",
                    f.to_str().unwrap(),
                    "--print-env",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let (uri, _file, out) = export_lines(&mut c);
            // Kept open: a server whose stdout is closed under it may stop.
            (c, uri, out)
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn);
            let b = s.spawn(spawn);
            (a.join().unwrap(), b.join().unwrap())
        });
        let token = std::fs::read_to_string(&f).unwrap();
        for (mut child, line, _out) in [a, b] {
            let uri = line
                .split_once('=')
                .unwrap()
                .1
                .trim_matches('\'')
                .to_string();
            let rest = uri.strip_prefix("http://").unwrap();
            let (host, path) = rest.split_at(rest.find('/').unwrap());
            let (status, body) = http(host, path, &[("Host", host), ("Authorization", &token)]);
            assert_eq!(status, 200, "round {round}: {body}");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn sighup_and_sigusr1_do_not_stop_serve() {
    let p = peers();
    let s = p.serve(&["--role-arn", ROLE]);
    let pid = s.child.id() as libc::pid_t;
    for sig in [libc::SIGHUP, libc::SIGUSR1] {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        std::thread::sleep(Duration::from_millis(300));
        let (status, body) = s.get();
        assert_eq!(status, 200, "{body}");
    }
    let log = s.stderr();
    assert!(
        log.contains("SIGHUP received") && log.contains("SIGUSR1 received"),
        "{log}"
    );
}
