//! `janus-audit credentials`: the credential_process form here, `serve` and `exec` in [`serve`].
//! stdout carries what was asked for (the credential_process JSON, shell variables, or serve's
//! export lines) and nothing else; every message goes to stderr.

pub mod say;
pub mod serve;

use crate::base::exit;
use crate::credentials::cmd::say::{fail, print_line};
use crate::credentials::{self, Options, format};

/// What the credential_process form was asked.
#[derive(Debug, Clone)]
pub struct Fetch {
    pub opts: Options,
    pub format: format::Format,
    /// `--explain`: the token's claims, the session name and a trust policy; no STS call.
    pub explain: bool,
    pub pin_session_name: bool,
}

#[derive(Debug, Clone)]
pub enum Request {
    Fetch(Box<Fetch>),
    Serve(serve::Request),
}

/// Runs the command; returns the exit status, having said on stderr why it is not 0.
pub fn run(req: Request) -> i32 {
    match req {
        Request::Fetch(f) => fetch(&f),
        Request::Serve(s) => serve::run(s),
    }
}

fn fetch(req: &Fetch) -> i32 {
    let opts = &req.opts;
    let print = |text: serde_json::Result<String>| match text
        .map_err(std::io::Error::other)
        .and_then(|t| print_line(&t))
    {
        Ok(()) => exit::OK,
        Err(e) => fail(format!("cannot write the credentials: {e}"), exit::ERROR),
    };
    if !req.explain
        && let Some(hit) = credentials::cached(opts)
    {
        return print(format::render(&hit, req.format));
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}"), exit::ERROR),
    };
    let result = if req.explain {
        rt.block_on(credentials::explain(opts, req.pin_session_name))
            .map(|x| serde_json::to_string_pretty(&x))
    } else {
        rt.block_on(credentials::fetch(opts))
            .map(|c| format::render(&c, req.format))
    };
    match result {
        Ok(text) => print(text),
        // Whatever a server sent back (an echo of the request, say) is scrubbed of secrets.
        Err(e) => fail(credentials::secret::scrub(&e.to_string()), e.exit_code()),
    }
}
