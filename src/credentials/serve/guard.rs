//! Who may have credentials: the checks every request passes before anything else is looked at.
//! The endpoint is on loopback, but a browser on the same machine can be steered at it (DNS
//! rebinding: an attacker's name resolving to 127.0.0.1) and a local proxy can relay to it; the
//! `Host` and `X-Forwarded-For`/`Forwarded` checks refuse both, and the token (compared in
//! constant time) refuses every other local process that was not handed it.

use std::net::SocketAddr;

use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a GET (405).
    Method,
    /// Relayed by a proxy (403).
    Forwarded,
    /// A `Host` that is not the address the server listens on (403).
    Host,
    /// No `Authorization` header (401).
    NoToken,
    /// The wrong token (403).
    WrongToken,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Method => 405,
            Refusal::NoToken => 401,
            Refusal::Forwarded | Refusal::Host | Refusal::WrongToken => 403,
        }
    }

    /// What the client is told (and the log says): never more than which rule refused it.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Method => "only GET is served",
            Refusal::Forwarded => "relayed requests are refused",
            Refusal::Host => "Host is not the listening address",
            Refusal::NoToken => "no Authorization token",
            Refusal::WrongToken => "wrong Authorization token",
        }
    }
}

/// The parts of a request the checks read.
pub struct Request<'a> {
    pub method: &'a str,
    pub host: Option<&'a [u8]>,
    pub forwarded: bool,
    pub authorization: Option<&'a [u8]>,
}

/// `Ok` when `r` may be answered by a server listening on `listen` with `token`.
pub fn check(r: &Request<'_>, listen: SocketAddr, token: &[u8]) -> Result<(), Refusal> {
    if r.method != "GET" {
        return Err(Refusal::Method);
    }
    if r.forwarded {
        return Err(Refusal::Forwarded);
    }
    if !r.host.is_some_and(|h| host_ok(h, listen)) {
        return Err(Refusal::Host);
    }
    let Some(given) = r.authorization else {
        return Err(Refusal::NoToken);
    };
    if bool::from(given.ct_eq(token)) {
        Ok(())
    } else {
        Err(Refusal::WrongToken)
    }
}

/// The listening address itself (`127.0.0.1:PORT`, `[::1]:PORT`) or `localhost:PORT`.
fn host_ok(host: &[u8], listen: SocketAddr) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let port = listen.port();
    host == listen.to_string() || host.eq_ignore_ascii_case(&format!("localhost:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(host: &'a str, auth: Option<&'a str>, forwarded: bool) -> Request<'a> {
        Request {
            method: "GET",
            host: Some(host.as_bytes()),
            forwarded,
            authorization: auth.map(str::as_bytes),
        }
    }

    #[test]
    fn only_the_exact_token_host_and_method_pass() {
        let at: SocketAddr = "127.0.0.1:4144".parse().unwrap();
        let t = b"s3cr3t";
        assert_eq!(
            check(&req("127.0.0.1:4144", Some("s3cr3t"), false), at, t),
            Ok(())
        );
        assert_eq!(
            check(&req("LOCALHOST:4144", Some("s3cr3t"), false), at, t),
            Ok(())
        );
        assert_eq!(
            check(&req("127.0.0.1:4144", Some("s3cr3"), false), at, t),
            Err(Refusal::WrongToken)
        );
        assert_eq!(
            check(&req("127.0.0.1:4144", Some("s3cr3t "), false), at, t),
            Err(Refusal::WrongToken)
        );
        assert_eq!(
            check(&req("127.0.0.1:4144", None, false), at, t),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            check(&req("evil.example:4144", Some("s3cr3t"), false), at, t),
            Err(Refusal::Host)
        );
        assert_eq!(
            check(&req("127.0.0.1:80", Some("s3cr3t"), false), at, t),
            Err(Refusal::Host)
        );
        assert_eq!(
            check(&req("127.0.0.1:4144", Some("s3cr3t"), true), at, t),
            Err(Refusal::Forwarded)
        );
        let mut post = req("127.0.0.1:4144", Some("s3cr3t"), false);
        post.method = "POST";
        assert_eq!(check(&post, at, t), Err(Refusal::Method));
        let v6: SocketAddr = "[::1]:4144".parse().unwrap();
        assert_eq!(
            check(&req("[::1]:4144", Some("s3cr3t"), false), v6, t),
            Ok(())
        );
    }
}
