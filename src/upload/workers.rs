//! Runs an upload's work on worker threads while the caller's thread hears
//! their events: it records finished units (the checkpoint is written by one
//! thread only) and calls the progress callback, so the callback never runs
//! concurrently and never on a thread the caller did not make.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Sender};

use crate::error::{Error, Result};

use super::progress::{Event, Reporter, Shared, REPORT_EVERY};

/// Runs `worker` on `threads` threads (inline if none can be spawned) and
/// hands each finished unit to `on_done` on this thread; `stored_bytes`
/// says how many bytes of the object a finished unit stored. The first
/// failure stops new work; a cancel from the callback stops the bodies
/// being sent, and reports the bytes the server confirmed stored (units
/// that finish while the others stop still count: they are recorded).
pub(crate) fn run<T: Send>(
    threads: usize,
    shared: &Shared,
    reporter: &mut Reporter<'_>,
    worker: impl Fn(&Sender<Event<T>>) + Sync,
    stored_bytes: impl Fn(&T) -> u64,
    mut on_done: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let (tx, rx) = mpsc::channel::<Event<T>>();
    let mut first_error: Option<Error> = None;
    // Each stream reports at least every MiB: a callback more than that
    // per stream behind the link hears the current count instead, so it
    // never replays a backlog of old counts.
    let max_lag = u64::try_from(threads.max(1))
        .unwrap_or(u64::MAX)
        .saturating_mul(REPORT_EVERY);
    let mut handle = |event: Event<T>, reporter: &mut Reporter<'_>| match event {
        Event::Progress(done) => reporter.report_event(done, max_lag, shared),
        Event::Done(unit) => {
            let bytes = stored_bytes(&unit);
            match on_done(unit) {
                Ok(()) => {
                    shared.stored.fetch_add(bytes, Ordering::SeqCst);
                }
                Err(e) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    first_error.get_or_insert(e);
                }
            }
        }
        Event::Failed(e) => {
            shared.stop.store(true, Ordering::SeqCst);
            if !matches!(e, Error::Cancelled { .. }) {
                first_error.get_or_insert(e);
            }
        }
    };
    reporter.report(shared);
    std::thread::scope(|scope| {
        let worker = &worker;
        let mut spawned = 0;
        for i in 0..threads.max(1) {
            let tx = tx.clone();
            let started = std::thread::Builder::new()
                .name(format!("ens-upload-{i}"))
                .spawn_scoped(scope, move || worker(&tx));
            if started.is_ok() {
                spawned += 1;
            }
        }
        if spawned == 0 {
            // No thread to be had: do the work here, then deliver its events.
            worker(&tx);
        }
        drop(tx);
        for event in rx.iter() {
            handle(event, reporter);
        }
    });
    if reporter.cancelled {
        return Err(Error::Cancelled {
            bytes_done: shared.stored.load(Ordering::SeqCst),
            total: reporter.total(),
        });
    }
    first_error.map_or(Ok(()), Err)
}
