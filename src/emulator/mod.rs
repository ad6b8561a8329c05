//! A local ENS endpoint for tests and for devices under development
//! (feature `emulator`).
//!
//! It runs on plain std threads on `127.0.0.1`, checks requests the way the
//! service does (signature 1.0, a Timestamp within 15 minutes, a nonce never
//! seen before, known AccessKeys and STS tokens), answers `PrepareUpload`
//! with the reference's response shape and error codes, and records every
//! request it saw.
//!
//! ```
//! use ens_upload::{emulator::Emulator, Client, PrepareUploadRequest};
//! let emu = Emulator::start()?;
//! let client = Client::builder()
//!     .endpoint(emu.endpoint())
//!     .credentials(emu.credentials())
//!     .build()?;
//! let out = client.prepare_upload(&PrepareUploadRequest::new("test"))?;
//! assert!(out.bucket_name.starts_with("test-"));
//! assert_eq!(emu.requests().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sign;
use crate::Credentials;

/// AccessKey id the emulator accepts by default.
pub const TEST_ACCESS_KEY_ID: &str = "LTAIEmulatorTestKeyId";
/// AccessKey secret of [`TEST_ACCESS_KEY_ID`].
pub const TEST_ACCESS_KEY_SECRET: &str = "EmulatorTestSecret";
/// STS AccessKey id the emulator accepts by default.
pub const TEST_STS_ACCESS_KEY_ID: &str = "STS.EmulatorTestKeyId";
/// STS secret of [`TEST_STS_ACCESS_KEY_ID`].
pub const TEST_STS_ACCESS_KEY_SECRET: &str = "EmulatorStsSecret";
/// Security token of [`TEST_STS_ACCESS_KEY_ID`].
pub const TEST_SECURITY_TOKEN: &str = "CAIS+EmulatorToken/with=chars";
/// Keys that exist but whose every call fails with the named code; they all
/// use [`TEST_ACCESS_KEY_SECRET`].
pub const TEST_DENIED_KEYS: &[(&str, KeyState)] = &[
    ("LTAIEmulatorAccessDenied", KeyState::AccessDenied),
    ("LTAIEmulatorUserDisable", KeyState::UserDisable),
    ("LTAIEmulatorNoPermission", KeyState::NoPermission),
];
/// Buckets that exist by default.
pub const DEFAULT_BUCKETS: &[&str] = &["test"];

/// How long a Timestamp may be away from the emulator's clock.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(15 * 60);
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1 << 20;
const MAX_CONNECTIONS: usize = 128;
const IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// What happens to every call made with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyState {
    /// Calls go through.
    Active,
    /// 403 `AccessDenied`.
    AccessDenied,
    /// 403 `UserDisable` (account in arrears).
    UserDisable,
    /// 400 `NoPermission`.
    NoPermission,
}

/// A failure the emulator plays for the next requests instead of its normal
/// answer (see [`Emulator::inject`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 500 `InternalError`.
    InternalError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// HTTP 400 `Throttling.User` with `x-acs-retry-after` (milliseconds)
    /// and `Retry-After` (whole seconds, rounded up).
    Throttling {
        /// The wait asked for, in milliseconds.
        retry_after_ms: u64,
    },
    /// The connection is closed after the request is read, with no answer.
    ConnectionReset,
    /// The answer comes only after this long (past a client's read timeout).
    Slow(Duration),
    /// HTTP 200 with a body that is not JSON.
    NonJson,
    /// A success answer whose `Content-Length` is larger than what is sent
    /// before the connection closes.
    TruncatedBody,
    /// HTTP 502 with an HTML page, as a gateway in front would send.
    BadGatewayHtml,
    /// HTTP 200 with a body of this many bytes.
    HugeBody(usize),
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// answered 500 `InternalError` (its body is read, nothing is stored).
    OssInternalError,
    /// OSS: the connection of the next PutObject, UploadPart or
    /// CompleteMultipartUpload is closed after this many body bytes.
    OssResetAfterBytes(u64),
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// stored, but answered with a wrong `x-oss-hash-crc64ecma`.
    OssBadCrc,
    /// OSS: the next PutObject, UploadPart or CompleteMultipartUpload is
    /// answered only after this long.
    OssSlow(Duration),
}

