//! Multipart upload: InitiateMultipartUpload, UploadPart on worker threads,
//! CompleteMultipartUpload; resumed from a checkpoint when there is one.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::crc64;
use crate::error::{Error, Result};

use super::checkpoint::{self, part_len, Checkpoint, DonePart, Loaded};
use super::journal::Journal;
use super::oss::{Call, Hints, Payload};
use super::progress::{Body, Event, Reporter, Shared};
use super::source::{part_count, part_offset, Source};
use super::{strip_quotes, verify_crc, workers, xml, Finished, Job};

/// Uploads `source` in parts of `part_size` bytes. With `checkpoint`, an
/// upload of the same file to the same place resumes, progress is saved
/// after every part, and the file is removed once the object is complete.
/// Without one, a failed or cancelled upload is aborted on the server.
///
/// A state that came from the checkpoint (with or without finished parts:
/// it is saved right after InitiateMultipartUpload) whose upload the server
/// no longer knows starts over, once, with a new upload. The checkpoint is
/// removed on success as best it can be: the object is stored, so failing
/// to remove it is not an error. A later call with that checkpoint finds
/// every part done, completes, hears `NoSuchUpload` and confirms the stored
/// object with HeadObject (same size and CRC-64) without sending it again.
pub(crate) fn upload(
    job: &Job<'_>,
    source: &Source<'_>,
    part_size: u64,
    checkpoint: Option<&Path>,
    reporter: &mut Reporter<'_>,
) -> Result<Finished> {
    let mut restarted = false;
    loop {
        let start = start_or_resume(job, source, part_size, checkpoint, !restarted)?;
        let mut state = start.state;
        let mut journal = start.journal;
        let result = send_parts_and_complete(
            job,
            source,
            &mut state,
            journal.as_mut(),
            start.from_checkpoint,
            reporter,
        );
        // Closed before the file may be removed below.
        drop(journal);
        match result {
            // The server no longer knows the upload (expired or aborted), or
            // a resumed part: start over, once.
            Err(e) if start.from_checkpoint && !restarted && is_stale_upload(&e) => {
                if let Some(path) = checkpoint {
                    log::info!(
                        "checkpoint {}: the server no longer knows upload {} ({}); \
                         starting over with a new upload",
                        path.display(),
                        state.upload_id,
                        e.code().unwrap_or_default()
                    );
                }
                if e.code() == Some("InvalidPart") {
                    // The upload itself may still hold parts: free them.
                    abort(job, &state.key, &state.upload_id);
                }
                if let Some(path) = checkpoint {
                    // Best effort: the next start writes over it anyway.
                    remove_checkpoint(path);
                }
                restarted = true;
            }
            Err(e) => {
                if checkpoint.is_none() {
                    abort(job, &state.key, &state.upload_id);
                }
                return Err(e);
            }
            Ok(mut done) => {
                if let Some(path) = checkpoint {
                    // The object is stored: a checkpoint left behind is
                    // handled by the next call (see above), not an error.
                    remove_checkpoint(path);
                }
                done.resumed_parts = start.resumed_parts;
                return Ok(done);
            }
        }
    }
}

/// After a single PutObject stored the object: a checkpoint a multipart
/// attempt at it left is moot. Its upload is aborted (best effort, when it
/// lives where this one went) so no parts stay billed on the server, and
/// the checkpoint (or an empty file) is removed, best effort: the object is
/// stored. A file that is not a checkpoint is left alone.
pub(crate) fn discard_checkpoint(job: &Job<'_>, path: &Path) {
    match Checkpoint::load(path) {
        Ok(Loaded::Found(old)) => {
            log::info!(
                "checkpoint {}: the object went in one PutObject; removing the checkpoint \
                 of upload {}",
                path.display(),
                old.upload_id
            );
            let target = &job.oss.target;
            if old.bucket == target.bucket && old.endpoint == target.endpoint {
                abort(job, &old.key, &old.upload_id);
            }
            remove_checkpoint(path);
        }
        // Damaged or empty.
        Ok(Loaded::Damaged(_) | Loaded::Missing) => remove_checkpoint(path),
        Ok(Loaded::Foreign) | Err(_) => {}
    }
}

/// Removes the checkpoint, best effort: a failure is logged, and the next
/// call deals with what is left.
fn remove_checkpoint(path: &Path) {
    if let Err(e) = Checkpoint::remove(path) {
        log::warn!("{e} (left behind; the next upload with it deals with it)");
    }
}

/// Where an upload starts from.
struct Start {
    state: Checkpoint,
    /// The checkpoint, written and open to append to (with a checkpoint).
    journal: Option<Journal>,
    /// Whether `state` was read from the checkpoint (rather than made by a
    /// new InitiateMultipartUpload).
    from_checkpoint: bool,
    /// How many finished parts it listed.
    resumed_parts: u32,
}

