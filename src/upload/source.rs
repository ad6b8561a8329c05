//! Where the bytes come from: a file or a caller's buffer, read at any
//! offset as often as retries need, or a caller's reader, read once, in
//! order.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use crate::crc64::Crc64;
use crate::error::{Error, Result};

use super::checkpoint::{local_io, part_len, DonePart, FileIdentity};

/// The name errors give a caller's reader.
const READER_LABEL: &str = "<reader>";
/// The name errors give a caller's buffer.
const BUFFER_LABEL: &str = "<buffer>";
/// The identity a checkpoint records for a buffer (its size aside): the
/// bytes of its finished parts are what tells a resume it is the same data.
pub(crate) const BUFFER_ID: &str = "memory";

pub(crate) enum Source<'a> {
    /// A file: every attempt reopens it and seeks, so parts can be sent in
    /// any order and retried.
    File {
        path: &'a Path,
        identity: FileIdentity,
    },
    /// A reader: parts are read in order into a buffer per worker (so a
    /// part can be retried); a single PutObject streams it directly.
    Reader(Mutex<ReaderState<'a>>),
    /// A caller's bytes in memory: like a file, any part at any time,
    /// re-read for every retry, nothing copied.
    Buffer(&'a [u8]),
}

pub(crate) struct ReaderState<'a> {
    pub(crate) reader: &'a mut (dyn Read + Send),
    /// The next part number to read.
    pub(crate) next: u32,
}

