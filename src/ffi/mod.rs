//! The C API, declared in `include/ens_upload.h` (generated from this
//! module by cbindgen; see `cbindgen.toml` and `build.rs`).
//!
//! The rules every function follows, stated once here and repeated in the
//! header's opening comment:
//!
//! - Handles (`ens_client_builder`, `ens_client`, `ens_prepare_upload_result`,
//!   `ens_upload_options`, `ens_upload_result`, `ens_error`) are opaque. What a `*_new`, `*_build` or call hands out is
//!   owned by the caller and freed with the matching `*_free`, which accepts
//!   NULL.
//! - A fallible function returns an `ens_status`; `ENS_OK` is 0. When its
//!   `err` argument is not NULL, `*err` is set to NULL on success and to a new
//!   `ens_error` on failure. Out-pointers are set to NULL first and written
//!   only on success.
//! - A NULL where a value is required, a string that is not UTF-8, and a NULL
//!   out-pointer give `ENS_ERR_INVALID_ARGUMENT` with a message naming the
//!   argument. Nothing is ever written through a NULL pointer.
//! - Strings handed out by accessors are NUL-terminated UTF-8 and live as long
//!   as the object they came from; an accessor given NULL returns `""`.
//! - No panic crosses the boundary: each function catches unwinding and
//!   returns `ENS_ERR_PANIC` (or NULL, `""` or 0, as its comment says). With
//!   `panic = "abort"` (the `min-size` profile) a panic aborts the process.
//! - There is no global or thread-local state besides the process-wide log
//!   callback (`ens_set_log_callback`). One `ens_client` may be used
//!   from many threads at once; builders and upload options are for one
//!   thread at a time while being set up.
//! - The upload's progress callback runs on the thread that called
//!   `ens_upload_file`, never concurrently, never after it returned. The
//!   log callback may run on any thread, several at once.
//! - No error message ever holds an AccessKey secret or a security token.
//!
//! The functions are `unsafe` for Rust callers: they trust the pointers they
//! are given. Rust programs should use [`crate::Client`] instead.
//!
//! One file per C object, as rustls-ffi and hyper lay out their C APIs:
//! this file holds the shared C types and the functions of no object,
//! `boundary` the panic guard and the argument checks every function uses,
//! `log` the log callback, and each other module one handle and its
//! functions. cbindgen reads this
//! file's items first, then the modules in the order of their `mod` lines,
//! and the header lists the functions in that order: keep it.

// The C error travels as the `Err` of every internal result: at ~140 bytes
// it is above clippy's size hint, but it is built on failure paths only,
// where boxing it would just add an allocation.
#![allow(clippy::result_large_err)]
#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
// The C names are the API: `ens_status`, `ENS_OK`...
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, CStr};

use self::boundary::guard;

// The header lists the functions in the order of these lines (blank lines
// keep rustfmt from sorting them). `ens_prepare_upload` and `ens_call`
// (client.rs) come before the PrepareUpload result's accessors
// (prepare_upload.rs) there.
mod boundary;
mod builder;
mod client;
mod credentials;
mod prepare_upload;
mod upload_options;

mod upload;

mod error;

mod log;

pub use self::builder::*;
pub use self::client::*;
pub use self::credentials::*;
pub use self::error::*;
pub use self::log::*;
pub use self::prepare_upload::*;
pub use self::upload::*;
pub use self::upload_options::*;

/// The result of every fallible function. `ENS_OK` is 0; every other value
/// is an error kind. The values are fixed: new kinds get new numbers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ens_status {
    /// Success.
    ENS_OK = 0,
    /// The server answered with an API error: see `ens_error_code`,
    /// `ens_error_http_status` and `ens_error_request_id`.
    ENS_ERR_API = 1,
    /// A request parameter was refused before anything was sent (empty or
    /// too long bucket name, a client IP that is not an IP address...):
    /// `ens_error_field` names the parameter, e.g. `BucketName`.
    ENS_ERR_INVALID_INPUT = 2,
    /// The client configuration is unusable (endpoint URL, proxy URL, CA
    /// file, zero timeout).
    ENS_ERR_CONFIG = 3,
    /// The credentials given or found are unusable (empty, control
    /// characters, half-set environment).
    ENS_ERR_CREDENTIALS = 4,
    /// No credentials were given and the default chain (environment,
    /// credentials file, `~/.aliyun/config.json`) found none; the message
    /// names every place looked in.
    ENS_ERR_NO_CREDENTIALS = 5,
    /// No HTTP response: see `ens_error_transport_kind`.
    ENS_ERR_TRANSPORT = 6,
    /// The server answered with a redirect, which is never followed.
    ENS_ERR_REDIRECT = 7,
    /// The server answered with a body that is not the API's JSON.
    ENS_ERR_DECODE = 8,
    /// The response body was larger than the client accepts (1 MiB).
    ENS_ERR_RESPONSE_TOO_LARGE = 9,
    /// A C-level misuse: a required pointer was NULL, a string was not
    /// UTF-8, an out-pointer was NULL. `ens_error_field` names the argument.
    ENS_ERR_INVALID_ARGUMENT = 10,
    /// A bug in ens-upload: a Rust panic was caught at the boundary. The
    /// objects involved are still safe to free. A library built with
    /// `panic = "abort"` (the `min-size` cargo profile) never returns this:
    /// the process aborts instead.
    ENS_ERR_PANIC = 11,
    /// An error kind that this version of the C API does not know by name.
    ENS_ERR_OTHER = 12,
    /// The upload's progress callback returned non-zero. A checkpoint, if one
    /// was set, is kept: the same call later resumes from it. See
    /// `ens_error_bytes_done` and `ens_error_bytes_total`.
    ENS_ERR_CANCELLED = 13,
    /// The CRC-64 the server computed over what it stored differs from the
    /// one computed over what was sent (or the server sent none), after
    /// every retry: the object is not reported as uploaded. See
    /// `ens_error_field` (`"object"` or `"part N"`), `ens_error_local_crc64`,
    /// `ens_error_server_crc64` and `ens_error_request_id`.
    ENS_ERR_INTEGRITY = 14,
    /// A local file (the one uploaded, or its checkpoint) could not be read
    /// or written, is not a regular file, or changed during the upload. See
    /// `ens_error_path` and `ens_error_io_kind`.
    ENS_ERR_LOCAL_IO = 15,
}

