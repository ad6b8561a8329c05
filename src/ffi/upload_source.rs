//! `ens_upload_buffer` and `ens_upload_stream`: uploads from memory and
//! from a read callback, for data a device makes on the fly (a clip, a
//! log, an encoder's output) without writing it to flash first. Same
//! result, options and progress as `ens_upload_file` (`upload.rs`).

use std::ffi::{c_char, c_void};
use std::io::{self, Read};

use super::ens_upload_result;
use super::upload::{c_progress, run_upload, UploadTarget, UserData};
use super::{ens_client, ens_error, ens_progress_cb, ens_status, ens_upload_options};

/// The read callback of `ens_upload_stream`: fills `buf` with up to `cap`
/// bytes and returns how many it wrote (at most `cap`), 0 at the end of
/// the data, or a negative value of its choosing for an error (the upload
/// then fails with `ENS_ERR_LOCAL_IO`, and `ens_error_callback_code` gives
/// the value back).
///
/// It is called one call at a time, in order, but not always on the thread
/// that called `ens_upload_stream` (multipart uploads read their parts on
/// the library's worker threads), and never after `ens_upload_stream`
/// returned. After it returned 0 or an error it is not called again. It
/// must return normally: no `longjmp` out of it and no C++ exception
/// through it.
pub type ens_read_cb =
    Option<unsafe extern "C" fn(user_data: *mut c_void, buf: *mut u8, cap: usize) -> isize>;

/// Asks ENS where to upload, then uploads the `len` bytes at `data` there
/// as `object_key`, as `ens_upload_file` does for a file: in one PutObject
/// or, above the multipart threshold, in parts on several threads read
/// straight from `data` (nothing is copied), every retry re-reading them.
/// With a checkpoint (`ens_upload_options_set_checkpoint`) a cancelled or
/// failed multipart upload resumes when called again with the same bytes
/// (the bytes of the parts the checkpoint lists are checked; other bytes
/// start over).
///
/// - `data`: borrowed for the call only, and must not change during it;
///   may be NULL only when `len` is 0.
/// - The other arguments, the errors and the result are those of
///   `ens_upload_file` (no `path`: a failing read cannot happen here): the
///   result is owned by the caller, strings are only borrowed. Thread-safe
///   as `ens_upload_file`: many threads may upload at once with one client
///   and one options object.
///
/// # Safety
/// As `ens_upload_file`; `data` is NULL or valid to read `len` bytes for
/// the whole call, and nothing writes them during it.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_buffer(
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    object_key: *const c_char,
    data: *const c_void,
    len: usize,
    options: *const ens_upload_options,
    progress: ens_progress_cb,
    user_data: *mut c_void,
    result_out: *mut *mut ens_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    const F: &str = "ens_upload_buffer";
    let target = UploadTarget {
        func: F,
        client,
        bucket_name,
        client_ip,
        object_key,
    };
    let source = || -> Result<&[u8], ens_error> {
        if len == 0 {
            return Ok(&[]);
        }
        if data.is_null() {
            return Err(ens_error::invalid_argument(
                F,
                "data",
                "must not be NULL when len is above 0",
            ));
        }
        // SAFETY: non-NULL `data` is readable for `len` bytes and unchanged
        // during the call (contract); the slice does not outlive the call.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
    };
    let upload = |client: &crate::Client,
                  request: &crate::PrepareUploadRequest,
                  key: &str,
                  opts: &crate::UploadOptions,
                  bytes: &[u8]| client.upload_buffer(request, key, bytes, opts);
    let progress = progress.map(|cb| c_progress(cb, user_data));
    // SAFETY: forwarded contract.
    unsafe { run_upload(target, options, progress, source, upload, result_out, err) }
}

