//! Counting what is sent, for the progress callback, and computing the
//! CRC-64 of each body while it streams.
//!
//! Workers stream bodies on their own threads; the callback runs on the
//! caller's thread, fed through a channel. The count is monotonic even when
//! a part is retried: a part counts the most bytes any of its attempts read.
//! A callback that keeps up hears each count; one that falls more than a
//! MiB per thread behind the link hears the count as it is by then
//! instead, so it never lags further. Apart from what was sent, the bytes
//! the server confirmed stored are counted too: that is what a cancel
//! reports.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Mutex;

use crate::crc64::Crc64;
use crate::error::Error;

use super::source::byte_count;
use super::throttle::Limits;

/// The callback hears from a stream at least this often (more often under
/// a bandwidth limit below 4 MiB/s: see `throttle::Limits::report_every`).
pub(crate) const REPORT_EVERY: u64 = 1 << 20;

/// What the upload's progress callback answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressAction {
    /// Go on.
    Continue,
    /// Stop now with [`Error::Cancelled`]; a checkpoint is kept for a later resume.
    Cancel,
}

impl From<bool> for ProgressAction {
    /// `true` goes on, `false` cancels (the C convention of "keep going?").
    fn from(keep_going: bool) -> ProgressAction {
        if keep_going {
            ProgressAction::Continue
        } else {
            ProgressAction::Cancel
        }
    }
}

/// What workers tell the coordinating (caller's) thread.
pub(crate) enum Event<T> {
    /// The count reached this many bytes (a MiB more, or the end of a
    /// body); time to call the callback.
    Progress(u64),
    /// A unit of work (a part, or the single PutObject) is finished.
    Done(T),
    /// A unit failed for good.
    Failed(Error),
}

/// State shared by the workers and the coordinator of one upload.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Bytes counted so far (monotonic).
    pub(crate) done: AtomicU64,
    /// Bytes the server confirmed it stored: finished parts (those of an
    /// earlier call resumed from a checkpoint included), or the whole
    /// object. What a cancel reports: a resume does not send them again.
    pub(crate) stored: AtomicU64,
    /// Raised by the coordinator when the callback cancels: bodies stop
    /// being read at once, and backoff waits end.
    pub(crate) cancel: AtomicBool,
    /// Raised when a unit failed for good: no new unit starts.
    pub(crate) stop: AtomicBool,
}

impl Shared {
    /// Resuming: `done` bytes are stored already.
    pub(crate) fn starting_at(done: u64) -> Shared {
        Shared {
            done: AtomicU64::new(done),
            stored: AtomicU64::new(done),
            ..Shared::default()
        }
    }
}

/// Calls the caller's progress callback, on the caller's thread, with a
/// count that never goes back and is never repeated.
pub(crate) struct Reporter<'a> {
    callback: Option<&'a Mutex<Box<ProgressFn>>>,
    total: u64,
    last: Option<u64>,
    /// Whether the callback answered [`ProgressAction::Cancel`].
    pub(crate) cancelled: bool,
}

/// The callback's type: `(bytes done, total)` in, what to do out.
pub type ProgressFn = dyn FnMut(u64, u64) -> ProgressAction + Send;