impl Fault {
    /// Whether the fault is played on the OSS side (the `Oss*` ones) rather
    /// than on the RPC API; each side has its own queue.
    pub fn is_oss(&self) -> bool {
        matches!(
            self,
            Fault::OssInternalError
                | Fault::OssResetAfterBytes(_)
                | Fault::OssBadCrc
                | Fault::OssSlow(_)
        )
    }
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// `internal-error`, `unavailable`, `throttling[=MS]`, `reset`,
    /// `slow[=MS]`, `non-json`, `truncated`, `bad-gateway`, `huge[=BYTES]`,
    /// `oss-internal-error`, `oss-reset=BYTES`, `oss-bad-crc`, `oss-slow[=MS]`.
    fn from_str(s: &str) -> Result<Fault, String> {
        let (name, arg) = match s.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let number = |default: u64| -> Result<u64, String> {
            arg.map_or(Ok(default), |a| {
                a.parse()
                    .map_err(|_| format!("{name}: {a:?} is not a number"))
            })
        };
        Ok(match name {
            "internal-error" => Fault::InternalError,
            "unavailable" => Fault::ServiceUnavailable,
            "throttling" => Fault::Throttling {
                retry_after_ms: number(100)?,
            },
            "reset" => Fault::ConnectionReset,
            "slow" => Fault::Slow(Duration::from_millis(number(15_000)?)),
            "non-json" => Fault::NonJson,
            "truncated" => Fault::TruncatedBody,
            "bad-gateway" => Fault::BadGatewayHtml,
            "huge" => Fault::HugeBody(number(50 << 20)? as usize),
            "oss-internal-error" => Fault::OssInternalError,
            "oss-reset" => Fault::OssResetAfterBytes(number(0)?),
            "oss-bad-crc" => Fault::OssBadCrc,
            "oss-slow" => Fault::OssSlow(Duration::from_millis(number(1000)?)),
            other => return Err(format!("unknown fault {other:?}")),
        })
    }
}

#[derive(Clone)]
struct Key {
    secret: String,
    token: Option<String>,
    state: KeyState,
}

/// Configures an [`Emulator`]; see [`Emulator::builder`].
#[derive(Clone)]
pub struct EmulatorBuilder {
    bind: SocketAddr,
    keys: HashMap<String, Key>,
    buckets: HashSet<String>,
    oss_endpoint: Option<String>,
    host_id: String,
    clock_skew_secs: i64,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        let mut b = EmulatorBuilder {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            keys: HashMap::new(),
            buckets: DEFAULT_BUCKETS.iter().map(|s| s.to_string()).collect(),
            oss_endpoint: None,
            host_id: "ens.aliyuncs.com".into(),
            clock_skew_secs: 0,
        };
        b = b
            .access_key(TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET)
            .sts(
                TEST_STS_ACCESS_KEY_ID,
                TEST_STS_ACCESS_KEY_SECRET,
                TEST_SECURITY_TOKEN,
            );
        for (id, state) in TEST_DENIED_KEYS {
            b = b.access_key_with_state(*id, TEST_ACCESS_KEY_SECRET, *state);
        }
        b
    }
}

impl EmulatorBuilder {
    /// The address to listen on (default `127.0.0.1:0`: any free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Accepts this AccessKey pair.
    pub fn access_key(self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.access_key_with_state(id, secret, KeyState::Active)
    }

    /// Knows this AccessKey pair, answering every call as `state` says.
    pub fn access_key_with_state(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        state: KeyState,
    ) -> Self {
        let key = Key {
            secret: secret.into(),
            token: None,
            state,
        };
        self.keys.insert(id.into(), key);
        self
    }

    /// Accepts these STS credentials (the token must come with the key).
    pub fn sts(
        mut self,
        id: impl Into<String>,
        secret: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        let key = Key {
            secret: secret.into(),
            token: Some(token.into()),
            state: KeyState::Active,
        };
        self.keys.insert(id.into(), key);
        self
    }

    /// Adds a bucket that `PrepareUpload` knows (default: `test`).
    pub fn bucket(mut self, name: impl Into<String>) -> Self {
        self.buckets.insert(name.into());
        self
    }

