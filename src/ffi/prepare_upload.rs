//! `PrepareUpload` from C arguments, and `ens_prepare_upload_result`, the
//! answer handed back.

use std::ffi::{c_char, CString};

use super::boundary::{
    boundary, check_out, clear_out, cstring, free_box, handle, opt_str, param_list, req_str,
    str_field,
};
use super::{ens_client, ens_error, ens_param, ens_status};
use crate::{PrepareUploadRequest, PrepareUploadResponse};

/// Where to upload, as answered by `PrepareUpload`. Owned by the caller,
/// freed with `ens_prepare_upload_result_free`. Immutable: may be read from
/// any thread.
pub struct ens_prepare_upload_result {
    bucket_name: CString,
    endpoint: CString,
    request_id: CString,
}

/// The body of both PrepareUpload entry points.
///
/// # Safety
/// As `ens_prepare_upload_with_params`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn prepare_upload(
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
