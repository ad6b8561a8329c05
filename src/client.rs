//! The blocking client: one builder, one shared connection pool, one call path.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use ureq::http::{HeaderName, HeaderValue};

use crate::clock::{self, ClockOffset};
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::{Error, KnownCode, Result, TransportKind};
use crate::prepare_upload::{PrepareUploadRequest, PrepareUploadResponse};
use crate::resolve::CachingResolver;
use crate::response;
use crate::retry::{self, RetryPolicy};
use crate::sign;

/// The ENS API version this client speaks.
pub const API_VERSION: &str = "2017-11-10";
/// The endpoint used when none is set.
pub const DEFAULT_ENDPOINT: &str = "https://ens.aliyuncs.com";
/// The largest response body accepted, in bytes.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// The longest timeout the builder accepts: one day. Longer ones are an
/// error at `build()` (a deadline must fit the clock's range).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);
/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("ens-upload/", env!("CARGO_PKG_VERSION"), " (Rust)");

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

/// How the client picks an HTTP proxy.
#[derive(Clone, PartialEq, Eq)]
enum ProxySetting {
    /// `HTTPS_PROXY` / `HTTP_PROXY` (by the endpoint's scheme), minus `NO_PROXY`.
    FromEnv,
    /// Never use a proxy.
    Off,
    /// This proxy URL.
    Url(String),
}

/// Which root certificates verify the server.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CaSetting {
    /// The bundled Mozilla roots.
    Bundled,
    /// The bundled roots plus the certificates of a PEM file.
    BundledAnd(PathBuf),
    /// Only the certificates of a PEM file.
    Only(PathBuf),
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    credentials: Option<Credentials>,
    profile: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    call_timeout: Duration,
    proxy: ProxySetting,
    ca: CaSetting,
    max_idle_connections: usize,
    retry: RetryPolicy,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proxy = match &self.proxy {
            ProxySetting::FromEnv => "from environment".to_owned(),
            ProxySetting::Off => "off".to_owned(),
            ProxySetting::Url(u) => redact_userinfo(u),
        };
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("profile", &self.profile)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("proxy", &proxy)
            .field("ca", &self.ca)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            credentials: None,
            profile: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(30),
            proxy: ProxySetting::FromEnv,
            ca: CaSetting::Bundled,
            max_idle_connections: 8,
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// The API endpoint, `http(s)://host[:port]` (default `https://ens.aliyuncs.com`).
    /// Plain `http` is allowed, for emulators and TLS-terminating proxies.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into();
        self
    }

    /// The credentials to sign with. Without this, `build()` runs the default
    /// chain ([`Credentials::from_default_chain`]).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// When no credentials are given: the profile the default chain reads
    /// from the credentials file and `config.json`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// Time allowed to resolve and connect, TLS included (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed to wait for the response headers, and again for its
    /// body (default 10 s).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Overall limit for one call: every attempt and every wait between
    /// them (default 30 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How many times a failed call is tried again (default 3; 0 turns
    /// retries off). Retried: failed name lookups, connection failures and
    /// timeouts, HTTP 5xx,
    /// `Throttling*` and `ServiceUnavailable`. Every attempt is signed anew.
    pub fn retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// The first backoff ceiling (default 200 ms); it doubles with every
    /// retry, and the wait is drawn at random below it ("full jitter").
    pub fn retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry.base_delay = delay;
        self
    }

    /// The largest backoff ceiling (default 5 s).
    pub fn retry_max_delay(mut self, delay: Duration) -> Self {
        self.retry.max_delay = delay;
        self
    }

    /// Sends every request through this HTTP proxy (`http://[user:pass@]host:port`),
    /// ignoring the environment.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self
    }

    /// Never uses a proxy, whatever the environment says.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Off;
        self
    }

    /// Trusts the certificates in this PEM file besides the bundled roots
    /// (e.g. a corporate TLS-inspecting proxy's CA).
    pub fn add_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = CaSetting::BundledAnd(path.into());
        self
    }

    /// Trusts only the certificates in this PEM file, not the bundled roots.
    pub fn ca_file_only(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = CaSetting::Only(path.into());
        self
    }

    /// How many idle keep-alive connections the pool keeps (default 8).
    pub fn max_idle_connections(mut self, n: usize) -> Self {
        self.max_idle_connections = n;
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// Fails on an invalid endpoint URL, proxy URL or CA file, and when no
    /// credentials were given and the default chain finds none.
    pub fn build(self) -> Result<Client> {
        let endpoint = Endpoint::parse(&self.endpoint)?;
        let credentials = match self.credentials.clone() {
            Some(c) => c,
            None => match &self.profile {
                Some(p) => Credentials::from_profile(p)?,
                None => Credentials::from_default_chain()?,
            },
        };
        credentials.validate()?;
        for (name, d) in [
            ("connect timeout", self.connect_timeout),
            ("read timeout", self.read_timeout),
            ("call timeout", self.call_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(format!("{name} must be above zero")));
            }
            if d > MAX_TIMEOUT {
                return Err(Error::config(format!(
                    "{name} must be at most {} s (one day), not {d:?}",
                    MAX_TIMEOUT.as_secs()
                )));
            }
        }

        let proxy = match &self.proxy {
            ProxySetting::Off => None,
            ProxySetting::Url(url) => Some(parse_proxy(url)?),
            ProxySetting::FromEnv => proxy_from_env(&endpoint, &|k| std::env::var(k).ok())?,
        };

        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .accept("application/json")
            .timeout_resolve(Some(self.connect_timeout))
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(self.read_timeout))
            .timeout_global(Some(self.call_timeout))
            .max_idle_connections(self.max_idle_connections)
            .max_idle_connections_per_host(self.max_idle_connections)
            .proxy(proxy);
        let config = crate::tls::apply(config, &endpoint, self.ca_choice())?.build();

        Ok(Client {
            inner: Arc::new(Inner {
                agent: ureq::Agent::with_parts(
                    config,
                    crate::transport::connector(),
                    CachingResolver::default(),
                ),
                endpoint,
                retry: self.retry,
                call_timeout: self.call_timeout,
                clock: ClockOffset::default(),
                signer: sign::RpcSigner::new(credentials.secret()),
                credentials,
            }),
        })
    }

    fn ca_choice(&self) -> crate::tls::CaChoice<'_> {
        match &self.ca {
            CaSetting::Bundled => crate::tls::CaChoice::Bundled,
            CaSetting::BundledAnd(p) => crate::tls::CaChoice::BundledAnd(p),
            CaSetting::Only(p) => crate::tls::CaChoice::Only(p),
        }
    }
}

