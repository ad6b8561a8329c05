//! Uploads against the emulator's OSS side: single PutObject and multipart,
//! integrity, faults, checkpoints, progress and cancel.

mod common;

use common::content;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{within, TempDir, MARGIN};
use ens_upload::emulator::{Emulator, Fault, RecordedRequest};
use ens_upload::upload::MIN_PART_SIZE;
use ens_upload::{Client, Error, PrepareUploadRequest, ProgressAction, UploadOptions};

fn write_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let data = content(len, seed);
    std::fs::write(path, &data).unwrap();
    data
}

/// A client with quick retries, for tests.
fn client(emu: &Emulator) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .read_timeout(Duration::from_secs(5))
        .retries(3)
        .retry_base_delay(Duration::from_millis(10))
        .retry_max_delay(Duration::from_millis(50))
        .build()
        .unwrap()
}

/// Small parts so a few hundred KiB go multipart.
fn small_parts() -> UploadOptions {
    UploadOptions::new()
        .part_size(MIN_PART_SIZE)
        .multipart_threshold(MIN_PART_SIZE)
}

fn req() -> PrepareUploadRequest {
    PrepareUploadRequest::new("test")
}

fn is_upload_part(r: &RecordedRequest) -> bool {
    r.method == "PUT" && r.param("partNumber").is_some()
}

/// UploadPart requests seen for `number`, whatever their answer.
fn part_requests(emu: &Emulator, number: u32) -> usize {
    emu.requests()
        .iter()
        .filter(|r| is_upload_part(r) && r.param("partNumber") == Some(&number.to_string()))
        .count()
}

fn count(emu: &Emulator, pred: impl Fn(&RecordedRequest) -> bool) -> usize {
    emu.requests().iter().filter(|r| pred(r)).count()
}

fn is_initiate(r: &RecordedRequest) -> bool {
    r.method == "POST" && r.raw_query == "uploads"
}

fn is_complete(r: &RecordedRequest) -> bool {
    r.method == "POST" && r.param("uploadId").is_some()
}

/// Every `(done, total)` the progress callback was called with.
type Calls = Arc<Mutex<Vec<(u64, u64)>>>;

/// Records every progress call.
fn recording() -> (UploadOptions, Calls) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&calls);
    let opts = small_parts().on_progress(move |done, total| {
        sink.lock().unwrap().push((done, total));
        ProgressAction::Continue
    });
    (opts, calls)
}

#[test]
fn small_file_in_one_put_object() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("small");
    let path = dir.join("a.bin");
    let data = write_file(&path, 1000, 1);
    let key = "dir/空 白+x.bin";
    let out = client(&emu)
        .upload_file(&req(), key, &path, &UploadOptions::new())
        .unwrap();

    assert_eq!(out.bucket, emu.oss_bucket_for("test"));
    assert_eq!(out.endpoint, emu.addr().to_string());
    assert_eq!((out.key.as_str(), out.size), (key, 1000));
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&data));
    assert_eq!((out.parts, out.upload_id.as_deref()), (0, None));
    assert!(!out.prepare_request_id.is_empty() && !out.request_id.is_empty());
    let stored = emu.oss_object(&out.bucket, key).unwrap();
    assert_eq!(stored.etag.trim_matches('"'), out.etag);
    assert_eq!(stored.content_type, "application/octet-stream");
    assert_eq!(emu.oss_object_bytes(&out.bucket, key).unwrap(), data);

    // On the wire: path style on an IP endpoint, the key encoded per segment,
    // a Content-Length (never chunked), signed with OSS V1.
    let put = emu
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(
        put.path,
        format!("/{}/dir/%E7%A9%BA%20%E7%99%BD%2Bx.bin", out.bucket)
    );
    assert_eq!(put.header("content-length"), Some("1000"));
    assert_eq!(put.header("transfer-encoding"), None);
    assert!(put.header("authorization").unwrap().starts_with(&format!(
        "OSS {}:",
        ens_upload::emulator::TEST_ACCESS_KEY_ID
    )));
    assert!(put.header("date").unwrap().ends_with(" GMT"));
    assert_eq!(put.status, 200);
}

#[test]
fn empty_file() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("empty");
    let path = dir.join("empty.bin");
    write_file(&path, 0, 0);
    let (opts, calls) = recording();
    let out = client(&emu)
        .upload_file(&req(), "empty", &path, &opts)
        .unwrap();
    assert_eq!((out.size, out.crc64, out.parts), (0, 0, 0));
    assert_eq!(emu.oss_object_bytes(&out.bucket, "empty").unwrap(), b"");
    assert_eq!(*calls.lock().unwrap(), [(0, 0)]);
}

