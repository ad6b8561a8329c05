//! Credentials that last, from C: a callback the client asks again before
//! its credentials expire (`ens_credentials_out` is what it fills), a RAM
//! role to assume, a credentials URI, and the endpoints of STS and the ECS
//! metadata server.

use std::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use super::boundary::{guard, opt_str, req_str};
use super::builder::{ens_client_builder, setter};
use super::{ens_error, ens_status};
use crate::{
    ClientBuilder, Credentials, CredentialsProvider, CredentialsUriProvider, FetchContext,
};

/// What a credentials callback fills, with `ens_credentials_out_set`. Owned
/// by the library; valid only during the callback.
pub struct ens_credentials_out {
    value: Option<Credentials>,
    problem: Option<String>,
}

/// A credentials callback: fills `out` with `ens_credentials_out_set` and
/// returns 0, or returns any other value for a failure (the request that
/// needed the credentials fails with `ENS_ERR_CREDENTIALS`, its message
/// carrying the value; while the credentials in hand are still valid the
/// client keeps using them and asks again after a backoff).
pub type ens_credentials_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, out: *mut ens_credentials_out) -> c_int>;

/// Sets the credentials given to a credentials callback. Call it once per
/// callback run, from inside the callback; a later call replaces the
/// earlier one.
///
/// - `access_key_id`, `access_key_secret`: required UTF-8, copied.
/// - `security_token`: the STS token, or NULL for an AccessKey pair.
/// - `expiration`: when they expire, in Unix seconds by the servers' clock
///   (STS's `Expiration`), or 0 for credentials that do not expire (then
///   the callback is not called again). The client refreshes before it
///   and never signs with them after it.
///
/// Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` (NULL or non-UTF-8
/// argument, negative expiration); the callback's run then fails with that
/// message.
///
/// # Safety
/// `out` is the pointer the callback was given, during the callback; the
/// strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_credentials_out_set(
    out: *mut ens_credentials_out,
    access_key_id: *const c_char,
    access_key_secret: *const c_char,
    security_token: *const c_char,
    expiration: i64,
) -> ens_status {
    const F: &str = "ens_credentials_out_set";
    guard(ens_status::ENS_ERR_PANIC, || {
        // SAFETY: a non-NULL `out` is the callback's live argument (contract).
        let Some(out) = (unsafe { out.as_mut() }) else {
            return ens_status::ENS_ERR_INVALID_ARGUMENT;
        };
        // SAFETY: forwarded contract for the three strings.
        let parsed = unsafe {
            (
                req_str(access_key_id, F, "access_key_id"),
                req_str(access_key_secret, F, "access_key_secret"),
                opt_str(security_token, F, "security_token"),
            )
        };
        let (id, secret, token) = match parsed {
            (Ok(id), Ok(secret), Ok(token)) => (id, secret, token),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                out.problem = Some(e.message.to_string_lossy().into_owned());
                out.value = None;
                return e.status;
            }
        };
        if expiration < 0 {
            out.problem = Some(format!("{F}: expiration must be 0 (none) or Unix seconds"));
            out.value = None;
            return ens_status::ENS_ERR_INVALID_ARGUMENT;
        }
        let mut creds = match token {
            Some(t) => Credentials::sts(id, secret, t),
            None => Credentials::access_key(id, secret),
        }
        .with_source("the credentials callback");
        if expiration > 0 {
            let when = UNIX_EPOCH + Duration::from_secs(expiration.unsigned_abs());
            creds = creds.with_expiration(when);
        }
        out.value = Some(creds);
        out.problem = None;
        ens_status::ENS_OK
    })
}

/// A C callback as a provider.
struct CallbackProvider {
    callback: unsafe extern "C" fn(*mut c_void, *mut ens_credentials_out) -> c_int,
    user_data: *mut c_void,
}

// SAFETY: the contract of `ens_client_builder_set_credentials_callback`
// makes the callback and `user_data` usable from any thread, one call at a
// time; the cache calls it under its refresh lock (never two at once).
unsafe impl Send for CallbackProvider {}
// SAFETY: as for Send: the provider is only ever called under the lock.
unsafe impl Sync for CallbackProvider {}

impl fmt::Debug for CallbackProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackProvider")
    }
}

impl CredentialsProvider for CallbackProvider {
    fn fetch(&self, _ctx: &FetchContext<'_>) -> crate::Result<Credentials> {
        let mut out = ens_credentials_out {
            value: None,
            problem: None,
        };
        // SAFETY: the callback and user_data are the caller's, valid for the
        // client's life (contract); `out` lives across the call.
        let code = unsafe { (self.callback)(self.user_data, &mut out) };
        match (code, out.value, out.problem) {
            (0, Some(c), _) => Ok(c),
            (0, None, Some(p)) => Err(crate::Error::credentials(format!(
                "the credentials callback: {p}"
            ))),
            (0, None, None) => Err(crate::Error::credentials(
                "the credentials callback returned 0 without calling ens_credentials_out_set",
            )),
            (code, _, _) => Err(crate::Error::credentials(format!(
                "the credentials callback failed with code {code}"
            ))),
        }
    }

    fn describe(&self) -> String {
        "the credentials callback".to_owned()
    }
}

