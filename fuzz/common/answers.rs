//! A loopback server that answers the client from a script, to drive
//! arbitrary answers through `Client::upload_file` end to end: the
//! `PrepareUpload` call and every OSS request after it (PutObject,
//! InitiateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, HeadObject).
//!
//! What the client parses on that path is not public API (the `Date`,
//! `Retry-After`, `x-acs-retry-after`, `x-oss-hash-crc64ecma`,
//! `Content-Length`, `ETag` headers, OSS's XML bodies, the checkpoint
//! file), so it is reached the way a server reaches it: by answering.
//!
//! Each request takes the next step of the script; a missing step (or
//! `None`) is what a correct OSS would answer, with the right CRC-64. A
//! case may also leave a checkpoint file (bytes, or JSON close to what the
//! client writes) before the upload. [`run`] uploads under a time bound and
//! [`check`] says what must hold for any script:
//!
//! - no panic, no hang (the call returns within [`HANG_BOUND`]);
//! - a 3xx is never followed (a second listener, the "sink", named in
//!   every scripted `Location`, must see no connection);
//! - success only with the right object: size and CRC-64 of the file, the
//!   concluding answer (PutObject, CompleteMultipartUpload or HeadObject)
//!   carried the right CRC-64, every part was acknowledged with its right
//!   CRC-64 or resumed, and the checkpoint is gone;
//! - a failure is typed and consistent with what was answered (an `Api`
//!   error's status was answered, an `Integrity` error had a wrong CRC-64
//!   to see, a `Redirect` had a 3xx), never `Cancelled` (there is no
//!   callback), never more attempts than the retries allow;
//! - when every answer was the correct one, the upload succeeds;
//! - the secret and the security token never show in an error, even when
//!   the server echoes the request in its answer.
//!
//! Shared by `tests/properties.rs` (proptest) and
//! `fuzz/fuzz_targets/answers.rs` (cargo-fuzz), which only generate cases.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use ens_upload::crc64;
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{Client, Credentials, Error, PrepareUploadRequest, UploadOptions, UploadResult};

/// Recognisable credentials: they must never show in an error.
pub const ID: &str = "STS.AnswersKeyId";
pub const SECRET: &str = "S3CR3T-ANSWERS-VALUE";
pub const TOKEN: &str = "T0K3N-ANSWERS-VALUE";

/// The bucket asked for, the physical bucket the correct answer hands out,
/// and the key uploaded.
pub const BUCKET_ASKED: &str = "test";
pub const BUCKET: &str = "test-a1b2c3";
pub const KEY: &str = "dir/answers obj+1.bin";

/// In scripted header values and bodies, replaced by this server's
/// `host:port` and by the sink's.
pub const SELF: &str = "{self}";
pub const SINK: &str = "{sink}";

/// A call that has not returned after this long is a hang.
pub const HANG_BOUND: Duration = Duration::from_secs(60);

/// The file sizes cases pick from (indexes into this table): empty, tiny,
/// around one part, up to three parts of [`MIN_PART_SIZE`].
pub const SIZES: [u64; 7] = [
    0,
    1,
    1000,
    MIN_PART_SIZE,
    MIN_PART_SIZE + 1,
    2 * MIN_PART_SIZE + 7,
    3 * MIN_PART_SIZE - 1,
];

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rpc,
    PutObject,
    Initiate,
    UploadPart,
    Complete,
    Abort,
    Head,
    Other,
}

/// The `x-oss-hash-crc64ecma` of an answer.
#[derive(Debug, Clone)]
pub enum Crc {
    /// The CRC-64 of what was received (or of the whole object).
    Right,
    /// The right one with this xored in (0 is still right).
    Xor(u64),
    Absent,
    /// These bytes as the value.
    Raw(Vec<u8>),
}

/// The `Content-Length` of an answer.
#[derive(Debug, Clone)]
pub enum Length {
    /// The body's length (a HEAD answer: the object's size).
    Right,
    /// None: the body ends when the connection closes.
    Absent,
    /// These bytes as the value.
    Raw(Vec<u8>),
}

