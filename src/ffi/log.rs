//! `ens_set_log_callback`: the library's log messages (what ens-upload logs
//! through the `log` crate) handed to a C callback.
//!
//! A `log::Log` implementation is installed as the process's logger the
//! first time a callback is set; the callback and its `user_data` sit
//! behind a lock that every message takes for reading (so messages from
//! many threads reach the callback at once) and that setting a new callback
//! takes for writing (so once `ens_set_log_callback` returns, the old
//! callback is no longer running and is never called again).

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{OnceLock, PoisonError, RwLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

use super::boundary::{boundary, cstring, FfiResult};
use super::{ens_error, ens_status};

/// How much a log message matters: the `level` of each message given to an
/// `ens_log_cb`, and the `max_level` of `ens_set_log_callback` (a message
/// is passed when its level is at most `max_level`). The values are fixed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ens_log_level {
    /// No message at all (only as a `max_level`).
    ENS_LOG_OFF = 0,
    /// A failure the library cannot report otherwise (e.g. a bug caught at
    /// the boundary).
    ENS_LOG_ERROR = 1,
    /// Something went wrong but was worked around (e.g. a cleanup that
    /// failed and was ignored).
    ENS_LOG_WARN = 2,
    /// Rare, notable events (e.g. the server clock offset learned).
    ENS_LOG_INFO = 3,
    /// One line per request attempt and per error returned: action or OSS
    /// operation, attempt, HTTP status, request id, time taken.
    ENS_LOG_DEBUG = 4,
    /// Finer detail still.
    ENS_LOG_TRACE = 5,
}

/// The log callback of `ens_set_log_callback`: called with the `user_data`
/// given there, the message's level, its target (where in the library it
/// comes from, e.g. `"ens_upload::http"`) and the message itself. `target`
/// and `message` are NUL-terminated UTF-8, never NULL, and valid only
/// during the call: copy them to keep them.
///
/// It may be called from any thread, several at once: the thread of any
/// library call, and the threads an upload starts for its parts. So it must
/// be thread-safe, should return quickly (the calling thread waits for it),
/// must return normally (no `longjmp` out of it, no C++ exception through
/// it) and must not call `ens_set_log_callback` (which then fails with
/// `ENS_ERR_INVALID_ARGUMENT`). Messages logged by library functions it
/// calls are dropped.
pub type ens_log_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: ens_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// The callback set, with its `user_data` and the most detailed level it
/// wants.
struct Sink {
    cb: unsafe extern "C" fn(*mut c_void, ens_log_level, *const c_char, *const c_char),
    user_data: *mut c_void,
    max: LevelFilter,
}

// SAFETY: `user_data` is only ever passed back to the C callback, which the
// caller of `ens_set_log_callback` promised may be called from any thread,
// several at once, with this `user_data` (the header says so).
unsafe impl Send for Sink {}
// SAFETY: as for `Send`: the sink is only read, and only to call the callback.
unsafe impl Sync for Sink {}

/// The callback, if one is set.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Whether `log::set_logger` took `LOGGER` (decided once, at the first
/// `ens_set_log_callback` with a callback).
static INSTALLED: OnceLock<bool> = OnceLock::new();

static LOGGER: CallbackLogger = CallbackLogger;

thread_local! {
    /// Whether this thread is inside the callback: a message logged from
    /// there is dropped, and `ens_set_log_callback` refused, since either
    /// would take the lock the callback runs under again.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// The `log::Log` that hands ens-upload's own messages to the C callback.
struct CallbackLogger;

impl Log for CallbackLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        from_this_library(metadata.target()) && metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        // A panic (a message's formatting, say) must not unwind into the
        // code that logged, which may be a C function's body or a thread
        // of an upload.
        let _ = catch_unwind(AssertUnwindSafe(|| deliver(record)));
    }

    fn flush(&self) {}
}

/// Only ens-upload's own messages go to the callback: the libraries it uses
/// log through the same `log` crate, and some of them show request URLs and
/// headers, which carry a security token.
fn from_this_library(target: &str) -> bool {
    target == "ens_upload" || target.starts_with("ens_upload::")
}

fn in_callback() -> bool {
    // While the thread is being torn down its locals may be gone: treat
    // that as inside, so nothing is delivered.
    IN_CALLBACK.try_with(Cell::get).unwrap_or(true)
}

fn deliver(record: &Record<'_>) {
    if !from_this_library(record.target()) || in_callback() {
        return;
    }
    let sink = SINK.read().unwrap_or_else(PoisonError::into_inner);
    let Some(sink) = sink.as_ref() else {
        return;
    };
    if record.level() > sink.max {
        return;
    }
    let target = cstring(record.target());
    let message = cstring(&record.args().to_string());
    IN_CALLBACK.with(|f| f.set(true));
    // SAFETY: the caller of `ens_set_log_callback` promised a callback that
    // may be called with this `user_data` from any thread until another
    // callback (or NULL) is set, which waits for this read lock to go; the
    // strings live until after the call.
    unsafe {
        (sink.cb)(
            sink.user_data,
            c_level(record.level()),
            target.as_ptr(),
            message.as_ptr(),
        )
    };
    IN_CALLBACK.with(|f| f.set(false));
}