#[test]
fn exactly_one_part() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("onepart");
    let path = dir.join("one.bin");
    let data = write_file(&path, MIN_PART_SIZE as usize, 2);
    let opts = small_parts().multipart_threshold(MIN_PART_SIZE - 1);
    let out = client(&emu)
        .upload_file(&req(), "one", &path, &opts)
        .unwrap();
    assert_eq!(out.parts, 1);
    assert!(out.upload_id.is_some());
    assert!(out.etag.ends_with("-1"), "{}", out.etag);
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&data));
    assert_eq!(emu.oss_object_bytes(&out.bucket, "one").unwrap(), data);
    assert_eq!(part_requests(&emu, 1), 1);
    assert_eq!(count(&emu, is_initiate), 1);
    assert_eq!(count(&emu, is_complete), 1);
    assert_eq!(emu.oss_uploads_in_progress(), 0);
}

#[test]
fn many_parts_on_parallel_threads() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("many");
    let path = dir.join("many.bin");
    let len = 3 * (1 << 20) + 123;
    let data = write_file(&path, len, 3);
    let opts = small_parts().threads(4).content_type("video/mp4");
    let out = client(&emu)
        .upload_file(&req(), "v/many.mp4", &path, &opts)
        .unwrap();
    let parts = (len as u64).div_ceil(MIN_PART_SIZE) as u32;
    assert_eq!(out.parts, parts);
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&data));
    assert_eq!(
        emu.oss_object_bytes(&out.bucket, "v/many.mp4").unwrap(),
        data
    );
    assert_eq!(
        emu.oss_object(&out.bucket, "v/many.mp4")
            .unwrap()
            .content_type,
        "video/mp4"
    );
    for n in 1..=parts {
        assert_eq!(part_requests(&emu, n), 1, "part {n}");
    }
    // Parts went over several connections at once, each with its length.
    let uploads: Vec<_> = emu.requests().into_iter().filter(is_upload_part).collect();
    let connections: std::collections::HashSet<_> =
        uploads.iter().map(|r| r.connection_id).collect();
    assert!(connections.len() >= 2, "{connections:?}");
    assert!(uploads
        .iter()
        .all(|r| r.header("content-length").is_some() && r.header("transfer-encoding").is_none()));
    let complete = emu.requests().into_iter().find(is_complete).unwrap();
    assert_eq!(complete.header("content-type"), Some("application/xml"));
}

#[test]
fn sts_credentials_sign_with_the_token() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("sts");
    let path = dir.join("s.bin");
    let data = write_file(&path, 300_000, 4);
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.sts_credentials())
        .build()
        .unwrap();
    let out = client
        .upload_file(&req(), "sts", &path, &small_parts())
        .unwrap();
    assert_eq!(emu.oss_object_bytes(&out.bucket, "sts").unwrap(), data);
    let oss: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path != "/")
        .collect();
    assert!(oss.len() >= 5);
    for r in &oss {
        assert_eq!(
            r.header("x-oss-security-token"),
            Some(ens_upload::emulator::TEST_SECURITY_TOKEN),
            "{} {}",
            r.method,
            r.raw_query
        );
    }
}

#[test]
fn crc_mismatch_is_an_integrity_error() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("crc");
    let path = dir.join("c.bin");
    let data = write_file(&path, 5000, 5);
    let client = client(&emu);

    // Once: the PutObject is sent again and succeeds.
    emu.inject(Fault::OssBadCrc, 1);
    let out = client
        .upload_file(&req(), "c", &path, &UploadOptions::new())
        .unwrap();
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&data));
    assert_eq!(count(&emu, |r| r.method == "PUT"), 2);

    // Every time: the upload fails, typed, after every retry.
    emu.inject(Fault::OssBadCrc, 10);
    let e = client
        .upload_file(&req(), "c2", &path, &UploadOptions::new())
        .unwrap_err();
    match &e {
        Error::Integrity {
            what,
            local_crc64,
            server_crc64,
            attempts,
            request_id,
            ..
        } => {
            assert_eq!(what, "object");
            assert_eq!(*local_crc64, ens_upload::crc64::checksum(&data));
            assert!(server_crc64.is_some_and(|s| s != *local_crc64));
            assert_eq!(*attempts, 4);
            assert!(!request_id.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("integrity"), "{e}");
    emu.clear_faults();

    // The whole object's CRC, after CompleteMultipartUpload: no part is
    // faulted (a zero delay is a no-op fault), the completion is.
    let path = dir.join("m.bin");
    write_file(&path, 250_000, 6);
    emu.inject(Fault::OssSlow(Duration::ZERO), 3);
    emu.inject(Fault::OssBadCrc, 1);
    let e = client
        .upload_file(&req(), "m", &path, &small_parts().threads(1))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Integrity { what, .. } if what == "object"),
        "{e:?}"
    );
}

