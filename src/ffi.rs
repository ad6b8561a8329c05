//! The C API, declared in `include/ens_upload.h` (generated from this file by
//! cbindgen; see `cbindgen.toml` and `build.rs`).
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
//! - There is no global or thread-local state. One `ens_client` may be used
//!   from many threads at once; builders and upload options are for one
//!   thread at a time while being set up.
//! - The upload's progress callback runs on the thread that called
//!   `ens_upload_file`, never concurrently, never after it returned.
//! - No error message ever holds an AccessKey secret or a security token.
//!
//! The functions are `unsafe` for Rust callers: they trust the pointers they
//! are given. Rust programs should use [`crate::Client`] instead.

#![allow(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
// The C names are the API: `ens_status`, `ENS_OK`...
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::ptr;
use std::time::Duration;

use crate::upload::ProgressFn;
use crate::{
    Client, ClientBuilder, Credentials, Error, PrepareUploadRequest, PrepareUploadResponse,
    ProgressAction, TransportKind, UploadOptions, UploadResult,
};

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

/// An error: its kind, what the server said, and a full message. Created by
/// the library, owned by the caller, freed with `ens_error_free`. Immutable:
/// may be read from any thread.
#[derive(Debug, Clone)]
pub struct ens_error {
    status: ens_status,
    http_status: u16,
    attempts: u32,
    transport_kind: ens_transport_kind,
    message: CString,
    code: CString,
    request_id: CString,
    host_id: CString,
    recommend: CString,
    field: CString,
    /// What only upload errors carry (boxed: most errors have none of it).
    upload: Box<UploadErrorDetail>,
}

/// The fields of `ens_error` for `ENS_ERR_CANCELLED`, `ENS_ERR_INTEGRITY`
/// and `ENS_ERR_LOCAL_IO`.
#[derive(Debug, Clone, Default)]
struct UploadErrorDetail {
    bytes_done: u64,
    bytes_total: u64,
    local_crc64: u64,
    server_crc64: Option<u64>,
    path: CString,
    io_kind: CString,
}

/// Configuration for an `ens_client`, filled by the `ens_client_builder_set_*`
/// functions and consumed by `ens_client_builder_build`. Not thread-safe:
/// use one builder from one thread at a time.
pub struct ens_client_builder {
    inner: ClientBuilder,
    /// Setters that failed, by setting; the first one left makes `build` fail.
    pending: Vec<(&'static str, ens_error)>,
}

/// A blocking ENS client. Thread-safe: one client may be used from many
/// threads at once (it shares one keep-alive connection pool). Free it with
/// `ens_client_free` once no call is running on it.
pub struct ens_client {
    client: Client,
    endpoint: CString,
}

/// Where to upload, as answered by `PrepareUpload`. Owned by the caller,
/// freed with `ens_prepare_upload_result_free`. Immutable: may be read from
/// any thread.
pub struct ens_prepare_upload_result {
    bucket_name: CString,
    endpoint: CString,
    request_id: CString,
}

/// How `ens_upload_file` uploads: part size, multipart threshold, threads,
/// checkpoint, addressing, scheme, content type, stall timeout. Filled by the
/// `ens_upload_options_set_*` functions; created with `ens_upload_options_new`
/// and freed with `ens_upload_options_free` by the caller. Not thread-safe
/// while a setter runs; once set up, one options object may be read by many
/// `ens_upload_file` calls at once, on any threads.
pub struct ens_upload_options {
    /// Everything but the checkpoint, the scheme and the progress callback,
    /// which are applied per call (so NULL / -1 can undo them).
    inner: UploadOptions,
    checkpoint: Option<PathBuf>,
    https: Option<bool>,
    /// Setters that failed, by setting; the first one left makes
    /// `ens_upload_file` fail.
    pending: Vec<(&'static str, ens_error)>,
}

/// What `ens_upload_file` stored, and where. Owned by the caller, freed with
/// `ens_upload_result_free`. Immutable: may be read from any thread.
pub struct ens_upload_result {
    bucket: CString,
    endpoint: CString,
    key: CString,
    url: CString,
    etag: CString,
    prepare_request_id: CString,
    request_id: CString,
    upload_id: CString,
    size: u64,
    crc64: u64,
    parts: u32,
    resumed_parts: u32,
}

/// The progress callback of `ens_upload_file`: called with the bytes sent so
/// far and the file's size, and the `user_data` given to `ens_upload_file`.
/// Return 0 to go on, non-zero to cancel the upload (which then fails with
/// `ENS_ERR_CANCELLED`; a checkpoint is kept for a later resume).
///
/// It runs on the thread that called `ens_upload_file`, never concurrently
/// with itself, and never after `ens_upload_file` returned. `done` only grows
/// and never exceeds `total`; the first call comes before any byte is sent
/// (`done` is 0, or what a resumed upload had sent already) and the last is
/// `(total, total)` once the object is stored (its return value is ignored).
/// It may call other functions of this library (not free the client, the
/// options or anything the running upload uses), and must return normally:
/// no `longjmp` out of it and no C++ exception through it.
pub type ens_progress_cb =
    Option<unsafe extern "C" fn(done: u64, total: u64, user_data: *mut c_void) -> c_int>;

// ---------------------------------------------------------------------------
// Internals

/// A C string from Rust text; a NUL inside (possible in a server's answer)
/// becomes U+FFFD so the string is never cut short.
fn cstring(s: &str) -> CString {
    if s.contains('\0') {
        CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default()
    } else {
        CString::new(s).unwrap_or_default()
    }
}

impl ens_error {
    fn new(status: ens_status, message: &str) -> ens_error {
        ens_error {
            status,
            http_status: 0,
            attempts: 0,
            transport_kind: ens_transport_kind::ENS_TRANSPORT_NONE,
            message: cstring(message),
            code: CString::default(),
            request_id: CString::default(),
            host_id: CString::default(),
            recommend: CString::default(),
            field: CString::default(),
            upload: Box::default(),
        }
    }

    /// `ENS_ERR_INVALID_ARGUMENT` naming the function and the argument.
    /// Never quotes the argument's value (it may be a secret).
    fn invalid_argument(func: &str, arg: &str, problem: &str) -> ens_error {
        let mut e = ens_error::new(
            ens_status::ENS_ERR_INVALID_ARGUMENT,
            &format!("{func}: argument `{arg}` {problem}"),
        );
        e.field = cstring(arg);
        e
    }

    fn null(func: &str, arg: &str) -> ens_error {
        ens_error::invalid_argument(func, arg, "must not be NULL")
    }

    fn panic(func: &str) -> ens_error {
        ens_error::new(
            ens_status::ENS_ERR_PANIC,
            &format!("{func}: internal error (a Rust panic was caught); this is a bug in ens-upload, please report it"),
        )
    }

    fn from_error(e: &Error) -> ens_error {
        let mut out = ens_error::new(ens_status::ENS_ERR_OTHER, &e.to_string());
        out.http_status = e.http_status().unwrap_or(0);
        out.attempts = e.attempts();
        out.status = match e {
            Error::Api(api) => {
                out.code = cstring(&api.code);
                out.request_id = cstring(&api.request_id);
                out.host_id = cstring(&api.host_id);
                out.recommend = cstring(&api.recommend);
                ens_status::ENS_ERR_API
            }
            Error::InvalidInput { field, .. } => {
                out.field = cstring(field);
                ens_status::ENS_ERR_INVALID_INPUT
            }
            Error::Config { .. } => ens_status::ENS_ERR_CONFIG,
            Error::Credentials { .. } => ens_status::ENS_ERR_CREDENTIALS,
            Error::NoCredentials { .. } => ens_status::ENS_ERR_NO_CREDENTIALS,
            Error::Transport { kind, .. } => {
                out.transport_kind = transport_kind(*kind);
                ens_status::ENS_ERR_TRANSPORT
            }
            Error::Redirect { .. } => ens_status::ENS_ERR_REDIRECT,
            Error::Decode { .. } => ens_status::ENS_ERR_DECODE,
            Error::ResponseTooLarge { .. } => ens_status::ENS_ERR_RESPONSE_TOO_LARGE,
            Error::Cancelled { bytes_done, total } => {
                out.upload.bytes_done = *bytes_done;
                out.upload.bytes_total = *total;
                ens_status::ENS_ERR_CANCELLED
            }
            Error::Integrity {
                what,
                local_crc64,
                server_crc64,
                request_id,
                ..
            } => {
                out.field = cstring(what);
                out.upload.local_crc64 = *local_crc64;
                out.upload.server_crc64 = *server_crc64;
                out.request_id = cstring(request_id);
                ens_status::ENS_ERR_INTEGRITY
            }
            Error::LocalIo { path, kind, .. } => {
                out.upload.path = cstring(&path.to_string_lossy());
                out.upload.io_kind = cstring(&format!("{kind:?}"));
                ens_status::ENS_ERR_LOCAL_IO
            }
            // For kinds the core adds later (the enum is non_exhaustive for
            // other crates, so this arm only looks unreachable from inside).
            #[allow(unreachable_patterns)]
            _ => ens_status::ENS_ERR_OTHER,
        };
        out
    }
}

fn transport_kind(kind: TransportKind) -> ens_transport_kind {
    use ens_transport_kind::*;
    match kind {
        TransportKind::Timeout => ENS_TRANSPORT_TIMEOUT,
        TransportKind::Dns => ENS_TRANSPORT_DNS,
        TransportKind::Connect => ENS_TRANSPORT_CONNECT,
        TransportKind::Tls => ENS_TRANSPORT_TLS,
        TransportKind::Protocol => ENS_TRANSPORT_PROTOCOL,
        TransportKind::Io => ENS_TRANSPORT_IO,
        // For kinds the core adds later.
        #[allow(unreachable_patterns)]
        _ => ENS_TRANSPORT_OTHER,
    }
}

type FfiResult<T> = Result<T, ens_error>;

/// Runs `body` at the boundary: clears `*err`, catches a panic, and on
/// failure stores the error in `*err` (when `err` is not NULL).
///
/// # Safety
/// `err` is NULL or valid for writing one pointer.
unsafe fn boundary(
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
            if !err.is_null() {
                // SAFETY: as above; the box is handed to the caller, who frees
                // it with ens_error_free.
                unsafe { *err = Box::into_raw(Box::new(e)) };
            }
            status
        }
    }
}