/// The body of an answer.
#[derive(Debug, Clone)]
pub enum Body {
    /// What a correct server sends for the request.
    Default,
    Bytes(Vec<u8>),
    /// `PrepareUpload`'s JSON with these fields (`{self}` is replaced).
    Prepare {
        bucket: String,
        endpoint: String,
    },
    /// The API's JSON error shape.
    RpcError {
        code: String,
        message: String,
    },
    /// OSS's XML error (`<Error><Code>...`); `escape` escapes the texts.
    OssError {
        code: String,
        message: String,
        request_id: String,
        string_to_sign: Option<String>,
        escape: bool,
    },
    /// `<InitiateMultipartUploadResult>` with this upload id.
    Initiate {
        upload_id: String,
        escape: bool,
    },
    /// `<CompleteMultipartUploadResult>` with this ETag.
    Complete {
        etag: String,
        escape: bool,
    },
    /// `n` bytes of `x` (for the 1 MiB response limit).
    Huge(usize),
    /// The request's head as received, signature and token included (a
    /// debugging proxy's error page), after `prefix` bytes of padding (so
    /// the token lands anywhere in the 256 bytes an error keeps).
    Echo {
        prefix: usize,
    },
}

/// One answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Http {
        /// `None`: the status a correct server gives.
        status: Option<u16>,
        /// Extra headers, written as given (values may hold any byte).
        headers: Vec<(String, Vec<u8>)>,
        crc: Crc,
        length: Length,
        body: Body,
    },
    /// Close the connection without a word.
    Close,
    /// Keep silent this long, then close.
    Silent(Duration),
    /// These bytes (`{self}`, `{sink}` replaced), then close.
    Raw(Vec<u8>),
}

impl Answer {
    /// The answer a correct server gives.
    pub fn correct() -> Answer {
        Answer::Http {
            status: None,
            headers: Vec::new(),
            crc: Crc::Right,
            length: Length::Right,
            body: Body::Default,
        }
    }
}

/// A checkpoint left before the upload.
#[derive(Debug, Clone)]
pub enum Checkpoint {
    /// These bytes.
    Bytes(Vec<u8>),
    /// JSON in the client's format, each field right or not.
    Json(CheckpointJson),
}

#[derive(Debug, Clone)]
pub struct CheckpointJson {
    pub format_right: bool,
    pub place_right: bool,
    pub key_right: bool,
    /// Size, modification time and identity of the file as they are.
    pub file_right: bool,
    pub upload_id: String,
    /// `None`: the part size of the case.
    pub part_size: Option<u64>,
    pub parts: Vec<PartJson>,
    /// Fields removed, or of the wrong type.
    pub mangle: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PartJson {
    pub number: u32,
    pub etag: String,
    /// `None`: the CRC-64 of the part in the file.
    pub crc64: Option<String>,
    /// `None`: the part's length in the file.
    pub size: Option<u64>,
}

/// One upload and how the server answers it.
#[derive(Debug, Clone)]
pub struct Case {
    /// Index into [`SIZES`].
    pub size: usize,
    pub multipart_threshold: u64,
    pub part_size: u64,
    pub retries: u32,
    pub read_timeout: Duration,
    /// Bounds control requests, and a server's wait on a data request.
    pub call_timeout: Duration,
    pub checkpoint: Option<Checkpoint>,
    /// Step `i` answers the `i`-th request; `None` or past the end: correct.
    pub answers: Vec<Option<Answer>>,
}

/// One request the server saw, and what it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: Kind,
    pub part: Option<u32>,
    /// `None` when it answered no status (closed, silent, raw bytes).
    pub status: Option<u16>,
    /// Whether the answer was the correct one.
    pub correct: bool,
    /// Whether the `x-oss-hash-crc64ecma` sent is the right CRC-64.
    pub crc_right: bool,
    /// Whether `Content-Length` was the right one (or absent on a body).
    pub length_right: bool,
    pub body_len: u64,
}

