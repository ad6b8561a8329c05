//! A data directory that keeps the OSS side's objects and unfinished
//! multipart uploads across runs ([`EmulatorBuilder::data_dir`]), so an
//! upload interrupted with the emulator can resume against the next one.
//!
//! The bodies are files in the directory; `store.log` records every change
//! as one JSON line (an object stored, an upload started, a part stored, an
//! upload completed or aborted). A run replays the log, then rewrites it
//! compacted and removes body files nothing refers to (one being received
//! when the last run was killed). A torn last line is skipped. `port` keeps
//! the port the last run listened on, and `lock` the process id of the run
//! using the directory: two emulators never share one.
//!
//! [`EmulatorBuilder::data_dir`]: crate::emulator::EmulatorBuilder::data_dir

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;
use super::store::{OssState, StoredObject, StoredPart, Upload};

const LOG: &str = "store.log";
const LOCK: &str = "lock";
const PORT: &str = "port";

/// One change to the store, as a line of `store.log`. Files are named
/// relative to the directory.
#[derive(Serialize, Deserialize)]
pub(super) enum Op {
    /// An object was stored (replacing any of that bucket and key).
    Object {
        bucket: String,
        key: String,
        size: u64,
        crc64: u64,
        etag: String,
        content_type: String,
        files: Vec<String>,
        /// Absent in logs written before metadata was kept.
        #[serde(default)]
        meta: ObjectMeta,
    },
    /// A multipart upload was started.
    Initiate {
        id: String,
        bucket: String,
        key: String,
        content_type: String,
        #[serde(default)]
        meta: ObjectMeta,
    },
    /// A part was stored (replacing any of that number).
    Part {
        id: String,
        number: u32,
        file: String,
        size: u64,
        crc64: u64,
        etag: String,
        modified: i64,
    },
    /// An upload was completed or aborted.
    Forget { id: String },
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Op {
    pub(super) fn object(bucket: &str, key: &str, o: &StoredObject) -> Op {
        Op::Object {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size: o.size,
            crc64: o.crc64,
            etag: o.etag.clone(),
            content_type: o.content_type.clone(),
            files: o.files.iter().map(|f| name_of(f)).collect(),
            meta: o.meta.clone(),
        }
    }

    pub(super) fn initiate(id: &str, u: &Upload) -> Op {
        Op::Initiate {
            id: id.to_owned(),
            bucket: u.bucket.clone(),
            key: u.key.clone(),
            content_type: u.content_type.clone(),
            meta: u.meta.clone(),
        }
    }

    pub(super) fn part(id: &str, number: u32, p: &StoredPart) -> Op {
        Op::Part {
            id: id.to_owned(),
            number,
            file: name_of(&p.path),
            size: p.size,
            crc64: p.crc64,
            etag: p.etag.clone(),
            modified: p.modified,
        }
    }

    /// Applies the change to `state`, files under `dir`.
    fn apply(self, state: &mut OssState, dir: &Path) {
        match self {
            Op::Object {
                bucket,
                key,
                size,
                crc64,
                etag,
                content_type,
                files,
                meta,
            } => {
                let files = files.iter().map(|f| dir.join(f)).collect();
                let object = StoredObject {
                    size,
                    crc64,
                    etag,
                    content_type,
                    files,
                    meta,
                };
                state.objects.insert((bucket, key), object);
            }
            Op::Initiate {
                id,
                bucket,
                key,
                content_type,
                meta,
            } => {
                let upload = Upload {
                    bucket,
                    key,
                    content_type,
                    meta,
                    parts: BTreeMap::new(),
                };
                state.uploads.insert(id, upload);
            }
            Op::Part {
                id,
                number,
                file,
                size,
                crc64,
                etag,
                modified,
            } => {
                // A part of an upload completed or aborted meanwhile is dropped.
                if let Some(upload) = state.uploads.get_mut(&id) {
                    let part = StoredPart {
                        path: dir.join(file),
                        size,
                        crc64,
                        etag,
                        modified,
                    };
                    upload.parts.insert(number, part);
                }
            }
            Op::Forget { id } => {
                state.uploads.remove(&id);
            }
        }
    }
}

/// The open data directory of a running emulator.
pub(super) struct DataDir {
    pub(super) dir: PathBuf,
    log: File,
}

impl DataDir {
    /// Takes the directory for this process (creating it), replays its
    /// log into a state, and compacts it. Fails when another live process
    /// holds it.
    pub(super) fn open(dir: &Path) -> io::Result<(DataDir, OssState)> {
        fs::create_dir_all(dir)?;
        take_lock(dir)?;
        let mut state = OssState::default();
        if let Ok(file) = File::open(dir.join(LOG)) {
            for line in BufReader::new(file).split(b'\n') {
                // A torn or foreign line ends the replay there.
                let Ok(op) = serde_json::from_slice::<Op>(&line?) else {
                    break;
                };
                op.apply(&mut state, dir);
            }
        }
        // Every object and upload whose files are all there; the rest is
        // forgotten (a file removed by hand).
        state
            .objects
            .retain(|_, o| o.files.iter().all(|f| f.is_file()));
        for upload in state.uploads.values_mut() {
            upload.parts.retain(|_, p| p.path.is_file());
        }
        compact(dir, &state)?;
        remove_unreferenced(dir, &state);
        let log = OpenOptions::new().append(true).open(dir.join(LOG))?;
        Ok((
            DataDir {
                dir: dir.to_owned(),
                log,
            },
            state,
        ))
    }

