//! Rate limits a registry announced: [`RateLimits`]. After an answer `429 Too Many Requests`
//! with `Retry-After`, every request to that host waits until the time it named (at most
//! [`MAX_HOLD`]) before it leaves, so a run with many requests in flight (a sync copying
//! images at once, a pull of many layers) slows down as a whole instead of each request
//! hitting the limit in turn, being refused and spending its attempts.
//!
//! Only the hold is kept here, per `HOST[:PORT]` of the endpoint, in memory, for the life of
//! the client. Whether and when the refused request itself is tried again stays the one retry
//! policy's decision ([`crate::transfer::RetryPolicy`], which reads the same `Retry-After`
//! through [`crate::transfer::retry_after`]). Docker and containerd keep no such hold; Docker
//! Hub's and GHCR's limits are per client, so holding every request is what they ask.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use tokio::time::Instant;

use crate::transfer::retry_after;

/// The longest hold one answer can put on a host.
pub const MAX_HOLD: Duration = Duration::from_secs(60);

/// Holds per host (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    until: Mutex<HashMap<String, Instant>>,
}

impl RateLimits {
    /// Waits until requests to `host` may leave.
    pub(crate) async fn wait(&self, host: &str) {
        let until = {
            let holds = self.until.lock().unwrap_or_else(|e| e.into_inner());
            holds.get(host).copied()
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    /// Reads an answer from `host`: a 429 with `Retry-After` holds the host that long (at
    /// most [`MAX_HOLD`]), never shortening a longer hold already in place.
    pub(crate) fn note(&self, host: &str, status: StatusCode, headers: &HeaderMap) {
        if status != StatusCode::TOO_MANY_REQUESTS {
            return;
        }
        let Some(wait) = retry_after(headers) else {
            return;
        };
        let until = Instant::now() + wait.min(MAX_HOLD);
        let mut holds = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let hold = holds.entry(host.to_owned()).or_insert(until);
        if *hold < until {
            *hold = until;
        }
        // Holds that have passed are dropped, so the map stays as small as the hosts limiting.
        let now = Instant::now();
        holds.retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_in(seconds: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, seconds.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn a_429_holds_every_request_to_its_host_only() {
        let limits = RateLimits::default();
        limits.note("r.example", StatusCode::TOO_MANY_REQUESTS, &retry_in("1"));
        limits.note(
            "r.example",
            StatusCode::SERVICE_UNAVAILABLE,
            &retry_in("30"),
        );

        let started = Instant::now();
        limits.wait("other.example").await;
        assert!(started.elapsed() < Duration::from_millis(200));
        limits.wait("r.example").await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(900), "{waited:?}");
        assert!(
            waited < Duration::from_secs(5),
            "a 503 holds nothing: {waited:?}"
        );
    }

    #[test]
    fn holds_are_capped_and_never_shortened() {
        let limits = RateLimits::default();
        limits.note(
            "r.example",
            StatusCode::TOO_MANY_REQUESTS,
            &retry_in("3600"),
        );
        limits.note("r.example", StatusCode::TOO_MANY_REQUESTS, &retry_in("1"));

        let holds = limits.until.lock().unwrap();
        let left = holds["r.example"] - Instant::now();
        assert!(
            left > Duration::from_secs(50) && left <= MAX_HOLD,
            "{left:?}"
        );
    }
}
