//! Uploading: `PrepareUpload`, then the file (or any reader of known
//! length) into the bucket and endpoint it returned, through the OSS REST
//! API signed with OSS header signature V1.
//!
//! - Streaming: bodies are read as they are sent, never held whole; a
//!   caller's reader going multipart is buffered one part per thread.
//! - Integrity: the CRC-64/ECMA-182 of every body is computed while it
//!   streams and compared with the server's `x-oss-hash-crc64ecma`; the
//!   whole object's is combined from its parts'. A mismatch is
//!   [`Error::Integrity`].
//! - Multipart above [`UploadOptions::multipart_threshold`], parts sent on
//!   [`UploadOptions::threads`] threads, each retried under the client's
//!   retry policy (every attempt re-signed, the part re-read).
//! - Server waits: a `Retry-After` on a data request (PutObject,
//!   UploadPart, which have no overall deadline) is honoured up to the
//!   client's call timeout; a server asking for longer gets its error
//!   returned at once (resume later with a checkpoint). The small requests
//!   never wait past their call timeout.
//! - Resumable with [`UploadOptions::checkpoint`]: after a crash, kill or
//!   network loss the same call goes on where it stopped.
//! - Progress and cancel through [`UploadOptions::on_progress`].
//!
//! ```no_run
//! use ens_upload::{Client, PrepareUploadRequest, ProgressAction, UploadOptions};
//! let client = Client::builder().build()?;
//! let options = UploadOptions::new()
//!     .checkpoint("/var/lib/app/video.ckpt")
//!     .on_progress(|done, total| {
//!         eprintln!("{done}/{total}");
//!         ProgressAction::Continue
//!     });
//! let out = client.upload_file(
//!     &PrepareUploadRequest::new("test"),
//!     "videos/2024-01-02.mp4",
//!     "/data/video.mp4",
//!     &options,
//! )?;
//! println!("{} {} {} {:016x}", out.bucket, out.key, out.etag, out.crc64);
//! # Ok::<(), ens_upload::Error>(())
//! ```

mod checkpoint;
mod journal;
mod metadata;
mod multipart;
mod oss;
mod policy;
mod progress;
mod put;
mod signing;
mod sizing;
mod source;
mod target;
mod throttle;
mod workers;
pub(crate) mod xml;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::credentials::CredentialCache;
use crate::error::{Error, Result};
use crate::http::{Endpoint, Session};
use crate::prepare_upload::{PrepareUploadRequest, PrepareUploadResponse};

pub use metadata::{
    guess_content_type, StorageClass, MAX_HEADER_VALUE_LEN, MAX_TAGS, MAX_TAG_KEY_LEN,
    MAX_TAG_VALUE_LEN, MAX_USER_METADATA_BYTES,
};
pub use progress::{ProgressAction, ProgressFn};
pub use signing::OssSignature;
pub use target::{validate_object_key, MAX_OBJECT_KEY_LEN};
pub(crate) use throttle::RateLimit;

/// Checks a `PrepareUpload` answer's `BucketName` and `Endpoint` with the
/// rules the upload path applies, for callers that only prepare.
pub(crate) fn check_prepared(bucket: &str, endpoint: &str) -> Result<()> {
    target::check_answer(bucket, endpoint)
}

use checkpoint::{local_io, FileIdentity};
use oss::{Oss, Reply};
use progress::Reporter;
use source::Source;
use target::Target;