/// Asks ENS where to upload, then uploads exactly `size` bytes that
/// `read_cb` produces (see `ens_read_cb`) as `object_key`.
///
/// The rules of a stream, which cannot be read twice:
/// - Up to the multipart threshold the object goes in one PutObject whose
///   body is read from the callback as it is sent. That request is retried
///   only if it failed before the callback was first called: once bytes
///   are consumed they cannot be sent again, and the error is returned.
/// - Above it, each part is read into a buffer first (part size bytes per
///   thread: choose the part size and threads with the device's memory in
///   mind), so a failed part is resent from its buffer.
/// - A callback that gives fewer or more bytes than `size` in all is an
///   error (`ENS_ERR_LOCAL_IO`, path `"<reader>"`): the PutObject's body is
///   cut off, or the multipart upload aborted, so no object is stored. So is
///   a callback error (a negative return, see `ens_error_callback_code`), or
///   a return above `cap`.
/// - No checkpoint: a stream cannot be resumed (setting one is
///   `ENS_ERR_INVALID_INPUT`, field `"checkpoint"`).
///
/// - `read_cb`: required. `read_user_data`: passed to it as is.
/// - `size`: the exact number of bytes the callback will give.
/// - The other arguments, the errors and the result are those of
///   `ens_upload_file`; `progress` still runs on the calling thread. The
///   result is owned by the caller; strings and `read_user_data` are only
///   borrowed. Thread-safe as `ens_upload_file`: many threads may upload at
///   once with one client and one options object.
///
/// # Safety
/// As `ens_upload_file`; `read_cb` is NULL or a function that may be called
/// with `read_user_data` and a writable buffer of `cap` bytes, from any
/// thread, during the call.
#[no_mangle]
pub unsafe extern "C" fn ens_upload_stream(
    client: *const ens_client,
    bucket_name: *const c_char,
    client_ip: *const c_char,
    object_key: *const c_char,
    read_cb: ens_read_cb,
    read_user_data: *mut c_void,
    size: u64,
    options: *const ens_upload_options,
    progress: ens_progress_cb,
    user_data: *mut c_void,
    result_out: *mut *mut ens_upload_result,
    err: *mut *mut ens_error,
) -> ens_status {
    const F: &str = "ens_upload_stream";
    let target = UploadTarget {
        func: F,
        client,
        bucket_name,
        client_ip,
        object_key,
    };
    let mut failed_code = None;
    let source = || match read_cb {
        Some(cb) => Ok(CReader {
            cb,
            user_data: UserData(read_user_data),
            state: ReadState::Reading,
        }),
        None => Err(ens_error::null(F, "read_cb")),
    };
    let upload = |client: &crate::Client,
                  request: &crate::PrepareUploadRequest,
                  key: &str,
                  opts: &crate::UploadOptions,
                  mut reader: CReader| {
        let out = client.upload_reader(request, key, &mut reader, size, opts);
        if let ReadState::Failed(code) = reader.state {
            failed_code = Some(code);
        }
        out
    };
    let progress = progress.map(|cb| c_progress(cb, user_data));
    // SAFETY: forwarded contract.
    let status = unsafe { run_upload(target, options, progress, source, upload, result_out, err) };
    if let Some(code) = failed_code {
        // SAFETY: `err` is NULL or writable (contract), and now NULL or
        // this call's new error.
        if let Some(e) = unsafe { err.as_mut().and_then(|e| e.as_mut()) } {
            e.upload.callback_code = code;
        }
    }
    status
}

/// Where a read callback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Reading,
    /// It returned 0: it is not called again.
    Ended,
    /// It returned this negative value: not called again.
    Failed(i64),
    /// It returned more than the buffer holds: not called again.
    Overran,
}

/// A C read callback as a Rust reader.
struct CReader {
    cb: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> isize,
    user_data: UserData,
    state: ReadState,
}

impl Read for CReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            ReadState::Ended => return Ok(0),
            ReadState::Failed(code) => return Err(callback_error(code)),
            ReadState::Overran => return Err(overrun(None)),
            ReadState::Reading if buf.is_empty() => return Ok(0),
            ReadState::Reading => {}
        }
        // SAFETY: the caller of `ens_upload_stream` promised a callback
        // that accepts `user_data` and a writable buffer of `cap` bytes,
        // during the call (the reader does not outlive it); `buf` is such a
        // buffer. The upload calls it under its reader lock, one call at a
        // time.
        let n = unsafe { (self.cb)(self.user_data.get(), buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(0) => {
                self.state = ReadState::Ended;
                Ok(0)
            }
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(n) => {
                self.state = ReadState::Overran;
                Err(overrun(Some((n, buf.len()))))
            }
            Err(_) => {
                let code = i64::try_from(n).unwrap_or(i64::MIN);
                self.state = ReadState::Failed(code);
                Err(callback_error(code))
            }
        }
    }
}

/// A callback that claimed more bytes than it was given room for.
fn overrun(sizes: Option<(usize, usize)>) -> io::Error {
    let what = match sizes {
        Some((n, cap)) => format!("the read callback returned {n} for a buffer of {cap} bytes"),
        None => "the read callback returned more than its buffer holds".to_owned(),
    };
    io::Error::new(io::ErrorKind::InvalidData, what)
}

fn callback_error(code: i64) -> io::Error {
    io::Error::other(format!("the read callback failed with {code}"))
}