/// Runs `body` for a function that returns a value rather than a status;
/// a panic gives `fallback`.
fn guard<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// Sets an out-pointer to NULL when it is not NULL.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
unsafe fn clear_out<T>(out: *mut *mut T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable by this function's contract.
        unsafe { *out = ptr::null_mut() };
    }
}

/// Checks that an out-pointer is not NULL.
fn check_out<T>(out: *mut *mut T, func: &str, arg: &str) -> FfiResult<()> {
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
unsafe fn req_str<'a>(p: *const c_char, func: &str, arg: &str) -> FfiResult<&'a str> {
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
unsafe fn opt_str<'a>(p: *const c_char, func: &str, arg: &str) -> FfiResult<Option<&'a str>> {
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
unsafe fn handle<'a, T>(p: *const T, func: &str, arg: &str) -> FfiResult<&'a T> {
    // SAFETY: by this function's contract a non-NULL `p` is a live, shared `T`.
    unsafe { p.as_ref() }.ok_or_else(|| ens_error::null(func, arg))
}

/// The `(params, n_params)` array as key/value pairs.
///
/// # Safety
/// `params` is NULL or points to `n` readable `ens_param`s whose strings are
/// NULL or NUL-terminated, all live and unchanged for `'a`.
unsafe fn param_list<'a>(
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
unsafe fn str_field<T>(p: *const T, field: impl FnOnce(&T) -> &CString) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: by this function's contract a non-NULL `p` is a live `T`.
        match unsafe { p.as_ref() } {
            Some(obj) => field(obj).as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// Drops a boxed handle handed out by this module.
///
/// # Safety
/// `p` is NULL or came from `Box::into_raw` in this module and was not freed.
unsafe fn free_box<T>(p: *mut T) {
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

// ---------------------------------------------------------------------------
// Versions and status names

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

// ---------------------------------------------------------------------------
// The client builder

/// A new builder with the defaults: endpoint `https://ens.aliyuncs.com`,
/// credentials from the default chain, connect timeout 5 s, read timeout
/// 10 s, call timeout 30 s, proxy from the environment (`HTTPS_PROXY`,
/// `HTTP_PROXY`, `NO_PROXY`), the bundled root certificates.
///
/// Ownership: the caller owns the builder and passes it to
/// `ens_client_builder_build` (which consumes it) or `ens_client_builder_free`.
/// Returns NULL only if a panic was caught. Thread-safe (the new builder is
/// then for one thread at a time).
#[no_mangle]
pub extern "C" fn ens_client_builder_new() -> *mut ens_client_builder {
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(ens_client_builder {
            inner: ClientBuilder::default(),
            pending: Vec::new(),
        }))
    })
}

/// Frees a builder that was not passed to `ens_client_builder_build`.
/// NULL is allowed and does nothing. Not thread-safe with other uses of the
/// same builder.
///
/// # Safety
/// `builder` is NULL or a builder from `ens_client_builder_new` that was
/// neither built nor freed.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_free(builder: *mut ens_client_builder) {
    // SAFETY: forwarded contract.
    unsafe { free_box(builder) }
}

impl ens_client_builder {
    /// Applies a setting, or records why it failed. A later call for the
    /// same setting (good or bad) replaces the record.
    fn set(
        &mut self,
        setting: &'static str,
        change: FfiResult<impl FnOnce(ClientBuilder) -> ClientBuilder>,
    ) -> FfiResult<()> {
        self.pending.retain(|(s, _)| *s != setting);
        match change {
            Ok(f) => {
                let inner = std::mem::take(&mut self.inner);
                self.inner = f(inner);
                Ok(())
            }
            Err(e) => {
                self.pending.push((setting, e.clone()));
                Err(e)
            }
        }
    }
}

/// Runs a setter: checks the builder, applies or records the change.
///
/// # Safety
/// `builder` is NULL or a live builder not used by another thread.
unsafe fn setter<F: FnOnce(ClientBuilder) -> ClientBuilder>(
    func: &'static str,
    builder: *mut ens_client_builder,
    setting: &'static str,
    change: impl FnOnce() -> FfiResult<F>,
) -> ens_status {
    let body = || {
        // SAFETY: a non-NULL builder is live and used by this thread only (contract).
        let b = unsafe { builder.as_mut() }.ok_or_else(|| ens_error::null(func, "builder"))?;
        b.set(setting, change())
    };
    // SAFETY: a NULL `err` is never written through.
    unsafe { boundary(func, ptr::null_mut(), body) }
}

/// Sets the API endpoint, `http(s)://host[:port]` (default
/// `https://ens.aliyuncs.com`; plain `http` is for emulators and
/// TLS-terminating proxies). The URL is checked by `ens_client_builder_build`
/// (an invalid one gives `ENS_ERR_CONFIG` there).
///
/// `builder` and `url` are required; `url` is copied. Returns `ENS_OK`, or
/// `ENS_ERR_INVALID_ARGUMENT` for a NULL or non-UTF-8 argument.
///
/// A failed setter leaves the setting as it was and makes
/// `ens_client_builder_build` fail with the same error (with a message naming
/// the argument), unless a later call of a setter for the same setting
/// succeeds. So checking the result of build alone is enough. This holds for
/// every `ens_client_builder_set_*` function. Not thread-safe: one thread at
/// a time per builder.
///
/// # Safety
/// `builder` is NULL or a live builder; `url` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_endpoint(
    builder: *mut ens_client_builder,
    url: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_endpoint";
    let change = || {
        // SAFETY: forwarded contract.
        let url = unsafe { req_str(url, F, "url") }?;
        Ok(move |b: ClientBuilder| b.endpoint(url))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "endpoint", change) }
}

/// Sets the credentials: an AccessKey pair, or STS credentials when
/// `security_token` is not NULL. Replaces any earlier credentials setting.
///
/// `builder`, `access_key_id` and `access_key_secret` are required;
/// `security_token` may be NULL. All strings are copied; the secret and the
/// token never appear in any message. Empty values are refused by
/// `ens_client_builder_build` (`ENS_ERR_CREDENTIALS`). Returns `ENS_OK` or
/// `ENS_ERR_INVALID_ARGUMENT`. Failures are remembered as described at
/// `ens_client_builder_set_endpoint`. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder; each string is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_access_key(
    builder: *mut ens_client_builder,
    access_key_id: *const c_char,
    access_key_secret: *const c_char,
    security_token: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_access_key";
    let change = || {
        // SAFETY: forwarded contract (for the three strings).
        let (id, secret, token) = unsafe {
            (
                req_str(access_key_id, F, "access_key_id")?,
                req_str(access_key_secret, F, "access_key_secret")?,
                opt_str(security_token, F, "security_token")?,
            )
        };
        let creds = match token {
            Some(t) => Credentials::sts(id, secret, t),
            None => Credentials::access_key(id, secret),
        };
        Ok(move |b: ClientBuilder| b.credentials(creds))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "credentials", change) }
}

/// Reads the credentials from the environment now:
/// `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and, when
/// set, `ALIBABA_CLOUD_SECURITY_TOKEN` (STS). Replaces any earlier credentials
/// setting.
///
/// Returns `ENS_OK`, `ENS_ERR_CREDENTIALS` when the variables are not set or
/// only half set, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder. The
/// values are copied; the builder stays owned by the caller. Failures
/// are remembered as described at `ens_client_builder_set_endpoint`.
/// Reads the process environment: do not call it while another thread
/// changes the environment (setenv). Not thread-safe per builder.
///
/// Without any credentials setting, `ens_client_builder_build` runs the
/// whole default chain (environment, credentials file, aliyun CLI config).
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_credentials_from_env(
    builder: *mut ens_client_builder,
) -> ens_status {
    const F: &str = "ens_client_builder_set_credentials_from_env";
    let change = || {
        let creds = Credentials::from_env().map_err(|e| ens_error::from_error(&e))?;
        Ok(move |b: ClientBuilder| b.credentials(creds))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "credentials", change) }
}

/// Sets the profile that the default credential chain reads from the
/// credentials file and `~/.aliyun/config.json` (taking precedence over
/// `ALIBABA_CLOUD_PROFILE`). Used only when no credentials were set.
///
/// `builder` and `profile` are required; `profile` is copied. Returns
/// `ENS_OK` or `ENS_ERR_INVALID_ARGUMENT`. Failures are remembered as
/// described at `ens_client_builder_set_endpoint`. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder; `profile` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_profile(
    builder: *mut ens_client_builder,
    profile: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_profile";
    let change = || {
        // SAFETY: forwarded contract.
        let profile = unsafe { req_str(profile, F, "profile") }?;
        Ok(move |b: ClientBuilder| b.profile(profile))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "profile", change) }
}