/// What one case did.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<UploadResult, Error>,
    pub seen: Vec<Seen>,
    /// Connections the sink (every scripted `Location`) accepted.
    pub followed: u64,
    pub elapsed: Duration,
    /// What the checkpoint path held before the call and after it
    /// (`None`: no file), and whether a temporary was left beside it.
    pub checkpoint_before: Option<Vec<u8>>,
    pub checkpoint_after: Option<Vec<u8>>,
    pub checkpoint_tmp_left: bool,
    /// The uploaded file's length and CRC-64.
    pub file_len: u64,
    pub file_crc: u64,
}

/// The state of the case being served.
struct CaseState {
    answers: Vec<Option<Answer>>,
    next: AtomicUsize,
    object_size: u64,
    object_crc: u64,
    seen: Mutex<Vec<Seen>>,
}

/// The scripted server, its redirect sink, and the files cases upload.
pub struct Server {
    addr: SocketAddr,
    sink: SocketAddr,
    sink_hits: Arc<AtomicU64>,
    current: Arc<Mutex<Option<Arc<CaseState>>>>,
    /// One case at a time.
    turn: Mutex<()>,
    dir: PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// The process's server (started on first use; never stopped).
    pub fn get() -> &'static Server {
        static SERVER: OnceLock<Server> = OnceLock::new();
        SERVER.get_or_init(Server::start)
    }

    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the answer server");
        let addr = listener.local_addr().unwrap();
        let sink_listener = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
        let sink = sink_listener.local_addr().unwrap();
        let sink_hits = Arc::new(AtomicU64::new(0));
        let hits = Arc::clone(&sink_hits);
        std::thread::spawn(move || {
            for s in sink_listener.incoming() {
                hits.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        let current: Arc<Mutex<Option<Arc<CaseState>>>> = Arc::new(Mutex::new(None));
        let cur = Arc::clone(&current);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Some(state) = lock(&cur).clone() else {
                    continue;
                };
                std::thread::spawn(move || serve(stream, &state, addr, sink));
            }
        });
        let dir = std::env::temp_dir().join(format!("ens-upload-answers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Server {
            addr,
            sink,
            sink_hits,
            current,
            turn: Mutex::new(()),
            dir,
        }
    }

    /// This server's `host:port`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The file of `len` bytes cases upload (written once, so its
    /// modification time and identity stay put across cases).
    fn file(&self, len: u64) -> (PathBuf, Vec<u8>) {
        let path = self.dir.join(format!("file-{len}.bin"));
        let data = content(len);
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(len) {
            let tmp = self.dir.join(format!("file-{len}.tmp"));
            std::fs::write(&tmp, &data).expect("write the file");
            std::fs::rename(&tmp, &path).expect("rename the file");
        }
        (path, data)
    }
}

/// Deterministic, non-repeating bytes.
fn content(len: u64) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(pos) = find(rest, from.as_bytes()) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(to.as_bytes());
        rest = &rest[pos + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn classify(method: &str, target: &str) -> (Kind, Option<u32>) {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| v.to_owned())
        })
    };
    let part = param("partNumber").and_then(|n| n.parse().ok());
    let kind = match method {
        "POST" if param("Action").is_some() => Kind::Rpc,
        "POST" if param("uploads").is_some() => Kind::Initiate,
        "POST" if param("uploadId").is_some() => Kind::Complete,
        "PUT" if part.is_some() => Kind::UploadPart,
        "PUT" => Kind::PutObject,
        "DELETE" => Kind::Abort,
        "HEAD" => Kind::Head,
        _ => Kind::Other,
    };
    (kind, part)
}

