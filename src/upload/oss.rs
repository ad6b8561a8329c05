//! The OSS REST calls an upload makes, signed with OSS header signature V1,
//! sent through the shared exchange and retry loop (`crate::http`).

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ureq::http::HeaderName;

use crate::error::{ApiError, Error, Result, SignatureDiagnosis};
use crate::http::{header_value, Answer, Attempt, Request, Retry, Session};
use crate::sign;

pub(crate) use crate::http::{Body as Payload, Hints};

use super::target::Target;
use super::xml;

/// One OSS request: verb, key, signed sub-resources, content type.
pub(crate) struct Call<'a> {
    pub(crate) method: &'static str,
    pub(crate) key: &'a str,
    /// Sub-resources, unencoded: `("uploads", None)`, `("partNumber", Some("3"))`.
    pub(crate) query: Vec<(&'static str, Option<String>)>,
    pub(crate) content_type: &'a str,
}

impl Call<'_> {
    /// The OSS operation's name, for logs.
    fn op(&self) -> &'static str {
        let has = |name: &str| self.query.iter().any(|(k, _)| *k == name);
        match self.method {
            "PUT" if has("partNumber") => "UploadPart",
            "PUT" => "PutObject",
            "POST" if has("uploads") => "InitiateMultipartUpload",
            "POST" => "CompleteMultipartUpload",
            "GET" if has("uploadId") => "ListParts",
            "GET" => "GetObject",
            "HEAD" => "HeadObject",
            "DELETE" if has("uploadId") => "AbortMultipartUpload",
            _ => "DeleteObject",
        }
    }
}

/// The parts of a 2xx answer an upload uses.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub(crate) etag: Option<String>,
    /// `x-oss-hash-crc64ecma`, when sent and a number.
    pub(crate) crc64: Option<u64>,
    pub(crate) request_id: String,
    pub(crate) content_length: Option<u64>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    fn from_answer(answer: Answer) -> Reply {
        let header = |name: &str| answer.header(name).map(str::to_owned);
        Reply {
            etag: header("etag"),
            crc64: header("x-oss-hash-crc64ecma").and_then(|v| v.trim().parse().ok()),
            request_id: header("x-oss-request-id").unwrap_or_default(),
            content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
            body: answer.body,
        }
    }
}

/// Sends OSS requests for one target with one client's session.
pub(crate) struct Oss<'c> {
    pub(crate) session: &'c Session,
    pub(crate) target: Target,
    /// A data request that makes no progress for this long fails.
    pub(crate) stall_timeout: Duration,
}

impl Oss<'_> {
    /// When a control request (initiate, complete, abort) must be done.
    pub(crate) fn control_deadline(&self) -> Instant {
        crate::clock::instant_after(self.session.call_timeout)
    }

    /// Signs and sends one request. The attempt's limit bounds the whole
    /// exchange (control requests); data requests are unbounded overall and
    /// bounded by the stall timeout on every read and write instead, since
    /// a large part may rightly take long.
    pub(crate) fn send(
        &self,
        call: &Call<'_>,
        payload: Payload<'_>,
        attempt: Attempt,
    ) -> (Result<Reply>, Hints) {
        let session = self.session;
        let creds = &session.credentials;
        // See `Hints::clock_changed`.
        let signed_offset = session.clock.get();
        let date = crate::clock::format_http_date(session.clock.now());
        let mut oss_headers: Vec<(&str, &str)> = Vec::new();
        if let Some(token) = creds.security_token() {
            oss_headers.push(("x-oss-security-token", token));
        }
        let sub: Vec<(&str, Option<&str>)> =
            call.query.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        let resource = sign::oss_canonical_resource(Some(&self.target.bucket), call.key, &sub);
        let signed = sign::oss_v1(
            call.method,
            "",
            call.content_type,
            &date,
            &oss_headers,
            &resource,
            creds.secret(),
        );
        let url = self.target.url(call.key, &encode_query(&call.query));
        let mut headers: Vec<(&str, &str)> = vec![("date", &date), ("accept", "*/*")];
        let authorization = signed.authorization(creds.access_key_id());
        headers.push(("authorization", &authorization));
        headers.extend_from_slice(&oss_headers);
        if !call.content_type.is_empty() {
            headers.push(("content-type", call.content_type));
        }
        let headers = match headers
            .into_iter()
            .map(|(k, v)| Ok((HeaderName::from_static(k), header_value(k, v)?)))
            .collect::<Result<Vec<_>>>()
        {
            Ok(h) => h,
            Err(e) => return (Err(e), Hints::default()),
        };
        let (result, hints) = session.exchange(Request {
            op: call.op(),
            attempt,
            method: call.method,
            url: &url,
            headers,
            body: payload,
            stall: Some(self.stall_timeout),
            https: self.target.https,
            signed_offset,
        });
        let result = result.and_then(|answer| {
            if answer.is_success() {
                Ok(Reply::from_answer(answer))
            } else {
                let request_id = answer.header("x-oss-request-id").unwrap_or_default();
                Err(decode_error(
                    answer.status,
                    &answer.body,
                    request_id,
                    &signed.string_to_sign,
                ))
            }
        });
        (result, hints)
    }

    /// Runs `attempt` in the shared retry loop under the client's policy.
    /// With a `deadline` (control requests), no wait ends past it. Without
    /// one (data requests: PutObject, UploadPart, which may rightly take
    /// long), a server's `Retry-After` is honoured up to the client's call
    /// timeout; a server asking for longer gets its error returned at once
    /// (a multipart upload with a checkpoint can be resumed later). A
    /// raised `cancel` ends the waits early with [`Error::Cancelled`].
    pub(crate) fn retrying<T>(
        &self,
        deadline: Option<Instant>,
        cancel: &AtomicBool,
        attempt: impl FnMut(Attempt) -> (Result<T>, Hints),
    ) -> Result<T> {
        Retry {
            policy: self.session.retry,
            deadline,
            deadline_is_agents: false,
            server_wait_limit: self.session.call_timeout,
            cancel: Some(cancel),
        }
        .run(attempt)
    }
}