fn timeout(func: &str, ms: u64) -> FfiResult<Duration> {
    if ms == 0 {
        return Err(ens_error::invalid_argument(
            func,
            "timeout_ms",
            "must be above 0",
        ));
    }
    let d = Duration::from_millis(ms);
    if d > crate::MAX_TIMEOUT {
        return Err(ens_error::invalid_argument(
            func,
            "timeout_ms",
            "must be at most 86400000 (one day)",
        ));
    }
    Ok(d)
}

/// Sets the overall limit for one call, from connecting to the last byte of
/// the response, in milliseconds (default 30000). A call that runs out fails
/// with `ENS_ERR_TRANSPORT` / `ENS_TRANSPORT_TIMEOUT`.
///
/// Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder or a
/// `timeout_ms` of 0 or over 86400000 (one day). The builder stays owned by the caller. Failures are
/// remembered as described at `ens_client_builder_set_endpoint`. Not
/// thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_timeout_ms(
    builder: *mut ens_client_builder,
    timeout_ms: u64,
) -> ens_status {
    const F: &str = "ens_client_builder_set_timeout_ms";
    let change = || {
        let d = timeout(F, timeout_ms)?;
        Ok(move |b: ClientBuilder| b.call_timeout(d))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "call timeout", change) }
}

/// Sets the time allowed to resolve the host and connect, TLS included, in
/// milliseconds (default 5000).
///
/// Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder or a
/// `timeout_ms` of 0 or over 86400000 (one day). The builder stays owned by the caller. Failures are
/// remembered as described at `ens_client_builder_set_endpoint`. Not
/// thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_connect_timeout_ms(
    builder: *mut ens_client_builder,
    timeout_ms: u64,
) -> ens_status {
    const F: &str = "ens_client_builder_set_connect_timeout_ms";
    let change = || {
        let d = timeout(F, timeout_ms)?;
        Ok(move |b: ClientBuilder| b.connect_timeout(d))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "connect timeout", change) }
}

/// Sets the time allowed to wait for the response headers, and again for
/// the body, in milliseconds (default 10000).
///
/// Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder or a
/// `timeout_ms` of 0 or over 86400000 (one day). The builder stays owned by the caller. Failures are
/// remembered as described at `ens_client_builder_set_endpoint`. Not
/// thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_read_timeout_ms(
    builder: *mut ens_client_builder,
    timeout_ms: u64,
) -> ens_status {
    const F: &str = "ens_client_builder_set_read_timeout_ms";
    let change = || {
        let d = timeout(F, timeout_ms)?;
        Ok(move |b: ClientBuilder| b.read_timeout(d))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "read timeout", change) }
}

/// Trusts only the certificates of this PEM file, not the bundled roots
/// (like curl's `CURLOPT_CAINFO`). Replaces any earlier CA setting. The file
/// is read by `ens_client_builder_build`: a missing or empty file gives
/// `ENS_ERR_CONFIG` there.
///
/// `builder` and `pem_path` are required; the path must be UTF-8 and is
/// copied. Returns `ENS_OK` or `ENS_ERR_INVALID_ARGUMENT`. Failures are
/// remembered as described at `ens_client_builder_set_endpoint`. Not
/// thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder; `pem_path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_ca_file(
    builder: *mut ens_client_builder,
    pem_path: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_ca_file";
    let change = || {
        // SAFETY: forwarded contract.
        let path = unsafe { req_str(pem_path, F, "pem_path") }?;
        Ok(move |b: ClientBuilder| b.ca_file_only(path))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "ca", change) }
}

/// Trusts the certificates of this PEM file besides the bundled roots (for
/// a TLS-inspecting proxy's CA, say). Replaces any earlier CA setting. The
/// file is read by `ens_client_builder_build`: a missing or empty file gives
/// `ENS_ERR_CONFIG` there.
///
/// `builder` and `pem_path` are required; the path must be UTF-8 and is
/// copied. Returns `ENS_OK` or `ENS_ERR_INVALID_ARGUMENT`. Failures are
/// remembered as described at `ens_client_builder_set_endpoint`. Not
/// thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder; `pem_path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_add_ca_file(
    builder: *mut ens_client_builder,
    pem_path: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_add_ca_file";
    let change = || {
        // SAFETY: forwarded contract.
        let path = unsafe { req_str(pem_path, F, "pem_path") }?;
        Ok(move |b: ClientBuilder| b.add_ca_file(path))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "ca", change) }
}

/// Sends every request through this HTTP proxy,
/// `http://[user:password@]host:port`, whatever the environment says.
/// Replaces any earlier proxy setting. The URL is checked by
/// `ens_client_builder_build` (`ENS_ERR_CONFIG`; a password in it never
/// appears in a message).
///
/// `builder` and `proxy_url` are required (to use no proxy at all, call
/// `ens_client_builder_set_no_proxy`); the URL is copied. Returns `ENS_OK`
/// or `ENS_ERR_INVALID_ARGUMENT`. Failures are remembered as described at
/// `ens_client_builder_set_endpoint`. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder; `proxy_url` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_proxy(
    builder: *mut ens_client_builder,
    proxy_url: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_proxy";
    let change = || {
        // SAFETY: forwarded contract.
        let url = unsafe { req_str(proxy_url, F, "proxy_url") }?;
        Ok(move |b: ClientBuilder| b.proxy(url))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "proxy", change) }
}

/// Never uses a proxy, whatever `HTTPS_PROXY` / `HTTP_PROXY` say. Replaces
/// any earlier proxy setting. Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT`
/// for a NULL builder. The builder stays owned by the caller. Not
/// thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_no_proxy(
    builder: *mut ens_client_builder,
) -> ens_status {
    const F: &str = "ens_client_builder_set_no_proxy";
    // SAFETY: forwarded contract.
    unsafe { setter(F, builder, "proxy", || Ok(|b: ClientBuilder| b.no_proxy())) }
}

/// Sets how many idle keep-alive connections the client keeps (default 8;
/// 0 keeps none). Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL
/// builder. The builder stays owned by the caller. Not thread-safe per
/// builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_max_idle_connections(
    builder: *mut ens_client_builder,
    max_idle: usize,
) -> ens_status {
    const F: &str = "ens_client_builder_set_max_idle_connections";
    let change = || Ok(move |b: ClientBuilder| b.max_idle_connections(max_idle));
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "max idle connections", change) }
}

/// Sets how many times a failed call is tried again (default 3; 0 turns
/// retries off). Retried: connection failures and timeouts, HTTP 5xx, and the
/// `Throttling*` and `ServiceUnavailable` codes; every attempt is signed anew,
/// and all attempts together stay within the call timeout. Returns `ENS_OK`,
/// or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder. The builder stays owned
/// by the caller. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_retries(
    builder: *mut ens_client_builder,
    max_retries: u32,
) -> ens_status {
    const F: &str = "ens_client_builder_set_retries";
    let change = || Ok(move |b: ClientBuilder| b.retries(max_retries));
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "retries", change) }
}

/// Sets the backoff between retries, in milliseconds: the first wait is drawn
/// at random below `base_delay_ms` (default 200), the ceiling doubles with
/// every retry, and no wait exceeds `max_delay_ms` (default 5000). A server's
/// `Retry-After` is honoured instead when it sends one. 0 is allowed (no
/// wait). Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder.
/// The builder stays owned by the caller. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_retry_backoff_ms(
    builder: *mut ens_client_builder,
    base_delay_ms: u64,
    max_delay_ms: u64,
) -> ens_status {
    const F: &str = "ens_client_builder_set_retry_backoff_ms";
    let change = || {
        Ok(move |b: ClientBuilder| {
            b.retry_base_delay(Duration::from_millis(base_delay_ms))
                .retry_max_delay(Duration::from_millis(max_delay_ms))
        })
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "retry backoff", change) }
}

/// Checks the configuration and builds a client.
///
/// Consumes `builder` whatever the result (even when `client_out` is NULL):
/// do not use or free it afterwards. On `ENS_OK`, `*client_out` is a new
/// client that the caller frees with `ens_client_free`; otherwise
/// `*client_out` is NULL (when `client_out` is not NULL).
///
/// Errors: the first remembered setter failure, if any (see
/// `ens_client_builder_set_endpoint`); `ENS_ERR_CONFIG` (endpoint URL, proxy
/// URL, CA file, timeout); `ENS_ERR_CREDENTIALS` / `ENS_ERR_NO_CREDENTIALS`
/// (when no credentials were set, the default chain runs now and may read
/// the environment and files); `ENS_ERR_INVALID_ARGUMENT` for a NULL
/// `builder` or `client_out`. `err` may be NULL; otherwise `*err` is set as
/// for every fallible function. Thread-safe with respect to other builders.
///
/// # Safety
/// `builder` is NULL or a live builder not used by another thread;
/// `client_out` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_build(
    builder: *mut ens_client_builder,
    client_out: *mut *mut ens_client,
    err: *mut *mut ens_error,
) -> ens_status {
    const F: &str = "ens_client_builder_build";
    // SAFETY: `client_out` is NULL or writable (contract).
    unsafe { clear_out(client_out) };
    let body = || {
        if builder.is_null() {
            return Err(ens_error::null(F, "builder"));
        }
        // SAFETY: a live builder from ens_client_builder_new (contract);
        // ownership passes to us here, so it is freed on every path below.
        let b = unsafe { Box::from_raw(builder) };
        check_out(client_out, F, "client_out")?;
        let ens_client_builder { inner, pending } = *b;
        if let Some((_, e)) = pending.into_iter().next() {
            return Err(e);
        }
        let client = inner.build().map_err(|e| ens_error::from_error(&e))?;
        let endpoint = cstring(client.endpoint());
        let handle = Box::into_raw(Box::new(ens_client { client, endpoint }));
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { *client_out = handle };
        Ok(())
    };
    // SAFETY: `err` is NULL or writable (contract).
    unsafe { boundary(F, err, body) }
}