/// A blocking ENS client. Cheap to clone (one `Arc`), `Send + Sync`, and
/// reusing keep-alive connections across clones and threads.
///
/// ```no_run
/// use ens_upload::{Client, Credentials, PrepareUploadRequest};
/// let client = Client::builder()
///     .credentials(Credentials::access_key("LTAI...", "secret"))
///     .build()?;
/// let out = client.prepare_upload(&PrepareUploadRequest::new("test").client_ip("180.166.1.2"))?;
/// println!("{} {} {}", out.request_id, out.bucket_name, out.endpoint);
/// # Ok::<(), ens_upload::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    endpoint: Endpoint,
    credentials: Credentials,
    retry: RetryPolicy,
    call_timeout: Duration,
    clock: ClockOffset,
    /// The credentials' secret, keyed into HMAC once.
    signer: sign::RpcSigner,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the defaults: `https://ens.aliyuncs.com`, credentials
    /// from the default chain, connect 5 s, read 10 s, call 30 s, proxy from
    /// the environment, bundled root certificates.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The endpoint this client sends to, e.g. `https://ens.aliyuncs.com`.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint.as_str()
    }

    /// The credentials this client signs with.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Asks ENS where to upload (`PrepareUpload`).
    ///
    /// The request is checked first ([`PrepareUploadRequest::validate`]); bad
    /// input is an [`Error::InvalidInput`] and nothing is sent.
    pub fn prepare_upload(&self, request: &PrepareUploadRequest) -> Result<PrepareUploadResponse> {
        request.validate()?;
        let response: PrepareUploadResponse =
            self.call_typed("PrepareUpload", &request.params())?;
        Ok(response)
    }

    /// Signs and sends any ENS 2017-11-10 RPC action and returns its JSON
    /// answer. `params` are the action's own parameters; the client adds
    /// the common ones (`Action`, `Version`, `Timestamp`, `Signature`...)
    /// and refuses them from the caller.
    pub fn call<K: AsRef<str>, V: AsRef<str>>(
        &self,
        action: &str,
        params: &[(K, V)],
    ) -> Result<serde_json::Value> {
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        self.call_typed(action, &params)
    }

    fn call_typed<T: DeserializeOwned>(&self, action: &str, params: &[(&str, &str)]) -> Result<T> {
        check_call_params(action, params)?;
        self.send(action, params)
            .and_then(|(status, body)| response::decode_success(status, &body))
            .map_err(|e| e.redact_credentials(&self.inner.credentials))
    }

    /// The shared HTTP agent (connection pool, timeouts, proxy, TLS).
    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.inner.agent
    }

    /// Whether the endpoint is https (the upload path follows its scheme).
    pub(crate) fn is_https(&self) -> bool {
        self.inner.endpoint.is_https()
    }

    /// The retry policy the builder set.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// The per-call timeout the builder set.
    pub(crate) fn call_timeout(&self) -> Duration {
        self.inner.call_timeout
    }

    /// The learned clock offset, shared with the RPC calls.
    pub(crate) fn clock(&self) -> &ClockOffset {
        &self.inner.clock
    }

    /// How many seconds the server's clock is ahead of this machine's (negative
    /// when behind), as learned from `Date` headers. Every call signs its
    /// `Timestamp` with this correction; clones of a client share it.
    pub fn clock_offset(&self) -> i64 {
        self.inner.clock.get()
    }

    /// Sends a signed request, retrying as the policy says, within the call
    /// timeout; returns the status and body of a 2xx answer.
    fn send(&self, action: &str, params: &[(&str, &str)]) -> Result<(u16, Vec<u8>)> {
        let inner = &*self.inner;
        let deadline = clock::instant_after(inner.call_timeout);
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut skew_retried = false;
        loop {
            attempts += 1;
            // The first attempt runs under the agent's own call timeout.
            let remaining =
                (attempts > 1).then(|| deadline.saturating_duration_since(Instant::now()));
            let outcome = self.attempt(action, params, remaining);
            let failed = match outcome.result {
                Ok(ok) => return Ok(ok),
                Err(e) => e.with_attempts(attempts),
            };
            // A refused Timestamp with a clock we just corrected: once, at once.
            let timestamp_refused = failed
                .api()
                .is_some_and(|a| a.known_code() == KnownCode::InvalidTimeStamp);
            if timestamp_refused && outcome.clock_changed && !skew_retried {
                skew_retried = true;
                continue;
            }
            if retries >= inner.retry.max_retries || !retry::is_retryable(&failed) {
                return Err(failed);
            }
            retries += 1;
            let wait = outcome
                .retry_after
                .unwrap_or_else(|| inner.retry.backoff(retries));
            // Never sleep past the deadline: give the caller the error now.
            if Instant::now()
                .checked_add(wait)
                .is_none_or(|t| t >= deadline)
            {
                return Err(failed);
            }
            std::thread::sleep(wait);
        }
    }

    /// One signed request with a fresh nonce and timestamp.
    /// `time_left` is `None` for the first attempt (the agent's call timeout
    /// applies), else what remains of the call timeout.
    fn attempt(
        &self,
        action: &str,
        params: &[(&str, &str)],
        time_left: Option<Duration>,
    ) -> Attempt {
        let inner = &*self.inner;
        let creds = &inner.credentials;
        // The offset this attempt signs with: if it is not the client's
        // offset when the answer comes (this answer's `Date` or another
        // thread's corrected it), a refused timestamp is worth one more try.
        let signed_offset = inner.clock.get();
        let timestamp = clock::format_iso8601(clock::unix_now().saturating_add(signed_offset));
        let nonce = sign::new_nonce();

        let mut all: Vec<(&str, &str)> = Vec::with_capacity(params.len() + 10);
        all.extend_from_slice(&[
            ("Action", action),
            ("Version", API_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", creds.access_key_id()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce.as_str()),
            ("Timestamp", timestamp.as_str()),
        ]);
        all.extend_from_slice(params);
        if let Some(token) = creds.security_token() {
            all.push(("SecurityToken", token));
        }
        let mut url = Vec::with_capacity(inner.endpoint.as_str().len() + 64 + 3 * 256);
        url.extend_from_slice(inner.endpoint.as_str().as_bytes());
        url.extend_from_slice(b"/?");
        let signed = inner.signer.sign_into("POST", &all, &mut url);
        url.extend_from_slice(b"&Signature=");
        let mut url = String::from_utf8(url).expect("endpoint and percent-encoded ASCII");
        sign::percent_encode_into(&mut url, &signed.signature);

        let https = inner.endpoint.is_https();
        if time_left.is_some_and(|t| t.is_zero()) {
            return Attempt {
                result: Err(Error::Transport {
                    kind: TransportKind::Timeout,
                    message: "the call timeout expired before this attempt".into(),
                    attempts: 1,
                }),
                retry_after: None,
                clock_changed: false,
            };
        }
        let mut outcome = Attempt {
            result: Ok((0, Vec::new())),
            retry_after: None,
            clock_changed: false,
        };
        let request = inner
            .agent
            .post(&url)
            .header(X_ACS_ACTION, action)
            .header(X_ACS_VERSION, HeaderValue::from_static(API_VERSION));
        // The agent's global timeout is the whole call timeout; only a retry,
        // with part of it spent, needs a request of its own with less.
        let sent = match time_left {
            Some(left) => request
                .config()
                .timeout_global(Some(left))
                .build()
                .send(&[][..]),
            None => request.send(&[][..]),
        };
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                outcome.result = Err(transport_error(e, https));
                return outcome;
            }
        };

        let status = response.status().as_u16();
        let headers = response.headers();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let date = header("date");
        inner.clock.observe(date);
        outcome.clock_changed = inner.clock.get() != signed_offset;
        // A success needs nothing more from the headers.
        if !(200..300).contains(&status) {
            outcome.retry_after = retry::server_retry_after(
                header("x-acs-retry-after"),
                header("retry-after"),
                date.and_then(clock::parse_http_date),
            );
        }
        if (300..400).contains(&status) {
            outcome.result = Err(Error::Redirect {
                status,
                location: header("location").map(str::to_owned),
                attempts: 1,
            });
            return outcome;
        }
        outcome.result = match read_body(response, status, https) {
            Ok(body) if (200..300).contains(&status) => Ok((status, body)),
            Ok(body) => Err(response::decode_error_answer(
                status,
                &body,
                std::str::from_utf8(&signed.string_to_sign).unwrap_or_default(),
            )),
            Err(e) => Err(e),
        };
        outcome
    }
}

