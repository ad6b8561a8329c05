//! Time in tests. These machines are shared and at times slow to schedule
//! a thread, so a test bounds only what the library promises (a timeout it
//! was given) plus [`MARGIN`], and waits for events rather than sleeping.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// Added to a bound the library promises before a test calls it broken: a
/// loaded 2-core machine can stall a thread for seconds. Keep the behaviour
/// under test far from `promise + MARGIN` when broken (a wait the library
/// should cut is made much longer than that), so the test still fails then.
pub const MARGIN: Duration = Duration::from_secs(10);

/// How long a test waits for something that must happen (a message from a
/// server thread). Only a failing test waits this long.
pub const EVENT_WAIT: Duration = Duration::from_secs(30);

/// Runs `f` on a thread of its own and gives its result; fails the test
/// when it has not returned within `limit` (so a hang fails the test
/// instead of hanging it). A panic in `f` is passed on as it is.
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread sends before it ends"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("still running after {limit:?}: a hang, or a bound broken")
        }
    }
}
