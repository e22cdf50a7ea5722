//! The one retry policy: how many attempts, how long between them, what a server's
//! `Retry-After` asks, and which failures a retry can fix at all.
//!
//! Every retry loop of hoist goes through [`RetryPolicy`]: blob downloads (`download`),
//! uploads (`upload`, the copy engine's and push's jobs), manifest reads and writes (pull's
//! resolution, the copy engine's registry source and sink). Token fetches are part of the
//! request that needed the token: their failures are classified like any registry error and
//! retried with that request, never in a loop of their own (a loop inside a loop would
//! multiply the attempts).
//!
//! It lives in `transfer/` because the scheduler ([`super::Scheduler`]) owns the attempts and
//! the `Retrying in N seconds` countdown; the registry client only classifies its errors
//! ([`Retryable`] on `RegistryError`) and reads `Retry-After` with [`retry_after`].
//!
//! # The schedule (docker's `distribution/xfer`)
//! - [`RetryPolicy::max_attempts`] attempts in all (docker's `max-download-attempts` and
//!   `maxUploadAttempts`, default 5);
//! - after the n-th failure, wait [`Backoff::delay`]`(n)` (docker: 5 s × n), or the server's
//!   `Retry-After` when longer, cut to [`RetryPolicy::max_retry_after`] (default 60 s);
//! - `Retry-After` is read in both its forms (RFC 9110 §10.2.3): delay-seconds, and an
//!   HTTP-date counted from the answer's own `Date` (so a skewed local clock does not matter)
//!   or, without one, from the local clock.
//!
//! # What is not retried (docker's `xfer.DoNotRetry`, and what skopeo fails on at once)
//! A retry repeats the same request to the same endpoint; it can only fix what can change
//! between two tries: a reset or cut connection, a timeout, a 5xx, a 429. The
//! [`RetryClass`]es other than [`RetryClass::Transient`] fail at once:
//! - [`RetryClass::Refused`]: the server answered no (unauthorized, denied, not found,
//!   unsupported, invalid) or does not speak the protocol;
//! - [`RetryClass::Unreachable`]: nothing listens where the registry should be (connection
//!   refused on every URL of the last endpoint): skopeo and crane fail at once, docker's 50 s
//!   of retries only delay the error (hoist issue 11);
//! - [`RetryClass::Configuration`]: local settings that cannot change between tries (a
//!   missing `ca_file`, an unusable certificate, a bad URL, a certificate the server rejects,
//!   an insecure token realm);
//! - [`RetryClass::Corrupt`]: content that does not match its digest. The same endpoint would
//!   serve the same bytes; the next endpoint (a mirror's registry) is tried instead, by the
//!   registry client's endpoint loop, and then the digest error is the answer.
//!
//! Local store failures (disk full) are classified by their own errors (never retryable).

use std::future::Future;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// How long to wait after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// `step × n` after the n-th failure: docker's `xfer` schedule with a 5 s step (the
    /// default).
    Linear {
        /// The wait after the first failure.
        step: Duration,
    },
    /// `initial × 2ⁿ⁻¹` after the n-th failure, at most `max`.
    Exponential {
        /// The wait after the first failure.
        initial: Duration,
        /// The longest wait.
        max: Duration,
    },
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::Linear {
            step: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait after `failed_attempts` failures (1 for the first).
    pub fn delay(&self, failed_attempts: u32) -> Duration {
        let n = failed_attempts.max(1);
        match *self {
            Backoff::Linear { step } => step.saturating_mul(n),
            Backoff::Exponential { initial, max } => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                initial.saturating_mul(factor).min(max)
            }
        }
    }
}

/// What kind of failure an error is, for the retry decision (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Another attempt may succeed: reset, timeout, 5xx, 429, a body cut short.
    Transient,
    /// The server refused (401, 403, 404, unsupported, invalid, not a v2 registry).
    Refused,
    /// Nothing listens at the registry's address.
    Unreachable,
    /// Local configuration (TLS material, URLs, certificates, insecure realms).
    Configuration,
    /// The content did not match its digest.
    Corrupt,
}

impl RetryClass {
    /// Whether another attempt at the same endpoint may succeed.
    pub fn is_retryable(self) -> bool {
        self == RetryClass::Transient
    }
}

/// An attempt's error as the retry loop sees it (docker's `xfer.DoNotRetry` is the
/// opposite of [`Retryable::is_retryable`]).
pub trait Retryable: std::error::Error {
    /// Whether another attempt can succeed (network errors, 5xx, 429 can; unauthorized,
    /// denied, unsupported, unreachable, misconfigured, corrupt, a local store error cannot).
    fn is_retryable(&self) -> bool;