/// Gets the credentials from `callback`, again before they expire.
/// Replaces any earlier credentials setting.
///
/// When it is called: on the client's first request, and again when the
/// credentials it gave are due for a refresh (less than max(3 min, 10% of
/// their lifetime), at most half of it, left) or the server refused them
/// as expired. Never two calls at once for one client, whatever the
/// number of threads. On which thread: the one whose request needs the
/// credentials, i.e. the thread calling `ens_prepare_upload`,
/// `ens_call` or an `ens_upload_*` function, or one of a multipart
/// upload's worker threads. While it runs, other requests of the client
/// keep signing with the credentials in hand if they are still valid, or
/// wait for it.
///
/// What it may not do: use the same client (or build one from this
/// builder) inside the callback, which would wait on itself; block for
/// long (requests wait); unwind or longjmp out of it. `user_data` must
/// stay valid, and usable from any thread, until the client is freed.
///
/// Returns `ENS_OK`, or `ENS_ERR_INVALID_ARGUMENT` for a NULL builder or
/// callback (remembered as described at `ens_client_builder_set_endpoint`).
///
/// # Safety
/// `builder` is NULL or a live builder; `callback` follows the rules above.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_credentials_callback(
    builder: *mut ens_client_builder,
    callback: ens_credentials_callback,
    user_data: *mut c_void,
) -> ens_status {
    const F: &str = "ens_client_builder_set_credentials_callback";
    let change = || {
        let callback = callback.ok_or_else(|| ens_error::null(F, "callback"))?;
        let provider = CallbackProvider {
            callback,
            user_data,
        };
        Ok(move |b: ClientBuilder| b.credentials_provider(provider))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "credentials", change) }
}

/// Signs with a RAM role's credentials: STS `AssumeRole` of `role_arn`
/// (`acs:ram::<account>:role/<name>`), signed with the credentials
/// otherwise set on the builder (an access key, the callback, or the
/// default chain), refreshed before they expire. `role_session_name` may be
/// NULL (default `ens-upload-<unix time>`; else 2 to 64 of
/// `[A-Za-z0-9.@_-]`, checked by build). The STS endpoint is
/// `ens_client_builder_set_sts_endpoint`'s, else from the environment
/// (`ALIBABA_CLOUD_STS_ENDPOINT`, `ALIBABA_CLOUD_STS_REGION`), else
/// `https://sts.aliyuncs.com`. Strings are copied.
///
/// # Safety
/// `builder` is NULL or a live builder; the strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_role_arn(
    builder: *mut ens_client_builder,
    role_arn: *const c_char,
    role_session_name: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_role_arn";
    let change = || {
        // SAFETY: forwarded contract.
        let (arn, name) = unsafe {
            (
                req_str(role_arn, F, "role_arn")?,
                opt_str(role_session_name, F, "role_session_name")?,
            )
        };
        Ok(move |b: ClientBuilder| {
            let b = b.role_arn(arn);
            match name {
                Some(n) => b.role_session_name(n),
                None => b,
            }
        })
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "role_arn", change) }
}

/// Gets the credentials from `uri` (`GET`, JSON with `AccessKeyId`,
/// `AccessKeySecret`, `SecurityToken`, `Expiration`), again before they
/// expire. Replaces any earlier credentials setting. `uri` is copied.
///
/// # Safety
/// `builder` is NULL or a live builder; `uri` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_credentials_uri(
    builder: *mut ens_client_builder,
    uri: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_credentials_uri";
    let change = || {
        // SAFETY: forwarded contract.
        let uri = unsafe { req_str(uri, F, "uri") }?;
        let provider = CredentialsUriProvider::new(uri);
        Ok(move |b: ClientBuilder| b.credentials_provider(provider))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "credentials", change) }
}

/// The STS URL for `ens_client_builder_set_role_arn` and the default
/// chain's roles (ours, for tests, private clouds and gateways; `http://`
/// allowed). `url` is copied.
///
/// # Safety
/// `builder` is NULL or a live builder; `url` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_sts_endpoint(
    builder: *mut ens_client_builder,
    url: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_sts_endpoint";
    let change = || {
        // SAFETY: forwarded contract.
        let url = unsafe { req_str(url, F, "url") }?;
        Ok(move |b: ClientBuilder| b.sts_endpoint(url))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "sts_endpoint", change) }
}

/// The ECS metadata server the default chain asks (ours, for tests and
/// gateways; default `http://100.100.100.200`). `url` is copied.
///
/// # Safety
/// `builder` is NULL or a live builder; `url` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ens_client_builder_set_ecs_metadata_endpoint(
    builder: *mut ens_client_builder,
    url: *const c_char,
) -> ens_status {
    const F: &str = "ens_client_builder_set_ecs_metadata_endpoint";
    let change = || {
        // SAFETY: forwarded contract.
        let url = unsafe { req_str(url, F, "url") }?;
        Ok(move |b: ClientBuilder| b.ecs_metadata_endpoint(url))
    };
    // SAFETY: `builder` is NULL or a live builder used by this thread only (contract).
    unsafe { setter(F, builder, "ecs_metadata_endpoint", change) }
}
