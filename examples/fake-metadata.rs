//! The test fake GCE metadata server, standalone, for the interop test in .ci/run:
//!
//!     cargo run --example fake-metadata -- 127.0.0.1:8089
//!
//! It mints RS256 ID tokens signed by tests/support/test-signing-key.pem; nothing real trusts it.

#[path = "../tests/support/metadata.rs"]
#[allow(dead_code)]
mod metadata;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let fake = metadata::FakeMetadata::start_on(&addr);
    println!("{}", fake.host);
    loop {
        std::thread::park();
    }
}
