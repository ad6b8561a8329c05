//! One ENS RPC call: the common parameters, signing (RPC 1.0 by default,
//! or signature V3, `ACS3-HMAC-SHA256`), the request through the shared
//! exchange and retry loop, and the answer decoded.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use ureq::http::{HeaderName, HeaderValue};

use crate::credentials::Current;
use crate::error::{Error, Result};
use crate::http::{Answer, Attempt, Body, Hints, Request, Retry};
use crate::response;
use crate::sign;

use super::{Inner, Signature, API_VERSION};

// Header names built once: parsing a name from a `&str` copies it.
const X_ACS_ACTION: HeaderName = HeaderName::from_static("x-acs-action");
const X_ACS_VERSION: HeaderName = HeaderName::from_static("x-acs-version");

/// Parameters the client sets itself; `call` refuses them from callers.
const RESERVED_PARAMS: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "SecurityToken",
    "Signature",
];

/// Signs and sends `action`, retrying as the policy says within the call
/// timeout, and decodes a 2xx answer as `T`. Errors carry no secret.
pub(super) fn call<T: DeserializeOwned>(
    inner: &Arc<Inner>,
    action: &str,
    params: &[(&str, &str)],
) -> Result<T> {
    check_call_params(action, params)?;
    let session = &inner.session;
    let retry = Retry {
        policy: session.retry,
        deadline: Some(crate::clock::instant_after(session.call_timeout)),
        deadline_is_agents: true,
        server_wait_limit: session.call_timeout,
        cancel: None,
    };
    retry
        .run(|attempt| send(inner, action, params, attempt))
        .and_then(|answer| response::decode_success(answer.status, &answer.body))
        .map_err(|e| inner.credentials.scrub(e))
}

/// One signed attempt with a fresh nonce and timestamp; a non-2xx answer
/// is decoded into its error.
fn send(
    inner: &Inner,
    action: &str,
    params: &[(&str, &str)],
    attempt: Attempt,
) -> (Result<Answer>, Hints) {
    let current = match inner.credentials.get(&inner.session) {
        Ok(c) => c,
        Err(e) => return (Err(e), Hints::default()),
    };
    let (result, mut hints) = match inner.signature {
        Signature::RpcV1 => send_rpc_v1(inner, &current, action, params, attempt),
        Signature::Acs3HmacSha256 => send_acs3(inner, &current, action, params, attempt),
    };
    if let Err(e) = &result {
        inner
            .credentials
            .after_refusal(&inner.session, &current, e, &mut hints);
    }
    (result, hints)
}

/// RPC 1.0: every parameter, the signature's own included, in the query.
fn send_rpc_v1(
    inner: &Inner,
    current: &Current,
    action: &str,
    params: &[(&str, &str)],
    attempt: Attempt,
) -> (Result<Answer>, Hints) {
    let session = &inner.session;
    let creds = &current.creds;
    // The offset this attempt signs with: if it is not the client's
    // offset when the answer comes (this answer's `Date` or another
    // thread's corrected it), a refused timestamp is worth one more try.
    let signed_offset = session.clock.get();
    let timestamp = crate::clock::format_iso8601(session.clock.now());
    let nonce = sign::new_nonce();

    // Laid out near the signer's sorted order (PrepareUpload's BucketName
    // and ClientIp fall between Action and Format), so its sort has little
    // to move on every call.
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 10);
    all.extend_from_slice(&[("AccessKeyId", creds.access_key_id()), ("Action", action)]);
    all.extend_from_slice(params);
    all.extend_from_slice(&[
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce.as_str()),
        ("SignatureVersion", "1.0"),
        ("Timestamp", timestamp.as_str()),
        ("Version", API_VERSION),
    ]);
    if let Some(token) = creds.security_token() {
        all.push(("SecurityToken", token));
    }
    let base = inner.endpoint.as_str();
    let mut url = Vec::with_capacity(base.len() + 64 + 3 * 256);
    url.extend_from_slice(base.as_bytes());
    url.extend_from_slice(b"/?");
    let signed = current.rpc_signer.sign_into("POST", &all, &mut url);
    url.extend_from_slice(b"&Signature=");
    // The endpoint is checked ASCII and the signer writes percent-encoded ASCII.
    let Ok(mut url) = String::from_utf8(url) else {
        return (
            Err(Error::config("the request URL is not ASCII")),
            Hints::default(),
        );
    };
    sign::percent_encode_into(&mut url, &signed.signature);

    // The action every upload sends needs no copy.
    let action_header = if action == "PrepareUpload" {
        HeaderValue::from_static("PrepareUpload")
    } else {
        match crate::http::header_value("Action", action) {
            Ok(v) => v,
            Err(e) => return (Err(e), Hints::default()),
        }
    };
    let headers = vec![
        (X_ACS_ACTION, action_header),
        (X_ACS_VERSION, HeaderValue::from_static(API_VERSION)),
    ];
    let ours = std::str::from_utf8(&signed.string_to_sign).unwrap_or_default();
    post(inner, action, attempt, &url, headers, signed_offset, ours)
}