    /// Appends one change (the caller holds the state's lock, so the log's
    /// order is the state's). A failed write is reported once per line on
    /// stderr: the emulator goes on, without that change kept.
    pub(super) fn record(&mut self, op: &Op) {
        let mut line = serde_json::to_vec(op).unwrap_or_default();
        line.push(b'\n');
        if let Err(e) = self.log.write_all(&line) {
            eprintln!(
                "ens emulator: cannot write {}: {e}",
                self.dir.join(LOG).display()
            );
        }
    }

    /// Gives the directory up (the lock file goes; the data stays).
    pub(super) fn release(&self) {
        let _ = fs::remove_file(self.dir.join(LOCK));
    }
}

/// The port the last emulator on `dir` listened on, if any.
pub(crate) fn saved_port(dir: &Path) -> Option<u16> {
    fs::read_to_string(dir.join(PORT)).ok()?.trim().parse().ok()
}

/// Keeps `port` for the next emulator on `dir` (best effort).
pub(crate) fn save_port(dir: &Path, port: u16) {
    let _ = fs::write(dir.join(PORT), format!("{port}\n"));
}

/// Writes the lock file with this process's id; one left by a process that
/// is gone is taken over.
fn take_lock(dir: &Path) -> io::Result<()> {
    let path = dir.join(LOCK);
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => return f.write_all(std::process::id().to_string().as_bytes()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                match holder.trim().parse::<u32>() {
                    Ok(pid) if super::store::process_alive(pid) => {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            format!(
                                "{} is in use by another emulator (process {pid}); stop it or use another data directory",
                                dir.display()
                            ),
                        ));
                    }
                    _ => {
                        fs::remove_file(&path)?;
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "cannot take the lock file {}",
        path.display()
    )))
}

/// Rewrites the log as the state's snapshot (temporary file, rename).
fn compact(dir: &Path, state: &OssState) -> io::Result<()> {
    let tmp = dir.join(format!("{LOG}.tmp"));
    let mut out = io::BufWriter::new(File::create(&tmp)?);
    let mut write = |op: Op| -> io::Result<()> {
        serde_json::to_writer(&mut out, &op)?;
        out.write_all(b"\n")
    };
    for ((bucket, key), object) in &state.objects {
        write(Op::object(bucket, key, object))?;
    }
    for (id, upload) in &state.uploads {
        write(Op::initiate(id, upload))?;
        for (number, part) in &upload.parts {
            write(Op::part(id, *number, part))?;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    fs::rename(&tmp, dir.join(LOG))
}

/// Removes the body files (`<kind>-<n>`) no object or part refers to.
fn remove_unreferenced(dir: &Path, state: &OssState) {
    let mut used: HashSet<PathBuf> = HashSet::new();
    for object in state.objects.values() {
        used.extend(object.files.iter().cloned());
    }
    for upload in state.uploads.values() {
        used.extend(upload.parts.values().map(|p| p.path.clone()));
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if body_file_number(&path).is_some() && !used.contains(&path) {
            let _ = fs::remove_file(path);
        }
    }
}

/// `n` of a body file named `<kind>-<n>` (what `OssStore::new_file` makes).
pub(super) fn body_file_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let (kind, n) = name.rsplit_once('-')?;
    if !["object", "part", "complete"].contains(&kind) {
        return None;
    }
    n.parse().ok()
}
