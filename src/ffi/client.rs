//! `ens_client`: the client, and the ENS calls made with it (`PrepareUpload`
//! and any action through `ens_call`).

use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use super::boundary::{
    boundary, check_out, clear_out, cstring, free_box, guard, handle, param_list, req_str,
    str_field,
};
use super::prepare_upload::prepare_upload;
use super::{ens_error, ens_param, ens_prepare_upload_result, ens_status};
use crate::Client;

/// A blocking ENS client. Thread-safe: one client may be used from many
/// threads at once (it shares one keep-alive connection pool). Free it with
/// `ens_client_free` once no call is running on it.
pub struct ens_client {
    pub(super) client: Client,
    pub(super) endpoint: CString,
    pub(super) credentials_source: CString,
}

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

/// Where the client's credentials come from, e.g. `"environment"` or
/// `"AssumeRole acs:ram::123:role/uploader (source: environment)"`; never
/// a secret. Owned by the client (valid until `ens_client_free`); `""` for
/// NULL. Thread-safe.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn ens_client_credentials_source(client: *const ens_client) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { str_field(client, |c| &c.credentials_source) }
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
