//! `ens_upload_options`: how `ens_upload_file` uploads.

use std::ffi::{c_char, c_int};
use std::path::PathBuf;
use std::ptr;
use std::time::Duration;

use super::boundary::{boundary, cstring, free_box, guard, opt_str, req_str, FfiResult};
use super::{ens_error, ens_status};
use crate::UploadOptions;

/// How `ens_upload_file` uploads: part size, multipart threshold, threads,
/// checkpoint, addressing, scheme, content type, stall timeout. Filled by the
/// `ens_upload_options_set_*` functions; created with `ens_upload_options_new`
/// and freed with `ens_upload_options_free` by the caller. Not thread-safe
/// while a setter runs; once set up, one options object may be read by many
/// `ens_upload_file` calls at once, on any threads.
pub struct ens_upload_options {
    /// Everything but the checkpoint, the scheme and the progress callback,
    /// which are applied per call (so NULL / -1 can undo them).
    pub(super) inner: UploadOptions,
    checkpoint: Option<PathBuf>,
    pub(super) https: Option<bool>,
    /// `None`: automatic (V4 when the region is known).
    oss_signature: Option<crate::OssSignature>,
    /// Setters that failed, by setting; the first one left makes
    /// `ens_upload_file` fail.
    pub(super) pending: Vec<(&'static str, ens_error)>,
}

/// New upload options with the defaults: multipart above 8 MiB (one
/// PutObject up to that) with the part size and threads chosen from the
/// file's size (see docs/upload.md), no checkpoint, virtual-hosted
/// addressing (path style anyway for an IP address or `localhost`), the
/// client's scheme, the content type guessed from the key's extension
/// (else `application/octet-stream`), the client's read timeout as stall
/// timeout.
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
            oss_signature: None,
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
    pub(super) fn effective(&self) -> UploadOptions {
        let mut o = self.inner.clone();
        if let Some(path) = &self.checkpoint {
            o = o.checkpoint(path.clone());
        }
        if let Some(https) = self.https {
            o = o.https(https);
        }
        if let Some(s) = self.oss_signature {
            o = o.oss_signature(s);
        }
        o
    }
}

/// What an upload options setter does to the options, once its arguments
/// were checked.
pub(super) type OptionsChange = Box<dyn FnOnce(&mut ens_upload_options)>;

/// Runs an upload options setter: checks the options, applies the change to
/// a copy, checks the result against OSS's limits (`UploadOptions::validate`)
/// and keeps it, or records the failure for `ens_upload_file`.
///
/// # Safety
/// `options` is NULL or live options not used by another thread.
pub(super) unsafe fn options_setter(
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
                oss_signature: o.oss_signature,
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
                o.oss_signature = trial.oss_signature;
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

/// Sets the part size in bytes for multipart uploads (default: chosen from
/// the file's size, 8 MiB grown in whole MiB to stay within 10,000 parts,
/// at most `ens_upload_options_set_max_part_size`; 102400 (100 KiB) to
/// 5 GiB, else `ENS_ERR_INVALID_INPUT` with field `"part size"`). It grows by itself when the file would need more than
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
/// within the call (default: chosen from the part count, 1 for one part,
/// 2 up to 15, 3 up to 63, 4 from 64, at most
/// `ens_upload_options_set_max_threads`; 1 to 64, else
/// `ENS_ERR_INVALID_INPUT` with field `"threads"`). Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT`, or
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

/// The object's `Content-Type` (default: guessed from the key's extension,
/// `.mp4` `video/mp4`, `.jpg` `image/jpeg`, `.log` `text/plain`... else
/// `application/octet-stream`).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::boundary::text;
    use crate::ffi::*;

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
}

/// The OSS signature `ens_upload_options_set_oss_signature` asks for. The
/// values are fixed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ens_oss_signature {
    /// V4 when the region is known (set, or named by the OSS endpoint), else
    /// V1: the default.
    ENS_OSS_SIGNATURE_AUTO = 0,
    /// OSS header signature V1, refused by accounts and buckets made since 2025.
    ENS_OSS_SIGNATURE_V1 = 1,
    /// OSS signature V4 (`OSS4-HMAC-SHA256`); needs the region.
    ENS_OSS_SIGNATURE_V4 = 2,
}

