//! Bounds on how long a request may take, so a registry that trickles (or a link that dies
//! without a reset) fails in bounded time, while a 10 GB layer on a slow link still gets through:
//! every body moves at a minimum average rate over a window, and every exchange has a deadline
//! sized from the bytes it moves. Connecting (name resolution, TCP, TLS handshake) has its own,
//! short deadline, and so has a registry's first answer: a server that accepts connections and
//! says nothing fails within a minute, whatever the transfer limits.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The limits every request of a client runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// Longest wait for a connection, for an answer, or for any single read or write.
    pub timeout: Duration,
    /// A body moving fewer bytes per second than this, averaged over `window`, is abandoned.
    pub min_rate: u64,
    pub window: Duration,
}

impl Default for TransferLimits {
    fn default() -> Self {
        // 10 kB/s is a slow mobile link; a minute smooths out stalls that TCP recovers from.
        TransferLimits {
            timeout: Duration::from_secs(60),
            min_rate: 10_000,
            window: Duration::from_secs(60),
        }
    }
}

/// The longest wait for a connection (name resolution, TCP, TLS handshake) and for a
/// registry's first answer (`GET /v2/`), unless [`TransferLimits::timeout`] is shorter.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl TransferLimits {
    /// The deadline of connecting, and of a registry's first answer.
    pub fn connect(&self) -> Duration {
        self.timeout.min(CONNECT_TIMEOUT)
    }

    /// The longest an exchange moving `bytes` (in either direction) may take: an answer, a
    /// window of slack, and the bytes at the minimum rate.
    pub fn deadline(&self, bytes: u64) -> Duration {
        self.timeout + self.window + Duration::from_secs(bytes / self.min_rate.max(1))
    }

    /// `inner`, failing with [`io::ErrorKind::TimedOut`] (naming `host`) once a window passes
    /// with less than the minimum rate read through it.
    pub fn guard<R: Read>(&self, inner: R, host: &str) -> RateGuard<R> {
        RateGuard {
            inner,
            limits: *self,
            host: host.to_owned(),
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }
}

/// A reader held to a minimum average rate; see [`TransferLimits::guard`].
pub struct RateGuard<R> {
    inner: R,
    limits: TransferLimits,
    host: String,
    window_start: Instant,
    window_bytes: u64,
}

impl<R: Read> Read for RateGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.window_bytes += read as u64;
        let elapsed = self.window_start.elapsed();
        if elapsed >= self.limits.window {
            let wanted = self.limits.min_rate as f64 * elapsed.as_secs_f64();
            if (self.window_bytes as f64) < wanted {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{}: transfer slower than {} bytes/s over {} s (--min-rate, --min-rate-window)",
                        self.host,
                        self.limits.min_rate,
                        self.limits.window.as_secs()
                    ),
                ));
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields `chunk` bytes per read, sleeping `pause` before each.
    struct Slow {
        left: usize,
        chunk: usize,
        pause: Duration,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.pause);
            let n = self.chunk.min(self.left).min(buf.len());
            self.left -= n;
            Ok(n)
        }
    }

    fn limits(min_rate: u64) -> TransferLimits {
        TransferLimits {
            timeout: Duration::from_secs(1),
            min_rate,
            window: Duration::from_millis(50),
        }
    }

    #[test]
    fn a_trickle_fails_after_a_window_and_names_the_host() {
        let slow = Slow {
            left: 1 << 20,
            chunk: 1,
            pause: Duration::from_millis(10),
        };
        let err = io::copy(&mut limits(10_000).guard(slow, "r:5000"), &mut io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            err.to_string()
                .starts_with("r:5000: transfer slower than 10000 bytes/s over 0 s"),
            "{err}"
        );
    }

    #[test]
    fn a_steady_transfer_passes() {
        let steady = Slow {
            left: 400_000,
            chunk: 10_000,
            pause: Duration::from_millis(5),
        };
        let copied = io::copy(&mut limits(100_000).guard(steady, "r"), &mut io::sink()).unwrap();
        assert_eq!(copied, 400_000);
    }

    #[test]
    fn deadlines_grow_with_size() {
        let limits = TransferLimits::default();
        assert_eq!(limits.deadline(0), Duration::from_secs(120));
        // 10 GB at 10 kB/s: eleven and a half days.
        assert_eq!(
            limits.deadline(10_000_000_000),
            Duration::from_secs(1_000_120)
        );
    }
}