/// Reads one request, answers it as the script says, closes.
fn serve(mut s: TcpStream, state: &CaseState, me: SocketAddr, sink: SocketAddr) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 256 << 10 {
            return;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let body_len: u64 = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    // The whole body, so that closing never resets what the client reads.
    let mut crc = crc64::Crc64::new();
    let already = &buf[head_end..];
    let mut got = already.len() as u64;
    crc.update(already);
    while got < body_len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                crc.update(&chunk[..n]);
                got += n as u64;
            }
        }
    }
    let (kind, part) = classify(&method, &target);
    let step = state.next.fetch_add(1, Ordering::SeqCst);
    let scripted = state.answers.get(step).cloned().flatten();
    let correct = scripted.is_none();
    let answer = scripted.unwrap_or_else(Answer::correct);
    let (bytes, seen) = render(
        &answer,
        kind,
        part,
        &head,
        crc.value(),
        state,
        &me.to_string(),
        &sink.to_string(),
    );
    lock(&state.seen).push(Seen {
        correct,
        body_len,
        ..seen
    });
    match answer {
        Answer::Close => {}
        Answer::Silent(d) => std::thread::sleep(d),
        _ => {
            let _ = s.write_all(&bytes);
            let _ = s.flush();
        }
    }
    let _ = s.shutdown(Shutdown::Both);
}

#[allow(clippy::too_many_arguments)]
fn render(
    answer: &Answer,
    kind: Kind,
    part: Option<u32>,
    request_head: &str,
    body_crc: u64,
    state: &CaseState,
    me: &str,
    sink: &str,
) -> (Vec<u8>, Seen) {
    let subst = |b: &[u8]| replace(&replace(b, SELF, me), SINK, sink);
    let mut seen = Seen {
        kind,
        part,
        status: None,
        correct: false,
        crc_right: false,
        length_right: false,
        body_len: 0,
    };
    let (status, headers, crc, length, body) = match answer {
        Answer::Close | Answer::Silent(_) => return (Vec::new(), seen),
        Answer::Raw(b) => {
            // Whatever status a status line there gives (no CRC-64 counts as right).
            let text = String::from_utf8_lossy(b);
            seen.status = text
                .strip_prefix("HTTP/1.")
                .and_then(|t| t.get(2..5))
                .and_then(|c| c.parse().ok());
            return (subst(b), seen);
        }
        Answer::Http {
            status,
            headers,
            crc,
            length,
            body,
        } => (status, headers, crc, length, body),
    };
    let status = status.unwrap_or(match kind {
        Kind::Abort => 204,
        Kind::Other => 400,
        _ => 200,
    });
    seen.status = Some(status);
    let right_crc = match kind {
        Kind::Complete | Kind::Head => state.object_crc,
        _ => body_crc,
    };
    let oss = !matches!(kind, Kind::Rpc);
    let body: Vec<u8> = match body {
        Body::Default => match kind {
            Kind::Rpc => format!(
                r#"{{"RequestId":"rpc-req","BucketName":"{BUCKET}","Endpoint":"{me}"}}"#
            )
            .into_bytes(),
            Kind::Initiate => b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>UPLOAD-1</UploadId></InitiateMultipartUploadResult>".to_vec(),
            Kind::Complete => b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult><Bucket>b</Bucket><ETag>\"OBJ-3\"</ETag></CompleteMultipartUploadResult>".to_vec(),
            Kind::Other => b"<Error><Code>InvalidRequest</Code></Error>".to_vec(),
            _ => Vec::new(),
        },
        Body::Bytes(b) => subst(b),
        Body::Prepare { bucket, endpoint } => serde_json::json!({
            "RequestId": "rpc-req",
            "BucketName": bucket,
            "Endpoint": String::from_utf8_lossy(&subst(endpoint.as_bytes())),
        })
        .to_string()
        .into_bytes(),
        Body::RpcError { code, message } => serde_json::json!({
            "RequestId": "rpc-err", "HostId": "h", "Code": code, "Message": message,
        })
        .to_string()
        .into_bytes(),
        Body::OssError {
            code,
            message,
            request_id,
            string_to_sign,
            escape,
        } => {
            let e = |s: &str| if *escape { xml_escape(s) } else { s.to_owned() };
            let mut x = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId><HostId>h.oss</HostId>",
                e(code),
                e(message),
                e(request_id)
            );
            if let Some(sts) = string_to_sign {
                x.push_str(&format!("<StringToSign>{}</StringToSign>", e(sts)));
            }
            x.push_str("</Error>");
            subst(x.as_bytes())
        }
        Body::Initiate { upload_id, escape } => format!(
            "<InitiateMultipartUploadResult><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
            if *escape { xml_escape(upload_id) } else { upload_id.clone() }
        )
        .into_bytes(),
        Body::Complete { etag, escape } => format!(
            "<CompleteMultipartUploadResult><ETag>{}</ETag></CompleteMultipartUploadResult>",
            if *escape { xml_escape(etag) } else { etag.clone() }
        )
        .into_bytes(),
        Body::Huge(n) => vec![b'x'; *n],
        Body::Echo { prefix } => {
            let mut b = vec![b' '; *prefix];
            b.extend_from_slice(request_head.as_bytes());
            b
        }
    };
    let mut out = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n").into_bytes();
    let mut header = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    if oss {
        header(b"x-oss-request-id", b"oss-req");
        if matches!(kind, Kind::PutObject | Kind::UploadPart | Kind::Head) {
            let etag = format!("\"E-{}\"", part.unwrap_or(0));
            header(b"ETag", etag.as_bytes());
        }
    }
    for (name, value) in headers {
        header(name.as_bytes(), &subst(value));
    }
    // The client reads the first of repeated headers: a scripted one
    // comes before those below.
    let scripted = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| {
                String::from_utf8_lossy(&subst(v))
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .collect::<Vec<_>>()
    };
    let scripted_crc = scripted("x-oss-hash-crc64ecma");
    let scripted_len = scripted("content-length");
    let oss_crc = oss && !matches!(kind, Kind::Abort | Kind::Other);
    seen.crc_right = match crc {
        _ if !oss_crc => false,
        Crc::Right => {
            header(b"x-oss-hash-crc64ecma", right_crc.to_string().as_bytes());
            true
        }
        Crc::Xor(x) => {
            header(
                b"x-oss-hash-crc64ecma",
                (right_crc ^ x).to_string().as_bytes(),
            );
            *x == 0
        }
        Crc::Absent => false,
        Crc::Raw(v) => {
            header(b"x-oss-hash-crc64ecma", v);
            String::from_utf8_lossy(v).trim().parse::<u64>() == Ok(right_crc)
        }
    };
    if let Some(first) = scripted_crc.first() {
        seen.crc_right = oss_crc && *first == Some(right_crc);
    }
    let head_request = kind == Kind::Head;
    let right_len = if head_request {
        state.object_size
    } else {
        body.len() as u64
    };
    seen.length_right = match length {
        Length::Right => {
            header(b"Content-Length", right_len.to_string().as_bytes());
            true
        }
        Length::Absent => !head_request,
        Length::Raw(v) => {
            header(b"Content-Length", v);
            String::from_utf8_lossy(v).trim().parse::<u64>() == Ok(right_len)
        }
    };
    if !scripted_len.is_empty() {
        seen.length_right &= scripted_len.iter().all(|l| *l == Some(right_len));
    }
    out.extend_from_slice(b"\r\n");
    if !head_request {
        out.extend_from_slice(&body);
    }
    (out, seen)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The checkpoint's JSON for `case`, against the file as it is.