#[test]
fn failed_parts_are_retried() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("retry");
    let path = dir.join("r.bin");
    let data = write_file(&path, 450_000, 7);
    let client = client(&emu);
    let opts = small_parts().threads(1);

    // Part 1 answered 500 twice, part 2's connection cut after 50 kB.
    emu.inject(Fault::OssInternalError, 2);
    emu.inject(Fault::OssSlow(Duration::ZERO), 1);
    emu.inject(Fault::OssResetAfterBytes(50_000), 1);
    let out = client.upload_file(&req(), "r", &path, &opts).unwrap();
    assert_eq!(emu.oss_object_bytes(&out.bucket, "r").unwrap(), data);
    assert_eq!(part_requests(&emu, 1), 3);
    assert_eq!(part_requests(&emu, 2), 2);
    assert_eq!(part_requests(&emu, 3), 1);

    // Past the retries: the error, and the upload aborted on the server.
    emu.clear_requests();
    emu.inject(Fault::OssInternalError, 4);
    let e = client.upload_file(&req(), "r2", &path, &opts).unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!((api.http_status, api.code.as_str()), (500, "InternalError"));
    assert_eq!(e.attempts(), 4);
    assert!(!api.request_id.is_empty());
    assert_eq!(emu.oss_uploads_in_progress(), 0);
    assert!(emu.oss_object(&out.bucket, "r2").is_none());
}

#[test]
fn progress_is_monotonic_and_complete() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("progress");
    let path = dir.join("p.bin");
    let len = 2 * (1 << 20) + 77;
    write_file(&path, len, 8);
    let (opts, calls) = recording();
    let out = client(&emu)
        .upload_file(&req(), "p", &path, &opts.threads(1))
        .unwrap();
    let calls = calls.lock().unwrap().clone();
    let total = len as u64;
    assert!(calls.iter().all(|&(_, t)| t == total));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
    assert_eq!(calls.first().unwrap().0, 0);
    assert_eq!(*calls.last().unwrap(), (total, total));
    // At least once per part.
    assert!(calls.len() as u32 > out.parts, "{} calls", calls.len());

    // A big single PutObject: from 0 to the total, never repeating a count.
    // (That the body reports every MiB is `progress::tests`; a callback
    // more than a MiB behind a loopback link, on a loaded machine, hears the
    // latest count instead, so the steps here are not bounded.)
    let (opts, calls) = recording();
    let opts = opts.multipart_threshold(u64::MAX);
    client(&emu)
        .upload_file(&req(), "p1", &path, &opts)
        .unwrap();
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.first().unwrap().0, 0, "{calls:?}");
    assert_eq!(*calls.last().unwrap(), (total, total), "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
}

/// Cancels from the callback once `after` bytes are done. Paced at 4 MB/s
/// so the upload cannot finish on loopback before the callback's answer
/// is acted on (a race a loaded machine once lost).
fn cancelling(after: u64) -> UploadOptions {
    small_parts()
        .threads(1)
        .limit_rate(4_000_000)
        .on_progress(move |done, _| {
            if done >= after {
                ProgressAction::Cancel
            } else {
                ProgressAction::Continue
            }
        })
}

#[test]
fn cancel_then_resume_sends_nothing_twice() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("cancel");
    let path = dir.join("c.bin");
    let ckpt = dir.join("c.ckpt");
    let data = write_file(&path, 1_000_000, 9);
    let client = client(&emu);

    let e = client
        .upload_file(&req(), "c", &path, &cancelling(350_000).checkpoint(&ckpt))
        .unwrap_err();
    let stored = match e {
        Error::Cancelled {
            bytes_done, total, ..
        } => {
            assert!(bytes_done < total, "{bytes_done}");
            assert_eq!(total, 1_000_000);
            bytes_done
        }
        other => panic!("{other:?}"),
    };
    let done = common::checkpoint_parts(&ckpt).unwrap();
    assert!(done.len() >= 3, "{done:?}");
    // A cancel reports what the server stored: the parts the resume skips.
    assert_eq!(stored, done.len() as u64 * MIN_PART_SIZE, "{done:?}");
    assert_eq!(emu.oss_uploads_in_progress(), 1, "kept for the resume");

    let (opts, calls) = recording();
    let out = client
        .upload_file(&req(), "c", &path, &opts.checkpoint(&ckpt))
        .unwrap();
    assert_eq!(out.resumed_parts as usize, done.len());
    assert_eq!(emu.oss_object_bytes(&out.bucket, "c").unwrap(), data);
    for n in &done {
        assert_eq!(part_requests(&emu, *n), 1, "part {n} was sent again");
    }
    assert_eq!(count(&emu, is_initiate), 1);
    assert!(!ckpt.exists(), "removed on success");
    // The resumed progress starts where the first call stopped.
    let calls = calls.lock().unwrap().clone();
    let done_bytes: u64 = done
        .iter()
        .map(|n| (1_000_000 - u64::from(n - 1) * MIN_PART_SIZE).min(MIN_PART_SIZE))
        .sum();
    assert_eq!(calls[0].0, done_bytes);
    assert_eq!(*calls.last().unwrap(), (1_000_000, 1_000_000));
}

#[test]
fn cancel_without_checkpoint_aborts_the_upload() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("cancel-abort");
    let path = dir.join("c.bin");
    write_file(&path, 600_000, 10);
    let e = client(&emu)
        .upload_file(&req(), "c", &path, &cancelling(200_000))
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
    assert_eq!(emu.oss_uploads_in_progress(), 0);
    assert_eq!(count(&emu, |r| r.method == "DELETE"), 1);
}