    /// The wait the server asked for, if any.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Attempts, backoff and the `Retry-After` cap of one kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1 is made).
    pub max_attempts: u32,
    /// The wait after a failure when the server did not ask for longer.
    pub backoff: Backoff,
    /// The longest `Retry-After` honoured; longer requests are cut to it.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// docker's: 5 attempts, 5 s × attempts between them, `Retry-After` up to 60 s.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` failures (1 for the first): never sooner than the backoff, as
    /// late as the server asked within [`RetryPolicy::max_retry_after`].
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff.delay(failed);
        match retry_after {
            Some(asked) => asked.min(self.max_retry_after).max(backoff),
            None => backoff,
        }
    }

    /// The wait before the next attempt after `failed` failures, the last with `error`; `None`
    /// when the error is not retryable or no attempt is left.
    pub fn next_wait<E: Retryable + ?Sized>(&self, failed: u32, error: &E) -> Option<Duration> {
        (error.is_retryable() && failed < self.max_attempts.max(1))
            .then(|| self.delay(failed, error.retry_after()))
    }

    /// Runs `op` until it succeeds, fails for good, or the attempts run out; waits between
    /// attempts as [`RetryPolicy::next_wait`] says, logging each retry under `what`.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut op: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut failed = 0;
        loop {
            let error = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            failed += 1;
            let Some(wait) = self.next_wait(failed, &error) else {
                return Err(error);
            };
            tracing::warn!(%error, attempt = failed, ?wait, "{what} failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Sleeps `delay`, calling `tick` with the whole seconds left (rounded up) each time that
/// number changes: docker's `Retrying in N seconds` countdown. A delay under a second shows
/// as 1 second; a zero delay calls nothing.
pub async fn count_down(delay: Duration, mut tick: impl FnMut(u64)) {
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return;
        }
        let seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
        tick(seconds);
        // Sleep until the displayed number of seconds goes down by one.
        tokio::time::sleep(remaining.saturating_sub(Duration::from_secs(seconds - 1))).await;
    }
}

/// The wait an answer's `Retry-After` asks for: delay-seconds, or an HTTP-date counted from
/// the answer's `Date` header (else the local clock). A date in the past means no wait;
/// an unreadable value means none was asked.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(value)?;
    let now = headers
        .get(http::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(http_date)
        .unwrap_or_else(SystemTime::now);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, what Go's `http.TimeFormat` and every
/// registry send), read as the RFC 2822 date it is a profile of.
fn http_date(value: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(value.trim(), &Rfc2822)
        .ok()
        .map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("fake (retryable: {0})")]
    struct Fake(bool, Option<Duration>);

    impl Retryable for Fake {
        fn is_retryable(&self) -> bool {
            self.0
        }
        fn retry_after(&self) -> Option<Duration> {
            self.1
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            backoff: Backoff::Linear {
                step: Duration::from_millis(5),
            },
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn server_retry_after_wins_when_longer_than_the_backoff() {
        let p = fast();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(1, None), Duration::from_millis(5));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
        assert_eq!(
            p.delay(3, Some(Duration::from_millis(1))),
            Duration::from_millis(15)
        );
    }

    #[test]
    fn next_wait_stops_at_permanent_errors_and_at_the_last_attempt() {
        let p = fast();
        assert_eq!(p.next_wait(1, &Fake(false, None)), None);
        assert_eq!(
            p.next_wait(4, &Fake(true, None)),
            Some(Duration::from_millis(20))
        );
        assert_eq!(p.next_wait(5, &Fake(true, None)), None);
    }

    #[tokio::test]
    async fn run_retries_transient_errors_until_the_attempts_run_out() {
        let mut calls = 0;
        let result: Result<(), Fake> = fast()
            .run("test", || {
                calls += 1;
                async { Err(Fake(true, None)) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 5);
    }

    #[tokio::test]
    async fn run_returns_a_permanent_error_at_once() {
        let mut calls = 0;
        let result: Result<(), Fake> = fast()
            .run("test", || {
                calls += 1;
                async { Err(Fake(false, None)) }
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[tokio::test]
    async fn count_down_ticks_each_whole_second_left() {
        let mut ticks = Vec::new();
        count_down(Duration::from_millis(1200), |s| ticks.push(s)).await;
        assert_eq!(ticks, [2, 1]);
        let mut none = Vec::new();
        count_down(Duration::ZERO, |s| none.push(s)).await;
        assert!(none.is_empty());
    }

    #[test]
    fn retry_after_in_seconds() {
        let h = headers(&[("retry-after", "7")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_as_an_http_date_counts_from_the_answers_date() {
        let h = headers(&[
            ("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("date", "Sun, 06 Nov 1994 08:49:07 GMT"),
        ]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
    }

    #[test]
    fn retry_after_date_in_the_past_means_no_wait() {
        let h = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn unreadable_retry_after_is_ignored() {
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn linear_backoff_grows_by_its_step() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), Duration::from_secs(5));
        assert_eq!(b.delay(3), Duration::from_secs(15));
    }

    #[test]
    fn exponential_backoff_doubles_up_to_its_max() {
        let b = Backoff::Exponential {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(3), Duration::from_millis(400));
        assert_eq!(b.delay(40), Duration::from_secs(1));
    }
}
