//! The OSS side of the emulator: the object storage `PrepareUpload` points
//! devices at. It serves PutObject, InitiateMultipartUpload, UploadPart,
//! ListParts, CompleteMultipartUpload, AbortMultipartUpload, GetObject and
//! HeadObject on the same port, path-style or virtual-hosted (by the `Host`
//! header), checks OSS header signature V4 (`OSS4-HMAC-SHA256`) or V1 with
//! the emulator's keys (V1 refused with [`EmulatorBuilder::oss_refuse_v1`],
//! V4's region checked with [`EmulatorBuilder::oss_region`]), and answers
//! errors with OSS's XML bodies.
//!
//! [`EmulatorBuilder::oss_refuse_v1`]: super::EmulatorBuilder::oss_refuse_v1
//! [`EmulatorBuilder::oss_region`]: super::EmulatorBuilder::oss_region
//!
//! Bodies stream to files in a temporary directory of the emulator (removed
//! when it stops) or in its data directory (kept, `persist.rs`), with their
//! CRC-64 computed on the way; nothing is held
//! whole in memory. A completed multipart object keeps its parts' files, in
//! order (no copy), and GetObject streams them one after the other. ETags
//! are not MD5s (no MD5 here): they are the object's CRC-64 and size in 32
//! uppercase hex digits, quoted, with `-<parts>` after a multipart upload,
//! stable for the same bytes.
//!
//! Split by concern: routing and bodies here, storage in `store.rs` (kept
//! across runs by `persist.rs`),
//! authentication in `auth.rs`, objects in `objects.rs`, multipart uploads
//! in `multipart.rs`.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};

use super::http::{write_head, write_response, HttpRequest, HttpResponse};
use super::prepare_upload::physical_bucket;
use super::record::RecordedRequest;
use super::rpc::request_id;
use super::{lock, Fault, Shared};
use crate::crc64::Crc64;
use crate::sign;
use crate::upload::xml;

mod auth;
mod meta;
mod multipart;
mod objects;
mod persist;
mod store;

pub use meta::ObjectMeta;
pub(super) use persist::{save_port, saved_port};
pub(super) use store::OssStore;
pub use store::StoredObject;

/// Whether a request is for the OSS side (anything but the RPC API at `/`).
pub(super) fn is_oss_request(req: &HttpRequest) -> bool {
    let path = req.target.split('?').next().unwrap_or("");
    path != "/"
}

/// An OSS error to answer.
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
    /// OSS's detailed error code (`<EC>`), where the emulator knows it.
    ec: Option<&'static str>,
    /// SignatureDoesNotMatch: the server's canonical request (V4 only).
    canonical_request: Option<String>,
    /// SignatureDoesNotMatch: the server's string to sign.
    string_to_sign: Option<String>,
}

fn failure(status: u16, code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        code,
        message: message.into(),
        ec: None,
        canonical_request: None,
        string_to_sign: None,
    }
}

impl Failure {
    fn with_ec(mut self, ec: &'static str) -> Failure {
        self.ec = Some(ec);
        self
    }
}

/// OSS's accepted range for `x-oss-traffic-limit`, in bits per second.
const TRAFFIC_LIMIT_RANGE: std::ops::RangeInclusive<u64> =
    crate::upload::MIN_TRAFFIC_LIMIT..=crate::upload::MAX_TRAFFIC_LIMIT;

/// A traffic limit outside OSS's range (or not a number) is refused as
/// OSS does: 400 `InvalidArgument`. The emulator does not throttle to it.
fn check_traffic_limit(value: Option<&str>) -> Result<(), Failure> {
    let Some(value) = value else {
        return Ok(());
    };
    match value.trim().parse::<u64>() {
        Ok(bits) if TRAFFIC_LIMIT_RANGE.contains(&bits) => Ok(()),
        _ => Err(failure(
            400,
            "InvalidArgument",
            format!(
                "x-oss-traffic-limit {value:?} is invalid: it must be {} to {} (bit/s).",
                TRAFFIC_LIMIT_RANGE.start(),
                TRAFFIC_LIMIT_RANGE.end()
            ),
        )
        .with_ec("0004-00000502")),
    }
}

