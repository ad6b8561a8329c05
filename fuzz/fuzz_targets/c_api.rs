//! Arbitrary bytes as the C API's string inputs, through `src/ffi.rs` as a
//! C program calls it: builder setters, `ens_prepare_upload` (with and
//! without extra parameters), `ens_call`, the upload options setters and
//! `ens_upload_file`, `ens_status_str` with any int. Strings reach the C
//! functions as C would pass them: the bytes up to the first NUL (so an
//! embedded NUL cuts them), invalid UTF-8 included, sometimes very long,
//! sometimes NULL; out-pointers and `err` are sometimes NULL.
//!
//! Nothing leaves the machine: the client under test sends to
//! `http://127.0.0.1:1` (connection refused at once) with retries off, a
//! builder with a fuzzed endpoint or proxy is only built, never called, and
//! file paths (CA files, the uploaded file, the checkpoint) are put under a
//! directory that does not exist, except one small file of our own.
//!
//! Checked for any input: no panic reaches the boundary (`ENS_ERR_PANIC`
//! never comes back), every status is a known one, out-pointers stay NULL on
//! failure, an error's status is the one returned, its message is not empty
//! and every string accessor gives NUL-terminated UTF-8, an
//! `ENS_ERR_INVALID_ARGUMENT` names its argument, no call against the closed
//! port succeeds, a secret never shows in a message, and every object
//! handed out is freed (the fuzzer's LeakSanitizer would see a leak).
//!
//! Input: `(nulls, knobs, strings, ints)`. Each string argument takes the
//! next of `strings` (cycling; `""` when there are none) unless the next bit
//! of `nulls` makes it NULL; `knobs` picks numbers and switches; `ints` go to
//! `ens_status_str` and `ens_upload_options_set_https`.
#![no_main]

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;
use std::sync::OnceLock;

use ens_upload::ffi::*;
use libfuzzer_sys::fuzz_target;

/// Under this directory nothing exists, so fuzzed paths are never opened.
const NOWHERE: &str = "/nonexistent-ens-upload-fuzz/";

/// An endpoint where nothing listens: connecting is refused at once.
const CLOSED: &CStr = c"http://127.0.0.1:1";

/// Hands out the string arguments.
struct Args<'a> {
    nulls: u64,
    raw: &'a [Vec<u8>],
    next: usize,
    /// Every string handed out, for the secret check.
    seen: Vec<Vec<u8>>,
    /// Kept alive until the end of the run: the C API only borrows them.
    keep: Vec<CString>,
}

impl<'a> Args<'a> {
    fn new(nulls: u64, raw: &'a [Vec<u8>]) -> Args<'a> {
        Args {
            nulls,
            raw,
            next: 0,
            seen: Vec::new(),
            keep: Vec::new(),
        }
    }

    /// The next string as C sees it: up to its first NUL. A first byte of
    /// 0xFE makes it long (the rest repeated to about 64 KiB).
    fn bytes(&mut self) -> Vec<u8> {
        let i = self.next;
        self.next += 1;
        let raw: &[u8] = if self.raw.is_empty() {
            b""
        } else {
            &self.raw[i % self.raw.len()]
        };
        let cut = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let mut s = raw[..cut].to_vec();
        if s.first() == Some(&0xFE) && s.len() > 1 {
            let unit = s[1..].to_vec();
            s.clear();
            while s.len() < 64 * 1024 {
                s.extend_from_slice(&unit);
            }
        }
        s
    }

    fn take_null(&mut self) -> bool {
        let null = self.nulls & 1 == 1;
        self.nulls = self.nulls.rotate_right(1);
        null
    }

    fn keep(&mut self, bytes: Vec<u8>) -> *const c_char {
        self.seen.push(bytes.clone());
        let c = CString::new(bytes).expect("cut at the first NUL");
        let p = c.as_ptr();
        self.keep.push(c);
        p
    }

    /// A string argument, or NULL.
    fn arg(&mut self) -> *const c_char {
        if self.take_null() {
            return ptr::null();
        }
        let b = self.bytes();
        self.keep(b)
    }

    /// A path argument under `NOWHERE`, or NULL.
    fn path(&mut self) -> *const c_char {
        if self.take_null() {
            return ptr::null();
        }
        let mut b = NOWHERE.as_bytes().to_vec();
        b.extend(self.bytes());
        self.keep(b)
    }
}

/// A small file of our own to upload (so a call gets as far as
/// `PrepareUpload` against the closed port). One name for every run, so
/// runs leave one 10-byte file behind at most.
fn real_file() -> &'static CStr {
    static FILE: OnceLock<CString> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join("ens-upload-fuzz-c_api.bin");
        if std::fs::read(&path).ok().as_deref() != Some(b"0123456789".as_slice()) {
            std::fs::write(&path, b"0123456789").expect("write the fuzz upload file");
        }
        CString::new(path.to_str().expect("utf-8 temp dir")).expect("no NUL")
    })
}

/// Numbers from `knobs`, a few bits at a time.
struct Knobs(u64);

impl Knobs {
    fn bits(&mut self, n: u32) -> u64 {
        let v = self.0 & ((1 << n) - 1);
        self.0 = self.0.rotate_right(n);
        v
    }

