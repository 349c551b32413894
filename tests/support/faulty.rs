//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a real server (moto's S3): what S3
//! does to a busy client. Each request is forwarded unless the rule says otherwise for that
//! attempt: `SlowDown` (503, S3's XML error), `InternalError` (500), the connection closed
//! before any answer, the answer cut off halfway through its body, or no answer ever (a stalled
//! server, to interrupt a client mid-run). Every connection is closed after one answer
//! (`Connection: close`), so a fault never poisons a pooled connection. Every request is logged
//! with what was done to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    SlowDown,
    InternalError,
    /// Closed after reading the request, with no answer.
    Drop,
    /// The real answer's head and half its body, then closed.
    Truncate,
    /// Read the request and never answer.
    Stall,
}

/// Decides the fault for a request: (method, path and query, attempt number from 1 for this
/// method and target).
pub type Rule = Box<dyn Fn(&str, &str, u32) -> Option<Fault> + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub target: String,
    pub fault: Option<Fault>,
}

pub struct Faulty {
    pub url: String,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl Faulty {
    /// Forward to `upstream` (`http://127.0.0.1:PORT`), with `rule` deciding the faults.
    pub fn start(upstream: &str, rule: Rule) -> Faulty {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let rule = Arc::new(rule);
        let shared = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (upstream, log, attempts, rule) = (
                    upstream.clone(),
                    shared.clone(),
                    attempts.clone(),
                    rule.clone(),
                );
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &log, &attempts, &rule);
                });
            }
        });
        Faulty { url, log }
    }

    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(
    conn: TcpStream,
    upstream: &str,
    log: &Mutex<Vec<Logged>>,
    attempts: &Mutex<HashMap<String, u32>>,
    rule: &Rule,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = Vec::new();
    let mut line = String::new();
    let mut length = 0usize;
    let mut first = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if first.is_none() {
            first = Some(line.trim_end().to_string());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let first = first.unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let attempt = {
        let mut a = attempts.lock().unwrap();
        let n = a.entry(format!("{method} {target}")).or_default();
        *n += 1;
        *n
    };
    let fault = rule(&method, &target, attempt);
    log.lock().unwrap().push(Logged {
        method,
        target,
        fault,
    });
    let mut conn = conn;
    match fault {
        Some(Fault::SlowDown) => answer(&mut conn, "503 Slow Down", "SlowDown"),
        Some(Fault::InternalError) => {
            answer(&mut conn, "500 Internal Server Error", "InternalError")
        }
        Some(Fault::Drop) => conn.shutdown(Shutdown::Both),
        Some(Fault::Stall) => {
            // Hold the connection open until the client goes away.
            let mut sink = [0u8; 1];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            Ok(())
        }
        None | Some(Fault::Truncate) => {
            let mut up = TcpStream::connect(upstream)?;
            up.set_read_timeout(Some(Duration::from_secs(60)))?;
            up.write_all(&head)?;
            up.write_all(&body)?;
            let mut answer = Vec::new();
            up.read_to_end(&mut answer)?;
            let split = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| p + 4)
                .unwrap_or(answer.len());
            let (head, body) = answer.split_at(split);
            let head = String::from_utf8_lossy(head);
            let mut out = String::new();
            for l in head.split("\r\n").filter(|l| !l.is_empty()) {
                if !l.to_ascii_lowercase().starts_with("connection:") {
                    out.push_str(l);
                    out.push_str("\r\n");
                }
            }
            out.push_str("Connection: close\r\n\r\n");
            conn.write_all(out.as_bytes())?;
            if fault == Some(Fault::Truncate) {
                conn.write_all(&body[..body.len() / 2])?;
            } else {
                conn.write_all(body)?;
            }
            conn.flush()?;
            conn.shutdown(Shutdown::Both)
        }
    }
}

/// An S3 error answer, as S3 sends it (XML, with a request id).
fn answer(conn: &mut TcpStream, status: &str, code: &str) -> std::io::Result<()> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>Please reduce your request rate.</Message><RequestId>FAULTY0000000001</RequestId><HostId>faulty</HostId></Error>"
    );
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: FAULTY0000000001\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()?;
    conn.shutdown(Shutdown::Both)
}
