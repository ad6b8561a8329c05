//! The resume file of a multipart upload: where it goes, which file it is
//! for, and every part already stored. Rewritten atomically (temporary file,
//! fsync, rename) after each part, so a crash leaves the old or the new
//! version, never a torn one.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Names the format; a file without it is not one of ours.
const FORMAT: &str = "ens-upload-checkpoint/1";

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
    /// No file there.
    Missing,
    /// A file that is not a checkpoint (or a torn, foreign or older one).
    Unreadable,
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

    /// Reads `path`. Only an I/O failure other than "not found" is an error.
    pub(crate) fn load(path: &Path) -> Result<Loaded> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
            Err(e) => return Err(local_io(path, "cannot read the checkpoint", &e)),
        };
        Ok(match serde_json::from_slice::<Checkpoint>(&bytes) {
            Ok(c) if c.format == FORMAT && c.is_consistent() => Loaded::Found(Box::new(c)),
            _ => Loaded::Unreadable,
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
        let tmp = temp_path(path);
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            sync_parent(path);
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            local_io(path, "cannot write the checkpoint", &e)
        })
    }

    /// Removes the checkpoint (and any temporary left by a crash).
    pub(crate) fn remove(path: &Path) -> Result<()> {
        let _ = fs::remove_file(temp_path(path));
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(local_io(path, "cannot remove the checkpoint", &e)),
        }
    }
}

/// The length of part `number` (1-based) of a `size`-byte file.
pub(crate) fn part_len(size: u64, part_size: u64, number: u32) -> u64 {
    let start = u64::from(number - 1).saturating_mul(part_size);
    size.saturating_sub(start).min(part_size)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
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
        for junk in [&b"{not json"[..], b"{}", br#"{"format":"other"}"#] {
            fs::write(&path, junk).unwrap();
            assert!(matches!(
                Checkpoint::load(&path).unwrap(),
                Loaded::Unreadable
            ));
        }
        let mut wrong_size = sample();
        wrong_size.parts[0].size = 99;
        wrong_size.save(&path).unwrap();
        assert!(matches!(
            Checkpoint::load(&path).unwrap(),
            Loaded::Unreadable
        ));
        Checkpoint::remove(&path).unwrap();
        Checkpoint::remove(&path).unwrap();
        assert!(!path.exists());
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