/// What to send back.
enum Body {
    Bytes(Vec<u8>),
    /// A stored object's files, streamed one after the other.
    Files(Vec<PathBuf>, u64),
    /// HEAD: the length of what GET would send, and nothing.
    HeadOnly(u64),
}

struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    /// Headers named at run time (an object's metadata).
    object_headers: Vec<(String, String)>,
    body: Body,
    code: Option<String>,
}

impl Answer {
    fn ok(headers: Vec<(&'static str, String)>, body: Body) -> Answer {
        Answer {
            status: 200,
            headers,
            object_headers: Vec::new(),
            body,
            code: None,
        }
    }
}

/// How reading a request body ended.
enum Received {
    /// All of it, stored in this file (`None`: read and dropped).
    Complete { size: u64, crc64: u64 },
    /// The connection broke, or a fault cut it.
    Broken,
}

/// Serves one OSS request, reading its body from `reader`. `Ok(true)` when
/// the connection may serve another request.
pub(super) fn serve(
    req: HttpRequest,
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    connection_id: u64,
    shared: &Shared,
) -> io::Result<bool> {
    let request_id = request_id();
    let (path, raw_query) = req
        .target
        .split_once('?')
        .unwrap_or((req.target.as_str(), ""));
    let query = parse_query(raw_query);
    let writes = req.method == "PUT" || (req.method == "POST" && has(&query, "uploadId"));
    let fault = if writes {
        lock(&shared.oss_faults).pop_front()
    } else {
        None
    };
    let expects_continue = req.content_length > 0
        && req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let mut session = Session {
        req: &req,
        reader,
        writer: &mut *writer,
        shared,
        query: &query,
        body_read: 0,
        body_done: req.content_length == 0,
        fault: fault.as_ref(),
        expects_continue,
        continued: false,
        body_times: None,
    };
    let outcome = session.handle(path);
    let body_len = session.body_read;
    let body_done = session.body_done;
    let body_times = session.body_times;
    // Refused before `100 Continue`: the client never sent its body, so
    // the answer goes out and the connection closes (as OSS does).
    let refused_early = expects_continue && !session.continued && outcome.is_err();

    let (mut answer, keep_alive) = match outcome {
        Ok(a) => (a, req.keep_alive),
        Err(f) => {
            let host = shared.oss_endpoint.clone();
            (error_answer(&f, &request_id, &host), req.keep_alive)
        }
    };
    // An answer to HEAD has no body, errors included (OSS says which in
    // headers), or the client would read it as the next answer.
    if req.method == "HEAD" {
        if let Body::Bytes(b) = &answer.body {
            answer.body = Body::HeadOnly(b.len() as u64);
        }
    }
    // A body not read to its end leaves the connection unusable.
    let keep_alive = keep_alive && body_done;
    let broken = matches!(fault, Some(Fault::OssResetAfterBytes(_))) && writes;
    let (status, code) = if broken {
        (0, Some("ConnectionReset".to_owned()))
    } else if !body_done && !refused_early {
        (400, Some("IncompleteBody".to_owned()))
    } else {
        (answer.status, answer.code.clone())
    };
    lock(&shared.requests).push(RecordedRequest {
        method: req.method.clone(),
        path: path.to_owned(),
        raw_query: raw_query.to_owned(),
        params: query
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect(),
        headers: req.headers.clone(),
        body_len: usize::try_from(body_len).unwrap_or(usize::MAX),
        connection_id,
        status,
        code,
        fault: fault.clone(),
        body_first_byte: body_times.map(|t| t.0),
        body_last_byte: body_times.map(|t| t.1),
    });
    if broken || (!body_done && !refused_early) {
        let _ = writer.shutdown(Shutdown::Both);
        return Ok(false);
    }
    let keep_alive = keep_alive && !refused_early;
    if let Some(Fault::OssSlow(d)) = &fault {
        std::thread::sleep(*d);
    }
    answer.headers.push(("x-oss-request-id", request_id));
    answer
        .headers
        .push(("Date", crate::clock::format_http_date(shared.now())));
    answer.headers.push(("Server", "AliyunOSS".to_owned()));
    send(writer, answer, keep_alive)?;
    Ok(keep_alive)
}

fn send(writer: &mut TcpStream, answer: Answer, keep_alive: bool) -> io::Result<()> {
    let mut resp = HttpResponse {
        status: answer.status,
        headers: answer.headers,
        object_headers: answer.object_headers,
        body: Vec::new(),
    };
    match answer.body {
        Body::Bytes(b) => {
            resp.body = b;
            write_response(writer, &resp, keep_alive)
        }
        Body::HeadOnly(len) => {
            write_head(
                writer,
                &resp,
                usize::try_from(len).unwrap_or(usize::MAX),
                keep_alive,
            )?;
            writer.flush()
        }
        Body::Files(paths, len) => {
            let files = paths
                .iter()
                .map(File::open)
                .collect::<io::Result<Vec<_>>>()?;
            write_head(
                writer,
                &resp,
                usize::try_from(len).unwrap_or(usize::MAX),
                keep_alive,
            )?;
            let mut out = BufWriter::with_capacity(256 << 10, &mut *writer);
            for mut file in files {
                io::copy(&mut file, &mut out)?;
            }
            out.flush()
        }
    }
}

/// One request being served: its body is read at most once, by the
/// handler that wants it, or drained before an error answer.
struct Session<'a> {
    req: &'a HttpRequest,
    reader: &'a mut BufReader<TcpStream>,
    /// For the interim `100 Continue` only; the answer goes out after.
    writer: &'a mut TcpStream,
    shared: &'a Shared,
    query: &'a [(String, Option<String>)],
    body_read: u64,
    body_done: bool,
    fault: Option<&'a Fault>,
    /// The client sent `Expect: 100-continue` and waits before its body.
    expects_continue: bool,
    /// Whether `100 Continue` went out (the body follows).
    continued: bool,
    /// When the body's first and last bytes arrived.
    body_times: Option<(std::time::Instant, std::time::Instant)>,
}

