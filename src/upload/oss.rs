//! The OSS REST calls an upload makes, signed with OSS header signature V1,
//! and the retry loop around them (the same rules as the ENS calls).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::client::{transport_error, Client, MAX_RESPONSE_BYTES};
use crate::clock;
use crate::error::{ApiError, Error, Result, SignatureDiagnosis, TransportKind};
use crate::retry;
use crate::sign;

use super::target::Target;
use super::xml;

/// The OSS error code for a `Date` too far from the server's clock.
const REQUEST_TIME_TOO_SKEWED: &str = "RequestTimeTooSkewed";

/// What a request sends as its body.
pub(crate) enum Payload<'a> {
    /// No body (`Content-Length: 0` for PUT and POST).
    Empty,
    /// A small body held in memory (the CompleteMultipartUpload XML).
    Bytes(&'a [u8]),
    /// A streamed body of exactly this many bytes (sent with
    /// `Content-Length`, never chunked: OSS wants the length up front).
    Stream(&'a mut dyn Read, u64),
}

/// One OSS request: verb, key, signed sub-resources, content type.
pub(crate) struct Call<'a> {
    pub(crate) method: &'static str,
    pub(crate) key: &'a str,
    /// Sub-resources, unencoded: `("uploads", None)`, `("partNumber", Some("3"))`.
    pub(crate) query: Vec<(&'static str, Option<String>)>,
    pub(crate) content_type: &'a str,
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

/// What an attempt tells the retry loop besides its result.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Hints {
    /// The wait the server asked for (`Retry-After`).
    pub(crate) retry_after: Option<Duration>,
    /// Whether the client's clock offset is no longer the one the request
    /// was signed with (corrected by this answer's `Date`, or by another
    /// part's on another thread), so a refused `Date` is worth one more try.
    pub(crate) clock_changed: bool,
    /// Whether no further attempt is possible (a stream already consumed).
    pub(crate) final_attempt: bool,
}

/// Sends OSS requests for one target with one client's agent, clock and
/// credentials.
pub(crate) struct Oss<'c> {
    pub(crate) client: &'c Client,
    pub(crate) target: Target,
    /// A data request that makes no progress for this long fails.
    pub(crate) stall_timeout: Duration,
}

impl Oss<'_> {
    /// Signs and sends one request. `time_left` bounds the whole exchange
    /// (control requests); data requests pass `None` and are bounded by the
    /// stall timeout on every read and write instead, since a large part
    /// may rightly take long.
    pub(crate) fn send(
        &self,
        call: &Call<'_>,
        payload: Payload<'_>,
        time_left: Option<Duration>,
    ) -> (Result<Reply>, Hints) {
        let client = self.client;
        let creds = client.credentials();
        // See `Hints::clock_changed`.
        let signed_offset = client.clock().get();
        let date = clock::format_http_date(clock::unix_now().saturating_add(signed_offset));
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
        let authorization = signed.authorization(creds.access_key_id());

        let mut headers: Vec<(&str, String)> = vec![
            ("Date", date.clone()),
            ("Authorization", authorization),
            ("Accept", "*/*".to_owned()),
        ];
        for (k, v) in &oss_headers {
            headers.push((k, (*v).to_owned()));
        }
        if !call.content_type.is_empty() {
            headers.push(("Content-Type", call.content_type.to_owned()));
        }
        let https = self.target.https;
        let agent = client.agent();
        let stall = Some(self.stall_timeout);
        let result = match (call.method, payload) {
            ("PUT" | "POST", payload) => {
                let builder = if call.method == "PUT" {
                    agent.put(&url)
                } else {
                    agent.post(&url)
                };
                let mut builder = builder;
                for (k, v) in &headers {
                    builder = builder.header(*k, v);
                }
                let builder = builder
                    .config()
                    .timeout_global(time_left)
                    .timeout_per_write(stall)
                    .timeout_per_read(stall)
                    .build();
                match payload {
                    Payload::Empty => builder.send(&[][..]),
                    Payload::Bytes(b) => builder.send(b),
                    Payload::Stream(reader, len) => builder
                        .header("Content-Length", len)
                        .send(ureq::SendBody::from_reader(reader)),
                }
            }
            (method, _) => {
                let mut builder = match method {
                    "GET" => agent.get(&url),
                    "HEAD" => agent.head(&url),
                    _ => agent.delete(&url),
                };
                for (k, v) in &headers {
                    builder = builder.header(*k, v);
                }
                builder
                    .config()
                    .timeout_global(time_left)
                    .timeout_per_read(stall)
                    .build()
                    .call()
            }
        };
        let mut hints = Hints::default();
        let mut response = match result {
            Ok(r) => r,
            Err(e) => return (Err(transport_error(e, https)), hints),
        };
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let date_header = header("date");
        client.clock().observe(date_header.as_deref());
        hints.clock_changed = client.clock().get() != signed_offset;
        hints.retry_after = retry::server_retry_after(
            None,
            header("retry-after").as_deref(),
            date_header.as_deref().and_then(clock::parse_http_date),
        );
        let mut reply = Reply {
            etag: header("etag"),
            crc64: header("x-oss-hash-crc64ecma").and_then(|v| v.trim().parse().ok()),
            request_id: header("x-oss-request-id").unwrap_or_default(),
            content_length: header("content-length").and_then(|v| v.trim().parse().ok()),
            body: Vec::new(),
        };
        if (300..400).contains(&status) {
            let location = header("location");
            return (
                Err(Error::Redirect {
                    status,
                    location,
                    attempts: 1,
                }),
                hints,
            );
        }
        if call.method != "HEAD" {
            match response
                .body_mut()
                .with_config()
                .limit(MAX_RESPONSE_BYTES)
                .read_to_vec()
            {
                Ok(b) => reply.body = b,
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    return (
                        Err(Error::ResponseTooLarge {
                            status,
                            limit: MAX_RESPONSE_BYTES,
                            attempts: 1,
                        }),
                        hints,
                    )
                }
                Err(e) => return (Err(transport_error(e, https)), hints),
            }
        }
        if (200..300).contains(&status) {
            (Ok(reply), hints)
        } else {
            let e = decode_error(
                status,
                &reply.body,
                &reply.request_id,
                &signed.string_to_sign,
            );
            (Err(e), hints)
        }
    }

    /// Runs `attempt` under the client's retry policy: transient failures
    /// (connection, timeout, 5xx, throttling) and integrity mismatches are
    /// tried again after a backoff, every attempt signed anew; a refused
    /// `Date` is retried once at once when the answer corrected the clock.
    /// With a `deadline` (control requests), no wait ends past it: a wait
    /// that would is not taken and the error is returned. Without one (data
    /// requests: PutObject, UploadPart, which may rightly take long), a
    /// server's `Retry-After` is honoured up to the client's call timeout;
    /// a server asking for longer gets the error returned at once, as a
    /// control request would, rather than a retry sooner than it asked or a
    /// caller left asleep for as long as it said (a multipart upload with a
    /// checkpoint can be resumed later). The client's own backoff is never
    /// cut: it is at most its retry max delay. A raised `cancel` ends the
    /// waits early with [`Error::Cancelled`].
    pub(crate) fn retrying<T>(
        &self,
        deadline: Option<Instant>,
        cancel: &AtomicBool,
        mut attempt: impl FnMut(Option<Duration>) -> (Result<T>, Hints),
    ) -> Result<T> {
        let policy = self.client.retry_policy();
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut skew_retried = false;
        loop {
            attempts += 1;
            let time_left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if time_left == Some(Duration::ZERO) {
                return Err(Error::Transport {
                    kind: TransportKind::Timeout,
                    message: "the call timeout expired before this attempt".into(),
                    attempts,
                });
            }
            let (result, hints) = attempt(time_left);
            let failed = match result {
                Ok(v) => return Ok(v),
                Err(e @ (Error::Cancelled { .. } | Error::LocalIo { .. })) => return Err(e),
                Err(e) => e.with_attempts(attempts),
            };
            let skewed = failed.code() == Some(REQUEST_TIME_TOO_SKEWED);
            if skewed && hints.clock_changed && !skew_retried {
                skew_retried = true;
                continue;
            }
            let transient =
                retry::is_retryable(&failed) || matches!(failed, Error::Integrity { .. });
            if retries >= policy.max_retries || !transient || hints.final_attempt {
                return Err(failed);
            }
            retries += 1;
            let wait = hints.retry_after.unwrap_or_else(|| policy.backoff(retries));
            if wait_too_long(
                wait,
                hints.retry_after,
                deadline,
                self.client.call_timeout(),
            ) {
                return Err(failed);
            }
            if !sleep_unless_cancelled(wait, cancel) {
                return Err(Error::Cancelled {
                    bytes_done: 0,
                    total: 0,
                });
            }
        }
    }
}