impl<'a> Source<'a> {
    pub(crate) fn reader(reader: &'a mut (dyn Read + Send)) -> Source<'a> {
        Source::Reader(Mutex::new(ReaderState { reader, next: 1 }))
    }

    /// The path named in errors.
    pub(crate) fn label(&self) -> &Path {
        match self {
            Source::File { path, .. } => path,
            Source::Reader(_) => Path::new(READER_LABEL),
            Source::Buffer(_) => Path::new(BUFFER_LABEL),
        }
    }

    /// `len` bytes of the file from `offset`.
    pub(crate) fn open_range(path: &Path, offset: u64, len: u64) -> Result<io::Take<File>> {
        let mut f = crate::files::open_regular(path)
            .map_err(|e| local_io(path, "cannot open the file", &e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| local_io(path, "cannot seek in the file", &e))?;
        Ok(f.take(len))
    }

    /// The next part to send: from the queue for a file; for a reader, the
    /// next one in order, read into `buf`. `None` when there is no more.
    pub(crate) fn next_part(
        &self,
        pending: &Mutex<VecDeque<u32>>,
        size: u64,
        part_size: u64,
        buf: &mut Vec<u8>,
    ) -> Option<Result<u32>> {
        match self {
            Source::File { .. } | Source::Buffer(_) => lock(pending).pop_front().map(Ok),
            Source::Reader(state) => {
                let mut state = lock(state);
                let count = part_count(size, part_size);
                if state.next > count {
                    return None;
                }
                let number = state.next;
                state.next += 1;
                let len = match buffer_len(part_len(size, part_size, number), usize::MAX) {
                    Ok(len) => len,
                    Err(e) => return Some(Err(e)),
                };
                // A failed allocation is an error, not an abort of the process.
                if buf
                    .try_reserve_exact(len.saturating_sub(buf.len()))
                    .is_err()
                {
                    return Some(Err(Error::invalid_input(
                        "part size",
                        format!("cannot allocate a buffer of {len} bytes for a part: choose a smaller part size"),
                    )));
                }
                buf.resize(len, 0);
                let label = Path::new(READER_LABEL);
                if let Err(e) = state.reader.read_exact(buf) {
                    let why = if e.kind() == io::ErrorKind::UnexpectedEof {
                        "the reader ended before the size given".to_owned()
                    } else {
                        format!("read failed: {e}")
                    };
                    return Some(Err(Error::LocalIo {
                        source: None,
                        path: label.to_owned(),
                        reason: why,
                        kind: e.kind(),
                    }));
                }
                if number == count {
                    let mut probe = [0u8; 1];
                    match state.reader.read(&mut probe) {
                        Ok(0) => {}
                        Ok(_) => {
                            return Some(Err(Error::LocalIo {
                                source: None,
                                path: label.to_owned(),
                                reason: "the reader holds more bytes than the size given".into(),
                                kind: io::ErrorKind::InvalidInput,
                            }))
                        }
                        Err(e) => return Some(Err(local_io(label, "read failed", &e))),
                    }
                }
                Some(Ok(number))
            }
        }
    }

    /// Whether the parts a checkpoint lists still hold the same bytes in the
    /// file (their CRC-64 is recomputed locally; nothing is sent).
    /// Fails with [`Error::LocalIo`] when the file is no longer the one
    /// the upload started with (size, modification time, device and inode):
    /// rewritten, grown, truncated or replaced while being read. A reader
    /// is whatever it gave.
    pub(crate) fn check_unchanged(&self) -> Result<()> {
        let Source::File { path, identity } = self else {
            return Ok(());
        };
        let now = std::fs::metadata(path)
            .map(|m| FileIdentity::of(&m))
            .map_err(|e| local_io(path, "cannot check the file after reading it", &e))?;
        if &now == identity {
            return Ok(());
        }
        Err(Error::LocalIo {
            source: None,
            path: path.to_path_buf(),
            reason: format!(
                "changed while it was being uploaded ({}); the upload is not reported as done: upload it again once it is complete",
                identity.difference(&now)
            ),
            kind: io::ErrorKind::Other,
        })
    }

    pub(crate) fn parts_unchanged(&self, parts: &[DonePart], part_size: u64) -> Result<bool> {
        let path = match self {
            Source::File { path, .. } => path,
            Source::Buffer(data) => {
                return Ok(parts.iter().all(|part| {
                    let bytes = buffer_range(data, part_offset(part_size, part.number), part.size);
                    bytes.is_some_and(|b| Some(crate::crc64::checksum(b)) == part.crc())
                }))
            }
            Source::Reader(_) => return Ok(false),
        };
        let mut buf = vec![0u8; 64 << 10];
        for part in parts {
            let offset = part_offset(part_size, part.number);
            let mut range = Source::open_range(path, offset, part.size)?;
            let mut crc = Crc64::new();
            let mut read = 0u64;
            loop {
                let n = match range.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(local_io(path, "read failed", &e)),
                };
                if n == 0 {
                    break;
                }
                crc.update(&buf[..n]);
                read += byte_count(n);
            }
            if read != part.size || Some(crc.value()) != part.crc() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `len` bytes of `data` from `offset`, if it holds them.
pub(crate) fn buffer_range(data: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    data.get(start..end)
}

/// How many parts a `size`-byte object has (1 for an empty one).
pub(crate) fn part_count(size: u64, part_size: u64) -> u32 {
    u32::try_from(size.div_ceil(part_size).max(1)).unwrap_or(u32::MAX)
}

/// A part's length as the length of a memory buffer, at most `max` bytes
/// (`usize::MAX` but in tests, which play a 32-bit target with `u32::MAX`).
/// Refused, never truncated: `as usize` would cut a 5 GiB part to 1 GiB on
/// an armv7 device and send the wrong bytes.
pub(crate) fn buffer_len(len: u64, max: usize) -> Result<usize> {
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| {
            Error::invalid_input(
                "part size",
                format!(
                    "a part of {len} bytes is more than one buffer can hold on this device \
                     (at most {max} bytes): choose a smaller part size"
                ),
            )
        })
}

/// A count of bytes held in memory (`usize`) as a count in a file or
/// stream (`u64`). Never truncates: no Rust target has a `usize` wider
/// than 64 bits; saturating keeps that a fact rather than a cast.
pub(crate) fn byte_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Where part `number` (1-based) starts. Saturating: a checkpoint read
/// back is checked first (its parts lie inside the file), so this only
/// guards against arithmetic on numbers nobody checked.
pub(crate) fn part_offset(part_size: u64, number: u32) -> u64 {
    u64::from(number.saturating_sub(1)).saturating_mul(part_size)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 32-bit target (played with a `u32::MAX` limit) refuses a part
    /// over 4 GiB instead of cutting it to its low 32 bits.
    #[test]
    fn buffer_lengths_are_refused_not_truncated() {
        let five_gib = 5u64 << 30;
        let max32 = usize::try_from(u32::MAX).unwrap();
        match buffer_len(five_gib, max32) {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "part size");
                assert!(reason.contains("5368709120"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(buffer_len(u64::from(u32::MAX) + 1, max32).is_err());
        assert_eq!(buffer_len(u64::from(u32::MAX), max32).unwrap(), max32);
        assert_eq!(buffer_len(8 << 20, max32).unwrap(), 8 << 20);
        assert_eq!(buffer_len(0, max32).unwrap(), 0);
    }
}