fn checkpoint_json(c: &CheckpointJson, case: &Case, path: &Path, data: &[u8], me: &str) -> Vec<u8> {
    let meta = std::fs::metadata(path).expect("file metadata");
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default();
    #[cfg(unix)]
    let file_id = {
        use std::os::unix::fs::MetadataExt;
        format!("{}:{}", meta.dev(), meta.ino())
    };
    #[cfg(not(unix))]
    let file_id = String::new();
    let (size, mtime_ns, file_id) = if c.file_right {
        (meta.len(), mtime_ns, file_id)
    } else {
        (meta.len() + 1, "1".to_owned(), "0:0".to_owned())
    };
    let part_size = c.part_size.unwrap_or(case.part_size);
    let parts: Vec<serde_json::Value> = c
        .parts
        .iter()
        .map(|p| {
            let start = u64::from(p.number.saturating_sub(1)).saturating_mul(part_size);
            let start = usize::try_from(start.min(data.len() as u64)).unwrap_or(0);
            let len = (data.len() - start).min(usize::try_from(part_size).unwrap_or(usize::MAX));
            let bytes = &data[start..start + len];
            serde_json::json!({
                "number": p.number,
                "etag": p.etag,
                "crc64": p.crc64.clone().unwrap_or_else(|| crc64::checksum(bytes).to_string()),
                "size": p.size.unwrap_or(len as u64),
            })
        })
        .collect();
    let format = if c.format_right {
        "ens-upload-checkpoint/1"
    } else {
        "ens-upload-checkpoint/0"
    };
    let mut fields = vec![
        ("format", serde_json::json!(format)),
        ("bucket_asked", serde_json::json!(BUCKET_ASKED)),
        (
            "bucket",
            serde_json::json!(if c.place_right {
                BUCKET
            } else {
                "other-bucket"
            }),
        ),
        ("endpoint", serde_json::json!(me)),
        (
            "key",
            serde_json::json!(if c.key_right { KEY } else { "other/key" }),
        ),
        ("upload_id", serde_json::json!(c.upload_id)),
        ("part_size", serde_json::json!(part_size)),
        (
            "file",
            serde_json::json!({ "size": size, "mtime_ns": mtime_ns, "file_id": file_id }),
        ),
        ("parts", serde_json::Value::Array(parts)),
    ];
    if let Some(field) = &c.mangle {
        match fields.iter().position(|(k, _)| *k == field.as_str()) {
            Some(i) if field.len() % 2 == 0 => fields[i].1 = serde_json::json!(-1),
            Some(i) => {
                fields.remove(i);
            }
            None => fields.push(("extra", serde_json::json!([null, -1, "x"]))),
        }
    }
    // In the client's field order ("format" first, which is how a
    // checkpoint is told from another file), pretty-printed as it writes.
    let members: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("  {:?}: {}", k, serde_json::to_string(v).unwrap()))
        .collect();
    format!("{{\n{}\n}}", members.join(",\n")).into_bytes()
}

