//! The emulator's RPC API: requests checked as the service does (signature
//! 1.0 in the parameters or V3 in the headers, a Timestamp within 15
//! minutes, a nonce never seen before, a known key and its STS token),
//! then dispatched to the action; errors in the service's JSON shape.

use super::http::{HttpRequest, HttpResponse};
use super::prepare_upload::prepare_upload;
use super::record::RecordedRequest;
use super::{acs3, lock, sts, Fault, Shared, TIMESTAMP_TOLERANCE};
use crate::sign;

/// An API error to answer: status, Code, Message.
pub(super) struct ApiFailure {
    status: u16,
    code: String,
    message: String,
}

pub(super) fn fail(status: u16, code: impl Into<String>, message: impl Into<String>) -> ApiFailure {
    ApiFailure {
        status,
        code: code.into(),
        message: message.into(),
    }
}

pub(super) fn handle(
    req: &HttpRequest,
    connection_id: u64,
    shared: &Shared,
    fault: Option<&Fault>,
) -> HttpResponse {
    let request_id = request_id();
    let (path, raw_query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    let params = request_params(req);
    let sts_call = sts::is_sts_call(req, params.as_deref().unwrap_or_default());

    let outcome = if let Some(failure) = fault.and_then(fault_failure) {
        Err(failure)
    } else if path != "/" {
        Err(fail(
            404,
            "InvalidAction.NotFound",
            format!("Specified api is not found, please check your url and method. (path {path})"),
        ))
    } else {
        match params {
            Ok(ref p) if sts_call && param(p, "Action") == Some(sts::UNSIGNED_ACTION) => {
                sts::assume_role_with_oidc(p, shared, &request_id)
            }
            Ok(ref p) => {
                let signed = match req.header("authorization") {
                    Some(auth) => acs3::signed(req, path, raw_query, auth),
                    None => rpc_v1_signed(&req.method, p),
                };
                signed.and_then(|signed| process(&signed, p, shared, &request_id))
            }
            Err(ref bad) => Err(fail(
                400,
                "InvalidParameter",
                format!("The query or body is not valid UTF-8 after decoding ({bad})"),
            )),
        }
    };

    let (status, code, body) = match &outcome {
        Ok(_) if fault == Some(&Fault::NonJson) => {
            (200, None, "OK, but this is not JSON".to_owned())
        }
        Ok(json) => (200, None, json.to_string()),
        Err(f) => {
            let (product, host_id) = if sts_call {
                ("Sts", sts::HOST_ID)
            } else {
                ("Ens", shared.config.host_id.as_str())
            };
            let recommend = format!(
                "https://api.aliyun.com/troubleshoot?q={}&product={product}&requestId={}",
                f.code, request_id
            );
            let body = serde_json::json!({
                "RequestId": request_id,
                "HostId": host_id,
                "Code": f.code,
                "Message": f.message,
                "Recommend": recommend,
            });
            (f.status, Some(f.code.clone()), body.to_string())
        }
    };

    lock(&shared.requests).push(RecordedRequest {
        method: req.method.clone(),
        path: path.to_owned(),
        raw_query: raw_query.to_owned(),
        params: params.unwrap_or_default(),
        headers: req.headers.clone(),
        body_len: req.body.len(),
        connection_id,
        status,
        code,
        fault: fault.cloned(),
    });

    let mut headers = vec![
        ("Content-Type", "application/json;charset=utf-8".to_owned()),
        ("x-acs-request-id", request_id),
        ("Date", crate::clock::format_http_date(shared.now())),
    ];
    let body = match fault {
        Some(Fault::Throttling { retry_after_ms }) => {
            headers.push(("x-acs-retry-after", retry_after_ms.to_string()));
            headers.push(("Retry-After", retry_after_ms.div_ceil(1000).to_string()));
            body
        }
        Some(Fault::BadGatewayHtml) => {
            headers[0].1 = "text/html".to_owned();
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>".to_owned()
        }
        _ => body,
    };
    HttpResponse {
        status,
        headers,
        body: body.into_bytes(),
    }
}

/// The API error an injected fault answers with, if it is one.
fn fault_failure(fault: &Fault) -> Option<ApiFailure> {
    match fault {
        Fault::InternalError => Some(fail(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.",
        )),
        Fault::ServiceUnavailable => Some(fail(
            503,
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
        )),
        Fault::Throttling { .. } => Some(fail(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.",
        )),
        Fault::BadGatewayHtml => Some(fail(502, "BadGateway", "gateway page")),
        _ => None,
    }
}

/// The request's parameters: its query's, then its form body's (as the
/// official SDKs send STS calls: common ones in the query, the action's in
/// the body, all signed together). Err names the bad pair.
pub(super) fn request_params(req: &HttpRequest) -> Result<Vec<(String, String)>, String> {
    let raw_query = req.target.split_once('?').map_or("", |(_, q)| q);
    let mut params = parse_pairs(raw_query)?;
    let is_form = req
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let body = std::str::from_utf8(&req.body).map_err(|_| "form body".to_owned())?;
        params.extend(parse_pairs(body)?);
    }
    Ok(params)
}

/// Splits `a=b&c=d`, percent-decoding both sides. Err names the bad pair.
pub(super) fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match (sign::percent_decode(k, true), sign::percent_decode(v, true)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(crate::prepare_upload::truncate_for_message(pair).to_owned()),
            }
        })
        .collect()
}

