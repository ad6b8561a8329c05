//! Everything between a signed request and its answer: the one HTTP
//! exchange, the one retry loop, and the connection machinery under them.
//!
//! [`Session::exchange`] sends one request and gives back its status,
//! headers and (bounded) body, with transport failures mapped onto
//! [`TransportKind`]s and the server's `Date` fed to the clock. The ENS
//! calls (`client::rpc`) and every OSS request (`upload::oss`) build their
//! signed requests, run them through [`Retry::run`], and decode the answers
//! their own way (JSON, XML).

mod endpoint;
mod proxy;
mod resolve;
mod retry;
mod transport;

use std::io::{self, Read};
use std::time::{Duration, Instant};

use ureq::http::{HeaderMap, HeaderName, HeaderValue};

use crate::clock::{self, ClockOffset};
use crate::error::{Error, Result, TransportKind};

pub(crate) use endpoint::{split_authority, Endpoint};
pub(crate) use proxy::ProxySetting;
pub(crate) use resolve::CachingResolver;
pub(crate) use retry::{server_retry_after, Attempt, Hints, Limit, Retry, RetryPolicy};
pub(crate) use transport::connector;

/// The largest response body accepted, in bytes.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// The longest timeout or delay a client accepts: one day. Longer ones are
/// an error at `build()` (a deadline must fit the clock's range).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

/// What every request of one client shares: the connection pool, the
/// learned clock offset and the retry policy. (The credentials are the
/// client's: see `credentials::CredentialCache`.)
pub(crate) struct Session {
    pub(crate) agent: ureq::Agent,
    pub(crate) clock: ClockOffset,
    pub(crate) retry: RetryPolicy,
    pub(crate) call_timeout: Duration,
    /// How proxies are chosen: the same rules for the ENS endpoint (set
    /// in the agent) and for each OSS host (set per request).
    pub(crate) proxy: ProxySetting,
}

