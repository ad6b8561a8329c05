//! What a user meets in the first hour, as errors that name the place and
//! the fix: transport failures naming the host and port (or the proxy) they
//! were about, an `https://` URL aimed at a plain-HTTP server failing at once
//! as a TLS error that says so, the bucket naming rule and the emulator's
//! buckets in bucket errors, and an unwritable checkpoint directory found
//! before anything is sent.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use ens_upload::emulator::Emulator;
use ens_upload::{Client, Credentials, Error, PrepareUploadRequest, TransportKind, UploadOptions};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client(endpoint: &str) -> ens_upload::ClientBuilder {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::access_key("id", "SECRET-DO-NOT-LEAK"))
        .connect_timeout(Duration::from_secs(2))
        .read_timeout(Duration::from_secs(1))
        .retries(0)
}

fn transport(e: &Error) -> (TransportKind, String) {
    match e {
        Error::Transport { kind, message, .. } => (*kind, message.clone()),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[test]
fn a_refused_connection_names_the_host_and_port() {
    let port = closed_port();
    let e = client(&format!("http://127.0.0.1:{port}"))
        .no_proxy()
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let (kind, message) = transport(&e);
    assert_eq!(kind, TransportKind::Connect, "{e}");
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{e}"
    );
    // Never the URL's path or query (the signature, a token).
    assert!(
        !message.contains('?') && !message.contains("Signature"),
        "{e}"
    );
}

#[test]
fn a_name_that_does_not_resolve_is_named() {
    // .invalid never resolves (RFC 6761).
    let e = client("http://ens.example.invalid:8080")
        .no_proxy()
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let (kind, message) = transport(&e);
    assert_eq!(kind, TransportKind::Dns, "{e}");
    assert!(
        message.contains("cannot resolve ens.example.invalid:8080"),
        "{e}"
    );
}

#[test]
fn a_refused_proxy_is_named_with_the_host_it_was_for() {
    let port = closed_port();
    let e = client("http://ens.example.com")
        .proxy(format!("http://user:proxy-password@127.0.0.1:{port}"))
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let (kind, message) = transport(&e);
    assert_eq!(kind, TransportKind::Connect, "{e}");
    assert!(
        message.contains(&format!(
            "cannot connect to proxy 127.0.0.1:{port} (for ens.example.com:80)"
        )),
        "{e}"
    );
    assert!(!message.contains("proxy-password"), "{e}");
}

#[test]
fn a_timeout_names_the_host_and_port() {
    // Accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let e = client(&format!("http://{addr}"))
        .no_proxy()
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let (kind, message) = transport(&e);
    assert_eq!(kind, TransportKind::Timeout, "{e}");
    assert!(message.starts_with(&format!("{addr}: ")), "{e}");
}

#[test]
fn an_unreachable_oss_host_is_named() {
    let port = closed_port();
    let emu = Emulator::builder()
        .oss_endpoint(format!("127.0.0.1:{port}"))
        .start()
        .unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .retries(0)
        .build()
        .unwrap();
    let e = client
        .upload_reader(
            &PrepareUploadRequest::new("test"),
            "k",
            &b"hello"[..],
            5,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        )
        .unwrap_err();
    let (kind, message) = transport(&e);
    assert_eq!(kind, TransportKind::Connect, "{e}");
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{e}"
    );
}

/// `https://` to the emulator, which speaks plain HTTP: it answers the
/// ClientHello with a 400 at once, and the client reports a TLS error that
/// says so, after one attempt (a TLS error is not retried), instead of a
/// connect timeout after every retry.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn https_to_a_plain_http_server_is_a_tls_error_that_says_so() {
    let emu = Emulator::start().unwrap();
    let https = emu.endpoint().replace("http://", "https://");
    let e = Client::builder()
        .endpoint(&https)
        .credentials(emu.credentials())
        .no_proxy()
        .build()
        .unwrap()
        .prepare_upload(&PrepareUploadRequest::new("test"))
        .unwrap_err();
    let (kind, message) = transport(&e);
    assert_eq!(kind, TransportKind::Tls, "{e}");
    assert!(
        message.contains(&format!(
            "{} answered the TLS handshake in plain HTTP",
            emu.addr()
        )) && message.contains("http://"),
        "{e}"
    );
    assert_eq!(e.attempts(), 1, "{e}");
}

#[test]
fn the_emulator_still_serves_a_request_after_blank_lines() {
    // The check for a non-HTTP first byte lets stray CRLFs through.
    let emu = Emulator::start().unwrap();
    let answer = common::raw_exchange(
        emu.addr(),
        "\r\nHEAD /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert!(!answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[test]
fn an_invalid_bucket_name_error_gives_the_naming_rule() {
    let emu = Emulator::start().unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("Bad_Name"))
        .unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.code, "InvalidBucketName");
    assert!(
        api.message
            .starts_with("Specified parameter BucketName is not valid (")
            && api.message.contains(ens_upload::response::BUCKET_NAME_RULE),
        "{e}"
    );
    assert!(e.to_string().contains("3 to 63"), "{e}");
}

