//! Writes the checkpoint of a running upload (the format is described in
//! [`super::checkpoint`]): the header once per call, through a temporary
//! file created exclusively beside it, synced and renamed over it; then one
//! record appended and synced (`fdatasync`) per finished part, so a part
//! costs the same whatever the number of parts before it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

use super::checkpoint::{
    encode_record, etag_problem, local_io, Checkpoint, DonePart, MAX_CHECKPOINT_BYTES,
    MAX_RECORD_LEN,
};
use super::source::{byte_count, part_count};

/// The open checkpoint of a running upload: its header is written, parts
/// are appended. One per upload call, used from one thread.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: fs::File,
    /// Bytes written through this journal (its header included).
    written: u64,
    /// Whether each record is synced to disk (always, but in tests that
    /// count bytes).
    sync: bool,
}

impl Journal {
    /// Writes `state` as a new checkpoint at `path` (every part it lists in
    /// the header: this is where reopening compacts), atomically, and keeps
    /// it open to append to.
    pub(crate) fn create(path: &Path, state: &Checkpoint) -> Result<Journal> {
        let cannot = |e: &io::Error| local_io(path, "cannot write the checkpoint", e);
        let unwritable = |reason: String| Error::LocalIo {
            source: None,
            path: path.to_owned(),
            reason,
            kind: io::ErrorKind::InvalidData,
        };
        let bytes = state.header_line().map_err(unwritable)?;
        // What the records still to come may add, at most.
        let remaining = usize::try_from(part_count(state.file.size, state.part_size))
            .unwrap_or(usize::MAX)
            .saturating_sub(state.parts.len());
        let largest = remaining
            .saturating_mul(MAX_RECORD_LEN)
            .saturating_add(bytes.len());
        if byte_count(largest) > MAX_CHECKPOINT_BYTES {
            return Err(unwritable(format!(
                "the checkpoint could grow to {largest} bytes, more than the \
                 {MAX_CHECKPOINT_BYTES} it may have (the key or the endpoint is too long)"
            )));
        }
        let (tmp, mut file) = create_temp(path).map_err(|e| cannot(&e))?;
        let mut write = || -> io::Result<()> {
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            sync_parent(path);
            Ok(())
        };
        if let Err(e) = write() {
            // Ours: created by create_temp above, under a name of its own.
            if let Err(rm) = fs::remove_file(&tmp) {
                log::warn!(
                    "could not remove the temporary checkpoint {}: {rm}",
                    tmp.display()
                );
            }
            return Err(cannot(&e));
        }
        Ok(Journal {
            path: path.to_owned(),
            file,
            written: byte_count(bytes.len()),
            sync: true,
        })
    }

    /// Appends one finished part and syncs it.
    pub(crate) fn append(&mut self, part: &DonePart) -> Result<()> {
        let unwritable = |reason: String| Error::LocalIo {
            source: None,
            path: self.path.clone(),
            reason,
            kind: io::ErrorKind::InvalidData,
        };
        if let Some(why) = etag_problem(&part.etag) {
            return Err(unwritable(format!("part {}'s ETag {why}", part.number)));
        }
        if part.crc().is_none() {
            return Err(unwritable(format!("part {} has no CRC-64", part.number)));
        }
        let record = encode_record(part);
        if self.written + byte_count(record.len()) > MAX_CHECKPOINT_BYTES {
            return Err(unwritable(format!(
                "the checkpoint would grow past {MAX_CHECKPOINT_BYTES} bytes"
            )));
        }
        let mut write = || -> io::Result<()> {
            self.file.write_all(record.as_bytes())?;
            if self.sync {
                self.file.sync_data()?;
            }
            Ok(())
        };
        write().map_err(|e| local_io(&self.path, "cannot write the checkpoint", &e))?;
        self.written += byte_count(record.len());
        Ok(())
    }

    /// Bytes written so far, header included.
    #[cfg(test)]
    pub(crate) fn bytes_written(&self) -> u64 {
        self.written
    }
}