/// Default part size: 8 MiB.
pub const DEFAULT_PART_SIZE: u64 = 8 << 20;
/// The smallest part OSS accepts (all but the last): 100 KiB.
pub const MIN_PART_SIZE: u64 = 100 << 10;
/// The largest part OSS accepts: 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// The most parts one object may have.
pub const MAX_PARTS: u32 = 10_000;
/// The largest object one PutObject may carry: 5 GiB.
pub const MAX_PUT_OBJECT_SIZE: u64 = 5 << 30;
/// Default multipart threshold: objects above 8 MiB go in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 8 << 20;
/// Number of parts sent at once for 2 to 15 parts, when not set (see
/// [`UploadOptions::threads`] for the rule): small, for devices.
pub const DEFAULT_THREADS: usize = 2;
/// The most parts sent at once.
pub const MAX_THREADS: usize = 64;
/// The slowest `x-oss-traffic-limit` OSS accepts, in bits per second (100 KiB/s).
pub const MIN_TRAFFIC_LIMIT: u64 = 819_200;
/// The fastest `x-oss-traffic-limit` OSS accepts, in bits per second (100 MiB/s).
pub const MAX_TRAFFIC_LIMIT: u64 = 838_860_800;
/// Content type of an object whose key's extension suggests none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// How an upload goes. Every setter takes and returns the options, like
/// the client's builder; [`UploadOptions::validate`] (also run by the upload
/// calls) refuses values outside OSS's limits.
///
/// ```
/// use ens_upload::UploadOptions;
/// let o = UploadOptions::new().part_size(1 << 20).threads(4).path_style(true);
/// assert!(o.validate().is_ok());
/// assert!(UploadOptions::new().part_size(1).validate().is_err());
/// ```
#[derive(Clone)]
pub struct UploadOptions {
    part_size: Option<u64>,
    multipart_threshold: u64,
    threads: Option<usize>,
    checkpoint: Option<PathBuf>,
    path_style: bool,
    https: Option<bool>,
    /// Caps on the part size and threads chosen (`None`: OSS's limits).
    max_part_size: Option<u64>,
    max_threads: Option<usize>,
    /// Metadata and headers the object is created with.
    object: metadata::ObjectHeaders,
    stall_timeout: Option<Duration>,
    progress: Option<Arc<Mutex<Box<ProgressFn>>>>,
    region: Option<String>,
    oss_signature: Option<OssSignature>,
    allowed_hosts: Vec<String>,
    limit_rate: Option<u64>,
    traffic_limit: Option<u64>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            part_size: None,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            threads: None,
            checkpoint: None,
            path_style: false,
            https: None,
            max_part_size: None,
            max_threads: None,
            object: metadata::ObjectHeaders::default(),
            stall_timeout: None,
            progress: None,
            region: None,
            oss_signature: None,
            allowed_hosts: Vec::new(),
            limit_rate: None,
            traffic_limit: None,
        }
    }
}

impl fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadOptions")
            .field("part_size", &self.part_size)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("threads", &self.threads)
            .field("checkpoint", &self.checkpoint)
            .field("path_style", &self.path_style)
            .field("https", &self.https)
            .field("max_part_size", &self.max_part_size)
            .field("max_threads", &self.max_threads)
            .field("object", &self.object)
            .field("stall_timeout", &self.stall_timeout)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("region", &self.region)
            .field("oss_signature", &self.oss_signature)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("limit_rate", &self.limit_rate)
            .field("traffic_limit", &self.traffic_limit)
            .finish()
    }
}

impl UploadOptions {
    /// The defaults: multipart above 8 MiB, part size and threads chosen
    /// from the object's size, no checkpoint, virtual-hosted addressing,
    /// the client's scheme, the content type guessed from the key.
    pub fn new() -> UploadOptions {
        UploadOptions::default()
    }

