//! Whether, when and how often to try a registry request again: the retry budget, backoff,
//! `Retry-After`, and which failures are worth another attempt.

use std::time::{Duration, Instant, SystemTime};

use sematic_oci_core::one_line::one_line;
use ureq::http::Response;

use super::dns::is_unknown_host;
use crate::error::{status_error, Error, Phase, Result};

/// Attempts in all, while first meeting a registry, for a failure that does not go away by
/// waiting a few seconds: a refused connection, an unknown host (a stopped registry or a typo)
/// or a server that accepts connections and says nothing, where eight backed-off attempts only
/// delay the message. Once the registry has answered, the same failures mean a restart or an
/// outage, and get the whole budget ([`RetryPolicy::run_after_contact`]).
pub const QUICK_FAILURE_ATTEMPTS: u32 = 2;

/// The outcome of one try of an operation, for [`RetryPolicy::run`].
#[derive(Debug)]
pub enum Attempt {
    /// Worth trying again, after the registry's `Retry-After` if it sent one.
    Retry(Error, Option<Duration>),
    /// Worth one more quick try, no more ([`QUICK_FAILURE_ATTEMPTS`]).
    RetryQuick(Error),
    Fail(Error),
}

impl From<Error> for Attempt {
    fn from(err: Error) -> Self {
        Attempt::Fail(err)
    }
}

impl Attempt {
    /// A failed try, retried when the failure is transient (a broken or timed-out
    /// connection; not a certificate or authentication failure).
    pub fn of(err: Error) -> Self {
        if is_quick_failure(&err) {
            return Attempt::RetryQuick(err);
        }
        let transient = match &err {
            // A TLS failure repeats itself.
            Error::Connection(ureq::Error::Io(io)) => {
                !io.get_ref().is_some_and(|e| e.is::<rustls::Error>())
            }
            Error::Connection(
                ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_),
            )
            | Error::TimedOut { .. } => true,
            _ => false,
        };
        if transient {
            Attempt::Retry(err, None)
        } else {
            Attempt::Fail(err)
        }
    }
}

/// `err` for a retry line (at most 300 characters; the final error, if any, is printed in
/// full by the caller).
fn retry_summary(err: &Error) -> String {
    one_line(&err.to_string(), 300)
}

/// A refused connection, a host name that does not resolve, or connecting that stalled.
fn is_quick_failure(err: &Error) -> bool {
    match err.root() {
        Error::Connection(err) if is_unknown_host(err) => true,
        Error::Connection(ureq::Error::Io(io)) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::HostUnreachable
        ),
        Error::TimedOut { phase, .. } => {
            matches!(phase, Phase::Resolve | Phase::Connect | Phase::TlsHandshake)
        }
        _ => false,
    }
}