/// A request body.
pub(crate) enum Body<'a> {
    /// No body (`Content-Length: 0` for PUT and POST).
    Empty,
    /// A small body held in memory.
    Bytes(&'a [u8]),
    /// A streamed body of exactly this many bytes (sent with
    /// `Content-Length`, never chunked: OSS wants the length up front).
    Stream(&'a mut dyn Read, u64),
}

/// One signed request, ready to send (`'b`: the body's borrow, which a
/// streamed body keeps apart from the rest).
pub(crate) struct Request<'a, 'b> {
    /// What the request does, for logs: `PrepareUpload`, `UploadPart`...
    pub(crate) op: &'a str,
    pub(crate) attempt: Attempt,
    pub(crate) method: &'static str,
    pub(crate) url: &'a str,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Body<'b>,
    /// A data request fails when no byte moves for this long.
    pub(crate) stall: Option<Duration>,
    /// Whether the URL is https (for telling TLS failures apart).
    pub(crate) https: bool,
    /// The clock offset the request was signed with.
    pub(crate) signed_offset: i64,
    /// The proxy for this request's host, when it is not the agent's (an
    /// OSS host: `NO_PROXY` and loopback are judged for it, not for ENS).
    pub(crate) proxy: Option<Option<ureq::Proxy>>,
    /// Whether the answer's `Date` may teach the clock (ENS answers); an
    /// OSS host is trusted for it only when it refused a request for skew
    /// (see [`Session::learn_from_refusal`]).
    pub(crate) learns_clock: bool,
}

/// A server's answer: any status but a redirect.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    /// Empty for HEAD; at most [`MAX_RESPONSE_BYTES`].
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// A header's value, when present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Session {
    /// Sends one request and reads its answer. Redirects are errors (a
    /// signed request is never replayed to another host); any other status
    /// is the caller's to decode. The hints tell the retry loop what the
    /// server asked for and whether the clock moved.
    pub(crate) fn exchange(&self, request: Request<'_, '_>) -> (Result<Answer>, Hints) {
        // Timed only when the line is logged.
        let started = log::log_enabled!(log::Level::Debug).then(Instant::now);
        let elapsed_ms = move || started.map_or(0, |t| t.elapsed().as_millis());
        let (op, number, https) = (request.op, request.attempt.number, request.https);
        let signed_offset = request.signed_offset;
        let learns_clock = request.learns_clock;
        // A HEAD answer has no body, whatever its Content-Length says.
        let is_head = request.method == "HEAD";
        let mut hints = Hints::default();
        // Where the request went, worked out only for an error message.
        let (url, proxy) = (request.url, request.proxy.clone());
        let place = || self.place(url, proxy.as_ref());
        let response = match self.send(request) {
            Ok(r) => r,
            Err(e) => {
                let e = transport_error(e, https, &place());
                log::debug!(
                    "{op} attempt {number}: failed after {} ms: {e}",
                    elapsed_ms()
                );
                return (Err(e), hints);
            }
        };
        let (parts, mut body) = response.into_parts();
        let status = parts.status.as_u16();
        let headers = parts.headers;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let date = header("date");
        if learns_clock {
            self.clock.observe(date, false);
        }
        hints.clock_changed = self.clock.get() != signed_offset;
        if !(200..300).contains(&status) {
            hints.retry_after = server_retry_after(
                header("x-acs-retry-after"),
                header("retry-after"),
                date.and_then(clock::parse_http_date),
            );
        }
        log::debug!(
            "{op} attempt {number}: HTTP {status} in {} ms, request id {}",
            elapsed_ms(),
            header("x-acs-request-id")
                .or_else(|| header("x-oss-request-id"))
                .unwrap_or("-")
        );
        if (300..400).contains(&status) {
            let location = header("location").map(str::to_owned);
            return (
                Err(Error::Redirect {
                    status,
                    location,
                    attempts: 1,
                }),
                hints,
            );
        }
        let body = if is_head {
            Vec::new()
        } else {
            match body.with_config().limit(MAX_RESPONSE_BYTES).read_to_vec() {
                Ok(b) => b,
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
                Err(e) => return (Err(transport_error(e, https, &place())), hints),
            }
        };
        (
            Ok(Answer {
                status,
                headers,
                body,
            }),
            hints,
        )
    }

    /// A server refused a request's time: its `Date` is believed at once.
    /// Sets `hints.clock_changed` when the offset is no longer the one the
    /// request was signed with.
    pub(crate) fn learn_from_refusal(
        &self,
        date: Option<&str>,
        signed_offset: i64,
        hints: &mut Hints,
    ) {
        self.clock.observe(date, true);
        hints.clock_changed = self.clock.get() != signed_offset;
    }

    /// Where a request goes, for its transport errors: the URL's host and
    /// port (never its path or query, which may carry a signature), and the
    /// proxy it goes through, if any.
    fn place(&self, url: &str, per_request_proxy: Option<&Option<ureq::Proxy>>) -> String {
        let target = host_port(url);
        let proxy = match per_request_proxy {
            Some(per_request) => per_request.as_ref(),
            None => self.agent.config().proxy(),
        };
        match proxy {
            Some(p) => format!("proxy {}:{} (for {target})", p.host(), p.port()),
            None => target,
        }
    }

    /// Hands the request to the agent with the limits it asks for.
    fn send(
        &self,
        request: Request<'_, '_>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let Request {
            method,
            url,
            headers,
            body,
            stall,
            attempt,
            proxy,
            ..
        } = request;
        // The agent's own call timeout needs no per-request configuration
        // (the common case: an ENS call's first attempt).
        let global = match attempt.limit {
            Limit::Agent if stall.is_none() && proxy.is_none() => None,
            Limit::Agent => Some(self.agent.config().timeouts().global),
            Limit::Remaining(left) => Some(Some(left)),
            Limit::Unbounded => Some(None),
        };
        macro_rules! configured {
            ($builder:expr) => {{
                let mut b = $builder;
                for (k, v) in headers {
                    b = b.header(k, v);
                }
                match global {
                    None => b,
                    Some(global) => {
                        let c = b
                            .config()
                            .timeout_global(global)
                            .timeout_per_read(stall)
                            .timeout_per_write(stall);
                        match proxy.clone() {
                            Some(p) => c.proxy(p).build(),
                            None => c.build(),
                        }
                    }
                }
            }};
        }
        let agent = &self.agent;
        match method {
            "PUT" | "POST" => {
                let b = configured!(if method == "PUT" {
                    agent.put(url)
                } else {
                    agent.post(url)
                });
                match body {
                    Body::Empty => b.send(&[][..]),
                    Body::Bytes(bytes) => b.send(bytes),
                    Body::Stream(reader, len) => b
                        .header("Content-Length", len)
                        .send(ureq::SendBody::from_reader(reader)),
                }
            }
            "GET" => configured!(agent.get(url)).call(),
            "HEAD" => configured!(agent.head(url)).call(),
            _ => configured!(agent.delete(url)).call(),
        }
    }
}

