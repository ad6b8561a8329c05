//! `ens_client_builder`: the client's settings, and building the client.

use std::ffi::{c_char, c_int};
use std::ptr;
use std::time::Duration;

use super::boundary::{
    boundary, check_out, clear_out, cstring, free_box, guard, opt_str, req_str, FfiResult,
};
use super::{ens_client, ens_error, ens_status};
use crate::{ClientBuilder, Credentials};

/// Configuration for an `ens_client`, filled by the `ens_client_builder_set_*`
/// functions and consumed by `ens_client_builder_build`. Not thread-safe:
/// use one builder from one thread at a time.
pub struct ens_client_builder {
    inner: ClientBuilder,
    /// Setters that failed, by setting; the first one left makes `build` fail.
    pending: Vec<(&'static str, ens_error)>,
}

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
pub(super) unsafe fn setter<F: FnOnce(ClientBuilder) -> ClientBuilder>(
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
        let credentials_source = cstring(&client.credentials_source());
        let handle = Box::into_raw(Box::new(ens_client {
            client,
            endpoint,
            credentials_source,
        }));
        // SAFETY: checked non-NULL above; writable by contract.
        unsafe { *client_out = handle };
        Ok(())
    };
    // SAFETY: `err` is NULL or writable (contract).
    unsafe { boundary(F, err, body) }
}

/// How `ens_client_builder_set_signature` signs ENS calls. The values are fixed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ens_signature {
    /// RPC signature 1.0 (HMAC-SHA1): the default.
    ENS_SIGNATURE_RPC_V1 = 0,
    /// Signature V3 (`ACS3-HMAC-SHA256`), what the current official SDKs send.
    ENS_SIGNATURE_ACS3_HMAC_SHA256 = 1,
}

/// Chooses how ENS calls are signed: `ENS_SIGNATURE_RPC_V1` (the default)
/// or `ENS_SIGNATURE_ACS3_HMAC_SHA256`, passed as an `int`. Retries,
/// clock-skew correction and errors behave the same with either. Returns
/// `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder or another
/// value (remembered until build, as for every setter). The builder stays
/// owned by the caller. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_signature(
    builder: *mut ens_client_builder,
    signature: c_int,
) -> ens_status {
    const F: &str = "ens_client_builder_set_signature";
    let change = || {
        let s = match signature {
            0 => crate::Signature::RpcV1,
            1 => crate::Signature::Acs3HmacSha256,
            _ => {
                return Err(ens_error::invalid_argument(
                    F,
                    "signature",
                    "must be ENS_SIGNATURE_RPC_V1 (0) or ENS_SIGNATURE_ACS3_HMAC_SHA256 (1)",
                ))
            }
        };
        Ok(move |b: ClientBuilder| b.signature(s))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "signature", change) }
}

/// Caps the upload bandwidth of the client at `bytes_per_second` (0, the
/// default: no cap): one budget shared by every upload the client runs, on
/// all their threads, so the device's uplink keeps room for its own
/// traffic. An upload's `ens_upload_options_set_limit_rate` applies on top.
/// Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder. The
/// builder stays owned by the caller. Not thread-safe per builder.
///
/// # Safety
/// `builder` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_limit_rate(
    builder: *mut ens_client_builder,
    bytes_per_second: u64,
) -> ens_status {
    const F: &str = "ens_client_builder_set_limit_rate";
    let change = || Ok(move |b: ClientBuilder| b.limit_rate(bytes_per_second));
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "limit rate", change) }
}
