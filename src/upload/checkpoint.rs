//! The resume file of a multipart upload: where it goes, which file it is
//! for, and every part already stored. This module reads it and defines
//! its format; [`super::journal`] writes it.
//!
//! Format 2, written by this version, costs the same for every part: a
//! header line (one JSON object: the upload, the file's identity, the parts
//! done when it was written) is written once per call, atomically
//! (temporary file, fsync, rename); then each finished part appends one
//! line, `p <number> <size> <crc64> <etag> <check>`, where `<check>` is the
//! CRC-64 of the rest of the line in hex, and syncs it (`fdatasync`). A
//! crash mid-append leaves a last record without its newline or with a
//! wrong check: reading stops there and the part is simply sent again.
//! Reopening to resume compacts: every part read goes into a new header and
//! the records start over, so the file never holds more than one entry per
//! part. Format 1 (the previous version's: one JSON document rewritten
//! whole after every part) is still read and resumed from, then rewritten
//! as format 2.
//!
//! What the server answers is capped before it is stored (an UploadId of at
//! most [`MAX_UPLOAD_ID_LEN`] URL-safe characters, ETags of at most
//! [`MAX_ETAG_LEN`] visible ASCII characters), so a file of 10,000 parts
//! stays under the [`MAX_CHECKPOINT_BYTES`] read cap.
//!
//! The temporary file is created beside the checkpoint under a name of its
//! own (`<checkpoint>.<pid>.<n>.tmp`), exclusively (`create_new`, which never
//! follows a symlink planted at that name nor opens a file already there),
//! and only that file is ever removed by the writer: a user's own
//! `<checkpoint>.tmp` or any other neighbour is left alone. The checkpoint's
//! directory must be one that only the user (or root) can change: owned by
//! the user, or at least not writable by others unless it has the sticky bit
//! (as `/tmp` has). In a directory anyone may rename or replace entries in,
//! another account could swap the checkpoint for a file of its choosing
//! between two calls, and no file check can rule that out.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::crc64;
use crate::error::{Error, Result};

use super::source::{byte_count, part_count, part_offset};

/// Names the format written; a file without a name of the family is not
/// one of ours.
const FORMAT: &str = "ens-upload-checkpoint/2";

/// The previous version's format: one JSON document, still read.
const FORMAT_V1: &str = "ens-upload-checkpoint/1";

/// What every version of the format starts its name with.
const FORMAT_FAMILY: &str = "ens-upload-checkpoint/";

/// The largest checkpoint read. A header of 10,000 parts with OSS's ETags
/// (34 bytes, quoted), the widest numbers and a 1023-byte key is about
/// 1 MB; with the longest ETags accepted, made of characters JSON escapes,
/// about 3.4 MB (see `the_largest_checkpoint_fits_under_the_cap`). A larger
/// file is not read whole (the checkpoint option pointed at a video by
/// mistake must not load gigabytes) and is not a usable checkpoint.
pub(crate) const MAX_CHECKPOINT_BYTES: u64 = 4 << 20;

/// The longest ETag stored, in bytes. OSS's are 34 (a quoted MD5 in hex);
/// those of multipart objects and of other S3-like servers a few more.
pub(crate) const MAX_ETAG_LEN: usize = 128;

/// The longest UploadId stored, in bytes. OSS's are 32 (hex); S3-like
/// servers' are longer but well under this.
pub(crate) const MAX_UPLOAD_ID_LEN: usize = 256;

/// The longest part record: `p`, the widest number, size and CRC-64, the
/// longest ETag, the check, separators and newline.
pub(crate) const MAX_RECORD_LEN: usize = 2 + 10 + 1 + 20 + 1 + 20 + 1 + MAX_ETAG_LEN + 1 + 16 + 1;

/// A part the server acknowledged with the CRC-64 we computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DonePart {
    pub(crate) number: u32,
    /// As the server sent it, quotes included.
    pub(crate) etag: String,
    /// Decimal, as a string: JSON readers lose precision above 2^53.
    pub(crate) crc64: String,
    pub(crate) size: u64,
}

