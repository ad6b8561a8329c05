//! The one retry loop: when to try a request again, how long to wait
//! first, and when to give up. ENS calls and every OSS request run in it.
//!
//! Retried: failed name lookups, failed or dropped connections and
//! timeouts, HTTP 5xx, the `Throttling*` and `ServiceUnavailable` codes,
//! and integrity mismatches. Waits grow exponentially with full jitter,
//! unless the server says how long (`x-acs-retry-after` in milliseconds, or
//! `Retry-After` in seconds or as an HTTP date). A request refused for its
//! timestamp is signed again at once, once, when the answer corrected the
//! clock; so is one refused for signing with OSS V1 when the upload could
//! switch to V4.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, KnownCode, Result, TransportKind};

/// How a client retries; see [`ClientBuilder::retries`](crate::ClientBuilder::retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt (0 = none).
    pub(crate) max_retries: u32,
    /// The first backoff ceiling; doubled for every further retry.
    pub(crate) base_delay: Duration,
    /// No backoff ceiling is larger than this.
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): uniformly random in
    /// `[0, min(max_delay, base_delay * 2^(retry-1))]` ("full jitter").
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let ceiling = self
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        // `nanos + 1` would overflow at the top of the range: every u64 is
        // then a valid draw.
        match nanos.checked_add(1) {
            Some(n) => Duration::from_nanos(random_u64() % n),
            None => Duration::from_nanos(random_u64()),
        }
    }

    /// Refuses delays no deadline could hold: each must fit in
    /// [`MAX_TIMEOUT`](crate::MAX_TIMEOUT) (one day), and the base may not
    /// exceed the maximum.
    pub(crate) fn validate(&self) -> Result<()> {
        for (setter, d) in [
            ("retry_base_delay", self.base_delay),
            ("retry_max_delay", self.max_delay),
        ] {
            if d > super::MAX_TIMEOUT {
                return Err(Error::config(format!(
                    "{setter} must be at most {} s (one day), not {d:?} (C: ens_client_builder_set_retry_backoff_ms)",
                    super::MAX_TIMEOUT.as_secs()
                )));
            }
        }
        if self.base_delay > self.max_delay {
            return Err(Error::config(format!(
                "retry_base_delay ({:?}) must not exceed retry_max_delay ({:?}) (C: ens_client_builder_set_retry_backoff_ms)",
                self.base_delay, self.max_delay
            )));
        }
        Ok(())
    }
}

/// What an attempt tells the loop besides its result.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Hints {
    /// The wait the server asked for (`Retry-After`, `x-acs-retry-after`).
    pub(crate) retry_after: Option<Duration>,
    /// Whether the client's clock offset is no longer the one the request
    /// was signed with (corrected by this answer's `Date`, or by another
    /// thread's), so a refused timestamp is worth one more try.
    pub(crate) clock_changed: bool,
    /// Whether no further attempt is possible (a stream already consumed).
    pub(crate) final_attempt: bool,
    /// Whether the request is to be signed again at once, once, whatever
    /// the error (OSS refused signature V1 and the upload switched to V4).
    pub(crate) sign_again: bool,
}

/// How long one attempt may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The agent's own call timeout (a first attempt whose deadline is the
    /// agent's: no per-request configuration needed).
    Agent,
    /// What is left of the call's deadline.
    Remaining(Duration),
    /// No overall limit: a data request bounded by its stall timeout.
    Unbounded,
}

/// One attempt's number (1-based) and time limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) number: u32,
    pub(crate) limit: Limit,
}

/// A call under a retry policy.
pub(crate) struct Retry<'a> {
    pub(crate) policy: RetryPolicy,
    /// When the whole call must end (control requests, ENS calls); `None`
    /// for data requests, which may rightly take long.
    pub(crate) deadline: Option<Instant>,
    /// Whether the deadline is the agent's own call timeout, so the first
    /// attempt needs no limit of its own.
    pub(crate) deadline_is_agents: bool,
    /// Without a deadline, a server asking to wait longer than this gets
    /// its error returned at once.
    pub(crate) server_wait_limit: Duration,
    /// Raised by a caller to end the waits early ([`Error::Cancelled`]).
    pub(crate) cancel: Option<&'a AtomicBool>,
}

