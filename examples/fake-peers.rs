//! The test fakes from tests/support, standalone: a GCE metadata server and STS on loopback, for
//! the interop test in .ci/run and the fetcher benchmark.
//!
//!     cargo run --example fake-peers
//!     metadata=127.0.0.1:40123
//!     sts=http://127.0.0.2:40124
//!
//! Tokens are signed by tests/support/test-signing-key.pem; nothing real trusts them.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;

fn main() {
    let audience = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "https://aws.example.com/janus".into());
    let meta = support::metadata::FakeMetadata::start();
    let sts = support::sts::FakeSts::start(&audience);
    let mut out = std::io::stdout().lock();
    writeln!(out, "metadata={}\nsts={}", meta.host, sts.url).unwrap();
    out.flush().unwrap();
    drop(out);
    loop {
        std::thread::park();
    }
}