impl DonePart {
    pub(crate) fn crc(&self) -> Option<u64> {
        self.crc64.parse().ok()
    }
}

/// What tells a file apart from an edited or replaced one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileIdentity {
    pub(crate) size: u64,
    /// Modification time in nanoseconds since the epoch ("" if unknown).
    pub(crate) mtime_ns: String,
    /// `device:inode` on Unix ("" elsewhere): a replaced file differs.
    pub(crate) file_id: String,
}

impl FileIdentity {
    /// What differs between `self` and `now`, for messages.
    pub(crate) fn difference(&self, now: &FileIdentity) -> String {
        let mut what = Vec::new();
        if self.size != now.size {
            what.push(format!("size {} then {}", self.size, now.size));
        }
        if self.mtime_ns != now.mtime_ns {
            what.push("modification time".to_owned());
        }
        if self.file_id != now.file_id {
            what.push("replaced by another file".to_owned());
        }
        what.join(", ")
    }
}

impl FileIdentity {
    pub(crate) fn of(meta: &fs::Metadata) -> FileIdentity {
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
        FileIdentity {
            size: meta.len(),
            mtime_ns,
            file_id,
        }
    }
}

/// The resume state of one multipart upload (the header of the file, with
/// every part known so far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) format: String,
    /// The bucket asked of `PrepareUpload`.
    pub(crate) bucket_asked: String,
    /// The physical bucket and endpoint the upload lives on.
    pub(crate) bucket: String,
    pub(crate) endpoint: String,
    pub(crate) key: String,
    pub(crate) upload_id: String,
    /// The fingerprint of the metadata and headers the object was started
    /// with (`ObjectHeaders::fingerprint`): a resume with others is
    /// refused. Empty in checkpoints of versions before it was recorded,
    /// which are resumed as they are.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) object_headers: String,
    pub(crate) part_size: u64,
    pub(crate) file: FileIdentity,
    /// Sorted by part number.
    pub(crate) parts: Vec<DonePart>,
}

/// What reading a checkpoint path found.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// No file there, or an empty one (nothing to lose by writing it).
    Missing,
    /// One of ours (it names this format, any version) that cannot be used:
    /// damaged, inconsistent, too large or of another version (said by the
    /// text, for the log). The upload starts over and the file may be
    /// overwritten or removed.
    Damaged(&'static str),
    /// Something that is not a checkpoint (another program's file, the data
    /// file itself...): it is never overwritten or removed.
    Foreign,
    Found(Box<Checkpoint>),
}

impl Checkpoint {
    pub(crate) fn new(
        bucket_asked: &str,
        bucket: &str,
        endpoint: &str,
        key: &str,
        upload_id: String,
        part_size: u64,
        file: FileIdentity,
    ) -> Checkpoint {
        Checkpoint {
            format: FORMAT.to_owned(),
            bucket_asked: bucket_asked.to_owned(),
            bucket: bucket.to_owned(),
            endpoint: endpoint.to_owned(),
            key: key.to_owned(),
            upload_id,
            object_headers: String::new(),
            part_size,
            file,
            parts: Vec::new(),
        }
    }

    /// Reads `path`, at most [`MAX_CHECKPOINT_BYTES`] of it. Only an I/O
    /// failure other than "not found" is an error; what the file holds is
    /// told by [`Loaded`]. Something that is not a regular file (a FIFO
    /// would block the open) is [`Loaded::Foreign`] without being opened.
    /// What was passed over to use it (a torn last record, the previous
    /// format) is logged.
    pub(crate) fn load(path: &Path) -> Result<Loaded> {
        Checkpoint::read(path, true)
    }