impl Retry<'_> {
    /// Runs `attempt` until it succeeds, fails for good, or the policy,
    /// the deadline or a cancel ends it. Every attempt signs anew. Returns
    /// the last error with its attempt count.
    pub(crate) fn run<T>(
        &self,
        mut attempt: impl FnMut(Attempt) -> (Result<T>, Hints),
    ) -> Result<T> {
        let mut number = 0u32;
        let mut retries = 0u32;
        let mut resigned = false;
        loop {
            number += 1;
            let limit = match self.deadline {
                None => Limit::Unbounded,
                Some(_) if number == 1 && self.deadline_is_agents => Limit::Agent,
                Some(d) => match d.saturating_duration_since(Instant::now()) {
                    left if left.is_zero() => {
                        return Err(Error::Transport {
                            source: None,
                            kind: TransportKind::Timeout,
                            message: "the call timeout expired before this attempt".into(),
                            attempts: number,
                        })
                    }
                    left => Limit::Remaining(left),
                },
            };
            let (result, hints) = attempt(Attempt { number, limit });
            let failed = match result {
                Ok(v) => return Ok(v),
                Err(e @ (Error::Cancelled { .. } | Error::LocalIo { .. })) => return Err(e),
                Err(e) => e.with_attempts(number),
            };
            let resign = hints.sign_again || (is_timestamp_refusal(&failed) && hints.clock_changed);
            if resign && !resigned {
                resigned = true;
                log::debug!(
                    "attempt {number} refused for how it was signed; signing again at once"
                );
                continue;
            }
            if retries >= self.policy.max_retries || !is_retryable(&failed) || hints.final_attempt {
                return Err(failed);
            }
            retries += 1;
            let wait = hints
                .retry_after
                .unwrap_or_else(|| self.policy.backoff(retries));
            if self.wait_too_long(wait, hints.retry_after) {
                return Err(failed);
            }
            log::debug!("retrying in {} ms after: {failed}", wait.as_millis());
            if !sleep_unless_cancelled(wait, self.cancel) {
                return Err(Error::Cancelled {
                    bytes_done: 0,
                    total: 0,
                });
            }
        }
    }

    /// Whether a retry's `wait` is not to be taken: with a deadline, when it
    /// would end at or past it; without one, when it is a server's ask
    /// (`retry_after`) longer than the server wait limit. The client's own
    /// backoff is never cut: it is at most its retry max delay.
    fn wait_too_long(&self, wait: Duration, retry_after: Option<Duration>) -> bool {
        match self.deadline {
            Some(d) => Instant::now().checked_add(wait).is_none_or(|t| t >= d),
            None => retry_after.is_some_and(|asked| asked > self.server_wait_limit),
        }
    }
}

/// Whether the server refused the request's timestamp: ENS's
/// `InvalidTimeStamp.*`, OSS's `RequestTimeTooSkewed`.
fn is_timestamp_refusal(e: &Error) -> bool {
    e.api().is_some_and(|a| {
        a.known_code() == KnownCode::InvalidTimeStamp || a.code == "RequestTimeTooSkewed"
    })
}

/// Sleeps `wait`, waking early (and returning false) when `cancel` is raised.
pub(crate) fn sleep_unless_cancelled(wait: Duration, cancel: Option<&AtomicBool>) -> bool {
    const SLICE: Duration = Duration::from_millis(20);
    let Some(cancel) = cancel else {
        std::thread::sleep(wait);
        return true;
    };
    let until = crate::clock::instant_after(wait);
    loop {
        if cancel.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
    }
}

/// Whether an error may go away if the same call is made again.
pub(crate) fn is_retryable(e: &Error) -> bool {
    match e {
        Error::Transport { kind, .. } => matches!(
            kind,
            // A name that does not resolve yet: devices often boot before
            // their resolver (or link) is up.
            TransportKind::Dns
                | TransportKind::Timeout
                | TransportKind::Connect
                | TransportKind::Io
                | TransportKind::Protocol
        ),
        Error::Api(api) => {
            api.http_status >= 500
                // Also in a 200 whose body is an error (a late failure).
                || api.code == "InternalError"
                || matches!(
                    api.known_code(),
                    KnownCode::Throttling | KnownCode::ServiceUnavailable
                )
        }
        // An HTML page from a gateway in front of the service (502, 504...).
        Error::Decode { status, .. } => *status >= 500,
        // The bytes arrived damaged: sending them again may well work.
        Error::Integrity { .. } => true,
        _ => false,
    }
}