impl Session<'_> {
    fn handle(&mut self, path: &str) -> Result<Answer, Failure> {
        let result = self.route(path);
        // A client waiting for `100 Continue` has not sent its body.
        let waiting = self.expects_continue && !self.continued;
        if result.is_err() && !self.body_done && !waiting {
            // Read what the client sends so it can read our answer.
            let _ = self.receive(None);
        }
        result
    }

    fn route(&mut self, path: &str) -> Result<Answer, Failure> {
        let (bucket, key) = self.locate(path)?;
        self.authenticate(&bucket, &key)?;
        let known = self
            .shared
            .config
            .buckets
            .iter()
            .any(|b| physical_bucket(b) == bucket);
        if !known {
            let mut names: Vec<String> = self
                .shared
                .config
                .buckets
                .iter()
                .map(|b| format!("{} (for {b})", physical_bucket(b)))
                .collect();
            names.sort_unstable();
            return Err(failure(
                404,
                "NoSuchBucket",
                format!(
                    "The specified bucket does not exist. This emulator's buckets: {}; upload to the bucket PrepareUpload answered.",
                    names.join(", ")
                ),
            ));
        }
        if key.is_empty() {
            return Err(failure(
                405,
                "MethodNotAllowed",
                "The emulator serves object requests only.",
            ));
        }
        if self.req.method == "PUT" {
            check_traffic_limit(self.req.header("x-oss-traffic-limit"))?;
        }
        let upload_id = value(self.query, "uploadId");
        match (self.req.method.as_str(), upload_id) {
            ("PUT", Some(id)) => self.upload_part(&bucket, &key, &id),
            ("PUT", None) => self.put_object(&bucket, &key),
            ("POST", None) if has(self.query, "uploads") => self.initiate(&bucket, &key),
            ("POST", Some(id)) => self.complete(&bucket, &key, &id),
            ("GET", Some(id)) => self.list_parts(&bucket, &key, &id),
            ("DELETE", Some(id)) => self.abort(&bucket, &key, &id),
            ("GET" | "HEAD", None) => self.get(&bucket, &key),
            _ => Err(failure(
                405,
                "MethodNotAllowed",
                format!("{} is not served here.", self.req.method),
            )),
        }
    }

    /// The bucket and key: from the path (`/bucket/key`) when the host is
    /// an IP address, `localhost` or the endpoint itself; else the bucket is
    /// the first label of the host (virtual hosting).
    fn locate(&self, path: &str) -> Result<(String, String), Failure> {
        let decoded = sign::percent_decode(path, false)
            .ok_or_else(|| failure(400, "InvalidObjectName", "The key is not valid UTF-8."))?;
        let host = host_without_port(self.req.header("host").unwrap_or(""));
        let endpoint_host = host_without_port(&self.shared.oss_endpoint);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let path_style = bare.is_empty()
            || bare == "localhost"
            || bare.parse::<std::net::IpAddr>().is_ok()
            || host.eq_ignore_ascii_case(endpoint_host);
        let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
        if path_style {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            Ok((bucket.to_owned(), key.to_owned()))
        } else {
            let bucket = host.split('.').next().unwrap_or("").to_ascii_lowercase();
            Ok((bucket, rest.to_owned()))
        }
    }
    /// Reads the rest of the body into `file` (or drops it), computing its
    /// CRC-64; a fault may cut it short.
    fn receive(&mut self, file: Option<&Path>) -> Result<Received, Failure> {
        if self.expects_continue && !self.continued {
            self.continued = true;
            self.writer
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .and_then(|()| self.writer.flush())
                .map_err(|e| internal(&e))?;
        }
        let total = self.req.content_length;
        let cut = match self.fault {
            Some(Fault::OssResetAfterBytes(n)) => Some(*n),
            _ => None,
        };
        let mut out = match file {
            Some(p) => Some(BufWriter::with_capacity(
                256 << 10,
                File::create(p).map_err(|e| internal(&e))?,
            )),
            None => None,
        };
        let mut crc = Crc64::new();
        let mut buf = vec![0u8; 64 << 10];
        let limit = cut.map_or(total, |c| c.min(total));
        while self.body_read < limit {
            let want = usize::try_from(limit - self.body_read)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = match self.reader.read(&mut buf[..want]) {
                Ok(0) | Err(_) => return Ok(Received::Broken),
                Ok(n) => n,
            };
            let now = std::time::Instant::now();
            self.body_times = Some((self.body_times.map_or(now, |t| t.0), now));
            crc.update(&buf[..n]);
            if let Some(out) = out.as_mut() {
                out.write_all(&buf[..n]).map_err(|e| internal(&e))?;
            }
            self.body_read += n as u64;
        }
        if cut.is_some() {
            return Ok(Received::Broken);
        }
        if let Some(mut out) = out {
            out.flush().map_err(|e| internal(&e))?;
        }
        self.body_done = true;
        Ok(Received::Complete {
            size: self.body_read,
            crc64: crc.value(),
        })
    }

    /// Receives the body into a new file; `None` when it did not all come.
    fn receive_file(&mut self, prefix: &str) -> Result<Option<(PathBuf, u64, u64)>, Failure> {
        let path = self.shared.oss.new_file(prefix);
        match self.receive(Some(&path))? {
            Received::Complete { size, crc64 } => Ok(Some((path, size, crc64))),
            Received::Broken => {
                let _ = fs::remove_file(&path);
                Ok(None)
            }
        }
    }

    /// What an injected fault does to an answer that would succeed.
    fn faulted(&self) -> Result<(), Failure> {
        match self.fault {
            Some(Fault::OssInternalError) => Err(failure(
                500,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )),
            Some(Fault::OssErrorIn200) => Err(failure(
                200,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )),
            _ => Ok(()),
        }
    }

    fn crc_header(&self, crc: u64) -> String {
        let reported = if self.fault == Some(&Fault::OssBadCrc) {
            crc ^ 0x5A5A
        } else {
            crc
        };
        reported.to_string()
    }
}