/// The bucket's region id (`cn-hangzhou`, not `oss-cn-hangzhou`): with it,
/// uploads sign with OSS signature V4, which OSS requires of accounts and
/// buckets made since 2025. `options` and `region` are required; `region`
/// is copied. Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` for a value that is
/// not a region id (field `"region"`; remembered as described at
/// `ens_upload_options_set_part_size`) or `ENS_ERR_INVALID_ARGUMENT`. Not
/// thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `region` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_region(
    options: *mut ens_upload_options,
    region: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_set_region";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let r = unsafe { req_str(region, F, "region") }?.to_owned();
        Ok(Box::new(move |o| o.inner = o.inner.clone().region(r)))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "region", change) }
}

/// Forces the OSS signature: `ENS_OSS_SIGNATURE_AUTO` (0, the default),
/// `ENS_OSS_SIGNATURE_V1` (1) or `ENS_OSS_SIGNATURE_V4` (2), as an `int`.
/// V4 without a known region fails when the upload starts. Returns
/// `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for NULL `options` or another
/// value. The options stay owned by the caller. Not thread-safe per
/// options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_oss_signature(
    options: *mut ens_upload_options,
    signature: c_int,
) -> ens_status {
    const F: &str = "ens_upload_options_set_oss_signature";
    let change = || -> FfiResult<OptionsChange> {
        let s = match signature {
            0 => None,
            1 => Some(crate::OssSignature::V1),
            2 => Some(crate::OssSignature::V4),
            _ => {
                return Err(ens_error::invalid_argument(
                    F,
                    "signature",
                    "must be ENS_OSS_SIGNATURE_AUTO (0), ENS_OSS_SIGNATURE_V1 (1) or ENS_OSS_SIGNATURE_V4 (2)",
                ))
            }
        };
        Ok(Box::new(move |o| o.oss_signature = s))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "oss signature", change) }
}

/// Also lets signed uploads go to `host` (`host`, `host:port` or
/// `*.domain`) when PrepareUpload answers it. By default an Alibaba Cloud
/// ENS endpoint's answers may name only `*.aliyuncs.com` hosts, and any
/// other endpoint's only its own host and port. Each call adds one entry;
/// `host` is copied. Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` for an entry
/// of another form (field `"allowed upload host"`) or
/// `ENS_ERR_INVALID_ARGUMENT`. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `host` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_allow_upload_host(
    options: *mut ens_upload_options,
    host: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_allow_upload_host";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let h = unsafe { req_str(host, F, "host") }?.to_owned();
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().allow_upload_host(h)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "allowed upload host", change) }
}

/// Caps the upload at `bytes_per_second` on this side (0, the default:
/// no cap): one budget shared by all the upload's threads, spent as the
/// body goes to the socket, smooth within a second. Applies on top of the
/// client's `ens_client_builder_set_limit_rate`. Waiting for the budget is
/// not a stall (`ens_upload_options_set_stall_timeout_ms` times the socket
/// only), and progress keeps ticking. Returns `ENS_OK`, or
/// `ENS_ERR_INVALID_ARGUMENT` for NULL `options`. The options stay owned by
/// the caller. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_limit_rate(
    options: *mut ens_upload_options,
    bytes_per_second: u64,
) -> ens_status {
    const F: &str = "ens_upload_options_set_limit_rate";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().limit_rate(bytes_per_second)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "limit rate", change) }
}

/// Asks OSS to throttle each PutObject and UploadPart connection to
/// `bits_per_second` on its side (header `x-oss-traffic-limit`, signed):
/// 819200 (100 KiB/s) to 838860800 (100 MiB/s), else
/// `ENS_ERR_INVALID_INPUT` with field `"traffic limit"`; 0 (the default)
/// sends none. Per connection: parts on 4 threads may use 4 times as much.
/// Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` or `ENS_ERR_INVALID_ARGUMENT`;
/// failures are remembered as described at
/// `ens_upload_options_set_part_size`. The options stay owned by the
/// caller. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_traffic_limit(
    options: *mut ens_upload_options,
    bits_per_second: u64,
) -> ens_status {
    const F: &str = "ens_upload_options_set_traffic_limit";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().traffic_limit(bits_per_second)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "traffic limit", change) }
}