    /// [`Checkpoint::load`], logging what it passed over when `log` is set.
    fn read(path: &Path, log: bool) -> Result<Loaded> {
        let cannot_read = |e: &io::Error| local_io(path, "cannot read the checkpoint", e);
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(cannot_read(&e)),
        };
        if !meta.is_file() {
            return Ok(Loaded::Foreign);
        }
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(cannot_read(&e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_CHECKPOINT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| cannot_read(&e))?;
        if bytes.is_empty() {
            return Ok(Loaded::Missing);
        }
        let over_cap = byte_count(bytes.len()) > MAX_CHECKPOINT_BYTES;
        if !over_cap {
            if let Some(loaded) = parse(&bytes, log.then_some(path)) {
                return Ok(loaded);
            }
        }
        Ok(if names_our_format(&bytes) {
            Loaded::Damaged(if over_cap {
                "larger than a checkpoint can be"
            } else {
                "cut short, edited, or of a format this version does not read"
            })
        } else {
            Loaded::Foreign
        })
    }

    /// Parts numbered 1..=count, each at most one part long, no duplicates,
    /// sizes that fit the file, server strings within their caps: anything
    /// else was not written by us.
    fn is_consistent(&self) -> bool {
        if self.part_size == 0 || upload_id_problem(&self.upload_id).is_some() {
            return false;
        }
        let count = self.file.size.div_ceil(self.part_size).max(1);
        let mut last = 0u32;
        self.parts.iter().all(|p| {
            let ok = p.number > last
                && u64::from(p.number) <= count
                && p.size == part_len(self.file.size, self.part_size, p.number)
                && p.crc().is_some()
                && etag_problem(&p.etag).is_none();
            last = p.number;
            ok
        })
    }

    /// Adds (or replaces) a finished part, keeping the order.
    pub(crate) fn record(&mut self, part: DonePart) {
        match self.parts.binary_search_by_key(&part.number, |p| p.number) {
            Ok(i) => self.parts[i] = part,
            Err(i) => self.parts.insert(i, part),
        }
    }

    /// Adds the records that follow the header, up to the first one cut
    /// short or failing its check (a crash mid-append): that one and what
    /// follows are ignored, their parts are sent again. Returns how many
    /// bytes were ignored.
    fn apply_records(&mut self, records: &[u8]) -> usize {
        let mut used = 0;
        for line in records.split_inclusive(|&b| b == b'\n') {
            match line.strip_suffix(b"\n").and_then(decode_record) {
                Some(part) => self.record(part),
                None => break,
            }
            used += line.len();
        }
        records.len() - used
    }

    /// Why this checkpoint is not one to resume the upload of `key` (asked
    /// as `bucket_asked`, sent to `bucket` at `endpoint`) from a file of
    /// `identity` (`None`: a reader); `None` when it is (the bytes of its
    /// parts aside, which only the source can check).
    pub(crate) fn mismatch(
        &self,
        bucket_asked: &str,
        bucket: &str,
        endpoint: &str,
        key: &str,
        identity: Option<&FileIdentity>,
    ) -> Option<&'static str> {
        if self.bucket != bucket || self.endpoint != endpoint {
            Some("PrepareUpload chose another bucket or endpoint this time")
        } else if self.key != key || self.bucket_asked != bucket_asked {
            Some("it is for another object key or bucket")
        } else if identity != Some(&self.file) {
            Some("the file changed (size, modification time or identity)")
        } else if part_count(self.file.size, self.part_size) > super::MAX_PARTS {
            Some("it lists more parts than OSS allows")
        } else {
            None
        }
    }

    /// Refuses to resume (with [`Error::InvalidInput`], field
    /// `checkpoint`) an upload started with other object metadata or
    /// headers than `fingerprint`'s: the object keeps what it started with.
    pub(crate) fn check_object_headers(&self, path: &Path, fingerprint: &str) -> Result<()> {
        if self.object_headers.is_empty() || self.object_headers == fingerprint {
            return Ok(());
        }
        Err(Error::invalid_input(
            "checkpoint",
            format!(
                "{} is for upload {} of the same object started with other metadata or headers (content type, x-oss-meta-*, tags, storage class, content disposition, cache control or forbid-overwrite): a resumed upload keeps what it started with; resume with the same settings, or delete the checkpoint to start over",
                path.display(),
                self.upload_id
            ),
        ))
    }

    /// The header line written for this state: one JSON object (this
    /// format, every part listed), then a newline. `Err` says why it cannot
    /// be written: never, for a state of checked server strings.
    pub(crate) fn header_line(&self) -> std::result::Result<Vec<u8>, String> {
        if self.format != FORMAT || !self.is_consistent() {
            return Err(
                "the state to write is not consistent (parts outside the file, \
                        or an UploadId or ETag over its cap)"
                    .into(),
            );
        }
        let mut bytes =
            serde_json::to_vec(self).map_err(|e| format!("cannot encode the checkpoint: {e}"))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Removes the checkpoint. Nothing else: a temporary a crash left has a
    /// name of its own and may be removed by hand, never guessed at here.
    pub(crate) fn remove(path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(local_io(path, "cannot remove the checkpoint", &e)),
        }
    }
}

