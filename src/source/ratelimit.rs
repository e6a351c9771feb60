//! `apiserver_qps` / `apiserver_burst`: a token bucket shared by one source's requests (lists,
//! list pages and watch starts), as client-go's rate limiter is for CoreDNS.
//!
//! Unlike client-go, kdns has no limit unless one is configured: its requests are few (one
//! list and one watch per kind, plus pages of a relist), and a default of 5 per second would
//! make a paged relist of 100k objects take 40 s. Not on the query path.
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// client-go's default rate, when only the burst is configured.
const DEFAULT_QPS: f32 = 5.0;
/// client-go's default burst, when only the rate is configured.
const DEFAULT_BURST: u32 = 10;

/// A token bucket: `burst` requests at once, then `qps` per second.
#[derive(Debug)]
pub(crate) struct RateLimit {
    qps: f64,
    burst: f64,
    /// Tokens available at the instant.
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// From the Corefile's options; None when neither is set.
    pub(crate) fn from_config(qps: Option<f32>, burst: Option<u32>) -> Option<Self> {
        if qps.is_none() && burst.is_none() {
            return None;
        }
        let qps = f64::from(qps.unwrap_or(DEFAULT_QPS));
        let burst = f64::from(burst.unwrap_or(DEFAULT_BURST).max(1));
        Some(Self {
            qps,
            burst,
            state: Mutex::new((burst, Instant::now())),
        })
    }

    /// Waits until a request may go.
    pub(crate) async fn acquire(&self) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let (tokens, at) = *s;
            let tokens = (tokens + now.duration_since(at).as_secs_f64() * self.qps).min(self.burst);
            // Take the token now (possibly going negative): later callers queue behind.
            *s = (tokens - 1.0, now);
            if tokens >= 1.0 {
                Duration::ZERO
            } else {
                // Never a panic: a rate the parser would refuse waits an hour at most.
                Duration::try_from_secs_f64((1.0 - tokens) / self.qps)
                    .unwrap_or(MAX_WAIT)
                    .min(MAX_WAIT)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The longest one request waits for its token.
const MAX_WAIT: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests;
