//! The `ens_upload_options` setters for what an object is created with
//! (user metadata, tags, storage class, headers, forbid-overwrite) and the
//! caps on the part size and threads chosen from the object's size. Kept
//! beside `upload_options.rs`, whose setter machinery they use.

use std::ffi::{c_char, c_int};

use super::boundary::{req_str, FfiResult};
use super::upload_options::{ens_upload_options, options_setter, OptionsChange};
use super::{ens_error, ens_status};
use crate::StorageClass;

/// The storage class `ens_upload_options_set_storage_class` asks for. The
/// values are fixed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ens_storage_class {
    /// The bucket's storage class: the default.
    ENS_STORAGE_CLASS_BUCKET_DEFAULT = 0,
    /// `Standard`.
    ENS_STORAGE_CLASS_STANDARD = 1,
    /// `IA` (infrequent access).
    ENS_STORAGE_CLASS_IA = 2,
    /// `Archive`.
    ENS_STORAGE_CLASS_ARCHIVE = 3,
    /// `ColdArchive`.
    ENS_STORAGE_CLASS_COLD_ARCHIVE = 4,
    /// `DeepColdArchive`.
    ENS_STORAGE_CLASS_DEEP_COLD_ARCHIVE = 5,
}

/// Runs a setter that adds an entry (metadata, tags): a failure stays
/// remembered even when a later call for another entry succeeds, so a
/// value that was refused is never dropped silently.
///
/// # Safety
/// `options` is NULL or live options not used by another thread.
unsafe fn adding_setter(
    func: &'static str,
    options: *mut ens_upload_options,
    setting: &'static str,
    change: impl FnOnce() -> FfiResult<OptionsChange>,
) -> ens_status {
    // SAFETY: non-NULL options are live and used by this thread only
    // (contract); the borrow ends before `options_setter` takes its own.
    let earlier: Vec<_> = match unsafe { options.as_mut() } {
        Some(o) => o
            .pending
            .iter()
            .filter(|(s, _)| *s == setting)
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    // SAFETY: forwarded contract.
    let status = unsafe { options_setter(func, options, setting, change) };
    // SAFETY: as above; `options_setter` has returned.
    if let Some(o) = unsafe { options.as_mut() } {
        let mut kept = earlier;
        kept.append(&mut o.pending);
        o.pending = kept;
    }
    status
}

/// Adds user metadata: the object is stored with `x-oss-meta-<name>:
/// <value>`, which HeadObject and GetObject answer. `name` is ASCII letters,
/// digits and `-` (stored lowercase; setting a name again replaces its
/// value); `value` is visible ASCII and spaces (percent-encode other text);
/// names with their `x-oss-meta-` prefix and values total at most 8 KiB.
/// A resumed upload must be given the same metadata as the one it resumes
/// (else `ENS_ERR_INVALID_INPUT`, field `"checkpoint"`).
///
/// `options`, `name` and `value` are required and copied. Returns `ENS_OK`,
/// `ENS_ERR_INVALID_INPUT` (field `"metadata name"`, `"metadata value"` or
/// `"metadata"` for the total) or `ENS_ERR_INVALID_ARGUMENT`. A failure is
/// remembered as described at `ens_upload_options_set_part_size`, and a
/// later success for another name does not clear it. Not thread-safe per
/// options object.
///
/// # Safety
/// `options` is NULL or live options; `name` and `value` are NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_metadata(
    options: *mut ens_upload_options,
    name: *const c_char,
    value: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_set_metadata";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let n = unsafe { req_str(name, F, "name") }?.to_owned();
        // SAFETY: forwarded contract.
        let v = unsafe { req_str(value, F, "value") }?.to_owned();
        Ok(Box::new(move |o| o.inner = o.inner.clone().metadata(n, v)))
    };
    // SAFETY: forwarded contract.
    unsafe { adding_setter(F, options, "metadata", change) }
}

/// Adds a tag, sent URL-encoded in `x-oss-tagging`. OSS's limits: at most
/// 10 tags, `key` 1 to 128 characters and `value` up to 256, both of
/// letters, digits, space and `+ - = . _ : /`. Adding a key again replaces
/// its value.
///
/// `options`, `key` and `value` are required and copied. Returns `ENS_OK`,
/// `ENS_ERR_INVALID_INPUT` (field `"tag key"`, `"tag value"` or `"tags"`)
/// or `ENS_ERR_INVALID_ARGUMENT`; failures are remembered as at
/// `ens_upload_options_set_metadata`. Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `key` and `value` are NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_add_tag(
    options: *mut ens_upload_options,
    key: *const c_char,
    value: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_add_tag";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let k = unsafe { req_str(key, F, "key") }?.to_owned();
        // SAFETY: forwarded contract.
        let v = unsafe { req_str(value, F, "value") }?.to_owned();
        Ok(Box::new(move |o| o.inner = o.inner.clone().tag(k, v)))
    };
    // SAFETY: forwarded contract.
    unsafe { adding_setter(F, options, "tags", change) }
}

/// The object's `Content-Disposition` (`attachment; filename="a.mp4"`):
/// visible ASCII and spaces, at most 4 KiB. `options` and `value` are
/// required; `value` is copied. Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT`
/// (field `"content disposition"`) or `ENS_ERR_INVALID_ARGUMENT`; failures
/// are remembered as described at `ens_upload_options_set_part_size`. Not
/// thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `value` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_content_disposition(
    options: *mut ens_upload_options,
    value: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_set_content_disposition";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let v = unsafe { req_str(value, F, "value") }?.to_owned();
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().content_disposition(v)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "content disposition", change) }
}