/// Signature V3 as the official Tea SDKs send it: the action's parameters
/// in the query, the common ones in signed `x-acs-*` headers, and an
/// `Authorization: ACS3-HMAC-SHA256 ...` header.
fn send_acs3(
    inner: &Inner,
    current: &Current,
    action: &str,
    params: &[(&str, &str)],
    attempt: Attempt,
) -> (Result<Answer>, Hints) {
    let session = &inner.session;
    let creds = &current.creds;
    let signed_offset = session.clock.get();
    let date = crate::clock::format_iso8601(session.clock.now());
    let nonce = sign::new_nonce();
    let empty_body = sign::sha256_hex(b"");
    let mut signed_headers: Vec<(&str, &str)> = vec![
        ("host", inner.endpoint.authority()),
        ("x-acs-action", action),
        ("x-acs-version", API_VERSION),
        ("x-acs-date", &date),
        ("x-acs-signature-nonce", &nonce),
        ("x-acs-content-sha256", &empty_body),
    ];
    if let Some(token) = creds.security_token() {
        signed_headers.push(("x-acs-security-token", token));
    }
    let signed = sign::acs3_hmac_sha256(
        "POST",
        "/",
        params,
        &signed_headers,
        &empty_body,
        creds.secret(),
    );
    // The query as signed: the canonical request's third line.
    let query = signed
        .canonical_request
        .split('\n')
        .nth(2)
        .unwrap_or_default();
    let url = format!("{}/?{query}", inner.endpoint.as_str());
    let authorization = signed.authorization(creds.access_key_id());
    let mut headers = Vec::with_capacity(signed_headers.len() + 1);
    // ureq writes `Host` itself, from the URL: the same value as signed.
    for (name, value) in signed_headers
        .iter()
        .skip(1)
        .chain([&("authorization", authorization.as_str())])
    {
        match crate::http::header_value(name, value) {
            Ok(v) => headers.push((HeaderName::from_static(name), v)),
            Err(e) => return (Err(e), Hints::default()),
        }
    }
    post(
        inner,
        action,
        attempt,
        &url,
        headers,
        signed_offset,
        &signed.string_to_sign,
    )
}

/// Sends a signed ENS request (an empty-bodied POST) and decodes a non-2xx
/// answer into its error, `ours` being the string this client signed.
fn post(
    inner: &Inner,
    action: &str,
    attempt: Attempt,
    url: &str,
    headers: Vec<(HeaderName, HeaderValue)>,
    signed_offset: i64,
    ours: &str,
) -> (Result<Answer>, Hints) {
    let session = &inner.session;
    let (result, hints) = session.exchange(Request {
        op: action,
        attempt,
        method: "POST",
        url,
        headers,
        body: Body::Empty,
        stall: None,
        https: inner.endpoint.is_https(),
        signed_offset,
        learns_clock: true,
        proxy: None,
    });
    finish(session, result, hints, signed_offset, ours)
}

/// A 2xx answer as it is; any other decoded into its error, the server's
/// string to sign compared with `ours` for a `SignatureDoesNotMatch`. A
/// refused timestamp teaches the clock from the answer's `Date`.
fn finish(
    session: &crate::http::Session,
    result: Result<Answer>,
    mut hints: Hints,
    signed_offset: i64,
    ours: &str,
) -> (Result<Answer>, Hints) {
    let answer = match result {
        Ok(a) if a.is_success() => return (Ok(a), hints),
        Ok(a) => a,
        Err(e) => return (Err(e), hints),
    };
    let e = response::decode_error_answer(answer.status, &answer.body, ours);
    if e.api()
        .is_some_and(|a| a.known_code() == crate::error::KnownCode::InvalidTimeStamp)
    {
        session.learn_from_refusal(answer.header("date"), signed_offset, &mut hints);
    }
    (Err(e), hints)
}

/// Refuses what the client sets itself and what cannot be a parameter name.
fn check_call_params(action: &str, params: &[(&str, &str)]) -> Result<()> {
    if action.is_empty() || !action.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid_input(
            "Action",
            "must be a non-empty ASCII alphanumeric API name",
        ));
    }
    for (k, _) in params {
        if k.is_empty() || k.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "parameter name",
                format!("{k:?} is empty or has control characters"),
            ));
        }
        if RESERVED_PARAMS.contains(k) {
            return Err(Error::invalid_input(
                *k,
                "is set by the client itself and cannot be passed as a parameter",
            ));
        }
    }
    Ok(())
}
