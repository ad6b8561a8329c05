//! The OSS REST calls an upload makes, signed with OSS signature V4 or V1
//! (see `signing`), sent through the shared exchange and retry loop
//! (`crate::http`).

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ureq::http::HeaderName;

use crate::credentials::CredentialCache;
use crate::error::{ApiError, Error, Result, SignatureDiagnosis};
use crate::http::{header_value, Answer, Attempt, Request, Retry, Session};
use crate::sign;

pub(crate) use crate::http::{Body as Payload, Hints};

/// Bodies from this size on are sent with `Expect: 100-continue`.
pub(crate) const EXPECT_CONTINUE_MIN_BYTES: u64 = 1 << 20;

/// OSS's code for a request time too far from its clock.
const REQUEST_TIME_TOO_SKEWED: &str = "RequestTimeTooSkewed";

use super::signing::Signing;
use super::target::Target;
use super::xml;

/// One OSS request: verb, key, signed sub-resources, content type.
pub(crate) struct Call<'a> {
    pub(crate) method: &'static str,
    pub(crate) key: &'a str,
    /// Sub-resources, unencoded: `("uploads", None)`, `("partNumber", Some("3"))`.
    pub(crate) query: Vec<(&'static str, Option<String>)>,
    pub(crate) content_type: &'a str,
    /// Further headers (names lowercase): the object's metadata and the
    /// like; every `x-oss-*` one is signed.
    pub(crate) headers: Vec<(String, String)>,
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
    /// Fetched per request: a long upload signs its later parts with
    /// refreshed credentials.
    pub(crate) credentials: &'c CredentialCache,
    pub(crate) target: Target,
    /// A data request that makes no progress for this long fails.
    pub(crate) stall_timeout: Duration,
    /// V4 or V1, shared by the upload's threads.
    pub(crate) signing: Signing,
    /// The proxy for the OSS host, by the same rules as the ENS endpoint's.
    pub(crate) proxy: Option<ureq::Proxy>,
    /// `x-oss-traffic-limit` for data requests (bits per second).
    pub(crate) traffic_limit: Option<u64>,
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
        let current = match self.credentials.get(session) {
            Ok(c) => c,
            Err(e) => return (Err(e), Hints::default()),
        };
        let creds = &current.creds;
        // See `Hints::clock_changed`.
        let signed_offset = session.clock.get();
        let now = session.clock.now();
        let date = crate::clock::format_http_date(now);
        let sub: Vec<(&str, Option<&str>)> =
            call.query.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        let mut headers: Vec<(&str, &str)> = vec![("date", &date), ("accept", "*/*")];
        // A large body waits for the server's go-ahead: a refusal (403,
        // a V1 refused) then comes back as itself, before the body is sent,
        // instead of as a reset connection after it.
        if matches!(payload, Payload::Stream(_, len) if len >= EXPECT_CONTINUE_MIN_BYTES) {
            headers.push(("expect", "100-continue"));
        }
        if !call.content_type.is_empty() {
            headers.push(("content-type", call.content_type));
        }
        let traffic_limit = self.traffic_limit.map(|l| l.to_string());
        if let (Some(limit), "PutObject" | "UploadPart") = (&traffic_limit, call.op()) {
            headers.push(("x-oss-traffic-limit", limit));
        }
        if let Some(token) = creds.security_token() {
            headers.push(("x-oss-security-token", token));
        }
        headers.extend(call.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let region = self.signing.v4_region();
        let oss_date;
        let (authorization, ours) = match region {
            Some(region) => {
                oss_date = crate::clock::format_compact_iso8601(now);
                headers.push(("x-oss-date", &oss_date));
                headers.push(("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD));
                let signed = sign::oss_v4(
                    call.method,
                    Some(&self.target.bucket),
                    call.key,
                    &sub,
                    &headers,
                    &[],
                    region,
                    &oss_date,
                    creds.secret(),
                );
                let ours = Ours {
                    string_to_sign: signed.string_to_sign.clone(),
                    canonical_request: Some(signed.canonical_request.clone()),
                };
                (signed.authorization(creds.access_key_id()), ours)
            }
            None => {
                let resource =
                    sign::oss_canonical_resource(Some(&self.target.bucket), call.key, &sub);
                let signed = sign::oss_v1(
                    call.method,
                    "",
                    call.content_type,
                    &date,
                    &headers,
                    &resource,
                    creds.secret(),
                );
                let authorization = signed.authorization(creds.access_key_id());
                let ours = Ours {
                    string_to_sign: signed.string_to_sign,
                    canonical_request: None,
                };
                (authorization, ours)
            }
        };
        headers.push(("authorization", &authorization));
        let url = self.target.url(call.key, &encode_query(&call.query));
        let headers = match headers
            .into_iter()
            .map(|(k, v)| Ok((header_name(k)?, header_value(k, v)?)))
            .collect::<Result<Vec<_>>>()
        {
            Ok(h) => h,
            Err(e) => return (Err(e), Hints::default()),
        };
        let (result, mut hints) = session.exchange(Request {
            op: call.op(),
            attempt,
            method: call.method,
            url: &url,
            headers,
            body: payload,
            stall: Some(self.stall_timeout),
            https: self.target.https,
            signed_offset,
            learns_clock: false,
            proxy: Some(self.proxy.clone()),
        });
        let result = result.and_then(|answer| {
            // A 200 whose body is an `<Error>` document is that error: OSS
            // (like S3) can fail a CompleteMultipartUpload after its status
            // line went out.
            if answer.is_success() && !is_error_document(&answer.body) {
                return Ok(Reply::from_answer(answer));
            }
            let request_id = answer.header("x-oss-request-id").unwrap_or_default();
            let e = decode_error(answer.status, &answer.body, request_id, &ours);
            // Only a refusal for skew makes an OSS host's Date trusted.
            if e.code() == Some(REQUEST_TIME_TOO_SKEWED) {
                session.learn_from_refusal(answer.header("date"), signed_offset, &mut hints);
            }
            Err(e)
        });
        let result = match result {
            Err(e) if region.is_none() => {
                let (e, switched) = self.signing.on_v1_error(e);
                hints.sign_again |= switched;
                Err(e)
            }
            other => other,
        };
        if let Err(e) = &result {
            self.credentials
                .after_refusal(session, &current, e, &mut hints);
        }
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

/// A header's name: the object's metadata names are the caller's, checked
/// before (ASCII letters, digits, `-`), so this fails only for a bug.
fn header_name(name: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_input(name.to_owned(), "is not an HTTP header name"))
}

/// Whether `body` is an XML `<Error>` document (after any XML declaration).
fn is_error_document(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(256)]);
    let mut rest = text.trim_start();
    if rest.starts_with("<?xml") {
        rest = rest
            .find("?>")
            .map_or("", |end| rest[end + 2..].trim_start());
    }
    rest.starts_with("<Error>")
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
/// What this client signed, for diagnosing a `SignatureDoesNotMatch`.
#[derive(Debug, Default)]
pub(crate) struct Ours {
    pub(crate) string_to_sign: String,
    /// V4's canonical request (V1 has none).
    pub(crate) canonical_request: Option<String>,
}

pub(crate) fn decode_error(
    status: u16,
    body: &[u8],
    header_request_id: &str,
    ours: &Ours,
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
    // The same string to sign on both sides means the secret differs; else
    // the canonical requests (V4) or strings to sign (V1) show where.
    let signature_diagnosis =
        (code == "SignatureDoesNotMatch").then(|| match xml::text(&error, "StringToSign") {
            None => SignatureDiagnosis::ServerStringUnknown,
            Some(server) if server == ours.string_to_sign => SignatureDiagnosis::WrongSecret,
            Some(server) => {
                let (client, server) = match (
                    &ours.canonical_request,
                    xml::text(&error, "CanonicalRequest"),
                ) {
                    (Some(c), Some(s)) => (c.clone(), s),
                    _ => (ours.string_to_sign.clone(), server),
                };
                SignatureDiagnosis::CanonicalizationDiffers {
                    client: crate::redact::tokens(&client),
                    server: crate::redact::tokens(&server),
                }
            }
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
        ec: field("EC"),
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
        let e = decode_error(404, body, "HDR", &Ours::default());
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
            decode_error(404, b"", "HDR", &Ours::default())
                .api()
                .unwrap()
                .code,
            "NoSuchKey"
        );
        assert_eq!(
            decode_error(404, b"", "HDR", &Ours::default()).request_id(),
            Some("HDR")
        );
        assert!(matches!(
            decode_error(502, b"<html>bad gateway</html>", "", &Ours::default()),
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
        let v1 = |s: &str| Ours {
            string_to_sign: s.to_owned(),
            canonical_request: None,
        };
        let same = decode_error(403, body(ours).as_bytes(), "", &v1(ours));
        assert_eq!(
            same.api().unwrap().signature_diagnosis,
            Some(SignatureDiagnosis::WrongSecret)
        );
        let other = "PUT\n\n\nDate\nx-oss-security-token:SECRET-TOKEN\n/b/other";
        let differs = decode_error(403, body(other).as_bytes(), "", &v1(ours));
        let text = format!("{differs} {differs:?}");
        assert!(
            text.contains("/b/other") && !text.contains("SECRET-TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn v4_signature_mismatch_shows_the_canonical_requests() {
        let ours = Ours {
            string_to_sign: "OSS4-HMAC-SHA256\nD\nscope\nabc".into(),
            canonical_request: Some("PUT\n/b/k\n\nx-oss-security-token:TOK\n".into()),
        };
        let body = |sts: &str, canonical: &str| {
            format!(
                "<Error><Code>SignatureDoesNotMatch</Code><Message>m</Message>\
                 <CanonicalRequest>{}</CanonicalRequest><StringToSign>{}</StringToSign></Error>",
                xml::escape_text(canonical),
                xml::escape_text(sts)
            )
        };
        let same = decode_error(
            403,
            body(&ours.string_to_sign, "PUT\n/b/k").as_bytes(),
            "",
            &ours,
        );
        assert_eq!(
            same.api().unwrap().signature_diagnosis,
            Some(SignatureDiagnosis::WrongSecret)
        );
        let differs = decode_error(
            403,
            body("OSS4-HMAC-SHA256\nD\nscope\nfff", "PUT\n/b/other\n").as_bytes(),
            "",
            &ours,
        );
        match &differs.api().unwrap().signature_diagnosis {
            Some(SignatureDiagnosis::CanonicalizationDiffers { client, server }) => {
                assert!(client.starts_with("PUT\n/b/k") && !client.contains("TOK"));
                assert_eq!(server, "PUT\n/b/other");
            }
            other => panic!("{other:?} from {differs}"),
        }
    }
}
