//! The OSS side's storage: objects and multipart uploads, their bytes in
//! files of a temporary directory (removed when the emulator stops), or of
//! a data directory kept across runs (`persist.rs`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::super::prepare_upload::physical_bucket;
use super::super::{lock, Emulator};
use super::meta::ObjectMeta;
use super::persist::{self, DataDir, Op};

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
    /// Its user metadata, tags, storage class and headers.
    pub meta: ObjectMeta,
}

pub(super) struct StoredPart {
    pub(super) path: PathBuf,
    pub(super) size: u64,
    pub(super) crc64: u64,
    pub(super) etag: String,
    /// When it was stored, Unix seconds by the emulator's clock.
    pub(super) modified: i64,
}

pub(super) struct Upload {
    pub(super) bucket: String,
    pub(super) key: String,
    pub(super) content_type: String,
    /// What the object is created with (sent with the initiate).
    pub(super) meta: ObjectMeta,
    pub(super) parts: BTreeMap<u32, StoredPart>,
}

#[derive(Default)]
pub(super) struct OssState {
    pub(super) objects: HashMap<(String, String), StoredObject>,
    pub(super) uploads: HashMap<String, Upload>,
}

/// The OSS side's objects and uploads, their files in a directory of ours.
pub(in crate::emulator) struct OssStore {
    dir: PathBuf,
    pub(super) state: Mutex<OssState>,
    next_file: AtomicU64,
    /// The data directory's log, when the store is kept across runs.
    kept: Option<Mutex<DataDir>>,
}

impl OssStore {
    /// A store in `data_dir`, kept across runs, or (`None`) in a temporary
    /// directory removed when the emulator stops.
    pub(in crate::emulator) fn open(data_dir: Option<&Path>) -> io::Result<OssStore> {
        let Some(dir) = data_dir else {
            return Ok(OssStore::new());
        };
        let (kept, state) = DataDir::open(dir)?;
        let next = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| persist::body_file_number(&e.path()))
            .max()
            .map_or(0, |n| n + 1);
        Ok(OssStore {
            dir: dir.to_owned(),
            state: Mutex::new(state),
            next_file: AtomicU64::new(next),
            kept: Some(Mutex::new(kept)),
        })
    }

    /// Records a change in the data directory, if the store is kept (call
    /// it while holding the state's lock, so the log has the state's order).
    pub(super) fn record(&self, op: impl FnOnce() -> Op) {
        if let Some(kept) = &self.kept {
            lock(kept).record(&op());
        }
    }

    /// Where the bodies are stored.
    pub(in crate::emulator) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory is made on the first write, so an emulator that never
    /// stores anything leaves nothing behind even if it is never dropped.
    fn new() -> OssStore {
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
            kept: None,
        }
    }

    pub(super) fn new_file(&self, prefix: &str) -> PathBuf {
        let n = self.next_file.fetch_add(1, Ordering::SeqCst);
        // A failure shows when the file is created.
        let _ = fs::create_dir_all(&self.dir);
        self.dir.join(format!("{prefix}-{n}"))
    }

    /// Deletes every stored byte (the emulator stopped), unless the store
    /// is kept in a data directory: then only its lock goes.
    pub(in crate::emulator) fn remove_files(&self) {
        match &self.kept {
            Some(kept) => lock(kept).release(),
            None => {
                let _ = fs::remove_dir_all(&self.dir);
            }
        }
    }
}

/// Whether process `pid` is running (Linux `/proc`; elsewhere every
/// process counts as running). A zombie (killed, not yet reaped) is gone.
pub(super) fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
    state.is_some_and(|c| c != 'Z' && c != 'X')
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
        if !process_alive(pid) && entry.file_type().is_ok_and(|t| t.is_dir()) {
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
    /// The directory holding the uploaded bodies: the data directory given
    /// to [`EmulatorBuilder::data_dir`](super::super::EmulatorBuilder::data_dir),
    /// or a temporary directory removed when the emulator stops (made on the
    /// first upload).
    pub fn storage_dir(&self) -> &Path {
        self.shared.oss.dir()
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
}