impl<'a> Reporter<'a> {
    pub(crate) fn new(callback: Option<&'a Mutex<Box<ProgressFn>>>, total: u64) -> Reporter<'a> {
        Reporter {
            callback,
            total,
            last: None,
            cancelled: false,
        }
    }

    /// Reports the shared count if it grew; a cancel raises `shared.cancel`.
    pub(crate) fn report(&mut self, shared: &Shared) {
        self.report_count(shared.done.load(Ordering::SeqCst), shared);
    }

    /// Reports an event's count, or the current count when the event's is
    /// more than `max_lag` bytes behind it: a callback slower than the link
    /// then hears where the upload is, not where it was when the event was
    /// queued (the events it skips carry smaller counts, so they are
    /// dropped below).
    pub(crate) fn report_event(&mut self, done: u64, max_lag: u64, shared: &Shared) {
        let now = shared.done.load(Ordering::SeqCst);
        let done = if now.saturating_sub(done) > max_lag {
            now
        } else {
            done
        };
        self.report_count(done, shared);
    }

    /// Reports `done` if it is more than what was last reported (counts
    /// from several threads may arrive out of order: those are skipped).
    fn report_count(&mut self, done: u64, shared: &Shared) {
        let done = done.min(self.total);
        if self.cancelled || self.last.is_some_and(|last| done <= last) {
            return;
        }
        self.last = Some(done);
        if self.call(done) == ProgressAction::Cancel {
            self.cancelled = true;
            shared.cancel.store(true, Ordering::SeqCst);
        }
    }

    /// The last call, `(total, total)`, once the object is stored (its
    /// answer no longer matters).
    pub(crate) fn finish(&mut self) {
        if self.last == Some(self.total) {
            return;
        }
        self.last = Some(self.total);
        let _ = self.call(self.total);
    }

    /// One call; a callback that panicked before leaves its lock poisoned,
    /// which changes nothing here.
    fn call(&self, done: u64) -> ProgressAction {
        match self.callback {
            Some(cb) => {
                let mut f = cb.lock().unwrap_or_else(|p| p.into_inner());
                f(done, self.total)
            }
            None => ProgressAction::Continue,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

/// Why a body stopped being read, which the HTTP layer only sees as an
/// I/O error; the worker turns it back into the right [`Error`].
#[derive(Debug)]
pub(crate) enum BodyFailure {
    Cancelled,
    Local(io::ErrorKind, String),
}

/// A request body: exactly `len` bytes of `source`, with their CRC-64,
/// counted into the shared progress, stopping when the upload is cancelled.
pub(crate) struct Body<'a, T> {
    source: &'a mut dyn Read,
    remaining: u64,
    /// Bytes read by this attempt.
    read: u64,
    /// The most bytes any attempt of this unit read (owned by the worker).
    high_water: &'a mut u64,
    /// Whether the source must end exactly after `len` bytes (a caller's
    /// reader with a declared length); a file is checked by its size instead.
    must_end: bool,
    crc: Crc64,
    shared: &'a Shared,
    events: &'a Sender<Event<T>>,
    failure: Option<BodyFailure>,
    /// The bandwidth limits the bytes are paced under.
    limits: Option<&'a Limits>,
    /// Bytes between progress events.
    report_every: u64,
}

impl<'a, T> Body<'a, T> {
    pub(crate) fn new(
        source: &'a mut dyn Read,
        len: u64,
        high_water: &'a mut u64,
        must_end: bool,
        shared: &'a Shared,
        events: &'a Sender<Event<T>>,
    ) -> Body<'a, T> {
        Body {
            source,
            remaining: len,
            read: 0,
            high_water,
            must_end,
            crc: Crc64::new(),
            shared,
            events,
            failure: None,
            limits: None,
            report_every: REPORT_EVERY,
        }
    }

    /// Paces reads under `limits`: at most a chunk at a time, each handed
    /// over once the buckets allow it (so to the socket at the limit).
    pub(crate) fn paced(mut self, limits: &'a Limits) -> Self {
        self.limits = Some(limits);
        self.report_every = limits.report_every(REPORT_EVERY);
        self
    }

    /// The CRC-64 of everything read.
    pub(crate) fn crc64(&self) -> u64 {
        self.crc.value()
    }

    /// Bytes this attempt read from the source.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Why reading stopped early, if it did.
    pub(crate) fn take_failure(&mut self) -> Option<BodyFailure> {
        self.failure.take()
    }

    fn fail(&mut self, failure: BodyFailure) -> io::Error {
        let message = match &failure {
            BodyFailure::Cancelled => "cancelled".to_owned(),
            BodyFailure::Local(_, m) => m.clone(),
        };
        self.failure = Some(failure);
        io::Error::other(message)
    }

    fn count(&mut self, n: u64) {
        self.read += n;
        if self.read > *self.high_water {
            let before = *self.high_water;
            let added = self.read - before;
            *self.high_water = self.read;
            let now = self.shared.done.fetch_add(added, Ordering::SeqCst) + added;
            let every = self.report_every;
            if before / every != self.read / every || self.remaining == 0 {
                let _ = self.events.send(Event::Progress(now));
            }
        }
    }
}

impl<T> Read for Body<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.shared.cancel.load(Ordering::SeqCst) {
            return Err(self.fail(BodyFailure::Cancelled));
        }
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX))
            .min(self.limits.map_or(usize::MAX, Limits::chunk));
        let n = loop {
            match self.source.read(&mut buf[..want]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(self.fail(BodyFailure::Local(e.kind(), format!("read failed: {e}"))))
                }
            }
        };
        if n == 0 {
            let why = if self.must_end {
                format!(
                    "the reader ended before the size given ({} bytes short)",
                    self.remaining
                )
            } else {
                format!(
                    "ended {} bytes early (did it shrink during the upload?)",
                    self.remaining
                )
            };
            return Err(self.fail(BodyFailure::Local(io::ErrorKind::UnexpectedEof, why)));
        }
        self.remaining -= byte_count(n);
        if self.remaining == 0 && self.must_end {
            let mut probe = [0u8; 1];
            match self.source.read(&mut probe) {
                Ok(0) => {}
                Ok(_) => {
                    return Err(self.fail(BodyFailure::Local(
                        io::ErrorKind::InvalidInput,
                        "the reader holds more bytes than the size given".to_owned(),
                    )))
                }
                Err(e) => {
                    return Err(self.fail(BodyFailure::Local(e.kind(), format!("read failed: {e}"))))
                }
            }
        }
        self.crc.update(&buf[..n]);
        if let Some(limits) = self.limits {
            limits.pace(byte_count(n), &self.shared.cancel);
        }
        self.count(byte_count(n));
        Ok(n)
    }
}