/// The object's `Cache-Control` (`no-cache`, `max-age=3600`): visible
/// ASCII and spaces, at most 4 KiB. `options` and `value` are required;
/// `value` is copied. Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` (field
/// `"cache control"`) or `ENS_ERR_INVALID_ARGUMENT`; failures are
/// remembered as described at `ens_upload_options_set_part_size`. Not
/// thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options; `value` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_cache_control(
    options: *mut ens_upload_options,
    value: *const c_char,
) -> ens_status {
    const F: &str = "ens_upload_options_set_cache_control";
    let change = || -> FfiResult<OptionsChange> {
        // SAFETY: forwarded contract.
        let v = unsafe { req_str(value, F, "value") }?.to_owned();
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().cache_control(v)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "cache control", change) }
}

/// The object's storage class, an `ens_storage_class` as an `int`:
/// `ENS_STORAGE_CLASS_BUCKET_DEFAULT` (0, the default) sends none, so the
/// bucket's applies. Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for
/// NULL `options` or another value. `options` stays owned by the caller. Not
/// thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_storage_class(
    options: *mut ens_upload_options,
    storage_class: c_int,
) -> ens_status {
    const F: &str = "ens_upload_options_set_storage_class";
    let change = || -> FfiResult<OptionsChange> {
        let class = match storage_class {
            0 => None,
            1 => Some(StorageClass::Standard),
            2 => Some(StorageClass::InfrequentAccess),
            3 => Some(StorageClass::Archive),
            4 => Some(StorageClass::ColdArchive),
            5 => Some(StorageClass::DeepColdArchive),
            _ => {
                return Err(ens_error::invalid_argument(
                    F,
                    "storage_class",
                    "must be an ens_storage_class (0 to 5)",
                ))
            }
        };
        Ok(Box::new(move |o| {
            o.inner = match class {
                Some(c) => o.inner.clone().storage_class(c),
                None => o.inner.clone().bucket_storage_class(),
            }
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "storage class", change) }
}

/// With `forbid` non-zero, the upload never replaces an object already
/// stored under the key (`x-oss-forbid-overwrite: true`): it fails with
/// `ENS_ERR_API`, `ens_error_code` `"FileAlreadyExists"` and HTTP status
/// 409, without retrying, and nothing is replaced (a multipart upload is
/// checked when it starts and when it completes). 0 (the default)
/// overwrites. Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for NULL
/// `options`. `options` stays owned by the caller. Not thread-safe
/// per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_forbid_overwrite(
    options: *mut ens_upload_options,
    forbid: c_int,
) -> ens_status {
    const F: &str = "ens_upload_options_set_forbid_overwrite";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().forbid_overwrite(forbid != 0)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "forbid overwrite", change) }
}

/// The largest part the upload may use (102400 (100 KiB) to 5 GiB, else
/// `ENS_ERR_INVALID_INPUT`, field `"max part size"`), for a device with
/// little memory: the part size chosen from the file's size (or set) is
/// lowered to it. A file that would need more than 10,000 parts of this
/// size makes `ens_upload_file` fail with `ENS_ERR_INVALID_INPUT` (field
/// `"max part size"`) naming the smallest cap that works. Returns `ENS_OK`,
/// `ENS_ERR_INVALID_INPUT` or `ENS_ERR_INVALID_ARGUMENT` for NULL `options`;
/// failures are remembered as described at
/// `ens_upload_options_set_part_size`. `options` stays owned by the caller.
/// Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_max_part_size(
    options: *mut ens_upload_options,
    bytes: u64,
) -> ens_status {
    const F: &str = "ens_upload_options_set_max_part_size";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().max_part_size(bytes)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "max part size", change) }
}

/// The most parts the upload may send at once (1 to 64, else
/// `ENS_ERR_INVALID_INPUT`, field `"max threads"`), whether the number was
/// set with `ens_upload_options_set_threads` or chosen from the part count.
/// Returns `ENS_OK`, `ENS_ERR_INVALID_INPUT` or `ENS_ERR_INVALID_ARGUMENT`
/// for NULL `options`; failures are remembered as described at
/// `ens_upload_options_set_part_size`. `options` stays owned by the caller.
/// Not thread-safe per options object.
///
/// # Safety
/// `options` is NULL or live options.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_options_set_max_threads(
    options: *mut ens_upload_options,
    threads: usize,
) -> ens_status {
    const F: &str = "ens_upload_options_set_max_threads";
    let change = || -> FfiResult<OptionsChange> {
        Ok(Box::new(move |o| {
            o.inner = o.inner.clone().max_threads(threads)
        }))
    };
    // SAFETY: forwarded contract.
    unsafe { options_setter(F, options, "max threads", change) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::*;
    use std::ptr;

    #[test]
    fn a_refused_entry_stays_refused_after_another_succeeds() {
        let o = ens_upload_options_new();
        // SAFETY: `o` is live until freed at the end.
        unsafe {
            assert_eq!(
                ens_upload_options_set_metadata(o, c"bad name".as_ptr(), c"v".as_ptr()),
                ens_status::ENS_ERR_INVALID_INPUT
            );
            assert_eq!(
                ens_upload_options_set_metadata(o, c"good".as_ptr(), c"v".as_ptr()),
                ens_status::ENS_OK
            );
            let pending = &(*o).pending;
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].1.field.to_str().unwrap(), "metadata name");
            assert_eq!(
                ens_upload_options_set_storage_class(o, 9),
                ens_status::ENS_ERR_INVALID_ARGUMENT
            );
            assert_eq!(
                ens_upload_options_set_storage_class(o, 0),
                ens_status::ENS_OK
            );
            assert_eq!(
                ens_upload_options_set_forbid_overwrite(ptr::null_mut(), 1),
                ens_status::ENS_ERR_INVALID_ARGUMENT
            );
            ens_upload_options_free(o);
        }
    }
}