#[test]
fn the_emulator_lists_its_buckets_in_no_such_bucket() {
    let emu = Emulator::builder().bucket("videos").start().unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    let e = client
        .prepare_upload(&PrepareUploadRequest::new("nosuch"))
        .unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.code, "NoSuchBucket");
    assert!(
        api.message.contains("This emulator knows: test, videos")
            && api.message.contains("--bucket"),
        "{e}"
    );

    // The OSS side names its physical buckets and the names they stand for:
    // here PrepareUpload (on `ens`) hands out a bucket the OSS side (`emu`)
    // does not have.
    let ens = Emulator::builder()
        .bucket("elsewhere")
        .oss_endpoint(emu.addr().to_string())
        .start()
        .unwrap();
    let e = Client::builder()
        .endpoint(ens.endpoint())
        .credentials(ens.credentials())
        .build()
        .unwrap()
        .upload_reader(
            &PrepareUploadRequest::new("elsewhere"),
            "k",
            &b"hello"[..],
            5,
            &UploadOptions::new().allow_upload_host("127.0.0.1"),
        )
        .unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.code, "NoSuchBucket", "{e}");
    assert!(
        api.message.contains(&format!(
            "This emulator's buckets: {} (for test), {} (for videos)",
            emu.oss_bucket_for("test"),
            emu.oss_bucket_for("videos")
        )),
        "{e}"
    );
}

/// A checkpoint that could not be written is found before anything is
/// sent, for a multipart file and for one that goes in one PutObject.
#[test]
fn an_unwritable_checkpoint_directory_fails_before_anything_is_sent() {
    let dir = common::TempDir::new("unwritable-checkpoint");
    let small = dir.write("small.bin", vec![7u8; 1000]);
    let large = dir.write("large.bin", vec![9u8; 300_000]);
    // A regular file where a directory should be (root ignores permission
    // bits, so a read-only directory would not do in every test run).
    let not_a_dir = dir.write("not-a-dir", b"x");
    let emu = Emulator::start().unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    for checkpoint in [dir.join("missing/dir/c.ckpt"), not_a_dir.join("c.ckpt")] {
        for file in [&small, &large] {
            let options = UploadOptions::new()
                .part_size(100 * 1024)
                .multipart_threshold(100 * 1024)
                .checkpoint(&checkpoint);
            let e = client
                .upload_file(&PrepareUploadRequest::new("test"), "k", file, &options)
                .unwrap_err();
            match &e {
                Error::LocalIo { path, reason, .. } => {
                    assert_eq!(path, &checkpoint, "{e}");
                    // (ENOTDIR is met already when the checkpoint is read.)
                    assert!(
                        reason.contains("the checkpoint cannot be written in")
                            || reason.contains("cannot read the checkpoint"),
                        "{e}"
                    );
                }
                other => panic!("expected LocalIo, got {other:?}"),
            }
            assert!(
                emu.requests().is_empty(),
                "sent before the checkpoint was checked: {:?}",
                emu.requests()
            );
        }
    }
    // Nothing is left beside a checkpoint that can be written.
    let ok = dir.join("ok.ckpt");
    client
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "k",
            &small,
            &UploadOptions::new().checkpoint(&ok),
        )
        .unwrap();
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["large.bin", "not-a-dir", "small.bin"]);
}

