//! When to try a call again, and how long to wait first.
//!
//! Retried: failed name lookups, failed or dropped connections and
//! timeouts, HTTP 5xx, and the
//! `Throttling*` and `ServiceUnavailable` codes. Waits grow exponentially
//! with full jitter, unless the server says how long (`x-acs-retry-after` in
//! milliseconds, or `Retry-After` in seconds or as an HTTP date).

use std::time::Duration;

use crate::error::{Error, KnownCode, TransportKind};

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
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
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
                || matches!(
                    api.known_code(),
                    KnownCode::Throttling | KnownCode::ServiceUnavailable
                )
        }
        // An HTML page from a gateway in front of the service (502, 504...).
        Error::Decode { status, .. } => *status >= 500,
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