/// What one attempt gave, and what it tells the retry loop.
struct Attempt {
    result: Result<(u16, Vec<u8>)>,
    /// The wait the server asked for, if any.
    retry_after: Option<Duration>,
    /// Whether the client's clock offset is no longer the one this attempt
    /// signed with (corrected by this answer's `Date`, or by another thread).
    clock_changed: bool,
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

fn read_body(
    mut response: ureq::http::Response<ureq::Body>,
    status: u16,
    https: bool,
) -> Result<Vec<u8>> {
    match response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
    {
        Ok(b) => Ok(b),
        Err(ureq::Error::BodyExceedsLimit(_)) => Err(Error::ResponseTooLarge {
            status,
            limit: MAX_RESPONSE_BYTES,
            attempts: 1,
        }),
        Err(e) => Err(transport_error(e, https)),
    }
}

/// Maps ureq's errors onto [`TransportKind`]s. Messages never include the
/// URL (it carries the signature and any security token).
pub(crate) fn transport_error(e: ureq::Error, https: bool) -> Error {
    use ureq::Error as U;
    let (kind, message) = match e {
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
        U::Io(io) => (io_kind(&io), io.to_string()),
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
    Error::Transport {
        kind,
        message,
        attempts: 1,
    }
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

fn parse_proxy(url: &str) -> Result<ureq::Proxy> {
    ureq::Proxy::new(url).map_err(|_| {
        Error::config(format!(
            "proxy URL {:?} is invalid (expected http://[user:pass@]host:port)",
            redact_userinfo(url)
        ))
    })
}

/// The proxy the environment asks for this endpoint: `HTTPS_PROXY` (https)
/// or `HTTP_PROXY` (http), lowercase names too, unless `NO_PROXY` matches the
/// host. Loopback endpoints never go through a proxy.
pub(crate) fn proxy_from_env(
    endpoint: &Endpoint,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ureq::Proxy>> {
    let get = |upper: &str| {
        var(upper)
            .or_else(|| var(&upper.to_ascii_lowercase()))
            .filter(|v| !v.trim().is_empty())
    };
    let name = if endpoint.is_https() {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let Some(url) = get(name) else {
        return Ok(None);
    };
    if endpoint.is_loopback() {
        return Ok(None);
    }
    if let Some(list) = get("NO_PROXY") {
        if no_proxy_matches(&list, endpoint.host()) {
            return Ok(None);
        }
    }
    parse_proxy(url.trim()).map(Some).map_err(|_| {
        Error::config(format!(
            "{name} is not a valid proxy URL: {:?}",
            redact_userinfo(&url)
        ))
    })
}

/// `NO_PROXY` rules as curl reads them: `*`, exact hosts, and domain
/// suffixes with or without a leading dot; ports are ignored.
fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.trim_start_matches('*');
            let entry = entry.trim_start_matches('.');
            // Drop a port, but not the colons of a bare IPv6 address.
            let entry = match entry.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => entry,
            };
            let entry = entry
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

/// `scheme://user:pass@host` → `scheme://***@host`, for messages.
pub(crate) fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_rules() {
        assert!(no_proxy_matches("*", "ens.aliyuncs.com"));
        assert!(no_proxy_matches("aliyuncs.com", "ens.aliyuncs.com"));
        assert!(no_proxy_matches(".aliyuncs.com", "ens.aliyuncs.com"));
        assert!(no_proxy_matches(
            "foo, ens.aliyuncs.com:443",
            "ens.aliyuncs.com"
        ));
        assert!(!no_proxy_matches("cs.com", "ens.aliyuncs.com"));
        assert!(no_proxy_matches("::1", "[::1]"));
        assert!(!no_proxy_matches("", "ens.aliyuncs.com"));
    }

    #[test]
    fn env_proxy_by_scheme_and_no_proxy() {
        let https = Endpoint::parse("https://ens.aliyuncs.com").unwrap();
        let http = Endpoint::parse("http://10.0.0.1:8080").unwrap();
        let env = |k: &str| match k {
            "HTTPS_PROXY" => Some("http://proxy:3128".to_owned()),
            "no_proxy" => Some("10.0.0.1".to_owned()),
            _ => None,
        };
        let p = proxy_from_env(&https, &env).unwrap().unwrap();
        assert_eq!((p.host(), p.port()), ("proxy", 3128));
        assert!(proxy_from_env(&http, &env).unwrap().is_none());
        let local = Endpoint::parse("https://127.0.0.1:9").unwrap();
        assert!(proxy_from_env(&local, &env).unwrap().is_none());
        let bad = |k: &str| (k == "HTTPS_PROXY").then(|| "http://u:pw@[bad".to_owned());
        let e = proxy_from_env(&https, &bad).unwrap_err().to_string();
        assert!(e.contains("HTTPS_PROXY") && !e.contains("pw"), "{e}");
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(redact_userinfo("http://u:p@h:1"), "http://***@h:1");
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
    }
}