/// A callback slower than the link: while it is busy, parts keep being
/// stored. Being more than a MiB per thread behind, its next call hears the
/// count as it is then (not the one queued when it started to lag), and the
/// cancel reports the bytes the server stored: exactly the parts the
/// checkpoint lists, which a resume skips.
#[test]
fn a_slow_callback_hears_the_latest_count_and_a_cancel_reports_what_was_stored() {
    use std::sync::{Arc, Mutex};
    const PART: u64 = 100 * 1024;
    let dir = common::TempDir::new("slow-callback");
    let path = dir.write("f.bin", vec![5u8; 60 * PART as usize]);
    let ckpt = dir.join("f.ckpt");
    let emu = Arc::new(Emulator::start().unwrap());
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(emu.credentials())
        .build()
        .unwrap();
    let stored_parts = {
        let emu = Arc::clone(&emu);
        move || {
            emu.requests()
                .iter()
                .filter(|r| r.param("partNumber").is_some() && r.status == 200)
                .count() as u64
        }
    };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let options = {
        let heard = Arc::clone(&heard);
        let stored_parts = stored_parts.clone();
        UploadOptions::new()
            .part_size(PART)
            .multipart_threshold(PART)
            .threads(2)
            .checkpoint(&ckpt)
            .on_progress(move |done, _| {
                let mut heard = heard.lock().unwrap();
                heard.push(done);
                match heard.len() {
                    // The first count after the start: busy until 30 parts
                    // (3 MB, more than a MiB per thread) are stored; the
                    // workers go on meanwhile.
                    2 => {
                        let deadline = std::time::Instant::now() + common::EVENT_WAIT;
                        while stored_parts() < 30 && std::time::Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        ens_upload::ProgressAction::Continue
                    }
                    3 => ens_upload::ProgressAction::Cancel,
                    _ => ens_upload::ProgressAction::Continue,
                }
            })
    };
    let e = client
        .upload_file(&PrepareUploadRequest::new("test"), "f", &path, &options)
        .unwrap_err();
    let heard = heard.lock().unwrap().clone();
    assert!(
        heard.len() >= 3 && heard[2] >= 30 * PART,
        "the third call heard a stale count: {heard:?}"
    );
    let Error::Cancelled {
        bytes_done, total, ..
    } = e
    else {
        panic!("expected Cancelled, got {e:?}")
    };
    assert_eq!(total, 60 * PART);
    let listed = common::checkpoint_parts(&ckpt).expect("the checkpoint is kept");
    assert!(listed.len() >= 30, "{listed:?}");
    assert_eq!(bytes_done, listed.len() as u64 * PART, "{listed:?}");
    assert_eq!(bytes_done, stored_parts() * PART);
}

/// An emulator with a data directory keeps its objects and unfinished
/// uploads, and its port: an upload cancelled with one emulator resumes
/// against the next one started on the same directory. One directory
/// serves one emulator at a time.
#[test]
fn an_emulator_data_dir_keeps_uploads_across_runs() {
    const PART: u64 = 100 * 1024;
    let dir = common::TempDir::new("emulator-data-dir");
    let data_dir = dir.join("emulator");
    let data: Vec<u8> = (0..10 * PART).map(|i| (i % 251) as u8).collect();
    let path = dir.write("f.bin", &data);
    let small = dir.write("small.bin", b"kept across runs");
    let ckpt = dir.join("f.ckpt");
    let upload = |emu: &Emulator, cancel_after: Option<u64>| {
        let client = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(emu.credentials())
            .build()
            .unwrap();
        let options = UploadOptions::new()
            .part_size(PART)
            .multipart_threshold(PART)
            .threads(1)
            .checkpoint(&ckpt)
            .on_progress(move |done, _| {
                if cancel_after.is_some_and(|n| done >= n) {
                    ens_upload::ProgressAction::Cancel
                } else {
                    ens_upload::ProgressAction::Continue
                }
            });
        client.upload_file(&PrepareUploadRequest::new("test"), "f", &path, &options)
    };

    let first = Emulator::builder().data_dir(&data_dir).start().unwrap();
    let port = first.addr().port();
    assert_eq!(first.storage_dir(), data_dir.as_path());
    let e = Emulator::builder().data_dir(&data_dir).start().unwrap_err();
    assert!(e.to_string().contains("in use by another emulator"), "{e}");
    Client::builder()
        .endpoint(first.endpoint())
        .credentials(first.credentials())
        .build()
        .unwrap()
        .upload_file(
            &PrepareUploadRequest::new("test"),
            "small",
            &small,
            &UploadOptions::new(),
        )
        .unwrap();
    let e = upload(&first, Some(3 * PART)).unwrap_err();
    assert!(matches!(e, Error::Cancelled { .. }), "{e:?}");
    let listed = common::checkpoint_parts(&ckpt).unwrap();
    assert!(!listed.is_empty());
    drop(first);
    assert!(data_dir.join("store.log").is_file(), "the data stays");

    let second = Emulator::builder().data_dir(&data_dir).start().unwrap();
    assert_eq!(second.addr().port(), port, "the port is kept when free");
    let bucket = second.oss_bucket_for("test");
    assert_eq!(
        second.oss_object_bytes(&bucket, "small").unwrap(),
        b"kept across runs"
    );
    assert_eq!(second.oss_uploads_in_progress(), 1);
    let out = upload(&second, None).unwrap();
    assert_eq!(out.resumed_parts as usize, listed.len());
    assert_eq!(second.oss_object_bytes(&bucket, "f").unwrap(), data);
    // Only the resumed upload's remaining parts were sent this time.
    let parts_sent = second
        .requests()
        .iter()
        .filter(|r| r.param("partNumber").is_some())
        .count();
    assert_eq!(parts_sent, 10 - listed.len());
}