fn c_level(level: Level) -> ens_log_level {
    match level {
        Level::Error => ens_log_level::ENS_LOG_ERROR,
        Level::Warn => ens_log_level::ENS_LOG_WARN,
        Level::Info => ens_log_level::ENS_LOG_INFO,
        Level::Debug => ens_log_level::ENS_LOG_DEBUG,
        Level::Trace => ens_log_level::ENS_LOG_TRACE,
    }
}

/// An `ens_log_level` passed as an int, as a `log` filter.
fn level_filter(func: &str, max_level: c_int) -> FfiResult<LevelFilter> {
    Ok(match max_level {
        0 => LevelFilter::Off,
        1 => LevelFilter::Error,
        2 => LevelFilter::Warn,
        3 => LevelFilter::Info,
        4 => LevelFilter::Debug,
        5 => LevelFilter::Trace,
        _ => {
            return Err(ens_error::invalid_argument(
                func,
                "max_level",
                "must be an ens_log_level: 0 (ENS_LOG_OFF) to 5 (ENS_LOG_TRACE)",
            ))
        }
    })
}

/// Sends the library's log messages to `cb`, process-wide, or stops them
/// when `cb` is NULL (the default: nothing is logged). Replaces any earlier
/// callback.
///
/// - `cb`: the callback (see `ens_log_cb`: it must be thread-safe), or NULL
///   to turn logging off.
/// - `user_data`: passed to `cb` as is, never read or freed here; may be
///   NULL. It must stay valid until another call of this function returned.
/// - `max_level`: the most detailed level passed, an `ens_log_level` value
///   passed as an int: `ENS_LOG_OFF` (0) to `ENS_LOG_TRACE` (5), else
///   `ENS_ERR_INVALID_ARGUMENT`. Ignored when `cb` is NULL.
/// - `err`: may be NULL; otherwise set as for every fallible function.
///
/// Only ens-upload's own messages are passed, never those of the libraries
/// it uses. No message holds an AccessKey secret, a security token or a
/// signature.
///
/// The library takes the process's logger of Rust's `log` crate for this,
/// the first time a callback is set: a program that already installed one
/// (through another Rust library) gets `ENS_ERR_CONFIG`, and ens-upload's
/// messages keep going to that logger. Calling with NULL never takes it.
///
/// Thread-safe: may be called from any thread, but not from inside the
/// callback (`ENS_ERR_INVALID_ARGUMENT`). When it returns, the previous
/// callback is not running on any thread and is never called again, so its
/// `user_data` may be freed.
///
/// # Safety
/// `cb` is NULL or a function that may be called as `ens_log_cb` says with
/// `user_data` until this function is called again; `err` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ens_set_log_callback(
    cb: ens_log_cb,
    user_data: *mut c_void,
    max_level: c_int,
    err: *mut *mut ens_error,
) -> ens_status {
    const F: &str = "ens_set_log_callback";
    let body = || {
        if in_callback() {
            return Err(ens_error::new(
                ens_status::ENS_ERR_INVALID_ARGUMENT,
                &format!(
                    "{F}: called from inside the log callback, where it would wait for \
                     itself; call it from outside the callback"
                ),
            ));
        }
        let Some(cb) = cb else {
            let mut sink = SINK.write().unwrap_or_else(PoisonError::into_inner);
            *sink = None;
            // Another program's logger keeps its own level.
            if INSTALLED.get() == Some(&true) {
                log::set_max_level(LevelFilter::Off);
            }
            return Ok(());
        };
        let max = level_filter(F, max_level)?;
        if !*INSTALLED.get_or_init(|| log::set_logger(&LOGGER).is_ok()) {
            return Err(ens_error::new(
                ens_status::ENS_ERR_CONFIG,
                &format!(
                    "{F}: this process already has a logger for Rust's `log` crate \
                     (installed by the program or another Rust library), and there can \
                     be only one: ens-upload's messages go to that logger, not to a \
                     callback"
                ),
            ));
        }
        let mut sink = SINK.write().unwrap_or_else(PoisonError::into_inner);
        *sink = Some(Sink { cb, user_data, max });
        // Under the lock, so concurrent calls leave the level and the
        // callback of the same call.
        log::set_max_level(max);
        Ok(())
    };
    // SAFETY: `err` is NULL or writable (contract).
    unsafe { boundary(F, err, body) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_librarys_targets_pass() {
        assert!(from_this_library("ens_upload"));
        assert!(from_this_library("ens_upload::http"));
        assert!(!from_this_library("ens_uploader"));
        assert!(!from_this_library("ureq::unversioned::transport"));
        assert!(!from_this_library("rustls::client"));
    }

    #[test]
    fn levels_map_both_ways() {
        for (n, want) in [
            (0, LevelFilter::Off),
            (1, LevelFilter::Error),
            (3, LevelFilter::Info),
            (5, LevelFilter::Trace),
        ] {
            assert_eq!(level_filter("f", n).unwrap(), want);
        }
        for bad in [-1, 6, c_int::MAX, c_int::MIN] {
            let e = level_filter("f", bad).unwrap_err();
            assert_eq!(e.status, ens_status::ENS_ERR_INVALID_ARGUMENT);
            assert_eq!(e.field.to_str().unwrap(), "max_level");
        }
        for level in [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ] {
            assert_eq!(c_level(level) as usize, level as usize);
        }
    }
}