#[test]
fn a_changed_file_invalidates_its_checkpoint() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("changed");
    let path = dir.join("f.bin");
    let ckpt = dir.join("f.ckpt");
    write_file(&path, 700_000, 11);
    let client = client(&emu);
    client
        .upload_file(&req(), "f", &path, &cancelling(300_000).checkpoint(&ckpt))
        .unwrap_err();
    assert!(!common::checkpoint_parts(&ckpt).unwrap().is_empty());

    // Same size, same modification time, other bytes: only the parts'
    // CRCs can tell.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let new_data = write_file(&path, 700_000, 12);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    emu.clear_requests();
    let out = client
        .upload_file(&req(), "f", &path, &small_parts().checkpoint(&ckpt))
        .unwrap();
    assert_eq!(out.resumed_parts, 0);
    assert_eq!(emu.oss_object_bytes(&out.bucket, "f").unwrap(), new_data);
    assert_eq!(count(&emu, is_initiate), 1, "started over");
    assert_eq!(
        count(&emu, |r| r.method == "DELETE"),
        1,
        "old upload aborted"
    );
    assert_eq!(emu.oss_uploads_in_progress(), 0);
    assert!(!ckpt.exists());

    // A damaged checkpoint (ours by its format, unusable) is ignored the
    // same way. (A file that is not a checkpoint is refused: see
    // `a_checkpoint_path_holding_another_file_is_refused`.)
    std::fs::write(
        &ckpt,
        br#"{"format": "ens-upload-checkpoint/1", "parts": 7}"#,
    )
    .unwrap();
    let out = client
        .upload_file(&req(), "f", &path, &small_parts().checkpoint(&ckpt))
        .unwrap();
    assert_eq!(out.resumed_parts, 0);
    assert!(!ckpt.exists());
}

#[test]
fn reader_uploads_and_length_checks() {
    let emu = Emulator::start().unwrap();
    let client = client(&emu);
    let data = content(650_000, 13);

    let out = client
        .upload_reader(
            &req(),
            "r-multi",
            &data[..],
            data.len() as u64,
            &small_parts().threads(3),
        )
        .unwrap();
    assert_eq!(out.parts, 7);
    assert_eq!(emu.oss_object_bytes(&out.bucket, "r-multi").unwrap(), data);
    let out = client
        .upload_reader(
            &req(),
            "r-one",
            &data[..],
            data.len() as u64,
            &UploadOptions::new(),
        )
        .unwrap();
    assert_eq!(emu.oss_object_bytes(&out.bucket, "r-one").unwrap(), data);

    for (name, opts) in [("put", UploadOptions::new()), ("multi", small_parts())] {
        let short = client
            .upload_reader(&req(), "short", &data[..1000], 2000, &opts)
            .unwrap_err();
        assert!(
            matches!(
                short,
                Error::LocalIo {
                    kind: std::io::ErrorKind::UnexpectedEof,
                    ..
                }
            ),
            "{name}: {short:?}"
        );
        let long = client
            .upload_reader(&req(), "long", &data[..], 600_000, &opts)
            .unwrap_err();
        assert!(
            matches!(
                long,
                Error::LocalIo {
                    kind: std::io::ErrorKind::InvalidInput,
                    ..
                }
            ),
            "{name}: {long:?}"
        );
        assert!(emu.oss_object(&out.bucket, "short").is_none());
        assert!(emu.oss_object(&out.bucket, "long").is_none(), "{name}");
    }
    assert_eq!(emu.oss_uploads_in_progress(), 0);
    let e = client
        .upload_reader(
            &req(),
            "k",
            &data[..],
            1,
            &UploadOptions::new().checkpoint("x"),
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { ref field, .. } if field == "checkpoint"));
}

#[test]
fn bad_input_is_refused_before_sending() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("bad");
    let path = dir.join("ok.bin");
    write_file(&path, 10, 14);
    let client = client(&emu);
    let opts = UploadOptions::new();
    for key in ["", "/abs", "a/../b", "a\nb"] {
        let e = client.upload_file(&req(), key, &path, &opts).unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{key:?}: {e:?}");
    }
    let e = client
        .upload_file(&req(), "k", dir.join("missing"), &opts)
        .unwrap_err();
    assert!(
        matches!(&e, Error::LocalIo { kind: std::io::ErrorKind::NotFound, path, .. } if path.ends_with("missing")),
        "{e:?}"
    );
    let e = client
        .upload_file(&req(), "k", dir.path(), &opts)
        .unwrap_err();
    assert!(matches!(e, Error::LocalIo { .. }), "{e:?}");
    let e = client
        .upload_file(&req(), "k", &path, &opts.clone().threads(0))
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let e = client
        .upload_file(&PrepareUploadRequest::new(""), "k", &path, &opts)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(emu.requests().is_empty());
}