/// Who signed a request, and how, in whichever signature it came.
pub(super) struct Signed<'a> {
    pub(super) action: &'a str,
    pub(super) version: &'a str,
    pub(super) access_key_id: &'a str,
    pub(super) security_token: Option<&'a str>,
    pub(super) nonce: &'a str,
    /// `YYYY-MM-DDThh:mm:ssZ`, from `Timestamp` or `x-acs-date`.
    pub(super) timestamp: &'a str,
    pub(super) signature: &'a str,
    pub(super) expected: ExpectedSignature<'a>,
}

/// The server's own signature for a secret, and what to show when the
/// request's differs (the server's string to sign).
pub(super) type ExpectedSignature<'a> = Box<dyn Fn(&str) -> (String, String) + 'a>;

/// The facts of an RPC signature 1.0 request, all in its parameters.
fn rpc_v1_signed<'a>(
    method: &'a str,
    params: &'a [(String, String)],
) -> Result<Signed<'a>, ApiFailure> {
    let get = |name: &str| param(params, name);
    for required in [
        "Action",
        "Version",
        "AccessKeyId",
        "Signature",
        "SignatureMethod",
        "SignatureNonce",
        "Timestamp",
    ] {
        if get(required).is_none_or(str::is_empty) {
            return Err(fail(
                400,
                format!("Missing{required}"),
                format!("{required} is mandatory for this action."),
            ));
        }
    }
    let field = |name: &str| get(name).unwrap_or_default();
    if field("SignatureMethod") != "HMAC-SHA1" {
        return Err(fail(
            400,
            "InvalidSignatureMethod",
            format!(
                "Specified signature method {} is not valid.",
                field("SignatureMethod")
            ),
        ));
    }
    if get("SignatureVersion").is_some_and(|v| v != "1.0") {
        return Err(fail(
            400,
            "InvalidSignatureVersion",
            "Specified signature version is not valid.",
        ));
    }
    Ok(Signed {
        action: field("Action"),
        version: field("Version"),
        access_key_id: field("AccessKeyId"),
        security_token: get("SecurityToken"),
        nonce: field("SignatureNonce"),
        timestamp: field("Timestamp"),
        signature: field("Signature"),
        expected: Box::new(move |secret| {
            let unsigned: Vec<(&str, &str)> = params
                .iter()
                .filter(|(k, _)| k != "Signature")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let sig = sign::rpc_v1(method, &unsigned, secret);
            (sig.signature, sig.string_to_sign)
        }),
    })
}

/// Checks a signed request as the service does, then runs its action.
fn process(
    signed: &Signed<'_>,
    params: &[(String, String)],
    shared: &Shared,
    request_id: &str,
) -> Result<serde_json::Value, ApiFailure> {
    // Timestamp: well formed and within 15 minutes.
    let ts = signed.timestamp;
    let Some(when) = crate::clock::parse_iso8601_utc(ts) else {
        return Err(fail(
            400,
            "InvalidTimeStamp.Format",
            format!("Specified time stamp or date value is not well formatted: {ts}"),
        ));
    };
    let now = shared.now();
    if (now - when).unsigned_abs() > TIMESTAMP_TOLERANCE.as_secs() {
        return Err(fail(
            400,
            "InvalidTimeStamp.Expired",
            format!(
                "Specified time stamp or date value is expired. Server time: {}",
                crate::clock::format_iso8601(now)
            ),
        ));
    }

    // The key, its token, then the signature.
    let Some(key) = shared.key(signed.access_key_id) else {
        return Err(fail(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        ));
    };
    match (&key.token, signed.security_token) {
        (Some(_), None) => {
            return Err(fail(
                400,
                "InvalidSecurityToken.Missing",
                "The security token is required for this AccessKey.",
            ))
        }
        (Some(want), Some(got)) if want != got => {
            return Err(fail(
                400,
                "InvalidSecurityToken.Mismatch",
                "Specified SecurityToken is not valid.",
            ))
        }
        (None, Some(_)) => {
            return Err(fail(
                400,
                "InvalidSecurityToken.Malformed",
                "A SecurityToken was sent with a non-STS AccessKey.",
            ))
        }
        _ => {}
    }
    if key.expires_at.is_some_and(|expiry| now >= expiry) {
        return Err(fail(
            400,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
        ));
    }
    let (expected, string_to_sign) = (signed.expected)(&key.secret);
    if expected != signed.signature {
        return Err(fail(
            400,
            "SignatureDoesNotMatch",
            format!(
                "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
            ),
        ));
    }
    if !lock(&shared.nonces).insert(signed.nonce, when, now) {
        return Err(fail(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    let sts_action = sts::is_sts_action(signed.action);
    let version = if sts_action {
        sts::API_VERSION
    } else {
        crate::API_VERSION
    };
    if signed.version != version {
        return Err(fail(
            400,
            "InvalidVersion",
            format!(
                "Specified parameter Version {} is not valid.",
                signed.version
            ),
        ));
    }

    match signed.action {
        "PrepareUpload" => prepare_upload(key.state, params, shared, request_id),
        "AssumeRole" => sts::assume_role(&key, params, shared, request_id),
        other => Err(fail(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {other} is not found, please check your url and method."),
        )),
    }
}

/// The first value of parameter `name`.
pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A request id in the service's shape (`8-4-4-4-12` uppercase hex).
pub(super) fn request_id() -> String {
    let hex = sign::new_nonce().to_ascii_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
