//! The boundary between C and Rust, used by every function: the panic
//! guards, the checks of pointer and string arguments, and freeing handles.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::{ens_error, ens_param, ens_status};

/// A C string from Rust text; a NUL inside (possible in a server's answer)
/// becomes U+FFFD so the string is never cut short.
pub(super) fn cstring(s: &str) -> CString {
    if s.contains('\0') {
        CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
    } else {
        CString::new(s).unwrap_or_default()
    }
}

/// What the body of a C function returns; an error becomes its status and
/// `*err`.
pub(super) type FfiResult<T> = Result<T, ens_error>;

/// Runs `body` at the boundary: clears `*err`, catches a panic, and on
/// failure stores the error in `*err` (when `err` is not NULL).
///
/// # Safety
/// `err` is NULL or valid for writing one pointer.
pub(super) unsafe fn boundary(
    func: &'static str,
    err: *mut *mut ens_error,
    body: impl FnOnce() -> FfiResult<()>,
) -> ens_status {
    if !err.is_null() {
        // SAFETY: `err` is non-NULL and, by this function's contract, writable.
        unsafe { *err = ptr::null_mut() };
    }
    let outcome =
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err(ens_error::panic(func)));
    match outcome {
        Ok(()) => ens_status::ENS_OK,
        Err(e) => {
            let status = e.status;
            log_returned(func, &e);
            if !err.is_null() {
                // SAFETY: as above; the box is handed to the caller, who frees
                // it with ens_error_free.
                unsafe { *err = Box::into_raw(Box::new(e)) };
            }
            status
        }
    }
}

/// Logs an error a function returns: at debug, or as an error for a caught
/// panic (a bug). Error messages never hold a secret, so neither does this.
fn log_returned(func: &str, e: &ens_error) {
    // Another program's logger might panic; it must not cross either.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let level = if e.status == ens_status::ENS_ERR_PANIC {
            log::Level::Error
        } else {
            log::Level::Debug
        };
        log::log!(
            level,
            "{func} returned {:?}: {}",
            e.status,
            e.message.to_string_lossy()
        );
    }));
}

/// Runs `body` for a function that returns a value rather than a status;
/// a panic gives `fallback`.
pub(super) fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Sets an out-pointer to NULL when it is not NULL.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
pub(super) unsafe fn clear_out<T>(out: *mut *mut T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable by this function's contract.
        unsafe { *out = ptr::null_mut() };
    }
}

/// Checks that an out-pointer is not NULL.
pub(super) fn check_out<T>(out: *mut *mut T, func: &str, arg: &str) -> FfiResult<()> {
    if out.is_null() {
        Err(ens_error::null(func, arg))
    } else {
        Ok(())
    }
}

/// A required string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(super) unsafe fn req_str<'a>(p: *const c_char, func: &str, arg: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(ens_error::null(func, arg));
    }
    // SAFETY: non-NULL, NUL-terminated and live for 'a by this function's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    std::str::from_utf8(bytes).map_err(|e| {
        ens_error::invalid_argument(
            func,
            arg,
            &format!(
                "is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`req_str`].
pub(super) unsafe fn opt_str<'a>(
    p: *const c_char,
    func: &str,
    arg: &str,
) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { req_str(p, func, arg) }.map(Some)
    }
}

/// A required handle argument.
///
/// # Safety
/// `p` is NULL or points to a live `T` that is not mutated for `'a`.
pub(super) unsafe fn handle<'a, T>(p: *const T, func: &str, arg: &str) -> FfiResult<&'a T> {
    // SAFETY: by this function's contract a non-NULL `p` is a live, shared `T`.
    unsafe { p.as_ref() }.ok_or_else(|| ens_error::null(func, arg))
}

/// The `(params, n_params)` array as key/value pairs.
///
/// # Safety
/// `params` is NULL or points to `n` readable `ens_param`s whose strings are
/// NULL or NUL-terminated, all live and unchanged for `'a`.
pub(super) unsafe fn param_list<'a>(
    params: *const ens_param,
    n: usize,
    func: &str,
) -> FfiResult<Vec<(&'a str, &'a str)>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if params.is_null() {
        return Err(ens_error::invalid_argument(
            func,
            "params",
            "must not be NULL when n_params is not 0",
        ));
    }
    if n > isize::MAX as usize / std::mem::size_of::<ens_param>() {
        return Err(ens_error::invalid_argument(
            func,
            "n_params",
            "is larger than any array can be",
        ));
    }
    // SAFETY: non-NULL, `n` elements readable by this function's contract, and
    // the size fits in isize (checked above).
    let slice = unsafe { std::slice::from_raw_parts(params, n) };
    let mut out = Vec::with_capacity(n);
    for (i, p) in slice.iter().enumerate() {
        // SAFETY: the strings of each element are NULL or valid by contract.
        let key = unsafe { req_str(p.key, func, &format!("params[{i}].key")) }?;
        // SAFETY: as above.
        let value = unsafe { req_str(p.value, func, &format!("params[{i}].value")) }?;
        out.push((key, value));
    }
    Ok(out)
}

/// Returns a C string accessor's pointer, `""` for a NULL object.
///
/// # Safety
/// `p` is NULL or points to a live `T`.
pub(super) unsafe fn str_field<T>(
    p: *const T,
    field: impl FnOnce(&T) -> &CString,
) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: by this function's contract a non-NULL `p` is a live `T`.
        match unsafe { p.as_ref() } {
            Some(obj) => field(obj).as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// Drops a boxed handle handed out by the C API.
///
/// # Safety
/// `p` is NULL or came from `Box::into_raw` in `ffi` and was not freed.
pub(super) unsafe fn free_box<T>(p: *mut T) {
    if p.is_null() {
        return;
    }
    // A panic in a destructor cannot be reported by a void function: it is
    // swallowed so it never crosses the boundary.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `p` came from Box::into_raw and ownership returns here once.
        drop(unsafe { Box::from_raw(p) });
    }));
}

/// A C string handed out by the library, as Rust text (for the tests).
#[cfg(test)]
pub(super) fn text(p: *const c_char) -> String {
    // SAFETY: every pointer given here comes from the C API and is live.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::{ens_error_free, ens_error_message, ens_error_status};

    #[test]
    fn a_panic_becomes_a_status_and_an_error() {
        let mut err: *mut ens_error = ptr::null_mut();
        // SAFETY: `err` is a valid out-pointer.
        let status = unsafe { boundary("ens_test", &mut err, || panic!("boom")) };
        assert_eq!(status, ens_status::ENS_ERR_PANIC);
        assert!(!err.is_null());
        // SAFETY: `err` was just handed out and is freed once below.
        unsafe {
            assert_eq!(ens_error_status(err), ens_status::ENS_ERR_PANIC);
            let msg = text(ens_error_message(err));
            assert!(msg.contains("ens_test") && msg.contains("panic"), "{msg}");
            ens_error_free(err);
        }
        assert_eq!(guard(7, || panic!("boom")), 7);
        // A NULL err is fine too.
        // SAFETY: NULL err is allowed.
        let status = unsafe { boundary("ens_test", ptr::null_mut(), || panic!("boom")) };
        assert_eq!(status, ens_status::ENS_ERR_PANIC);
    }

    #[test]
    fn interior_nul_does_not_cut_a_string() {
        assert_eq!(cstring("a\0b").to_str().unwrap(), "a\u{FFFD}b");
        assert_eq!(cstring("plain").to_str().unwrap(), "plain");
    }
}