/// Whether `bytes` start as a checkpoint of any version does: a JSON
/// object whose first member is `"format"`, naming the family.
pub fn names_a_checkpoint(bytes: &[u8]) -> bool {
    let start: Vec<u8> = bytes
        .iter()
        .take(256)
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    start.starts_with(b"{\"format\":\"ens-upload-checkpoint/")
}

fn client(server: &Server, case: &Case) -> Client {
    Client::builder()
        .endpoint(format!("http://{}", server.addr))
        .credentials(Credentials::sts(ID, SECRET, TOKEN))
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(case.read_timeout)
        .call_timeout(case.call_timeout)
        .retries(case.retries)
        .retry_base_delay(Duration::from_millis(1))
        .retry_max_delay(Duration::from_millis(5))
        .build()
        .expect("client builds")
}

/// Uploads as `case` says against the scripted server. Panics when the
/// call panics (with its message) or does not return within [`HANG_BOUND`].
pub fn run(case: &Case) -> Outcome {
    let server = Server::get();
    let _turn = lock(&server.turn);
    let size = SIZES[case.size % SIZES.len()];
    let (path, data) = server.file(size);
    let file_crc = crc64::checksum(&data);
    let ckpt = server.dir.join("upload.ckpt");
    let _ = std::fs::remove_file(&ckpt);
    let _ = std::fs::remove_file(server.dir.join("upload.ckpt.tmp"));
    let mut options = UploadOptions::new()
        .part_size(case.part_size)
        .multipart_threshold(case.multipart_threshold)
        .threads(1);
    let checkpoint_before = case.checkpoint.as_ref().map(|c| match c {
        Checkpoint::Bytes(b) => b.clone(),
        Checkpoint::Json(j) => checkpoint_json(j, case, &path, &data, &server.authority()),
    });
    if let Some(bytes) = &checkpoint_before {
        std::fs::write(&ckpt, bytes).expect("write the checkpoint");
        options = options.checkpoint(&ckpt);
    }
    let state = Arc::new(CaseState {
        answers: case.answers.clone(),
        next: AtomicUsize::new(0),
        object_size: size,
        object_crc: file_crc,
        seen: Mutex::new(Vec::new()),
    });
    *lock(&server.current) = Some(Arc::clone(&state));
    let hits_before = server.sink_hits.load(Ordering::SeqCst);

    let client = client(server, case);
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    let worker = std::thread::spawn(move || {
        let r = client.upload_file(
            &PrepareUploadRequest::new(BUCKET_ASKED),
            KEY,
            &path,
            &options,
        );
        let _ = tx.send(r);
    });
    let result = match rx.recv_timeout(HANG_BOUND) {
        Ok(r) => r,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("hang: upload_file has not returned after {HANG_BOUND:?}; case {case:#?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let why = match worker.join() {
                Err(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
                Ok(()) => String::new(),
            };
            panic!("upload_file panicked: {why}; case {case:#?}")
        }
    };
    let elapsed = started.elapsed();
    let _ = worker.join();
    // Let a connection still being answered (silent) finish its record.
    *lock(&server.current) = None;
    let seen = lock(&state.seen).clone();
    let checkpoint_after = std::fs::read(&ckpt).ok();
    let checkpoint_tmp_left = server.dir.join("upload.ckpt.tmp").exists();
    Outcome {
        result,
        seen,
        followed: server.sink_hits.load(Ordering::SeqCst) - hits_before,
        elapsed,
        checkpoint_before,
        checkpoint_after,
        checkpoint_tmp_left,
        file_len: size,
        file_crc,
    }
}