// ---------------------------------------------------------------------------
// The client

/// Frees a client. NULL is allowed and does nothing. Call it once, after
/// every call on this client (from any thread) has returned; results and
/// errors obtained from the client stay valid (they own their strings). Not
/// thread-safe with other uses of the same client: no other thread may be
/// using it during or after this call.
///
/// # Safety
/// `client` is NULL or a client from `ens_client_builder_build` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ens_client_free(client: *mut ens_client) {
    // SAFETY: forwarded contract.
    unsafe { free_box(client) }
}

/// The endpoint the client sends to, e.g. `"https://ens.aliyuncs.com"`.
/// Owned by the client (valid until `ens_client_free`); `""` for NULL.
/// Thread-safe.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn ens_client_endpoint(client: *const ens_client) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(client, |c| &c.endpoint) }
}

/// How many seconds the server's clock is ahead of this machine's (negative
/// when behind), as the client learned it from the server's `Date` headers:
/// every call signs its timestamp with this correction, so a device whose
/// clock is hours off still works (the first call refused for its timestamp
/// is retried once, corrected). 0 until a difference of more than a few
/// minutes was seen, and 0 for NULL. The client stays owned by the caller.
/// Thread-safe.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn ens_client_clock_offset(client: *const ens_client) -> i64 {
    guard(0, || {
        // SAFETY: a non-NULL `client` is a live client (contract).
        unsafe { client.as_ref() }.map_or(0, |c| c.client.clock_offset())
    })
}

/// Asks ENS where to upload (`PrepareUpload`). Blocks until the answer, an
/// error, or the call timeout.
///
/// - `client`: required; not consumed.
/// - `bucket_name`: required UTF-8; checked before sending (non-empty, at
///   most 255 bytes, no control characters: else `ENS_ERR_INVALID_INPUT`
///   with field `BucketName`, and nothing is sent).
/// - `client_ip`: the IPv4 or IPv6 address of the device that will upload,
///   or NULL to leave it out (else `ENS_ERR_INVALID_INPUT`, field `ClientIp`).
/// - `result_out`: required; set to NULL first, then on `ENS_OK` to a new
///   result owned by the caller (free it with `ens_prepare_upload_result_free`).
/// - `err`: may be NULL; otherwise set as for every fallible function.
///
/// Strings are only borrowed during the call. Thread-safe: many threads may
/// call this at once with the same client.
///
/// # Safety
/// `client` is NULL or a live client; the strings are NULL or
/// NUL-terminated; `result_out` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ens_prepare_upload(
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    result_out: *mut *mut ens_prepare_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    // SAFETY: forwarded contract, with no extra parameters.
    unsafe {
        prepare_upload(
            "ens_prepare_upload",
            client,
            bucket_name,
            client_ip,
            ptr::null(),
            0,
            result_out,
            err,
        )
    }
}

/// `ens_prepare_upload` with extra request parameters sent as they are
/// (older SDKs send `EnsRegionId`, `Station`, `ObjectKey`...; a later value
/// for the same key replaces an earlier one; `BucketName` and `ClientIp`
/// are refused here with `ENS_ERR_INVALID_INPUT`).
///
/// `params` may be NULL only when `n_params` is 0; each key and value is
/// required UTF-8 (a NULL or bad one gives `ENS_ERR_INVALID_ARGUMENT` naming
/// `params[i].key` or `params[i].value`); the array and its strings are
/// borrowed for the call only. Everything else as `ens_prepare_upload`:
/// `*result_out` is owned by the caller on `ENS_OK`. Thread-safe: many
/// threads may call this at once with the same client.
///
/// # Safety
/// As `ens_prepare_upload`; `params` is NULL or points to `n_params`
/// readable elements.
#[no_mangle]
pub unsafe extern "C" fn ens_prepare_upload_with_params(
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    params: *const ens_param,
    n_params: usize,
    result_out: *mut *mut ens_prepare_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    // SAFETY: forwarded contract.
    unsafe {
        prepare_upload(
            "ens_prepare_upload_with_params",
            client,
            bucket_name,
            client_ip,
            params,
            n_params,
            result_out,
            err,
        )
    }
}

/// The body of both PrepareUpload entry points.
///
/// # Safety
/// As `ens_prepare_upload_with_params`.
#[allow(clippy::too_many_arguments)]
unsafe fn prepare_upload(
    func: &'static str,
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    params: *const ens_param,
    n_params: usize,
    result_out: *mut *mut ens_prepare_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    // SAFETY: `result_out` is NULL or writable (contract).
    unsafe { clear_out(result_out) };
    let body = || {
        // SAFETY: the pointers are NULL or valid for the whole call (contract).
        let (client, bucket, ip, extra) = unsafe {
            (
                handle(client, func, "client")?,
                req_str(bucket_name, func, "bucket_name")?,
                opt_str(client_ip, func, "client_ip")?,
                param_list(params, n_params, func)?,
            )
        };
        check_out(result_out, func, "result_out")?;
        let mut request = PrepareUploadRequest::new(bucket);
        if let Some(ip) = ip {
            request = request.client_ip(ip);
        }
        for (k, v) in extra {
            request = request.param(k, v);
        }
        let PrepareUploadResponse {
            request_id,
            bucket_name,
            endpoint,
            ..
        } = client
            .client
            .prepare_upload(&request)
            .map_err(|e| ens_error::from_error(&e))?;
        let result = Box::into_raw(Box::new(ens_prepare_upload_result {
            bucket_name: cstring(&bucket_name),
            endpoint: cstring(&endpoint),
            request_id: cstring(&request_id),
        }));
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { *result_out = result };
        Ok(())
    };
    // SAFETY: `err` is NULL or writable (contract).
    unsafe { boundary(func, err, body) }
}

/// Signs and sends any ENS 2017-11-10 action and hands back its JSON answer.
///
/// - `client`: required. `action`: required UTF-8, e.g. `"PrepareUpload"`
///   (ASCII letters and digits only, else `ENS_ERR_INVALID_INPUT`).
/// - `params`/`n_params`: the action's own parameters; `params` may be NULL
///   only when `n_params` is 0. The common ones (`Action`, `Version`,
///   `Timestamp`, `Signature`, `AccessKeyId`, `SecurityToken`...) are added by
///   the client and refused here (`ENS_ERR_INVALID_INPUT`).
/// - `json_out`: required; set to NULL first, then on `ENS_OK` to a new
///   NUL-terminated UTF-8 string holding the JSON object, owned by the caller
///   and freed with `ens_string_free` (not `free`).
/// - `err`: may be NULL; otherwise set as for every fallible function.
///
/// Thread-safe: many threads may call this at once with the same client.
///
/// # Safety
/// `client` is NULL or a live client; `action` is NULL or NUL-terminated;
/// `params` is NULL or points to `n_params` readable elements; `json_out`
/// and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ens_call(
    client: *const ens_client,
    action: *const c_char,
    params: *const ens_param,
    n_params: usize,
    json_out: *mut *mut c_char,
    err: *mut *mut ens_error,
) -> ens_status {
    const F: &str = "ens_call";
    // SAFETY: `json_out` is NULL or writable (contract).
    unsafe { clear_out(json_out) };
    let body = || {
        // SAFETY: the pointers are NULL or valid for the whole call (contract).
        let (client, action, params) = unsafe {
            (
                handle(client, F, "client")?,
                req_str(action, F, "action")?,
                param_list(params, n_params, F)?,
            )
        };
        check_out(json_out, F, "json_out")?;
        let value = client
            .client
            .call(action, &params)
            .map_err(|e| ens_error::from_error(&e))?;
        let json = cstring(&value.to_string()).into_raw();
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { *json_out = json };
        Ok(())
    };
    // SAFETY: `err` is NULL or writable (contract).
    unsafe { boundary(F, err, body) }
}

/// Frees a string handed out by this library (the JSON of `ens_call`).
/// NULL is allowed and does nothing. Thread-safe for distinct strings.
///
/// # Safety
/// `s` is NULL or a string from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ens_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `s` came from CString::into_raw in ens_call and returns here once.
        drop(unsafe { CString::from_raw(s) });
    }));
}

// ---------------------------------------------------------------------------
// PrepareUpload results

/// The physical bucket to upload to (give this one to OSS, not the one
/// asked for). Owned by the result; `""` for NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_prepare_upload_result_bucket_name(
    result: *const ens_prepare_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.bucket_name) }
}

/// The OSS endpoint to upload to, e.g. `"eos.aliyuncs.com"`. Owned by the
/// result; `""` for NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_prepare_upload_result_endpoint(
    result: *const ens_prepare_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.endpoint) }
}

/// The request id (quote it to support). Owned by the result; `""` for
/// NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_prepare_upload_result_request_id(
    result: *const ens_prepare_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.request_id) }
}

