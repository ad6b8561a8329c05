//! `ens_upload_file`: `PrepareUpload`, then the upload of a file to OSS with
//! a progress callback; and `ens_upload_result`, what it stored.

use std::ffi::{c_char, c_int, c_void, CString};

use super::boundary::{
    boundary, check_out, clear_out, cstring, free_box, guard, handle, opt_str, req_str, str_field,
};
use super::{ens_client, ens_error, ens_status, ens_upload_options};
use crate::upload::ProgressFn;
use crate::{PrepareUploadRequest, ProgressAction, UploadOptions, UploadResult};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::boundary::text;
    use crate::ffi::*;
    use crate::Client;
    use std::ptr;

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
            credentials_source: CString::default(),
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
}