/// What kind of failure an `ENS_ERR_TRANSPORT` error was.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ens_transport_kind {
    /// Not a transport error.
    ENS_TRANSPORT_NONE = 0,
    /// A connect, read or overall timeout expired.
    ENS_TRANSPORT_TIMEOUT = 1,
    /// The host name could not be resolved.
    ENS_TRANSPORT_DNS = 2,
    /// The TCP connection could not be made or was dropped.
    ENS_TRANSPORT_CONNECT = 3,
    /// The TLS handshake or certificate verification failed.
    ENS_TRANSPORT_TLS = 4,
    /// The peer did not speak valid HTTP/1.1.
    ENS_TRANSPORT_PROTOCOL = 5,
    /// Another I/O failure.
    ENS_TRANSPORT_IO = 6,
    /// A kind this version of the C API does not know by name.
    ENS_TRANSPORT_OTHER = 7,
}

/// One extra request parameter for `ens_prepare_upload_with_params` and
/// `ens_call`. Both strings are borrowed for the duration of the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ens_param {
    /// The parameter name, e.g. `"EnsRegionId"`. Required; UTF-8.
    pub key: *const c_char,
    /// Its value. Required (use `""` for an empty value); UTF-8.
    pub value: *const c_char,
}

/// The library version, e.g. `"0.1.0"`, as a static string (never freed).
/// It matches `ENS_UPLOAD_VERSION_STRING` of the header the library was
/// built with; compare the two to detect a header/library mismatch.
/// Never NULL. Thread-safe.
#[no_mangle]
pub extern "C" fn ens_version() -> *const c_char {
    guard(c"".as_ptr(), || {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// The name of a status, e.g. `"ENS_ERR_TRANSPORT"`, as a static string
/// (never freed). `status` is an `ens_status` value passed as an int;
/// unknown values give `"ENS_ERR_UNKNOWN_STATUS"`. Never returns NULL.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn ens_status_str(status: c_int) -> *const c_char {
    guard(c"".as_ptr(), || {
        let s: &'static CStr = match status {
            0 => c"ENS_OK",
            1 => c"ENS_ERR_API",
            2 => c"ENS_ERR_INVALID_INPUT",
            3 => c"ENS_ERR_CONFIG",
            4 => c"ENS_ERR_CREDENTIALS",
            5 => c"ENS_ERR_NO_CREDENTIALS",
            6 => c"ENS_ERR_TRANSPORT",
            7 => c"ENS_ERR_REDIRECT",
            8 => c"ENS_ERR_DECODE",
            9 => c"ENS_ERR_RESPONSE_TOO_LARGE",
            10 => c"ENS_ERR_INVALID_ARGUMENT",
            11 => c"ENS_ERR_PANIC",
            12 => c"ENS_ERR_OTHER",
            13 => c"ENS_ERR_CANCELLED",
            14 => c"ENS_ERR_INTEGRITY",
            15 => c"ENS_ERR_LOCAL_IO",
            _ => c"ENS_ERR_UNKNOWN_STATUS",
        };
        s.as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::boundary::text;
    use super::*;

    #[test]
    fn status_names_match_the_enum() {
        for v in 0..=15 {
            let name = text(ens_status_str(v));
            assert!(name.starts_with("ENS_"), "{name}");
            assert_ne!(name, "ENS_ERR_UNKNOWN_STATUS");
        }
        assert_eq!(
            text(ens_status_str(ens_status::ENS_ERR_LOCAL_IO as c_int)),
            "ENS_ERR_LOCAL_IO"
        );
        assert_eq!(
            text(ens_status_str(ens_status::ENS_ERR_PANIC as c_int)),
            "ENS_ERR_PANIC"
        );
        assert_eq!(text(ens_status_str(-1)), "ENS_ERR_UNKNOWN_STATUS");
        assert_eq!(text(ens_status_str(16)), "ENS_ERR_UNKNOWN_STATUS");
        assert_eq!(text(ens_status_str(c_int::MAX)), "ENS_ERR_UNKNOWN_STATUS");
        assert_eq!(text(ens_version()), env!("CARGO_PKG_VERSION"));
    }
}