    fn flag(&mut self) -> bool {
        self.bits(1) == 1
    }

    /// A timeout or size: small, 0, or huge.
    fn number(&mut self) -> u64 {
        match self.bits(2) {
            0 => 0,
            1 => u64::MAX,
            _ => self.bits(16),
        }
    }
}

fn text(p: *const c_char) -> String {
    assert!(!p.is_null(), "an accessor returned NULL");
    // SAFETY: accessors return NUL-terminated strings owned by a live object.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .expect("an accessor returned invalid UTF-8")
        .to_owned()
}

/// The statuses a failed call may return (a panic is a bug).
fn check_status(s: ens_status) {
    assert_ne!(
        s,
        ens_status::ENS_ERR_PANIC,
        "a panic was caught at the boundary"
    );
    let v = s as c_int;
    assert!((0..=15).contains(&v), "unknown status {v}");
    assert!(text(ens_status_str(v)).starts_with("ENS_"));
}

/// Checks an error against the status returned, keeps its message, and
/// frees it.
fn check_error(status: ens_status, err: *mut ens_error, messages: &mut Vec<String>) {
    check_status(status);
    if status == ens_status::ENS_OK {
        assert!(err.is_null(), "an error on success");
        return;
    }
    assert!(!err.is_null(), "no error for {status:?}");
    // SAFETY: `err` was just handed out and is freed once, at the end.
    unsafe {
        assert_eq!(ens_error_status(err), status);
        let message = text(ens_error_message(err));
        assert!(!message.is_empty());
        let field = text(ens_error_field(err));
        if status == ens_status::ENS_ERR_INVALID_ARGUMENT {
            assert!(!field.is_empty(), "no argument named: {message}");
            assert!(message.contains(&field), "{message} / {field}");
        }
        for s in [
            ens_error_code(err),
            ens_error_request_id(err),
            ens_error_host_id(err),
            ens_error_recommend(err),
            ens_error_path(err),
            ens_error_io_kind(err),
        ] {
            let _ = text(s);
        }
        let _ = (
            ens_error_http_status(err),
            ens_error_attempts(err),
            ens_error_transport_kind(err),
            ens_error_bytes_done(err),
            ens_error_bytes_total(err),
            ens_error_local_crc64(err),
            ens_error_server_crc64(err),
            ens_error_has_server_crc64(err),
        );
        messages.push(message);
        ens_error_free(err);
    }
}

/// A secret worth looking for in messages: long, with a non-ASCII
/// character (so no fixed message text holds it), and in no other argument
/// (which a message may quote).
fn secret_to_watch<'s>(secret: &'s [u8], others: &[&[u8]]) -> Option<&'s str> {
    let s = std::str::from_utf8(secret).ok()?;
    if s.len() < 12 || s.is_ascii() {
        return None;
    }
    let in_other = others
        .iter()
        .any(|o| String::from_utf8_lossy(o).contains(s));
    (!in_other).then_some(s)
}