impl BodyFailure {
    /// The typed error for this failure; `path` names the source.
    pub(crate) fn into_error(self, path: &Path) -> Error {
        match self {
            BodyFailure::Cancelled => Error::Cancelled {
                bytes_done: 0,
                total: 0,
            },
            BodyFailure::Local(kind, reason) => Error::LocalIo {
                source: None,
                path: path.to_owned(),
                reason,
                kind,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_retries_once_and_checks_the_length() {
        let shared = Shared::default();
        let (tx, rx) = std::sync::mpsc::channel::<Event<()>>();
        let data = vec![7u8; 3 << 20];
        let mut high = 0;
        for _attempt in 0..2 {
            let mut src: &[u8] = &data;
            let mut body = Body::new(
                &mut src,
                byte_count(data.len()),
                &mut high,
                true,
                &shared,
                &tx,
            );
            let mut sink = Vec::new();
            body.read_to_end(&mut sink).unwrap();
            assert_eq!(body.crc64(), crate::crc64::checksum(&data));
        }
        assert_eq!(shared.done.load(Ordering::SeqCst), byte_count(data.len()));
        assert!(rx.try_iter().count() >= 3, "one event per MiB at least");

        let mut high = 0;
        let mut longer: &[u8] = &[1, 2, 3];
        let mut body = Body::new(&mut longer, 2, &mut high, true, &shared, &tx);
        assert!(body.read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(
            body.take_failure(),
            Some(BodyFailure::Local(io::ErrorKind::InvalidInput, _))
        ));

        let mut high = 0;
        let mut shorter: &[u8] = &[1];
        let mut body = Body::new(&mut shorter, 2, &mut high, false, &shared, &tx);
        assert!(body.read_to_end(&mut Vec::new()).is_err());
        assert!(matches!(
            body.take_failure(),
            Some(BodyFailure::Local(io::ErrorKind::UnexpectedEof, _))
        ));

        shared.cancel.store(true, Ordering::SeqCst);
        let mut high = 0;
        let mut any: &[u8] = &[1];
        let mut body = Body::new(&mut any, 1, &mut high, false, &shared, &tx);
        assert!(body.read(&mut [0u8; 4]).is_err());
        assert!(matches!(body.take_failure(), Some(BodyFailure::Cancelled)));
    }
}
