//! The inflate-and-scan floor of a trail: every log file read, inflated with libdeflate (as the
//! reports do) and every byte of it scanned as JSON, on every core, nothing kept. No report over
//! the JSON can be faster; `benches/by_instance_vs_duckdb.py` prints it beside the report's
//! time, and the ratio is how far the raw path is from it.
//!
//!     cargo run --release --example parse-floor -- TRAIL_DIR
//!
//! Prints one line: files, bytes on disk, bytes of JSON, seconds, and bytes of JSON per second.

use std::time::Instant;

use janus_audit::analyzer::source::files::{self, Buffers, Limits, Plan};
use janus_audit::base::timefmt::Window;
use rayon::prelude::*;

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    if paths.is_empty() {
        eprintln!("usage: parse-floor PATH...");
        std::process::exit(2);
    }
    let (found, errors) = files::discover(&paths, &Window::default());
    if let Some(e) = errors.first() {
        eprintln!("parse-floor: {e}");
        std::process::exit(1);
    }
    let logs: Vec<_> = found.iter().filter(|f| f.plan == Plan::Read).collect();
    let limit = Limits::default().max_file_bytes;
    let start = Instant::now();
    let (disk, json) = logs
        .par_iter()
        .map_init(Buffers::default, |bufs, f| {
            let disk = files::read_decoded(&f.path, bufs, limit).unwrap_or(0);
            // A validating scan of every byte; what it finds is dropped.
            let scanned = serde_json::from_slice::<serde::de::IgnoredAny>(&bufs.decoded).is_ok();
            (
                disk,
                if scanned {
                    bufs.decoded.len() as u64
                } else {
                    0
                },
            )
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse-floor: {} files, {disk} bytes on disk, {json} bytes of JSON, {secs:.3} s, {:.0} MB/s of JSON",
        logs.len(),
        json as f64 / secs / 1e6
    );
}