fuzz_target!(|input: (u64, u64, Vec<Vec<u8>>, Vec<i32>)| {
    let (nulls, knobs, raw, ints) = input;
    let mut a = Args::new(nulls, &raw);
    let mut k = Knobs(knobs);
    let mut messages = Vec::new();
    let m = &mut messages;

    for &i in &ints {
        let name = text(ens_status_str(i));
        assert!(name.starts_with("ENS_"), "{name}");
        assert_eq!(name == "ENS_ERR_UNKNOWN_STATUS", !(0..=15).contains(&i));
    }
    assert!(!text(ens_version()).is_empty());

    // SAFETY: every pointer passed is NULL, a live object of this library,
    // a NUL-terminated string kept in `a`, or a writable local; every object
    // handed out is freed once.
    unsafe {
        // A builder with every setter fuzzed: built, never called.
        let b = ens_client_builder_new();
        let set = [
            ens_client_builder_set_endpoint(b, a.arg()),
            ens_client_builder_set_access_key(b, a.arg(), a.arg(), a.arg()),
            ens_client_builder_set_profile(b, a.arg()),
            ens_client_builder_set_proxy(b, a.arg()),
            ens_client_builder_set_ca_file(b, a.path()),
            ens_client_builder_add_ca_file(b, a.path()),
            ens_client_builder_set_timeout_ms(b, k.number()),
            ens_client_builder_set_connect_timeout_ms(b, k.number()),
            ens_client_builder_set_read_timeout_ms(b, k.number()),
            ens_client_builder_set_retries(b, k.bits(8) as u32),
            ens_client_builder_set_retry_backoff_ms(b, k.number(), k.number()),
            ens_client_builder_set_max_idle_connections(b, k.bits(16) as usize),
        ];
        for s in set {
            check_status(s);
        }
        if k.flag() {
            check_status(ens_client_builder_set_no_proxy(b));
        }
        let mut c: *mut ens_client = ptr::dangling_mut();
        let mut e: *mut ens_error = ptr::null_mut();
        let s = ens_client_builder_build(b, &mut c, &mut e);
        assert_eq!(s == ens_status::ENS_OK, !c.is_null());
        check_error(s, e, &mut Vec::new());
        let _ = text(ens_client_endpoint(c));
        ens_client_free(c);

        // The client that is called: the closed port, retries off, fuzzed
        // credentials and timeouts.
        let b = ens_client_builder_new();
        check_status(ens_client_builder_set_endpoint(b, CLOSED.as_ptr()));
        let id = a.arg();
        let secret_at = a.seen.len();
        let secret = a.arg();
        let token = a.arg();
        check_status(ens_client_builder_set_access_key(b, id, secret, token));
        check_status(ens_client_builder_set_retries(b, 0));
        check_status(ens_client_builder_set_no_proxy(b));
        check_status(ens_client_builder_set_timeout_ms(b, k.number()));
        check_status(ens_client_builder_set_connect_timeout_ms(b, k.number()));
        check_status(ens_client_builder_set_read_timeout_ms(b, k.number()));
        let mut c: *mut ens_client = ptr::null_mut();
        let s = ens_client_builder_build(b, &mut c, &mut e);
        check_error(s, e, m);
        let _ = ens_client_clock_offset(c);

        // PrepareUpload: refused before sending, or refused by the port.
        let mut r: *mut ens_prepare_upload_result = ptr::dangling_mut();
        e = ptr::null_mut();
        let out = if k.flag() {
            ptr::null_mut()
        } else {
            &mut r as *mut _
        };
        let err_out = if k.flag() {
            ptr::null_mut()
        } else {
            &mut e as *mut _
        };
        let s = ens_prepare_upload(c, a.arg(), a.arg(), out, err_out);
        assert_ne!(s, ens_status::ENS_OK, "a call to a closed port succeeded");
        if !out.is_null() {
            assert!(r.is_null(), "result_out written on failure");
        }
        if err_out.is_null() {
            // The status alone: nothing written, nothing to free.
            check_status(s);
            assert!(e.is_null());
        } else {
            check_error(s, e, m);
        }

        // The same with extra parameters, some NULL.
        let params: Vec<ens_param> = (0..k.bits(2))
            .map(|_| ens_param {
                key: a.arg(),
                value: a.arg(),
            })
            .collect();
        let (pp, n) = match (params.is_empty(), k.flag()) {
            (true, true) => (ptr::null(), k.bits(3) as usize),
            _ => (params.as_ptr(), params.len()),
        };
        let mut r: *mut ens_prepare_upload_result = ptr::dangling_mut();
        e = ptr::null_mut();
        let s = ens_prepare_upload_with_params(c, a.arg(), a.arg(), pp, n, &mut r, &mut e);
        assert_ne!(s, ens_status::ENS_OK);
        assert!(r.is_null());
        check_error(s, e, m);

        // Any action.
        let mut json: *mut c_char = ptr::dangling_mut();
        e = ptr::null_mut();
        let s = ens_call(c, a.arg(), pp, n, &mut json, &mut e);
        assert_ne!(s, ens_status::ENS_OK);
        assert!(json.is_null());
        check_error(s, e, m);
        ens_string_free(json);

        // Upload options with every setter fuzzed.
        let o = if k.flag() {
            ptr::null_mut()
        } else {
            ens_upload_options_new()
        };
        let https = ints.first().copied().unwrap_or(-1);
        let set = [
            ens_upload_options_set_part_size(o, k.number()),
            ens_upload_options_set_multipart_threshold(o, k.number()),
            ens_upload_options_set_threads(o, k.bits(7) as usize),
            ens_upload_options_set_checkpoint(o, a.path()),
            ens_upload_options_set_path_style(o, k.bits(2) as c_int),
            ens_upload_options_set_https(o, https),
            ens_upload_options_set_content_type(o, a.arg()),
            ens_upload_options_set_stall_timeout_ms(o, k.number()),
        ];
        for s in set {
            check_status(s);
            if o.is_null() {
                assert_eq!(s, ens_status::ENS_ERR_INVALID_ARGUMENT);
            }
        }

        // The upload: refused before sending (a fuzzed path does not
        // exist), or refused by the port (our own file).
        let path = if k.flag() {
            real_file().as_ptr()
        } else {
            a.path()
        };
        let mut u: *mut ens_upload_result = ptr::dangling_mut();
        e = ptr::null_mut();
        let s = ens_upload_file(
            c,
            a.arg(),
            a.arg(),
            a.arg(),
            path,
            o,
            None,
            ptr::null_mut(),
            &mut u,
            &mut e,
        );
        assert_ne!(s, ens_status::ENS_OK);
        assert!(u.is_null());
        check_error(s, e, m);
        ens_upload_result_free(u);
        ens_upload_options_free(o);
        ens_client_free(c);

        // The client's secret never showed in a message.
        if !secret.is_null() {
            let others: Vec<&[u8]> = a
                .seen
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != secret_at)
                .map(|(_, s)| s.as_slice())
                .collect();
            if let Some(secret) = secret_to_watch(&a.seen[secret_at], &others) {
                for message in &messages {
                    assert!(
                        !message.contains(secret),
                        "a secret in a message: {message}"
                    );
                }
            }
        }
    }
});