/// Retry budget shared by every request of a client.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per operation, the first one included.
    pub attempts: u32,
    /// Delay before the second attempt; doubles for each further one.
    pub base_delay: Duration,
    /// Upper bound for one delay, including a registry's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // Eight attempts ride out a registry restart or a flaky proxy (a 50 % failure rate
        // leaves a 0.4 % chance of failing one operation) while keeping the worst case for a
        // dead registry around half a minute.
        RetryPolicy {
            attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails for good, or `attempts` tries are spent. Each retry
    /// prints one line on stderr (what failed, how long that attempt waited, which attempt
    /// comes, after how long), so a slow registry is never silent.
    pub fn run<T>(&self, op: impl FnMut() -> Result<T, Attempt>) -> Result<T> {
        self.run_within(op, QUICK_FAILURE_ATTEMPTS)
    }

    /// [`RetryPolicy::run`] for an operation on a registry that has answered before: a refused
    /// or stalled connection is then a restart or a dropped link, not a typo, and is given
    /// every attempt.
    pub fn run_after_contact<T>(&self, op: impl FnMut() -> Result<T, Attempt>) -> Result<T> {
        self.run_within(op, self.attempts)
    }

    fn run_within<T>(
        &self,
        mut op: impl FnMut() -> Result<T, Attempt>,
        quick_attempts: u32,
    ) -> Result<T> {
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let outcome = op();
            let waited = started.elapsed();
            let (err, retry_after, budget) = match outcome {
                Ok(value) => return Ok(value),
                Err(Attempt::Fail(err)) => return Err(err),
                Err(Attempt::Retry(err, retry_after)) => (err, retry_after, self.attempts),
                Err(Attempt::RetryQuick(err)) => (err, None, self.attempts.min(quick_attempts)),
            };
            if attempt >= budget {
                return Err(match attempt {
                    1 => err,
                    _ => err.context(format!("giving up after {attempt} attempts")),
                });
            }
            let delay = self.delay(attempt, retry_after);
            eprintln!(
                "registry: {} (attempt {attempt} failed after {:.1}s); attempt {} of {budget} in {:.1}s",
                retry_summary(&err),
                waited.as_secs_f64(),
                attempt + 1,
                delay.as_secs_f64()
            );
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    /// This policy with another number of attempts.
    pub fn with_attempts(self, attempts: u32) -> Self {
        RetryPolicy { attempts, ..self }
    }

    /// The wait after failed attempt number `attempt` (1-based): exponential backoff with
    /// "full jitter" so parallel uploads hitting the same overloaded registry spread out,
    /// unless the registry asked for a specific delay, which is honoured up to the cap.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Never zero: an immediate retry against a registry that just reset the connection
        // usually fails the same way.
        let floor = ceiling / 4;
        floor + ceiling.mul_f64(fastrand::f64() * 0.75)
    }
}

/// Parses a `Retry-After` header: delta seconds or an HTTP date. Dates in the past mean
/// "now"; anything unparsable is ignored (the caller falls back to its own backoff).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Turns a response with a transient status into [`Attempt::Retry`], honouring `Retry-After`.
pub fn retry_on_status(
    mut response: Response<ureq::Body>,
) -> Result<Response<ureq::Body>, Attempt> {
    if !is_transient_status(response.status().as_u16()) {
        return Ok(response);
    }
    let after = retry_after(&response);
    Err(Attempt::Retry(status_error(&mut response), after))
}

/// The delay a response's `Retry-After` header asks for.
pub fn retry_after(response: &Response<ureq::Body>) -> Option<Duration> {
    response
        .headers()
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Whether an HTTP status is worth retrying: the registry (or something in front of it) is
/// overloaded or failed transiently.
pub fn is_transient_status(status: u16) -> bool {
    status == 429 || status == 408 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn a_refused_connection_is_tried_twice_not_eight_times() {
        let refused = || {
            Error::Connection(ureq::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )))
        };
        assert!(matches!(Attempt::of(refused()), Attempt::RetryQuick(_)));
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let result: Result<()> = policy.run(|| {
            calls += 1;
            Err(Attempt::of(refused()))
        });
        assert_eq!(calls, QUICK_FAILURE_ATTEMPTS);
        assert!(result
            .unwrap_err()
            .to_string()
            .contains("giving up after 2 attempts"));
    }

    #[test]
    fn after_contact_a_refused_connection_gets_every_attempt() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let result = policy.run_after_contact(|| {
            calls += 1;
            if calls < 5 {
                Err(Attempt::of(Error::Connection(ureq::Error::Io(
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
                ))))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result.unwrap(), 5);
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:42 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(25) && first <= Duration::from_millis(100));
            let fourth = policy.delay(4, None);
            assert!(fourth >= Duration::from_millis(200) && fourth <= Duration::from_millis(800));
            assert!(policy.delay(30, None) <= Duration::from_secs(2));
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn transient_statuses() {
        for status in [429, 500, 502, 503, 504, 408] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [200, 201, 400, 401, 403, 404, 413] {
            assert!(!is_transient_status(status), "{status}");
        }
    }
}