/// Whether `text` holds the secret or the token. Whole values only: an
/// echoed token cut by the 256 bytes `Error::Decode` keeps shows in part
/// (`a_token_cut_by_the_body_prefix_does_not_leak_in_part` in
/// tests/secret_hygiene.rs).
fn leaks(text: &str) -> bool {
    [SECRET, TOKEN].iter().any(|n| text.contains(n))
}

/// What must hold for any case; `Err` says what did not.
pub fn check(case: &Case, out: &Outcome) -> Result<(), String> {
    let fail = |why: String| {
        Err(format!(
            "{why}\nresult: {:?}\nseen: {:#?}",
            out.result, out.seen
        ))
    };
    if out.followed > 0 {
        return fail(format!(
            "a redirect was followed ({} connections)",
            out.followed
        ));
    }
    let last_2xx = |kinds: &[Kind]| {
        out.seen
            .iter()
            .rev()
            .find(|s| kinds.contains(&s.kind) && s.status.is_some_and(|c| (200..300).contains(&c)))
    };
    let all_correct = out.seen.iter().all(|s| s.correct);
    if out.checkpoint_tmp_left {
        return fail("the checkpoint's temporary file was left".into());
    }
    // A file at the checkpoint path that is not a checkpoint (nor empty)
    // is never overwritten or removed.
    let foreign = out
        .checkpoint_before
        .as_ref()
        .is_some_and(|b| !b.is_empty() && !names_a_checkpoint(b));
    if foreign && out.checkpoint_after != out.checkpoint_before {
        return fail("a file that is not a checkpoint was overwritten or removed".into());
    }
    // Refusing such a file before sending anything is fine.
    if let Err(Error::InvalidInput { field, .. }) = &out.result {
        if field == "checkpoint" && foreign && out.seen.is_empty() {
            return Ok(());
        }
    }
    match &out.result {
        Ok(r) => {
            if r.size != out.file_len || r.crc64 != out.file_crc || r.key != KEY {
                return fail(format!(
                    "success with the wrong object: size {} crc {} (file: {} {})",
                    r.size, r.crc64, out.file_len, out.file_crc
                ));
            }
            if r.upload_id.is_none() != (r.parts == 0) || r.resumed_parts > r.parts {
                return fail("inconsistent parts in the result".into());
            }
            // One of ours is removed; anything else (an empty file,
            // another program's) is left as it was.
            if let Some(after) = &out.checkpoint_after {
                if names_a_checkpoint(after) || out.checkpoint_before.as_ref() != Some(after) {
                    return fail("a checkpoint was left after a success".into());
                }
            }
            let concluding = if r.upload_id.is_none() {
                last_2xx(&[Kind::PutObject])
            } else {
                last_2xx(&[Kind::Complete, Kind::Head])
            };
            match concluding {
                Some(s) if s.crc_right && (s.kind != Kind::Head || s.length_right) => {}
                other => {
                    return fail(format!(
                        "success without the server confirming the CRC-64: {other:?}"
                    ))
                }
            }
            if r.upload_id.is_some() {
                let mut confirmed: Vec<u32> = out
                    .seen
                    .iter()
                    .filter(|s| {
                        s.kind == Kind::UploadPart
                            && s.crc_right
                            && s.status.is_some_and(|c| (200..300).contains(&c))
                    })
                    .filter_map(|s| s.part)
                    .collect();
                confirmed.sort_unstable();
                confirmed.dedup();
                if confirmed.len() as u32 + r.resumed_parts < r.parts {
                    return fail(format!(
                        "{} parts, {} resumed, only {confirmed:?} confirmed",
                        r.parts, r.resumed_parts
                    ));
                }
            }
        }
        Err(e) => {
            let shown = format!("{e}");
            let debug = format!("{e:?}");
            if shown.is_empty() || debug.is_empty() {
                return fail("an error with no text".into());
            }
            // Even when the server echoes the request (`Body::Echo`).
            let mut texts = vec![shown, debug, format!("{e:#?}")];
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                texts.push(format!("{s} {s:?}"));
                source = s.source();
            }
            if texts.iter().any(|t| leaks(t)) {
                return fail(format!("the error shows a secret: {texts:?}"));
            }
            // Whatever the checkpoint held (garbage is ignored, a stale one
            // starts over, a good one resumes), correct answers succeed.
            if all_correct {
                return fail("every answer was correct, yet the upload failed".into());
            }
            if e.attempts() > case.retries + 2 {
                return fail(format!(
                    "{} attempts with {} retries",
                    e.attempts(),
                    case.retries
                ));
            }
            let answered = |status: u16| out.seen.iter().any(|s| s.status == Some(status));
            let wrong_crc = out.seen.iter().any(|s| {
                matches!(s.kind, Kind::PutObject | Kind::UploadPart | Kind::Complete)
                    && s.status.is_some_and(|c| (200..300).contains(&c))
                    && !s.crc_right
            });
            match e {
                Error::Cancelled { .. } => return fail("cancelled without a callback".into()),
                Error::InvalidInput { .. }
                | Error::Credentials { .. }
                | Error::NoCredentials { .. } => return fail("refused the valid input".into()),
                Error::Api(api) if !answered(api.http_status) || api.code.is_empty() => {
                    return fail("an API error that was not answered".into());
                }
                Error::Redirect { status, .. }
                    if !(300..400).contains(status) || !answered(*status) =>
                {
                    return fail("a redirect that was not answered".into());
                }
                Error::Integrity { .. } if !wrong_crc => {
                    return fail("an integrity error without a wrong CRC-64".into());
                }
                _ => {}
            }
        }
    }
    if out.elapsed > HANG_BOUND {
        return fail(format!("took {:?}", out.elapsed));
    }
    Ok(())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for the `Date` and
/// `Retry-After` headers the answers carry, written with the `time` crate
/// rather than the library's own formatter. Clamped to the years 1 to 9999.
pub fn http_date(unix: i64) -> String {
    static IMF_FIXDATE: OnceLock<Vec<time::format_description::BorrowedFormatItem<'static>>> =
        OnceLock::new();
    let format = IMF_FIXDATE.get_or_init(|| {
        time::format_description::parse(
            "[weekday repr:short], [day] [month repr:short] [year] \
             [hour]:[minute]:[second] GMT",
        )
        .expect("a valid format description")
    });
    // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    let unix = unix.clamp(-62_135_596_800, 253_402_300_799);
    time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("within the years 1 to 9999")
        .format(format)
        .expect("every field is in the format")
}
