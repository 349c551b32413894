//! `janus-audit credentials serve`: the container credentials endpoint every AWS SDK and the AWS
//! CLI read from `AWS_CONTAINER_CREDENTIALS_FULL_URI` with `AWS_CONTAINER_AUTHORIZATION_TOKEN`
//! (aws-config's `ecs.rs`/`json_credentials.rs`, botocore's `ContainerProvider`): a GET with the
//! token verbatim in `Authorization`, answered with `AccessKeyId`, `SecretAccessKey`, `Token`,
//! `Expiration` (RFC 3339) and `AccountId` as JSON. An `http://` full URI must name a loopback
//! address for the SDKs to accept it, and the server binds nothing else.

pub mod guard;
pub mod role;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::Options;
use super::secret::Secret;
use role::{Answer, Role};

/// Where the server's lines go (one per request, refresh and failure; never a secret).
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--bind {0}: only a loopback address (127.0.0.1, ::1) may serve credentials")]
    NotLoopback(IpAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("token file {}: {why}", crate::text::quoted(path))]
    TokenFile { path: PathBuf, why: String },
    #[error("the OS gave no random bytes for the token: {0}")]
    Random(String),
    #[error("no --role-arn to serve")]
    NoRole,
}

impl ServeError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ServeError::NotLoopback(_) | ServeError::NoRole => crate::exit::USAGE,
            _ => crate::exit::ERROR,
        }
    }
}

pub struct ServeOptions {
    pub bind: IpAddr,
    /// 0: any free port.
    pub port: u16,
    pub token: Secret,
    /// One per role, each with its `role_arn`.
    pub roles: Vec<Options>,
    /// Credentials are never handed out with less validity than this.
    pub margin: Duration,
}

/// A fresh 256-bit token from the OS, hex.
pub fn new_token() -> Result<Secret, ServeError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| ServeError::Random(e.to_string()))?;
    Ok(Secret::new(hex::encode(b)))
}

/// The token in `path`, which must be readable by its owner only; a missing file is created
/// (0600, written aside and renamed) with a fresh token, for the clients to read. No newline is
/// written: the SDKs send the file's bytes verbatim.
pub fn token_file(path: &Path) -> Result<Secret, ServeError> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |why: String| ServeError::TokenFile {
        path: path.to_path_buf(),
        why,
    };
    match std::fs::metadata(path) {
        Ok(m) => {
            // A FIFO would block the read forever, a device could be endless.
            if !m.is_file() {
                return Err(bad("not a regular file".into()));
            }
            if m.permissions().mode() & 0o077 != 0 {
                return Err(bad(format!(
                    "mode {:o} lets others read it; chmod 600",
                    m.permissions().mode() & 0o777
                )));
            }
            let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
            let token = text.trim();
            if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(
                    "not a token (16 or more printable characters, no spaces)".into(),
                ));
            }
            Ok(Secret::new(token))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = new_token()?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            super::cache::write_private(dir, path, token.expose().as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            Ok(token)
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    roles: Vec<Arc<Role>>,
}

impl Server {
    /// Bind, fetch every role's first credentials (a failure is logged and retried in the
    /// background; requests get 503 meanwhile), and serve on the current tokio runtime.
    pub async fn start(opts: ServeOptions, log: Log) -> Result<Server, ServeError> {
        if !opts.bind.is_loopback() {
            return Err(ServeError::NotLoopback(opts.bind));
        }
        if opts.roles.is_empty() {
            return Err(ServeError::NoRole);
        }
        let addr = SocketAddr::new(opts.bind, opts.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let roles: Vec<Arc<Role>> = opts
            .roles
            .into_iter()
            .map(|o| Arc::new(Role::new(o, opts.margin, log.clone())))
            .collect();
        let first: Vec<_> = roles
            .iter()
            .map(|r| {
                let r = r.clone();
                tokio::spawn(async move {
                    r.answer().await;
                })
            })
            .collect();
        for f in first {
            let _ = f.await;
        }
        for r in &roles {
            tokio::spawn(r.clone().keep_fresh());
        }
        let state = Arc::new(State {
            addr,
            token: opts.token,
            roles: roles.clone(),
            log,
        });
        tokio::spawn(accept(listener, state));
        Ok(Server { addr, roles })
    }

    /// Each role's ARN and the full URI a client is given for it.
    pub fn urls(&self) -> Vec<(String, String)> {
        let host = match self.addr {
            SocketAddr::V4(a) => a.to_string(),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        self.roles
            .iter()
            .map(|r| (r.role_arn().to_string(), format!("http://{host}{}", r.path)))
            .collect()
    }
}

struct State {
    addr: SocketAddr,
    token: Secret,
    roles: Vec<Arc<Role>>,
    log: Log,
}

/// Connections served at once; more wait in the kernel's backlog.
const CONNECTIONS: usize = 256;

async fn accept(listener: tokio::net::TcpListener, state: Arc<State>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of descriptors, say: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            // A client that never finishes its headers is dropped (slowloris).
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
            drop(permit);
        });
    }
}

fn json(status: u16, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("static headers")
}

fn error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        serde_json::json!({"Code": code, "Message": message}),
    )
}

async fn handle<B>(state: &State, req: Request<B>) -> Response<Full<Bytes>> {
    let h = req.headers();
    let path = req.uri().path().to_string();
    let checked = guard::check(
        &guard::Request {
            method: req.method().as_str(),
            host: h.get(hyper::header::HOST).map(|v| v.as_bytes()),
            forwarded: h.contains_key("x-forwarded-for") || h.contains_key("forwarded"),
            authorization: h.get(hyper::header::AUTHORIZATION).map(|v| v.as_bytes()),
        },
        state.addr,
        state.token.expose().as_bytes(),
    );
    let (resp, note) = match checked {
        Err(r) => (
            error(r.status(), "Refused", r.reason()),
            r.reason().to_string(),
        ),
        Ok(()) => match state.roles.iter().find(|r| r.path == path) {
            None => (
                error(404, "NotFound", "no role is served at this path"),
                "no such role".into(),
            ),
            Some(role) => match role.answer().await {
                Answer::Credentials { creds, remaining } => {
                    let mut body = serde_json::json!({
                        "AccessKeyId": creds.access_key_id,
                        "SecretAccessKey": creds.secret_access_key.expose(),
                        "Token": creds.session_token.expose(),
                        "Expiration": creds.expiration,
                    });
                    if let Some(a) = &creds.account_id {
                        body["AccountId"] = serde_json::json!(a);
                    }
                    (
                        json(200, body),
                        format!("valid for {}", crate::timefmt::format_span(remaining)),
                    )
                }
                Answer::Unavailable(why) => (error(503, "CredentialsUnavailable", &why), why),
            },
        },
    };
    // The path a client asked for is printed quoted and cut short: it is the client's text.
    (state.log)(format!(
        "GET {} {} {note}",
        crate::text::quoted(Path::new(&path.chars().take(200).collect::<String>())),
        resp.status().as_u16()
    ));
    resp
}