    /// Part size in bytes (100 KiB to 5 GiB). Grown automatically when the
    /// object would need more than 10,000 parts. Unset, it is chosen from
    /// the object's size: 8 MiB, grown in whole MiB to stay within 10,000
    /// parts (see [`max_part_size`](Self::max_part_size) to cap it). A
    /// resumed upload keeps the part size it started with.
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = Some(bytes);
        self
    }

    /// The largest part this upload may use (100 KiB to 5 GiB), for a
    /// device with little memory: a chosen or set part size above it is
    /// lowered to it. An object that would need more than 10,000 parts of
    /// this size is refused with [`Error::InvalidInput`] (field
    /// `max part size`) naming the smallest cap that works.
    pub fn max_part_size(mut self, bytes: u64) -> Self {
        self.max_part_size = Some(bytes);
        self
    }

    /// The most parts this upload may send at once (1 to 64), whether the
    /// number was set or chosen.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = Some(n);
        self
    }

    /// Objects larger than this go in parts (default 8 MiB); others in one
    /// PutObject. Objects over 5 GiB always go in parts.
    pub fn multipart_threshold(mut self, bytes: u64) -> Self {
        self.multipart_threshold = bytes;
        self
    }

    /// How many parts are sent at once (1 to 64). Unset, it is chosen from
    /// the part count: 1 for one part, 2 up to 15 parts, 3 up to 63, 4 from
    /// 64 on. Never more than the parts nor [`max_threads`](Self::max_threads).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n);
        self
    }

    /// Where to keep resume state. Written atomically when the upload
    /// starts, then one small record (under 200 bytes, synced) is appended
    /// per finished part; removed on success. The same call with the same
    /// file, key and bucket resumes from it (a checkpoint written by an
    /// earlier version of this library too, which is then rewritten in the
    /// current format). A checkpoint that does not match the file (size,
    /// modification time, identity, or the bytes of its finished parts)
    /// is discarded and the upload starts over, as is a damaged one; one
    /// whose upload the server forgot starts over once. Objects that go in
    /// one PutObject have nothing to resume and write no checkpoint (one
    /// left by an earlier multipart attempt is removed and its upload
    /// aborted). Each of these decisions is an `info` line of the `log`
    /// crate naming the checkpoint; a clean-up that failed is a `warn` line.
    ///
    /// The path must be free, empty or hold a checkpoint: a file that is
    /// not one (or is the file being uploaded) is never overwritten or
    /// removed, and the upload call refuses it with
    /// [`Error::InvalidInput`] before anything is sent. At most 4 MiB of it
    /// is read (a checkpoint of 10,000 parts is about 1 MB). It is
    /// written through a temporary file of its own beside it (created
    /// exclusively; no other file there is touched), so its directory must
    /// be one no other account can change: the user's own, or one with the
    /// sticky bit such as `/tmp`.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// Path-style addressing (`/<bucket>/<key>`) for gateways that need it.
    /// Used anyway when the endpoint is an IP address or `localhost`, where
    /// virtual hosting (`<bucket>.<endpoint>`) cannot work.
    pub fn path_style(mut self, yes: bool) -> Self {
        self.path_style = yes;
        self
    }

    /// Forces https (`true`) or http (`false`) for the upload. By default
    /// it follows the client's endpoint, upgraded to https when the
    /// `Endpoint` `PrepareUpload` answers says `https://`; an answered
    /// `http://` never moves an https client to plain http.
    pub fn https(mut self, yes: bool) -> Self {
        self.https = Some(yes);
        self
    }

    /// The object's `Content-Type`. Unset, it is guessed from the key's
    /// extension with a small table ([`guess_content_type`]:
    /// `.mp4` is `video/mp4`, `.jpg` `image/jpeg`, `.log` `text/plain`...),
    /// else `application/octet-stream`.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.object.content_type = Some(content_type.into());
        self
    }

    /// A body transfer that makes no progress (no byte written or read) for
    /// this long fails, and is retried (default: the client's read timeout).
    /// There is no overall limit on a transfer: a large part may take long.
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = Some(timeout);
        self
    }

    /// Calls `f(bytes_done, total)` as the upload goes: when a part's last
    /// byte or a MiB boundary is read (under a [`limit_rate`](Self::limit_rate)
    /// below 4 MiB/s, every quarter second's worth), with the bytes sent (a callback more
    /// than a MiB per thread behind the link hears the current count instead
    /// of replaying the ones it missed), counts that only grow and never
    /// repeat (a retried
    /// part does not count twice), ending with `(total, total)` once the
    /// object is stored. It runs on the thread that called the upload,
    /// never concurrently. Answering [`ProgressAction::Cancel`] stops the
    /// upload with [`Error::Cancelled`], whose `bytes_done` is what the
    /// server had stored (the last call's answer, after the object is
    /// stored, is ignored).
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: FnMut(u64, u64) -> ProgressAction + Send + 'static,
    {
        self.progress = Some(Arc::new(Mutex::new(Box::new(f))));
        self
    }

    /// Removes the progress callback.
    pub fn no_progress(mut self) -> Self {
        self.progress = None;
        self
    }

    /// The bucket's region id (`cn-hangzhou`, not `oss-cn-hangzhou`), the
    /// scope OSS signature V4 signs in. With a region, uploads sign with V4
    /// (what OSS requires of accounts and buckets created since 2025);
    /// without one they sign V4 only when the answered endpoint names its
    /// region (`oss-cn-hangzhou.aliyuncs.com`), else V1. See
    /// [`oss_signature`](Self::oss_signature).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Also lets signed uploads go to `host` (`host`, `host:port`, or
    /// `*.domain`) when `PrepareUpload` answers it. By default an Alibaba
    /// Cloud ENS endpoint's answers may name only `*.aliyuncs.com` hosts,
    /// and any other ENS endpoint's only its own host and port (the
    /// credentials and data must not go wherever an answer says). Each
    /// call adds one entry.
    pub fn allow_upload_host(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(host.into());
        self
    }

    /// Forces the OSS signature instead of choosing it from the region
    /// (V4 when the region is known, else V1). [`OssSignature::V4`] without
    /// a known region is an error; with [`OssSignature::V1`], a refusal of
    /// V1 still switches to V4 once when the region is known.
    pub fn oss_signature(mut self, signature: OssSignature) -> Self {
        self.oss_signature = Some(signature);
        self
    }

    /// Caps this upload at `bytes_per_second` on this side: one token
    /// bucket shared by all its threads, drawn from as bodies are handed
    /// to the socket, in chunks of a twentieth of a second's worth (so the
    /// rate is steady within a second, not bursts and pauses). Applies on
    /// top of the client's limit ([`ClientBuilder::limit_rate`]); `0`
    /// removes it. Waiting for the bucket is not a stall: the stall timeout
    /// only times the socket. Progress ticks every MiB, or every quarter
    /// second's worth of bytes under a limit below 4 MiB/s.
    ///
    /// [`ClientBuilder::limit_rate`]: crate::ClientBuilder::limit_rate
    pub fn limit_rate(mut self, bytes_per_second: u64) -> Self {
        self.limit_rate = (bytes_per_second > 0).then_some(bytes_per_second);
        self
    }

    /// Asks OSS to throttle each PutObject and UploadPart connection to
    /// `bits_per_second` on its side (`x-oss-traffic-limit`, signed with
    /// the request): OSS accepts [`MIN_TRAFFIC_LIMIT`] to
    /// [`MAX_TRAFFIC_LIMIT`] (100 KiB/s to 100 MiB/s), anything else is an
    /// [`Error::InvalidInput`] before anything is sent. Per connection: a
    /// multipart upload on 4 threads may use 4 times as much; use
    /// [`limit_rate`](Self::limit_rate) for a cap on the whole upload.
    /// `0` removes it.
    pub fn traffic_limit(mut self, bits_per_second: u64) -> Self {
        self.traffic_limit = (bits_per_second > 0).then_some(bits_per_second);
        self
    }

    /// The checkpoint path, if set.
    pub fn checkpoint_path(&self) -> Option<&Path> {
        self.checkpoint.as_deref()
    }

    /// Checks every value against OSS's limits; the upload calls do too.
    pub fn validate(&self) -> Result<()> {
        for (field, bytes) in [
            ("part size", self.part_size),
            ("max part size", self.max_part_size),
        ] {
            match bytes {
                Some(b) if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&b) => {
                    return Err(Error::invalid_input(
                        field,
                        format!(
                            "{b} bytes is outside OSS's limits ({MIN_PART_SIZE} to {MAX_PART_SIZE})"
                        ),
                    ))
                }
                _ => {}
            }
        }
        for (field, n) in [("threads", self.threads), ("max threads", self.max_threads)] {
            match n {
                Some(n) if !(1..=MAX_THREADS).contains(&n) => {
                    return Err(Error::invalid_input(
                        field,
                        format!("{n} is not between 1 and {MAX_THREADS}"),
                    ))
                }
                _ => {}
            }
        }
        self.object.validate()?;
        if self.stall_timeout == Some(Duration::ZERO) {
            return Err(Error::invalid_input("stall timeout", "must be above zero"));
        }
        if self
            .stall_timeout
            .is_some_and(|d| d > crate::http::MAX_TIMEOUT)
        {
            return Err(Error::invalid_input(
                "stall timeout",
                format!(
                    "must be at most {} s (one day)",
                    crate::http::MAX_TIMEOUT.as_secs()
                ),
            ));
        }
        if let Some(limit) = self.traffic_limit {
            if !(MIN_TRAFFIC_LIMIT..=MAX_TRAFFIC_LIMIT).contains(&limit) {
                return Err(Error::invalid_input(
                    "traffic limit",
                    format!(
                        "{limit} bit/s is outside what OSS accepts ({MIN_TRAFFIC_LIMIT} to \
                         {MAX_TRAFFIC_LIMIT} bit/s, 100 KiB/s to 100 MiB/s)"
                    ),
                ));
            }
        }
        if let Some(region) = &self.region {
            signing::validate_region(region)?;
        }
        for host in &self.allowed_hosts {
            policy::validate_pattern(host)?;
        }
        if let Some(p) = &self.checkpoint {
            if p.as_os_str().is_empty() || p.file_name().is_none() {
                return Err(Error::invalid_input(
                    "checkpoint",
                    format!("{} does not name a file", p.display()),
                ));
            }
        }
        Ok(())
    }
}