/// The longest wait taken from a server's header. Anything longer is cut
/// to this: it still comes from the server (not the backoff), and a
/// deadline, where there is one, cuts it further.
pub(crate) const MAX_SERVER_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wait a server asks for: `x-acs-retry-after` (milliseconds) or
/// `Retry-After` (seconds, or an HTTP date compared with `server_now`),
/// at most [`MAX_SERVER_RETRY_AFTER`].
pub(crate) fn server_retry_after(
    x_acs_retry_after: Option<&str>,
    retry_after: Option<&str>,
    server_now: Option<i64>,
) -> Option<Duration> {
    let wait = if let Some(ms) = x_acs_retry_after.and_then(|v| v.trim().parse::<u64>().ok()) {
        Duration::from_millis(ms)
    } else {
        let value = retry_after?.trim();
        if let Ok(secs) = value.parse::<u64>() {
            Duration::from_secs(secs)
        } else {
            let at = crate::clock::parse_http_date(value)?;
            let now = server_now.unwrap_or_else(crate::clock::unix_now);
            let secs = at.checked_sub(now).unwrap_or(0);
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        }
    };
    Some(wait.min(MAX_SERVER_RETRY_AFTER))
}

/// A random number for jitter (not for anything secret): SipHash keyed by
/// the OS through `RandomState`, over a counter.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_growing_ceiling_and_the_cap() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for retry in 1..=40 {
            let ceiling =
                Duration::from_millis(100 * (1u64 << (retry - 1).min(20))).min(p.max_delay);
            for _ in 0..50 {
                assert!(p.backoff(retry) <= ceiling, "retry {retry}");
            }
        }
        // Full jitter: the waits are spread, not all at the ceiling.
        let waits: std::collections::HashSet<_> = (0..50).map(|_| p.backoff(5)).collect();
        assert!(waits.len() > 10);
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn backoff_is_total_at_the_top_of_the_range() {
        // Once: an overflow in debug builds, a division by zero in release.
        let p = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::MAX,
            max_delay: Duration::MAX,
        };
        for retry in [1, 2, 64, u32::MAX] {
            let _ = p.backoff(retry);
        }
        let saturated = RetryPolicy {
            base_delay: Duration::from_nanos(u64::MAX),
            max_delay: Duration::from_nanos(u64::MAX),
            ..p
        };
        let _ = saturated.backoff(1);
    }

    #[test]
    fn delays_no_deadline_could_hold_are_refused_naming_the_setter() {
        let ok = RetryPolicy::default();
        assert!(ok.validate().is_ok());
        let huge = RetryPolicy {
            max_delay: Duration::from_millis(u64::MAX),
            ..ok
        };
        let e = huge.validate().unwrap_err().to_string();
        assert!(
            e.contains("retry_max_delay") && e.contains("one day"),
            "{e}"
        );
        let inverted = RetryPolicy {
            base_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(1),
            ..ok
        };
        let e = inverted.validate().unwrap_err().to_string();
        assert!(e.contains("retry_base_delay"), "{e}");
    }

    #[test]
    fn server_waits_are_bounded_without_a_deadline() {
        let secs = Duration::from_secs;
        let mut r = Retry {
            policy: RetryPolicy::default(),
            deadline: None,
            deadline_is_agents: false,
            server_wait_limit: secs(2),
            cancel: None,
        };
        // Data requests: the server's ask up to the limit, the backoff always.
        assert!(!r.wait_too_long(secs(2), Some(secs(2))));
        assert!(r.wait_too_long(secs(3), Some(secs(3))));
        assert!(r.wait_too_long(MAX_SERVER_RETRY_AFTER, Some(MAX_SERVER_RETRY_AFTER)));
        assert!(!r.wait_too_long(secs(60), None));
        // Control requests: the deadline.
        r.deadline = Some(Instant::now() + secs(1));
        assert!(r.wait_too_long(secs(2), None));
        assert!(r.wait_too_long(Duration::MAX, None));
        r.deadline = Some(Instant::now() + secs(100));
        assert!(!r.wait_too_long(secs(3), Some(secs(3))));
    }

    #[test]
    fn retry_after_headers() {
        assert_eq!(
            server_retry_after(Some("1500"), Some("9"), None),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            server_retry_after(None, Some(" 2 "), None),
            Some(Duration::from_secs(2))
        );
        let now = crate::clock::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            server_retry_after(None, Some("Sun, 06 Nov 1994 08:49:40 GMT"), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            server_retry_after(None, Some("Sun, 06 Nov 1994 08:49:30 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(server_retry_after(Some("soon"), Some("later"), None), None);
        // Absurd asks are cut, never overflow a later `Instant + wait`.
        for (x, r) in [
            (Some("18446744073709551615"), None),
            (None, Some("18446744073709551615")),
            (None, Some("Fri, 31 Dec 9999 23:59:59 GMT")),
        ] {
            let wait = server_retry_after(x, r, now).unwrap();
            assert_eq!(wait, MAX_SERVER_RETRY_AFTER, "{x:?} {r:?}");
            assert!(std::time::Instant::now().checked_add(wait).is_some());
        }
        assert_eq!(server_retry_after(None, None, None), None);
    }
}