#[test]
fn oss_errors_are_api_errors() {
    // PrepareUpload points at a second emulator that knows other keys and buckets.
    let oss = Emulator::builder()
        .access_key(ens_upload::emulator::TEST_ACCESS_KEY_ID, "another-secret")
        .start()
        .unwrap();
    let ens = Emulator::builder()
        .bucket("elsewhere")
        .oss_endpoint(oss.addr().to_string())
        .start()
        .unwrap();
    let dir = TempDir::new("apierr");
    let path = dir.join("a.bin");
    write_file(&path, 10, 15);
    let e = client(&ens)
        .upload_file(
            &req(),
            "k",
            &path,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        )
        .unwrap_err();
    let api = e.api().expect("API error");
    assert_eq!(
        (api.http_status, api.code.as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert_eq!(
        api.signature_diagnosis,
        Some(ens_upload::SignatureDiagnosis::WrongSecret)
    );
    assert_eq!(e.attempts(), 1, "not retried");

    let good = Emulator::builder().start().unwrap();
    let ens = Emulator::builder()
        .bucket("elsewhere")
        .oss_endpoint(good.addr().to_string())
        .start()
        .unwrap();
    let e = client(&ens)
        .upload_file(
            &PrepareUploadRequest::new("elsewhere"),
            "k",
            &path,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        )
        .unwrap_err();
    let api = e.api().expect("API error");
    assert_eq!((api.http_status, api.code.as_str()), (404, "NoSuchBucket"));
    assert!(!api.request_id.is_empty());
}

#[test]
fn the_clock_is_corrected_before_signing_for_oss() {
    let emu = Emulator::builder()
        .clock_skew_secs(3 * 3600)
        .start()
        .unwrap();
    let dir = TempDir::new("skew");
    let path = dir.join("a.bin");
    let data = write_file(&path, 200_000, 16);
    let out = client(&emu)
        .upload_file(&req(), "k", &path, &small_parts())
        .unwrap();
    assert_eq!(emu.oss_object_bytes(&out.bucket, "k").unwrap(), data);
    assert!(emu
        .requests()
        .iter()
        .all(|r| r.code.as_deref() != Some("RequestTimeTooSkewed")));
}

#[test]
fn the_emulator_serves_virtual_hosted_requests() {
    // The client's virtual-hosted URLs are unit-tested; here the emulator
    // routes `Host: <bucket>.<endpoint>` the way OSS does.
    let emu = Emulator::start().unwrap();
    let bucket = emu.oss_bucket_for("test");
    let date = common::emulator_date(&emu);
    let resource = ens_upload::sign::oss_canonical_resource(Some(&bucket), "dir/v.txt", &[]);
    let sig = ens_upload::sign::oss_v1::<&str, &str>(
        "PUT",
        "",
        "text/plain",
        &date,
        &[],
        &resource,
        ens_upload::emulator::TEST_ACCESS_KEY_SECRET,
    );
    let answer = common::raw_exchange(
        emu.addr(),
        &format!(
            "PUT /dir/v.txt HTTP/1.1\r\nHost: {bucket}.oss-emulator.test:{}\r\nDate: {date}\r\n\
             Authorization: {}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
             Connection: close\r\n\r\nhello",
            emu.addr().port(),
            sig.authorization(ens_upload::emulator::TEST_ACCESS_KEY_ID)
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(&format!(
        "x-oss-hash-crc64ecma: {}",
        ens_upload::crc64::checksum(b"hello")
    )));
    assert_eq!(
        emu.oss_object_bytes(&bucket, "dir/v.txt").unwrap(),
        b"hello"
    );
}

#[test]
fn no_token_in_errors_or_debug() {
    // The OSS side knows the STS key id with another secret: it refuses the
    // signature and quotes its string to sign, token included.
    let oss = Emulator::builder()
        .sts(
            ens_upload::emulator::TEST_STS_ACCESS_KEY_ID,
            "another-secret",
            ens_upload::emulator::TEST_SECURITY_TOKEN,
        )
        .start()
        .unwrap();
    let ens = Emulator::builder()
        .oss_endpoint(oss.addr().to_string())
        .start()
        .unwrap();
    let client = Client::builder()
        .endpoint(ens.endpoint())
        .credentials(ens.sts_credentials())
        .build()
        .unwrap();
    let data = content(10, 17);
    let opts = UploadOptions::new()
        .allow_upload_host("127.0.0.1")
        .on_progress(|_, _| ProgressAction::Continue);
    let e = client
        .upload_reader(&req(), "k", &data[..], 10, &opts)
        .unwrap_err();
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));
    let printed = format!("{e} {e:?} {opts:?} {client:?}");
    assert!(
        !printed.contains(ens_upload::emulator::TEST_SECURITY_TOKEN)
            && !printed.contains(ens_upload::emulator::TEST_STS_ACCESS_KEY_SECRET),
        "{printed}"
    );
}

#[test]
fn transfers_are_bounded_by_stalls_not_by_the_call_timeout() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("timeouts");
    let path = dir.join("t.bin");
    let data = write_file(&path, 50_000, 18);

    // A transfer may take longer than the call timeout...
    let patient = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .call_timeout(Duration::from_millis(1500))
        .read_timeout(Duration::from_secs(5))
        .retries(0)
        .build()
        .unwrap();
    emu.inject(Fault::OssSlow(Duration::from_millis(2000)), 1);
    let out = patient
        .upload_file(&req(), "slow", &path, &UploadOptions::new())
        .unwrap();
    assert_eq!(emu.oss_object_bytes(&out.bucket, "slow").unwrap(), data);

    // ...but one that stalls past the stall timeout is cut and retried (a
    // stall of 30 s: waited out, the upload would pass the bound). More
    // than one retry may happen on a loaded machine.
    emu.clear_requests();
    emu.inject(Fault::OssSlow(Duration::from_secs(30)), 1);
    let stall = Duration::from_secs(1);
    let opts = UploadOptions::new().stall_timeout(stall);
    let (client, path2) = (client(&emu), path.clone());
    let out = within(stall + MARGIN, move || {
        client
            .upload_file(&req(), "stalled", &path2, &opts)
            .unwrap()
    });
    assert_eq!(emu.oss_object_bytes(&out.bucket, "stalled").unwrap(), data);
    assert!(count(&emu, |r| r.method == "PUT") >= 2);
}