/// `"<CRC-64 hex><size hex>"`, with `-<parts>` after a multipart upload.
fn etag(crc: u64, size: u64, parts: Option<usize>) -> String {
    match parts {
        Some(n) => format!("\"{crc:016X}{size:016X}-{n}\""),
        None => format!("\"{crc:016X}{size:016X}\""),
    }
}

/// OSS's `LastModified`: ISO 8601 in UTC with milliseconds,
/// `2012-02-23T07:01:34.000Z`.
fn last_modified(unix: i64) -> String {
    let mut s = crate::clock::format_iso8601(unix);
    s.pop(); // the `Z`
    s.push_str(".000Z");
    s
}

fn xml_answer(body: String) -> Answer {
    Answer::ok(
        vec![("Content-Type", "application/xml".to_owned())],
        Body::Bytes(body.into_bytes()),
    )
}

fn error_answer(f: &Failure, request_id: &str, host: &str) -> Answer {
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{}</Code>\n  <Message>{}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>{}</HostId>\n",
        f.code,
        xml::escape_text(&f.message),
        request_id,
        xml::escape_text(host)
    );
    let details = [
        ("CanonicalRequest", f.canonical_request.as_deref()),
        ("StringToSign", f.string_to_sign.as_deref()),
        ("EC", f.ec),
    ];
    for (tag, text) in details {
        if let Some(text) = text {
            body.push_str(&format!("  <{tag}>{}</{tag}>\n", xml::escape_text(text)));
        }
    }
    body.push_str("</Error>\n");
    let mut headers = vec![("Content-Type", "application/xml".to_owned())];
    if let Some(ec) = f.ec {
        headers.push(("x-oss-ec", ec.to_owned()));
    }
    Answer {
        status: f.status,
        headers,
        object_headers: Vec::new(),
        body: Body::Bytes(body.into_bytes()),
        code: Some(f.code.to_owned()),
    }
}