/// What an upload stored, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadResult {
    /// The bucket the object is in (the one `PrepareUpload` returned).
    pub bucket: String,
    /// The endpoint it was uploaded to, `host[:port]`.
    pub endpoint: String,
    /// The object key.
    pub key: String,
    /// The object's URL (unsigned).
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// The server's ETag, without quotes.
    pub etag: String,
    /// Its CRC-64/ECMA-182, as computed here and confirmed by the server.
    pub crc64: u64,
    /// The `PrepareUpload` request id.
    pub prepare_request_id: String,
    /// The request id of the PutObject or CompleteMultipartUpload.
    pub request_id: String,
    /// The multipart upload id; `None` for a single PutObject.
    pub upload_id: Option<String>,
    /// How many parts the object has (0 for a single PutObject).
    pub parts: u32,
    /// How many of them an earlier, interrupted call had sent already.
    pub resumed_parts: u32,
}

/// What an upload needs of a client: kept apart from `Client` so this
/// module depends on the HTTP session, not on the client built over it.
pub(crate) struct Uploader<'a> {
    pub(crate) session: &'a Session,
    /// The client's credentials, fetched (and refreshed) per request.
    pub(crate) credentials: &'a CredentialCache,
    /// The ENS endpoint: OSS follows its scheme, and the upload policy
    /// judges answers by it.
    pub(crate) endpoint: &'a Endpoint,
    /// Asks ENS where to upload.
    pub(crate) prepare: &'a dyn Fn(&PrepareUploadRequest) -> Result<PrepareUploadResponse>,
    /// The client's bandwidth limit, shared by all its uploads.
    pub(crate) limit: Option<&'a Arc<RateLimit>>,
}

