//! The OSS side of the emulator: the object storage `PrepareUpload` points
//! devices at. It serves PutObject, InitiateMultipartUpload, UploadPart,
//! ListParts, CompleteMultipartUpload, AbortMultipartUpload, GetObject and
//! HeadObject on the same port, path-style or virtual-hosted (by the `Host`
//! header), checks OSS header signature V1 with the emulator's keys, and
//! answers errors with OSS's XML bodies.
//!
//! Bodies stream to files in a temporary directory of the emulator (removed
//! when it stops), with their CRC-64 computed on the way; nothing is held
//! whole in memory. A completed multipart object keeps its parts' files, in
//! order (no copy), and GetObject streams them one after the other. ETags are not MD5s (no MD5 here): they are the object's
//! CRC-64 and size in 32 uppercase hex digits, quoted, with `-<parts>` after
//! a multipart upload, stable for the same bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{
    lock, physical_bucket, request_id, write_head, write_response, Emulator, Fault, HttpRequest,
    HttpResponse, KeyState, RecordedRequest, Shared, TIMESTAMP_TOLERANCE,
};
use crate::crc64::{self, Crc64};
use crate::sign;
use crate::upload::xml;

/// The largest CompleteMultipartUpload body read (10,000 parts fit).
const MAX_XML_BODY: u64 = 4 << 20;
/// Parts but the last must be at least this long.
const MIN_PART_SIZE: u64 = 100 << 10;
const MAX_PART_NUMBER: u32 = 10_000;
/// ListParts answers at most this many parts (also the default).
const MAX_LIST_PARTS: u32 = 1000;

/// Whether a request is for the OSS side (anything but the RPC API at `/`).
pub(super) fn is_oss_request(req: &HttpRequest) -> bool {
    let path = req.target.split('?').next().unwrap_or("");
    path != "/"
}

/// A stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredObject {
    /// Size in bytes.
    pub size: u64,
    /// CRC-64/ECMA-182, as `x-oss-hash-crc64ecma` reports it.
    pub crc64: u64,
    /// The ETag answered, quotes included.
    pub etag: String,
    /// The `Content-Type` it was uploaded with.
    pub content_type: String,
    /// The files holding its bytes, in order: one, or one per part after a
    /// multipart upload (valid while the emulator runs).
    pub files: Vec<PathBuf>,
}

struct StoredPart {
    path: PathBuf,
    size: u64,
    crc64: u64,
    etag: String,
    /// When it was stored, Unix seconds by the emulator's clock.
    modified: i64,
}

struct Upload {
    bucket: String,
    key: String,
    content_type: String,
    parts: BTreeMap<u32, StoredPart>,
}

#[derive(Default)]
struct OssState {
    objects: HashMap<(String, String), StoredObject>,
    uploads: HashMap<String, Upload>,
}

/// The OSS side's objects and uploads, their files in a directory of ours.
pub(super) struct OssStore {
    dir: PathBuf,
    state: Mutex<OssState>,
    next_file: AtomicU64,
}

impl OssStore {
    /// The directory is made on the first write, so an emulator that never
    /// stores anything leaves nothing behind even if it is never dropped.
    pub(super) fn new() -> OssStore {
        static STORES: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let store = STORES.fetch_add(1, Ordering::SeqCst);
        if store == 0 {
            remove_stores_of_dead_processes(&std::env::temp_dir());
        }
        let dir = std::env::temp_dir().join(format!(
            "ens-emulator-oss-{}-{store}-{nanos}",
            std::process::id(),
        ));
        OssStore {
            dir,
            state: Mutex::new(OssState::default()),
            next_file: AtomicU64::new(0),
        }
    }

    fn new_file(&self, prefix: &str) -> PathBuf {
        let n = self.next_file.fetch_add(1, Ordering::SeqCst);
        // A failure shows when the file is created.
        let _ = fs::create_dir_all(&self.dir);
        self.dir.join(format!("{prefix}-{n}"))
    }