/// The checkpoint to go on from (when `may_resume`), or a new upload.
fn start_or_resume(
    job: &Job<'_>,
    source: &Source<'_>,
    part_size: u64,
    checkpoint: Option<&Path>,
    may_resume: bool,
) -> Result<Start> {
    let target = &job.oss.target;
    if let Some(path) = checkpoint.filter(|_| may_resume) {
        match Checkpoint::load(path)? {
            Loaded::Found(old) => {
                let buffer_identity;
                let identity = match source {
                    Source::File { identity, .. } => Some(identity),
                    Source::Buffer(_) => {
                        buffer_identity = memory_identity(job.size);
                        Some(&buffer_identity)
                    }
                    Source::Reader(_) => None,
                };
                let mismatch = old.mismatch(
                    job.bucket_asked,
                    &target.bucket,
                    &target.endpoint,
                    job.key,
                    identity,
                );
                if mismatch.is_none() {
                    old.check_object_headers(path, &job.object.fingerprint(job.key))?;
                }
                let why = match mismatch {
                    Some(why) => why,
                    None if source.parts_unchanged(&old.parts, old.part_size)? => {
                        let resumed_parts = u32::try_from(old.parts.len()).unwrap_or(u32::MAX);
                        log::info!(
                            "checkpoint {}: resuming upload {} with {resumed_parts} of {} parts done",
                            path.display(),
                            old.upload_id,
                            part_count(old.file.size, old.part_size)
                        );
                        // Compacted: what was read becomes the new header.
                        let journal = Journal::create(path, &old)?;
                        return Ok(Start {
                            state: *old,
                            journal: Some(journal),
                            from_checkpoint: true,
                            resumed_parts,
                        });
                    }
                    None => "the file changed (the bytes of a finished part differ)",
                };
                log::info!(
                    "checkpoint {}: starting over, its upload {} is stale: {why}",
                    path.display(),
                    old.upload_id
                );
                // Stale: free what the old upload holds on the server, if we can reach it.
                if old.bucket == target.bucket && old.endpoint == target.endpoint {
                    abort(job, &old.key, &old.upload_id);
                }
            }
            // Checked before anything was sent; this is a file that
            // appeared since. Never written over.
            Loaded::Foreign => return Err(checkpoint::foreign(path)),
            Loaded::Damaged(why) => {
                log::info!(
                    "checkpoint {}: starting over, it is damaged ({why})",
                    path.display()
                );
            }
            Loaded::Missing => {}
        }
    }
    let upload_id = initiate(job)?;
    let identity = match source {
        Source::File { identity, .. } => identity.clone(),
        Source::Buffer(_) => memory_identity(job.size),
        Source::Reader(_) => super::checkpoint::FileIdentity {
            size: job.size,
            mtime_ns: String::new(),
            file_id: String::new(),
        },
    };
    let mut state = Checkpoint::new(
        job.bucket_asked,
        &target.bucket,
        &target.endpoint,
        job.key,
        upload_id,
        part_size,
        identity,
    );
    state.object_headers = job.object.fingerprint(job.key);
    if let Some(path) = checkpoint {
        log::info!(
            "checkpoint {}: new upload {} of {} parts",
            path.display(),
            state.upload_id,
            part_count(job.size, part_size)
        );
    }
    let journal = match checkpoint.map(|path| Journal::create(path, &state)) {
        Some(Err(e)) => {
            abort(job, &state.key, &state.upload_id);
            return Err(e);
        }
        Some(Ok(journal)) => Some(journal),
        None => None,
    };
    Ok(Start {
        state,
        journal,
        from_checkpoint: false,
        resumed_parts: 0,
    })
}

fn is_stale_upload(e: &Error) -> bool {
    matches!(e.code(), Some("NoSuchUpload" | "InvalidPart"))
}

/// Sends every part the state does not list yet, then completes.
fn send_parts_and_complete(
    job: &Job<'_>,
    source: &Source<'_>,
    state: &mut Checkpoint,
    mut journal: Option<&mut Journal>,
    from_checkpoint: bool,
    reporter: &mut Reporter<'_>,
) -> Result<Finished> {
    let part_size = state.part_size;
    let count = part_count(job.size, part_size);
    let pending: VecDeque<u32> = (1..=count)
        .filter(|n| state.parts.binary_search_by_key(n, |p| p.number).is_err())
        .collect();
    let already: u64 = state.parts.iter().map(|p| p.size).sum();
    let shared = Shared::starting_at(already);
    let threads = job.threads.min(pending.len()).max(1);
    let pending = Mutex::new(pending);
    let upload_id = state.upload_id.clone();
    workers::run(
        threads,
        &shared,
        reporter,
        |events| {
            part_worker(
                job, source, &upload_id, part_size, &pending, &shared, events,
            )
        },
        |part| part.size,
        |part| {
            if let Some(journal) = journal.as_deref_mut() {
                journal.append(&part)?;
            }
            state.record(part);
            Ok(())
        },
    )?;
    // The last check before the object is made: a file that changed
    // after its parts were read must not be completed.
    source.check_unchanged()?;
    complete(job, state, from_checkpoint, &shared.cancel)
}