/// See [`Client::upload_file`](crate::Client::upload_file).
pub(crate) fn upload_file(
    up: &Uploader<'_>,
    request: &PrepareUploadRequest,
    key: &str,
    path: &Path,
    options: &UploadOptions,
) -> Result<UploadResult> {
    options.validate()?;
    validate_object_key(key)?;
    request.validate()?;
    let file =
        crate::files::open_regular(path).map_err(|e| local_io(path, "cannot open the file", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| local_io(path, "cannot read the file's metadata", &e))?;
    drop(file);
    if !meta.is_file() {
        return Err(Error::LocalIo {
            source: None,
            path: path.to_owned(),
            reason: "is not a regular file".into(),
            kind: std::io::ErrorKind::InvalidInput,
        });
    }
    let identity = FileIdentity::of(&meta);
    if let Some(checkpoint) = &options.checkpoint {
        checkpoint::refuse_foreign(checkpoint, &identity)?;
        journal::check_writable(checkpoint)?;
    }
    let source = Source::File { path, identity };
    upload_source(up, request, key, &source, meta.len(), options)
}

/// See [`Client::upload_reader`](crate::Client::upload_reader).
pub(crate) fn upload_reader<R: Read + Send>(
    up: &Uploader<'_>,
    request: &PrepareUploadRequest,
    key: &str,
    mut reader: R,
    size: u64,
    options: &UploadOptions,
) -> Result<UploadResult> {
    options.validate()?;
    if options.checkpoint.is_some() {
        return Err(Error::invalid_input(
            "checkpoint",
            "resuming needs a file that can be read again: use upload_file",
        ));
    }
    validate_object_key(key)?;
    request.validate()?;
    // Going multipart, each part is buffered: it must fit in memory here.
    if let Some(part_size) = plan(size, options)? {
        source::buffer_len(part_size, usize::MAX)?;
    }
    let source = Source::reader(&mut reader);
    upload_source(up, request, key, &source, size, options)
}

/// See [`Client::upload_buffer`](crate::Client::upload_buffer).
pub(crate) fn upload_buffer(
    up: &Uploader<'_>,
    request: &PrepareUploadRequest,
    key: &str,
    data: &[u8],
    options: &UploadOptions,
) -> Result<UploadResult> {
    options.validate()?;
    validate_object_key(key)?;
    request.validate()?;
    let size = source::byte_count(data.len());
    if let Some(checkpoint) = &options.checkpoint {
        let identity = FileIdentity {
            size,
            mtime_ns: String::new(),
            file_id: source::BUFFER_ID.to_owned(),
        };
        checkpoint::refuse_foreign(checkpoint, &identity)?;
        journal::check_writable(checkpoint)?;
    }
    upload_source(up, request, key, &Source::Buffer(data), size, options)
}

/// Uploads, then scrubs the credentials from any error (an error page
/// may echo the request's headers, the security token among them).
fn upload_source(
    up: &Uploader<'_>,
    request: &PrepareUploadRequest,
    key: &str,
    source: &Source<'_>,
    size: u64,
    options: &UploadOptions,
) -> Result<UploadResult> {
    upload_source_unredacted(up, request, key, source, size, options)
        .map_err(|e| up.credentials.scrub(e))
}

fn upload_source_unredacted(
    up: &Uploader<'_>,
    request: &PrepareUploadRequest,
    key: &str,
    source: &Source<'_>,
    size: u64,
    options: &UploadOptions,
) -> Result<UploadResult> {
    let part_size = plan(size, options)?;
    let prepared = (up.prepare)(request)?;
    let target = Target::new(
        &prepared.bucket_name,
        &prepared.endpoint,
        up.endpoint.is_https(),
        options.https,
        options.path_style,
    )?;
    let oss_endpoint = target.as_endpoint()?;
    policy::check(up.endpoint, &oss_endpoint, &options.allowed_hosts)?;
    let proxy = up.session.proxy.resolve(&oss_endpoint)?;
    let url = target.url(key, "");
    let signing = signing::Signing::choose(
        &target.endpoint,
        options.region.as_deref(),
        options.oss_signature,
    )?;
    let job = Job {
        oss: Oss {
            signing,
            proxy,
            session: up.session,
            credentials: up.credentials,
            target,
            stall_timeout: options
                .stall_timeout
                .or(up.session.agent.config().timeouts().recv_response)
                .unwrap_or(Duration::from_secs(10)),
            traffic_limit: options.traffic_limit,
        },
        limits: throttle::Limits::new(
            up.limit
                .cloned()
                .into_iter()
                .chain(options.limit_rate.map(RateLimit::new)),
        ),
        key,
        bucket_asked: request.bucket_name(),
        content_type: options.object.content_type_for(key),
        object: &options.object,
        threads: sizing::threads_for(
            part_size.map_or(1, |p| size.div_ceil(p)),
            options.threads,
            options.max_threads,
        ),
        size,
    };
    let mut reporter = Reporter::new(options.progress.as_deref(), size);
    let finished = upload_job(&job, source, part_size, options, &mut reporter)
        .map_err(|e| metadata::explain_overwrite(e, key))?;
    reporter.finish();
    Ok(UploadResult {
        bucket: job.oss.target.bucket.clone(),
        endpoint: job.oss.target.endpoint.clone(),
        key: key.to_owned(),
        url,
        size,
        etag: finished.etag,
        crc64: finished.crc64,
        prepare_request_id: prepared.request_id,
        request_id: finished.request_id,
        upload_id: finished.upload_id,
        parts: finished.parts,
        resumed_parts: finished.resumed_parts,
    })
}

/// The PutObject or the multipart upload of a job.
fn upload_job(
    job: &Job<'_>,
    source: &Source<'_>,
    part_size: Option<u64>,
    options: &UploadOptions,
    reporter: &mut Reporter<'_>,
) -> Result<Finished> {
    Ok(match part_size {
        Some(part_size) => multipart::upload(
            job,
            source,
            part_size,
            options.checkpoint.as_deref(),
            reporter,
        )?,
        None => {
            let done = put::put_object(job, source, reporter)?;
            if let Some(path) = &options.checkpoint {
                multipart::discard_checkpoint(job, path);
            }
            done
        }
    })
}

/// The part size to use, or `None` for a single PutObject.
fn plan(size: u64, options: &UploadOptions) -> Result<Option<u64>> {
    if size <= options.multipart_threshold && size <= MAX_PUT_OBJECT_SIZE {
        return Ok(None);
    }
    sizing::part_size_for(size, options.part_size, options.max_part_size).map(Some)
}

/// One upload's fixed facts, shared by its workers.
pub(crate) struct Job<'a> {
    pub(crate) oss: Oss<'a>,
    pub(crate) key: &'a str,
    pub(crate) bucket_asked: &'a str,
    pub(crate) content_type: &'a str,
    /// Sent with PutObject and InitiateMultipartUpload.
    pub(crate) object: &'a metadata::ObjectHeaders,
    pub(crate) threads: usize,
    pub(crate) size: u64,
    /// The bandwidth limits its bodies are paced under.
    pub(crate) limits: throttle::Limits,
}