    /// Deletes every stored byte (the emulator stopped).
    pub(super) fn remove_files(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes the stores a killed emulator process left in `tmp` (a process
/// stopped by a signal never drops its store). Only directories named as
/// stores are touched, and only when their process is gone (Linux `/proc`;
/// elsewhere nothing is removed).
fn remove_stores_of_dead_processes(tmp: &std::path::Path) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("ens-emulator-oss-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        // A zombie (killed, not yet reaped) counts as gone.
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
        let alive = state.is_some_and(|c| c != 'Z' && c != 'X');
        if !alive && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for OssStore {
    fn drop(&mut self) {
        self.remove_files();
    }
}

impl Emulator {
    /// The object stored as `key` in `bucket` (the physical bucket that
    /// `PrepareUpload` returned), if any.
    pub fn oss_object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        lock(&self.shared.oss.state)
            .objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned()
    }

    /// The bytes of an object (for tests: read whole into memory).
    pub fn oss_object_bytes(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for file in self.oss_object(bucket, key)?.files {
            out.extend(fs::read(file).ok()?);
        }
        Some(out)
    }

    /// How many multipart uploads were initiated and neither completed nor
    /// aborted.
    pub fn oss_uploads_in_progress(&self) -> usize {
        lock(&self.shared.oss.state).uploads.len()
    }

    /// The physical bucket `PrepareUpload` hands out for a bucket name.
    pub fn oss_bucket_for(&self, name: &str) -> String {
        physical_bucket(name)
    }
}

/// An OSS error to answer.
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
    string_to_sign: Option<String>,
}

fn failure(status: u16, code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        code,
        message: message.into(),
        string_to_sign: None,
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
    body: Body,
    code: Option<String>,
}

impl Answer {
    fn ok(headers: Vec<(&'static str, String)>, body: Body) -> Answer {
        Answer {
            status: 200,
            headers,
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
    let mut session = Session {
        req: &req,
        reader,
        shared,
        query: &query,
        body_read: 0,
        body_done: req.content_length == 0,
        fault: fault.as_ref(),
    };
    let outcome = session.handle(path);
    let body_len = session.body_read;
    let body_done = session.body_done;

    let (mut answer, keep_alive) = match outcome {
        Ok(a) => (a, req.keep_alive),
        Err(f) => {
            let host = shared.oss_endpoint.clone();
            (error_answer(&f, &request_id, &host), req.keep_alive)
        }
    };
    // A body not read to its end leaves the connection unusable.
    let keep_alive = keep_alive && body_done;
    let broken = matches!(fault, Some(Fault::OssResetAfterBytes(_))) && writes;
    let (status, code) = if broken {
        (0, Some("ConnectionReset".to_owned()))
    } else if !body_done {
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
    });
    if broken || !body_done {
        let _ = writer.shutdown(Shutdown::Both);
        return Ok(false);
    }
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
    shared: &'a Shared,
    query: &'a [(String, Option<String>)],
    body_read: u64,
    body_done: bool,
    fault: Option<&'a Fault>,
}

impl Session<'_> {
    fn handle(&mut self, path: &str) -> Result<Answer, Failure> {
        let result = self.route(path);
        if result.is_err() && !self.body_done {
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
            return Err(failure(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist.",
            ));
        }
        if key.is_empty() {
            return Err(failure(
                405,
                "MethodNotAllowed",
                "The emulator serves object requests only.",
            ));
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

    /// OSS header signature V1 with a known key, its STS token, and a
    /// `Date` within 15 minutes.
    fn authenticate(&self, bucket: &str, key: &str) -> Result<(), Failure> {
        let denied = |m: &str| failure(403, "AccessDenied", m);
        let auth = self.req.header("authorization").ok_or_else(|| {
            denied("You have no right to access this object because of bucket acl.")
        })?;
        let (id, signature) = auth
            .strip_prefix("OSS ")
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(|| failure(400, "InvalidArgument", "Authorization header is invalid."))?;
        let date = self.req.header("date").unwrap_or("");
        let Some(when) = crate::clock::parse_http_date(date) else {
            return Err(denied("OSS authentication requires a valid Date."));
        };
        let now = self.shared.now();
        if when.abs_diff(now) > TIMESTAMP_TOLERANCE.as_secs() {
            return Err(failure(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
        let Some(k) = self.shared.config.keys.get(id) else {
            return Err(failure(
                403,
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
            ));
        };
        let token = self.req.header("x-oss-security-token");
        match (&k.token, token) {
            (Some(want), Some(got)) if want == got => {}
            (None, None) => {}
            _ => {
                return Err(failure(
                    403,
                    "InvalidSecurityToken",
                    "The security token you provided is invalid.",
                ))
            }
        }
        if k.state != KeyState::Active {
            return Err(denied("The AccessKey may not access this bucket."));
        }
        let sub: Vec<(&str, Option<&str>)> = self
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let resource = sign::oss_canonical_resource(Some(bucket), key, &sub);
        let expected = sign::oss_v1(
            &self.req.method,
            self.req.header("content-md5").unwrap_or(""),
            self.req.header("content-type").unwrap_or(""),
            date,
            &self.req.headers,
            &resource,
            &k.secret,
        );
        if expected.signature != signature {
            let mut f = failure(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            );
            f.string_to_sign = Some(expected.string_to_sign);
            return Err(f);
        }
        Ok(())
    }

    /// Reads the rest of the body into `file` (or drops it), computing its
    /// CRC-64; a fault may cut it short.
    fn receive(&mut self, file: Option<&Path>) -> Result<Received, Failure> {
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

    fn put_object(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
        let Some((path, size, crc)) = self.receive_file("object")? else {
            return Err(failure(400, "IncompleteBody", "The body ended early."));
        };
        if let Err(f) = self.faulted() {
            let _ = fs::remove_file(&path);
            return Err(f);
        }
        let object = StoredObject {
            size,
            crc64: crc,
            etag: etag(crc, size, None),
            content_type: self.req.header("content-type").unwrap_or("").to_owned(),
            files: vec![path],
        };
        let headers = vec![
            ("ETag", object.etag.clone()),
            ("x-oss-hash-crc64ecma", self.crc_header(crc)),
        ];
        self.store(bucket, key, object);
        Ok(Answer::ok(headers, Body::Bytes(Vec::new())))
    }

    fn store(&self, bucket: &str, key: &str, object: StoredObject) {
        let old = lock(&self.shared.oss.state)
            .objects
            .insert((bucket.to_owned(), key.to_owned()), object);
        for file in old.map(|o| o.files).unwrap_or_default() {
            let _ = fs::remove_file(file);
        }
    }

    fn initiate(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
        self.receive(None)?;
        let id = sign::new_nonce().to_ascii_uppercase();
        lock(&self.shared.oss.state).uploads.insert(
            id.clone(),
            Upload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                content_type: self.req.header("content-type").unwrap_or("").to_owned(),
                parts: BTreeMap::new(),
            },
        );
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>\
             <Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>\
             </InitiateMultipartUploadResult>",
            xml::escape_text(bucket),
            xml::escape_text(key),
            id
        );
        Ok(xml_answer(body))
    }

    /// The upload `id`, checked to belong to this bucket and key.
    fn check_upload(&self, bucket: &str, key: &str, id: &str) -> Result<(), Failure> {
        let state = lock(&self.shared.oss.state);
        match state.uploads.get(id) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(()),
            _ => Err(no_such_upload()),
        }
    }

    fn upload_part(&mut self, bucket: &str, key: &str, id: &str) -> Result<Answer, Failure> {
        let number = value(self.query, "partNumber")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
            .ok_or_else(|| {
                failure(
                    400,
                    "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, inclusive.",
                )
            })?;
        self.check_upload(bucket, key, id)?;
        let Some((path, size, crc)) = self.receive_file("part")? else {
            return Err(failure(400, "IncompleteBody", "The body ended early."));
        };
        if let Err(f) = self.faulted() {
            let _ = fs::remove_file(&path);
            return Err(f);
        }
        let tag = etag(crc, size, None);
        let part = StoredPart {
            path,
            size,
            crc64: crc,
            etag: tag.clone(),
            modified: self.shared.now(),
        };
        let old = {
            let mut state = lock(&self.shared.oss.state);
            match state.uploads.get_mut(id) {
                Some(u) => Ok(u.parts.insert(number, part)),
                None => Err(part),
            }
        };
        match old {
            Ok(Some(old)) => {
                let _ = fs::remove_file(old.path);
            }
            Ok(None) => {}
            Err(part) => {
                // Aborted while the body came in.
                let _ = fs::remove_file(part.path);
                return Err(no_such_upload());
            }
        }
        let headers = vec![
            ("ETag", tag),
            ("x-oss-hash-crc64ecma", self.crc_header(crc)),
        ];
        Ok(Answer::ok(headers, Body::Bytes(Vec::new())))
    }

    /// ListParts: the parts uploaded so far, ascending, `max-parts` (1 to
    /// 1000, default 1000) after `part-number-marker`, the key URL-encoded
    /// with `encoding-type=url`. Only `uploadId` is signed (V1 leaves the
    /// other three out of the canonicalized resource).
    fn list_parts(&mut self, bucket: &str, key: &str, id: &str) -> Result<Answer, Failure> {
        self.receive(None)?;
        let given = |name: &str| value(self.query, name).filter(|v| !v.is_empty());
        let max_parts = match given("max-parts") {
            None => MAX_LIST_PARTS,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIST_PARTS).contains(n))
                .ok_or_else(|| {
                    failure(
                        400,
                        "InvalidArgument",
                        "Argument max-parts must be an integer between 1 and 1000.",
                    )
                })?,
        };
        let marker = match given("part-number-marker") {
            None => 0,
            Some(v) => v.parse::<u32>().map_err(|_| {
                failure(
                    400,
                    "InvalidArgument",
                    "Argument part-number-marker must be a non-negative integer.",
                )
            })?,
        };
        let url_encoded = match given("encoding-type") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("url") => true,
            Some(_) => {
                return Err(failure(
                    400,
                    "InvalidArgument",
                    "Argument encoding-type must be url.",
                ))
            }
        };
        // One page, and whether any part follows it, read in one go.
        let (page, truncated) = {
            let state = lock(&self.shared.oss.state);
            let upload = state
                .uploads
                .get(id)
                .filter(|u| u.bucket == bucket && u.key == key)
                .ok_or_else(no_such_upload)?;
            let mut after = upload
                .parts
                .range(marker.saturating_add(1)..)
                .map(|(n, p)| (*n, p.modified, p.etag.clone(), p.crc64, p.size));
            let page: Vec<_> = after.by_ref().take(max_parts as usize).collect();
            (page, after.next().is_some())
        };
        let next_marker = page.last().map_or(marker, |p| p.0);
        let shown_key = if url_encoded {
            sign::percent_encode(key)
        } else {
            key.to_owned()
        };
        let mut body = String::with_capacity(400 + page.len() * 220);
        body.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult>");
        body.push_str(&format!("<Bucket>{}</Bucket>", xml::escape_text(bucket)));
        if url_encoded {
            body.push_str("<EncodingType>url</EncodingType>");
        }
        body.push_str(&format!(
            "<Key>{}</Key><UploadId>{}</UploadId><StorageClass>Standard</StorageClass>\
             <PartNumberMarker>{marker}</PartNumberMarker>\
             <NextPartNumberMarker>{next_marker}</NextPartNumberMarker>\
             <MaxParts>{max_parts}</MaxParts><IsTruncated>{truncated}</IsTruncated>",
            xml::escape_text(&shown_key),
            xml::escape_text(id),
        ));
        for (number, modified, tag, crc, size) in &page {
            body.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber>\
                 <LastModified>{}</LastModified><ETag>{}</ETag>\
                 <HashCrc64ecma>{crc}</HashCrc64ecma><Size>{size}</Size></Part>",
                last_modified(*modified),
                xml::escape_text(tag),
            ));
        }
        body.push_str("</ListPartsResult>");
        Ok(xml_answer(body))
    }

    fn complete(&mut self, bucket: &str, key: &str, id: &str) -> Result<Answer, Failure> {
        if self.req.content_length > MAX_XML_BODY {
            return Err(failure(400, "MalformedXML", "The XML body is too large."));
        }
        let path = self.shared.oss.new_file("complete");
        let received = self.receive(Some(&path))?;
        let body = fs::read(&path).unwrap_or_default();
        let _ = fs::remove_file(&path);
        if matches!(received, Received::Broken) {
            return Err(failure(400, "IncompleteBody", "The body ended early."));
        }
        self.check_upload(bucket, key, id)?;
        self.faulted()?;
        let text = String::from_utf8_lossy(&body);
        let mut listed = Vec::new();
        for part in xml::elements(&text, "Part") {
            let number = xml::text(part, "PartNumber").and_then(|n| n.parse::<u32>().ok());
            let tag = xml::text(part, "ETag");
            match (number, tag) {
                (Some(n), Some(t)) => listed.push((n, t)),
                _ => return Err(malformed()),
            }
        }
        if listed.is_empty() || !text.contains("<CompleteMultipartUpload") {
            return Err(malformed());
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(failure(
                400,
                "InvalidPartOrder",
                "The list of parts was not in ascending order.",
            ));
        }
        // Check the list against what was uploaded and take the parts'
        // files as the object's (no copy), in one go.
        let (files, content_type, unlisted) = {
            let mut state = lock(&self.shared.oss.state);
            let upload = state.uploads.get(id).ok_or_else(no_such_upload)?;
            for (i, (n, t)) in listed.iter().enumerate() {
                let part = upload
                    .parts
                    .get(n)
                    .filter(|p| p.etag.trim_matches('"') == t.trim().trim_matches('"'))
                    .ok_or_else(|| {
                        failure(
                            400,
                            "InvalidPart",
                            "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                        )
                    })?;
                if i + 1 < listed.len() && part.size < MIN_PART_SIZE {
                    return Err(failure(
                        400,
                        "EntityTooSmall",
                        "Your proposed upload is smaller than the minimum allowed object size.",
                    ));
                }
            }
            let Some(mut upload) = state.uploads.remove(id) else {
                return Err(no_such_upload());
            };
            let files: Vec<StoredPart> = listed
                .iter()
                .filter_map(|(n, _)| upload.parts.remove(n))
                .collect();
            (files, upload.content_type, upload.parts)
        };
        for part in unlisted.values() {
            let _ = fs::remove_file(&part.path);
        }
        let (mut crc, mut size) = (0u64, 0u64);
        for part in &files {
            crc = crc64::combine(crc, part.crc64, part.size);
            size += part.size;
        }
        let tag = etag(crc, size, Some(files.len()));
        self.store(
            bucket,
            key,
            StoredObject {
                size,
                crc64: crc,
                etag: tag.clone(),
                content_type,
                files: files.into_iter().map(|p| p.path).collect(),
            },
        );
        let location = format!("http://{}.{}/{}", bucket, self.shared.oss_endpoint, key);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\
             <Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag>\
             </CompleteMultipartUploadResult>",
            xml::escape_text(&location),
            xml::escape_text(bucket),
            xml::escape_text(key),
            xml::escape_text(&tag)
        );
        let mut answer = xml_answer(body);
        answer.headers.push(("ETag", tag));
        answer
            .headers
            .push(("x-oss-hash-crc64ecma", self.crc_header(crc)));
        Ok(answer)
    }

    fn abort(&mut self, bucket: &str, key: &str, id: &str) -> Result<Answer, Failure> {
        self.check_upload(bucket, key, id)?;
        let removed = lock(&self.shared.oss.state).uploads.remove(id);
        if let Some(upload) = removed {
            for part in upload.parts.values() {
                let _ = fs::remove_file(&part.path);
            }
        }
        Ok(Answer {
            status: 204,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            code: None,
        })
    }

    fn get(&mut self, bucket: &str, key: &str) -> Result<Answer, Failure> {
        let object = lock(&self.shared.oss.state)
            .objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned();
        let Some(object) = object else {
            return Err(failure(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
            ));
        };
        let headers = vec![
            ("Content-Type", object.content_type.clone()),
            ("ETag", object.etag.clone()),
            ("x-oss-hash-crc64ecma", object.crc64.to_string()),
        ];
        let body = if self.req.method == "HEAD" {
            Body::HeadOnly(object.size)
        } else {
            Body::Files(object.files, object.size)
        };
        Ok(Answer::ok(headers, body))
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
    if let Some(sts) = &f.string_to_sign {
        body.push_str(&format!(
            "  <StringToSign>{}</StringToSign>\n",
            xml::escape_text(sts)
        ));
    }
    body.push_str("</Error>\n");
    Answer {
        status: f.status,
        headers: vec![("Content-Type", "application/xml".to_owned())],
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
    fn stores_of_dead_processes_are_removed_and_nothing_else() {
        let tmp = std::env::temp_dir().join(format!("ens-emu-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        // No process has pid u32::MAX - 1 on Linux (pid_max is far lower).
        let dead = tmp.join(format!("ens-emulator-oss-{}-0-1", u32::MAX - 1));
        let alive = tmp.join(format!("ens-emulator-oss-{}-0-1", std::process::id()));
        let other = tmp.join(format!("not-ours-{}-0-1", u32::MAX - 1));
        for d in [&dead, &alive, &other] {
            fs::create_dir_all(d.join("x")).unwrap();
        }
        remove_stores_of_dead_processes(&tmp);
        assert!(!dead.exists());
        assert!(alive.exists() && other.exists());
        let _ = fs::remove_dir_all(&tmp);
    }

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