fn no_such_upload() -> Failure {
    failure(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

fn malformed() -> Failure {
    failure(
        400,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

fn internal(e: &io::Error) -> Failure {
    failure(500, "InternalError", format!("storage failed: {e}"))
}

/// `a&b=c` → `[("a", None), ("b", Some("c"))]`, percent-decoded.
fn parse_query(raw: &str) -> Vec<(String, Option<String>)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (
                sign::percent_decode(k, false).unwrap_or_else(|| k.to_owned()),
                Some(sign::percent_decode(v, false).unwrap_or_else(|| v.to_owned())),
            ),
            None => (
                sign::percent_decode(pair, false).unwrap_or_else(|| pair.to_owned()),
                None,
            ),
        })
        .collect()
}

fn has(query: &[(String, Option<String>)], name: &str) -> bool {
    query.iter().any(|(k, _)| k == name)
}

fn value(query: &[(String, Option<String>)], name: &str) -> Option<String> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.clone())
}

/// `host:port` → `host`; `[::1]:80` → `[::1]`.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn hosts_and_queries() {
        assert_eq!(host_without_port("127.0.0.1:9000"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("b.oss.example"), "b.oss.example");
        let q = parse_query("partNumber=3&uploadId=A%2BB&uploads");
        assert_eq!(value(&q, "uploadId").as_deref(), Some("A+B"));
        assert!(has(&q, "uploads") && value(&q, "uploads").is_none());
        assert_eq!(
            etag(1, 2, Some(3)),
            "\"00000000000000010000000000000002-3\""
        );
        assert_eq!(last_modified(1_330_066_894), "2012-02-24T07:01:34.000Z");
    }
}