/// What the PutObject or the multipart upload ended with.
pub(crate) struct Finished {
    pub(crate) etag: String,
    pub(crate) crc64: u64,
    pub(crate) request_id: String,
    pub(crate) upload_id: Option<String>,
    pub(crate) parts: u32,
    pub(crate) resumed_parts: u32,
}

impl Finished {
    fn single(reply: Reply, crc64: u64) -> Finished {
        Finished {
            etag: strip_quotes(reply.etag.as_deref().unwrap_or_default()).to_owned(),
            crc64,
            request_id: reply.request_id,
            upload_id: None,
            parts: 0,
            resumed_parts: 0,
        }
    }
}

/// The server's CRC-64 must be the one computed over what was sent.
pub(crate) fn verify_crc(reply: &Reply, local: u64, what: &str) -> Result<()> {
    if reply.crc64 == Some(local) {
        return Ok(());
    }
    Err(Error::Integrity {
        what: what.to_owned(),
        local_crc64: local,
        server_crc64: reply.crc64,
        request_id: reply.request_id.clone(),
        attempts: 1,
    })
}

/// `"ABC"` → `ABC`.
pub(crate) fn strip_quotes(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parts_within_oss_limits() {
        let o = UploadOptions::new()
            .part_size(MIN_PART_SIZE)
            .multipart_threshold(1000);
        assert_eq!(plan(1000, &o).unwrap(), None);
        assert_eq!(plan(1001, &o).unwrap(), Some(MIN_PART_SIZE));
        // 10,000 parts at most: the part grows.
        let big = 2 * MIN_PART_SIZE * u64::from(MAX_PARTS) + 1;
        let p = plan(big, &o).unwrap().unwrap();
        assert!(big.div_ceil(p) <= u64::from(MAX_PARTS) && p > MIN_PART_SIZE);
        // Over 5 GiB never goes in one PutObject.
        let huge_threshold = UploadOptions::new().multipart_threshold(u64::MAX);
        assert!(plan(MAX_PUT_OBJECT_SIZE + 1, &huge_threshold)
            .unwrap()
            .is_some());
        assert!(matches!(
            plan(MAX_PART_SIZE * u64::from(MAX_PARTS) + 1, &o),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn options_are_checked() {
        assert!(UploadOptions::new().validate().is_ok());
        for bad in [
            UploadOptions::new().part_size(MIN_PART_SIZE - 1),
            UploadOptions::new().part_size(MAX_PART_SIZE + 1),
            UploadOptions::new().threads(0),
            UploadOptions::new().threads(MAX_THREADS + 1),
            UploadOptions::new().content_type("a\nb"),
            UploadOptions::new().max_part_size(1),
            UploadOptions::new().max_threads(0),
            UploadOptions::new().metadata("a b", "c"),
            UploadOptions::new().tag("k", "\u{e9}"),
            UploadOptions::new().stall_timeout(Duration::ZERO),
            UploadOptions::new().stall_timeout(Duration::MAX),
            UploadOptions::new().checkpoint(""),
            UploadOptions::new().traffic_limit(MIN_TRAFFIC_LIMIT - 1),
            UploadOptions::new().traffic_limit(MAX_TRAFFIC_LIMIT + 1),
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidInput { .. })),
                "{bad:?}"
            );
        }
        assert!(UploadOptions::new()
            .traffic_limit(MIN_TRAFFIC_LIMIT)
            .limit_rate(1)
            .validate()
            .is_ok());
        let with_cb = UploadOptions::new().on_progress(|_, _| ProgressAction::Continue);
        assert!(format!("{with_cb:?}").contains("callback"));
        assert_eq!(ProgressAction::from(false), ProgressAction::Cancel);
    }
}