/// What `bytes` (at most the cap) hold, if they are a checkpoint of any
/// version; `None` when they are not recognized as one. With `log`, what
/// was passed over is logged under that path.
fn parse(bytes: &[u8], log: Option<&Path>) -> Option<Loaded> {
    let (first, records) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    // This format: a header line, then records.
    if let Ok(mut c) = serde_json::from_slice::<Checkpoint>(first) {
        if c.format == FORMAT {
            let ignored = c.apply_records(records);
            if let Some(path) = log.filter(|_| ignored > 0) {
                log::info!(
                    "checkpoint {}: ignored its last {ignored} bytes, a record cut short \
                     by a crash or failing its check (those parts are sent again)",
                    path.display()
                );
            }
            return Some(found_if_consistent(c));
        }
    }
    // The previous one: a single JSON document, any layout.
    if let Ok(mut c) = serde_json::from_slice::<Checkpoint>(bytes) {
        if c.format == FORMAT_V1 {
            if let Some(path) = log {
                log::info!(
                    "checkpoint {}: written by an earlier version (format 1); \
                     rewritten in format 2 if resumed from",
                    path.display()
                );
            }
            c.format = FORMAT.to_owned();
            return Some(found_if_consistent(c));
        }
    }
    // A JSON object naming our format, wherever the member is.
    let names_ours = |doc: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(doc).is_ok_and(|v| {
            v.get("format")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|f| f.starts_with(FORMAT_FAMILY))
        })
    };
    (names_ours(first) || names_ours(bytes)).then_some(Loaded::Damaged(
        "cut short, edited, or of a format this version does not read",
    ))
}

fn found_if_consistent(c: Checkpoint) -> Loaded {
    if c.is_consistent() {
        Loaded::Found(Box::new(c))
    } else {
        Loaded::Damaged("its parts do not fit the file or its upload")
    }
}

/// `p <number> <size> <crc64> <etag> <check>\n`; the check is the CRC-64
/// of everything before its separating space, 16 lowercase hex digits.
pub(crate) fn encode_record(part: &DonePart) -> String {
    let body = format!(
        "p {} {} {} {}",
        part.number, part.size, part.crc64, part.etag
    );
    let check = crc64::checksum(body.as_bytes());
    format!("{body} {check:016x}\n")
}

/// A record's line (newline removed), or `None` if it is not a whole,
/// valid one.
fn decode_record(line: &[u8]) -> Option<DonePart> {
    let line = std::str::from_utf8(line).ok()?;
    let (body, check) = line.rsplit_once(' ')?;
    if check != format!("{:016x}", crc64::checksum(body.as_bytes())) {
        return None;
    }
    let mut fields = body.split(' ');
    let (Some("p"), Some(number), Some(size), Some(crc), Some(etag), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    Some(DonePart {
        number: number.parse().ok()?,
        etag: etag.to_owned(),
        crc64: crc.parse::<u64>().ok()?.to_string(),
        size: size.parse().ok()?,
    })
}

/// Refuses an ETag that is empty, longer than [`MAX_ETAG_LEN`] or holds
/// anything but visible ASCII (what RFC 9110 allows, without obsolete
/// text), before it is stored. `what` names the part.
pub(crate) fn check_etag(etag: &str, what: &str) -> Result<()> {
    match etag_problem(etag) {
        None => Ok(()),
        Some(why) => Err(bad_server_string(format!(
            "the answer for {what} has an ETag that {why}"
        ))),
    }
}

/// Refuses an UploadId that is empty, longer than [`MAX_UPLOAD_ID_LEN`]
/// or holds anything but ASCII letters, digits and `-._~+/=`.
pub(crate) fn check_upload_id(id: &str) -> Result<()> {
    match upload_id_problem(id) {
        None => Ok(()),
        Some(why) => Err(bad_server_string(format!(
            "InitiateMultipartUpload answered an UploadId that {why}"
        ))),
    }
}

pub(crate) fn etag_problem(etag: &str) -> Option<String> {
    string_problem(
        etag,
        MAX_ETAG_LEN,
        |b| b.is_ascii_graphic(),
        "visible ASCII",
    )
}

fn upload_id_problem(id: &str) -> Option<String> {
    string_problem(
        id,
        MAX_UPLOAD_ID_LEN,
        |b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b),
        "ASCII letters, digits and -._~+/=",
    )
}