    /// The `Endpoint` that `PrepareUpload` answers (default: the emulator's
    /// own `host:port`).
    pub fn oss_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.oss_endpoint = Some(endpoint.into());
        self
    }

    /// Runs the emulator's clock this many seconds ahead of the machine's
    /// (negative: behind). It judges `Timestamp`s and sends `Date` by it.
    pub fn clock_skew_secs(mut self, secs: i64) -> Self {
        self.clock_skew_secs = secs;
        self
    }

    /// Starts listening and serving on background threads.
    pub fn start(self) -> io::Result<Emulator> {
        let listener = TcpListener::bind(self.bind)?;
        let addr = listener.local_addr()?;
        let oss_endpoint = self
            .oss_endpoint
            .clone()
            .unwrap_or_else(|| addr.to_string());
        let shared = Arc::new(Shared {
            config: self,
            oss_endpoint,
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            nonces: Mutex::new(NonceLog::default()),
            connections: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            faults: Mutex::new(VecDeque::new()),
            oss_faults: Mutex::new(VecDeque::new()),
            oss: oss::OssStore::new(),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("ens-emulator-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(Emulator {
            addr,
            shared,
            accept: Some(accept),
        })
    }
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// One request the emulator saw, and how it answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path, without the query.
    pub path: String,
    /// The query string as received.
    pub raw_query: String,
    /// Decoded parameters from the query and any form body, in order.
    pub params: Vec<(String, String)>,
    /// Header names (lowercased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// Length of the request body in bytes.
    pub body_len: usize,
    /// Which TCP connection carried it (numbered from 0 in accept order):
    /// equal ids mean a reused keep-alive connection.
    pub connection_id: u64,
    /// HTTP status answered.
    pub status: u16,
    /// Error `Code` answered, `None` on success.
    pub code: Option<String>,
    /// The injected fault played for this request, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Emulator {
    /// An emulator with the default keys and buckets.
    pub fn start() -> io::Result<Emulator> {
        EmulatorBuilder::default().start()
    }

    /// A builder starting from the default keys and buckets.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The default AccessKey credentials it accepts.
    pub fn credentials(&self) -> Credentials {
        Credentials::access_key(TEST_ACCESS_KEY_ID, TEST_ACCESS_KEY_SECRET)
    }

    /// The default STS credentials it accepts.
    pub fn sts_credentials(&self) -> Credentials {
        Credentials::sts(
            TEST_STS_ACCESS_KEY_ID,
            TEST_STS_ACCESS_KEY_SECRET,
            TEST_SECURITY_TOKEN,
        )
    }

    /// Every request seen so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Plays `fault` for each of the next `times` requests, after any
    /// faults already queued (OSS faults: the next OSS writes, see
    /// [`Fault::is_oss`]).
    pub fn inject(&self, fault: Fault, times: usize) {
        let queue = if fault.is_oss() {
            &self.shared.oss_faults
        } else {
            &self.shared.faults
        };
        lock(queue).extend(std::iter::repeat_n(fault, times));
    }

    /// Drops every injected fault not played yet.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
        lock(&self.shared.oss_faults).clear();
    }

    /// How many injected faults have not been played yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len() + lock(&self.shared.oss_faults).len()
    }

    /// Forgets the recorded requests (not the nonces).
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Stops accepting and waits for the accept thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        self.shared.oss.remove_files();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Shared {
    config: EmulatorBuilder,
    oss_endpoint: String,
    stop: AtomicBool,
    requests: Mutex<Vec<RecordedRequest>>,
    nonces: Mutex<NonceLog>,
    connections: AtomicU64,
    accepted: AtomicU64,
    faults: Mutex<VecDeque<Fault>>,
    /// Faults for the OSS side (see [`Fault::is_oss`]).
    oss_faults: Mutex<VecDeque<Fault>>,
    /// Objects and multipart uploads of the OSS side.
    oss: oss::OssStore,
}

impl Shared {
    /// The emulator's clock, skewed as configured.
    fn now(&self) -> i64 {
        crate::clock::unix_now().saturating_add(self.config.clock_skew_secs)
    }
}