/// Frees a result and the strings its accessors returned. NULL is allowed
/// and does nothing. Call it once, from any thread, when no other thread
/// still reads the result (it is not thread-safe with such reads).
///
/// # Safety
/// `result` is NULL or a result from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ens_prepare_upload_result_free(result: *mut ens_prepare_upload_result) {
    // SAFETY: forwarded contract.
    unsafe { free_box(result) }
}

// ---------------------------------------------------------------------------
// Uploads

/// New upload options with the defaults: 8 MiB parts above 8 MiB (one
/// PutObject up to that), 2 threads, no checkpoint, virtual-hosted
/// addressing (path style anyway for an IP address or `localhost`), the
/// client's scheme, `application/octet-stream`, the client's read timeout
/// as stall timeout.
///
/// Ownership: the caller owns the options and frees them with
/// `ens_upload_options_free`; `ens_upload_file` only reads them. Returns
/// NULL only if a panic was caught. Thread-safe (the new options are then
/// for one thread at a time while being set up).
#[no_mangle]
pub extern "C" fn ens_upload_options_new() -> *mut ens_upload_options {
    guard(ptr::null_mut(), || {
        Box::into_raw(Box::new(ens_upload_options {
            inner: UploadOptions::new(),
            checkpoint: None,
            https: None,
            pending: Vec::new(),
        }))
    })
}

/// Frees upload options. NULL is allowed and does nothing. Not thread-safe
/// with other uses of the same options: no `ens_upload_file` may be reading
/// them.
///
/// # Safety
/// `options` is NULL or options from `ens_upload_options_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_free(options: *mut ens_upload_options) {
    // SAFETY: forwarded contract.
    unsafe { free_box(options) }
}

impl ens_upload_options {
    /// The options for one call, without a progress callback.
    fn effective(&self) -> UploadOptions {
        let mut o = self.inner.clone();
        if let Some(path) = &self.checkpoint {
            o = o.checkpoint(path.clone());
        }
        if let Some(https) = self.https {
            o = o.https(https);
        }
        o
    }
}

/// What an upload options setter does to the options, once its arguments
/// were checked.
type OptionsChange = Box<dyn FnOnce(&mut ens_upload_options)>;

/// Runs an upload options setter: checks the options, applies the change to
/// a copy, checks the result against OSS's limits (`UploadOptions::validate`)
/// and keeps it, or records the failure for `ens_upload_file`.
///
/// # Safety
/// `options` is NULL or live options not used by another thread.
unsafe fn options_setter(
    func: &'static str,
    options: *mut ens_upload_options,
    setting: &'static str,
    change: impl FnOnce() -> FfiResult<OptionsChange>,
) -> ens_status {
    let body = || {
        // SAFETY: non-NULL options are live and used by this thread only (contract).
        let o = unsafe { options.as_mut() }.ok_or_else(|| ens_error::null(func, "options"))?;
        o.pending.retain(|(s, _)| *s != setting);
        let checked = change().and_then(|apply| {
            let mut trial = ens_upload_options {
                inner: o.inner.clone(),
                checkpoint: o.checkpoint.clone(),
                https: o.https,
                pending: Vec::new(),
            };
            apply(&mut trial);
            trial.effective().validate().map_err(|e| {
                let mut err = ens_error::from_error(&e);
                err.message = cstring(&format!("{func}: {e}"));
                err
            })?;
            Ok(trial)
        });
        match checked {
            Ok(trial) => {
                o.inner = trial.inner;
                o.checkpoint = trial.checkpoint;
                o.https = trial.https;
                Ok(())
            }
            Err(e) => {
                o.pending.push((setting, e.clone()));
                Err(e)
            }
        }
    };
    // SAFETY: a NULL `err` is never written through.
    unsafe { boundary(func, ptr::null_mut(), body) }
}

/// Sets the part size in bytes for multipart uploads (default 8 MiB;
/// 102400 (100 KiB) to 5 GiB, else `ENS_ERR_INVALID_INPUT` with field
/// `"part size"`). It grows by itself when the file would need more than
/// 10,000 parts; a resumed upload keeps the part size it started with.
///
/// Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT`, or `ENS_ERR_INVALID_ARGUMENT`
/// for NULL `options`. A failed setter leaves the setting as it was and makes
/// `ens_upload_file` fail with the same error, unless a later call for the
/// same setting succeeds: checking the result of `ens_upload_file` alone is
/// enough. This holds for every `ens_upload_options_set_*` function. The
/// options stay owned by the caller. Not thread-safe: one thread at a time
/// per options object, and not while an upload reads them.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_part_size(
    options: *mut ens_upload_options,
    bytes: u64,
) -> ens_status {
    const F: &str = "ens_upload_options_set_part_size";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().part_size(bytes)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "part size", change) }
}

/// Files larger than this many bytes go in parts, others in one PutObject
/// (default 8 MiB; files over 5 GiB always go in parts). Any value is
/// accepted. Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for NULL
/// `options`. The options stay owned by the caller. Not thread-safe per
/// options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_multipart_threshold(
    options: *mut ens_upload_options,
    bytes: u64,
) -> ens_status {
    const F: &str = "ens_upload_options_set_multipart_threshold";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().multipart_threshold(bytes)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "multipart threshold", change) }
}

/// How many parts are sent at once, on threads the library starts and joins
/// within the call (default 2; 1 to 64, else `ENS_ERR_INVALID_INPUT` with
/// field `"threads"`). Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT`, or
/// `ENS_ERR_INVALID_ARGUMENT` for NULL `options`; failures are remembered
/// as described at `ens_upload_options_set_part_size`. The options stay
/// owned by the caller. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_threads(
    options: *mut ens_upload_options,
    threads: usize,
) -> ens_status {
    const F: &str = "ens_upload_options_set_threads";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().threads(threads)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "threads", change) }
}

/// Where to keep the resume state of a multipart upload, or NULL for none
/// (the default). The file is written atomically after every part and
/// removed on success; calling `ens_upload_file` again with the same file,
/// key, bucket and checkpoint after a crash, a cancel or a network loss
/// resumes where it stopped (`ens_upload_result_resumed_parts`). A checkpoint
/// that does not match the file is discarded and the upload starts over.
/// Files that go in one PutObject write none. A file at that path that is
/// not a checkpoint (and not empty), or is the file being uploaded, is never
/// overwritten: `ens_upload_file` fails with `ENS_ERR_INVALID_INPUT` (field
/// `"checkpoint"`) before sending anything.
///
/// `options` is required; `checkpoint_path` may be NULL, else UTF-8 naming
/// a file (not `""` or `/`: `ENS_ERR_INVALID_INPUT`, field `"checkpoint"`),
/// and is copied. Its directory must exist and be writable. Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` or
/// `ENS_ERR_INVALID_ARGUMENT`; failures are remembered as described at
/// `ens_upload_options_set_part_size`. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `checkpoint_path` is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_checkpoint(
    options: *mut ens_upload_options,
    checkpoint_path: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_set_checkpoint";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let path = unsafe { opt_str(checkpoint_path, F, "checkpoint_path") }?.map(PathBuf::from);
        Ok(Box::new(move |o| o.checkpoint = path))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "checkpoint", change) }
}

/// Path-style addressing (`http(s)://<endpoint>/<bucket>/<key>`) when
/// `path_style` is non-zero, virtual-hosted (`<bucket>.<endpoint>`, the
/// default) when 0. Path style is used anyway when the endpoint is an IP
/// address or `localhost`. Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT`
/// for NULL `options`. The options stay owned by the caller. Not thread-safe
/// per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_path_style(
    options: *mut ens_upload_options,
    path_style: c_int,
) -> ens_status {
    const F: &str = "ens_upload_options_set_path_style";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().path_style(path_style != 0)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "path style", change) }
}

/// The scheme of the upload: `https` > 0 forces https, 0 forces http, < 0
/// follows the client's endpoint (the default). Returns `ENS_OK`, or
/// `ENS_ERR_INVALID_ARGUMENT` for NULL `options`. The options stay owned by
/// the caller. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_https(
    options: *mut ens_upload_options,
    https: c_int,
) -> ens_status {
    const F: &str = "ens_upload_options_set_https";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.https = match https {
                i if i < 0 => None,
                0 => Some(false),
                _ => Some(true),
            }
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "https", change) }
}

/// The object's `Content-Type` (default `application/octet-stream`).
///
/// `options` and `content_type` are required; `content_type` is UTF-8
/// without control characters (else `ENS_ERR_INVALID_INPUT`, field
/// `"content type"`) and is copied. Returns `ENS_OK`,
/// `ENS_ERR_INVALID_INPUT` or `ENS_ERR_INVALID_ARGUMENT`; failures are
/// remembered as described at `ens_upload_options_set_part_size`. Not
/// thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `content_type` is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_content_type(
    options: *mut ens_upload_options,
    content_type: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_set_content_type";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let ct = unsafe { req_str(content_type, F, "content_type") }?.to_owned();
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().content_type(ct)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "content type", change) }
}

/// A body transfer that makes no progress (no byte written or read) for
/// `timeout_ms` milliseconds fails and is retried under the client's retry
/// policy (default: the client's read timeout). There is no overall limit on
/// a transfer: a large part on a slow link may take long.
///
/// Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` for 0 (field
/// `"stall timeout"`), or `ENS_ERR_INVALID_ARGUMENT` for NULL `options`;
/// failures are remembered as described at
/// `ens_upload_options_set_part_size`. The options stay owned by the caller.
/// Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_stall_timeout_ms(
    options: *mut ens_upload_options,
    timeout_ms: u64,
) -> ens_status {
    const F: &str = "ens_upload_options_set_stall_timeout_ms";
    let change = || -> FfiResult<OptionsChange> {
        let d = Duration::from_millis(timeout_ms);
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().stall_timeout(d)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "stall timeout", change) }
}