/// Whether a retry's `wait` is not to be taken (see [`Oss::retrying`]):
/// with a `deadline`, when it would end at or past it; without one, when it
/// is a server's ask (`retry_after`) longer than `server_wait_limit`.
fn wait_too_long(
    wait: Duration,
    retry_after: Option<Duration>,
    deadline: Option<Instant>,
    server_wait_limit: Duration,
) -> bool {
    match deadline {
        Some(d) => Instant::now().checked_add(wait).is_none_or(|t| t >= d),
        None => retry_after.is_some_and(|asked| asked > server_wait_limit),
    }
}

/// Sleeps `wait`, waking early (and returning false) when `cancel` is raised.
pub(crate) fn sleep_unless_cancelled(wait: Duration, cancel: &AtomicBool) -> bool {
    const SLICE: Duration = Duration::from_millis(20);
    let until = clock::instant_after(wait);
    loop {
        if cancel.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
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
                client: sign::redact_oss_token(our_string_to_sign),
                server: sign::redact_oss_token(&server),
            },
        });
    let request_id = match field("RequestId") {
        id if id.is_empty() => header_request_id.to_owned(),
        id => id,
    };
    Error::from(ApiError {
        http_status: status,
        code,
        message: sign::redact_oss_token(&field("Message")),
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
    fn server_waits_are_bounded_without_a_deadline() {
        let limit = Duration::from_secs(2);
        let secs = Duration::from_secs;
        // Data requests: the server's ask up to the limit, the backoff always.
        assert!(!wait_too_long(secs(2), Some(secs(2)), None, limit));
        assert!(wait_too_long(secs(3), Some(secs(3)), None, limit));
        assert!(wait_too_long(
            crate::retry::MAX_SERVER_RETRY_AFTER,
            Some(crate::retry::MAX_SERVER_RETRY_AFTER),
            None,
            limit
        ));
        assert!(!wait_too_long(secs(60), None, None, limit));
        // Control requests: the deadline.
        let soon = Instant::now() + secs(1);
        assert!(wait_too_long(secs(2), None, Some(soon), limit));
        assert!(wait_too_long(Duration::MAX, None, Some(soon), limit));
        let later = Instant::now() + secs(100);
        assert!(!wait_too_long(secs(3), Some(secs(3)), Some(later), limit));
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
