//! A client-side bandwidth limit: a token bucket in bytes per second that
//! every body of an upload (all its threads) draws from as it hands bytes
//! to the socket.
//!
//! Kept as a "theoretical arrival time" (GCRA): each chunk moves the time
//! at which the link is free again by `len / rate`, and the writer sleeps
//! until then. Idle time earns a credit of at most [`BURST`] worth of
//! bytes, and bodies are read in chunks of at most that much, so within
//! any second the rate stays close to the limit rather than bursting.
//! Sleeping happens between socket writes, so a throttled transfer never
//! counts as stalled (the stall timeout times each write, not the gaps).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much idle time turns into credit, and how long one chunk takes at
/// the limit: the limiter's grain.
pub(crate) const BURST: Duration = Duration::from_millis(1000 / CHUNKS_PER_SECOND);
/// How many chunks a second holds at the limit.
const CHUNKS_PER_SECOND: u64 = 20;
/// The smallest chunk read at once, whatever the rate (a 1 KiB/s limit
/// still writes 512 bytes at a time, every half second).
const MIN_CHUNK: u64 = 512;
/// A sleeping writer looks at the cancel flag this often.
const CANCEL_CHECK: Duration = Duration::from_millis(50);

/// One bucket, shared (behind an `Arc`) by whoever must stay under it:
/// the threads of one upload, or every upload of one client.
#[derive(Debug)]
pub(crate) struct RateLimit {
    bytes_per_second: u64,
    /// When the bytes taken so far will have gone out at the limit.
    free_at: Mutex<Option<Instant>>,
}

impl RateLimit {
    pub(crate) fn new(bytes_per_second: u64) -> Arc<RateLimit> {
        Arc::new(RateLimit {
            bytes_per_second: bytes_per_second.max(1),
            free_at: Mutex::new(None),
        })
    }

    /// The most bytes to read at once: [`BURST`] worth at the limit.
    fn chunk(&self) -> u64 {
        (self.bytes_per_second / CHUNKS_PER_SECOND).max(MIN_CHUNK)
    }

    /// Takes `n` bytes from the bucket; returns how long to wait before
    /// they may be written.
    fn take(&self, n: u64, now: Instant) -> Duration {
        let mut free_at = self.free_at.lock().unwrap_or_else(|p| p.into_inner());
        let cost_ns = u128::from(n) * 1_000_000_000 / u128::from(self.bytes_per_second);
        let cost = Duration::from_nanos(u64::try_from(cost_ns).unwrap_or(u64::MAX));
        // Idle time earns at most BURST of credit.
        let earliest = now.checked_sub(BURST).unwrap_or(now);
        let start = match *free_at {
            Some(t) if t > earliest => t,
            _ => earliest,
        };
        let next = start.checked_add(cost).unwrap_or(start);
        *free_at = Some(next);
        next.saturating_duration_since(now)
    }
}

/// The limits one body obeys: the upload's own and its client's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits(Vec<Arc<RateLimit>>);

impl Limits {
    pub(crate) fn new(limits: impl IntoIterator<Item = Arc<RateLimit>>) -> Limits {
        Limits(limits.into_iter().collect())
    }

    /// The most bytes to read at once (`usize::MAX` without a limit).
    pub(crate) fn chunk(&self) -> usize {
        self.0
            .iter()
            .map(|l| l.chunk())
            .min()
            .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX))
    }

    /// How many bytes between progress reports: a MiB (`REPORT_EVERY`), or
    /// a quarter second's worth under a slower limit, so the callback
    /// still hears from a throttled upload several times a second.
    pub(crate) fn report_every(&self, unthrottled: u64) -> u64 {
        self.0
            .iter()
            .map(|l| (l.bytes_per_second / 4).max(MIN_CHUNK))
            .min()
            .map_or(unthrottled, |every| every.min(unthrottled))
    }

    /// Takes `n` bytes from every bucket and sleeps until all allow them,
    /// waking early when `cancel` is raised.
    pub(crate) fn pace(&self, n: u64, cancel: &AtomicBool) {
        if self.0.is_empty() || n == 0 {
            return;
        }
        let now = Instant::now();
        let wait = self
            .0
            .iter()
            .map(|l| l.take(n, now))
            .max()
            .unwrap_or_default();
        let until = crate::clock::instant_after(wait);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || cancel.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(left.min(CANCEL_CHECK));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steady takes are spaced by `len / rate`; idle time earns no more
    /// than `BURST` of credit; two takers share one rate.
    #[test]
    fn the_bucket_spaces_chunks_at_the_rate() {
        let l = RateLimit::new(1_000_000);
        assert_eq!(l.chunk(), 50_000);
        let t0 = Instant::now() + Duration::from_secs(10);
        // The first chunk spends the burst credit.
        assert_eq!(l.take(50_000, t0), Duration::ZERO);
        assert_eq!(l.take(50_000, t0), Duration::from_millis(50));
        assert_eq!(l.take(100_000, t0), Duration::from_millis(150));
        // A long pause: back to one burst's credit, not more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(l.take(50_000, later), Duration::ZERO);
        assert_eq!(l.take(50_000, later), Duration::from_millis(50));
        assert_eq!(RateLimit::new(10).chunk(), MIN_CHUNK);
        let none = Limits::default();
        assert_eq!(none.chunk(), usize::MAX);
        let both = Limits::new([RateLimit::new(1_000_000), RateLimit::new(100_000)]);
        assert_eq!(both.chunk(), 5_000);
        assert_eq!(both.report_every(1 << 20), 25_000);
        assert_eq!(none.report_every(1 << 20), 1 << 20);
        assert_eq!(
            Limits::new([RateLimit::new(1 << 30)]).report_every(1 << 20),
            1 << 20
        );
    }
}