/// One request as the hand-written OSS server below saw it.
#[derive(Debug, Clone)]
struct SeenRequest {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// A tiny OSS stand-in: answers every request with what `answer` makes of
/// it (raw HTTP; the connection is closed after each answer). Returns its
/// address and what it saw.
fn tiny_oss(
    answer: impl Fn(&SeenRequest, usize) -> String + Send + 'static,
) -> (SocketAddr, Arc<Mutex<Vec<SeenRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < head_end + length {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let mut words = head.split_whitespace();
            let request = SeenRequest {
                method: words.next().unwrap_or_default().to_owned(),
                target: words.next().unwrap_or_default().to_owned(),
                body: buf[head_end..].to_vec(),
            };
            let n = {
                let mut log = log.lock().unwrap();
                log.push(request.clone());
                log.len()
            };
            let _ = s.write_all(answer(&request, n).as_bytes());
            let _ = s.flush();
        }
    });
    (addr, seen)
}

/// A raw HTTP answer with `headers` (each ending in CRLF) and `body`.
fn http_answer(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nx-oss-request-id: TINY\r\nContent-Length: {}\r\n\
         Connection: close\r\n{headers}\r\n{body}",
        body.len()
    )
}

/// OSS's 503 asking the client to come back in `secs` seconds.
fn slow_down(secs: u64) -> String {
    http_answer(
        "503 Service Unavailable",
        &format!("Retry-After: {secs}\r\nContent-Type: application/xml\r\n"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ServiceUnavailable</Code>\
         <Message>Please reduce your request rate.</Message><RequestId>TINY</RequestId></Error>",
    )
}

/// A client of `ens` whose PrepareUpload points at `oss`, with a short
/// call timeout and several quick retries.
fn client_with_call_timeout(ens: &Emulator, call_timeout: Duration) -> Client {
    Client::builder()
        .endpoint(ens.endpoint())
        .credentials(ens.credentials())
        .call_timeout(call_timeout)
        .read_timeout(Duration::from_secs(5))
        .retries(3)
        .retry_base_delay(Duration::from_millis(10))
        .retry_max_delay(Duration::from_millis(50))
        .build()
        .unwrap()
}

#[test]
fn a_server_wait_longer_than_the_call_timeout_is_not_slept_on_data_requests() {
    let dir = TempDir::new("retry-after");
    let path = dir.join("a.bin");
    write_file(&path, 1000, 30);

    // PutObject: answered 503 with `Retry-After: 100000`, every time.
    let (oss, seen) = tiny_oss(|_, _| slow_down(100_000));
    let ens = Emulator::builder()
        .oss_endpoint(oss.to_string())
        .start()
        .unwrap();
    let client = client_with_call_timeout(&ens, Duration::from_secs(2));
    let started = Instant::now();
    let upload = {
        let (client, path) = (client.clone(), path.clone());
        within(Duration::from_secs(30), move || {
            client.upload_file(
                &req(),
                "k",
                &path,
                &UploadOptions::new().allow_upload_host("127.0.0.1"),
            )
        })
    };
    let e = upload.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let api = e.api().expect("the server's error");
    assert_eq!(
        (api.http_status, api.code.as_str()),
        (503, "ServiceUnavailable")
    );
    assert_eq!(e.attempts(), 1, "not retried sooner than the server asked");
    assert_eq!(seen.lock().unwrap().len(), 1);

    // UploadPart: the same, and the upload (no checkpoint) is aborted.
    let (oss, seen) = tiny_oss(|r, _| match (r.method.as_str(), r.target.as_str()) {
        ("POST", t) if t.ends_with("?uploads") => http_answer(
            "200 OK",
            "Content-Type: application/xml\r\n",
            "<InitiateMultipartUploadResult><UploadId>U1</UploadId>\
             </InitiateMultipartUploadResult>",
        ),
        ("DELETE", _) => http_answer("204 No Content", "", ""),
        _ => slow_down(100_000),
    });
    let ens = Emulator::builder()
        .oss_endpoint(oss.to_string())
        .start()
        .unwrap();
    let client = client_with_call_timeout(&ens, Duration::from_secs(2));
    let path2 = dir.join("m.bin");
    write_file(&path2, 250_000, 31);
    let started = Instant::now();
    let e = within(Duration::from_secs(30), move || {
        client.upload_file(
            &req(),
            "m",
            &path2,
            &small_parts().threads(1).allow_upload_host("127.0.0.1"),
        )
    })
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(e.code(), Some("ServiceUnavailable"), "{e:?}");
    assert_eq!(e.attempts(), 1);
    let seen = seen.lock().unwrap();
    let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PUT", "DELETE"], "{seen:?}");
}

#[test]
fn a_server_wait_within_the_call_timeout_is_honoured_on_data_requests() {
    let dir = TempDir::new("retry-after-ok");
    let path = dir.join("a.bin");
    let data = write_file(&path, 1000, 32);
    // The first PutObject is asked to wait 1 s, the second is stored.
    let (oss, seen) = tiny_oss(|r, n| {
        if n == 1 {
            return slow_down(1);
        }
        let crc = ens_upload::crc64::checksum(&r.body);
        http_answer(
            "200 OK",
            &format!("ETag: \"E\"\r\nx-oss-hash-crc64ecma: {crc}\r\n"),
            "",
        )
    });
    let ens = Emulator::builder()
        .oss_endpoint(oss.to_string())
        .start()
        .unwrap();
    let client = client_with_call_timeout(&ens, Duration::from_secs(2));
    let started = Instant::now();
    let out = client
        .upload_file(
            &req(),
            "k",
            &path,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        )
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.crc64, ens_upload::crc64::checksum(&data));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.method == "PUT" && r.body == data));
}

