//! A single `PutObject`: the whole object in one streamed request.

use std::io::Read;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};

use super::oss::{Call, Hints, Payload};
use super::progress::{Body, Reporter, Shared};
use super::source::Source;
use super::{verify_crc, workers, Finished, Job};

/// Uploads the whole source with one `PutObject`, retried as the policy
/// says (a file is re-read from the start; a reader only if nothing of it
/// was consumed yet), and checks the server's CRC-64.
pub(crate) fn put_object(
    job: &Job<'_>,
    source: &Source<'_>,
    reporter: &mut Reporter<'_>,
) -> Result<Finished> {
    let shared = Shared::default();
    let mut finished = None;
    workers::run(
        1,
        &shared,
        reporter,
        |events| {
            let call = Call {
                method: "PUT",
                key: job.key,
                query: Vec::new(),
                content_type: job.content_type,
                headers: job.object.headers(),
            };
            let mut high_water = 0u64;
            let mut tries = 0u32;
            let result = job.oss.retrying(None, &shared.cancel, |attempt| {
                tries += 1;
                let mut file;
                let mut reader_guard;
                let mut slice: &[u8];
                let (src, must_end): (&mut dyn Read, bool) = match source {
                    Source::File { path, .. } => match Source::open_range(path, 0, job.size) {
                        Ok(f) => {
                            file = f;
                            (&mut file, false)
                        }
                        Err(e) => return (Err(e), Hints::default()),
                    },
                    Source::Buffer(data) => {
                        slice = *data;
                        (&mut slice, false)
                    }
                    Source::Reader(state) => {
                        reader_guard = state.lock().unwrap_or_else(|p| p.into_inner());
                        (&mut *reader_guard.reader, true)
                    }
                };
                let mut body = Body::new(src, job.size, &mut high_water, must_end, &shared, events)
                    .paced(&job.limits);
                let (result, mut hints) =
                    job.oss
                        .send(&call, Payload::Stream(&mut body, job.size), attempt);
                if let Some(failure) = body.take_failure() {
                    return (Err(failure.into_error(source.label())), hints);
                }
                // A reader cannot be rewound: once read from, no second attempt.
                hints.final_attempt = must_end && body.bytes_read() > 0;
                let crc = body.crc64();
                let result = match result {
                    // Forbidding overwrites, a retry finds the object an
                    // attempt whose answer was lost stored: ours if it has
                    // the bytes just sent.
                    Err(e) if tries > 1 && e.code() == Some("FileAlreadyExists") => {
                        match super::multipart::head(job, attempt) {
                            Ok(h) if h.crc64 == Some(crc) && h.content_length == Some(job.size) => {
                                Ok(h)
                            }
                            _ => Err(e),
                        }
                    }
                    other => other,
                };
                let checked = result.and_then(|reply| {
                    verify_crc(&reply, crc, "object")?;
                    // What was sent is what OSS confirmed; only the file
                    // itself tells whether it changed while being read.
                    source.check_unchanged()?;
                    Ok(Finished::single(reply, crc))
                });
                (checked, hints)
            });
            let _ = events.send(match result {
                Ok(done) => super::progress::Event::Done(done),
                Err(e) => super::progress::Event::Failed(e),
            });
        },
        |_| job.size,
        |done| {
            finished = Some(done);
            Ok(())
        },
    )?;
    if shared.cancel.load(Ordering::SeqCst) {
        return Err(Error::Cancelled {
            bytes_done: shared.stored.load(Ordering::SeqCst),
            total: job.size,
        });
    }
    finished.ok_or_else(|| Error::Transport {
        source: None,
        kind: crate::TransportKind::Io,
        message: "the upload worker ended without an outcome".into(),
        attempts: 0,
    })
}