fn string_problem(s: &str, max: usize, allowed: fn(u8) -> bool, what: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty".into());
    }
    if s.len() > max {
        return Some(format!(
            "is {} bytes long; at most {max} are accepted",
            s.len()
        ));
    }
    let pos = s.bytes().position(|b| !allowed(b))?;
    Some(format!(
        "has a character other than {what} at byte {pos} ({:?})",
        crate::prepare_upload::truncate_for_message(s)
    ))
}

fn bad_server_string(reason: String) -> Error {
    Error::Decode {
        status: 200,
        reason,
        body_prefix: String::new(),
        attempts: 1,
    }
}

/// Whether `bytes` start the way a checkpoint of any version is written: a
/// JSON object whose first member is `"format"`, naming this format's
/// family (whitespace aside). Only the start is looked at, so a file cut
/// short or too large to read whole is still recognized.
fn names_our_format(bytes: &[u8]) -> bool {
    let expected = format!("{{\"format\":\"{FORMAT_FAMILY}");
    let start: Vec<u8> = bytes
        .iter()
        .take(256)
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    start.starts_with(expected.as_bytes())
}

/// Refuses a checkpoint option that would overwrite or remove a file that
/// is not a checkpoint: the file being uploaded (`data`, same device and
/// inode), or any file that is neither empty nor one of ours. Runs before
/// anything is sent.
pub(crate) fn refuse_foreign(path: &Path, data: &FileIdentity) -> Result<()> {
    if let Ok(meta) = fs::metadata(path) {
        let same = !data.file_id.is_empty() && FileIdentity::of(&meta).file_id == data.file_id;
        if meta.is_file() && same {
            return Err(refusal(path, "is the file being uploaded"));
        }
    }
    match Checkpoint::read(path, false)? {
        Loaded::Foreign => Err(foreign(path)),
        Loaded::Missing | Loaded::Damaged(_) | Loaded::Found(_) => Ok(()),
    }
}

/// The error for a checkpoint path holding something else.
pub(crate) fn foreign(path: &Path) -> Error {
    refusal(
        path,
        "exists and is not an upload checkpoint (or is larger than one can be)",
    )
}

fn refusal(path: &Path, why: &str) -> Error {
    Error::invalid_input(
        "checkpoint",
        format!(
            "{} {why}: refusing to overwrite or remove it (delete it or choose another path)",
            path.display()
        ),
    )
}

/// The length of part `number` (1-based) of a `size`-byte file.
pub(crate) fn part_len(size: u64, part_size: u64, number: u32) -> u64 {
    let start = part_offset(part_size, number);
    size.saturating_sub(start).min(part_size)
}

