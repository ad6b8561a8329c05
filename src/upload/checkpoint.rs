//! The resume file of a multipart upload: where it goes, which file it is
//! for, and every part already stored. Rewritten atomically (temporary file,
//! fsync, rename) after each part, so a crash leaves the old or the new
//! version, never a torn one.
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
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Names the format; a file without it is not one of ours.
const FORMAT: &str = "ens-upload-checkpoint/1";

/// What every version of the format starts its name with.
const FORMAT_FAMILY: &str = "ens-upload-checkpoint/";

/// The largest checkpoint read. One of 10,000 parts with OSS's ETags
/// (34 bytes, quoted), the widest numbers and a 1023-byte key is 1,530,454
/// bytes (about 1.5 MiB; see the test `ten_thousand_parts_fit_under_the_cap`);
/// a larger file is not read whole (the checkpoint option pointed at a
/// video by mistake must not load gigabytes) and is not a usable checkpoint.
pub(crate) const MAX_CHECKPOINT_BYTES: u64 = 4 << 20;

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

/// The resume state of one multipart upload.
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
    /// damaged, inconsistent, too large or of another version. The upload
    /// starts over and the file may be overwritten or removed.
    Damaged,
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
            part_size,
            file,
            parts: Vec::new(),
        }
    }

    /// Reads `path`, at most [`MAX_CHECKPOINT_BYTES`] of it. Only an I/O
    /// failure other than "not found" is an error; what the file holds is
    /// told by [`Loaded`]. Something that is not a regular file (a FIFO
    /// would block the open) is [`Loaded::Foreign`] without being opened.
    pub(crate) fn load(path: &Path) -> Result<Loaded> {
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
        if super::source::byte_count(bytes.len()) <= MAX_CHECKPOINT_BYTES {
            if let Ok(c) = serde_json::from_slice::<Checkpoint>(&bytes) {
                if c.format == FORMAT && c.is_consistent() {
                    return Ok(Loaded::Found(Box::new(c)));
                }
            }
            // A JSON object naming our format, wherever the member is.
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                let format = v.get("format").and_then(serde_json::Value::as_str);
                if format.is_some_and(|f| f.starts_with(FORMAT_FAMILY)) {
                    return Ok(Loaded::Damaged);
                }
            }
        }
        Ok(if names_our_format(&bytes) {
            Loaded::Damaged
        } else {
            Loaded::Foreign
        })
    }

    /// Parts numbered 1..=count, each at most one part long, no duplicates,
    /// sizes that fit the file: anything else was not written by us.
    fn is_consistent(&self) -> bool {
        if self.part_size == 0 || self.upload_id.is_empty() {
            return false;
        }
        let count = self.file.size.div_ceil(self.part_size).max(1);
        let mut last = 0u32;
        self.parts.iter().all(|p| {
            let ok = p.number > last
                && u64::from(p.number) <= count
                && p.size == part_len(self.file.size, self.part_size, p.number)
                && p.crc().is_some();
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

    /// Writes the checkpoint atomically: a temporary file beside it,
    /// flushed to disk, then renamed over it.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::LocalIo {
            path: path.to_owned(),
            reason: format!("cannot encode the checkpoint: {e}"),
            kind: io::ErrorKind::InvalidData,
        })?;
        let (tmp, mut f) =
            create_temp(path).map_err(|e| local_io(path, "cannot write the checkpoint", &e))?;
        let mut write = || -> io::Result<()> {
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            sync_parent(path);
            Ok(())
        };
        write().map_err(|e| {
            // Ours: created by create_temp above, under a name of its own.
            let _ = fs::remove_file(&tmp);
            local_io(path, "cannot write the checkpoint", &e)
        })
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
    match Checkpoint::load(path)? {
        Loaded::Foreign => Err(foreign(path)),
        Loaded::Missing | Loaded::Damaged | Loaded::Found(_) => Ok(()),
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
    let start = super::source::part_offset(part_size, number);
    size.saturating_sub(start).min(part_size)
}

/// `<checkpoint>.<pid>.<n>.tmp`: unique to this process and this write.
fn temp_path(path: &Path, pid: u32, n: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{pid}.{n}.tmp"));
    path.with_file_name(name)
}

/// Creates a new, empty temporary file beside `path`, exclusively: a name
/// already taken (a user's file, a symlink planted there, a temporary a
/// crashed process with the same pid left) is skipped, never opened.
/// Readable by the user only on Unix (it names the upload and the key).
fn create_temp(path: &Path) -> io::Result<(PathBuf, fs::File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut taken = None;
    for _ in 0..64 {
        let tmp = temp_path(
            path,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
        );
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => taken = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(taken.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Makes the rename durable (Unix); elsewhere the rename is what we have.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

pub(crate) fn local_io(path: &Path, what: &str, e: &io::Error) -> Error {
    Error::LocalIo {
        path: path.to_owned(),
        reason: format!("{what}: {e}"),
        kind: e.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
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
        c.save(&path).unwrap();
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
        wrong_size.save(&path).unwrap();
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Damaged));
        let json = serde_json::to_string(&sample()).unwrap();
        for ours in [
            r#"{"format":"ens-upload-checkpoint/2"}"#,
            r#"{"upload_id":"U","format":"ens-upload-checkpoint/1"}"#,
            &json[..json.len() / 2],
            &json.replace(FORMAT, "ens-upload-checkpoint/0"),
        ] {
            fs::write(&path, ours).unwrap();
            assert!(
                matches!(Checkpoint::load(&path).unwrap(), Loaded::Damaged),
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ens-ckpt-test-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The most parts an upload has, with OSS's ETags and the widest
    /// numbers, fits well under the read cap.
    #[test]
    fn ten_thousand_parts_fit_under_the_cap() {
        let dir = temp_dir("big");
        let path = dir.join("c.json");
        let part_size = super::super::MAX_PART_SIZE;
        let parts = super::super::MAX_PARTS;
        let file = FileIdentity {
            size: part_size * u64::from(parts),
            mtime_ns: u128::MAX.to_string(),
            file_id: format!("{}:{}", u64::MAX, u64::MAX),
        };
        let upload_id = "0123456789ABCDEF0123456789ABCDEF".to_owned();
        let mut c = Checkpoint::new(
            &"b".repeat(63),
            &"b".repeat(63),
            "oss-cn-hangzhou-internal.aliyuncs.com:65535",
            &"k".repeat(1023),
            upload_id,
            part_size,
            file,
        );
        for number in 1..=parts {
            c.record(DonePart {
                number,
                etag: format!("\"{:032X}\"", u128::MAX - u128::from(number)),
                crc64: u64::MAX.to_string(),
                size: part_size,
            });
        }
        c.save(&path).unwrap();
        let len = fs::metadata(&path).unwrap().len();
        println!("a checkpoint of {parts} parts is {len} bytes");
        assert!(len < MAX_CHECKPOINT_BYTES / 2, "{len} bytes");
        match Checkpoint::load(&path).unwrap() {
            Loaded::Found(back) => assert_eq!(back.parts.len(), usize::try_from(parts).unwrap()),
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(&dir).unwrap();
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
        let mut json = serde_json::to_vec_pretty(&sample()).unwrap();
        json.resize(over, b' ');
        fs::write(&path, &json).unwrap();
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Damaged));
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
        sample().save(&ours).unwrap();
        let ours_id = FileIdentity::of(&fs::metadata(&ours).unwrap());
        assert!(!is_refused(&ours, &identity));
        #[cfg(unix)]
        assert!(is_refused(&ours, &ours_id));
        let _ = ours_id;
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A write that fails removes the temporary it created, and only that.
    #[test]
    fn a_failed_write_leaves_only_what_was_there() {
        let dir = temp_dir("failed-write");
        let path = dir.join("c.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        fs::write(dir.join("c.json.tmp"), b"mine").unwrap();
        assert!(sample().save(&path).is_err(), "a directory is in the way");
        let mut left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["c.json", "c.json.tmp"]);
        assert_eq!(fs::read(dir.join("c.json.tmp")).unwrap(), b"mine");
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