/// Nonces seen within the Timestamp tolerance, as the service keeps them.
#[derive(Default)]
struct NonceLog {
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl NonceLog {
    /// Records `nonce`; false when it was already seen.
    fn insert(&mut self, nonce: &str) -> bool {
        let now = Instant::now();
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) <= TIMESTAMP_TOLERANCE * 2 {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        if !self.seen.insert(nonce.to_owned()) {
            return false;
        }
        self.order.push_back((now, nonce.to_owned()));
        true
    }
}

/// A poisoned lock only means a handler thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if shared.connections.load(Ordering::SeqCst) >= MAX_CONNECTIONS as u64 {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let connection_id = shared.accepted.fetch_add(1, Ordering::SeqCst);
        let conn_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("ens-emulator-conn".into())
            .spawn(move || {
                serve_connection(stream, connection_id, &conn_shared);
                conn_shared.connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

mod acs3;
mod oss;
pub use oss::StoredObject;

/// A parsed HTTP/1.1 request. The body is read after the head, by whoever
/// serves it: the RPC API reads it whole (at most 1 MiB), the OSS side
/// streams it.
struct HttpRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    /// `Content-Length` (0 when absent).
    content_length: u64,
    body: Vec<u8>,
    keep_alive: bool,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer to send.
struct HttpResponse {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn serve_connection(stream: TcpStream, connection_id: u64, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut request = match read_head(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(status) => {
                let resp = plain_error(status, "malformed HTTP request");
                let _ = write_response(&mut writer, &resp, false);
                return;
            }
        };
        if oss::is_oss_request(&request) {
            match oss::serve(request, &mut reader, &mut writer, connection_id, shared) {
                Ok(true) => continue,
                _ => {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        if let Err(status) = read_small_body(&mut reader, &mut request) {
            let resp = plain_error(status, "request body refused");
            let _ = write_response(&mut writer, &resp, false);
            return;
        }
        let keep_alive = request.keep_alive;
        let fault = lock(&shared.faults).pop_front();
        let mut response = handle(&request, connection_id, shared, fault.as_ref());
        if let Some(Fault::Slow(d)) = &fault {
            std::thread::sleep(*d);
        }
        let sent = match &fault {
            Some(Fault::ConnectionReset) => Err(io::ErrorKind::ConnectionReset.into()),
            Some(Fault::TruncatedBody) => {
                let full = response.body.len();
                response.body.truncate(full / 2);
                write_head(&mut writer, &response, full, false)
                    .and_then(|_| writer.write_all(&response.body))
                    .and_then(|_| Err(io::ErrorKind::UnexpectedEof.into()))
            }
            Some(Fault::HugeBody(n)) => write_head(&mut writer, &response, *n, false)
                .and_then(|_| write_filler(&mut writer, *n))
                .and_then(|_| Err(io::ErrorKind::Other.into())),
            _ => write_response(&mut writer, &response, keep_alive),
        };
        if sent.is_err() || !keep_alive {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Writes `n` bytes of JSON-harmless spaces, stopping at the first error.
fn write_filler(w: &mut TcpStream, n: usize) -> io::Result<()> {
    let chunk = [b' '; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        w.write_all(&chunk[..k])?;
        left -= k;
    }
    w.flush()
}

/// Reads the body of an RPC request (at most 1 MiB) into `request.body`.
fn read_small_body(
    reader: &mut BufReader<TcpStream>,
    request: &mut HttpRequest,
) -> Result<(), u16> {
    if request.content_length > MAX_BODY_BYTES as u64 {
        return Err(413);
    }
    request.body = vec![0; request.content_length as usize];
    reader.read_exact(&mut request.body).map_err(|_| 400u16)
}

/// Reads one request head. `Ok(None)` on a clean close; `Err(status)` on a
/// request that cannot be served.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Option<HttpRequest>, u16> {
    let mut head = Vec::new();
    // Request line and headers, up to the blank line, bounded in size.
    loop {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take((MAX_HEAD_BYTES - head.len().min(MAX_HEAD_BYTES)) as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|_| 400u16)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(400) };
        }
        if head.len() + line.len() > MAX_HEAD_BYTES {
            return Err(431);
        }
        let blank = line == b"\r\n" || line == b"\n";
        if blank && head.is_empty() {
            continue; // tolerate stray CRLF between requests
        }
        head.extend_from_slice(&line);
        if blank {
            break;
        }
    }
    let head = String::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = head.lines();
    let request_line = lines.next().ok_or(400u16)?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if !version.starts_with("HTTP/1.") {
        return Err(505);
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or(400u16)?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some() {
        return Err(501);
    }
    let content_length = match get("content-length") {
        Some(v) => v.parse::<u64>().map_err(|_| 400u16)?,
        None => 0,
    };
    let connection = get("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    Ok(Some(HttpRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        content_length,
        body: Vec::new(),
        keep_alive,
    }))
}

fn write_response(w: &mut TcpStream, r: &HttpResponse, keep_alive: bool) -> io::Result<()> {
    write_head(w, r, r.body.len(), keep_alive)?;
    w.write_all(&r.body)?;
    w.flush()
}

/// Writes the status line and headers, announcing `content_length` bytes.
fn write_head(
    w: &mut TcpStream,
    r: &HttpResponse,
    content_length: usize,
    keep_alive: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(256);
    write!(out, "HTTP/1.1 {} {}\r\n", r.status, reason(r.status))?;
    for (k, v) in &r.headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    write!(
        out,
        "Content-Length: {content_length}\r\nConnection: {}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    )?;
    w.write_all(&out)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        405 => "Method Not Allowed",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

fn plain_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("Content-Type", "text/plain".into())],
        body: message.as_bytes().to_vec(),
    }
}

/// An API error to answer: status, Code, Message.
struct ApiFailure {
    status: u16,
    code: String,
    message: String,
}

fn fail(status: u16, code: impl Into<String>, message: impl Into<String>) -> ApiFailure {
    ApiFailure {
        status,
        code: code.into(),
        message: message.into(),
    }
}

fn handle(
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
    let mut params = parse_pairs(raw_query);
    let is_form = req
        .header("content-type")
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let body = std::str::from_utf8(&req.body).map_err(|_| "form body".to_owned());
        params = match (params, body.and_then(parse_pairs)) {
            (Ok(mut query), Ok(form)) => {
                query.extend(form);
                Ok(query)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }

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
            let recommend = format!(
                "https://api.aliyun.com/troubleshoot?q={}&product=Ens&requestId={}",
                f.code, request_id
            );
            let body = serde_json::json!({
                "RequestId": request_id,
                "HostId": shared.config.host_id,
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

/// Splits `a=b&c=d`, percent-decoding both sides. Err names the bad pair.
fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
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
struct Signed<'a> {
    action: &'a str,
    version: &'a str,
    access_key_id: &'a str,
    security_token: Option<&'a str>,
    nonce: &'a str,
    /// `YYYY-MM-DDThh:mm:ssZ`, from `Timestamp` or `x-acs-date`.
    timestamp: &'a str,
    signature: &'a str,
    expected: ExpectedSignature<'a>,
}

/// The server's own signature for a secret, and what to show when the
/// request's differs (the server's string to sign).
type ExpectedSignature<'a> = Box<dyn Fn(&str) -> (String, String) + 'a>;

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
    let Some(key) = shared.config.keys.get(signed.access_key_id) else {
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
    if !lock(&shared.nonces).insert(signed.nonce) {
        return Err(fail(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    if signed.version != crate::API_VERSION {
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
        other => Err(fail(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {other} is not found, please check your url and method."),
        )),
    }
}

/// The first value of parameter `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn prepare_upload(
    state: KeyState,
    params: &[(String, String)],
    shared: &Shared,
    request_id: &str,
) -> Result<serde_json::Value, ApiFailure> {
    let get = |name: &str| param(params, name);
    match state {
        KeyState::Active => {}
        KeyState::AccessDenied => return Err(fail(403, "AccessDenied", "Auth is not valid.")),
        KeyState::UserDisable => {
            return Err(fail(
                403,
                "UserDisable",
                "The user has been disabled due to arrears.",
            ))
        }
        KeyState::NoPermission => return Err(fail(400, "NoPermission", "Permission denied.")),
    }
    let Some(bucket) = get("BucketName") else {
        return Err(fail(
            400,
            "MissingBucketName",
            "BucketName is mandatory for this action.",
        ));
    };
    if !is_valid_bucket_name(bucket) {
        return Err(fail(
            400,
            "InvalidBucketName",
            "Specified parameter BucketName is not valid",
        ));
    }
    if let Some(ip) = get("ClientIp") {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(fail(
                400,
                "InvalidClientIp",
                "Specified parameter ClientIp is not valid",
            ));
        }
    }
    if let Some(uid) = get("aliUid") {
        if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail(
                400,
                "InvalidaliUid",
                "Specified parameter aliUid is not valid",
            ));
        }
    }
    if let Some(region) = get("EnsRegionId") {
        if region.is_empty() {
            return Err(fail(
                400,
                "InvalidParameter.EnsRegionId",
                "The specified field EnsRegionId invalid. Please check it again.",
            ));
        }
    }
    if !shared.config.buckets.contains(bucket) {
        return Err(fail(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        ));
    }
    Ok(serde_json::json!({
        "RequestId": request_id,
        "BucketName": physical_bucket(bucket),
        "Endpoint": shared.oss_endpoint,
    }))
}

/// OSS bucket naming: 3 to 63 of `a-z 0-9 -`, not starting or ending with `-`.
fn is_valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// The physical bucket behind a logical one: stable, `<name>-<6 hex>`.
fn physical_bucket(name: &str) -> String {
    // FNV-1a: stable across runs, unlike std's RandomState.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("{name}-{:06x}", h & 0xff_ffff)
}

/// A request id in the service's shape (`8-4-4-4-12` uppercase hex).
fn request_id() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(is_valid_bucket_name("test"));
        assert!(is_valid_bucket_name("my-bucket-01"));
        for bad in [
            "ab",
            "-ab",
            "ab-",
            "Upper",
            "has space",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_bucket_name(bad), "{bad}");
        }
        assert_eq!(physical_bucket("test"), physical_bucket("test"));
        assert!(physical_bucket("test").starts_with("test-"));
    }

    #[test]
    fn nonce_log_refuses_repeats() {
        let mut log = NonceLog::default();
        assert!(log.insert("a"));
        assert!(log.insert("b"));
        assert!(!log.insert("a"));
    }
}