/// The `user_data` of a C progress callback, carried into the Rust closure
/// that `UploadOptions::on_progress` wants (`Send + 'static`).
struct UserData(*mut c_void);

// SAFETY: the pointer is only ever passed back to the C callback, which the
// upload calls on the thread that called `ens_upload_file`
// (`upload::workers` delivers progress to the caller's thread), and never
// after `ens_upload_file` returned (the closure holding it is dropped with
// the per-call options before that). So the pointer does not actually cross
// threads; `Send` is only what the Rust API's signature asks for.
unsafe impl Send for UserData {}

impl UserData {
    /// The pointer. A method, so closures capture the whole `Send` wrapper
    /// rather than its (non-`Send`) field.
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// The Rust progress closure for a C callback: 0 goes on, non-zero cancels.
fn c_progress(
    cb: unsafe extern "C" fn(u64, u64, *mut c_void) -> c_int,
    user_data: *mut c_void,
) -> Box<ProgressFn> {
    let user_data = UserData(user_data);
    Box::new(move |done, total| {
        // SAFETY: `ens_upload_file`'s caller promised a valid callback that
        // accepts this `user_data` for the duration of the call, and the
        // closure only runs during it, on the caller's thread.
        let answer = unsafe { cb(done, total, user_data.get()) };
        ProgressAction::from(answer == 0)
    })
}

/// Asks ENS where to upload (`PrepareUpload`), then uploads the file at
/// `path` there as `object_key`: in one PutObject, or in parts on several
/// threads (resumable with a checkpoint), every body's CRC-64 checked against
/// the server's. Blocks until the object is stored, an error, or a cancel
/// from the callback. Retries follow the client's settings.
///
/// - `client`: required; not consumed.
/// - `bucket_name`, `client_ip`: as `ens_prepare_upload` (`client_ip` may be
///   NULL).
/// - `object_key`: required UTF-8: 1 to 1023 bytes, not starting with `/` or
///   `\`, no control characters, no `.` or `..` segment (else
///   `ENS_ERR_INVALID_INPUT`, field `"object key"`).
/// - `path`: required UTF-8; the regular file to upload (else
///   `ENS_ERR_LOCAL_IO`, see `ens_error_path`).
/// - `options`: may be NULL for the defaults (see `ens_upload_options_new`);
///   only read, so one options object may serve concurrent uploads. A
///   setter that failed on it makes this call fail with that error.
/// - `progress`: may be NULL; see `ens_progress_cb`. It is called on the
///   calling thread, never concurrently, never after this function returns.
/// - `user_data`: passed to `progress` as is, never read or freed here; may
///   be NULL.
/// - `result_out`: required; set to NULL first, then on `ENS_OK` to a new
///   result owned by the caller (free it with `ens_upload_result_free`).
/// - `err`: may be NULL; otherwise set as for every fallible function.
///
/// Errors besides those of `ens_prepare_upload`: `ENS_ERR_INVALID_INPUT`
/// (key, options) and `ENS_ERR_LOCAL_IO` before anything is sent;
/// `ENS_ERR_API` for OSS's error answers (with its code and request id);
/// `ENS_ERR_TRANSPORT`; `ENS_ERR_INTEGRITY`; `ENS_ERR_CANCELLED`.
/// Bad input is refused before anything is sent. Strings are only borrowed
/// during the call. Thread-safe: many threads may upload at once with the
/// same client (and the same options).
///
/// # Safety
/// `client` is NULL or a live client; the strings are NULL or
/// NUL-terminated; `options` is NULL or live options no other thread
/// changes during the call; `progress` is NULL or a function that may be
/// called with `user_data` during the call; `result_out` and `err` are NULL
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_file(
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    object_key: *const c_char,
    path: *const c_char,
    options: *const ens_upload_options,
    progress: ens_progress_cb,
    user_data: *mut c_void,
    result_out: *mut *mut ens_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    let progress = progress.map(|cb| c_progress(cb, user_data));
    // SAFETY: forwarded contract.
    unsafe {
        upload_file(
            "ens_upload_file",
            client,
            bucket_name,
            client_ip,
            object_key,
            path,
            options,
            progress,
            result_out,
            err,
        )
    }
}

/// The body of `ens_upload_file`, with the progress callback already a
/// Rust closure (so tests can pass one that panics).
///
/// # Safety
/// As `ens_upload_file`.
#[allow(clippy::too_many_arguments)]
unsafe fn upload_file(
    func: &'static str,
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    object_key: *const c_char,
    path: *const c_char,
    options: *const ens_upload_options,
    progress: Option<Box<ProgressFn>>,
    result_out: *mut *mut ens_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    // SAFETY: `result_out` is NULL or writable (contract).
    unsafe { clear_out(result_out) };
    let body = move || {
        // SAFETY: the pointers are NULL or valid for the whole call (contract).
        let (client, bucket, ip, key, path, options) = unsafe {
            (
                handle(client, func, "client")?,
                req_str(bucket_name, func, "bucket_name")?,
                opt_str(client_ip, func, "client_ip")?,
                req_str(object_key, func, "object_key")?,
                req_str(path, func, "path")?,
                options.as_ref(),
            )
        };
        check_out(result_out, func, "result_out")?;
        let mut opts = match options {
            Some(o) => {
                if let Some((_, e)) = o.pending.first() {
                    return Err(e.clone());
                }
                o.effective()
            }
            None => UploadOptions::new(),
        };
        if let Some(f) = progress {
            opts = opts.on_progress(f);
        }
        let mut request = PrepareUploadRequest::new(bucket);
        if let Some(ip) = ip {
            request = request.client_ip(ip);
        }
        let out = client
            .client
            .upload_file(&request, key, path, &opts)
            .map_err(|e| ens_error::from_error(&e))?;
        // The closure (and the user_data it holds) goes before returning.
        drop(opts);
        let UploadResult {
            bucket,
            endpoint,
            key,
            url,
            size,
            etag,
            crc64,
            prepare_request_id,
            request_id,
            upload_id,
            parts,
            resumed_parts,
            ..
        } = out;
        let result = Box::into_raw(Box::new(ens_upload_result {
            bucket: cstring(&bucket),
            endpoint: cstring(&endpoint),
            key: cstring(&key),
            url: cstring(&url),
            etag: cstring(&etag),
            prepare_request_id: cstring(&prepare_request_id),
            request_id: cstring(&request_id),
            upload_id: cstring(upload_id.as_deref().unwrap_or_default()),
            size,
            crc64,
            parts,
            resumed_parts,
        }));
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { *result_out = result };
        Ok(())
    };
    // SAFETY: `err` is NULL or writable (contract).
    unsafe { boundary(func, err, body) }
}

/// The bucket the object is in (the one `PrepareUpload` returned, not the
/// one asked for). Owned by the result; `""` for NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_bucket(
    result: *const ens_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.bucket) }
}

/// The OSS endpoint it was uploaded to, `host[:port]`. Owned by the result;
/// `""` for NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_endpoint(
    result: *const ens_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.endpoint) }
}

/// The object key. Owned by the result; `""` for NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_key(result: *const ens_upload_result) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.key) }
}

/// The object's URL (unsigned), e.g.
/// `"https://<bucket>.<endpoint>/<key>"`. Owned by the result; `""` for NULL.
/// Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_url(result: *const ens_upload_result) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.url) }
}

/// The server's ETag, without quotes. Owned by the result; `""` for NULL.
/// Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_etag(result: *const ens_upload_result) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.etag) }
}

/// The request id of the `PrepareUpload` call. Owned by the result; `""` for
/// NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_prepare_request_id(
    result: *const ens_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.prepare_request_id) }
}

/// The OSS request id of the PutObject or CompleteMultipartUpload (quote it
/// to support). Owned by the result; `""` for NULL. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_request_id(
    result: *const ens_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.request_id) }
}

/// The multipart upload id; `""` for a single PutObject and for NULL. Owned
/// by the result. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_upload_id(
    result: *const ens_upload_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(result, |r| &r.upload_id) }
}

/// Reads a number from a result; 0 for NULL.
///
/// # Safety
/// `result` is NULL or a live result.
unsafe fn result_number<T: Default>(
    result: *const ens_upload_result,
    field: impl FnOnce(&ens_upload_result) -> T,
) -> T {
    guard(T::default(), || {
        // SAFETY: a non-NULL `result` is a live result (contract).
        unsafe { result.as_ref() }.map_or_else(T::default, field)
    })
}

/// The object's size in bytes; 0 for NULL. The result stays owned by the
/// caller. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_size(result: *const ens_upload_result) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { result_number(result, |r| r.size) }
}

/// The object's CRC-64/ECMA-182 (as OSS's `x-oss-hash-crc64ecma`, also known
/// as CRC-64/XZ), computed here and confirmed by the server; 0 for NULL (and
/// for an empty object). The result stays owned by the caller. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_crc64(result: *const ens_upload_result) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { result_number(result, |r| r.crc64) }
}

/// How many parts the object has: 0 for a single PutObject and for NULL. The
/// result stays owned by the caller. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_parts(result: *const ens_upload_result) -> u32 {
    // SAFETY: forwarded contract.
    unsafe { result_number(result, |r| r.parts) }
}

