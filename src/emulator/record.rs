//! What the emulator remembers of the requests it saw: the request log
//! (the most recent ones, for tests to inspect) and the nonces of signed
//! RPC calls (to refuse a replay). Both are bounded, so a standalone
//! emulator serving a device for days keeps a steady size.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::{Fault, TIMESTAMP_TOLERANCE};

/// One request the emulator saw, and how it answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path, without the query.
    pub path: String,
    /// The query string as received.
    pub raw_query: String,
    /// Decoded parameters from the query and any form body, in order.
    pub params: Vec<(String, String)>,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// Length of the request body in bytes.
    pub body_len: usize,
    /// Which TCP connection carried it (numbered from 0 in accept order):
    /// equal ids mean a reused keep-alive connection.
    pub connection_id: u64,
    /// HTTP status answered.
    pub status: u16,
    /// Error `Code` answered, `None` on success.
    pub code: Option<String>,
    /// The injected fault played for this request, if any.
    pub fault: Option<Fault>,
    /// When the first byte of the body arrived (`None`: no body came).
    pub body_first_byte: Option<std::time::Instant>,
    /// When its last byte arrived: with `body_first_byte`, the rate the
    /// body came at (see [`RecordedRequest::body_rate`]).
    pub body_last_byte: Option<std::time::Instant>,
}

impl RecordedRequest {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The rate the body arrived at, in bytes per second, from its first
    /// byte to its last (`None` without a body, or one that came in one
    /// read). For a bandwidth limit's tests; the first read's bytes count
    /// too, so a short body reads high.
    pub fn body_rate(&self) -> Option<f64> {
        let (first, last) = (self.body_first_byte?, self.body_last_byte?);
        let secs = last.duration_since(first).as_secs_f64();
        (secs > 0.0).then(|| self.body_len as f64 / secs)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The most recent requests, oldest first, at most `limit` of them.
pub(super) struct RequestLog {
    limit: usize,
    entries: VecDeque<RecordedRequest>,
}

impl RequestLog {
    pub(super) fn new(limit: usize) -> RequestLog {
        RequestLog {
            limit,
            entries: VecDeque::new(),
        }
    }

    /// Records `request`, forgetting the oldest one when full.
    pub(super) fn push(&mut self, request: RecordedRequest) {
        if self.limit == 0 {
            return;
        }
        while self.entries.len() >= self.limit {
            self.entries.pop_front();
        }
        self.entries.push_back(request);
    }

    pub(super) fn to_vec(&self) -> Vec<RecordedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }
}

/// Nonces of accepted calls. Each is kept while its call's Timestamp is
/// within [`TIMESTAMP_TOLERANCE`] of the clock: after that a replay is
/// refused by the Timestamp check anyway, so the nonce can be forgotten.
/// (Times are Unix seconds by the emulator's clock.)
#[derive(Default)]
pub(super) struct NonceLog {
    /// Each nonce and the second after which it may be forgotten.
    until: HashMap<String, i64>,
    /// The same, ordered by that second, to forget them in order.
    by_age: BTreeSet<(i64, String)>,
}

impl NonceLog {
    /// Records `nonce` of a call signed at `signed_at`, seen at `now`;
    /// false when it is still remembered (a replay).
    pub(super) fn insert(&mut self, nonce: &str, signed_at: i64, now: i64) -> bool {
        self.forget_expired(now);
        if self.until.contains_key(nonce) {
            return false;
        }
        let tolerance = i64::try_from(TIMESTAMP_TOLERANCE.as_secs()).unwrap_or(i64::MAX);
        let until = signed_at.saturating_add(tolerance);
        self.until.insert(nonce.to_owned(), until);
        self.by_age.insert((until, nonce.to_owned()));
        true
    }

    /// Forgets the nonces whose calls' Timestamps are now out of the window.
    fn forget_expired(&mut self, now: i64) {
        while self.by_age.first().is_some_and(|(until, _)| *until < now) {
            if let Some((_, nonce)) = self.by_age.pop_first() {
                self.until.remove(&nonce);
            }
        }
    }

    /// How many nonces are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: i64 = TIMESTAMP_TOLERANCE.as_secs() as i64;

    #[test]
    fn nonce_log_refuses_repeats_within_the_window() {
        let mut log = NonceLog::default();
        let t = 1_700_000_000;
        assert!(log.insert("a", t, t));
        assert!(log.insert("b", t, t));
        assert!(!log.insert("a", t, t));
        // Still refused at the last second its Timestamp is accepted.
        assert!(!log.insert("a", t, t + WINDOW));
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn nonce_log_forgets_nonces_whose_timestamp_left_the_window() {
        let mut log = NonceLog::default();
        let t = 1_700_000_000;
        // Signed 15 minutes ahead of the clock: kept for 30 minutes.
        assert!(log.insert("ahead", t + WINDOW, t));
        assert!(log.insert("now", t, t));
        for i in 0..800 {
            assert!(log.insert(&format!("n{i}"), t + i, t + i));
        }
        assert_eq!(log.len(), 802);
        // Past the window of `now` and the first hundred: only the rest stay.
        assert!(log.insert("later", t + WINDOW + 100, t + WINDOW + 100));
        assert!(!log.until.contains_key("now"));
        assert_eq!(log.len(), 1 + 700 + 1, "ahead, n100..n799, later");
        // A forgotten nonce is new again (its old Timestamp would be refused
        // before the nonce is looked at); by then every other one is gone.
        let much_later = t + 3 * WINDOW;
        assert!(log.insert("now", much_later, much_later));
        assert_eq!(log.len(), 1);
    }

    #[test]
    fn request_log_keeps_the_most_recent() {
        let request = |n: u16| RecordedRequest {
            method: "GET".into(),
            path: "/".into(),
            raw_query: String::new(),
            params: Vec::new(),
            headers: Vec::new(),
            body_len: 0,
            connection_id: 0,
            status: n,
            code: None,
            fault: None,
            body_first_byte: None,
            body_last_byte: None,
        };
        let mut log = RequestLog::new(3);
        for n in 1..=5 {
            log.push(request(n));
        }
        let kept: Vec<u16> = log.to_vec().iter().map(|r| r.status).collect();
        assert_eq!(kept, [3, 4, 5]);
        let mut none = RequestLog::new(0);
        none.push(request(1));
        assert!(none.to_vec().is_empty());
    }
}