/// `uploads&partNumber=3&uploadId=U`: the sub-resources as a query string.
fn encode_query(query: &[(&str, Option<String>)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        sign::percent_encode_into(&mut out, k);
        if let Some(v) = v {
            out.push('=');
            sign::percent_encode_into(&mut out, v);
        }
    }
    out
}

/// Turns an OSS error answer (`<Error><Code>...`) into [`Error::Api`], or
/// [`Error::Decode`] when the body is not OSS's XML. A HEAD answer has no
/// body: its status names the error.
pub(crate) fn decode_error(
    status: u16,
    body: &[u8],
    header_request_id: &str,
    our_string_to_sign: &str,
) -> Error {
    let text = String::from_utf8_lossy(body);
    let error = xml::elements(&text, "Error").first().map(|s| s.to_string());
    let code = error.as_deref().and_then(|e| xml::text(e, "Code"));
    let code = match (code, body.is_empty(), status) {
        (Some(c), _, _) if !c.is_empty() => c,
        (_, true, 404) => "NoSuchKey".to_owned(),
        (_, true, 403) => "AccessDenied".to_owned(),
        _ => {
            return crate::response::decode_error(status, body, "not an OSS XML error answer")
                .with_attempts(1)
        }
    };
    let error = error.unwrap_or_default();
    let field = |tag: &str| xml::text(&error, tag).unwrap_or_default();
    let signature_diagnosis =
        (code == "SignatureDoesNotMatch").then(|| match xml::text(&error, "StringToSign") {
            None => SignatureDiagnosis::ServerStringUnknown,
            Some(server) if server == our_string_to_sign => SignatureDiagnosis::WrongSecret,
            Some(server) => SignatureDiagnosis::CanonicalizationDiffers {
                client: crate::redact::tokens(our_string_to_sign),
                server: crate::redact::tokens(&server),
            },
        });
    let request_id = match field("RequestId") {
        id if id.is_empty() => header_request_id.to_owned(),
        id => id,
    };
    Error::from(ApiError {
        http_status: status,
        code,
        message: crate::redact::tokens(&field("Message")),
        request_id,
        host_id: field("HostId"),
        recommend: field("RecommendDoc"),
        signature_diagnosis,
        attempts: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_valueless_subresources() {
        let q = vec![
            ("partNumber", Some("3".to_owned())),
            ("uploadId", Some("a b+c".to_owned())),
        ];
        assert_eq!(encode_query(&q), "partNumber=3&uploadId=a%20b%2Bc");
        assert_eq!(encode_query(&[("uploads", None)]), "uploads");
    }

    #[test]
    fn oss_errors_become_api_errors() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchUpload</Code>\
            <Message>The specified upload does not exist.</Message><RequestId>R1</RequestId>\
            <HostId>b.oss</HostId></Error>";
        let e = decode_error(404, body, "HDR", "");
        let api = e.api().unwrap();
        assert_eq!(
            (
                api.http_status,
                api.code.as_str(),
                api.request_id.as_str(),
                api.host_id.as_str()
            ),
            (404, "NoSuchUpload", "R1", "b.oss")
        );
        // HEAD answers carry no body.
        assert_eq!(
            decode_error(404, b"", "HDR", "").api().unwrap().code,
            "NoSuchKey"
        );
        assert_eq!(decode_error(404, b"", "HDR", "").request_id(), Some("HDR"));
        assert!(matches!(
            decode_error(502, b"<html>bad gateway</html>", "", ""),
            Error::Decode { .. }
        ));
    }

    #[test]
    fn signature_mismatch_is_diagnosed_without_the_token() {
        let ours = "PUT\n\n\nDate\nx-oss-security-token:SECRET-TOKEN\n/b/k";
        let body = |sts: &str| {
            format!(
                "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message>\
                 <StringToSign>{}</StringToSign></Error>",
                xml::escape_text(sts)
            )
        };
        let same = decode_error(403, body(ours).as_bytes(), "", ours);
        assert_eq!(
            same.api().unwrap().signature_diagnosis,
            Some(SignatureDiagnosis::WrongSecret)
        );
        let other = "PUT\n\n\nDate\nx-oss-security-token:SECRET-TOKEN\n/b/other";
        let differs = decode_error(403, body(other).as_bytes(), "", ours);
        let text = format!("{differs} {differs:?}");
        assert!(
            text.contains("/b/other") && !text.contains("SECRET-TOKEN"),
            "{text}"
        );
    }
}