/// How many of the parts an earlier, interrupted call (same checkpoint) had
/// sent already; 0 for a fresh upload and for NULL. The result stays owned
/// by the caller. Thread-safe.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_resumed_parts(result: *const ens_upload_result) -> u32 {
    // SAFETY: forwarded contract.
    unsafe { result_number(result, |r| r.resumed_parts) }
}

/// Frees an upload result and the strings its accessors returned. NULL is
/// allowed and does nothing. Call it once, from any thread, when no other
/// thread still reads the result (it is not thread-safe with such reads).
///
/// # Safety
/// `result` is NULL or a result from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_result_free(result: *mut ens_upload_result) {
    // SAFETY: forwarded contract.
    unsafe { free_box(result) }
}

// ---------------------------------------------------------------------------
// Errors

/// The error's kind; `ENS_OK` for NULL (no error). The error stays owned
/// by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_status(err: *const ens_error) -> ens_status {
    guard(ens_status::ENS_ERR_PANIC, || {
        // SAFETY: a non-NULL `err` is a live error (contract).
        unsafe { err.as_ref() }.map_or(ens_status::ENS_OK, |e| e.status)
    })
}

/// The HTTP status of the response, when the server answered
/// (`ENS_ERR_API`, `ENS_ERR_REDIRECT`, `ENS_ERR_DECODE`,
/// `ENS_ERR_RESPONSE_TOO_LARGE`); 0 otherwise and for NULL. The error stays
/// owned by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_http_status(err: *const ens_error) -> u16 {
    guard(0, || {
        // SAFETY: a non-NULL `err` is a live error (contract).
        unsafe { err.as_ref() }.map_or(0, |e| e.http_status)
    })
}

/// How many attempts the call made: 0 when nothing was sent (bad input,
/// configuration, credentials, invalid argument), else at least 1 (more when
/// retries ran). 0 for NULL. The error stays owned by the caller.
/// Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_attempts(err: *const ens_error) -> u32 {
    guard(0, || {
        // SAFETY: a non-NULL `err` is a live error (contract).
        unsafe { err.as_ref() }.map_or(0, |e| e.attempts)
    })
}

/// The transport failure kind of an `ENS_ERR_TRANSPORT` error;
/// `ENS_TRANSPORT_NONE` otherwise and for NULL. The error stays owned by the
/// caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_transport_kind(err: *const ens_error) -> ens_transport_kind {
    guard(ens_transport_kind::ENS_TRANSPORT_NONE, || {
        // SAFETY: a non-NULL `err` is a live error (contract).
        unsafe { err.as_ref() }.map_or(ens_transport_kind::ENS_TRANSPORT_NONE, |e| e.transport_kind)
    })
}

/// The server's error code for `ENS_ERR_API`, e.g. `"NoSuchBucket"`,
/// `"InvalidAccessKeyId.NotFound"`; `""` otherwise and for NULL. Owned by the
/// error (valid until `ens_error_free`). Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_code(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.code) }
}

/// A full, human-readable message (never `""` for a real error; `""` for
/// NULL). It never holds an AccessKey secret or a security token. Owned by
/// the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_message(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.message) }
}

/// The server's `RequestId` for `ENS_ERR_API` and `ENS_ERR_INTEGRITY` (quote
/// it to support); `""` when there is none and for NULL. Owned by the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_request_id(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.request_id) }
}

/// The server's `HostId` for `ENS_ERR_API`; `""` otherwise and for NULL.
/// Owned by the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_host_id(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.host_id) }
}

/// The server's `Recommend` (a troubleshooting link) for `ENS_ERR_API`;
/// `""` when there is none and for NULL. Owned by the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_recommend(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.recommend) }
}

/// What was refused: for `ENS_ERR_INVALID_INPUT` the request parameter or
/// upload setting (e.g. `"BucketName"`, `"ClientIp"`, `"object key"`,
/// `"part size"`); for `ENS_ERR_INVALID_ARGUMENT` the C argument (e.g.
/// `"bucket_name"`, `"params[1].value"`); for `ENS_ERR_INTEGRITY` what was
/// checked (`"object"` or `"part N"`); `""` otherwise and for NULL. Owned by
/// the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_field(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.field) }
}

/// Reads a number from an error; 0 for NULL.
///
/// # Safety
/// `err` is NULL or a live error.
unsafe fn error_number<T: Default>(
    err: *const ens_error,
    field: impl FnOnce(&ens_error) -> T,
) -> T {
    guard(T::default(), || {
        // SAFETY: a non-NULL `err` is a live error (contract).
        unsafe { err.as_ref() }.map_or_else(T::default, field)
    })
}

/// For `ENS_ERR_CANCELLED`: the bytes sent when the upload stopped (what
/// the progress callback last heard); 0 otherwise and for NULL. The error
/// stays owned by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_bytes_done(err: *const ens_error) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { error_number(err, |e| e.upload.bytes_done) }
}

/// For `ENS_ERR_CANCELLED`: the size of the whole upload; 0 otherwise and
/// for NULL. The error stays owned by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_bytes_total(err: *const ens_error) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { error_number(err, |e| e.upload.bytes_total) }
}

/// For `ENS_ERR_INTEGRITY`: the CRC-64/ECMA-182 of the bytes sent (of the
/// part or object that `ens_error_field` names); 0 otherwise and for NULL.
/// The error stays owned by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_local_crc64(err: *const ens_error) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { error_number(err, |e| e.upload.local_crc64) }
}

/// For `ENS_ERR_INTEGRITY`: whether the server sent a CRC-64 at all
/// (1) or none (0); 0 otherwise and for NULL. The error stays owned by the
/// caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_has_server_crc64(err: *const ens_error) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { error_number(err, |e| c_int::from(e.upload.server_crc64.is_some())) }
}

/// For `ENS_ERR_INTEGRITY`: the CRC-64 the server computed over what it
/// stored (`x-oss-hash-crc64ecma`); 0 when it sent none (see
/// `ens_error_has_server_crc64`), otherwise and for NULL. The error stays
/// owned by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_server_crc64(err: *const ens_error) -> u64 {
    // SAFETY: forwarded contract.
    unsafe { error_number(err, |e| e.upload.server_crc64.unwrap_or(0)) }
}

/// For `ENS_ERR_LOCAL_IO`: the local file that failed (the one uploaded, or
/// the checkpoint); `""` otherwise and for NULL. Owned by the error.
/// Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_path(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.upload.path) }
}

/// For `ENS_ERR_LOCAL_IO`: the kind of I/O failure, as Rust's
/// `std::io::ErrorKind` names it: `"NotFound"`, `"PermissionDenied"`,
/// `"UnexpectedEof"` (the file shrank), `"InvalidInput"` (not a regular
/// file)...; `""` otherwise and for NULL. Owned by the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_io_kind(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.upload.io_kind) }
}