/// Aborts a multipart upload on the emulator behind the client's back (as
/// OSS does when an upload expires), with a request signed by hand.
fn abort_behind_the_clients_back(emu: &Emulator, bucket: &str, key: &str, upload_id: &str) {
    let date = common::emulator_date(emu);
    let resource = ens_upload::sign::oss_canonical_resource(
        Some(bucket),
        key,
        &[("uploadId", Some(upload_id))],
    );
    let sig = ens_upload::sign::oss_v1::<&str, &str>(
        "DELETE",
        "",
        "",
        &date,
        &[],
        &resource,
        ens_upload::emulator::TEST_ACCESS_KEY_SECRET,
    );
    let answer = common::raw_exchange(
        emu.addr(),
        &format!(
            "DELETE /{bucket}/{key}?uploadId={upload_id} HTTP/1.1\r\nHost: {}\r\nDate: {date}\r\n\
             Authorization: {}\r\nConnection: close\r\n\r\n",
            emu.addr(),
            sig.authorization(ens_upload::emulator::TEST_ACCESS_KEY_ID)
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
}

#[test]
fn a_checkpoint_without_parts_whose_upload_the_server_forgot_starts_over() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("forgotten");
    let path = dir.join("f.bin");
    let ckpt = dir.join("f.ckpt");
    let data = write_file(&path, 350_000, 33);
    let client = client(&emu);

    // Stopped before any part finished: the checkpoint names the upload
    // and lists no part.
    let stop_at_once = small_parts()
        .checkpoint(&ckpt)
        .on_progress(|_, _| ProgressAction::Cancel);
    let e = client
        .upload_file(&req(), "z", &path, &stop_at_once)
        .unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
    assert!(common::checkpoint_parts(&ckpt).unwrap().is_empty());
    assert_eq!(emu.oss_uploads_in_progress(), 1);

    // The server forgets it (aborted, or expired by a lifecycle rule).
    let bucket = emu.oss_bucket_for("test");
    abort_behind_the_clients_back(&emu, &bucket, "z", &common::checkpoint_upload_id(&ckpt));
    assert_eq!(emu.oss_uploads_in_progress(), 0);

    // The same call starts over once and stores the object.
    emu.clear_requests();
    let out = client
        .upload_file(&req(), "z", &path, &small_parts().checkpoint(&ckpt))
        .unwrap();
    assert_eq!(out.resumed_parts, 0);
    assert_eq!(emu.oss_object_bytes(&out.bucket, "z").unwrap(), data);
    assert_eq!(count(&emu, is_initiate), 1, "one new upload");
    assert!(!ckpt.exists(), "removed on success");
    assert_eq!(emu.oss_uploads_in_progress(), 0);
}

#[test]
fn a_checkpoint_that_could_not_be_removed_does_not_upload_again() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("unremovable");
    let ckpt_dir = dir.join("state");
    std::fs::create_dir(&ckpt_dir).unwrap();
    let ckpt = ckpt_dir.join("f.ckpt");
    let path = dir.join("f.bin");
    let data = write_file(&path, 250_000, 34);
    let client = client(&emu);
    let opts = small_parts().threads(1).checkpoint(&ckpt);

    // Three parts, then CompleteMultipartUpload answered after 1.5 s. While
    // it waits, the checkpoint's directory is swapped for a plain file, so
    // removing the checkpoint fails (ENOTDIR, even for root).
    emu.inject(Fault::OssSlow(Duration::ZERO), 3);
    emu.inject(Fault::OssSlow(Duration::from_millis(1500)), 1);
    let upload = {
        let (client, path, opts) = (client.clone(), path.clone(), opts.clone());
        std::thread::spawn(move || client.upload_file(&req(), "f", &path, &opts))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::checkpoint_parts(&ckpt).map(|p| p.len()) != Some(3) {
        assert!(Instant::now() < deadline, "the parts never all finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    let away = dir.join("state-away");
    std::fs::rename(&ckpt_dir, &away).unwrap();
    std::fs::write(&ckpt_dir, b"in the way").unwrap();
    let out = upload
        .join()
        .unwrap()
        .expect("the object is stored: success");
    assert_eq!(emu.oss_object_bytes(&out.bucket, "f").unwrap(), data);
    assert_eq!(out.parts, 3);

    // The checkpoint is back (as after a removal that failed): the next call
    // sends no part again, confirms the object and removes the checkpoint.
    std::fs::remove_file(&ckpt_dir).unwrap();
    std::fs::rename(&away, &ckpt_dir).unwrap();
    assert_eq!(common::checkpoint_parts(&ckpt).unwrap(), [1, 2, 3]);
    emu.clear_requests();
    let again = client.upload_file(&req(), "f", &path, &opts).unwrap();
    assert_eq!((again.parts, again.resumed_parts), (3, 3));
    assert_eq!(again.crc64, out.crc64);
    assert_eq!(again.etag, out.etag);
    assert_eq!(count(&emu, |r| r.method == "PUT"), 0, "nothing sent again");
    assert_eq!(count(&emu, is_initiate), 0);
    assert_eq!(count(&emu, |r| r.method == "HEAD"), 1);
    assert_eq!(emu.oss_object_bytes(&out.bucket, "f").unwrap(), data);
    assert!(!ckpt.exists());
}

#[test]
fn a_put_object_aborts_the_upload_of_a_stale_checkpoint() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("stale-put");
    let path = dir.join("s.bin");
    let ckpt = dir.join("s.ckpt");
    let data = write_file(&path, 600_000, 35);
    let client = client(&emu);
    client
        .upload_file(&req(), "s", &path, &cancelling(200_000).checkpoint(&ckpt))
        .unwrap_err();
    assert!(!common::checkpoint_parts(&ckpt).unwrap().is_empty());
    assert_eq!(emu.oss_uploads_in_progress(), 1);

    // Now the object goes in one PutObject: the old upload's parts must
    // not stay on the server.
    emu.clear_requests();
    let opts = UploadOptions::new()
        .multipart_threshold(u64::MAX)
        .checkpoint(&ckpt);
    let out = client.upload_file(&req(), "s", &path, &opts).unwrap();
    assert_eq!(out.parts, 0);
    assert_eq!(emu.oss_object_bytes(&out.bucket, "s").unwrap(), data);
    assert_eq!(
        emu.oss_uploads_in_progress(),
        0,
        "the stale upload is aborted"
    );
    assert_eq!(count(&emu, |r| r.method == "DELETE"), 1);
    assert!(!ckpt.exists());
}

#[test]
fn a_checkpoint_path_holding_another_file_is_refused() {
    let emu = Emulator::start().unwrap();
    let dir = TempDir::new("foreign");
    let path = dir.join("v.bin");
    let data = write_file(&path, 300_000, 36);
    let client = client(&emu);
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, b"{garbage, but someone's").unwrap();
    let big = dir.join("big.bin");
    let big_data = write_file(&big, 5 << 20, 37);

    for (name, checkpoint, holds) in [
        ("a foreign file", &notes, &b"{garbage, but someone's"[..]),
        ("the data file itself", &path, &data[..]),
        ("a file over the cap", &big, &big_data[..]),
    ] {
        for (how, opts) in [
            ("multipart", small_parts()),
            ("one PutObject", UploadOptions::new()),
        ] {
            let e = client
                .upload_file(&req(), "v", &path, &opts.checkpoint(checkpoint))
                .unwrap_err();
            match &e {
                Error::InvalidInput { field, reason, .. } => {
                    assert_eq!(field, "checkpoint", "{name}, {how}");
                    assert!(reason.contains("refusing"), "{reason}");
                }
                other => panic!("{name}, {how}: {other:?}"),
            }
            assert_eq!(std::fs::read(checkpoint).unwrap(), holds, "{name}, {how}");
        }
    }
    assert!(emu.requests().is_empty(), "nothing sent");

    // An empty file is free to use, and removed on success like a checkpoint.
    for (how, opts) in [
        ("multipart", small_parts()),
        ("one PutObject", UploadOptions::new()),
    ] {
        let empty = dir.join("empty.ckpt");
        std::fs::write(&empty, b"").unwrap();
        let out = client
            .upload_file(&req(), "v", &path, &opts.checkpoint(&empty))
            .unwrap();
        assert_eq!(emu.oss_object_bytes(&out.bucket, "v").unwrap(), data);
        assert!(!empty.exists(), "{how}");
    }
}
