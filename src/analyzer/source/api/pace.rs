//! How fast a fetch asks: one region's rate limit, and the backoff between retries.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces calls at `interval`: a token bucket of one token, so no second holds more than
/// 1 s / interval calls.
pub(super) struct Limiter {
    next: Mutex<Instant>,
    interval: Duration,
}

impl Limiter {
    pub(super) fn new(interval: Duration) -> Self {
        Limiter {
            next: Mutex::new(Instant::now()),
            interval,
        }
    }

    pub(super) async fn wait(&self) {
        let mut next = self.next.lock().await;
        tokio::time::sleep_until(*next).await;
        *next = Instant::now() + self.interval;
    }
}

/// Exponential, capped at 20 s, with jitter so that regions throttled together spread out.
pub(super) fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base
        .saturating_mul(1 << attempt.min(8))
        .min(Duration::from_secs(20));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    exp / 2 + exp / 2 * (nanos % 1000) / 1000
}