/// Frees an error and the strings its accessors returned. NULL is allowed
/// and does nothing. Call it once, from any thread, when no other thread
/// still reads the error (it is not thread-safe with such reads).
///
/// # Safety
/// `err` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ens_error_free(err: *mut ens_error) {
    // SAFETY: forwarded contract.
    unsafe { free_box(err) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiError, SignatureDiagnosis};

    fn text(p: *const c_char) -> String {
        // SAFETY: every pointer given here comes from this module and is live.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
    }

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
    fn every_error_kind_maps_with_its_fields() {
        let api = Error::from(ApiError {
            http_status: 404,
            code: "NoSuchBucket".into(),
            message: "nope".into(),
            request_id: "RID".into(),
            host_id: "ens.aliyuncs.com".into(),
            recommend: "https://example.invalid/r".into(),
            ec: String::new(),
            signature_diagnosis: Some(SignatureDiagnosis::ServerStringUnknown),
            attempts: 2,
        });
        let e = ens_error::from_error(&api);
        assert_eq!(e.status, ens_status::ENS_ERR_API);
        assert_eq!(e.http_status, 404);
        assert_eq!(e.attempts, 2);
        assert_eq!(e.code.to_str().unwrap(), "NoSuchBucket");
        assert_eq!(e.request_id.to_str().unwrap(), "RID");
        assert_eq!(e.host_id.to_str().unwrap(), "ens.aliyuncs.com");
        assert_eq!(e.recommend.to_str().unwrap(), "https://example.invalid/r");
        assert!(e.message.to_str().unwrap().contains("nope"));

        let cases: Vec<(Error, ens_status, u16)> = vec![
            (
                Error::invalid_input("BucketName", "empty"),
                ens_status::ENS_ERR_INVALID_INPUT,
                0,
            ),
            (Error::config("bad"), ens_status::ENS_ERR_CONFIG, 0),
            (
                Error::credentials("bad"),
                ens_status::ENS_ERR_CREDENTIALS,
                0,
            ),
            (
                Error::NoCredentials {
                    looked_in: vec!["environment".into()],
                },
                ens_status::ENS_ERR_NO_CREDENTIALS,
                0,
            ),
            (
                Error::Transport {
                    kind: TransportKind::Tls,
                    message: "x".into(),
                    attempts: 4,
                },
                ens_status::ENS_ERR_TRANSPORT,
                0,
            ),
            (
                Error::Redirect {
                    status: 302,
                    location: Some("http://x".into()),
                    attempts: 1,
                },
                ens_status::ENS_ERR_REDIRECT,
                302,
            ),
            (
                Error::Decode {
                    status: 200,
                    reason: "r".into(),
                    body_prefix: "b".into(),
                    attempts: 1,
                },
                ens_status::ENS_ERR_DECODE,
                200,
            ),
            (
                Error::ResponseTooLarge {
                    status: 200,
                    limit: 1,
                    attempts: 1,
                },
                ens_status::ENS_ERR_RESPONSE_TOO_LARGE,
                200,
            ),
        ];
        for (error, status, http) in cases {
            let e = ens_error::from_error(&error);
            assert_eq!((e.status, e.http_status), (status, http), "{error}");
            assert_eq!(e.attempts, error.attempts(), "{error}");
            assert_eq!(e.message.to_str().unwrap(), error.to_string());
        }
        let e = ens_error::from_error(&Error::invalid_input("ClientIp", "bad"));
        assert_eq!(e.field.to_str().unwrap(), "ClientIp");
        let e = ens_error::from_error(&Error::Transport {
            kind: TransportKind::Tls,
            message: "x".into(),
            attempts: 4,
        });
        assert_eq!(e.transport_kind, ens_transport_kind::ENS_TRANSPORT_TLS);
        assert_eq!(e.attempts, 4);
        assert!(e.message.to_str().unwrap().contains("after 4 attempts"));
    }

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

    #[test]
    fn upload_error_kinds_map_with_their_fields() {
        let e = ens_error::from_error(&Error::Cancelled {
            bytes_done: 300,
            total: 1000,
        });
        assert_eq!(e.status, ens_status::ENS_ERR_CANCELLED);
        // SAFETY: `e` is a live error.
        unsafe {
            assert_eq!(ens_error_bytes_done(&e), 300);
            assert_eq!(ens_error_bytes_total(&e), 1000);
            assert_eq!(ens_error_attempts(&e), 0);
        }

        let e = ens_error::from_error(&Error::Integrity {
            what: "part 3".into(),
            local_crc64: 7,
            server_crc64: Some(9),
            request_id: "RID".into(),
            attempts: 4,
        });
        assert_eq!(e.status, ens_status::ENS_ERR_INTEGRITY);
        // SAFETY: `e` is a live error.
        unsafe {
            assert_eq!(text(ens_error_field(&e)), "part 3");
            assert_eq!(text(ens_error_request_id(&e)), "RID");
            assert_eq!(ens_error_local_crc64(&e), 7);
            assert_eq!(ens_error_server_crc64(&e), 9);
            assert_eq!(ens_error_has_server_crc64(&e), 1);
            assert_eq!(ens_error_attempts(&e), 4);
        }
        let e = ens_error::from_error(&Error::Integrity {
            what: "object".into(),
            local_crc64: 7,
            server_crc64: None,
            request_id: String::new(),
            attempts: 1,
        });
        // SAFETY: `e` is a live error.
        unsafe {
            assert_eq!(ens_error_has_server_crc64(&e), 0);
            assert_eq!(ens_error_server_crc64(&e), 0);
        }

        let e = ens_error::from_error(&Error::LocalIo {
            path: "/no/such/file".into(),
            reason: "cannot open the file".into(),
            kind: std::io::ErrorKind::NotFound,
        });
        assert_eq!(e.status, ens_status::ENS_ERR_LOCAL_IO);
        // SAFETY: `e` is a live error; NULL is allowed everywhere.
        unsafe {
            assert_eq!(text(ens_error_path(&e)), "/no/such/file");
            assert_eq!(text(ens_error_io_kind(&e)), "NotFound");
            assert!(text(ens_error_message(&e)).contains("cannot open"));
            assert_eq!(text(ens_error_path(ptr::null())), "");
            assert_eq!(text(ens_error_io_kind(ptr::null())), "");
            assert_eq!(ens_error_bytes_done(ptr::null()), 0);
            assert_eq!(ens_error_bytes_total(ptr::null()), 0);
            assert_eq!(ens_error_local_crc64(ptr::null()), 0);
            assert_eq!(ens_error_server_crc64(ptr::null()), 0);
            assert_eq!(ens_error_has_server_crc64(ptr::null()), 0);
        }
    }

    #[test]
    fn upload_option_setters_check_and_remember() {
        let o = ens_upload_options_new();
        assert!(!o.is_null());
        // SAFETY: `o` is live until freed at the end; NULLs are allowed.
        unsafe {
            assert_eq!(
                ens_upload_options_set_part_size(o, 1),
                ens_status::ENS_ERR_INVALID_INPUT
            );
            let pending = &(*o).pending;
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].1.field.to_str().unwrap(), "part size");
            assert!(pending[0]
                .1
                .message
                .to_str()
                .unwrap()
                .starts_with("ens_upload_options_set_part_size: "));
            // A good value for the same setting clears it.
            assert_eq!(
                ens_upload_options_set_part_size(o, 1 << 20),
                ens_status::ENS_OK
            );
            assert!((*o).pending.is_empty());
            assert_eq!(
                ens_upload_options_set_threads(o, 0),
                ens_status::ENS_ERR_INVALID_INPUT
            );
            assert_eq!(
                ens_upload_options_set_stall_timeout_ms(o, 0),
                ens_status::ENS_ERR_INVALID_INPUT
            );
            assert_eq!(
                ens_upload_options_set_checkpoint(o, c"/".as_ptr()),
                ens_status::ENS_ERR_INVALID_INPUT
            );
            assert_eq!(
                ens_upload_options_set_content_type(o, ptr::null()),
                ens_status::ENS_ERR_INVALID_ARGUMENT
            );
            assert_eq!((*o).pending.len(), 4);
            assert_eq!(
                ens_upload_options_set_checkpoint(o, ptr::null()),
                ens_status::ENS_OK
            );
            assert_eq!((*o).pending.len(), 3);
            assert_eq!(ens_upload_options_set_https(o, 1), ens_status::ENS_OK);
            assert_eq!((*o).https, Some(true));
            assert_eq!(ens_upload_options_set_https(o, -1), ens_status::ENS_OK);
            assert_eq!((*o).https, None);
            assert_eq!(
                ens_upload_options_set_part_size(ptr::null_mut(), 1 << 20),
                ens_status::ENS_ERR_INVALID_ARGUMENT
            );
            ens_upload_options_free(o);
            ens_upload_options_free(ptr::null_mut());
            ens_upload_result_free(ptr::null_mut());
            assert_eq!(text(ens_upload_result_bucket(ptr::null())), "");
            assert_eq!(ens_upload_result_size(ptr::null()), 0);
            assert_eq!(ens_client_clock_offset(ptr::null()), 0);
        }
    }

    /// A panic on the Rust side of the progress path (here: the closure
    /// itself, standing in for a bug around the C callback) is caught at the
    /// boundary: `ENS_ERR_PANIC`, no result, and every object still frees.
    #[cfg(feature = "emulator")]
    #[test]
    fn a_panic_in_the_progress_path_is_caught() {
        let emu = crate::emulator::Emulator::start().unwrap();
        let dir = std::env::temp_dir().join(format!("ens-ffi-panic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f.bin");
        std::fs::write(&file, vec![1u8; 300_000]).unwrap();
        let client = Box::into_raw(Box::new(ens_client {
            client: Client::builder()
                .endpoint(emu.endpoint())
                .credentials(emu.credentials())
                .retries(0)
                .build()
                .unwrap(),
            endpoint: CString::default(),
        }));
        let options = ens_upload_options_new();
        let path = CString::new(file.to_str().unwrap()).unwrap();
        let mut result: *mut ens_upload_result = ptr::dangling_mut();
        let mut err: *mut ens_error = ptr::null_mut();
        for (threshold, panic_at) in [(u64::MAX, 0), (100 << 10, 200_000)] {
            // SAFETY: every pointer is live; `result` and `err` are writable.
            unsafe {
                assert_eq!(
                    ens_upload_options_set_multipart_threshold(options, threshold),
                    ens_status::ENS_OK
                );
                assert_eq!(
                    ens_upload_options_set_part_size(options, 100 << 10),
                    ens_status::ENS_OK
                );
                let status = upload_file(
                    "ens_upload_file",
                    client,
                    c"test".as_ptr(),
                    ptr::null(),
                    c"k".as_ptr(),
                    path.as_ptr(),
                    options,
                    Some(Box::new(move |done, _| {
                        assert!(done < panic_at, "a bug in the progress path");
                        ProgressAction::Continue
                    })),
                    &mut result,
                    &mut err,
                );
                assert_eq!(status, ens_status::ENS_ERR_PANIC);
                assert!(result.is_null());
                assert_eq!(ens_error_status(err), ens_status::ENS_ERR_PANIC);
                assert!(text(ens_error_message(err)).contains("ens_upload_file"));
                ens_error_free(err);
            }
        }
        // The client still works after the caught panics.
        // SAFETY: as above.
        unsafe {
            let status = upload_file(
                "ens_upload_file",
                client,
                c"test".as_ptr(),
                ptr::null(),
                c"k".as_ptr(),
                path.as_ptr(),
                options,
                None,
                &mut result,
                &mut err,
            );
            assert_eq!(
                status,
                ens_status::ENS_OK,
                "{}",
                text(ens_error_message(err))
            );
            assert_eq!(ens_upload_result_size(result), 300_000);
            assert_eq!(ens_upload_result_parts(result), 3);
            ens_upload_result_free(result);
            ens_upload_options_free(options);
            ens_client_free(client);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn interior_nul_does_not_cut_a_string() {
        assert_eq!(cstring("a\0b").to_str().unwrap(), "a\u{FFFD}b");
        assert_eq!(cstring("plain").to_str().unwrap(), "plain");
    }
}
