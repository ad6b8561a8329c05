//! Decoding what the API answers: success bodies into types, error bodies
//! into [`Error::Api`], anything else into [`Error::Decode`]. Pure functions,
//! so they can be fuzzed and reused by callers with their own HTTP stack.

use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error, Result, SignatureDiagnosis};
use crate::prepare_upload::PrepareUploadResponse;

/// How many bytes of an undecodable body an error keeps.
pub const BODY_PREFIX_BYTES: usize = 256;

/// What an `InvalidBucketName` answer's message gains: the naming rule the
/// service applies (OSS bucket naming), which its own message leaves out.
pub const BUCKET_NAME_RULE: &str = "a bucket name is 3 to 63 characters of lowercase \
     letters a-z, digits 0-9 and hyphens (-), and starts and ends with a letter or digit";

/// Decodes a body as `T`, for a status the caller already knows is 2xx;
/// a body that is not `T` is an [`Error::Decode`] carrying `status`.
pub fn decode_success<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| decode_error(status, body, &e.to_string()))
}

/// Decodes a whole `PrepareUpload` answer: a 2xx into the response, a
/// redirect into [`Error::Redirect`], anything else through
/// [`decode_error_answer`].
///
/// ```
/// use ens_upload::response::decode_prepare_upload;
/// let ok = decode_prepare_upload(200, br#"{"RequestId":"r","BucketName":"b","Endpoint":"e"}"#).unwrap();
/// assert_eq!(ok.bucket_name, "b");
/// assert!(decode_prepare_upload(200, b"\xff garbage").is_err());
/// ```
pub fn decode_prepare_upload(status: u16, body: &[u8]) -> Result<PrepareUploadResponse> {
    match status {
        200..=299 => decode_success(status, body),
        300..=399 => Err(Error::Redirect {
            status,
            location: None,
            attempts: 1,
        }),
        _ => Err(decode_error_answer(status, body, "")),
    }
}

/// An error for a body that is not what the API sends.
pub(crate) fn decode_error(status: u16, body: &[u8], reason: &str) -> Error {
    let prefix = &body[..body.len().min(BODY_PREFIX_BYTES)];
    Error::Decode {
        status,
        reason: reason.to_owned(),
        body_prefix: String::from_utf8_lossy(prefix).into_owned(),
        attempts: 1,
    }
}

/// Turns a non-2xx answer into an [`Error::Api`], or an [`Error::Decode`]
/// when the body is not the API's JSON error shape.
///
/// `our_string_to_sign` is what the client signed; for
/// `SignatureDoesNotMatch` it is compared with the server's (pass `""` when
/// unknown). Security tokens in messages are redacted. The message of an
/// `InvalidBucketName` answer gets the naming rule ([`BUCKET_NAME_RULE`])
/// after it, in parentheses.
///
/// ```
/// use ens_upload::{response::decode_error_answer, Error};
/// let body = br#"{"RequestId":"R","HostId":"h","Code":"NoSuchBucket","Message":"m"}"#;
/// let e = decode_error_answer(404, body, "");
/// assert!(e.api().unwrap().is_no_such_bucket());
/// assert!(matches!(decode_error_answer(502, b"<html>", ""), Error::Decode { .. }));
/// ```
pub fn decode_error_answer(status: u16, body: &[u8], our_string_to_sign: &str) -> Error {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "Code")]
        code: Option<String>,
        #[serde(rename = "Message", default)]
        message: Option<String>,
        #[serde(rename = "RequestId", default)]
        request_id: Option<String>,
        #[serde(rename = "HostId", default)]
        host_id: Option<String>,
        #[serde(rename = "Recommend", default)]
        recommend: Option<String>,
    }
    let parsed: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => {
            return decode_error(
                status,
                body,
                &format!("not the API's JSON error shape: {e}"),
            )
        }
    };
    let Some(code) = parsed.code.filter(|c| !c.is_empty()) else {
        return decode_error(status, body, "error response without a Code");
    };
    let mut message = parsed.message.unwrap_or_default();
    // The service says the name is invalid, not why: add the rule.
    if code == "InvalidBucketName" {
        message = format!("{message} ({BUCKET_NAME_RULE})");
    }
    let signature_diagnosis =
        (code == "SignatureDoesNotMatch").then(|| diagnose_signature(&message, our_string_to_sign));
    Error::from(ApiError {
        http_status: status,
        message: crate::redact::tokens(&message),
        code,
        request_id: parsed.request_id.unwrap_or_default(),
        host_id: parsed.host_id.unwrap_or_default(),
        recommend: parsed.recommend.unwrap_or_default(),
        ec: String::new(),
        signature_diagnosis,
        attempts: 1,
    })
}

/// Compares the server's string to sign (after the last `:` of its message,
/// as the official SDKs read it) with ours.
fn diagnose_signature(message: &str, ours: &str) -> SignatureDiagnosis {
    let server = match message.rsplit_once(':') {
        Some((_, s)) if s.trim().contains("&%2F&") => s.trim(),
        _ => return SignatureDiagnosis::ServerStringUnknown,
    };
    if server == ours {
        SignatureDiagnosis::WrongSecret
    } else {
        SignatureDiagnosis::CanonicalizationDiffers {
            client: crate::redact::tokens(ours),
            server: crate::redact::tokens(server),
        }
    }
}