/// A header value from text, or an [`Error::InvalidInput`] naming the header.
pub(crate) fn header_value(name: &str, value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_input(
            name,
            "cannot be sent as an HTTP header value (control characters or non-visible bytes)",
        )
    })
}

/// `host:port` of a URL (the scheme's default port when it names none):
/// no user info, path or query.
fn host_port(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return "the server".to_owned();
    };
    let host = uri.host().unwrap_or("?");
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    format!("{host}:{port}")
}

/// Maps ureq's errors onto [`TransportKind`]s, naming `place` (the host
/// and port, or the proxy, from [`Session::place`]). Messages never
/// include the URL's path or query (they may carry the signature and a
/// security token).
pub(crate) fn transport_error(e: ureq::Error, https: bool, place: &str) -> Error {
    use ureq::Error as U;
    let mut source = None;
    let (kind, detail) = match e {
        U::Timeout(t) => (TransportKind::Timeout, format!("{t} timeout expired")),
        U::HostNotFound => (TransportKind::Dns, "host name not found".to_owned()),
        U::ConnectionFailed => (TransportKind::Connect, "connection failed".to_owned()),
        // std reports a failed getaddrinfo as a plain I/O error.
        U::Io(io) if io.to_string().contains("failed to lookup address") => {
            (TransportKind::Dns, io.to_string())
        }
        // rustls errors reach us wrapped as InvalidData I/O errors.
        U::Io(io) if https && io.kind() == io::ErrorKind::InvalidData => {
            (TransportKind::Tls, io.to_string())
        }
        U::Io(io) => {
            let found = (io_kind(&io), io.to_string());
            source = Some(std::sync::Arc::new(io));
            found
        }
        U::Protocol(p) => (TransportKind::Protocol, p.to_string()),
        U::Tls(msg) => (TransportKind::Tls, msg.to_owned()),
        #[cfg(feature = "rustls")]
        U::Rustls(r) => (TransportKind::Tls, r.to_string()),
        #[cfg(feature = "native-tls")]
        U::NativeTls(n) => (TransportKind::Tls, n.to_string()),
        #[cfg(any(feature = "rustls", feature = "native-tls"))]
        U::Pem(p) => (TransportKind::Tls, format!("PEM: {p}")),
        U::InvalidProxyUrl => return Error::config("invalid proxy URL"),
        U::BadUri(_) => return Error::config("the request URL is invalid"),
        U::Http(h) => (TransportKind::Protocol, h.to_string()),
        other => (TransportKind::Io, other.to_string()),
    };
    let message = match kind {
        TransportKind::Dns => format!("cannot resolve {place}: {detail}"),
        TransportKind::Connect => format!("cannot connect to {place}: {detail}"),
        TransportKind::Tls if answered_in_plain_http(&detail) => format!(
            "{place} answered the TLS handshake in plain HTTP: it speaks http, not https \
             (use an http:// URL for it, or the port where it speaks TLS) ({detail})"
        ),
        TransportKind::Tls => format!("TLS with {place} failed: {detail}"),
        _ => format!("{place}: {detail}"),
    };
    Error::Transport {
        source,
        kind,
        message,
        attempts: 1,
    }
}

/// Whether a TLS library's error says the server's first bytes were not a
/// TLS record but text, as from a plain-HTTP server: rustls reports an
/// invalid content type, OpenSSL a wrong version number.
fn answered_in_plain_http(tls_error: &str) -> bool {
    tls_error.contains("InvalidContentType") || tls_error.contains("wrong version number")
}

fn io_kind(e: &io::Error) -> TransportKind {
    use io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => TransportKind::Timeout,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::AddrNotAvailable
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::HostUnreachable
        | K::NetworkUnreachable => TransportKind::Connect,
        _ => TransportKind::Io,
    }
}
