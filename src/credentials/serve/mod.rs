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

pub mod log;

pub use log::Log;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--bind {0}: only a loopback address (127.0.0.1, ::1) may serve credentials")]
    NotLoopback(IpAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("token file {}: {why}", crate::base::text::quoted(path))]
    TokenFile { path: PathBuf, why: String },
    #[error("the OS gave no random bytes for the token: {0}")]
    Random(String),
    #[error("no --role-arn to serve")]
    NoRole,
}

impl ServeError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ServeError::NotLoopback(_) | ServeError::NoRole => crate::base::exit::USAGE,
            _ => crate::base::exit::ERROR,
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

/// The longest token file read: a token is tens of bytes, and a huge file is refused after
/// this much, never read whole.
const TOKEN_FILE_MAX: u64 = 4096;

/// The token in `path`, which must be a regular file of the user's own, readable by them only;
/// a missing file is created whole and exclusively (0600) with a fresh token, for the clients to
/// read, and when another server created it first, that one's token is read back and served. The token is
/// exactly the file's bytes, as the SDKs send them (`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`):
/// a file that ends in a newline (`openssl rand -hex 32 > F`) is refused, since no client could
/// send it in a header.
pub fn token_file(path: &Path) -> Result<Secret, ServeError> {
    use std::io::{Read, Write};
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let bad = |why: String| ServeError::TokenFile {
        path: path.to_path_buf(),
        why,
    };
    // Created whole and exclusively: the token is written to a private file beside it, which is
    // then hard-linked to the name (link(2) fails when the name exists), so no reader ever sees
    // the file empty, and of two servers creating it at once, one wins and the other reads the
    // winner's token below.
    if std::fs::symlink_metadata(path).is_err() {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let token = new_token()?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".janus-audit-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
            .map_err(|e| bad(e.to_string()))?;
        tmp.write_all(token.expose().as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| bad(e.to_string()))?;
        match std::fs::hard_link(tmp.path(), path) {
            Ok(()) => return Ok(token),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    // Not followed through a symlink: the file itself is what is checked.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| bad(e.to_string()))?;
    let m = f.metadata().map_err(|e| bad(e.to_string()))?;
    // A FIFO would block the read forever, a device could be endless.
    if !m.is_file() {
        return Err(bad("not a regular file".into()));
    }
    // Another user's file, even 0600, is a token that user knows.
    // SAFETY: geteuid(2) cannot fail.
    let me = unsafe { libc::geteuid() };
    if m.uid() != me {
        return Err(bad(format!(
            "owned by uid {}, not by this user (uid {me}): its owner knows the token",
            m.uid()
        )));
    }
    if m.permissions().mode() & 0o077 != 0 {
        return Err(bad(format!(
            "mode {:o} lets others read it; chmod 600",
            m.permissions().mode() & 0o777
        )));
    }
    let mut bytes = Vec::new();
    (&mut f)
        .take(TOKEN_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    if bytes.len() as u64 > TOKEN_FILE_MAX {
        return Err(bad(format!(
            "larger than {TOKEN_FILE_MAX} bytes: not a token"
        )));
    }
    if bytes.ends_with(b"\n") || bytes.ends_with(b"\r") {
        return Err(bad(
            "ends with a newline, which clients send as it is and no HTTP header can carry; write the token without one (printf '%s' TOKEN > FILE)".into(),
        ));
    }
    let token = String::from_utf8(bytes).map_err(|_| bad("not text".into()))?;
    if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "not a token (16 or more printable characters, no spaces)".into(),
        ));
    }
    Ok(Secret::new(token))
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
        let listener = listen(addr).map_err(|source| ServeError::Bind { addr, source })?;
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

/// Connections open at once; a connection past it is closed at once.
const CONNECTIONS: usize = 1024;
/// Connections that have not yet sent a whole request. Past this, the oldest of them is shed:
/// a local process without the token that opens hundreds of connections and sends half a
/// request on each can then never hold the slots a real client needs (a real client sends its
/// request within microseconds of connecting).
const PENDING: usize = 64;
/// How long a connection may take to send a request's headers (its first, or the next on a
/// kept-alive connection).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// The kernel's queue of connections not yet accepted.
const BACKLOG: u32 = 1024;

/// A listening socket with a deep accept queue.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The connections that have sent no whole request yet, oldest first.
#[derive(Default)]
struct Pending {
    next: u64,
    open: std::collections::VecDeque<(u64, tokio::task::AbortHandle)>,
}

impl Pending {
    fn remove(&mut self, id: u64) {
        if let Some(i) = self.open.iter().position(|(o, _)| *o == id) {
            self.open.remove(i);
        }
    }
}

async fn accept(listener: tokio::net::TcpListener, state: Arc<State>) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pending = Arc::new(std::sync::Mutex::new(Pending::default()));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of descriptors, say: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        use std::sync::atomic::Ordering::SeqCst;
        if open.load(SeqCst) >= CONNECTIONS {
            // Shed the oldest connection that has sent nothing whole, else this one.
            let oldest = pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open
                .pop_front();
            match oldest {
                Some((_, task)) => task.abort(),
                None => continue,
            }
        }
        open.fetch_add(1, SeqCst);
        // Held until the connection is listed: its first request takes it off the list.
        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
        p.next += 1;
        let id = p.next;
        let (state, open_now, pending_now) = (state.clone(), open.clone(), pending.clone());
        // Decremented when the task ends, however it ends (aborted included).
        struct Slot(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Slot {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let task = tokio::spawn(async move {
            let _slot = Slot(open_now);
            let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                if !started.swap(true, SeqCst) {
                    pending_now
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(id);
                }
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            // A client that never finishes its headers is dropped (slowloris).
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
        p.open.push_back((id, task.abort_handle()));
        while p.open.len() > PENDING {
            if let Some((_, oldest)) = p.open.pop_front() {
                oldest.abort();
            }
        }
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
        // A refused client keeps no connection open: it cannot hold a slot by keeping it alive.
        Err(r) => (
            {
                let mut resp = error(r.status(), "Refused", r.reason());
                resp.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
                resp
            },
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
                        format!("valid for {}", crate::base::timefmt::format_span(remaining)),
                    )
                }
                Answer::Unavailable(why) => (error(503, "CredentialsUnavailable", &why), why),
            },
        },
    };
    // The path a client asked for is printed quoted and cut short: it is the client's text.
    (state.log)(format!(
        "GET {} {} {note}",
        crate::base::text::quoted(Path::new(&path.chars().take(200).collect::<String>())),
        resp.status().as_u16()
    ));
    resp
}