/// Takes parts until none is left, the upload stopped, or one failed.
fn part_worker(
    job: &Job<'_>,
    source: &Source<'_>,
    upload_id: &str,
    part_size: u64,
    pending: &Mutex<VecDeque<u32>>,
    shared: &Shared,
    events: &std::sync::mpsc::Sender<Event<DonePart>>,
) {
    let mut buf = Vec::new();
    loop {
        if shared.stop.load(Ordering::SeqCst) || shared.cancel.load(Ordering::SeqCst) {
            return;
        }
        let number = match source.next_part(pending, job.size, part_size, &mut buf) {
            None => return,
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                let _ = events.send(Event::Failed(e));
                return;
            }
        };
        match upload_part(
            job, source, upload_id, part_size, number, &buf, shared, events,
        ) {
            Ok(done) => {
                let _ = events.send(Event::Done(done));
            }
            Err(e) => {
                let _ = events.send(Event::Failed(e));
                return;
            }
        }
    }
}

/// One UploadPart, retried as the policy says, each attempt re-reading the
/// part (from the file at its offset, or from the buffer).
#[allow(clippy::too_many_arguments)]
fn upload_part(
    job: &Job<'_>,
    source: &Source<'_>,
    upload_id: &str,
    part_size: u64,
    number: u32,
    buf: &[u8],
    shared: &Shared,
    events: &std::sync::mpsc::Sender<Event<DonePart>>,
) -> Result<DonePart> {
    let len = part_len(job.size, part_size, number);
    let call = Call {
        method: "PUT",
        key: job.key,
        query: vec![
            ("partNumber", Some(number.to_string())),
            ("uploadId", Some(upload_id.to_owned())),
        ],
        content_type: "",
        headers: Vec::new(),
    };
    let what = format!("part {number}");
    let mut high_water = 0u64;
    job.oss.retrying(None, &shared.cancel, |attempt| {
        let mut file;
        let mut slice;
        let src: &mut dyn Read = match source {
            Source::File { path, .. } => {
                let offset = part_offset(part_size, number);
                match Source::open_range(path, offset, len) {
                    Ok(f) => {
                        file = f;
                        &mut file
                    }
                    Err(e) => return (Err(e), Hints::default()),
                }
            }
            Source::Reader(_) => {
                slice = buf;
                &mut slice
            }
            Source::Buffer(data) => {
                let offset = part_offset(part_size, number);
                match super::source::buffer_range(data, offset, len) {
                    Some(bytes) => {
                        slice = bytes;
                        &mut slice
                    }
                    None => return (Err(buffer_too_short(source, number)), Hints::default()),
                }
            }
        };
        let mut body =
            Body::new(src, len, &mut high_water, false, shared, events).paced(&job.limits);
        let (result, hints) = job
            .oss
            .send(&call, Payload::Stream(&mut body, len), attempt);
        if let Some(failure) = body.take_failure() {
            return (Err(failure.into_error(source.label())), hints);
        }
        let crc = body.crc64();
        let checked = result.and_then(|reply| {
            verify_crc(&reply, crc, &what)?;
            source.check_unchanged()?;
            let etag = reply.etag.ok_or_else(|| missing("ETag", &what))?;
            checkpoint::check_etag(&etag, &what)?;
            Ok(DonePart {
                number,
                etag,
                crc64: crc.to_string(),
                size: len,
            })
        });
        (checked, hints)
    })
}

/// InitiateMultipartUpload: the new upload's id.
fn initiate(job: &Job<'_>) -> Result<String> {
    let call = Call {
        method: "POST",
        key: job.key,
        query: vec![("uploads", None)],
        content_type: job.content_type,
        headers: job.object.headers(),
    };
    let deadline = job.oss.control_deadline();
    let never = AtomicBool::new(false);
    let reply = job.oss.retrying(Some(deadline), &never, |left| {
        job.oss.send(&call, Payload::Empty, left)
    })?;
    let body = String::from_utf8_lossy(&reply.body);
    match xml::text(&body, "UploadId") {
        Some(id) if !id.is_empty() => checkpoint::check_upload_id(&id).map(|()| id),
        _ => Err(crate::response::decode_error(
            200,
            &reply.body,
            "InitiateMultipartUpload answer without an UploadId",
        )),
    }
}

