//! `ens_error`: what a failed call hands back, how a Rust error maps to it,
//! and its accessors.

use std::ffi::{c_char, c_int, CString};

use super::boundary::{cstring, free_box, guard, str_field};
use super::{ens_status, ens_transport_kind};
use crate::{Error, TransportKind};

/// An error: its kind, what the server said, and a full message. Created by
/// the library, owned by the caller, freed with `ens_error_free`. Immutable:
/// may be read from any thread.
#[derive(Debug, Clone)]
pub struct ens_error {
    pub(super) status: ens_status,
    http_status: u16,
    attempts: u32,
    transport_kind: ens_transport_kind,
    pub(super) message: CString,
    code: CString,
    request_id: CString,
    host_id: CString,
    ec: CString,
    recommend: CString,
    pub(super) field: CString,
    /// What only upload errors carry (boxed: most errors have none of it).
    pub(super) upload: Box<UploadErrorDetail>,
}

/// The fields of `ens_error` for `ENS_ERR_CANCELLED`, `ENS_ERR_INTEGRITY`
/// and `ENS_ERR_LOCAL_IO`.
#[derive(Debug, Clone, Default)]
pub(super) struct UploadErrorDetail {
    bytes_done: u64,
    bytes_total: u64,
    local_crc64: u64,
    server_crc64: Option<u64>,
    path: CString,
    io_kind: CString,
    /// What an `ens_upload_stream` read callback returned when it failed.
    pub(super) callback_code: i64,
}

impl ens_error {
    pub(super) fn new(status: ens_status, message: &str) -> ens_error {
        ens_error {
            status,
            http_status: 0,
            attempts: 0,
            transport_kind: ens_transport_kind::ENS_TRANSPORT_NONE,
            message: cstring(message),
            code: CString::default(),
            request_id: CString::default(),
            host_id: CString::default(),
            ec: CString::default(),
            recommend: CString::default(),
            field: CString::default(),
            upload: Box::default(),
        }
    }

    /// `ENS_ERR_INVALID_ARGUMENT` naming the function and the argument.
    /// Never quotes the argument's value (it may be a secret).
    pub(super) fn invalid_argument(func: &str, arg: &str, problem: &str) -> ens_error {
        let mut e = ens_error::new(
            ens_status::ENS_ERR_INVALID_ARGUMENT,
            &format!("{func}: argument `{arg}` {problem}"),
        );
        e.field = cstring(arg);
        e
    }

    pub(super) fn null(func: &str, arg: &str) -> ens_error {
        ens_error::invalid_argument(func, arg, "must not be NULL")
    }

    pub(super) fn panic(func: &str) -> ens_error {
        ens_error::new(
            ens_status::ENS_ERR_PANIC,
            &format!("{func}: internal error (a Rust panic was caught); this is a bug in ens-upload, please report it"),
        )
    }

    pub(super) fn from_error(e: &Error) -> ens_error {
        let mut out = ens_error::new(ens_status::ENS_ERR_OTHER, &e.to_string());
        out.http_status = e.http_status().unwrap_or(0);
        out.attempts = e.attempts();
        out.status = match e {
            Error::Api(api) => {
                out.code = cstring(&api.code);
                out.request_id = cstring(&api.request_id);
                out.host_id = cstring(&api.host_id);
                out.ec = cstring(&api.ec);
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

/// For `ENS_ERR_CANCELLED`: the bytes the server had stored when the upload
/// stopped (the parts finished, those of a resumed call included; a resume
/// with the checkpoint does not send them again); 0 otherwise and for NULL.
/// The error stays owned by the caller. Thread-safe.
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

/// OSS's detailed error code (`EC`, e.g. `0002-00000080` for a refused
/// signature V1) for `ENS_ERR_API` from OSS; `""` otherwise and for NULL.
/// Owned by the error. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_ec(err: *const ens_error) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(err, |e| &e.ec) }
}

/// For an `ens_upload_stream` whose read callback failed: the negative
/// value it returned (the error is `ENS_ERR_LOCAL_IO`, path `"<reader>"`,
/// and its message quotes the value too); 0 otherwise and for NULL. The
/// error stays owned by the caller. Thread-safe.
///
/// # Safety
/// `err` is NULL or a live error.
#[no_mangle]
pub unsafe extern "C" fn ens_error_callback_code(err: *const ens_error) -> i64 {
    guard(0, || {
        // SAFETY: a non-NULL `err` is a live error (contract).
        unsafe { err.as_ref() }.map_or(0, |e| e.upload.callback_code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::boundary::text;
    use crate::{ApiError, SignatureDiagnosis};
    use std::ptr;

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
                    source: None,
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
            source: None,
            kind: TransportKind::Tls,
            message: "x".into(),
            attempts: 4,
        });
        assert_eq!(e.transport_kind, ens_transport_kind::ENS_TRANSPORT_TLS);
        assert_eq!(e.attempts, 4);
        assert!(e.message.to_str().unwrap().contains("after 4 attempts"));
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
            source: None,
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
}