pub(crate) fn local_io(path: &Path, what: &str, e: &io::Error) -> Error {
    Error::LocalIo {
        // The error itself is borrowed: its kind and text go on.
        source: Some(std::sync::Arc::new(io::Error::new(e.kind(), e.to_string()))),
        path: path.to_owned(),
        reason: format!("{what}: {e}"),
        kind: e.kind(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The header line of `c`, whatever it holds.
    fn header_line(c: &Checkpoint) -> Vec<u8> {
        let mut line = serde_json::to_vec(c).unwrap();
        line.push(b'\n');
        line
    }

    pub(crate) fn sample() -> Checkpoint {
        let file = FileIdentity {
            size: 250,
            mtime_ns: "1".into(),
            file_id: "1:2".into(),
        };
        let mut c = Checkpoint::new("test", "test-1", "h:1", "k", "U".into(), 100, file);
        c.record(DonePart {
            number: 3,
            etag: "\"C\"".into(),
            crc64: "3".into(),
            size: 50,
        });
        c.record(DonePart {
            number: 1,
            etag: "\"A\"".into(),
            crc64: u64::MAX.to_string(),
            size: 100,
        });
        c
    }

    #[test]
    fn round_trips_and_refuses_what_is_not_ours() {
        let dir = std::env::temp_dir().join(format!("ens-ckpt-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Missing));
        let c = sample();
        assert_eq!(c.parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 3]);
        fs::write(&path, c.header_line().unwrap()).unwrap();
        match Checkpoint::load(&path).unwrap() {
            Loaded::Found(back) => {
                assert_eq!(*back, c);
                assert_eq!(back.parts[0].crc(), Some(u64::MAX));
            }
            other => panic!("{other:?}"),
        }
        // Not ours: never to be written over.
        for junk in [
            &b"{not json"[..],
            b"{}",
            br#"{"format":"other"}"#,
            br#"{"format":["ens-upload-checkpoint/1"]}"#,
            b"\x00\x01binary video data",
            b" ",
        ] {
            fs::write(&path, junk).unwrap();
            assert!(
                matches!(Checkpoint::load(&path).unwrap(), Loaded::Foreign),
                "{junk:?}"
            );
        }
        // Ours, but not usable: started over.
        let mut wrong_size = sample();
        wrong_size.parts[0].size = 99;
        assert!(wrong_size.header_line().is_err(), "never written by us");
        fs::write(&path, header_line(&wrong_size)).unwrap();
        assert!(matches!(
            Checkpoint::load(&path).unwrap(),
            Loaded::Damaged(_)
        ));
        let json = serde_json::to_string(&sample()).unwrap();
        for ours in [
            r#"{"format":"ens-upload-checkpoint/3"}"#,
            r#"{"format":"ens-upload-checkpoint/2"}"#,
            r#"{"upload_id":"U","format":"ens-upload-checkpoint/1"}"#,
            &json[..json.len() / 2],
            &json.replace(FORMAT, "ens-upload-checkpoint/0"),
        ] {
            fs::write(&path, ours).unwrap();
            assert!(
                matches!(Checkpoint::load(&path).unwrap(), Loaded::Damaged(_)),
                "{ours}"
            );
        }
        // Written by another JSON writer (members in another order): still ours.
        let sorted = serde_json::to_value(sample()).unwrap();
        fs::write(&path, serde_json::to_vec(&sorted).unwrap()).unwrap();
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Found(_)));
        // An empty file holds nothing to lose; a directory is not ours.
        fs::write(&path, b"").unwrap();
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Missing));
        assert!(matches!(Checkpoint::load(&dir).unwrap(), Loaded::Foreign));
        Checkpoint::remove(&path).unwrap();
        Checkpoint::remove(&path).unwrap();
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ens-ckpt-test-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A file larger than the cap is not read whole, and is ours only if it
    /// starts like a checkpoint.
    #[test]
    fn files_over_the_cap_are_not_checkpoints() {
        let dir = temp_dir("over");
        let path = dir.join("c.json");
        let over = usize::try_from(MAX_CHECKPOINT_BYTES).unwrap() + 10;
        fs::write(&path, vec![b'{'; over]).unwrap();
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Foreign));
        // A valid checkpoint padded past the cap: ours, but not used.
        let mut json = header_line(&sample());
        json.resize(over, b' ');
        fs::write(&path, &json).unwrap();
        assert!(matches!(
            Checkpoint::load(&path).unwrap(),
            Loaded::Damaged(_)
        ));
        // At the cap exactly it is still read.
        json.truncate(usize::try_from(MAX_CHECKPOINT_BYTES).unwrap());
        fs::write(&path, &json).unwrap();
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Found(_)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_to_point_at_what_is_not_a_checkpoint() {
        let dir = temp_dir("refuse");
        let data = dir.join("data.bin");
        fs::write(&data, b"not json at all").unwrap();
        let identity = FileIdentity::of(&fs::metadata(&data).unwrap());
        let other = FileIdentity {
            size: 1,
            mtime_ns: String::new(),
            file_id: String::new(),
        };
        let is_refused = |path: &Path, id: &FileIdentity| match refuse_foreign(path, id) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "checkpoint");
                assert!(reason.contains("refusing"), "{reason}");
                true
            }
            Ok(()) => false,
            Err(e) => panic!("{e:?}"),
        };
        assert!(is_refused(&data, &identity));
        assert!(is_refused(&data, &other));
        assert!(!is_refused(&dir.join("free"), &identity));
        // The data file, even when it happens to look like a checkpoint.
        let ours = dir.join("c.json");
        fs::write(&ours, header_line(&sample())).unwrap();
        let ours_id = FileIdentity::of(&fs::metadata(&ours).unwrap());
        assert!(!is_refused(&ours, &identity));
        #[cfg(unix)]
        assert!(is_refused(&ours, &ours_id));
        let _ = ours_id;
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Server strings are capped before they are written: an ETag or
    /// UploadId of any length or content would otherwise go in as is.
    #[test]
    fn server_strings_are_capped_and_named() {
        let refused = |r: Result<()>, field: &str| match r {
            Err(Error::Decode { reason, .. }) => assert!(reason.contains(field), "{reason}"),
            other => panic!("{field}: {other:?}"),
        };
        refused(
            check_etag(&format!("\"{}\"", "A".repeat(5000)), "part 3"),
            "ETag",
        );
        refused(check_etag("\"a b\"", "part 3"), "ETag");
        refused(check_etag("\"a\nb\"", "part 3"), "ETag");
        refused(check_etag("", "part 3"), "ETag");
        refused(check_upload_id(&"A".repeat(5000)), "UploadId");
        refused(check_upload_id("abc def"), "UploadId");
        refused(check_upload_id("a\"b"), "UploadId");
        check_etag("\"0123456789ABCDEF0123456789ABCDEF\"", "part 1").unwrap();
        check_etag("W/\"abc-12\"", "part 1").unwrap();
        check_upload_id("0123456789ABCDEF0123456789ABCDEF").unwrap();
        check_upload_id("2~fM_jB-x.Zq/9+w==").unwrap();
    }

    /// The metadata fingerprint is written and read back; a checkpoint of
    /// the version before it (no member) still loads and resumes whatever
    /// the metadata; one with another fingerprint is refused, naming it.
    #[test]
    fn the_metadata_fingerprint_is_kept_and_old_checkpoints_still_load() {
        let dir = temp_dir("fingerprint");
        let path = dir.join("c.ckpt");
        let mut c = sample();
        c.object_headers = "00000000000000ab".into();
        fs::write(&path, c.header_line().unwrap()).unwrap();
        let Loaded::Found(back) = Checkpoint::load(&path).unwrap() else {
            panic!("not found")
        };
        assert_eq!(back.object_headers, "00000000000000ab");
        back.check_object_headers(&path, "00000000000000ab")
            .unwrap();
        match back.check_object_headers(&path, "00000000000000cd") {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "checkpoint");
                assert!(reason.contains("other metadata"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Written before the fingerprint existed: no member at all.
        let old = header_line(&sample());
        assert!(!String::from_utf8_lossy(&old).contains("object_headers"));
        fs::write(&path, old).unwrap();
        let Loaded::Found(back) = Checkpoint::load(&path).unwrap() else {
            panic!("an old checkpoint no longer loads")
        };
        assert_eq!(back.object_headers, "");
        back.check_object_headers(&path, "00000000000000cd")
            .unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn part_lengths() {
        assert_eq!(part_len(250, 100, 1), 100);
        assert_eq!(part_len(250, 100, 3), 50);
        assert_eq!(part_len(250, 100, 4), 0);
        assert_eq!(part_len(0, 100, 1), 0);
    }
}