/// CompleteMultipartUpload with every part, then the whole object's CRC-64
/// (combined from the parts') checked against the server's. A retry, or a
/// completion of a state read from a checkpoint (an earlier call may have
/// completed it and failed to remove the checkpoint), that finds the upload
/// gone asks HeadObject whether that earlier attempt made the object.
fn complete(
    job: &Job<'_>,
    state: &Checkpoint,
    from_checkpoint: bool,
    cancel: &AtomicBool,
) -> Result<Finished> {
    let mut body = String::from("<CompleteMultipartUpload>");
    let mut crc = 0u64;
    for p in &state.parts {
        body.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
            p.number,
            xml::escape_text(&p.etag)
        ));
        crc = crc64::combine(crc, p.crc().unwrap_or_default(), p.size);
    }
    body.push_str("</CompleteMultipartUpload>");
    let call = Call {
        method: "POST",
        key: job.key,
        query: vec![("uploadId", Some(state.upload_id.clone()))],
        content_type: "application/xml",
        headers: job.object.forbid_overwrite_header().into_iter().collect(),
    };
    let deadline = job.oss.control_deadline();
    let mut tries = 0;
    let reply = job.oss.retrying(Some(deadline), cancel, |left| {
        tries += 1;
        let (result, hints) = job.oss.send(&call, Payload::Bytes(body.as_bytes()), left);
        match result {
            Err(e) if (tries > 1 || from_checkpoint) && e.code() == Some("NoSuchUpload") => {
                match head(job, left) {
                    Ok(h) if h.crc64 == Some(crc) && h.content_length == Some(job.size) => {
                        (Ok(h), hints)
                    }
                    _ => (Err(e), hints),
                }
            }
            other => (other, hints),
        }
    })?;
    verify_crc(&reply, crc, "object")?;
    let xml_body = String::from_utf8_lossy(&reply.body);
    let etag = xml::text(&xml_body, "ETag")
        .or(reply.etag.clone())
        .ok_or_else(|| missing("ETag", "object"))?;
    Ok(Finished {
        etag: strip_quotes(&etag).to_owned(),
        crc64: crc,
        request_id: reply.request_id,
        upload_id: Some(state.upload_id.clone()),
        parts: u32::try_from(state.parts.len()).unwrap_or(u32::MAX),
        resumed_parts: 0,
    })
}

/// HeadObject, once.
pub(super) fn head(job: &Job<'_>, attempt: crate::http::Attempt) -> Result<super::oss::Reply> {
    let call = Call {
        method: "HEAD",
        key: job.key,
        query: Vec::new(),
        content_type: "",
        headers: Vec::new(),
    };
    job.oss.send(&call, Payload::Empty, attempt).0
}

/// AbortMultipartUpload, best effort: what is left behind only costs
/// storage until the bucket's lifecycle rule clears it.
fn abort(job: &Job<'_>, key: &str, upload_id: &str) {
    let call = Call {
        method: "DELETE",
        key,
        query: vec![("uploadId", Some(upload_id.to_owned()))],
        content_type: "",
        headers: Vec::new(),
    };
    let deadline = job.oss.control_deadline();
    let never = AtomicBool::new(false);
    let aborted = job.oss.retrying(Some(deadline), &never, |left| {
        job.oss.send(&call, Payload::Empty, left)
    });
    if let Err(e) = aborted {
        // The same scrubbing as the errors the upload returns.
        let e = job.oss.credentials.scrub(e);
        log::warn!(
            "could not abort multipart upload {upload_id} of {key:?}: {e} (its parts \
             stay on the server until a lifecycle rule of the bucket removes them)"
        );
    }
}

fn missing(header: &str, what: &str) -> Error {
    Error::Decode {
        status: 200,
        reason: format!("the answer for {what} has no {header}"),
        body_prefix: String::new(),
        attempts: 1,
    }
}

/// What a checkpoint records for a buffer: its size, and that it is one.
fn memory_identity(size: u64) -> checkpoint::FileIdentity {
    checkpoint::FileIdentity {
        size,
        mtime_ns: String::new(),
        file_id: super::source::BUFFER_ID.to_owned(),
    }
}

/// A part outside the buffer: its length was checked at the start, so
/// only a bug gets here; an error rather than a panic.
fn buffer_too_short(source: &Source<'_>, number: u32) -> Error {
    Error::LocalIo {
        source: None,
        path: source.label().to_owned(),
        reason: format!("holds no part {number}"),
        kind: std::io::ErrorKind::UnexpectedEof,
    }
}