/// Fails when a checkpoint could not be written at `path`: its directory
/// is missing, not a directory, or not writable. Run before anything is
/// sent, so a resumable upload is never started (nor a one-PutObject file
/// uploaded) with a checkpoint that cannot be kept. It creates and removes
/// a temporary file as every checkpoint write does, which is the one check
/// that holds whatever the permissions, ACLs or mount options.
pub(crate) fn check_writable(path: &Path) -> Result<()> {
    match create_temp(path) {
        Ok((tmp, file)) => {
            drop(file);
            if let Err(e) = fs::remove_file(&tmp) {
                log::warn!("could not remove the probe file {}: {e}", tmp.display());
            }
            Ok(())
        }
        Err(e) => {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            Err(Error::LocalIo {
                path: path.to_owned(),
                reason: format!(
                    "the checkpoint cannot be written in {}: {e}; choose a checkpoint \
                     path in an existing directory this process may write to",
                    dir.display()
                ),
                kind: e.kind(),
                source: Some(std::sync::Arc::new(e)),
            })
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::checkpoint::tests::{sample, temp_dir};
    use crate::upload::checkpoint::{FileIdentity, Loaded, MAX_ETAG_LEN, MAX_UPLOAD_ID_LEN};

    /// Writes `c` as a new checkpoint (header only).
    fn save(c: &Checkpoint, path: &Path) -> Result<()> {
        Journal::create(path, c).map(drop)
    }

    /// A realistic upload: 8 MiB parts, OSS's 34-byte quoted ETags.
    fn upload_of(parts: u32) -> Checkpoint {
        let part_size = 8u64 << 20;
        let file = FileIdentity {
            size: part_size * u64::from(parts),
            mtime_ns: "1700000000123456789".into(),
            file_id: "2049:1234567".into(),
        };
        Checkpoint::new(
            "test",
            "test-1a2b3c",
            "oss-cn-hangzhou.aliyuncs.com",
            "videos/2024-01-02.mp4",
            "0123456789ABCDEF0123456789ABCDEF".into(),
            part_size,
            file,
        )
    }

    fn oss_part(number: u32, part_size: u64) -> DonePart {
        let mix = u128::from(number).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        DonePart {
            number,
            etag: format!("\"{mix:032X}\""),
            crc64: u64::from(number)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .to_string(),
            size: part_size,
        }
    }

    /// The largest checkpoint there can be stays under the read cap: 10,000
    /// parts, the longest ETags accepted made of characters JSON escapes,
    /// the widest numbers and the longest key, whether the parts are in the
    /// header (compacted) or in records.
    #[test]
    fn the_largest_checkpoint_fits_under_the_cap() {
        let dir = temp_dir("big");
        let path = dir.join("c.ckpt");
        let part_size = super::super::MAX_PART_SIZE;
        let parts = super::super::MAX_PARTS;
        let file = FileIdentity {
            size: part_size * u64::from(parts),
            mtime_ns: u128::MAX.to_string(),
            file_id: format!("{}:{}", u64::MAX, u64::MAX),
        };
        let empty = Checkpoint::new(
            &"b".repeat(63),
            &"b".repeat(63),
            "oss-cn-hangzhou-internal.aliyuncs.com:65535",
            &"\"".repeat(1023),
            "=".repeat(MAX_UPLOAD_ID_LEN),
            part_size,
            file,
        );
        let widest = |number| DonePart {
            number,
            etag: "\\".repeat(MAX_ETAG_LEN),
            crc64: u64::MAX.to_string(),
            size: part_size,
        };
        let mut journal = Journal::create(&path, &empty).unwrap();
        journal.sync = false;
        let mut full = empty.clone();
        for number in 1..=parts {
            journal.append(&widest(number)).unwrap();
            full.record(widest(number));
        }
        let in_records = journal.bytes_written();
        drop(journal);
        save(&full, &path).unwrap();
        let compacted = fs::metadata(&path).unwrap().len();
        println!("largest: {in_records} bytes in records, {compacted} compacted");
        for len in [in_records, compacted] {
            assert!(len <= MAX_CHECKPOINT_BYTES, "{len} bytes");
        }
        match Checkpoint::load(&path).unwrap() {
            Loaded::Found(back) => assert_eq!(*back, full),
            other => panic!("{other:?}"),
        }
        // What could not stay under the cap is refused before it is written.
        let mut too_long = empty.clone();
        too_long.endpoint = "e".repeat(4 << 20);
        match Journal::create(&path, &too_long) {
            Err(Error::LocalIo { reason, .. }) => {
                assert!(reason.contains("could grow"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Checkpoint::load(&path).unwrap(), Loaded::Found(_)));
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
        assert!(save(&sample(), &path).is_err(), "a directory is in the way");
        let mut left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["c.json", "c.json.tmp"]);
        assert_eq!(fs::read(dir.join("c.json.tmp")).unwrap(), b"mine");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// What recording a part costs does not grow with the parts before it:
    /// one record of at most MAX_RECORD_LEN bytes (the whole state was
    /// rewritten before: ~7.5 GB over 10,000 parts). PARTS=10000 prints the
    /// figures for the largest upload (`--nocapture`).
    #[test]
    fn recording_a_part_costs_one_small_record() {
        let parts: u32 = std::env::var("PARTS").map_or(1000, |p| p.parse().unwrap());
        let dir = temp_dir("cost");
        let path = dir.join("c.ckpt");
        let state = upload_of(parts);
        let mut journal = Journal::create(&path, &state).unwrap();
        let header = journal.bytes_written();
        journal.sync = false; // the count is the point here, not the disk
        let mut expected = state.clone();
        for number in 1..=parts {
            let part = oss_part(number, state.part_size);
            journal.append(&part).unwrap();
            expected.record(part);
        }
        let total = journal.bytes_written();
        let per_part = (total - header) / u64::from(parts);
        println!("{parts} parts: {total} bytes written ({header} header, {per_part} per part)");
        assert!(
            per_part <= MAX_RECORD_LEN as u64,
            "{per_part} bytes per part"
        );
        drop(journal);
        match Checkpoint::load(&path).unwrap() {
            Loaded::Found(back) => assert_eq!(*back, expected),
            other => panic!("{other:?}"),
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// What the previous version left is resumed from, then rewritten in
    /// this format (its next part is one record, not a rewrite).
    #[test]
    fn a_checkpoint_of_the_previous_format_is_resumed() {
        let dir = temp_dir("v1");
        let path = dir.join("c.ckpt");
        let mut v1 = serde_json::to_value(sample()).unwrap();
        v1["format"] = "ens-upload-checkpoint/1".into();
        fs::write(&path, serde_json::to_vec_pretty(&v1).unwrap()).unwrap();
        let Loaded::Found(back) = Checkpoint::load(&path).unwrap() else {
            panic!("not resumed")
        };
        assert_eq!(*back, sample());
        let mut journal = Journal::create(&path, &back).unwrap();
        let part2 = DonePart {
            number: 2,
            etag: "\"B\"".into(),
            crc64: "2".into(),
            size: 100,
        };
        journal.append(&part2).unwrap();
        drop(journal);
        let text = String::from_utf8(fs::read(&path).unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"format":"ens-upload-checkpoint/2","#),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2, "{text}");
        let mut expected = sample();
        expected.record(part2);
        match Checkpoint::load(&path).unwrap() {
            Loaded::Found(back) => assert_eq!(*back, expected),
            other => panic!("{other:?}"),
        }
        // A previous-format file that is not consistent starts over.
        v1["parts"][0]["size"] = 99.into();
        fs::write(&path, serde_json::to_vec_pretty(&v1).unwrap()).unwrap();
        assert!(matches!(
            Checkpoint::load(&path).unwrap(),
            Loaded::Damaged(_)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A crash mid-append leaves a last record cut short or with a wrong
    /// check: it and anything after it are ignored, the rest is used.
    #[test]
    fn a_torn_last_record_is_ignored() {
        let dir = temp_dir("torn");
        let path = dir.join("c.ckpt");
        let mut c = sample();
        c.parts.clear();
        let part = |number: u32, size: u64| DonePart {
            number,
            etag: format!("\"E{number}\""),
            crc64: (u64::from(number) * 11).to_string(),
            size,
        };
        let mut journal = Journal::create(&path, &c).unwrap();
        journal.append(&part(2, 100)).unwrap();
        drop(journal);
        let good = fs::read(&path).unwrap();
        let third = encode_record(&part(3, 50));
        let with_part = |tail: &[u8]| {
            let mut bytes = good.clone();
            bytes.extend_from_slice(tail);
            fs::write(&path, &bytes).unwrap();
            match Checkpoint::load(&path).unwrap() {
                Loaded::Found(back) => back.parts.iter().map(|p| p.number).collect::<Vec<_>>(),
                other => panic!("{tail:?}: {other:?}"),
            }
        };
        assert_eq!(with_part(third.as_bytes()), [2, 3]);
        // Cut anywhere: the part is not listed.
        for cut in [1, 10, third.len() - 1] {
            assert_eq!(with_part(&third.as_bytes()[..cut]), [2], "cut at {cut}");
        }
        // A changed byte fails the check; what follows it is not used.
        let flipped = third.replace("p 3 50", "p 3 51");
        assert_eq!(with_part(flipped.as_bytes()), [2]);
        let after = format!("{flipped}{}", encode_record(&part(1, 100)));
        assert_eq!(with_part(after.as_bytes()), [2]);
        assert_eq!(with_part(b"\0\0\0\0\n"), [2]);
        // A whole record that contradicts the header was not written by us.
        fs::write(
            &path,
            [&good[..], encode_record(&part(4, 100)).as_bytes()].concat(),
        )
        .unwrap();
        assert!(matches!(
            Checkpoint::load(&path).unwrap(),
            Loaded::Damaged(_)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
