//! One budget for the whole run: the Rust SDK gives a credential process 5 seconds, so every wait
//! is capped by what is left of ours.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(d: Duration) -> Self {
        Deadline(Instant::now() + d)
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// `d`, or less if the budget runs out sooner.
    pub fn cap(&self, d: Duration) -> Duration {
        d.min(self.remaining())
    }

    /// Sleep for a jittered backoff of `base * 2^attempt`, unless that would overrun the budget.
    /// Returns false when there is no time left to try again.
    pub async fn backoff(&self, base: Duration, attempt: u32) -> bool {
        let exp = base.saturating_mul(1 << attempt.min(6));
        // Equal jitter (half to all of the backoff): fetchers started together at pod start
        // must not retry in lockstep.
        let wait = exp.mul_f64(0.5 + fastrand::f64() * 0.5);
        if wait + Duration::from_millis(50) >= self.remaining() {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }
}
